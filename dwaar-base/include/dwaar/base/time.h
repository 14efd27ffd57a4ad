/* A per-thread time cache: reading the clock on every request is a syscall-free load. */
#ifndef DWAAR_BASE_TIME_H
#define DWAAR_BASE_TIME_H

#include <stdint.h>

typedef struct dw_time_cache {
    uint64_t mono_ms;   /* CLOCK_MONOTONIC */
    uint64_t wall_ms;   /* CLOCK_REALTIME, Unix epoch */
    char http_date[64]; /* IMF-fixdate of wall_ms, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" */
    char iso8601[80];   /* "2026-11-23T21:08:29.123Z" */
} dw_time_cache_t;

/* Re-read the clocks (once per event-loop iteration) and refresh formatted forms when the
 * second changes. Returns the calling thread's cache. */
const dw_time_cache_t *dw_time_update(void);
/* The calling thread's cache as last updated (updated once on first use). */
const dw_time_cache_t *dw_time_cached(void);
static inline uint64_t dw_time_mono_ms(void)
{
    return dw_time_cached()->mono_ms;
}
static inline uint64_t dw_time_wall_ms(void)
{
    return dw_time_cached()->wall_ms;
}

/* Format a Unix time (seconds) as an IMF-fixdate into out (64 bytes; the date fits in 30). */
void dw_time_format_http(int64_t unix_secs, char out[64]);

#endif
