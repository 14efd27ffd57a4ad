/* The config source (see source.h): the preprocessed token stream of a Dwaarfile, its digest,
 * its msgpack form, and loading a model from it through the same back end as a local file. */
#include "source_int.h"
#include <limits.h>
#include <openssl/evp.h>

#define NAME_MAX_LEN 4096u /* display names, base_dir, file names */

/* One token of the stream: what the back end needs (text, kind, quote, file, line, col). */
typedef struct src_tok {
    const char *text; /* in the source's arena, NUL-terminated */
    uint32_t len;
    uint32_t line, col;
    uint32_t file; /* index into files */
    uint8_t kind;
    char quote;
} src_tok_t;

struct dw_cfg_source {
    dw_arena_t arena; /* everything below */
    const char *name, *base_dir;
    const char *path; /* the top-level file when read here (not on the wire), else NULL */
    const char **files;
    uint32_t nfiles;
    src_tok_t *toks;
    size_t ntoks;
    char digest[65];
};

static dw_cfg_source_t *source_new(void)
{
    dw_cfg_source_t *s = calloc(1, sizeof(*s));
    if (s) dw_arena_init(&s->arena, 64 * 1024);
    return s;
}

void dw_cfg_source_free(dw_cfg_source_t *s)
{
    if (!s) return;
    dw_arena_deinit(&s->arena);
    free(s);
}

const char *dw_cfg_source_digest(const dw_cfg_source_t *s)
{
    return s->digest;
}

const char *dw_cfg_source_name(const dw_cfg_source_t *s)
{
    return s->name;
}

const char *dw_cfg_source_base_dir(const dw_cfg_source_t *s)
{
    return s->base_dir;
}

static bool value_kind(uint8_t kind)
{
    return kind == DW_TOK_WORD || kind == DW_TOK_QUOTED;
}

/* SHA-256 over each token's kind, quote and (for words and quoted strings) length-prefixed
 * text: the meaning of the stream, not where its tokens were. Returns 0 or -1. */
static int compute_digest(const dw_cfg_source_t *s, char out[65])
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < s->ntoks; i++) {
        const src_tok_t *t = &s->toks[i];
        uint32_t n = value_kind(t->kind) ? t->len : 0;
        unsigned char hdr[6] = {t->kind,
                                (unsigned char)t->quote,
                                (unsigned char)n,
                                (unsigned char)(n >> 8),
                                (unsigned char)(n >> 16),
                                (unsigned char)(n >> 24)};
        ok = EVP_DigestUpdate(ctx, hdr, sizeof(hdr)) == 1 &&
             (n == 0 || EVP_DigestUpdate(ctx, t->text, n) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) return -1;
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
    return 0;
}

/* --- making a source from a preprocessed stream ------------------------------------------- */

static uint32_t file_index(dw_cfg_source_t *s, dw_strmap_t *seen, const char *file, size_t *cap,
                           bool *fail)
{
    if (!file) file = "";
    dw_str_t key = dw_str_c(file);
    void *v = dw_strmap_get(seen, key);
    if (v) return (uint32_t)((uintptr_t)v - 1);
    const char **slot = DW_ARENA_PUSH(&s->arena, s->files, s->nfiles, *cap);
    char *copy = dw_arena_strdup(&s->arena, file);
    if (s->nfiles > DW_CFG_SOURCE_MAX_FILES) {
        *fail = true;
        return 0;
    }
    if (!slot || !copy ||
        dw_strmap_put(seen, dw_str_c(copy), (void *)(uintptr_t)s->nfiles, NULL) != DW_OK) {
        *fail = true;
        return 0;
    }
    *slot = copy;
    return s->nfiles - 1;
}

