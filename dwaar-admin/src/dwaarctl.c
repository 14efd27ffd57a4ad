/* dwaarctl: a command-line client of admind's ZeroMQ endpoint (admin.* messages, docs/bus.md).
 * Every command is one request/reply exchange; the reply is admin.result
 * {ok, status, error, data}. */
#include "admin_int.h"
#include <errno.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "ipc:///tmp/dwaar-ctl-6190.ipc"
#define MAX_FILE         (10u * 1024u * 1024u)

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3, EXIT_LIMITED = 4 };

static const char usage_text[] =
    "usage: dwaarctl [-e ENDPOINT] [--json] <command>\n"
    "\n"
    "Talks to a running dwaar's control endpoint (admind).\n"
    "\n"
    "commands:\n"
    "  status                                 instance, config generation, reloads, nodes\n"
    "  routes [list]                          the route table\n"
    "  routes add DOMAIN UPSTREAM [--tls] [--source S]\n"
    "                                         add or replace an API route (in memory only)\n"
    "  routes remove DOMAIN                   remove a route\n"
    "  reload                                 re-read the Dwaarfile (5 s cooldown)\n"
    "  validate [FILE]                        check FILE (or the running Dwaarfile)\n"
    "\n"
    "options:\n"
    "  -e, --endpoint ENDPOINT  ZeroMQ endpoint (default: $DWAAR_CTL_ENDPOINT, else\n"
    "                           " DEFAULT_ENDPOINT ")\n"
    "  --json                   print the reply as one JSON document\n"
    "  -h, --help               this text\n"
    "\n"
    "DWAAR_ADMIN_TOKEN, when set, is sent with every request (required on tcp:// endpoints).\n"
    "\n"
    "exit status:\n"
    "  0  success\n"
    "  1  the server refused or the operation failed (invalid input, not found, config errors)\n"
    "  2  usage error\n"
    "  3  cannot reach the endpoint (no answer within 5 s)\n"
    "  4  rate limited, or reload asked too soon after the previous one\n";

static int usage_error(const char *fmt, ...) DW_PRINTF(1, 2);
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "dwaarctl: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\n%s", usage_text);
    return EXIT_USAGE;
}

typedef struct ctl {
    const char *endpoint;
    bool json;
    const char *args[8]; /* positional words */
    size_t nargs;
    bool tls;
    const char *source;
} ctl_t;

/* --- printing ------------------------------------------------------------------------------- */

static const char *str_of(const msgpack_object *m, const char *key, char *buf, size_t n)
{
    dw_str_t s;
    if (!dw_mp_get_str(m, key, &s)) return NULL;
    snprintf(buf, n, "%.*s", DW_STR_FMT(s));
    return buf;
}

static uint64_t uint_of(const msgpack_object *m, const char *key)
{
    uint64_t v = 0;
    dw_mp_get_uint(m, key, &v);
    return v;
}

static void print_routes(const msgpack_object *data)
{
    size_t n = data && data->type == MSGPACK_OBJECT_ARRAY ? data->via.array.size : 0;
    if (n == 0) {
        fprintf(stderr, "no routes configured\n");
        return;
    }
    dw_admin_route_row_t *rows = calloc(n, sizeof *rows);
    char **owned = calloc(n * 2, sizeof *owned);
    if (!rows || !owned) {
        fprintf(stderr, "error: out of memory\n");
        free(rows);
        free(owned);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *m = &data->via.array.ptr[i];
        dw_str_t d = DW_STR_NULL, u = DW_STR_NULL;
        dw_mp_get_str(m, "domain", &d);
        owned[2 * i] = strndup(d.ptr ? d.ptr : "?", d.ptr ? d.len : 1);
        if (dw_mp_get_str(m, "upstream", &u)) owned[2 * i + 1] = strndup(u.ptr, u.len);
        rows[i].domain = owned[2 * i] ? owned[2 * i] : "?";
        rows[i].upstream = owned[2 * i + 1];
        dw_mp_get_bool(m, "tls", &rows[i].tls);
        rows[i].has_rps = dw_mp_get_uint(m, "rate_limit_rps", &rows[i].rps);
        dw_mp_get_bool(m, "under_attack", &rows[i].under_attack);
    }
    dw_admin_print_routes(stdout, rows, n);
    for (size_t i = 0; i < 2 * n; i++) free(owned[i]);
    free(owned);
    free(rows);
}

