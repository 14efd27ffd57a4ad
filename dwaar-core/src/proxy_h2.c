/* reverse_proxy to HTTP/2 upstreams (spec 20 §3.6 and §1.11, spec 10 §6.1 `transport h2|h2c`
 * and h2c:// upstreams, §6.2 grpc), for every downstream protocol (dw_down_t).
 *
 * Per worker and per backend (w->h2up: key -> h2list_t) at most two nghttp2 client
 * connections carry every stream to that backend. A connection is usable once the peer's first
 * SETTINGS arrived (connect + TLS + that = dial_timeout). Cold start is serialised: one connect
 * at a time per backend, streams that find no room wait in the backend's queue and are handed
 * out when a connection becomes ready or a stream closes. A second connection opens only when
 * every usable one is at the peer's MAX_CONCURRENT_STREAMS.
 *
 * Flow control is tied to both peers: request DATA is pulled from the client only when nghttp2
 * asks for it (the upstream granted window), and response DATA is consumed (window returned)
 * only once the client side has taken it and has less than 64 KiB queued.
 *
 * Re-entrancy: nghttp2 may not be re-entered from its callbacks, and the callbacks call the
 * front end, which may end the exchange, start the next one or abort others. So every entry
 * into a connection is bracketed by conn_enter/conn_leave; only the outermost leave writes,
 * hands waiting streams out, and frees a dead connection. A stream is heap memory owned here:
 * it lives while the front end (d) or nghttp2 (in_ng) still refers to it. */
#include "downstream.h"
#include "pool.h"
#include "proxy_common.h"
#include "transport.h"
#include "worker.h"
#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/base/parse.h>
#include <dwaar/base/time.h>
#include <dwaar/core/h1.h>
#include <dwaar/tls/tls.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define H2_MAX_CONNS       2u
#define H2_STREAM_WINDOW   (2u << 20)
#define H2_CONN_WINDOW     (4u << 20)
#define H2_LOCAL_STREAMS   250u
#define H2_IDLE_MS         60000u
#define H2_IO_TIMEOUT_MS   30000u
#define H2_OUT_LOW         65536u /* client output below this: take more, return window */
#define H2_WBUF_HIGH       65536u
#define H2_RBUF            16384u
#define H2_READS_PER_EVENT 8
#define H2_REPLAY_MAX      (1u << 20) /* request body kept for a replay, at most */
#define H2_MAX_HEADERS     262144u    /* response header list (RFC 9113 §6.5.2 size), at most */

typedef struct h2list h2list_t;
typedef struct h2conn h2conn_t;
typedef struct dw_h2up_stream h2s_t;

/* The connections of one backend key, and the streams waiting for one. */
struct h2list {
    h2conn_t *conns;
    h2s_t *wait_head, *wait_tail;
    bool dispatching;
    char key[];
};

enum { HC_CONNECTING = 1, HC_TLS, HC_SETTINGS, HC_READY };

struct h2conn {
    dw_worker_t *w;
    h2list_t *list;
    dw_snapshot_t *snap; /* TLS: held while the SSL uses the pool's client context */
    h2conn_t *next;      /* in list->conns */
    dw_tport_t tp;
    dw_timer_t *timer; /* dial timeout, then idle timeout */
    nghttp2_session *ng;
    uint8_t state;
    bool dead;
    bool draining;        /* GOAWAY received or sent: no new streams */
    bool connect_failure; /* died before it was usable (passive health) */
    bool tls_want_write;
    int busy;
    uint32_t nstreams; /* streams nghttp2 still knows (including detached ones) */
    h2s_t *streams;    /* every stream with in_ng */
    dw_buf_t wbuf;
    size_t woff;
};

enum { T_NONE = 0, T_RESP, T_READ, T_RETRY };

struct dw_h2up_stream {
    dw_down_t *d; /* NULL once the exchange let go (a zombie nghttp2 still knows) */
    dw_worker_t *w;
    dw_pool_t *pool;
    const dw_cfg_proxy_t *cfg;
    dw_backend_t *be;
    const dw_backend_t *failed;
    h2list_t *list; /* while waiting */
    h2conn_t *c;    /* while nghttp2 knows the stream (in_ng) */
    h2s_t *next, *prev;
    int32_t id;
    bool in_ng;
    bool waiting;
    bool tls;
    bool set_cookie;
    bool idempotent;
    bool keep_body;     /* every body byte stays in req (a replay is possible) */
    bool body_all;      /* the whole request body is in req */
    bool fresh_retried; /* the one retry on a fresh connection was used */
    bool head_seen;     /* a response HEADERS frame arrived */
    bool head_sent;     /* resp_head went to the client */
    bool req_ended;     /* END_STREAM went upstream (or will with the trailers) */
    bool ended;         /* the upstream response ended */
    bool end_sent;      /* resp_end went to the client */
    bool deferred;      /* the request body provider waits for client bytes */
    bool in_deliver, redo;
    bool is_grpc;
    uint8_t timer_kind;
    unsigned retries;
    uint16_t status;
    int64_t clen;
    uint64_t start_ms;
    uint64_t resp_bytes; /* received */
    uint64_t sent;       /* handed to the client */
    uint64_t handed;     /* response bytes handed to the client, window not yet returned */
    uint64_t unconsumed;
    dw_timer_t *timer;
    dw_buf_t req; /* request body bytes pulled from the client */
    size_t req_off;
    dw_buf_t pend;  /* response bytes not yet handed to the client */
    dw_buf_t lent;  /* handed over by pointer: untouched until the client output is empty */
    dw_fields_t hf; /* fields of the HEADERS frame being received */
    size_t hsize;   /* its header list size so far */
    dw_fields_t trailers;
    nghttp2_nv *nv;
    size_t nnv;
};

static void conn_enter(h2conn_t *c);
static void conn_leave(h2conn_t *c);
static void list_dispatch(h2list_t *l);
static void stream_dispatch(h2s_t *s);
static void stream_fail(h2s_t *s, uint16_t status, bool connect_failure);
static void deliver(h2s_t *s);

/* --- small helpers ----------------------------------------------------------------------- */

static bool cfg_tls(const dw_cfg_proxy_t *cfg)
{
    return cfg->transport.tls || (cfg->nupstreams && cfg->upstreams[0].scheme == DW_UPSTREAM_HTTPS);
}

static bool cfg_h2(const dw_cfg_proxy_t *cfg)
{
    return cfg->transport.h2 || cfg->transport.h2c ||
           (cfg->nupstreams && cfg->upstreams[0].scheme == DW_UPSTREAM_H2C);
}

