/* The model as JSON (`dwaar adapt`, golden tests). Keys are stable; absent optional values
 * are omitted. */
#include "directives_int.h"
#include <arpa/inet.h>

void dw_cfg_json_loc(dw_json_t *j, const char *key, dw_cfg_loc_t loc)
{
    char buf[300];
    snprintf(buf, sizeof(buf), "%s:%u:%u", loc.file ? loc.file : "", loc.line, loc.col);
    dw_json_kv_cstr(j, key, buf);
}

void dw_cfg_json_strs(dw_json_t *j, const char *key, dw_cfg_strs_t s)
{
    dw_json_key(j, key);
    dw_json_arr_begin(j);
    for (size_t i = 0; i < s.n; i++) dw_json_str(j, s.v[i]);
    dw_json_arr_end(j);
}

void dw_cfg_json_cidr(dw_json_t *j, const dw_cfg_cidr_t *c)
{
    char ip[INET6_ADDRSTRLEN], buf[INET6_ADDRSTRLEN + 8];
    inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, ip, sizeof(ip));
    snprintf(buf, sizeof(buf), "%s/%u", ip, c->prefix);
    dw_json_cstr(j, buf);
}

void dw_cfg_json_upstream(dw_json_t *j, const dw_cfg_upstream_t *u)
{
    static const char *const schemes[] = {"http", "https", "h2c", "unix"};
    dw_json_obj_begin(j);
    dw_json_kv_cstr(j, "scheme", u->scheme < 4 ? schemes[u->scheme] : "?");
    dw_json_kv_str(j, "host", u->host);
    if (u->scheme != DW_UPSTREAM_UNIX) dw_json_kv_uint(j, "port", u->port);
    dw_json_obj_end(j);
}

void dw_cfg_json_match(dw_json_t *j, const dw_cfg_match_ref_t *m)
{
    switch (m->kind) {
    case DW_MATCH_ALL: dw_json_cstr(j, "*"); break;
    case DW_MATCH_PATH: dw_json_str(j, m->text); break;
    case DW_MATCH_NAMED: {
        char buf[256];
        snprintf(buf, sizeof(buf), "@%.*s", DW_STR_FMT(m->text));
        dw_json_cstr(j, buf);
        break;
    }
    default: dw_json_null(j); break;
    }
}

static void json_directive(dw_json_t *j, const dw_cfg_directive_t *d)
{
    const dw_cfg_dir_def_t *def = dw_cfg_dir_by_kind(d->kind);
    dw_json_obj_begin(j);
    dw_json_kv_cstr(j, "directive", d->kind == DW_DIR_NOOP || !def ? d->name : def->name);
    if (def && strcmp(def->name, d->name) != 0 && d->kind != DW_DIR_NOOP)
        dw_json_kv_cstr(j, "as", d->name);
    dw_cfg_json_loc(j, "at", d->loc);
    if (d->rank) dw_json_kv_uint(j, "rank", d->rank);
    if (d->terminal) dw_json_kv_bool(j, "terminal", true);
    if (d->match.kind != DW_MATCH_NONE) {
        dw_json_key(j, "matcher");
        dw_cfg_json_match(j, &d->match);
    }
    /* the payload's own keys */
    for (size_t i = 0; i < dw_cfg_ndirectives; i++) {
        if (dw_cfg_directives[i].kind == d->kind &&
            strcmp(dw_cfg_directives[i].name, d->name) == 0) {
            dw_cfg_directives[i].json(j, d);
            break;
        }
    }
    dw_json_obj_end(j);
}

void dw_cfg_json_block(dw_json_t *j, const dw_cfg_block_t *b)
{
    dw_json_obj_begin(j);
    if (b->nmatchers) {
        dw_json_key(j, "matchers");
        dw_json_obj_begin(j);
        for (size_t i = 0; i < b->nmatchers; i++) {
            const dw_cfg_matcher_t *m = &b->matchers[i];
            char name[256];
            snprintf(name, sizeof(name), "@%.*s", DW_STR_FMT(m->name));
            dw_json_key(j, name);
            dw_json_arr_begin(j);
            for (size_t c = 0; c < m->nconds; c++) dw_cfg_json_cond(j, &m->conds[c]);
            dw_json_arr_end(j);
        }
        dw_json_obj_end(j);
    }
    dw_json_key(j, "directives");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < b->ndirs; i++) json_directive(j, &b->dirs[i]);
    dw_json_arr_end(j);
    dw_json_obj_end(j);
}

static void json_site(dw_json_t *j, const dw_cfg_site_t *s)
{
    static const char *const schemes[] = {"", "http", "https"};
    static const char *const modes[] = {"off", "auto", "internal", "manual"};
    dw_json_obj_begin(j);
    dw_json_key(j, "addresses");
    dw_json_arr_begin(j);
    for (size_t i = 0; i < s->naddrs; i++) {
        const dw_cfg_address_t *a = &s->addrs[i];
        dw_json_obj_begin(j);
        dw_json_kv_str(j, "address", a->original);
        if (a->scheme) dw_json_kv_cstr(j, "scheme", schemes[a->scheme]);
        dw_json_kv_str(j, "host", a->host);
        if (a->wildcard) dw_json_kv_bool(j, "wildcard", true);
        if (a->host_is_ip) dw_json_kv_bool(j, "ip", true);
        dw_json_kv_uint(j, "port", a->port);
        dw_json_kv_bool(j, "tls", a->tls);
        dw_json_obj_end(j);
    }
    dw_json_arr_end(j);
    dw_json_kv_cstr(j, "tls_mode", s->tls_mode < 4 ? modes[s->tls_mode] : "?");
    dw_json_kv_uint(j, "routes", s->nroutes);
    if (s->from_api) { /* only API sites have it: Dwaarfile output is unchanged */
        dw_json_key(j, "api_routes");
        dw_json_arr_begin(j);
        for (size_t i = 0; i < s->napi_keys; i++) {
            const dw_cfg_api_key_t *k = &s->api_keys[i];
            dw_json_obj_begin(j);
            dw_json_kv_str(j, "domain", k->key);
            dw_json_kv_str(j, "upstream", k->upstream);
            dw_json_kv_bool(j, "tls", k->tls);
            dw_json_key(j, "source");
            if (k->source.ptr)
                dw_json_str(j, k->source);
            else
                dw_json_null(j);
            dw_json_obj_end(j);
        }
        dw_json_arr_end(j);
    }
    dw_json_key(j, "block");
    dw_cfg_json_block(j, &s->block);
    dw_json_obj_end(j);
}

int dw_config_to_json(const dw_config_t *cfg, dw_buf_t *out)
{
    dw_json_t j;
    dw_json_init(&j, out);
    dw_json_obj_begin(&j);
    dw_json_key(&j, "global");
    dw_cfg_json_global(&j, &cfg->global);
    dw_json_key(&j, "sites");
    dw_json_arr_begin(&j);
    for (size_t i = 0; i < cfg->nsites; i++) json_site(&j, &cfg->sites[i]);
    dw_json_arr_end(&j);
    dw_json_key(&j, "layer4");
    dw_cfg_json_layer4(&j, &cfg->layer4);
    dw_json_kv_uint(&j, "site_addresses", cfg->naddresses);
    dw_json_kv_uint(&j, "routes", cfg->nroutes);
    dw_json_obj_end(&j);
    return out->failed ? -1 : 0;
}
