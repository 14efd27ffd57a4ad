/* The config source, the API overlay and the routes table (source.h).
 *
 * The central property: a data plane compiles exactly what configd read. For every Dwaarfile
 * the repository has (tests/golden, examples/, every config the black-box tests load, kept in
 * tests/roundtrip.cases by harvest_roundtrip.py, and the ones below), the model loaded from the
 * file and the model loaded from unpack(pack(read_file)) are the same JSON byte for byte, and
 * a config with errors gives the same diagnostics both ways. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "source_int.h"
#include <dwaar/bus/msg.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- helpers -------------------------------------------------------------------------------- */

typedef struct env_table {
    const char *names[32], *values[32];
    size_t n;
} env_table_t;

static const char *table_env(const char *name, void *ctx)
{
    const env_table_t *t = ctx;
    for (size_t i = 0; t && i < t->n; i++)
        if (strcmp(t->names[i], name) == 0) return t->values[i];
    return NULL;
}

static char *diags_text(const dw_diags_t *d)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        dw_diag_format(&d->items[i], &b);
        dw_buf_putc(&b, '\n');
    }
    dw_buf_putc(&b, '\0');
    return dw_buf_take(&b);
}

static char *model_json(const dw_config_t *cfg)
{
    if (!cfg) return NULL;
    dw_buf_t b = DW_BUF_INIT;
    assert_int_equal(dw_config_to_json(cfg, &b), 0);
    dw_buf_putc(&b, '\0');
    return dw_buf_take(&b);
}

static void pack_source(const dw_cfg_source_t *s, msgpack_sbuffer *sb)
{
    msgpack_sbuffer_init(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    dw_cfg_source_pack(&pk, s);
}

/* One complete msgpack object whose every container count fits in the bytes left (each
 * element takes at least one byte). msgpack-c allocates a container's elements when it reads
 * the header: without this check a corrupted header asks for gigabytes (dw_bus_decode makes
 * the same check on the bus). Iterative: a count of pending objects. */
static bool plausible(const void *data, size_t n)
{
    const uint8_t *p = data;
    size_t i = 0;
    uint64_t pending = 1;
    while (pending > 0) {
        if (i >= n) return false;
        uint8_t b = p[i++];
        pending--;
        uint64_t items = 0, skip = 0;
        size_t lenbytes = 0;
        int kind = 0; /* 0 scalar/str payload, 1 array, 2 map */
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        } else if (b >= 0x80 && b <= 0x8f) {
            items = b & 0x0f, kind = 2;
        } else if (b >= 0x90 && b <= 0x9f) {
            items = b & 0x0f, kind = 1;
        } else if (b >= 0xa0 && b <= 0xbf) {
            skip = b & 0x1f;
        } else {
            switch (b) {
            case 0xc4:
            case 0xd9: lenbytes = 1; break; /* bin8, str8 */
            case 0xc5:
            case 0xda: lenbytes = 2; break; /* bin16, str16 */
            case 0xc6:
            case 0xdb: lenbytes = 4; break;           /* bin32, str32 */
            case 0xc7: lenbytes = 1, skip = 1; break; /* ext8: +type */
            case 0xc8: lenbytes = 2, skip = 1; break;
            case 0xc9: lenbytes = 4, skip = 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc:
            case 0xd0: skip = 1; break;
            case 0xcd:
            case 0xd1: skip = 2; break;
            case 0xce:
            case 0xd2: skip = 4; break;
            case 0xcf:
            case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break; /* fixext1 */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: lenbytes = 2, kind = 1; break;
            case 0xdd: lenbytes = 4, kind = 1; break;
            case 0xde: lenbytes = 2, kind = 2; break;
            case 0xdf: lenbytes = 4, kind = 2; break;
            default: return false; /* 0xc1: never used */
            }
        }
        if (lenbytes) {
            if (n - i < lenbytes) return false;
            uint64_t len = 0;
            for (size_t k = 0; k < lenbytes; k++) len = len << 8 | p[i++];
            if (kind)
                items = len;
            else
                skip += len;
        }
        if (skip > n - i) return false;
        i += (size_t)skip;
        if (kind == 2) items *= 2;
        if (items > n - i) return false;
        pending += items;
    }
    return true;
}

/* Unpacks bytes as one msgpack object, then as a source; NULL with err on failure. */
static dw_cfg_source_t *unpack_bytes(const char *data, size_t len, char *err, size_t errlen)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    dw_cfg_source_t *s = NULL;
    if (plausible(data, len) && msgpack_unpack_next(&up, data, len, &off) == MSGPACK_UNPACK_SUCCESS)
        s = dw_cfg_source_unpack(&up.data, err, errlen);
    else
        snprintf(err, errlen, "not msgpack");
    msgpack_unpacked_destroy(&up);
    return s;
}

static dw_cfg_source_t *wire(const dw_cfg_source_t *s)
{
    msgpack_sbuffer sb;
    pack_source(s, &sb);
    char err[256] = "";
    dw_cfg_source_t *out = unpack_bytes(sb.data, sb.size, err, sizeof(err));
    if (!out) fail_msg("unpack of a packed source failed: %s", err);
    /* the form is canonical: packing what was unpacked gives the same bytes */
    msgpack_sbuffer again;
    pack_source(out, &again);
    assert_int_equal(again.size, sb.size);
    assert_memory_equal(again.data, sb.data, sb.size);
    msgpack_sbuffer_destroy(&again);
    msgpack_sbuffer_destroy(&sb);
    return out;
}

static size_t roundtrips, roundtrip_errors;

/* With DWAAR_SOURCE_CORPUS_OUT=<dir>, every source the round trips read is also written there
 * as a fuzz_source input (a config.snapshot message; every third one with an overlay that adds,
 * takes over and removes routes): how fuzz/corpus/source was seeded. */
static void write_seed(const dw_cfg_source_t *src, const dw_config_t *cfg)
{
    const char *dir = getenv("DWAAR_SOURCE_CORPUS_OUT");
    if (!dir || !*dir) return;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    char err[256];
    if (roundtrips % 3 == 0) {
        dw_cfg_route_info_t *r = NULL;
        size_t n = dw_cfg_routes(cfg, &r);
        dw_cfg_overlay_put(&ov, "api.example.com", "10.0.0.1:8080", false, "seed", err,
                           sizeof(err));
        dw_cfg_overlay_put(&ov, "api.example.com/v1", "[::1]:8443", true, NULL, err, sizeof(err));
        dw_cfg_overlay_put(&ov, "_default", "10.0.0.2:80", false, NULL, err, sizeof(err));
        if (n > 0)
            dw_cfg_overlay_put(&ov, r[0].domain, "10.0.0.3:80", false, NULL, err, sizeof(err));
        if (n > 1) dw_cfg_overlay_remove(&ov, cfg, r[1].domain);
        free(r);
    }
    /* a config.snapshot message as configd publishes it */
    dw_bus_writer_t w;
    dw_bus_writer_init(&w);
    dw_bus_begin(&w, "config.snapshot", 1, 0);
    msgpack_pack_map(&w.pk, 4);
    dw_mp_kv_cstr(&w.pk, "instance", "00000000000000000000000000000000");
    dw_mp_kv_uint(&w.pk, "generation", 1);
    dw_mp_cstr(&w.pk, "source");
    dw_cfg_source_pack(&w.pk, src);
    dw_mp_cstr(&w.pk, "overlay");
    dw_cfg_overlay_pack(&w.pk, &ov);
    char path[1024];
    snprintf(path, sizeof(path), "%s/seed-%016llx", dir,
             (unsigned long long)dw_fnv1a64(w.sb.data, w.sb.size));
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(w.sb.data, 1, w.sb.size, f);
        fclose(f);
    }
    dw_bus_writer_free(&w);
    dw_cfg_overlay_free(&ov);
}

