/* A small strict JSON reader for the admin API's request bodies and the CLI's view of its
 * answers, and the msgpack -> JSON writer the HTTP side renders operation results with. */
#include "admin_int.h"
#include <errno.h>
#include <math.h>
#include <stdarg.h>

typedef struct block {
    struct block *next;
    max_align_t align[];
} block_t;

typedef struct parser {
    const char *s;
    size_t n, pos;
    dw_admin_json_doc_t *doc;
    char *err;
    size_t errlen;
    bool failed;
} parser_t;

static void *doc_alloc(dw_admin_json_doc_t *doc, size_t size)
{
    block_t *b = calloc(1, sizeof(block_t) + size + 1);
    if (!b) return NULL;
    b->next = doc->blocks;
    doc->blocks = b;
    return b->align;
}

void dw_admin_json_free(dw_admin_json_doc_t *doc)
{
    block_t *b = doc->blocks;
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
    doc->blocks = NULL, doc->root = NULL;
}

static int fail(parser_t *p, const char *msg)
{
    if (p->failed) return -1;
    p->failed = true;
    size_t line = 1, col = 1;
    for (size_t i = 0; i < p->pos && i < p->n; i++) {
        if (p->s[i] == '\n')
            line++, col = 1;
        else
            col++;
    }
    snprintf(p->err, p->errlen, "%s at line %zu column %zu", msg, line, col);
    return -1;
}

