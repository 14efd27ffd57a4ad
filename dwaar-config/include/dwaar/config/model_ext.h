/* Model types of global options, the layer4 block, and the directives whose behaviour other
 * specs own (spec 10 §2, §6.20, §8; specs 20 and 30). Included by model.h. */
#ifndef DWAAR_CONFIG_MODEL_EXT_H
#define DWAAR_CONFIG_MODEL_EXT_H

/* `tls` (spec 20 §1.1) */
typedef enum dw_cfg_tls_kind {
    DW_CFG_TLS_AUTO = 0, /* `tls`, `tls auto` */
    DW_CFG_TLS_OFF,
    DW_CFG_TLS_INTERNAL,
    DW_CFG_TLS_FILES,    /* `tls <cert> <key>` */
    DW_CFG_TLS_MANUAL,   /* `tls manual` + tls_cert + tls_key */
    DW_CFG_TLS_EMAIL,    /* `tls <email>`: ACME with that contact */
    DW_CFG_TLS_DNS,      /* `tls { dns cloudflare <token> }` */
} dw_cfg_tls_kind_t;

typedef struct dw_cfg_tls {
    uint8_t kind; /* dw_cfg_tls_kind_t */
    dw_str_t cert, key; /* FILES: resolved paths */
    dw_str_t email;
    dw_str_t dns_provider, dns_token;
} dw_cfg_tls_t;

typedef struct dw_cfg_path_arg {
    dw_str_t path; /* resolved against the Dwaarfile's directory */
} dw_cfg_path_arg_t;

typedef struct dw_cfg_encode { int todo_; } dw_cfg_encode_t;
typedef struct dw_cfg_cache { int todo_; } dw_cfg_cache_t;
typedef struct dw_cfg_rate_limit { int todo_; } dw_cfg_rate_limit_t;
typedef struct dw_cfg_ip_filter { int todo_; } dw_cfg_ip_filter_t;
typedef struct dw_cfg_basic_auth { int todo_; } dw_cfg_basic_auth_t;
typedef struct dw_cfg_forward_auth { int todo_; } dw_cfg_forward_auth_t;
typedef struct dw_cfg_security_headers { int todo_; } dw_cfg_security_headers_t;
typedef struct dw_cfg_wasm_plugin { int todo_; } dw_cfg_wasm_plugin_t;
typedef struct dw_cfg_body_limit { int todo_; } dw_cfg_body_limit_t;
typedef struct dw_cfg_bind { int todo_; } dw_cfg_bind_t;
typedef struct dw_cfg_log { int todo_; } dw_cfg_log_t;
typedef struct dw_cfg_log_append { int todo_; } dw_cfg_log_append_t;
typedef struct dw_cfg_log_name { int todo_; } dw_cfg_log_name_t;
typedef struct dw_cfg_metrics { int todo_; } dw_cfg_metrics_t;
typedef struct dw_cfg_analytics { int todo_; } dw_cfg_analytics_t;
typedef struct dw_cfg_under_attack { int todo_; } dw_cfg_under_attack_t;
typedef struct dw_cfg_intercept { int todo_; } dw_cfg_intercept_t;
typedef struct dw_cfg_copy_headers { int todo_; } dw_cfg_copy_headers_t;

/* layer4 (spec 10 §8) */
typedef struct dw_cfg_layer4 { int todo_; } dw_cfg_layer4_t;

/* Global options (spec 10 §2). */
typedef enum dw_cfg_auto_https {
    DW_AUTO_HTTPS_ON = 0,
    DW_AUTO_HTTPS_OFF,
    DW_AUTO_HTTPS_DISABLE_REDIRECTS,
} dw_cfg_auto_https_t;

typedef struct dw_cfg_global {
    uint16_t http_port;  /* default 80 */
    uint16_t https_port; /* default 443 */
    uint8_t auto_https;  /* dw_cfg_auto_https_t */
} dw_cfg_global_t;

#endif