/* The property, for the config file at path. */
static void check_roundtrip(const char *path, const dw_cfg_load_opts_t *opts, const char *label)
{
    dw_diags_t da, db;
    dw_diags_init(&da);
    dw_diags_init(&db);
    dw_config_t *a = dw_cfg_load_file(path, opts, &da);
    char *ja = model_json(a), *ta = diags_text(&da);
    dw_config_t *b = NULL;
    dw_cfg_source_t *src = dw_cfg_source_read_file(path, opts, &db);
    if (src) {
        dw_cfg_source_t *got = wire(src);
        assert_string_equal(dw_cfg_source_digest(got), dw_cfg_source_digest(src));
        assert_string_equal(dw_cfg_source_name(got), dw_cfg_source_name(src));
        assert_string_equal(dw_cfg_source_base_dir(got), dw_cfg_source_base_dir(src));
        b = dw_cfg_load_source(got, NULL, opts, &db);
        write_seed(src, b);
        /* the model must not point into the source it came from */
        dw_cfg_source_free(got);
    }
    char *jb = model_json(b), *tb = diags_text(&db);
    if (src) {
        if (strcmp(ta, tb) != 0)
            fail_msg("%s: diagnostics differ\n--- file:\n%s--- source:\n%s", label, ta, tb);
        if ((ja == NULL) != (jb == NULL) || (ja && strcmp(ja, jb) != 0))
            fail_msg("%s: models differ\n--- file:\n%s\n--- source:\n%s", label, ja ? ja : "(none)",
                     jb ? jb : "(none)");
    } else {
        /* errors in the front end: the file load fails too, with the same first messages
         * (it goes on to report what the back end finds in the partial stream) */
        assert_null(a);
        if (strncmp(ta, tb, strlen(tb)) != 0)
            fail_msg("%s: front-end diagnostics differ\n--- file:\n%s--- source:\n%s", label, ta,
                     tb);
    }
    roundtrips++;
    if (!a) roundtrip_errors++;
    dw_cfg_source_free(src);
    dw_config_free(a);
    dw_config_free(b);
    free(ja);
    free(jb);
    free(ta);
    free(tb);
    dw_diags_deinit(&da);
    dw_diags_deinit(&db);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char *make_tmpdir(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[512];
    snprintf(tmpl, sizeof(tmpl), "%s/dwaar-source-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static void rm_tree(char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(dir);
}

/* Writes data to dir/rel, creating directories on the way. */
static void write_file(const char *dir, const char *rel, const char *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    for (char *s = path + strlen(dir) + 1; (s = strchr(s, '/')); s++) {
        *s = '\0';
        mkdir(path, 0700);
        *s = '/';
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void write_str(const char *dir, const char *rel, const char *text)
{
    write_file(dir, rel, text, strlen(text));
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    dw_buf_t b = DW_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) dw_buf_append(&b, chunk, n);
    fclose(f);
    *len = b.len;
    dw_buf_putc(&b, '\0');
    return dw_buf_take(&b);
}

static const char *fixed_env(const char *name, void *ctx)
{
    (void)ctx;
    if (strcmp(name, "HOST") == 0) return "env.example.com";
    if (strcmp(name, "UPSTREAM") == 0) return "127.0.0.1:9000";
    if (strcmp(name, "EMPTY") == 0) return "";
    return NULL;
}

/* Loads text as <dir>/Dwaarfile from the string: a model or NULL, diagnostics in *diags. */
static dw_config_t *load_text(const char *text, const dw_cfg_overlay_t *ov, char **diags)
{
    dw_diags_t d;
    dw_diags_init(&d);
    dw_cfg_load_opts_t opts = {.getenv_fn = fixed_env};
    dw_cfg_source_t *s =
        dw_cfg_source_read_string("Dwaarfile", "/nonexistent", text, strlen(text), &opts, &d);
    dw_config_t *cfg = s ? dw_cfg_load_source(s, ov, &opts, &d) : NULL;
    dw_cfg_source_free(s);
    if (diags) *diags = diags_text(&d);
    dw_diags_deinit(&d);
    return cfg;
}

/* --- round trips ------------------------------------------------------------------------------ */

static void test_roundtrip_golden(void **state)
{
    (void)state;
    char dirpath[1024];
    snprintf(dirpath, sizeof(dirpath), "%s/tests/golden", DWAAR_SOURCE_DIR);
    DIR *d = opendir(dirpath);
    assert_non_null(d);
    struct dirent *e;
    size_t n = 0;
    dw_cfg_load_opts_t opts = {.getenv_fn = fixed_env};
    while ((e = readdir(d))) {
        size_t nl = strlen(e->d_name);
        if (nl < 5 || strcmp(e->d_name + nl - 4, ".txt") != 0) continue;
        char path[2048];
        snprintf(path, sizeof(path), "%s/%s", dirpath, e->d_name);
        size_t len;
        char *text = slurp(path, &len);
        assert_non_null(text);
        char *sep = strstr(text, "\n----------\n");
        assert_non_null(sep);
        char *tmp = make_tmpdir();
        write_file(tmp, "Dwaarfile", text, (size_t)(sep - text) + 1);
        char cfgpath[1024];
        snprintf(cfgpath, sizeof(cfgpath), "%s/Dwaarfile", tmp);
        check_roundtrip(cfgpath, &opts, e->d_name);
        rm_tree(tmp);
        free(text);
        n++;
    }
    closedir(d);
    assert_true(n >= 10);
}

static void test_roundtrip_example(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/examples/Dwaarfile", DWAAR_SOURCE_DIR);
    check_roundtrip(path, NULL, "examples/Dwaarfile");
}

/* tests/roundtrip.cases: every config the black-box config tests load (see
 * harvest_roundtrip.py for the format). */
static void test_roundtrip_blackbox_configs(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof(path), "%s/dwaar-config/tests/roundtrip.cases", DWAAR_SOURCE_DIR);
    size_t len;
    char *all = slurp(path, &len);
    assert_non_null(all);
    size_t ncases = 0, before_errors = roundtrip_errors;
    const char *p = all, *end = all + len;
    while (p < end) {
        assert_true(strncmp(p, "=== ", 4) == 0);
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        char label[256];
        snprintf(label, sizeof(label), "%.*s", (int)(nl - p - 4), p + 4);
        p = nl + 1;
        char *tmp = make_tmpdir();
        env_table_t env = {0};
        char *names[32], *values[32];
        char config[512] = "";
        while (p < end && strncmp(p, "=== ", 4) != 0) {
            char kind[16];
            size_t a = 0, b = 0;
            int fields = sscanf(p, "%15s %zu %zu", kind, &a, &b);
            nl = memchr(p, '\n', (size_t)(end - p));
            assert_non_null(nl);
            p = nl + 1;
            if (strcmp(kind, "config") == 0) {
                assert_int_equal(fields, 2);
                snprintf(config, sizeof(config), "%s/%.*s", tmp, (int)a, p);
                p += a + 1;
                continue;
            }
            assert_int_equal(fields, 3);
            assert_true((size_t)(end - p) >= a + b + 1);
            if (strcmp(kind, "env") == 0) {
                assert_true(env.n < 32);
                names[env.n] = strndup(p, a);
                values[env.n] = strndup(p + a, b);
                env.names[env.n] = names[env.n];
                env.values[env.n] = values[env.n];
                env.n++;
            } else {
                assert_string_equal(kind, "file");
                char rel[512];
                snprintf(rel, sizeof(rel), "%.*s", (int)a, p);
                assert_null(strstr(rel, ".."));
                write_file(tmp, rel, p + a, b);
            }
            p += a + b + 1;
        }
        assert_true(config[0]);
        dw_cfg_load_opts_t opts = {.getenv_fn = table_env, .getenv_ctx = &env};
        check_roundtrip(config, &opts, label);
        for (size_t i = 0; i < env.n; i++) {
            free(names[i]);
            free(values[i]);
        }
        rm_tree(tmp);
        ncases++;
    }
    free(all);
    print_message("round trip: %zu black-box configs, %zu of them with errors\n", ncases,
                  roundtrip_errors - before_errors);
    assert_true(ncases >= 100);
}

/* Imports (files, globs, subdirectories), snippets with arguments, env substitution, global
 * options and layer4, and errors that point into imported files. */
static void test_roundtrip_imports_snippets_env(void **state)
{
    (void)state;
    char *tmp = make_tmpdir();
    write_str(tmp, "Dwaarfile",
              "# the main file\n"
              "{\n"
              "    http_port 8080\n"
              "    https_port 8443\n"
              "    email ops@example.com\n"
              "    layer4 {\n"
              "        :7443 {\n"
              "            @t tls sni a.test\n"
              "            route @t {\n"
              "                proxy 127.0.0.1:9001\n"
              "            }\n"
              "        }\n"
              "    }\n"
              "}\n"
              "\n"
              "(common) {\n"
              "    header X-Env {args[0]}\n"
              "    header X-All \"{args[:]}\"\n"
              "    encode gzip\n"
              "}\n"
              "\n"
              "import snippets/*.dwaar\n"
              "import sites/*.dwaar\n"
              "\n"
              "{$HOST} {\n"
              "    import common prod eu\n"
              "    import logging\n"
              "    reverse_proxy {env.UPSTREAM}\n"
              "}\n"
              "\n"
              "{$MISSING:fallback.example.com}, `quoted.example.com` {\n"
              "    respond \"tab\\there \\\"quoted\\\"\" 200\n"
              "}\n"
              "layer4 {\n"
              "    :5432 {\n"
              "        route {\n"
              "            proxy 10.0.0.5:5432\n"
              "        }\n"
              "    }\n"
              "}\n");
    write_str(tmp, "snippets/log.dwaar",
              "(logging) {\n    log {\n        output stdout\n    }\n}\n"
              "(quoted_end) {\n    header X-Q \"q\" }\n");
    write_str(tmp, "sites/d.dwaar",
              "d.example.com {\n    import quoted_end\n    respond `d`\n}\n"
              "e.example.com {\n    import sites/tail.inc\n}\n");
    write_str(tmp, "sites/tail.inc", "respond \"no newline at the end\"");
    write_str(tmp, "sites/a.dwaar", "a.example.com {\n    import common a\n    respond a\n}\n");
    write_str(tmp, "sites/b.dwaar",
              "b.example.com {\n    handle /api/* {\n        reverse_proxy 10.0.0.1:80\n    }\n"
              "    file_server\n}\n");
    char path[1024];
    snprintf(path, sizeof(path), "%s/Dwaarfile", tmp);
    dw_cfg_load_opts_t opts = {.getenv_fn = fixed_env};
    size_t errs = roundtrip_errors;
    check_roundtrip(path, &opts, "imports");
    assert_int_equal(roundtrip_errors, errs); /* it loads */

    /* an error in an imported file: same file:line:col both ways */
    write_str(tmp, "sites/c.dwaar", "c.example.com {\n    respnod 200\n}\n");
    check_roundtrip(path, &opts, "imports with an error");
    assert_int_equal(roundtrip_errors, errs + 1);
    dw_diags_t d;
    dw_diags_init(&d);
    dw_cfg_source_t *s = dw_cfg_source_read_file(path, &opts, &d);
    assert_non_null(s);
    assert_null(dw_cfg_load_source(s, NULL, &opts, &d));
    char *text = diags_text(&d);
    assert_non_null(strstr(text, "c.dwaar:2:5: "));
    free(text);
    dw_cfg_source_free(s);
    dw_diags_deinit(&d);

    /* a front-end error (import of a missing file): read_file reports it, no source */
    write_str(tmp, "sites/c.dwaar", "import nothere.dwaar\n");
    dw_diags_init(&d);
    assert_null(dw_cfg_source_read_file(path, &opts, &d));
    text = diags_text(&d);
    assert_non_null(strstr(text, "c.dwaar:1:1: import error: imported file not found"));
    free(text);
    dw_diags_deinit(&d);
    check_roundtrip(path, &opts, "front-end error");
    rm_tree(tmp);
}

static void test_read_errors(void **state)
{
    (void)state;
    dw_diags_t d;
    dw_diags_init(&d);
    assert_null(dw_cfg_source_read_file("/nonexistent/dir/Dwaarfile", NULL, &d));
    char *text = diags_text(&d);
    assert_string_equal(text, "Dwaarfile: cannot read config file: No such file or directory\n");
    free(text);
    dw_diags_deinit(&d);
    /* unterminated string: a lexical error */
    dw_diags_init(&d);
    assert_null(
        dw_cfg_source_read_string("x.dwaar", "/", "a.com {\n respond \"x\n}\n", 21, NULL, &d));
    assert_int_equal(d.nerrors, 1);
    text = diags_text(&d);
    assert_string_equal(text, "x.dwaar:2:10: unterminated quoted string\n");
    free(text);
    dw_diags_deinit(&d);
}

/* --- digest ---------------------------------------------------------------------------------- */

static char *digest_of(const char *text, const dw_cfg_load_opts_t *opts)
{
    dw_diags_t d;
    dw_diags_init(&d);
    dw_cfg_source_t *s = dw_cfg_source_read_string("Dwaarfile", "/", text, strlen(text), opts, &d);
    assert_non_null(s);
    char *dg = strdup(dw_cfg_source_digest(s));
    assert_int_equal(strlen(dg), 64);
    dw_cfg_source_free(s);
    dw_diags_deinit(&d);
    return dg;
}

static void test_digest(void **state)
{
    (void)state;
    char *a = digest_of("a.example.com {\n    respond hi 200\n}\n", NULL);
    char *same =
        digest_of("# a comment\n\n  a.example.com   {\r\n\n\trespond   hi  200 # trailing\n"
                  "\n}\n\n",
                  NULL);
    char *value = digest_of("a.example.com {\n    respond ho 200\n}\n", NULL);
    char *quoted = digest_of("a.example.com {\n    respond \"hi\" 200\n}\n", NULL);
    assert_string_equal(a, same);
    assert_string_not_equal(a, value);
    assert_string_not_equal(a, quoted);
    /* substitutions are part of the text */
    env_table_t e1 = {{"V"}, {"one"}, 1}, e2 = {{"V"}, {"two"}, 1};
    dw_cfg_load_opts_t o1 = {.getenv_fn = table_env, .getenv_ctx = &e1};
    dw_cfg_load_opts_t o2 = {.getenv_fn = table_env, .getenv_ctx = &e2};
    char *v1 = digest_of("a.example.com {\n    respond {$V}\n}\n", &o1);
    char *v1b = digest_of("a.example.com {\n    respond one\n}\n", NULL);
    char *v2 = digest_of("a.example.com {\n    respond {$V}\n}\n", &o2);
    assert_string_equal(v1, v1b);
    assert_string_not_equal(v1, v2);
    free(a), free(same), free(value), free(quoted), free(v1), free(v1b), free(v2);
}

/* --- unpack rejects what it must -------------------------------------------------------------- */

/* A source map built field by field; mutate() changes one thing. */
typedef struct fake {
    int map_size; /* 5, or something else to test missing/extra keys */
    const char *extra_key;
    const char *digest;
    bool files_not_array;
    unsigned nfiles;
    /* tokens: each row is {kind, quote, file, line, col} with text; n rows */
    struct {
        int64_t kind, quote, file, line, col;
        const char *text;
        int text_type; /* 0 str, 1 int, 2 nil */
        int arity;     /* 6 unless set */
    } toks[8];
    size_t ntoks;
    bool tokens_not_array;
} fake_t;

static void pack_int(msgpack_packer *pk, int64_t v)
{
    if (v < 0)
        msgpack_pack_int64(pk, v);
    else
        msgpack_pack_uint64(pk, (uint64_t)v);
}

static void pack_s(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static char *unpack_fake(const fake_t *f)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, (size_t)(f->map_size ? f->map_size : 5));
    if (f->extra_key) {
        pack_s(&pk, f->extra_key);
        msgpack_pack_nil(&pk);
    }
    pack_s(&pk, "name");
    pack_s(&pk, "Dwaarfile");
    pack_s(&pk, "base_dir");
    pack_s(&pk, "/etc/dwaar");
    pack_s(&pk, "digest");
    pack_s(&pk, f->digest ? f->digest
                          : "0000000000000000000000000000000000000000000000000000000000000000");
    pack_s(&pk, "files");
    if (f->files_not_array) {
        pack_s(&pk, "Dwaarfile");
    } else {
        unsigned nf = f->nfiles ? f->nfiles : 1;
        msgpack_pack_array(&pk, nf);
        for (unsigned i = 0; i < nf; i++) pack_s(&pk, i ? "other.dwaar" : "Dwaarfile");
    }
    if (f->map_size == 0 || f->map_size >= 5 + (f->extra_key != NULL)) {
        pack_s(&pk, "tokens");
        if (f->tokens_not_array) {
            msgpack_pack_nil(&pk);
        } else {
            msgpack_pack_array(&pk, f->ntoks);
            for (size_t i = 0; i < f->ntoks; i++) {
                int arity = f->toks[i].arity ? f->toks[i].arity : 6;
                msgpack_pack_array(&pk, (size_t)arity);
                int64_t fields[5] = {f->toks[i].kind, f->toks[i].quote, f->toks[i].file,
                                     f->toks[i].line, f->toks[i].col};
                for (int k = 0; k < 5 && k < arity; k++) pack_int(&pk, fields[k]);
                if (arity >= 6) {
                    if (f->toks[i].text_type == 1)
                        msgpack_pack_int(&pk, 7);
                    else if (f->toks[i].text_type == 2)
                        msgpack_pack_nil(&pk);
                    else
                        pack_s(&pk, f->toks[i].text ? f->toks[i].text : "");
                }
            }
        }
    }
    char err[256] = "";
    dw_cfg_source_t *s = unpack_bytes(sb.data, sb.size, err, sizeof(err));
    msgpack_sbuffer_destroy(&sb);
    if (s) {
        dw_cfg_source_free(s);
        return NULL;
    }
    assert_true(err[0]); /* a message, always */
    return strdup(err);
}

/* A minimal valid stream: `a.com { respond x }` on one line, then EOF. */
static fake_t good_fake(void)
{
    fake_t f = {0};
    f.toks[0].kind = DW_TOK_WORD, f.toks[0].text = "a.com";
    f.toks[1].kind = DW_TOK_OPEN, f.toks[1].text = "{";
    f.toks[2].kind = DW_TOK_WORD, f.toks[2].text = "respond";
    f.toks[3].kind = DW_TOK_QUOTED, f.toks[3].quote = '"', f.toks[3].text = "x";
    f.toks[4].kind = DW_TOK_CLOSE, f.toks[4].text = "}";
    f.toks[5].kind = DW_TOK_EOL;
    f.toks[6].kind = DW_TOK_EOF;
    f.ntoks = 7;
    for (size_t i = 0; i < f.ntoks; i++) f.toks[i].line = 1, f.toks[i].col = (int64_t)i + 1;
    return f;
}

static void expect_reject(const fake_t *f, const char *want)
{
    char *err = unpack_fake(f);
    if (!err) fail_msg("accepted, expected '%s'", want);
    if (!strstr(err, want)) fail_msg("got '%s', expected '%s'", err, want);
    free(err);
}

static void test_unpack_rejects(void **state)
{
    (void)state;
    fake_t f = good_fake();
    /* the good one fails only on its (made up) digest */
    expect_reject(&f, "digest mismatch");
    f.digest = "xyz";
    expect_reject(&f, "'digest' is not 64 hex digits");
    f.digest = "000000000000000000000000000000000000000000000000000000000000000G";
    expect_reject(&f, "'digest' is not 64 hex digits");
    f = good_fake(), f.map_size = 4;
    expect_reject(&f, "missing key");
    f = good_fake(), f.map_size = 6, f.extra_key = "bogus";
    expect_reject(&f, "source: unknown key 'bogus'");
    f = good_fake(), f.map_size = 6, f.extra_key = "name";
    expect_reject(&f, "duplicate key");
    f = good_fake(), f.files_not_array = true;
    expect_reject(&f, "'files' is not an array");
    f = good_fake(), f.tokens_not_array = true;
    expect_reject(&f, "'tokens' is not an array");
    f = good_fake(), f.ntoks = 0;
    expect_reject(&f, "no tokens");
    f = good_fake(), f.toks[2].arity = 5;
    expect_reject(&f, "token 2 is not [kind, quote, file, line, col, text]");
    f = good_fake(), f.toks[2].kind = 9;
    expect_reject(&f, "token 2: invalid kind");
    f = good_fake(), f.toks[2].kind = DW_TOK_COMMENT;
    expect_reject(&f, "token 2: invalid kind");
    f = good_fake(), f.toks[2].kind = -1;
    expect_reject(&f, "token 2: invalid kind");
    f = good_fake(), f.toks[2].quote = '"';
    expect_reject(&f, "token 2: invalid quote");
    f = good_fake(), f.toks[3].quote = 0;
    expect_reject(&f, "token 3: invalid quote");
    f = good_fake(), f.toks[3].quote = '\'';
    expect_reject(&f, "token 3: invalid quote");
    f = good_fake(), f.toks[2].file = 1;
    expect_reject(&f, "token 2: file index out of range");
    f = good_fake(), f.nfiles = 2, f.toks[2].file = 2;
    expect_reject(&f, "token 2: file index out of range");
    f = good_fake(), f.toks[2].line = -3;
    expect_reject(&f, "token 2: invalid line or column");
    f = good_fake(), f.toks[2].col = (int64_t)UINT32_MAX + 1;
    expect_reject(&f, "token 2: invalid line or column");
    f = good_fake(), f.toks[2].text_type = 1;
    expect_reject(&f, "token 2: text is not a string");
    f = good_fake(), f.toks[2].text_type = 2;
    expect_reject(&f, "token 2: text is not a string");
    f = good_fake(), f.ntoks = 6; /* no EOF at the end */
    expect_reject(&f, "token 5: the stream must end with exactly one end of file");
    f = good_fake(), f.toks[5].kind = DW_TOK_EOF; /* EOF in the middle */
    expect_reject(&f, "token 5: the stream must end with exactly one end of file");
    f = good_fake(), f.toks[6].kind = DW_TOK_EOL; /* the last token is not EOF */
    expect_reject(&f, "token 6: the stream must end with exactly one end of file");

    /* not a map at all */
    msgpack_object o = {.type = MSGPACK_OBJECT_ARRAY};
    char err[128];
    assert_null(dw_cfg_source_unpack(&o, err, sizeof(err)));
    assert_string_equal(err, "source: not a map");
    assert_null(dw_cfg_source_unpack(NULL, err, sizeof(err)));
}

static void test_unpack_text_limit(void **state)
{
    (void)state;
    fake_t f = good_fake();
    char *big = malloc(DW_CFG_MAX_FILE_SIZE + 2);
    assert_non_null(big);
    memset(big, 'a', DW_CFG_MAX_FILE_SIZE + 1);
    big[DW_CFG_MAX_FILE_SIZE + 1] = '\0';
    f.toks[2].text = big;
    expect_reject(&f, "token text exceeds 10485760 bytes in all");
    /* split over two tokens: still too much */
    big[DW_CFG_MAX_FILE_SIZE / 2 + 1] = '\0';
    f.toks[0].text = big;
    f.toks[2].text = big;
    expect_reject(&f, "token text exceeds 10485760 bytes in all");
    free(big);
}

/* Every truncation of a real packed source fails to decode or is refused; every single-byte
 * change is refused or, if accepted, loads without trouble (under the sanitizers). */
static void test_unpack_truncated_and_corrupted(void **state)
{
    (void)state;
    dw_diags_t d;
    dw_diags_init(&d);
    const char *text = "{\n    http_port 8080\n}\na.com, b.com {\n    handle /x/* {\n"
                       "        reverse_proxy 10.0.0.1:80\n    }\n    respond \"hi\"\n}\n";
    dw_cfg_source_t *s = dw_cfg_source_read_string("Dwaarfile", "/", text, strlen(text), NULL, &d);
    assert_non_null(s);
    msgpack_sbuffer sb;
    pack_source(s, &sb);
    char err[256];
    for (size_t cut = 0; cut < sb.size; cut++) {
        dw_cfg_source_t *t = unpack_bytes(sb.data, cut, err, sizeof(err));
        assert_null(t);
    }
    char *copy = malloc(sb.size);
    for (size_t i = 0; i < sb.size; i++) {
        for (int delta = 1; delta < 256; delta += 37) {
            memcpy(copy, sb.data, sb.size);
            copy[i] = (char)(copy[i] + delta);
            dw_cfg_source_t *t = unpack_bytes(copy, sb.size, err, sizeof(err));
            if (t) {
                dw_diags_t d2;
                dw_diags_init(&d2);
                dw_config_free(dw_cfg_load_source(t, NULL, NULL, &d2));
                dw_diags_deinit(&d2);
                dw_cfg_source_free(t);
            }
        }
    }
    free(copy);
    msgpack_sbuffer_destroy(&sb);
    dw_cfg_source_free(s);
    dw_diags_deinit(&d);
}

/* --- the overlay ------------------------------------------------------------------------------ */

static void put_ok(dw_cfg_overlay_t *ov, const char *domain, const char *upstream, bool tls,
                   const char *source)
{
    char err[512] = "";
    if (dw_cfg_overlay_put(ov, domain, upstream, tls, source, err, sizeof(err)) != 0)
        fail_msg("put %s %s: %s", domain, upstream, err);
}

static void put_fails(const char *domain, const char *upstream, const char *want)
{
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    char err[512] = "";
    assert_int_equal(dw_cfg_overlay_put(&ov, domain, upstream, false, NULL, err, sizeof(err)), -1);
    if (strcmp(err, want) != 0)
        fail_msg("put %s %s: got '%s', want '%s'", domain, upstream, err, want);
    assert_int_equal(ov.nadd, 0);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_15_overlay_put_upsert_lowercase(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, "App.Example.COM", "10.0.0.1:8080", false, NULL);
    put_ok(&ov, "b.example.com", "[2001:DB8::1]:443", true, "dwaar-ingress");
    assert_int_equal(ov.nadd, 2);
    assert_string_equal(ov.add[0].domain, "app.example.com");
    assert_string_equal(ov.add[1].upstream, "[2001:db8::1]:443"); /* canonical form */
    assert_true(ov.add[1].tls);
    assert_string_equal(ov.add[1].source, "dwaar-ingress");
    /* the same key again replaces it (upsert), in place */
    put_ok(&ov, "APP.example.com", "10.0.0.2:81", true, "k8s");
    assert_int_equal(ov.nadd, 2);
    assert_string_equal(ov.add[0].upstream, "10.0.0.2:81");
    assert_true(ov.add[0].tls);
    assert_string_equal(ov.add[0].source, "k8s");
    put_ok(&ov, "app.example.com", "10.0.0.2:81", false, NULL);
    assert_null(ov.add[0].source);
    /* ADM-20: composite keys and the catch-all */
    put_ok(&ov, "app.example.com/API/v1", "10.0.0.3:80", false, NULL);
    put_ok(&ov, "_DEFAULT", "10.0.0.4:80", false, NULL);
    put_ok(&ov, "*.wild.example.com", "10.0.0.5:80", false, NULL);
    put_ok(&ov, "app.example.com/with space \"and\" {braces}", "10.0.0.6:80", false, NULL);
    assert_int_equal(ov.nadd, 6);
    assert_string_equal(ov.add[2].domain, "app.example.com/api/v1");
    assert_string_equal(ov.add[3].domain, "_default");
    dw_cfg_overlay_clear(&ov);
    assert_int_equal(ov.nadd, 0);
    put_ok(&ov, "x.example.com", "1.2.3.4:5", false, NULL);
    assert_int_equal(ov.nadd, 1);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_18_overlay_validation(void **state)
{
    (void)state;
    put_fails("", "1.2.3.4:80", "invalid domain: ");
    put_fails("../evil", "1.2.3.4:80", "invalid domain: ../evil");
    put_fails("a..b.com", "1.2.3.4:80", "invalid domain: a..b.com");
    put_fails("app.example.com/../x", "1.2.3.4:80", "invalid domain: app.example.com/../x");
    put_fails("bad_host.com", "1.2.3.4:80", "invalid domain: bad_host.com");
    put_fails("has space.com", "1.2.3.4:80", "invalid domain: has space.com");
    put_fails(".leading.com", "1.2.3.4:80", "invalid domain: .leading.com");
    put_fails("trailing.com.", "1.2.3.4:80", "invalid domain: trailing.com.");
    put_fails("/path-only", "1.2.3.4:80", "invalid domain: /path-only");
    put_fails("_default/x", "1.2.3.4:80", "invalid domain: _default/x");
    put_fails("a*.example.com", "1.2.3.4:80", "invalid domain: a*.example.com");
    put_fails("*", "1.2.3.4:80", "invalid domain: *");
    put_fails("x.com/tab\there", "1.2.3.4:80", "invalid domain: x.com/tab\there");
    put_fails("x.com/\x7f", "1.2.3.4:80", "invalid domain: x.com/\x7f");
    char label[80], host[300];
    memset(label, 'a', 64);
    label[64] = '\0';
    snprintf(host, sizeof(host), "%s.com", label);
    char want[400];
    snprintf(want, sizeof(want), "invalid domain: %s", host);
    put_fails(host, "1.2.3.4:80", want);
    /* 254 bytes: too long; 253 fine */
    memset(host, 'a', 254);
    for (int i = 50; i < 254; i += 50) host[i] = '.';
    host[254] = '\0';
    snprintf(want, sizeof(want), "invalid domain: %s", host);
    put_fails(host, "1.2.3.4:80", want);
    host[253] = '\0';
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, host, "1.2.3.4:80", false, NULL);
    dw_cfg_overlay_free(&ov);

    put_fails("a.com", "backend:80",
              "invalid upstream address: 'backend' is not an IPv4 address (host names are not "
              "accepted)");
    put_fails("a.com", "garbage",
              "invalid upstream address: 'garbage' needs a port: IPv4:port or "
              "[IPv6]:port");
    put_fails("a.com", "", "invalid upstream address: empty (expected IPv4:port or [IPv6]:port)");
    put_fails("a.com", "1.2.3.4",
              "invalid upstream address: '1.2.3.4' needs a port: IPv4:port or "
              "[IPv6]:port");
    put_fails("a.com", "1.2.3.4:0", "invalid upstream address: invalid port '0' in '1.2.3.4:0'");
    put_fails("a.com", "1.2.3.4:65536",
              "invalid upstream address: invalid port '65536' in '1.2.3.4:65536'");
    put_fails("a.com", "1.2.3.4:", "invalid upstream address: invalid port '' in '1.2.3.4:'");
    put_fails("a.com", "::1:80",
              "invalid upstream address: '::1:80': an IPv6 address must be in brackets "
              "([IPv6]:port)");
    put_fails("a.com", "[::1]", "invalid upstream address: '[::1]' needs a port: [IPv6]:port");
    put_fails("a.com", "[fe80::1%eth0]:80",
              "invalid upstream address: 'fe80::1%eth0' is not an IPv6 address (host names are "
              "not accepted)");
    put_fails("a.com", "[1.2.3.4]:80",
              "invalid upstream address: '1.2.3.4' is not an IPv6 address (host names are not "
              "accepted)");
    put_fails("a.com", "http://1.2.3.4:80",
              "invalid upstream address: 'http://1.2.3.4:80': an IPv6 address must be in "
              "brackets ([IPv6]:port)");
    put_fails("a.com", "256.1.1.1:80",
              "invalid upstream address: '256.1.1.1' is not an IPv4 address (host names are not "
              "accepted)");
    char longsrc[200];
    memset(longsrc, 's', 128);
    longsrc[128] = '\0';
    dw_cfg_overlay_init(&ov);
    char err[256];
    assert_int_equal(
        dw_cfg_overlay_put(&ov, "a.com", "1.2.3.4:80", false, longsrc, err, sizeof(err)), -1);
    assert_string_equal(err, "invalid source: longer than 127 bytes");
    longsrc[127] = '\0';
    put_ok(&ov, "a.com", "1.2.3.4:80", false, longsrc);
    dw_cfg_overlay_free(&ov);
}

static const char BASE[] = "a.example.com {\n"
                           "    reverse_proxy 10.0.0.1:8080\n"
                           "}\n"
                           "b.example.com, c.example.com {\n"
                           "    respond \"bc\"\n"
                           "}\n"
                           ":80 {\n"
                           "    respond \"fallback\"\n"
                           "}\n";

static const dw_cfg_route_info_t *find_route(const dw_cfg_route_info_t *v, size_t n,
                                             const char *domain)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].domain, domain) == 0) return &v[i];
    return NULL;
}

