/* GET /metrics (spec 30 §4): the Prometheus text exposition (format 0.0.4) of what admind can
 * honestly report today:
 *   - dwaar_config_reload_total{result}  from configd's config.status counters;
 *   - the six process_* families, read from /proc and getrusage on the admin thread (a few
 *     small reads of procfs, which never blocks on disk).
 * The per-request families (dwaar_requests_total, the duration/byte/connection families,
 * upstream, TLS, rate-limit, cache and beacon families) belong to the data plane's counters
 * and arrive with the observability issue; they will be rendered here in the order of §4.2.
 * dwaar_log_records_dropped_total [ext] is logd's counter; admind cannot read it without a
 * logd stats message, so it is left out until logd offers one. */
#include "admin_int.h"
#include <dirent.h>
#include <math.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

void dw_admin_fmt_double(dw_buf_t *out, double v)
{
    if (isnan(v)) {
        dw_buf_append_c(out, "NaN");
        return;
    }
    if (isinf(v)) {
        dw_buf_append_c(out, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    char tmp[64];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* %g picks exponent form for 10, 1234567 or 0.00012: write moderate magnitudes plainly
     * with the same significant digits ("10", not "1e+01") */
    const char *e = strchr(tmp, 'e');
    if (e) {
        int x = atoi(e + 1);
        if (x >= -5 && x < 21) {
            int decimals = prec - 1 - x;
            snprintf(tmp, sizeof tmp, "%.*f", decimals > 0 ? decimals : 0, v);
        }
    }
    dw_buf_append_c(out, tmp);
}

/* A "Name:   value kB" line of /proc/self/status. */
static bool status_field(const char *name, uint64_t *out)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f) return false;
    char line[256];
    size_t nl = strlen(name);
    bool found = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, name, nl) == 0 && line[nl] == ':') {
            *out = strtoull(line + nl + 1, NULL, 10);
            found = true;
            break;
        }
    }
    fclose(f);
    return found;
}

double dw_admin_process_start_time(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    double fallback = (double)now.tv_sec + (double)now.tv_nsec / 1e9;

    uint64_t btime = 0;
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return fallback;
    char line[512];
    bool have_btime = false;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "btime ", 6) == 0) {
            btime = strtoull(line + 6, NULL, 10);
            have_btime = true;
            break;
        }
    }
    fclose(f);
    if (!have_btime) return fallback;

    f = fopen("/proc/self/stat", "re");
    if (!f) return fallback;
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* comm (field 2) may hold spaces and parentheses: fields restart after the last ')' */
    char *p = strrchr(buf, ')');
    if (!p) return fallback;
    p++;
    /* p is before field 3; starttime is field 22 */
    for (int field = 3; field < 22 && p; field++) {
        p = strchr(p + 1, ' ');
    }
    if (!p) return fallback;
    long tck = sysconf(_SC_CLK_TCK);
    if (tck <= 0) return fallback;
    uint64_t ticks = strtoull(p + 1, NULL, 10);
    return (double)btime + (double)ticks / (double)tck;
}

static uint64_t open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return 0;
    uint64_t n = 0;
    int own = dirfd(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        if (atoi(e->d_name) == own) continue; /* the descriptor reading the directory */
        n++;
    }
    closedir(d);
    return n;
}

static void family(dw_buf_t *out, const char *name, const char *type, const char *help)
{
    dw_buf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_u64(dw_buf_t *out, const char *name, uint64_t v)
{
    dw_buf_append_c(out, name);
    dw_buf_putc(out, ' ');
    dw_buf_append_u64(out, v);
    dw_buf_putc(out, '\n');
}

static void sample_double(dw_buf_t *out, const char *name, double v)
{
    dw_buf_append_c(out, name);
    dw_buf_putc(out, ' ');
    dw_admin_fmt_double(out, v);
    dw_buf_putc(out, '\n');
}

static double start_time_once(void)
{
    static double t; /* admin thread only */
    if (t == 0) t = dw_admin_process_start_time();
    return t;
}

void dw_admin_metrics_render(dw_buf_t *out, const dw_admin_reloads_t *reloads)
{
    /* (the per-request families of §4.2 come first once the data plane exports them) */

    if (reloads && reloads->known && reloads->ok + reloads->failed > 0) {
        family(out, "dwaar_config_reload_total", "counter",
               "Configuration reload attempts by result.");
        if (reloads->ok)
            dw_buf_appendf(out, "dwaar_config_reload_total{result=\"success\"} %llu\n",
                           (unsigned long long)reloads->ok);
        if (reloads->failed)
            dw_buf_appendf(out, "dwaar_config_reload_total{result=\"failure\"} %llu\n",
                           (unsigned long long)reloads->failed);
    }

    struct rusage ru;
    double cpu = 0;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
              (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    family(out, "process_cpu_seconds_total", "counter",
           "Total user and system CPU time spent in seconds.");
    sample_double(out, "process_cpu_seconds_total", cpu);

    uint64_t rss_kb = 0;
    status_field("VmRSS", &rss_kb);
    family(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    sample_u64(out, "process_resident_memory_bytes", rss_kb * 1024);

    family(out, "process_open_fds", "gauge", "Number of open file descriptors.");
    sample_u64(out, "process_open_fds", open_fds());

    family(out, "process_start_time_seconds", "gauge",
           "Start time of the process since unix epoch in seconds.");
    sample_double(out, "process_start_time_seconds", start_time_once());

    struct rlimit rl;
    uint64_t max_fds = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) max_fds = (uint64_t)rl.rlim_cur;
    family(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    sample_u64(out, "process_max_fds", max_fds);

    uint64_t threads = 0;
    status_field("Threads", &threads);
    family(out, "process_threads", "gauge", "Number of OS threads in the process.");
    sample_u64(out, "process_threads", threads);
}
