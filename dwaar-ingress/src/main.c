/* The `dwaar` binary: CLI dispatch, config lookup (spec 10 §9). */
#include "cli.h"
#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/admin/admind.h>
#include <dwaar/base/loop.h>
#include <dwaar/bus/bus.h>
#include <dwaar/config/config.h>
#include <dwaar/config/configd.h>
#include <dwaar/core/server.h>
#include <dwaar/log/logd.h>
#include <signal.h>
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

/* --- `dwaar run` (and bare `dwaar`): the deployment shapes of docs/deployment.md ---------- */

/* The control plane's endpoints from its base address: tcp://HOST:PORT takes PORT (requests),
 * PORT+1 (config updates) and PORT+2 (logs); ipc:///path takes path, path.updates, path.logs. */
typedef struct endpoints {
    char rpc[300], updates[300], logs[300];
} endpoints_t;

static int control_endpoints(const char *base, endpoints_t *e)
{
    if (strncmp(base, "tcp://", 6) == 0) {
        const char *colon = strrchr(base, ':');
        char *end;
        unsigned long port = colon ? strtoul(colon + 1, &end, 10) : 0;
        if (!colon || colon < base + 6 || *end || port == 0 || port > 65533) {
            fprintf(stderr, "error: invalid control endpoint '%s' (expected tcp://HOST:PORT)\n",
                    base);
            return -1;
        }
        int hl = (int)(colon - base);
        snprintf(e->rpc, sizeof e->rpc, "%.*s:%lu", hl, base, port);
        snprintf(e->updates, sizeof e->updates, "%.*s:%lu", hl, base, port + 1);
        snprintf(e->logs, sizeof e->logs, "%.*s:%lu", hl, base, port + 2);
        return 0;
    }
    if (strncmp(base, "ipc://", 6) == 0 && strlen(base) < 200) {
        snprintf(e->rpc, sizeof e->rpc, "%s", base);
        snprintf(e->updates, sizeof e->updates, "%s.updates", base);
        snprintf(e->logs, sizeof e->logs, "%s.logs", base);
        return 0;
    }
    fprintf(stderr,
            "error: invalid control endpoint '%s' (expected tcp://HOST:PORT or ipc://PATH)\n",
            base);
    return -1;
}

typedef struct run_state {
    const char *configd_rpc;
    dw_service_t *configd, *logd, *admind;
} run_state_t;

/* SIGHUP: the same reload as a file change or POST /reload (minus the cooldown); configd
 * reports a failure in its own log. */
static void reload_by_signal(void *arg)
{
    run_state_t *rs = arg;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    uint64_t id = dw_bus_next_id();
    dw_bus_begin(&w, "config.reload", 1, id);
    msgpack_pack_map(&w.pk, 1);
    dw_mp_kv_cstr(&w.pk, "origin", "signal");
    dw_bus_msg_t reply;
    if (dw_bus_request(rs->configd_rpc, w.sb.data, w.sb.size, id, 30000, 0, &reply) == DW_BUS_OK)
        dw_bus_msg_free(&reply);
    else
        DW_ERROR("ingress", "reload: configd did not answer");
    dw_bus_writer_free(&w);
}

static void drain_begins(void *arg)
{
    (void)arg;
    dw_admind_set_draining();
}

static void stop_services(run_state_t *rs)
{
    /* admind first (it asks configd), logd after the workers flushed (caller order) */
    if (rs->admind) dw_service_stop(rs->admind);
    if (rs->logd) dw_service_stop(rs->logd);
    if (rs->configd) dw_service_stop(rs->configd);
    rs->admind = rs->logd = rs->configd = NULL;
}

static dw_service_t *start_service(dw_service_def_t def)
{
    char err[512];
    dw_service_t *svc = dw_service_start(&def, err, sizeof err);
    if (!svc) fprintf(stderr, "error: %s: %s\n", def.name, err);
    return svc;
}

