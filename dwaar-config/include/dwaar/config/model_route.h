/* Model types of the routing directives (spec 10 §5-§7). Included by model.h; do not include
 * directly.
 *
 * Templates (spec 10 §7) are kept as written (`/v1{http.request.uri.path.remainder}`); every
 * placeholder in them was checked at load, the data plane expands them per request. */
#ifndef DWAAR_CONFIG_MODEL_ROUTE_H
#define DWAAR_CONFIG_MODEL_ROUTE_H

/* --- header operations: header, request_header, header_up, header_down (§6.15) ---------- */

typedef enum dw_cfg_header_op_kind {
    DW_HDR_SET = 0,       /* Name value: replace every field of that name */
    DW_HDR_ADD,           /* +Name value */
    DW_HDR_SET_IF_ABSENT, /* ?Name value */
    DW_HDR_DELETE,        /* -Name */
    DW_HDR_DELETE_PREFIX, /* -Prefix*: every field whose name starts with Prefix */
    DW_HDR_REPLACE,       /* Name find replace: substring replace in the values */
} dw_cfg_header_op_kind_t;

typedef struct dw_cfg_header_op {
    uint8_t op;     /* dw_cfg_header_op_kind_t */
    dw_str_t name;  /* field name as written (prefix without '*' for DELETE_PREFIX) */
    dw_str_t value; /* template: SET/ADD/SET_IF_ABSENT value, REPLACE replacement */
    dw_str_t find;  /* REPLACE: the literal substring searched */
    dw_cfg_loc_t loc;
} dw_cfg_header_op_t;

typedef struct dw_cfg_header_ops {
    dw_cfg_header_op_t *v;
    size_t n;
} dw_cfg_header_ops_t;

/* --- expression matcher (§5): a parsed AST ------------------------------------------------ */

typedef enum dw_cfg_expr_kind {
    DW_EXPR_PLACEHOLDER = 0, /* text = the name without braces */
    DW_EXPR_INT,             /* num */
    DW_EXPR_STRING,          /* text = the literal */
    DW_EXPR_NOT,             /* args[0] */
    DW_EXPR_AND,             /* args[0..n): all true */
    DW_EXPR_OR,              /* args[0..n): any true */
    /* comparisons of args[0] and args[1]: numeric when both sides are integers, else by bytes */
    DW_EXPR_EQ,
    DW_EXPR_NE,
    DW_EXPR_LT,
    DW_EXPR_LE,
    DW_EXPR_GT,
    DW_EXPR_GE,
} dw_cfg_expr_kind_t;

#define DW_CFG_EXPR_MAX_DEPTH 16 /* nesting of '(' and '!' the loader accepts */

typedef struct dw_cfg_expr {
    uint8_t kind; /* dw_cfg_expr_kind_t */
    int64_t num;
    dw_str_t text;
    struct dw_cfg_expr *args;
    size_t nargs;
} dw_cfg_expr_t;

/* --- named-matcher conditions (§5) ---------------------------------------------------------- */

typedef enum dw_cfg_cond_kind {
    DW_COND_UNKNOWN = 0, /* kept by name; loads with a warning and never matches */
    DW_COND_PATH,
    DW_COND_PATH_REGEXP,
    DW_COND_HOST,
    DW_COND_METHOD,
    DW_COND_HEADER,
    DW_COND_HEADER_REGEXP,
    DW_COND_QUERY,
    DW_COND_PROTOCOL,
    DW_COND_REMOTE_IP,
    DW_COND_CLIENT_IP,
    DW_COND_NOT,
    DW_COND_EXPRESSION,
    DW_COND_FILE,
} dw_cfg_cond_kind_t;

/* How a `header` condition value compares (§5, decision 21). */
typedef enum dw_cfg_value_match {
    DW_VMATCH_EXACT = 0,
    DW_VMATCH_PRESENT,   /* `*` */
    DW_VMATCH_PREFIX,    /* `adm*` */
    DW_VMATCH_SUFFIX,    /* `*min` */
    DW_VMATCH_SUBSTRING, /* `*Upgrade*` */
} dw_cfg_value_match_t;

typedef struct dw_cfg_header_value {
    uint8_t match; /* dw_cfg_value_match_t */
    dw_str_t text; /* without the '*' markers */
} dw_cfg_header_value_t;

typedef struct dw_cfg_query_pair {
    dw_str_t key;
    dw_str_t value; /* compared with the decoded value */
    bool any;       /* `k=*` or bare `k`: the key is present, any value (decision 37) */
} dw_cfg_query_pair_t;

typedef enum dw_cfg_protocol {
    DW_PROTO_HTTP = 0,
    DW_PROTO_HTTPS,
    DW_PROTO_GRPC,
    DW_PROTO_HTTP1,
    DW_PROTO_HTTP2,
    DW_PROTO_HTTP3,
} dw_cfg_protocol_t;

