/* The routes table (spec 30 §1.5 GET /routes, `dwaar routes`): one entry per route key of a
 * model. A Dwaarfile site contributes its addresses' host keys (the catch-all as "_default"),
 * an API site the keys it was generated for. */
#include "source_int.h"

#define MAX_DEPTH 64 /* blocks nest at most this deep (tree.c) */

/* The first backend in source order, depth first through handle/handle_path/route blocks. */
static bool first_backend(const dw_cfg_block_t *b, int depth, const dw_cfg_upstream_t **out)
{
    if (!b || depth > MAX_DEPTH) return false;
    for (size_t i = 0; i < b->ndirs; i++) {
        const dw_cfg_directive_t *d = &b->dirs[i];
        switch (d->kind) {
        case DW_DIR_REVERSE_PROXY:
            if (d->u.proxy && d->u.proxy->nupstreams) {
                *out = &d->u.proxy->upstreams[0];
                return true;
            }
            break;
        case DW_DIR_PHP_FASTCGI: *out = &d->u.php_fastcgi.addr; return true;
        case DW_DIR_GRPC:
            if (d->u.grpc.has_upstream) {
                *out = &d->u.grpc.upstream;
                return true;
            }
            break;
        case DW_DIR_HANDLE:
        case DW_DIR_HANDLE_PATH:
        case DW_DIR_ROUTE:
            if (first_backend(d->u.handle.block, depth + 1, out)) return true;
            break;
        default: break;
        }
    }
    return false;
}

/* What a Dwaarfile site's entries share: its first backend and site-level limits. */
static void site_info(const dw_cfg_site_t *s, dw_cfg_route_info_t *r)
{
    const dw_cfg_upstream_t *u = NULL;
    if (first_backend(&s->block, 0, &u) && u->scheme != DW_UPSTREAM_UNIX) {
        bool v6 = dw_str_chr(u->host, ':') >= 0;
        snprintf(r->upstream, sizeof(r->upstream), v6 ? "[%.*s]:%u" : "%.*s:%u",
                 DW_STR_FMT(u->host), u->port);
        r->tls = u->scheme == DW_UPSTREAM_HTTPS;
    }
    bool rate = false, attack = false;
    for (size_t i = 0; i < s->block.ndirs; i++) {
        const dw_cfg_directive_t *d = &s->block.dirs[i];
        if (d->kind == DW_DIR_RATE_LIMIT && !rate) {
            rate = true;
            const dw_cfg_rate_limit_t *rl = &d->u.rate_limit;
            uint64_t w = rl->window_ms ? rl->window_ms : 1000;
            double f = (double)rl->requests * 1000.0 / (double)w;
            uint64_t rps = f >= 18446744073709549568.0 ? UINT64_MAX : (uint64_t)f;
            r->has_rate = true;
            r->rate_limit_rps = rps ? rps : 1; /* 1/m is not "0 requests a second" */
        } else if (d->kind == DW_DIR_UNDER_ATTACK && !attack) {
            attack = true;
            r->under_attack = d->u.under_attack.enabled;
        }
    }
}

static void set_domain(dw_cfg_route_info_t *r, dw_str_t key)
{
    snprintf(r->domain, sizeof(r->domain), "%.*s", DW_STR_FMT(key));
}

size_t dw_cfg_routes(const dw_config_t *cfg, dw_cfg_route_info_t **out)
{
    *out = NULL;
    if (!cfg) return 0;
    size_t cap = 0;
    for (size_t s = 0; s < cfg->nsites; s++) cap += cfg->sites[s].naddrs + cfg->sites[s].napi_keys;
    dw_cfg_route_info_t *v = calloc(cap ? cap : 1, sizeof(*v));
    if (!v) return 0;
    size_t n = 0;
    dw_strmap_t seen;
    dw_strmap_init(&seen, false);
    for (size_t s = 0; s < cfg->nsites; s++) {
        const dw_cfg_site_t *site = &cfg->sites[s];
        for (size_t i = 0; i < site->napi_keys; i++) {
            const dw_cfg_api_key_t *k = &site->api_keys[i];
            if (dw_strmap_get(&seen, k->key)) continue;
            dw_strmap_put(&seen, k->key, (void *)1, NULL);
            dw_cfg_route_info_t *r = &v[n++];
            set_domain(r, k->key);
            snprintf(r->upstream, sizeof(r->upstream), "%.*s", DW_STR_FMT(k->upstream));
            r->tls = k->tls;
            if (k->source.ptr)
                snprintf(r->source, sizeof(r->source), "%.*s", DW_STR_FMT(k->source));
        }
        if (site->from_api) continue;
        dw_cfg_route_info_t info = {0};
        bool have_info = false;
        for (size_t i = 0; i < site->naddrs; i++) {
            dw_str_t key = dw_cfg_address_key(&site->addrs[i]);
            if (dw_strmap_get(&seen, key)) continue;
            dw_strmap_put(&seen, key, (void *)1, NULL);
            if (!have_info) {
                site_info(site, &info);
                have_info = true;
            }
            dw_cfg_route_info_t *r = &v[n++];
            *r = info;
            set_domain(r, key);
        }
    }
    dw_strmap_deinit(&seen);
    if (n == 0) {
        free(v);
        v = NULL;
    }
    *out = v;
    return n;
}

bool dw_cfg_has_route(const dw_config_t *cfg, const char *domain)
{
    dw_str_t key = dw_str_c(domain);
    for (size_t s = 0; cfg && s < cfg->nsites; s++) {
        const dw_cfg_site_t *site = &cfg->sites[s];
        for (size_t i = 0; i < site->napi_keys; i++)
            if (dw_str_eq(site->api_keys[i].key, key)) return true;
        if (site->from_api) continue;
        for (size_t i = 0; i < site->naddrs; i++)
            if (dw_str_eq(dw_cfg_address_key(&site->addrs[i]), key)) return true;
    }
    return false;
}
