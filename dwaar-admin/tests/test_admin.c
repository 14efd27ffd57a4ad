/* Unit tests for admind (spec 30 §1): the service runs against a FAKE configd (a small bus
 * service of this file answering config.* on an inproc ROUTER), and the HTTP API is exercised
 * over real loopback and unix sockets; the ctl endpoint over inproc. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "admin_int.h"
#include <arpa/inet.h>
#include <dwaar/base/log.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#define TOKEN   "s3cret-token"
#define CONFIGD "inproc://test-configd"
#define CFGPATH "/etc/test dir/Dwaarfile"

/* --- the fake configd ----------------------------------------------------------------------- */

typedef struct fake_route {
    char domain[300], upstream[64], source[64];
    bool tls, has_source;
} fake_route_t;

static struct {
    fake_route_t routes[64];
    size_t nroutes;
    bool reload_fails;
    uint64_t reloads_ok, reloads_failed;
    int requests;
} fake;

static void reply(dw_bus_sock_t *s, const dw_bus_peer_t *to, dw_bus_writer_t *w)
{
    dw_bus_send(s, to, w->sb.data, w->sb.size);
    dw_bus_writer_free(w);
}

static void pack_route(msgpack_packer *pk, const fake_route_t *r)
{
    /* deliberately not in the API's key order: admind must reorder */
    msgpack_pack_map(pk, 6);
    dw_mp_kv_cstr(pk, "source", r->has_source ? r->source : NULL);
    dw_mp_kv_cstr(pk, "domain", r->domain);
    dw_mp_kv_cstr(pk, "upstream", r->upstream);
    dw_mp_kv_bool(pk, "tls", r->tls);
    dw_mp_kv_bool(pk, "under_attack", false);
    dw_mp_kv_nil(pk, "rate_limit_rps");
}

static void on_config(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *m, void *arg)
{
    (void)arg;
    fake.requests++;
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    const msgpack_object *b = m->body;
    if (dw_str_eq_c(m->type, "config.routes")) {
        dw_bus_begin(&w, "config.routes_result", 1, m->id);
        msgpack_pack_map(&w.pk, 1);
        dw_mp_cstr(&w.pk, "routes");
        msgpack_pack_array(&w.pk, (uint32_t)fake.nroutes);
        for (size_t i = 0; i < fake.nroutes; i++) pack_route(&w.pk, &fake.routes[i]);
    } else if (dw_str_eq_c(m->type, "config.route_add")) {
        dw_str_t d = DW_STR_NULL, u = DW_STR_NULL, src = DW_STR_NULL;
        bool tls = false;
        dw_mp_get_str(b, "domain", &d);
        dw_mp_get_str(b, "upstream", &u);
        dw_mp_get_bool(b, "tls", &tls);
        bool has_src = dw_mp_get_str(b, "source", &src);
        dw_bus_begin(&w, "config.route_result", 1, m->id);
        char err[400] = "";
        if (d.len == 0 || d.len > 253 || dw_str_find(d, DW_STR("..")) >= 0)
            snprintf(err, sizeof err, "invalid domain: %.*s", DW_STR_FMT(d));
        else if (u.len == 0 || !(dw_ascii_isdigit(u.ptr[0]) || u.ptr[0] == '['))
            snprintf(err, sizeof err, "invalid upstream address: %.*s", DW_STR_FMT(u));
        if (err[0]) {
            msgpack_pack_map(&w.pk, 3);
            dw_mp_kv_bool(&w.pk, "ok", false);
            dw_mp_kv_cstr(&w.pk, "error", err);
            dw_mp_kv_nil(&w.pk, "route");
        } else {
            fake_route_t r = {.tls = tls, .has_source = has_src};
            snprintf(r.domain, sizeof r.domain, "%.*s", DW_STR_FMT(d));
            for (char *p = r.domain; *p; p++) *p = dw_ascii_lower(*p);
            snprintf(r.upstream, sizeof r.upstream, "%.*s", DW_STR_FMT(u));
            if (has_src) snprintf(r.source, sizeof r.source, "%.*s", DW_STR_FMT(src));
            size_t i = 0;
            while (i < fake.nroutes && strcmp(fake.routes[i].domain, r.domain) != 0) i++;
            if (i == fake.nroutes && fake.nroutes < 64) fake.nroutes++;
            fake.routes[i] = r;
            msgpack_pack_map(&w.pk, 3);
            dw_mp_kv_bool(&w.pk, "ok", true);
            dw_mp_kv_nil(&w.pk, "error");
            dw_mp_cstr(&w.pk, "route");
            pack_route(&w.pk, &r);
        }
    } else if (dw_str_eq_c(m->type, "config.route_remove")) {
        dw_str_t d = DW_STR_NULL;
        dw_mp_get_str(b, "domain", &d);
        bool found = false;
        for (size_t i = 0; i < fake.nroutes; i++) {
            if (dw_str_eq_c(d, fake.routes[i].domain)) {
                fake.routes[i] = fake.routes[--fake.nroutes];
                found = true;
                break;
            }
        }
        dw_bus_begin(&w, "config.route_result", 1, m->id);
        msgpack_pack_map(&w.pk, 2);
        dw_mp_kv_bool(&w.pk, "ok", true);
        dw_mp_kv_bool(&w.pk, "found", found);
    } else if (dw_str_eq_c(m->type, "config.reload")) {
        dw_bus_begin(&w, "config.reload_result", 1, m->id);
        msgpack_pack_map(&w.pk, 6);
        dw_mp_kv_bool(&w.pk, "ok", !fake.reload_fails);
        dw_mp_kv_bool(&w.pk, "changed", true);
        dw_mp_kv_uint(&w.pk, "generation", 2);
        if (fake.reload_fails) {
            fake.reloads_failed++;
            dw_mp_kv_cstr(&w.pk, "error",
                          CFGPATH ":3:5: unknown directive 'proxzy'\n"
                                  "  help: did you mean 'proxy'? (in Dwaarfile)\n");
        } else {
            fake.reloads_ok++;
            dw_mp_kv_nil(&w.pk, "error");
        }
        dw_mp_kv_cstr(&w.pk, "path", CFGPATH);
        dw_mp_kv_cstr(&w.pk, "name", "Dwaarfile");
    } else if (dw_str_eq_c(m->type, "config.validate")) {
        dw_str_t text = DW_STR_NULL;
        dw_mp_get_str(b, "text", &text);
        bool bad = text.ptr && dw_str_find(text, DW_STR("proxzy")) >= 0;
        dw_bus_begin(&w, "config.validate_result", 1, m->id);
        msgpack_pack_map(&w.pk, 4);
        dw_mp_kv_bool(&w.pk, "ok", !bad);
        dw_mp_kv_cstr(&w.pk, "error", bad ? "x:1:1: unknown directive 'proxzy'" : NULL);
        dw_mp_kv_uint(&w.pk, "sites", 1);
        dw_mp_kv_uint(&w.pk, "routes", 2);
    } else { /* config.status */
        dw_bus_begin(&w, "config.status_result", 1, m->id);
        msgpack_pack_map(&w.pk, 7);
        dw_mp_kv_cstr(&w.pk, "instance", "test");
        dw_mp_kv_uint(&w.pk, "generation", 1);
        dw_mp_kv_cstr(&w.pk, "path", CFGPATH);
        dw_mp_kv_uint(&w.pk, "reloads_ok", fake.reloads_ok);
        dw_mp_kv_uint(&w.pk, "reloads_failed", fake.reloads_failed);
        dw_mp_kv_nil(&w.pk, "last_error");
        dw_mp_cstr(&w.pk, "nodes");
        msgpack_pack_array(&w.pk, 0);
    }
    reply(s, from, &w);
}

