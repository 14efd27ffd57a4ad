/* Backend selection and shared backend state (spec 20 §3.3). */
#include "pool.h"
#include "match.h"
#include <arpa/inet.h>
#include <dwaar/base/error.h>
#include <dwaar/base/hash.h>
#include <dwaar/base/log.h>
#include <dwaar/base/time.h>
#include <dwaar/tls/tls.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/un.h>

static void mask_label(dw_backend_t *b)
{
    if (b->is_unix) {
        snprintf(b->label, sizeof b->label, "unix:%.*s", DW_STR_FMT(b->host));
        return;
    }
    char ip[INET6_ADDRSTRLEN] = "?";
    if (b->addr.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&b->addr;
        const uint8_t *o = (const uint8_t *)&in->sin_addr;
        snprintf(b->label, sizeof b->label, "%u.x.x.x:%u", o[0], b->port);
        return;
    }
    if (b->addr.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&b->addr;
        const uint8_t *o = in6->sin6_addr.s6_addr;
        snprintf(b->label, sizeof b->label, "%x:%x:%x::/48:%u", (o[0] << 8) | o[1],
                 (o[2] << 8) | o[3], (o[4] << 8) | o[5], b->port);
        return;
    }
    (void)ip;
    snprintf(b->label, sizeof b->label, "%.*s:%u", DW_STR_FMT(b->host), b->port);
}

static void resolve(dw_backend_t *b)
{
    if (b->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&b->addr;
        if (b->host.len >= sizeof un->sun_path) return;
        un->sun_family = AF_UNIX;
        memcpy(un->sun_path, b->host.ptr, b->host.len);
        un->sun_path[b->host.len] = '\0';
        b->addrlen = (socklen_t)sizeof *un;
        b->resolved = true;
        snprintf(b->key, sizeof b->key, "unix:%.*s", DW_STR_FMT(b->host));
        b->cookie_hash = dw_fnv1a64(b->host.ptr, b->host.len);
        mask_label(b);
        return;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof port, "%u", b->port);
    char host[256];
    snprintf(host, sizeof host, "%.*s", DW_STR_FMT(b->host));
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res) {
        DW_WARN("proxy", "upstream %s:%s does not resolve; requests to it get 502", host, port);
        snprintf(b->key, sizeof b->key, "unresolved:%.100s:%s", host, port);
        snprintf(b->label, sizeof b->label, "%.60s:%s", host, port);
        b->cookie_hash = 0;
        return;
    }
    memcpy(&b->addr, res->ai_addr, res->ai_addrlen);
    b->addrlen = res->ai_addrlen;
    b->resolved = true;
    freeaddrinfo(res);
    char ip[INET6_ADDRSTRLEN];
    char hp[INET6_ADDRSTRLEN + 10];
    if (b->addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&b->addr)->sin6_addr, ip, sizeof ip);
        snprintf(hp, sizeof hp, "[%s]:%u", ip, b->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&b->addr)->sin_addr, ip, sizeof ip);
        snprintf(hp, sizeof hp, "%s:%u", ip, b->port);
    }
    snprintf(b->key, sizeof b->key, "%s", hp);
    b->cookie_hash = dw_fnv1a64(hp, strlen(hp));
    mask_label(b);
}

static void free_tls_client(void *arg)
{
    dw_tls_client_free(arg);
}

int dw_pool_init(dw_arena_t *a, dw_pool_t *p, const dw_cfg_proxy_t *cfg, dw_err_t *err)
{
    p->cfg = cfg;
    p->n = cfg->nupstreams;
    p->be = dw_arena_zalloc(a, sizeof *p->be * (p->n ? p->n : 1));
    if (!p->be) return DW_ENOMEM;
    atomic_init(&p->rr, 0);
    atomic_init(&p->wake_until, 0);
    for (size_t i = 0; i < p->n; i++) {
        dw_backend_t *b = &p->be[i];
        const dw_cfg_upstream_t *u = &cfg->upstreams[i];
        b->host = u->host;
        b->port = u->port;
        b->is_unix = u->scheme == DW_UPSTREAM_UNIX;
        atomic_init(&b->inflight, 0);
        atomic_init(&b->healthy, true);
        atomic_init(&b->fail_until, 0);
        resolve(b);
    }
    const dw_cfg_transport_t *tr = &cfg->transport;
    bool tls = tr->tls;
    for (size_t i = 0; i < p->n; i++) tls |= cfg->upstreams[i].scheme == DW_UPSTREAM_HTTPS;
    if (tls) {
        /* client certificates are loaded here, once: a bad pair fails the config (TLS-40) */
        bool h2 = tr->h2 && !tr->h2c;
        p->tls = dw_tls_client_new(tr->trusted_ca.len ? tr->trusted_ca.ptr : NULL,
                                   tr->client_cert.len ? tr->client_cert.ptr : NULL,
                                   tr->client_key.len ? tr->client_key.ptr : NULL, h2, err);
        if (!p->tls) return err && err->rc ? err->rc : DW_EINVAL;
        dw_arena_on_cleanup(a, free_tls_client, p->tls);
    }
    return DW_OK;
}

dw_str_t dw_pool_tls_name(const dw_pool_t *p, const dw_backend_t *b)
{
    return p->cfg->transport.server_name.len ? p->cfg->transport.server_name : b->host;
}