static void print_duration(uint64_t s)
{
    if (s >= 86400) printf("%llud ", (unsigned long long)(s / 86400));
    if (s >= 3600) printf("%lluh ", (unsigned long long)(s / 3600 % 24));
    if (s >= 60) printf("%llum ", (unsigned long long)(s / 60 % 60));
    printf("%llus", (unsigned long long)(s % 60));
}

static const char * or (const char *s, const char *dflt)
{
    return s ? s : dflt;
}

static void print_status(const msgpack_object *d)
{
    char a[512], b[512], c[4096];
    bool draining = false;
    dw_mp_get_bool(d, "draining", &draining);
    printf("dwaar %s, pid %llu, up ", or (str_of(d, "version", a, sizeof a), "?"),
           (unsigned long long)uint_of(d, "pid"));
    print_duration(uint_of(d, "uptime_secs"));
    printf(" (started %s)%s\n", or (str_of(d, "started_at", b, sizeof b), "?"),
           draining ? ", draining" : "");
    printf("admin API:  %s", or (str_of(d, "admin_addr", a, sizeof a), "?"));
    if (str_of(d, "admin_socket", b, sizeof b)) printf(" and %s", b);
    printf("\ncontrol:    %s\n", or (str_of(d, "ctl_endpoint", a, sizeof a), "?"));
    printf("instance:   %s\n", or (str_of(d, "instance", a, sizeof a), "-"));
    printf("config:     %s (generation %llu)\n", or (str_of(d, "config_path", a, sizeof a), "-"),
           (unsigned long long)uint_of(d, "generation"));
    printf("reloads:    %llu ok, %llu failed\n", (unsigned long long)uint_of(d, "reloads_ok"),
           (unsigned long long)uint_of(d, "reloads_failed"));
    if (str_of(d, "last_error", c, sizeof c)) printf("last error: %s\n", c);
    const msgpack_object *nodes = NULL;
    size_t n = 0;
    if (dw_mp_get_array(d, "nodes", &nodes, &n) && n) {
        printf("nodes:\n");
        for (size_t i = 0; i < n; i++)
            printf("  %s  pid %llu  generation %llu  last seen %llu ms ago\n",
                   or (str_of(&nodes[i], "node", a, sizeof a), "?"),
                   (unsigned long long)uint_of(&nodes[i], "pid"),
                   (unsigned long long)uint_of(&nodes[i], "generation"),
                   (unsigned long long)uint_of(&nodes[i], "age_ms"));
    }
}

