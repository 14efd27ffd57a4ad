/* Compiled matchers (spec 10 §5) and `map` (§6.19). Compilation happens once per snapshot and
 * does the expensive parts (regex compile and JIT); evaluation reads the request, allocates
 * only to keep regex captures, and takes no locks. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "match.h"
#include <dwaar/base/parse.h>
#include <pcre2.h>
#include <pthread.h>
#include <sys/stat.h>

/* --- regexes ------------------------------------------------------------------------------ */

/* Capture pairs kept per match; groups past this are not recorded ({re.x.N} is then empty). */
#define MD_PAIRS 64

typedef struct rt_re {
    pcre2_code *code;
    bool jit;
    uint32_t ngroups; /* whole match + capturing groups, capped at MD_PAIRS */
} rt_re_t;

/* One match-data block per thread, reused by every match: nothing is allocated per request
 * for matching itself, and no lock is needed. A thread-specific key frees it when a worker
 * thread exits, so short-lived threads do not leak it. */
static _Thread_local pcre2_match_data *tl_md;
static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static pthread_key_t md_key;
static bool md_key_ok;

static void md_destroy(void *md)
{
    pcre2_match_data_free(md);
    tl_md = NULL;
}

static void md_key_init(void)
{
    md_key_ok = pthread_key_create(&md_key, md_destroy) == 0;
}

static pcre2_match_data *thread_md(void)
{
    if (DW_LIKELY(tl_md)) return tl_md;
    tl_md = pcre2_match_data_create(MD_PAIRS, NULL);
    pthread_once(&md_once, md_key_init);
    if (tl_md && md_key_ok) pthread_setspecific(md_key, tl_md);
    return tl_md;
}

void dw_match_thread_cleanup(void)
{
    pthread_once(&md_once, md_key_init);
    if (md_key_ok) pthread_setspecific(md_key, NULL);
    pcre2_match_data_free(tl_md);
    tl_md = NULL;
}

static void free_code(void *p)
{
    pcre2_code_free(p);
}

static int compile_re(dw_arena_t *a, dw_str_t re, uint32_t opts, rt_re_t *out, dw_err_t *err)
{
    int code;
    PCRE2_SIZE off;
    /* bytes, not UTF: paths and header values are arbitrary octets */
    pcre2_code *c =
        pcre2_compile((PCRE2_SPTR)(re.ptr ? re.ptr : ""), re.len, opts, &code, &off, NULL);
    if (!c) {
        if (code == PCRE2_ERROR_NOMEMORY) return dw_err_set(err, DW_ENOMEM, "out of memory");
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return dw_err_set(err, DW_EINVAL, "invalid regular expression '%.*s': %s at offset %zu",
                          DW_STR_FMT(re), (const char *)msg, (size_t)off);
    }
    if (dw_arena_on_cleanup(a, free_code, c) != 0) {
        pcre2_code_free(c);
        return dw_err_set(err, DW_ENOMEM, "out of memory");
    }
    /* JIT is an optimisation: without it (unsupported CPU, no executable memory) the
     * interpreter gives the same answers */
    out->jit = pcre2_jit_compile(c, PCRE2_JIT_COMPLETE) == 0;
    uint32_t cc = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &cc);
    out->ngroups = cc + 1 < MD_PAIRS ? cc + 1 : MD_PAIRS;
    out->code = c;
    return DW_OK;
}

/* >= 0 on a match (pcre2's count of set pairs, 0 when the ovector was too small). */
static int re_exec(const rt_re_t *re, dw_str_t s, pcre2_match_data *md)
{
    PCRE2_SPTR subj = (PCRE2_SPTR)(s.ptr ? s.ptr : "");
    if (re->jit) return pcre2_jit_match(re->code, subj, s.len, 0, 0, md, NULL);
    return pcre2_match(re->code, subj, s.len, 0, 0, md, NULL);
}

/* Keeps the groups of a match as views into the subject, which lives as long as the request
 * (the read buffer or the request arena). */