/* Loads BASE with ov; returns the routes (count in *n) and the model's JSON in *json. */
static dw_config_t *load_base(const dw_cfg_overlay_t *ov, dw_cfg_route_info_t **routes, size_t *n,
                              char **json)
{
    char *diags;
    dw_config_t *cfg = load_text(BASE, ov, &diags);
    if (!cfg) fail_msg("load failed:\n%s", diags);
    free(diags);
    *n = dw_cfg_routes(cfg, routes);
    *json = model_json(cfg);
    return cfg;
}

static void test_ADM_14_load_source_api_host_added(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    dw_cfg_route_info_t *r;
    size_t n;
    char *json0, *json;
    dw_config_t *cfg = load_base(NULL, &r, &n, &json0);
    assert_int_equal(n, 4);
    free(r);
    dw_config_free(cfg);
    /* an empty overlay changes nothing */
    cfg = load_base(&ov, &r, &n, &json);
    assert_string_equal(json, json0);
    free(json);
    free(r);
    dw_config_free(cfg);

    put_ok(&ov, "New.Example.com", "10.9.9.9:3000", false, "test");
    cfg = load_base(&ov, &r, &n, &json);
    assert_int_equal(n, 5);
    const dw_cfg_route_info_t *x = find_route(r, n, "new.example.com");
    assert_non_null(x);
    assert_string_equal(x->upstream, "10.9.9.9:3000");
    assert_false(x->tls);
    assert_false(x->has_rate);
    assert_false(x->under_attack);
    assert_string_equal(x->source, "test");
    assert_true(dw_cfg_has_route(cfg, "new.example.com"));
    /* the API site: plain HTTP on the HTTP port, one reverse_proxy */
    const dw_cfg_site_t *site = &cfg->sites[cfg->nsites - 1];
    assert_true(site->from_api);
    assert_int_equal(site->naddrs, 1);
    assert_string_equal(site->addrs[0].host.ptr, "new.example.com");
    assert_int_equal(site->addrs[0].port, 80);
    assert_false(site->addrs[0].tls);
    assert_int_equal(site->block.ndirs, 1);
    assert_int_equal(site->block.dirs[0].kind, DW_DIR_REVERSE_PROXY);
    assert_string_equal(site->block.dirs[0].loc.file, "<api>");
    assert_non_null(strstr(json, "\"api_routes\":[{\"domain\":\"new.example.com\",\"upstream\":"
                                 "\"10.9.9.9:3000\",\"tls\":false,\"source\":\"test\"}]"));
    /* the Dwaarfile's sites are untouched: the JSON up to them is the same */
    const char *sites0 = strstr(json0, "\"sites\":[");
    const char *sites1 = strstr(json, "\"sites\":[");
    const char *end0 = strstr(json0, "],\"layer4\"");
    assert_non_null(sites0);
    assert_non_null(sites1);
    assert_non_null(end0);
    assert_memory_equal(sites1, sites0, (size_t)(end0 - sites0));
    free(json);
    free(json0);
    free(r);
    dw_config_free(cfg);

    /* tls: the upstream is reached over https */
    put_ok(&ov, "new.example.com", "[::1]:8443", true, NULL);
    cfg = load_base(&ov, &r, &n, &json);
    x = find_route(r, n, "new.example.com");
    assert_string_equal(x->upstream, "[::1]:8443");
    assert_true(x->tls);
    assert_string_equal(x->source, "");
    site = &cfg->sites[cfg->nsites - 1];
    assert_int_equal(site->block.dirs[0].u.proxy->upstreams[0].scheme, DW_UPSTREAM_HTTPS);
    assert_string_equal(site->block.dirs[0].u.proxy->upstreams[0].host.ptr, "::1");
    free(json);
    free(r);
    dw_config_free(cfg);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_21_load_source_dwaarfile_host_removed(void **state)
{
    (void)state;
    dw_cfg_route_info_t *r;
    size_t n;
    char *json;
    dw_config_t *cfg = load_base(NULL, &r, &n, &json);
    free(json);
    free(r);
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    assert_false(dw_cfg_overlay_remove(&ov, cfg, "nothere.example.com"));
    assert_true(dw_cfg_overlay_remove(&ov, cfg, "B.example.com"));
    assert_int_equal(ov.nremoved, 1);
    assert_string_equal(ov.removed[0], "b.example.com");
    assert_true(dw_cfg_overlay_remove(&ov, cfg, "_default"));
    dw_config_free(cfg);
    cfg = load_base(&ov, &r, &n, &json);
    assert_int_equal(n, 2);
    assert_null(find_route(r, n, "b.example.com"));
    assert_null(find_route(r, n, "_default"));
    assert_non_null(find_route(r, n, "c.example.com"));
    assert_false(dw_cfg_has_route(cfg, "b.example.com"));
    assert_int_equal(cfg->nsites, 2); /* `:80` went with its only address */
    assert_int_equal(cfg->sites[1].naddrs, 1);
    assert_int_equal(cfg->naddresses, 2);
    /* deleting it again: not found (404) */
    assert_false(dw_cfg_overlay_remove(&ov, cfg, "b.example.com"));
    assert_int_equal(ov.nremoved, 2);
    free(json);
    free(r);
    dw_config_free(cfg);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_14_load_source_takeover(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, "a.example.com", "10.5.5.5:80", false, "api");
    dw_cfg_route_info_t *r;
    size_t n;
    char *json;
    dw_config_t *cfg = load_base(&ov, &r, &n, &json);
    assert_int_equal(n, 4);
    const dw_cfg_route_info_t *x = find_route(r, n, "a.example.com");
    assert_string_equal(x->upstream, "10.5.5.5:80");
    assert_string_equal(x->source, "api");
    /* one site serves a.example.com: the API's, on the HTTP port (no ambiguity) */
    size_t serving = 0;
    for (size_t s = 0; s < cfg->nsites; s++)
        for (size_t i = 0; i < cfg->sites[s].naddrs; i++)
            if (dw_str_eq_c(cfg->sites[s].addrs[i].host, "a.example.com")) serving++;
    assert_int_equal(serving, 1);
    assert_true(cfg->sites[cfg->nsites - 1].api_keys[0].replaced);
    free(json);
    free(r);
    /* DELETE of a route that replaced the Dwaarfile's: the key is gone, not restored */
    assert_true(dw_cfg_overlay_remove(&ov, cfg, "a.example.com"));
    assert_int_equal(ov.nadd, 0);
    assert_int_equal(ov.nremoved, 1);
    dw_config_free(cfg);
    cfg = load_base(&ov, &r, &n, &json);
    assert_null(find_route(r, n, "a.example.com"));
    assert_int_equal(n, 3);
    /* POST again: back, and the recorded removal is moot */
    put_ok(&ov, "a.example.com", "10.5.5.6:80", false, NULL);
    assert_int_equal(ov.nremoved, 0);
    free(json);
    free(r);
    dw_config_free(cfg);
    /* an API route that replaced nothing: deleting it leaves no removal behind */
    put_ok(&ov, "fresh.example.com", "10.5.5.7:80", false, NULL);
    cfg = load_base(&ov, &r, &n, &json);
    assert_true(dw_cfg_overlay_remove(&ov, cfg, "fresh.example.com"));
    assert_int_equal(ov.nremoved, 0);
    assert_false(dw_cfg_overlay_remove(&ov, cfg, "fresh.example.com"));
    free(json);
    free(r);
    dw_config_free(cfg);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_20_load_source_composite_keys(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, "app.example.com/api", "10.0.1.1:80", false, "ing");
    put_ok(&ov, "app.example.com", "10.0.1.9:80", false, "ing");
    put_ok(&ov, "app.example.com/api/v2", "10.0.1.2:80", true, "ing");
    put_ok(&ov, "app.example.com/odd path \"q\"", "10.0.1.3:80", false, NULL);
    put_ok(&ov, "*.wild.example.com/x", "10.0.1.4:80", false, NULL);
    dw_cfg_route_info_t *r;
    size_t n;
    char *json, *diags;
    dw_config_t *cfg = load_text(BASE, &ov, &diags);
    if (!cfg) fail_msg("%s", diags);
    free(diags);
    n = dw_cfg_routes(cfg, &r);
    assert_int_equal(n, 4 + 5);
    assert_string_equal(find_route(r, n, "app.example.com/api/v2")->upstream, "10.0.1.2:80");
    assert_true(find_route(r, n, "app.example.com/api/v2")->tls);
    assert_string_equal(find_route(r, n, "app.example.com")->upstream, "10.0.1.9:80");
    assert_string_equal(find_route(r, n, "app.example.com/api")->source, "ing");
    assert_non_null(find_route(r, n, "*.wild.example.com/x"));
    assert_true(dw_cfg_has_route(cfg, "app.example.com/api"));
    assert_false(dw_cfg_has_route(cfg, "app.example.com/nope"));
    /* one site for app.example.com: handle blocks, longest path first, the bare host last */
    const dw_cfg_site_t *site = NULL;
    for (size_t s = 0; s < cfg->nsites; s++)
        if (cfg->sites[s].from_api && dw_str_eq_c(cfg->sites[s].addrs[0].host, "app.example.com"))
            site = &cfg->sites[s];
    assert_non_null(site);
    assert_int_equal(site->napi_keys, 4);
    const dw_cfg_block_t *b = &site->block;
    assert_int_equal(b->ndirs, 4);
    assert_int_equal(b->nmatchers, 1); /* the odd path goes through a quoted path matcher */
    assert_string_equal(b->matchers[0].conds[0].u.paths.v[0].ptr, "/odd path \"q\"*");
    assert_int_equal(b->dirs[0].kind, DW_DIR_HANDLE);
    assert_int_equal(b->dirs[0].match.kind, DW_MATCH_NAMED); /* 14 bytes */
    assert_string_equal(b->dirs[1].match.text.ptr, "/api/v2*");
    assert_string_equal(b->dirs[2].match.text.ptr, "/api*");
    assert_int_equal(b->dirs[3].match.kind, DW_MATCH_NONE); /* the fallback */
    const dw_cfg_block_t *fb = b->dirs[3].u.handle.block;
    assert_string_equal(fb->dirs[0].u.proxy->upstreams[0].host.ptr, "10.0.1.9");
    json = model_json(cfg);
    assert_non_null(strstr(json, "{\"domain\":\"app.example.com/api/v2\",\"upstream\":"
                                 "\"10.0.1.2:80\",\"tls\":true,\"source\":\"ing\"}"));
    free(json);
    free(r);
    dw_config_free(cfg);
    dw_cfg_overlay_free(&ov);
}

static void test_ADM_20_load_source_default(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, "_default", "10.7.7.7:8080", false, "ing");
    dw_cfg_route_info_t *r;
    size_t n;
    char *json;
    dw_config_t *cfg = load_base(&ov, &r, &n, &json);
    assert_int_equal(n, 4);
    const dw_cfg_route_info_t *x = find_route(r, n, "_default");
    assert_string_equal(x->upstream, "10.7.7.7:8080");
    assert_string_equal(x->source, "ing");
    /* the Dwaarfile's `:80` is gone, the API's catch-all is `http://` on the HTTP port */
    const dw_cfg_site_t *site = &cfg->sites[cfg->nsites - 1];
    assert_true(site->from_api);
    assert_string_equal(site->addrs[0].original.ptr, "http://");
    assert_int_equal(site->addrs[0].host.len, 0);
    assert_int_equal(site->addrs[0].port, 80);
    assert_int_equal(cfg->nsites, 3);
    free(json);
    free(r);
    dw_config_free(cfg);
    /* with another http_port, the API sites follow it */
    char *diags;
    cfg = load_text("{\n    http_port 8080\n}\n:8080 {\n    respond x\n}\n", &ov, &diags);
    if (!cfg) fail_msg("%s", diags);
    free(diags);
    assert_int_equal(cfg->nsites, 1);
    assert_int_equal(cfg->sites[0].addrs[0].port, 8080);
    dw_config_free(cfg);
    dw_cfg_overlay_free(&ov);
}

