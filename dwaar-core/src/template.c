/* Templates and placeholders (spec 10 §7), header operations (§6.15-6.16) and reason phrases.
 * Rendering is per request: a template without placeholders is returned as is, a template
 * that is one placeholder returns the value's own view, and anything else is assembled in one
 * allocation from the request arena. */
#include "match.h"
#include <dwaar/base/parse.h>
#include <dwaar/core/status.h>

/* --- reason phrases ------------------------------------------------------------------------ */

const char *dw_http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 102: return "Processing";
    case 103: return "Early Hints";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 203: return "Non-Authoritative Information";
    case 204: return "No Content";
    case 205: return "Reset Content";
    case 206: return "Partial Content";
    case 207: return "Multi-Status";
    case 208: return "Already Reported";
    case 226: return "IM Used";
    case 300: return "Multiple Choices";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 305: return "Use Proxy";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 407: return "Proxy Authentication Required";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 418: return "I'm a teapot";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 423: return "Locked";
    case 424: return "Failed Dependency";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 506: return "Variant Also Negotiates";
    case 507: return "Insufficient Storage";
    case 508: return "Loop Detected";
    case 510: return "Not Extended";
    case 511: return "Network Authentication Required";
    default: return "";
    }
}

/* --- helpers -------------------------------------------------------------------------------- */