static void record_captures(dw_req_t *r, dw_str_t name, const rt_re_t *re, dw_str_t s,
                            pcre2_match_data *md, int rc)
{
    size_t n = re->ngroups;
    dw_str_t *g = dw_arena_alloc(r->arena, n * sizeof(*g));
    if (!g) return;
    dw_re_captures_t *cap = DW_ARENA_PUSH(r->arena, r->captures, r->ncaptures, r->captures_cap);
    if (!cap) return;
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t set = rc > 0 ? (size_t)rc : n;
    for (size_t i = 0; i < n; i++) {
        PCRE2_SIZE b = ov[2 * i], e = ov[2 * i + 1];
        if (i < set && b != PCRE2_UNSET && e >= b && e <= s.len)
            g[i] = dw_str_make(s.ptr + b, e - b);
        else
            g[i] = DW_STR("");
    }
    cap->name = name;
    cap->groups = g;
    cap->ngroups = n;
}

/* --- compiled form ------------------------------------------------------------------------ */

typedef struct rt_cond {
    const dw_cfg_cond_t *c;
    rt_re_t re;          /* PATH_REGEXP, HEADER_REGEXP */
    struct rt_cond *sub; /* NOT: the inner conditions */
    size_t nsub;
} rt_cond_t;

struct dw_rt_match {
    bool is_path;    /* a bare path pattern token */
    dw_str_t path;   /* its pattern */
    dw_str_t prefix; /* its literal prefix when it is a trailing-`*` pattern */
    rt_cond_t *conds;
    size_t nconds;
};

static int compile_conds(dw_arena_t *a, const dw_cfg_cond_t *src, size_t n, rt_cond_t **out,
                         dw_err_t *err, int depth)
{
    if (depth > DW_CFG_NOT_MAX_DEPTH + 1)
        return dw_err_set(err, DW_EINVAL, "'not' conditions nested too deeply");
    rt_cond_t *v = dw_arena_zalloc(a, (n ? n : 1) * sizeof(*v));
    if (!v) return dw_err_set(err, DW_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const dw_cfg_cond_t *c = &src[i];
        v[i].c = c;
        int rc = DW_OK;
        switch (c->kind) {
        case DW_COND_PATH_REGEXP:
        case DW_COND_HEADER_REGEXP: rc = compile_re(a, c->u.regexp.re, 0, &v[i].re, err); break;
        case DW_COND_NOT:
            rc = compile_conds(a, c->u.negate.conds, c->u.negate.nconds, &v[i].sub, err, depth + 1);
            v[i].nsub = c->u.negate.nconds;
            break;
        default: break;
        }
        if (rc != DW_OK) return rc;
    }
    *out = v;
    return DW_OK;
}

int dw_rt_match_compile(dw_arena_t *a, const dw_cfg_match_ref_t *ref, dw_rt_match_t **out,
                        dw_err_t *err)
{
    *out = NULL;
    if (!ref || ref->kind == DW_MATCH_NONE || ref->kind == DW_MATCH_ALL) return DW_OK;
    if (ref->kind != DW_MATCH_PATH && ref->kind != DW_MATCH_NAMED)
        return dw_err_set(err, DW_EINVAL, "unknown matcher kind %u", ref->kind);
    if (ref->kind == DW_MATCH_NAMED && !ref->def)
        return dw_err_set(err, DW_EINVAL, "matcher '@%.*s' is not defined", DW_STR_FMT(ref->text));
    dw_rt_match_t *m = dw_arena_zalloc(a, sizeof(*m));
    if (!m) return dw_err_set(err, DW_ENOMEM, "out of memory");
    if (ref->kind == DW_MATCH_PATH) {
        m->is_path = true;
        m->path = ref->text;
        m->prefix = dw_path_pattern_prefix(ref->text);
    } else {
        int rc = compile_conds(a, ref->def->conds, ref->def->nconds, &m->conds, err, 0);
        if (rc != DW_OK) return rc;
        m->nconds = ref->def->nconds;
    }
    *out = m;
    return DW_OK;
}

/* --- IP ranges ------------------------------------------------------------------------------ */

