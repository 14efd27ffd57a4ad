/* HTTP/1.1 front end: client connections, request heads and bodies, generated responses, and
 * the reverse proxy's HTTP/1.1 upstream exchange (spec 40, spec 20 §3.3-3.4, spec 10 §6.1).
 *
 * Memory is bounded per connection: a read buffer (16 KiB, grown to the head limit only for a
 * large head), an output buffer, and for proxying the upstream connection's 64 KiB read buffer.
 * Bodies stream: a side is read only while the other side's pending output is below
 * DW_PENDING_MAX, so a 1 GB body in either direction costs no more than a small one. */
#include "exchange.h"
#include "upstream.h"
#include <dwaar/tls/tls.h>
#include <openssl/err.h>
#include <dwaar/base/log.h>
#include <dwaar/base/parse.h>
#include <dwaar/base/time.h>
#include <dwaar/core/status.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define RBUF_INITIAL   4096u /* most heads fit; grown to the head limit on demand */
#define BODY_READ_MIN  16384u
#define DW_PENDING_MAX 65536u

enum { T_NONE = 0, T_IDLE, T_HEADER, T_BODY };

static void conn_close(dw_conn_t *c);
static void conn_on_io(int fd, int events, void *arg);
static void conn_process(dw_conn_t *c);
static void conn_request_done(dw_conn_t *c);
static void conn_flush(dw_conn_t *c);
static void conn_update_interest(dw_conn_t *c);
static void send_outcome(dw_conn_t *c);
static void send_generated(dw_conn_t *c);
static void rebase_views(dw_conn_t *c, ptrdiff_t d);

/* --- small helpers ------------------------------------------------------------------------- */

static void timer_arm(dw_conn_t *c, int kind, uint64_t ms)
{
    c->timer_kind = (uint8_t)kind;
    if (ms == 0 || kind == T_NONE) {
        dw_timer_stop(c->timer);
        return;
    }
    dw_timer_start(c->timer, ms);
}

static const dw_cfg_global_timeouts_t *timeouts(const dw_conn_t *c)
{
    return &c->w->cur->snap->cfg->global.timeouts;
}

/* --- output ---------------------------------------------------------------------------------- */

static size_t out_pending(const dw_conn_t *c)
{
    return (c->wbuf.len - c->woff) + c->dlen;
}

static void append_status_line(dw_buf_t *b, uint16_t status)
{
    char line[13] = "HTTP/1.1 000 ";
    line[9] = (char)('0' + status / 100 % 10);
    line[10] = (char)('0' + status / 10 % 10);
    line[11] = (char)('0' + status % 10);
    dw_buf_append(b, line, sizeof line);
    dw_buf_append_c(b, dw_http_reason(status));
    dw_buf_append(b, "\r\n", 2);
}

void dw_h1_append_fields(dw_buf_t *b, const dw_fields_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        dw_buf_append_str(b, f->v[i].name);
        dw_buf_append(b, ": ", 2);
        dw_buf_append_str(b, f->v[i].value);
        dw_buf_append(b, "\r\n", 2);
    }
}

/* A response Dwaar writes itself outside the pipeline (parser errors, 408): baseline security
 * headers, Connection: close, empty body. */
static void write_simple_error(dw_conn_t *c, uint16_t status)
{
    dw_buf_t *b = &c->wbuf;
    append_status_line(b, status);
    dw_buf_appendf(b,
                   "Server: Dwaar\r\nDate: %s\r\nContent-Length: 0\r\nConnection: close\r\n"
                   "X-Content-Type-Options: nosniff\r\nX-Frame-Options: SAMEORIGIN\r\n"
                   "Referrer-Policy: strict-origin-when-cross-origin\r\n\r\n",
                   dw_time_cached()->http_date);
    c->d.want_close = true;
    c->resp_done = true;
    c->d.bdone = true; /* nothing more is read from this connection */
    if (c->d.ex) c->d.ex->sent_status = status, c->d.ex->bytes_sent = 0;
    c->state = C_RESPOND;
    conn_flush(c);
}

/* --- request body ---------------------------------------------------------------------------- */

/* Consumes body bytes already in rbuf[rpos..rlen): each data piece goes to sink (NULL =
 * discard). Returns 0, or -1 on a framing error (c->d.body_error set). */
typedef dw_down_sink body_sink;

