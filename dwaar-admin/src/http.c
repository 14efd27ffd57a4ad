/* The admin HTTP/1.1 server (spec 30 §1.1-1.5) on the admind loop.
 *
 * Each connection owns a read buffer and a write buffer. A request is handled once its head and
 * its whole Content-Length body are in the read buffer; the head is parsed by the strict core
 * parser (dwaar-core h1.h). Limits: head 16 KiB (431; request line 8 KiB, 414), body 64 KiB
 * (POST /routes -> 413; any larger body is answered at once, unread, and the connection
 * closed), chunked bodies -> 411 Length Required (no admin client needs them), idle 60 s,
 * 1024 connections (the next ones get 503 and are closed). Malformed requests get 400 and
 * the connection is closed. Keep-alive and pipelining: one request at a time, in order.
 *
 * Closing after an error response uses a lingering close (shut down the write side, discard
 * input for up to 2 s) so the client reads the response instead of a reset. */
#include "admin_int.h"
#include <arpa/inet.h>
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/core/h1.h>
#include <dwaar/core/status.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_LINE     8192u
#define MAX_FIELDS   100u
#define LINGER_MS    2000u
#define SWEEP_MS     1000u
#define READ_CHUNK   16384u
#define JSON_TYPE    "application/json"
#define TEXT_TYPE    "text/plain; charset=utf-8"
#define ACCEPT_BURST 64

struct dw_admin_conn {
    dw_admin_conn_t *prev, *next;
    dw_admin_t *a;
    int fd;
    dw_io_t *io;
    bool is_unix;
    char peer[INET6_ADDRSTRLEN + 8];
    dw_buf_t in, out;
    size_t out_off;
    dw_h1_scan_t scan;
    bool close_after;   /* close once out is written */
    bool lingering;     /* write side shut, discarding input until EOF or LINGER_MS */
    bool sent_continue; /* 100 Continue sent for the request being read */
    bool peer_eof;      /* the client shut its write side */
    bool closed;
    uint64_t last_ms;
};

/* --- endpoints (§1.5) ----------------------------------------------------------------------- */

enum { M_GET = 1, M_POST = 2, M_DELETE = 4, M_PURGE = 8 };

typedef enum ep_id {
    EP_HEALTH,
    EP_HEALTHZ,
    EP_VERSION,
    EP_ROUTES,
    EP_ROUTE,
    EP_ANALYTICS,
    EP_ANALYTICS_ONE,
    EP_METRICS,
    EP_RELOAD,
    EP_CACHE,
} ep_id_t;

typedef struct endpoint {
    const char *path;
    bool prefix; /* path is a prefix: the rest is the {parameter} */
    ep_id_t id;
    unsigned methods;
    const char *allow;
} endpoint_t;

static const endpoint_t endpoints[] = {
    {"/health", false, EP_HEALTH, M_GET, "GET"},
    {"/healthz", false, EP_HEALTHZ, M_GET, "GET"},
    {"/version", false, EP_VERSION, M_GET, "GET"},
    {"/routes", false, EP_ROUTES, M_GET | M_POST, "GET, POST"},
    {"/routes/", true, EP_ROUTE, M_DELETE, "DELETE"},
    {"/analytics", false, EP_ANALYTICS, M_GET, "GET"},
    {"/analytics/", true, EP_ANALYTICS_ONE, M_GET, "GET"},
    {"/metrics", false, EP_METRICS, M_GET, "GET"},
    {"/reload", false, EP_RELOAD, M_POST, "POST"},
    {"/cache/", true, EP_CACHE, M_PURGE, "PURGE"},
};

static const endpoint_t *find_endpoint(dw_str_t path, dw_str_t *param)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(endpoints); i++) {
        const endpoint_t *e = &endpoints[i];
        dw_str_t p = dw_str_c(e->path);
        if (e->prefix ? dw_str_has_prefix(path, p) : dw_str_eq(path, p)) {
            *param = dw_str_sub(path, p.len, path.len - p.len);
            return e;
        }
    }
    return NULL;
}

