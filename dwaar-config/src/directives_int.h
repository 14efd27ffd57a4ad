/* Parse and JSON functions of every directive, by area. The table in directives.c binds them
 * to names, ranks and flags. */
#ifndef DWAAR_CONFIG_DIRECTIVES_INT_H
#define DWAAR_CONFIG_DIRECTIVES_INT_H

#include "parser_int.h"

#define DW_CFG_DECLARE_DIRECTIVE(x)                                                                \
    int dw_cfg_parse_##x(dw_cfg_parser_t *p, const dw_cfg_node_t *node,                            \
                         const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d);         \
    void dw_cfg_json_##x(dw_json_t *j, const dw_cfg_directive_t *d);

/* clang-format off */
/* dir_route.c (spec 10 §6.1-6.19) */
#define DW_CFG_ROUTE_DIRECTIVES(X) \
    X(reverse_proxy) X(grpc) X(root) X(file_server) X(try_files) X(php_fastcgi) \
    X(redir) X(rewrite) X(uri) X(respond) X(error) X(abort) X(header) X(method) \
    X(vars) X(map)
/* dir_ext.c (spec 10 §6.20, specs 20 and 30) */
#define DW_CFG_EXT_DIRECTIVES(X) \
    X(tls) X(path_arg) X(encode) X(cache) X(rate_limit) X(ip_filter) X(basic_auth) \
    X(forward_auth) X(security_headers) X(wasm_plugin) X(body_limit) X(bind) X(log) \
    X(log_append) X(log_name) X(skip_log) X(metrics) X(analytics) X(under_attack) \
    X(intercept) X(copy_response_headers) X(noop)
/* directives.c */
#define DW_CFG_CORE_DIRECTIVES(X) X(handle) X(handle_errors)

/* clang-format on */

DW_CFG_ROUTE_DIRECTIVES(DW_CFG_DECLARE_DIRECTIVE)
DW_CFG_EXT_DIRECTIVES(DW_CFG_DECLARE_DIRECTIVE)
DW_CFG_CORE_DIRECTIVES(DW_CFG_DECLARE_DIRECTIVE)

#endif
