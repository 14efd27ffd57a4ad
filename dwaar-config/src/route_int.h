/* Private to the routing directives (spec 10 §5-§7): helpers shared by dir_route.c,
 * dir_proxy.c, matcher.c, expression.c and placeholder.c. */
#ifndef DWAAR_CONFIG_ROUTE_INT_H
#define DWAAR_CONFIG_ROUTE_INT_H

#include "directives_int.h"

/* dir_route.c ----------------------------------------------------------------------------- */

/* Reports `'<directive>' does not take a block` when node has one; returns -1 then. */
int dw_cfg_route_no_block(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const char *directive);
/* Reports `invalid value for '<directive>': unexpected argument <tok>` for args[0]. */
void dw_cfg_route_extra_arg(dw_cfg_parser_t *p, const dw_cfg_token_t *arg, const char *directive);
/* One header operation (§6.15): `name` is the field token with its optional +/?/- marker,
 * vals the rest of the line. Pushes into ops (cap is its capacity). */
int dw_cfg_route_header_op(dw_cfg_parser_t *p, const char *directive, const dw_cfg_token_t *name,
                           const dw_cfg_token_t *vals, size_t nvals, dw_cfg_header_ops_t *ops,
                           size_t *cap);
void dw_cfg_route_json_header_ops(dw_json_t *j, const char *key, dw_cfg_header_ops_t ops);
/* True when the whole text is one placeholder `{name}` (§7 syntax). */
bool dw_cfg_route_is_placeholder(dw_str_t s);
/* Number of bytes of a placeholder starting at s.ptr[i] == '{' (0 when it is not one). */
size_t dw_cfg_route_placeholder_len(dw_str_t s, size_t i);

/* dir_proxy.c ------------------------------------------------------------------------------ */

/* An upstream address of reverse_proxy / grpc (§6.1, decisions 24, 27): reports `invalid
 * upstream address '<a>'` on failure. */
int dw_cfg_route_upstream(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_upstream_t *out);

/* expression.c ------------------------------------------------------------------------------ */

/* Parses the rest of an `expression` line; reports `unsupported expression ...` and returns
 * NULL on failure. Placeholder operands are noted as templates. */
dw_cfg_expr_t *dw_cfg_route_parse_expr(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                                       dw_str_t *source);
void dw_cfg_route_json_expr(dw_json_t *j, const dw_cfg_expr_t *e);

/* placeholder.c ---------------------------------------------------------------------------- */

/* Checks that need the whole file (php_fastcgi needs a root in scope); run from
 * dw_cfg_check_templates. */
void dw_cfg_route_check_scopes(dw_cfg_parser_t *p);

#endif
