#include <dwaar/base/str.h>

bool dw_str_caseeq(dw_str_t a, dw_str_t b)
{
    if (a.len != b.len) return false;
    for (size_t i = 0; i < a.len; i++)
        if (dw_ascii_lower(a.ptr[i]) != dw_ascii_lower(b.ptr[i])) return false;
    return true;
}

ptrdiff_t dw_str_find(dw_str_t s, dw_str_t needle)
{
    if (needle.len == 0) return 0;
    if (needle.len > s.len) return -1;
    const char *p = memmem(s.ptr, s.len, needle.ptr, needle.len);
    return p ? p - s.ptr : -1;
}

size_t dw_str_edit_distance(dw_str_t a, dw_str_t b, size_t cap)
{
    /* Two rows of the classic DP; words compared here are directive names (short). */
    enum { MAXLEN = 64 };
    if (a.len > MAXLEN || b.len > MAXLEN) return cap + 1;
    size_t diff = a.len > b.len ? a.len - b.len : b.len - a.len;
    if (diff > cap) return cap + 1;
    size_t prev[MAXLEN + 1], cur[MAXLEN + 1];
    for (size_t j = 0; j <= b.len; j++) prev[j] = j;
    for (size_t i = 1; i <= a.len; i++) {
        cur[0] = i;
        size_t rowmin = cur[0];
        for (size_t j = 1; j <= b.len; j++) {
            size_t cost = a.ptr[i - 1] == b.ptr[j - 1] ? 0 : 1;
            size_t v = prev[j - 1] + cost;
            if (prev[j] + 1 < v) v = prev[j] + 1;
            if (cur[j - 1] + 1 < v) v = cur[j - 1] + 1;
            cur[j] = v;
            if (v < rowmin) rowmin = v;
        }
        if (rowmin > cap) return cap + 1;
        memcpy(prev, cur, (b.len + 1) * sizeof(size_t));
    }
    return prev[b.len];
}