static int body_consume(dw_conn_t *c, body_sink sink)
{
    while (!c->d.bdone && c->rpos < c->rlen) {
        const char *p = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos;
        if (c->bkind == DW_H1_BODY_LENGTH) {
            size_t n = avail < c->bleft ? avail : (size_t)c->bleft;
            if (sink) sink(&c->d, p, n);
            c->rpos += n;
            c->bleft -= n;
            c->d.bread += n;
            if (c->bleft == 0) c->d.bdone = true;
        } else {
            size_t used = 0;
            dw_str_t data;
            dw_h1_chunk_rc_t rc =
                dw_h1_chunked_decode(&c->chunk, &c->w->cur->snap->limits, p, avail, &used, &data);
            c->rpos += used;
            if (rc == DW_H1_CHUNK_ERROR) {
                c->d.body_error = true;
                return -1;
            }
            if (rc == DW_H1_CHUNK_DATA) {
                c->d.bread += data.len;
                if (sink) sink(&c->d, data.ptr, data.len);
            } else if (rc == DW_H1_CHUNK_DONE) {
                c->d.bdone = true;
            }
        }
    }
    if (c->rpos == c->rlen && !c->d.bdone) c->rpos = c->rlen = c->body_base;
    return 0;
}

/* Reads more bytes from the client into rbuf after the head. Returns >0 bytes read, 0 on EOF,
 * -1 on error, -2 on EAGAIN. */