static uint64_t dial_ms(const dw_cfg_proxy_t *cfg)
{
    return cfg->dial_timeout_ms ? cfg->dial_timeout_ms : 10000;
}

static uint64_t response_ms(const dw_cfg_proxy_t *cfg)
{
    return cfg->response_timeout_ms ? cfg->response_timeout_ms : 30000;
}

static void timer_set(h2s_t *s, uint8_t kind, uint64_t ms)
{
    s->timer_kind = kind;
    if (kind == T_NONE)
        dw_timer_stop(s->timer);
    else
        dw_timer_start(s->timer, ms);
}

/* --- the backend lists ------------------------------------------------------------------- */

static h2list_t *list_get(dw_worker_t *w, const char *key)
{
    h2list_t *l = dw_strmap_get(&w->h2up, dw_str_c(key));
    if (l) return l;
    size_t n = strlen(key);
    l = calloc(1, sizeof *l + n + 1);
    if (!l) return NULL;
    memcpy(l->key, key, n + 1);
    if (dw_strmap_put(&w->h2up, dw_str_make(l->key, n), l, NULL) != DW_OK) {
        free(l);
        return NULL;
    }
    return l;
}

static void wait_push(h2list_t *l, h2s_t *s)
{
    s->list = l;
    s->waiting = true;
    s->next = NULL;
    s->prev = l->wait_tail;
    if (l->wait_tail)
        l->wait_tail->next = s;
    else
        l->wait_head = s;
    l->wait_tail = s;
}

static void wait_remove(h2s_t *s)
{
    h2list_t *l = s->list;
    if (!s->waiting || !l) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        l->wait_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        l->wait_tail = s->prev;
    s->next = s->prev = NULL;
    s->waiting = false;
}

/* --- streams: lifetime -------------------------------------------------------------------- */

static void conn_link(h2conn_t *c, h2s_t *s)
{
    s->c = c;
    s->in_ng = true;
    s->prev = NULL;
    s->next = c->streams;
    if (c->streams) c->streams->prev = s;
    c->streams = s;
}

static void conn_unlink(h2s_t *s)
{
    h2conn_t *c = s->c;
    if (!c) return;
    if (s->prev)
        s->prev->next = s->next;
    else
        c->streams = s->next;
    if (s->next) s->next->prev = s->prev;
    s->next = s->prev = NULL;
    s->c = NULL;
    s->in_ng = false;
}

static void stream_free(h2s_t *s)
{
    if (s->timer) dw_timer_free(s->timer);
    dw_buf_deinit(&s->req);
    dw_buf_deinit(&s->pend);
    dw_buf_deinit(&s->lent);
    free(s);
}

static void release_backend(h2s_t *s)
{
    if (s->be) {
        dw_backend_release(s->be);
        s->be = NULL;
    }
}

/* The exchange lets go of the stream (it ends, fails or is aborted): the upstream stream is
 * reset when still open, the window it holds is returned, and the stream is freed unless
 * nghttp2 still refers to it. Callable from nghttp2 callbacks. */
static void stream_detach(h2s_t *s, uint32_t rst_code)
{
    dw_down_t *d = s->d;
    if (d) d->h2s = NULL;
    s->d = NULL;
    release_backend(s);
    wait_remove(s);
    if (s->timer) dw_timer_stop(s->timer);
    h2conn_t *c = s->c;
    if (!s->in_ng || !c) {
        stream_free(s);
        return;
    }
    if (c->dead) {
        nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
        conn_unlink(s);
        c->nstreams--;
        stream_free(s);
        return;
    }
    conn_enter(c);
    nghttp2_session_set_stream_user_data(c->ng, s->id, NULL);
    uint64_t back = s->unconsumed;
    s->unconsumed = s->handed = 0;
    if (back) nghttp2_session_consume_connection(c->ng, (size_t)back);
    if (!(s->ended && s->req_ended))
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, s->id, rst_code);
    dw_buf_deinit(&s->req);
    dw_buf_deinit(&s->pend);
    dw_buf_deinit(&s->lent);
    /* the zombie stays on c->streams until nghttp2 closes it */
    conn_leave(c);
}

/* nghttp2 no longer knows s (closed, or its HEADERS never went out). */
static void stream_ng_gone(h2s_t *s)
{
    h2conn_t *c = s->c;
    conn_unlink(s);
    if (c) {
        c->nstreams--;
        /* the connection window of bytes the client has not taken yet comes back now: the
         * stream is closed, and what it may still hold is bounded by its own window */
        if (s->unconsumed && !c->dead)
            nghttp2_session_consume_connection(c->ng, (size_t)s->unconsumed);
    }
    s->unconsumed = s->handed = 0;
    if (!s->d) stream_free(s);
}

/* --- ending the exchange ------------------------------------------------------------------ */

static void stream_abort_down(h2s_t *s, uint32_t rst_code)
{
    dw_down_t *d = s->d;
    stream_detach(s, rst_code);
    if (d) d->ops->abort(d);
}

static void stream_error(h2s_t *s, uint16_t status)
{
    dw_down_t *d = s->d;
    stream_detach(s, NGHTTP2_CANCEL);
    if (d) dw_proxy_answer_error(d, status);
}

/* The response is complete and flushed. */
static void stream_done(h2s_t *s)
{
    dw_down_t *d = s->d;
    if (!d->bdone) d->want_close = true; /* the rest of the request body is not read */
    stream_detach(s, NGHTTP2_NO_ERROR);
    d->ops->done(d);
}

static void retry_later(h2s_t *s, uint64_t ms)
{
    timer_set(s, T_RETRY, ms);
}

/* An error before the response head went to the client: another backend (lb_retries), or the
 * error response. A started response is aborted instead. */
static void stream_fail(h2s_t *s, uint16_t status, bool connect_failure)
{
    if (s->head_sent) {
        stream_abort_down(s, NGHTTP2_CANCEL);
        return;
    }
    if (s->be && connect_failure) dw_backend_failed(s->pool, s->be);
    const dw_backend_t *failed_be = s->be;
    release_backend(s);
    const dw_cfg_proxy_t *cfg = s->cfg;
    uint64_t try_ms = cfg->lb_try_duration_ms ? cfg->lb_try_duration_ms : 30000;
    if (status == 502 && failed_be && !s->head_seen && cfg->lb_retries > s->retries &&
        s->idempotent && s->keep_body && !s->req.failed && !s->in_ng &&
        dw_time_mono_ms() - s->start_ms < try_ms) {
        s->retries++;
        s->failed = failed_be;
        s->fresh_retried = false;
        s->req_off = 0;
        s->req_ended = false;
        s->deferred = false;
        s->id = 0;
        retry_later(s, dw_proxy_retry_backoff_ms(s->retries));
        return;
    }
    stream_error(s, status);
}

