/* The privacy transforms of spec 30 §2.3 and the small formatting helpers records need. */
#include <arpa/inet.h>
#include <dwaar/log/record.h>
#include <time.h>

#define REFERER_MAX 128u

size_t dw_log_record_anon_ip(uint8_t family, const uint8_t addr[16], char out[46])
{
    static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    uint8_t a[16] = {0};
    if (family == 6 && memcmp(addr, v4mapped, sizeof v4mapped) == 0) {
        memcpy(a, addr + 12, 4);
        family = 4;
    } else if (family == 4) {
        memcpy(a, addr, 4);
    } else if (family == 6) {
        memcpy(a, addr, 6); /* /48 */
    } else {
        family = 4; /* unknown peer: 0.0.0.0 */
    }
    if (family == 4) a[3] = 0;
    if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, a, out, 46)) {
        memcpy(out, "0.0.0.0", 8);
    }
    return strlen(out);
}

static bool sensitive_key(dw_str_t k)
{
    static const char *const keys[] = {"token",   "key",          "secret", "password",
                                       "api_key", "access_token", "auth"};
    for (size_t i = 0; i < DW_ARRAY_LEN(keys); i++)
        if (dw_str_caseeq_c(k, keys[i])) return true;
    return false;
}

bool dw_log_record_redact_query(dw_buf_t *out, dw_str_t q)
{
    bool any = false;
    size_t start = 0;
    for (size_t i = 0; i <= q.len; i++) {
        if (i < q.len && q.ptr[i] != '&') continue;
        dw_str_t piece = dw_str_sub(q, start, i - start);
        if (start) dw_buf_putc(out, '&');
        ptrdiff_t eq = dw_str_chr(piece, '=');
        if (eq >= 0 && (size_t)eq + 1 < piece.len &&
            sensitive_key(dw_str_sub(piece, 0, (size_t)eq))) {
            dw_buf_append(out, piece.ptr, (size_t)eq + 1);
            dw_buf_append_c(out, "REDACTED");
            any = true;
        } else {
            dw_buf_append_str(out, piece);
        }
        start = i + 1;
    }
    return any;
}

void dw_log_record_redact_referer(dw_buf_t *out, dw_str_t ref)
{
    ptrdiff_t q = dw_str_chr(ref, '?');
    if (q >= 0) {
        dw_buf_append(out, ref.ptr, (size_t)q + 1);
        dw_log_record_redact_query(out, dw_str_sub(ref, (size_t)q + 1, ref.len));
        return;
    }
    size_t n = ref.len;
    if (n > REFERER_MAX) {
        /* do not end inside a UTF-8 sequence: while the first byte left out is a continuation
         * byte, the cut splits a character; leave out that character's earlier bytes too */
        n = REFERER_MAX;
        while (n > 0 && ((unsigned char)ref.ptr[n] & 0xc0) == 0x80) n--;
    }
    dw_buf_append(out, ref.ptr, n);
}

const char *dw_log_record_http_version(uint8_t v)
{
    switch (v) {
    case DW_LOG_HTTP09: return "HTTP/0.9";
    case DW_LOG_HTTP10: return "HTTP/1.0";
    case DW_LOG_HTTP2: return "HTTP/2";
    case DW_LOG_HTTP3: return "HTTP/3";
    default: return "HTTP/1.1";
    }
}

static void put2(char *p, unsigned v)
{
    p[0] = (char)('0' + v / 10 % 10);
    p[1] = (char)('0' + v % 10);
}

size_t dw_log_record_timestamp(uint64_t wall_ms, char out[32])
{
    /* the date and time of day change once a second: formatted once per second per thread */
    static _Thread_local uint64_t cached_sec = UINT64_MAX;
    static _Thread_local char cached[20];
    uint64_t sec = wall_ms / 1000;
    if (sec != cached_sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        if (!gmtime_r(&t, &tm)) {
            memset(&tm, 0, sizeof tm);
            tm.tm_year = 70, tm.tm_mday = 1;
        }
        unsigned year = (unsigned)(tm.tm_year + 1900) % 10000;
        /* YYYY-MM-DDTHH:MM:SS */
        put2(cached, year / 100);
        put2(cached + 2, year % 100);
        cached[4] = '-';
        put2(cached + 5, (unsigned)tm.tm_mon + 1);
        cached[7] = '-';
        put2(cached + 8, (unsigned)tm.tm_mday);
        cached[10] = 'T';
        put2(cached + 11, (unsigned)tm.tm_hour);
        cached[13] = ':';
        put2(cached + 14, (unsigned)tm.tm_min);
        cached[16] = ':';
        put2(cached + 17, (unsigned)tm.tm_sec);
        cached_sec = sec;
    }
    unsigned ms = (unsigned)(wall_ms % 1000);
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + ms / 100);
    put2(out + 21, ms % 100);
    out[23] = 'Z';
    out[24] = '\0';
    return 24;
}
