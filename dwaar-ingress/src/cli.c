#include "cli.h"
#include <dwaar/base/parse.h>
#include <dwaar/base/str.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    dw_cli_cmd_t cmd;
} commands[] = {
    {"run", DW_CMD_RUN},           {"version", DW_CMD_VERSION},
    {"validate", DW_CMD_VALIDATE}, {"fmt", DW_CMD_FMT},
    {"adapt", DW_CMD_ADAPT},       {"routes", DW_CMD_ROUTES},
    {"reload", DW_CMD_RELOAD},     {"certs", DW_CMD_CERTS},
    {"upgrade", DW_CMD_UPGRADE},   {"self-update", DW_CMD_SELF_UPDATE},
};

static const char *const usage_text[] = {
    [DW_CMD_RUN] =
        "Usage: dwaar [FLAGS] [COMMAND]\n"
        "\n"
        "Commands:\n"
        "  run                 start the server (the default)\n"
        "  validate            load and check the Dwaarfile\n"
        "  fmt [FILE]          print the Dwaarfile in canonical format\n"
        "  adapt               print the loaded configuration as JSON\n"
        "  version             print the version\n"
        "  routes, reload      talk to a running server's admin API\n"
        "  certs, upgrade, self-update\n"
        "\n"
        "Flags:\n"
        "  -c, --config PATH   Dwaarfile (env DWAAR_CONFIG; default ./Dwaarfile, then "
        "/etc/dwaar/Dwaarfile)\n"
        "  -t, --test          load and validate the configuration, bind nothing, exit 0/1\n"
        "  -d, --daemon        run in the background\n"
        "  -u, --upgrade       take over listening sockets from a running dwaar\n"
        "      --workers N|auto  worker threads (default auto = one per core)\n"
        "      --admin-addr HOST:PORT   admin API address (default 127.0.0.1:6190)\n"
        "      --admin-socket [PATH]    admin API unix socket (bare: /var/run/dwaar-admin.sock)\n"
        "      --docker-socket [PATH]   Docker discovery (bare: /var/run/docker.sock)\n"
        "      --grpc-addr ADDR         control-plane gRPC address (default 127.0.0.1:9091)\n"
        "      --role single|control|data  deployment shape (default single: one process)\n"
        "      --control tcp://HOST:PORT   control plane: bound by 'control', reached by 'data'\n"
        "                                  (PORT requests, PORT+1 updates, PORT+2 logs)\n"
        "      --ctl-endpoint URL       dwaarctl endpoint (default "
        "ipc:///tmp/dwaar-ctl-<admin port>.ipc)\n"
        "      --node NAME              data plane name shown by 'dwaarctl status'\n"
        "      --bare          disable logging, plugins, analytics, GeoIP, metrics and cache\n"
        "      --no-logging --no-plugins --no-analytics --no-geoip --no-metrics --no-cache\n"
        "  -h, --help          this help (also after a command)\n"
        "  -V, --version       print the version\n",
    [DW_CMD_VERSION] = "Usage: dwaar version\n\nPrints 'dwaar <version>'.\n",
    [DW_CMD_VALIDATE] =
        "Usage: dwaar validate [-c PATH]\n\n"
        "Loads the Dwaarfile with every check the server makes at start (files it\n"
        "names must exist) and prints 'Dwaarfile OK (<sites> sites, <routes> routes)'.\n"
        "Exit status 0 when valid, 1 otherwise.\n",
    [DW_CMD_FMT] =
        "Usage: dwaar fmt [FILE] [-c PATH] [--overwrite | --check]\n\n"
        "Prints the Dwaarfile in canonical format: one line per directive, 4 spaces per\n"
        "block level, comments kept, imports and environment not expanded.\n"
        "  --overwrite   rewrite the file in place\n"
        "  --check       write nothing; exit 1 if the file is not already canonical\n",
    [DW_CMD_ADAPT] =
        "Usage: dwaar adapt [-c PATH]\n\nPrints the loaded configuration model as JSON.\n",
    [DW_CMD_ROUTES] =
        "Usage: dwaar routes [--admin ADDR]\n\nLists the running server's routes (admin API).\n",
    [DW_CMD_RELOAD] =
        "Usage: dwaar reload [--admin ADDR]\n\nAsks the running server to reload its Dwaarfile.\n",
    [DW_CMD_CERTS] = "Usage: dwaar certs [--cert-dir PATH]\n\nLists managed certificates (default "
                     "/etc/dwaar/certs).\n",
    [DW_CMD_UPGRADE] =
        "Usage: dwaar upgrade [--binary PATH] [--pid-file PATH]\n\nZero-downtime binary upgrade.\n",
    [DW_CMD_SELF_UPDATE] =
        "Usage: dwaar self-update [--force]\n\nReplaces the binary from a verified release.\n",
};

