/* The `dwaar` binary: CLI dispatch, config lookup (spec 10 §9). */
#include "cli.h"
#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/config/config.h>
#include <dwaar/core/server.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

static char *absolute(const char *p)
{
    if (p[0] == '/') return strdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof(cwd))) return strdup(p);
    dw_buf_t b = DW_BUF_INIT;
    dw_buf_appendf(&b, "%s/%s", cwd, p);
    return dw_buf_take(&b);
}

/* -c > DWAAR_CONFIG > ./Dwaarfile > /etc/dwaar/Dwaarfile (§9.3). Prints the documented
 * message and returns NULL when nothing is found. */
static char *find_config(const char *given)
{
    const char *env = getenv("DWAAR_CONFIG");
    const char *path = given ? given : (env && *env ? env : NULL);
    if (path) {
        if (file_exists(path)) return strdup(path);
    } else {
        if (file_exists("Dwaarfile")) return strdup("Dwaarfile");
        if (file_exists("/etc/dwaar/Dwaarfile")) return strdup("/etc/dwaar/Dwaarfile");
        path = "Dwaarfile";
    }
    char *abs = absolute(path);
    char cwd[PATH_MAX];
    fprintf(stderr, "error: Config file not found.\n  Resolved path: %s\n  Working dir: %s\n", abs,
            getcwd(cwd, sizeof(cwd)) ? cwd : "?");
    free(abs);
    return NULL;
}

/* Start-up checks: files the config names must be readable. */
static const dw_cfg_load_opts_t load_opts = {.check_files = true};

/* Finds and loads the config, printing its diagnostics. NULL when nothing loaded; *path (the
 * file found, or NULL) is the caller's to free. */
static dw_config_t *load_config(const dw_cli_t *cli, char **path)
{
    *path = find_config(cli->config);
    if (!*path) return NULL;
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_config_t *cfg = dw_cfg_load_file(*path, &load_opts, &diags);
    dw_diags_print(&diags, -1, stderr);
    dw_diags_deinit(&diags);
    return cfg;
}

/* Loads the config and hands the model to use(). Returns 1 when nothing loaded, else use()'s
 * result. */
static int with_config(const dw_cli_t *cli, int (*use)(const dw_config_t *cfg))
{
    char *path;
    dw_config_t *cfg = load_config(cli, &path);
    int rc = cfg ? use(cfg) : 1;
    dw_config_free(cfg);
    free(path);
    return rc;
}

static int print_summary(const dw_config_t *cfg)
{
    printf("Dwaarfile OK (%zu sites, %zu routes)\n", cfg->naddresses, cfg->nroutes);
    return 0;
}

static int print_json(const dw_config_t *cfg)
{
    dw_buf_t out = DW_BUF_INIT;
    int rc = dw_config_to_json(cfg, &out);
    if (rc == 0) {
        fwrite(out.data, 1, out.len, stdout);
        fputc('\n', stdout);
    } else {
        fprintf(stderr, "error: cannot encode the configuration\n");
    }
    dw_buf_deinit(&out);
    return rc == 0 ? 0 : 1;
}

static int cmd_validate(const dw_cli_t *cli)
{
    return with_config(cli, print_summary);
}
static int cmd_adapt(const dw_cli_t *cli)
{
    return with_config(cli, print_json);
}

/* `dwaar run` (and bare `dwaar`): load, then serve until SIGTERM; SIGHUP reloads. */
static int cmd_run(const dw_cli_t *cli)
{
    char *path;
    dw_config_t *cfg = load_config(cli, &path);
    if (!cfg) {
        free(path);
        return 1;
    }
    if (cfg->global.debug && dw_log_level < DW_LOG_DEBUG) dw_log_level = DW_LOG_DEBUG;
    dw_server_opts_t so = {.config_path = path, .workers = cli->workers, .load_opts = &load_opts};
    int rc = dw_server_run(cfg, &so);
    free(path);
    return rc;
}

