/* Request-time matching (spec 10 §4.3, §5-§7, spec 40 path normalisation): matchers compiled
 * from real Dwaarfiles, evaluated against hand-built requests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "match.h"
#include "snapshot.h"
#include <dwaar/config/config.h>
#include <dwaar/core/status.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- fixture ----------------------------------------------------------------------------- */

typedef struct t {
    dw_arena_t ra; /* the request's arena */
    dw_arena_t sa; /* the "snapshot" arena: compiled matchers and maps */
    dw_req_t r;
    dw_config_t *cfg;
    dw_snapshot_t snap;
} t_t;

static void set_peer(dw_ip_t *ip, const char *text, uint16_t port)
{
    memset(ip, 0, sizeof(*ip));
    if (inet_pton(AF_INET, text, ip->addr) == 1)
        ip->family = 4;
    else if (inet_pton(AF_INET6, text, ip->addr) == 1)
        ip->family = 6;
    else
        fail_msg("bad address %s", text);
    ip->port = port;
    snprintf(ip->text, sizeof(ip->text), "%s", text);
}

/* A GET for target on example.com from 192.0.2.10:5555 over plain HTTP/1.1. */
static void req_reset(t_t *t, const char *method, const char *target)
{
    dw_arena_deinit(&t->ra);
    dw_arena_init(&t->ra, 1024);
    dw_req_t *r = &t->r;
    memset(r, 0, sizeof(*r));
    r->arena = &t->ra;
    r->snap = t->cfg ? &t->snap : NULL;
    r->method = dw_str_c(method);
    r->raw_target = r->orig_uri = dw_str_c(target);
    dw_str_t tg = dw_str_c(target);
    ptrdiff_t q = dw_str_chr(tg, '?');
    r->path = q < 0 ? tg : dw_str_sub(tg, 0, (size_t)q);
    r->has_query = q >= 0;
    r->query = q < 0 ? DW_STR("") : dw_str_sub(tg, (size_t)q + 1, tg.len);
    assert_int_equal(dw_path_normalize(r->arena, r->path, &r->npath), DW_OK);
    r->hostport = DW_STR("example.com");
    r->host = DW_STR("example.com");
    r->local_port = 80;
    r->http_version = 11;
    set_peer(&r->peer, "192.0.2.10", 5555);
    snprintf(r->request_id, sizeof(r->request_id), "0190a0a0-0000-7000-8000-000000000001");
}

static void add_header(t_t *t, const char *name, const char *value)
{
    assert_non_null(dw_fields_add(&t->ra, &t->r.headers, dw_str_c(name), dw_str_c(value)));
}

static void t_init(t_t *t, const char *dwaarfile)
{
    memset(t, 0, sizeof(*t));
    dw_arena_init(&t->sa, 4096);
    dw_arena_init(&t->ra, 1024);
    if (dwaarfile) {
        dw_diags_t d;
        dw_diags_init(&d);
        t->cfg = dw_cfg_load_string("Dwaarfile", "/tmp", dwaarfile, strlen(dwaarfile), NULL, &d);
        if (!t->cfg) dw_diags_print(&d, -1, stderr);
        dw_diags_deinit(&d);
        assert_non_null(t->cfg);
        t->snap.cfg = t->cfg;
    }
    req_reset(t, "GET", "/");
}

static void t_fini(t_t *t)
{
    dw_arena_deinit(&t->ra);
    dw_arena_deinit(&t->sa); /* frees the pcre2 codes */
    if (t->cfg) dw_config_free(t->cfg);
}

static const dw_cfg_block_t *site_block(t_t *t)
{
    assert_true(t->cfg->nsites >= 1);
    return &t->cfg->sites[0].block;
}

/* Compiles the site-level matcher @name. */
static dw_rt_match_t *named(t_t *t, const char *name)
{
    const dw_cfg_block_t *b = site_block(t);
    for (size_t i = 0; i < b->nmatchers; i++) {
        if (!dw_str_eq_c(b->matchers[i].name, name)) continue;
        dw_cfg_match_ref_t ref = {
            .kind = DW_MATCH_NAMED, .text = b->matchers[i].name, .def = &b->matchers[i]};
        dw_rt_match_t *m = NULL;
        dw_err_t err;
        dw_err_clear(&err);
        assert_int_equal(dw_rt_match_compile(&t->sa, &ref, &m, &err), DW_OK);
        assert_non_null(m);
        return m;
    }
    fail_msg("no matcher @%s", name);
    return NULL;
}

/* The first site-level directive of that kind. */
static const dw_cfg_directive_t *directive(t_t *t, uint16_t kind, size_t nth)
{
    const dw_cfg_block_t *b = site_block(t);
    for (size_t i = 0; i < b->ndirs; i++)
        if (b->dirs[i].kind == kind && nth-- == 0) return &b->dirs[i];
    fail_msg("no directive of kind %u", kind);
    return NULL;
}

static bool match_req(t_t *t, dw_rt_match_t *m, const char *method, const char *target)
{
    req_reset(t, method, target);
    return dw_rt_match_eval(m, &t->r);
}

static dw_str_t render(t_t *t, const char *tpl)
{
    return dw_tpl_render(&t->r, dw_str_c(tpl));
}

#define assert_str(view, lit)                                                                      \
    do {                                                                                           \
        dw_str_t v_ = (view);                                                                      \
        if (!dw_str_eq_c(v_, (lit)))                                                               \
            fail_msg("got '%.*s', want '%s'", (int)v_.len, v_.ptr ? v_.ptr : "", (lit));           \
    } while (0)

#define assert_ph(t, name, lit) assert_str(render((t), "{" name "}"), (lit))

/* --- path patterns (§4.3) -------------------------------------------------------------- */

static bool pm(const char *pat, const char *path)
{
    return dw_path_pattern_match(dw_str_c(pat), dw_str_c(path));
}

static void test_RT_06_path_patterns(void **state)
{
    (void)state;
    assert_true(pm("*", "/anything/at/all"));
    assert_true(pm("/health", "/health"));
    assert_false(pm("/health", "/health/"));
    assert_false(pm("/health", "/healthz"));
    /* trailing `*` = prefix */
    assert_true(pm("/api/*", "/api/"));
    assert_true(pm("/api/*", "/api/a/b"));
    assert_false(pm("/api/*", "/api"));
    assert_false(pm("/api/*", "/apix/a"));
    /* leading `*` = suffix */
    assert_true(pm("*.php", "/x/y.php"));
    assert_false(pm("*.php", "/x/y.php5"));
    /* both = substring */
    assert_true(pm("*admin*", "/x/admin/y"));
    assert_false(pm("*admin*", "/x/adm/y"));
    /* glob */
    assert_true(pm("/a/*/c", "/a/b/c"));
    assert_false(pm("/a/*/c", "/a/b/d/c"));
    assert_true(pm("/s/**/x.js", "/s/1/2/x.js"));
    assert_true(pm("/s/**/x.js", "/s/1/x.js"));
    assert_false(pm("/s/**/x.js", "/t/1/x.js"));
    assert_true(pm("/s/**", "/s/a/b/c"));
    assert_true(pm("/img/*.png", "/img/a.png"));
    assert_false(pm("/img/*.png", "/img/a/b.png"));
    assert_true(pm("/img/**.png", "/img/a/b.png"));
    assert_true(pm("/a*b/*", "/axxb/c"));
    assert_false(pm("/a*b/*", "/axxc/c"));
    assert_true(pm("/v*/users/*", "/v2/users/7"));
}

static void test_RT_05_path_case_insensitive(void **state)
{
    (void)state;
    assert_true(pm("/API/*", "/api/x"));
    assert_true(pm("/Health", "/HEALTH"));
    assert_true(pm("*.PHP", "/x/Y.php"));
    assert_true(pm("*ADMIN*", "/x/admin/y"));
    assert_true(pm("/A/*/C", "/a/B/c"));
    assert_true(pm("/S/**/X.js", "/s/1/2/x.JS"));
}

static void test_path_pattern_prefix(void **state)
{
    (void)state;
    assert_str(dw_path_pattern_prefix(DW_STR("/api/*")), "/api/");
    assert_str(dw_path_pattern_prefix(DW_STR("/api*")), "/api");
    assert_str(dw_path_pattern_prefix(DW_STR("*")), "");
    assert_str(dw_path_pattern_prefix(DW_STR("*.php")), "");
    assert_str(dw_path_pattern_prefix(DW_STR("*x*")), "");
    assert_str(dw_path_pattern_prefix(DW_STR("/health")), "");
    assert_str(dw_path_pattern_prefix(DW_STR("/s/**")), "");
}