/* The connection under an active stream went away, or the upstream refused the stream before
 * processing it: one replay on a fresh connection for an idempotent, fully buffered request,
 * else 502 (abort once the response started). */
static void stream_lost(h2s_t *s, bool connect_failure)
{
    if (!s->head_sent && !s->head_seen && s->idempotent && s->keep_body && !s->req.failed &&
        !s->fresh_retried) {
        s->fresh_retried = true;
        s->req_off = 0;
        s->req_ended = false;
        s->deferred = false;
        s->id = 0;
        stream_dispatch(s);
        return;
    }
    stream_fail(s, 502, connect_failure);
}

/* --- connections ----------------------------------------------------------------------- */

static bool conn_usable(const h2conn_t *c)
{
    return !c->dead && !c->draining;
}

static bool conn_has_room(const h2conn_t *c)
{
    if (c->state != HC_READY || !conn_usable(c)) return false;
    uint32_t max =
        nghttp2_session_get_remote_settings(c->ng, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
    return c->nstreams < max;
}

static void conn_io(int fd, int events, void *arg);
static void conn_timer(void *arg);

static void conn_enter(h2conn_t *c)
{
    c->busy++;
}

static void conn_kill(h2conn_t *c, bool connect_failure)
{
    if (c->dead) return;
    c->dead = true;
    c->connect_failure = connect_failure && c->state != HC_READY;
}

/* Frees a dead connection: streams it carried are replayed or failed, streams that waited for
 * its connect fail too when it never became usable. */
static void conn_destroy(h2conn_t *c)
{
    h2list_t *l = c->list;
    c->busy = 1; /* nothing re-enters the session from here on */
    for (h2conn_t **pp = &l->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    bool cf = c->connect_failure;
    for (h2s_t *s; (s = c->streams);) {
        conn_unlink(s);
        c->nstreams--;
        s->unconsumed = s->handed = 0;
        if (!s->d) {
            stream_free(s);
            continue;
        }
        if (s->ended) continue; /* complete: its delivery goes on without the connection */
        stream_lost(s, cf);
    }
    if (c->ng) nghttp2_session_del(c->ng);
    dw_io_free(c->tp.io);
    c->tp.io = NULL;
    dw_tport_close(&c->tp);
    dw_timer_free(c->timer);
    dw_buf_deinit(&c->wbuf);
    if (c->snap) dw_snapshot_unref(c->snap);
    bool was_connecting = c->state != HC_READY;
    free(c);
    if (was_connecting && l->wait_head) {
        /* the waiters counted on this connect: they fail with it (each may retry elsewhere) */
        h2s_t *q = l->wait_head;
        l->wait_head = l->wait_tail = NULL;
        while (q) {
            h2s_t *s = q;
            q = q->next;
            s->next = s->prev = NULL;
            s->waiting = false;
            s->list = NULL;
            if (s->d) stream_fail(s, 502, cf);
        }
    }
    list_dispatch(l);
}

/* Writes what nghttp2 has to send. Only from the outermost conn_leave. */
static void conn_flush(h2conn_t *c)
{
    if (c->state < HC_SETTINGS) return;
    for (;;) {
        if (c->woff == c->wbuf.len) {
            dw_buf_reset(&c->wbuf);
            c->woff = 0;
            while (c->wbuf.len < H2_WBUF_HIGH) {
                const uint8_t *p;
                ssize_t n = nghttp2_session_mem_send(c->ng, &p);
                if (n < 0) {
                    conn_kill(c, false);
                    return;
                }
                if (n == 0) break;
                if (dw_buf_append(&c->wbuf, p, (size_t)n) != DW_OK) {
                    conn_kill(c, false);
                    return;
                }
            }
            if (c->wbuf.len == 0) return;
        }
        struct iovec iov = {c->wbuf.data + c->woff, c->wbuf.len - c->woff};
        ssize_t n = dw_tport_writev(&c->tp, &iov, 1);
        if (n == DW_TPORT_AGAIN) return;
        if (n < 0) {
            conn_kill(c, false);
            return;
        }
        c->woff += (size_t)n;
    }
}

static void conn_update(h2conn_t *c)
{
    bool wpend = c->woff < c->wbuf.len;
    if (c->state == HC_CONNECTING) {
        dw_io_want(c->tp.io, false, true);
        return;
    }
    if (c->state == HC_TLS) {
        dw_io_want(c->tp.io, !c->tls_want_write, c->tls_want_write);
        return;
    }
    dw_io_want(c->tp.io, true, wpend);
    dw_tport_kick(&c->tp);
    if (c->state != HC_READY) return;
    if (c->nstreams == 0) {
        if (c->draining || c->w->stopping) {
            if (!wpend) {
                conn_kill(c, false);
                c->busy = 1;
                conn_destroy(c);
            }
            return;
        }
        if (!dw_timer_pending(c->timer)) dw_timer_start(c->timer, H2_IDLE_MS);
    } else if (dw_timer_pending(c->timer)) {
        dw_timer_stop(c->timer);
    }
}

static void conn_leave(h2conn_t *c)
{
    if (--c->busy > 0) return;
    c->busy = 1;
    if (!c->dead && c->state == HC_READY) {
        if (!nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng))
            conn_kill(c, false);
        else if (c->list->wait_head && conn_has_room(c))
            list_dispatch(c->list);
    }
    if (!c->dead) conn_flush(c);
    if (c->dead) {
        conn_destroy(c);
        return;
    }
    c->busy = 0;
    conn_update(c);
}

/* --- nghttp2 callbacks -------------------------------------------------------------------- */

static h2s_t *find_stream(h2conn_t *c, int32_t id)
{
    for (h2s_t *s = c->streams; s; s = s->next)
        if (s->id == id) return s;
    return NULL;
}

static bool connection_specific(dw_str_t n)
{
    return dw_h1_is_hop_by_hop(n) || dw_str_caseeq_c(n, "host") ||
           dw_str_caseeq_c(n, "http2-settings");
}

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (s) s->hf.n = 0, s->hsize = 0;
    return 0;
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || !s->d || f->hd.type != NGHTTP2_HEADERS) return 0;
    dw_arena_t *a = s->d->ex->req.arena;
    dw_str_t n = dw_str_make((const char *)name, namelen);
    dw_str_t v = dw_str_make((const char *)value, valuelen);
    s->hsize += namelen + valuelen + 32;
    if (s->hsize > H2_MAX_HEADERS) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* → 502 */
    if (dw_str_eq_c(n, ":status")) {
        uint64_t st = 0;
        if (dw_parse_u64(v, &st) != DW_OK || st < 100 || st > 999)
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        s->status = (uint16_t)st;
        return 0;
    }
    if (namelen && name[0] == ':') return 0;
    if (!dw_fields_add(a, &s->hf, dw_arena_str_dup(a, n), dw_arena_str_dup(a, v)))
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