/* The control plane's services: configd, logd (unless --no-logging) and admind. */
static int start_control(const dw_cli_t *cli, const char *path, const endpoints_t *ep,
                         run_state_t *rs)
{
    dw_configd_opts_t co = {.config_path = path,
                            .rpc_endpoint = ep->rpc,
                            .updates_endpoint = ep->updates,
                            .load_opts = &load_opts,
                            .watch = true};
    rs->configd_rpc = ep->rpc;
    rs->configd = start_service(dw_configd_service(&co));
    if (!rs->configd) return -1;
    if (!cli->no_logging) {
        dw_logd_opts_t lo = {.endpoint = ep->logs};
        rs->logd = start_service(dw_logd_service(&lo));
        if (!rs->logd) return -1;
    }
    const char *token = getenv("DWAAR_ADMIN_TOKEN");
    dw_admind_opts_t ao = {.tcp_addr = cli->admin_addr,
                           .unix_path = cli->admin_socket,
                           .ctl_endpoint = cli->ctl_endpoint,
                           .configd_endpoint = ep->rpc,
                           .token = token,
                           .metrics_enabled = !cli->no_metrics};
    rs->admind = start_service(dw_admind_service(&ao));
    return rs->admind ? 0 : -1;
}

static void on_control_signal(void *arg)
{
    dw_loop_break(arg);
}

/* --role control: no data plane; serve until SIGTERM/SIGINT, SIGHUP reloads. */
static int run_control(run_state_t *rs)
{
    dw_loop_global_init();
    dw_loop_t *loop = dw_loop_new();
    if (!loop) return 1;
    dw_signal_t *term = dw_signal_new(loop, SIGTERM, on_control_signal, loop);
    dw_signal_t *intr = dw_signal_new(loop, SIGINT, on_control_signal, loop);
    dw_signal_t *hup = dw_signal_new(loop, SIGHUP, reload_by_signal, rs);
    DW_INFO("ingress", "control plane serving config on %s", rs->configd_rpc);
    dw_loop_run(loop);
    dw_admind_set_draining();
    dw_signal_free(term);
    dw_signal_free(intr);
    dw_signal_free(hup);
    dw_loop_free(loop);
    return 0;
}

static int cmd_run(const dw_cli_t *cli)
{
    signal(SIGPIPE, SIG_IGN);
    run_state_t rs = {0};
    endpoints_t ep;
    if (cli->role == DW_ROLE_SINGLE) {
        snprintf(ep.rpc, sizeof ep.rpc, "%s", DW_CONFIGD_RPC_INPROC);
        snprintf(ep.updates, sizeof ep.updates, "%s", DW_CONFIGD_UPDATES_INPROC);
        snprintf(ep.logs, sizeof ep.logs, "%s", "inproc://dwaar-logd");
    } else if (control_endpoints(cli->control ? cli->control : "tcp://127.0.0.1:7400", &ep) != 0) {
        return 2;
    }
    int rc = 1;
    char *path = NULL;
    if (cli->role != DW_ROLE_DATA) {
        path = find_config(cli->config);
        if (!path || start_control(cli, path, &ep, &rs) != 0) goto out;
    }
    if (cli->role == DW_ROLE_CONTROL) {
        rc = run_control(&rs);
        goto out;
    }
    dw_server_opts_t so = {.workers = cli->workers,
                           .control_endpoint = ep.rpc,
                           .updates_endpoint = ep.updates,
                           .logd_endpoint = cli->no_logging ? NULL : ep.logs,
                           .node_name = cli->node,
                           .wait_for_control = cli->role == DW_ROLE_DATA,
                           .load_opts = &load_opts,
                           .on_reload_signal =
                               cli->role == DW_ROLE_SINGLE ? reload_by_signal : NULL,
                           .on_stop = drain_begins,
                           .cb_arg = &rs};
    rc = dw_server_run(&so);
out:
    stop_services(&rs);
    dw_bus_context_term();
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
    case DW_CMD_ROUTES: return dw_admin_cli_routes(cli.admin);
    case DW_CMD_RELOAD: return dw_admin_cli_reload(cli.admin);
    default:
        fprintf(stderr, "error: '%s' is not available in this build yet\n",
                cli.cmd == DW_CMD_CERTS     ? "certs"
                : cli.cmd == DW_CMD_UPGRADE ? "upgrade"
                                            : "self-update");
        return 1;
    }
}
