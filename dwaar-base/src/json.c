#include <dwaar/base/json.h>
#include <math.h>

void dw_json_init(dw_json_t *j, dw_buf_t *out)
{
    memset(j, 0, sizeof(*j));
    j->out = out;
}

/* Every value and key starts here: a comma unless it is the first in its container. */
static void before_value(dw_json_t *j)
{
    if (j->after_key) {
        j->after_key = false;
        return;
    }
    if (j->need_comma[j->depth]) dw_buf_putc(j->out, ',');
    j->need_comma[j->depth] = true;
}

static void open(dw_json_t *j, char c)
{
    before_value(j);
    if (j->depth >= DW_JSON_MAX_DEPTH) {
        j->out->failed = -1;
        return;
    }
    dw_buf_putc(j->out, c);
    j->need_comma[++j->depth] = false;
}

static void close(dw_json_t *j, char c)
{
    if (j->depth > 0) j->depth--;
    dw_buf_putc(j->out, c);
}

void dw_json_obj_begin(dw_json_t *j)
{
    open(j, '{');
}
void dw_json_obj_end(dw_json_t *j)
{
    close(j, '}');
}
void dw_json_arr_begin(dw_json_t *j)
{
    open(j, '[');
}
void dw_json_arr_end(dw_json_t *j)
{
    close(j, ']');
}

void dw_json_key(dw_json_t *j, const char *key)
{
    before_value(j);
    dw_buf_append_json_str(j->out, dw_str_c(key));
    dw_buf_putc(j->out, ':');
    j->after_key = true;
}

void dw_json_str(dw_json_t *j, dw_str_t s)
{
    before_value(j);
    dw_buf_append_json_str(j->out, s.ptr ? s : DW_STR(""));
}

void dw_json_cstr(dw_json_t *j, const char *s)
{
    if (!s) return dw_json_null(j);
    dw_json_str(j, dw_str_c(s));
}

void dw_json_uint(dw_json_t *j, uint64_t v)
{
    before_value(j);
    dw_buf_appendf(j->out, "%llu", (unsigned long long)v);
}

void dw_json_int(dw_json_t *j, int64_t v)
{
    before_value(j);
    dw_buf_appendf(j->out, "%lld", (long long)v);
}

void dw_json_double(dw_json_t *j, double v)
{
    before_value(j);
    if (!isfinite(v))
        dw_buf_append_c(j->out, "null");
    else
        dw_buf_appendf(j->out, "%.17g", v);
}

void dw_json_bool(dw_json_t *j, bool v)
{
    before_value(j);
    dw_buf_append_c(j->out, v ? "true" : "false");
}

void dw_json_null(dw_json_t *j)
{
    before_value(j);
    dw_buf_append_c(j->out, "null");
}