/* The final response head arrived: intercept, filter, hand it to the client. */
static void on_response_head(h2s_t *s, bool end_stream)
{
    dw_down_t *d = s->d;
    dw_exchange_t *ex = d->ex;
    dw_req_t *r = &ex->req;
    dw_arena_t *a = r->arena;
    dw_proxy_note_head_time(ex);
    const dw_cfg_intercept_t *ic = dw_proxy_intercept_for(ex, s->status);
    if (ic) {
        uint16_t st = s->status;
        stream_detach(s, NGHTTP2_CANCEL);
        if (!d->bdone) d->want_close = true;
        dw_proxy_intercept_respond(ex, ic, st);
        d->ops->send_generated(d);
        return;
    }
    int64_t clen = -1;
    dw_field_t *cl = dw_fields_get(&s->hf, DW_STR("content-length"));
    uint64_t v;
    if (cl && dw_parse_u64(cl->value, &v) == DW_OK && v <= INT64_MAX) clen = (int64_t)v;
    if (ex->response_body_max && clen > 0 && (uint64_t)clen > ex->response_body_max) {
        stream_fail(s, 502, false);
        return;
    }
    dw_fields_t f = {0};
    f.cap = s->hf.n + 12;
    f.v = dw_arena_alloc(a, sizeof *f.v * f.cap);
    if (!f.v) {
        stream_fail(s, 502, false);
        return;
    }
    for (size_t i = 0; i < s->hf.n; i++) {
        dw_str_t n = s->hf.v[i].name;
        if (connection_specific(n) || dw_str_caseeq_c(n, "content-length")) continue;
        if (!dw_proxy_copy_header_allowed(ex->copy_headers, n)) continue;
        f.v[f.n++] = s->hf.v[i];
    }
    if (s->set_cookie && s->be) dw_proxy_add_sticky_cookie(a, &f, s->be);
    dw_pipeline_finish_headers(ex, &f, s->cfg->header_down.n ? &s->cfg->header_down : NULL);
    bool head_req = dw_str_eq_c(r->method, "HEAD");
    bool no_body_status = s->status == 204 || s->status == 304;
    bool has_body = !head_req && !no_body_status && !end_stream;
    if (!has_body && !head_req) {
        if (no_body_status)
            clen = -1;
        else if (clen < 0 && !s->is_grpc)
            clen = 0;
    }
    s->clen = clen;
    ex->sent_status = s->status;
    ex->bytes_sent = 0;
    s->head_sent = true;
    s->hf = (dw_fields_t){0};
    timer_set(s, T_READ, H2_IO_TIMEOUT_MS);
    if (d->ops->resp_head(d, s->status, &f, clen, has_body) < 0) {
        stream_abort_down(s, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    if (end_stream) {
        s->ended = true;
        timer_set(s, T_NONE, 0);
        deliver(s);
    }
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    h2conn_t *c = user;
    switch (f->hd.type) {
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK) && c->state == HC_SETTINGS) {
            c->state = HC_READY;
            dw_timer_stop(c->timer);
        }
        return 0;
    case NGHTTP2_GOAWAY:
        /* streams above last_stream_id are closed by nghttp2 with REFUSED_STREAM */
        c->draining = true;
        return 0;
    case NGHTTP2_HEADERS: break;
    case NGHTTP2_DATA: break;
    default: return 0;
    }
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!s || !s->d) return 0;
    bool end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS) {
        if (!s->head_sent) {
            s->head_seen = true;
            if (s->status < 200) {
                s->hf.n = 0; /* an interim 1xx (101 is not valid in HTTP/2) */
                if (!end) return 0;
                stream_fail(s, 502, false);
                return 0;
            }
            on_response_head(s, end);
            return 0;
        }
        /* trailers */
        dw_arena_t *a = s->d->ex->req.arena;
        dw_fields_t t = {0};
        for (size_t i = 0; i < s->hf.n; i++) {
            if (connection_specific(s->hf.v[i].name)) continue;
            dw_fields_add(a, &t, s->hf.v[i].name, s->hf.v[i].value);
        }
        s->trailers = t;
        s->hf.n = 0;
    }
    if (end) {
        s->ended = true;
        timer_set(s, T_NONE, 0);
        deliver(s);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || !s->d || !s->head_sent) {
        nghttp2_session_consume(ng, id, len);
        return 0;
    }
    s->unconsumed += len;
    s->resp_bytes += len;
    dw_exchange_t *ex = s->d->ex;
    if (ex->response_body_max && s->resp_bytes > ex->response_body_max) {
        /* over response_body_limit after the head went out: abort, never truncate into a
         * complete-looking body */
        stream_abort_down(s, NGHTTP2_CANCEL);
        return 0;
    }
    if (dw_buf_append(&s->pend, data, len) != DW_OK) {
        stream_abort_down(s, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    timer_set(s, T_READ, H2_IO_TIMEOUT_MS);
    deliver(s);
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error_code, void *user)
{
    h2conn_t *c = user;
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s) s = find_stream(c, id);
    if (!s || !s->in_ng || s->c != c) return 0;
    if (!s->d) {
        stream_ng_gone(s); /* frees the zombie */
        return 0;
    }
    stream_ng_gone(s);
    if (s->ended) return 0;
    if (error_code == NGHTTP2_REFUSED_STREAM) {
        /* not processed (GOAWAY below it, or refused): safe to replay */
        stream_lost(s, false);
        return 0;
    }
    stream_fail(s, 502, false);
    return 0;
}

