/* Private to dwaar-config: the syntax tree, the parser context, and the helpers every
 * directive parser uses. A directive parser reads a node, fills its directive's payload in
 * the model arena, and reports problems with dw_cfg_err() (parsing continues, so one run
 * reports every error). */
#ifndef DWAAR_CONFIG_PARSER_INT_H
#define DWAAR_CONFIG_PARSER_INT_H

#include <dwaar/base/error.h>
#include <dwaar/base/hash.h>
#include <dwaar/base/parse.h>
#include <dwaar/base/json.h>
#include <dwaar/config/config.h>
#include <dwaar/config/token.h>

/* One logical line: a name, its arguments and an optional block of child lines. */
typedef struct dw_cfg_node {
    dw_cfg_token_t name;
    dw_cfg_token_t *args;
    size_t nargs;
    struct dw_cfg_node *children;
    size_t nchildren;
    bool has_block;
    dw_cfg_token_t open; /* the '{' when has_block */
} dw_cfg_node_t;

/* `kw a b {…}` read as the line `a b {…}` (inline matcher conditions, `not <cond>`).
 * n must have at least one argument. */
static inline dw_cfg_node_t dw_cfg_node_shift(const dw_cfg_node_t *n)
{
    dw_cfg_node_t line = *n;
    line.name = n->args[0];
    line.args = n->args + 1;
    line.nargs = n->nargs - 1;
    return line;
}

/* The top of a file: optional global options, then sites and layer4 blocks. */
typedef struct dw_cfg_tree {
    dw_cfg_node_t *global; /* children = options; NULL when absent */
    struct dw_cfg_tree_item {
        dw_cfg_token_t *addrs; /* site addresses (commas split off); none for layer4 */
        size_t naddrs;
        dw_cfg_node_t block; /* site: name = first address; layer4: the `layer4` line */
        bool is_keyword;     /* a top-level `layer4 {` or `timeouts {` block, not a site */
    } * items;
    size_t nitems;
} dw_cfg_tree_t;

typedef enum dw_cfg_scope_kind {
    DW_SCOPE_SITE = 0,
    DW_SCOPE_HANDLE, /* handle, handle_path */
    DW_SCOPE_ROUTE,
    DW_SCOPE_HANDLE_ERRORS,
    DW_SCOPE_OTHER, /* a directive-owned block that holds directives (intercept) */
} dw_cfg_scope_kind_t;

typedef struct dw_cfg_scope {
    struct dw_cfg_scope *parent;
    dw_cfg_block_t *block;
    uint8_t kind;
} dw_cfg_scope_t;

typedef struct dw_cfg_parser dw_cfg_parser_t;

typedef int (*dw_cfg_dir_parse_fn)(dw_cfg_parser_t *p, const dw_cfg_node_t *node,
                                   const dw_cfg_token_t *args, size_t nargs, dw_cfg_directive_t *d);
typedef void (*dw_cfg_dir_json_fn)(dw_json_t *j, const dw_cfg_directive_t *d);

#define DW_DIRF_MATCHER    0x01u /* takes an optional matcher token [m] */
#define DW_DIRF_SITE_ONLY  0x02u /* error in nested blocks */
#define DW_DIRF_TERMINAL   0x04u /* produces the response */
#define DW_DIRF_INLINE_MIN 0x08u /* matcher_min applies only without a block */
#define DW_DIRF_FAMILY     0x10u /* handle / handle_path / route */

typedef struct dw_cfg_dir_def {
    const char *name;
    uint16_t kind; /* dw_cfg_dir_kind_t */
    uint8_t rank;  /* spec 10 §4.1; 0 = configuration only */
    uint8_t flags;
    uint8_t matcher_min; /* arguments that must remain after a matcher token (§1.5) */
    dw_cfg_dir_parse_fn parse;
    dw_cfg_dir_json_fn json; /* writes the payload's keys into the directive's object */
} dw_cfg_dir_def_t;

extern const dw_cfg_dir_def_t dw_cfg_directives[];
extern const size_t dw_cfg_ndirectives;
const dw_cfg_dir_def_t *dw_cfg_dir_lookup(dw_str_t name);
const dw_cfg_dir_def_t *dw_cfg_dir_by_kind(unsigned kind);