void dw_cli_usage(FILE *out, dw_cli_cmd_t cmd)
{
    fputs(usage_text[cmd], out);
}

/* fmt is always one of the literals below, with one %s. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int usage_error(const dw_cli_t *cli, const char *fmt, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), fmt, arg);
    fprintf(stderr, "error: %s\n\n", msg);
    dw_cli_usage(stderr, cli->cmd);
    return 2;
}
#pragma GCC diagnostic pop

static bool is_command(const char *s)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(s, commands[i].name) == 0) return true;
    return false;
}

/* "--flag VALUE" or "--flag=VALUE"; *i advances past a separate value. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag, bool *missing)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (*i + 1 < argc) return argv[++*i];
    *missing = true;
    return NULL;
}

/* Flags whose value is optional take the next word only when it looks like a path. */
static const char *optional_value(int argc, char **argv, int *i, const char *flag, const char *dflt)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) == 0 && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (*i + 1 < argc && argv[*i + 1][0] != '-' && !is_command(argv[*i + 1])) return argv[++*i];
    return dflt;
}

static bool flag_is(const char *arg, const char *flag)
{
    size_t n = strlen(flag);
    return strncmp(arg, flag, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

int dw_cli_parse(int argc, char **argv, dw_cli_t *cli)
{
    memset(cli, 0, sizeof(*cli));
    cli->cmd = DW_CMD_RUN;
    const char *env_grpc = getenv("DWAAR_GRPC_ADDR");
    cli->grpc_addr = env_grpc ? env_grpc : "127.0.0.1:9091";
    const char *env_admin = getenv("DWAAR_ADMIN_ADDR");
    cli->admin_addr = env_admin && *env_admin ? env_admin : "127.0.0.1:6190";
    bool have_cmd = false;
    const char *global_config = NULL, *sub_config = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        bool missing = false;
        const char *v;
        if (a[0] != '-' || strcmp(a, "-") == 0) {
            if (!have_cmd && is_command(a)) {
                for (size_t k = 0; k < sizeof(commands) / sizeof(commands[0]); k++)
                    if (strcmp(a, commands[k].name) == 0) cli->cmd = commands[k].cmd;
                have_cmd = true;
                continue;
            }
            if (have_cmd && cli->cmd == DW_CMD_FMT && !cli->fmt_file) {
                cli->fmt_file = a;
                continue;
            }
            return usage_error(cli, have_cmd ? "unexpected argument '%s'" : "unknown command '%s'",
                               a);
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            cli->help = true;
        else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0)
            cli->version = true;
        else if (strcmp(a, "-c") == 0 || flag_is(a, "--config")) {
            v = flag_value(argc, argv, &i, "--config", &missing);
            if (missing) return usage_error(cli, "'%s' needs a path", a);
            if (have_cmd)
                sub_config = v;
            else
                global_config = v;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--test") == 0)
            cli->test = true;
        else if (strcmp(a, "-d") == 0 || strcmp(a, "--daemon") == 0)
            cli->daemon = true;
        else if (strcmp(a, "-u") == 0 || strcmp(a, "--upgrade") == 0)
            cli->upgrade = true;
        else if (flag_is(a, "--docker-socket"))
            cli->docker_socket =
                optional_value(argc, argv, &i, "--docker-socket", "/var/run/docker.sock");
        else if (flag_is(a, "--admin-socket"))
            cli->admin_socket =
                optional_value(argc, argv, &i, "--admin-socket", "/var/run/dwaar-admin.sock");
        else if (flag_is(a, "--grpc-addr")) {
            cli->grpc_addr = flag_value(argc, argv, &i, "--grpc-addr", &missing);
            if (missing) return usage_error(cli, "'%s' needs an address", a);
        } else if (flag_is(a, "--admin-addr")) {
            cli->admin_addr = flag_value(argc, argv, &i, "--admin-addr", &missing);
            if (missing) return usage_error(cli, "'%s' needs HOST:PORT", a);
        } else if (flag_is(a, "--role")) {
            v = flag_value(argc, argv, &i, "--role", &missing);
            if (missing) return usage_error(cli, "'%s' needs a value", a);
            if (strcmp(v, "single") == 0)
                cli->role = DW_ROLE_SINGLE;
            else if (strcmp(v, "control") == 0)
                cli->role = DW_ROLE_CONTROL;
            else if (strcmp(v, "data") == 0)
                cli->role = DW_ROLE_DATA;
            else
                return usage_error(cli,
                                   "invalid value for '--role': '%s' (expected one of: single, "
                                   "control, data)",
                                   v);
        } else if (flag_is(a, "--control")) {
            cli->control = flag_value(argc, argv, &i, "--control", &missing);
            if (missing) return usage_error(cli, "'%s' needs an endpoint (tcp://HOST:PORT)", a);
        } else if (flag_is(a, "--ctl-endpoint")) {
            cli->ctl_endpoint = flag_value(argc, argv, &i, "--ctl-endpoint", &missing);
            if (missing) return usage_error(cli, "'%s' needs an endpoint", a);
        } else if (flag_is(a, "--node")) {
            cli->node = flag_value(argc, argv, &i, "--node", &missing);
            if (missing) return usage_error(cli, "'%s' needs a name", a);
        } else if (strcmp(a, "--bare") == 0) {
            cli->no_logging = cli->no_plugins = cli->no_analytics = true;
            cli->no_geoip = cli->no_metrics = cli->no_cache = true;
        } else if (strcmp(a, "--no-logging") == 0)
            cli->no_logging = true;
        else if (strcmp(a, "--no-plugins") == 0)
            cli->no_plugins = true;
        else if (strcmp(a, "--no-analytics") == 0)
            cli->no_analytics = true;
        else if (strcmp(a, "--no-geoip") == 0)
            cli->no_geoip = true;
        else if (strcmp(a, "--no-metrics") == 0)
            cli->no_metrics = true;
        else if (strcmp(a, "--no-cache") == 0)
            cli->no_cache = true;
        else if (flag_is(a, "--workers")) {
            v = flag_value(argc, argv, &i, "--workers", &missing);
            if (missing) return usage_error(cli, "'%s' needs a value", a);
            uint64_t n;
            if (strcmp(v, "auto") == 0)
                cli->workers = 0;
            else if (dw_parse_u64(dw_str_c(v), &n) == 0 && n == 0) {
                fprintf(stderr, "error: worker count must be at least 1\n");
                return 2;
            } else if (dw_parse_u64(dw_str_c(v), &n) == 0 && n <= 4096)
                cli->workers = (unsigned)n;
            else {
                fprintf(stderr,
                        "error: invalid worker count '%s': expected 'auto' or a positive integer\n",
                        v);
                return 2;
            }
        } else if (have_cmd && cli->cmd == DW_CMD_FMT && strcmp(a, "--overwrite") == 0)
            cli->fmt_overwrite = true;
        else if (have_cmd && cli->cmd == DW_CMD_FMT && strcmp(a, "--check") == 0)
            cli->fmt_check = true;
        else if (have_cmd && (cli->cmd == DW_CMD_ROUTES || cli->cmd == DW_CMD_RELOAD) &&
                 flag_is(a, "--admin")) {
            cli->admin = flag_value(argc, argv, &i, "--admin", &missing);
            if (missing) return usage_error(cli, "'%s' needs an address or socket path", a);
        } else if (have_cmd && cli->cmd == DW_CMD_CERTS && flag_is(a, "--cert-dir")) {
            cli->cert_dir = flag_value(argc, argv, &i, "--cert-dir", &missing);
            if (missing) return usage_error(cli, "'%s' needs a path", a);
        } else if (have_cmd && cli->cmd == DW_CMD_UPGRADE && flag_is(a, "--binary")) {
            cli->binary = flag_value(argc, argv, &i, "--binary", &missing);
            if (missing) return usage_error(cli, "'%s' needs a path", a);
        } else if (have_cmd && cli->cmd == DW_CMD_UPGRADE && flag_is(a, "--pid-file")) {
            cli->pid_file = flag_value(argc, argv, &i, "--pid-file", &missing);
            if (missing) return usage_error(cli, "'%s' needs a path", a);
        } else if (have_cmd && cli->cmd == DW_CMD_SELF_UPDATE && strcmp(a, "--force") == 0)
            cli->self_update_force = true;
        else
            return usage_error(cli, "unknown flag '%s'", a);
    }
    if (cli->fmt_overwrite && cli->fmt_check)
        return usage_error(cli, "%s", "--overwrite and --check exclude each other");
    if (cli->role == DW_ROLE_DATA && !cli->control)
        return usage_error(cli, "%s", "--role data needs --control tcp://HOST:PORT");
    cli->config = sub_config ? sub_config : global_config;
    if (cli->cmd == DW_CMD_FMT && cli->fmt_file && !cli->config) cli->config = cli->fmt_file;
    return 0;
}