static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned bits)
{
    unsigned full = bits / 8, rem = bits % 8;
    if (full && memcmp(a, b, full) != 0) return false;
    if (rem == 0) return true;
    uint8_t mask = (uint8_t)(0xFFu << (8 - rem));
    return (a[full] & mask) == (b[full] & mask);
}

bool dw_ip_in_cidrs(const dw_ip_t *ip, const dw_cfg_cidrs_t *ranges)
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (!ip || !ranges || (ip->family != 4 && ip->family != 6)) return false;
    const uint8_t *a4 = NULL, *a6 = NULL;
    uint8_t mapped[16];
    if (ip->family == 4) {
        a4 = ip->addr;
        memcpy(mapped, v4mapped, 12);
        memcpy(mapped + 12, ip->addr, 4);
        a6 = mapped; /* so ::ffff:0:0/96 style ranges still see it */
    } else {
        a6 = ip->addr;
        if (memcmp(ip->addr, v4mapped, 12) == 0) a4 = ip->addr + 12;
    }
    for (size_t i = 0; i < ranges->n; i++) {
        const dw_cfg_cidr_t *c = &ranges->v[i];
        if (c->family == 4) {
            if (a4 && prefix_eq(a4, c->addr, c->prefix > 32 ? 32 : c->prefix)) return true;
        } else if (c->family == 6) {
            if (prefix_eq(a6, c->addr, c->prefix > 128 ? 128 : c->prefix)) return true;
        }
    }
    return false;
}

/* --- conditions ----------------------------------------------------------------------------- */

/* Host labels compared one by one; a `*` label is exactly one non-empty label. */
static bool host_match(dw_str_t pat, dw_str_t host)
{
    if (dw_str_chr(pat, '*') < 0) return dw_str_caseeq(pat, host);
    size_t i = 0, j = 0;
    for (;;) {
        size_t pe = i, he = j;
        while (pe < pat.len && pat.ptr[pe] != '.') pe++;
        while (he < host.len && host.ptr[he] != '.') he++;
        dw_str_t pl = dw_str_sub(pat, i, pe - i), hl = dw_str_sub(host, j, he - j);
        if (pl.len == 1 && pl.ptr[0] == '*') {
            if (hl.len == 0) return false;
        } else if (!dw_str_caseeq(pl, hl)) {
            return false;
        }
        bool pend = pe >= pat.len, hend = he >= host.len;
        if (pend || hend) return pend && hend;
        i = pe + 1, j = he + 1;
    }
}

static bool header_value_match(const dw_cfg_header_value_t *hv, dw_str_t v)
{
    switch (hv->match) {
    case DW_VMATCH_PRESENT: return true;
    case DW_VMATCH_PREFIX: return dw_str_has_prefix(v, hv->text);
    case DW_VMATCH_SUFFIX: return dw_str_has_suffix(v, hv->text);
    case DW_VMATCH_SUBSTRING: return dw_str_find(v, hv->text) >= 0;
    default: return dw_str_eq(v, hv->text);
    }
}

static bool header_cond(const dw_cfg_cond_t *c, const dw_req_t *r)
{
    for (size_t i = 0; i < r->headers.n; i++) {
        const dw_field_t *f = &r->headers.v[i];
        if (!dw_str_caseeq(f->name, c->u.header.field)) continue;
        if (c->u.header.nvalues == 0) return true; /* present, even empty (decision 37) */
        for (size_t k = 0; k < c->u.header.nvalues; k++)
            if (header_value_match(&c->u.header.values[k], f->value)) return true;
    }
    return false;
}

static bool query_cond(const dw_cfg_cond_t *c, const dw_req_t *r)
{
    for (size_t k = 0; k < c->u.query.npairs; k++) {
        const dw_cfg_query_pair_t *want = &c->u.query.pairs[k];
        bool found = false;
        dw_str_t q = r->query;
        while (q.len && !found) {
            ptrdiff_t amp = dw_str_chr(q, '&');
            size_t n = amp < 0 ? q.len : (size_t)amp;
            dw_str_t pair = dw_str_sub(q, 0, n);
            q = dw_str_sub(q, amp < 0 ? q.len : n + 1, q.len);
            if (pair.len == 0) continue;
            ptrdiff_t eq = dw_str_chr(pair, '=');
            dw_str_t key = eq < 0 ? pair : dw_str_sub(pair, 0, (size_t)eq);
            dw_str_t val = eq < 0 ? DW_STR("") : dw_str_sub(pair, (size_t)eq + 1, pair.len);
            if (dw_percent_eq(key, want->key) && (want->any || dw_percent_eq(val, want->value)))
                found = true;
        }
        if (!found) return false;
    }
    return true;
}

