/* Compiling a config model into the runtime snapshot: route tables per port, blocks in
 * execution order, compiled matchers, upstream pools. Runs off the request path (startup,
 * reload); may block (name resolution). */
#include "pool.h"
#include "snapshot.h"
#include <dwaar/base/log.h>
#include <dwaar/config/config.h>
#include <dwaar/tls/tls.h>
#include <stdio.h>
#include <stdlib.h>

#define DW_CERT_DIR_MAX 10000 /* certificate pairs read from the cert dir per snapshot */

static int compile_block(dw_snapshot_t *s, const dw_cfg_block_t *b, bool grpc, dw_rt_block_t **out,
                         dw_err_t *err);

/* The upstream pool of a reverse_proxy or `grpc <upstream>` (cfg lives in the config model
 * or the snapshot arena). grpc: inside a block marked by a bare `grpc`, where the proxy
 * speaks HTTP/2 (RT-31): a TLS upstream is then asked for ALPN h2. */
static int add_pool(dw_snapshot_t *s, const dw_cfg_directive_t *d, const dw_cfg_proxy_t *cfg,
                    bool grpc, dw_rt_dir_t *rd, dw_err_t *err)
{
    bool tls = cfg->transport.tls;
    for (size_t i = 0; i < cfg->nupstreams; i++)
        tls |= cfg->upstreams[i].scheme == DW_UPSTREAM_HTTPS;
    if (grpc && tls && !cfg->transport.h2) {
        dw_cfg_proxy_t *h2 = dw_arena_alloc(&s->arena, sizeof *h2);
        if (!h2) return dw_err_set(err, DW_ENOMEM, "out of memory");
        *h2 = *cfg;
        h2->transport.tls = h2->transport.h2 = true;
        cfg = h2;
    }
    dw_pool_t *p = dw_arena_zalloc(&s->arena, sizeof *p);
    if (!p) return dw_err_set(err, DW_ENOMEM, "out of memory");
    dw_err_t perr = {0};
    if (dw_pool_init(&s->arena, p, cfg, &perr) != DW_OK)
        return dw_err_set(err, perr.rc ? perr.rc : DW_ENOMEM, "%s:%u:%u: %s: %s",
                          d->loc.file ? d->loc.file : "Dwaarfile", d->loc.line, d->loc.col, d->name,
                          perr.msg[0] ? perr.msg : "out of memory");
    rd->pool = p;
    struct dw_pool **np = DW_ARENA_PUSH(&s->arena, s->pools, s->npools, s->pools_cap);
    if (!np) return dw_err_set(err, DW_ENOMEM, "out of memory");
    *np = p;
    return DW_OK;
}

/* `grpc <upstream>` (spec 10 §6.2): a proxy to that one upstream over HTTP/2, cleartext (h2c)
 * unless the upstream is https:// (TLS with ALPN h2). */
static int add_grpc_pool(dw_snapshot_t *s, const dw_cfg_directive_t *d, dw_rt_dir_t *rd,
                         dw_err_t *err)
{
    dw_cfg_proxy_t *cfg = dw_arena_zalloc(&s->arena, sizeof *cfg);
    if (!cfg) return dw_err_set(err, DW_ENOMEM, "out of memory");
    cfg->upstreams = (dw_cfg_upstream_t *)&d->u.grpc.upstream;
    cfg->nupstreams = 1;
    if (d->u.grpc.upstream.scheme == DW_UPSTREAM_HTTPS)
        cfg->transport.tls = cfg->transport.h2 = true;
    else
        cfg->transport.h2c = true;
    return add_pool(s, d, cfg, false, rd, err);
}