static void test_overlay_pack_unpack(void **state)
{
    (void)state;
    dw_cfg_overlay_t ov, back;
    dw_cfg_overlay_init(&ov);
    dw_cfg_overlay_init(&back);
    put_ok(&ov, "a.example.com", "10.0.0.1:80", false, NULL);
    put_ok(&ov, "b.example.com/x", "[::1]:80", true, "src");
    put_ok(&ov, "_default", "10.0.0.2:80", false, NULL);
    ov.removed = malloc(2 * sizeof(char *));
    ov.removed[0] = strdup("old.example.com");
    ov.removed[1] = strdup("::1");
    ov.nremoved = ov.removed_cap = 2;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    dw_cfg_overlay_pack(&pk, &ov);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    char err[256] = "";
    put_ok(&back, "stale.example.com", "10.0.0.9:80", false, NULL); /* replaced by unpack */
    assert_int_equal(dw_cfg_overlay_unpack(&up.data, &back, err, sizeof(err)), 0);
    assert_int_equal(back.nadd, 3);
    assert_int_equal(back.nremoved, 2);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(back.add[i].domain, ov.add[i].domain);
        assert_string_equal(back.add[i].upstream, ov.add[i].upstream);
        assert_int_equal(back.add[i].tls, ov.add[i].tls);
    }
    assert_null(back.add[0].source);
    assert_string_equal(back.add[1].source, "src");
    assert_string_equal(back.removed[1], "::1");
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    dw_cfg_overlay_free(&back);
    dw_cfg_overlay_free(&ov);
}

