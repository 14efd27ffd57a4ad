#include <dwaar/base/buf.h>
#include <dwaar/base/error.h>
#include <stdint.h>

void dw_buf_init(dw_buf_t *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

void dw_buf_deinit(dw_buf_t *b)
{
    free(b->data);
    memset(b, 0, sizeof(*b));
}

int dw_buf_reserve(dw_buf_t *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len - 1) return b->failed = DW_ENOMEM;
    size_t need = b->len + extra + 1;
    if (b->limit && need - 1 > b->limit) return b->failed = DW_ELIMIT;
    if (need <= b->cap) return DW_OK;
    size_t ncap = b->cap ? b->cap : 64;
    while (ncap < need) ncap *= 2;
    char *p = realloc(b->data, ncap);
    if (!p) return b->failed = DW_ENOMEM;
    p[b->len] = '\0'; /* a fresh block must be a valid C string too */
    b->data = p;
    b->cap = ncap;
    return DW_OK;
}

int dw_buf_append(dw_buf_t *b, const void *p, size_t n)
{
    int rc = dw_buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DW_OK;
}

int dw_buf_putc(dw_buf_t *b, char c)
{
    return dw_buf_append(b, &c, 1);
}

int dw_buf_append_u64(dw_buf_t *b, uint64_t v)
{
    char tmp[20];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return dw_buf_append(b, tmp + n, sizeof tmp - n);
}

int dw_buf_append_hex(dw_buf_t *b, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";
    char tmp[16];
    size_t n = sizeof tmp;
    do {
        tmp[--n] = digits[v & 15];
        v >>= 4;
    } while (v);
    return dw_buf_append(b, tmp + n, sizeof tmp - n);
}

int dw_buf_vappendf(dw_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return b->failed = DW_EINVAL;
    int rc = dw_buf_reserve(b, (size_t)n);
    if (rc) return rc;
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return DW_OK;
}

int dw_buf_appendf(dw_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = dw_buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}

char *dw_buf_take(dw_buf_t *b)
{
    if (!b->data && dw_buf_reserve(b, 0)) return NULL;
    char *p = b->data;
    dw_buf_init(b, b->limit); /* empty, but still under the owner's limit */
    return p;
}

int dw_buf_append_json_str(dw_buf_t *b, dw_str_t s)
{
    static const char hex[] = "0123456789abcdef";
    int rc = dw_buf_putc(b, '"');
    size_t run = 0; /* bytes that need no escaping are appended in runs */
    for (size_t i = 0; i < s.len && !rc; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        const char *esc = NULL;
        char u[6];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                u[0] = '\\', u[1] = 'u', u[2] = '0', u[3] = '0', u[4] = hex[c >> 4],
                u[5] = hex[c & 15];
            } else {
                run++;
                continue;
            }
        }
        if (run) rc = dw_buf_append(b, s.ptr + i - run, run), run = 0;
        if (!rc) rc = esc ? dw_buf_append_c(b, esc) : dw_buf_append(b, u, 6);
    }
    if (!rc && run) rc = dw_buf_append(b, s.ptr + s.len - run, run);
    return rc ? rc : dw_buf_putc(b, '"');
}
