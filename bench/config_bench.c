/* dwaar-config-bench: parse + validate time and memory for a large generated Dwaarfile.
 *
 * Builds, in memory, a realistic configuration of N sites (default 10,000): each site has a
 * named matcher, a reverse_proxy with two upstreams and lb_policy, header operations, a
 * handle block with respond, and every third one imports a snippet. Then it loads it with
 * dw_cfg_load_string() R times and prints one table (scripts/bench.sh shows it):
 * sites, bytes of config, best and median wall time, the model arena's size and the
 * process's peak RSS.
 *
 *   dwaar-config-bench [--sites N] [--runs R] [--dump FILE]
 *
 * --dump writes the generated Dwaarfile (to profile `dwaar validate` on it, for example). */
#include <dwaar/config/config.h>
#include <errno.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

static void generate(dw_buf_t *b, size_t nsites)
{
    dw_buf_append_c(b, "{\n"
                       "    http_port 8080\n"
                       "    https_port 8443\n"
                       "}\n\n"
                       "(hardening) {\n"
                       "    header X-Frame-Options DENY\n"
                       "    header X-Content-Type-Options nosniff\n"
                       "    header -Server\n"
                       "}\n");
    for (size_t i = 0; i < nsites; i++) {
        unsigned a = (unsigned)(i / 250 % 250), c = (unsigned)(i % 250) + 1;
        dw_buf_appendf(b,
                       "\nsite%05zu.example.com, www.site%05zu.example.com {\n"
                       "    @api {\n"
                       "        path /api/* /v1/*\n"
                       "        method GET POST\n"
                       "    }\n"
                       "    reverse_proxy @api 10.%u.%u.1:8080 10.%u.%u.2:8080 {\n"
                       "        lb_policy %s\n"
                       "        health_uri /healthz\n"
                       "    }\n"
                       "    header X-Site \"site %zu\"\n"
                       "    handle /status {\n"
                       "        respond \"ok {host}\" 200\n"
                       "    }\n"
                       "    reverse_proxy 10.%u.%u.3:9000\n",
                       i, i, a, c, a, c, i % 2 ? "least_conn" : "round_robin", i, a, c);
        if (i % 3 == 0) dw_buf_append_c(b, "    import hardening\n");
        dw_buf_append_c(b, "}\n");
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static size_t parse_count(const char *flag, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s ? s : "", &end, 10);
    if (!s || errno || *end || v == 0 || v > 10000000) {
        fprintf(stderr, "%s: expected a positive integer\n", flag);
        exit(2);
    }
    return (size_t)v;
}

int main(int argc, char **argv)
{
    size_t nsites = 10000, runs = 10;
    const char *dump = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--sites") == 0)
            nsites = parse_count("--sites", i + 1 < argc ? argv[++i] : NULL);
        else if (strcmp(argv[i], "--runs") == 0)
            runs = parse_count("--runs", i + 1 < argc ? argv[++i] : NULL);
        else if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc)
            dump = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--sites N] [--runs R] [--dump FILE]\n", argv[0]);
            return 2;
        }
    }

    dw_buf_t src = DW_BUF_INIT;
    generate(&src, nsites);
    if (src.failed) {
        fprintf(stderr, "out of memory generating the configuration\n");
        return 1;
    }
    if (dump) {
        FILE *f = fopen(dump, "wb");
        if (!f || fwrite(src.data, 1, src.len, f) != src.len || fclose(f) != 0) {
            fprintf(stderr, "cannot write %s: %s\n", dump, strerror(errno));
            return 1;
        }
    }

    double *ms = calloc(runs, sizeof(*ms));
    if (!ms) return 1;
    size_t arena_total = 0, nsites_loaded = 0, naddresses = 0, nroutes = 0;
    dw_cfg_load_opts_t opts = {.check_files = true};
    for (size_t r = 0; r < runs; r++) {
        dw_diags_t diags;
        dw_diags_init(&diags);
        double t0 = now_ms();
        dw_config_t *cfg = dw_cfg_load_string("Dwaarfile", ".", src.data, src.len, &opts, &diags);
        ms[r] = now_ms() - t0;
        if (!cfg) {
            fprintf(stderr, "the generated configuration does not load (%zu errors):\n",
                    diags.nerrors);
            diags.n = diags.n > 10 ? 10 : diags.n; /* the first few are enough */
            dw_diags_print(&diags, -1, stderr);
            free(ms);
            dw_diags_deinit(&diags);
            dw_buf_deinit(&src);
            return 1;
        }
        arena_total = cfg->arena.total;
        nsites_loaded = cfg->nsites;
        naddresses = cfg->naddresses;
        nroutes = cfg->nroutes;
        dw_config_free(cfg);
        dw_diags_deinit(&diags);
    }
    qsort(ms, runs, sizeof(*ms), cmp_double);
    double median = runs % 2 ? ms[runs / 2] : (ms[runs / 2 - 1] + ms[runs / 2]) / 2;

    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("%-28s %zu (%zu site blocks, %zu addresses, %zu routes)\n", "sites", nsites,
           nsites_loaded, naddresses, nroutes);
    printf("%-28s %zu (%.1f MiB)\n", "config bytes", src.len, (double)src.len / 1048576.0);
    printf("%-28s %zu\n", "runs", runs);
    printf("%-28s %.1f ms\n", "parse+validate best", ms[0]);
    printf("%-28s %.1f ms\n", "parse+validate median", median);
    printf("%-28s %zu (%.1f MiB)\n", "model arena bytes", arena_total,
           (double)arena_total / 1048576.0);
    printf("%-28s %ld KiB (%.1f MiB)\n", "process max RSS", ru.ru_maxrss,
           (double)ru.ru_maxrss / 1024.0);
    free(ms);
    dw_buf_deinit(&src);
    return 0;
}