static dw_cfg_source_t *source_from_tokens(const char *name, const char *base_dir, const char *path,
                                           const dw_cfg_tokens_t *toks, dw_diags_t *diags)
{
    size_t text = 0;
    for (size_t i = 0; i < toks->n; i++) text += toks->v[i].text.len;
    if (toks->n > DW_CFG_SOURCE_MAX_TOKENS || text > DW_CFG_MAX_FILE_SIZE) {
        dw_diags_add(diags, DW_SEV_ERROR, name, 0, 0,
                     "config too large after imports and snippets (%zu tokens, %zu bytes of "
                     "text; max %u tokens, %u bytes)",
                     toks->n, text, DW_CFG_SOURCE_MAX_TOKENS, DW_CFG_MAX_FILE_SIZE);
        return NULL;
    }
    dw_cfg_source_t *s = source_new();
    if (!s) return NULL;
    dw_strmap_t seen;
    dw_strmap_init(&seen, false);
    bool fail = false;
    size_t fcap = 0;
    s->name = dw_arena_strdup(&s->arena, name);
    s->base_dir = dw_arena_strdup(&s->arena, base_dir);
    s->path = path ? dw_arena_strdup(&s->arena, path) : NULL;
    s->toks = dw_arena_alloc(&s->arena, (toks->n ? toks->n : 1) * sizeof(*s->toks));
    /* the top-level file is file 0 even when it holds no token of its own */
    file_index(s, &seen, name, &fcap, &fail);
    fail |= !s->name || !s->base_dir || (path && !s->path) || !s->toks;
    const char *last_file = NULL;
    uint32_t last_index = 0;
    for (size_t i = 0; !fail && i < toks->n; i++) {
        const dw_cfg_token_t *t = &toks->v[i];
        src_tok_t *o = &s->toks[s->ntoks++];
        char *copy = dw_arena_strndup(&s->arena, t->text.ptr ? t->text.ptr : "", t->text.len);
        if (!copy) fail = true;
        o->text = copy;
        o->len = (uint32_t)t->text.len;
        o->line = t->line;
        o->col = t->col;
        o->kind = t->kind;
        /* only a quoted string has a quote: the preprocessor makes the end of line that closes
         * an imported text from that text's last token, quote and all */
        o->quote = t->kind == DW_TOK_QUOTED ? t->quote : 0;
        if (t->file != last_file || i == 0) {
            last_file = t->file;
            last_index = file_index(s, &seen, t->file, &fcap, &fail);
        }
        o->file = last_index;
    }
    dw_strmap_deinit(&seen);
    if (s->nfiles > DW_CFG_SOURCE_MAX_FILES) {
        dw_diags_add(diags, DW_SEV_ERROR, name, 0, 0, "more than %u imported files",
                     DW_CFG_SOURCE_MAX_FILES);
        dw_cfg_source_free(s);
        return NULL;
    }
    if (fail || compute_digest(s, s->digest) != 0) {
        dw_diags_add(diags, DW_SEV_ERROR, name, 0, 0, "out of memory");
        dw_cfg_source_free(s);
        return NULL;
    }
    return s;
}

static dw_cfg_source_t *read_common(const char *display, const char *base_dir, const char *path,
                                    const char *src, size_t len, const dw_cfg_load_opts_t *opts,
                                    dw_diags_t *diags)
{
    if (strlen(display) > NAME_MAX_LEN || (base_dir && strlen(base_dir) > NAME_MAX_LEN)) {
        dw_diags_add(diags, DW_SEV_ERROR, NULL, 0, 0,
                     "config name or directory longer than %u bytes", NAME_MAX_LEN);
        return NULL;
    }
    dw_config_t *cfg = dw_cfg_config_new(path, base_dir);
    if (!cfg) return NULL;
    size_t errs0 = diags->nerrors;
    dw_cfg_parser_t p;
    dw_cfg_parser_begin(&p, cfg, opts, diags);
    const char *disp = dw_arena_strdup(&cfg->arena, display);
    dw_cfg_tokens_t toks = {0};
    dw_cfg_source_t *s = NULL;
    if (disp && dw_cfg_front_end(&p, disp, src, len, &toks) == 0 && diags->nerrors == errs0)
        s = source_from_tokens(display, cfg->base_dir, path, &toks, diags);
    dw_cfg_parser_end(&p);
    dw_config_free(cfg);
    return s;
}

dw_cfg_source_t *dw_cfg_source_read_string(const char *display_name, const char *base_dir,
                                           const char *src, size_t len,
                                           const dw_cfg_load_opts_t *opts, dw_diags_t *diags)
{
    return read_common(display_name, base_dir, NULL, src, len, opts, diags);
}

dw_cfg_source_t *dw_cfg_source_read_file(const char *path, const dw_cfg_load_opts_t *opts,
                                         dw_diags_t *diags)
{
    size_t len = 0;
    char *display, *base_dir;
    char *src = dw_cfg_read_top(path, diags, &len, &display, &base_dir);
    if (!src) return NULL;
    dw_cfg_source_t *s = read_common(display, base_dir, path, src, len, opts, diags);
    free(src);
    free(display);
    free(base_dir);
    return s;
}

/* --- loading a model ---------------------------------------------------------------------- */