static int compile_dir(dw_snapshot_t *s, const dw_cfg_directive_t *d, bool grpc, dw_rt_dir_t *rd,
                       dw_err_t *err)
{
    rd->d = d;
    int rc = dw_rt_match_compile(&s->arena, &d->match, &rd->match, err);
    if (rc != DW_OK) return rc;
    switch (d->kind) {
    case DW_DIR_MAP: return dw_rt_map_compile(&s->arena, &d->u.map, &rd->map, err);
    case DW_DIR_HANDLE:
    case DW_DIR_HANDLE_PATH:
    case DW_DIR_ROUTE: return compile_block(s, d->u.handle.block, grpc, &rd->sub, err);
    case DW_DIR_REVERSE_PROXY: return add_pool(s, d, d->u.proxy, grpc, rd, err);
    case DW_DIR_GRPC: return d->u.grpc.has_upstream ? add_grpc_pool(s, d, rd, err) : DW_OK;
    default: return DW_OK;
    }
}

/* Stable order by rank for middleware; terminal handlers with a matcher before those without
 * (§4.2 step 3). grpc: an enclosing block is marked by a bare `grpc`. */
static int compile_block(dw_snapshot_t *s, const dw_cfg_block_t *b, bool grpc, dw_rt_block_t **out,
                         dw_err_t *err)
{
    dw_rt_block_t *rb = dw_arena_zalloc(&s->arena, sizeof *rb);
    size_t n = b->ndirs ? b->ndirs : 1;
    if (!rb) return dw_err_set(err, DW_ENOMEM, "out of memory");
    rb->mw = dw_arena_zalloc(&s->arena, sizeof *rb->mw * n);
    rb->family = dw_arena_zalloc(&s->arena, sizeof *rb->family * n);
    rb->terminals = dw_arena_zalloc(&s->arena, sizeof *rb->terminals * n);
    if (!rb->mw || !rb->family || !rb->terminals)
        return dw_err_set(err, DW_ENOMEM, "out of memory");
    for (size_t i = 0; i < b->ndirs; i++)
        if (b->dirs[i].kind == DW_DIR_GRPC && !b->dirs[i].u.grpc.has_upstream) rb->grpc = true;
    grpc |= rb->grpc;
    for (uint8_t rank = 1; rank <= 7; rank++) {
        for (size_t i = 0; i < b->ndirs; i++) {
            const dw_cfg_directive_t *d = &b->dirs[i];
            if (d->rank != rank || d->kind == DW_DIR_HANDLE_ERRORS) continue;
            int rc = compile_dir(s, d, grpc, &rb->mw[rb->nmw++], err);
            if (rc != DW_OK) return rc;
        }
    }
    for (size_t i = 0; i < b->ndirs; i++) {
        const dw_cfg_directive_t *d = &b->dirs[i];
        if (d->kind != DW_DIR_HANDLE && d->kind != DW_DIR_HANDLE_PATH && d->kind != DW_DIR_ROUTE)
            continue;
        int rc = compile_dir(s, d, grpc, &rb->family[rb->nfamily++], err);
        if (rc != DW_OK) return rc;
    }
    for (int with = 1; with >= 0; with--) {
        for (size_t i = 0; i < b->ndirs; i++) {
            const dw_cfg_directive_t *d = &b->dirs[i];
            if (!d->terminal) continue;
            bool has = d->match.kind != DW_MATCH_NONE;
            if (has != (with == 1)) continue;
            int rc = compile_dir(s, d, grpc, &rb->terminals[rb->nterminals++], err);
            if (rc != DW_OK) return rc;
        }
    }
    *out = rb;
    return DW_OK;
}

static dw_rt_port_t *port_get(dw_snapshot_t *s, uint16_t port, bool tls)
{
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i].port == port) return &s->ports[i];
    dw_rt_port_t *p = DW_ARENA_PUSH(&s->arena, s->ports, s->nports, s->ports_cap);
    if (!p) return NULL;
    p->port = port;
    p->tls = tls;
    dw_strmap_init(&p->exact, true);
    dw_strmap_init(&p->wildcard, true);
    return p;
}

void dw_rt_listen_key(const dw_rt_listen_t *ls, char *out, size_t n)
{
    snprintf(out, n, "%s|%u|%s", ls->host, ls->port, ls->unix_path ? ls->unix_path : "");
}

