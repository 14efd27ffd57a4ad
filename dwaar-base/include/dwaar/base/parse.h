/* Parsing of the value types shared by the config language, the admin API and the CLI.
 * All functions take the whole view and fail on trailing bytes, empty input or overflow. */
#ifndef DWAAR_BASE_PARSE_H
#define DWAAR_BASE_PARSE_H

#include <dwaar/base/str.h>

/* Decimal digits only (no sign, no spaces). DW_EINVAL or DW_ERANGE. */
int dw_parse_u64(dw_str_t s, uint64_t *out);
/* Optional leading '-' then digits. */
int dw_parse_i64(dw_str_t s, int64_t *out);
/* 1..65535 */
int dw_parse_port(dw_str_t s, uint16_t *out);
/* Bytes, or integer + case-insensitive k|kb|kib, m|mb|mib, g|gb|gib (powers of 1024). */
int dw_parse_size(dw_str_t s, uint64_t *out);
/* Bare integer = seconds, or concatenated <int><ms|s|m|h> groups (1h30m, 500ms); result in ms. */
int dw_parse_duration_ms(dw_str_t s, uint64_t *out_ms);
/* true|on|yes|1 / false|off|no|0 (case-insensitive). */
int dw_parse_bool(dw_str_t s, bool *out);

#endif
