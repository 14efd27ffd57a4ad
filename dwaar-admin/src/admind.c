/* admind: the service (listeners, the ctl endpoint, the address file), the auth and rate-limit
 * state the HTTP API and the ctl endpoint share, and the ctl message handlers. */
#include "admin_int.h"
#include <arpa/inet.h>
#include <dwaar/base/log.h>
#include <dwaar/base/parse.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static atomic_bool draining;

void dw_admind_set_draining(void)
{
    atomic_store(&draining, true);
}

bool dw_admin_draining(void)
{
    return atomic_load(&draining);
}

bool dw_admin_token_ok(const dw_admin_t *a, const char *p, size_t n)
{
    if (!a->token_len) return false;
    /* constant time in the presented length: every byte is compared, a length mismatch only
     * changes the result */
    unsigned diff = (unsigned)(n != a->token_len);
    for (size_t i = 0; i < n; i++) {
        unsigned char want = (unsigned char)a->token[i < a->token_len ? i : 0];
        diff |= (unsigned)(want ^ (unsigned char)p[i]);
    }
    return diff == 0;
}

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

bool dw_admin_rate_take(dw_admin_t *a)
{
    uint64_t now = mono_ms();
    if (!a->window_open || now - a->window_start_ms >= DW_ADMIN_RATE_WINDOW_MS) {
        a->window_open = true;
        a->window_start_ms = now;
        a->window_count = 0;
    }
    if (a->window_count >= DW_ADMIN_RATE_MAX) return false;
    a->window_count++;
    return true;
}

/* --- listeners ------------------------------------------------------------------------------ */

/* "IPv4:PORT" or "[IPv6]:PORT" (literals only). */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *sl, uint16_t *port)
{
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s) return -1;
    if (dw_parse_port(dw_str_c(colon + 1), port)) return -1;
    char host[64];
    size_t hl = (size_t)(colon - s);
    memset(ss, 0, sizeof *ss);
    if (s[0] == '[') {
        if (hl < 3 || s[hl - 1] != ']' || hl - 2 >= sizeof host) return -1;
        memcpy(host, s + 1, hl - 2);
        host[hl - 2] = '\0';
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1) return -1;
        a6->sin6_family = AF_INET6, a6->sin6_port = htons(*port);
        *sl = sizeof *a6;
        return 0;
    }
    if (hl >= sizeof host) return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1) return -1;
    a4->sin_family = AF_INET, a4->sin_port = htons(*port);
    *sl = sizeof *a4;
    return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)ss)->sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127;
}

static void on_tcp(int fd, int events, void *arg)
{
    (void)events;
    dw_admin_http_accept(arg, fd, false);
}

static void on_unix(int fd, int events, void *arg)
{
    (void)events;
    dw_admin_http_accept(arg, fd, true);
}

static int open_tcp(dw_admin_t *a, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_addr(a->tcp_addr, &ss, &sl, &a->tcp_port)) {
        snprintf(err, errlen,
                 "invalid admin address '%s': expected IPv4:PORT or [IPv6]:PORT (an IP literal)",
                 a->tcp_addr);
        return -1;
    }
    if (!is_loopback(&ss) && !a->token_len) {
        snprintf(err, errlen, "admin address %s is not loopback: set DWAAR_ADMIN_TOKEN",
                 a->tcp_addr);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) goto fail;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (ss.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 128) != 0) goto fail;
    a->tcp_fd = fd;
    a->tcp_io = dw_io_new(a->loop, fd, on_tcp, a);
    if (!a->tcp_io) {
        errno = ENOMEM;
        goto fail;
    }
    dw_io_want(a->tcp_io, true, false);
    return 0;
fail:
    snprintf(err, errlen, "cannot bind admin API %s: %s", a->tcp_addr, strerror(errno));
    if (fd >= 0) close(fd);
    a->tcp_fd = -1;
    return -1;
}