static void skip_ws(parser_t *p)
{
    while (p->pos < p->n) {
        char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Length of the UTF-8 sequence at s[0..n) (1..4), or 0 when invalid (overlong forms,
 * surrogates, above U+10FFFF, truncated). */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0)
        len = 2, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        len = 3, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return 0;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static size_t put_utf8(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (char)(0xf0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4(parser_t *p, uint32_t *out)
{
    if (p->n - p->pos < 4) {
        p->pos = p->n;
        return fail(p, "EOF while parsing a string");
    }
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int d = dw_hex_digit(p->s[p->pos]);
        if (d < 0) return fail(p, "invalid escape");
        v = (v << 4) | (uint32_t)d;
        p->pos++;
    }
    *out = v;
    return 0;
}

/* At the opening quote. The decoded text is never longer than the source. */
static int parse_string(parser_t *p, dw_str_t *out)
{
    size_t start = ++p->pos;
    size_t end = start;
    while (end < p->n && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
    char *buf = doc_alloc(p->doc, (end > p->n ? p->n : end) - start + 4);
    if (!buf) return fail(p, "out of memory");
    size_t len = 0;
    for (;;) {
        if (p->pos >= p->n) return fail(p, "EOF while parsing a string");
        unsigned char c = (unsigned char)p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20)
            return fail(p, "control character (\\u0000-\\u001F) found while parsing a string");
        if (c != '\\') {
            size_t k = utf8_seq((const unsigned char *)p->s + p->pos, p->n - p->pos);
            if (!k) return fail(p, "invalid UTF-8");
            memcpy(buf + len, p->s + p->pos, k);
            len += k, p->pos += k;
            continue;
        }
        if (++p->pos >= p->n) return fail(p, "EOF while parsing a string");
        char e = p->s[p->pos++];
        switch (e) {
        case '"': buf[len++] = '"'; break;
        case '\\': buf[len++] = '\\'; break;
        case '/': buf[len++] = '/'; break;
        case 'b': buf[len++] = '\b'; break;
        case 'f': buf[len++] = '\f'; break;
        case 'n': buf[len++] = '\n'; break;
        case 'r': buf[len++] = '\r'; break;
        case 't': buf[len++] = '\t'; break;
        case 'u': {
            uint32_t cp;
            if (hex4(p, &cp)) return -1;
            if (cp >= 0xdc00 && cp <= 0xdfff)
                return fail(p, "lone leading surrogate in hex escape");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                uint32_t lo;
                if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
                    return fail(p, "unexpected end of hex escape");
                p->pos += 2;
                if (hex4(p, &lo)) return -1;
                if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "invalid unicode code point");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            len += put_utf8(buf + len, cp); /* \uXXXX (6 bytes) -> at most 3; pairs 12 -> 4 */
            break;
        }
        default: p->pos--; return fail(p, "invalid escape");
        }
    }
    buf[len] = '\0';
    *out = dw_str_make(buf, len);
    return 0;
}

static int parse_number(parser_t *p, double *out)
{
    size_t start = p->pos;
    if (p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->n || !dw_ascii_isdigit(p->s[p->pos])) return fail(p, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
    } else {
        while (p->pos < p->n && dw_ascii_isdigit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->n && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->n || !dw_ascii_isdigit(p->s[p->pos])) return fail(p, "invalid number");
        while (p->pos < p->n && dw_ascii_isdigit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->n && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->n && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->n || !dw_ascii_isdigit(p->s[p->pos])) return fail(p, "invalid number");
        while (p->pos < p->n && dw_ascii_isdigit(p->s[p->pos])) p->pos++;
    }
    size_t len = p->pos - start;
    char *tmp = doc_alloc(p->doc, len + 1);
    if (!tmp) return fail(p, "out of memory");
    memcpy(tmp, p->s + start, len);
    tmp[len] = '\0';
    *out = strtod(tmp, NULL);
    if (!isfinite(*out)) return fail(p, "number out of range");
    return 0;
}

static bool literal(parser_t *p, const char *word)
{
    size_t k = strlen(word);
    if (p->n - p->pos < k || memcmp(p->s + p->pos, word, k) != 0) return false;
    p->pos += k;
    return true;
}

static int parse_value(parser_t *p, dw_admin_json_t *v, int depth)
{
    skip_ws(p);
    if (p->pos >= p->n) return fail(p, "EOF while parsing a value");
    char c = p->s[p->pos];
    switch (c) {
    case 'n':
        if (!literal(p, "null")) return fail(p, "expected value");
        v->type = DW_ADMIN_JSON_NULL;
        return 0;
    case 't':
    case 'f':
        if (!literal(p, c == 't' ? "true" : "false")) return fail(p, "expected value");
        v->type = DW_ADMIN_JSON_BOOL, v->b = c == 't';
        return 0;
    case '"': v->type = DW_ADMIN_JSON_STRING; return parse_string(p, &v->str);
    case '[':
    case '{': {
        bool obj = c == '{';
        if (depth >= DW_ADMIN_JSON_MAX_DEPTH) return fail(p, "recursion limit exceeded");
        v->type = obj ? DW_ADMIN_JSON_OBJECT : DW_ADMIN_JSON_ARRAY;
        p->pos++;
        dw_admin_json_t **tail = &v->kids;
        skip_ws(p);
        if (p->pos < p->n && p->s[p->pos] == (obj ? '}' : ']')) {
            p->pos++;
            return 0;
        }
        for (;;) {
            dw_admin_json_t *kid = doc_alloc(p->doc, sizeof *kid);
            if (!kid) return fail(p, "out of memory");
            if (obj) {
                skip_ws(p);
                if (p->pos >= p->n) return fail(p, "EOF while parsing an object");
                if (p->s[p->pos] != '"') return fail(p, "key must be a string");
                if (parse_string(p, &kid->key)) return -1;
                skip_ws(p);
                if (p->pos >= p->n) return fail(p, "EOF while parsing an object");
                if (p->s[p->pos] != ':') return fail(p, "expected `:`");
                p->pos++;
            }
            if (parse_value(p, kid, depth + 1)) return -1;
            *tail = kid, tail = &kid->next;
            skip_ws(p);
            if (p->pos >= p->n)
                return fail(p, obj ? "EOF while parsing an object" : "EOF while parsing a list");
            char d = p->s[p->pos++];
            if (d == ',') continue;
            if (d == (obj ? '}' : ']')) return 0;
            p->pos--;
            return fail(p, obj ? "expected `,` or `}`" : "expected `,` or `]`");
        }
    }
    default:
        if (c == '-' || dw_ascii_isdigit(c)) {
            v->type = DW_ADMIN_JSON_NUMBER;
            return parse_number(p, &v->num);
        }
        return fail(p, "expected value");
    }
}

int dw_admin_json_parse(const char *s, size_t n, dw_admin_json_doc_t *doc, char *err, size_t errlen)
{
    memset(doc, 0, sizeof *doc);
    parser_t p = {.s = s, .n = n, .doc = doc, .err = err, .errlen = errlen};
    dw_admin_json_t *root = doc_alloc(doc, sizeof *root);
    if (!root) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (parse_value(&p, root, 0) == 0) {
        skip_ws(&p);
        if (p.pos < p.n) fail(&p, "trailing characters");
    }
    if (p.failed) {
        dw_admin_json_free(doc);
        return -1;
    }
    doc->root = root;
    return 0;
}

const dw_admin_json_t *dw_admin_json_get(const dw_admin_json_t *obj, const char *key)
{
    if (!obj || obj->type != DW_ADMIN_JSON_OBJECT) return NULL;
    for (const dw_admin_json_t *k = obj->kids; k; k = k->next)
        if (dw_str_eq_c(k->key, key)) return k;
    return NULL;
}

/* --- writing -------------------------------------------------------------------------------- */

void dw_admin_utf8_clean(dw_buf_t *out, dw_str_t s)
{
    size_t i = 0, run = 0;
    while (i < s.len) {
        size_t k = utf8_seq((const unsigned char *)s.ptr + i, s.len - i);
        if (k) {
            i += k, run += k;
            continue;
        }
        if (run) dw_buf_append(out, s.ptr + i - run, run), run = 0;
        dw_buf_append_c(out, "\xef\xbf\xbd");
        i++;
    }
    if (run) dw_buf_append(out, s.ptr + s.len - run, run);
}

static void json_text(dw_json_t *j, const char *p, size_t n, bool key)
{
    dw_buf_t tmp = DW_BUF_INIT;
    dw_admin_utf8_clean(&tmp, dw_str_make(p, n));
    if (key)
        dw_json_key(j, tmp.data ? tmp.data : "");
    else
        dw_json_str(j, dw_buf_str(&tmp));
    dw_buf_deinit(&tmp);
}

void dw_admin_json_from_mp(dw_json_t *j, const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN: dw_json_bool(j, o->via.boolean); break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER: dw_json_uint(j, o->via.u64); break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: dw_json_int(j, o->via.i64); break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: dw_json_double(j, o->via.f64); break;
    case MSGPACK_OBJECT_STR: json_text(j, o->via.str.ptr, o->via.str.size, false); break;
    case MSGPACK_OBJECT_BIN: json_text(j, o->via.bin.ptr, o->via.bin.size, false); break;
    case MSGPACK_OBJECT_ARRAY:
        dw_json_arr_begin(j);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            dw_admin_json_from_mp(j, &o->via.array.ptr[i]);
        dw_json_arr_end(j);
        break;
    case MSGPACK_OBJECT_MAP:
        dw_json_obj_begin(j);
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object_kv *kv = &o->via.map.ptr[i];
            if (kv->key.type == MSGPACK_OBJECT_STR)
                json_text(j, kv->key.via.str.ptr, kv->key.via.str.size, true);
            else
                dw_json_key(j, "?");
            dw_admin_json_from_mp(j, &kv->val);
        }
        dw_json_obj_end(j);
        break;
    default: dw_json_null(j); break;
    }
}