static ssize_t conn_read_more(dw_conn_t *c)
{
    if (c->rcap - c->rlen < BODY_READ_MIN) {
        if (c->rpos > c->body_base) {
            memmove(c->rbuf + c->body_base, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos - c->body_base;
            c->rpos = c->body_base;
        }
        if (c->rcap - c->rlen < BODY_READ_MIN) {
            size_t ncap = c->rlen + BODY_READ_MIN;
            char *nb = realloc(c->rbuf, ncap);
            if (!nb) return -1;
            /* views into the head must follow the move */
            ptrdiff_t delta = nb - c->rbuf;
            if (delta && c->d.ex) rebase_views(c, delta);
            c->rbuf = nb, c->rcap = ncap;
        }
    }
    ssize_t n = dw_tport_recv(&c->tp, c->rbuf + c->rlen, c->rcap - c->rlen);
    if (n > 0) c->rlen += (size_t)n;
    return n; /* DW_TPORT_AGAIN is -2 */
}

/* --- connection lifecycle -------------------------------------------------------------------- */

static void conn_timer_cb(void *arg)
{
    dw_conn_t *c = arg;
    switch (c->timer_kind) {
    case T_IDLE: conn_close(c); return;
    case T_HEADER:
        if (c->state == C_HEAD && !c->resp_started) {
            write_simple_error(c, 408);
            return;
        }
        conn_close(c);
        return;
    case T_BODY:
        if (!c->resp_started && c->state == C_PROXY) {
            dw_proxy_abort_upstream(&c->d);
            write_simple_error(c, 408);
            return;
        }
        if (!c->resp_started && c->state == C_RESPOND && c->wbuf.len == 0) {
            write_simple_error(c, 408);
            return;
        }
        conn_close(c);
        return;
    default: return;
    }
}

static const dw_down_ops_t h1_down_ops;

void dw_h1_accept(dw_worker_t *w, int fd, const struct sockaddr_storage *peer, uint16_t port,
                  const char *listener_key, bool tls)
{
    dw_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->d.w = w;
    c->d.ops = &h1_down_ops;
    c->d.proto = 11;
    c->tp.fd = fd;
    c->info.port = port;
    snprintf(c->info.listener, sizeof c->info.listener, "%s", listener_key);
    dw_ip_from_sockaddr(&c->info.peer, peer);
    c->rbuf = malloc(RBUF_INITIAL);
    c->rcap = RBUF_INITIAL;
    c->tp.io = dw_io_new(w->loop, fd, conn_on_io, c);
    c->timer = dw_timer_new(w->loop, conn_timer_cb, c);
    dw_buf_init(&c->wbuf, 0);
    if (tls && w->tls_server) {
        /* the handshake picks certificates from the snapshot current at accept */
        c->hs_sref = dw_worker_snap_acquire(w);
        c->tp.ssl = dw_tls_server_ssl(w->tls_server, fd, c->hs_sref->snap->certs, true);
        c->info.tls = true;
    }
    if (!c->rbuf || !c->tp.io || !c->timer || (tls && !c->tp.ssl)) {
        if (c->hs_sref) dw_worker_snap_release(w, c->hs_sref);
        if (c->tp.ssl) SSL_free(c->tp.ssl);
        free(c->rbuf);
        dw_io_free(c->tp.io);
        if (c->timer) dw_timer_free(c->timer);
        free(c);
        close(fd);
        return;
    }
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->state = tls ? C_TLS : C_HEAD;
    timer_arm(c, T_HEADER, timeouts(c)->read_header_ms);
    dw_io_want(c->tp.io, true, false);
}

static void exchange_free(dw_conn_t *c)
{
    if (!c->d.ex) return;
    dw_exchange_end(c->w, c->d.ex, c->sref, c->d.bread);
    c->d.ex = NULL;
    c->sref = NULL;
}

/* Unlinks c from the worker and frees it; the socket and TLS state are left to the caller. */
static void conn_free(dw_conn_t *c)
{
    if (c->d.up || c->d.px || c->d.h2s) dw_proxy_abort_upstream(&c->d);
    exchange_free(c);
    if (c->hs_sref) {
        dw_worker_snap_release(c->w, c->hs_sref);
        c->hs_sref = NULL;
    }
    dw_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    dw_io_free(c->tp.io);
    c->tp.io = NULL;
    dw_timer_free(c->timer);
    if (c->wtimer) dw_timer_free(c->wtimer);
    dw_buf_deinit(&c->wbuf);
    free(c->rbuf);
    free(c->hf);
    free(c);
}

static void conn_close(dw_conn_t *c)
{
    dw_tport_t tp = c->tp;
    conn_free(c);
    dw_tport_close(&tp);
}

void dw_h1_close_all(dw_worker_t *w)
{
    while (w->conns) conn_close(w->conns);
}

/* Writes what is pending without side effects. 1 = all written, 0 = the socket is full,
 * -1 = the connection failed. */
static int conn_write_pending(dw_conn_t *c)
{
    while (out_pending(c)) {
        struct iovec iov[2];
        int n = 0;
        if (c->wbuf.len > c->woff)
            iov[n++] = (struct iovec){c->wbuf.data + c->woff, c->wbuf.len - c->woff};
        if (c->dlen) iov[n++] = (struct iovec){(void *)c->dptr, c->dlen};
        ssize_t wr = dw_tport_writev(&c->tp, iov, n);
        if (wr == DW_TPORT_AGAIN) return 0;
        if (wr < 0) return -1;
        c->resp_started = true;
        size_t left = (size_t)wr;
        size_t inbuf = c->wbuf.len - c->woff;
        if (left >= inbuf) {
            left -= inbuf;
            c->woff = 0;
            dw_buf_reset(&c->wbuf);
            c->dptr += left;
            c->dlen -= left;
        } else {
            c->woff += left;
        }
    }
    c->woff = 0;
    dw_buf_reset(&c->wbuf);
    return 1;
}

/* Writes what is pending; on completion of a response moves on. */
static void conn_flush(dw_conn_t *c)
{
    int wr = conn_write_pending(c);
    if (wr < 0) {
        conn_close(c);
        return;
    }
    if (wr == 0) {
        conn_update_interest(c);
        return;
    }
    if (c->state == C_PROXY) {
        dw_proxy_client_drained(&c->d);
        return;
    }
    if (c->state == C_TUNNEL) {
        dw_tunnel_drained(c);
        return;
    }
    if (c->state == C_RESPOND && c->resp_done) {
        if (c->d.want_close) {
            /* lingering: stop reading, send FIN, let the client read the response */
            dw_tport_shutdown(&c->tp);
            conn_close(c);
            return;
        }
        if (!c->d.bdone) {
            /* the body still arrives: discard it, then carry on with the next request */
            conn_update_interest(c);
            return;
        }
        conn_request_done(c);
        return;
    }
    conn_update_interest(c);
}

static bool conn_wants_read(const dw_conn_t *c)
{
    switch (c->state) {
    case C_TLS:
    case C_HEAD: return true;
    case C_RESPOND: return !c->d.bdone; /* discarding the body */
    case C_PROXY: return dw_proxy_wants_client_read(&c->d);
    case C_TUNNEL: return dw_tunnel_wants_client_read(c);
    }
    return false;
}

/* Read interest is dropped lazily, when a read event arrives that is not wanted (conn_on_io):
 * a keep-alive client is silent while its response is produced, so an ordinary request costs
 * no epoll_ctl at all (turning reads off and on again cost two per request). */
static void conn_update_interest(dw_conn_t *c)
{
    bool wanted = conn_wants_read(c);
    bool want_read = wanted || dw_io_reading(c->tp.io);
    dw_io_want(c->tp.io, want_read, out_pending(c) > 0);
    if (wanted) dw_tport_kick(&c->tp);
}

/* The request (and its response) ended; the connection goes on with the next one. */
static void write_timeout_cb(void *arg)
{
    conn_close(arg); /* the response took longer than timeouts.write */
}

static void conn_response_started(dw_conn_t *c)
{
    uint64_t ms = timeouts(c)->write_ms;
    if (!ms) return;
    if (!c->wtimer) c->wtimer = dw_timer_new(c->w->loop, write_timeout_cb, c);
    if (c->wtimer) dw_timer_start(c->wtimer, ms);
}

static void conn_request_done(dw_conn_t *c)
{
    if (c->wtimer) dw_timer_stop(c->wtimer);
    exchange_free(c);
    if (c->rpos < c->rlen && c->rpos > 0) memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
    c->body_base = 0;
    c->scan = (dw_h1_scan_t){0};
    c->state = C_HEAD;
    c->resp_started = c->resp_done = false;
    c->d.bdone = true;
    if (c->w->stopping) {
        conn_close(c);
        return;
    }
    if (c->rlen) {
        timer_arm(c, T_HEADER, timeouts(c)->read_header_ms);
        conn_process(c);
    } else {
        /* an idle keep-alive connection holds no buffers (nginx does the same): they come
         * back on the next read */
        free(c->rbuf);
        c->rbuf = NULL;
        c->rcap = 0;
        if (c->wbuf.cap > 4096) { /* a small head buffer is kept: it is reused at once */
            dw_buf_deinit(&c->wbuf);
            dw_buf_init(&c->wbuf, 0);
        }
        timer_arm(c, T_IDLE, timeouts(c)->idle_ms);
        conn_update_interest(c);
    }
}

static void discard_sink(dw_down_t *d, const char *p, size_t n)
{
    (void)d, (void)p, (void)n;
}

/* The connection speaks HTTP/2: http2.c takes the socket (and the bytes read so far). */
static void h2_takeover(dw_conn_t *c)
{
    dw_tport_t tp = c->tp;
    dw_io_free(c->tp.io); /* http2.c watches the fd with its own io */
    c->tp.io = NULL;
    tp.io = NULL;
    dw_h2_start(c->w, tp, &c->info, c->rbuf, c->rlen);
    conn_free(c);
}

static void tls_handshake(dw_conn_t *c)
{
    SSL *ssl = c->tp.ssl;
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1) {
        dw_worker_snap_release(c->w, c->hs_sref);
        c->hs_sref = NULL;
        const char *sn = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
        size_t i = 0;
        for (; sn && sn[i] && i + 1 < sizeof c->info.sni; i++)
            c->info.sni[i] = dw_ascii_lower(sn[i]);
        c->info.sni[i] = '\0';
        c->info.tls_version = SSL_get_version(ssl);
        c->info.tls_cipher = SSL_get_cipher_name(ssl);
        if (dw_tls_alpn_is_h2(ssl)) {
            h2_takeover(c);
            return;
        }
        c->state = C_HEAD;
        conn_update_interest(c); /* the request may already sit decrypted inside OpenSSL */
        return;
    }
    switch (SSL_get_error(ssl, rc)) {
    case SSL_ERROR_WANT_READ: dw_io_want(c->tp.io, true, false); return;
    case SSL_ERROR_WANT_WRITE: dw_io_want(c->tp.io, false, true); return;
    default: {
        char why[160];
        DW_DEBUG("tls", "handshake with %s failed: %s", c->info.peer.text,
                 dw_tls_error_string(why, sizeof why));
        conn_close(c);
        return;
    }
    }
}