static char *read_all(const char *path, size_t *len, int *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        *err = errno;
        return NULL;
    }
    dw_buf_t b = DW_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
        if (dw_buf_append(&b, chunk, n) || b.len > DW_CFG_MAX_FILE_SIZE) break;
    }
    *err = ferror(f) ? EIO : 0;
    fclose(f);
    if (b.len > DW_CFG_MAX_FILE_SIZE) *err = EFBIG;
    *len = b.len;
    if (*err) {
        dw_buf_deinit(&b);
        return NULL;
    }
    return dw_buf_take(&b);
}

static int cmd_fmt(const dw_cli_t *cli)
{
    char *path = find_config(cli->fmt_file ? cli->fmt_file : cli->config);
    if (!path) return 1;
    int rc = 1, err = 0;
    size_t len = 0;
    char *src = read_all(path, &len, &err);
    const char *display = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!src) {
        fprintf(stderr, "error: cannot read '%s': %s\n", path,
                err == EFBIG ? "config file too large (max 10485760 bytes)" : strerror(err));
        free(path);
        return 1;
    }
    dw_diags_t diags;
    dw_diags_init(&diags);
    dw_buf_t out = DW_BUF_INIT;
    int blocks = dw_cfg_format(display, src, len, &out, &diags);
    dw_diags_print(&diags, -1, stderr);
    if (blocks < 0 || out.failed) {
        if (!diags.nerrors) fprintf(stderr, "error: cannot format '%s'\n", path);
    } else if (cli->fmt_check) {
        bool same = out.len == len && memcmp(out.data, src, len) == 0;
        if (!same) fprintf(stderr, "Dwaarfile is not formatted. Run 'dwaar fmt' to fix.\n");
        rc = same ? 0 : 1;
    } else if (cli->fmt_overwrite) {
        /* write a sibling file and rename it over, so a failure never truncates the original */
        dw_buf_t tmp = DW_BUF_INIT;
        dw_buf_appendf(&tmp, "%s.fmt-%ld.tmp", path, (long)getpid());
        FILE *f = fopen(tmp.data, "wb");
        struct stat st;
        bool ok = f && fwrite(out.data, 1, out.len, f) == out.len;
        if (f && fclose(f) != 0) ok = false;
        if (ok && stat(path, &st) == 0) chmod(tmp.data, st.st_mode & 07777);
        if (ok && rename(tmp.data, path) == 0) {
            printf("Formatted %d domain blocks.\n", blocks);
            rc = 0;
        } else {
            fprintf(stderr, "error: cannot write '%s': %s\n", path, strerror(errno));
            unlink(tmp.data);
        }
        dw_buf_deinit(&tmp);
    } else {
        if (out.len) fwrite(out.data, 1, out.len, stdout); /* empty output may have no buffer */
        rc = 0;
    }
    dw_buf_deinit(&out);
    dw_diags_deinit(&diags);
    free(src);
    free(path);
    return rc;
}

int main(int argc, char **argv)
{
    dw_log_init_from_env();
    dw_cli_t cli;
    int rc = dw_cli_parse(argc, argv, &cli);
    if (rc) return rc;
    if (cli.help) {
        dw_cli_usage(stdout, cli.cmd);
        return 0;
    }
    if (cli.version || cli.cmd == DW_CMD_VERSION) {
        printf("dwaar %s\n", DWAAR_VERSION);
        return 0;
    }
    if (cli.test) return cmd_validate(&cli);
    switch (cli.cmd) {
    case DW_CMD_VALIDATE: return cmd_validate(&cli);
    case DW_CMD_ADAPT: return cmd_adapt(&cli);
    case DW_CMD_FMT: return cmd_fmt(&cli);
    case DW_CMD_RUN: return cmd_run(&cli);
    default:
        fprintf(stderr,
                "error: '%s' talks to a running server's admin API, which this build does not "
                "include yet\n",
                cli.cmd == DW_CMD_ROUTES    ? "routes"
                : cli.cmd == DW_CMD_RELOAD  ? "reload"
                : cli.cmd == DW_CMD_CERTS   ? "certs"
                : cli.cmd == DW_CMD_UPGRADE ? "upgrade"
                                            : "self-update");
        return 1;
    }
}
