/* The config snapshot's wire form, the API route overlay, and the routes table.
 *
 * What configd publishes is not the typed model (full of pointers, and compiled per host
 * anyway: regexes, DNS, files) but the *source*: the Dwaarfile after preprocessing (imports
 * expanded, snippets and {$ENV} substituted), as the token stream the parser consumes, with
 * each token's file/line/col. A data plane runs the same tree builder, directive parsers and
 * checks on it as on a local file, so it compiles exactly what configd validated, and errors
 * still point at the right file:line:col. Next to it travels the overlay: routes added or
 * removed through the admin API (spec 30 §1.5), applied to the model at load.
 *
 * msgpack forms (inside the body of config.snapshot, see docs/bus.md):
 *   source  = {"name": str, "base_dir": str, "digest": str(64 hex), "files": [str...],
 *              "tokens": [[kind, quote, file_index, line, col, text] ...]}
 *   overlay = {"add": [{"domain","upstream","tls","source"|nil} ...], "removed": [str ...]} */
#ifndef DWAAR_CONFIG_SOURCE_H
#define DWAAR_CONFIG_SOURCE_H

#include <dwaar/config/config.h>
#include <msgpack.h>

typedef struct dw_cfg_source dw_cfg_source_t;

/* Reads and preprocesses the Dwaarfile at path (same errors as dw_cfg_load_file's front end).
 * NULL when an error was reported in diags. */
dw_cfg_source_t *dw_cfg_source_read_file(const char *path, const dw_cfg_load_opts_t *opts,
                                         dw_diags_t *diags);
/* Same from memory (display name in messages, base_dir for imports and relative paths). */
dw_cfg_source_t *dw_cfg_source_read_string(const char *display_name, const char *base_dir,
                                           const char *src, size_t len,
                                           const dw_cfg_load_opts_t *opts, dw_diags_t *diags);
void dw_cfg_source_free(dw_cfg_source_t *s);
/* SHA-256 (64 lower-case hex) of the import-expanded text: token kinds, quotes and texts, not
 * comments, whitespace or positions. Equal digests = same meaning (the file watcher skips
 * no-op saves with it). */
const char *dw_cfg_source_digest(const dw_cfg_source_t *s);
/* The display name of the top-level file and the directory relative paths resolve in. */
const char *dw_cfg_source_name(const dw_cfg_source_t *s);
const char *dw_cfg_source_base_dir(const dw_cfg_source_t *s);

void dw_cfg_source_pack(msgpack_packer *pk, const dw_cfg_source_t *s);
/* Checks everything (types, counts, indexes, kinds, sizes: at most DW_CFG_MAX_FILE_SIZE bytes
 * of text in all); NULL with a message in err on any problem. */
dw_cfg_source_t *dw_cfg_source_unpack(const msgpack_object *o, char *err, size_t errlen);

/* --- the API overlay ---------------------------------------------------------------------- */

typedef struct dw_cfg_api_route {
    char *domain;   /* route key, lower-case: host, *.host, host/path, or _default */
    char *upstream; /* IPv4:port or [IPv6]:port */
    bool tls;       /* the upstream speaks TLS */
    char *source;   /* owner tag, NULL = none */
} dw_cfg_api_route_t;

typedef struct dw_cfg_overlay {
    dw_cfg_api_route_t *add; /* upserts, in insertion order, unique by domain */
    size_t nadd, add_cap;
    char **removed; /* Dwaarfile route keys deleted through the API */
    size_t nremoved, removed_cap;
} dw_cfg_overlay_t;

void dw_cfg_overlay_init(dw_cfg_overlay_t *ov);
void dw_cfg_overlay_clear(dw_cfg_overlay_t *ov); /* after a Dwaarfile reload (spec 30 §1.5) */
void dw_cfg_overlay_free(dw_cfg_overlay_t *ov);
/* Validates per spec 30 §1.5 and upserts. On a bad value returns -1 and err holds the
 * response text: "invalid domain: <value>" or "invalid upstream address: <detail>". */
int dw_cfg_overlay_put(dw_cfg_overlay_t *ov, const char *domain, const char *upstream, bool tls,
                       const char *source, char *err, size_t errlen);
/* Removes the route with exactly this (lower-cased) key from the overlay, or, when cfg (the
 * current model) has a Dwaarfile route with that key, records its removal. Returns true when
 * a route was found. */
bool dw_cfg_overlay_remove(dw_cfg_overlay_t *ov, const dw_config_t *cfg, const char *domain);
void dw_cfg_overlay_pack(msgpack_packer *pk, const dw_cfg_overlay_t *ov);
/* Re-validates every entry; -1 with err on any problem (ov is then empty). */
int dw_cfg_overlay_unpack(const msgpack_object *o, dw_cfg_overlay_t *ov, char *err, size_t errlen);

/* Builds the model from a source and an overlay (NULL = none), exactly as dw_cfg_load_file
 * would from the same text, then applies the overlay: every site address whose route key is
 * removed or taken over by an API route is dropped (a site left without addresses goes), and
 * each API host becomes a site on the HTTP port holding a `reverse_proxy` per key (host/path
 * keys as `handle /path*` blocks, longest path first, the bare host last). */
dw_config_t *dw_cfg_load_source(const dw_cfg_source_t *src, const dw_cfg_overlay_t *ov,
                                const dw_cfg_load_opts_t *opts, dw_diags_t *diags);

/* --- the routes table (GET /routes, dwaarctl routes) ---------------------------------------- */

typedef struct dw_cfg_route_info {
    char domain[300];  /* route key as listed */
    char upstream[64]; /* first backend as ip:port / [v6]:port / host:port; "" = null */
    bool tls;          /* that upstream is reached over TLS */
    bool has_rate;     /* rate_limit_rps is set */
    uint64_t rate_limit_rps;
    bool under_attack;
    char source[128]; /* owner tag; "" = null (Dwaarfile routes) */
} dw_cfg_route_info_t;

/* One entry per distinct route key of the model (API routes carry their key and source).
 * Returns the count; *out is malloc'ed (caller frees). */
size_t dw_cfg_routes(const dw_config_t *cfg, dw_cfg_route_info_t **out);
/* True when cfg has a route with exactly this key. */
bool dw_cfg_has_route(const dw_config_t *cfg, const char *domain);

#endif