static dw_str_t fmt_uint(dw_req_t *r, unsigned long v)
{
    char tmp[24];
    size_t n = 0;
    do tmp[n++] = (char)('0' + v % 10), v /= 10;
    while (v);
    char *p = dw_arena_alloc(r->arena, n + 1);
    if (!p) return DW_STR("");
    for (size_t i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    p[n] = '\0';
    return dw_str_make(p, n);
}

static dw_str_t cstr_view(const char *s, size_t cap)
{
    return dw_str_make(s, strnlen(s, cap));
}

static bool has_prefix_c(dw_str_t s, const char *p, size_t plen, dw_str_t *rest)
{
    if (s.len <= plen || memcmp(s.ptr, p, plen) != 0) return false;
    *rest = dw_str_sub(s, plen, s.len);
    return true;
}
#define HAS_PREFIX(s, lit, rest) has_prefix_c((s), (lit), sizeof(lit) - 1, (rest))

/* --- placeholder values --------------------------------------------------------------------- */

enum {
    PH_HOST,
    PH_HOSTPORT,
    PH_PORT,
    PH_METHOD,
    PH_SCHEME,
    PH_PATH,
    PH_DIR,
    PH_FILE_BASE,
    PH_FILE_EXT,
    PH_REMAINDER,
    PH_QUERY,
    PH_URI,
    PH_ORIG_URI,
    PH_REMOTE_HOST,
    PH_REMOTE_PORT,
    PH_CLIENT_IP,
    PH_REQUEST_ID,
    PH_TLS_SERVER_NAME,
    PH_TLS_CIPHER,
    PH_UPSTREAM_HOST,
    PH_UPSTREAM_PORT,
    PH_ERROR_CODE,
    PH_ERROR_TEXT,
    PH_ERROR_MESSAGE,
};

typedef struct ph_name {
    const char *name;
    uint8_t len, id;
} ph_name_t;

#define PH(s, id)                                                                                  \
    {                                                                                              \
        s, sizeof(s) - 1, id                                                                       \
    }
static const ph_name_t ph_names[] = {
    PH("host", PH_HOST),
    PH("hostport", PH_HOSTPORT),
    PH("port", PH_PORT),
    PH("method", PH_METHOD),
    PH("scheme", PH_SCHEME),
    PH("path", PH_PATH),
    PH("dir", PH_DIR),
    PH("file.base", PH_FILE_BASE),
    PH("file.ext", PH_FILE_EXT),
    PH("query", PH_QUERY),
    PH("uri", PH_URI),
    PH("remote_host", PH_REMOTE_HOST),
    PH("remote_ip", PH_REMOTE_HOST),
    PH("remote_port", PH_REMOTE_PORT),
    PH("client_ip", PH_CLIENT_IP),
    PH("request_id", PH_REQUEST_ID),
    PH("tls_server_name", PH_TLS_SERVER_NAME),
    PH("tls_cipher", PH_TLS_CIPHER),
    PH("upstream.host", PH_UPSTREAM_HOST),
    PH("upstream.port", PH_UPSTREAM_PORT),
    PH("http.request.host", PH_HOST),
    PH("http.request.hostport", PH_HOSTPORT),
    PH("http.request.port", PH_PORT),
    PH("http.request.method", PH_METHOD),
    PH("http.request.scheme", PH_SCHEME),
    PH("http.request.uri.path", PH_PATH),
    PH("http.request.uri.path.dir", PH_DIR),
    PH("http.request.uri.path.file.base", PH_FILE_BASE),
    PH("http.request.uri.path.file.ext", PH_FILE_EXT),
    PH("http.request.uri.path.remainder", PH_REMAINDER),
    PH("http.request.uri.query", PH_QUERY),
    PH("http.request.uri", PH_URI),
    PH("http.request.orig_uri", PH_ORIG_URI),
    PH("http.request.remote.host", PH_REMOTE_HOST),
    PH("http.request.remote.port", PH_REMOTE_PORT),
    PH("http.request.id", PH_REQUEST_ID),
    PH("http.request.tls.server_name", PH_TLS_SERVER_NAME),
    PH("http.request.tls.cipher_suite", PH_TLS_CIPHER),
    PH("http.reverse_proxy.upstream.host", PH_UPSTREAM_HOST),
    PH("http.reverse_proxy.upstream.port", PH_UPSTREAM_PORT),
    PH("http.error.status_code", PH_ERROR_CODE),
    PH("http.error.status_text", PH_ERROR_TEXT),
    PH("http.error.message", PH_ERROR_MESSAGE),
};
#undef PH

static int builtin_id(dw_str_t n)
{
    for (size_t i = 0; i < DW_ARRAY_LEN(ph_names); i++)
        if (ph_names[i].len == n.len && memcmp(ph_names[i].name, n.ptr, n.len) == 0)
            return ph_names[i].id;
    return -1;
}

/* `/a/b.html`: the last segment and where its extension dot is (or -1). */
static dw_str_t last_segment(dw_str_t p)
{
    const char *slash = p.len ? memrchr(p.ptr, '/', p.len) : NULL;
    return slash ? dw_str_make(slash + 1, (size_t)(p.ptr + p.len - slash - 1)) : p;
}

static dw_str_t path_dir(dw_str_t p)
{
    const char *slash = p.len ? memrchr(p.ptr, '/', p.len) : NULL;
    if (!slash || slash == p.ptr) return DW_STR("/");
    return dw_str_make(p.ptr, (size_t)(slash - p.ptr));
}

static dw_str_t file_part(dw_str_t p, bool ext)
{
    dw_str_t seg = last_segment(p);
    const char *dot = seg.len ? memrchr(seg.ptr, '.', seg.len) : NULL;
    if (!dot) return ext ? DW_STR("") : seg;
    size_t at = (size_t)(dot - seg.ptr);
    return ext ? dw_str_sub(seg, at + 1, seg.len) : dw_str_sub(seg, 0, at);
}

static bool has_iprefix(dw_str_t s, dw_str_t p)
{
    return s.len >= p.len && dw_str_caseeq(dw_str_make(s.ptr, p.len), p);
}

static dw_str_t path_remainder(dw_req_t *r)
{
    dw_str_t p = r->npath, pre = r->remainder_prefix;
    if (pre.len && pre.ptr[pre.len - 1] == '/') pre.len--;
    /* prefixes come from case-insensitive path patterns */
    if (pre.len == 0 || !has_iprefix(p, pre)) return p;
    dw_str_t rest = dw_str_sub(p, pre.len, p.len);
    if (rest.len == 0) return DW_STR("/");
    if (rest.ptr[0] == '/') return rest;
    char *b = dw_arena_alloc(r->arena, rest.len + 2);
    if (!b) return DW_STR("");
    b[0] = '/';
    memcpy(b + 1, rest.ptr, rest.len);
    b[rest.len + 1] = '\0';
    return dw_str_make(b, rest.len + 1);
}

static dw_str_t path_segment(dw_str_t p, dw_str_t digits)
{
    uint64_t want;
    if (dw_parse_u64(digits, &want) != DW_OK) return DW_STR("");
    size_t i = p.len && p.ptr[0] == '/' ? 1 : 0;
    for (uint64_t k = 0; i <= p.len; k++) {
        size_t st = i;
        while (i < p.len && p.ptr[i] != '/') i++;
        if (k == want) return dw_str_sub(p, st, i - st);
        if (i >= p.len) break;
        i++;
    }
    return DW_STR("");
}

static dw_str_t uri(dw_req_t *r)
{
    if (!r->has_query) return r->path;
    dw_str_t p = r->path, q = r->query;
    /* as received, path?query is one contiguous run: no copy */
    if (p.ptr && q.ptr == p.ptr + p.len + 1 && p.ptr[p.len] == '?')
        return dw_str_make(p.ptr, p.len + 1 + q.len);
    char *b = dw_arena_alloc(r->arena, p.len + q.len + 2);
    if (!b) return DW_STR("");
    if (p.len) memcpy(b, p.ptr, p.len);
    b[p.len] = '?';
    if (q.len) memcpy(b + p.len + 1, q.ptr, q.len);
    b[p.len + 1 + q.len] = '\0';
    return dw_str_make(b, p.len + 1 + q.len);
}

static dw_str_t query_value(dw_req_t *r, dw_str_t key)
{
    dw_str_t q = r->query;
    while (q.len) {
        ptrdiff_t amp = dw_str_chr(q, '&');
        size_t n = amp < 0 ? q.len : (size_t)amp;
        dw_str_t pair = dw_str_sub(q, 0, n);
        q = dw_str_sub(q, amp < 0 ? q.len : n + 1, q.len);
        ptrdiff_t eq = dw_str_chr(pair, '=');
        dw_str_t k = eq < 0 ? pair : dw_str_sub(pair, 0, (size_t)eq);
        if (pair.len == 0 || !dw_percent_eq(k, key)) continue;
        dw_str_t v = eq < 0 ? DW_STR("") : dw_str_sub(pair, (size_t)eq + 1, pair.len);
        v = dw_percent_decode(r->arena, v);
        return v.ptr ? v : DW_STR("");
    }
    return DW_STR("");
}

/* Every value of the field, joined with ", "; a single value is returned as is. */
static dw_str_t header_joined(dw_req_t *r, dw_str_t name)
{
    size_t count = 0, total = 0;
    const dw_field_t *one = NULL;
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!dw_str_caseeq(r->headers.v[i].name, name)) continue;
        one = &r->headers.v[i];
        total += one->value.len + (count ? 2 : 0);
        count++;
    }
    if (count == 0) return DW_STR("");
    if (count == 1) return one->value;
    char *b = dw_arena_alloc(r->arena, total + 1);
    if (!b) return DW_STR("");
    size_t o = 0;
    for (size_t i = 0; i < r->headers.n; i++) {
        const dw_field_t *f = &r->headers.v[i];
        if (!dw_str_caseeq(f->name, name)) continue;
        if (o) b[o++] = ',', b[o++] = ' ';
        if (f->value.len) memcpy(b + o, f->value.ptr, f->value.len);
        o += f->value.len;
    }
    b[o] = '\0';
    return dw_str_make(b, o);
}

