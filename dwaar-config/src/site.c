/* Sites (spec 10 §3): addresses, host keys, the TLS decision per address (spec 20 §1.1,
 * decision 11), ports, ambiguity and listener conflicts, and route counts. */
#include "directives_int.h"
#include <arpa/inet.h>

static bool valid_label(dw_str_t l)
{
    if (l.len < 1 || l.len > 63) return false;
    for (size_t i = 0; i < l.len; i++)
        if (!dw_ascii_isalnum(l.ptr[i]) && l.ptr[i] != '-') return false;
    return true;
}

/* Lower-cases into the model arena and validates a DNS host key. */
static bool host_key(dw_cfg_parser_t *p, dw_str_t h, dw_cfg_address_t *a)
{
    if (h.len && h.ptr[h.len - 1] == '.') h.len--;
    if (h.len == 0 || h.len > 253) return false;
    char *low = dw_arena_strndup(p->arena, h.ptr, h.len);
    if (!low) return false;
    for (size_t i = 0; i < h.len; i++) low[i] = dw_ascii_lower(low[i]);
    dw_str_t s = dw_str_make(low, h.len);
    size_t i = 0;
    bool first = true;
    while (i <= s.len) {
        size_t j = i;
        while (j < s.len && s.ptr[j] != '.') j++;
        dw_str_t label = dw_str_sub(s, i, j - i);
        if (first && dw_str_eq_c(label, "*") && j < s.len)
            a->wildcard = true;
        else if (!valid_label(label))
            return false;
        first = false;
        i = j + 1;
    }
    a->host = s;
    return true;
}

static int parse_address(dw_cfg_parser_t *p, const dw_cfg_token_t *t, dw_cfg_address_t *a)
{
    dw_str_t s = t->text;
    a->original = dw_cfg_str(p, t);
    a->loc = dw_cfg_tok_loc(t);
    if (s.len >= 7 && memcmp(s.ptr, "http://", 7) == 0)
        a->scheme = DW_SCHEME_HTTP, s = dw_str_sub(s, 7, s.len);
    else if (s.len >= 8 && memcmp(s.ptr, "https://", 8) == 0)
        a->scheme = DW_SCHEME_HTTPS, s = dw_str_sub(s, 8, s.len);
    else if (dw_str_find(s, DW_STR("://")) >= 0) {
        dw_cfg_err(p, t, "invalid site address '%.*s' (scheme must be http:// or https://)",
                   DW_STR_FMT(t->text));
        return -1;
    }
    if (dw_str_chr(s, '/') >= 0) {
        dw_cfg_err(p, t, "site address must not contain a path: '%.*s'", DW_STR_FMT(t->text));
        return -1;
    }
    dw_str_t host = s, port = DW_STR_NULL;
    if (s.len && s.ptr[0] == '[') {
        ptrdiff_t close = dw_str_chr(s, ']');
        if (close < 0) goto bad;
        host = dw_str_sub(s, 1, (size_t)close - 1);
        dw_str_t rest = dw_str_sub(s, (size_t)close + 1, s.len);
        if (rest.len) {
            if (rest.ptr[0] != ':') goto bad;
            port = dw_str_sub(rest, 1, rest.len);
            a->port_explicit = true;
        }
        if (!dw_cfg_is_ip_literal(host, AF_INET6)) goto bad;
        a->host_is_ip = true;
        a->host = dw_cfg_strdup(p, host);
        for (size_t i = 0; i < a->host.len; i++)
            ((char *)a->host.ptr)[i] = dw_ascii_lower(a->host.ptr[i]);
    } else {
        ptrdiff_t colon = dw_str_chr(s, ':');
        if (colon >= 0) {
            host = dw_str_sub(s, 0, (size_t)colon);
            port = dw_str_sub(s, (size_t)colon + 1, s.len);
            a->port_explicit = true;
            if (dw_str_chr(port, ':') >= 0) goto bad; /* IPv6 needs brackets */
        }
        if (host.len) {
            a->host_is_ip = dw_cfg_is_ip_literal(host, AF_INET);
            if (a->host_is_ip)
                a->host = dw_cfg_strdup(p, host);
            else if (!host_key(p, host, a))
                goto bad;
        } else {
            a->host = DW_STR("");
        }
    }
    if (a->port_explicit) {
        uint16_t v;
        if (dw_parse_port(port, &v) != DW_OK) goto bad;
        a->port = v;
    }
    if (!a->host.len && !a->port_explicit && a->scheme == DW_SCHEME_NONE) goto bad;
    return 0;
bad:
    dw_cfg_err(p, t, "invalid site address '%.*s'", DW_STR_FMT(t->text));
    return -1;
}

/* A DNS name that gets automatic HTTPS: contains a dot, not an IP, not localhost. */
static bool is_public_name(const dw_cfg_address_t *a)
{
    return a->host.len && !a->host_is_ip && dw_str_chr(a->host, '.') >= 0 &&
           !dw_str_eq_c(a->host, "localhost");
}

static size_t count_routes(const dw_cfg_block_t *b, int depth)
{
    size_t n = 0;
    if (!b || depth > 64) return 0;
    for (size_t i = 0; i < b->ndirs; i++) {
        const dw_cfg_directive_t *d = &b->dirs[i];
        if (d->terminal) n++;
        if (d->kind == DW_DIR_HANDLE || d->kind == DW_DIR_HANDLE_PATH || d->kind == DW_DIR_ROUTE)
            n++;
        if (d->kind == DW_DIR_HANDLE || d->kind == DW_DIR_HANDLE_PATH || d->kind == DW_DIR_ROUTE ||
            d->kind == DW_DIR_HANDLE_ERRORS)
            n += count_routes(d->u.handle.block, depth + 1);
    }
    return n;
}

