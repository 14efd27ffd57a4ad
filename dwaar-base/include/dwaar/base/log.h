/* Diagnostics (process) logging to stderr. A disabled level costs one integer compare. */
#ifndef DWAAR_BASE_LOG_H
#define DWAAR_BASE_LOG_H

#include <dwaar/base/compiler.h>

typedef enum dw_log_level {
    DW_LOG_OFF = 0,
    DW_LOG_ERROR = 1,
    DW_LOG_WARN = 2,
    DW_LOG_INFO = 3,
    DW_LOG_DEBUG = 4,
    DW_LOG_TRACE = 5,
} dw_log_level_t;

extern int dw_log_level;

/* Parse a level name (error|warn|info|debug|trace|off, any case); unknown -> DW_LOG_INFO. */
dw_log_level_t dw_log_level_parse(const char *name);
/* Set the level from DWAAR_LOG_LEVEL (default info). */
void dw_log_init_from_env(void);
/* Text lines by default; JSON objects (one per line) for daemons. */
void dw_log_set_json(int on);

void dw_log_write(int level, const char *module, const char *fmt, ...) DW_PRINTF(3, 4);

#define DW_LOG(level, module, ...)                                                                 \
    do {                                                                                           \
        if (DW_UNLIKELY((level) <= dw_log_level)) dw_log_write((level), (module), __VA_ARGS__);    \
    } while (0)
#define DW_ERROR(module, ...) DW_LOG(DW_LOG_ERROR, module, __VA_ARGS__)
#define DW_WARN(module, ...)  DW_LOG(DW_LOG_WARN, module, __VA_ARGS__)
#define DW_INFO(module, ...)  DW_LOG(DW_LOG_INFO, module, __VA_ARGS__)
#define DW_DEBUG(module, ...) DW_LOG(DW_LOG_DEBUG, module, __VA_ARGS__)
#define DW_TRACE(module, ...) DW_LOG(DW_LOG_TRACE, module, __VA_ARGS__)

#endif
