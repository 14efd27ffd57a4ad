/* HTTP/2 front end (RFC 9113) over nghttp2: a server session per client connection, a stream
 * per exchange; the pipeline and the reverse proxy are reached exactly as from HTTP/1.1 (the
 * proxy talks to a stream through downstream.h). Plain (h2c prior knowledge, decision 34) and
 * TLS (ALPN h2) connections are the same here: bytes move through transport.h.
 *
 * Control flow. nghttp2 callbacks only record what happened on a stream (its header block
 * completed, body bytes arrived, it closed, its queued output drained) and queue the stream;
 * the pipeline and the proxy run afterwards, outside nghttp2, from this file's own handlers
 * (socket, timers). An operation the proxy calls from elsewhere (its upstream's handlers) never
 * closes the connection or frees a stream: it queues work and arms a 0 ms timer. Streams are
 * freed in one place (an EV_CLOSED event, or the connection closing), connections in one place
 * (conn_close, reached only from our own handlers with nothing of ours on the stack).
 *
 * Bounds and defences, per connection:
 * - reads stop while 64 KiB of output wait for the socket (a peer that does not read cannot
 *   make us buffer); a read is 16 KiB, into the worker's scratch buffer;
 * - request bodies: 100 streams, each with a 64 KiB window that reopens only as the proxy takes
 *   the bytes (the connection window, 1 MiB, reopens at once, so one stalled stream does not
 *   starve the others); response bodies: the proxy stops at 64 KiB queued per stream;
 * - header blocks: the header list over limits.max_head, more than max_fields fields or a field
 *   over max_field → 431, counted but never stored beyond the limit; at most 8 CONTINUATION
 *   frames (nghttp2), HPACK tables of 4096 bytes both ways;
 * - rapid reset: more than 100 streams reset (by the client, or by us for a malformed request)
 *   before their response completed within 10 s → GOAWAY ENHANCE_YOUR_CALM and close (nghttp2's
 *   own limit, 1000 burst + 33/s incoming RST_STREAM, stays behind it);
 * - control-frame flood: more than 1000 PING, SETTINGS or empty DATA frames within 10 s →
 *   GOAWAY ENHANCE_YOUR_CALM and close; nghttp2 also closes when over 1000 ACKs are queued;
 * - stalls: output waiting on a socket that took nothing for 30 s → close; response data
 *   waiting only on a closed flow-control window with no DATA sent for 30 s → GOAWAY
 *   FLOW_CONTROL_ERROR (the peer's window is the reason) and close;
 * - timeouts (spec 20 §3.4): read_header until the preface and first SETTINGS arrived and for
 *   any one header block; idle (no open stream) → GOAWAY NO_ERROR and close; max_requests
 *   streams → GOAWAY; write per stream → RST_STREAM CANCEL. */
#include "http2.h"
#include "downstream.h"
#include "exchange.h"
#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define READ_SIZE       16384u
#define OUT_HIGH        65536u
#define FLOOD_WINDOW_MS 10000u
#define RAPID_RESET_MAX 100u
#define CONTROL_MAX     1000u
#define STALL_MS        30000u
#define STOP_GRACE_MS   1000u

enum { T_NONE = 0, T_HEADER, T_IDLE, T_STOP };
enum { EV_START = 1, EV_READABLE = 2, EV_DRAINED = 4, EV_CLOSED = 8 };

typedef struct h2stream h2stream_t;

typedef struct dw_h2conn {
    dw_worker_t *w;
    dw_tport_t tp;
    dw_conn_info_t info;
    nghttp2_session *s;
    dw_timer_t *timer; /* read_header, idle, stop grace */
    dw_timer_t *stall; /* write and flow-control stalls */
    dw_timer_t *kick;  /* 0 ms: work queued from outside our handlers */
    uint8_t timer_kind;
    bool rearm;   /* restart the connection timer (a new header block, the last stream ended) */
    dw_buf_t out; /* frames from nghttp2, written from out.data + woff */
    size_t woff;
    h2stream_t *streams;
    h2stream_t *evq, *evq_tail; /* streams with events for process_events */
    uint32_t nopen;             /* streams open in nghttp2 */
    uint32_t nheading;          /* of those, still receiving their header block */
    uint32_t nreq;
    int depth;           /* >0: inside one of our handlers */
    bool settings_seen;  /* the client's first SETTINGS arrived */
    bool goaway_sent;    /* a final GOAWAY is queued: no new streams */
    bool stopping;       /* worker stop */
    bool closing;        /* send what we can (a GOAWAY), then close */
    bool peer_eof;       /* the client ended its side: finish the open streams, then close */
    bool dead;           /* close without writing */
    uint64_t sock_since; /* output waits on the socket since (0 = not) */
    uint64_t flow_since; /* response data waits on flow control since (0 = not) */
    uint64_t rst_start, ctl_start;
    uint32_t rst_n, ctl_n;
    struct dw_h2conn *next, *prev;
} dw_h2conn_t;

struct h2stream {
    dw_down_t d; /* the proxy's handle; &d is what the ops receive */
    dw_h2conn_t *c;
    dw_snapref_t *sref;
    int32_t id;
    dw_h2_head_t head, trl;
    dw_buf_t ib; /* request body received, not yet pulled */
    dw_buf_t oq; /* response body queued by the proxy, from oq.data + ooff */
    size_t ooff;
    dw_str_t gen; /* generated response body */
    size_t gen_off;
    nghttp2_nv *tnv; /* response trailers */
    size_t ntnv;
    dw_timer_t *wtimer; /* timeouts.write */
    dw_timer_t *btimer; /* timeouts.read_body: from the end of the head to END_STREAM */
    uint64_t received;  /* request body bytes */
    uint8_t ev;         /* EV_* waiting in the connection's queue */
    bool queued;
    bool headers_done; /* the request header block is complete */
    bool ended;        /* END_STREAM received */
    bool discard;      /* request body bytes are dropped (generated response, reset) */
    bool proxying;     /* between dw_proxy_start and the proxy's last operation */
    bool submitted;    /* the final response head is queued */
    bool has_provider; /* DATA follows the head */
    bool resp_ended;   /* no more response body will be queued */
    bool deferred;     /* the data provider waits for resp_data/resp_end */
    bool want_drained; /* flush returned 0: EV_DRAINED when oq empties */
    bool end_sent;     /* END_STREAM went out */
    bool ng_closed;    /* nghttp2 closed the stream */
    bool oom;
    bool no_count; /* a reset we chose (abort, timeouts): not a rapid-reset sign */
    h2stream_t *next, *prev, *evnext;
};

static void conn_pump(dw_h2conn_t *c);
static void conn_settle(dw_h2conn_t *c);
static void stream_reset(h2stream_t *st, uint32_t code);
static void stream_send_generated(h2stream_t *st);
static void stream_send_simple(h2stream_t *st, uint16_t status);
static void op_send_error(dw_down_t *d, uint16_t status);
static const dw_down_ops_t h2_ops;

/* --- session set-up -------------------------------------------------------------------------- */