void dw_cfg_parse_site(dw_cfg_parser_t *p, const struct dw_cfg_tree_item *item)
{
    dw_config_t *cfg = p->cfg;
    dw_cfg_site_t *site = DW_ARENA_PUSH(p->arena, cfg->sites, cfg->nsites, p->sites_cap);
    if (!site) return;
    site->loc = dw_cfg_tok_loc(&item->addrs[0]);
    site->addrs = dw_arena_zalloc(p->arena, item->naddrs * sizeof(*site->addrs));
    if (!site->addrs) return;
    for (size_t i = 0; i < item->naddrs; i++)
        if (parse_address(p, &item->addrs[i], &site->addrs[site->naddrs]) == 0) site->naddrs++;
    p->site = site;
    dw_cfg_block_t *b = dw_cfg_parse_block(p, &item->block, DW_SCOPE_SITE);
    p->site = NULL;
    if (b) site->block = *b;
    for (size_t i = 0; i < site->block.ndirs; i++)
        if (site->block.dirs[i].kind == DW_DIR_TLS) site->tls = &site->block.dirs[i].u.tls;
    dw_cfg_site_check_ext(p, site);
    site->nroutes = count_routes(&site->block, 0);
}

void dw_cfg_finish_sites(dw_cfg_parser_t *p)
{
    dw_config_t *cfg = p->cfg;
    const dw_cfg_global_t *g = &cfg->global;
    uint8_t *port_tls = calloc(65536, 1); /* 0 unused, 1 plain, 2 TLS */
    dw_strmap_t seen;
    dw_strmap_init(&seen, false);
    bool any_tls = false;
    for (size_t s = 0; s < cfg->nsites; s++) {
        dw_cfg_site_t *site = &cfg->sites[s];
        const dw_cfg_tls_t *tls = site->tls;
        uint8_t mode = DW_TLS_MODE_AUTO;
        if (tls) {
            switch (tls->kind) {
            case DW_CFG_TLS_OFF: mode = DW_TLS_MODE_OFF; break;
            case DW_CFG_TLS_INTERNAL: mode = DW_TLS_MODE_INTERNAL; break;
            case DW_CFG_TLS_FILES:
            case DW_CFG_TLS_MANUAL: mode = DW_TLS_MODE_MANUAL; break;
            default: mode = DW_TLS_MODE_AUTO; break;
            }
        }
        bool site_tls = false;
        for (size_t i = 0; i < site->naddrs; i++) {
            dw_cfg_address_t *a = &site->addrs[i];
            bool on;
            if (g->auto_https == DW_AUTO_HTTPS_OFF || a->scheme == DW_SCHEME_HTTP)
                on = false;
            else if (tls)
                on = tls->kind != DW_CFG_TLS_OFF;
            else if (a->scheme == DW_SCHEME_HTTPS)
                on = true;
            /* Caddy: an explicit http_port means plain HTTP */
            else if (a->port_explicit && a->port == g->http_port)
                on = false;
            else
                on = is_public_name(a);
            a->tls = on;
            if (!a->port_explicit) a->port = on ? g->https_port : g->http_port;
            site_tls |= on;
        }
        site->tls_mode = site_tls ? mode : DW_TLS_MODE_OFF;
        any_tls |= site_tls;
        cfg->naddresses += site->naddrs;
        cfg->nroutes += site->nroutes;
    }
    for (size_t s = 0; s < cfg->nsites && port_tls; s++) {
        const dw_cfg_site_t *site = &cfg->sites[s];
        for (size_t i = 0; i < site->naddrs; i++) {
            const dw_cfg_address_t *a = &site->addrs[i];
            /* key: the host key, a NUL, the port's two bytes */
            char *key = dw_arena_alloc(&p->scratch, a->host.len + 3);
            if (key) {
                memcpy(key, a->host.ptr, a->host.len);
                key[a->host.len] = '\0';
                key[a->host.len + 1] = (char)(a->port >> 8);
                key[a->host.len + 2] = (char)(a->port & 0xff);
                dw_str_t k = dw_str_make(key, a->host.len + 3);
                if (dw_strmap_get(&seen, k))
                    dw_cfg_err_at(p, a->loc, "ambiguous site definition: %.*s",
                                  DW_STR_FMT(a->original));
                else
                    dw_strmap_put(&seen, k, (void *)a, NULL);
            }
            uint8_t want = a->tls ? 2 : 1;
            if (port_tls[a->port] && port_tls[a->port] != want)
                dw_cfg_err_at(p, a->loc, "conflicting TLS settings on port %u", a->port);
            port_tls[a->port] = want;
        }
    }
    /* TLS sites also get the plain http_port listener (redirects, ACME) */
    if (any_tls && g->auto_https != DW_AUTO_HTTPS_OFF && port_tls && port_tls[g->http_port] == 2) {
        /* name the address that put TLS on the port the redirects need */
        for (size_t s = 0; s < cfg->nsites; s++)
            for (size_t i = 0; i < cfg->sites[s].naddrs; i++) {
                const dw_cfg_address_t *a = &cfg->sites[s].addrs[i];
                if (a->tls && a->port == g->http_port)
                    dw_cfg_err_at(p, a->loc,
                                  "conflicting TLS settings on port %u (it is the http_port, which "
                                  "serves HTTP->HTTPS redirects)",
                                  g->http_port);
            }
    }
    dw_strmap_deinit(&seen);
    free(port_tls);
}