static dw_str_t trim_ows(dw_str_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) s.ptr++, s.len--;
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t')) s.len--;
    return s;
}

/* The first cookie of that name over every Cookie field (`a=1; b=2`). */
dw_str_t dw_req_cookie(const dw_req_t *r, dw_str_t name)
{
    for (size_t i = 0; i < r->headers.n; i++) {
        if (!dw_str_caseeq(r->headers.v[i].name, DW_STR("Cookie"))) continue;
        dw_str_t v = r->headers.v[i].value;
        while (v.len) {
            ptrdiff_t semi = dw_str_chr(v, ';');
            size_t n = semi < 0 ? v.len : (size_t)semi;
            dw_str_t c = trim_ows(dw_str_sub(v, 0, n));
            v = dw_str_sub(v, semi < 0 ? v.len : n + 1, v.len);
            ptrdiff_t eq = dw_str_chr(c, '=');
            if (eq < 0 || !dw_str_eq(trim_ows(dw_str_sub(c, 0, (size_t)eq)), name)) continue;
            dw_str_t val = trim_ows(dw_str_sub(c, (size_t)eq + 1, c.len));
            if (val.len >= 2 && val.ptr[0] == '"' && val.ptr[val.len - 1] == '"')
                val = dw_str_sub(val, 1, val.len - 2);
            return val;
        }
    }
    return DW_STR("");
}