#define DW_CFG_NOT_MAX_DEPTH 8 /* `not` inside `not` */

typedef struct dw_cfg_cond {
    uint8_t kind; /* dw_cfg_cond_kind_t */
    dw_cfg_loc_t loc;
    union {
        dw_cfg_strs_t paths;   /* PATH: patterns (§4.3), any matches */
        dw_cfg_strs_t hosts;   /* HOST: lower-cased; `*.x` = one label */
        dw_cfg_strs_t methods; /* METHOD: upper-cased */
        struct {
            dw_str_t name;  /* capture name for {re.<name>.<N>}; defaults to the matcher's */
            dw_str_t field; /* HEADER_REGEXP: the header name */
            dw_str_t re;    /* PCRE2, searched (not anchored) */
        } regexp;           /* PATH_REGEXP, HEADER_REGEXP */
        struct {
            dw_str_t field;
            dw_cfg_header_value_t *values; /* any matches; none = present */
            size_t nvalues;
        } header;
        struct {
            dw_cfg_query_pair_t *pairs; /* all must match */
            size_t npairs;
        } query;
        uint8_t protocol;      /* dw_cfg_protocol_t */
        dw_cfg_cidrs_t ranges; /* REMOTE_IP, CLIENT_IP (private_ranges expanded) */
        struct {
            struct dw_cfg_cond *conds; /* ANDed, then negated */
            size_t nconds;
        } negate;
        struct {
            dw_str_t source; /* the expression as written */
            dw_cfg_expr_t *ast;
        } expr;
        struct {
            dw_cfg_strs_t try_files; /* templates, tried under root */
            dw_str_t root;           /* resolved; empty = the route's root */
        } file;
        struct {
            dw_str_t name;
            dw_cfg_strs_t args;
        } unknown;
    } u;
} dw_cfg_cond_t;

/* --- reverse_proxy / proxy (§6.1, decision 36) --------------------------------------------- */

typedef enum dw_cfg_lb_policy {
    DW_LB_ROUND_ROBIN = 0,
    DW_LB_LEAST_CONN,
    DW_LB_RANDOM,
    DW_LB_IP_HASH,
    DW_LB_COOKIE,
} dw_cfg_lb_policy_t;

typedef struct dw_cfg_transport {
    bool tls;             /* TLS to the upstream (also implied by https:// upstreams) */
    bool h2;              /* HTTP/2 (over TLS with tls) */
    bool h2c;             /* cleartext HTTP/2 with prior knowledge */
    dw_str_t server_name; /* tls_server_name */
    dw_str_t client_cert; /* tls_client_auth <cert> <key>, resolved */
    dw_str_t client_key;
    dw_str_t trusted_ca; /* tls_trusted_ca_certs <pem>, resolved */
} dw_cfg_transport_t;

typedef struct dw_cfg_scale_to_zero {
    dw_cfg_strs_t wake_command; /* argv, split on whitespace; argv[0] must be absolute to run */
    uint64_t wake_timeout_ms;   /* default 30 s */
} dw_cfg_scale_to_zero_t;

#define DW_CFG_HEALTH_INTERVAL_DEFAULT_MS  10000u
#define DW_CFG_LB_TRY_DURATION_DEFAULT_MS  30000u
#define DW_CFG_DIAL_TIMEOUT_DEFAULT_MS     10000u
#define DW_CFG_RESPONSE_TIMEOUT_DEFAULT_MS 30000u
#define DW_CFG_WAKE_TIMEOUT_DEFAULT_MS     30000u

typedef struct dw_cfg_proxy {
    dw_cfg_upstream_t *upstreams; /* inline ones, then `to` ones; one scheme (decision 26) */
    size_t nupstreams;
    uint8_t lb_policy;           /* dw_cfg_lb_policy_t */
    dw_str_t health_uri;         /* empty = no active health checks */
    uint64_t health_interval_ms; /* >= 1 s; default 10 s */
    uint64_t fail_duration_ms;   /* 0 = re-check at the next interval (decision 12) */
    uint64_t max_conns;          /* per backend; 0 = unlimited */
    uint64_t lb_retries;
    uint64_t lb_try_duration_ms;  /* effective: 30 s when lb_retries > 0 and not set */
    uint64_t dial_timeout_ms;     /* default 10 s */
    uint64_t response_timeout_ms; /* time to the response head; default 30 s */
    dw_cfg_transport_t transport;
    dw_cfg_header_ops_t header_up;
    dw_cfg_header_ops_t header_down;
    bool has_scale_to_zero;
    dw_cfg_scale_to_zero_t scale_to_zero;
} dw_cfg_proxy_t;