static bool protocol_cond(uint8_t proto, const dw_req_t *r)
{
    switch (proto) {
    case DW_PROTO_HTTP: return !r->tls;
    case DW_PROTO_HTTPS: return r->tls;
    case DW_PROTO_GRPC: {
        const dw_field_t *ct = dw_fields_get(&r->headers, DW_STR("Content-Type"));
        dw_str_t g = DW_STR("application/grpc");
        return ct && ct->value.len >= g.len && dw_str_caseeq(dw_str_make(ct->value.ptr, g.len), g);
    }
    case DW_PROTO_HTTP1: return r->http_version == 10 || r->http_version == 11;
    case DW_PROTO_HTTP2: return r->http_version == 20;
    case DW_PROTO_HTTP3: return r->http_version == 30;
    default: return false;
    }
}

static bool regexp_cond(const rt_cond_t *rc, dw_req_t *r)
{
    pcre2_match_data *md = thread_md();
    if (!md) return false;
    const dw_cfg_cond_t *c = rc->c;
    if (c->kind == DW_COND_PATH_REGEXP) {
        int n = re_exec(&rc->re, r->npath, md);
        if (n < 0) return false;
        record_captures(r, c->u.regexp.name, &rc->re, r->npath, md, n);
        return true;
    }
    for (size_t i = 0; i < r->headers.n; i++) {
        const dw_field_t *f = &r->headers.v[i];
        if (!dw_str_caseeq(f->name, c->u.regexp.field)) continue;
        int n = re_exec(&rc->re, f->value, md);
        if (n < 0) continue;
        record_captures(r, c->u.regexp.name, &rc->re, f->value, md, n);
        return true;
    }
    return false;
}

/* --- expression ------------------------------------------------------------------------------ */

/* An operand's text, and its integer value when it has one. */
static dw_str_t expr_operand(dw_req_t *r, const dw_cfg_expr_t *x, char *buf, size_t cap,
                             int64_t *num, bool *is_num)
{
    dw_str_t v = DW_STR("");
    switch (x->kind) {
    case DW_EXPR_INT: {
        int n = snprintf(buf, cap, "%lld", (long long)x->num);
        *num = x->num;
        *is_num = true;
        return dw_str_make(buf, n > 0 ? (size_t)n : 0);
    }
    case DW_EXPR_STRING: v = x->text; break;
    case DW_EXPR_PLACEHOLDER:
        if (!dw_placeholder_value(r, x->text, &v)) v = DW_STR("");
        break;
    default: break;
    }
    *is_num = v.len && dw_parse_i64(v, num) == DW_OK;
    return v;
}