dw_config_t *dw_cfg_load_source(const dw_cfg_source_t *src, const dw_cfg_overlay_t *ov,
                                const dw_cfg_load_opts_t *opts, dw_diags_t *diags)
{
    dw_config_t *cfg = dw_cfg_config_new(src->path, src->base_dir);
    if (!cfg) return NULL;
    size_t errs0 = diags->nerrors;
    dw_cfg_parser_t p;
    dw_cfg_parser_begin(&p, cfg, opts, diags);
    /* File names live in the model (locations point at them); texts only need to outlive
     * the load, so tokens point into the source. */
    const char **files = dw_arena_alloc(&p.scratch, src->nfiles * sizeof(*files));
    dw_cfg_tokens_t toks = {0};
    toks.v = dw_arena_alloc(&p.scratch, src->ntoks * sizeof(*toks.v));
    bool ok = files && toks.v;
    for (uint32_t i = 0; ok && i < src->nfiles; i++)
        ok = (files[i] = dw_arena_strdup(&cfg->arena, src->files[i])) != NULL;
    if (ok) {
        for (size_t i = 0; i < src->ntoks; i++) {
            const src_tok_t *t = &src->toks[i];
            dw_cfg_token_t *o = &toks.v[i];
            memset(o, 0, sizeof(*o));
            o->text = o->raw = dw_str_make(t->text, t->len);
            o->file = files[t->file];
            o->line = o->end_line = t->line;
            o->col = t->col;
            o->kind = t->kind;
            o->quote = t->quote;
        }
        toks.n = toks.cap = src->ntoks;
        dw_cfg_compile(&p, &toks, ov);
    } else {
        dw_diags_add(diags, DW_SEV_ERROR, src->name, 0, 0, "out of memory");
    }
    dw_cfg_parser_end(&p);
    if (diags->nerrors != errs0) {
        dw_config_free(cfg);
        return NULL;
    }
    return cfg;
}

/* --- msgpack ------------------------------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    if (n) msgpack_pack_str_body(pk, s, n);
}

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    pack_str(pk, s, strlen(s));
}

void dw_cfg_source_pack(msgpack_packer *pk, const dw_cfg_source_t *s)
{
    msgpack_pack_map(pk, 5);
    pack_cstr(pk, "name");
    pack_cstr(pk, s->name);
    pack_cstr(pk, "base_dir");
    pack_cstr(pk, s->base_dir);
    pack_cstr(pk, "digest");
    pack_cstr(pk, s->digest);
    pack_cstr(pk, "files");
    msgpack_pack_array(pk, s->nfiles);
    for (uint32_t i = 0; i < s->nfiles; i++) pack_cstr(pk, s->files[i]);
    pack_cstr(pk, "tokens");
    msgpack_pack_array(pk, s->ntoks);
    for (size_t i = 0; i < s->ntoks; i++) {
        const src_tok_t *t = &s->toks[i];
        msgpack_pack_array(pk, 6);
        msgpack_pack_uint8(pk, t->kind);
        msgpack_pack_uint8(pk, (uint8_t)t->quote);
        msgpack_pack_uint32(pk, t->file);
        msgpack_pack_uint32(pk, t->line);
        msgpack_pack_uint32(pk, t->col);
        pack_str(pk, t->text, t->len);
    }
}

static bool is_key(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static bool get_uint(const msgpack_object *o, uint64_t max, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > max) return false;
    *out = o->via.u64;
    return true;
}

/* A string of at most max bytes without NUL bytes (a C string), copied into the arena. */
static const char *get_name(dw_arena_t *a, const msgpack_object *o, size_t max)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size > max) return NULL;
    if (o->via.str.size && memchr(o->via.str.ptr, '\0', o->via.str.size)) return NULL;
    return dw_arena_strndup(a, o->via.str.size ? o->via.str.ptr : "", o->via.str.size);
}

