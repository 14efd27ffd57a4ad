/* The typed configuration model: what a Dwaarfile means, validated. Plain structs in one
 * arena owned by dw_config_t and freed with dw_config_free(). The data plane compiles this
 * into its runtime snapshot; nothing here is specific to a protocol or a worker.
 *
 * Conventions: strings are dw_str_t views into the config arena (NUL-terminated, so .ptr can
 * be used as a C string); lists are {pointer, count}; durations are in milliseconds (_ms);
 * sizes in bytes; an unset optional value is 0/empty with a `has_` flag where 0 is valid. */
#ifndef DWAAR_CONFIG_MODEL_H
#define DWAAR_CONFIG_MODEL_H

#include <dwaar/base/arena.h>
#include <stdint.h>

typedef struct dw_cfg_loc {
    const char *file; /* display name */
    uint32_t line, col;
} dw_cfg_loc_t;

typedef struct dw_cfg_strs {
    dw_str_t *v;
    size_t n;
} dw_cfg_strs_t;

/* An IP range; IPv4 is kept as IPv4 (family 4, 4 address bytes used). */
typedef struct dw_cfg_cidr {
    uint8_t family; /* 4 or 6 */
    uint8_t prefix; /* 0..32 or 0..128 */
    uint8_t addr[16];
} dw_cfg_cidr_t;

typedef struct dw_cfg_cidrs {
    dw_cfg_cidr_t *v;
    size_t n;
} dw_cfg_cidrs_t;

/* An upstream address (spec 10 §6.1). */
typedef enum dw_cfg_upstream_scheme {
    DW_UPSTREAM_HTTP = 0,
    DW_UPSTREAM_HTTPS,
    DW_UPSTREAM_H2C,
    DW_UPSTREAM_UNIX,
} dw_cfg_upstream_scheme_t;

typedef struct dw_cfg_upstream {
    dw_str_t original; /* as written */
    uint8_t scheme;    /* dw_cfg_upstream_scheme_t */
    bool scheme_explicit;
    dw_str_t host; /* name or IP literal without brackets; socket path for unix */
    uint16_t port; /* 0 for unix */
    dw_cfg_loc_t loc;
} dw_cfg_upstream_t;

struct dw_cfg_block;
struct dw_cfg_matcher;

/* A directive's matcher token (spec 10 §1.5). */
typedef enum dw_cfg_match_kind {
    DW_MATCH_NONE = 0, /* no matcher token: matches everything, and is "without matcher" for
                          terminal ordering (§4.2 step 3) */
    DW_MATCH_ALL,      /* `*` */
    DW_MATCH_PATH,     /* a path pattern (§4.3) */
    DW_MATCH_NAMED,    /* @name */
} dw_cfg_match_kind_t;

typedef struct dw_cfg_match_ref {
    uint8_t kind;                     /* dw_cfg_match_kind_t */
    dw_str_t text;                    /* the path pattern, or the name without '@' */
    const struct dw_cfg_matcher *def; /* resolved definition for DW_MATCH_NAMED */
} dw_cfg_match_ref_t;

#include <dwaar/config/model_route.h>
#include <dwaar/config/model_ext.h>

