/* String views: {ptr, len}, valid while what they point into lives. */
#ifndef DWAAR_BASE_STR_H
#define DWAAR_BASE_STR_H

#include <dwaar/base/compiler.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct dw_str {
    const char *ptr;
    size_t len;
} dw_str_t;

#define DW_STR(lit) ((dw_str_t){(lit), sizeof(lit) - 1})
#define DW_STR_NULL ((dw_str_t){NULL, 0})
/* printf("%.*s", DW_STR_FMT(s)) */
#define DW_STR_FMT(s) (int)(s).len, (s).ptr

static inline dw_str_t dw_str_make(const char *p, size_t n)
{
    return (dw_str_t){p, n};
}
static inline dw_str_t dw_str_c(const char *cstr)
{
    return (dw_str_t){cstr, cstr ? strlen(cstr) : 0};
}
static inline bool dw_str_empty(dw_str_t s)
{
    return s.len == 0;
}

static inline bool dw_str_eq(dw_str_t a, dw_str_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}
static inline bool dw_str_eq_c(dw_str_t a, const char *b)
{
    return dw_str_eq(a, dw_str_c(b));
}

bool dw_str_caseeq(dw_str_t a, dw_str_t b);
static inline bool dw_str_caseeq_c(dw_str_t a, const char *b)
{
    return dw_str_caseeq(a, dw_str_c(b));
}

static inline bool dw_str_has_prefix(dw_str_t s, dw_str_t p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr, p.ptr, p.len) == 0);
}
static inline bool dw_str_has_suffix(dw_str_t s, dw_str_t p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr + s.len - p.len, p.ptr, p.len) == 0);
}
static inline dw_str_t dw_str_sub(dw_str_t s, size_t off, size_t n)
{
    if (off > s.len) off = s.len;
    if (n > s.len - off) n = s.len - off;
    return (dw_str_t){s.ptr + off, n};
}

/* Index of the first c in s, or -1. */
static inline ptrdiff_t dw_str_chr(dw_str_t s, char c)
{
    const char *p = s.len ? memchr(s.ptr, c, s.len) : NULL;
    return p ? p - s.ptr : -1;
}
/* Index of the first occurrence of needle in s, or -1. */
ptrdiff_t dw_str_find(dw_str_t s, dw_str_t needle);

static inline char dw_ascii_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}
static inline bool dw_ascii_isdigit(char c)
{
    return c >= '0' && c <= '9';
}
static inline bool dw_ascii_isalpha(char c)
{
    return (c | 32) >= 'a' && (c | 32) <= 'z';
}
/* The value of a hex digit, or -1. */
static inline int dw_hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = dw_ascii_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}
static inline bool dw_ascii_isalnum(char c)
{
    return dw_ascii_isdigit(c) || dw_ascii_isalpha(c);
}

/* Levenshtein distance, capped: returns a value > cap as soon as the distance exceeds cap. */
size_t dw_str_edit_distance(dw_str_t a, dw_str_t b, size_t cap);

#endif