static bool expr_true(dw_req_t *r, const dw_cfg_expr_t *x, int depth)
{
    /* the loader bounds the depth; this only guards against a hand-built model */
    if (!x || depth > 4 * DW_CFG_EXPR_MAX_DEPTH) return false;
    switch (x->kind) {
    case DW_EXPR_NOT: return x->nargs == 1 && !expr_true(r, &x->args[0], depth + 1);
    case DW_EXPR_AND:
        for (size_t i = 0; i < x->nargs; i++)
            if (!expr_true(r, &x->args[i], depth + 1)) return false;
        return true;
    case DW_EXPR_OR:
        for (size_t i = 0; i < x->nargs; i++)
            if (expr_true(r, &x->args[i], depth + 1)) return true;
        return false;
    case DW_EXPR_EQ:
    case DW_EXPR_NE:
    case DW_EXPR_LT:
    case DW_EXPR_LE:
    case DW_EXPR_GT:
    case DW_EXPR_GE: {
        if (x->nargs != 2) return false;
        char b1[24], b2[24];
        int64_t n1 = 0, n2 = 0;
        bool i1 = false, i2 = false;
        dw_str_t s1 = expr_operand(r, &x->args[0], b1, sizeof(b1), &n1, &i1);
        dw_str_t s2 = expr_operand(r, &x->args[1], b2, sizeof(b2), &n2, &i2);
        int cmp;
        if (i1 && i2) {
            cmp = n1 < n2 ? -1 : n1 > n2;
        } else {
            size_t n = s1.len < s2.len ? s1.len : s2.len;
            cmp = n ? memcmp(s1.ptr, s2.ptr, n) : 0;
            if (cmp == 0) cmp = s1.len < s2.len ? -1 : s1.len > s2.len;
        }
        switch (x->kind) {
        case DW_EXPR_EQ: return cmp == 0;
        case DW_EXPR_NE: return cmp != 0;
        case DW_EXPR_LT: return cmp < 0;
        case DW_EXPR_LE: return cmp <= 0;
        case DW_EXPR_GT: return cmp > 0;
        default: return cmp >= 0;
        }
    }
    default: return false; /* a bare operand is not a condition */
    }
}

/* --- file ------------------------------------------------------------------------------------ */

/* A rendered try_files entry is usable when it has no NUL and no `..` segment. */
static bool safe_rel(dw_str_t f)
{
    if (f.len == 0 || memchr(f.ptr, '\0', f.len)) return false;
    size_t i = 0;
    while (i < f.len) {
        size_t st = i;
        while (i < f.len && f.ptr[i] != '/') i++;
        if (i - st == 2 && f.ptr[st] == '.' && f.ptr[st + 1] == '.') return false;
        i++;
    }
    return true;
}

static bool file_cond(const dw_cfg_cond_t *c, dw_req_t *r)
{
    dw_str_t root = c->u.file.root.len ? c->u.file.root : r->root.len ? r->root : DW_STR(".");
    while (root.len > 1 && root.ptr[root.len - 1] == '/') root.len--;
    for (size_t i = 0; i < c->u.file.try_files.n; i++) {
        dw_str_t f = dw_tpl_render(r, c->u.file.try_files.v[i]);
        if (!safe_rel(f)) continue;
        /* an entry ending in '/' asks for a directory (as in Caddy's try_files) */
        bool want_dir = f.ptr[f.len - 1] == '/';
        while (f.len && f.ptr[0] == '/') f.ptr++, f.len--;
        char *p = dw_arena_alloc(r->arena, root.len + f.len + 2);
        if (!p) return false;
        memcpy(p, root.ptr, root.len);
        size_t n = root.len;
        if (!(n == 1 && p[0] == '/')) p[n++] = '/';
        memcpy(p + n, f.ptr, f.len);
        p[n + f.len] = '\0';
        struct stat st;
        if (stat(p, &st) == 0 && (want_dir ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode)))
            return true;
    }
    return false;
}

/* --- evaluation ------------------------------------------------------------------------------ */

static bool eval_conds(const rt_cond_t *v, size_t n, dw_req_t *r);

