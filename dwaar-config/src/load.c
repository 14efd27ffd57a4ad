/* Loading: read, preprocess, build the tree, parse globals, sites and layer4 blocks, then the
 * checks that need the whole configuration. */
#include "directives_int.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sys/stat.h>
#include <unistd.h>

void dw_config_free(dw_config_t *cfg)
{
    if (!cfg) return;
    free(cfg->path);
    free(cfg->base_dir);
    dw_arena_deinit(&cfg->arena);
    free(cfg);
}

static dw_config_t *load(const char *display, const char *base_dir, const char *path,
                         const char *src, size_t len, const dw_cfg_load_opts_t *opts,
                         dw_diags_t *diags)
{
    dw_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    dw_arena_init(&cfg->arena, 64 * 1024);
    cfg->path = path ? strdup(path) : NULL;
    cfg->base_dir = strdup(base_dir ? base_dir : ".");
    dw_cfg_parser_t p = {.cfg = cfg, .arena = &cfg->arena, .diags = diags, .opts = opts};
    dw_arena_init(&p.scratch, 64 * 1024);
    dw_strmap_init(&p.vars, false);
    size_t errs0 = diags->nerrors;
    const char *disp = dw_arena_strdup(&cfg->arena, display);
    dw_cfg_global_defaults(&cfg->global);

    if (len > DW_CFG_MAX_FILE_SIZE) {
        dw_cfg_err_at(&p, (dw_cfg_loc_t){disp, 0, 0},
                      "config file too large (%zu bytes, max %u bytes)", len, DW_CFG_MAX_FILE_SIZE);
    } else {
        dw_cfg_tokens_t toks = {0};
        if (dw_cfg_preprocess(&p, disp, src, len, &toks) == 0) {
            dw_cfg_tree_t tree;
            dw_cfg_build_tree(&p, &toks, &tree);
            if (tree.global) dw_cfg_parse_global(&p, tree.global);
            for (size_t i = 0; i < tree.nitems; i++) {
                const struct dw_cfg_tree_item *it = &tree.items[i];
                if (it->is_keyword && it->block.nargs) /* `layer4 x {` */
                    dw_cfg_err(&p, &it->block.args[0], "unexpected %s after '%.*s' (expected '{')",
                               dw_cfg_tok_str(&p, &it->block.args[0]),
                               DW_STR_FMT(it->block.name.text));
                else if (!it->is_keyword)
                    dw_cfg_parse_site(&p, it);
                else if (dw_str_eq_c(it->block.name.text, "layer4"))
                    dw_cfg_parse_layer4(&p, &it->block, &cfg->layer4);
                else
                    dw_cfg_parse_toplevel_timeouts(&p, &it->block);
            }
            dw_cfg_finish_sites(&p);
            dw_cfg_check_layer4_ports(&p);
            dw_cfg_check_templates(&p);
        }
    }
    dw_strmap_deinit(&p.vars);
    dw_arena_deinit(&p.scratch);
    if (diags->nerrors != errs0) {
        dw_config_free(cfg);
        return NULL;
    }
    return cfg;
}

dw_config_t *dw_cfg_load_string(const char *display_name, const char *base_dir, const char *src,
                                size_t len, const dw_cfg_load_opts_t *opts, dw_diags_t *diags)
{
    return load(display_name, base_dir, NULL, src, len, opts, diags);
}

dw_config_t *dw_cfg_load_file(const char *path, const dw_cfg_load_opts_t *opts, dw_diags_t *diags)
{
    char *pathcopy = strdup(path), *pathcopy2 = strdup(path);
    dw_config_t *cfg = NULL;
    if (!pathcopy || !pathcopy2) goto out;
    const char *display = basename(pathcopy);
    const char *dir = dirname(pathcopy2);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        dw_diags_add(diags, DW_SEV_ERROR, display, 0, 0, "cannot read config file: %s",
                     fd < 0 ? strerror(errno) : "not a regular file");
        if (fd >= 0) close(fd);
        goto out;
    }
    if ((uint64_t)st.st_size > DW_CFG_MAX_FILE_SIZE) {
        dw_diags_add(diags, DW_SEV_ERROR, display, 0, 0,
                     "config file too large (%lld bytes, max %u bytes)", (long long)st.st_size,
                     DW_CFG_MAX_FILE_SIZE);
        close(fd);
        goto out;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *src = malloc(len + 1);
    while (src && got < len) {
        ssize_t r = read(fd, src + got, len - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        got += (size_t)r;
    }
    close(fd);
    if (!src || got != len) {
        dw_diags_add(diags, DW_SEV_ERROR, display, 0, 0, "cannot read config file: short read");
        free(src);
        goto out;
    }
    src[len] = '\0';
    /* imports and relative paths resolve against an absolute directory, whatever the cwd */
    char *absdir = realpath(dir, NULL);
    cfg = load(display, absdir ? absdir : dir, path, src, len, opts, diags);
    free(absdir);
    free(src);
out:
    free(pathcopy);
    free(pathcopy2);
    return cfg;
}
