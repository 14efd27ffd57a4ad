/* reverse_proxy over HTTP/1.1 (spec 10 §6.1, spec 20 §3.3-3.4, spec 40 "Forwarding"):
 * backend choice, per-worker keep-alive pools, request re-framing, response streaming with
 * backpressure, retries, replays, 502/504, intercept, and Upgrade tunnels. */
#include "proxy_common.h"
#include "upstream.h"
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/core/status.h>
#include <dwaar/tls/tls.h>
#include <openssl/err.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

extern char **environ;

/* The upstream read buffer starts small (most responses fit: 1000 in-flight exchanges at
 * 32 KiB each were most of the proxy's memory), grows to UP_RBUF once a body fills it, and up
 * to the head limit for a large head. */
#define UP_RBUF_MIN        8192u
#define UP_RBUF            32768u
#define UP_PENDING_MAX     65536u
#define UP_IO_TIMEOUT_MS   30000u
#define UP_IDLE_TIMEOUT_MS 60000u
/* Idle connections kept per backend per worker. They hold no buffers, only a socket, and the
 * pool must absorb the concurrency HTTP/2 clients multiplex (100 connections x 10 streams
 * each need 1000 upstream connections at once; a cap of 64 made 40% of those requests
 * connect anew). They close after UP_IDLE_TIMEOUT_MS. */
#define UP_IDLE_MAX 1024u

enum { U_CONNECTING = 1, U_TLS, U_SENDING, U_HEAD, U_BODY, U_IDLE, U_TUNNEL };

/* Before the request can go out: TCP connect or TLS handshake in progress. */
static inline bool up_opening(const dw_upconn_t *u)
{
    return u->state == U_CONNECTING || u->state == U_TLS;
}

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
    bool borrowed;    /* the client side holds a pointer into the upstream read buffer */
    bool broken;      /* the upstream body was malformed: end the client's without completing */
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
static void proxy_connect(dw_down_t *d);
static void proxy_pump(dw_down_t *d);
static void proxy_fail(dw_down_t *d, uint16_t status, bool connect_failure);
static void tunnel_pump(dw_conn_t *c);

/* The client side cannot take more now: it borrowed upstream bytes not yet written, or its
 * queue is at the bound. */
static bool down_busy(const dw_down_t *d)
{
    size_t pending = d->ops->out_pending(d);
    return d->px->borrowed ? pending > 0 : pending >= UP_PENDING_MAX;
}

/* --- upstream connections -------------------------------------------------------------------- */

static dw_upconn_t *upconn_new(dw_worker_t *w, int fd, const char *key)
{
    dw_upconn_t *u = calloc(1, sizeof *u);
    if (!u) return NULL;
    u->w = w;
    u->tp.fd = fd;
    snprintf(u->key, sizeof u->key, "%s", key);
    u->rbuf = malloc(UP_RBUF_MIN);
    u->rcap = UP_RBUF_MIN;
    u->tp.io = dw_io_new(w->loop, fd, up_on_io, u);
    u->timer = dw_timer_new(w->loop, up_timer_cb, u);
    dw_buf_init(&u->wbuf, 0);
    if (!u->rbuf || !u->tp.io || !u->timer) {
        free(u->rbuf);
        dw_io_free(u->tp.io);
        if (u->timer) dw_timer_free(u->timer);
        free(u);
        return NULL;
    }
    return u;
}