int dw_h2_session_new(nghttp2_session **out, const nghttp2_session_callbacks *cbs, void *user,
                      const dw_h1_limits_t *lim)
{
    *out = NULL;
    nghttp2_option *opt;
    if (nghttp2_option_new(&opt) != 0) return -1;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    nghttp2_option_set_max_settings(opt, 32);
    nghttp2_option_set_max_outbound_ack(opt, 1000);
    nghttp2_option_set_stream_reset_rate_limit(opt, 1000, 33);
    nghttp2_option_set_max_continuations(opt, 8);
    nghttp2_option_set_max_deflate_dynamic_table_size(opt, DW_H2_HEADER_TABLE);
    nghttp2_option_set_max_send_header_block_length(opt, DW_H2_MAX_SEND_HEADERS);
    nghttp2_session *s;
    int rv = nghttp2_session_server_new2(&s, cbs, user, opt);
    nghttp2_option_del(opt);
    if (rv != 0) return -1;
    const nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, DW_H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, DW_H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, lim->max_head},
        {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, DW_H2_HEADER_TABLE},
    };
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, DW_H2_CONN_WINDOW) != 0) {
        nghttp2_session_del(s);
        return -1;
    }
    *out = s;
    return 0;
}

/* --- request heads --------------------------------------------------------------------------- */

void dw_h2_head_init(dw_h2_head_t *h, bool trailers)
{
    memset(h, 0, sizeof *h);
    h->host_index = -1;
    h->trailers = trailers;
}

static bool is_tchar(unsigned char ch)
{
    if (dw_ascii_isalnum((char)ch)) return true;
    return ch && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Field names are lower-case tokens (RFC 9113 §8.2.1). */
static bool name_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_tchar(p[i]) || (p[i] >= 'A' && p[i] <= 'Z')) return false;
    return n > 0;
}

/* No NUL, CR or LF; no leading or trailing SP/HTAB (§8.2.1). */
static bool value_ok(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] == 0 || p[i] == '\r' || p[i] == '\n') return false;
    if (n && (p[0] == ' ' || p[0] == '\t' || p[n - 1] == ' ' || p[n - 1] == '\t')) return false;
    return true;
}

/* Fields that are connection-specific in HTTP/1.1 and malformed in HTTP/2 (§8.2.2). */
static bool conn_specific(dw_str_t n)
{
    return dw_str_eq_c(n, "connection") || dw_str_eq_c(n, "keep-alive") ||
           dw_str_eq_c(n, "proxy-connection") || dw_str_eq_c(n, "transfer-encoding") ||
           dw_str_eq_c(n, "upgrade");
}

static dw_str_t *pseudo_slot(dw_h2_head_t *h, dw_str_t n)
{
    if (dw_str_eq_c(n, ":method")) return &h->method;
    if (dw_str_eq_c(n, ":scheme")) return &h->scheme;
    if (dw_str_eq_c(n, ":authority")) return &h->authority;
    if (dw_str_eq_c(n, ":path")) return &h->path;
    if (dw_str_eq_c(n, ":protocol")) return &h->protocol;
    return NULL;
}

static bool parse_length(dw_str_t v, uint64_t *out)
{
    if (!v.len || v.len > 19) return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (!dw_ascii_isdigit(v.ptr[i])) return false;
        n = n * 10 + (uint64_t)(v.ptr[i] - '0');
    }
    if (n > (uint64_t)INT64_MAX) return false;
    *out = n;
    return true;
}

int dw_h2_head_add(dw_h2_head_t *h, dw_arena_t *a, const dw_h1_limits_t *lim, const uint8_t *name,
                   size_t namelen, const uint8_t *value, size_t valuelen)
{
    h->size += (uint64_t)namelen + valuelen + 32;
    if (h->bad || h->status) return 0;
    if (h->size > lim->max_head || namelen + valuelen + 2 > lim->max_field) {
        h->status = 431;
        return 0;
    }
    dw_str_t n = dw_str_make((const char *)name, namelen);
    if (namelen && name[0] == ':') {
        dw_str_t *slot = h->trailers || h->nfields ? NULL : pseudo_slot(h, n);
        if (!slot || slot->ptr || !value_ok(value, valuelen)) {
            h->bad = true; /* in trailers, after a regular field, unknown or repeated */
            return 0;
        }
        char *v = dw_arena_strndup(a, (const char *)value, valuelen);
        if (!v) return -1;
        *slot = dw_str_make(v, valuelen);
        return 0;
    }
    if (++h->nfields > lim->max_fields) {
        h->status = 431;
        return 0;
    }
    if (!name_ok(name, namelen) || !value_ok(value, valuelen) || conn_specific(n)) {
        h->bad = true;
        return 0;
    }
    dw_str_t v = dw_str_make((const char *)value, valuelen);
    if (dw_str_eq_c(n, "te") && !dw_str_eq_c(v, "trailers")) {
        h->bad = true;
        return 0;
    }
    if (!h->trailers && dw_str_eq_c(n, "content-length")) {
        uint64_t cl;
        if (!parse_length(v, &cl) || (h->has_content_length && cl != h->content_length)) {
            h->bad = true;
            return 0;
        }
        h->content_length = cl;
        h->has_content_length = true;
    }
    char *mem = dw_arena_alloc(a, namelen + valuelen + 2);
    if (!mem) return -1;
    memcpy(mem, name, namelen);
    mem[namelen] = '\0';
    memcpy(mem + namelen + 1, value, valuelen);
    mem[namelen + 1 + valuelen] = '\0';
    dw_field_t *f = DW_ARENA_PUSH(a, h->fields.v, h->fields.n, h->fields.cap);
    if (!f) return -1;
    f->name = dw_str_make(mem, namelen);
    f->value = dw_str_make(mem + namelen + 1, valuelen);
    if (dw_str_eq_c(n, "host") && h->nhost++ == 0) h->host_index = (int32_t)(h->fields.n - 1);
    if (dw_str_eq_c(n, "cookie")) h->ncookie++;
    return 0;
}

/* Cookie fields (split by the client for compression, §8.2.3) become one, joined by "; ". */
static int join_cookies(dw_h2_head_t *h, dw_arena_t *a)
{
    if (h->ncookie < 2) return 0;
    size_t total = 0, first = SIZE_MAX;
    for (size_t i = 0; i < h->fields.n; i++) {
        if (!dw_str_eq_c(h->fields.v[i].name, "cookie")) continue;
        if (first == SIZE_MAX) first = i;
        total += h->fields.v[i].value.len + 2;
    }
    char *buf = dw_arena_alloc(a, total + 1);
    if (!buf) return -1;
    size_t len = 0, o = 0;
    for (size_t i = 0; i < h->fields.n; i++) {
        dw_field_t f = h->fields.v[i];
        if (dw_str_eq_c(f.name, "cookie")) {
            if (len) buf[len++] = ';', buf[len++] = ' ';
            memcpy(buf + len, f.value.ptr, f.value.len);
            len += f.value.len;
            if (i != first) continue;
        }
        h->fields.v[o++] = f;
    }
    buf[len] = '\0';
    h->fields.n = o;
    for (size_t i = 0; i < o; i++)
        if (dw_str_eq_c(h->fields.v[i].name, "cookie"))
            h->fields.v[i].value = dw_str_make(buf, len);
    h->ncookie = 1;
    /* the host index may have moved */
    h->host_index = -1;
    for (size_t i = 0; i < o && h->host_index < 0; i++)
        if (dw_str_eq_c(h->fields.v[i].name, "host")) h->host_index = (int32_t)i;
    return 0;
}

