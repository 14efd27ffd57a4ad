#include <dwaar/base/time.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Thread_local dw_time_cache_t tc;
static _Thread_local int64_t tc_formatted_sec = -1;

void dw_time_format_http(int64_t unix_secs, char out[64])
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t t = (time_t)unix_secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
             mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

const dw_time_cache_t *dw_time_update(void)
{
    struct timespec mono, wall;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &wall);
    tc.mono_ms = (uint64_t)mono.tv_sec * 1000 + (uint64_t)mono.tv_nsec / 1000000;
    tc.wall_ms = (uint64_t)wall.tv_sec * 1000 + (uint64_t)wall.tv_nsec / 1000000;
    int64_t sec = (int64_t)wall.tv_sec;
    if (sec != tc_formatted_sec) {
        /* formatting happens once per second; per update only the milliseconds change */
        dw_time_format_http(sec, tc.http_date);
        struct tm tm;
        time_t t = (time_t)sec;
        gmtime_r(&t, &tm);
        snprintf(tc.iso8601, sizeof(tc.iso8601), "%04d-%02d-%02dT%02d:%02d:%02d.000Z",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        tc_formatted_sec = sec;
    }
    unsigned ms = (unsigned)(tc.wall_ms % 1000);
    tc.iso8601[20] = (char)('0' + ms / 100);
    tc.iso8601[21] = (char)('0' + ms / 10 % 10);
    tc.iso8601[22] = (char)('0' + ms % 10);
    return &tc;
}

const dw_time_cache_t *dw_time_cached(void)
{
    if (tc.mono_ms == 0) return dw_time_update();
    return &tc;
}