static void upconn_free(dw_upconn_t *u)
{
    dw_io_free(u->tp.io);
    u->tp.io = NULL;
    dw_timer_free(u->timer);
    dw_tport_close(&u->tp);
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
    u->d = NULL;
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
    dw_io_want(u->tp.io, true, false); /* notice the upstream closing it */
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
static void proxy_release_upstream(dw_down_t *d, bool reusable)
{
    dw_upconn_t *u = d->up;
    if (!u) return;
    d->up = NULL;
    u->d = NULL;
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

void dw_proxy_abort_upstream(dw_down_t *d)
{
    if (d->h2s) {
        dw_proxy_h2_abort(d);
        return;
    }
    dw_proxy_t *px = d->px;
    proxy_release_upstream(d, false);
    if (px) {
        proxy_release_backend(px);
        if (px->retry_timer) {
            dw_timer_free(px->retry_timer);
            px->retry_timer = NULL;
        }
        d->px = NULL;
    }
}

/* --- the upstream request -------------------------------------------------------------------- */

static void append_content_length(dw_buf_t *b, uint64_t n)
{
    dw_buf_append_c(b, "Content-Length: ");
    dw_buf_append_u64(b, n);
    dw_buf_append(b, "\r\n", 2);
}

static void chunk_sink(dw_down_t *d, const char *p, size_t n)
{
    if (!n) return;
    dw_buf_append_hex(&d->up->wbuf, n);
    dw_buf_append(&d->up->wbuf, "\r\n", 2);
    dw_buf_append(&d->up->wbuf, p, n);
    dw_buf_append(&d->up->wbuf, "\r\n", 2);
}

static void raw_sink(dw_down_t *d, const char *p, size_t n)
{
    dw_buf_append(&d->up->wbuf, p, n);
}

/* Pulls request body bytes already read into the upstream output (bounded). */
static int pull_request_body(dw_down_t *d)
{
    bool was_done = d->bdone;
    if (d->ops->body_pull(d, d->bkind == DW_DOWN_BODY_STREAM ? chunk_sink : raw_sink) < 0)
        return -1;
    dw_exchange_t *ex = d->ex;
    if (ex->request_body_max && d->bread > ex->request_body_max) return -2;
    if (!was_done && d->bdone) {
        if (d->bkind == DW_DOWN_BODY_STREAM) dw_buf_append(&d->up->wbuf, "0\r\n\r\n", 5);
        d->ops->body_done(d);
    }
    return 0;
}

static void build_request_head(dw_down_t *d, dw_backend_t *be)
{
    dw_exchange_t *ex = d->ex;
    dw_req_t *r = &ex->req;
    dw_proxy_t *px = d->px;
    dw_arena_t *a = r->arena;
    dw_fields_t f = {0};
    f.cap = r->headers.n + 8;
    f.v = dw_arena_alloc(a, sizeof *f.v * f.cap);
    dw_str_t conn_tokens = dw_proxy_connection_tokens(r, a);
    bool has_host = false;
    for (size_t i = 0; f.v && i < r->headers.n; i++) {
        const dw_field_t *h = &r->headers.v[i];
        if (dw_proxy_skip_request_field(h->name, conn_tokens, d->upgrade)) continue;
        if (dw_str_caseeq_c(h->name, "Host")) has_host = true;
        f.v[f.n++] = *h;
    }
    if (!has_host) {
        char *hp = dw_arena_sprintf(a, "%.*s:%u", DW_STR_FMT(be->host), be->port);
        dw_fields_add(a, &f, DW_STR("Host"), dw_str_c(hp));
    }
    dw_proxy_add_forwarded(r, a, &f);
    if (d->upgrade) dw_fields_add(a, &f, DW_STR("Connection"), DW_STR("upgrade"));
    r->upstream_host = be->host;
    r->upstream_port = be->port;
    if (px->cfg->header_up.n) dw_hdr_ops_apply(r, &f, &px->cfg->header_up);

    dw_buf_t *b = &d->up->wbuf;
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
    dw_h1_append_fields(b, &f);
    if (d->bkind == DW_DOWN_BODY_LENGTH)
        append_content_length(b, d->blen);
    else if (d->bkind == DW_DOWN_BODY_STREAM)
        dw_buf_append_c(b, "Transfer-Encoding: chunked\r\n");
    dw_buf_append(b, "\r\n", 2);
}

/* --- connecting ------------------------------------------------------------------------------ */

static void retry_timer_cb(void *arg)
{
    dw_down_t *d = arg;
    proxy_connect(d);
}

/* Chooses a backend and starts the exchange on a pooled or new connection. */
static void proxy_connect(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
    dw_req_t *r = &d->ex->req;
    bool set_cookie = false;
    px->be = dw_pool_pick(px->pool, r, px->failed, &set_cookie);
    px->set_cookie = px->set_cookie || set_cookie;
    if (!px->be) {
        proxy_fail(d, 502, false);
        return;
    }
    dw_backend_t *be = px->be;
    if (!be->resolved) {
        proxy_fail(d, 502, true);
        return;
    }
    d->ex->upstream_addr = be->key;
    d->ex->up_start_us = 0;
    /* TLS connections are pooled apart: same address, but a session with a verified name */
    char ckey[320];
    if (px->pool->tls)
        snprintf(ckey, sizeof ckey, "tls:%.*s@%.128s", DW_STR_FMT(dw_pool_tls_name(px->pool, be)),
                 be->key);
    else
        snprintf(ckey, sizeof ckey, "%s", be->key);
    dw_upconn_t *u = px->fresh_replayed ? NULL : idle_take(d->w, ckey);
    if (!u) {
        int fd = dw_proxy_open_socket(be);
        if (fd == -1) {
            proxy_fail(d, 502, false);
            return;
        }
        if (fd == -2) {
            proxy_fail(d, 502, true);
            return;
        }
        u = upconn_new(d->w, fd, ckey);
        if (!u) {
            close(fd);
            proxy_fail(d, 502, false);
            return;
        }
        u->state = U_CONNECTING;
        if (px->pool->tls) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", DW_STR_FMT(dw_pool_tls_name(px->pool, be)));
            u->tp.ssl = dw_tls_client_ssl(px->pool->tls, fd, name);
            if (!u->tp.ssl) {
                upconn_free(u);
                proxy_fail(d, 502, false);
                return;
            }
        }
        u->reused = false;
    } else {
        u->state = U_SENDING;
        u->reused = true;
        if (!u->rbuf) {
            u->rbuf = malloc(UP_RBUF_MIN);
            if (!u->rbuf) {
                upconn_free(u);
                proxy_fail(d, 502, false);
                return;
            }
            u->rcap = UP_RBUF_MIN;
        }
    }
    u->d = d;
    d->up = u;
    px->req_sent = px->head_seen = false; /* per attempt */
    u->readable = false;
    dw_buf_reset(&u->wbuf);
    u->woff = 0;
    u->rlen = u->rpos = 0;
    u->scan = (dw_h1_scan_t){0};
    if (px->req_bytes.len) {
        dw_buf_append_str(&u->wbuf, px->req_bytes);
    } else {
        build_request_head(d, be);
        int rc = pull_request_body(d);
        if (rc == -2) {
            proxy_release_upstream(d, false);
            proxy_release_backend(px);
            d->want_close = true;
            dw_pipeline_error(d->ex, 413, DW_STR_NULL);
            d->ops->send_generated(d);
            return;
        }
        if (rc < 0) {
            dw_proxy_abort_upstream(d);
            d->ops->send_error(d, 400);
            return;
        }
        if (d->bdone) {
            /* the whole request is in hand: keep it for a replay or a retry */
            px->req_bytes = dw_arena_str_dup(d->ex->req.arena, dw_buf_str(&u->wbuf));
            px->replayable = true;
        }
    }
    if (u->wbuf.failed) {
        proxy_fail(d, 502, false);
        return;
    }
    if (u->state == U_CONNECTING) {
        dw_io_want(u->tp.io, false, true);
        uint64_t dial = px->cfg->dial_timeout_ms ? px->cfg->dial_timeout_ms : 10000;
        if (px->cfg->has_scale_to_zero && dial > 500) dial = 500; /* the wake probe */
        dw_timer_start(u->timer, dial);
    } else {
        if (d->ex->log_on) d->ex->up_start_us = dw_pipeline_now_us();
        dw_timer_start(u->timer,
                       px->cfg->response_timeout_ms ? px->cfg->response_timeout_ms : 30000);
        proxy_pump(d);
    }
}

void dw_proxy_start(dw_down_t *d)
{
    dw_exchange_t *ex = d->ex;
    if (dw_proxy_h2_wanted(ex)) {
        dw_proxy_h2_start(d);
        return;
    }
    dw_proxy_t *px = dw_arena_zalloc(&ex->arena, sizeof *px);
    if (!px) {
        d->ops->abort(d);
        return;
    }
    px->pool = ex->proxy_dir->pool;
    px->cfg = px->pool->cfg;
    px->start_ms = dw_time_mono_ms();
    d->px = px;
    if (d->expect && d->ops->send_continue(d) < 0) return; /* the client is gone */
    proxy_connect(d);
}

/* scale_to_zero (spec 10 §6.1): a backend that refuses is woken by running wake_command once
 * per pool (no shell; argv[0] must be absolute), then polled until it accepts or wake_timeout
 * passes. Returns true when the request keeps waiting (a poll is scheduled). */
static bool scale_to_zero_wait(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
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
    if (!px->retry_timer) px->retry_timer = dw_timer_new(d->w->loop, retry_timer_cb, d);
    if (!px->retry_timer) return false;
    dw_timer_start(px->retry_timer, delay);
    return true;
}

/* An error before any response byte reached the client: retry, replay, or error response. */
static void proxy_fail(dw_down_t *d, uint16_t status, bool connect_failure)
{
    dw_proxy_t *px = d->px;
    dw_upconn_t *u = d->up;
    bool was_reused = u && u->reused;
    bool got_bytes = px->head_seen;
    if (connect_failure && px->cfg->has_scale_to_zero && px->be) {
        proxy_release_upstream(d, false);
        proxy_release_backend(px);
        if (scale_to_zero_wait(d)) return;
        status = 504; /* any wake failure (decision: source) */
        connect_failure = false;
    }
    proxy_release_upstream(d, false);
    if (px->be && connect_failure) dw_backend_failed(px->pool, px->be);
    dw_backend_t *failed_be = px->be;
    proxy_release_backend(px);
    if (px->head_queued) {
        d->ops->abort(d); /* the response started: abort */
        return;
    }
    /* A pooled connection the upstream had closed: replay once on a new connection. */
    if (was_reused && !got_bytes && px->replayable && !px->fresh_replayed && status == 502) {
        px->fresh_replayed = true;
        proxy_connect(d);
        return;
    }
    dw_req_t *r = &d->ex->req;
    const dw_cfg_proxy_t *cfg = px->cfg;
    uint64_t try_ms = cfg->lb_try_duration_ms ? cfg->lb_try_duration_ms : 30000;
    if (status == 502 && failed_be && !got_bytes && cfg->lb_retries > px->retries &&
        dw_proxy_method_retryable(r->method) && px->replayable &&
        dw_time_mono_ms() - px->start_ms < try_ms) {
        px->retries++;
        px->failed = failed_be;
        px->fresh_replayed = false;
        uint64_t backoff = dw_proxy_retry_backoff_ms(px->retries);
        if (!px->retry_timer) px->retry_timer = dw_timer_new(d->w->loop, retry_timer_cb, d);
        if (px->retry_timer) {
            dw_timer_start(px->retry_timer, backoff);
            return;
        }
    }
    if (px->retry_timer) {
        dw_timer_free(px->retry_timer);
        px->retry_timer = NULL;
    }
    d->px = NULL;
    dw_proxy_answer_error(d, status);
}

/* --- the response ---------------------------------------------------------------------------- */

/* The upstream head arrived. Returns false when the exchange was handed elsewhere. */
static bool on_response_head(dw_down_t *d, const dw_h1_head_t *h)
{
    dw_proxy_t *px = d->px;
    dw_upconn_t *u = d->up;
    dw_exchange_t *ex = d->ex;
    dw_req_t *r = &ex->req;
    dw_arena_t *a = r->arena;
    dw_proxy_note_head_time(ex);

    /* intercept: a listed upstream status is replaced by the directive's answer */
    const dw_cfg_intercept_t *ic = dw_proxy_intercept_for(ex, h->status);
    if (ic) {
        proxy_release_upstream(d, false);
        proxy_release_backend(px);
        d->px = NULL;
        if (!d->bdone) d->want_close = true;
        dw_proxy_intercept_respond(ex, ic, h->status);
        d->ops->send_generated(d);
        return false;
    }
    if (ex->response_body_max && h->body == DW_H1_BODY_LENGTH &&
        h->content_length > ex->response_body_max) {
        proxy_fail(d, 502, false);
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
        proxy_fail(d, 502, false);
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
        if (!dw_proxy_copy_header_allowed(ex->copy_headers, n)) continue;
        /* views into the upstream buffer: the head is serialised below, before it is reused */
        f.v[f.n++] = (dw_field_t){n, h->fields[i].value};
    }
    if (px->set_cookie && px->be) dw_proxy_add_sticky_cookie(a, &f, px->be);
    dw_pipeline_finish_headers(ex, &f, px->cfg->header_down.n ? &px->cfg->header_down : NULL);

    ex->sent_status = h->status;
    ex->bytes_sent = 0;
    if (tunnel) {
        px->tunnel = true;
        px->head_queued = true;
        return d->ops->resp_head(d, 101, &f, -1, false) == 0 || (proxy_fail(d, 502, false), false);
    }
    int64_t length = -1;
    bool has_body = u->bkind != DW_H1_BODY_NONE;
    if (u->bkind == DW_H1_BODY_LENGTH)
        length = (int64_t)u->bleft;
    else if (u->bkind == DW_H1_BODY_NONE && (!no_body || head_req)) {
        if (h->body == DW_H1_BODY_LENGTH)
            length = (int64_t)h->content_length;
        else if (!head_req)
            length = 0;
    }
    if (d->ops->resp_head(d, h->status, &f, length, has_body) < 0) {
        proxy_fail(d, 502, false);
        return false;
    }
    px->head_queued = true;
    if (u->bkind == DW_H1_BODY_NONE) px->done = true;
    return true;
}

/* Ends the exchange once the response is complete and written. */
static void proxy_finish(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
    dw_upconn_t *u = d->up;
    bool reusable = u && u->keepalive && px->req_sent && u->rpos == u->rlen;
    proxy_release_upstream(d, reusable);
    proxy_release_backend(px);
    if (px->retry_timer) dw_timer_free(px->retry_timer);
    d->px = NULL;
    if (px->broken)
        d->ops->abort(d);
    else
        d->ops->done(d);
}

/* Moves response body bytes from the upstream buffer to the client output. Returns false when
 * the connection was closed (the caller must not touch c again). */
static bool queue_body(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
    dw_upconn_t *u = d->up;
    while (!px->done && u->rpos < u->rlen && !down_busy(d)) {
        const char *p = u->rbuf + u->rpos;
        size_t avail = u->rlen - u->rpos;
        dw_str_t data = DW_STR_NULL;
        if (u->bkind == DW_H1_BODY_CHUNKED) {
            size_t used = 0;
            dw_h1_chunk_rc_t rc =
                dw_h1_chunked_decode(&u->chunk, &d->w->cur->snap->limits, p, avail, &used, &data);
            u->rpos += used;
            if (rc == DW_H1_CHUNK_ERROR) {
                px->done = true;
                u->keepalive = false;
                d->want_close = true;
                px->broken = true; /* never complete a broken body */
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
            d->ex->bytes_sent = px->resp_bytes;
            if (d->ex->response_body_max && px->resp_bytes > d->ex->response_body_max) {
                /* over response_body_limit after the head went out: abort, never truncate
                 * silently into a complete-looking body */
                px->in_pump = false;
                d->ops->abort(d);
                return false;
            }
            if (d->ops->resp_data(d, data.ptr, data.len)) px->borrowed = true;
        }
        if (px->done) d->ops->resp_end(d, NULL);
    }
    if (u->rpos == u->rlen && !px->borrowed) u->rpos = u->rlen = 0;
    return true;
}

static int up_write_pending(dw_upconn_t *u)
{
    while (u->wbuf.len > u->woff) {
        struct iovec iov = {u->wbuf.data + u->woff, u->wbuf.len - u->woff};
        ssize_t n = dw_tport_writev(&u->tp, &iov, 1);
        if (n == DW_TPORT_AGAIN) return 0;
        if (n < 0) return -1;
        u->woff += (size_t)n;
    }
    u->woff = 0;
    dw_buf_reset(&u->wbuf);
    return 1;
}

/* Sets socket interest for both sides from the exchange state. */
static void proxy_interest(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
    dw_upconn_t *u = d->up;
    if (!px) return;
    if (u) {
        if (u->state == U_TLS) goto client; /* the handshake sets its own interest */
        bool up_write = u->state == U_CONNECTING || u->wbuf.len > u->woff;
        bool up_read = u->state != U_CONNECTING && !px->done && !down_busy(d) && u->rlen < u->rcap;
        dw_io_want(u->tp.io, up_read, up_write);
    }
client:
    d->ops->update_interest(d);
}

bool dw_proxy_wants_client_read(const dw_down_t *d)
{
    if (d->h2s) return dw_proxy_h2_wants_client_read(d);
    const dw_proxy_t *px = d->px;
    const dw_upconn_t *u = d->up;
    if (!px || !u || d->bdone || up_opening(u)) return false;
    return u->wbuf.len - u->woff < UP_PENDING_MAX;
}

/* Drives the exchange as far as the sockets allow. Iterative: never recurses through the
 * write callbacks (a 1 GB body would otherwise nest calls). */
static void proxy_pump(dw_down_t *d)
{
    dw_proxy_t *px = d->px;
    if (!px || px->in_pump) return;
    px->in_pump = true;
    for (;;) {
        dw_upconn_t *u = d->up;
        if (!u) break;
        /* 1. request bytes to the upstream */
        if (!up_opening(u) && !px->req_sent) {
            if (!d->bdone && u->wbuf.len - u->woff < UP_PENDING_MAX) {
                int rc = pull_request_body(d);
                if (rc < 0) {
                    px->in_pump = false;
                    if (rc == -2 && !px->head_queued) {
                        proxy_release_upstream(d, false);
                        proxy_release_backend(px);
                        d->px = NULL;
                        d->want_close = true;
                        dw_pipeline_error(d->ex, 413, DW_STR_NULL);
                        d->ops->send_generated(d);
                        return;
                    }
                    d->ops->abort(d);
                    return;
                }
            }
            int wr = up_write_pending(u);
            if (wr < 0) {
                px->in_pump = false;
                proxy_fail(d, 502, false);
                return;
            }
            if (wr == 1 && d->bdone) {
                px->req_sent = true;
                if (u->state == U_SENDING) u->state = U_HEAD;
            }
            if (wr == 1 && !d->bdone) {
                ssize_t n = d->ops->body_read(d);
                if (n > 0) continue;
                if (n == 0 || n == -1) {
                    /* the client went away mid-body: never complete the request */
                    px->in_pump = false;
                    d->ops->abort(d);
                    return;
                }
            }
        }
        /* 2. response bytes from the upstream */
        if (up_opening(u)) break;
        if (px->tunnel) break;
        if (px->head_queued && !px->done && !queue_body(d)) return; /* c is gone */
        int cw = d->ops->flush(d);
        if (cw < 0) {
            px->in_pump = false;
            d->ops->abort(d);
            return;
        }
        if (cw == 1) px->borrowed = false;
        if (px->done && cw == 1) {
            px->in_pump = false;
            proxy_finish(d);
            return;
        }
        if (cw == 0 || px->borrowed) break; /* client is slow: wait for it */
        if (px->head_queued && u->rpos < u->rlen) continue;
        if (!u->readable) break;
        if (u->rlen == u->rcap) {
            u->rlen = u->rpos = 0;
            if (u->rcap < UP_RBUF) {
                /* the body fills the buffer: a larger one costs fewer reads (nothing points
                 * into it now: the client took every byte) */
                char *nb = malloc(UP_RBUF);
                if (nb) free(u->rbuf), u->rbuf = nb, u->rcap = UP_RBUF;
            }
        }
        ssize_t n = dw_tport_recv(&u->tp, u->rbuf + u->rlen, u->rcap - u->rlen);
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
                                              &d->w->cur->snap->limits, &u->scan, fields, &h);
                    if (rc != DW_H1_OK || h.status >= 200 || h.status == 101) break;
                    u->rpos += h.head_len; /* an interim 1xx: skip it */
                    u->scan = (dw_h1_scan_t){0};
                }
                if (rc == DW_H1_ERROR) {
                    px->in_pump = false;
                    px->head_seen = false;
                    u->keepalive = false;
                    proxy_fail(d, 502, false);
                    return;
                }
                if (rc == DW_H1_INCOMPLETE) {
                    if (u->rlen == u->rcap) {
                        /* no view into the buffer exists yet: it may move */
                        size_t max = d->w->cur->snap->limits.max_head + UP_RBUF_MIN;
                        char *nb = u->rcap < max ? realloc(u->rbuf, u->rcap * 2) : NULL;
                        if (!nb) {
                            px->in_pump = false;
                            proxy_fail(d, 502, false);
                            return;
                        }
                        u->rbuf = nb, u->rcap *= 2;
                    }
                    continue;
                }
                if (h.status == 101 && !d->upgrade) {
                    px->in_pump = false;
                    proxy_fail(d, 502, false);
                    return;
                }
                if (!on_response_head(d, &h)) {
                    return; /* handed to a generated response or failed */
                }
                u->rpos += h.head_len;
                u->state = U_BODY;
                if (px->tunnel) {
                    px->in_pump = false;
                    dw_conn_t *c = dw_conn_of(d); /* only HTTP/1.1 clients upgrade */
                    c->state = C_TUNNEL;
                    u->state = U_TUNNEL;
                    dw_timer_stop(u->timer);
                    d->ops->body_done(d);
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
                proxy_fail(d, 502, false);
                return;
            }
            u->keepalive = false;
            if (u->bkind == DW_H1_BODY_CLOSE) {
                px->done = true;
                d->ops->resp_end(d, NULL);
                continue;
            }
            /* truncated body: abort the client, never complete it */
            px->in_pump = false;
            d->ops->abort(d);
            return;
        }
        if (n == DW_TPORT_AGAIN) {
            u->readable = false;
            break;
        }
        px->in_pump = false;
        if (!px->head_queued) {
            proxy_fail(d, 502, false);
            return;
        }
        d->ops->abort(d);
        return;
    }
    px->in_pump = false;
    proxy_interest(d);
}

