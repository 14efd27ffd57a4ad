/* HTTP/2 server side (http2.c), the parts the fuzz harness (fuzz/fuzz_h2.c) drives too: the
 * nghttp2 server session every client connection gets, and the request-head layer that turns
 * nghttp2's header callbacks into a dw_req_t. Internal. */
#ifndef DWAAR_CORE_HTTP2_H
#define DWAAR_CORE_HTTP2_H

#include <dwaar/core/h1.h>
#include <dwaar/core/request.h>
#include <nghttp2/nghttp2.h>

#define DW_H2_MAX_STREAMS      100u     /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define DW_H2_STREAM_WINDOW    65535u   /* SETTINGS_INITIAL_WINDOW_SIZE (request bodies) */
#define DW_H2_CONN_WINDOW      1048576u /* connection receive window */
#define DW_H2_HEADER_TABLE     4096u    /* SETTINGS_HEADER_TABLE_SIZE, and our encoder's table */
#define DW_H2_MAX_SEND_HEADERS 131072u  /* largest response header block we encode */

/* A server session with Dwaar's options (no automatic WINDOW_UPDATE: the front end consumes
 * what it hands on; flood limits) and our SETTINGS and connection window queued. The
 * header-list limit is lim->max_head. Returns 0, or -1 (out of memory). */
int dw_h2_session_new(nghttp2_session **out, const nghttp2_session_callbacks *cbs, void *user,
                      const dw_h1_limits_t *lim);

/* A request header block (or a trailer block) as nghttp2 delivers it, field by field. Values
 * are copied into the request arena. Limits follow the HTTP/1.1 ones (dw_h1_limits_t): the
 * header list size (name + value + 32 per field, RFC 9113 §6.5.2) over max_head, more than
 * max_fields fields or one field over max_field make the block "too large" (status 431); from
 * then on fields are only counted, never stored, so a compressed bomb costs no memory. */
typedef struct dw_h2_head {
    dw_str_t method, scheme, authority, path, protocol; /* pseudo-header fields */
    dw_fields_t fields;                                 /* regular fields, names lower-case */
    uint64_t size;                                      /* header list size so far */
    uint32_t nfields;                                   /* regular fields seen */
    uint32_t nhost, ncookie;
    int32_t host_index; /* first host field in fields, -1 = none */
    uint64_t content_length;
    bool has_content_length;
    bool trailers;   /* a trailer block: no pseudo-header fields */
    bool bad;        /* malformed (RFC 9113 §8.1.1): reset the stream with PROTOCOL_ERROR */
    uint16_t status; /* 0, or 431 once over a limit */
} dw_h2_head_t;

void dw_h2_head_init(dw_h2_head_t *h, bool trailers);
/* One field. Returns 0, or -1 when out of memory. */
int dw_h2_head_add(dw_h2_head_t *h, dw_arena_t *a, const dw_h1_limits_t *lim, const uint8_t *name,
                   size_t namelen, const uint8_t *value, size_t valuelen);
/* Fills r (r->arena set) from a complete request head: method, target (path, query, npath),
 * fields (cookie fields joined with "; " into one), Host (:authority wins; a host field is
 * added or replaced by it), host key and port, http_version 20. Returns 0, -1 when the request
 * is malformed or refused (CONNECT, :protocol: reset the stream with PROTOCOL_ERROR), or an
 * HTTP status to answer (400: bad path, no or bad authority; 431: too large). */
int dw_h2_head_request(dw_h2_head_t *h, dw_req_t *r);

#endif