static unsigned method_bit(dw_str_t m)
{
    if (dw_str_eq_c(m, "GET")) return M_GET;
    if (dw_str_eq_c(m, "POST")) return M_POST;
    if (dw_str_eq_c(m, "DELETE")) return M_DELETE;
    if (dw_str_eq_c(m, "PURGE")) return M_PURGE;
    return 0;
}

/* The path of a request target: origin-form up to '?', or the path of an absolute-form
 * target. */
static dw_str_t target_path(dw_str_t t)
{
    ptrdiff_t scheme = dw_str_find(t, DW_STR("://"));
    if (t.len && t.ptr[0] != '/' && scheme > 0) {
        dw_str_t rest = dw_str_sub(t, (size_t)scheme + 3, t.len);
        ptrdiff_t slash = dw_str_chr(rest, '/');
        t = slash < 0 ? DW_STR("/") : dw_str_sub(rest, (size_t)slash, rest.len);
    }
    ptrdiff_t q = dw_str_chr(t, '?');
    if (q >= 0) t.len = (size_t)q;
    return t;
}

/* --- connection lifecycle ------------------------------------------------------------------- */

static void on_io(int fd, int events, void *arg);

static uint64_t now_ms(void)
{
    return dw_time_mono_ms();
}

static void conn_free(dw_admin_conn_t *c)
{
    dw_admin_t *a = c->a;
    if (c->prev)
        c->prev->next = c->next;
    else
        a->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    a->nconns--;
    dw_io_free(c->io);
    close(c->fd);
    dw_buf_deinit(&c->in);
    dw_buf_deinit(&c->out);
    free(c);
}

void dw_admin_http_sweep(void *arg)
{
    dw_admin_t *a = arg;
    uint64_t now = now_ms();
    for (dw_admin_conn_t *c = a->conns, *next; c; c = next) {
        next = c->next;
        uint64_t limit = c->lingering ? LINGER_MS : DW_ADMIN_IDLE_MS;
        if (now - c->last_ms >= limit) conn_free(c);
    }
    if (a->nconns) dw_timer_start(a->sweep, SWEEP_MS);
}

void dw_admin_http_close_all(dw_admin_t *a)
{
    while (a->conns) conn_free(a->conns);
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

void dw_admin_http_accept(dw_admin_t *a, int lfd, bool is_unix)
{
    for (int i = 0; i < ACCEPT_BURST; i++) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                DW_WARN(DW_ADMIN_LOG, "admin API accept failed: %s", strerror(errno));
            return;
        }
        if (a->nconns >= DW_ADMIN_MAX_CONNS) {
            static const char busy[] =
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                "Content-Length: 33\r\nAccess-Control-Allow-Origin: null\r\nVary: Origin\r\n"
                "Connection: close\r\n\r\n{\"error\":\"too many connections\"}\n";
            ssize_t w = send(fd, busy, sizeof busy - 1, MSG_NOSIGNAL);
            (void)w;
            close(fd);
            continue;
        }
        dw_admin_conn_t *c = calloc(1, sizeof *c);
        if (!c || !(c->io = dw_io_new(a->loop, fd, on_io, c))) {
            free(c);
            close(fd);
            continue;
        }
        c->a = a, c->fd = fd, c->is_unix = is_unix, c->last_ms = now_ms();
        dw_buf_init(&c->in, 0);
        dw_buf_init(&c->out, 0);
        if (is_unix) {
            snprintf(c->peer, sizeof c->peer, "unix");
        } else {
            set_nodelay(fd);
            const void *addr = ss.ss_family == AF_INET6
                                   ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                   : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
            if (!inet_ntop(ss.ss_family, addr, c->peer, sizeof c->peer))
                snprintf(c->peer, sizeof c->peer, "?");
        }
        c->next = a->conns;
        if (a->conns) a->conns->prev = c;
        a->conns = c;
        a->nconns++;
        dw_io_want(c->io, true, false);
        if (!dw_timer_pending(a->sweep)) dw_timer_start(a->sweep, SWEEP_MS);
    }
}