void dw_proxy_client_readable(dw_down_t *d)
{
    if (d->h2s) {
        dw_proxy_h2_client_readable(d);
        return;
    }
    if (!d->px || !d->up) {
        d->ops->update_interest(d);
        return;
    }
    ssize_t n = d->ops->body_read(d);
    if (n == 0 || n == -1) {
        d->ops->abort(d);
        return;
    }
    proxy_pump(d);
}

void dw_proxy_client_drained(dw_down_t *d)
{
    if (d->h2s) {
        dw_proxy_h2_client_drained(d);
        return;
    }
    proxy_pump(d);
}

/* The connection can carry the request: the response timeout starts. */
static void up_ready(dw_down_t *d, dw_upconn_t *u)
{
    u->state = U_SENDING;
    if (d->ex->log_on) d->ex->up_start_us = dw_pipeline_now_us();
    dw_timer_start(u->timer,
                   d->px->cfg->response_timeout_ms ? d->px->cfg->response_timeout_ms : 30000);
}

/* Drives the upstream TLS handshake (verification is always on, spec 20 §1.11). Returns true
 * when it completed; false when it waits or failed (the exchange was handed to proxy_fail). */
static bool up_tls_handshake(dw_down_t *d, dw_upconn_t *u)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(u->tp.ssl);
    if (rc == 1) {
        up_ready(d, u);
        return true;
    }
    switch (SSL_get_error(u->tp.ssl, rc)) {
    case SSL_ERROR_WANT_READ: dw_io_want(u->tp.io, true, false); return false;
    case SSL_ERROR_WANT_WRITE: dw_io_want(u->tp.io, false, true); return false;
    default: {
        char why[200];
        long vr = SSL_get_verify_result(u->tp.ssl);
        if (vr != X509_V_OK)
            snprintf(why, sizeof why, "certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
        else
            dw_tls_error_string(why, sizeof why);
        DW_WARN("proxy", "TLS to upstream %s failed: %s", d->px->be ? d->px->be->label : "?", why);
        proxy_fail(d, 502, false);
        return false;
    }
    }
}

