/* reverse_proxy over HTTP/1.1 (spec 10 §6.1, spec 20 §3.3-3.4, spec 40 "Forwarding"):
 * backend choice, per-worker keep-alive pools, request re-framing, response streaming with
 * backpressure, retries, replays, 502/504, intercept, and Upgrade tunnels. */
#include "upstream.h"
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/core/status.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

#define UP_RBUF            32768u
#define UP_PENDING_MAX     65536u
#define UP_IO_TIMEOUT_MS   30000u
#define UP_IDLE_TIMEOUT_MS 60000u
#define UP_IDLE_MAX        64u /* idle connections kept per backend per worker */
#define RETRY_BACKOFF_MAX  1600u

enum { U_CONNECTING = 1, U_SENDING, U_HEAD, U_BODY, U_IDLE, U_TUNNEL };

typedef struct dw_proxy {
    dw_pool_t *pool;
    const dw_cfg_proxy_t *cfg;
    dw_backend_t *be;
    const dw_backend_t *failed;
    bool set_cookie;
    bool fresh_replayed; /* the one replay on a new connection was used */
    unsigned retries;
    uint64_t start_ms;
    dw_str_t req_bytes; /* the whole upstream request when it fits (replayable) */
    bool replayable;
    bool req_sent;    /* all of the request reached the upstream */
    bool head_seen;   /* a response byte arrived */
    bool head_queued; /* the client response head is queued */
    bool out_chunked; /* client framing: chunked */
    bool out_close;   /* client framing: until close */
    bool done;        /* the response body ended */
    bool in_pump;
    bool tunnel;
    bool t_client_eof, t_up_eof;
    bool waking;         /* scale_to_zero: polling the backend until it accepts */
    uint64_t wake_delay; /* next poll delay: 200 ms doubling to 4 s */
    uint64_t wake_until;
    uint64_t resp_bytes;
    dw_timer_t *retry_timer;
} dw_proxy_t;

static void up_on_io(int fd, int events, void *arg);
static void up_timer_cb(void *arg);
static void proxy_connect(dw_conn_t *c);
static void proxy_pump(dw_conn_t *c);
static void proxy_fail(dw_conn_t *c, uint16_t status, bool connect_failure);
static void tunnel_pump(dw_conn_t *c);

/* --- upstream connections -------------------------------------------------------------------- */

static dw_upconn_t *upconn_new(dw_worker_t *w, int fd, const char *key)
{
    dw_upconn_t *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->w = w;
    u->fd = fd;
    snprintf(u->key, sizeof u->key, "%s", key);
    u->rbuf = malloc(UP_RBUF);
    u->rcap = UP_RBUF;
    u->io = dw_io_new(w->loop, fd, up_on_io, u);
    u->timer = dw_timer_new(w->loop, up_timer_cb, u);
    dw_buf_init(&u->wbuf, 0);
    if (!u->rbuf || !u->io || !u->timer) {
        free(u->rbuf);
        dw_io_free(u->io);
        if (u->timer) dw_timer_free(u->timer);
        free(u);
        return NULL;
    }
    return u;
}

static void upconn_free(dw_upconn_t *u)
{
    dw_io_free(u->io);
    dw_timer_free(u->timer);
    close(u->fd);
    dw_buf_deinit(&u->wbuf);
    free(u->rbuf);
    free(u);
}

static dw_idle_list_t *idle_list(dw_worker_t *w, const char *key, bool create)
{
    dw_idle_list_t *l = dw_strmap_get(&w->idle, dw_str_c(key));
    if (l || !create) return l;
    l = calloc(1, sizeof *l + strlen(key) + 1);
    if (!l) return NULL;
    char *k = (char *)(l + 1);
    memcpy(k, key, strlen(key) + 1);
    if (dw_strmap_put(&w->idle, dw_str_c(k), l, NULL) != DW_OK) {
        free(l);
        return NULL;
    }
    return l;
}

static void idle_remove(dw_upconn_t *u)
{
    dw_idle_list_t *l = idle_list(u->w, u->key, false);
    if (!l) return;
    if (u->prev_idle)
        u->prev_idle->next_idle = u->next_idle;
    else
        l->head = u->next_idle;
    if (u->next_idle) u->next_idle->prev_idle = u->prev_idle;
    u->next_idle = u->prev_idle = NULL;
    l->n--;
}

static void idle_drop(dw_upconn_t *u)
{
    idle_remove(u);
    upconn_free(u);
}

static void upconn_to_idle(dw_upconn_t *u)
{
    dw_idle_list_t *l = idle_list(u->w, u->key, true);
    if (!l || l->n >= UP_IDLE_MAX || u->w->stopping) {
        upconn_free(u);
        return;
    }
    u->c = NULL;
    u->state = U_IDLE;
    u->rlen = u->rpos = 0;
    u->scan = (dw_h1_scan_t){0};
    /* a pooled connection keeps no buffers */
    free(u->rbuf);
    u->rbuf = NULL;
    u->rcap = 0;
    dw_buf_deinit(&u->wbuf);
    dw_buf_init(&u->wbuf, 0);
    u->woff = 0;
    u->next_idle = l->head;
    u->prev_idle = NULL;
    if (l->head) l->head->prev_idle = u;
    l->head = u;
    l->n++;
    dw_io_want(u->io, true, false); /* notice the upstream closing it */
    dw_timer_start(u->timer, UP_IDLE_TIMEOUT_MS);
}

