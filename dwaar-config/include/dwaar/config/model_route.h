/* Model types of the routing directives (spec 10 §5-§7). Included by model.h; do not include
 * directly. */
#ifndef DWAAR_CONFIG_MODEL_ROUTE_H
#define DWAAR_CONFIG_MODEL_ROUTE_H

/* Named-matcher conditions (spec 10 §5). */
typedef struct dw_cfg_cond { int todo_; } dw_cfg_cond_t;

typedef struct dw_cfg_proxy { int todo_; } dw_cfg_proxy_t;
typedef struct dw_cfg_grpc { int todo_; } dw_cfg_grpc_t;
typedef struct dw_cfg_root { int todo_; } dw_cfg_root_t;
typedef struct dw_cfg_file_server { int todo_; } dw_cfg_file_server_t;
typedef struct dw_cfg_try_files { int todo_; } dw_cfg_try_files_t;
typedef struct dw_cfg_php_fastcgi { int todo_; } dw_cfg_php_fastcgi_t;
typedef struct dw_cfg_redir { int todo_; } dw_cfg_redir_t;
typedef struct dw_cfg_rewrite { int todo_; } dw_cfg_rewrite_t;
typedef struct dw_cfg_uri { int todo_; } dw_cfg_uri_t;
typedef struct dw_cfg_respond { int todo_; } dw_cfg_respond_t;
typedef struct dw_cfg_error { int todo_; } dw_cfg_error_t;
typedef struct dw_cfg_header { int todo_; } dw_cfg_header_t;
typedef struct dw_cfg_method { int todo_; } dw_cfg_method_t;
typedef struct dw_cfg_vars { int todo_; } dw_cfg_vars_t;
typedef struct dw_cfg_map { int todo_; } dw_cfg_map_t;

#endif
