/* STUB */
#include "parser_int.h"
int dw_cfg_format(const char *display_name, const char *src, size_t len, dw_buf_t *out, dw_diags_t *diags)
{ (void)display_name, (void)diags; dw_buf_append(out, src, len); return 0; }
