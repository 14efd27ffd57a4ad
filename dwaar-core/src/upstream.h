/* A client connection (HTTP/1.1), an upstream connection, and the calls between the HTTP/1.1
 * front end (http1.c), the reverse proxy (proxy.c) and tunnels (tunnel.c). Internal. */
#ifndef DWAAR_CORE_UPSTREAM_H
#define DWAAR_CORE_UPSTREAM_H

#include "pool.h"
#include "worker.h"
#include <dwaar/base/buf.h>
#include <sys/types.h>

typedef struct dw_upconn dw_upconn_t;

/* client connection states */
enum { C_HEAD = 0, C_RESPOND, C_PROXY, C_TUNNEL };

typedef struct dw_conn {
    dw_worker_t *w;
    int fd;
    dw_io_t *io;
    dw_timer_t *timer;
    dw_timer_t *wtimer; /* timeouts.write: created when that timeout is on */
    uint8_t timer_kind;
    uint8_t state;
    dw_ip_t peer;
    uint16_t port;
    char listener[256]; /* the accepting listener's key */

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
    bool want_close; /* Connection: close on this response, then close */
    bool is_http10;
    bool upgrade;      /* Connection: upgrade + Upgrade */
    bool expect;       /* Expect: 100-continue with a body still to come */
    bool resp_started; /* bytes of the response reached the socket */
    bool resp_done;    /* the whole response is queued */

    /* request body */
    uint8_t bkind;
    bool bdone;
    bool body_error;
    uint64_t bleft;
    uint64_t bread;
    dw_h1_chunked_t chunk;

    dw_exchange_t *ex;
    dw_snapref_t *sref;

    dw_upconn_t *up;     /* proxying or tunnelling */
    struct dw_proxy *px; /* proxy state of the current exchange */
    struct dw_conn *next, *prev;
} dw_conn_t;

struct dw_upconn {
    dw_worker_t *w;
    int fd;
    dw_io_t *io;
    dw_timer_t *timer;
    char key[128];
    dw_conn_t *c; /* attached client, NULL when idle */
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
int dw_conn_body_consume(dw_conn_t *c, void (*sink)(dw_conn_t *, const char *, size_t));
ssize_t dw_conn_read_more(dw_conn_t *c);
void dw_conn_flush(dw_conn_t *c);
/* 1 = all written, 0 = socket full, -1 = failed; never calls back. */
int dw_conn_write_pending(dw_conn_t *c);
void dw_conn_close(dw_conn_t *c);
void dw_conn_request_done(dw_conn_t *c);
void dw_conn_update_interest(dw_conn_t *c);
size_t dw_conn_out_pending(const dw_conn_t *c);
void dw_conn_timer_body_done(dw_conn_t *c);
void dw_conn_append_status_line(dw_buf_t *b, uint16_t status);
void dw_conn_append_fields(dw_buf_t *b, const dw_fields_t *f);
void dw_conn_write_simple_error(dw_conn_t *c, uint16_t status);
void dw_h1_send_generated(dw_conn_t *c);
/* Starts the `write` timeout (spec 20 §3.4) for the response being written, when set. */
void dw_conn_response_started(dw_conn_t *c);

/* proxy.c */
void dw_proxy_start(dw_conn_t *c);
void dw_proxy_client_readable(dw_conn_t *c);
void dw_proxy_client_drained(dw_conn_t *c);
bool dw_proxy_wants_client_read(const dw_conn_t *c);
void dw_proxy_abort_upstream(dw_conn_t *c);

/* tunnel (proxy.c) */
void dw_tunnel_client_io(dw_conn_t *c, int events);
void dw_tunnel_drained(dw_conn_t *c);
bool dw_tunnel_wants_client_read(const dw_conn_t *c);

#endif