/* Reference glob: recursive, exponential, obviously right. */
static bool ref_glob(const char *p, size_t pl, const char *s, size_t sl)
{
    if (pl == 0) return sl == 0;
    if (p[0] == '*') {
        size_t skip = 1;
        while (skip < pl && p[skip] == '*') skip++;
        bool dbl = skip > 1;
        for (size_t k = 0; k <= sl; k++) {
            if (ref_glob(p + skip, pl - skip, s + k, sl - k)) return true;
            if (k < sl && !dbl && s[k] == '/') return false;
        }
        return false;
    }
    if (sl == 0 || dw_ascii_lower(p[0]) != dw_ascii_lower(s[0])) return false;
    return ref_glob(p + 1, pl - 1, s + 1, sl - 1);
}

static void test_glob_matches_reference(void **state)
{
    (void)state;
    static const char pa[] = "ab/**A";
    static const char ta[] = "abB/";
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t checked = 0;
    for (int iter = 0; iter < 200000; iter++) {
        char p[12], s[14];
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t pl = 1 + (size_t)(x % 9), sl = (size_t)((x >> 8) % 12);
        p[0] = '/';
        for (size_t i = 1; i < pl; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            p[i] = pa[x % (sizeof(pa) - 1)];
        }
        s[0] = '/';
        for (size_t i = 1; i <= sl; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            s[i] = ta[x % (sizeof(ta) - 1)];
        }
        dw_str_t pat = dw_str_make(p, pl), path = dw_str_make(s, sl + 1);
        /* only patterns that take the glob route (a literal-prefix pattern is a prefix test) */
        if (memchr(p, '*', pl) == NULL || dw_path_pattern_prefix(pat).len) continue;
        bool want = ref_glob(p, pl, s, sl + 1);
        if (dw_path_pattern_match(pat, path) != want)
            fail_msg("pattern '%.*s' path '%.*s': want %d", (int)pl, p, (int)sl + 1, s, want);
        checked++;
    }
    assert_true(checked > 10000);
}

static void test_glob_long_input_is_fast(void **state)
{
    (void)state;
    /* a pathological input for naive backtracking */
    static char path[20001];
    path[0] = '/';
    for (size_t i = 1; i < sizeof(path) - 1; i++) path[i] = (i % 100 == 0) ? '/' : 'a';
    path[sizeof(path) - 1] = '\0';
    assert_false(pm("/**a*a*a*a*a*a*a*ab", path));
    assert_true(pm("/**a*a*a*a*a*a*a*a", path));
}

/* --- normalisation (spec 40) -------------------------------------------------------------- */

static void norm_ok(dw_arena_t *a, const char *in, const char *want)
{
    dw_str_t out;
    int rc = dw_path_normalize(a, dw_str_c(in), &out);
    if (rc != DW_OK) fail_msg("normalize('%s') failed: %d", in, rc);
    if (!dw_str_eq_c(out, want))
        fail_msg("normalize('%s') = '%.*s', want '%s'", in, DW_STR_FMT(out), want);
}

static void norm_err(dw_arena_t *a, const char *in)
{
    dw_str_t out;
    if (dw_path_normalize(a, dw_str_c(in), &out) != DW_EINVAL)
        fail_msg("normalize('%s') should fail", in);
}

static void test_path_normalize(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 1024);
    norm_ok(&a, "/a/./b/../c", "/a/c");
    norm_ok(&a, "//a///b", "/a/b");
    norm_ok(&a, "/%61", "/a");
    norm_ok(&a, "/%7Euser/%2e/x", "/~user/x");
    norm_ok(&a, "/a/b/", "/a/b/");
    norm_ok(&a, "/a/.", "/a/");
    norm_ok(&a, "/a/..", "/");
    norm_ok(&a, "/a/b/..", "/a/");
    norm_ok(&a, "/.", "/");
    norm_ok(&a, "/", "/");
    norm_ok(&a, "", "/");
    norm_ok(&a, "a/b", "/a/b");
    norm_ok(&a, "/a%20b", "/a b");
    norm_ok(&a, "/a/..b/.c", "/a/..b/.c");
    norm_ok(&a, "/a/%2F/b", "/a/b");
    norm_err(&a, "/..");
    norm_err(&a, "/a/../..");
    norm_err(&a, "/a/%2e%2e/%2e%2e");
    norm_err(&a, "/%2E%2E");
    norm_err(&a, "/%zz");
    norm_err(&a, "/%4");
    norm_err(&a, "/a%00b");
    /* already normal: the same view, no copy */
    dw_str_t in = DW_STR("/already/normal.html"), out;
    assert_int_equal(dw_path_normalize(&a, in, &out), DW_OK);
    assert_ptr_equal(out.ptr, in.ptr);
    assert_int_equal(out.len, in.len);
    dw_arena_deinit(&a);
}

static void test_percent_decode(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 1024);
    dw_str_t plain = DW_STR("a+b");
    assert_ptr_equal(dw_percent_decode(&a, plain).ptr, plain.ptr);
    assert_str(dw_percent_decode(&a, DW_STR("a%20b+c")), "a b+c");
    assert_str(dw_percent_decode(&a, DW_STR("%zz%4")), "%zz%4");
    assert_str(dw_percent_decode(&a, DW_STR("%E2%9C%93")), "\xE2\x9C\x93");
    dw_arena_deinit(&a);
}

/* --- matcher references ------------------------------------------------------------------- */

static void test_matcher_ref_kinds(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    dw_err_t err;
    dw_rt_match_t *m = (dw_rt_match_t *)1;
    dw_cfg_match_ref_t none = {.kind = DW_MATCH_NONE};
    assert_int_equal(dw_rt_match_compile(&t.sa, &none, &m, &err), DW_OK);
    assert_null(m);
    dw_cfg_match_ref_t all = {.kind = DW_MATCH_ALL, .text = DW_STR("*")};
    m = (dw_rt_match_t *)1;
    assert_int_equal(dw_rt_match_compile(&t.sa, &all, &m, &err), DW_OK);
    assert_null(m);
    assert_true(dw_rt_match_eval(NULL, &t.r));

    dw_cfg_match_ref_t path = {.kind = DW_MATCH_PATH, .text = DW_STR("/blog/*")};
    assert_int_equal(dw_rt_match_compile(&t.sa, &path, &m, &err), DW_OK);
    assert_non_null(m);
    assert_false(match_req(&t, m, "GET", "/blog"));
    assert_int_equal(t.r.remainder_prefix.len, 0);
    assert_true(match_req(&t, m, "GET", "/BLOG/a/b"));
    assert_str(t.r.remainder_prefix, "/blog/");
    assert_ph(&t, "http.request.uri.path.remainder", "/a/b");

    dw_cfg_match_ref_t exact = {.kind = DW_MATCH_PATH, .text = DW_STR("/x")};
    assert_int_equal(dw_rt_match_compile(&t.sa, &exact, &m, &err), DW_OK);
    assert_true(match_req(&t, m, "GET", "/x?q=1"));
    assert_int_equal(t.r.remainder_prefix.len, 0);
    t_fini(&t);
}

/* --- conditions (§5) ----------------------------------------------------------------------- */

