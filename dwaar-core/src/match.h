/* Request-time evaluation of what the config model describes: matchers (spec 10 §5, §4.3),
 * templates and placeholders (§7), header operations (§6.15-6.16), `map` (§6.19), and path
 * normalisation (spec 40). Compiled forms are built once per snapshot in the snapshot's arena;
 * evaluation allocates only from the request's arena and never blocks (except the `file`
 * condition's stat(), which is what Caddy does too). */
#ifndef DWAAR_CORE_MATCH_H
#define DWAAR_CORE_MATCH_H

#include <dwaar/base/error.h>
#include <dwaar/core/request.h>

/* --- compiled matchers ---------------------------------------------------------------------- */
typedef struct dw_rt_match dw_rt_match_t;

/* Compiles a directive's matcher token (NONE, `*`, a path pattern, or @name with its resolved
 * definition). *out is NULL for NONE and `*` (always true). Regexes are compiled with pcre2
 * (JIT where available); the codes are freed by a cleanup registered on arena `a`. A regex the
 * config loader accepted cannot fail here, but allocation can: returns DW_ENOMEM then. */
int dw_rt_match_compile(dw_arena_t *a, const dw_cfg_match_ref_t *ref, dw_rt_match_t **out,
                        dw_err_t *err);

/* True when the request matches. A NULL matcher matches. Side effects on success: regex
 * captures are recorded in r->captures (name = the condition's capture name), and for a
 * trailing-`*` path pattern r->remainder_prefix is set to its literal prefix. */
bool dw_rt_match_eval(const dw_rt_match_t *m, dw_req_t *r);

/* True when ip lies in any of the ranges. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) counts
 * as the IPv4 address; family 0 (unix socket) is in no range. */
bool dw_ip_in_cidrs(const dw_ip_t *ip, const dw_cfg_cidrs_t *ranges);

/* Frees this thread's regex match scratch (created on first use; also freed automatically when
 * the thread exits). Matching again afterwards recreates it. */
void dw_match_thread_cleanup(void);

/* --- paths ---------------------------------------------------------------------------------- */
/* §4.3: `*` any; exact; trailing `*` prefix; leading `*` suffix; both = substring; else glob
 * (`*` within a segment, `**` across). ASCII case-insensitive. path is the normalised path. */
bool dw_path_pattern_match(dw_str_t pattern, dw_str_t path);
/* The literal prefix of a trailing-`*` pattern (`/api/` for the pattern `/api/` + `*`); empty
 * otherwise. */
dw_str_t dw_path_pattern_prefix(dw_str_t pattern);

/* Normalises a raw path for matching (spec 40): percent-decoding (every %XX is decoded;
 * invalid %-escapes and a decoded NUL are errors), dot-segment removal (RFC 3986 §5.2.4),
 * runs of '/' collapsed. Returns DW_OK, or DW_EINVAL when the path climbs above '/' or is
 * malformed (the request gets 400). The result always starts with '/'. */
int dw_path_normalize(dw_arena_t *a, dw_str_t raw, dw_str_t *out);

/* raw, percent-decoded as dw_percent_decode does, equals want (decoded on the fly: no
 * allocation; the query matcher and {query.K} compare this way). */
bool dw_percent_eq(dw_str_t raw, dw_str_t want);
/* Percent-decodes s (for query values); '+' is kept. */
dw_str_t dw_percent_decode(dw_arena_t *a, dw_str_t s);

/* --- templates ------------------------------------------------------------------------------ */
/* Expands the placeholders of §7 in tpl (`\{` is a literal `{`; brace text that is not a
 * placeholder stays literal). Unknown names expand to "" (the loader rejected unknown names
 * already). Returns a view in r->arena (or tpl itself when it has no placeholder). */
dw_str_t dw_tpl_render(dw_req_t *r, dw_str_t tpl);
/* Same, with CR and LF removed from the result (header values, Location). */
dw_str_t dw_tpl_render_header(dw_req_t *r, dw_str_t tpl);
/* The first cookie of that name over every Cookie field (`a=1; b=2`), unquoted; "" when
 * absent. */
dw_str_t dw_req_cookie(const dw_req_t *r, dw_str_t name);
/* The value of one placeholder name (without braces); false when unknown. */
bool dw_placeholder_value(dw_req_t *r, dw_str_t name, dw_str_t *out);

/* --- header operations ---------------------------------------------------------------------- */
/* Applies ops in order to fields (SET replaces all of that name, ADD appends, SET_IF_ABSENT,
 * DELETE, DELETE_PREFIX, REPLACE substring in each value). Names case-insensitive; values are
 * templates rendered with dw_tpl_render_header. */
void dw_hdr_ops_apply(dw_req_t *r, dw_fields_t *fields, const dw_cfg_header_ops_t *ops);

/* --- map ------------------------------------------------------------------------------------ */
typedef struct dw_rt_map dw_rt_map_t;
int dw_rt_map_compile(dw_arena_t *a, const dw_cfg_map_t *m, dw_rt_map_t **out, dw_err_t *err);
/* Evaluates the source template, tries the entries, sets the destination variable (empty when
 * nothing matched). */
void dw_rt_map_eval(const dw_rt_map_t *m, dw_req_t *r);

#endif