static int on_frame_not_send(nghttp2_session *ng, const nghttp2_frame *f, int lib_error, void *user)
{
    h2conn_t *c = user;
    if (f->hd.type != NGHTTP2_HEADERS) return 0;
    if (nghttp2_session_find_stream(ng, f->hd.stream_id)) return 0; /* on_stream_close follows */
    h2s_t *s = find_stream(c, f->hd.stream_id);
    if (!s || !s->in_ng) return 0;
    bool attached = s->d != NULL;
    stream_ng_gone(s); /* frees a zombie */
    if (attached) stream_lost(s, false);
    return 0;
}

static void req_sink(dw_down_t *d, const char *p, size_t n)
{
    h2s_t *s = d->h2s;
    if (!s || !n) return;
    dw_buf_append(&s->req, p, n);
    if (s->keep_body && s->req.len > H2_REPLAY_MAX) s->keep_body = false;
}

/* Takes body bytes the client side already has. 0, -1 framing error (400), -2 over
 * request_body (413). */
static int pull_body(h2s_t *s)
{
    dw_down_t *d = s->d;
    if (s->body_all) return 0;
    if (!s->keep_body && s->req_off == s->req.len) {
        dw_buf_reset(&s->req);
        s->req_off = 0;
    }
    if (d->ops->body_pull(d, req_sink) < 0 || d->body_error) return -1;
    if (s->req.failed) return -1;
    dw_exchange_t *ex = d->ex;
    if (ex->request_body_max && d->bread > ex->request_body_max) return -2;
    if (d->bdone) s->body_all = true;
    return 0;
}

/* A request body problem found while nghttp2 asked for DATA. */
static void body_problem(h2s_t *s, int rc)
{
    dw_down_t *d = s->d;
    if (s->head_sent) {
        stream_abort_down(s, NGHTTP2_CANCEL);
        return;
    }
    stream_detach(s, NGHTTP2_CANCEL);
    if (rc == -2) {
        d->want_close = true;
        dw_proxy_answer_error(d, 413);
        return;
    }
    if (rc == -1) {
        d->ops->send_error(d, 400);
        return;
    }
    d->ops->abort(d); /* the client went away mid-body */
}

static ssize_t req_read(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
                        nghttp2_data_source *src, void *user)
{
    h2s_t *s = nghttp2_session_get_stream_user_data(ng, id);
    if (!s || !s->d) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    dw_down_t *d = s->d;
    if (s->req_off == s->req.len && !s->body_all) {
        int rc = pull_body(s);
        if (rc == 0 && s->req_off == s->req.len && !s->body_all) {
            ssize_t n = d->ops->body_read(d);
            if (n > 0)
                rc = pull_body(s);
            else if (n == -2) {
                s->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
            } else {
                rc = -3;
            }
        }
        if (rc < 0) {
            body_problem(s, rc);
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
        }
        if (s->req_off == s->req.len && !s->body_all) {
            s->deferred = true;
            return NGHTTP2_ERR_DEFERRED;
        }
    }
    size_t n = s->req.len - s->req_off;
    if (n > len) n = len;
    memcpy(buf, s->req.data + s->req_off, n);
    s->req_off += n;
    if (s->req_off == s->req.len && s->body_all) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        s->req_ended = true;
        if (d->trailers.n) {
            dw_fields_t *t = &d->trailers;
            nghttp2_nv *nv = dw_arena_alloc(d->ex->req.arena, sizeof *nv * t->n);
            size_t k = 0;
            for (size_t i = 0; nv && i < t->n; i++) {
                if (connection_specific(t->v[i].name)) continue;
                nv[k++] = (nghttp2_nv){(uint8_t *)t->v[i].name.ptr, (uint8_t *)t->v[i].value.ptr,
                                       t->v[i].name.len, t->v[i].value.len, NGHTTP2_NV_FLAG_NONE};
            }
            if (nv && k && nghttp2_submit_trailer(ng, id, nv, k) == 0)
                *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
        }
        d->ops->body_done(d);
    }
    return (ssize_t)n;
}

/* --- the upstream request ----------------------------------------------------------------- */

static dw_str_t lower_dup(dw_arena_t *a, dw_str_t s)
{
    bool upper = false;
    for (size_t i = 0; i < s.len && !upper; i++) upper = s.ptr[i] >= 'A' && s.ptr[i] <= 'Z';
    if (!upper) return s;
    char *p = dw_arena_alloc(a, s.len + 1);
    if (!p) return DW_STR_NULL;
    for (size_t i = 0; i < s.len; i++) p[i] = dw_ascii_lower(s.ptr[i]);
    p[s.len] = '\0';
    return dw_str_make(p, s.len);
}

static nghttp2_nv mknv(dw_str_t n, dw_str_t v)
{
    return (nghttp2_nv){(uint8_t *)n.ptr, (uint8_t *)v.ptr, n.len, v.len, NGHTTP2_NV_FLAG_NONE};
}

/* The request HEADERS: pseudo-fields, the client's fields without connection-specific ones,
 * the forwarding fields, header_up. Built once (a replay reuses it). */