int dw_h2_head_request(dw_h2_head_t *h, dw_req_t *r)
{
    if (h->bad) return -1;
    if (h->status) return h->status;
    if (!h->method.len || !h->scheme.len || !h->path.len) return -1;
    if (h->protocol.ptr || dw_str_eq_c(h->method, "CONNECT")) return -1;
    for (size_t i = 0; i < h->method.len; i++)
        if (!is_tchar((unsigned char)h->method.ptr[i])) return -1;
    dw_str_t path = h->path;
    for (size_t i = 0; i < path.len; i++) {
        unsigned char ch = (unsigned char)path.ptr[i];
        if (ch <= 0x20 || ch >= 0x7f) return -1;
    }
    bool star = path.len == 1 && path.ptr[0] == '*';
    if (star ? !dw_str_eq_c(h->method, "OPTIONS") : path.ptr[0] != '/') return -1;
    if (join_cookies(h, r->arena) < 0) return 500;

    r->http_version = 20;
    r->method = r->orig_method = h->method;
    r->raw_target = path;
    r->headers = h->fields;
    if (dw_req_set_target(r, path) != DW_OK) return 400;
    /* :authority selects the site (SITE-12) and is what the upstream sees as Host */
    if (h->authority.len) {
        r->hostport = h->authority;
        dw_fields_set(r->arena, &r->headers, DW_STR("host"), h->authority);
    } else if (h->nhost == 1 && h->fields.v[h->host_index].value.len) {
        r->hostport = h->fields.v[h->host_index].value;
    } else {
        return 400; /* no authority, or several Host fields */
    }
    if (!dw_host_split(r->arena, r->hostport, &r->host, &r->host_port)) return 400;
    return 0;
}

/* --- small helpers --------------------------------------------------------------------------- */

static h2stream_t *stream_of(dw_down_t *d)
{
    return (h2stream_t *)(void *)((char *)d - offsetof(h2stream_t, d));
}

static const dw_cfg_global_timeouts_t *timeouts(const dw_h2conn_t *c)
{
    return &c->w->cur->snap->cfg->global.timeouts;
}

static size_t out_pending(const dw_h2conn_t *c)
{
    return c->out.len - c->woff;
}

static void kick(dw_h2conn_t *c)
{
    if (!dw_timer_pending(c->kick)) dw_timer_start(c->kick, 0);
}

/* Something was queued for nghttp2 or for process_events: our handlers pump before they
 * return; from outside them, a 0 ms timer does. */
static void wake(dw_h2conn_t *c)
{
    if (c->depth == 0) kick(c);
}

static void queue_ev(h2stream_t *st, uint8_t ev)
{
    dw_h2conn_t *c = st->c;
    st->ev |= ev;
    if (!st->queued) {
        st->queued = true;
        st->evnext = NULL;
        if (c->evq_tail)
            c->evq_tail->evnext = st;
        else
            c->evq = st;
        c->evq_tail = st;
    }
    wake(c);
}

/* The peer misbehaves: GOAWAY with code, then close once it is (maybe) written. */
static void conn_goaway_close(dw_h2conn_t *c, uint32_t code)
{
    if (c->closing || c->dead) return;
    nghttp2_session_terminate_session(c->s, code);
    c->closing = true;
    wake(c);
}

/* Counts an event in a 10 s window; true when there were more than max. */
static bool flood_hit(uint64_t *start, uint32_t *n, uint32_t max)
{
    uint64_t now = dw_time_mono_ms();
    if (now - *start >= FLOOD_WINDOW_MS) *start = now, *n = 0;
    return ++*n > max;
}