static void up_timer_cb(void *arg)
{
    dw_upconn_t *u = arg;
    dw_down_t *d = u->d;
    if (!d) {
        idle_drop(u); /* idle for UP_IDLE_TIMEOUT_MS */
        return;
    }
    dw_proxy_t *px = d->px;
    if (up_opening(u)) {
        proxy_fail(d, 502, true); /* dial_timeout covers the TLS handshake too */
        return;
    }
    if (px && !px->head_queued) {
        px->head_seen = true; /* a timeout is not a stale pooled connection: no replay */
        proxy_fail(d, 504, false);
        return;
    }
    d->ops->abort(d);
}

static void up_on_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_upconn_t *u = arg;
    dw_down_t *d = u->d;
    if (!d) {
        idle_drop(u); /* idle: the upstream closed it or sent something unexpected */
        return;
    }
    if (u->state == U_TUNNEL) {
        tunnel_pump(dw_conn_of(d));
        return;
    }
    if (events & DW_IO_READ) u->readable = true;
    if (u->state == U_CONNECTING) {
        if (!(events & DW_IO_WRITE)) return;
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(u->tp.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            proxy_fail(d, 502, true);
            return;
        }
        if (u->tp.ssl) {
            u->state = U_TLS;
        } else {
            up_ready(d, u);
        }
    }
    if (u->state == U_TLS && !up_tls_handshake(d, u)) return;
    proxy_pump(d);
}