/* "C.N": group N of the latest captures named C. */
static dw_str_t capture_value(const dw_req_t *r, dw_str_t rest)
{
    const char *dot = rest.len ? memrchr(rest.ptr, '.', rest.len) : NULL;
    if (!dot) return DW_STR("");
    dw_str_t name = dw_str_make(rest.ptr, (size_t)(dot - rest.ptr));
    uint64_t idx;
    if (dw_parse_u64(dw_str_make(dot + 1, (size_t)(rest.ptr + rest.len - dot - 1)), &idx) != DW_OK)
        return DW_STR("");
    for (size_t i = r->ncaptures; i-- > 0;) {
        const dw_re_captures_t *c = &r->captures[i];
        if (!dw_str_eq(c->name, name)) continue;
        return idx < c->ngroups ? c->groups[idx] : DW_STR("");
    }
    return DW_STR("");
}

static dw_str_t var_value(const dw_req_t *r, dw_str_t name)
{
    const dw_str_t *v = dw_req_var(r, name);
    return v ? *v : DW_STR("");
}

static dw_str_t builtin_value(dw_req_t *r, int id)
{
    switch (id) {
    case PH_HOST: return r->host;
    case PH_HOSTPORT: return r->hostport;
    case PH_PORT: {
        uint16_t port = r->host_port ? r->host_port : r->local_port;
        return port ? fmt_uint(r, port) : DW_STR("");
    }
    case PH_METHOD: return r->method;
    case PH_SCHEME: return r->tls ? DW_STR("https") : DW_STR("http");
    case PH_PATH: return r->npath;
    case PH_DIR: return path_dir(r->npath);
    case PH_FILE_BASE: return file_part(r->npath, false);
    case PH_FILE_EXT: return file_part(r->npath, true);
    case PH_REMAINDER: return path_remainder(r);
    case PH_QUERY: return r->query;
    case PH_URI: return uri(r);
    case PH_ORIG_URI: return r->orig_uri;
    case PH_REMOTE_HOST: return cstr_view(r->peer.text, sizeof(r->peer.text));
    case PH_REMOTE_PORT: return r->peer.family ? fmt_uint(r, r->peer.port) : DW_STR("");
    case PH_CLIENT_IP: {
        const dw_ip_t *ip = dw_req_client_ip(r);
        return cstr_view(ip->text, sizeof(ip->text));
    }
    case PH_REQUEST_ID: return cstr_view(r->request_id, sizeof(r->request_id));
    case PH_TLS_SERVER_NAME: return r->tls_server_name;
    case PH_TLS_CIPHER: return r->tls_cipher;
    case PH_UPSTREAM_HOST: return r->upstream_host;
    case PH_UPSTREAM_PORT: return r->upstream_port ? fmt_uint(r, r->upstream_port) : DW_STR("");
    case PH_ERROR_CODE: return r->error_status ? fmt_uint(r, r->error_status) : DW_STR("");
    case PH_ERROR_TEXT: return dw_str_c(dw_http_reason(r->error_status));
    case PH_ERROR_MESSAGE: return r->error_message;
    default: return DW_STR("");
    }
}