/* grpc (§6.2): with an upstream a terminal h2c proxy; bare, a marker for the block. */
typedef struct dw_cfg_grpc {
    bool has_upstream;
    dw_cfg_upstream_t upstream;
} dw_cfg_grpc_t;

/* root (§6.3) */
typedef struct dw_cfg_root {
    dw_str_t path; /* resolved against the Dwaarfile's directory (decision 25), canonical if it
                      exists */
} dw_cfg_root_t;

/* file_server (§6.4) */
typedef struct dw_cfg_file_server {
    bool browse;
    dw_str_t fallback;   /* empty = none; never holds `..` or NUL */
    dw_cfg_strs_t index; /* effective list (default index.html, index.txt) */
} dw_cfg_file_server_t;

/* try_files (§6.5) */
typedef struct dw_cfg_try_files {
    dw_cfg_strs_t files; /* templates; a final `=NNN` is not in the list but in status */
    uint16_t status;     /* 0, or the error status of a final `=NNN` */
} dw_cfg_try_files_t;

/* php_fastcgi (§6.6): addr.scheme is DW_UPSTREAM_UNIX (host = socket path) or
 * DW_UPSTREAM_HTTP for TCP. */
typedef struct dw_cfg_php_fastcgi {
    dw_cfg_upstream_t addr;
} dw_cfg_php_fastcgi_t;

/* redir (§6.7). The <from> path (or `@m`, `*`) is the directive's matcher; an absolute-URL
 * <from> also sets from_scheme/from_host, and its path (placeholders read as `*`) becomes the
 * matcher. */
typedef struct dw_cfg_redir {
    dw_str_t to;                     /* template */
    uint16_t code;                   /* 301 302 303 307 308 */
    dw_str_t from_scheme, from_host; /* empty unless <from> is an absolute URL */
} dw_cfg_redir_t;

/* rewrite (§6.8) */
typedef struct dw_cfg_rewrite {
    dw_str_t to;    /* template as written */
    dw_str_t path;  /* the part before '?' */
    dw_str_t query; /* the part after '?' (has_query) */
    bool has_query; /* the query is replaced; otherwise kept */
} dw_cfg_rewrite_t;

/* uri (§6.9) */
typedef enum dw_cfg_uri_op {
    DW_URI_STRIP_PREFIX = 0,
    DW_URI_STRIP_SUFFIX,
    DW_URI_REPLACE,
} dw_cfg_uri_op_t;

typedef struct dw_cfg_uri {
    uint8_t op;     /* dw_cfg_uri_op_t */
    dw_str_t value; /* the prefix (with a leading '/'), the suffix, or the text to find */
    dw_str_t repl;  /* REPLACE */
} dw_cfg_uri_t;

/* respond (§6.11) */
typedef struct dw_cfg_respond {
    uint16_t status;          /* 100-599; 0 when status_template is set */
    dw_str_t status_template; /* a placeholder status, evaluated per request (invalid -> 500) */
    dw_str_t body;            /* template; empty = no body */
} dw_cfg_respond_t;

/* error (§6.12) */
typedef struct dw_cfg_error {
    uint16_t status; /* 400-599 (default 500); 0 when status_template is set */
    dw_str_t status_template;
    dw_str_t message; /* template; empty = no body */
} dw_cfg_error_t;

/* header and request_header (§6.15-6.16) */
typedef struct dw_cfg_header {
    dw_cfg_header_ops_t ops; /* applied in order */
} dw_cfg_header_t;

/* method (§6.17) */
typedef struct dw_cfg_method {
    dw_str_t method; /* upper-cased */
} dw_cfg_method_t;

/* vars (§6.18) */
typedef struct dw_cfg_var {
    dw_str_t name;
    dw_str_t value; /* template */
} dw_cfg_var_t;

typedef struct dw_cfg_vars {
    dw_cfg_var_t *v; /* in order: later definitions win */
    size_t n;
} dw_cfg_vars_t;

/* map (§6.19) */
typedef enum dw_cfg_map_kind {
    DW_MAP_EXACT = 0, /* case-insensitive equality */
    DW_MAP_REGEX,     /* `~re`: case-insensitive match of the whole string */
    DW_MAP_DEFAULT,
} dw_cfg_map_kind_t;

typedef struct dw_cfg_map_entry {
    uint8_t kind;     /* dw_cfg_map_kind_t */
    dw_str_t pattern; /* without the '~' */
    dw_str_t value;   /* template */
    dw_cfg_loc_t loc;
} dw_cfg_map_entry_t;

typedef struct dw_cfg_map {
    dw_str_t source;             /* template */
    dw_str_t dest;               /* the variable name ({vars.<dest>}) */
    dw_cfg_map_entry_t *entries; /* tried in order; no hit = empty */
    size_t nentries;
} dw_cfg_map_t;

#endif