static void site_bind(dw_snapshot_t *s, dw_rt_site_t *site, const char *host, uint16_t port,
                      const char *unix_path)
{
    dw_rt_listen_t ls = {.port = port, .unix_path = (char *)unix_path};
    snprintf(ls.host, sizeof ls.host, "%s", host);
    char key[256];
    dw_rt_listen_key(&ls, key, sizeof key);
    const char **slot = DW_ARENA_PUSH(&s->arena, site->binds, site->nbinds, site->binds_cap);
    if (slot) *slot = dw_arena_strdup(&s->arena, key);
}

static void add_listen(dw_snapshot_t *s, const char *host, uint16_t port, const char *unix_path,
                       bool tls)
{
    for (size_t i = 0; i < s->nlistens; i++) {
        dw_rt_listen_t *l = &s->listens[i];
        if (l->port == port && strcmp(l->host, host) == 0 &&
            ((!l->unix_path && !unix_path) ||
             (l->unix_path && unix_path && strcmp(l->unix_path, unix_path) == 0)))
            return;
    }
    dw_rt_listen_t *l = DW_ARENA_PUSH(&s->arena, s->listens, s->nlistens, s->listens_cap);
    if (!l) return;
    snprintf(l->host, sizeof l->host, "%s", host);
    l->port = port;
    l->tls = tls;
    l->unix_path = unix_path ? dw_arena_strdup(&s->arena, unix_path) : NULL;
}

static void snapshot_cleanup_maps(void *arg)
{
    dw_snapshot_t *s = arg;
    for (size_t i = 0; i < s->nports; i++) {
        dw_strmap_deinit(&s->ports[i].exact);
        dw_strmap_deinit(&s->ports[i].wildcard);
    }
    dw_strmap_deinit(&s->https_exact);
    dw_strmap_deinit(&s->https_wild);
    if (s->certs) dw_tls_certset_free(s->certs);
}

/* The TLS material and redirect of one TLS address (spec 20 §1.1, §1.5, §1.9, §1.10). A
 * certificate that cannot be loaded is logged and left out: handshakes for its names fail,
 * other sites keep working. */
static void tls_address(dw_snapshot_t *s, dw_rt_site_t *site, const dw_cfg_address_t *a)
{
    const dw_cfg_site_t *cs = site->cfg;
    const dw_cfg_global_t *g = &s->cfg->global;
    if (!s->certs) {
        s->certs = dw_tls_certset_new();
        if (!s->certs) return;
        s->http_port = g->http_port;
    }
    if (!a->host.len) return; /* a catch-all TLS address has no name to serve */
    dw_tls_certset_set_default(s->certs, a->host);
    dw_err_t err = {0};
    dw_tls_cert_t *cert = NULL;
    if (cs->tls_mode == DW_TLS_MODE_MANUAL && cs->tls_cert.len) {
        cert = dw_tls_cert_load(cs->tls_cert.ptr, cs->tls_key.ptr, &err);
        if (!cert) DW_ERROR("tls", "%s: %s", a->original.ptr, err.msg);
    } else if (cs->tls_mode == DW_TLS_MODE_INTERNAL) {
        cert = dw_tls_cert_internal(a->host.ptr, &err);
        if (!cert) DW_ERROR("tls", "%s: tls internal: %s", a->original.ptr, err.msg);
    } else if (cs->tls_mode == DW_TLS_MODE_AUTO) {
        /* ACME issuance arrives with its own issue: until then an auto site is served from
         * the cert dir (the layout ACME will write) */
        DW_DEBUG("tls", "%s: certificate from the cert dir ({name}.pem/.key)", a->original.ptr);
    }
    if (cert) {
        dw_tls_certset_add(s->certs, a->host, cert);
        dw_tls_cert_unref(cert);
    }
    if (g->auto_https == DW_AUTO_HTTPS_DISABLE_REDIRECTS) {
        /* no redirect: plain requests for the host are served by the site on http_port
         * (TLS-04); a plain site written for the same host keeps it (decision 11) */
        dw_rt_port_t *p = port_get(s, g->http_port, false);
        if (!p) return;
        if (a->wildcard) {
            dw_str_t rest = dw_str_sub(a->host, 2, a->host.len);
            if (!dw_strmap_get(&p->wildcard, rest)) dw_strmap_put(&p->wildcard, rest, site, NULL);
        } else if (!dw_strmap_get(&p->exact, a->host)) {
            dw_strmap_put(&p->exact, a->host, site, NULL);
        }
        add_listen(s, "", g->http_port, NULL, false);
        return;
    }
    if (g->auto_https != DW_AUTO_HTTPS_ON) return;
    /* decision 35: an explicit port is kept, other sites use https_port */
    uint16_t port = a->port_explicit ? a->port : g->https_port;
    void *v = (void *)(uintptr_t)port;
    s->redirects = true;
    if (a->wildcard)
        dw_strmap_put(&s->https_wild, dw_str_sub(a->host, 2, a->host.len), v, NULL);
    else
        dw_strmap_put(&s->https_exact, a->host, v, NULL);
}