/* --- responses ------------------------------------------------------------------------------ */

typedef struct reply {
    int status;
    const char *ctype;
    const char *allow; /* NULL = no Allow header */
    uint32_t retry_after;
    dw_buf_t body;
} reply_t;

static void reply_init(reply_t *r, int status)
{
    memset(r, 0, sizeof *r);
    r->status = status;
    r->ctype = JSON_TYPE;
    dw_buf_init(&r->body, 0);
}

/* {"error":"<msg>"} */
static void reply_error(reply_t *r, int status, const char *msg)
{
    r->status = status;
    r->ctype = JSON_TYPE;
    dw_buf_reset(&r->body);
    dw_json_t j;
    dw_json_init(&j, &r->body);
    dw_json_obj_begin(&j);
    dw_json_key(&j, "error");
    dw_buf_t clean = DW_BUF_INIT;
    dw_admin_utf8_clean(&clean, dw_str_c(msg));
    dw_json_str(&j, dw_buf_str(&clean));
    dw_buf_deinit(&clean);
    dw_json_obj_end(&j);
}

static void reply_from_result(reply_t *out, const dw_admin_result_t *r)
{
    out->status = r->status;
    if (r->error) {
        if (r->error_text) {
            out->ctype = TEXT_TYPE;
            dw_buf_append_c(&out->body, r->error);
            return;
        }
        if (!r->retry_after) {
            reply_error(out, r->status, r->error);
            return;
        }
        /* {"error":"reload too soon","retry_after":n} */
        out->retry_after = r->retry_after;
        dw_json_t j;
        dw_json_init(&j, &out->body);
        dw_json_obj_begin(&j);
        dw_json_kv_cstr(&j, "error", r->error);
        dw_json_kv_uint(&j, "retry_after", r->retry_after);
        dw_json_obj_end(&j);
        return;
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    bool have = r->data.size && msgpack_unpack_next(&up, r->data.data, r->data.size, &off) ==
                                    MSGPACK_UNPACK_SUCCESS;
    if (r->content_type) {
        out->ctype = r->content_type;
        if (have && up.data.type == MSGPACK_OBJECT_STR)
            dw_buf_append(&out->body, up.data.via.str.ptr, up.data.via.str.size);
    } else {
        dw_json_t j;
        dw_json_init(&j, &out->body);
        if (have)
            dw_admin_json_from_mp(&j, &up.data);
        else
            dw_json_null(&j);
    }
    msgpack_unpacked_destroy(&up);
}

/* Appends the response to c->out. */
static void write_reply(dw_admin_conn_t *c, reply_t *r, bool head_only)
{
    dw_buf_t *o = &c->out;
    if (r->body.failed) { /* could not build the body: say so rather than send half */
        dw_buf_reset(&r->body);
        r->status = 500, r->ctype = JSON_TYPE, r->allow = NULL, r->retry_after = 0;
        dw_buf_append_c(&r->body, "{\"error\":\"internal error\"}");
    }
    const char *reason = dw_http_reason(r->status);
    dw_buf_appendf(o, "HTTP/1.1 %d %s\r\n", r->status, reason[0] ? reason : "Unknown");
    dw_buf_appendf(o, "Date: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n",
                   dw_time_cached()->http_date, r->ctype, r->body.len);
    dw_buf_append_c(o, "Access-Control-Allow-Origin: null\r\nVary: Origin\r\n");
    if (r->allow) dw_buf_appendf(o, "Allow: %s\r\n", r->allow);
    if (r->retry_after) dw_buf_appendf(o, "Retry-After: %u\r\n", r->retry_after);
    if (c->close_after) dw_buf_append_c(o, "Connection: close\r\n");
    dw_buf_append_c(o, "\r\n");
    if (!head_only) dw_buf_append(o, r->body.data ? r->body.data : "", r->body.len);
}

/* --- the pipeline (§1.2) -------------------------------------------------------------------- */

typedef struct request {
    const dw_h1_head_t *head;
    dw_str_t body;
    bool body_too_big; /* Content-Length over the limit: the body was not read */
} request_t;

static void health(dw_admin_t *a, ep_id_t id, reply_t *r)
{
    dw_json_t j;
    dw_json_init(&j, &r->body);
    dw_json_obj_begin(&j);
    if (id == EP_HEALTH) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        double now = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
        dw_json_kv_cstr(&j, "status", "ok");
        dw_json_kv_uint(&j, "uptime_secs",
                        now > a->start_time ? (uint64_t)floor(now - a->start_time) : 0);
    } else if (id == EP_HEALTHZ) {
        bool draining = dw_admin_draining();
        r->status = draining ? 503 : 200;
        dw_json_kv_cstr(&j, "status", draining ? "draining" : "ok");
    } else {
        dw_json_kv_cstr(&j, "version", DWAAR_VERSION);
        dw_json_kv_cstr(&j, "started_at", a->started_at);
        dw_json_kv_uint(&j, "pid", (uint64_t)getpid());
    }
    dw_json_obj_end(&j);
}