static void conn_on_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_conn_t *c = arg;
    if (c->state == C_TUNNEL) {
        dw_tunnel_client_io(c, events);
        return;
    }
    if (c->state == C_TLS) {
        tls_handshake(c);
        return;
    }
    if (events & DW_IO_WRITE) {
        conn_flush(c);
        return; /* conn may be gone; reads are handled on the next wakeup */
    }
    if (!(events & DW_IO_READ)) return;
    if (!conn_wants_read(c)) {
        /* e.g. a pipelined request while this one is proxied: leave it in the socket */
        dw_io_want(c->tp.io, false, out_pending(c) > 0);
        return;
    }
    switch (c->state) {
    case C_HEAD: {
        if (c->rlen == c->rcap) {
            uint32_t max_head = c->w->cur->snap->limits.max_head;
            if (c->rcap >= max_head + RBUF_INITIAL) {
                conn_process(c); /* the parser reports the limit */
                return;
            }
            size_t ncap = c->rcap ? c->rcap * 2 : RBUF_INITIAL;
            char *nb = realloc(c->rbuf, ncap);
            if (!nb) {
                conn_close(c);
                return;
            }
            c->rbuf = nb, c->rcap = ncap;
        }
        ssize_t n = dw_tport_recv(&c->tp, c->rbuf + c->rlen, c->rcap - c->rlen);
        if (n == DW_TPORT_AGAIN) return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        if (c->rlen == 0 && c->timer_kind == T_IDLE)
            timer_arm(c, T_HEADER, timeouts(c)->read_header_ms);
        c->rlen += (size_t)n;
        if (c->nreq == 0 && !c->info.tls && c->rbuf[0] == 'P') {
            /* HTTP/2 with prior knowledge (decision 34): the client preface */
            static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
            size_t k = c->rlen < sizeof preface - 1 ? c->rlen : sizeof preface - 1;
            if (memcmp(c->rbuf, preface, k) == 0) {
                if (k == sizeof preface - 1)
                    h2_takeover(c);
                else
                    conn_update_interest(c);
                return;
            }
        }
        conn_process(c);
        return;
    }
    case C_TLS: tls_handshake(c); return;
    case C_RESPOND: {
        /* discarding the rest of a request body after a generated response */
        for (;;) {
            if (body_consume(c, discard_sink) < 0) {
                c->d.want_close = true;
                if (!out_pending(c)) conn_close(c);
                return;
            }
            if (c->d.bdone) break;
            ssize_t n = conn_read_more(c);
            if (n == -2) return;
            if (n <= 0) {
                conn_close(c);
                return;
            }
        }
        timer_arm(c, T_NONE, 0);
        if (!out_pending(c) && c->resp_done)
            conn_request_done(c);
        else
            conn_update_interest(c);
        return;
    }
    case C_PROXY: dw_proxy_client_readable(&c->d); return;
    default: return;
    }
}

