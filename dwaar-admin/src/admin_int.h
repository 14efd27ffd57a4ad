/* admind internals: the service state, the operations shared by the HTTP API and the ZeroMQ
 * ctl endpoint, the HTTP server, metrics, and the small JSON reader the API needs. */
#ifndef DWAAR_ADMIN_ADMIN_INT_H
#define DWAAR_ADMIN_ADMIN_INT_H

#include <dwaar/admin/admind.h>
#include <dwaar/base/buf.h>
#include <dwaar/base/json.h>
#include <dwaar/bus/bus.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define DW_ADMIN_DEFAULT_TCP      "127.0.0.1:6190"
#define DW_ADMIN_DEFAULT_CONFIGD  "inproc://dwaar-configd"
#define DW_ADMIN_DEFAULT_ADDRFILE "/tmp/dwaar-admin.addr"
#define DW_ADMIN_AUDIT            "dwaar::admin::audit"
#define DW_ADMIN_LOG              "dwaar::admin"

#define DW_ADMIN_MAX_CONNS      1024
#define DW_ADMIN_MAX_HEAD       16384u /* request head incl. CRLFs; over -> 431 */
#define DW_ADMIN_MAX_BODY       65536u /* POST /routes; over -> 413 (other bodies: read, ignored) */
#define DW_ADMIN_IDLE_MS        60000u
#define DW_ADMIN_BUS_TIMEOUT_MS 5000
#define DW_ADMIN_BUS_MAX_REPLY  (16u * 1024u * 1024u)
#define DW_ADMIN_RATE_MAX       60u
#define DW_ADMIN_RATE_WINDOW_MS 60000u
#define DW_ADMIN_COOLDOWN_S     5u
#define DW_ADMIN_MAX_DOMAIN     253u

typedef struct dw_admin_conn dw_admin_conn_t;

typedef struct dw_admin {
    /* options, owned copies */
    char *tcp_addr, *unix_path, *ctl_endpoint, *configd_endpoint, *token, *addr_file;
    size_t token_len;
    bool metrics_enabled;
    uint16_t tcp_port;

    dw_loop_t *loop;
    int tcp_fd, unix_fd;
    dw_io_t *tcp_io, *unix_io;
    dev_t unix_dev; /* the socket file we created, so fini removes only ours */
    ino_t unix_ino;
    dw_admin_conn_t *conns; /* doubly linked */
    size_t nconns;
    dw_timer_t *sweep; /* idle timeout check, armed while connections exist */

    /* §1.4 fixed window (monotonic ms); shared by HTTP and ctl */
    uint64_t window_start_ms;
    uint32_t window_count;
    bool window_open;
    /* §1.5 POST /reload cooldown; shared by HTTP and ctl */
    uint64_t last_reload_ms;
    bool reload_attempted;

    /* process facts, computed once */
    double start_time; /* Unix seconds (fractional) */
    char started_at[32];

    /* ZeroMQ endpoint for dwaarctl */
    dw_bus_sock_t *ctl;
    bool ctl_needs_token;

} dw_admin_t;

/* What an operation produced. The HTTP API renders it as JSON (data converted from msgpack, or
 * {"error":...}); the ctl endpoint sends it as admin.result. */
typedef struct dw_admin_result {
    int status;
    char *error;              /* heap; NULL on success */
    bool error_text;          /* HTTP: the error is a text/plain body (reload diagnostics) */
    uint32_t retry_after;     /* 429 "reload too soon": Retry-After and "retry_after" */
    const char *content_type; /* non-NULL: data is one msgpack str sent as-is (metrics) */
    msgpack_sbuffer data;     /* one packed object, or empty (nil) */
    msgpack_packer pk;        /* packs into data */
} dw_admin_result_t;

void dw_admin_result_init(dw_admin_result_t *r);
void dw_admin_result_deinit(dw_admin_result_t *r);
void dw_admin_result_fail(dw_admin_result_t *r, int status, const char *fmt, ...) DW_PRINTF(3, 4);

/* --- state (admind.c) ---------------------------------------------------------------------- */

/* Creates the admin state on loop and opens the HTTP listeners; no bus sockets (the service
 * init opens the ctl endpoint). NULL with a message in err. */
dw_admin_t *dw_admin_new(dw_loop_t *loop, const dw_admind_opts_t *opts, char *err, size_t errlen);
void dw_admin_free(dw_admin_t *a);
bool dw_admin_draining(void);

/* Constant-time comparison of a presented token with the configured one (false when no token
 * is configured). */
bool dw_admin_token_ok(const dw_admin_t *a, const char *p, size_t n);
/* Counts one authenticated request in the fixed window; false = over the limit (429). */
bool dw_admin_rate_take(dw_admin_t *a);

/* --- operations (ops.c) --------------------------------------------------------------------- */

typedef enum dw_admin_origin { DW_ADMIN_FROM_HTTP, DW_ADMIN_FROM_CTL } dw_admin_origin_t;