static dw_upconn_t *idle_take(dw_worker_t *w, const char *key)
{
    dw_idle_list_t *l = idle_list(w, key, false);
    if (!l || !l->head) return NULL;
    dw_upconn_t *u = l->head;
    idle_remove(u);
    dw_timer_stop(u->timer);
    return u;
}

void dw_upstream_idle_close_all(dw_worker_t *w)
{
    for (size_t i = 0; i < w->idle.cap; i++) {
        dw_idle_list_t *l = w->idle.slots ? w->idle.slots[i].value : NULL;
        if (!l) continue;
        while (l->head) {
            dw_upconn_t *u = l->head;
            idle_remove(u);
            upconn_free(u);
        }
        free(l);
        w->idle.slots[i].value = NULL;
    }
}

/* Detaches and frees (or pools) the upstream connection of c. */
static void proxy_release_upstream(dw_conn_t *c, bool reusable)
{
    dw_upconn_t *u = c->up;
    if (!u) return;
    c->up = NULL;
    u->c = NULL;
    dw_timer_stop(u->timer);
    if (reusable)
        upconn_to_idle(u);
    else
        upconn_free(u);
}

static void proxy_release_backend(dw_proxy_t *px)
{
    if (px->be) {
        dw_backend_release(px->be);
        px->be = NULL;
    }
}

void dw_proxy_abort_upstream(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    proxy_release_upstream(c, false);
    if (px) {
        proxy_release_backend(px);
        if (px->retry_timer) {
            dw_timer_free(px->retry_timer);
            px->retry_timer = NULL;
        }
        c->px = NULL;
    }
}

/* --- the upstream request -------------------------------------------------------------------- */

static bool skip_request_field(dw_str_t name, dw_str_t connection_value, bool upgrade)
{
    static const dw_str_t drop[] = {DW_STR("Content-Length"),   DW_STR("Expect"),
                                    DW_STR("X-Forwarded-For"),  DW_STR("X-Forwarded-Proto"),
                                    DW_STR("X-Forwarded-Host"), DW_STR("X-Real-IP"),
                                    DW_STR("X-Request-Id")};
    if (dw_h1_is_hop_by_hop(name)) return !(upgrade && dw_str_caseeq_c(name, "Upgrade"));
    for (size_t i = 0; i < sizeof drop / sizeof *drop; i++)
        if (dw_str_caseeq(name, drop[i])) return true;
    if (connection_value.len && dw_h1_list_has(connection_value, name)) return true;
    return false;
}

static dw_str_t connection_tokens(const dw_req_t *r, dw_arena_t *a)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!dw_str_caseeq_c(r->headers.v[i].name, "Connection")) continue;
        if (b.len) dw_buf_append(&b, ",", 1);
        dw_buf_append_str(&b, r->headers.v[i].value);
    }
    dw_str_t out = b.len ? dw_arena_str_dup(a, dw_buf_str(&b)) : DW_STR_NULL;
    dw_buf_deinit(&b);
    return out;
}

static void append_content_length(dw_buf_t *b, uint64_t n)
{
    dw_buf_append_c(b, "Content-Length: ");
    dw_buf_append_u64(b, n);
    dw_buf_append(b, "\r\n", 2);
}

static void chunk_sink(dw_conn_t *c, const char *p, size_t n)
{
    if (!n) return;
    dw_buf_append_hex(&c->up->wbuf, n);
    dw_buf_append(&c->up->wbuf, "\r\n", 2);
    dw_buf_append(&c->up->wbuf, p, n);
    dw_buf_append(&c->up->wbuf, "\r\n", 2);
}

static void raw_sink(dw_conn_t *c, const char *p, size_t n)
{
    dw_buf_append(&c->up->wbuf, p, n);
}

/* Pulls request body bytes already read into the upstream output (bounded). */
static int pull_request_body(dw_conn_t *c)
{
    bool was_done = c->bdone;
    if (dw_conn_body_consume(c, c->bkind == DW_H1_BODY_CHUNKED ? chunk_sink : raw_sink) < 0)
        return -1;
    dw_exchange_t *ex = c->ex;
    if (ex->request_body_max && c->bread > ex->request_body_max) return -2;
    if (!was_done && c->bdone) {
        if (c->bkind == DW_H1_BODY_CHUNKED) dw_buf_append(&c->up->wbuf, "0\r\n\r\n", 5);
        dw_conn_timer_body_done(c);
    }
    return 0;
}

