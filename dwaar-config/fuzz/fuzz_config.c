/* libFuzzer harness: the whole loader (lexer, imports, snippets, tree, directive parsers,
 * site and layer4 checks) and the JSON encoder on arbitrary Dwaarfile text.
 *
 * Imports resolve against an empty temporary directory, so file and glob imports find
 * nothing and touch nothing outside it; filesystem checks are off; the environment is a
 * fixed table, so a run depends on the input alone. */
#include <dwaar/config/config.h>
#include <stdint.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[] = "/tmp/dwaar-fuzz-config-XXXXXX";
static bool have_base;

static void remove_base(void)
{
    if (have_base) rmdir(base_dir);
}

static const char *fixed_env(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "HOST") == 0) return "fuzz.example.com";
    if (strcmp(name, "PORT") == 0) return "8080";
    if (strcmp(name, "UPSTREAM") == 0) return "127.0.0.1:9000";
    if (strcmp(name, "EMPTY") == 0) return "";
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!have_base) {
        if (!mkdtemp(base_dir)) abort();
        have_base = true;
        atexit(remove_base);
    }
    dw_cfg_load_opts_t opts = {.getenv_fn = fixed_env, .check_files = false};
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_config_t *cfg =
        dw_cfg_load_string("Dwaarfile", base_dir, (const char *)data, size, &opts, &diags);
    if (cfg) {
        dw_buf_t json = DW_BUF_INIT;
        (void)dw_config_to_json(cfg, &json);
        dw_buf_deinit(&json);
    }
    /* formatting every diagnostic exercises the messages' arguments too */
    dw_buf_t msg = DW_BUF_INIT;
    for (size_t i = 0; i < diags.n; i++) dw_diag_format(&diags.items[i], &msg);
    dw_buf_deinit(&msg);
    dw_config_free(cfg);
    dw_diags_deinit(&diags);
    return 0;
}