static bool build_request(h2s_t *s)
{
    dw_down_t *d = s->d;
    dw_exchange_t *ex = d->ex;
    dw_req_t *r = &ex->req;
    dw_arena_t *a = r->arena;
    dw_fields_t f = {0};
    f.cap = r->headers.n + 8;
    f.v = dw_arena_alloc(a, sizeof *f.v * f.cap);
    if (!f.v) return false;
    dw_str_t conn_tokens = dw_proxy_connection_tokens(r, a);
    bool te_trailers = false;
    for (size_t i = 0; i < r->headers.n; i++) {
        const dw_field_t *h = &r->headers.v[i];
        if (h->name.len && h->name.ptr[0] == ':') continue;
        if (dw_str_caseeq_c(h->name, "TE")) {
            te_trailers = te_trailers || dw_h1_list_has(h->value, DW_STR("trailers"));
            continue;
        }
        if (dw_proxy_skip_request_field(h->name, conn_tokens, false)) continue;
        if (dw_str_caseeq_c(h->name, "HTTP2-Settings")) continue;
        f.v[f.n++] = *h;
    }
    dw_proxy_add_forwarded(r, a, &f);
    r->upstream_host = s->be->host;
    r->upstream_port = s->be->port;
    if (s->cfg->header_up.n) dw_hdr_ops_apply(r, &f, &s->cfg->header_up);

    dw_str_t authority = r->hostport;
    dw_field_t *host = dw_fields_get(&f, DW_STR("Host"));
    if (host && host->value.len) authority = host->value;
    if (!authority.len) {
        char *hp = dw_arena_sprintf(a, "%.*s:%u", DW_STR_FMT(s->be->host), s->be->port);
        authority = hp ? dw_str_c(hp) : DW_STR("localhost");
    }
    dw_str_t path;
    if (r->uri_changed) {
        path = r->path;
        if (r->has_query) {
            char *p = dw_arena_sprintf(a, "%.*s?%.*s", DW_STR_FMT(r->path), DW_STR_FMT(r->query));
            if (!p) return false;
            path = dw_str_c(p);
        }
    } else {
        path = r->orig_uri.len ? r->orig_uri : r->raw_target;
    }
    if (!path.len) path = DW_STR("/");

    s->nv = dw_arena_alloc(a, sizeof *s->nv * (f.n + 7));
    if (!s->nv) return false;
    size_t k = 0;
    s->nv[k++] = mknv(DW_STR(":method"), r->method);
    s->nv[k++] = mknv(DW_STR(":scheme"), s->tls ? DW_STR("https") : DW_STR("http"));
    s->nv[k++] = mknv(DW_STR(":authority"), authority);
    s->nv[k++] = mknv(DW_STR(":path"), path);
    for (size_t i = 0; i < f.n; i++) {
        if (connection_specific(f.v[i].name) || dw_str_caseeq_c(f.v[i].name, "Content-Length"))
            continue;
        dw_str_t n = lower_dup(a, f.v[i].name);
        if (!n.len) return false;
        s->nv[k++] = mknv(n, f.v[i].value);
    }
    if (te_trailers) s->nv[k++] = mknv(DW_STR("te"), DW_STR("trailers"));
    if (d->bkind == DW_DOWN_BODY_LENGTH) {
        char *cl = dw_arena_sprintf(a, "%llu", (unsigned long long)d->blen);
        if (!cl) return false;
        s->nv[k++] = mknv(DW_STR("content-length"), dw_str_c(cl));
    }
    s->nnv = k;
    return true;
}

/* Puts s on c (which has room). */
static void stream_submit(h2s_t *s, h2conn_t *c)
{
    dw_down_t *d = s->d;
    if (!s->nv && !build_request(s)) {
        stream_fail(s, 502, false);
        return;
    }
    bool body = d->bkind != DW_DOWN_BODY_NONE &&
                !(d->bkind == DW_DOWN_BODY_LENGTH && d->blen == 0 && d->bdone);
    nghttp2_data_provider prd = {.source.ptr = NULL, .read_callback = req_read};
    conn_enter(c);
    int32_t id = nghttp2_submit_request(c->ng, NULL, s->nv, s->nnv, body ? &prd : NULL, s);
    if (id < 0) {
        conn_leave(c);
        stream_fail(s, 502, false);
        return;
    }
    s->id = id;
    conn_link(c, s);
    c->nstreams++;
    if (!body) {
        s->req_ended = true;
        s->body_all = true;
        d->ops->body_done(d);
    }
    dw_exchange_t *ex = d->ex;
    ex->upstream_addr = s->be->key;
    if (ex->log_on) ex->up_start_us = dw_pipeline_now_us();
    timer_set(s, T_RESP, response_ms(s->cfg));
    conn_leave(c);
}

/* --- opening connections ------------------------------------------------------------------ */

/* The session callbacks (nghttp2 copies them into each session). */
static nghttp2_session_callbacks *callbacks_new(void)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs) != 0) return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cbs, on_frame_not_send);
    return cbs;
}

/* The socket is connected (and TLS done): the HTTP/2 session, our SETTINGS and the
 * connection window. Usable once the peer's SETTINGS arrive. */
static bool conn_start_h2(h2conn_t *c)
{
    nghttp2_session_callbacks *cbs = callbacks_new();
    nghttp2_option *opt = NULL;
    if (!cbs || nghttp2_option_new(&opt) != 0) {
        nghttp2_session_callbacks_del(cbs);
        return false;
    }
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int rc = nghttp2_session_client_new2(&c->ng, cbs, c, opt);
    nghttp2_option_del(opt);
    nghttp2_session_callbacks_del(cbs);
    if (rc != 0) return false;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_LOCAL_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, H2_MAX_HEADERS},
    };
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof *iv) != 0)
        return false;
    if (nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return false;
    c->state = HC_SETTINGS;
    return true;
}

static void conn_tls_step(h2conn_t *c)
{
    ERR_clear_error();
    int r = SSL_do_handshake(c->tp.ssl);
    if (r == 1) {
        if (!dw_tls_alpn_is_h2(c->tp.ssl)) {
            DW_WARN("proxy", "upstream %s did not agree to HTTP/2 (ALPN); 502", c->list->key);
            conn_kill(c, true);
            return;
        }
        if (!conn_start_h2(c)) conn_kill(c, false);
        return;
    }
    int e = SSL_get_error(c->tp.ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        c->tls_want_write = e == SSL_ERROR_WANT_WRITE;
        return;
    }
    char buf[256];
    DW_WARN("proxy", "TLS to upstream %s failed: %s", c->list->key,
            dw_tls_error_string(buf, sizeof buf));
    conn_kill(c, true);
}

static void conn_read(h2conn_t *c)
{
    uint8_t buf[H2_RBUF];
    for (int i = 0; i < H2_READS_PER_EVENT && !c->dead; i++) {
        ssize_t n = dw_tport_recv(&c->tp, buf, sizeof buf);
        if (n == DW_TPORT_AGAIN) return;
        if (n <= 0) {
            conn_kill(c, c->state != HC_READY);
            return;
        }
        ssize_t used = nghttp2_session_mem_recv(c->ng, buf, (size_t)n);
        if (used < 0) {
            conn_kill(c, false);
            return;
        }
    }
    if (!c->dead && c->tp.io) dw_io_activate(c->tp.io, DW_IO_READ); /* more may be waiting */
}

static void conn_io(int fd, int events, void *arg)
{
    h2conn_t *c = arg;
    conn_enter(c);
    if (c->state == HC_CONNECTING && (events & DW_IO_WRITE)) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->tp.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            conn_kill(c, true);
        } else if (c->tp.ssl) {
            c->state = HC_TLS;
            conn_tls_step(c);
        } else if (!conn_start_h2(c)) {
            conn_kill(c, false);
        }
    } else if (c->state == HC_TLS) {
        conn_tls_step(c);
    } else if (c->state >= HC_SETTINGS && (events & DW_IO_READ)) {
        conn_read(c);
    }
    conn_leave(c);
}