/* §1.3: true when the request may go on; otherwise logs why. */
static bool authorized(dw_admin_conn_t *c, const dw_h1_head_t *h)
{
    const char *why = NULL;
    int32_t i = dw_h1_find_field(h->fields, h->nfields, DW_STR("Authorization"), 0);
    if (c->a->token_len == 0) {
        why = "DWAAR_ADMIN_TOKEN is not set";
    } else if (i < 0) {
        why = "missing Authorization header";
    } else {
        dw_str_t v = h->fields[i].value;
        dw_str_t prefix = DW_STR("Bearer ");
        if (!dw_str_has_prefix(v, prefix))
            why = "not a Bearer token";
        else if (!dw_admin_token_ok(c->a, v.ptr + prefix.len, v.len - prefix.len))
            why = "wrong token";
    }
    if (why)
        DW_WARN(DW_ADMIN_LOG, "admin API authentication failed: transport=tcp reason=%s peer=%s",
                why, c->peer);
    return why == NULL;
}

/* POST /routes body -> the add operation. */
static void post_route(dw_admin_t *a, const request_t *q, dw_admin_result_t *res)
{
    if (q->body_too_big) {
        dw_admin_result_fail(res, 413, "request body too large");
        return;
    }
    char err[160];
    dw_admin_json_doc_t doc;
    if (dw_admin_json_parse(q->body.ptr ? q->body.ptr : "", q->body.len, &doc, err, sizeof err)) {
        dw_admin_result_fail(res, 400, "invalid JSON: %s", err);
        return;
    }
    static const struct {
        const char *key;
        dw_admin_json_type_t type;
        const char *what;
    } want[] = {
        {"domain", DW_ADMIN_JSON_STRING, "a string"},
        {"upstream", DW_ADMIN_JSON_STRING, "a string"},
        {"tls", DW_ADMIN_JSON_BOOL, "a boolean"},
    };
    const dw_admin_json_t *root = doc.root, *v[3] = {0};
    if (root->type != DW_ADMIN_JSON_OBJECT) {
        dw_admin_result_fail(res, 400, "invalid JSON: expected an object");
        goto out;
    }
    for (size_t i = 0; i < DW_ARRAY_LEN(want); i++) {
        v[i] = dw_admin_json_get(root, want[i].key);
        if (!v[i]) {
            dw_admin_result_fail(res, 400, "invalid JSON: missing field `%s`", want[i].key);
            goto out;
        }
        if (v[i]->type != want[i].type) {
            dw_admin_result_fail(res, 400, "invalid JSON: invalid type for `%s`: expected %s",
                                 want[i].key, want[i].what);
            goto out;
        }
    }
    const dw_admin_json_t *src = dw_admin_json_get(root, "source");
    if (src && src->type != DW_ADMIN_JSON_STRING && src->type != DW_ADMIN_JSON_NULL) {
        dw_admin_result_fail(res, 400,
                             "invalid JSON: invalid type for `source`: expected a string");
        goto out;
    }
    dw_admin_op_route_add(a, v[0]->str, v[1]->str, v[2]->b,
                          src && src->type == DW_ADMIN_JSON_STRING ? src->str : DW_STR_NULL, res);
out:
    dw_admin_json_free(&doc);
}

