/* Loading a Dwaarfile into the typed, validated model; formatting it (spec 10 §1-§9). */
#ifndef DWAAR_CONFIG_CONFIG_H
#define DWAAR_CONFIG_CONFIG_H

#include <dwaar/base/buf.h>
#include <dwaar/base/diag.h>
#include <dwaar/config/model.h>

#define DW_CFG_MAX_FILE_SIZE    10485760u /* 10 MiB per file */
#define DW_CFG_MAX_IMPORT_DEPTH 10

typedef struct dw_cfg_load_opts {
    /* Environment lookup for {$X} and {env.X}; NULL means getenv(). */
    const char *(*getenv_fn)(const char *name, void *ctx);
    void *getenv_ctx;
    /* Compile checks that touch the filesystem (certificate, CA and key files exist and are
     * readable). `dwaar validate` and server start turn them on. */
    bool check_files;
} dw_cfg_load_opts_t;

/* Loads the Dwaarfile at path (imports resolve against its directory). Returns NULL when any
 * error was reported; every error and warning found is in diags either way. */
dw_config_t *dw_cfg_load_file(const char *path, const dw_cfg_load_opts_t *opts, dw_diags_t *diags);
/* Same from memory: display_name is used in messages, base_dir for imports and relative paths. */
dw_config_t *dw_cfg_load_string(const char *display_name, const char *base_dir, const char *src,
                                size_t len, const dw_cfg_load_opts_t *opts, dw_diags_t *diags);
void dw_config_free(dw_config_t *cfg);

/* The model as canonical JSON (one object; `dwaar adapt`, golden tests). */
int dw_config_to_json(const dw_config_t *cfg, dw_buf_t *out);

/* Canonical formatting (§9.4), token-level: comments kept, imports and env not expanded.
 * Returns the number of site blocks ("domain blocks"), or -1 on a lexical or brace error
 * (reported in diags; out is then unspecified). */
int dw_cfg_format(const char *display_name, const char *src, size_t len, dw_buf_t *out,
                  dw_diags_t *diags);

#endif