/* --- request start --------------------------------------------------------------------------- */

/* Fills the exchange from the parsed head. Returns 0 or an error status. */
static int build_request(dw_conn_t *c, const dw_h1_head_t *h)
{
    dw_exchange_t *ex = c->d.ex;
    dw_req_t *r = &ex->req;
    dw_req_set_conn(r, &c->info);
    r->http_version = h->version_minor ? 11 : 10;
    r->method = r->orig_method = h->method;
    r->raw_target = h->target;

    r->headers.v = dw_arena_alloc(r->arena, sizeof(dw_field_t) * (h->nfields + 8));
    if (!r->headers.v) return 500;
    r->headers.cap = h->nfields + 8;
    for (uint32_t i = 0; i < h->nfields; i++)
        r->headers.v[i] = (dw_field_t){h->fields[i].name, h->fields[i].value};
    r->headers.n = h->nfields;

    dw_str_t target = h->target;
    dw_str_t authority = DW_STR_NULL;
    bool absolute = false;
    if (target.len == 1 && target.ptr[0] == '*') {
        if (!dw_str_eq_c(h->method, "OPTIONS")) return 400;
    } else if (target.ptr[0] != '/') {
        /* absolute-form: scheme "://" authority [path] */
        ptrdiff_t sep = dw_str_find(target, DW_STR("://"));
        if (sep <= 0) return 400;
        dw_str_t scheme = dw_str_sub(target, 0, (size_t)sep);
        if (!dw_str_caseeq_c(scheme, "http") && !dw_str_caseeq_c(scheme, "https")) return 400;
        dw_str_t rest = dw_str_sub(target, (size_t)sep + 3, target.len);
        size_t end = 0;
        while (end < rest.len && rest.ptr[end] != '/' && rest.ptr[end] != '?') end++;
        authority = dw_str_sub(rest, 0, end);
        if (!authority.len) return 400;
        target = dw_str_sub(rest, end, rest.len);
        if (!target.len)
            target = DW_STR("/");
        else if (target.ptr[0] == '?') {
            char *t = dw_arena_sprintf(r->arena, "/%.*s", DW_STR_FMT(target));
            if (!t) return 500;
            target = dw_str_c(t);
        }
        absolute = true;
    }
    if (dw_req_set_target(r, target) != DW_OK) return 400;
    if (absolute) {
        /* the authority selects the site; Host is replaced by it */
        r->hostport = authority;
        dw_fields_set(r->arena, &r->headers, DW_STR("Host"), authority);
        r->uri_changed = true;
    } else if (h->host_index >= 0) {
        r->hostport = h->fields[h->host_index].value;
    }
    if (r->hostport.len && !dw_host_split(r->arena, r->hostport, &r->host, &r->host_port))
        return 400;
    return 0;
}