static void conn_timer(void *arg)
{
    h2conn_t *c = arg;
    conn_enter(c);
    if (c->state != HC_READY)
        conn_kill(c, true); /* dial_timeout: connect, TLS and the peer's SETTINGS */
    else if (c->nstreams == 0)
        conn_kill(c, false); /* idle */
    conn_leave(c);
}

/* A new connection for l, to the backend (and TLS settings) of s. */
static h2conn_t *conn_new(h2list_t *l, h2s_t *s, bool *connect_failure)
{
    *connect_failure = false;
    dw_tls_client_t *tls = NULL;
    if (s->tls) {
        tls = s->pool->tls; /* built at snapshot compile with ALPN h2 for `transport h2` */
        if (!tls) return NULL;
    }
    int fd = dw_proxy_open_socket(s->be);
    if (fd < 0) {
        *connect_failure = fd == -2;
        return NULL;
    }
    h2conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return NULL;
    }
    c->w = s->w;
    c->list = l;
    c->tp.fd = fd;
    dw_buf_init(&c->wbuf, 0);
    if (tls) {
        char name[256];
        dw_str_t sn = dw_pool_tls_name(s->pool, s->be);
        snprintf(name, sizeof name, "%.*s", DW_STR_FMT(sn));
        c->tp.ssl = dw_tls_client_ssl(tls, fd, name);
    }
    c->tp.io = dw_io_new(c->w->loop, fd, conn_io, c);
    c->timer = dw_timer_new(c->w->loop, conn_timer, c);
    if ((tls && !c->tp.ssl) || !c->tp.io || !c->timer) {
        if (c->tp.io) dw_io_free(c->tp.io);
        if (c->timer) dw_timer_free(c->timer);
        dw_tport_close(&c->tp);
        free(c);
        return NULL;
    }
    if (tls) {
        SSL_set_mode(c->tp.ssl,
                     SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        /* the client context lives in the snapshot's arena: keep it while the SSL does */
        c->snap = (dw_snapshot_t *)s->d->ex->req.snap;
        dw_snapshot_ref(c->snap);
    }
    c->state = HC_CONNECTING;
    c->next = l->conns;
    l->conns = c;
    dw_timer_start(c->timer, dial_ms(s->cfg));
    dw_io_want(c->tp.io, false, true);
    return c;
}

/* --- handing streams to connections ------------------------------------------------------- */

/* Hands waiting streams to connections with room; opens a connection when none is being
 * opened and every usable one is full. */
static void list_dispatch(h2list_t *l)
{
    if (l->dispatching) return;
    l->dispatching = true;
    while (l->wait_head) {
        h2conn_t *room = NULL;
        size_t live = 0;
        bool connecting = false;
        for (h2conn_t *c = l->conns; c; c = c->next) {
            if (!conn_usable(c)) continue;
            live++;
            if (c->state != HC_READY) connecting = true;
            if (!room && conn_has_room(c)) room = c;
        }
        h2s_t *s = l->wait_head;
        if (room) {
            wait_remove(s);
            s->list = NULL;
            stream_submit(s, room);
            continue;
        }
        if (connecting || live >= H2_MAX_CONNS) break; /* wait for it / for a free slot */
        bool cf;
        if (!conn_new(l, s, &cf)) {
            wait_remove(s);
            s->list = NULL;
            stream_fail(s, 502, cf);
            continue;
        }
    }
    l->dispatching = false;
}

static void list_key(const h2s_t *s, char *out, size_t n)
{
    /* TLS connections are per pool (trust, client certificate, ALPN) and snapshot */
    if (s->tls)
        snprintf(out, n, "h2 %llu %p %s", (unsigned long long)s->d->ex->req.snap->generation,
                 (const void *)s->pool, s->be->key);
    else
        snprintf(out, n, "h2c %s", s->be->key);
}

/* Chooses a backend (not after a replay on a fresh connection) and queues s for it. */
static void stream_dispatch(h2s_t *s)
{
    dw_down_t *d = s->d;
    dw_req_t *r = &d->ex->req;
    if (!s->be) {
        bool set_cookie = false;
        s->be = dw_pool_pick(s->pool, r, s->failed, &set_cookie);
        s->set_cookie = s->set_cookie || set_cookie;
        if (!s->be) {
            stream_error(s, 502);
            return;
        }
        d->ex->upstream_addr = s->be->key;
        if (!s->be->resolved) {
            stream_fail(s, 502, true);
            return;
        }
        s->nv = NULL; /* :authority and header_up may name the backend */
    }
    char key[200];
    list_key(s, key, sizeof key);
    h2list_t *l = list_get(s->w, key);
    if (!l) {
        stream_fail(s, 502, false);
        return;
    }
    s->head_seen = false;
    timer_set(s, T_RESP, response_ms(s->cfg));
    wait_push(l, s);
    list_dispatch(l);
}

/* --- the response body to the client ------------------------------------------------------ */

/* Returns window for what the client side took once it has little queued. */
static void give_back(h2s_t *s)
{
    dw_down_t *d = s->d;
    h2conn_t *c = s->c;
    if (!s->handed || d->ops->out_pending(d) >= H2_OUT_LOW) return;
    uint64_t n = s->handed;
    s->handed = 0;
    s->unconsumed -= n;
    if (!c || !s->in_ng || c->dead) return;
    conn_enter(c);
    nghttp2_session_consume(c->ng, s->id, (size_t)n);
    conn_leave(c);
    if (s->timer_kind == T_READ && !s->ended) timer_set(s, T_READ, H2_IO_TIMEOUT_MS);
}

/* Moves response bytes to the client as fast as it takes them, then the end. */
static void deliver(h2s_t *s)
{
    if (s->in_deliver) {
        s->redo = true;
        return;
    }
    s->in_deliver = true;
    do {
        s->redo = false;
        dw_down_t *d = s->d;
        if (!d) break;
        if (s->lent.len && d->ops->out_pending(d) == 0) dw_buf_reset(&s->lent);
        if (s->pend.len && !s->lent.len && d->ops->out_pending(d) < H2_OUT_LOW) {
            size_t n = s->pend.len;
            if (d->ops->resp_data(d, s->pend.data, n)) {
                dw_buf_t t = s->lent;
                s->lent = s->pend;
                s->pend = t;
            }
            dw_buf_reset(&s->pend);
            s->handed += n;
            s->sent += n;
            d->ex->bytes_sent = s->sent;
            int rc = d->ops->flush(d);
            if (rc < 0) {
                s->in_deliver = false;
                stream_abort_down(s, NGHTTP2_CANCEL);
                return;
            }
            if (rc == 1 && s->lent.len && d->ops->out_pending(d) == 0) dw_buf_reset(&s->lent);
            if (rc == 0) d->ops->update_interest(d); /* drained later */
        }
        give_back(s);
        if (s->ended && !s->pend.len && !s->lent.len) {
            if (!s->end_sent) {
                s->end_sent = true;
                timer_set(s, T_NONE, 0);
                d->ops->resp_end(d, s->trailers.n ? &s->trailers : NULL);
            }
            int rc = d->ops->flush(d);
            if (rc < 0) {
                s->in_deliver = false;
                stream_abort_down(s, NGHTTP2_CANCEL);
                return;
            }
            if (rc == 1) {
                s->in_deliver = false;
                stream_done(s);
                return;
            }
            d->ops->update_interest(d);
        }
    } while (s->redo);
    s->in_deliver = false;
}

