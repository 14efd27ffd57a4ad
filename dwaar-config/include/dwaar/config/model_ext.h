/* Model types of global options, the layer4 block, and the directives whose behaviour other
 * specs own (spec 10 §2, §6.20, §8; specs 20 and 30). Included by model.h.
 *
 * Same conventions as model.h: strings are NUL-terminated views into the config arena, lists
 * are {pointer, count}, durations are milliseconds (_ms), sizes bytes. */
#ifndef DWAAR_CONFIG_MODEL_EXT_H
#define DWAAR_CONFIG_MODEL_EXT_H

/* --- `tls` (spec 20 §1.1) ------------------------------------------------------------------ */
typedef enum dw_cfg_tls_kind {
    DW_CFG_TLS_AUTO = 0, /* `tls`, `tls auto` */
    DW_CFG_TLS_OFF,
    DW_CFG_TLS_INTERNAL,
    DW_CFG_TLS_FILES,  /* `tls <cert> <key>` */
    DW_CFG_TLS_MANUAL, /* `tls manual` + tls_cert + tls_key */
    DW_CFG_TLS_EMAIL,  /* `tls <email>`: ACME with that contact */
    DW_CFG_TLS_DNS,    /* `tls { dns cloudflare <token> }` */
} dw_cfg_tls_kind_t;

typedef struct dw_cfg_tls {
    uint8_t kind;                     /* dw_cfg_tls_kind_t */
    dw_str_t cert, key;               /* FILES: resolved paths */
    dw_str_t email;                   /* EMAIL (or DNS written as `tls <email> { dns … }`) */
    dw_str_t dns_provider, dns_token; /* DNS: "cloudflare", the API token ({env.X} expanded) */
} dw_cfg_tls_t;

/* tls_cert, tls_key */
typedef struct dw_cfg_path_arg {
    dw_str_t path; /* resolved against the Dwaarfile's directory */
} dw_cfg_path_arg_t;

/* --- `encode` (spec 20 §2.11) -------------------------------------------------------------- */
#define DW_CFG_ENCODE_GZIP 0x01u
#define DW_CFG_ENCODE_ZSTD 0x02u
#define DW_CFG_ENCODE_BR   0x04u
#define DW_CFG_ENCODE_ALL  0x07u

typedef struct dw_cfg_encode {
    bool enabled;      /* false for `encode off`: no compression in this block */
    uint8_t encodings; /* DW_CFG_ENCODE_* set; server preference is fixed br > gzip > zstd */
} dw_cfg_encode_t;

/* --- `cache` (spec 20 §3.1) ---------------------------------------------------------------- */
typedef struct dw_cfg_cache {
    uint64_t max_size;                  /* bytes; default 1 GiB */
    dw_cfg_strs_t match_path;           /* '*' suffix = prefix, else exact; empty = all paths */
    uint64_t default_ttl_ms;            /* default 3600 s */
    uint64_t stale_while_revalidate_ms; /* default 60 s; also the stale-if-error window */
} dw_cfg_cache_t;

/* --- `rate_limit` (spec 20 §2.7) ------------------------------------------------------------ */
typedef struct dw_cfg_rate_limit {
    uint64_t requests;  /* N >= 1 */
    uint64_t window_ms; /* W > 0 */
} dw_cfg_rate_limit_t;

/* --- `ip_filter` (spec 20 §2.5) ------------------------------------------------------------- */
typedef struct dw_cfg_ip_filter {
    dw_cfg_cidrs_t allow, deny; /* a bare IP is a host route (/32, /128) */
    bool default_deny;          /* `default deny`; the default is allow */
} dw_cfg_ip_filter_t;

/* --- `basic_auth` / `basicauth` (spec 20 §2.9) ---------------------------------------------- */
typedef struct dw_cfg_credential {
    dw_str_t user;
    dw_str_t hash; /* bcrypt ($2a$, $2b$, $2y$) */
} dw_cfg_credential_t;

typedef struct dw_cfg_basic_auth {
    dw_str_t realm; /* default "Restricted"; '"', '\', CR and LF removed */
    dw_cfg_credential_t *users;
    size_t nusers; /* >= 1 */
} dw_cfg_basic_auth_t;

/* --- `forward_auth` (spec 20 §2.10) --------------------------------------------------------- */
typedef struct dw_cfg_forward_auth {
    dw_str_t address; /* as written */
    dw_str_t host;    /* name or IP literal without brackets; never resolved at load */
    uint16_t port;    /* 80, or 443 with `transport tls`, unless written */
    bool port_explicit;
    bool host_is_ip;
    bool loopback; /* 127/8, ::1, localhost, ip6-localhost, ip6-loopback */
    dw_str_t uri;  /* empty = the original path and query */
    dw_cfg_strs_t copy_headers;
    bool tls;                /* `transport tls` */
    bool insecure_plaintext; /* explicit opt-in to plaintext to a non-loopback target */
} dw_cfg_forward_auth_t;