bool dw_backend_available(const dw_pool_t *p, const dw_backend_t *b, uint64_t now_ms)
{
    if (!atomic_load_explicit(&b->healthy, memory_order_relaxed)) return false;
    if (atomic_load_explicit(&b->fail_until, memory_order_relaxed) > now_ms) return false;
    if (p->cfg->max_conns &&
        (uint64_t)atomic_load_explicit(&b->inflight, memory_order_relaxed) >= p->cfg->max_conns)
        return false;
    return true;
}

/* Claims an in-flight slot with CAS against max_conns. */
static bool claim(const dw_pool_t *p, dw_backend_t *b)
{
    if (!p->cfg->max_conns) {
        atomic_fetch_add_explicit(&b->inflight, 1, memory_order_relaxed);
        return true;
    }
    int cur = atomic_load_explicit(&b->inflight, memory_order_relaxed);
    while ((uint64_t)cur < p->cfg->max_conns) {
        if (atomic_compare_exchange_weak_explicit(&b->inflight, &cur, cur + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return true;
    }
    return false;
}

void dw_backend_release(dw_backend_t *b)
{
    atomic_fetch_sub_explicit(&b->inflight, 1, memory_order_relaxed);
}

void dw_backend_failed(dw_pool_t *p, dw_backend_t *b)
{
    if (p->cfg->fail_duration_ms)
        atomic_store_explicit(&b->fail_until, dw_time_mono_ms() + p->cfg->fail_duration_ms,
                              memory_order_relaxed);
}

static bool usable(const dw_pool_t *p, const dw_backend_t *b, const dw_backend_t *exclude,
                   uint64_t now)
{
    return b != exclude && dw_backend_available(p, b, now);
}

/* Scan forward from start (wrapping) to the first available backend, claiming it. */
static dw_backend_t *scan_from(dw_pool_t *p, size_t start, const dw_backend_t *exclude,
                               uint64_t now)
{
    for (int pass = 0; pass < 2; pass++) {
        const dw_backend_t *ex = pass == 0 ? exclude : NULL;
        for (size_t k = 0; k < p->n; k++) {
            dw_backend_t *b = &p->be[(start + k) % p->n];
            if (usable(p, b, ex, now) && claim(p, b)) return b;
        }
        if (!exclude) break;
    }
    return NULL;
}

static uint64_t xorshift(void)
{
    static _Thread_local uint64_t s;
    if (!s) s = (uint64_t)(uintptr_t)&s ^ dw_time_mono_ms() ^ 0x9e3779b97f4a7c15ULL;
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    return s;
}

dw_backend_t *dw_pool_pick(dw_pool_t *p, dw_req_t *r, const dw_backend_t *exclude, bool *set_cookie)
{
    *set_cookie = false;
    if (p->n == 0) return NULL;
    uint64_t now = dw_time_mono_ms();
    if (p->n == 1) {
        dw_backend_t *b = &p->be[0];
        return dw_backend_available(p, b, now) && claim(p, b) ? b : NULL;
    }
    switch (p->cfg->lb_policy) {
    case DW_LB_LEAST_CONN: {
        for (int pass = 0; pass < 2; pass++) {
            const dw_backend_t *ex = pass == 0 ? exclude : NULL;
            dw_backend_t *best = NULL;
            int best_n = 0;
            for (size_t i = 0; i < p->n; i++) {
                dw_backend_t *b = &p->be[i];
                if (!usable(p, b, ex, now)) continue;
                int n = atomic_load_explicit(&b->inflight, memory_order_relaxed);
                if (!best || n < best_n) best = b, best_n = n;
            }
            if (best && claim(p, best)) return best;
            if (best) return scan_from(p, 0, exclude, now);
            if (!exclude) break;
        }
        return NULL;
    }
    case DW_LB_RANDOM: {
        /* Reservoir sampling over the available backends. */
        for (int pass = 0; pass < 2; pass++) {
            const dw_backend_t *ex = pass == 0 ? exclude : NULL;
            dw_backend_t *pick = NULL;
            uint64_t seen = 0;
            for (size_t i = 0; i < p->n; i++) {
                dw_backend_t *b = &p->be[i];
                if (!usable(p, b, ex, now)) continue;
                if (xorshift() % ++seen == 0) pick = b;
            }
            if (pick && claim(p, pick)) return pick;
            if (pick) return scan_from(p, 0, exclude, now);
            if (!exclude) break;
        }
        return NULL;
    }
    case DW_LB_IP_HASH:
        if (r->peer.family) {
            size_t n = r->peer.family == 4 ? 4 : 16;
            uint64_t h = dw_fnv1a64(r->peer.addr, n);
            return scan_from(p, (size_t)(h % p->n), exclude, now);
        }
        break;
    case DW_LB_COOKIE: {
        dw_str_t v = dw_req_cookie(r, DW_STR("_dwaar_sticky"));
        if (v.len == 16) {
            char hex[17];
            for (size_t i = 0; i < p->n; i++) {
                dw_backend_t *b = &p->be[i];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)b->cookie_hash);
                if (memcmp(hex, v.ptr, 16) == 0 && usable(p, b, exclude, now) && claim(p, b))
                    return b;
            }
        }
        *set_cookie = true;
        break;
    }
    default: break;
    }
    unsigned c = atomic_fetch_add_explicit(&p->rr, 1, memory_order_relaxed);
    return scan_from(p, c % p->n, exclude, now);
}