static bool valid_kind(uint64_t k)
{
    return k == DW_TOK_WORD || k == DW_TOK_QUOTED || k == DW_TOK_OPEN || k == DW_TOK_CLOSE ||
           k == DW_TOK_EOL || k == DW_TOK_EOF;
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

static int unpack_tokens(dw_cfg_source_t *s, const msgpack_object *arr, char *err, size_t errlen)
{
    if (arr->type != MSGPACK_OBJECT_ARRAY) FAIL("source: 'tokens' is not an array");
    size_t n = arr->via.array.size;
    if (n == 0) FAIL("source: no tokens (the stream ends with one end of file)");
    if (n > DW_CFG_SOURCE_MAX_TOKENS)
        FAIL("source: %zu tokens (max %u)", n, DW_CFG_SOURCE_MAX_TOKENS);
    s->toks = dw_arena_alloc(&s->arena, n * sizeof(*s->toks));
    if (!s->toks) FAIL("source: out of memory");
    size_t text = 0;
    for (size_t i = 0; i < n; i++) {
        const msgpack_object *e = &arr->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_ARRAY || e->via.array.size != 6)
            FAIL("source: token %zu is not [kind, quote, file, line, col, text]", i);
        const msgpack_object *f = e->via.array.ptr;
        uint64_t kind, quote, file, line, col;
        if (!get_uint(&f[0], UINT8_MAX, &kind) || !valid_kind(kind))
            FAIL("source: token %zu: invalid kind", i);
        if (!get_uint(&f[1], UINT8_MAX, &quote) ||
            (kind == DW_TOK_QUOTED ? quote != '"' && quote != '`' : quote != 0))
            FAIL("source: token %zu: invalid quote", i);
        if (!get_uint(&f[2], UINT32_MAX, &file) || file >= s->nfiles)
            FAIL("source: token %zu: file index out of range", i);
        if (!get_uint(&f[3], UINT32_MAX, &line) || !get_uint(&f[4], UINT32_MAX, &col))
            FAIL("source: token %zu: invalid line or column", i);
        if (f[5].type != MSGPACK_OBJECT_STR) FAIL("source: token %zu: text is not a string", i);
        size_t len = f[5].via.str.size;
        if (len > DW_CFG_MAX_FILE_SIZE - text)
            FAIL("source: token text exceeds %u bytes in all", DW_CFG_MAX_FILE_SIZE);
        text += len;
        if ((kind == DW_TOK_EOF) != (i == n - 1))
            FAIL("source: token %zu: the stream must end with exactly one end of file", i);
        char *copy = dw_arena_strndup(&s->arena, len ? f[5].via.str.ptr : "", len);
        if (!copy) FAIL("source: out of memory");
        s->toks[i] = (src_tok_t){.text = copy,
                                 .len = (uint32_t)len,
                                 .line = (uint32_t)line,
                                 .col = (uint32_t)col,
                                 .file = (uint32_t)file,
                                 .kind = (uint8_t)kind,
                                 .quote = (char)quote};
    }
    s->ntoks = n;
    return 0;
fail:
    return -1;
}

dw_cfg_source_t *dw_cfg_source_unpack(const msgpack_object *o, char *err, size_t errlen)
{
    return dw_cfg_source_unpack_ex(o, true, err, errlen);
}

dw_cfg_source_t *dw_cfg_source_unpack_ex(const msgpack_object *o, bool verify_digest, char *err,
                                         size_t errlen)
{
    const msgpack_object *name = NULL, *base = NULL, *digest = NULL, *files = NULL, *toks = NULL;
    dw_cfg_source_t *s = NULL;
    if (!o || o->type != MSGPACK_OBJECT_MAP) FAIL("source: not a map");
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_kv *kv = &o->via.map.ptr[i];
        const msgpack_object **slot = is_key(&kv->key, "name")       ? &name
                                      : is_key(&kv->key, "base_dir") ? &base
                                      : is_key(&kv->key, "digest")   ? &digest
                                      : is_key(&kv->key, "files")    ? &files
                                      : is_key(&kv->key, "tokens")   ? &toks
                                                                     : NULL;
        if (!slot) FAIL("source: unknown key '%.*s'", DW_CFG_MP_KEY_FMT(&kv->key));
        if (*slot) FAIL("source: duplicate key");
        *slot = &kv->val;
    }
    if (!name || !base || !digest || !files || !toks)
        FAIL("source: missing key (name, base_dir, digest, files and tokens are required)");
    s = source_new();
    if (!s) FAIL("source: out of memory");
    if (!(s->name = get_name(&s->arena, name, NAME_MAX_LEN)))
        FAIL("source: 'name' is not a file name");
    if (!(s->base_dir = get_name(&s->arena, base, NAME_MAX_LEN)))
        FAIL("source: 'base_dir' is not a directory name");
    if (digest->type != MSGPACK_OBJECT_STR || digest->via.str.size != 64)
        FAIL("source: 'digest' is not 64 hex digits");
    for (size_t i = 0; i < 64; i++) {
        char c = digest->via.str.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            FAIL("source: 'digest' is not 64 hex digits");
    }
    if (files->type != MSGPACK_OBJECT_ARRAY || files->via.array.size == 0 ||
        files->via.array.size > DW_CFG_SOURCE_MAX_FILES)
        FAIL("source: 'files' is not an array of 1 to %u names", DW_CFG_SOURCE_MAX_FILES);
    s->nfiles = files->via.array.size;
    s->files = dw_arena_alloc(&s->arena, s->nfiles * sizeof(*s->files));
    if (!s->files) FAIL("source: out of memory");
    for (uint32_t i = 0; i < s->nfiles; i++)
        if (!(s->files[i] = get_name(&s->arena, &files->via.array.ptr[i], NAME_MAX_LEN)))
            FAIL("source: file %u is not a file name", i);
    if (unpack_tokens(s, toks, err, errlen) != 0) goto fail;
    if (compute_digest(s, s->digest) != 0) FAIL("source: out of memory");
    if (verify_digest && memcmp(s->digest, digest->via.str.ptr, 64) != 0)
        FAIL("source: digest mismatch (the tokens are not what was published)");
    return s;
fail:
    dw_cfg_source_free(s);
    return NULL;
}
