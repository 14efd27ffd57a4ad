/* HTTP/1.1 front end: client connections, request heads and bodies, generated responses, and
 * the reverse proxy's HTTP/1.1 upstream exchange (spec 40, spec 20 §3.3-3.4, spec 10 §6.1).
 *
 * Memory is bounded per connection: a read buffer (16 KiB, grown to the head limit only for a
 * large head), an output buffer, and for proxying the upstream connection's 64 KiB read buffer.
 * Bodies stream: a side is read only while the other side's pending output is below
 * DW_PENDING_MAX, so a 1 GB body in either direction costs no more than a small one. */
#include "upstream.h"
#include <arpa/inet.h>
#include <dwaar/base/log.h>
#include <dwaar/base/parse.h>
#include <dwaar/base/time.h>
#include <dwaar/core/status.h>
#include <dwaar/log/batcher.h>
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
static void rebase_views(dw_conn_t *c, ptrdiff_t d);

/* --- small helpers ------------------------------------------------------------------------- */

static void fill_ip(dw_ip_t *ip, const struct sockaddr_storage *ss)
{
    memset(ip, 0, sizeof *ip);
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        ip->family = 4;
        memcpy(ip->addr, &in->sin_addr, 4);
        ip->port = ntohs(in->sin_port);
        inet_ntop(AF_INET, &in->sin_addr, ip->text, sizeof ip->text);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        ip->port = ntohs(in6->sin6_port);
        if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
            ip->family = 4;
            memcpy(ip->addr, in6->sin6_addr.s6_addr + 12, 4);
            inet_ntop(AF_INET, ip->addr, ip->text, sizeof ip->text);
        } else {
            ip->family = 6;
            memcpy(ip->addr, &in6->sin6_addr, 16);
            inet_ntop(AF_INET6, &in6->sin6_addr, ip->text, sizeof ip->text);
        }
    }
}

static uint64_t rng_next(dw_worker_t *w)
{
    uint64_t s = w->rng;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return w->rng = s;
}

/* UUID v7: 48-bit Unix ms, version 7, 74 random bits. */
static void make_request_id(dw_worker_t *w, char out[37])
{
    uint64_t ms = dw_time_wall_ms();
    uint64_t r1 = rng_next(w), r2 = rng_next(w);
    uint8_t b[16];
    for (int i = 0; i < 6; i++) b[i] = (uint8_t)(ms >> (40 - 8 * i));
    b[6] = (uint8_t)(0x70 | (r1 & 0x0f));
    b[7] = (uint8_t)(r1 >> 8);
    b[8] = (uint8_t)(0x80 | ((r1 >> 16) & 0x3f));
    for (int i = 9; i < 16; i++) b[i] = (uint8_t)(r2 >> (8 * (i - 9)));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

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

static void append_fields(dw_buf_t *b, const dw_fields_t *f)
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
    c->want_close = true;
    c->resp_done = true;
    c->bdone = true; /* nothing more is read from this connection */
    if (c->ex) c->ex->sent_status = status, c->ex->bytes_sent = 0;
    c->state = C_RESPOND;
    conn_flush(c);
}

/* --- request body ---------------------------------------------------------------------------- */

/* Consumes body bytes already in rbuf[rpos..rlen): each data piece goes to sink (NULL =
 * discard). Returns 0, or -1 on a framing error (c->body_error set). */
typedef void (*body_sink)(dw_conn_t *c, const char *p, size_t n);