void dw_admin_op_routes(dw_admin_t *a, dw_admin_result_t *r);
/* domain/upstream as given (configd validates and lowercases); source may be NULL. */
void dw_admin_op_route_add(dw_admin_t *a, dw_str_t domain, dw_str_t upstream, bool tls,
                           dw_str_t source, dw_admin_result_t *r);
/* raw = the key as it came (path segment after /routes/, or the ctl body's domain): the
 * 400/414 rules, lowercasing and the request to configd. */
void dw_admin_op_route_remove(dw_admin_t *a, dw_str_t raw, bool percent_decode,
                              dw_admin_result_t *r);
void dw_admin_op_reload(dw_admin_t *a, dw_admin_origin_t origin, dw_admin_result_t *r);
void dw_admin_op_validate(dw_admin_t *a, dw_str_t text, dw_str_t name, dw_admin_result_t *r);
void dw_admin_op_status(dw_admin_t *a, dw_admin_result_t *r);
void dw_admin_op_metrics(dw_admin_t *a, dw_admin_result_t *r);
/* Owned by later features (analytics, cache): 404 until then. */
void dw_admin_op_not_yet(dw_admin_result_t *r);

/* Replaces every occurrence of path, then of name, with "<config>" (empty needles skipped). */
void dw_admin_redact_config(dw_buf_t *out, dw_str_t text, dw_str_t path, dw_str_t name);

/* --- metrics (metrics.c) -------------------------------------------------------------------- */

typedef struct dw_admin_reloads {
    bool known; /* configd answered */
    uint64_t ok, failed;
} dw_admin_reloads_t;

/* The exposition text (spec 30 §4) of what admind can provide now. */
void dw_admin_metrics_render(dw_buf_t *out, const dw_admin_reloads_t *reloads);
/* Shortest decimal that reads back as v (Prometheus float values). */
void dw_admin_fmt_double(dw_buf_t *out, double v);
/* Process start (Unix seconds) from /proc, or the current time when unreadable. */
double dw_admin_process_start_time(void);

/* --- HTTP (http.c) -------------------------------------------------------------------------- */

void dw_admin_http_accept(dw_admin_t *a, int lfd, bool is_unix);
void dw_admin_http_close_all(dw_admin_t *a);
/* The idle/linger timer's callback (arg = the dw_admin_t). */
void dw_admin_http_sweep(void *arg);

/* --- JSON (json.c) ------------------------------------------------------------------------- */

typedef enum dw_admin_json_type {
    DW_ADMIN_JSON_NULL,
    DW_ADMIN_JSON_BOOL,
    DW_ADMIN_JSON_NUMBER,
    DW_ADMIN_JSON_STRING,
    DW_ADMIN_JSON_ARRAY,
    DW_ADMIN_JSON_OBJECT,
} dw_admin_json_type_t;

typedef struct dw_admin_json dw_admin_json_t;
struct dw_admin_json {
    dw_admin_json_type_t type;
    bool b;
    double num;
    dw_str_t str;          /* decoded (heap, owned by the document) */
    dw_str_t key;          /* for members of an object */
    dw_admin_json_t *kids; /* first child (arrays, objects) */
    dw_admin_json_t *next; /* next sibling */
};

typedef struct dw_admin_json_doc {
    dw_admin_json_t *root;
    void *blocks; /* allocations, freed together */
} dw_admin_json_doc_t;

#define DW_ADMIN_JSON_MAX_DEPTH 32

/* Parses one JSON text (RFC 8259, UTF-8 checked, depth <= DW_ADMIN_JSON_MAX_DEPTH). On failure
 * returns -1 with a message such as "expected value at line 1 column 3" in err. */
int dw_admin_json_parse(const char *s, size_t n, dw_admin_json_doc_t *doc, char *err,
                        size_t errlen);
void dw_admin_json_free(dw_admin_json_doc_t *doc);
/* The member of an object by key, or NULL. */
const dw_admin_json_t *dw_admin_json_get(const dw_admin_json_t *obj, const char *key);

/* Writes a msgpack object as JSON (maps with str keys; bin as strings). */
void dw_admin_json_from_mp(dw_json_t *j, const msgpack_object *o);
/* Appends s to out with invalid UTF-8 sequences replaced by U+FFFD (JSON strings must be
 * UTF-8; peers may send anything). */
void dw_admin_utf8_clean(dw_buf_t *out, dw_str_t s);

/* --- shared by the CLI clients (client.c) ---------------------------------------------------- */

typedef struct dw_admin_route_row {
    const char *domain;
    const char *upstream; /* NULL = "-" */
    bool tls;
    bool has_rps;
    uint64_t rps;
    bool under_attack;
} dw_admin_route_row_t;

/* The `dwaar routes` table: DOMAIN UPSTREAM TLS RATE LIMIT UAM. */
void dw_admin_print_routes(FILE *out, const dw_admin_route_row_t *rows, size_t n);

#endif
