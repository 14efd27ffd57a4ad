/* Certificate sets: explicit entries, the ACME cert dir and the no-SNI default of one
 * snapshot, and the §1.5 selection a handshake runs. Built on one thread, then read-only. */
#include "tls_int.h"
#include <dirent.h>
#include <dwaar/base/hash.h>
#include <dwaar/base/log.h>
#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

typedef struct entry {
    dw_tls_cert_t *cert; /* one reference */
    char name[];         /* lower-case; the map key points here */
} entry_t;

struct dw_tls_certset {
    dw_strmap_t explicit_map; /* lower-case name -> entry_t * (config: manual, internal) */
    dw_strmap_t dir_map;      /* lower-case name -> entry_t * (cert dir) */
    char *default_name;       /* lower-case; NULL = no TLS site */
    bool default_set;
};

dw_tls_certset_t *dw_tls_certset_new(void)
{
    dw_tls_certset_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    dw_strmap_init(&s->explicit_map, false);
    dw_strmap_init(&s->dir_map, false);
    return s;
}

static void map_free(dw_strmap_t *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        entry_t *e = m->slots[i].key.ptr ? m->slots[i].value : NULL;
        if (!e) continue;
        dw_tls_cert_unref(e->cert);
        free(e);
    }
    dw_strmap_deinit(m);
}

void dw_tls_certset_free(dw_tls_certset_t *s)
{
    if (!s) return;
    map_free(&s->explicit_map);
    map_free(&s->dir_map);
    free(s->default_name);
    free(s);
}

/* Adds lower under a new reference to cert unless the name is already there. */
static int map_add(dw_strmap_t *m, const char *lower, size_t n, dw_tls_cert_t *cert)
{
    if (dw_strmap_get(m, dw_str_make(lower, n))) return DW_OK; /* the first one wins */
    entry_t *e = malloc(sizeof(*e) + n + 1);
    if (!e) return DW_ENOMEM;
    memcpy(e->name, lower, n + 1);
    e->cert = cert;
    if (dw_strmap_put(m, dw_str_make(e->name, n), e, NULL) != DW_OK) {
        free(e);
        return DW_ENOMEM;
    }
    dw_tls_cert_ref(cert);
    return DW_OK;
}

int dw_tls_certset_add(dw_tls_certset_t *s, dw_str_t name, dw_tls_cert_t *cert)
{
    char lower[DW_TLS_NAME_MAX];
    /* An invalid name could never be selected (SNI is validated first). */
    if (!cert || !dw_tls_name_valid(name) || !dw_tls_name_lower(name, lower)) return DW_EINVAL;
    return map_add(&s->explicit_map, lower, name.len, cert);
}

void dw_tls_certset_set_default(dw_tls_certset_t *s, dw_str_t name)
{
    if (s->default_set) return;
    char *copy = malloc(name.len + 1);
    if (!copy) return; /* boot code: the set simply has no default */
    for (size_t i = 0; i < name.len; i++) copy[i] = dw_ascii_lower(name.ptr[i]);
    copy[name.len] = '\0';
    s->default_name = copy;
    s->default_set = true;
}

size_t dw_tls_certset_count(const dw_tls_certset_t *s)
{
    return s->explicit_map.n + s->dir_map.n;
}

/* --- the cert dir -------------------------------------------------------------------------- */

static int pem_only(const struct dirent *d)
{
    return dw_str_has_suffix(dw_str_c(d->d_name), DW_STR(".pem"));
}

/* Loads one <name>.pem / <name>.key pair: 1 loaded, 0 skipped (with a warning), or
 * DW_ENOMEM. */
static int load_pair(dw_tls_certset_t *s, const char *dir, const char *file)
{
    dw_str_t stem = dw_str_make(file, strlen(file) - 4);
    char pem[PATH_MAX], key[PATH_MAX], lower[DW_TLS_NAME_MAX];
    int np = snprintf(pem, sizeof(pem), "%s/%s", dir, file);
    if (np < 0 || (size_t)np >= sizeof(pem)) {
        DW_WARN("tls", "%s/%s: path too long, skipped", dir, file);
        return 0;
    }
    /* Validated before it becomes part of a path: no '/', no "..", no NUL. */
    if (!dw_tls_name_valid(stem) || !dw_tls_name_lower(stem, lower)) {
        DW_WARN("tls", "%s: not a valid host name, skipped", pem);
        return 0;
    }
    if (dw_strmap_get(&s->dir_map, dw_str_make(lower, stem.len))) return 0; /* case twin */
    int nk = snprintf(key, sizeof(key), "%s/%.*s.key", dir, DW_STR_FMT(stem));
    struct stat st;
    if (nk < 0 || (size_t)nk >= sizeof(key) || stat(key, &st) < 0) {
        DW_WARN("tls", "%s: no matching .key, skipped", pem);
        return 0;
    }
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_cert_t *c = dw_tls_cert_load(pem, key, &err);
    if (!c) {
        DW_WARN("tls", "%s (skipped)", err.msg);
        return err.rc == DW_ENOMEM ? DW_ENOMEM : 0;
    }
    int rc = map_add(&s->dir_map, lower, stem.len, c);
    dw_tls_cert_unref(c);
    return rc == DW_OK ? 1 : rc;
}

int dw_tls_certset_load_dir(dw_tls_certset_t *s, const char *dir, size_t max)
{
    struct dirent **list = NULL;
    /* Sorted, so which pairs load when max is reached does not depend on readdir order. */
    int n = scandir(dir, &list, pem_only, alphasort);
    if (n < 0) {
        if (errno == ENOENT) return 0;
        DW_WARN("tls", "%s: cannot read the cert dir: %s", dir, strerror(errno));
        return DW_EIO;
    }
    int loaded = 0, rc = DW_OK;
    for (int i = 0; i < n; i++) {
        if (rc == DW_OK && (size_t)loaded >= max) {
            DW_WARN("tls", "%s: more than %zu certificates, the rest skipped", dir, max);
            rc = DW_ELIMIT;
        }
        if (rc == DW_OK) {
            int r = load_pair(s, dir, list[i]->d_name);
            if (r < 0)
                rc = r;
            else
                loaded += r;
        }
        free(list[i]);
    }
    free(list);
    return rc == DW_ENOMEM ? rc : loaded;
}

/* --- selection ----------------------------------------------------------------------------- */

static const dw_tls_cert_t *lookup(const dw_tls_certset_t *s, dw_str_t n)
{
    entry_t *e = dw_strmap_get(&s->explicit_map, n);
    if (!e) e = dw_strmap_get(&s->dir_map, n);
    return e ? e->cert : NULL;
}

const dw_tls_cert_t *dw_tls_certset_select(const dw_tls_certset_t *s, dw_str_t sni)
{
    if (!sni.ptr || sni.len == 0) {
        if (!s->default_name) return NULL;
        sni = dw_str_c(s->default_name);
    }
    char n[DW_TLS_NAME_MAX];
    if (!dw_tls_name_valid(sni) || !dw_tls_name_lower(sni, n)) return NULL;
    dw_str_t name = dw_str_make(n, sni.len);
    const dw_tls_cert_t *c = lookup(s, name);
    if (c) return c;
    /* One level only: the first label becomes '*', so a.b.example.com tries *.b.example.com
     * and never *.example.com. */
    ptrdiff_t dot = dw_str_chr(name, '.');
    if (dot <= 0) return NULL;
    char w[DW_TLS_NAME_MAX];
    size_t rest = name.len - (size_t)dot;
    w[0] = '*';
    memcpy(w + 1, n + dot, rest);
    return lookup(s, dw_str_make(w, rest + 1));
}
