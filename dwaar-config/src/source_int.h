/* Private to dwaar-config: the loader's stages shared by dw_cfg_load_file/_string (load.c),
 * the config source (source.c) and the API overlay (overlay.c).
 *
 *   read ──► front end (size check, lex, imports, snippets, env) ──► token stream
 *   token stream ──► compile (tree, globals, sites, overlay, whole-config checks) ──► model
 *
 * A file or string goes through both; a dw_cfg_source_t is the token stream, so loading it
 * runs only the second half, the same code as for a local file. */
#ifndef DWAAR_CONFIG_SOURCE_INT_H
#define DWAAR_CONFIG_SOURCE_INT_H

#include "parser_int.h"
#include <dwaar/config/source.h>

/* Bounds of a source (the preprocessed stream), checked when one is made and when one is
 * unpacked: all token texts together at most DW_CFG_MAX_FILE_SIZE bytes. */
#define DW_CFG_SOURCE_MAX_TOKENS (4u * 1024u * 1024u)
#define DW_CFG_SOURCE_MAX_FILES  65536u

/* Overlay bounds: API routes and recorded removals, and the longest key and owner tag. */
#define DW_CFG_OVERLAY_MAX_ROUTES 100000u
#define DW_CFG_ROUTE_KEY_MAX      253u
#define DW_CFG_ROUTE_SOURCE_MAX   127u

/* load.c ----------------------------------------------------------------------------------- */
/* A new, empty model (path may be NULL; base_dir NULL means "."). NULL when out of memory. */
dw_config_t *dw_cfg_config_new(const char *path, const char *base_dir);
/* A parser loading into cfg; dw_cfg_parser_end() frees its own state (scratch arena, tokens,
 * tree), never cfg. */
void dw_cfg_parser_begin(dw_cfg_parser_t *p, dw_config_t *cfg, const dw_cfg_load_opts_t *opts,
                         dw_diags_t *diags);
void dw_cfg_parser_end(dw_cfg_parser_t *p);
/* Reads the file at path whole (the "cannot read config file" / "too large" errors are
 * reported with its base name). Returns a malloc'ed NUL-terminated buffer, or NULL.
 * *display and *base_dir are malloc'ed too: the base name and the absolute directory. */
char *dw_cfg_read_top(const char *path, dw_diags_t *diags, size_t *len, char **display,
                      char **base_dir);
/* The front end: size check and preprocessing. 0 when a token stream was produced (errors may
 * still have been reported by substitutions and imports), -1 otherwise. */
int dw_cfg_front_end(dw_cfg_parser_t *p, const char *display, const char *src, size_t len,
                     dw_cfg_tokens_t *toks);
/* The back end: the tree, global options, sites and layer4 blocks, the API overlay (ov may be
 * NULL), and the checks that need the whole configuration. */
void dw_cfg_compile(dw_cfg_parser_t *p, const dw_cfg_tokens_t *toks, const dw_cfg_overlay_t *ov);

/* source.c --------------------------------------------------------------------------------- */
/* dw_cfg_source_unpack, optionally without comparing the digest with the tokens (the fuzz
 * harness reaches the back end with streams it made up). */
dw_cfg_source_t *dw_cfg_source_unpack_ex(const msgpack_object *o, bool verify_digest, char *err,
                                         size_t errlen);

/* A msgpack map key for messages ('%.*s'): its first 40 bytes when it is a string. */
static inline int dw_cfg_mp_key_len(const msgpack_object *k)
{
    if (k->type != MSGPACK_OBJECT_STR) return 0;
    return (int)(k->via.str.size > 40 ? 40 : k->via.str.size);
}
static inline const char *dw_cfg_mp_key_ptr(const msgpack_object *k)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size ? k->via.str.ptr : "";
}
#define DW_CFG_MP_KEY_FMT(k) dw_cfg_mp_key_len(k), dw_cfg_mp_key_ptr(k)

/* overlay.c -------------------------------------------------------------------------------- */
/* Drops the Dwaarfile site addresses the overlay removes or takes over, then parses the API
 * sites (generated Dwaarfile text, display name "<api>") into p->cfg. */
void dw_cfg_apply_overlay(dw_cfg_parser_t *p, const dw_cfg_overlay_t *ov);
/* The route key of a site address: its host key, or "_default" for a catch-all. */
dw_str_t dw_cfg_address_key(const dw_cfg_address_t *a);

#endif