bool dw_placeholder_value(dw_req_t *r, dw_str_t name, dw_str_t *out)
{
    dw_str_t v = DW_STR(""), rest;
    int id = builtin_id(name);
    if (id >= 0) {
        v = builtin_value(r, id);
    } else if (HAS_PREFIX(name, "query.", &rest) ||
               HAS_PREFIX(name, "http.request.uri.query.", &rest)) {
        v = query_value(r, rest);
    } else if (HAS_PREFIX(name, "header.", &rest) ||
               HAS_PREFIX(name, "http.request.header.", &rest)) {
        v = header_joined(r, rest);
    } else if (HAS_PREFIX(name, "cookie.", &rest) ||
               HAS_PREFIX(name, "http.request.cookie.", &rest)) {
        v = dw_req_cookie(r, rest);
    } else if (HAS_PREFIX(name, "vars.", &rest) || HAS_PREFIX(name, "http.vars.", &rest)) {
        const dw_str_t *var = dw_req_var(r, rest);
        if (var)
            v = *var;
        else if (dw_str_eq(rest, DW_STR("client_ip"))) /* {http.vars.client_ip} */
            v = builtin_value(r, PH_CLIENT_IP);
    } else if (HAS_PREFIX(name, "re.", &rest) || HAS_PREFIX(name, "http.regexp.", &rest)) {
        v = capture_value(r, rest);
    } else if (HAS_PREFIX(name, "http.request.uri.path.", &rest) && rest.len &&
               dw_ascii_isdigit(rest.ptr[0])) {
        v = path_segment(r->npath, rest);
    } else if (dw_req_var(r, name)) {
        v = var_value(r, name); /* bare {name} of a declared variable */
    } else {
        *out = DW_STR("");
        return false;
    }
    *out = v.ptr ? v : DW_STR("");
    return true;
}

/* --- rendering ------------------------------------------------------------------------------ */

static bool name_char(char c)
{
    return dw_ascii_isalnum(c) || c == '_' || c == '.' || c == ':' || c == '$' || c == '[' ||
           c == ']' || c == '-';
}

/* Length of the placeholder starting at s[i] ('{'), or 0 when the brace text is literal. */
static size_t placeholder_len(dw_str_t s, size_t i)
{
    size_t j = i + 1;
    while (j < s.len && name_char(s.ptr[j])) j++;
    if (j == i + 1 || j >= s.len || s.ptr[j] != '}') return 0;
    return j + 1 - i;
}

#define STACK_PARTS 16

typedef struct parts {
    dw_str_t stack[STACK_PARTS];
    dw_str_t *v;
    size_t n, cap, total;
    bool failed;
} parts_t;

static void parts_push(dw_arena_t *a, parts_t *p, dw_str_t s)
{
    if (s.len == 0) return;
    if (p->n == p->cap) {
        /* rare (many placeholders): move to the arena */
        size_t ncap = p->cap * 2;
        dw_str_t *nv = dw_arena_alloc(a, ncap * sizeof(*nv));
        if (!nv) {
            p->failed = true;
            return;
        }
        memcpy(nv, p->v, p->n * sizeof(*nv));
        p->v = nv, p->cap = ncap;
    }
    p->v[p->n++] = s;
    p->total += s.len;
}

dw_str_t dw_tpl_render(dw_req_t *r, dw_str_t tpl)
{
    if (tpl.len == 0 || (!memchr(tpl.ptr, '{', tpl.len) && !memchr(tpl.ptr, '\\', tpl.len)))
        return tpl;
    parts_t p;
    p.v = p.stack, p.n = 0, p.cap = STACK_PARTS, p.total = 0, p.failed = false;
    size_t lit = 0, i = 0;
    while (i < tpl.len) {
        char c = tpl.ptr[i];
        if (c == '\\' && i + 1 < tpl.len && tpl.ptr[i + 1] == '{') {
            parts_push(r->arena, &p, dw_str_sub(tpl, lit, i - lit));
            lit = i + 1; /* the '{' starts the next literal run */
            i += 2;
            continue;
        }
        size_t n = c == '{' ? placeholder_len(tpl, i) : 0;
        if (n == 0) {
            i++;
            continue;
        }
        parts_push(r->arena, &p, dw_str_sub(tpl, lit, i - lit));
        dw_str_t v;
        dw_placeholder_value(r, dw_str_sub(tpl, i + 1, n - 2), &v); /* unknown -> "" */
        parts_push(r->arena, &p, v);
        i += n;
        lit = i;
    }
    parts_push(r->arena, &p, dw_str_sub(tpl, lit, tpl.len - lit));
    if (p.failed) return DW_STR("");
    if (p.n == 0) return DW_STR("");
    if (p.n == 1) return p.v[0]; /* one view (a value or a literal run) needs no copy */
    char *b = dw_arena_alloc(r->arena, p.total + 1);
    if (!b) return DW_STR("");
    size_t o = 0;
    for (size_t k = 0; k < p.n; k++) {
        memcpy(b + o, p.v[k].ptr, p.v[k].len);
        o += p.v[k].len;
    }
    b[o] = '\0';
    return dw_str_make(b, o);
}