/* --- timers ------------------------------------------------------------------------------- */

static void stream_timer(void *arg)
{
    h2s_t *s = arg;
    uint8_t kind = s->timer_kind;
    s->timer_kind = T_NONE;
    if (!s->d) return;
    switch (kind) {
    case T_RESP:
        /* response_timeout before the head: 504, no retry */
        s->head_seen = true;
        stream_fail(s, 504, false);
        return;
    case T_READ:
        stream_abort_down(s, NGHTTP2_CANCEL); /* 30 s without a byte from the upstream */
        return;
    case T_RETRY: stream_dispatch(s); return;
    default: return;
    }
}

/* --- the interface ------------------------------------------------------------------------ */

bool dw_exchange_is_grpc(const dw_exchange_t *ex)
{
    const dw_field_t *ct = dw_fields_get(&ex->req.headers, DW_STR("Content-Type"));
    return ct && ct->value.len >= 16 && strncasecmp(ct->value.ptr, "application/grpc", 16) == 0;
}

void dw_grpc_error_response(dw_exchange_t *ex, uint16_t http_status)
{
    const char *code = "13", *msg = "internal error";
    switch (http_status) {
    case 502: code = "14", msg = "upstream unavailable"; break;
    case 503: code = "14", msg = "service unavailable"; break;
    case 504: code = "4", msg = "upstream timed out"; break;
    case 413: code = "8", msg = "request too large"; break;
    default: break;
    }
    ex->is_error = true;
    ex->kind = DW_OUT_RESPOND;
    ex->status = 200;
    ex->body = DW_STR_NULL;
    ex->resp_headers.n = 0;
    dw_arena_t *a = &ex->arena;
    dw_fields_add(a, &ex->resp_headers, DW_STR("Content-Type"), DW_STR("application/grpc"));
    dw_fields_add(a, &ex->resp_headers, DW_STR("grpc-status"), dw_str_c(code));
    /* grpc-message is percent-encoded; these texts need none */
    dw_fields_add(a, &ex->resp_headers, DW_STR("grpc-message"), dw_str_c(msg));
}

bool dw_proxy_h2_wanted(const dw_exchange_t *ex)
{
    if (ex->kind != DW_OUT_PROXY || !ex->proxy_dir || !ex->proxy_dir->pool) return false;
    return ex->grpc || cfg_h2(ex->proxy_dir->pool->cfg);
}

void dw_proxy_h2_start(dw_down_t *d)
{
    dw_exchange_t *ex = d->ex;
    dw_worker_t *w = d->w;
    h2s_t *s = calloc(1, sizeof *s);
    if (!s || !(s->timer = dw_timer_new(w->loop, stream_timer, s))) {
        free(s);
        d->ops->abort(d);
        return;
    }
    s->d = d;
    s->w = w;
    s->pool = ex->proxy_dir->pool;
    s->cfg = s->pool->cfg;
    s->tls = cfg_tls(s->cfg);
    s->start_ms = dw_time_mono_ms();
    s->is_grpc = dw_exchange_is_grpc(ex);
    s->idempotent = dw_proxy_method_retryable(ex->req.method);
    s->keep_body = s->idempotent;
    s->clen = -1;
    dw_buf_init(&s->req, 0);
    dw_buf_init(&s->pend, 0);
    dw_buf_init(&s->lent, 0);
    d->h2s = s;
    if (d->expect && !d->bdone) {
        /* the client waits for our go-ahead before sending the body */
        d->expect = false;
        if (d->ops->send_continue(d) < 0) {
            stream_detach(s, NGHTTP2_CANCEL);
            return;
        }
    }
    stream_dispatch(s);
}

void dw_proxy_h2_client_readable(dw_down_t *d)
{
    h2s_t *s = d->h2s;
    if (!s) return;
    if (!s->deferred || !s->c || !s->in_ng || s->c->dead) return;
    s->deferred = false;
    h2conn_t *c = s->c;
    conn_enter(c);
    nghttp2_session_resume_data(c->ng, s->id);
    conn_leave(c);
}

bool dw_proxy_h2_wants_client_read(const dw_down_t *d)
{
    const h2s_t *s = d->h2s;
    return s && s->deferred;
}

void dw_proxy_h2_client_drained(dw_down_t *d)
{
    h2s_t *s = d->h2s;
    if (s) deliver(s);
}

void dw_proxy_h2_abort(dw_down_t *d)
{
    h2s_t *s = d->h2s;
    if (s) stream_detach(s, NGHTTP2_CANCEL);
}

void dw_proxy_h2_close_all(dw_worker_t *w)
{
    for (size_t i = 0; i < w->h2up.cap; i++) {
        h2list_t *l = w->h2up.slots ? w->h2up.slots[i].value : NULL;
        if (!l) continue;
        for (h2s_t *s; (s = l->wait_head);) {
            wait_remove(s);
            if (s->d) s->d->h2s = NULL;
            release_backend(s);
            stream_free(s);
        }
        while (l->conns) {
            h2conn_t *c = l->conns;
            l->conns = c->next;
            for (h2s_t *s; (s = c->streams);) {
                conn_unlink(s);
                if (s->d) s->d->h2s = NULL;
                release_backend(s);
                stream_free(s);
            }
            if (c->ng) nghttp2_session_del(c->ng);
            dw_io_free(c->tp.io);
            dw_tport_close(&c->tp);
            dw_timer_free(c->timer);
            dw_buf_deinit(&c->wbuf);
            if (c->snap) dw_snapshot_unref(c->snap);
            free(c);
        }
        free(l);
        w->h2up.slots[i].value = NULL;
    }
}
