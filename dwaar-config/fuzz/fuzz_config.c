/* libFuzzer harness: the whole loader (lexer, imports, snippets, tree, directive parsers,
 * site and layer4 checks) and the JSON encoder on arbitrary Dwaarfile text.
 *
 * Imports resolve against an empty directory (under $TMPDIR or /tmp), so file and glob
 * imports find nothing and touch nothing outside it; filesystem checks are off; the environment is
 * a fixed table, so a run depends on the input alone. */
#include <dwaar/config/config.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base_dir[256];

/* One empty directory per user, reused by every run (a killed run leaves nothing behind).
 * It must be ours, a real directory and empty, or the runs would not be reproducible. */
static void init_base_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base_dir, sizeof(base_dir), "%s/dwaar-fuzz-empty-%u", tmp && *tmp ? tmp : "/tmp",
             (unsigned)getuid());
    struct stat st;
    if (mkdir(base_dir, 0700) != 0 && errno != EEXIST) abort();
    if (lstat(base_dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != getuid()) abort();
    DIR *d = opendir(base_dir);
    if (!d) abort();
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            fprintf(stderr, "%s must be empty\n", base_dir);
            abort();
        }
    closedir(d);
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
    if (!base_dir[0]) init_base_dir();
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