static void build_request_head(dw_conn_t *c, dw_backend_t *be)
{
    dw_exchange_t *ex = c->ex;
    dw_req_t *r = &ex->req;
    dw_proxy_t *px = c->px;
    dw_arena_t *a = r->arena;
    dw_fields_t f = {0};
    f.cap = r->headers.n + 8;
    f.v = dw_arena_alloc(a, sizeof *f.v * f.cap);
    dw_str_t conn_tokens = connection_tokens(r, a);
    bool has_host = false;
    for (size_t i = 0; f.v && i < r->headers.n; i++) {
        const dw_field_t *h = &r->headers.v[i];
        if (skip_request_field(h->name, conn_tokens, c->upgrade)) continue;
        if (dw_str_caseeq_c(h->name, "Host")) has_host = true;
        f.v[f.n++] = *h;
    }
    if (!has_host) {
        char *hp = dw_arena_sprintf(a, "%.*s:%u", DW_STR_FMT(be->host), be->port);
        dw_fields_add(a, &f, DW_STR("Host"), dw_str_c(hp));
    }
    dw_str_t ip = dw_str_c(r->peer.text);
    dw_fields_add(a, &f, DW_STR("X-Forwarded-For"), ip);
    dw_fields_add(a, &f, DW_STR("X-Forwarded-Proto"), r->tls ? DW_STR("https") : DW_STR("http"));
    if (r->hostport.len) dw_fields_add(a, &f, DW_STR("X-Forwarded-Host"), r->hostport);
    dw_fields_add(a, &f, DW_STR("X-Real-IP"), ip);
    dw_fields_add(a, &f, DW_STR("X-Request-Id"), dw_str_make(r->request_id, 36));
    if (c->upgrade) dw_fields_add(a, &f, DW_STR("Connection"), DW_STR("upgrade"));
    r->upstream_host = be->host;
    r->upstream_port = be->port;
    if (px->cfg->header_up.n) dw_hdr_ops_apply(r, &f, &px->cfg->header_up);

    dw_buf_t *b = &c->up->wbuf;
    dw_buf_append_str(b, r->method);
    dw_buf_append(b, " ", 1);
    if (r->uri_changed) {
        dw_buf_append_str(b, r->path);
        if (r->has_query) {
            dw_buf_append(b, "?", 1);
            dw_buf_append_str(b, r->query);
        }
    } else {
        dw_buf_append_str(b, r->raw_target);
    }
    dw_buf_append(b, " HTTP/1.1\r\n", 11);
    dw_conn_append_fields(b, &f);
    if (c->bkind == DW_H1_BODY_LENGTH)
        append_content_length(b, c->bleft + c->bread);
    else if (c->bkind == DW_H1_BODY_CHUNKED)
        dw_buf_append_c(b, "Transfer-Encoding: chunked\r\n");
    dw_buf_append(b, "\r\n", 2);
}

/* --- connecting ------------------------------------------------------------------------------ */

