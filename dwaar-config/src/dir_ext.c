/* STUB: replaced by the area implementation. */
#include "directives_int.h"

int dw_cfg_parse_tls(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_tls(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_path_arg(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_path_arg(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_encode(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_encode(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_cache(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_cache(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_rate_limit(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_rate_limit(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_ip_filter(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_ip_filter(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_basic_auth(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_basic_auth(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_forward_auth(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_forward_auth(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_security_headers(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_security_headers(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_wasm_plugin(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_wasm_plugin(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_body_limit(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_body_limit(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_bind(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_bind(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_log(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_log(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_log_append(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_log_append(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_log_name(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_log_name(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_skip_log(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_skip_log(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_metrics(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_metrics(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_analytics(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_analytics(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_under_attack(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_under_attack(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_intercept(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_intercept(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_copy_response_headers(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_copy_response_headers(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_noop(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_noop(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }

void dw_cfg_global_defaults(dw_cfg_global_t *g) { memset(g, 0, sizeof(*g)); g->http_port = 80; g->https_port = 443; }
void dw_cfg_parse_global(dw_cfg_parser_t *p, const dw_cfg_node_t *block) { (void)p, (void)block; }
void dw_cfg_parse_toplevel_timeouts(dw_cfg_parser_t *p, const dw_cfg_node_t *node) { (void)p, (void)node; }
void dw_cfg_json_global(dw_json_t *j, const dw_cfg_global_t *g) { dw_json_obj_begin(j); dw_json_kv_uint(j, "http_port", g->http_port); dw_json_kv_uint(j, "https_port", g->https_port); dw_json_obj_end(j); }
void dw_cfg_parse_layer4(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_layer4_t *l4) { (void)p, (void)node, (void)l4; }
void dw_cfg_json_layer4(dw_json_t *j, const dw_cfg_layer4_t *l4) { (void)l4; dw_json_null(j); }
void dw_cfg_check_layer4_ports(dw_cfg_parser_t *p) { (void)p; }
void dw_cfg_site_check_ext(dw_cfg_parser_t *p, dw_cfg_site_t *site) { (void)p, (void)site; }