static const dw_bus_handler_t fake_handlers[] = {
    {"config.routes", 1, 1, on_config},
    {"config.route_add", 1, 1, on_config},
    {"config.route_remove", 1, 1, on_config},
    {"config.reload", 1, 1, on_config},
    {"config.validate", 1, 1, on_config},
    {"config.status", 1, 1, on_config},
    {NULL, 0, 0, NULL},
};

static int fake_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    (void)arg;
    dw_bus_sock_opts_t o = {
        .zmq_type = ZMQ_ROUTER, .endpoint = CONFIGD, .bind = true, .handlers = fake_handlers};
    return dw_bus_open(svc, &o, err, errlen) ? 0 : -1;
}

/* --- fixture: fake configd + admind --------------------------------------------------------- */

typedef struct fixture {
    dw_service_t *configd, *admind;
    uint16_t port;
    char dir[64], sock[128], addrfile[128], ctl[64];
} fixture_t;

static uint16_t free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    close(fd);
    return ntohs(sa.sin_port);
}

static int ctl_seq;

static int start_fixture(void **state, bool metrics, const char *token, const char *ctl_ep)
{
    fixture_t *f = calloc(1, sizeof *f);
    memset(&fake, 0, sizeof fake);
    snprintf(f->dir, sizeof f->dir, "/tmp/dw-admin-test-XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    snprintf(f->sock, sizeof f->sock, "%s/admin.sock", f->dir);
    snprintf(f->addrfile, sizeof f->addrfile, "%s/addr", f->dir);
    if (ctl_ep)
        snprintf(f->ctl, sizeof f->ctl, "%s", ctl_ep);
    else
        snprintf(f->ctl, sizeof f->ctl, "inproc://test-ctl-%d", ++ctl_seq);
    /* a stale file at the socket path must not prevent startup */
    FILE *stale = fopen(f->sock, "w");
    if (stale) fclose(stale);
    char err[256];
    dw_service_def_t cd = {.name = "configd", .init = fake_init};
    f->configd = dw_service_start(&cd, err, sizeof err);
    if (!f->configd) {
        fprintf(stderr, "fake configd: %s\n", err);
        return -1;
    }
    for (int attempt = 0; attempt < 5 && !f->admind; attempt++) {
        f->port = free_port();
        char addr[32];
        snprintf(addr, sizeof addr, "127.0.0.1:%u", f->port);
        dw_admind_opts_t o = {.tcp_addr = addr,
                              .unix_path = f->sock,
                              .ctl_endpoint = f->ctl,
                              .configd_endpoint = CONFIGD,
                              .token = token,
                              .addr_file = f->addrfile,
                              .metrics_enabled = metrics};
        dw_service_def_t def = dw_admind_service(&o);
        f->admind = dw_service_start(&def, err, sizeof err);
        if (!f->admind) fprintf(stderr, "admind: %s\n", err);
    }
    if (!f->admind) return -1;
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return start_fixture(state, true, TOKEN, NULL);
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    dw_service_stop(f->admind);
    dw_service_stop(f->configd);
    unlink(f->addrfile);
    unlink(f->sock);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* --- a tiny HTTP client --------------------------------------------------------------------- */

typedef struct resp {
    int status;
    char head[8192];
    char body[200000];
    size_t blen;
    bool closed; /* the server closed after the response */
} resp_t;

static int tcp_connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static int unix_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(path);
    assert_true(n < sizeof sa.sun_path);
    memcpy(sa.sun_path, path, n + 1);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return; /* the server may stop reading (413) */
        p += w, n -= (size_t)w;
    }
}