static int open_socket(const dw_backend_t *be)
{
    int fd = socket(be->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (be->addr.ss_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
        int idle = 60, intvl = 10, cnt = 3;
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    }
    if (connect(fd, (const struct sockaddr *)&be->addr, be->addrlen) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -2;
    }
    return fd;
}

static bool method_retryable(dw_str_t m)
{
    return dw_str_eq_c(m, "GET") || dw_str_eq_c(m, "HEAD") || dw_str_eq_c(m, "OPTIONS");
}

static void retry_timer_cb(void *arg)
{
    dw_conn_t *c = arg;
    proxy_connect(c);
}

/* Chooses a backend and starts the exchange on a pooled or new connection. */
static void proxy_connect(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    dw_req_t *r = &c->ex->req;
    bool set_cookie = false;
    px->be = dw_pool_pick(px->pool, r, px->failed, &set_cookie);
    px->set_cookie = px->set_cookie || set_cookie;
    if (!px->be) {
        proxy_fail(c, 502, false);
        return;
    }
    dw_backend_t *be = px->be;
    if (!be->resolved) {
        proxy_fail(c, 502, true);
        return;
    }
    c->ex->upstream_addr = be->key;
    c->ex->up_start_us = 0;
    dw_upconn_t *u = px->fresh_replayed ? NULL : idle_take(c->w, be->key);
    if (!u) {
        int fd = open_socket(be);
        if (fd == -1) {
            proxy_fail(c, 502, false);
            return;
        }
        if (fd == -2) {
            proxy_fail(c, 502, true);
            return;
        }
        u = upconn_new(c->w, fd, be->key);
        if (!u) {
            close(fd);
            proxy_fail(c, 502, false);
            return;
        }
        u->state = U_CONNECTING;
        u->reused = false;
    } else {
        u->state = U_SENDING;
        u->reused = true;
        if (!u->rbuf) {
            u->rbuf = malloc(UP_RBUF);
            if (!u->rbuf) {
                upconn_free(u);
                proxy_fail(c, 502, false);
                return;
            }
            u->rcap = UP_RBUF;
        }
    }
    u->c = c;
    c->up = u;
    px->req_sent = px->head_seen = false; /* per attempt */
    u->readable = false;
    dw_buf_reset(&u->wbuf);
    u->woff = 0;
    u->rlen = u->rpos = 0;
    u->scan = (dw_h1_scan_t){0};
    if (px->req_bytes.len) {
        dw_buf_append_str(&u->wbuf, px->req_bytes);
    } else {
        build_request_head(c, be);
        int rc = pull_request_body(c);
        if (rc == -2) {
            proxy_release_upstream(c, false);
            proxy_release_backend(px);
            c->want_close = true;
            dw_pipeline_error(c->ex, 413, DW_STR_NULL);
            dw_h1_send_generated(c);
            return;
        }
        if (rc < 0) {
            dw_proxy_abort_upstream(c);
            dw_conn_write_simple_error(c, 400);
            return;
        }
        if (c->bdone) {
            /* the whole request is in hand: keep it for a replay or a retry */
            px->req_bytes = dw_arena_str_dup(c->ex->req.arena, dw_buf_str(&u->wbuf));
            px->replayable = true;
        }
    }
    if (u->wbuf.failed) {
        proxy_fail(c, 502, false);
        return;
    }
    if (u->state == U_CONNECTING) {
        dw_io_want(u->io, false, true);
        uint64_t dial = px->cfg->dial_timeout_ms ? px->cfg->dial_timeout_ms : 10000;
        if (px->cfg->has_scale_to_zero && dial > 500) dial = 500; /* the wake probe */
        dw_timer_start(u->timer, dial);
    } else {
        if (c->ex->log_on) c->ex->up_start_us = dw_pipeline_now_us();
        dw_timer_start(u->timer,
                       px->cfg->response_timeout_ms ? px->cfg->response_timeout_ms : 30000);
        proxy_pump(c);
    }
}

void dw_proxy_start(dw_conn_t *c)
{
    dw_exchange_t *ex = c->ex;
    dw_proxy_t *px = dw_arena_zalloc(&ex->arena, sizeof *px);
    if (!px) {
        dw_conn_close(c);
        return;
    }
    px->pool = ex->proxy_dir->pool;
    px->cfg = px->pool->cfg;
    px->start_ms = dw_time_mono_ms();
    c->px = px;
    if (c->expect && !c->bdone && c->rpos == c->rlen) {
        /* the client waits for our go-ahead before sending the body */
        dw_buf_append_c(&c->wbuf, "HTTP/1.1 100 Continue\r\n\r\n");
        c->expect = false;
        if (dw_conn_write_pending(c) < 0) {
            dw_conn_close(c);
            return;
        }
    }
    proxy_connect(c);
}

/* scale_to_zero (spec 10 §6.1): a backend that refuses is woken by running wake_command once
 * per pool (no shell; argv[0] must be absolute), then polled until it accepts or wake_timeout
 * passes. Returns true when the request keeps waiting (a poll is scheduled). */
static bool scale_to_zero_wait(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    const dw_cfg_proxy_t *cfg = px->cfg;
    uint64_t now = dw_time_mono_ms();
    if (!px->waking) {
        const dw_cfg_strs_t *argv = &cfg->scale_to_zero.wake_command;
        if (!argv->n || argv->v[0].ptr[0] != '/') return false;
        uint64_t timeout =
            cfg->scale_to_zero.wake_timeout_ms ? cfg->scale_to_zero.wake_timeout_ms : 30000;
        uint64_t until = atomic_load(&px->pool->wake_until);
        if (until <= now) {
            /* no wake in progress: this request starts one (others that race lose the CAS
             * and wait on the winner's) */
            if (atomic_compare_exchange_strong(&px->pool->wake_until, &until, now + timeout)) {
                char *args[64];
                size_t n = argv->n < 63 ? argv->n : 63;
                for (size_t i = 0; i < n; i++) args[i] = (char *)argv->v[i].ptr;
                args[n] = NULL;
                pid_t pid;
                if (posix_spawn(&pid, args[0], NULL, NULL, args, environ) != 0) {
                    DW_WARN("proxy", "scale_to_zero: cannot run %s", args[0]);
                    atomic_store(&px->pool->wake_until, 0);
                    return false;
                }
                DW_INFO("proxy", "scale_to_zero: woke the upstream with %s (pid %d)", args[0],
                        (int)pid);
            }
            until = atomic_load(&px->pool->wake_until);
        }
        px->waking = true;
        px->wake_until = until;
        px->wake_delay = 200;
    }
    if (now >= px->wake_until) return false;
    uint64_t delay = px->wake_delay;
    if (now + delay > px->wake_until) delay = px->wake_until - now;
    px->wake_delay = px->wake_delay * 2 > 4000 ? 4000 : px->wake_delay * 2;
    if (!px->retry_timer) px->retry_timer = dw_timer_new(c->w->loop, retry_timer_cb, c);
    if (!px->retry_timer) return false;
    dw_timer_start(px->retry_timer, delay);
    return true;
}

/* An error before any response byte reached the client: retry, replay, or error response. */
static void proxy_fail(dw_conn_t *c, uint16_t status, bool connect_failure)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    bool was_reused = u && u->reused;
    bool got_bytes = px->head_seen;
    if (connect_failure && px->cfg->has_scale_to_zero && px->be) {
        proxy_release_upstream(c, false);
        proxy_release_backend(px);
        if (scale_to_zero_wait(c)) return;
        status = 504; /* any wake failure (decision: source) */
        connect_failure = false;
    }
    proxy_release_upstream(c, false);
    if (px->be && connect_failure) dw_backend_failed(px->pool, px->be);
    dw_backend_t *failed_be = px->be;
    proxy_release_backend(px);
    if (px->head_queued) {
        dw_conn_close(c); /* the response started: abort */
        return;
    }
    /* A pooled connection the upstream had closed: replay once on a new connection. */
    if (was_reused && !got_bytes && px->replayable && !px->fresh_replayed && status == 502) {
        px->fresh_replayed = true;
        proxy_connect(c);
        return;
    }
    dw_req_t *r = &c->ex->req;
    const dw_cfg_proxy_t *cfg = px->cfg;
    uint64_t try_ms = cfg->lb_try_duration_ms ? cfg->lb_try_duration_ms : 30000;
    if (status == 502 && failed_be && !got_bytes && cfg->lb_retries > px->retries &&
        method_retryable(r->method) && px->replayable &&
        dw_time_mono_ms() - px->start_ms < try_ms) {
        px->retries++;
        px->failed = failed_be;
        px->fresh_replayed = false;
        uint64_t backoff = 50u << (px->retries - 1 < 6 ? px->retries - 1 : 6);
        if (backoff > RETRY_BACKOFF_MAX) backoff = RETRY_BACKOFF_MAX;
        if (!px->retry_timer) px->retry_timer = dw_timer_new(c->w->loop, retry_timer_cb, c);
        if (px->retry_timer) {
            dw_timer_start(px->retry_timer, backoff);
            return;
        }
    }
    if (px->retry_timer) {
        dw_timer_free(px->retry_timer);
        px->retry_timer = NULL;
    }
    c->px = NULL;
    if (!c->bdone) c->want_close = true;
    dw_exchange_t *ex = c->ex;
    dw_pipeline_error(ex, status, DW_STR_NULL);
    if (ex->kind == DW_OUT_ABORT) {
        dw_conn_close(c);
        return;
    }
    if (ex->kind == DW_OUT_PROXY) {
        dw_proxy_start(c);
        return;
    }
    dw_h1_send_generated(c);
}