/* Packs a hand-made overlay map and returns unpack's error (NULL when accepted). */
static char *overlay_err(const char *json_like_kind)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    bool route = true;
    const char *domain = "a.com", *upstream = "1.2.3.4:80";
    int tls_type = 0, source_type = 0, extra = 0, removed_type = 0;
    int top_extra = 0, dup_route = 0;
    if (strcmp(json_like_kind, "bad domain") == 0) domain = "../evil";
    if (strcmp(json_like_kind, "bad upstream") == 0) upstream = "host:80";
    if (strcmp(json_like_kind, "tls not bool") == 0) tls_type = 1;
    if (strcmp(json_like_kind, "source int") == 0) source_type = 1;
    if (strcmp(json_like_kind, "route extra key") == 0) extra = 1;
    if (strcmp(json_like_kind, "removed int") == 0) removed_type = 1;
    if (strcmp(json_like_kind, "removed empty") == 0) removed_type = 2;
    if (strcmp(json_like_kind, "top extra key") == 0) top_extra = 1;
    if (strcmp(json_like_kind, "duplicate route") == 0) dup_route = 1;
    if (strcmp(json_like_kind, "no route") == 0) route = false;
    msgpack_pack_map(&pk, (size_t)(2 + top_extra));
    pack_s(&pk, "add");
    msgpack_pack_array(&pk, route ? (size_t)(1 + dup_route) : 0);
    for (int k = 0; route && k < 1 + dup_route; k++) {
        msgpack_pack_map(&pk, (size_t)(4 + extra));
        pack_s(&pk, "domain");
        pack_s(&pk, k ? "A.COM" : domain);
        pack_s(&pk, "upstream");
        pack_s(&pk, upstream);
        pack_s(&pk, "tls");
        if (tls_type)
            msgpack_pack_int(&pk, 1);
        else
            msgpack_pack_true(&pk);
        pack_s(&pk, "source");
        if (source_type)
            msgpack_pack_int(&pk, 1);
        else
            msgpack_pack_nil(&pk);
        if (extra) {
            pack_s(&pk, "weight");
            msgpack_pack_int(&pk, 1);
        }
    }
    pack_s(&pk, "removed");
    msgpack_pack_array(&pk, 1);
    if (removed_type == 1)
        msgpack_pack_int(&pk, 3);
    else
        pack_s(&pk, removed_type == 2 ? "" : "gone.example.com");
    if (top_extra) {
        pack_s(&pk, "more");
        msgpack_pack_nil(&pk);
    }
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&up, sb.data, sb.size, &off), MSGPACK_UNPACK_SUCCESS);
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    put_ok(&ov, "keep.example.com", "10.0.0.9:80", false, NULL);
    char err[512] = "";
    int rc = dw_cfg_overlay_unpack(&up.data, &ov, err, sizeof(err));
    if (rc != 0) {
        assert_int_equal(ov.nadd, 0); /* ov is then empty */
        assert_int_equal(ov.nremoved, 0);
    }
    dw_cfg_overlay_free(&ov);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    return rc == 0 ? NULL : strdup(err);
}