static void test_MT_01_path_and_method(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @api {\n"
               "        path /api/*\n"
               "        method GET POST\n"
               "    }\n"
               "    respond @api 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "api");
    assert_true(match_req(&t, m, "GET", "/api/x"));
    assert_true(match_req(&t, m, "POST", "/api/x"));
    assert_false(match_req(&t, m, "DELETE", "/api/x"));
    assert_false(match_req(&t, m, "get", "/api/x")); /* methods are case-sensitive tokens */
    assert_false(match_req(&t, m, "GET", "/other"));
    /* a failed conjunction leaves no remainder prefix behind */
    assert_int_equal(t.r.remainder_prefix.len, 0);
    req_reset(&t, "DELETE", "/api/x");
    assert_false(dw_rt_match_eval(m, &t.r));
    assert_int_equal(t.r.remainder_prefix.len, 0);
    t_fini(&t);
}

static void test_MT_02_path_any_of(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @hs path /health /status\n"
               "    respond @hs 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "hs");
    assert_true(match_req(&t, m, "GET", "/health"));
    assert_true(match_req(&t, m, "GET", "/status"));
    assert_true(match_req(&t, m, "GET", "/a/../status"));
    assert_false(match_req(&t, m, "GET", "/other"));
    t_fini(&t);
}

static void test_MT_03_inline_equals_block(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @i path /a/*\n"
               "    @b {\n"
               "        path /a/*\n"
               "    }\n"
               "    respond @i 200\n"
               "    respond @b 201\n"
               "}\n");
    dw_rt_match_t *mi = named(&t, "i"), *mb = named(&t, "b");
    const char *paths[] = {"/a/", "/a/b", "/a", "/b/a/", "/A/x"};
    for (size_t i = 0; i < DW_ARRAY_LEN(paths); i++)
        assert_int_equal(match_req(&t, mi, "GET", paths[i]), match_req(&t, mb, "GET", paths[i]));
    t_fini(&t);
}

static void test_MT_04_path_regexp_captures(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @legacy path_regexp \\.php$\n"
               "    @ver path_regexp v (?i)^/api/v([0-9]+)/(?:(x)|(y))\n"
               "    @both {\n"
               "        path_regexp b ^/b/(.*)$\n"
               "        method POST\n"
               "    }\n"
               "    respond @legacy 200\n"
               "    respond @ver 200\n"
               "    respond @both 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "legacy");
    assert_true(match_req(&t, m, "GET", "/x.php"));
    assert_ph(&t, "re.legacy.0", ".php");
    assert_ph(&t, "http.regexp.legacy.0", ".php");
    assert_ph(&t, "re.legacy.1", "");
    assert_false(match_req(&t, m, "GET", "/x.php5"));
    assert_int_equal(t.r.ncaptures, 0);
    /* searched in the normalised path */
    assert_true(match_req(&t, m, "GET", "/a%2Ephp"));

    dw_rt_match_t *v = named(&t, "ver");
    assert_true(match_req(&t, v, "GET", "/API/v12/y/z"));
    assert_ph(&t, "re.v.0", "/API/v12/y");
    assert_ph(&t, "re.v.1", "12");
    assert_ph(&t, "re.v.2", ""); /* unset group */
    assert_ph(&t, "re.v.3", "y");
    assert_ph(&t, "re.v.9", "");
    assert_ph(&t, "re.nope.0", "");

    /* a later condition failing drops the captures */
    dw_rt_match_t *b = named(&t, "both");
    assert_false(match_req(&t, b, "GET", "/b/zz"));
    assert_int_equal(t.r.ncaptures, 0);
    assert_ph(&t, "re.b.1", "");
    assert_true(match_req(&t, b, "POST", "/b/zz"));
    assert_ph(&t, "re.b.1", "zz");
    t_fini(&t);
}

typedef struct thread_job {
    dw_rt_match_t *m;
    bool matched;
    dw_str_t cap;
} thread_job_t;

static void *thread_match(void *arg)
{
    thread_job_t *job = arg;
    dw_arena_t a;
    dw_arena_init(&a, 512);
    dw_req_t r;
    memset(&r, 0, sizeof(r));
    r.arena = &a;
    r.path = r.npath = DW_STR("/t/index.php");
    job->matched = dw_rt_match_eval(job->m, &r);
    dw_str_t v = dw_tpl_render(&r, DW_STR("{re.legacy.0}"));
    job->cap = dw_str_eq_c(v, ".php") ? DW_STR("ok") : DW_STR("bad");
    dw_arena_deinit(&a);
    return NULL; /* the thread's match scratch is freed at exit (LeakSanitizer checks) */
}

static void test_MT_04_regexp_in_threads(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @legacy path_regexp \\.php$\n"
               "    respond @legacy 200\n"
               "}\n");
    thread_job_t jobs[4];
    pthread_t th[4];
    for (size_t i = 0; i < 4; i++) {
        jobs[i] = (thread_job_t){.m = named(&t, "legacy")};
        assert_int_equal(pthread_create(&th[i], NULL, thread_match, &jobs[i]), 0);
    }
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_true(jobs[i].matched);
        assert_str(jobs[i].cap, "ok");
    }
    dw_match_thread_cleanup(); /* and again on first use */
    assert_true(match_req(&t, jobs[0].m, "GET", "/x.php"));
    t_fini(&t);
}

static void test_MT_05_host(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @h host api.example.com *.dev.example.com\n"
               "    respond @h 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "h");
    const struct {
        const char *host;
        bool want;
    } cases[] = {
        {"api.example.com", true},      {"API.Example.COM", true},
        {"a.dev.example.com", true},    {"dev.example.com", false},
        {"a.b.dev.example.com", false}, {"example.com", false},
        {"xapi.example.com", false},    {"", false},
    };
    for (size_t i = 0; i < DW_ARRAY_LEN(cases); i++) {
        req_reset(&t, "GET", "/");
        t.r.host = dw_str_c(cases[i].host);
        if (dw_rt_match_eval(m, &t.r) != cases[i].want) fail_msg("host %s", cases[i].host);
    }
    t_fini(&t);
}

static void test_MT_06_header(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @internal header X-Internal\n"
               "    @admin header X-Role admin\n"
               "    @pre header X-Role adm*\n"
               "    @suf header X-Role *min\n"
               "    @sub header Connection *Upgrade*\n"
               "    @star header X-Any *\n"
               "    @multi header X-Role admin root\n"
               "    respond @internal 200\n"
               "    respond @admin 200\n"
               "    respond @pre 200\n"
               "    respond @suf 200\n"
               "    respond @sub 200\n"
               "    respond @star 200\n"
               "    respond @multi 200\n"
               "}\n");
    dw_rt_match_t *internal = named(&t, "internal"), *admin = named(&t, "admin"),
                  *pre = named(&t, "pre"), *suf = named(&t, "suf"), *sub = named(&t, "sub"),
                  *star = named(&t, "star"), *multi = named(&t, "multi");

    req_reset(&t, "GET", "/");
    assert_false(dw_rt_match_eval(internal, &t.r));
    add_header(&t, "x-internal", ""); /* present, even empty (decision 37) */
    assert_true(dw_rt_match_eval(internal, &t.r));

    req_reset(&t, "GET", "/");
    add_header(&t, "X-ROLE", "admin");
    assert_true(dw_rt_match_eval(admin, &t.r));
    assert_true(dw_rt_match_eval(pre, &t.r));
    assert_true(dw_rt_match_eval(suf, &t.r));
    assert_true(dw_rt_match_eval(multi, &t.r));

    req_reset(&t, "GET", "/");
    add_header(&t, "X-Role", "administrator");
    assert_false(dw_rt_match_eval(admin, &t.r));
    assert_true(dw_rt_match_eval(pre, &t.r));
    assert_false(dw_rt_match_eval(suf, &t.r));

    req_reset(&t, "GET", "/");
    add_header(&t, "X-Role", "user");
    add_header(&t, "X-Role", "root"); /* any value of any same-named field */
    assert_false(dw_rt_match_eval(admin, &t.r));
    assert_true(dw_rt_match_eval(multi, &t.r));

    req_reset(&t, "GET", "/");
    add_header(&t, "Connection", "keep-alive, Upgrade");
    assert_true(dw_rt_match_eval(sub, &t.r));
    req_reset(&t, "GET", "/");
    add_header(&t, "Connection", "close");
    assert_false(dw_rt_match_eval(sub, &t.r));

    req_reset(&t, "GET", "/");
    assert_false(dw_rt_match_eval(star, &t.r));
    add_header(&t, "X-Any", "");
    assert_true(dw_rt_match_eval(star, &t.r));
    t_fini(&t);
}