static void control_frame(dw_h2conn_t *c)
{
    if (flood_hit(&c->ctl_start, &c->ctl_n, CONTROL_MAX)) {
        DW_DEBUG("http2", "control frame flood from %s: closing", c->info.peer.text);
        conn_goaway_close(c, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

/* --- streams --------------------------------------------------------------------------------- */

static void stream_free(h2stream_t *st)
{
    dw_h2conn_t *c = st->c;
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next) st->next->prev = st->prev;
    dw_buf_deinit(&st->ib);
    dw_buf_deinit(&st->oq);
    if (st->wtimer) dw_timer_free(st->wtimer);
    if (st->btimer) dw_timer_free(st->btimer);
    dw_exchange_t *ex = st->d.ex;
    dw_snapref_t *sref = st->sref;
    uint64_t received = st->received;
    dw_exchange_end(c->w, ex, sref, received); /* frees st: it lives in the exchange arena */
}

/* The proxy still holds the exchange (it may end it with abort and let go only when told). */
static bool proxy_attached(const h2stream_t *st)
{
    return st->d.px || st->d.up || st->d.h2s;
}

/* Lets the proxy go (if it still holds on), then frees the stream. */
static void stream_drop(h2stream_t *st)
{
    st->proxying = false;
    if (proxy_attached(st)) dw_proxy_abort_upstream(&st->d);
    stream_free(st);
}

/* An EV_CLOSED stream: frees it unless the proxy still has to call done. True when freed. */
static bool stream_reap(h2stream_t *st)
{
    if (st->proxying && st->end_sent) return false; /* the response is complete: done follows */
    stream_drop(st);
    return true;
}

/* From now on request body bytes are dropped (and their window reopened). */
static void stream_discard_body(h2stream_t *st)
{
    st->discard = true;
    if (st->ib.len && !st->ng_closed) nghttp2_session_consume_stream(st->c->s, st->id, st->ib.len);
    dw_buf_deinit(&st->ib);
    dw_buf_init(&st->ib, 0);
    wake(st->c);
}

static void stream_reset(h2stream_t *st, uint32_t code)
{
    stream_discard_body(st);
    if (st->ng_closed) {
        queue_ev(st, EV_CLOSED);
        return;
    }
    nghttp2_submit_rst_stream(st->c->s, NGHTTP2_FLAG_NONE, st->id, code);
    wake(st->c);
}

static void write_timeout_cb(void *arg)
{
    h2stream_t *st = arg;
    dw_h2conn_t *c = st->c;
    if (st->ng_closed || st->end_sent) return;
    c->depth++;
    st->no_count = true;
    nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    conn_pump(c); /* may free st (and this timer): nothing of st is touched after */
    c->depth--;
    conn_settle(c);
}

/* read_body (spec 20 §3.4) per stream: a body that has not ended in time gets 408 when nothing
 * was answered yet (the upstream never sees a complete request), else the stream is reset. A
 * trickled body cannot hold a stream, and its upstream connection, for ever. */
static void body_timeout_cb(void *arg)
{
    h2stream_t *st = arg;
    dw_h2conn_t *c = st->c;
    if (st->ng_closed || st->ended) return;
    c->depth++;
    st->no_count = true;
    if (st->d.ex && !st->submitted) {
        if (proxy_attached(st)) dw_proxy_abort_upstream(&st->d);
        op_send_error(&st->d, 408);
    } else {
        nghttp2_submit_rst_stream(c->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_CANCEL);
    }
    conn_pump(c); /* may free st (and this timer): nothing of st is touched after */
    c->depth--;
    conn_settle(c);
}

static void stream_body_timer(h2stream_t *st, bool on)
{
    uint64_t ms = timeouts(st->c)->read_body_ms;
    if (!on || !ms) {
        if (st->btimer) dw_timer_stop(st->btimer);
        return;
    }
    if (!st->btimer) st->btimer = dw_timer_new(st->c->w->loop, body_timeout_cb, st);
    if (st->btimer) dw_timer_start(st->btimer, ms);
}

static void stream_write_timer(h2stream_t *st)
{
    uint64_t ms = timeouts(st->c)->write_ms;
    if (!ms) return;
    if (!st->wtimer) st->wtimer = dw_timer_new(st->c->w->loop, write_timeout_cb, st);
    if (st->wtimer) dw_timer_start(st->wtimer, ms);
}

/* Response fields not sent over HTTP/2: connection-specific ones, framing (we add our own
 * content-length), pseudo-header look-alikes. */
static bool resp_skip(dw_str_t n)
{
    return !n.len || n.ptr[0] == ':' || dw_str_caseeq_c(n, "connection") ||
           dw_str_caseeq_c(n, "keep-alive") || dw_str_caseeq_c(n, "proxy-connection") ||
           dw_str_caseeq_c(n, "transfer-encoding") || dw_str_caseeq_c(n, "upgrade") ||
           dw_str_caseeq_c(n, "te") || dw_str_caseeq_c(n, "content-length");
}

static nghttp2_nv mknv(dw_str_t n, dw_str_t v)
{
    return (nghttp2_nv){(uint8_t *)n.ptr, (uint8_t *)v.ptr, n.len, v.len, NGHTTP2_NV_FLAG_NONE};
}

/* Fields as an nghttp2 list in the arena: :status first (status 0 = trailers, none), names
 * lower-cased, then date and content-length when asked. NULL when out of memory. */
static nghttp2_nv *build_nva(dw_arena_t *a, uint16_t status, const dw_fields_t *f, bool date,
                             int64_t clen, size_t *nout)
{
    size_t n = 0;
    nghttp2_nv *nv = dw_arena_alloc(a, sizeof *nv * (f->n + 3));
    if (!nv) return NULL;
    if (status) {
        char *s = dw_arena_alloc(a, 4);
        if (!s) return NULL;
        s[0] = (char)('0' + status / 100 % 10);
        s[1] = (char)('0' + status / 10 % 10);
        s[2] = (char)('0' + status % 10);
        s[3] = '\0';
        nv[n++] = mknv(DW_STR(":status"), dw_str_make(s, 3));
    }
    bool has_date = false;
    for (size_t i = 0; i < f->n; i++) {
        dw_str_t name = f->v[i].name;
        if (resp_skip(name)) continue;
        bool upper = false;
        for (size_t k = 0; k < name.len && !upper; k++)
            upper = name.ptr[k] >= 'A' && name.ptr[k] <= 'Z';
        if (upper) {
            char *lc = dw_arena_alloc(a, name.len + 1);
            if (!lc) return NULL;
            for (size_t k = 0; k < name.len; k++) lc[k] = dw_ascii_lower(name.ptr[k]);
            lc[name.len] = '\0';
            name = dw_str_make(lc, name.len);
        }
        if (dw_str_eq_c(name, "date")) has_date = true;
        nv[n++] = mknv(name, f->v[i].value.ptr ? f->v[i].value : DW_STR(""));
    }
    if (date && !has_date) nv[n++] = mknv(DW_STR("date"), dw_str_c(dw_time_cached()->http_date));
    if (clen >= 0) {
        char *s = dw_arena_sprintf(a, "%lld", (long long)clen);
        if (!s) return NULL;
        nv[n++] = mknv(DW_STR("content-length"), dw_str_c(s));
    }
    *nout = n;
    return nv;
}

static ssize_t data_read_cb(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    h2stream_t *st = src->ptr;
    dw_h2conn_t *c = st->c;
    size_t n;
    if (st->gen.len) {
        n = st->gen.len - st->gen_off;
        if (n > length) n = length;
        memcpy(buf, st->gen.ptr + st->gen_off, n);
        st->gen_off += n;
        if (st->gen_off == st->gen.len) *flags |= NGHTTP2_DATA_FLAG_EOF;
    } else {
        n = st->oq.len - st->ooff;
        if (n > length) n = length;
        if (n) memcpy(buf, st->oq.data + st->ooff, n);
        st->ooff += n;
        if (st->ooff == st->oq.len) {
            dw_buf_reset(&st->oq);
            st->ooff = 0;
            if (st->want_drained) {
                st->want_drained = false;
                queue_ev(st, EV_DRAINED);
            }
            if (st->resp_ended) {
                *flags |= NGHTTP2_DATA_FLAG_EOF;
                if (st->ntnv && nghttp2_submit_trailer(s, id, st->tnv, st->ntnv) == 0)
                    *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
            } else if (!n) {
                st->deferred = true;
                return NGHTTP2_ERR_DEFERRED;
            }
        }
    }
    if (n && c->flow_since) c->flow_since = dw_time_mono_ms(); /* progress */
    return (ssize_t)n;
}

/* Queues a response head: final (status >= 200, with a data provider when body) or 1xx. */
static int submit_head(h2stream_t *st, uint16_t status, const dw_fields_t *f, int64_t clen,
                       bool date, bool body)
{
    dw_h2conn_t *c = st->c;
    size_t n = 0;
    nghttp2_nv *nv = build_nva(&st->d.ex->arena, status, f, date, clen, &n);
    if (!nv) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return -1;
    }
    int rv;
    if (status < 200) {
        rv = nghttp2_submit_headers(c->s, NGHTTP2_FLAG_NONE, st->id, NULL, nv, n, NULL);
    } else {
        nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read_cb};
        rv = nghttp2_submit_response(c->s, st->id, nv, n, body ? &prd : NULL);
        if (rv == 0) {
            st->submitted = true;
            st->has_provider = body;
            if (!body) st->resp_ended = true;
            stream_write_timer(st);
        }
    }
    if (rv != 0) {
        DW_DEBUG("http2", "stream %d: response head refused: %s", st->id, nghttp2_strerror(rv));
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return -1;
    }
    wake(c);
    return 0;
}

/* Dwaar's own bare response (431, 400 before the pipeline ran, a broken body): the baseline
 * security headers, no body. */
static void stream_send_simple(h2stream_t *st, uint16_t status)
{
    dw_exchange_t *ex = st->d.ex;
    dw_arena_t *a = &ex->arena;
    stream_discard_body(st);
    if (st->ng_closed) {
        queue_ev(st, EV_CLOSED);
        return;
    }
    if (st->submitted) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    dw_fields_t f = {0};
    dw_fields_add(a, &f, DW_STR("server"), DW_STR("Dwaar"));
    dw_fields_add(a, &f, DW_STR("x-content-type-options"), DW_STR("nosniff"));
    dw_fields_add(a, &f, DW_STR("x-frame-options"), DW_STR("SAMEORIGIN"));
    dw_fields_add(a, &f, DW_STR("referrer-policy"), DW_STR("strict-origin-when-cross-origin"));
    ex->sent_status = status;
    ex->bytes_sent = 0;
    submit_head(st, status, &f, 0, true, false);
}

