/* HTTP/1.x message heads and chunked framing (RFC 9110/9112, spec 40-http1.md).
 *
 * A strict, zero-copy parser: every dw_str_t it yields points into the caller's buffer, which
 * must stay unchanged while they are used. It never allocates. The caller finds out whether a
 * head is complete by calling the parser again when more bytes arrived; DW_H1_INCOMPLETE costs
 * one scan of the new bytes (the caller passes where the last scan ended).
 *
 * Anything ambiguous is an error: the parser reports the status the spec names (400, 414,
 * 431, 501) and a short reason for logs. It does not judge Host or target semantics beyond
 * syntax; the caller does (see dw_h1_request_t fields). */
#ifndef DWAAR_CORE_H1_H
#define DWAAR_CORE_H1_H

#include <dwaar/base/str.h>
#include <stdint.h>

typedef struct dw_h1_limits {
    uint32_t max_request_line; /* bytes of the request line without CRLF; over -> 414 (8 KiB) */
    uint32_t max_field;        /* bytes of one field line without CRLF; over -> 431 (16 KiB) */
    uint32_t max_head;         /* bytes of the whole head incl. CRLFs; at/over -> 431 (64 KiB) */
    uint32_t max_fields;       /* number of fields; over -> 431 (100) */
} dw_h1_limits_t;

#define DW_H1_LIMITS_DEFAULT                                                                       \
    {                                                                                              \
        8192, 16384, 65536, 100                                                                    \
    }

typedef struct dw_h1_field {
    dw_str_t name;  /* token, as sent (case kept) */
    dw_str_t value; /* leading/trailing OWS removed; may be empty */
} dw_h1_field_t;

typedef enum dw_h1_body {
    DW_H1_BODY_NONE = 0, /* no body (requests without CL/TE, CL: 0) */
    DW_H1_BODY_LENGTH,   /* content_length bytes */
    DW_H1_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
    DW_H1_BODY_CLOSE,    /* responses only: until the connection closes */
} dw_h1_body_t;

typedef enum dw_h1_rc {
    DW_H1_OK = 0,
    DW_H1_INCOMPLETE = 1, /* need more bytes (and no limit exceeded yet) */
    DW_H1_ERROR = -1,     /* see status / reason */
} dw_h1_rc_t;

/* A parsed head (request or response). */
typedef struct dw_h1_head {
    /* request line */
    dw_str_t method; /* token, case-sensitive */
    dw_str_t target; /* non-empty, no SP/CTL */
    /* status line (responses) */
    uint16_t status; /* 100-999 as sent (3 digits) */
    dw_str_t reason;

    uint8_t version_minor; /* HTTP/1.<0|1> */
    dw_h1_field_t *fields; /* the caller's storage, nfields used */
    uint32_t nfields;
    uint32_t head_len; /* bytes of the head including the final CRLF CRLF */

    /* framing, decided by the parser */
    uint8_t body; /* dw_h1_body_t */
    uint64_t content_length;

    /* connection semantics, from Connection (token list, case-insensitive) */
    bool conn_close;      /* "close" */
    bool conn_keep_alive; /* "keep-alive" */
    bool conn_upgrade;    /* "upgrade" listed in Connection */
    bool has_upgrade;     /* an Upgrade field is present */
    bool expect_continue; /* Expect: 100-continue (case-insensitive) */
    int32_t host_index;   /* index of the single Host field, -1 if none */
    uint32_t nhost;       /* number of Host fields (requests: >1 is an error the parser reports) */

    /* on DW_H1_ERROR */
    uint16_t error_status; /* 400, 414, 431, 501 (502 for a bad response head) */
    const char *error_reason;
} dw_h1_head_t;

/* Scan state so repeated calls on a growing buffer do not rescan. Zero it for a new head. */
typedef struct dw_h1_scan {
    uint32_t scanned; /* bytes already checked for the end of head */
    /* Added for the line-by-line limits on incomplete heads; private to the parser. Setting
     * scanned to 0 also resets them. */
    uint32_t line_start; /* where the line being scanned starts */
    uint32_t first;      /* where the request/status line starts (after leading CRLFs) */
    uint32_t nlines;     /* field lines seen so far */
    uint32_t end;        /* head length once the end of head was found, else 0 */
    uint8_t in_fields;   /* the request/status line has ended */
} dw_h1_scan_t;