static void overlay_rejects(const char *kind, const char *want)
{
    char *err = overlay_err(kind);
    if (!err) fail_msg("%s: accepted", kind);
    if (strcmp(err, want) != 0) fail_msg("%s: got '%s', want '%s'", kind, err, want);
    free(err);
}

static void test_overlay_unpack_rejects(void **state)
{
    (void)state;
    assert_null(overlay_err("ok"));
    assert_null(overlay_err("no route"));
    overlay_rejects("bad domain", "overlay: route 0: invalid domain: ../evil");
    overlay_rejects("bad upstream", "overlay: route 0: invalid upstream address: 'host' is not an "
                                    "IPv4 address (host names are not accepted)");
    overlay_rejects("tls not bool", "overlay: route 0: 'tls' is not a boolean");
    overlay_rejects("source int", "overlay: route 0: 'source' is neither a string nor nil");
    overlay_rejects("route extra key", "overlay: route 0: unknown key 'weight'");
    overlay_rejects("removed int", "overlay: removed 0 is not a route key");
    overlay_rejects("removed empty", "overlay: removed 0 is not a route key");
    overlay_rejects("top extra key", "overlay: unknown key 'more'");
    overlay_rejects("duplicate route", "overlay: route 1: duplicate domain 'a.com'");
    msgpack_object o = {.type = MSGPACK_OBJECT_NIL};
    dw_cfg_overlay_t ov;
    dw_cfg_overlay_init(&ov);
    char err[128];
    assert_int_equal(dw_cfg_overlay_unpack(&o, &ov, err, sizeof(err)), -1);
    assert_string_equal(err, "overlay: not a map");
}