/* The generated response held in the exchange (status, resp_headers, body). */
static void stream_send_generated(h2stream_t *st)
{
    dw_exchange_t *ex = st->d.ex;
    dw_h2conn_t *c = st->c;
    st->proxying = false;
    stream_discard_body(st);
    if (st->ng_closed) {
        queue_ev(st, EV_CLOSED);
        return;
    }
    if (st->submitted) {
        stream_reset(st, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    dw_pipeline_finish_headers(ex, &ex->resp_headers, NULL);
    uint16_t status = ex->status;
    bool no_body = status < 200 || status == 204 || status == 304;
    if (status < 200) status = 502; /* a 1xx cannot end an exchange */
    bool head = dw_str_eq_c(ex->req.method, "HEAD");
    ex->sent_status = status;
    ex->bytes_sent = 0;
    st->gen = !no_body && !head ? ex->body : DW_STR_NULL;
    if (st->gen.len) ex->bytes_sent = st->gen.len;
    if (ex->close && !c->goaway_sent) {
        /* like Connection: close on HTTP/1.1 (a draining host): no new streams here */
        nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                              nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR, NULL,
                              0);
        c->goaway_sent = true;
    }
    submit_head(st, status, &ex->resp_headers, no_body ? -1 : (int64_t)ex->body.len, true,
                st->gen.len > 0);
}

/* The header block is complete: build the request, run the pipeline, carry out the outcome. */
static void stream_start(h2stream_t *st)
{
    dw_h2conn_t *c = st->c;
    dw_exchange_t *ex = st->d.ex;
    dw_req_t *r = &ex->req;
    r->arena = &ex->arena;
    r->snap = st->sref->snap;
    dw_req_set_conn(r, &c->info);
    int rc = dw_h2_head_request(&st->head, r);
    if (rc < 0) {
        DW_DEBUG("http2", "stream %d from %s: malformed request", st->id, c->info.peer.text);
        stream_reset(st, NGHTTP2_PROTOCOL_ERROR);
        return;
    }
    dw_down_t *d = &st->d;
    if (st->ended && st->received == 0 && st->ib.len == 0) {
        d->bkind = DW_DOWN_BODY_NONE;
    } else if (st->head.has_content_length) {
        d->bkind = DW_DOWN_BODY_LENGTH;
        d->blen = st->head.content_length;
    } else {
        d->bkind = DW_DOWN_BODY_STREAM;
    }
    d->bdone = d->bkind == DW_DOWN_BODY_NONE;
    if (rc > 0) {
        stream_send_simple(st, (uint16_t)rc);
        return;
    }
    if (r->raw_target.len == 1 && r->raw_target.ptr[0] == '*') {
        /* OPTIONS * is answered by Dwaar itself */
        dw_pipeline_respond(ex, 200, DW_STR_NULL);
        dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Allow"),
                      DW_STR("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"));
        stream_send_generated(st);
        return;
    }
    dw_pipeline_run(ex);
    /* request_body: a declared length over the limit is refused before reading it */
    if (ex->kind != DW_OUT_ABORT && ex->request_body_max && d->bkind == DW_DOWN_BODY_LENGTH &&
        d->blen > ex->request_body_max && !ex->in_error)
        dw_pipeline_error(ex, 413, DW_STR_NULL);
    if (ex->kind == DW_OUT_ABORT) {
        st->no_count = true;
        stream_reset(st, NGHTTP2_INTERNAL_ERROR); /* `abort`: RST_STREAM (spec 10 §6.13) */
        return;
    }
    if (ex->kind == DW_OUT_PROXY) {
        st->proxying = true;
        dw_proxy_start(d);
        return;
    }
    stream_send_generated(st);
}

/* Runs the queued stream events: the only place streams are freed while the connection lives,
 * and the only place (with conn_close) that calls into the pipeline and the proxy. */
static void process_events(dw_h2conn_t *c)
{
    while (c->evq && !c->dead) {
        h2stream_t *st = c->evq;
        c->evq = st->evnext;
        if (!c->evq) c->evq_tail = NULL;
        st->evnext = NULL;
        st->queued = false;
        uint8_t ev = st->ev;
        st->ev = 0;
        if ((ev & EV_CLOSED) && stream_reap(st)) continue;
        if (ev & EV_START) {
            if (!c->closing && !st->ng_closed) stream_start(st);
            continue;
        }
        if ((ev & EV_READABLE) && st->proxying) dw_proxy_client_readable(&st->d);
        if ((ev & EV_DRAINED) && st->proxying) dw_proxy_client_drained(&st->d);
    }
}

/* --- nghttp2 callbacks ----------------------------------------------------------------------- */

static h2stream_t *stream_get(dw_h2conn_t *c, int32_t id)
{
    return nghttp2_session_get_stream_user_data(c->s, id);
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    dw_h2conn_t *c = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    c->nreq++;
    c->rearm = true;
    const dw_cfg_global_timeouts_t *to = timeouts(c);
    if (to->max_requests && c->nreq >= to->max_requests && !c->goaway_sent) {
        /* spec 20 §3.4 max_requests: this is the last stream of the connection */
        nghttp2_submit_goaway(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR, NULL, 0);
        c->goaway_sent = true;
    }
    if (c->closing || c->dead) return 0; /* no stream: refused when the block ends */
    dw_snapref_t *sref = NULL;
    dw_exchange_t *ex = dw_exchange_new(c->w, &sref);
    if (!ex) return 0;
    h2stream_t *st = dw_arena_zalloc(&ex->arena, sizeof *st);
    if (!st) {
        dw_exchange_end(c->w, ex, sref, 0);
        return 0;
    }
    st->c = c;
    st->sref = sref;
    st->id = frame->hd.stream_id;
    st->d.ops = &h2_ops;
    st->d.w = c->w;
    st->d.ex = ex;
    st->d.proto = 20;
    dw_h2_head_init(&st->head, false);
    dw_h2_head_init(&st->trl, true);
    dw_buf_init(&st->ib, 0);
    dw_buf_init(&st->oq, 0);
    st->next = c->streams;
    if (c->streams) c->streams->prev = st;
    c->streams = st;
    c->nopen++;
    c->nheading++;
    nghttp2_session_set_stream_user_data(s, st->id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    h2stream_t *st = stream_get(user, frame->hd.stream_id);
    if (!st || frame->hd.type != NGHTTP2_HEADERS) return 0;
    dw_h2_head_t *h = frame->headers.cat == NGHTTP2_HCAT_REQUEST ? &st->head : &st->trl;
    if (dw_h2_head_add(h, &st->d.ex->arena, &st->sref->snap->limits, name, namelen, value,
                       valuelen) < 0) {
        st->oom = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* RST_STREAM INTERNAL_ERROR */
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    dw_h2conn_t *c = user;
    h2stream_t *st;
    switch (frame->hd.type) {
    case NGHTTP2_DATA:
        if (frame->hd.length == 0 && !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) control_frame(c);
        st = stream_get(c, frame->hd.stream_id);
        if (st && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            st->ended = true;
            stream_body_timer(st, false);
            if (st->proxying) queue_ev(st, EV_READABLE);
        }
        return 0;
    case NGHTTP2_HEADERS:
        st = stream_get(c, frame->hd.stream_id);
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            if (!st) {
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                          NGHTTP2_REFUSED_STREAM);
                return 0;
            }
            st->headers_done = true;
            c->nheading--;
            if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
                st->ended = true;
            else
                stream_body_timer(st, true);
            queue_ev(st, EV_START);
            return 0;
        }
        if (!st) return 0;
        /* trailers (nghttp2 makes sure they end the stream) */
        if (st->trl.bad || st->trl.status) {
            stream_reset(st, NGHTTP2_PROTOCOL_ERROR);
            return 0;
        }
        st->d.trailers = st->trl.fields;
        if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) {
            st->ended = true;
            stream_body_timer(st, false);
        }
        if (st->proxying) queue_ev(st, EV_READABLE);
        return 0;
    case NGHTTP2_SETTINGS:
        if (frame->hd.flags & NGHTTP2_FLAG_ACK) return 0;
        if (!c->settings_seen) {
            c->settings_seen = true;
            c->rearm = true;
        } else {
            control_frame(c);
        }
        return 0;
    case NGHTTP2_PING:
        if (!(frame->hd.flags & NGHTTP2_FLAG_ACK)) control_frame(c);
        return 0;
    default: return 0;
    }
}