/* --- tunnels (WebSocket and other upgrades) -------------------------------------------------- */

bool dw_tunnel_wants_client_read(const dw_conn_t *c)
{
    const dw_upconn_t *u = c->d.up;
    return u && c->d.px && !c->d.px->t_client_eof && u->wbuf.len - u->woff < UP_PENDING_MAX;
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

/* One read from t into dst: 1 = progress (bytes or EOF), 0 = nothing yet, -1 = error. */
static int tunnel_move(dw_tport_t *t, char *tmp, dw_buf_t *dst, bool *eof)
{
    ssize_t n = dw_tport_recv(t, tmp, 65536);
    if (n > 0) {
        dw_buf_append(dst, tmp, (size_t)n);
        return 1;
    }
    if (n == 0) {
        *eof = true;
        return 1;
    }
    return n == DW_TPORT_AGAIN ? 0 : -1;
}

static void tunnel_pump(dw_conn_t *c)
{
    dw_proxy_t *px = c->d.px;
    dw_upconn_t *u = c->d.up;
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
            int rc = tunnel_move(&c->tp, tmp, &u->wbuf, &px->t_client_eof);
            if (rc < 0) goto done;
            progress |= rc;
        }
        if (!px->t_up_eof && c->wbuf.len - c->woff < UP_PENDING_MAX) {
            int rc = tunnel_move(&u->tp, tmp, &c->wbuf, &px->t_up_eof);
            if (rc < 0) goto done;
            progress |= rc;
        }
    }
    if ((px->t_client_eof || px->t_up_eof) && u->wbuf.len == u->woff && c->wbuf.len == c->woff) {
        /* one side ended and everything was delivered: end both */
        goto done;
    }
    px->in_pump = false;
    dw_io_want(u->tp.io,
               !px->t_up_eof && c->wbuf.len - c->woff<UP_PENDING_MAX, u->wbuf.len> u->woff);
    dw_io_want(c->tp.io, dw_tunnel_wants_client_read(c), c->wbuf.len > c->woff);
    if (dw_tunnel_wants_client_read(c)) dw_tport_kick(&c->tp);
    return;
done:
    px->in_pump = false;
    dw_conn_close(c);
}