static int body_consume(dw_conn_t *c, body_sink sink)
{
    while (!c->bdone && c->rpos < c->rlen) {
        const char *p = c->rbuf + c->rpos;
        size_t avail = c->rlen - c->rpos;
        if (c->bkind == DW_H1_BODY_LENGTH) {
            size_t n = avail < c->bleft ? avail : (size_t)c->bleft;
            if (sink) sink(c, p, n);
            c->rpos += n;
            c->bleft -= n;
            c->bread += n;
            if (c->bleft == 0) c->bdone = true;
        } else {
            size_t used = 0;
            dw_str_t data;
            dw_h1_chunk_rc_t rc =
                dw_h1_chunked_decode(&c->chunk, &c->w->cur->snap->limits, p, avail, &used, &data);
            c->rpos += used;
            if (rc == DW_H1_CHUNK_ERROR) {
                c->body_error = true;
                return -1;
            }
            if (rc == DW_H1_CHUNK_DATA) {
                c->bread += data.len;
                if (sink) sink(c, data.ptr, data.len);
            } else if (rc == DW_H1_CHUNK_DONE) {
                c->bdone = true;
            }
        }
    }
    if (c->rpos == c->rlen && !c->bdone) c->rpos = c->rlen = c->body_base;
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
            if (delta && c->ex) rebase_views(c, delta);
            c->rbuf = nb, c->rcap = ncap;
        }
    }
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
    if (n > 0) {
        c->rlen += (size_t)n;
        return n;
    }
    if (n == 0) return 0;
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return -2;
    return -1;
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
            dw_proxy_abort_upstream(c);
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

void dw_h1_accept(dw_worker_t *w, int fd, const struct sockaddr_storage *peer, uint16_t port,
                  const char *listener_key)
{
    dw_conn_t *c = calloc(1, sizeof *c);
    if (!c) {
        close(fd);
        return;
    }
    c->w = w;
    c->fd = fd;
    c->port = port;
    snprintf(c->listener, sizeof c->listener, "%s", listener_key);
    fill_ip(&c->peer, peer);
    c->rbuf = malloc(RBUF_INITIAL);
    c->rcap = RBUF_INITIAL;
    c->io = dw_io_new(w->loop, fd, conn_on_io, c);
    c->timer = dw_timer_new(w->loop, conn_timer_cb, c);
    dw_buf_init(&c->wbuf, 0);
    if (!c->rbuf || !c->io || !c->timer) {
        free(c->rbuf);
        dw_io_free(c->io);
        if (c->timer) dw_timer_free(c->timer);
        free(c);
        close(fd);
        return;
    }
    c->next = w->conns;
    if (w->conns) w->conns->prev = c;
    w->conns = c;
    w->nconns++;
    c->state = C_HEAD;
    timer_arm(c, T_HEADER, timeouts(c)->read_header_ms);
    dw_io_want(c->io, true, false);
}

/* The request-log record of an exchange that ends (completed, failed or aborted), for sites
 * with `log` (spec 30 §2.2). Views are only borrowed: the batcher packs them at once. */
static void log_request(dw_conn_t *c)
{
    const dw_exchange_t *ex = c->ex;
    const dw_req_t *r = &ex->req;
    dw_log_batcher_t *b = c->w->alog;
    if (!b || !ex->log_on || !r->site || !r->site->log || ex->skip_log) return;
    dw_log_record_t rec = {
        .wall_ms = dw_time_wall_ms(),
        .request_id = dw_str_make(r->request_id, strnlen(r->request_id, 36)),
        .method = r->orig_method.ptr ? r->orig_method : r->method,
        .path = r->orig_uri,
        .host = r->hostport,
        .status = ex->sent_status,
        .client_family = r->peer.family,
        .bytes_sent = ex->bytes_sent,
        .bytes_received = c->bread,
        .http_version = r->http_version,
        .upstream_addr = ex->upstream_addr ? dw_str_c(ex->upstream_addr) : DW_STR_NULL,
        .upstream_response_time_us = ex->up_time_us,
    };
    ptrdiff_t q = dw_str_chr(r->orig_uri, '?');
    if (q >= 0) {
        rec.path = dw_str_sub(r->orig_uri, 0, (size_t)q);
        rec.query = dw_str_sub(r->orig_uri, (size_t)q + 1, r->orig_uri.len);
        rec.has_query = true;
    }
    uint64_t now = dw_pipeline_now_us();
    rec.response_time_us = now > ex->start_us ? now - ex->start_us : 0;
    memcpy(rec.client_addr, r->peer.addr, sizeof rec.client_addr);
    const dw_field_t *f = dw_fields_get(&r->headers, DW_STR("User-Agent"));
    if (f) rec.user_agent = f->value.ptr ? f->value : DW_STR("");
    f = dw_fields_get(&r->headers, DW_STR("Referer"));
    if (f) rec.referer = f->value.ptr ? f->value : DW_STR("");
    dw_log_batcher_add(b, r->site->log, &rec);
}