static void test_MT_07_header_regexp(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @bearer header_regexp tok Authorization ^Bearer\\s(\\S+)\n"
               "    @dflt header_regexp X-Ver ^v(\\d+)$\n"
               "    respond @bearer 200\n"
               "    respond @dflt 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "bearer");
    req_reset(&t, "GET", "/");
    add_header(&t, "authorization", "Bearer abc");
    assert_true(dw_rt_match_eval(m, &t.r));
    assert_ph(&t, "re.tok.1", "abc");
    req_reset(&t, "GET", "/");
    add_header(&t, "Authorization", "Basic x");
    assert_false(dw_rt_match_eval(m, &t.r));
    req_reset(&t, "GET", "/");
    assert_false(dw_rt_match_eval(m, &t.r));

    /* the capture name defaults to the matcher's */
    dw_rt_match_t *d = named(&t, "dflt");
    req_reset(&t, "GET", "/");
    add_header(&t, "X-Ver", "nope");
    add_header(&t, "X-Ver", "v42");
    assert_true(dw_rt_match_eval(d, &t.r));
    assert_ph(&t, "re.dflt.1", "42");
    t_fini(&t);
}

static void test_MT_08_query(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @both query version=2 format=json\n"
               "    @debug query debug=*\n"
               "    @bare query flag\n"
               "    @enc query \"name=a b\"\n"
               "    respond @both 200\n"
               "    respond @debug 200\n"
               "    respond @bare 200\n"
               "    respond @enc 200\n"
               "}\n");
    dw_rt_match_t *both = named(&t, "both"), *debug = named(&t, "debug"), *bare = named(&t, "bare"),
                  *enc = named(&t, "enc");
    assert_true(match_req(&t, both, "GET", "/?version=2&format=json"));
    assert_true(match_req(&t, both, "GET", "/?format=json&x=1&version=2"));
    assert_false(match_req(&t, both, "GET", "/?version=2"));
    assert_false(match_req(&t, both, "GET", "/?version=3&format=json"));
    assert_true(match_req(&t, both, "GET", "/?version=1&version=2&format=json"));
    assert_true(match_req(&t, both, "GET", "/?%76ersion=%32&format=json")); /* decoded */
    assert_false(match_req(&t, both, "GET", "/"));
    assert_true(match_req(&t, debug, "GET", "/?debug="));
    assert_true(match_req(&t, debug, "GET", "/?debug=1"));
    assert_true(match_req(&t, debug, "GET", "/?a&debug"));
    assert_false(match_req(&t, debug, "GET", "/?debugx=1"));
    assert_true(match_req(&t, bare, "GET", "/?flag"));
    assert_false(match_req(&t, bare, "GET", "/?flags"));
    /* query values are decoded; '+' is kept as is */
    assert_true(match_req(&t, enc, "GET", "/?name=a%20b"));
    assert_false(match_req(&t, enc, "GET", "/?name=a+b"));
    t_fini(&t);
}

static void test_MT_09_protocol(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @http protocol http\n"
               "    @https protocol https\n"
               "    @grpc protocol grpc\n"
               "    @h1 protocol http/1.1\n"
               "    @h2 protocol http/2\n"
               "    @h3 protocol http/3\n"
               "    respond @http 200\n"
               "    respond @https 200\n"
               "    respond @grpc 200\n"
               "    respond @h1 200\n"
               "    respond @h2 200\n"
               "    respond @h3 200\n"
               "}\n");
    dw_rt_match_t *http = named(&t, "http"), *https = named(&t, "https"), *grpc = named(&t, "grpc"),
                  *h1 = named(&t, "h1"), *h2 = named(&t, "h2"), *h3 = named(&t, "h3");
    req_reset(&t, "GET", "/");
    assert_true(dw_rt_match_eval(http, &t.r));
    assert_false(dw_rt_match_eval(https, &t.r));
    assert_true(dw_rt_match_eval(h1, &t.r));
    assert_false(dw_rt_match_eval(h2, &t.r));
    assert_false(dw_rt_match_eval(grpc, &t.r));
    t.r.tls = true;
    assert_false(dw_rt_match_eval(http, &t.r));
    assert_true(dw_rt_match_eval(https, &t.r));
    t.r.http_version = 10;
    assert_true(dw_rt_match_eval(h1, &t.r));
    t.r.http_version = 20;
    assert_true(dw_rt_match_eval(h2, &t.r));
    assert_false(dw_rt_match_eval(h1, &t.r));
    t.r.http_version = 30;
    assert_true(dw_rt_match_eval(h3, &t.r));
    add_header(&t, "content-type", "application/grpc+proto");
    assert_true(dw_rt_match_eval(grpc, &t.r));
    req_reset(&t, "GET", "/");
    add_header(&t, "Content-Type", "application/json");
    assert_false(dw_rt_match_eval(grpc, &t.r));
    t_fini(&t);
}

static void test_MT_10_remote_ip(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @lo remote_ip 127.0.0.0/8\n"
               "    @ten remote_ip 10.0.0.0/8\n"
               "    @priv remote_ip private_ranges\n"
               "    @v6 remote_ip 2001:db8::/32 192.0.2.10\n"
               "    respond @lo 200\n"
               "    respond @ten 200\n"
               "    respond @priv 200\n"
               "    respond @v6 200\n"
               "}\n");
    dw_rt_match_t *lo = named(&t, "lo"), *ten = named(&t, "ten"), *priv = named(&t, "priv"),
                  *v6 = named(&t, "v6");
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "127.0.0.1", 1000);
    assert_true(dw_rt_match_eval(lo, &t.r));
    assert_false(dw_rt_match_eval(ten, &t.r));
    assert_true(dw_rt_match_eval(priv, &t.r));
    /* an IPv4-mapped IPv6 peer compares as IPv4 */
    set_peer(&t.r.peer, "::ffff:10.1.2.3", 1000);
    assert_true(dw_rt_match_eval(ten, &t.r));
    assert_false(dw_rt_match_eval(lo, &t.r));
    set_peer(&t.r.peer, "::1", 1000);
    assert_true(dw_rt_match_eval(priv, &t.r));
    assert_false(dw_rt_match_eval(lo, &t.r));
    set_peer(&t.r.peer, "2001:db8:1::5", 1000);
    assert_true(dw_rt_match_eval(v6, &t.r));
    assert_false(dw_rt_match_eval(priv, &t.r));
    set_peer(&t.r.peer, "192.0.2.10", 1000);
    assert_true(dw_rt_match_eval(v6, &t.r));
    set_peer(&t.r.peer, "192.0.2.11", 1000);
    assert_false(dw_rt_match_eval(v6, &t.r));
    t.r.peer.family = 0; /* unix socket */
    assert_false(dw_rt_match_eval(priv, &t.r));
    t_fini(&t);
}

static const char client_ip_cfg[] = "{\n"
                                    "    servers {\n"
                                    "        trusted_proxies static 10.0.0.0/8 ::1\n"
                                    "    }\n"
                                    "}\n"
                                    "example.com {\n"
                                    "    @c client_ip 203.0.113.0/24\n"
                                    "    respond @c 200\n"
                                    "}\n";

static void test_MT_11_client_ip(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, client_ip_cfg);
    dw_rt_match_t *m = named(&t, "c");

    /* an untrusted peer: X-Forwarded-For is ignored */
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "192.0.2.1", 1);
    add_header(&t, "X-Forwarded-For", "203.0.113.7");
    assert_false(dw_rt_match_eval(m, &t.r));
    assert_ph(&t, "client_ip", "192.0.2.1");

    /* a trusted peer: the left-most valid entry */
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "10.0.0.5", 1);
    add_header(&t, "x-forwarded-for", "garbage, 203.0.113.7, 10.0.0.9");
    assert_true(dw_rt_match_eval(m, &t.r));
    assert_ph(&t, "client_ip", "203.0.113.7");
    assert_ph(&t, "http.vars.client_ip", "203.0.113.7");
    assert_ph(&t, "remote_host", "10.0.0.5");

    /* over several fields, IPv6, bracketed and with ports */
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "::1", 1);
    add_header(&t, "X-Forwarded-For", "");
    add_header(&t, "X-Forwarded-For", " [2001:db8::1]:443 , 1.2.3.4");
    assert_ph(&t, "client_ip", "2001:db8::1");
    assert_false(dw_rt_match_eval(m, &t.r));
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "::ffff:10.9.9.9", 1); /* mapped, in 10/8 */
    add_header(&t, "X-Forwarded-For", "203.0.113.200:8080");
    assert_true(dw_rt_match_eval(m, &t.r));

    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "10.0.0.5", 1);
    add_header(&t, "X-Forwarded-For", "::ffff:203.0.113.9");
    assert_true(dw_rt_match_eval(m, &t.r)); /* mapped compares as IPv4 */
    assert_ph(&t, "client_ip", "::ffff:203.0.113.9");

    /* trusted, but nothing valid: the peer */
    req_reset(&t, "GET", "/");
    set_peer(&t.r.peer, "10.0.0.5", 1);
    add_header(&t, "X-Forwarded-For", "unknown");
    assert_ph(&t, "client_ip", "10.0.0.5");

    /* without a snapshot there are no trusted proxies */
    req_reset(&t, "GET", "/");
    t.r.snap = NULL;
    set_peer(&t.r.peer, "10.0.0.5", 1);
    add_header(&t, "X-Forwarded-For", "203.0.113.7");
    assert_false(dw_rt_match_eval(m, &t.r));
    assert_ph(&t, "client_ip", "10.0.0.5");
    t_fini(&t);
}