static void dispatch(dw_admin_conn_t *c, const request_t *q, reply_t *r)
{
    dw_admin_t *a = c->a;
    const dw_h1_head_t *h = q->head;
    dw_str_t path = target_path(h->target), param = DW_STR_NULL;
    const endpoint_t *ep = find_endpoint(path, &param);
    unsigned m = method_bit(h->method);

    /* 1. CORS preflight: never supported; no auth, not counted */
    if (dw_str_eq_c(h->method, "OPTIONS")) {
        reply_error(r, 405, "CORS preflight not supported");
        r->allow = ep ? ep->allow : "";
        return;
    }
    /* 2. health and version: no auth, not counted, both transports */
    if (ep && m == M_GET && (ep->id == EP_HEALTH || ep->id == EP_HEALTHZ || ep->id == EP_VERSION)) {
        health(a, ep->id, r);
        return;
    }
    /* 3. bearer token, TCP only */
    if (!c->is_unix && !authorized(c, h)) {
        reply_error(r, 401, "unauthorized");
        return;
    }
    /* 4. the process-wide window */
    if (!dw_admin_rate_take(a)) {
        reply_error(r, 429, "rate limit exceeded");
        return;
    }
    /* 5. dispatch */
    if (!ep || !(ep->methods & m)) {
        reply_error(r, 405, "method not allowed");
        r->allow = ep ? ep->allow : "";
        return;
    }
    dw_admin_result_t res;
    dw_admin_result_init(&res);
    switch (ep->id) {
    case EP_ROUTES:
        if (m == M_GET)
            dw_admin_op_routes(a, &res);
        else
            post_route(a, q, &res);
        break;
    case EP_ROUTE: dw_admin_op_route_remove(a, param, true, &res); break;
    case EP_METRICS: dw_admin_op_metrics(a, &res); break;
    case EP_RELOAD: dw_admin_op_reload(a, DW_ADMIN_FROM_HTTP, &res); break;
    /* owned by the analytics and cache features, not built yet: 404 until they land */
    case EP_ANALYTICS:
    case EP_ANALYTICS_ONE:
    case EP_CACHE: dw_admin_op_not_yet(&res); break;
    default: dw_admin_result_fail(&res, 500, "internal error"); break;
    }
    reply_from_result(r, &res);
    dw_admin_result_deinit(&res);
}

/* --- reading, writing ----------------------------------------------------------------------- */

static void conn_flush(dw_admin_conn_t *c)
{
    while (c->out_off < c->out.len) {
        ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off, MSG_NOSIGNAL);
        if (n > 0) {
            c->out_off += (size_t)n;
            c->last_ms = now_ms();
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        c->closed = true; /* peer gone */
        return;
    }
    dw_buf_reset(&c->out);
    c->out_off = 0;
    if (c->close_after && !c->lingering) {
        shutdown(c->fd, SHUT_WR);
        c->lingering = true;
        c->last_ms = now_ms();
        dw_buf_reset(&c->in);
    }
}

/* Lingering close: discards input. Returns false at EOF or on an error. */
static bool conn_drain(dw_admin_conn_t *c)
{
    char sink[4096];
    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) continue;
        if (n < 0 && errno == EINTR) continue;
        return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
    }
    return true;
}

/* Reads what is there. Returns false when the peer closed or failed. */
static bool conn_read(dw_admin_conn_t *c)
{
    for (;;) {
        /* enough for one whole request, plus one read of what follows */
        if (c->in.len >= DW_ADMIN_MAX_HEAD + DW_ADMIN_MAX_BODY + READ_CHUNK) return true;
        if (dw_buf_reserve(&c->in, READ_CHUNK)) return false;
        ssize_t n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            c->in.data[c->in.len] = '\0';
            c->last_ms = now_ms();
            if ((size_t)n < READ_CHUNK) return true;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
        return false;
    }
}