/* --- the response ---------------------------------------------------------------------------- */

static bool status_matches(const dw_cfg_intercept_t *ic, uint16_t st)
{
    if (ic->nstatuses == 0) return st < 200 || st > 299;
    for (size_t i = 0; i < ic->nstatuses; i++) {
        const dw_cfg_status_match_t *m = &ic->statuses[i];
        if (m->is_class ? st / 100 == m->code / 100 : st == m->code) return true;
    }
    return false;
}

static bool copy_header_allowed(const dw_cfg_copy_headers_t *ch, dw_str_t name)
{
    if (!ch) return true;
    for (size_t i = 0; i < ch->exclude.n; i++)
        if (dw_str_caseeq(name, ch->exclude.v[i])) return false;
    if (ch->include.n == 0) return true;
    for (size_t i = 0; i < ch->include.n; i++)
        if (dw_str_caseeq(name, ch->include.v[i])) return true;
    return false;
}

/* The upstream head arrived. Returns false when the exchange was handed elsewhere. */
static bool on_response_head(dw_conn_t *c, const dw_h1_head_t *h)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    dw_exchange_t *ex = c->ex;
    dw_req_t *r = &ex->req;
    dw_arena_t *a = r->arena;
    if (ex->log_on && ex->up_start_us) {
        uint64_t now = dw_pipeline_now_us();
        ex->up_time_us = now > ex->up_start_us ? now - ex->up_start_us : 0;
    }

    /* intercept: a listed upstream status is replaced by the directive's answer */
    for (size_t i = 0; i < ex->nintercepts; i++) {
        const dw_cfg_intercept_t *ic = ex->intercepts[i];
        if (!status_matches(ic, h->status)) continue;
        proxy_release_upstream(c, false);
        proxy_release_backend(px);
        c->px = NULL;
        if (!c->bdone) c->want_close = true;
        ex->resp_headers.n = 0;
        uint16_t st = ic->has_respond && ic->respond_status ? ic->respond_status : h->status;
        dw_str_t body = ic->has_respond_body ? dw_tpl_render(r, ic->respond_body) : DW_STR_NULL;
        dw_pipeline_respond(ex, st, body);
        if (ic->headers.n) dw_hdr_ops_apply(r, &ex->resp_headers, &ic->headers);
        dw_h1_send_generated(c);
        return false;
    }
    if (ex->response_body_max && h->body == DW_H1_BODY_LENGTH &&
        h->content_length > ex->response_body_max) {
        proxy_fail(c, 502, false);
        return false;
    }

    bool head_req = dw_str_eq_c(r->method, "HEAD");
    bool no_body = head_req || h->status == 204 || h->status == 304;
    u->bkind = no_body ? DW_H1_BODY_NONE : h->body;
    u->bleft = h->body == DW_H1_BODY_LENGTH ? h->content_length : 0;
    if (u->bkind == DW_H1_BODY_LENGTH && u->bleft == 0) u->bkind = DW_H1_BODY_NONE;
    dw_h1_chunked_init(&u->chunk);
    u->keepalive = h->version_minor == 1 && !h->conn_close && h->body != DW_H1_BODY_CLOSE;

    dw_fields_t f = {0};
    f.cap = h->nfields + 12;
    f.v = dw_arena_alloc(a, sizeof *f.v * f.cap);
    if (!f.v) {
        proxy_fail(c, 502, false);
        return false;
    }
    dw_str_t conn_tokens = DW_STR_NULL;
    for (uint32_t i = 0; i < h->nfields; i++)
        if (dw_str_caseeq_c(h->fields[i].name, "Connection")) conn_tokens = h->fields[i].value;
    bool tunnel = h->status == 101;
    for (uint32_t i = 0; i < h->nfields; i++) {
        dw_str_t n = h->fields[i].name;
        bool keep_upgrade = tunnel && dw_str_caseeq_c(n, "Upgrade");
        if (dw_h1_is_hop_by_hop(n) && !keep_upgrade) continue;
        if (dw_str_caseeq_c(n, "Content-Length")) continue;
        if (conn_tokens.len && dw_h1_list_has(conn_tokens, n) && !keep_upgrade) continue;
        if (!copy_header_allowed(ex->copy_headers, n)) continue;
        /* views into the upstream buffer: the head is serialised below, before it is reused */
        f.v[f.n++] = (dw_field_t){n, h->fields[i].value};
    }
    if (px->set_cookie && px->be) {
        char *ck = dw_arena_sprintf(a,
                                    "_dwaar_sticky=%016llx; Path=/; HttpOnly; SameSite=Lax; "
                                    "Max-Age=86400",
                                    (unsigned long long)px->be->cookie_hash);
        dw_fields_add(a, &f, DW_STR("Set-Cookie"), dw_str_c(ck));
    }
    dw_pipeline_finish_headers(ex, &f, px->cfg->header_down.n ? &px->cfg->header_down : NULL);

    dw_buf_t *b = &c->wbuf;
    dw_conn_append_status_line(b, h->status);
    dw_conn_append_fields(b, &f);
    ex->sent_status = h->status;
    ex->bytes_sent = 0;
    if (tunnel) {
        dw_buf_append_c(b, "Connection: upgrade\r\n\r\n");
        px->tunnel = true;
        px->head_queued = true; /* no write timeout: a tunnel lives as long as its peers */
        return true;
    }
    if (!c->bdone) c->want_close = true; /* the rest of the request body is not read */
    if (u->bkind == DW_H1_BODY_LENGTH) {
        append_content_length(b, u->bleft);
    } else if (u->bkind == DW_H1_BODY_NONE) {
        if (!no_body || head_req) {
            if (h->body == DW_H1_BODY_LENGTH)
                append_content_length(b, h->content_length);
            else if (!head_req)
                dw_buf_append_c(b, "Content-Length: 0\r\n");
        }
    } else if (c->is_http10) {
        px->out_close = true;
        c->want_close = true;
    } else {
        px->out_chunked = true;
        dw_buf_append_c(b, "Transfer-Encoding: chunked\r\n");
    }
    if (c->want_close)
        dw_buf_append_c(b, "Connection: close\r\n");
    else if (c->is_http10)
        dw_buf_append_c(b, "Connection: keep-alive\r\n");
    dw_buf_append(b, "\r\n", 2);
    px->head_queued = true;
    dw_conn_response_started(c);
    if (u->bkind == DW_H1_BODY_NONE) px->done = true;
    return true;
}