struct dw_cfg_parser {
    dw_config_t *cfg;
    dw_arena_t *arena;  /* the model's arena (== &cfg->arena) */
    dw_arena_t scratch; /* tokens, tree, pending checks; freed when the load ends */
    dw_diags_t *diags;
    const dw_cfg_load_opts_t *opts;
    dw_cfg_scope_t *scope; /* innermost block being parsed */
    dw_cfg_site_t *site;   /* the site being parsed, NULL outside sites */
    size_t sites_cap;
    /* Templates are checked after the whole file is parsed, once every variable that
     * `vars`/`map` declare anywhere is known (spec 10 §7). */
    dw_cfg_token_t *templates;
    size_t ntemplates, ctemplates;
    dw_strmap_t vars;
};

/* --- diagnostics ------------------------------------------------------------------------ */
void dw_cfg_err(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *fmt, ...) DW_PRINTF(3, 4);
void dw_cfg_warn(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *fmt, ...)
    DW_PRINTF(3, 4);
void dw_cfg_err_at(dw_cfg_parser_t *p, dw_cfg_loc_t loc, const char *fmt, ...) DW_PRINTF(3, 4);
void dw_cfg_warn_at(dw_cfg_parser_t *p, dw_cfg_loc_t loc, const char *fmt, ...) DW_PRINTF(3, 4);
/* decision 17: invalid value for '<directive>': '<value>' (expected one of: <allowed>) */
void dw_cfg_err_enum(dw_cfg_parser_t *p, const dw_cfg_token_t *at, const char *directive,
                     const char *allowed);
static inline dw_cfg_loc_t dw_cfg_tok_loc(const dw_cfg_token_t *t)
{
    return (dw_cfg_loc_t){t->file, t->line, t->col};
}

/* --- values ---------------------------------------------------------------------------- */
/* Copies into the model arena (NUL-terminated). */
dw_str_t dw_cfg_str(dw_cfg_parser_t *p, const dw_cfg_token_t *t);
dw_str_t dw_cfg_strdup(dw_cfg_parser_t *p, dw_str_t s);
/* The printable form of a token for messages ('word' / "quoted" / '{' ...). */
const char *dw_cfg_tok_str(dw_cfg_parser_t *p, const dw_cfg_token_t *t);
/* Each reports `invalid value for '<directive>': ...` (plus `expected:` hint line when hint
 * is given) and returns -1 on failure, 0 on success. */
int dw_cfg_arg_duration(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                        const char *hint, uint64_t *ms);
int dw_cfg_arg_size(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                    uint64_t *bytes);
int dw_cfg_arg_bool(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive, bool *out);
int dw_cfg_arg_uint(dw_cfg_parser_t *p, const dw_cfg_token_t *t, const char *directive,
                    uint64_t min, uint64_t max, uint64_t *out);
/* An IP or CIDR (no error reported; returns 0 or -1). */
int dw_cfg_parse_cidr(dw_str_t text, dw_cfg_cidr_t *out);
/* An IP literal of family af (AF_INET or AF_INET6), without brackets. */
bool dw_cfg_is_ip_literal(dw_str_t h, int af);
/* Dot-separated labels of [A-Za-z0-9_-], 1-63 bytes each, 253 in all (upstream and
 * listener host names; site host keys are stricter, see site.c). */
bool dw_cfg_valid_dns_name(dw_str_t h);
/* A path relative to the top-level Dwaarfile's directory (decision 25); absolute unchanged. */
dw_str_t dw_cfg_resolve_path(dw_cfg_parser_t *p, dw_str_t path);
/* With opts->check_files: reports `<what> file '<path>' is not readable: <reason>`. */
int dw_cfg_check_readable(dw_cfg_parser_t *p, const dw_cfg_token_t *at, dw_str_t path,
                          const char *what);
/* Compiles re with PCRE2 (caseless on request) and reports `invalid regular expression`. */
int dw_cfg_check_regex(dw_cfg_parser_t *p, const dw_cfg_token_t *at, dw_str_t re, bool caseless);