static int on_data_chunk_recv(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                              size_t len, void *user)
{
    dw_h2conn_t *c = user;
    nghttp2_session_consume_connection(s, len);
    h2stream_t *st = stream_get(c, id);
    if (!st) return 0;
    st->received += len;
    if (st->discard) {
        nghttp2_session_consume_stream(s, id, len);
        return 0;
    }
    if (dw_buf_append(&st->ib, data, len) < 0) {
        st->oom = true;
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (st->proxying) queue_ev(st, EV_READABLE);
    return 0;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
        !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
        return 0;
    h2stream_t *st = stream_get(user, frame->hd.stream_id);
    if (!st) return 0;
    st->end_sent = true;
    if (st->wtimer) dw_timer_stop(st->wtimer);
    /* the response is complete before the request: we do not need the rest (RFC 9113 §8.1) */
    if (!st->ended) nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_frame_not_send(nghttp2_session *s, const nghttp2_frame *frame, int lib_error,
                             void *user)
{
    if (frame->hd.type != NGHTTP2_HEADERS) return 0;
    h2stream_t *st = stream_get(user, frame->hd.stream_id);
    if (st && !st->ng_closed)
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    dw_h2conn_t *c = user;
    h2stream_t *st = stream_get(c, id);
    if (!st) return 0;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    st->ng_closed = true;
    c->nopen--;
    if (!st->headers_done) c->nheading--;
    if (c->nopen == 0) c->rearm = true;
    if (st->wtimer) dw_timer_stop(st->wtimer);
    stream_body_timer(st, false);
    /* rapid reset (CVE-2023-44487) and its server-side twin: streams that end in a reset
     * before their response completed */
    if (code != NGHTTP2_NO_ERROR && !st->end_sent && !st->no_count &&
        flood_hit(&c->rst_start, &c->rst_n, RAPID_RESET_MAX)) {
        DW_DEBUG("http2", "rapid reset from %s: closing", c->info.peer.text);
        conn_goaway_close(c, NGHTTP2_ENHANCE_YOUR_CALM);
    }
    queue_ev(st, EV_CLOSED);
    return 0;
}

static int on_error(nghttp2_session *s, int code, const char *msg, size_t len, void *user)
{
    dw_h2conn_t *c = user;
    DW_DEBUG("http2", "%s: %.*s", c->info.peer.text, (int)len, msg);
    return 0;
}

static nghttp2_session_callbacks *make_callbacks(void)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0) return NULL;
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk_recv);
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_not_send_callback(cb, on_frame_not_send);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_error_callback2(cb, on_error);
    return cb;
}

/* --- the connection -------------------------------------------------------------------------- */

/* Moves frames from nghttp2 to the socket until nghttp2 has nothing more or the socket is full.
 * Returns 0, or -1 when the connection failed. */
/* Frames nghttp2 has ready go to the output buffer (while less than OUT_HIGH waits) without
 * writing them: called from the upstream's handlers, so that the responses finished in one
 * loop turn leave in one write (kick_cb) instead of one write each. */
static int conn_serialize(dw_h2conn_t *c)
{
    if (c->woff == c->out.len) {
        c->woff = 0;
        dw_buf_reset(&c->out);
    }
    while (c->out.len - c->woff < OUT_HIGH) {
        const uint8_t *p;
        ssize_t n = nghttp2_session_mem_send(c->s, &p);
        if (n < 0) {
            DW_DEBUG("http2", "send: %s", nghttp2_strerror((int)n));
            return -1;
        }
        if (n == 0) break;
        if (dw_buf_append(&c->out, p, (size_t)n) < 0) return -1;
    }
    return 0;
}

static int conn_send(dw_h2conn_t *c)
{
    for (;;) {
        if (c->woff == c->out.len) {
            if (conn_serialize(c) < 0) return -1;
            if (c->out.len == 0) return 0;
        }
        struct iovec iov = {c->out.data + c->woff, c->out.len - c->woff};
        ssize_t n = dw_tport_writev(&c->tp, &iov, 1);
        if (n == DW_TPORT_AGAIN) return 0;
        if (n < 0) return -1;
        c->woff += (size_t)n;
        if (c->sock_since) c->sock_since = dw_time_mono_ms(); /* progress */
        if (c->woff < c->out.len) return 0;                   /* the socket is full */
    }
}

static void conn_pump(dw_h2conn_t *c)
{
    for (int round = 0; round < 16 && !c->dead; round++) {
        process_events(c);
        if (c->dead) break;
        if (conn_send(c) < 0) {
            c->dead = true;
            break;
        }
        if (!c->evq) return;
    }
    if (c->evq && !c->dead) kick(c);
}

static void conn_close(dw_h2conn_t *c)
{
    dw_worker_t *w = c->w;
    c->evq = c->evq_tail = NULL;
    while (c->streams) stream_drop(c->streams);
    if (c->prev)
        c->prev->next = c->next;
    else
        w->h2conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nh2conns--;
    nghttp2_session_del(c->s);
    dw_io_free(c->tp.io);
    c->tp.io = NULL;
    dw_timer_free(c->timer);
    dw_timer_free(c->stall);
    dw_timer_free(c->kick);
    dw_tport_close(&c->tp);
    dw_buf_deinit(&c->out);
    free(c);
}

/* Response data waits only because a flow-control window is closed. */
static bool flow_stalled(dw_h2conn_t *c)
{
    if (nghttp2_session_want_write(c->s)) return false;
    int32_t cw = nghttp2_session_get_remote_window_size(c->s);
    for (h2stream_t *st = c->streams; st; st = st->next) {
        if (st->ng_closed || !st->has_provider || st->end_sent || st->deferred) continue;
        bool has_data =
            st->gen.len ? st->gen_off < st->gen.len : st->oq.len > st->ooff || st->resp_ended;
        if (!has_data) continue;
        if (cw <= 0 || nghttp2_session_get_stream_remote_window_size(c->s, st->id) <= 0)
            return true;
    }
    return false;
}