static void test_MT_12_not(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @priv {\n"
               "        not path /public/*\n"
               "        method GET\n"
               "    }\n"
               "    @nb {\n"
               "        not {\n"
               "            path /a/*\n"
               "            method POST\n"
               "        }\n"
               "    }\n"
               "    @nn not not path /x\n"
               "    respond @priv 200\n"
               "    respond @nb 200\n"
               "    respond @nn 200\n"
               "}\n");
    dw_rt_match_t *priv = named(&t, "priv"), *nb = named(&t, "nb"), *nn = named(&t, "nn");
    assert_true(match_req(&t, priv, "GET", "/private"));
    assert_false(match_req(&t, priv, "GET", "/public/a"));
    assert_false(match_req(&t, priv, "POST", "/private")); /* ANDs with siblings */
    /* `not { a; b }` = not (a and b) */
    assert_false(match_req(&t, nb, "POST", "/a/x"));
    assert_true(match_req(&t, nb, "GET", "/a/x"));
    assert_true(match_req(&t, nb, "POST", "/b"));
    /* a negated path never leaves its prefix behind */
    assert_int_equal(t.r.remainder_prefix.len, 0);
    assert_true(match_req(&t, nn, "GET", "/x"));
    assert_false(match_req(&t, nn, "GET", "/y"));
    t_fini(&t);
}

static void test_MT_13_expression(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @e5 expression {http.error.status_code} >= 500\n"
               "    @gx expression {method} == 'GET' && {path} != '/x'\n"
               "    @or expression ({path} == '/a' || {path} == '/b') && !({method} == 'POST')\n"
               "    @num expression {query.n} < 10\n"
               "    @str expression {query.s} < 'b'\n"
               "    @neg expression {query.n} > -5\n"
               "    respond @e5 200\n"
               "    respond @gx 200\n"
               "    respond @or 200\n"
               "    respond @num 200\n"
               "    respond @str 200\n"
               "    respond @neg 200\n"
               "}\n");
    dw_rt_match_t *e5 = named(&t, "e5"), *gx = named(&t, "gx"), *orm = named(&t, "or"),
                  *num = named(&t, "num"), *str = named(&t, "str"), *neg = named(&t, "neg");
    req_reset(&t, "GET", "/");
    t.r.error_status = 502;
    assert_true(dw_rt_match_eval(e5, &t.r));
    t.r.error_status = 404;
    assert_false(dw_rt_match_eval(e5, &t.r));
    t.r.error_status = 0; /* outside handle_errors: "" is not >= 500 */
    assert_false(dw_rt_match_eval(e5, &t.r));

    assert_true(match_req(&t, gx, "GET", "/y"));
    assert_false(match_req(&t, gx, "GET", "/x"));
    assert_false(match_req(&t, gx, "POST", "/y"));

    assert_true(match_req(&t, orm, "GET", "/a"));
    assert_true(match_req(&t, orm, "PUT", "/b"));
    assert_false(match_req(&t, orm, "POST", "/a"));
    assert_false(match_req(&t, orm, "GET", "/c"));

    /* numeric when both sides are integers: 9 < 10, but "9" > "10" bytewise */
    assert_true(match_req(&t, num, "GET", "/?n=9"));
    assert_false(match_req(&t, num, "GET", "/?n=10"));
    assert_false(match_req(&t, num, "GET", "/?n=x")); /* bytewise: "x" > "10" */
    assert_true(match_req(&t, neg, "GET", "/?n=-4"));
    assert_false(match_req(&t, neg, "GET", "/?n=-5"));
    assert_true(match_req(&t, str, "GET", "/?s=abc"));
    assert_false(match_req(&t, str, "GET", "/?s=b"));
    assert_true(match_req(&t, str, "GET", "/"));
    t_fini(&t);
}

static void write_file(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void test_MT_14_file(void **state)
{
    (void)state;
    char dir[] = "/tmp/dwaar-match-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    write_file(p);
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0755), 0);
    snprintf(p, sizeof(p), "%s/sub/index.html", dir);
    write_file(p);
    snprintf(p, sizeof(p), "%s/only", dir);
    assert_int_equal(mkdir(p, 0755), 0);

    char src[1024];
    snprintf(src, sizeof(src),
             "example.com {\n"
             "    @f file {\n"
             "        root %s\n"
             "        try_files {path} {path}/index.html\n"
             "    }\n"
             "    @q file {\n"
             "        root %s\n"
             "        try_files {query.f}\n"
             "    }\n"
             "    @d file {\n"
             "        root %s\n"
             "        try_files {path}/\n"
             "    }\n"
             "    @noroot file {path}\n"
             "    respond @f 200\n"
             "    respond @q 200\n"
             "    respond @d 200\n"
             "    respond @noroot 200\n"
             "}\n",
             dir, dir, dir);
    t_t t;
    t_init(&t, src);
    dw_rt_match_t *f = named(&t, "f"), *q = named(&t, "q"), *d = named(&t, "d"),
                  *noroot = named(&t, "noroot");
    assert_true(match_req(&t, f, "GET", "/a.txt"));
    assert_true(match_req(&t, f, "GET", "/sub"));   /* {path}/index.html */
    assert_false(match_req(&t, f, "GET", "/only")); /* a directory is not a file */
    assert_false(match_req(&t, f, "GET", "/missing"));
    assert_true(match_req(&t, q, "GET", "/?f=a.txt"));
    assert_false(match_req(&t, q, "GET", "/?f=../etc/passwd")); /* no escape from root */
    assert_false(match_req(&t, q, "GET", "/?f=sub/../a.txt"));
    assert_false(match_req(&t, q, "GET", "/?f=a.txt%00"));
    assert_true(match_req(&t, d, "GET", "/only"));
    assert_false(match_req(&t, d, "GET", "/a.txt"));

    /* no root in the condition: the request's root, else the working directory */
    req_reset(&t, "GET", "/a.txt");
    t.r.root = dw_str_c(dir);
    assert_true(dw_rt_match_eval(noroot, &t.r));
    req_reset(&t, "GET", "/a.txt");
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    bool in_cwd = dw_rt_match_eval(noroot, &t.r);
    assert_int_equal(chdir(cwd), 0);
    assert_true(in_cwd);
    t_fini(&t);

    snprintf(p, sizeof(p), "%s/sub/index.html", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/sub", dir);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/only", dir);
    rmdir(p);
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    unlink(p);
    rmdir(dir);
}

static void test_MT_15_unknown_never_matches(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @u frobnicate x\n"
               "    @nu not frobnicate x\n"
               "    respond @u 200\n"
               "    respond @nu 200\n"
               "}\n");
    assert_false(match_req(&t, named(&t, "u"), "GET", "/"));
    assert_true(match_req(&t, named(&t, "nu"), "GET", "/"));
    t_fini(&t);
}

static void test_MT_16_empty_matcher_matches_all(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @a {}\n"
               "    respond @a 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "a");
    assert_true(match_req(&t, m, "GET", "/"));
    assert_true(match_req(&t, m, "DELETE", "/x/y?z"));
    t_fini(&t);
}

static void test_directive_matcher_tokens(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    respond /health \"ok\" 200\n"
               "    respond * \"all\" 200\n"
               "    respond \"none\" 200\n"
               "}\n");
    const dw_cfg_block_t *b = site_block(&t);
    dw_rt_match_t *m[3];
    dw_err_t err;
    assert_int_equal(b->ndirs, 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(dw_rt_match_compile(&t.sa, &b->dirs[i].match, &m[i], &err), DW_OK);
    assert_non_null(m[0]);
    assert_null(m[1]);
    assert_null(m[2]);
    assert_true(match_req(&t, m[0], "GET", "/health"));
    assert_true(match_req(&t, m[0], "GET", "/HEALTH"));
    assert_false(match_req(&t, m[0], "GET", "/healthz"));
    t_fini(&t);
}