static void exchange_free(dw_conn_t *c)
{
    if (!c->ex) return;
    if (c->ex->log_on) log_request(c);
    dw_arena_deinit(&c->ex->arena);
    free(c->ex);
    c->ex = NULL;
    if (c->sref) {
        dw_worker_snap_release(c->w, c->sref);
        c->sref = NULL;
    }
}

static void conn_close(dw_conn_t *c)
{
    if (c->up) dw_proxy_abort_upstream(c);
    exchange_free(c);
    dw_worker_t *w = c->w;
    if (c->prev)
        c->prev->next = c->next;
    else
        w->conns = c->next;
    if (c->next) c->next->prev = c->prev;
    w->nconns--;
    dw_io_free(c->io);
    dw_timer_free(c->timer);
    if (c->wtimer) dw_timer_free(c->wtimer);
    close(c->fd);
    dw_buf_deinit(&c->wbuf);
    free(c->rbuf);
    free(c->hf);
    free(c);
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
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        ssize_t wr = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
        if (wr < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return 0;
            return -1;
        }
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
        dw_proxy_client_drained(c);
        return;
    }
    if (c->state == C_TUNNEL) {
        dw_tunnel_drained(c);
        return;
    }
    if (c->state == C_RESPOND && c->resp_done) {
        if (c->want_close) {
            /* lingering: stop reading, send FIN, let the client read the response */
            shutdown(c->fd, SHUT_WR);
            conn_close(c);
            return;
        }
        if (!c->bdone) {
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
    case C_HEAD: return true;
    case C_RESPOND: return !c->bdone; /* discarding the body */
    case C_PROXY: return dw_proxy_wants_client_read(c);
    case C_TUNNEL: return dw_tunnel_wants_client_read(c);
    }
    return false;
}

/* Read interest is dropped lazily, when a read event arrives that is not wanted (conn_on_io):
 * a keep-alive client is silent while its response is produced, so an ordinary request costs
 * no epoll_ctl at all (turning reads off and on again cost two per request). */
static void conn_update_interest(dw_conn_t *c)
{
    bool want_read = conn_wants_read(c) || dw_io_reading(c->io);
    dw_io_want(c->io, want_read, out_pending(c) > 0);
}

/* The request (and its response) ended; the connection goes on with the next one. */
static void write_timeout_cb(void *arg)
{
    conn_close(arg); /* the response took longer than timeouts.write */
}

void dw_conn_response_started(dw_conn_t *c)
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
    c->bdone = true;
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

static void discard_sink(dw_conn_t *c, const char *p, size_t n)
{
    (void)c, (void)p, (void)n;
}

static void conn_on_io(int fd, int events, void *arg)
{
    (void)fd;
    dw_conn_t *c = arg;
    if (c->state == C_TUNNEL) {
        dw_tunnel_client_io(c, events);
        return;
    }
    if (events & DW_IO_WRITE) {
        conn_flush(c);
        return; /* conn may be gone; reads are handled on the next wakeup */
    }
    if (!(events & DW_IO_READ)) return;
    if (!conn_wants_read(c)) {
        /* e.g. a pipelined request while this one is proxied: leave it in the socket */
        dw_io_want(c->io, false, out_pending(c) > 0);
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
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen, 0);
        if (n == 0) {
            conn_close(c);
            return;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
            conn_close(c);
            return;
        }
        if (c->rlen == 0 && c->timer_kind == T_IDLE)
            timer_arm(c, T_HEADER, timeouts(c)->read_header_ms);
        c->rlen += (size_t)n;
        conn_process(c);
        return;
    }
    case C_RESPOND: {
        /* discarding the rest of a request body after a generated response */
        for (;;) {
            if (body_consume(c, discard_sink) < 0) {
                c->want_close = true;
                if (!out_pending(c)) conn_close(c);
                return;
            }
            if (c->bdone) break;
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
    case C_PROXY: dw_proxy_client_readable(c); return;
    default: return;
    }
}

/* --- request start --------------------------------------------------------------------------- */