/* --- the routes table ------------------------------------------------------------------------- */

static void test_ADM_13_routes_table(void **state)
{
    (void)state;
    static const char text[] =
        "Example.COM, http://example.com:8080 {\n"
        "    rate_limit 100/s\n"
        "    under_attack on\n"
        "    handle /api/* {\n"
        "        route {\n"
        "            reverse_proxy https://10.0.0.9:8443 https://10.0.0.10:8443\n"
        "        }\n"
        "    }\n"
        "    reverse_proxy 10.0.0.1:80\n"
        "}\n"
        "*.wild.example.com {\n"
        "    root /srv/www\n"
        "    php_fastcgi unix//run/php.sock\n"
        "}\n"
        "php.example.com {\n"
        "    root /srv/www\n"
        "    rate_limit 30/m\n"
        "    php_fastcgi 127.0.0.1:9000\n"
        "}\n"
        "static.example.com {\n"
        "    file_server\n"
        "}\n"
        "[::1]:8081 {\n"
        "    reverse_proxy [::2]:9000\n"
        "}\n"
        "names.example.com {\n"
        "    under_attack off\n"
        "    handle_errors {\n"
        "        reverse_proxy 10.1.1.1:80\n"
        "    }\n"
        "    reverse_proxy backend.internal:8080\n"
        "}\n"
        ":9090 {\n"
        "    respond ok\n"
        "}\n"
        "http://:9091 {\n"
        "    reverse_proxy 10.2.2.2:80\n"
        "}\n";
    char *diags;
    dw_config_t *cfg = load_text(text, NULL, &diags);
    if (!cfg) fail_msg("%s", diags);
    free(diags);
    dw_cfg_route_info_t *r;
    size_t n = dw_cfg_routes(cfg, &r);
    assert_int_equal(n, 7);
    const dw_cfg_route_info_t *x = find_route(r, n, "example.com");
    assert_non_null(x);
    assert_string_equal(x->upstream, "10.0.0.9:8443");
    assert_true(x->tls);
    assert_true(x->has_rate);
    assert_int_equal(x->rate_limit_rps, 100);
    assert_true(x->under_attack);
    assert_string_equal(x->source, "");
    x = find_route(r, n, "*.wild.example.com");
    assert_string_equal(x->upstream, ""); /* unix socket */
    assert_false(x->has_rate);
    x = find_route(r, n, "php.example.com");
    assert_string_equal(x->upstream, "127.0.0.1:9000");
    assert_false(x->tls);
    assert_int_equal(x->rate_limit_rps, 1); /* 30/m: under one a second */
    assert_string_equal(find_route(r, n, "static.example.com")->upstream, "");
    assert_string_equal(find_route(r, n, "::1")->upstream, "[::2]:9000");
    x = find_route(r, n, "names.example.com");
    assert_string_equal(x->upstream, "backend.internal:8080");
    assert_false(x->under_attack);
    x = find_route(r, n, "_default"); /* two catch-alls, one key: the first */
    assert_string_equal(x->upstream, "");
    assert_true(dw_cfg_has_route(cfg, "_default"));
    assert_true(dw_cfg_has_route(cfg, "example.com"));
    assert_false(dw_cfg_has_route(cfg, "Example.COM"));
    free(r);
    dw_config_free(cfg);
    assert_int_equal(dw_cfg_routes(NULL, &r), 0);
    assert_null(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_golden),
        cmocka_unit_test(test_roundtrip_example),
        cmocka_unit_test(test_roundtrip_blackbox_configs),
        cmocka_unit_test(test_roundtrip_imports_snippets_env),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_unpack_rejects),
        cmocka_unit_test(test_unpack_text_limit),
        cmocka_unit_test(test_unpack_truncated_and_corrupted),
        cmocka_unit_test(test_ADM_15_overlay_put_upsert_lowercase),
        cmocka_unit_test(test_ADM_18_overlay_validation),
        cmocka_unit_test(test_ADM_14_load_source_api_host_added),
        cmocka_unit_test(test_ADM_21_load_source_dwaarfile_host_removed),
        cmocka_unit_test(test_ADM_14_load_source_takeover),
        cmocka_unit_test(test_ADM_20_load_source_composite_keys),
        cmocka_unit_test(test_ADM_20_load_source_default),
        cmocka_unit_test(test_overlay_pack_unpack),
        cmocka_unit_test(test_overlay_unpack_rejects),
        cmocka_unit_test(test_ADM_13_routes_table),
    };
    if (getenv("TEST_FILTER")) cmocka_set_test_filter(getenv("TEST_FILTER"));
    return cmocka_run_group_tests(tests, NULL, NULL);
}