/* Ends the exchange once the response is complete and written. */
static void proxy_finish(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    bool reusable = u && u->keepalive && px->req_sent && u->rpos == u->rlen;
    proxy_release_upstream(c, reusable);
    proxy_release_backend(px);
    if (px->retry_timer) dw_timer_free(px->retry_timer);
    c->px = NULL;
    if (c->want_close) {
        shutdown(c->fd, SHUT_WR);
        dw_conn_close(c);
        return;
    }
    dw_conn_request_done(c);
}

/* Moves response body bytes from the upstream buffer to the client output. Returns false when
 * the connection was closed (the caller must not touch c again). */
static bool queue_body(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    while (!px->done && u->rpos < u->rlen && c->dlen == 0 && c->wbuf.len < UP_PENDING_MAX) {
        const char *p = u->rbuf + u->rpos;
        size_t avail = u->rlen - u->rpos;
        dw_str_t data = DW_STR_NULL;
        if (u->bkind == DW_H1_BODY_CHUNKED) {
            size_t used = 0;
            dw_h1_chunk_rc_t rc =
                dw_h1_chunked_decode(&u->chunk, &c->w->cur->snap->limits, p, avail, &used, &data);
            u->rpos += used;
            if (rc == DW_H1_CHUNK_ERROR) {
                px->done = true;
                u->keepalive = false;
                c->want_close = true;
                px->out_chunked = false; /* never complete a broken body */
                return true;
            }
            if (rc == DW_H1_CHUNK_DONE) px->done = true;
        } else {
            size_t n = avail;
            if (u->bkind == DW_H1_BODY_LENGTH && n > u->bleft) n = (size_t)u->bleft;
            data = dw_str_make(p, n);
            u->rpos += n;
            if (u->bkind == DW_H1_BODY_LENGTH) {
                u->bleft -= n;
                if (u->bleft == 0) px->done = true;
            }
        }
        if (data.len) {
            px->resp_bytes += data.len;
            c->ex->bytes_sent = px->resp_bytes;
            if (c->ex->response_body_max && px->resp_bytes > c->ex->response_body_max) {
                /* over response_body_limit after the head went out: abort, never truncate
                 * silently into a complete-looking body */
                px->in_pump = false;
                dw_conn_close(c);
                return false;
            }
            if (px->out_chunked) {
                dw_buf_append_hex(&c->wbuf, data.len);
                dw_buf_append(&c->wbuf, "\r\n", 2);
                dw_buf_append(&c->wbuf, data.ptr, data.len);
                dw_buf_append(&c->wbuf, "\r\n", 2);
            } else {
                c->dptr = data.ptr, c->dlen = data.len; /* straight from the upstream buffer */
            }
        }
        if (px->done && px->out_chunked) dw_buf_append(&c->wbuf, "0\r\n\r\n", 5);
    }
    if (u->rpos == u->rlen && c->dlen == 0) u->rpos = u->rlen = 0;
    return true;
}

static int up_write_pending(dw_upconn_t *u)
{
    while (u->wbuf.len > u->woff) {
        ssize_t n = send(u->fd, u->wbuf.data + u->woff, u->wbuf.len - u->woff, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            return -1;
        }
        u->woff += (size_t)n;
    }
    u->woff = 0;
    dw_buf_reset(&u->wbuf);
    return 1;
}