/* --- `security_headers` (spec 20 §2.12) ----------------------------------------------------- */
typedef struct dw_cfg_security_headers {
    bool strip_leaky_headers; /* default true */
} dw_cfg_security_headers_t;

/* --- `wasm_plugin` (spec 20 §2.13) ---------------------------------------------------------- */
typedef struct dw_cfg_kv {
    dw_str_t key, value;
} dw_cfg_kv_t;

typedef struct dw_cfg_wasm_plugin {
    dw_str_t path;       /* resolved */
    dw_str_t name;       /* the file stem */
    uint16_t priority;   /* 1-65535, default 50 */
    uint64_t fuel;       /* instructions per hook call, default 1000000 */
    uint64_t memory_mib; /* default 16 */
    uint64_t timeout_ms; /* wall clock per hook call, default 50 */
    dw_cfg_kv_t *config; /* `config k=v`, in order */
    size_t nconfig;
} dw_cfg_wasm_plugin_t;

/* --- `request_body`, `response_body_limit` -------------------------------------------------- */
typedef struct dw_cfg_body_limit {
    uint64_t max_size; /* bytes */
} dw_cfg_body_limit_t;

/* --- `bind` (spec 10 §3.2, §6.20) ----------------------------------------------------------- */
typedef enum dw_cfg_bind_kind { DW_CFG_BIND_IP = 0, DW_CFG_BIND_UNIX } dw_cfg_bind_kind_t;

typedef struct dw_cfg_bind_addr {
    dw_str_t original;
    uint8_t kind;  /* dw_cfg_bind_kind_t */
    dw_str_t host; /* IP literal without brackets (empty = all interfaces); UNIX: socket path */
    uint16_t port; /* 0 = the site's port */
    dw_cfg_loc_t loc;
} dw_cfg_bind_addr_t;

typedef struct dw_cfg_bind {
    dw_cfg_bind_addr_t *addrs;
    size_t naddrs; /* >= 1 */
} dw_cfg_bind_t;

/* --- `log` (spec 30 §2.1) ------------------------------------------------------------------- */
typedef enum dw_cfg_log_output {
    DW_CFG_LOG_STDOUT = 0,
    DW_CFG_LOG_STDERR,
    DW_CFG_LOG_DISCARD,
    DW_CFG_LOG_FILE,
    DW_CFG_LOG_UNIX,
} dw_cfg_log_output_t;

typedef enum dw_cfg_log_format { DW_CFG_LOG_JSON = 0, DW_CFG_LOG_CONSOLE } dw_cfg_log_format_t;

typedef enum dw_cfg_log_level {
    DW_CFG_LOG_LEVEL_INFO = 0,
    DW_CFG_LOG_LEVEL_DEBUG,
    DW_CFG_LOG_LEVEL_WARN,
    DW_CFG_LOG_LEVEL_ERROR,
} dw_cfg_log_level_t;

typedef struct dw_cfg_log {
    uint8_t output;    /* dw_cfg_log_output_t */
    dw_str_t path;     /* FILE, UNIX: resolved path */
    uint64_t max_size; /* FILE: rotate at this size; 0 = never */
    uint32_t keep;     /* FILE: rotated files kept; valid when has_keep */
    bool has_keep;
    uint8_t format; /* dw_cfg_log_format_t */
    uint8_t level;  /* dw_cfg_log_level_t; informational, records are all INFO */
} dw_cfg_log_t;

typedef struct dw_cfg_log_append {
    dw_cfg_kv_t *fields; /* field name, value template */
    size_t nfields;
} dw_cfg_log_append_t;

typedef struct dw_cfg_log_name {
    dw_str_t name;
} dw_cfg_log_name_t;

/* --- `metrics` (spec 30 §4) ----------------------------------------------------------------- */
typedef struct dw_cfg_metrics {
    bool default_path; /* no matcher was written: the directive's matcher is the path /metrics */
} dw_cfg_metrics_t;

/* --- `analytics` (spec 30 §3, decision 3) --------------------------------------------------- */
typedef struct dw_cfg_analytics {
    bool enabled;         /* default on */
    bool respect_consent; /* default false */
} dw_cfg_analytics_t;