static int compile_site(dw_snapshot_t *s, const dw_cfg_site_t *cs, dw_err_t *err)
{
    dw_rt_site_t *site = dw_arena_zalloc(&s->arena, sizeof *site);
    if (!site) return dw_err_set(err, DW_ENOMEM, "out of memory");
    site->cfg = cs;
    site->strip_leaky_headers = true;
    int rc = compile_block(s, &cs->block, false, &site->block, err);
    if (rc != DW_OK) return rc;
    const dw_cfg_directive_t *bind = NULL;
    for (size_t i = 0; i < cs->block.ndirs; i++) {
        const dw_cfg_directive_t *d = &cs->block.dirs[i];
        if (d->kind == DW_DIR_SECURITY_HEADERS)
            site->strip_leaky_headers = d->u.security_headers.strip_leaky_headers;
        else if (d->kind == DW_DIR_BIND)
            bind = d;
        else if (d->kind == DW_DIR_LOG && !site->log)
            site->log = &d->u.log;
        else if (d->kind == DW_DIR_HANDLE_ERRORS) {
            dw_rt_errblock_t *eb =
                DW_ARENA_PUSH(&s->arena, site->errors, site->nerrors, site->errors_cap);
            if (!eb) return dw_err_set(err, DW_ENOMEM, "out of memory");
            eb->h = &d->u.handle;
            rc = compile_block(s, d->u.handle.block, site->block->grpc, &eb->block, err);
            if (rc != DW_OK) return rc;
        }
    }
    for (size_t i = 0; i < cs->naddrs; i++) {
        const dw_cfg_address_t *a = &cs->addrs[i];
        if (a->tls) tls_address(s, site, a);
        dw_rt_port_t *p = port_get(s, a->port, a->tls);
        if (!p) return dw_err_set(err, DW_ENOMEM, "out of memory");
        if (a->host.len == 0)
            p->catch_all = site;
        else if (a->wildcard)
            dw_strmap_put(&p->wildcard, dw_str_sub(a->host, 2, a->host.len), site, NULL);
        else
            dw_strmap_put(&p->exact, a->host, site, NULL);
        if (bind) {
            for (size_t k = 0; k < bind->u.bind.naddrs; k++) {
                const dw_cfg_bind_addr_t *ba = &bind->u.bind.addrs[k];
                if (ba->kind == DW_CFG_BIND_UNIX) {
                    add_listen(s, "", a->port, ba->host.ptr, a->tls);
                    site_bind(s, site, "", a->port, ba->host.ptr);
                } else {
                    uint16_t port = ba->port ? ba->port : a->port;
                    add_listen(s, ba->host.ptr, port, NULL, a->tls);
                    site_bind(s, site, ba->host.ptr, port, NULL);
                }
            }
        } else {
            add_listen(s, "", a->port, NULL, a->tls);
        }
    }
    return DW_OK;
}