/* Every directive a block can hold. Aliases share a kind (`proxy` = reverse_proxy). */
typedef enum dw_cfg_dir_kind {
    DW_DIR_UNKNOWN = 0,
    /* routing (spec 10 §6.1-6.19) */
    DW_DIR_REVERSE_PROXY,
    DW_DIR_GRPC,
    DW_DIR_ROOT,
    DW_DIR_FILE_SERVER,
    DW_DIR_TRY_FILES,
    DW_DIR_PHP_FASTCGI,
    DW_DIR_REDIR,
    DW_DIR_REWRITE,
    DW_DIR_URI,
    DW_DIR_HANDLE,
    DW_DIR_HANDLE_PATH,
    DW_DIR_ROUTE,
    DW_DIR_RESPOND,
    DW_DIR_ERROR,
    DW_DIR_ABORT,
    DW_DIR_HANDLE_ERRORS,
    DW_DIR_HEADER,
    DW_DIR_REQUEST_HEADER,
    DW_DIR_METHOD,
    DW_DIR_VARS,
    DW_DIR_MAP,
    /* other areas (spec 10 §6.20, specs 20 and 30) */
    DW_DIR_TLS,
    DW_DIR_TLS_CERT,
    DW_DIR_TLS_KEY,
    DW_DIR_ENCODE,
    DW_DIR_CACHE,
    DW_DIR_RATE_LIMIT,
    DW_DIR_IP_FILTER,
    DW_DIR_BASIC_AUTH,
    DW_DIR_FORWARD_AUTH,
    DW_DIR_SECURITY_HEADERS,
    DW_DIR_WASM_PLUGIN,
    DW_DIR_REQUEST_BODY,
    DW_DIR_RESPONSE_BODY_LIMIT,
    DW_DIR_BIND,
    DW_DIR_LOG,
    DW_DIR_LOG_APPEND,
    DW_DIR_LOG_NAME,
    DW_DIR_SKIP_LOG,
    DW_DIR_METRICS,
    DW_DIR_ANALYTICS,
    DW_DIR_UNDER_ATTACK,
    DW_DIR_INTERCEPT,
    DW_DIR_COPY_RESPONSE_HEADERS,
    DW_DIR_NOOP, /* accepted, no effect (copy_response, invoke, fs, templates, push, ...) */
    DW_DIR__COUNT
} dw_cfg_dir_kind_t;

/* handle / handle_path / route / handle_errors */
typedef struct dw_cfg_handle {
    struct dw_cfg_block *block;
    dw_str_t strip_prefix; /* handle_path: the literal prefix removed on match */
    /* handle_errors: status filters; empty = all. An entry is a code (404) or a class
     * (400 for 4xx, 500 for 5xx) with is_class set. */
    struct dw_cfg_status_filter {
        uint16_t code;
        bool is_class;
    } * statuses;
    size_t nstatuses;
} dw_cfg_handle_t;

typedef struct dw_cfg_directive {
    uint16_t kind;    /* dw_cfg_dir_kind_t */
    uint8_t rank;     /* execution rank (spec 10 §4.1); 0 = configuration only */
    bool terminal;    /* produces the response */
    const char *name; /* as written (e.g. "proxy", "basicauth") */
    dw_cfg_loc_t loc;
    dw_cfg_match_ref_t match;
    union {
        dw_cfg_handle_t handle;
        /* model_route.h */
        dw_cfg_proxy_t *proxy; /* by pointer: by far the largest payload; keeps every
                                  directive small */
        dw_cfg_grpc_t grpc;
        dw_cfg_root_t root;
        dw_cfg_file_server_t file_server;
        dw_cfg_try_files_t try_files;
        dw_cfg_php_fastcgi_t php_fastcgi;
        dw_cfg_redir_t redir;
        dw_cfg_rewrite_t rewrite;
        dw_cfg_uri_t uri;
        dw_cfg_respond_t respond;
        dw_cfg_error_t error;
        dw_cfg_header_t header; /* header and request_header */
        dw_cfg_method_t method;
        dw_cfg_vars_t vars;
        dw_cfg_map_t map;
        /* model_ext.h */
        dw_cfg_tls_t tls;
        dw_cfg_path_arg_t path_arg; /* tls_cert, tls_key */
        dw_cfg_encode_t encode;
        dw_cfg_cache_t cache;
        dw_cfg_rate_limit_t rate_limit;
        dw_cfg_ip_filter_t ip_filter;
        dw_cfg_basic_auth_t basic_auth;
        dw_cfg_forward_auth_t forward_auth;
        dw_cfg_security_headers_t security_headers;
        dw_cfg_wasm_plugin_t wasm_plugin;
        dw_cfg_body_limit_t body_limit; /* request_body, response_body_limit */
        dw_cfg_bind_t bind;
        dw_cfg_log_t log;
        dw_cfg_log_append_t log_append;
        dw_cfg_log_name_t log_name;
        dw_cfg_metrics_t metrics;
        dw_cfg_analytics_t analytics;
        dw_cfg_under_attack_t under_attack;
        dw_cfg_intercept_t intercept;
        dw_cfg_copy_headers_t copy_headers;
    } u;
} dw_cfg_directive_t;