/* Host (or absolute-form authority) to the normalised host key and port. */
static bool split_host(dw_arena_t *a, dw_str_t hp, dw_str_t *host, uint16_t *port)
{
    *port = 0;
    dw_str_t h = hp;
    if (h.len && h.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(h, ']');
        if (close < 0) return false;
        dw_str_t rest = dw_str_sub(h, (size_t)close + 1, h.len);
        h = dw_str_sub(h, 1, (size_t)close - 1);
        if (rest.len) {
            uint64_t p;
            if (rest.ptr[0] != ':' || dw_parse_u64(dw_str_sub(rest, 1, rest.len), &p) != DW_OK ||
                p > 65535)
                return false;
            *port = (uint16_t)p;
        }
    } else {
        ptrdiff_t colon = dw_str_chr(h, ':');
        if (colon >= 0) {
            uint64_t p;
            dw_str_t ps = dw_str_sub(h, (size_t)colon + 1, h.len);
            if (ps.len && (dw_parse_u64(ps, &p) != DW_OK || p > 65535)) return false;
            if (ps.len) *port = (uint16_t)p;
            h = dw_str_sub(h, 0, (size_t)colon);
        }
    }
    if (h.len && h.ptr[h.len - 1] == '.') h.len--;
    for (size_t i = 0; i < h.len; i++) {
        unsigned char ch = (unsigned char)h.ptr[i];
        if (ch <= 0x20 || ch == '/' || ch == '?' || ch == '#' || ch == '@' || ch >= 0x7f)
            return false;
    }
    char *lc = dw_arena_alloc(a, h.len + 1);
    if (!lc) return false;
    for (size_t i = 0; i < h.len; i++) lc[i] = dw_ascii_lower(h.ptr[i]);
    lc[h.len] = '\0';
    *host = dw_str_make(lc, h.len);
    return true;
}

/* Fills the exchange from the parsed head. Returns 0 or an error status. */
static int build_request(dw_conn_t *c, const dw_h1_head_t *h)
{
    dw_exchange_t *ex = c->ex;
    dw_req_t *r = &ex->req;
    r->arena = &ex->arena;
    r->snap = c->sref->snap;
    r->peer = c->peer;
    r->local_port = c->port;
    r->listener = c->listener;
    r->http_version = h->version_minor ? 11 : 10;
    r->method = r->orig_method = h->method;
    r->raw_target = h->target;
    make_request_id(c->w, r->request_id);

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
    r->orig_uri = target;
    if (target.len == 1 && target.ptr[0] == '*') {
        r->path = r->npath = DW_STR("*");
    } else {
        ptrdiff_t q = dw_str_chr(target, '?');
        dw_str_t path = q >= 0 ? dw_str_sub(target, 0, (size_t)q) : target;
        if (q >= 0) r->query = dw_str_sub(target, (size_t)q + 1, target.len), r->has_query = true;
        r->path = path;
        if (dw_path_normalize(r->arena, path, &r->npath) != DW_OK) return 400;
    }
    if (absolute) {
        /* the authority selects the site; Host is replaced by it */
        r->hostport = authority;
        dw_fields_set(r->arena, &r->headers, DW_STR("Host"), authority);
        r->uri_changed = true;
    } else if (h->host_index >= 0) {
        r->hostport = h->fields[h->host_index].value;
    }
    if (r->hostport.len && !split_host(r->arena, r->hostport, &r->host, &r->host_port)) return 400;
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
    dw_req_t *r = &c->ex->req;
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
        DW_DEBUG("http1", "rejected request from %s: %u %s", c->peer.text, h.error_status,
                 h.error_reason ? h.error_reason : "");
        c->rlen = c->rpos = 0;
        dw_io_want(c->io, false, false);
        write_simple_error(c, h.error_status ? h.error_status : 400);
        return;
    }
    /* a new request */
    c->nreq++;
    c->sref = dw_worker_snap_acquire(c->w);
    c->ex = calloc(1, sizeof *c->ex);
    if (!c->ex) {
        conn_close(c);
        return;
    }
    dw_arena_init(&c->ex->arena, 4096);
    if (c->w->alog) {
        c->ex->log_on = true;
        c->ex->start_us = dw_pipeline_now_us();
    }
    c->rpos = c->body_base = h.head_len;
    c->bkind = h.body;
    c->bleft = h.body == DW_H1_BODY_LENGTH ? h.content_length : 0;
    c->bdone = h.body == DW_H1_BODY_NONE || (h.body == DW_H1_BODY_LENGTH && h.content_length == 0);
    c->bread = 0;
    c->body_error = false;
    dw_h1_chunked_init(&c->chunk);
    c->expect = h.expect_continue && !c->bdone && h.version_minor == 1;
    c->want_close = h.conn_close || (h.version_minor == 0 && !h.conn_keep_alive);
    c->is_http10 = h.version_minor == 0;
    c->upgrade = h.conn_upgrade && h.has_upgrade;
    c->resp_started = c->resp_done = false;
    const dw_cfg_global_timeouts_t *to = timeouts(c);
    if (to->max_requests && c->nreq >= to->max_requests) c->want_close = true;
    if (c->w->stopping) c->want_close = true;

    int st = build_request(c, &h);
    if (st) {
        c->want_close = true;
        c->bdone = true;
        exchange_free(c);
        c->rlen = c->rpos = 0;
        write_simple_error(c, (uint16_t)st);
        return;
    }
    timer_arm(c, c->bdone ? T_NONE : T_BODY, c->bdone ? 0 : to->read_body_ms);
    dw_exchange_t *ex = c->ex;
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
    dw_exchange_t *ex = c->ex;
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
        dw_proxy_start(c);
        return;
    }
    dw_h1_send_generated(c);
}