dw_snapshot_t *dw_snapshot_build(dw_config_t *cfg, dw_err_t *err)
{
    static atomic_uint_least64_t generation;
    dw_snapshot_t *s = calloc(1, sizeof *s);
    if (!s) {
        dw_err_set(err, DW_ENOMEM, "out of memory");
        return NULL;
    }
    s->cfg = cfg;
    dw_arena_init(&s->arena, 16384);
    atomic_init(&s->refs, 1);
    s->generation = atomic_fetch_add(&generation, 1) + 1;
    s->limits = (dw_h1_limits_t)DW_H1_LIMITS_DEFAULT;
    dw_strmap_init(&s->https_exact, true);
    dw_strmap_init(&s->https_wild, true);
    dw_arena_on_cleanup(&s->arena, snapshot_cleanup_maps, s);
    for (size_t i = 0; i < cfg->nsites; i++) {
        if (compile_site(s, &cfg->sites[i], err) != DW_OK) {
            dw_snapshot_free(s);
            return NULL;
        }
    }
    /* With no (plain) sites the server still listens on http_port (§3.2). */
    if (s->nlistens == 0) {
        add_listen(s, "", cfg->global.http_port, NULL, false);
        port_get(s, cfg->global.http_port, false);
    }
    if (s->certs) {
        const char *dir = getenv("DWAAR_CERT_DIR");
        int n = dw_tls_certset_load_dir(s->certs, dir && *dir ? dir : "/etc/dwaar/certs",
                                        DW_CERT_DIR_MAX);
        if (n > 0) DW_INFO("tls", "%d certificate(s) loaded from the cert dir", n);
    }
    if (s->redirects) {
        /* the plain port the redirects (and later ACME HTTP-01) are served on */
        add_listen(s, "", cfg->global.http_port, NULL, false);
        port_get(s, cfg->global.http_port, false);
    }
    return s;
}

void dw_snapshot_free(dw_snapshot_t *s)
{
    if (!s) return;
    dw_arena_deinit(&s->arena);
    dw_config_free(s->cfg);
    free(s);
}

void dw_snapshot_ref(dw_snapshot_t *s)
{
    atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

void dw_snapshot_unref(dw_snapshot_t *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1) dw_snapshot_free(s);
}

static const dw_rt_site_t *bound_ok(const dw_rt_site_t *site, const char *listener);

uint16_t dw_snapshot_https_redirect(const dw_snapshot_t *s, dw_str_t host, const char *listener)
{
    if (!s->redirects || !host.len) return 0;
    /* decision 11: a plain site for exactly this host answers on the HTTP port */
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i].port == s->http_port &&
            bound_ok(dw_strmap_get(&s->ports[i].exact, host), listener))
            return 0;
    void *v = dw_strmap_get(&s->https_exact, host);
    if (!v) {
        ptrdiff_t dot = dw_str_chr(host, '.');
        if (dot > 0) v = dw_strmap_get(&s->https_wild, dw_str_sub(host, (size_t)dot + 1, host.len));
    }
    return (uint16_t)(uintptr_t)v;
}

static const dw_rt_site_t *bound_ok(const dw_rt_site_t *site, const char *listener)
{
    if (!site || !site->nbinds || !listener) return site;
    for (size_t i = 0; i < site->nbinds; i++)
        if (strcmp(site->binds[i], listener) == 0) return site;
    return NULL;
}

const dw_rt_site_t *dw_snapshot_select(const dw_snapshot_t *s, uint16_t port, dw_str_t host,
                                       const char *listener)
{
    const dw_rt_port_t *p = NULL;
    for (size_t i = 0; i < s->nports; i++)
        if (s->ports[i].port == port) {
            p = &s->ports[i];
            break;
        }
    if (!p) return NULL;
    if (host.len) {
        const dw_rt_site_t *site = bound_ok(dw_strmap_get(&p->exact, host), listener);
        if (site) return site;
        ptrdiff_t dot = dw_str_chr(host, '.');
        if (dot > 0) {
            site = dw_strmap_get(&p->wildcard, dw_str_sub(host, (size_t)dot + 1, host.len));
            if (bound_ok(site, listener)) return site;
        }
    }
    return bound_ok(p->catch_all, listener);
}