/* --- blocks ---------------------------------------------------------------------------- */
/* Parses node's children as a directive block (matchers + directives) in a new scope. */
dw_cfg_block_t *dw_cfg_parse_block(dw_cfg_parser_t *p, const dw_cfg_node_t *node, int scope_kind);
/* Reads an optional matcher token from args[0] (§1.5); returns how many args it consumed. */
size_t dw_cfg_take_matcher(dw_cfg_parser_t *p, const dw_cfg_token_t *args, size_t nargs,
                           size_t min_rest, dw_cfg_match_ref_t *out);
/* True for an unquoted `*`, `/...` or `@...` word. */
bool dw_cfg_is_matcher_token(const dw_cfg_token_t *t);
/* Resolves @name through the enclosing scopes; reports `matcher '@x' is not defined`. */
const dw_cfg_matcher_t *dw_cfg_find_matcher(dw_cfg_parser_t *p, const dw_cfg_token_t *at,
                                            dw_str_t name);

/* --- implemented per area ---------------------------------------------------------------- */
/* matcher.c: one condition line of a named matcher (spec 10 §5). */
int dw_cfg_parse_cond(dw_cfg_parser_t *p, const dw_cfg_node_t *line, dw_cfg_cond_t *out);
void dw_cfg_json_cond(dw_json_t *j, const dw_cfg_cond_t *c);
/* placeholder.c: templates (spec 10 §7). */
void dw_cfg_note_template(dw_cfg_parser_t *p, const dw_cfg_token_t *t);
void dw_cfg_declare_var(dw_cfg_parser_t *p, dw_str_t name);
void dw_cfg_check_templates(dw_cfg_parser_t *p);
/* global.c: the global options block (spec 10 §2) and its JSON. */
void dw_cfg_global_defaults(dw_cfg_global_t *g);
void dw_cfg_parse_global(dw_cfg_parser_t *p, const dw_cfg_node_t *block);
/* A top-level `timeouts {}` (accepted like the one in `servers`). */
void dw_cfg_parse_toplevel_timeouts(dw_cfg_parser_t *p, const dw_cfg_node_t *node);
void dw_cfg_json_global(dw_json_t *j, const dw_cfg_global_t *g);
/* layer4.c (spec 10 §8): a `layer4 {…}` block (top level or global), merged into l4. */
void dw_cfg_parse_layer4(dw_cfg_parser_t *p, const dw_cfg_node_t *node, dw_cfg_layer4_t *l4);
void dw_cfg_json_layer4(dw_json_t *j, const dw_cfg_layer4_t *l4);
/* Called once every site is known: `port <p> used by layer4 and a site`. */
void dw_cfg_check_layer4_ports(dw_cfg_parser_t *p);
/* dir_ext.c: site-level cross-directive checks of the other-area directives (tls manual needs
 * tls_cert and tls_key, ...). Runs after the site's block is parsed, before ports resolve. */
void dw_cfg_site_check_ext(dw_cfg_parser_t *p, dw_cfg_site_t *site);

/* --- front end --------------------------------------------------------------------------- */
/* preprocess.c: lex a file, expand snippets, imports and substitutions. */
int dw_cfg_preprocess(dw_cfg_parser_t *p, const char *display, const char *src, size_t len,
                      dw_cfg_tokens_t *out);
/* tree.c: group tokens into the tree; reports grammar errors. */
void dw_cfg_build_tree(dw_cfg_parser_t *p, const dw_cfg_tokens_t *toks, dw_cfg_tree_t *tree);
/* site.c */
void dw_cfg_parse_site(dw_cfg_parser_t *p, const struct dw_cfg_tree_item *item);
void dw_cfg_finish_sites(dw_cfg_parser_t *p);
/* json.c */
void dw_cfg_json_block(dw_json_t *j, const dw_cfg_block_t *b);
void dw_cfg_json_match(dw_json_t *j, const dw_cfg_match_ref_t *m);
void dw_cfg_json_loc(dw_json_t *j, const char *key, dw_cfg_loc_t loc);
void dw_cfg_json_strs(dw_json_t *j, const char *key, dw_cfg_strs_t s);
void dw_cfg_json_cidr(dw_json_t *j, const dw_cfg_cidr_t *c);
void dw_cfg_json_upstream(dw_json_t *j, const dw_cfg_upstream_t *u);

#endif