void dw_h1_send_generated(dw_conn_t *c)
{
    dw_exchange_t *ex = c->ex;
    dw_req_t *r = &ex->req;
    c->state = C_RESPOND;
    if (c->expect && !c->bdone) c->want_close = true; /* the body was never asked for */
    dw_fields_t *f = &ex->resp_headers;
    dw_pipeline_finish_headers(ex, f, NULL);
    dw_buf_t *b = &c->wbuf;
    append_status_line(b, ex->status);
    append_fields(b, f);
    dw_buf_append_c(b, "Date: ");
    dw_buf_append_c(b, dw_time_cached()->http_date);
    bool no_body = ex->status < 200 || ex->status == 204 || ex->status == 304;
    if (!no_body) {
        dw_buf_append_c(b, "\r\nContent-Length: ");
        dw_buf_append_u64(b, ex->body.len);
    }
    dw_buf_append(b, "\r\n", 2);
    if (c->want_close)
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
    dw_conn_response_started(c);
    /* consume what of the body is already here */
    if (!c->bdone && body_consume(c, discard_sink) < 0) c->want_close = true;
    if (!c->bdone && c->bkind == DW_H1_BODY_LENGTH && c->bleft > (64u << 20))
        c->want_close = true; /* not worth reading a huge body just to keep the connection */
    conn_flush(c);
}

/* --- accessors for proxy.c / tunnel.c ----------------------------------------------------- */

int dw_conn_write_pending(dw_conn_t *c)
{
    return conn_write_pending(c);
}

int dw_conn_body_consume(dw_conn_t *c, void (*sink)(dw_conn_t *, const char *, size_t))
{
    return body_consume(c, sink);
}

ssize_t dw_conn_read_more(dw_conn_t *c)
{
    return conn_read_more(c);
}

void dw_conn_flush(dw_conn_t *c)
{
    conn_flush(c);
}

void dw_conn_close(dw_conn_t *c)
{
    conn_close(c);
}

void dw_conn_request_done(dw_conn_t *c)
{
    timer_arm(c, T_NONE, 0);
    conn_request_done(c);
}

void dw_conn_update_interest(dw_conn_t *c)
{
    conn_update_interest(c);
}

size_t dw_conn_out_pending(const dw_conn_t *c)
{
    return out_pending(c);
}

void dw_conn_timer_body_done(dw_conn_t *c)
{
    if (c->timer_kind == T_BODY) timer_arm(c, T_NONE, 0);
}

void dw_conn_append_status_line(dw_buf_t *b, uint16_t status)
{
    append_status_line(b, status);
}

void dw_conn_append_fields(dw_buf_t *b, const dw_fields_t *f)
{
    append_fields(b, f);
}

void dw_conn_write_simple_error(dw_conn_t *c, uint16_t status)
{
    write_simple_error(c, status);
}
