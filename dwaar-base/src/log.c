#include <dwaar/base/buf.h>
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <stdarg.h>
#include <strings.h>
#include <unistd.h>

int dw_log_level = DW_LOG_INFO;
static int log_json;

static const char *const level_names[] = {"off", "error", "warn", "info", "debug", "trace"};

dw_log_level_t dw_log_level_parse(const char *name)
{
    if (!name) return DW_LOG_INFO;
    for (int i = 0; i < (int)DW_ARRAY_LEN(level_names); i++)
        if (strcasecmp(name, level_names[i]) == 0) return (dw_log_level_t)i;
    if (strcasecmp(name, "warning") == 0) return DW_LOG_WARN;
    return DW_LOG_INFO;
}

void dw_log_init_from_env(void)
{
    const char *v = getenv("DWAAR_LOG_LEVEL");
    dw_log_level = dw_log_level_parse(v && *v ? v : "info");
}

void dw_log_set_json(int on)
{
    log_json = on;
}

void dw_log_write(int level, const char *module, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const dw_time_cache_t *t = dw_time_update();
    const char *lname = level_names[level >= 0 && level <= DW_LOG_TRACE ? level : DW_LOG_INFO];
    dw_buf_t b = DW_BUF_INIT;
    if (log_json) {
        dw_buf_appendf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"module\":", t->iso8601, lname);
        dw_buf_append_json_str(&b, dw_str_c(module ? module : ""));
        dw_buf_append_c(&b, ",\"msg\":");
        dw_buf_append_json_str(&b, dw_str_c(msg));
        dw_buf_append_c(&b, "}\n");
    } else {
        dw_buf_appendf(&b, "%s %-5s %s: %s\n", t->iso8601, lname, module ? module : "-", msg);
    }
    /* One write per line so lines from threads do not interleave. */
    if (!b.failed && write(STDERR_FILENO, b.data, b.len) < 0) { /* nothing sensible to do */
    }
    dw_buf_deinit(&b);
}