/* Re-points the head views after the read buffer moved (realloc during body reads). */
static void rebase_views(dw_conn_t *c, ptrdiff_t d)
{
    const char *lo = c->rbuf, *hi = c->rbuf + c->body_base;
#define REBASE(s)                                                                                  \
    do {                                                                                           \
        if ((s).ptr >= lo && (s).ptr < hi) (s).ptr += d;                                           \
    } while (0)
    dw_req_t *r = &c->d.ex->req;
    REBASE(r->method);
    REBASE(r->orig_method);
    REBASE(r->raw_target);
    REBASE(r->orig_uri);
    REBASE(r->hostport);
    REBASE(r->path);
    REBASE(r->query);
    for (size_t i = 0; i < r->headers.n; i++) {
        REBASE(r->headers.v[i].name);
        REBASE(r->headers.v[i].value);
    }
#undef REBASE
}

static void conn_process(dw_conn_t *c)
{
    const dw_snapshot_t *snap = c->w->cur->snap;
    if (!c->hf) {
        c->hf = malloc(sizeof(dw_h1_field_t) * (snap->limits.max_fields + 1));
        if (!c->hf) {
            conn_close(c);
            return;
        }
    }
    dw_h1_head_t h;
    dw_h1_rc_t rc = dw_h1_parse_request(c->rbuf, c->rlen, &snap->limits, &c->scan, c->hf, &h);
    if (rc == DW_H1_INCOMPLETE) {
        conn_update_interest(c);
        return;
    }
    if (rc == DW_H1_ERROR) {
        DW_DEBUG("http1", "rejected request from %s: %u %s", c->info.peer.text, h.error_status,
                 h.error_reason ? h.error_reason : "");
        c->rlen = c->rpos = 0;
        dw_io_want(c->tp.io, false, false);
        write_simple_error(c, h.error_status ? h.error_status : 400);
        return;
    }
    /* a new request */
    c->nreq++;
    c->d.ex = dw_exchange_new(c->w, &c->sref);
    if (!c->d.ex) {
        conn_close(c);
        return;
    }
    c->rpos = c->body_base = h.head_len;
    c->bkind = h.body;
    c->bleft = h.body == DW_H1_BODY_LENGTH ? h.content_length : 0;
    c->d.bkind = h.body == DW_H1_BODY_LENGTH    ? DW_DOWN_BODY_LENGTH
                 : h.body == DW_H1_BODY_CHUNKED ? DW_DOWN_BODY_STREAM
                                                : DW_DOWN_BODY_NONE;
    c->d.blen = c->bleft;
    c->d.bdone =
        h.body == DW_H1_BODY_NONE || (h.body == DW_H1_BODY_LENGTH && h.content_length == 0);
    c->d.bread = 0;
    c->d.body_error = false;
    dw_h1_chunked_init(&c->chunk);
    c->d.expect = h.expect_continue && !c->d.bdone && h.version_minor == 1;
    c->d.want_close = h.conn_close || (h.version_minor == 0 && !h.conn_keep_alive);
    c->is_http10 = h.version_minor == 0;
    c->d.upgrade = h.conn_upgrade && h.has_upgrade;
    c->resp_started = c->resp_done = false;
    const dw_cfg_global_timeouts_t *to = timeouts(c);
    if (to->max_requests && c->nreq >= to->max_requests) c->d.want_close = true;
    if (c->w->stopping) c->d.want_close = true;

    int st = build_request(c, &h);
    if (st) {
        c->d.want_close = true;
        c->d.bdone = true;
        exchange_free(c);
        c->rlen = c->rpos = 0;
        write_simple_error(c, (uint16_t)st);
        return;
    }
    timer_arm(c, c->d.bdone ? T_NONE : T_BODY, c->d.bdone ? 0 : to->read_body_ms);
    dw_exchange_t *ex = c->d.ex;
    if (ex->req.raw_target.len == 1 && ex->req.raw_target.ptr[0] == '*') {
        /* OPTIONS * is answered by Dwaar itself */
        dw_pipeline_respond(ex, 200, DW_STR_NULL);
        dw_fields_set(&ex->arena, &ex->resp_headers, DW_STR("Allow"),
                      DW_STR("GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"));
        send_outcome(c);
        return;
    }
    dw_pipeline_run(ex);
    send_outcome(c);
}