static int open_unix(dw_admin_t *a, char *err, size_t errlen)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    const char *p = a->unix_path;
    if (strlen(p) >= sizeof sun.sun_path) {
        snprintf(err, errlen, "admin socket path too long: %s", p);
        return -1;
    }
    memcpy(sun.sun_path, p, strlen(p) + 1);
    /* a stale file from an earlier run: remove it (only a missing file is fine to ignore) */
    if (unlink(p) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot remove stale admin socket %s: %s", p, strerror(errno));
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct stat st;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof sun) != 0) goto fail;
    /* clients can only connect after listen(), so the mode is in place before anyone can */
    if (chmod(p, 0600) != 0 || stat(p, &st) != 0 || listen(fd, 128) != 0) goto fail;
    a->unix_dev = st.st_dev, a->unix_ino = st.st_ino;
    a->unix_fd = fd;
    a->unix_io = dw_io_new(a->loop, fd, on_unix, a);
    if (!a->unix_io) {
        errno = ENOMEM;
        goto fail;
    }
    dw_io_want(a->unix_io, true, false);
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on admin socket %s: %s", p, strerror(errno));
    if (fd >= 0) close(fd);
    a->unix_fd = -1;
    return -1;
}

static void write_addr_file(const dw_admin_t *a)
{
    if (!a->addr_file || !a->addr_file[0]) return;
    const char *what = a->unix_path ? a->unix_path : a->tcp_addr;
    int fd = open(a->addr_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    size_t n = strlen(what);
    if (fd < 0 || write(fd, what, n) != (ssize_t)n) {
        DW_WARN(DW_ADMIN_LOG, "cannot write the admin address to %s: %s", a->addr_file,
                strerror(errno));
    }
    if (fd >= 0) close(fd);
}

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void format_started_at(dw_admin_t *a)
{
    time_t t = (time_t)a->start_time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(a->started_at, sizeof a->started_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

dw_admin_t *dw_admin_new(dw_loop_t *loop, const dw_admind_opts_t *o, char *err, size_t errlen)
{
    dw_admin_t *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    a->loop = loop;
    a->tcp_fd = a->unix_fd = -1;
    a->tcp_addr = strdup(o->tcp_addr && o->tcp_addr[0] ? o->tcp_addr : DW_ADMIN_DEFAULT_TCP);
    a->unix_path = o->unix_path && o->unix_path[0] ? strdup(o->unix_path) : NULL;
    a->configd_endpoint =
        strdup(o->configd_endpoint ? o->configd_endpoint : DW_ADMIN_DEFAULT_CONFIGD);
    a->token = dup_or_null(o->token && o->token[0] ? o->token : NULL);
    a->token_len = a->token ? strlen(a->token) : 0;
    /* [ext] DWAAR_ADMIN_ADDR_FILE moves the address file (tests run many instances at once) */
    const char *env_file = getenv("DWAAR_ADMIN_ADDR_FILE");
    a->addr_file = strdup(o->addr_file              ? o->addr_file
                          : env_file && env_file[0] ? env_file
                                                    : DW_ADMIN_DEFAULT_ADDRFILE);
    a->ctl_endpoint = dup_or_null(o->ctl_endpoint);
    a->metrics_enabled = o->metrics_enabled;
    a->start_time = dw_admin_process_start_time();
    format_started_at(a);
    a->sweep = dw_timer_new(loop, dw_admin_http_sweep, a);
    if (!a->tcp_addr || !a->configd_endpoint || !a->addr_file || !a->sweep ||
        (o->unix_path && o->unix_path[0] && !a->unix_path)) {
        snprintf(err, errlen, "out of memory");
        dw_admin_free(a);
        return NULL;
    }
    if (open_tcp(a, err, errlen) || (a->unix_path && open_unix(a, err, errlen))) {
        dw_admin_free(a);
        return NULL;
    }
    if (!a->token_len)
        DW_WARN(DW_ADMIN_LOG, "DWAAR_ADMIN_TOKEN is not set: admin API will reject all "
                              "authenticated requests (health and version stay open; the admin "
                              "socket needs no token)");
    write_addr_file(a);
    DW_INFO(DW_ADMIN_LOG, "admin API listening on %s%s%s", a->tcp_addr, a->unix_path ? " and " : "",
            a->unix_path ? a->unix_path : "");
    return a;
}

void dw_admin_free(dw_admin_t *a)
{
    if (!a) return;
    dw_admin_http_close_all(a);
    dw_timer_free(a->sweep);
    dw_io_free(a->tcp_io);
    dw_io_free(a->unix_io);
    if (a->tcp_fd >= 0) close(a->tcp_fd);
    if (a->unix_fd >= 0) {
        close(a->unix_fd);
        /* remove the socket file, unless another process replaced it since */
        struct stat st;
        if (stat(a->unix_path, &st) == 0 && st.st_dev == a->unix_dev && st.st_ino == a->unix_ino)
            unlink(a->unix_path);
    }
    if (a->token) memset(a->token, 0, a->token_len);
    free(a->tcp_addr);
    free(a->unix_path);
    free(a->ctl_endpoint);
    free(a->configd_endpoint);
    free(a->token);
    free(a->addr_file);
    free(a);
}

/* --- the ctl endpoint ----------------------------------------------------------------------- */

static void ctl_route_add(dw_admin_t *a, const msgpack_object *b, dw_admin_result_t *r)
{
    dw_str_t domain, upstream, source = DW_STR_NULL;
    bool tls;
    const msgpack_object *src = dw_mp_get(b, "source");
    if (!dw_mp_get_str(b, "domain", &domain))
        dw_admin_result_fail(r, 400, "invalid request: missing or mistyped field `domain`");
    else if (!dw_mp_get_str(b, "upstream", &upstream))
        dw_admin_result_fail(r, 400, "invalid request: missing or mistyped field `upstream`");
    else if (!dw_mp_get_bool(b, "tls", &tls))
        dw_admin_result_fail(r, 400, "invalid request: missing or mistyped field `tls`");
    else if (src && src->type != MSGPACK_OBJECT_NIL && !dw_mp_get_str(b, "source", &source))
        dw_admin_result_fail(r, 400, "invalid request: mistyped field `source`");
    else
        dw_admin_op_route_add(a, domain, upstream, tls, source, r);
}

static void ctl_dispatch(dw_admin_t *a, const dw_bus_msg_t *msg, dw_admin_result_t *r)
{
    const msgpack_object *b = msg->body;
    if (a->ctl_needs_token) {
        dw_str_t t = DW_STR_NULL;
        const char *why = !a->token_len                         ? "DWAAR_ADMIN_TOKEN is not set"
                          : !dw_mp_get_str(b, "token", &t)      ? "no token in the request"
                          : !dw_admin_token_ok(a, t.ptr, t.len) ? "wrong token"
                                                                : NULL;
        if (why) {
            DW_WARN(DW_ADMIN_LOG,
                    "admin API authentication failed: transport=ctl reason=%s "
                    "peer=%s",
                    why, a->ctl_endpoint);
            dw_admin_result_fail(r, 401, "unauthorized");
            return;
        }
    }
    if (!dw_admin_rate_take(a)) {
        dw_admin_result_fail(r, 429, "rate limit exceeded");
        return;
    }
    dw_str_t type = msg->type, s1 = DW_STR_NULL, s2 = DW_STR_NULL;
    if (dw_str_eq_c(type, "admin.status")) {
        dw_admin_op_status(a, r);
    } else if (dw_str_eq_c(type, "admin.routes")) {
        dw_admin_op_routes(a, r);
    } else if (dw_str_eq_c(type, "admin.route_add")) {
        ctl_route_add(a, b, r);
    } else if (dw_str_eq_c(type, "admin.route_remove")) {
        if (!dw_mp_get_str(b, "domain", &s1))
            dw_admin_result_fail(r, 400, "missing domain");
        else
            dw_admin_op_route_remove(a, s1, false, r);
    } else if (dw_str_eq_c(type, "admin.reload")) {
        dw_admin_op_reload(a, DW_ADMIN_FROM_CTL, r);
    } else if (dw_str_eq_c(type, "admin.validate")) {
        dw_mp_get_str(b, "text", &s1);
        dw_mp_get_str(b, "name", &s2);
        dw_admin_op_validate(a, s1, s2, r);
    } else {
        dw_admin_result_fail(r, 400, "unknown request");
    }
}

static void on_ctl(dw_bus_sock_t *s, const dw_bus_peer_t *from, const dw_bus_msg_t *msg, void *arg)
{
    dw_admin_t *a = arg;
    dw_admin_result_t r;
    dw_admin_result_init(&r);
    ctl_dispatch(a, msg, &r);

    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "admin.result", 1, msg->id);
    msgpack_pack_map(&w.pk, r.retry_after ? 5 : 4);
    dw_mp_kv_bool(&w.pk, "ok", r.status >= 200 && r.status < 300);
    dw_mp_kv_uint(&w.pk, "status", (uint64_t)r.status);
    if (r.error) {
        dw_buf_t clean = DW_BUF_INIT;
        dw_admin_utf8_clean(&clean, dw_str_c(r.error));
        dw_mp_kv_str(&w.pk, "error", clean.data ? clean.data : "", clean.len);
        dw_buf_deinit(&clean);
    } else {
        dw_mp_kv_nil(&w.pk, "error");
    }
    dw_mp_cstr(&w.pk, "data");
    if (r.data.size)
        msgpack_sbuffer_write(&w.sb, r.data.data, r.data.size); /* already one packed object */
    else
        msgpack_pack_nil(&w.pk);
    if (r.retry_after) dw_mp_kv_uint(&w.pk, "retry_after", r.retry_after);
    dw_bus_send(s, from, w.sb.data, w.sb.size);
    dw_bus_writer_free(&w);
    dw_admin_result_deinit(&r);
}

static const dw_bus_handler_t ctl_handlers[] = {
    {"admin.status", 1, 1, on_ctl},
    {"admin.routes", 1, 1, on_ctl},
    {"admin.route_add", 1, 1, on_ctl},
    {"admin.route_remove", 1, 1, on_ctl},
    {"admin.reload", 1, 1, on_ctl},
    {"admin.validate", 1, 1, on_ctl},
    {NULL, 0, 0, NULL},
};

/* --- the service ---------------------------------------------------------------------------- */

typedef struct admind_svc {
    dw_admind_opts_t opts; /* with owned strings */
    dw_admin_t *a;
} admind_svc_t;

static void svc_free(admind_svc_t *s)
{
    free((char *)s->opts.tcp_addr);
    free((char *)s->opts.unix_path);
    free((char *)s->opts.ctl_endpoint);
    free((char *)s->opts.configd_endpoint);
    free((char *)s->opts.token);
    free((char *)s->opts.addr_file);
    free(s);
}

static int admind_init(dw_service_t *svc, void *arg, char *err, size_t errlen)
{
    admind_svc_t *s = arg;
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    dw_admin_t *a = dw_admin_new(dw_service_loop(svc), &s->opts, err, errlen);
    if (!a) {
        svc_free(s); /* fini does not run after a failed init */
        return -1;
    }
    bool derived = !a->ctl_endpoint;
    if (derived) {
        char ep[64];
        snprintf(ep, sizeof ep, "ipc:///tmp/dwaar-ctl-%u.ipc", (unsigned)a->tcp_port);
        a->ctl_endpoint = strdup(ep);
    }
    a->ctl_needs_token = a->ctl_endpoint && strncmp(a->ctl_endpoint, "tcp://", 6) == 0;
    dw_bus_sock_opts_t so = {.zmq_type = ZMQ_ROUTER,
                             .endpoint = a->ctl_endpoint,
                             .bind = true,
                             .handlers = ctl_handlers,
                             .arg = a,
                             .max_msg = 16u * 1024u * 1024u};
    char berr[256] = "out of memory";
    a->ctl = a->ctl_endpoint ? dw_bus_open(svc, &so, berr, sizeof berr) : NULL;
    if (!a->ctl) {
        if (!derived) {
            snprintf(err, errlen, "admin ctl endpoint: %s", berr);
            dw_admin_free(a);
            svc_free(s);
            return -1;
        }
        /* the default endpoint is a convenience: the HTTP API still serves */
        DW_WARN(DW_ADMIN_LOG, "dwaarctl endpoint unavailable: %s", berr);
    }
    s->a = a;
    return 0;
}

static void admind_fini(dw_service_t *svc, void *arg)
{
    (void)svc;
    admind_svc_t *s = arg;
    if (!s) return;
    if (s->a && s->a->ctl) dw_bus_close(s->a->ctl);
    dw_admin_free(s->a);
    svc_free(s);
}

dw_service_def_t dw_admind_service(const dw_admind_opts_t *opts)
{
    admind_svc_t *s = calloc(1, sizeof *s);
    if (s) {
        s->opts = *opts;
        s->opts.tcp_addr = dup_or_null(opts->tcp_addr);
        s->opts.unix_path = dup_or_null(opts->unix_path);
        s->opts.ctl_endpoint = dup_or_null(opts->ctl_endpoint);
        s->opts.configd_endpoint = dup_or_null(opts->configd_endpoint);
        s->opts.token = dup_or_null(opts->token);
        s->opts.addr_file = dup_or_null(opts->addr_file);
    }
    return (dw_service_def_t){.name = "admind", .init = admind_init, .fini = admind_fini, .arg = s};
}
