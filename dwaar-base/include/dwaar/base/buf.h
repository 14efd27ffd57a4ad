/* Growable heap byte buffers. Always kept NUL-terminated so data can be used as a C string. */
#ifndef DWAAR_BASE_BUF_H
#define DWAAR_BASE_BUF_H

#include <dwaar/base/str.h>
#include <stdarg.h>

typedef struct dw_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* 0 = unlimited; appends beyond it fail with DW_ELIMIT */
    int failed;   /* sticky: set when an append failed, so writers may check once at the end */
} dw_buf_t;

#define DW_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0, 0                                                                           \
    }

void dw_buf_init(dw_buf_t *b, size_t limit);
void dw_buf_deinit(dw_buf_t *b);
static inline void dw_buf_reset(dw_buf_t *b)
{
    b->len = 0, b->failed = 0;
    if (b->data) b->data[0] = '\0';
}
int dw_buf_reserve(dw_buf_t *b, size_t extra);
int dw_buf_append(dw_buf_t *b, const void *p, size_t n);
static inline int dw_buf_append_str(dw_buf_t *b, dw_str_t s)
{
    return dw_buf_append(b, s.ptr, s.len);
}
static inline int dw_buf_append_c(dw_buf_t *b, const char *s)
{
    return dw_buf_append(b, s, strlen(s));
}
int dw_buf_putc(dw_buf_t *b, char c);
/* Decimal / lower-case hex digits of v, without printf (hot paths: lengths, chunk sizes). */
int dw_buf_append_u64(dw_buf_t *b, uint64_t v);
int dw_buf_append_hex(dw_buf_t *b, uint64_t v);
int dw_buf_appendf(dw_buf_t *b, const char *fmt, ...) DW_PRINTF(2, 3);
int dw_buf_vappendf(dw_buf_t *b, const char *fmt, va_list ap) DW_PRINTF(2, 0);
static inline dw_str_t dw_buf_str(const dw_buf_t *b)
{
    return dw_str_make(b->data ? b->data : "", b->len);
}
/* Hands the NUL-terminated heap block to the caller; the buffer is left empty. */
char *dw_buf_take(dw_buf_t *b);

/* Append s as a JSON string literal (quotes included), escaping per RFC 8259. */
int dw_buf_append_json_str(dw_buf_t *b, dw_str_t s);

#endif