/* No allocation on the request arena while matching conditions that need none. */
static void test_match_allocates_nothing(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @m {\n"
               "        path /api/*\n"
               "        host example.com\n"
               "        method GET\n"
               "        header X-A *b*\n"
               "        query k=v\n"
               "        remote_ip 192.0.2.0/24\n"
               "        protocol http\n"
               "    }\n"
               "    respond @m 200\n"
               "}\n");
    dw_rt_match_t *m = named(&t, "m");
    req_reset(&t, "GET", "/api/x?k=%76");
    add_header(&t, "X-A", "abc");
    char *p1 = dw_arena_alloc(&t.ra, 1);
    assert_true(dw_rt_match_eval(m, &t.r));
    char *p2 = dw_arena_alloc(&t.ra, 1);
    assert_ptr_equal(p2, p1 + alignof(max_align_t));
    t_fini(&t);
}

/* --- templates and placeholders (§7) ------------------------------------------------------- */

static void test_RT_81_placeholders(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    req_reset(&t, "GET", "/a/b.html?k=v%201&k=2&e=&flag");
    t.r.hostport = DW_STR("Example.com:8443");
    t.r.host = DW_STR("example.com");
    t.r.host_port = 8443;
    add_header(&t, "User-Agent", "curl/8");
    add_header(&t, "X-Multi", "a");
    add_header(&t, "x-multi", "b");
    add_header(&t, "Cookie", "a=1; c=\"quoted\"");
    add_header(&t, "Cookie", "b=2;c=3");
    t.r.tls_server_name = DW_STR("sni.example");
    t.r.tls_cipher = DW_STR("TLS_AES_128_GCM_SHA256");
    t.r.upstream_host = DW_STR("10.0.0.1");
    t.r.upstream_port = 9000;

    assert_ph(&t, "host", "example.com");
    assert_ph(&t, "http.request.host", "example.com");
    assert_ph(&t, "hostport", "Example.com:8443");
    assert_ph(&t, "http.request.hostport", "Example.com:8443");
    assert_ph(&t, "port", "8443");
    assert_ph(&t, "http.request.port", "8443");
    assert_ph(&t, "method", "GET");
    assert_ph(&t, "http.request.method", "GET");
    assert_ph(&t, "scheme", "http");
    assert_ph(&t, "http.request.scheme", "http");
    assert_ph(&t, "path", "/a/b.html");
    assert_ph(&t, "http.request.uri.path", "/a/b.html");
    assert_ph(&t, "dir", "/a");
    assert_ph(&t, "http.request.uri.path.dir", "/a");
    assert_ph(&t, "file.base", "b");
    assert_ph(&t, "http.request.uri.path.file.base", "b");
    assert_ph(&t, "file.ext", "html");
    assert_ph(&t, "http.request.uri.path.file.ext", "html");
    assert_ph(&t, "http.request.uri.path.0", "a");
    assert_ph(&t, "http.request.uri.path.1", "b.html");
    assert_ph(&t, "http.request.uri.path.2", "");
    assert_ph(&t, "http.request.uri.path.99999999999999999999999", "");
    assert_ph(&t, "http.request.uri.path.remainder", "/a/b.html");
    assert_ph(&t, "query", "k=v%201&k=2&e=&flag");
    assert_ph(&t, "http.request.uri.query", "k=v%201&k=2&e=&flag");
    assert_ph(&t, "query.k", "v 1");
    assert_ph(&t, "http.request.uri.query.k", "v 1");
    assert_ph(&t, "query.e", "");
    assert_ph(&t, "query.flag", "");
    assert_ph(&t, "query.none", "");
    assert_ph(&t, "uri", "/a/b.html?k=v%201&k=2&e=&flag");
    assert_ph(&t, "http.request.uri", "/a/b.html?k=v%201&k=2&e=&flag");
    assert_ph(&t, "http.request.orig_uri", "/a/b.html?k=v%201&k=2&e=&flag");
    assert_ph(&t, "remote_host", "192.0.2.10");
    assert_ph(&t, "remote_ip", "192.0.2.10");
    assert_ph(&t, "http.request.remote.host", "192.0.2.10");
    assert_ph(&t, "remote_port", "5555");
    assert_ph(&t, "http.request.remote.port", "5555");
    assert_ph(&t, "client_ip", "192.0.2.10");
    assert_ph(&t, "http.vars.client_ip", "192.0.2.10");
    assert_ph(&t, "header.User-Agent", "curl/8");
    assert_ph(&t, "http.request.header.user-agent", "curl/8");
    assert_ph(&t, "header.X-Multi", "a, b");
    assert_ph(&t, "header.Missing", "");
    assert_ph(&t, "cookie.a", "1");
    assert_ph(&t, "cookie.b", "2");
    assert_ph(&t, "cookie.c", "quoted"); /* the first one */
    assert_ph(&t, "http.request.cookie.a", "1");
    assert_ph(&t, "cookie.z", "");
    assert_ph(&t, "request_id", "0190a0a0-0000-7000-8000-000000000001");
    assert_ph(&t, "http.request.id", "0190a0a0-0000-7000-8000-000000000001");
    assert_ph(&t, "tls_server_name", "sni.example");
    assert_ph(&t, "http.request.tls.server_name", "sni.example");
    assert_ph(&t, "tls_cipher", "TLS_AES_128_GCM_SHA256");
    assert_ph(&t, "http.request.tls.cipher_suite", "TLS_AES_128_GCM_SHA256");
    assert_ph(&t, "upstream.host", "10.0.0.1");
    assert_ph(&t, "http.reverse_proxy.upstream.host", "10.0.0.1");
    assert_ph(&t, "upstream.port", "9000");
    assert_ph(&t, "http.reverse_proxy.upstream.port", "9000");
    assert_ph(&t, "http.error.status_code", "");
    t.r.error_status = 404;
    t.r.error_message = DW_STR("gone fishing");
    assert_ph(&t, "http.error.status_code", "404");
    assert_ph(&t, "http.error.status_text", "Not Found");
    assert_ph(&t, "http.error.message", "gone fishing");

    /* scheme, port from the listener, IPv6 host without brackets (decision 30) */
    req_reset(&t, "GET", "/");
    t.r.tls = true;
    t.r.local_port = 443;
    t.r.hostport = DW_STR("[::1]");
    t.r.host = DW_STR("::1");
    assert_ph(&t, "scheme", "https");
    assert_ph(&t, "port", "443");
    assert_ph(&t, "host", "::1");
    assert_ph(&t, "uri", "/");
    assert_ph(&t, "dir", "/");
    assert_ph(&t, "file.base", "");
    assert_ph(&t, "file.ext", "");
    assert_ph(&t, "http.request.uri.path.0", "");
    assert_ph(&t, "tls_server_name", "");
    assert_ph(&t, "upstream.port", "");
    req_reset(&t, "GET", "/x/");
    assert_ph(&t, "dir", "/x");
    assert_ph(&t, "file.base", "");
    req_reset(&t, "GET", "/archive.tar.gz");
    assert_ph(&t, "dir", "/");
    assert_ph(&t, "file.base", "archive.tar");
    assert_ph(&t, "file.ext", "gz");
    /* {path} is the normalised path; {uri} keeps the raw one */
    req_reset(&t, "GET", "/a/../b%20c?x");
    assert_ph(&t, "path", "/b c");
    assert_ph(&t, "uri", "/a/../b%20c?x");
    req_reset(&t, "GET", "/p?");
    assert_ph(&t, "uri", "/p?");
    t_fini(&t);
}

