/* STUB: replaced by the area implementation. */
#include "directives_int.h"

int dw_cfg_parse_reverse_proxy(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_reverse_proxy(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_grpc(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_grpc(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_root(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_root(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_file_server(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_file_server(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_try_files(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_try_files(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_php_fastcgi(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_php_fastcgi(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_redir(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_redir(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_rewrite(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_rewrite(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_uri(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_uri(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_respond(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_respond(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_error(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_error(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_abort(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_abort(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_header(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_header(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_method(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_method(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_vars(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_vars(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }
int dw_cfg_parse_map(dw_cfg_parser_t *p, const dw_cfg_node_t *node, const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d)
{ (void)p, (void)node, (void)args, (void)nargs, (void)d; return 0; }
void dw_cfg_json_map(dw_json_t *j, const dw_cfg_directive_t *d) { (void)j, (void)d; }

int dw_cfg_parse_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out) { (void)p, (void)line, (void)out; return 0; }
void dw_cfg_json_cond(dw_json_t *j, const dw_cfg_cond_t *c) { (void)c; dw_json_null(j); }
void dw_cfg_note_template(dw_cfg_parser_t *p, const dw_cfg_token_t *t) { (void)p, (void)t; }
void dw_cfg_declare_var(dw_cfg_parser_t *p, dw_str_t name) { (void)p, (void)name; }
void dw_cfg_check_templates(dw_cfg_parser_t *p) { (void)p; }