/* Sets socket interest for both sides from the exchange state. */
static void proxy_interest(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    if (!px) return;
    if (u) {
        bool up_write = u->state == U_CONNECTING || u->wbuf.len > u->woff;
        bool up_read = u->state != U_CONNECTING && !px->done &&
                       dw_conn_out_pending(c) < UP_PENDING_MAX && c->dlen == 0 && u->rlen < u->rcap;
        dw_io_want(u->io, up_read, up_write);
    }
    dw_conn_update_interest(c);
}

bool dw_proxy_wants_client_read(const dw_conn_t *c)
{
    const dw_proxy_t *px = c->px;
    const dw_upconn_t *u = c->up;
    if (!px || !u || c->bdone || u->state == U_CONNECTING) return false;
    return u->wbuf.len - u->woff < UP_PENDING_MAX;
}

/* Drives the exchange as far as the sockets allow. Iterative: never recurses through the
 * write callbacks (a 1 GB body would otherwise nest calls). */
static void proxy_pump(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    if (!px || px->in_pump) return;
    px->in_pump = true;
    for (;;) {
        dw_upconn_t *u = c->up;
        if (!u) break;
        /* 1. request bytes to the upstream */
        if (u->state != U_CONNECTING && !px->req_sent) {
            if (!c->bdone && u->wbuf.len - u->woff < UP_PENDING_MAX) {
                int rc = pull_request_body(c);
                if (rc < 0) {
                    px->in_pump = false;
                    if (rc == -2 && !px->head_queued) {
                        proxy_release_upstream(c, false);
                        proxy_release_backend(px);
                        c->px = NULL;
                        c->want_close = true;
                        dw_pipeline_error(c->ex, 413, DW_STR_NULL);
                        dw_h1_send_generated(c);
                        return;
                    }
                    dw_conn_close(c);
                    return;
                }
            }
            int wr = up_write_pending(u);
            if (wr < 0) {
                px->in_pump = false;
                proxy_fail(c, 502, false);
                return;
            }
            if (wr == 1 && c->bdone) {
                px->req_sent = true;
                if (u->state == U_SENDING) u->state = U_HEAD;
            }
            if (wr == 1 && !c->bdone) {
                ssize_t n = dw_conn_read_more(c);
                if (n > 0) continue;
                if (n == 0 || n == -1) {
                    /* the client went away mid-body: never complete the request */
                    px->in_pump = false;
                    dw_conn_close(c);
                    return;
                }
            }
        }
        /* 2. response bytes from the upstream */
        if (u->state == U_CONNECTING) break;
        if (px->tunnel) break;
        if (px->head_queued && !px->done && !queue_body(c)) return; /* c is gone */
        int cw = dw_conn_write_pending(c);
        if (cw < 0) {
            px->in_pump = false;
            dw_conn_close(c);
            return;
        }
        if (px->done && cw == 1) {
            px->in_pump = false;
            proxy_finish(c);
            return;
        }
        if (cw == 0 || c->dlen) break; /* client is slow: wait for it */
        if (px->head_queued && u->rpos < u->rlen) continue;
        if (!u->readable) break;
        if (u->rlen == u->rcap) u->rlen = u->rpos = 0;
        ssize_t n = recv(u->fd, u->rbuf + u->rlen, u->rcap - u->rlen, 0);
        if (n > 0) {
            u->rlen += (size_t)n;
            px->head_seen = true;
            dw_timer_start(u->timer, UP_IO_TIMEOUT_MS);
            if (!px->head_queued) {
                dw_h1_field_t fields[101];
                dw_h1_head_t h;
                dw_h1_rc_t rc;
                for (;;) {
                    rc = dw_h1_parse_response(u->rbuf + u->rpos, u->rlen - u->rpos,
                                              &c->w->cur->snap->limits, &u->scan, fields, &h);
                    if (rc != DW_H1_OK || h.status >= 200 || h.status == 101) break;
                    u->rpos += h.head_len; /* an interim 1xx: skip it */
                    u->scan = (dw_h1_scan_t){0};
                }
                if (rc == DW_H1_ERROR) {
                    px->in_pump = false;
                    px->head_seen = false;
                    u->keepalive = false;
                    proxy_fail(c, 502, false);
                    return;
                }
                if (rc == DW_H1_INCOMPLETE) {
                    if (u->rlen == u->rcap) {
                        px->in_pump = false;
                        proxy_fail(c, 502, false);
                        return;
                    }
                    continue;
                }
                if (h.status == 101 && !c->upgrade) {
                    px->in_pump = false;
                    proxy_fail(c, 502, false);
                    return;
                }
                if (!on_response_head(c, &h)) {
                    return; /* handed to a generated response or failed */
                }
                u->rpos += h.head_len;
                u->state = U_BODY;
                if (px->tunnel) {
                    px->in_pump = false;
                    c->state = C_TUNNEL;
                    u->state = U_TUNNEL;
                    dw_timer_stop(u->timer);
                    dw_conn_timer_body_done(c);
                    tunnel_pump(c);
                    return;
                }
            }
            continue;
        }
        if (n == 0) {
            /* upstream closed */
            if (!px->head_queued) {
                px->in_pump = false;
                bool any = px->head_seen;
                px->head_seen = any && u->rlen > 0;
                proxy_fail(c, 502, false);
                return;
            }
            u->keepalive = false;
            if (u->bkind == DW_H1_BODY_CLOSE) {
                px->done = true;
                if (px->out_chunked) dw_buf_append(&c->wbuf, "0\r\n\r\n", 5);
                continue;
            }
            /* truncated body: abort the client, never complete it */
            px->in_pump = false;
            dw_conn_close(c);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            u->readable = false;
            break;
        }
        px->in_pump = false;
        if (!px->head_queued) {
            proxy_fail(c, 502, false);
            return;
        }
        dw_conn_close(c);
        return;
    }
    px->in_pump = false;
    proxy_interest(c);
}