static void consume(dw_admin_conn_t *c, size_t n)
{
    if (n >= c->in.len) {
        dw_buf_reset(&c->in);
    } else {
        memmove(c->in.data, c->in.data + n, c->in.len - n);
        c->in.len -= n;
        c->in.data[c->in.len] = '\0';
    }
    memset(&c->scan, 0, sizeof c->scan);
    c->sent_continue = false;
}

/* A protocol error: the parser's status, a JSON body, and close. */
static void protocol_error(dw_admin_conn_t *c, int status)
{
    reply_t r;
    reply_init(&r, status);
    const char *reason = dw_http_reason(status);
    char msg[64];
    snprintf(msg, sizeof msg, "%s", reason[0] ? reason : "bad request");
    for (char *p = msg; *p; p++) *p = dw_ascii_lower(*p);
    reply_error(&r, status, msg);
    c->close_after = true;
    write_reply(c, &r, false);
    dw_buf_deinit(&r.body);
}

/* Handles every complete request in the buffer, one at a time, while nothing is being
 * written. */
static void conn_process(dw_admin_conn_t *c)
{
    static const dw_h1_limits_t limits = {MAX_LINE, DW_ADMIN_MAX_HEAD, DW_ADMIN_MAX_HEAD,
                                          MAX_FIELDS};
    while (!c->closed && !c->close_after && c->out.len == 0 && c->in.len) {
        dw_h1_field_t fields[MAX_FIELDS + 1];
        dw_h1_head_t h;
        dw_h1_rc_t rc = dw_h1_parse_request(c->in.data, c->in.len, &limits, &c->scan, fields, &h);
        if (rc == DW_H1_INCOMPLETE) return;
        if (rc == DW_H1_ERROR) {
            protocol_error(c, h.error_status ? h.error_status : 400);
            return;
        }
        if (h.body == DW_H1_BODY_CHUNKED) {
            protocol_error(c, 411);
            return;
        }
        request_t q = {.head = &h};
        uint64_t blen = h.body == DW_H1_BODY_LENGTH ? h.content_length : 0;
        size_t total = h.head_len;
        if (blen > DW_ADMIN_MAX_BODY) {
            q.body_too_big = true;
        } else {
            if (c->in.len < h.head_len + blen) {
                if (h.expect_continue && !c->sent_continue && h.version_minor == 1) {
                    dw_buf_append_c(&c->out, "HTTP/1.1 100 Continue\r\n\r\n");
                    c->sent_continue = true;
                }
                return; /* the rest of the body */
            }
            q.body = dw_str_make(c->in.data + h.head_len, (size_t)blen);
            total += (size_t)blen;
        }
        bool keep = !h.conn_close && (h.version_minor == 1 || h.conn_keep_alive);
        c->close_after = !keep || q.body_too_big;

        reply_t r;
        reply_init(&r, 200);
        dispatch(c, &q, &r);
        write_reply(c, &r, dw_str_eq_c(h.method, "HEAD"));
        dw_buf_deinit(&r.body);
        consume(c, q.body_too_big ? c->in.len : total);
        conn_flush(c);
    }
}

static void on_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_admin_conn_t *c = arg;
    if (events & DW_IO_WRITE) conn_flush(c);
    if (!c->closed && (events & DW_IO_READ)) {
        if (c->lingering) {
            if (!conn_drain(c)) c->closed = true;
        } else if (!conn_read(c)) {
            c->peer_eof = true; /* answer what was received, then close */
        }
    }
    if (!c->closed && !c->lingering) {
        conn_process(c);
        if (c->out_off < c->out.len) conn_flush(c); /* a 100 Continue */
        if (c->peer_eof && !c->closed) {
            if (c->out_off < c->out.len)
                c->close_after = true;
            else
                c->closed = true;
        }
    }
    if (c->closed) {
        conn_free(c);
        return;
    }
    bool pending = c->out_off < c->out.len;
    dw_io_want(c->io, c->lingering || (!pending && !c->close_after && !c->peer_eof), pending);
}
