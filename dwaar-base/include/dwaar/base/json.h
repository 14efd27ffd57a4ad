/* A streaming JSON writer over a dw_buf_t: it places commas and colons, callers only say
 * what comes next. Nesting is bounded (DW_JSON_MAX_DEPTH); deeper writes mark the buffer failed. */
#ifndef DWAAR_BASE_JSON_H
#define DWAAR_BASE_JSON_H

#include <dwaar/base/buf.h>
#include <stdint.h>

#define DW_JSON_MAX_DEPTH 64

typedef struct dw_json {
    dw_buf_t *out;
    int depth;
    bool need_comma[DW_JSON_MAX_DEPTH + 1];
    bool after_key;
} dw_json_t;

void dw_json_init(dw_json_t *j, dw_buf_t *out);
void dw_json_obj_begin(dw_json_t *j);
void dw_json_obj_end(dw_json_t *j);
void dw_json_arr_begin(dw_json_t *j);
void dw_json_arr_end(dw_json_t *j);
void dw_json_key(dw_json_t *j, const char *key);
void dw_json_str(dw_json_t *j, dw_str_t s);
void dw_json_cstr(dw_json_t *j, const char *s); /* NULL writes null */
void dw_json_uint(dw_json_t *j, uint64_t v);
void dw_json_int(dw_json_t *j, int64_t v);
void dw_json_double(dw_json_t *j, double v);
void dw_json_bool(dw_json_t *j, bool v);
void dw_json_null(dw_json_t *j);

/* key + value shorthands */
static inline void dw_json_kv_str(dw_json_t *j, const char *k, dw_str_t v)
{
    dw_json_key(j, k), dw_json_str(j, v);
}
static inline void dw_json_kv_cstr(dw_json_t *j, const char *k, const char *v)
{
    dw_json_key(j, k), dw_json_cstr(j, v);
}
static inline void dw_json_kv_uint(dw_json_t *j, const char *k, uint64_t v)
{
    dw_json_key(j, k), dw_json_uint(j, v);
}
static inline void dw_json_kv_int(dw_json_t *j, const char *k, int64_t v)
{
    dw_json_key(j, k), dw_json_int(j, v);
}
static inline void dw_json_kv_bool(dw_json_t *j, const char *k, bool v)
{
    dw_json_key(j, k), dw_json_bool(j, v);
}

#endif