/* Reads one response from fd (Content-Length framed). */
static void read_resp(int fd, resp_t *r)
{
    static char buf[300000];
    size_t len = 0;
    memset(r, 0, sizeof *r);
    r->status = -1;
    for (;;) {
        char *end = len ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
        if (end) {
            size_t hl = (size_t)(end - buf) + 4;
            const char *cl = strcasestr(buf, "\r\nContent-Length: ");
            size_t want = cl && cl < end ? strtoul(cl + 18, NULL, 10) : 0;
            if (len >= hl + want) {
                memcpy(r->head, buf, hl < sizeof r->head ? hl : sizeof r->head - 1);
                r->status = atoi(buf + 9);
                r->blen = want;
                memcpy(r->body, buf + hl, want);
                r->body[want] = '\0';
                if (strcasestr(r->head, "\r\nConnection: close\r\n")) r->closed = true;
                return;
            }
        }
        ssize_t n = recv(fd, buf + len, sizeof buf - 1 - len, 0);
        if (n <= 0) return;
        len += (size_t)n;
        buf[len] = '\0';
    }
}

/* One request on a fresh TCP connection. */
static void http(uint16_t port, const char *method, const char *path, const char *extra_headers,
                 const char *body, resp_t *r)
{
    int fd = tcp_connect(port);
    char req[4096];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: x\r\n%s%s", method, path,
                     extra_headers ? extra_headers : "", body ? "" : "\r\n");
    if (body) n += snprintf(req + n, sizeof req - (size_t)n, "Content-Length: %zu\r\n\r\n", blen);
    send_all(fd, req, (size_t)n);
    if (body) send_all(fd, body, blen);
    read_resp(fd, r);
    close(fd);
}

#define AUTH "Authorization: Bearer " TOKEN "\r\n"

static const char *header(const resp_t *r, const char *name, char *out, size_t n)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\r\n%s: ", name);
    const char *p = strcasestr(r->head, pat);
    if (!p) return NULL;
    p += strlen(pat);
    const char *e = strstr(p, "\r\n");
    snprintf(out, n, "%.*s", (int)(e - p), p);
    return out;
}

static void assert_header(const resp_t *r, const char *name, const char *value)
{
    char v[512];
    const char *got = header(r, name, v, sizeof v);
    if (!got || strcmp(got, value) != 0)
        fail_msg("header %s: want '%s', got '%s'\n%s", name, value, got ? got : "(none)", r->head);
}

static void assert_body(const resp_t *r, const char *want)
{
    if (strcmp(r->body, want) != 0) fail_msg("body: want %s\n got %s", want, r->body);
}

/* --- tests ---------------------------------------------------------------------------------- */