/* --- `under_attack` (spec 20 §2.8, decision 1) ---------------------------------------------- */
typedef struct dw_cfg_under_attack {
    bool enabled;
} dw_cfg_under_attack_t;

/* --- `intercept` (spec 10 §6.20) ------------------------------------------------------------ */
typedef struct dw_cfg_status_match {
    uint16_t code; /* 100-599, or 100·class with is_class (4xx = 400) */
    bool is_class;
} dw_cfg_status_match_t;

typedef struct dw_cfg_intercept {
    dw_cfg_status_match_t *statuses; /* empty = any non-2xx upstream status */
    size_t nstatuses;
    bool has_respond;
    uint16_t respond_status; /* 0 = keep the upstream status */
    dw_str_t respond_body;   /* template */
    bool has_respond_body;
    dw_cfg_header_ops_t
        headers; /* inner `header` operations (model_route.h), set on the response */
} dw_cfg_intercept_t;

/* --- `copy_response_headers` ---------------------------------------------------------------- */
typedef struct dw_cfg_copy_headers {
    dw_cfg_strs_t include; /* plain names; empty = all */
    dw_cfg_strs_t exclude; /* `-Name` */
} dw_cfg_copy_headers_t;

/* --- layer4 (spec 10 §8) -------------------------------------------------------------------- */
typedef enum dw_cfg_l4_match_kind {
    DW_CFG_L4_TLS = 0,
    DW_CFG_L4_HTTP,
    DW_CFG_L4_SSH,
    DW_CFG_L4_POSTGRES,
    DW_CFG_L4_REMOTE_IP,
    DW_CFG_L4_UNKNOWN, /* warned at load; never true */
} dw_cfg_l4_match_kind_t;

typedef struct dw_cfg_l4_cond {
    uint8_t kind;            /* dw_cfg_l4_match_kind_t */
    bool negate;             /* `not <matcher>` */
    dw_cfg_strs_t sni, alpn; /* TLS */
    dw_cfg_strs_t hosts;     /* HTTP */
    dw_cfg_cidrs_t ranges;   /* REMOTE_IP */
    dw_str_t name;           /* UNKNOWN: the keyword as written */
} dw_cfg_l4_cond_t;

typedef struct dw_cfg_l4_matcher {
    dw_str_t name; /* without '@' */
    dw_cfg_loc_t loc;
    dw_cfg_l4_cond_t *conds; /* ANDed */
    size_t nconds;
} dw_cfg_l4_matcher_t;

typedef struct dw_cfg_l4_upstream {
    dw_str_t original;
    dw_str_t host; /* IP literal without brackets or a name (resolved when connecting) */
    uint16_t port;
    dw_cfg_loc_t loc;
} dw_cfg_l4_upstream_t;

typedef enum dw_cfg_l4_lb {
    DW_CFG_L4_LB_ROUND_ROBIN = 0,
    DW_CFG_L4_LB_LEAST_CONN,
    DW_CFG_L4_LB_RANDOM,
    DW_CFG_L4_LB_IP_HASH,
} dw_cfg_l4_lb_t;

typedef struct dw_cfg_l4_proxy {
    dw_cfg_l4_upstream_t *upstreams;
    size_t nupstreams;           /* >= 1 */
    uint8_t lb_policy;           /* dw_cfg_l4_lb_t; TCP default round_robin, UDP ip_hash */
    uint32_t max_fails;          /* TCP, default 3 */
    uint64_t fail_duration_ms;   /* TCP, default 10 s */
    uint64_t connect_timeout_ms; /* TCP, default 10 s (health_timeout|connect_timeout) */
    uint32_t max_sessions;       /* UDP, default 10000 */
    uint64_t idle_timeout_ms;    /* UDP, default 30 s */
} dw_cfg_l4_proxy_t;

typedef enum dw_cfg_l4_handler_kind {
    DW_CFG_L4_PROXY = 0,
    DW_CFG_L4_TERMINATE_TLS,
    DW_CFG_L4_SUBROUTE,
} dw_cfg_l4_handler_kind_t;

struct dw_cfg_l4_routes;

typedef struct dw_cfg_l4_handler {
    uint8_t kind; /* dw_cfg_l4_handler_kind_t */
    dw_cfg_loc_t loc;
    dw_cfg_l4_proxy_t proxy;      /* PROXY */
    dw_str_t cert, key;           /* TERMINATE_TLS: resolved files, or empty = shared store */
    struct dw_cfg_l4_routes *sub; /* SUBROUTE */
} dw_cfg_l4_handler_t;

