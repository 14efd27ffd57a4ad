/* Path patterns (spec 10 §4.3) and the normalised path every matcher sees (spec 40). Both run
 * per request: nothing here allocates unless the path really has to change, and nothing
 * recurses on the path. */
#include "match.h"

static inline bool ieq(char a, char b)
{
    return dw_ascii_lower(a) == dw_ascii_lower(b);
}

static bool has_iprefix(dw_str_t s, dw_str_t p)
{
    return s.len >= p.len && dw_str_caseeq(dw_str_make(s.ptr, p.len), p);
}

static bool has_isuffix(dw_str_t s, dw_str_t p)
{
    return s.len >= p.len && dw_str_caseeq(dw_str_make(s.ptr + s.len - p.len, p.len), p);
}

static bool icontains(dw_str_t s, dw_str_t needle)
{
    if (needle.len == 0) return true;
    if (needle.len > s.len) return false;
    char f = dw_ascii_lower(needle.ptr[0]);
    for (size_t i = 0; i + needle.len <= s.len; i++)
        if (dw_ascii_lower(s.ptr[i]) == f && dw_str_caseeq(dw_str_sub(s, i, needle.len), needle))
            return true;
    return false;
}

static bool has_star(dw_str_t s)
{
    return dw_str_chr(s, '*') >= 0;
}

/* Glob: `*` is any run inside one segment, `**` any run across segments. Iterative, with one
 * backtrack point per star kind: once a `**` is passed, the single `*`s before it never need
 * revisiting (the `**` can absorb whatever they would have), and a single `*` cannot move past
 * a '/', so segment boundaries pin everything before it. O(|pattern| * |path|) worst case. */
static bool glob_match(dw_str_t pat, dw_str_t s)
{
    size_t p = 0, t = 0;
    size_t s1p = SIZE_MAX, s1t = 0; /* last `*`: pattern resume point, text position */
    size_t s2p = SIZE_MAX, s2t = 0; /* last `**` */
    while (t < s.len) {
        if (p < pat.len && pat.ptr[p] == '*') {
            if (p + 1 < pat.len && pat.ptr[p + 1] == '*') {
                while (p < pat.len && pat.ptr[p] == '*') p++; /* `***` is `**` */
                s2p = p, s2t = t;
                s1p = SIZE_MAX; /* the `**` subsumes earlier single stars */
            } else {
                s1p = ++p, s1t = t;
            }
            continue;
        }
        if (p < pat.len && ieq(pat.ptr[p], s.ptr[t])) {
            p++, t++;
            continue;
        }
        if (s1p != SIZE_MAX && s.ptr[s1t] != '/') {
            p = s1p, t = ++s1t; /* the single star takes one more byte */
            continue;
        }
        if (s2p != SIZE_MAX) {
            p = s2p, t = ++s2t;
            s1p = SIZE_MAX;
            continue;
        }
        return false;
    }
    while (p < pat.len && pat.ptr[p] == '*') p++;
    return p == pat.len;
}

bool dw_path_pattern_match(dw_str_t pattern, dw_str_t path)
{
    size_t n = pattern.len;
    if (n == 1 && pattern.ptr[0] == '*') return true;
    if (!has_star(pattern)) return dw_str_caseeq(pattern, path);
    bool lead = pattern.ptr[0] == '*', trail = pattern.ptr[n - 1] == '*';
    /* The fast forms apply only when the rest is literal; with another star it is a glob. */
    if (lead && trail && n >= 2) {
        dw_str_t mid = dw_str_sub(pattern, 1, n - 2);
        if (!has_star(mid)) return icontains(path, mid);
    } else if (lead) {
        dw_str_t suf = dw_str_sub(pattern, 1, n - 1);
        if (!has_star(suf)) return has_isuffix(path, suf);
    } else if (trail) {
        dw_str_t pre = dw_str_sub(pattern, 0, n - 1);
        if (!has_star(pre)) return has_iprefix(path, pre);
    }
    return glob_match(pattern, path);
}

dw_str_t dw_path_pattern_prefix(dw_str_t pattern)
{
    if (pattern.len < 2 || pattern.ptr[0] == '*' || pattern.ptr[pattern.len - 1] != '*')
        return DW_STR("");
    dw_str_t pre = dw_str_sub(pattern, 0, pattern.len - 1);
    return has_star(pre) ? DW_STR("") : pre;
}

