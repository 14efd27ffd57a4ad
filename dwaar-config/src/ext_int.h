/* Private helpers shared by global.c, layer4.c and dir_ext.c: argument-count and block checks
 * with the spec 10 §1.7 message shapes, CIDR lists, and the layer4 route sets that the
 * global `servers { listener_wrappers { layer4 {…} } }` option reuses. */
#ifndef DWAAR_CONFIG_EXT_INT_H
#define DWAAR_CONFIG_EXT_INT_H

#include "directives_int.h"

/* Checks min <= nargs <= max (max SIZE_MAX = unbounded) for the line named `name`:
 * `expected <what> after '<name>', got end of line` or `unexpected argument <tok> to '<name>'`.
 * keys (NULL-terminated, may be NULL) are the sibling keys of a block: an extra argument equal
 * to one of them gets the decision 15 hint (one subdirective per line). Returns 0 or -1. */
int dw_cfg_ext_argc(dw_cfg_parser_t *p, const dw_cfg_token_t *name, const dw_cfg_token_t *args,
                    size_t nargs, size_t min, size_t max, const char *what,
                    const char *const *keys);
/* Same for a node: its name and args. */
int dw_cfg_ext_node_argc(dw_cfg_parser_t *p, const dw_cfg_node_t *n, size_t min, size_t max,
                         const char *what, const char *const *keys);
/* `'<name>' does not take a block` when the node has one. Returns 0 or -1. */
int dw_cfg_ext_no_block(dw_cfg_parser_t *p, const dw_cfg_node_t *n);
/* `expected '{' block after '<name>'` when the node has none. Returns 0 or -1. */
int dw_cfg_ext_need_block(dw_cfg_parser_t *p, const dw_cfg_node_t *n);
/* True when the token is the unquoted word w. */
bool dw_cfg_ext_is(const dw_cfg_token_t *t, const char *w);
/* Index of t's text in the NULL-terminated keyword list keys; the list's length (so
 * keys[index] == NULL) when it is none of them. */
size_t dw_cfg_ext_keyword(const dw_cfg_token_t *t, const char *const *keys);
/* One line's name as a C string for messages (arena scratch copy). */
const char *dw_cfg_ext_name(dw_cfg_parser_t *p, const dw_cfg_node_t *n);
/* Appends IPs/CIDRs (and `private_ranges`) to out; a bad one is an error naming `directive`.
 * Returns the number of errors. */
size_t dw_cfg_ext_cidrs(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                        const char *directive, dw_cfg_cidrs_t *out, size_t *cap);
/* Pushes a copy of s to a string list. */
void dw_cfg_ext_push_str(dw_cfg_parser_t *p, dw_cfg_strs_t *l, size_t *cap, dw_str_t s);
/* Parses "HH:MM-HH:MM" into minutes after midnight; -1 when invalid. */
int dw_cfg_ext_parse_window(dw_str_t s, uint16_t *start, uint16_t *end);

/* layer4.c: a route set (matchers, routes, matching_timeout) from node's children. */
void dw_cfg_l4_parse_routes(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_l4_routes_t *rs);
/* Writes a route set as a JSON object. */
void dw_cfg_l4_json_routes(dw_json_t *j, const dw_cfg_l4_routes_t *rs);

#endif