void dw_proxy_client_readable(dw_conn_t *c)
{
    if (!c->px || !c->up) {
        dw_conn_update_interest(c);
        return;
    }
    ssize_t n = dw_conn_read_more(c);
    if (n == 0 || n == -1) {
        dw_conn_close(c);
        return;
    }
    proxy_pump(c);
}

void dw_proxy_client_drained(dw_conn_t *c)
{
    proxy_pump(c);
}

static void up_timer_cb(void *arg)
{
    dw_upconn_t *u = arg;
    dw_conn_t *c = u->c;
    if (!c) {
        idle_drop(u); /* idle for UP_IDLE_TIMEOUT_MS */
        return;
    }
    dw_proxy_t *px = c->px;
    if (u->state == U_CONNECTING) {
        proxy_fail(c, 502, true);
        return;
    }
    if (px && !px->head_queued) {
        px->head_seen = true; /* a timeout is not a stale pooled connection: no replay */
        proxy_fail(c, 504, false);
        return;
    }
    dw_conn_close(c);
}

static void up_on_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_upconn_t *u = arg;
    dw_conn_t *c = u->c;
    if (!c) {
        idle_drop(u); /* idle: the upstream closed it or sent something unexpected */
        return;
    }
    if (u->state == U_TUNNEL) {
        tunnel_pump(c);
        return;
    }
    if (events & DW_IO_READ) u->readable = true;
    if (u->state == U_CONNECTING) {
        if (!(events & DW_IO_WRITE)) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(u->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            proxy_fail(c, 502, true);
            return;
        }
        u->state = U_SENDING;
        if (c->ex->log_on) c->ex->up_start_us = dw_pipeline_now_us();
        dw_timer_start(u->timer,
                       c->px->cfg->response_timeout_ms ? c->px->cfg->response_timeout_ms : 30000);
    }
    proxy_pump(c);
}

/* --- tunnels (WebSocket and other upgrades) -------------------------------------------------- */

bool dw_tunnel_wants_client_read(const dw_conn_t *c)
{
    const dw_upconn_t *u = c->up;
    return u && c->px && !c->px->t_client_eof && u->wbuf.len - u->woff < UP_PENDING_MAX;
}

void dw_tunnel_drained(dw_conn_t *c)
{
    tunnel_pump(c);
}

void dw_tunnel_client_io(dw_conn_t *c, int events)
{
    (void)events;
    tunnel_pump(c);
}

/* One read from fd into dst: 1 = progress (bytes or EOF), 0 = nothing yet, -1 = error. */
static int tunnel_move(int fd, char *tmp, dw_buf_t *dst, bool *eof)
{
    ssize_t n = recv(fd, tmp, 65536, 0);
    if (n > 0) {
        dw_buf_append(dst, tmp, (size_t)n);
        return 1;
    }
    if (n == 0) {
        *eof = true;
        return 1;
    }
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
}

static void tunnel_pump(dw_conn_t *c)
{
    dw_proxy_t *px = c->px;
    dw_upconn_t *u = c->up;
    if (!px || !u || px->in_pump) return;
    px->in_pump = true;
    /* bytes that arrived with the heads */
    if (c->rpos < c->rlen) {
        dw_buf_append(&u->wbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
        c->rpos = c->rlen = c->body_base;
    }
    if (u->rpos < u->rlen) {
        dw_buf_append(&c->wbuf, u->rbuf + u->rpos, u->rlen - u->rpos);
        u->rpos = u->rlen = 0;
    }
    char *tmp = c->w->scratch;
    for (int progress = 1; progress;) {
        progress = 0;
        int cw = dw_conn_write_pending(c);
        int uw = up_write_pending(u);
        if (cw < 0 || uw < 0) goto done;
        if (!px->t_client_eof && u->wbuf.len - u->woff < UP_PENDING_MAX) {
            int rc = tunnel_move(c->fd, tmp, &u->wbuf, &px->t_client_eof);
            if (rc < 0) goto done;
            progress |= rc;
        }
        if (!px->t_up_eof && c->wbuf.len - c->woff < UP_PENDING_MAX) {
            int rc = tunnel_move(u->fd, tmp, &c->wbuf, &px->t_up_eof);
            if (rc < 0) goto done;
            progress |= rc;
        }
    }
    if ((px->t_client_eof || px->t_up_eof) && u->wbuf.len == u->woff && c->wbuf.len == c->woff) {
        /* one side ended and everything was delivered: end both */
        goto done;
    }
    px->in_pump = false;
    dw_io_want(u->io, !px->t_up_eof && c->wbuf.len - c->woff<UP_PENDING_MAX, u->wbuf.len> u->woff);
    dw_io_want(c->io, dw_tunnel_wants_client_read(c), c->wbuf.len > c->woff);
    return;
done:
    px->in_pump = false;
    dw_conn_close(c);
}