/* Carries out the exchange's outcome: a generated response, proxying, or abort. */
static void send_outcome(dw_conn_t *c)
{
    dw_exchange_t *ex = c->d.ex;
    /* request_body: a declared length over the limit is refused before reading it */
    if (ex->kind != DW_OUT_ABORT && ex->request_body_max && c->bkind == DW_H1_BODY_LENGTH &&
        c->bleft > ex->request_body_max && !ex->in_error) {
        dw_pipeline_error(ex, 413, DW_STR_NULL);
    }
    if (ex->kind == DW_OUT_ABORT) {
        conn_close(c);
        return;
    }
    if (ex->kind == DW_OUT_PROXY) {
        c->state = C_PROXY;
        dw_proxy_start(&c->d);
        return;
    }
    send_generated(c);
}

static void send_generated(dw_conn_t *c)
{
    dw_exchange_t *ex = c->d.ex;
    dw_req_t *r = &ex->req;
    c->state = C_RESPOND;
    if (c->d.expect && !c->d.bdone) c->d.want_close = true; /* the body was never asked for */
    if (ex->close) c->d.want_close = true;
    dw_fields_t *f = &ex->resp_headers;
    dw_pipeline_finish_headers(ex, f, NULL);
    dw_buf_t *b = &c->wbuf;
    append_status_line(b, ex->status);
    dw_h1_append_fields(b, f);
    dw_buf_append_c(b, "Date: ");
    dw_buf_append_c(b, dw_time_cached()->http_date);
    bool no_body = ex->status < 200 || ex->status == 204 || ex->status == 304;
    if (!no_body) {
        dw_buf_append_c(b, "\r\nContent-Length: ");
        dw_buf_append_u64(b, ex->body.len);
    }
    dw_buf_append(b, "\r\n", 2);
    if (c->d.want_close)
        dw_buf_append_c(b, "Connection: close\r\n");
    else if (c->is_http10)
        dw_buf_append_c(b, "Connection: keep-alive\r\n");
    dw_buf_append(b, "\r\n", 2);
    ex->sent_status = ex->status;
    ex->bytes_sent = 0;
    if (!no_body && !dw_str_eq_c(r->method, "HEAD")) {
        dw_buf_append_str(b, ex->body);
        ex->bytes_sent = ex->body.len;
    }
    if (b->failed) {
        conn_close(c);
        return;
    }
    c->resp_done = true;
    conn_response_started(c);
    /* consume what of the body is already here */
    if (!c->d.bdone && body_consume(c, discard_sink) < 0) c->d.want_close = true;
    if (!c->d.bdone && c->bkind == DW_H1_BODY_LENGTH && c->bleft > (64u << 20))
        c->d.want_close = true; /* not worth reading a huge body just to keep the connection */
    conn_flush(c);
}

/* --- the exchange as the proxy sees it (downstream.h) -------------------------------------- */

static int h1_body_pull(dw_down_t *d, dw_down_sink sink)
{
    return body_consume(dw_conn_of(d), sink);
}

static ssize_t h1_body_read(dw_down_t *d)
{
    return conn_read_more(dw_conn_of(d));
}

static int h1_send_continue(dw_down_t *d)
{
    dw_conn_t *c = dw_conn_of(d);
    if (!d->expect || d->bdone || c->rpos != c->rlen) return 0;
    /* the client waits for our go-ahead before sending the body */
    dw_buf_append_c(&c->wbuf, "HTTP/1.1 100 Continue\r\n\r\n");
    d->expect = false;
    if (conn_write_pending(c) < 0) {
        conn_close(c);
        return -1;
    }
    return 0;
}