dw_str_t dw_tpl_render_header(dw_req_t *r, dw_str_t tpl)
{
    dw_str_t s = dw_tpl_render(r, tpl);
    if (s.len == 0 || (!memchr(s.ptr, '\r', s.len) && !memchr(s.ptr, '\n', s.len))) return s;
    /* the value may be a view into the request: filter into a copy */
    char *b = dw_arena_alloc(r->arena, s.len + 1);
    if (!b) return DW_STR("");
    size_t o = 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.ptr[i] != '\r' && s.ptr[i] != '\n') b[o++] = s.ptr[i];
    b[o] = '\0';
    return dw_str_make(b, o);
}

/* --- header operations ---------------------------------------------------------------------- */

/* Every non-overlapping occurrence of find in v replaced, left to right. */
static dw_str_t replace_all(dw_arena_t *a, dw_str_t v, dw_str_t find, dw_str_t repl)
{
    size_t count = 0;
    for (dw_str_t s = v;;) {
        ptrdiff_t at = dw_str_find(s, find);
        if (at < 0) break;
        count++;
        s = dw_str_sub(s, (size_t)at + find.len, s.len);
    }
    if (count == 0) return v;
    size_t len = v.len - count * find.len + count * repl.len;
    char *b = dw_arena_alloc(a, len + 1);
    if (!b) return v;
    size_t o = 0;
    for (dw_str_t s = v;;) {
        ptrdiff_t at = dw_str_find(s, find);
        size_t keep = at < 0 ? s.len : (size_t)at;
        memcpy(b + o, s.ptr, keep);
        o += keep;
        if (at < 0) break;
        if (repl.len) memcpy(b + o, repl.ptr, repl.len);
        o += repl.len;
        s = dw_str_sub(s, keep + find.len, s.len);
    }
    b[o] = '\0';
    return dw_str_make(b, o);
}

static size_t delete_prefix(dw_fields_t *f, dw_str_t prefix)
{
    size_t o = 0;
    for (size_t i = 0; i < f->n; i++) {
        dw_str_t n = f->v[i].name;
        bool hit = n.len >= prefix.len && dw_str_caseeq(dw_str_make(n.ptr, prefix.len), prefix);
        if (!hit) f->v[o++] = f->v[i];
    }
    size_t removed = f->n - o;
    f->n = o;
    return removed;
}

void dw_hdr_ops_apply(dw_req_t *r, dw_fields_t *fields, const dw_cfg_header_ops_t *ops)
{
    if (!ops) return;
    for (size_t i = 0; i < ops->n; i++) {
        const dw_cfg_header_op_t *op = &ops->v[i];
        switch (op->op) {
        case DW_HDR_SET:
            dw_fields_set(r->arena, fields, op->name, dw_tpl_render_header(r, op->value));
            break;
        case DW_HDR_ADD:
            dw_fields_add(r->arena, fields, op->name, dw_tpl_render_header(r, op->value));
            break;
        case DW_HDR_SET_IF_ABSENT:
            if (!dw_fields_get(fields, op->name))
                dw_fields_add(r->arena, fields, op->name, dw_tpl_render_header(r, op->value));
            break;
        case DW_HDR_DELETE: dw_fields_del(fields, op->name); break;
        case DW_HDR_DELETE_PREFIX: delete_prefix(fields, op->name); break;
        case DW_HDR_REPLACE: {
            if (op->find.len == 0) break;
            bool rendered = false;
            dw_str_t repl = DW_STR("");
            for (size_t k = 0; k < fields->n; k++) {
                dw_field_t *f = &fields->v[k];
                if (!dw_str_caseeq(f->name, op->name) || dw_str_find(f->value, op->find) < 0)
                    continue;
                if (!rendered) repl = dw_tpl_render_header(r, op->value), rendered = true;
                f->value = replace_all(r->arena, f->value, op->find, repl);
            }
            break;
        }
        default: break;
        }
    }
}