static void conn_timers(dw_h2conn_t *c)
{
    const dw_cfg_global_timeouts_t *to = timeouts(c);
    if (c->timer_kind == T_STOP) return;
    int want = T_NONE;
    uint64_t ms = 0;
    if (!c->settings_seen || c->nheading) {
        want = T_HEADER, ms = to->read_header_ms;
        if (!c->settings_seen) c->rearm = false; /* counted from the start */
    } else if (c->nopen == 0 && !c->goaway_sent) {
        want = T_IDLE, ms = to->idle_ms;
    }
    if (want == c->timer_kind && !c->rearm) return;
    c->rearm = false;
    c->timer_kind = (uint8_t)want;
    if (want == T_NONE || !ms) {
        dw_timer_stop(c->timer);
        return;
    }
    dw_timer_start(c->timer, ms);
}

static void conn_stall_check(dw_h2conn_t *c)
{
    uint64_t now = dw_time_mono_ms();
    bool sock = out_pending(c) > 0;
    bool flow = !sock && c->streams && flow_stalled(c);
    if (!sock)
        c->sock_since = 0;
    else if (!c->sock_since)
        c->sock_since = now;
    if (!flow)
        c->flow_since = 0;
    else if (!c->flow_since)
        c->flow_since = now;
    uint64_t since = sock ? c->sock_since : c->flow_since;
    if (!since) {
        if (dw_timer_pending(c->stall)) dw_timer_stop(c->stall);
        return;
    }
    if (!dw_timer_pending(c->stall)) {
        uint64_t left = now - since >= STALL_MS ? 1 : STALL_MS - (now - since);
        dw_timer_start(c->stall, left);
    }
}

/* Reads while nghttp2 wants them and less than OUT_HIGH waits for the socket; writes while
 * something waits. */
static void conn_update_io(dw_h2conn_t *c)
{
    bool rd = !c->peer_eof && nghttp2_session_want_read(c->s) && out_pending(c) < OUT_HIGH;
    bool was = dw_io_reading(c->tp.io);
    dw_io_want(c->tp.io, rd, out_pending(c) > 0);
    if (rd && !was) dw_tport_kick(&c->tp);
}

/* After our handlers: close when done or failed, else set socket interest and timers. */
static void conn_settle(dw_h2conn_t *c)
{
    if (c->depth) return;
    if (c->dead) {
        conn_close(c);
        return;
    }
    bool idle_out = out_pending(c) == 0;
    bool finished = idle_out && !nghttp2_session_want_write(c->s) &&
                    (!nghttp2_session_want_read(c->s) || (c->peer_eof && c->nopen == 0));
    if (c->closing || finished) {
        if (idle_out) dw_tport_shutdown(&c->tp);
        conn_close(c);
        return;
    }
    conn_update_io(c);
    if (idle_out && c->nopen == 0 && c->out.cap > READ_SIZE) {
        dw_buf_deinit(&c->out); /* an idle connection keeps no big buffer */
        dw_buf_init(&c->out, 0);
    }
    conn_timers(c);
    conn_stall_check(c);
}

static void feed(dw_h2conn_t *c, const char *p, size_t n)
{
    ssize_t rv = nghttp2_session_mem_recv(c->s, (const uint8_t *)p, n);
    if (rv < 0) {
        DW_DEBUG("http2", "%s: %s", c->info.peer.text, nghttp2_strerror((int)rv));
        /* a GOAWAY (unless nghttp2 queued one already), sent if the socket takes it */
        uint32_t code = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS
                            ? NGHTTP2_ENHANCE_YOUR_CALM
                        : rv == NGHTTP2_ERR_NOMEM || rv == NGHTTP2_ERR_CALLBACK_FAILURE
                            ? NGHTTP2_INTERNAL_ERROR
                            : NGHTTP2_PROTOCOL_ERROR;
        nghttp2_session_terminate_session(c->s, code);
        c->closing = true;
    }
}

static void conn_read(dw_h2conn_t *c)
{
    if (c->closing || c->peer_eof || out_pending(c) >= OUT_HIGH || !nghttp2_session_want_read(c->s))
        return;
    ssize_t n = dw_tport_recv(&c->tp, c->w->scratch, READ_SIZE);
    if (n == DW_TPORT_AGAIN) return;
    if (n < 0) {
        c->dead = true;
        return;
    }
    if (n == 0) {
        /* the client ended its side: what is open may still be answered */
        c->peer_eof = true;
        if (c->nopen == 0) c->dead = true;
        return;
    }
    feed(c, c->w->scratch, (size_t)n);
}

static void conn_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_h2conn_t *c = arg;
    c->depth++;
    if (events & DW_IO_READ) conn_read(c);
    if (!c->dead) conn_pump(c);
    c->depth--;
    conn_settle(c);
}

static void kick_cb(void *arg)
{
    dw_h2conn_t *c = arg;
    c->depth++;
    if (!c->dead) conn_pump(c);
    c->depth--;
    conn_settle(c);
}

static void timer_cb(void *arg)
{
    dw_h2conn_t *c = arg;
    c->depth++;
    switch (c->timer_kind) {
    case T_HEADER:
    case T_IDLE:
        c->timer_kind = T_NONE;
        conn_goaway_close(c, NGHTTP2_NO_ERROR);
        break;
    case T_STOP:
        /* the shutdown notice had a round trip to arrive: now the real GOAWAY */
        c->timer_kind = T_NONE;
        if (!c->goaway_sent)
            nghttp2_submit_goaway(c->s, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->s), NGHTTP2_NO_ERROR,
                                  NULL, 0);
        c->goaway_sent = true;
        break;
    default: break;
    }
    conn_pump(c);
    c->depth--;
    conn_settle(c);
}

static void stall_cb(void *arg)
{
    dw_h2conn_t *c = arg;
    uint64_t now = dw_time_mono_ms();
    c->depth++;
    if (c->sock_since && now - c->sock_since >= STALL_MS) {
        DW_DEBUG("http2", "%s does not read: closing", c->info.peer.text);
        c->dead = true;
    } else if (c->flow_since && now - c->flow_since >= STALL_MS) {
        DW_DEBUG("http2", "%s keeps its flow-control window closed: closing", c->info.peer.text);
        conn_goaway_close(c, NGHTTP2_FLOW_CONTROL_ERROR);
        conn_pump(c);
    }
    c->depth--;
    conn_settle(c);
}