/* --- commands ------------------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    dw_buf_t b = DW_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (dw_buf_append(&b, chunk, n) || b.len > MAX_FILE) break;
    }
    bool bad = ferror(f) || b.len > MAX_FILE || b.failed;
    fclose(f);
    if (bad) {
        dw_buf_deinit(&b);
        errno = b.len > MAX_FILE ? EFBIG : EIO;
        return NULL;
    }
    *len = b.len;
    return b.data ? dw_buf_take(&b) : strdup("");
}

static void pack_token(msgpack_packer *pk)
{
    const char *tok = getenv("DWAAR_ADMIN_TOKEN");
    if (tok && tok[0]) dw_mp_kv_cstr(pk, "token", tok);
}

static bool has_token(void)
{
    const char *tok = getenv("DWAAR_ADMIN_TOKEN");
    return tok && tok[0];
}

static void unreachable_hint(const ctl_t *c, const char *why)
{
    fprintf(stderr,
            "error: cannot reach %s: %s\n"
            "hint: is dwaar running? start it with `dwaar run`; its control endpoint is "
            "ipc:///tmp/dwaar-ctl-<admin port>.ipc unless set otherwise (-e ENDPOINT or "
            "DWAAR_CTL_ENDPOINT)\n",
            c->endpoint, why);
}

static int run(ctl_t *c)
{
    const char *cmd = c->args[0];
    const char *sub = c->nargs > 1 ? c->args[1] : NULL;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    uint64_t id = dw_bus_next_id();
    int kind = 0; /* 1 routes table, 2 status, 3 message */
    char *text = NULL;
    char msgbuf[600];
    msgbuf[0] = '\0';
    int tok = has_token() ? 1 : 0;

    if (strcmp(cmd, "status") == 0) {
        if (c->nargs != 1) return usage_error("status takes no arguments");
        dw_bus_begin(&w, "admin.status", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)tok);
        kind = 2;
    } else if (strcmp(cmd, "routes") == 0 && (!sub || strcmp(sub, "list") == 0)) {
        if (c->nargs > 2) return usage_error("routes list takes no arguments");
        dw_bus_begin(&w, "admin.routes", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)tok);
        kind = 1;
    } else if (strcmp(cmd, "routes") == 0 && strcmp(sub, "add") == 0) {
        if (c->nargs != 4)
            return usage_error("usage: routes add DOMAIN UPSTREAM [--tls] [--source S]");
        dw_bus_begin(&w, "admin.route_add", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)(4 + tok));
        dw_mp_kv_cstr(&w.pk, "domain", c->args[2]);
        dw_mp_kv_cstr(&w.pk, "upstream", c->args[3]);
        dw_mp_kv_bool(&w.pk, "tls", c->tls);
        dw_mp_kv_cstr(&w.pk, "source", c->source);
        snprintf(msgbuf, sizeof msgbuf, "route added: %s -> %s", c->args[2], c->args[3]);
        kind = 3;
    } else if (strcmp(cmd, "routes") == 0 && strcmp(sub, "remove") == 0) {
        if (c->nargs != 3) return usage_error("usage: routes remove DOMAIN");
        dw_bus_begin(&w, "admin.route_remove", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)(1 + tok));
        dw_mp_kv_cstr(&w.pk, "domain", c->args[2]);
        snprintf(msgbuf, sizeof msgbuf, "route removed: %s", c->args[2]);
        kind = 3;
    } else if (strcmp(cmd, "routes") == 0) {
        return usage_error("unknown routes command '%s' (list, add, remove)", sub);
    } else if (strcmp(cmd, "reload") == 0) {
        if (c->nargs != 1) return usage_error("reload takes no arguments");
        dw_bus_begin(&w, "admin.reload", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)tok);
        snprintf(msgbuf, sizeof msgbuf, "config reload triggered");
        kind = 3;
    } else if (strcmp(cmd, "validate") == 0) {
        if (c->nargs > 2) return usage_error("usage: validate [FILE]");
        size_t len = 0;
        const char *name = NULL;
        if (sub) {
            text = read_file(sub, &len);
            if (!text) {
                fprintf(stderr, "error: cannot read %s: %s\n", sub,
                        errno == EFBIG ? "file too large (max 10485760 bytes)" : strerror(errno));
                dw_bus_writer_free(&w);
                return EXIT_FAILED;
            }
            name = strrchr(sub, '/') ? strrchr(sub, '/') + 1 : sub;
        }
        dw_bus_begin(&w, "admin.validate", 1, id);
        msgpack_pack_map(&w.pk, (uint32_t)(2 + tok));
        if (text)
            dw_mp_kv_str(&w.pk, "text", text, len);
        else
            dw_mp_kv_nil(&w.pk, "text");
        dw_mp_kv_cstr(&w.pk, "name", name);
        kind = 4;
    } else {
        dw_bus_writer_free(&w);
        return usage_error("unknown command '%s'", cmd);
    }
    if (tok) pack_token(&w.pk);
    free(text);

    /* an ipc:// endpoint that does not exist cannot answer: say so now, not after 5 s */
    if (strncmp(c->endpoint, "ipc://", 6) == 0) {
        struct stat st;
        if (stat(c->endpoint + 6, &st) != 0) {
            unreachable_hint(c, strerror(errno));
            dw_bus_writer_free(&w);
            return EXIT_UNREACHABLE;
        }
    }
    dw_bus_msg_t reply;
    int rc = dw_bus_request(c->endpoint, w.sb.data, w.sb.size, id, DW_ADMIN_BUS_TIMEOUT_MS,
                            DW_ADMIN_BUS_MAX_REPLY, &reply);
    int e = errno;
    dw_bus_writer_free(&w);
    if (rc < 0) {
        unreachable_hint(c, e == ETIMEDOUT ? "no answer within 5 s" : strerror(e));
        return EXIT_UNREACHABLE;
    }
    if (rc != DW_BUS_OK) {
        fprintf(stderr, "error: unreadable answer from %s (%s)\n", c->endpoint,
                dw_bus_status_name((dw_bus_status_t)rc));
        return EXIT_FAILED;
    }
    int exit_code;
    if (dw_str_eq_c(reply.type, DW_BUS_ERROR_TYPE)) {
        dw_str_t m = DW_STR_NULL;
        dw_mp_get_str(reply.body, "message", &m);
        if (c->json) {
            dw_buf_t out = DW_BUF_INIT;
            dw_json_t j;
            dw_json_init(&j, &out);
            dw_admin_json_from_mp(&j, reply.body);
            printf("%s\n", out.data ? out.data : "null");
            dw_buf_deinit(&out);
        } else {
            fprintf(stderr, "error: %.*s\n", DW_STR_FMT(m));
        }
        dw_bus_msg_free(&reply);
        return EXIT_FAILED;
    }
    bool ok = false;
    uint64_t status = 0;
    dw_mp_get_bool(reply.body, "ok", &ok);
    dw_mp_get_uint(reply.body, "status", &status);
    const msgpack_object *data = dw_mp_get(reply.body, "data");
    exit_code = ok ? EXIT_OK : status == 429 ? EXIT_LIMITED : EXIT_FAILED;
    if (c->json) {
        dw_buf_t out = DW_BUF_INIT;
        dw_json_t j;
        dw_json_init(&j, &out);
        dw_admin_json_from_mp(&j, reply.body);
        printf("%s\n", out.data ? out.data : "null");
        dw_buf_deinit(&out);
    } else if (!ok) {
        dw_str_t err = DW_STR("failed");
        dw_mp_get_str(reply.body, "error", &err);
        uint64_t retry = 0;
        if (dw_mp_get_uint(reply.body, "retry_after", &retry))
            fprintf(stderr, "error: %.*s (retry in %llu s)\n", DW_STR_FMT(err),
                    (unsigned long long)retry);
        else if (kind == 4 || memchr(err.ptr, '\n', err.len))
            fprintf(stderr, "%.*s%s", DW_STR_FMT(err),
                    err.len && err.ptr[err.len - 1] == '\n' ? "" : "\n");
        else
            fprintf(stderr, "error: %.*s\n", DW_STR_FMT(err));
    } else if (kind == 1) {
        print_routes(data);
    } else if (kind == 2) {
        print_status(data);
    } else if (kind == 4) {
        printf("Dwaarfile OK (%llu sites, %llu routes)\n",
               (unsigned long long)uint_of(data, "sites"),
               (unsigned long long)uint_of(data, "routes"));
    } else {
        /* the server's own view where it has one: domains come back lowercased */
        char d[600], u[128];
        if (str_of(data, "deleted", d, sizeof d))
            printf("route removed: %s\n", d);
        else if (str_of(data, "domain", d, sizeof d) && str_of(data, "upstream", u, sizeof u))
            printf("route added: %s -> %s\n", d, u);
        else
            printf("%s\n", msgbuf);
    }
    dw_bus_msg_free(&reply);
    return exit_code;
}