/* --- normalisation ------------------------------------------------------------------------ */

/* True when raw is already what dw_path_normalize would produce: no escapes, no empty, `.`
 * or `..` segments, a leading '/'. The common case, served without copying. */
static bool is_normal(dw_str_t raw)
{
    if (raw.len == 0 || raw.ptr[0] != '/') return false;
    const char *s = raw.ptr;
    size_t n = raw.len;
    if (memchr(s, '%', n)) return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '/') continue;
        /* the segment that starts after this '/' */
        size_t j = i + 1;
        if (j < n && s[j] == '/') return false;
        if (j < n && s[j] == '.') {
            size_t k = j + 1;
            if (k < n && s[k] == '.') k++;
            if (k == n || s[k] == '/') return false;
        }
    }
    return true;
}

int dw_path_normalize(dw_arena_t *a, dw_str_t raw, dw_str_t *out)
{
    if (is_normal(raw)) {
        *out = raw;
        return DW_OK;
    }
    if (raw.len == 0) {
        *out = DW_STR("/");
        return DW_OK;
    }
    /* One block: the decoded path, then the output (never longer than the decoded path plus
     * a leading and a trailing '/'). */
    char *dec = dw_arena_alloc(a, raw.len * 2 + 3);
    if (!dec) return DW_ENOMEM;
    size_t dn = 0;
    for (size_t i = 0; i < raw.len; i++) {
        char c = raw.ptr[i];
        if (c == '%') {
            int hi = i + 2 < raw.len ? dw_hex_digit(raw.ptr[i + 1]) : -1;
            int lo = hi >= 0 ? dw_hex_digit(raw.ptr[i + 2]) : -1;
            if (lo < 0) return DW_EINVAL;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (c == '\0') return DW_EINVAL;
        dec[dn++] = c;
    }
    char *o = dec + dn;
    size_t on = 0;
    bool trailing = false; /* the result ends with '/' (RFC 3986 §5.2.4 keeps it) */
    size_t i = 0;
    while (i < dn) {
        while (i < dn && dec[i] == '/') i++;
        size_t st = i;
        while (i < dn && dec[i] != '/') i++;
        size_t len = i - st;
        trailing = i < dn; /* a '/' follows this segment */
        if (len == 0) {
            trailing = true;
            continue;
        }
        if (len == 1 && dec[st] == '.') {
            trailing = true;
            continue;
        }
        if (len == 2 && dec[st] == '.' && dec[st + 1] == '.') {
            if (on == 0) return DW_EINVAL; /* above the root */
            while (on > 0 && o[on - 1] != '/') on--;
            on--; /* the '/' that started the popped segment */
            trailing = true;
            continue;
        }
        o[on++] = '/';
        memcpy(o + on, dec + st, len);
        on += len;
    }
    if (on == 0 || trailing) o[on++] = '/';
    o[on] = '\0';
    *out = dw_str_make(o, on);
    return DW_OK;
}

bool dw_percent_eq(dw_str_t raw, dw_str_t want)
{
    size_t j = 0;
    for (size_t i = 0; i < raw.len; j++) {
        char c = raw.ptr[i];
        int hi, lo;
        if (c == '%' && i + 2 < raw.len && (hi = dw_hex_digit(raw.ptr[i + 1])) >= 0 &&
            (lo = dw_hex_digit(raw.ptr[i + 2])) >= 0) {
            c = (char)(hi * 16 + lo);
            i += 3;
        } else {
            i++;
        }
        if (j >= want.len || want.ptr[j] != c) return false;
    }
    return j == want.len;
}

dw_str_t dw_percent_decode(dw_arena_t *a, dw_str_t s)
{
    if (s.len == 0 || !memchr(s.ptr, '%', s.len)) return s;
    char *d = dw_arena_alloc(a, s.len + 1);
    if (!d) return DW_STR_NULL;
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        int hi, lo;
        if (s.ptr[i] == '%' && i + 2 < s.len && (hi = dw_hex_digit(s.ptr[i + 1])) >= 0 &&
            (lo = dw_hex_digit(s.ptr[i + 2])) >= 0) {
            d[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            d[n++] = s.ptr[i]; /* an invalid escape stays as written */
        }
    }
    d[n] = '\0';
    return dw_str_make(d, n);
}
