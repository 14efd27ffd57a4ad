#include <dwaar/base/diag.h>
#include <dwaar/base/error.h>

void dw_diags_init(dw_diags_t *d)
{
    memset(d, 0, sizeof(*d));
}

void dw_diags_deinit(dw_diags_t *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->items[i].file);
        free(d->items[i].message);
    }
    free(d->items);
    memset(d, 0, sizeof(*d));
}

void dw_diags_vadd(dw_diags_t *d, dw_severity_t sev, const char *file, uint32_t line, uint32_t col,
                   const char *fmt, va_list ap)
{
    if (sev == DW_SEV_ERROR)
        d->nerrors++;
    else
        d->nwarnings++;
    size_t max = d->max ? d->max : 1000;
    if (d->n >= max) return; /* counted, not stored: a fuzzed file may hold millions */
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 8;
        dw_diag_t *p = realloc(d->items, ncap * sizeof(*p));
        if (!p) return;
        d->items = p;
        d->cap = ncap;
    }
    dw_buf_t msg = DW_BUF_INIT;
    dw_buf_vappendf(&msg, fmt, ap);
    dw_diag_t *it = &d->items[d->n++];
    it->file = file ? strdup(file) : NULL;
    it->line = line;
    it->col = col;
    it->severity = sev;
    it->message = dw_buf_take(&msg);
}

void dw_diags_add(dw_diags_t *d, dw_severity_t sev, const char *file, uint32_t line, uint32_t col,
                  const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dw_diags_vadd(d, sev, file, line, col, fmt, ap);
    va_end(ap);
}

void dw_diag_format(const dw_diag_t *diag, dw_buf_t *out)
{
    if (diag->file) {
        dw_buf_append_c(out, diag->file);
        if (diag->line) dw_buf_appendf(out, ":%u:%u", diag->line, diag->col);
        dw_buf_append_c(out, ": ");
    }
    if (diag->severity == DW_SEV_WARNING) dw_buf_append_c(out, "warning: ");
    dw_buf_append_c(out, diag->message ? diag->message : "");
}

void dw_diags_print(const dw_diags_t *d, int severity, FILE *out)
{
    dw_buf_t b = DW_BUF_INIT;
    for (size_t i = 0; i < d->n; i++) {
        if (severity >= 0 && (int)d->items[i].severity != severity) continue;
        dw_buf_reset(&b);
        dw_diag_format(&d->items[i], &b);
        fprintf(out, "%s\n", b.data ? b.data : "");
    }
    size_t max = d->max ? d->max : 1000;
    if (d->nerrors + d->nwarnings > max && (severity < 0 || severity == DW_SEV_ERROR))
        fprintf(out, "(%zu more diagnostics not shown)\n", d->nerrors + d->nwarnings - d->n);
    dw_buf_deinit(&b);
}