static void health_version_without_token(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    http(f->port, "GET", "/health", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.body, "{\"status\":\"ok\",\"uptime_secs\":", 29) == 0);
    assert_header(&r, "Access-Control-Allow-Origin", "null");
    assert_header(&r, "Vary", "Origin");
    assert_header(&r, "Content-Type", "application/json");
    http(f->port, "GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "{\"status\":\"ok\"}");
    http(f->port, "GET", "/version?x=1", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    char want[128];
    snprintf(want, sizeof want, "\"pid\":%d}", (int)getpid());
    assert_non_null(strstr(r.body, want));
    assert_non_null(strstr(r.body, "{\"version\":\"" DWAAR_VERSION "\",\"started_at\":\""));
    const char *sa = strstr(r.body, "started_at\":\"") + 13;
    assert_true(sa[4] == '-' && sa[10] == 'T' && sa[19] == 'Z');
    /* the address file holds the preferred endpoint: the socket */
    FILE *af = fopen(f->addrfile, "r");
    assert_non_null(af);
    char got[256] = "";
    assert_non_null(fgets(got, sizeof got, af));
    fclose(af);
    assert_string_equal(got, f->sock);
}

static void auth_rules(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    http(f->port, "GET", "/routes", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_body(&r, "{\"error\":\"unauthorized\"}");
    assert_header(&r, "Access-Control-Allow-Origin", "null");
    http(f->port, "GET", "/routes", "Authorization: Bearer wrong\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    http(f->port, "GET", "/routes", "Authorization: bearer " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    http(f->port, "GET", "/routes", "Authorization: Bearer  " TOKEN "\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    http(f->port, "GET", "/routes", "Authorization: Bearer " TOKEN "x\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    http(f->port, "GET", "/routes", "Authorization: Bearer s3cret\r\n", NULL, &r);
    assert_int_equal(r.status, 401);
    http(f->port, "GET", "/routes", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "[]");
    /* the unix socket needs no token, and is 0600 */
    int fd = unix_connect(f->sock);
    send_all(fd, "GET /routes HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    read_resp(fd, &r);
    close(fd);
    assert_int_equal(r.status, 200);
    struct stat st;
    assert_int_equal(stat(f->sock, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void options_and_405(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    http(f->port, "OPTIONS", "/routes", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_body(&r, "{\"error\":\"CORS preflight not supported\"}");
    assert_header(&r, "Allow", "GET, POST");
    http(f->port, "OPTIONS", "/routes/a.test", NULL, NULL, &r);
    assert_header(&r, "Allow", "DELETE");
    http(f->port, "OPTIONS", "/nowhere", NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow", "");
    http(f->port, "PUT", "/routes", AUTH, NULL, &r);
    assert_int_equal(r.status, 405);
    assert_body(&r, "{\"error\":\"method not allowed\"}");
    assert_header(&r, "Allow", "GET, POST");
    http(f->port, "PUT", "/routes", NULL, NULL, &r); /* auth comes first */
    assert_int_equal(r.status, 401);
    http(f->port, "POST", "/health", AUTH, "", &r);
    assert_int_equal(r.status, 405);
    assert_header(&r, "Allow", "GET");
    http(f->port, "GET", "/reload", AUTH, NULL, &r);
    assert_header(&r, "Allow", "POST");
    http(f->port, "GET", "/cache/a/b", AUTH, NULL, &r);
    assert_header(&r, "Allow", "PURGE");
    /* owned by later features: 404 after auth for now */
    http(f->port, "GET", "/analytics", AUTH, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_body(&r, "{\"error\":\"not found\"}");
    http(f->port, "GET", "/analytics/a.test", AUTH, NULL, &r);
    assert_int_equal(r.status, 404);
    http(f->port, "PURGE", "/cache/a.test/x", AUTH, NULL, &r);
    assert_int_equal(r.status, 404);
    http(f->port, "GET", "/analytics", NULL, NULL, &r);
    assert_int_equal(r.status, 401);
}

static void routes_add_list_remove(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    http(f->port, "POST", "/routes", AUTH,
         "{\"domain\":\"App.Example.COM\",\"upstream\":\"127.0.0.1:9000\",\"tls\":false,"
         "\"source\":\"k8s\",\"extra\":[1,{\"x\":null}]}",
         &r);
    assert_int_equal(r.status, 201);
    assert_body(&r, "{\"domain\":\"app.example.com\",\"upstream\":\"127.0.0.1:9000\",\"tls\":false,"
                    "\"rate_limit_rps\":null,\"under_attack\":false,\"source\":\"k8s\"}");
    http(f->port, "POST", "/routes", AUTH,
         "{\"domain\":\"app.example.com\",\"upstream\":\"[::1]:9001\",\"tls\":true}", &r);
    assert_int_equal(r.status, 201);
    http(f->port, "GET", "/routes", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "[{\"domain\":\"app.example.com\",\"upstream\":\"[::1]:9001\",\"tls\":true,"
                    "\"rate_limit_rps\":null,\"under_attack\":false,\"source\":null}]");

    static const struct {
        const char *body, *prefix;
    } bad[] = {
        {"{\"domain\":", "{\"error\":\"invalid JSON: EOF while parsing a value at line 1"},
        {"{\"domain\":\"a\",\"upstream\":\"1.2.3.4:1\"}",
         "{\"error\":\"invalid JSON: missing field `tls`\"}"},
        {"{\"domain\":\"a\",\"upstream\":\"1.2.3.4:1\",\"tls\":\"yes\"}",
         "{\"error\":\"invalid JSON: invalid type for `tls`"},
        {"[1]", "{\"error\":\"invalid JSON: expected an object\"}"},
        {"", "{\"error\":\"invalid JSON: EOF while parsing a value"},
        {"{\"domain\":\"../evil\",\"upstream\":\"1.2.3.4:1\",\"tls\":false}",
         "{\"error\":\"invalid domain: ../evil\"}"},
        {"{\"domain\":\"a.test\",\"upstream\":\"backend:80\",\"tls\":false}",
         "{\"error\":\"invalid upstream address: backend:80\"}"},
    };
    for (size_t i = 0; i < DW_ARRAY_LEN(bad); i++) {
        http(f->port, "POST", "/routes", AUTH, bad[i].body, &r);
        assert_int_equal(r.status, 400);
        if (strncmp(r.body, bad[i].prefix, strlen(bad[i].prefix)) != 0)
            fail_msg("%s -> %s", bad[i].body, r.body);
    }

    http(f->port, "DELETE", "/routes/", AUTH, NULL, &r);
    assert_int_equal(r.status, 400);
    assert_body(&r, "{\"error\":\"missing domain\"}");
    char path[400] = "/routes/";
    memset(path + 8, 'a', 254);
    path[8 + 254] = '\0';
    http(f->port, "DELETE", path, AUTH, NULL, &r);
    assert_int_equal(r.status, 414);
    assert_body(&r, "{\"error\":\"domain too long\"}");
    http(f->port, "DELETE", "/routes/APP.example.com/", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "{\"deleted\":\"app.example.com\"}");
    http(f->port, "DELETE", "/routes/app.example.com", AUTH, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_body(&r, "{\"error\":\"route not found\"}");
    /* composite keys travel percent-decoded */
    http(f->port, "POST", "/routes", AUTH,
         "{\"domain\":\"a.test/my api\",\"upstream\":\"127.0.0.1:1\",\"tls\":false}", &r);
    assert_int_equal(r.status, 201);
    http(f->port, "DELETE", "/routes/a.test/my%20api", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "{\"deleted\":\"a.test/my api\"}");
}

static void body_limits(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    size_t n = 70000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[n] = '\0';
    http(f->port, "POST", "/routes", AUTH, big, &r);
    assert_int_equal(r.status, 413);
    assert_body(&r, "{\"error\":\"request body too large\"}");
    assert_true(r.closed);
    /* exactly the limit is read (and then judged as JSON) */
    big[65536] = '\0';
    big[0] = '{', big[65535] = '}';
    http(f->port, "POST", "/routes", AUTH, big, &r);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "missing field `domain`"));
    free(big);
    /* a head over 16 KiB -> 431 and close */
    char *head = malloc(20000);
    int k = snprintf(head, 20000, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ");
    memset(head + k, 'b', 17000);
    memcpy(head + k + 17000, "\r\n\r\n", 5);
    int fd = tcp_connect(f->port);
    send_all(fd, head, strlen(head));
    read_resp(fd, &r);
    close(fd);
    free(head);
    assert_int_equal(r.status, 431);
    assert_true(r.closed);
    /* chunked bodies are refused */
    fd = tcp_connect(f->port);
    const char *chunked = "POST /routes HTTP/1.1\r\nHost: x\r\n" AUTH
                          "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    send_all(fd, chunked, strlen(chunked));
    read_resp(fd, &r);
    close(fd);
    assert_int_equal(r.status, 411);
    /* malformed -> 400 and close */
    fd = tcp_connect(f->port);
    const char *bad = "GET /health HTTP/1.1\r\nHost: x\r\nBad Name: v\r\n\r\n";
    send_all(fd, bad, strlen(bad));
    read_resp(fd, &r);
    assert_int_equal(r.status, 400);
    assert_true(r.closed);
    char c;
    assert_int_equal(recv(fd, &c, 1, 0), 0);
    close(fd);
}

static void keep_alive_and_pipelining(void **state)
{
    fixture_t *f = *state;
    int fd = tcp_connect(f->port);
    resp_t r;
    for (int i = 0; i < 3; i++) {
        send_all(fd, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 34);
        read_resp(fd, &r);
        assert_int_equal(r.status, 200);
        assert_false(r.closed);
    }
    const char *two = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                      "GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "Connection: close\r\n\r\n";
    send_all(fd, two, strlen(two));
    read_resp(fd, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "{\"status\":\"ok\"}");
    /* the second response may already be in the buffer read_resp used: read it raw */
    close(fd);
    fd = tcp_connect(f->port);
    send_all(fd, "GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "Connection: close\r\n\r\n",
             strlen("GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "Connection: close\r\n\r\n"));
    read_resp(fd, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.closed);
    close(fd);
    /* many connections at once */
    int fds[200];
    for (int i = 0; i < 200; i++) fds[i] = tcp_connect(f->port);
    for (int i = 0; i < 200; i++) {
        send_all(fds[i], "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
    }
    for (int i = 0; i < 200; i++) {
        read_resp(fds[i], &r);
        assert_int_equal(r.status, 200);
        close(fds[i]);
    }
}

static void reload_cooldown_and_redaction(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    fake.reload_fails = true;
    http(f->port, "POST", "/reload", AUTH, "", &r);
    assert_int_equal(r.status, 400);
    assert_header(&r, "Content-Type", "text/plain; charset=utf-8");
    assert_body(&r, "<config>:3:5: unknown directive 'proxzy'\n"
                    "  help: did you mean 'proxy'? (in <config>)\n");
    assert_null(strstr(r.body, "/etc/"));
    /* the failed attempt consumed the cooldown */
    http(f->port, "POST", "/reload", AUTH, NULL, &r);
    assert_int_equal(r.status, 429);
    char ra[16];
    assert_non_null(header(&r, "Retry-After", ra, sizeof ra));
    int n = atoi(ra);
    assert_true(n >= 1 && n <= 5);
    char want[80];
    snprintf(want, sizeof want, "{\"error\":\"reload too soon\",\"retry_after\":%d}", n);
    assert_body(&r, want);
    /* metrics see configd's counters */
    http(f->port, "GET", "/metrics", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_header(&r, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r.body, "dwaar_config_reload_total{result=\"failure\"} 1\n"));
    assert_null(strstr(r.body, "result=\"success\""));
    sleep(5);
    fake.reload_fails = false;
    http(f->port, "POST", "/reload", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_body(&r, "{\"message\":\"config reload triggered\"}");
}

static void metrics_text(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    http(f->port, "GET", "/metrics", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    /* no reload yet: the family is absent */
    assert_null(strstr(r.body, "dwaar_config_reload_total"));
    static const char *const families[] = {"process_cpu_seconds_total counter",
                                           "process_resident_memory_bytes gauge",
                                           "process_open_fds gauge",
                                           "process_start_time_seconds gauge",
                                           "process_max_fds gauge",
                                           "process_threads gauge"};
    for (size_t i = 0; i < DW_ARRAY_LEN(families); i++) {
        char want[128];
        snprintf(want, sizeof want, "# TYPE %s\n", families[i]);
        assert_non_null(strstr(r.body, want));
    }
    if (access("/usr/bin/promtool", X_OK) == 0) {
        char path[128];
        snprintf(path, sizeof path, "%s/metrics.txt", f->dir);
        FILE *out = fopen(path, "w");
        fwrite(r.body, 1, r.blen, out);
        fclose(out);
        char cmd[256];
        snprintf(cmd, sizeof cmd, "/usr/bin/promtool check metrics < '%s' >/dev/null 2>&1", path);
        int rc = system(cmd);
        unlink(path);
        assert_int_equal(rc, 0);
    }
}

static void rate_limit(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    int fd = tcp_connect(f->port);
    for (int i = 0; i < 60; i++) {
        send_all(fd, "GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
                 strlen("GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n"));
        read_resp(fd, &r);
        assert_int_equal(r.status, 200);
        /* health and 401s do not count */
        send_all(fd, "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", 33);
        read_resp(fd, &r);
        assert_int_equal(r.status, 200);
        send_all(fd, "GET /routes HTTP/1.1\r\nHost: x\r\n\r\n", 33);
        read_resp(fd, &r);
        assert_int_equal(r.status, 401);
    }
    send_all(fd, "GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n",
             strlen("GET /routes HTTP/1.1\r\nHost: x\r\n" AUTH "\r\n"));
    read_resp(fd, &r);
    assert_int_equal(r.status, 429);
    assert_body(&r, "{\"error\":\"rate limit exceeded\"}");
    assert_header(&r, "Vary", "Origin");
    close(fd);
    http(f->port, "GET", "/version", NULL, NULL, &r);
    assert_int_equal(r.status, 200);
}

/* admin.* over the ctl endpoint */
static int ctl(const char *ep, const char *type, const char *domain, const char *token,
               dw_bus_msg_t *out)
{
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    uint64_t id = dw_bus_next_id();
    dw_bus_begin(&w, type, 1, id);
    uint32_t n = (domain ? 1 : 0) + (token ? 1 : 0);
    bool add = strcmp(type, "admin.route_add") == 0;
    msgpack_pack_map(&w.pk, n + (add ? 3 : 0));
    if (domain) dw_mp_kv_cstr(&w.pk, "domain", domain);
    if (token) dw_mp_kv_cstr(&w.pk, "token", token);
    if (add) {
        dw_mp_kv_cstr(&w.pk, "upstream", "127.0.0.1:7000");
        dw_mp_kv_bool(&w.pk, "tls", false);
        dw_mp_kv_cstr(&w.pk, "source", "ctl");
    }
    int rc = dw_bus_request(ep, w.sb.data, w.sb.size, id, 5000, 0, out);
    dw_bus_writer_free(&w);
    return rc;
}

static uint64_t ctl_status(const dw_bus_msg_t *m)
{
    uint64_t st = 0;
    assert_true(dw_str_eq_c(m->type, "admin.result"));
    assert_true(dw_mp_get_uint(m->body, "status", &st));
    return st;
}

static void ctl_endpoint(void **state)
{
    fixture_t *f = *state;
    dw_bus_msg_t m;
    assert_int_equal(ctl(f->ctl, "admin.route_add", "Ctl.Test", NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 201);
    const msgpack_object *data = dw_mp_get(m.body, "data");
    dw_str_t d;
    assert_true(dw_mp_get_str(data, "domain", &d) && dw_str_eq_c(d, "ctl.test"));
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.routes", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    data = dw_mp_get(m.body, "data");
    assert_int_equal(data->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(data->via.array.size, 1);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.route_add", "../x", NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 400);
    dw_str_t e;
    assert_true(dw_mp_get_str(m.body, "error", &e) && dw_str_eq_c(e, "invalid domain: ../x"));
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.route_remove", "ctl.test", NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.route_remove", "ctl.test", NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 404);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.status", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    data = dw_mp_get(m.body, "data");
    uint64_t pid = 0;
    assert_true(dw_mp_get_uint(data, "pid", &pid) && pid == (uint64_t)getpid());
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.validate", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.reload", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    dw_bus_msg_free(&m);
    /* the cooldown is shared with HTTP */
    resp_t r;
    http(f->port, "POST", "/reload", AUTH, NULL, &r);
    assert_int_equal(r.status, 429);
    assert_int_equal(ctl(f->ctl, "admin.reload", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 429);
    uint64_t ra = 0;
    assert_true(dw_mp_get_uint(m.body, "retry_after", &ra) && ra >= 1 && ra <= 5);
    dw_bus_msg_free(&m);
    /* an unknown admin type is answered with an error, not a crash */
    assert_int_equal(ctl(f->ctl, "admin.nope", NULL, NULL, &m), 0);
    assert_true(dw_str_eq_c(m.type, "error"));
    dw_bus_msg_free(&m);
}

static int setup_tcp_ctl(void **state)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%u", free_port());
    return start_fixture(state, false, TOKEN, ep);
}

static void ctl_over_tcp_needs_token_and_no_metrics(void **state)
{
    fixture_t *f = *state;
    dw_bus_msg_t m;
    assert_int_equal(ctl(f->ctl, "admin.routes", NULL, NULL, &m), 0);
    assert_int_equal(ctl_status(&m), 401);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.routes", NULL, "wrong", &m), 0);
    assert_int_equal(ctl_status(&m), 401);
    dw_bus_msg_free(&m);
    assert_int_equal(ctl(f->ctl, "admin.routes", NULL, TOKEN, &m), 0);
    assert_int_equal(ctl_status(&m), 200);
    dw_bus_msg_free(&m);
    resp_t r;
    http(f->port, "GET", "/metrics", AUTH, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_body(&r, "{\"error\":\"metrics not enabled — start with --no-metrics=false\"}");
}

static void configd_down_is_503(void **state)
{
    fixture_t *f = *state;
    dw_service_stop(f->configd);
    f->configd = NULL;
    resp_t r;
    http(f->port, "GET", "/routes", AUTH, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_body(&r, "{\"error\":\"control plane unavailable\"}");
    /* metrics still answer, without the reload family */
    http(f->port, "GET", "/metrics", AUTH, NULL, &r);
    assert_int_equal(r.status, 200);
    /* restart it for teardown */
    char err[256];
    dw_service_def_t cd = {.name = "configd", .init = fake_init};
    f->configd = dw_service_start(&cd, err, sizeof err);
    assert_non_null(f->configd);
}

static void draining_healthz(void **state)
{
    fixture_t *f = *state;
    resp_t r;
    dw_admind_set_draining();
    http(f->port, "GET", "/healthz", NULL, NULL, &r);
    assert_int_equal(r.status, 503);
    assert_body(&r, "{\"status\":\"draining\"}");
}

static void init_failures(void **state)
{
    (void)state;
    char err[256];
    dw_admind_opts_t o = {.tcp_addr = "0.0.0.0:1", .addr_file = ""};
    dw_service_def_t def = dw_admind_service(&o);
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_string_equal(err, "admin address 0.0.0.0:1 is not loopback: set DWAAR_ADMIN_TOKEN");
    dw_admind_opts_t o2 = {.tcp_addr = "localhost:6190", .addr_file = ""};
    def = dw_admind_service(&o2);
    assert_null(dw_service_start(&def, err, sizeof err));
    assert_non_null(strstr(err, "invalid admin address 'localhost:6190'"));
    /* a port in use */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    bind(fd, (struct sockaddr *)&sa, sizeof sa);
    listen(fd, 1);
    getsockname(fd, (struct sockaddr *)&sa, &sl);
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%u", ntohs(sa.sin_port));
    dw_admind_opts_t o3 = {.tcp_addr = addr, .addr_file = "", .ctl_endpoint = "inproc://x"};
    def = dw_admind_service(&o3);
    assert_null(dw_service_start(&def, err, sizeof err));
    char want[96];
    snprintf(want, sizeof want, "cannot bind admin API %s: Address already in use", addr);
    assert_string_equal(err, want);
    close(fd);
}

/* --- pieces --------------------------------------------------------------------------------- */

static void json_reader(void **state)
{
    (void)state;
    dw_admin_json_doc_t d;
    char err[128];
    assert_int_equal(
        dw_admin_json_parse("{\"a\":\"x\\u00e9\\ud83d\\ude00\\n\",\"b\":[true,null,-1.5e2]}", 52,
                            &d, err, sizeof err),
        0);
    const dw_admin_json_t *a = dw_admin_json_get(d.root, "a"), *b = dw_admin_json_get(d.root, "b");
    assert_string_equal(a->str.ptr, "x\xc3\xa9\xf0\x9f\x98\x80\n");
    assert_int_equal(b->type, DW_ADMIN_JSON_ARRAY);
    assert_true(b->kids->b && b->kids->next->type == DW_ADMIN_JSON_NULL);
    assert_true(b->kids->next->next->num == -150.0);
    dw_admin_json_free(&d);
    static const char *const bad[] = {
        "{",        "{\"a\" 1}", "[1,]",          "01",  "\"\\x\"", "\"a\nb\"",
        "\"\xff\"", "{} x",      "[\"\\ud800\"]", "nul", "1.",      "-"};
    for (size_t i = 0; i < DW_ARRAY_LEN(bad); i++)
        assert_int_equal(dw_admin_json_parse(bad[i], strlen(bad[i]), &d, err, sizeof err), -1);
    assert_int_equal(dw_admin_json_parse("{\n \"a\": x}", 10, &d, err, sizeof err), -1);
    assert_string_equal(err, "expected value at line 2 column 7");
    char deep[100];
    memset(deep, '[', sizeof deep);
    assert_int_equal(dw_admin_json_parse(deep, sizeof deep, &d, err, sizeof err), -1);
    assert_non_null(strstr(err, "recursion limit"));
}

static void doubles_and_redaction(void **state)
{
    (void)state;
    static const struct {
        double v;
        const char *s;
    } cases[] = {{0.005, "0.005"},     {2.5, "2.5"},         {10, "10"},
                 {0.1, "0.1"},         {1e21, "1e+21"},      {1234567, "1234567"},
                 {0.00012, "0.00012"}, {123.456, "123.456"}, {1732412345.67, "1732412345.67"}};
    for (size_t i = 0; i < DW_ARRAY_LEN(cases); i++) {
        dw_buf_t b = DW_BUF_INIT;
        dw_admin_fmt_double(&b, cases[i].v);
        assert_string_equal(b.data, cases[i].s);
        dw_buf_deinit(&b);
    }
    dw_buf_t out = DW_BUF_INIT;
    dw_admin_redact_config(&out, DW_STR("/a/Dwaarfile:1: x in Dwaarfile and /a/Dwaarfile"),
                           DW_STR("/a/Dwaarfile"), DW_STR("Dwaarfile"));
    assert_string_equal(out.data, "<config>:1: x in <config> and <config>");
    dw_buf_deinit(&out);
    dw_buf_t clean = DW_BUF_INIT;
    dw_admin_utf8_clean(&clean, DW_STR("a\xff"
                                       "b\xc3\xa9"));
    assert_string_equal(clean.data, "a\xef\xbf\xbd"
                                    "b\xc3\xa9");
    dw_buf_deinit(&clean);
}

static void route_table(void **state)
{
    (void)state;
    dw_admin_route_row_t rows[] = {{"a.test", "127.0.0.1:80", false, true, 5, false},
                                   {"files.example.com", NULL, true, false, 0, true}};
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    dw_admin_print_routes(f, rows, 2);
    fclose(f);
    assert_string_equal(text, "DOMAIN             UPSTREAM      TLS  RATE LIMIT  UAM\n"
                              "a.test             127.0.0.1:80  no   5/s         off\n"
                              "files.example.com  -             yes  -           on\n");
    free(text);
}

int main(void)
{
    dw_log_level = DW_LOG_ERROR; /* the WARNs about auth failures are expected here */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(json_reader),
        cmocka_unit_test(doubles_and_redaction),
        cmocka_unit_test(route_table),
        cmocka_unit_test(init_failures),
        cmocka_unit_test_setup_teardown(health_version_without_token, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(options_and_405, setup, teardown),
        cmocka_unit_test_setup_teardown(routes_add_list_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(body_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(keep_alive_and_pipelining, setup, teardown),
        cmocka_unit_test_setup_teardown(metrics_text, setup, teardown),
        cmocka_unit_test_setup_teardown(rate_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_endpoint, setup, teardown),
        cmocka_unit_test_setup_teardown(ctl_over_tcp_needs_token_and_no_metrics, setup_tcp_ctl,
                                        teardown),
        cmocka_unit_test_setup_teardown(configd_down_is_503, setup, teardown),
        cmocka_unit_test_setup_teardown(reload_cooldown_and_redaction, setup, teardown),
        cmocka_unit_test_setup_teardown(draining_healthz, setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    dw_bus_context_term();
    return rc;
}