typedef struct dw_cfg_l4_route {
    const dw_cfg_l4_matcher_t **matchers; /* ANDed; none = catch-all */
    size_t nmatchers;
    dw_cfg_l4_handler_t *handlers; /* run in order */
    size_t nhandlers;
    dw_cfg_loc_t loc;
} dw_cfg_l4_route_t;

/* A route set: a server block, a subroute, or the listener wrapper. Routes are tried in order;
 * the first whose matchers all match wins. */
typedef struct dw_cfg_l4_routes {
    dw_cfg_l4_matcher_t *matchers;
    size_t nmatchers;
    dw_cfg_l4_route_t *routes;
    size_t nroutes;
    uint64_t matching_timeout_ms; /* default 3 s */
} dw_cfg_l4_routes_t;

typedef struct dw_cfg_l4_listen {
    dw_str_t original;
    dw_str_t host; /* IP literal without brackets; empty = all interfaces, dual stack */
    uint16_t port;
    dw_cfg_loc_t loc;
} dw_cfg_l4_listen_t;

typedef struct dw_cfg_l4_server {
    dw_cfg_l4_listen_t *listen;
    size_t nlisten;
    bool udp;
    dw_cfg_l4_routes_t routes;   /* TCP */
    dw_cfg_l4_proxy_t udp_proxy; /* UDP */
    dw_cfg_loc_t loc;
} dw_cfg_l4_server_t;

typedef struct dw_cfg_layer4 {
    dw_cfg_l4_server_t *servers;
    size_t nservers;
} dw_cfg_layer4_t;

/* --- global options (spec 10 §2) ------------------------------------------------------------ */
typedef enum dw_cfg_auto_https {
    DW_AUTO_HTTPS_ON = 0,
    DW_AUTO_HTTPS_OFF,
    DW_AUTO_HTTPS_DISABLE_REDIRECTS,
} dw_cfg_auto_https_t;

/* Downstream timeouts (spec 20 §3.4); values hold the defaults unless set. 0 disables. */
typedef struct dw_cfg_global_timeouts {
    uint64_t read_header_ms; /* 10 s */
    uint64_t read_body_ms;   /* 30 s */
    uint64_t idle_ms;        /* 60 s */
    uint64_t write_ms;       /* 0 */
    uint64_t max_requests;   /* 1000 */
    bool has_read_header, has_read_body, has_idle, has_write, has_max_requests;
} dw_cfg_global_timeouts_t;

typedef struct dw_cfg_servers {
    bool h3;                 /* default off */
    uint32_t h3_max_streams; /* default 100 */
    dw_cfg_cidrs_t trusted_proxies;
    bool has_listener_wrapper;
    dw_cfg_l4_routes_t listener_wrapper; /* `listener_wrappers { layer4 {…} }` (spec 10 §8.4) */
} dw_cfg_servers_t;

typedef enum dw_cfg_update_channel {
    DW_CFG_CHANNEL_STABLE = 0,
    DW_CFG_CHANNEL_BETA
} dw_cfg_update_channel_t;
typedef enum dw_cfg_update_action {
    DW_CFG_ON_NEW_RELOAD = 0,
    DW_CFG_ON_NEW_NOTIFY
} dw_cfg_update_action_t;

typedef struct dw_cfg_auto_update {
    bool configured;            /* an auto_update block was given */
    bool enabled;               /* default true */
    uint8_t channel;            /* dw_cfg_update_channel_t */
    uint64_t check_interval_ms; /* default 6 h */
    bool has_window;
    uint16_t window_start_min, window_end_min; /* minutes after 00:00 UTC */
    uint8_t on_new_version;                    /* dw_cfg_update_action_t */
    uint64_t drain_timeout_ms;                 /* drain_timeout_secs, default 60 s */
    dw_str_t health_check_url;                 /* default http://127.0.0.1:6663/healthz */
    bool rollback_on_health_fail;              /* default true */
} dw_cfg_auto_update_t;

typedef struct dw_cfg_tracing {
    bool enabled; /* a tracing block with an otlp_endpoint was given */
    dw_str_t otlp_endpoint;
    double sample_ratio; /* 0..1, default 1.0 */
} dw_cfg_tracing_t;

typedef struct dw_cfg_global {
    uint16_t http_port;  /* default 80 */
    uint16_t https_port; /* default 443 */
    uint8_t auto_https;  /* dw_cfg_auto_https_t */
    dw_str_t email;      /* ACME contact */
    bool debug;
    uint64_t drain_timeout_ms; /* default 30 s */
    dw_cfg_global_timeouts_t timeouts;
    dw_cfg_servers_t servers;
    dw_cfg_auto_update_t auto_update;
    dw_cfg_tracing_t tracing;
} dw_cfg_global_t;

#endif
