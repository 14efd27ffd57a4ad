/* Accumulated diagnostics {file, line, col, severity, message}: config and control-plane
 * validation report every problem at once instead of stopping at the first. */
#ifndef DWAAR_BASE_DIAG_H
#define DWAAR_BASE_DIAG_H

#include <dwaar/base/buf.h>
#include <stdarg.h>
#include <stdint.h>

typedef enum dw_severity { DW_SEV_ERROR = 0, DW_SEV_WARNING = 1 } dw_severity_t;

typedef struct dw_diag {
    char *file; /* base name as shown to the user; may be NULL */
    uint32_t line, col;
    dw_severity_t severity;
    char *message; /* may hold a second line ("\n    expected: ...") */
} dw_diag_t;

typedef struct dw_diags {
    dw_diag_t *items;
    size_t n, cap;
    size_t nerrors, nwarnings;
    size_t max; /* stop recording after this many errors (0 = 1000) */
} dw_diags_t;

void dw_diags_init(dw_diags_t *d);
void dw_diags_deinit(dw_diags_t *d);
void dw_diags_add(dw_diags_t *d, dw_severity_t sev, const char *file, uint32_t line, uint32_t col,
                  const char *fmt, ...) DW_PRINTF(6, 7);
void dw_diags_vadd(dw_diags_t *d, dw_severity_t sev, const char *file, uint32_t line, uint32_t col,
                   const char *fmt, va_list ap) DW_PRINTF(6, 0);
/* "<file>:<line>:<col>: <message>" for errors; "<file>:<line>:<col>: warning: <message>". */
void dw_diag_format(const dw_diag_t *diag, dw_buf_t *out);
/* Every diagnostic of the given severity (or all with -1), one per line. */
void dw_diags_print(const dw_diags_t *d, int severity, FILE *out);

#endif