typedef struct dw_cfg_matcher {
    dw_str_t name; /* without '@' */
    dw_cfg_loc_t loc;
    dw_cfg_cond_t *conds; /* ANDed; none = matches everything */
    size_t nconds;
} dw_cfg_matcher_t;

typedef struct dw_cfg_block {
    dw_cfg_matcher_t *matchers;
    size_t nmatchers;
    dw_cfg_directive_t *dirs; /* source order; execution order comes from rank */
    size_t ndirs;
} dw_cfg_block_t;

/* Site addresses (spec 10 §3.1). */
typedef enum dw_cfg_scheme { DW_SCHEME_NONE = 0, DW_SCHEME_HTTP, DW_SCHEME_HTTPS } dw_cfg_scheme_t;

typedef struct dw_cfg_address {
    dw_str_t original;
    uint8_t scheme;  /* dw_cfg_scheme_t */
    dw_str_t host;   /* host key: lower-case, no trailing dot; empty = catch-all */
    bool wildcard;   /* "*.rest" */
    bool host_is_ip; /* IP literal (brackets removed from IPv6) */
    bool port_explicit;
    uint16_t port; /* effective port after defaults (§3.1, decision 11) */
    bool tls;      /* served with TLS on that port */
    dw_cfg_loc_t loc;
} dw_cfg_address_t;

typedef enum dw_cfg_tls_mode {
    DW_TLS_MODE_OFF = 0, /* plain HTTP */
    DW_TLS_MODE_AUTO,    /* ACME (implicit or `tls`/`tls auto`/`tls <email>`/`tls { dns }`) */
    DW_TLS_MODE_INTERNAL,
    DW_TLS_MODE_MANUAL, /* certificate files */
} dw_cfg_tls_mode_t;

/* A route the admin API added (spec 30 §1.5), as the site generated for it serves it. */
typedef struct dw_cfg_api_key {
    dw_str_t key;      /* route key: host, *.host, host/path or _default (lower-case) */
    dw_str_t upstream; /* IPv4:port or [IPv6]:port */
    bool tls;          /* the upstream speaks TLS */
    dw_str_t source;   /* owner tag; .ptr NULL = none */
    bool replaced;     /* it took over a Dwaarfile route with exactly this key */
} dw_cfg_api_key_t;

typedef struct dw_cfg_site {
    dw_cfg_address_t *addrs;
    size_t naddrs;
    dw_cfg_block_t block;
    dw_cfg_loc_t loc;
    /* Derived at load (spec 20 §1.1) for addresses that do not force plain HTTP. */
    uint8_t tls_mode;        /* dw_cfg_tls_mode_t */
    const dw_cfg_tls_t *tls; /* the site's `tls` directive, if any */
    dw_str_t tls_cert,
        tls_key;    /* resolved manual certificate files (tls <c> <k> or tls_cert/key) */
    size_t nroutes; /* handler routes (terminal handlers and handle family blocks) */
    /* Sites generated from the API overlay (dw_cfg_load_source): the route keys they serve
     * (several when host/path keys share a host), in the order of the overlay. */
    bool from_api;
    dw_cfg_api_key_t *api_keys;
    size_t napi_keys;
} dw_cfg_site_t;

typedef struct dw_config {
    dw_arena_t arena;
    char *path;     /* the top-level Dwaarfile as given (NULL when loaded from memory) */
    char *base_dir; /* its directory: imports and relative paths resolve here */
    dw_cfg_global_t global;
    dw_cfg_site_t *sites;
    size_t nsites;
    dw_cfg_layer4_t layer4; /* top-level and global layer4 blocks, merged */
    size_t naddresses;      /* site addresses after expansion (`validate` prints it) */
    size_t nroutes;         /* sum of the sites' nroutes */
} dw_config_t;

#endif