static void test_uri_after_rewrite(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    req_reset(&t, "GET", "/old?a=1");
    assert_int_equal(dw_req_set_uri(&t.r, DW_STR("/new/./x"), DW_STR("b=2"), true), 0);
    assert_true(t.r.uri_changed);
    assert_ph(&t, "uri", "/new/./x?b=2");
    assert_ph(&t, "path", "/new/x");
    assert_ph(&t, "http.request.orig_uri", "/old?a=1");
    assert_int_equal(dw_req_set_uri(&t.r, DW_STR("/only"), DW_STR(""), false), 0);
    assert_ph(&t, "uri", "/only");
    assert_ph(&t, "query", "");
    /* a path above the root is refused and leaves the URI alone */
    assert_int_equal(dw_req_set_uri(&t.r, DW_STR("/../x"), DW_STR(""), false), -1);
    assert_ph(&t, "path", "/only");
    t_fini(&t);
}

static void test_RT_55_remainder(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    @b path /nothing /blog/*\n"
               "    @p path /pre*\n"
               "    redir @b /articles{http.request.uri.path.remainder} 301\n"
               "    respond @p 200\n"
               "}\n");
    dw_rt_match_t *b = named(&t, "b"), *p = named(&t, "p");
    assert_true(match_req(&t, b, "GET", "/blog/a/b"));
    assert_str(render(&t, "/articles{http.request.uri.path.remainder}"), "/articles/a/b");
    assert_true(match_req(&t, b, "GET", "/blog/"));
    assert_ph(&t, "http.request.uri.path.remainder", "/");
    assert_true(match_req(&t, p, "GET", "/prefix/y"));
    assert_ph(&t, "http.request.uri.path.remainder", "/fix/y");
    /* no trailing-`*` pattern: the whole path */
    req_reset(&t, "GET", "/x/y");
    assert_ph(&t, "http.request.uri.path.remainder", "/x/y");
    t_fini(&t);
}

static void test_RT_76_vars(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    assert_null(dw_req_var(&t.r, DW_STR("region")));
    dw_req_set_var(&t.r, DW_STR("region"), DW_STR("us"));
    dw_req_set_var(&t.r, DW_STR("region"), DW_STR("eu")); /* later definitions win */
    dw_req_set_var(&t.r, DW_STR("path"), DW_STR("shadowed"));
    assert_int_equal(t.r.nvars, 2);
    assert_str(*dw_req_var(&t.r, DW_STR("region")), "eu");
    assert_ph(&t, "vars.region", "eu");
    assert_ph(&t, "http.vars.region", "eu");
    assert_ph(&t, "region", "eu"); /* bare name of a declared variable */
    assert_ph(&t, "path", "/");    /* built-ins win over variables */
    assert_ph(&t, "vars.path", "shadowed");
    assert_ph(&t, "vars.unset", "");
    dw_req_set_var(&t.r, DW_STR("client_ip"), DW_STR("set"));
    assert_ph(&t, "http.vars.client_ip", "set");
    dw_str_t v;
    assert_false(dw_placeholder_value(&t.r, DW_STR("nonexistent"), &v));
    assert_true(dw_placeholder_value(&t.r, DW_STR("region"), &v));
    assert_str(v, "eu");
    t_fini(&t);
}

static void test_RT_80_template_syntax(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    req_reset(&t, "GET", "/p");
    dw_str_t plain = DW_STR("no placeholders here");
    dw_str_t out = dw_tpl_render(&t.r, plain);
    assert_ptr_equal(out.ptr, plain.ptr); /* returned as is */
    assert_str(render(&t, "{\"a\":1}"), "{\"a\":1}");
    assert_str(render(&t, "{}"), "{}");
    assert_str(render(&t, "{path"), "{path");
    assert_str(render(&t, "{a b}"), "{a b}");
    assert_str(render(&t, "\\{path}"), "{path}");
    assert_str(render(&t, "a\\b{path}"), "a\\b/p");
    assert_str(render(&t, "{nonexistent}x"), "x");
    assert_str(render(&t, "[{method} {path}]"), "[GET /p]");
    assert_str(render(&t, "{{path}}"), "{/p}");
    assert_str(render(&t, "{method}{method}{method}{method}{method}{method}{method}{method}"
                          "{method}{method}{method}{method}{method}{method}{method}{method}"
                          "{method}{method}{method}{method}"),
               "GETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGETGET");
    /* one placeholder renders to the value's own view */
    add_header(&t, "X-A", "value");
    out = render(&t, "{header.X-A}");
    assert_ptr_equal(out.ptr, t.r.headers.v[0].value.ptr);
    t_fini(&t);
}

static void test_RT_56_crlf_removed(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, NULL);
    req_reset(&t, "GET", "/");
    add_header(&t, "X-Evil", "a\r\nSet-Cookie: x=1\n");
    assert_str(dw_tpl_render(&t.r, DW_STR("v={header.X-Evil}")), "v=a\r\nSet-Cookie: x=1\n");
    assert_str(dw_tpl_render_header(&t.r, DW_STR("v={header.X-Evil}")), "v=aSet-Cookie: x=1");
    assert_str(dw_tpl_render_header(&t.r, DW_STR("{header.X-Evil}")), "aSet-Cookie: x=1");
    assert_str(t.r.headers.v[0].value, "a\r\nSet-Cookie: x=1\n"); /* the source is untouched */
    t_fini(&t);
}

/* --- header operations (§6.15-6.16) ------------------------------------------------------ */

static dw_str_t field(const dw_fields_t *f, const char *name)
{
    const dw_field_t *x = dw_fields_get(f, dw_str_c(name));
    return x ? x->value : DW_STR("<absent>");
}

static size_t count_fields(const dw_fields_t *f, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < f->n; i++) n += dw_str_caseeq_c(f->v[i].name, name);
    return n;
}

static void test_RT_72_header_ops(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    header {\n"
               "        X-Set one\n"
               "        +X-Add {method}\n"
               "        ?X-Absent three\n"
               "        ?X-Here nope\n"
               "        -X-Del\n"
               "        -X-Pre*\n"
               "        X-Rep old {path}\n"
               "        X-Evil \"{header.X-In}\"\n"
               "    }\n"
               "}\n");
    const dw_cfg_directive_t *d = directive(&t, DW_DIR_HEADER, 0);
    req_reset(&t, "GET", "/p");
    add_header(&t, "X-In", "a\r\nb");
    dw_fields_t resp = {0};
    dw_arena_t *a = &t.ra;
    dw_fields_add(a, &resp, DW_STR("x-set"), DW_STR("1"));
    dw_fields_add(a, &resp, DW_STR("X-Add"), DW_STR("first"));
    dw_fields_add(a, &resp, DW_STR("X-SET"), DW_STR("2"));
    dw_fields_add(a, &resp, DW_STR("X-Here"), DW_STR("kept"));
    dw_fields_add(a, &resp, DW_STR("x-del"), DW_STR("gone"));
    dw_fields_add(a, &resp, DW_STR("X-Prefixed"), DW_STR("gone"));
    dw_fields_add(a, &resp, DW_STR("x-pre-2"), DW_STR("gone"));
    dw_fields_add(a, &resp, DW_STR("X-Pr"), DW_STR("stays"));
    dw_fields_add(a, &resp, DW_STR("X-Rep"), DW_STR("old-old-x"));
    dw_fields_add(a, &resp, DW_STR("x-rep"), DW_STR("oldold"));
    dw_fields_add(a, &resp, DW_STR("X-Other"), DW_STR("old"));
    dw_hdr_ops_apply(&t.r, &resp, &d->u.header.ops);

    assert_int_equal(count_fields(&resp, "X-Set"), 1);
    assert_str(field(&resp, "X-Set"), "one");
    assert_str(resp.v[0].value, "one"); /* SET keeps the first one's position */
    assert_int_equal(count_fields(&resp, "X-Add"), 2);
    assert_str(field(&resp, "X-Add"), "first");
    assert_str(field(&resp, "X-Absent"), "three");
    assert_str(field(&resp, "X-Here"), "kept");
    assert_int_equal(count_fields(&resp, "X-Del"), 0);
    assert_int_equal(count_fields(&resp, "X-Prefixed"), 0);
    assert_int_equal(count_fields(&resp, "X-Pre-2"), 0);
    assert_str(field(&resp, "X-Pr"), "stays");
    assert_str(field(&resp, "X-Rep"), "/p-/p-x");
    assert_str(field(&resp, "X-Other"), "old");
    assert_str(field(&resp, "X-Evil"), "ab");
    bool saw_second = false;
    for (size_t i = 0; i < resp.n; i++)
        if (dw_str_eq_c(resp.v[i].name, "x-rep")) saw_second = dw_str_eq_c(resp.v[i].value, "/p/p");
    assert_true(saw_second);
    dw_str_t last_add = DW_STR("");
    for (size_t i = 0; i < resp.n; i++)
        if (dw_str_caseeq_c(resp.v[i].name, "X-Add")) last_add = resp.v[i].value;
    assert_str(last_add, "GET");
    t_fini(&t);
}

