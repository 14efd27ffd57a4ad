/* libFuzzer harness: request paths (dwaar-core/src/path.c) — normalisation, percent-decoding
 * and §4.3 path patterns, all of which see untrusted request targets.
 *
 * Input: a pattern and a path separated by the first NUL (no NUL: the input is both). Checks,
 * besides memory errors: a normalised path starts with '/', has no "//", no "." or ".."
 * segment, and normalising it again changes nothing; dw_percent_eq agrees with
 * dw_percent_decode; pattern matching terminates (libFuzzer's -timeout catches blow-ups). */
#include "match.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) abort();                                                                         \
    } while (0)

static bool has_dot_segment(dw_str_t p)
{
    for (size_t i = 0; i < p.len; i++) {
        if (p.ptr[i] != '/') continue;
        size_t j = i + 1;
        while (j < p.len && p.ptr[j] != '/') j++;
        size_t n = j - i - 1;
        if ((n == 1 && p.ptr[i + 1] == '.') ||
            (n == 2 && p.ptr[i + 1] == '.' && p.ptr[i + 2] == '.'))
            return true;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *nul = memchr(s, '\0', size);
    dw_str_t pattern = dw_str_make(s, nul ? (size_t)(nul - s) : size);
    dw_str_t path = nul ? dw_str_make(nul + 1, size - (size_t)(nul - s) - 1) : pattern;

    dw_arena_t a;
    dw_arena_init(&a, 4096);
    dw_str_t norm;
    if (dw_path_normalize(&a, path, &norm) == DW_OK) {
        CHECK(norm.len >= 1 && norm.ptr[0] == '/');
        CHECK(dw_str_find(norm, DW_STR("//")) < 0);
        CHECK(!has_dot_segment(norm));
        /* a second pass must not change it, unless decoding produced new escapes ("%2541") */
        if (!memchr(norm.ptr, '%', norm.len)) {
            dw_str_t again;
            CHECK(dw_path_normalize(&a, norm, &again) == DW_OK);
            CHECK(dw_str_eq(again, norm));
        }
        (void)dw_path_pattern_match(pattern, norm);
    }
    dw_str_t dec = dw_percent_decode(&a, path);
    CHECK(dec.len <= path.len);
    CHECK(dw_percent_eq(path, dec));
    (void)dw_path_pattern_match(pattern, path);
    (void)dw_path_pattern_prefix(pattern);
    dw_arena_deinit(&a);
    return 0;
}
