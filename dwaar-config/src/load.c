/* Loading: read, preprocess (the front end), then build the tree, parse globals, sites and
 * layer4 blocks, apply the API overlay and run the checks that need the whole configuration
 * (the back end, shared with dw_cfg_load_source, see source_int.h). */
#include "directives_int.h"
#include "source_int.h"
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

dw_config_t *dw_cfg_config_new(const char *path, const char *base_dir)
{
    dw_config_t *cfg = calloc(1, sizeof(*cfg));
    if (!cfg) return NULL;
    dw_arena_init(&cfg->arena, 64 * 1024);
    cfg->path = path ? strdup(path) : NULL;
    cfg->base_dir = strdup(base_dir ? base_dir : ".");
    if ((path && !cfg->path) || !cfg->base_dir) {
        dw_config_free(cfg);
        return NULL;
    }
    dw_cfg_global_defaults(&cfg->global);
    return cfg;
}

void dw_cfg_parser_begin(dw_cfg_parser_t *p, dw_config_t *cfg, const dw_cfg_load_opts_t *opts,
                         dw_diags_t *diags)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    p->arena = &cfg->arena;
    p->diags = diags;
    p->opts = opts;
    dw_arena_init(&p->scratch, 64 * 1024);
    dw_strmap_init(&p->vars, false);
}

void dw_cfg_parser_end(dw_cfg_parser_t *p)
{
    dw_strmap_deinit(&p->vars);
    dw_arena_deinit(&p->scratch);
}

int dw_cfg_front_end(dw_cfg_parser_t *p, const char *display, const char *src, size_t len,
                     dw_cfg_tokens_t *toks)
{
    if (len > DW_CFG_MAX_FILE_SIZE) {
        dw_cfg_err_at(p, (dw_cfg_loc_t){display, 0, 0},
                      "config file too large (%zu bytes, max %u bytes)", len, DW_CFG_MAX_FILE_SIZE);
        return -1;
    }
    return dw_cfg_preprocess(p, display, src, len, toks);
}

void dw_cfg_compile(dw_cfg_parser_t *p, const dw_cfg_tokens_t *toks, const dw_cfg_overlay_t *ov)
{
    dw_config_t *cfg = p->cfg;
    dw_cfg_tree_t tree;
    dw_cfg_build_tree(p, toks, &tree);
    if (tree.global) dw_cfg_parse_global(p, tree.global);
    for (size_t i = 0; i < tree.nitems; i++) {
        const struct dw_cfg_tree_item *it = &tree.items[i];
        if (it->is_keyword && it->block.nargs) /* `layer4 x {` */
            dw_cfg_err(p, &it->block.args[0], "unexpected %s after '%.*s' (expected '{')",
                       dw_cfg_tok_str(p, &it->block.args[0]), DW_STR_FMT(it->block.name.text));
        else if (!it->is_keyword)
            dw_cfg_parse_site(p, it);
        else if (dw_str_eq_c(it->block.name.text, "layer4"))
            dw_cfg_parse_layer4(p, &it->block, &cfg->layer4);
        else
            dw_cfg_parse_toplevel_timeouts(p, &it->block);
    }
    if (ov) dw_cfg_apply_overlay(p, ov);
    dw_cfg_finish_sites(p);
    dw_cfg_check_layer4_ports(p);
    dw_cfg_check_templates(p);
}

static dw_config_t *load(const char *display, const char *base_dir, const char *path,
                         const char *src, size_t len, const dw_cfg_load_opts_t *opts,
                         dw_diags_t *diags)
{
    dw_config_t *cfg = dw_cfg_config_new(path, base_dir);
    if (!cfg) return NULL;
    size_t errs0 = diags->nerrors;
    dw_cfg_parser_t p;
    dw_cfg_parser_begin(&p, cfg, opts, diags);
    const char *disp = dw_arena_strdup(&cfg->arena, display);
    dw_cfg_tokens_t toks = {0};
    if (disp && dw_cfg_front_end(&p, disp, src, len, &toks) == 0) dw_cfg_compile(&p, &toks, NULL);
    dw_cfg_parser_end(&p);
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

char *dw_cfg_read_top(const char *path, dw_diags_t *diags, size_t *len_out, char **display_out,
                      char **base_dir_out)
{
    *display_out = *base_dir_out = NULL;
    char *pathcopy = strdup(path), *pathcopy2 = strdup(path);
    char *src = NULL;
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
    src = malloc(len + 1);
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
        src = NULL;
        goto out;
    }
    src[len] = '\0';
    /* imports and relative paths resolve against an absolute directory, whatever the cwd */
    char *absdir = realpath(dir, NULL);
    *base_dir_out = absdir ? absdir : strdup(dir);
    *display_out = strdup(display);
    if (!*base_dir_out || !*display_out) {
        free(*base_dir_out);
        free(*display_out);
        *display_out = *base_dir_out = NULL;
        free(src);
        src = NULL;
        goto out;
    }
    *len_out = len;
out:
    free(pathcopy);
    free(pathcopy2);
    return src;
}

dw_config_t *dw_cfg_load_file(const char *path, const dw_cfg_load_opts_t *opts, dw_diags_t *diags)
{
    size_t len = 0;
    char *display, *base_dir;
    char *src = dw_cfg_read_top(path, diags, &len, &display, &base_dir);
    if (!src) return NULL;
    dw_config_t *cfg = load(display, base_dir, path, src, len, opts, diags);
    free(src);
    free(display);
    free(base_dir);
    return cfg;
}