void dw_h2_start(dw_worker_t *w, dw_tport_t tp, const dw_conn_info_t *info, const char *pre,
                 size_t npre)
{
    dw_h2conn_t *c = calloc(1, sizeof *c);
    nghttp2_session_callbacks *cb = make_callbacks();
    if (!c || !cb) {
        if (cb) nghttp2_session_callbacks_del(cb);
        free(c);
        dw_tport_close(&tp);
        return;
    }
    c->w = w;
    c->tp = tp;
    c->info = *info;
    dw_buf_init(&c->out, 0);
    c->tp.io = dw_io_new(w->loop, tp.fd, conn_io, c);
    c->timer = dw_timer_new(w->loop, timer_cb, c);
    c->stall = dw_timer_new(w->loop, stall_cb, c);
    c->kick = dw_timer_new(w->loop, kick_cb, c);
    int rv = -1;
    if (c->tp.io && c->timer && c->stall && c->kick)
        rv = dw_h2_session_new(&c->s, cb, c, &w->cur->snap->limits);
    nghttp2_session_callbacks_del(cb);
    if (rv != 0) {
        dw_io_free(c->tp.io);
        if (c->timer) dw_timer_free(c->timer);
        if (c->stall) dw_timer_free(c->stall);
        if (c->kick) dw_timer_free(c->kick);
        c->tp.io = NULL;
        dw_tport_close(&c->tp);
        free(c);
        return;
    }
    c->next = w->h2conns;
    if (w->h2conns) w->h2conns->prev = c;
    w->h2conns = c;
    w->nh2conns++;
    c->timer_kind = T_HEADER;
    uint64_t ms = timeouts(c)->read_header_ms;
    if (ms) dw_timer_start(c->timer, ms);
    c->depth++;
    if (npre) feed(c, pre, npre);
    if (w->stopping && !c->closing) {
        nghttp2_submit_shutdown_notice(c->s);
        c->stopping = true;
        c->timer_kind = T_STOP;
        dw_timer_start(c->timer, STOP_GRACE_MS);
    }
    conn_pump(c);
    c->depth--;
    conn_settle(c);
}

void dw_h2_stop(dw_worker_t *w)
{
    for (dw_h2conn_t *c = w->h2conns, *next; c; c = next) {
        next = c->next;
        if (c->stopping) continue;
        c->stopping = true;
        c->depth++;
        if (c->nopen == 0) {
            conn_goaway_close(c, NGHTTP2_NO_ERROR);
        } else {
            nghttp2_submit_shutdown_notice(c->s);
            c->timer_kind = T_STOP;
            dw_timer_start(c->timer, STOP_GRACE_MS);
        }
        conn_pump(c);
        c->depth--;
        conn_settle(c);
    }
}

void dw_h2_close_all(dw_worker_t *w)
{
    while (w->h2conns) conn_close(w->h2conns);
}

/* --- the proxy's operations (downstream.h) --------------------------------------------------- */

static int op_body_pull(dw_down_t *d, dw_down_sink sink)
{
    h2stream_t *st = stream_of(d);
    size_t n = st->ib.len;
    if (n) {
        sink(d, st->ib.data, n); /* copies: nothing reaches ib meanwhile */
        dw_buf_reset(&st->ib);
        d->bread += n;
        if (!st->ng_closed) {
            nghttp2_session_consume_stream(st->c->s, st->id, n); /* the window reopens */
            wake(st->c);
        }
    }
    if (st->ended) d->bdone = true;
    return d->body_error ? -1 : 0;
}

static ssize_t op_body_read(dw_down_t *d)
{
    h2stream_t *st = stream_of(d);
    if (st->ib.len) return (ssize_t)st->ib.len;
    if (st->ended) return -2; /* END_STREAM queued EV_READABLE: the next pull sees the end */
    if (st->ng_closed || st->c->dead) return -1;
    return -2;
}

static int op_send_continue(dw_down_t *d)
{
    (void)d;
    return 0;
}

static void op_body_done(dw_down_t *d)
{
    stream_body_timer(stream_of(d), false);
}

static int op_resp_head(dw_down_t *d, uint16_t status, const dw_fields_t *fields,
                        int64_t content_length, bool has_body)
{
    h2stream_t *st = stream_of(d);
    if (st->ng_closed || st->submitted) return 0; /* gone: the proxy learns on flush */
    if (status == 101) return -1;                 /* no tunnels over HTTP/2 */
    if (status >= 200) d->ex->sent_status = status;
    if (submit_head(st, status, fields, status < 200 ? -1 : content_length, false, has_body) < 0)
        return -1;
    return 0;
}

static bool op_resp_data(dw_down_t *d, const char *p, size_t n)
{
    h2stream_t *st = stream_of(d);
    if (st->ng_closed || !st->has_provider || !n) return false;
    if (dw_buf_append(&st->oq, p, n) < 0) {
        st->oom = true;
        return false;
    }
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->c->s, st->id);
        wake(st->c);
    }
    return false;
}

static void op_resp_end(dw_down_t *d, const dw_fields_t *trailers)
{
    h2stream_t *st = stream_of(d);
    if (st->resp_ended || st->ng_closed) return;
    st->resp_ended = true;
    if (trailers && trailers->n && st->has_provider) {
        size_t n = 0;
        nghttp2_nv *nv = build_nva(&d->ex->arena, 0, trailers, false, -1, &n);
        if (nv && n) st->tnv = nv, st->ntnv = n;
    }
    if (st->deferred) {
        st->deferred = false;
        nghttp2_session_resume_data(st->c->s, st->id);
    }
    wake(st->c);
}

static size_t op_out_pending(const dw_down_t *d)
{
    const h2stream_t *st = stream_of((dw_down_t *)d);
    return st->oq.len - st->ooff;
}

static int op_flush(dw_down_t *d)
{
    h2stream_t *st = stream_of(d);
    dw_h2conn_t *c = st->c;
    if (c->dead || st->oom || (st->ng_closed && !st->end_sent)) return -1;
    st->want_drained = false;
    if (c->depth == 0) {
        /* called from the upstream's handlers: frame it now, write it on the next turn */
        c->depth++;
        if (conn_serialize(c) < 0) c->dead = true;
        c->depth--;
        kick(c);
        if (c->dead) return -1;
    } else {
        wake(c);
    }
    if (st->oq.len == st->ooff) {
        st->ev &= (uint8_t)~EV_DRAINED;
        return 1;
    }
    st->want_drained = true;
    return 0;
}

static void op_done(dw_down_t *d)
{
    h2stream_t *st = stream_of(d);
    st->proxying = false;
    if (st->ng_closed) {
        queue_ev(st, EV_CLOSED);
        return;
    }
    if (!st->resp_ended) op_resp_end(d, NULL);
    wake(st->c);
}

static void op_abort(dw_down_t *d)
{
    h2stream_t *st = stream_of(d);
    st->proxying = false;
    stream_reset(st, NGHTTP2_INTERNAL_ERROR);
}

static void op_send_generated(dw_down_t *d)
{
    stream_send_generated(stream_of(d));
}

static void op_send_error(dw_down_t *d, uint16_t status)
{
    h2stream_t *st = stream_of(d);
    st->proxying = false;
    stream_send_simple(st, status);
}

static void op_update_interest(dw_down_t *d)
{
    (void)d; /* HTTP/2 always reads: request bodies are bounded by the stream windows */
}

static const dw_down_ops_t h2_ops = {
    .body_pull = op_body_pull,
    .body_read = op_body_read,
    .send_continue = op_send_continue,
    .body_done = op_body_done,
    .resp_head = op_resp_head,
    .resp_data = op_resp_data,
    .resp_end = op_resp_end,
    .flush = op_flush,
    .out_pending = op_out_pending,
    .done = op_done,
    .abort = op_abort,
    .send_generated = op_send_generated,
    .send_error = op_send_error,
    .update_interest = op_update_interest,
};