int main(int argc, char **argv)
{
    ctl_t c = {0};
    const char *env = getenv("DWAAR_CTL_ENDPOINT");
    c.endpoint = env && env[0] ? env : DEFAULT_ENDPOINT;
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1]) {
            if (strcmp(a, "--") == 0) {
                options_done = true;
            } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
                fputs(usage_text, stdout);
                return EXIT_OK;
            } else if (strcmp(a, "--json") == 0) {
                c.json = true;
            } else if (strcmp(a, "--tls") == 0) {
                c.tls = true;
            } else if (strcmp(a, "-e") == 0 || strcmp(a, "--endpoint") == 0 ||
                       strcmp(a, "--source") == 0) {
                if (i + 1 >= argc) return usage_error("%s needs a value", a);
                if (a[2] == 's')
                    c.source = argv[++i];
                else
                    c.endpoint = argv[++i];
            } else if (strncmp(a, "--endpoint=", 11) == 0) {
                c.endpoint = a + 11;
            } else if (strncmp(a, "--source=", 9) == 0) {
                c.source = a + 9;
            } else {
                return usage_error("unknown option '%s'", a);
            }
            continue;
        }
        if (c.nargs >= DW_ARRAY_LEN(c.args)) return usage_error("too many arguments");
        c.args[c.nargs++] = a;
    }
    if (c.nargs == 0) return usage_error("missing command");
    if (!c.endpoint[0]) return usage_error("empty endpoint");
    bool is_add = strcmp(c.args[0], "routes") == 0 && c.nargs > 1 && strcmp(c.args[1], "add") == 0;
    if ((c.tls || c.source) && !is_add)
        return usage_error("--tls and --source only go with `routes add`");
    int rc = run(&c);
    dw_bus_context_term();
    return rc;
}
