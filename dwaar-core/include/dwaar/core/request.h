/* The protocol-independent request ("exchange") every handler and the pipeline see. HTTP/1.1
 * fills it from its parser today; HTTP/2 and HTTP/3 fill the same struct later, so routing,
 * matchers and placeholders exist once.
 *
 * Memory: everything hangs off req->arena (freed when the request ends). Views taken from the
 * connection's read buffer (method, raw target, header fields) stay valid for the request's
 * life: the connection does not move or reuse those bytes until the request is finished. */
#ifndef DWAAR_CORE_REQUEST_H
#define DWAAR_CORE_REQUEST_H

#include <dwaar/base/arena.h>
#include <dwaar/config/model.h>
#include <netinet/in.h>
#include <stdint.h>

/* A mutable list of header fields (request or response). Arena-grown. */
typedef struct dw_field {
    dw_str_t name, value;
} dw_field_t;

typedef struct dw_fields {
    dw_field_t *v;
    size_t n, cap;
} dw_fields_t;

/* A peer or local address in binary and text form. */
typedef struct dw_ip {
    uint8_t family; /* 0 = none (unix socket), 4 or 6 */
    uint8_t addr[16];
    uint16_t port;
    char text[46]; /* "127.0.0.1", "::1" (no brackets) */
} dw_ip_t;

typedef struct dw_var {
    dw_str_t name, value;
} dw_var_t;

/* Captures of one named regex matcher: {re.<name>.<N>}. */
typedef struct dw_re_captures {
    dw_str_t name;
    dw_str_t *groups; /* groups[0] = whole match */
    size_t ngroups;
} dw_re_captures_t;

/* Response header operations collected while the pipeline ran (header directives whose
 * matcher matched), applied in order when the response head is written. */
typedef struct dw_hdr_opset {
    const dw_cfg_header_ops_t *ops;
} dw_hdr_opset_t;

struct dw_snapshot;
struct dw_rt_site;

typedef struct dw_req {
    dw_arena_t *arena;
    const struct dw_snapshot *snap;
    const struct dw_rt_site *site; /* NULL until selected */

    /* connection facts */
    dw_ip_t peer;         /* TCP peer */
    uint16_t local_port;  /* the listener's port */
    const char *listener; /* the accepting listener's key (sites with `bind` check it) */
    bool tls;             /* TLS or QUIC */
    uint8_t http_version; /* 10, 11, 20, 30 */
    dw_str_t tls_server_name, tls_cipher;

    /* the request as received */
    dw_str_t method;      /* current method (the `method` directive replaces it) */
    dw_str_t orig_method; /* as received (request logs) */
    dw_str_t raw_target;  /* request-target as sent */
    dw_str_t orig_uri;    /* path[?query] as received (absolute-form reduced to it) */
    dw_str_t hostport;    /* Host (or :authority) as sent; empty if none */
    dw_str_t host;        /* lower-case, port and trailing dot removed, no IPv6 brackets */
    uint16_t host_port;   /* port from Host, else 0 */
    dw_fields_t headers;  /* request fields; request_header edits them in place */

    /* the current URI, changed by rewrite / uri / handle_path */
    dw_str_t path;    /* current path, raw (as it will be sent upstream), starts with '/' */
    dw_str_t npath;   /* the same, normalised for matching: percent-decoded, dot segments
                         removed, '/' runs collapsed (dw_path_normalize) */
    dw_str_t query;   /* raw query without '?' */
    bool has_query;   /* a '?' was present */
    bool uri_changed; /* path/query differ from what the client sent: the upstream gets
                         path?query rebuilt instead of raw_target */

    char request_id[37]; /* UUID v7, filled at request start */

    /* pipeline state */
    dw_var_t *vars;
    size_t nvars, vars_cap;
    dw_re_captures_t *captures;
    size_t ncaptures, captures_cap;
    dw_str_t remainder_prefix; /* literal prefix of the nearest trailing-`*` path pattern
                                  (for {http.request.uri.path.remainder}) */
    dw_str_t root;             /* `root` in effect; empty = working directory */
    dw_hdr_opset_t *resp_ops;  /* `header` directives that matched, in execution order */
    size_t nresp_ops, resp_ops_cap;

    /* handle_errors context */
    uint16_t error_status;
    dw_str_t error_message;

    /* the chosen upstream, for {upstream.host}/{upstream.port} */
    dw_str_t upstream_host;
    uint16_t upstream_port;

    /* client_ip (§5): left-most valid X-Forwarded-For entry when the peer is a trusted
     * proxy, else the peer; computed lazily by dw_req_client_ip() */
    bool client_ip_done;
    dw_ip_t client_ip;
} dw_req_t;

/* --- field lists -------------------------------------------------------------------------- */
dw_field_t *dw_fields_add(dw_arena_t *a, dw_fields_t *f, dw_str_t name, dw_str_t value);
/* First field with that name (case-insensitive), or NULL. */
dw_field_t *dw_fields_get(const dw_fields_t *f, dw_str_t name);
/* Removes every field with that name; returns how many. */
size_t dw_fields_del(dw_fields_t *f, dw_str_t name);
/* Replaces every field of that name by one with value (added when absent). */
void dw_fields_set(dw_arena_t *a, dw_fields_t *f, dw_str_t name, dw_str_t value);

/* --- request helpers ---------------------------------------------------------------------- */
/* Looks up {vars.<name>}; NULL when not set. */
const dw_str_t *dw_req_var(const dw_req_t *r, dw_str_t name);
void dw_req_set_var(dw_req_t *r, dw_str_t name, dw_str_t value);
/* The client IP of §5 `client_ip`. */
const dw_ip_t *dw_req_client_ip(dw_req_t *r);
/* Sets path (raw) and query after a rewrite; recomputes npath. Returns -1 when the new path
 * climbs above '/' (the request then fails with 400). */
int dw_req_set_uri(dw_req_t *r, dw_str_t path, dw_str_t query, bool has_query);

#endif