static void test_RT_74_request_header(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    request_header X-Real {remote_host}\n"
               "    request_header -Cookie\n"
               "    request_header +X-A 2\n"
               "}\n");
    req_reset(&t, "GET", "/");
    add_header(&t, "Cookie", "a=1");
    add_header(&t, "cookie", "b=2");
    add_header(&t, "X-A", "1");
    for (size_t i = 0; i < 3; i++)
        dw_hdr_ops_apply(&t.r, &t.r.headers,
                         &directive(&t, DW_DIR_REQUEST_HEADER, i)->u.header.ops);
    assert_str(field(&t.r.headers, "X-Real"), "192.0.2.10");
    assert_int_equal(count_fields(&t.r.headers, "Cookie"), 0);
    assert_int_equal(count_fields(&t.r.headers, "X-A"), 2);
    assert_ph(&t, "header.X-A", "1, 2");
    t_fini(&t);
}

static void test_fields(void **state)
{
    (void)state;
    dw_arena_t a;
    dw_arena_init(&a, 256);
    dw_fields_t f = {0};
    for (int i = 0; i < 20; i++)
        dw_fields_add(&a, &f, i % 2 ? DW_STR("A") : DW_STR("b"), DW_STR("v"));
    assert_int_equal(f.n, 20);
    assert_non_null(dw_fields_get(&f, DW_STR("B")));
    assert_null(dw_fields_get(&f, DW_STR("c")));
    assert_int_equal(dw_fields_del(&f, DW_STR("a")), 10);
    assert_int_equal(f.n, 10);
    dw_fields_set(&a, &f, DW_STR("B"), DW_STR("one"));
    assert_int_equal(f.n, 1);
    assert_str(f.v[0].value, "one");
    dw_fields_set(&a, &f, DW_STR("c"), DW_STR("new"));
    assert_int_equal(f.n, 2);
    assert_str(f.v[1].value, "new");
    assert_int_equal(dw_fields_del(&f, DW_STR("zz")), 0);
    dw_arena_deinit(&a);
}

/* --- map (§6.19) -------------------------------------------------------------------------------
 */

static dw_rt_map_t *compile_map(t_t *t, size_t nth)
{
    const dw_cfg_directive_t *d = directive(t, DW_DIR_MAP, nth);
    dw_rt_map_t *m = NULL;
    dw_err_t err;
    assert_int_equal(dw_rt_map_compile(&t->sa, &d->u.map, &m, &err), DW_OK);
    assert_non_null(m);
    return m;
}

static void test_RT_77_map_exact(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    map {query.mode} {vars.ttl} {\n"
               "        fast 30\n"
               "        slow 3600\n"
               "        default 300\n"
               "    }\n"
               "    header X-TTL {vars.ttl}\n"
               "}\n");
    dw_rt_map_t *m = compile_map(&t, 0);
    const struct {
        const char *target, *want;
    } cases[] = {
        {"/?mode=fast", "30"}, {"/?mode=SLOW", "3600"}, {"/?mode=other", "300"}, {"/", "300"}};
    for (size_t i = 0; i < DW_ARRAY_LEN(cases); i++) {
        req_reset(&t, "GET", cases[i].target);
        dw_rt_map_eval(m, &t.r);
        assert_ph(&t, "vars.ttl", cases[i].want);
        assert_ph(&t, "ttl", cases[i].want);
    }
    t_fini(&t);
}

static void test_RT_78_map_regex(void **state)
{
    (void)state;
    t_t t;
    t_init(&t, "example.com {\n"
               "    map {path} s {\n"
               "        ~/blog/.* blog\n"
               "        default root\n"
               "    }\n"
               "    map {path} n {\n"
               "        ~/a|/ab x-{method}\n"
               "        ~/C exact\n"
               "    }\n"
               "    header X-S {vars.s}-{vars.n}\n"
               "}\n");
    dw_rt_map_t *s = compile_map(&t, 0), *n = compile_map(&t, 1);
    req_reset(&t, "GET", "/blog/x");
    dw_rt_map_eval(s, &t.r);
    assert_ph(&t, "vars.s", "blog");
    req_reset(&t, "GET", "/BLOG/x"); /* case-insensitive */
    dw_rt_map_eval(s, &t.r);
    assert_ph(&t, "vars.s", "blog");
    req_reset(&t, "GET", "/x/blog/x"); /* the whole string must match */
    dw_rt_map_eval(s, &t.r);
    assert_ph(&t, "vars.s", "root");

    req_reset(&t, "GET", "/ab"); /* alternation still has to reach the end */
    dw_rt_map_eval(n, &t.r);
    assert_ph(&t, "vars.n", "x-GET");
    req_reset(&t, "GET", "/c");
    dw_rt_map_eval(n, &t.r);
    assert_ph(&t, "vars.n", "exact");
    req_reset(&t, "GET", "/c/d"); /* no default, no hit: empty */
    dw_req_set_var(&t.r, DW_STR("n"), DW_STR("stale"));
    dw_rt_map_eval(n, &t.r);
    assert_non_null(dw_req_var(&t.r, DW_STR("n")));
    assert_ph(&t, "vars.n", "");
    t_fini(&t);
}

static void test_http_reason(void **state)
{
    (void)state;
    assert_string_equal(dw_http_reason(200), "OK");
    assert_string_equal(dw_http_reason(404), "Not Found");
    assert_string_equal(dw_http_reason(502), "Bad Gateway");
    assert_string_equal(dw_http_reason(308), "Permanent Redirect");
    assert_string_equal(dw_http_reason(100), "Continue");
    assert_string_equal(dw_http_reason(511), "Network Authentication Required");
    assert_string_equal(dw_http_reason(299), "");
    assert_string_equal(dw_http_reason(0), "");
    assert_string_equal(dw_http_reason(-1), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_RT_06_path_patterns),
        cmocka_unit_test(test_RT_05_path_case_insensitive),
        cmocka_unit_test(test_path_pattern_prefix),
        cmocka_unit_test(test_glob_matches_reference),
        cmocka_unit_test(test_glob_long_input_is_fast),
        cmocka_unit_test(test_path_normalize),
        cmocka_unit_test(test_percent_decode),
        cmocka_unit_test(test_matcher_ref_kinds),
        cmocka_unit_test(test_MT_01_path_and_method),
        cmocka_unit_test(test_MT_02_path_any_of),
        cmocka_unit_test(test_MT_03_inline_equals_block),
        cmocka_unit_test(test_MT_04_path_regexp_captures),
        cmocka_unit_test(test_MT_04_regexp_in_threads),
        cmocka_unit_test(test_MT_05_host),
        cmocka_unit_test(test_MT_06_header),
        cmocka_unit_test(test_MT_07_header_regexp),
        cmocka_unit_test(test_MT_08_query),
        cmocka_unit_test(test_MT_09_protocol),
        cmocka_unit_test(test_MT_10_remote_ip),
        cmocka_unit_test(test_MT_11_client_ip),
        cmocka_unit_test(test_MT_12_not),
        cmocka_unit_test(test_MT_13_expression),
        cmocka_unit_test(test_MT_14_file),
        cmocka_unit_test(test_MT_15_unknown_never_matches),
        cmocka_unit_test(test_MT_16_empty_matcher_matches_all),
        cmocka_unit_test(test_directive_matcher_tokens),
        cmocka_unit_test(test_match_allocates_nothing),
        cmocka_unit_test(test_RT_81_placeholders),
        cmocka_unit_test(test_uri_after_rewrite),
        cmocka_unit_test(test_RT_55_remainder),
        cmocka_unit_test(test_RT_76_vars),
        cmocka_unit_test(test_RT_80_template_syntax),
        cmocka_unit_test(test_RT_56_crlf_removed),
        cmocka_unit_test(test_RT_72_header_ops),
        cmocka_unit_test(test_RT_74_request_header),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_RT_77_map_exact),
        cmocka_unit_test(test_RT_78_map_regex),
        cmocka_unit_test(test_http_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
