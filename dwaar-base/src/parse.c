#include <dwaar/base/error.h>
#include <dwaar/base/parse.h>
#include <stdint.h>

int dw_parse_u64(dw_str_t s, uint64_t *out)
{
    if (s.len == 0) return DW_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (!dw_ascii_isdigit(s.ptr[i])) return DW_EINVAL;
        unsigned d = (unsigned)(s.ptr[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return DW_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return DW_OK;
}

int dw_parse_i64(dw_str_t s, int64_t *out)
{
    bool neg = s.len && s.ptr[0] == '-';
    uint64_t v;
    int rc = dw_parse_u64(neg ? dw_str_sub(s, 1, s.len) : s, &v);
    if (rc) return rc;
    if (v > (uint64_t)INT64_MAX + (neg ? 1 : 0)) return DW_ERANGE;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return DW_OK;
}

int dw_parse_port(dw_str_t s, uint16_t *out)
{
    uint64_t v;
    int rc = dw_parse_u64(s, &v);
    if (rc) return rc;
    if (v < 1 || v > 65535) return DW_ERANGE;
    *out = (uint16_t)v;
    return DW_OK;
}

int dw_parse_size(dw_str_t s, uint64_t *out)
{
    size_t i = 0;
    while (i < s.len && dw_ascii_isdigit(s.ptr[i])) i++;
    if (i == 0) return DW_EINVAL;
    uint64_t v;
    int rc = dw_parse_u64(dw_str_sub(s, 0, i), &v);
    if (rc) return rc;
    dw_str_t unit = dw_str_sub(s, i, s.len - i);
    uint64_t mul = 1;
    if (unit.len == 0)
        mul = 1;
    else if (dw_str_caseeq_c(unit, "k") || dw_str_caseeq_c(unit, "kb") ||
             dw_str_caseeq_c(unit, "kib"))
        mul = 1ULL << 10;
    else if (dw_str_caseeq_c(unit, "m") || dw_str_caseeq_c(unit, "mb") ||
             dw_str_caseeq_c(unit, "mib"))
        mul = 1ULL << 20;
    else if (dw_str_caseeq_c(unit, "g") || dw_str_caseeq_c(unit, "gb") ||
             dw_str_caseeq_c(unit, "gib"))
        mul = 1ULL << 30;
    else if (dw_str_caseeq_c(unit, "b"))
        mul = 1;
    else
        return DW_EINVAL;
    if (v > UINT64_MAX / mul) return DW_ERANGE;
    *out = v * mul;
    return DW_OK;
}

int dw_parse_duration_ms(dw_str_t s, uint64_t *out_ms)
{
    if (s.len == 0) return DW_EINVAL;
    uint64_t plain;
    if (dw_parse_u64(s, &plain) == DW_OK) {
        if (plain > UINT64_MAX / 1000) return DW_ERANGE;
        *out_ms = plain * 1000;
        return DW_OK;
    }
    uint64_t total = 0;
    size_t i = 0;
    while (i < s.len) {
        size_t start = i;
        while (i < s.len && dw_ascii_isdigit(s.ptr[i])) i++;
        if (i == start) return DW_EINVAL;
        uint64_t v;
        int rc = dw_parse_u64(dw_str_sub(s, start, i - start), &v);
        if (rc) return rc;
        uint64_t mul;
        if (i + 1 < s.len && s.ptr[i] == 'm' && s.ptr[i + 1] == 's')
            mul = 1, i += 2;
        else if (i < s.len && s.ptr[i] == 's')
            mul = 1000, i++;
        else if (i < s.len && s.ptr[i] == 'm')
            mul = 60000, i++;
        else if (i < s.len && s.ptr[i] == 'h')
            mul = 3600000, i++;
        else
            return DW_EINVAL;
        if (v > (UINT64_MAX - total) / mul) return DW_ERANGE;
        total += v * mul;
    }
    *out_ms = total;
    return DW_OK;
}

int dw_parse_bool(dw_str_t s, bool *out)
{
    static const char *const yes[] = {"true", "on", "yes", "1"};
    static const char *const no[] = {"false", "off", "no", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (dw_str_caseeq_c(s, yes[i])) return *out = true, DW_OK;
        if (dw_str_caseeq_c(s, no[i])) return *out = false, DW_OK;
    }
    return DW_EINVAL;
}
