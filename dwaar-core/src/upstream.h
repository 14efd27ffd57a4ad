/* A client connection (HTTP/1.1), an upstream connection, and the calls between the HTTP/1.1
 * front end (http1.c) and the reverse proxy (proxy.c, tunnels included). Internal. */
#ifndef DWAAR_CORE_UPSTREAM_H
#define DWAAR_CORE_UPSTREAM_H

#include "downstream.h"
#include "pool.h"
#include "worker.h"
#include <dwaar/base/buf.h>
#include <sys/types.h>

typedef struct dw_upconn dw_upconn_t;

/* client connection states */
enum { C_TLS = 0, C_HEAD, C_RESPOND, C_PROXY, C_TUNNEL };

typedef struct dw_conn {
    dw_down_t d; /* the current exchange as the proxy sees it (first: a dw_down_t * of an
                    HTTP/1.1 exchange is its connection) */
    dw_worker_t *w;
    dw_tport_t tp;
    dw_timer_t *timer;
    dw_timer_t *wtimer; /* timeouts.write: created when that timeout is on */
    uint8_t timer_kind;
    uint8_t state;
    dw_conn_info_t info;
    dw_snapref_t *hs_sref; /* the snapshot whose certificates the TLS handshake uses */

    /* input: [0, body_base) is the current head (views point there), [rpos, rlen) unread */
    char *rbuf;
    size_t rlen, rcap, rpos, body_base;
    dw_h1_scan_t scan;
    dw_h1_field_t *hf;

    /* output: wbuf[woff..] then a direct slice (bytes owned by the upstream read buffer) */
    dw_buf_t wbuf;
    size_t woff;
    const char *dptr;
    size_t dlen;

    uint32_t nreq;
    bool is_http10;
    bool resp_started; /* bytes of the response reached the socket */
    bool resp_done;    /* the whole response is queued */
    bool out_chunked;  /* the proxied response body goes out chunked */
    bool out_close;    /* ... or delimited by closing the connection (HTTP/1.0) */

    /* request body (HTTP/1.1 framing; d.bkind is the protocol-neutral view) */
    uint8_t bkind;
    uint64_t bleft;
    dw_h1_chunked_t chunk;

    dw_snapref_t *sref;
    struct dw_conn *next, *prev;
} dw_conn_t;

struct dw_upconn {
    dw_worker_t *w;
    dw_tport_t tp; /* TLS when the upstream is reached with `transport tls` */
    dw_timer_t *timer;
    char key[320]; /* idle-list key: backend key, prefixed for TLS */
    dw_down_t *d;  /* attached client exchange, NULL when idle */
    uint8_t state;
    bool reused;
    char *rbuf;
    size_t rlen, rcap, rpos;
    dw_h1_scan_t scan;
    dw_buf_t wbuf;
    size_t woff;
    /* response body */
    uint8_t bkind;
    uint64_t bleft;
    dw_h1_chunked_t chunk;
    bool keepalive; /* the upstream allows reuse after this response */
    bool readable;  /* a read event came and recv has not said EAGAIN since: no speculative
                       recv right after sending a request (it would nearly always fail) */
    struct dw_upconn *next_idle, *prev_idle;
};

/* http1.c */
/* The HTTP/1.1 connection of an exchange that is not HTTP/2 (tunnels). */
static inline dw_conn_t *dw_conn_of(dw_down_t *d)
{
    return (dw_conn_t *)d;
}
void dw_conn_close(dw_conn_t *c);
/* "Name: value\r\n" for every field (HTTP/1.1 heads, both directions). */
void dw_h1_append_fields(dw_buf_t *b, const dw_fields_t *f);
void dw_conn_update_interest(dw_conn_t *c);
/* 1 = all written, 0 = socket full, -1 = failed; never calls back. */
int dw_conn_write_pending(dw_conn_t *c);

/* proxy.c: tunnels (WebSocket and other upgrades, HTTP/1.1 only) */
void dw_tunnel_client_io(dw_conn_t *c, int events);
void dw_tunnel_drained(dw_conn_t *c);
bool dw_tunnel_wants_client_read(const dw_conn_t *c);

#endif