static void h1_body_done(dw_down_t *d)
{
    dw_conn_t *c = dw_conn_of(d);
    if (c->timer_kind == T_BODY) timer_arm(c, T_NONE, 0);
}

static int h1_resp_head(dw_down_t *d, uint16_t status, const dw_fields_t *fields,
                        int64_t content_length, bool has_body)
{
    dw_conn_t *c = dw_conn_of(d);
    dw_buf_t *b = &c->wbuf;
    append_status_line(b, status);
    dw_h1_append_fields(b, fields);
    c->out_chunked = c->out_close = false;
    if (status == 101) {
        /* a tunnel: no write timeout, it lives as long as its peers */
        dw_buf_append_c(b, "Connection: upgrade\r\n\r\n");
        return b->failed ? -1 : 0;
    }
    if (!d->bdone) d->want_close = true; /* the rest of the request body is not read */
    if (content_length >= 0) {
        dw_buf_append_c(b, "Content-Length: ");
        dw_buf_append_u64(b, (uint64_t)content_length);
        dw_buf_append(b, "\r\n", 2);
    } else if (has_body && c->is_http10) {
        c->out_close = true;
        d->want_close = true;
    } else if (has_body) {
        c->out_chunked = true;
        dw_buf_append_c(b, "Transfer-Encoding: chunked\r\n");
    }
    if (d->want_close)
        dw_buf_append_c(b, "Connection: close\r\n");
    else if (c->is_http10)
        dw_buf_append_c(b, "Connection: keep-alive\r\n");
    dw_buf_append(b, "\r\n", 2);
    conn_response_started(c);
    return b->failed ? -1 : 0;
}

static bool h1_resp_data(dw_down_t *d, const char *p, size_t n)
{
    dw_conn_t *c = dw_conn_of(d);
    if (c->out_chunked) {
        dw_buf_append_hex(&c->wbuf, n);
        dw_buf_append(&c->wbuf, "\r\n", 2);
        dw_buf_append(&c->wbuf, p, n);
        dw_buf_append(&c->wbuf, "\r\n", 2);
        return false;
    }
    c->dptr = p, c->dlen = n; /* straight from the upstream buffer */
    return true;
}

static void h1_resp_end(dw_down_t *d, const dw_fields_t *trailers)
{
    (void)trailers; /* HTTP/1.1 clients did not ask for trailers (no TE: trailers support) */
    dw_conn_t *c = dw_conn_of(d);
    if (c->out_chunked) dw_buf_append(&c->wbuf, "0\r\n\r\n", 5);
}

static int h1_flush(dw_down_t *d)
{
    return conn_write_pending(dw_conn_of(d));
}

static size_t h1_out_pending(const dw_down_t *d)
{
    return out_pending((const dw_conn_t *)d);
}

static void h1_done(dw_down_t *d)
{
    dw_conn_t *c = dw_conn_of(d);
    if (d->want_close) {
        dw_tport_shutdown(&c->tp);
        conn_close(c);
        return;
    }
    timer_arm(c, T_NONE, 0);
    conn_request_done(c);
}

static void h1_abort(dw_down_t *d)
{
    conn_close(dw_conn_of(d));
}

static void h1_send_generated(dw_down_t *d)
{
    send_generated(dw_conn_of(d));
}

static void h1_send_error(dw_down_t *d, uint16_t status)
{
    write_simple_error(dw_conn_of(d), status);
}

static void h1_update_interest(dw_down_t *d)
{
    conn_update_interest(dw_conn_of(d));
}

static const dw_down_ops_t h1_down_ops = {
    .body_pull = h1_body_pull,
    .body_read = h1_body_read,
    .send_continue = h1_send_continue,
    .body_done = h1_body_done,
    .resp_head = h1_resp_head,
    .resp_data = h1_resp_data,
    .resp_end = h1_resp_end,
    .flush = h1_flush,
    .out_pending = h1_out_pending,
    .done = h1_done,
    .abort = h1_abort,
    .send_generated = h1_send_generated,
    .send_error = h1_send_error,
    .update_interest = h1_update_interest,
};

/* --- for tunnels (proxy.c) ------------------------------------------------------------------ */

int dw_conn_write_pending(dw_conn_t *c)
{
    return conn_write_pending(c);
}

void dw_conn_close(dw_conn_t *c)
{
    conn_close(c);
}

void dw_conn_update_interest(dw_conn_t *c)
{
    conn_update_interest(c);
}