static bool eval_cond(const rt_cond_t *rc, dw_req_t *r)
{
    const dw_cfg_cond_t *c = rc->c;
    switch (c->kind) {
    case DW_COND_PATH:
        for (size_t i = 0; i < c->u.paths.n; i++) {
            dw_str_t pat = c->u.paths.v[i];
            if (!dw_path_pattern_match(pat, r->npath)) continue;
            dw_str_t pre = dw_path_pattern_prefix(pat);
            if (pre.len) r->remainder_prefix = pre;
            return true;
        }
        return false;
    case DW_COND_PATH_REGEXP:
    case DW_COND_HEADER_REGEXP: return regexp_cond(rc, r);
    case DW_COND_HOST:
        for (size_t i = 0; i < c->u.hosts.n; i++)
            if (host_match(c->u.hosts.v[i], r->host)) return true;
        return false;
    case DW_COND_METHOD:
        for (size_t i = 0; i < c->u.methods.n; i++)
            if (dw_str_eq(c->u.methods.v[i], r->method)) return true;
        return false;
    case DW_COND_HEADER: return header_cond(c, r);
    case DW_COND_QUERY: return query_cond(c, r);
    case DW_COND_PROTOCOL: return protocol_cond(c->u.protocol, r);
    case DW_COND_REMOTE_IP: return dw_ip_in_cidrs(&r->peer, &c->u.ranges);
    case DW_COND_CLIENT_IP: return dw_ip_in_cidrs(dw_req_client_ip(r), &c->u.ranges);
    case DW_COND_NOT: {
        /* whatever the inner conditions recorded is dropped either way */
        size_t ncap = r->ncaptures;
        dw_str_t rp = r->remainder_prefix;
        bool inner = eval_conds(rc->sub, rc->nsub, r);
        r->ncaptures = ncap;
        r->remainder_prefix = rp;
        return !inner;
    }
    case DW_COND_EXPRESSION: return expr_true(r, c->u.expr.ast, 0);
    case DW_COND_FILE: return file_cond(c, r);
    default: return false; /* unknown conditions never match */
    }
}

/* A conjunction; a failed one leaves no captures or remainder prefix behind. */
static bool eval_conds(const rt_cond_t *v, size_t n, dw_req_t *r)
{
    size_t ncap = r->ncaptures;
    dw_str_t rp = r->remainder_prefix;
    for (size_t i = 0; i < n; i++) {
        if (!eval_cond(&v[i], r)) {
            r->ncaptures = ncap;
            r->remainder_prefix = rp;
            return false;
        }
    }
    return true;
}

bool dw_rt_match_eval(const dw_rt_match_t *m, dw_req_t *r)
{
    if (!m) return true;
    if (m->is_path) {
        if (!dw_path_pattern_match(m->path, r->npath)) return false;
        if (m->prefix.len) r->remainder_prefix = m->prefix;
        return true;
    }
    return eval_conds(m->conds, m->nconds, r);
}

/* --- map ------------------------------------------------------------------------------------ */

struct dw_rt_map {
    const dw_cfg_map_t *m;
    rt_re_t *re; /* per entry; code set for `~re` entries */
};

int dw_rt_map_compile(dw_arena_t *a, const dw_cfg_map_t *m, dw_rt_map_t **out, dw_err_t *err)
{
    *out = NULL;
    dw_rt_map_t *rm = dw_arena_zalloc(a, sizeof(*rm));
    rt_re_t *re = dw_arena_zalloc(a, (m->nentries ? m->nentries : 1) * sizeof(*re));
    if (!rm || !re) return dw_err_set(err, DW_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->nentries; i++) {
        if (m->entries[i].kind != DW_MAP_REGEX) continue;
        /* whole-string, case-insensitive; anchoring at compile time keeps the JIT usable */
        int rc = compile_re(a, m->entries[i].pattern,
                            PCRE2_CASELESS | PCRE2_ANCHORED | PCRE2_ENDANCHORED, &re[i], err);
        if (rc != DW_OK) return rc;
    }
    rm->m = m;
    rm->re = re;
    *out = rm;
    return DW_OK;
}

void dw_rt_map_eval(const dw_rt_map_t *rm, dw_req_t *r)
{
    const dw_cfg_map_t *m = rm->m;
    dw_str_t src = dw_tpl_render(r, m->source);
    for (size_t i = 0; i < m->nentries; i++) {
        const dw_cfg_map_entry_t *e = &m->entries[i];
        bool hit;
        switch (e->kind) {
        case DW_MAP_DEFAULT: hit = true; break;
        case DW_MAP_REGEX: {
            pcre2_match_data *md = thread_md();
            hit = md && rm->re[i].code && re_exec(&rm->re[i], src, md) >= 0;
            break;
        }
        default: hit = dw_str_caseeq(src, e->pattern); break;
        }
        if (hit) {
            dw_req_set_var(r, m->dest, dw_tpl_render(r, e->value));
            return;
        }
    }
    dw_req_set_var(r, m->dest, DW_STR(""));
}