/* Parses a request head from buf[0..len). On DW_H1_OK, out describes the head and the body
 * starts at buf + out->head_len. fields has room for max_fields entries (limits->max_fields
 * are accepted; one more is 431).
 *
 * Request rules (spec 40): method token; exactly one SP between parts; target without
 * whitespace/CTL; version exactly HTTP/1.0 or HTTP/1.1; field names are tokens with no
 * whitespace before ':'; obs-fold, bare CR, bare LF, NUL and CTL except HTAB rejected;
 * Content-Length 1*DIGIT <= 2^63-1, repeated/list values accepted only if all identical;
 * CL+TE rejected (also in 1.0); TE must be exactly one final "chunked" (unknown coding ->
 * 501, else 400); HTTP/1.0 with TE -> 400; HTTP/1.1 needs exactly one Host (missing or
 * duplicate -> 400); HTTP/1.0 may omit Host. Limits -> 414/431 as in dw_h1_limits_t, checked
 * also on incomplete input (a request line already longer than max_request_line without CRLF
 * is 414 at once). */
dw_h1_rc_t dw_h1_parse_request(const char *buf, size_t len, const dw_h1_limits_t *limits,
                               dw_h1_scan_t *scan, dw_h1_field_t *fields, dw_h1_head_t *out);

/* Parses an upstream response head. Same field rules; errors report 502. Framing: TE chunked
 * (final) -> CHUNKED; else CL -> LENGTH; else CLOSE. The caller overrides framing for HEAD
 * requests, 1xx, 204 and 304 (no body). CL with TE -> error. */
dw_h1_rc_t dw_h1_parse_response(const char *buf, size_t len, const dw_h1_limits_t *limits,
                                dw_h1_scan_t *scan, dw_h1_field_t *fields, dw_h1_head_t *out);

/* Incremental chunked-body decoder. Zero it (or dw_h1_chunked_init) per body. */
typedef struct dw_h1_chunked {
    uint8_t state;
    uint8_t ndigits;
    uint64_t remaining;     /* bytes left in the current chunk */
    uint32_t line_bytes;    /* bytes of the current size/trailer line (bounded) */
    uint32_t trailer_bytes; /* total trailer section bytes (bounded by max_head) */
    uint32_t ntrailers;
    uint16_t error_status;
    const char *error_reason;
} dw_h1_chunked_t;

typedef enum dw_h1_chunk_rc {
    DW_H1_CHUNK_DATA = 0,      /* *data is body bytes (a view into in) */
    DW_H1_CHUNK_NEED_MORE = 1, /* everything given was consumed; call again with more bytes */
    DW_H1_CHUNK_DONE = 2,      /* the last chunk and the trailer section ended */
    DW_H1_CHUNK_ERROR = -1,    /* bad size, missing CRLF, bad trailer, over limits */
} dw_h1_chunk_rc_t;

static inline void dw_h1_chunked_init(dw_h1_chunked_t *c)
{
    memset(c, 0, sizeof *c);
}

/* Consumes framing and data from in[0..len): *consumed is how many bytes were used (always set;
 * may be less than len on DATA, when the caller should handle *data and call again with the
 * rest; on DONE the bytes after the body are left for the next message). Chunk sizes are hex,
 * no sign or prefix, at most 16 digits, no overflow; extensions parsed and dropped; trailers
 * parsed with the field rules (limits->max_field, max_head, max_fields) and dropped. */
dw_h1_chunk_rc_t dw_h1_chunked_decode(dw_h1_chunked_t *c, const dw_h1_limits_t *limits,
                                      const char *in, size_t len, size_t *consumed, dw_str_t *data);

/* Field helpers. */
/* Index of the first field named name (case-insensitive) at or after start, or -1. */
int32_t dw_h1_find_field(const dw_h1_field_t *fields, uint32_t nfields, dw_str_t name,
                         uint32_t start);
/* True when name is one of the hop-by-hop fields of spec 40 (Connection, Keep-Alive,
 * Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade). */
bool dw_h1_is_hop_by_hop(dw_str_t name);
/* True when token (case-insensitive) is an element of the comma-separated list value. */
bool dw_h1_list_has(dw_str_t value, dw_str_t token);

#endif
