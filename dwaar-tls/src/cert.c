/* Certificates: loading PEM pairs (§1.4), self-signed `tls internal` certificates and their
 * process-wide cache (§1.10), reference counting. */
#include "tls_int.h"
#include <arpa/inet.h>
#include <dwaar/base/hash.h>
#include <dwaar/base/log.h>
#include <errno.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <pthread.h>

/* Generous bounds for a chain and a key; anything larger is not a certificate file. */
#define CERT_FILE_MAX     (1u << 20)
#define KEY_FILE_MAX      (64u << 10)
#define EXPIRY_WARN_DAYS  30
#define INTERNAL_DAYS     365
#define INTERNAL_RSA_BITS 2048
#define CN_MAX            64 /* ub-common-name (RFC 5280) */

/* --- the object ---------------------------------------------------------------------------- */

/* Takes ownership of leaf, key and chain (freed on failure too). */
static dw_tls_cert_t *cert_new(X509 *leaf, EVP_PKEY *key, STACK_OF(X509) * chain)
{
    dw_tls_cert_t *c = calloc(1, sizeof(*c));
    if (!c || (!chain && !(chain = sk_X509_new_null()))) {
        free(c);
        X509_free(leaf);
        EVP_PKEY_free(key);
        sk_X509_pop_free(chain, X509_free);
        return NULL;
    }
    atomic_init(&c->refs, 1);
    c->leaf = leaf, c->key = key, c->chain = chain;
    return c;
}

void dw_tls_cert_ref(dw_tls_cert_t *c)
{
    atomic_fetch_add_explicit(&c->refs, 1, memory_order_relaxed);
}

void dw_tls_cert_unref(dw_tls_cert_t *c)
{
    if (!c || atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) != 1) return;
    X509_free(c->leaf);
    EVP_PKEY_free(c->key);
    sk_X509_pop_free(c->chain, X509_free);
    free(c);
}

X509 *dw_tls_cert_leaf(const dw_tls_cert_t *c)
{
    return c->leaf;
}

EVP_PKEY *dw_tls_cert_key(const dw_tls_cert_t *c)
{
    return c->key;
}

STACK_OF(X509) * dw_tls_cert_chain(const dw_tls_cert_t *c)
{
    return c->chain;
}

/* --- loading ------------------------------------------------------------------------------- */

/* Encrypted keys are not supported; without this OpenSSL would prompt on the terminal. */
static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static int read_error(dw_err_t *err, int rc, const char *what, const char *cert_path)
{
    const char *why = rc == DW_ELIMIT   ? "file too large"
                      : rc == DW_ENOMEM ? "out of memory"
                                        : strerror(errno);
    return dw_err_set(err, rc, "cannot read %s%s: %s", what, cert_path, why);
}

/* Every CERTIFICATE block of pem, the first as leaf. */
static int parse_chain(const char *cert_path, const char *pem, size_t len, X509 **leaf,
                       STACK_OF(X509) * *chain, dw_err_t *err)
{
    dw_str_t text = dw_str_make(pem, len);
    if (dw_str_find(text, DW_STR("-----BEGIN CERTIFICATE-----")) < 0) {
        if (len > 0 && (unsigned char)pem[0] == 0x30) /* an ASN.1 SEQUENCE: DER */
            return dw_err_set(err, DW_EPROTO, "%s: DER certificates are not accepted, use PEM",
                              cert_path);
        return dw_err_set(err, DW_EPROTO, "%s: no PEM certificate found", cert_path);
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    *chain = sk_X509_new_null();
    if (!bio || !*chain) {
        BIO_free(bio);
        return dw_err_set(err, DW_ENOMEM, "%s: out of memory", cert_path);
    }
    ERR_set_mark();
    X509 *x;
    while ((x = PEM_read_bio_X509(bio, NULL, no_password, NULL))) {
        if (!*leaf) {
            *leaf = x;
        } else if (!sk_X509_push(*chain, x)) {
            X509_free(x);
            break;
        }
    }
    /* The loop ends at the end of the text (no further start line) or at a broken block. */
    unsigned long e = ERR_peek_last_error();
    bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    ERR_pop_to_mark();
    BIO_free(bio);
    if (!clean_end || !*leaf)
        return dw_err_set(err, DW_EPROTO, "%s: a certificate block cannot be parsed", cert_path);
    return DW_OK;
}

/* RSA, or EC on P-256/P-384; else false with a description in what. */
static bool key_supported(EVP_PKEY *key, char *what, size_t n)
{
    if (EVP_PKEY_is_a(key, "RSA")) return true;
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(key, group, sizeof(group), &glen)) {
            int nid = OBJ_sn2nid(group);
            if (nid == NID_undef) nid = EC_curve_nist2nid(group);
            if (nid == NID_X9_62_prime256v1 || nid == NID_secp384r1) return true;
        }
        snprintf(what, n, "an EC key on curve %s", group[0] ? group : "(unknown)");
        return false;
    }
    const char *type = EVP_PKEY_get0_type_name(key);
    snprintf(what, n, "a %s key", type ? type : "(unknown type)");
    return false;
}

/* Loads the private key file for cert_path's pair; the key path never reaches a message. */
static EVP_PKEY *load_key(const char *cert_path, const char *key_path, dw_err_t *err)
{
    char *buf;
    size_t len;
    int rc = dw_tls_read_file(key_path, KEY_FILE_MAX, &buf, &len);
    if (rc != DW_OK) {
        read_error(err, rc, "the private key for ", cert_path);
        return NULL;
    }
    EVP_PKEY *key = NULL;
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    ERR_set_mark();
    if (bio) key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    ERR_pop_to_mark();
    BIO_free(bio);
    OPENSSL_cleanse(buf, len);
    free(buf);
    if (!key) {
        dw_err_set(err, DW_EPROTO, "%s: the private key cannot be parsed (PEM expected)",
                   cert_path);
        return NULL;
    }
    char what[96];
    if (!key_supported(key, what, sizeof(what))) {
        dw_err_set(err, DW_EINVAL, "%s: the private key is %s; RSA, P-256 or P-384 expected",
                   cert_path, what);
        EVP_PKEY_free(key);
        return NULL;
    }
    return key;
}

/* A warning, not an error: an expired certificate still serves while it is replaced. */
static void warn_expiry(const char *cert_path, X509 *leaf)
{
    const ASN1_TIME *not_after = X509_get0_notAfter(leaf);
    int cmp = X509_cmp_time(not_after, NULL);
    if (cmp == 0) {
        DW_WARN("tls", "%s: the certificate's expiry date cannot be read", cert_path);
        return;
    }
    if (cmp < 0) {
        DW_WARN("tls", "%s: the certificate has expired", cert_path);
        return;
    }
    int days = 0, secs = 0;
    if (ASN1_TIME_diff(&days, &secs, NULL, not_after) && days < EXPIRY_WARN_DAYS)
        DW_WARN("tls", "%s: the certificate expires in %d day%s", cert_path, days,
                days == 1 ? "" : "s");
}

dw_tls_cert_t *dw_tls_cert_load(const char *cert_path, const char *key_path, dw_err_t *err)
{
    char *pem;
    size_t len;
    int rc = dw_tls_read_file(cert_path, CERT_FILE_MAX, &pem, &len);
    if (rc != DW_OK) {
        read_error(err, rc, "", cert_path);
        return NULL;
    }
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    rc = parse_chain(cert_path, pem, len, &leaf, &chain, err);
    free(pem);
    EVP_PKEY *key = rc == DW_OK ? load_key(cert_path, key_path, err) : NULL;
    if (!key) goto fail;
    ERR_set_mark();
    bool match = X509_check_private_key(leaf, key) == 1;
    ERR_pop_to_mark();
    if (!match) {
        dw_err_set(err, DW_EINVAL, "%s: the private key does not match the certificate", cert_path);
        goto fail;
    }
    warn_expiry(cert_path, leaf);
    dw_tls_cert_t *c = cert_new(leaf, key, chain);
    if (!c) dw_err_set(err, DW_ENOMEM, "%s: out of memory", cert_path);
    return c;
fail:
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    return NULL;
}

/* --- tls internal -------------------------------------------------------------------------- */

static bool add_ext(X509 *x, int nid, void *value, int crit)
{
    return X509_add1_ext_i2d(x, nid, value, crit, X509V3_ADD_DEFAULT) == 1;
}

/* SAN (dNSName or iPAddress), basicConstraints CA:FALSE, extendedKeyUsage serverAuth. No
 * keyUsage: a self-signed leaf is its own trust anchor, and a keyUsage without keyCertSign
 * would make OpenSSL refuse it as its own issuer. */
static bool add_internal_exts(X509 *x, const char *host, bool ip, bool san_critical)
{
    bool ok = false;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    GENERAL_NAME *gen = GENERAL_NAME_new();
    if (!gens || !gen) goto out;
    if (ip) {
        ASN1_OCTET_STRING *addr = a2i_IPADDRESS(host);
        if (!addr) goto out;
        GENERAL_NAME_set0_value(gen, GEN_IPADD, addr);
    } else {
        ASN1_IA5STRING *dns = ASN1_IA5STRING_new();
        if (!dns || !ASN1_STRING_set(dns, host, (int)strlen(host))) {
            ASN1_IA5STRING_free(dns);
            goto out;
        }
        GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
    }
    if (!sk_GENERAL_NAME_push(gens, gen)) goto out;
    gen = NULL;
    if (!add_ext(x, NID_subject_alt_name, gens, san_critical)) goto out;

    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    if (!bc) goto out;
    bc->ca = 0;
    bool bc_ok = add_ext(x, NID_basic_constraints, bc, 1);
    BASIC_CONSTRAINTS_free(bc);
    if (!bc_ok) goto out;

    EXTENDED_KEY_USAGE *eku = sk_ASN1_OBJECT_new_null();
    if (!eku) goto out;
    bool eku_ok = sk_ASN1_OBJECT_push(eku, OBJ_nid2obj(NID_server_auth)) &&
                  add_ext(x, NID_ext_key_usage, eku, 0);
    sk_ASN1_OBJECT_pop_free(eku, ASN1_OBJECT_free);
    ok = eku_ok;
out:
    GENERAL_NAME_free(gen);
    GENERAL_NAMES_free(gens);
    return ok;
}

static bool random_serial(X509 *x)
{
    unsigned char raw[16];
    if (RAND_bytes(raw, sizeof(raw)) != 1) return false;
    raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x01); /* positive, never zero */
    BIGNUM *bn = BN_bin2bn(raw, sizeof(raw), NULL);
    bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x));
    BN_free(bn);
    return ok;
}

/* host is lower-case: a valid name or an IP literal (without brackets). */
static dw_tls_cert_t *make_internal(const char *host, bool ip, dw_err_t *err)
{
    EVP_PKEY *key = EVP_RSA_gen(INTERNAL_RSA_BITS);
    X509 *x = X509_new();
    if (!key || !x) goto fail;
    /* CN is bounded to 64 bytes; a longer host is named by the SAN alone (then critical, as
     * RFC 5280 wants for an empty subject). */
    bool cn = strlen(host) <= CN_MAX;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_set_version(x, X509_VERSION_3) || !random_serial(x) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), 0) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), INTERNAL_DAYS, 0, NULL) ||
        (cn && !X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
                                           (const unsigned char *)host, -1, -1, 0)) ||
        !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, key) ||
        !add_internal_exts(x, host, ip, !cn) || !X509_sign(x, key, EVP_sha256()))
        goto fail;
    dw_tls_cert_t *c = cert_new(x, key, NULL);
    if (!c) dw_err_set(err, DW_ENOMEM, "tls internal %s: out of memory", host);
    return c;
fail:;
    char ebuf[256];
    dw_err_set(err, DW_EIO, "tls internal %s: cannot make a certificate: %s", host,
               dw_tls_error_string(ebuf, sizeof(ebuf)));
    X509_free(x);
    EVP_PKEY_free(key);
    return NULL;
}

typedef struct cache_entry {
    dw_tls_cert_t *cert;
    char host[];
} cache_entry_t;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static dw_strmap_t cache; /* host -> cache_entry_t *; zeroed = empty, case-sensitive */

dw_tls_cert_t *dw_tls_cert_internal(const char *host, dw_err_t *err)
{
    char lower[DW_TLS_NAME_MAX];
    dw_str_t h = dw_str_c(host);
    /* A site address writes IPv6 in brackets; the certificate names the address itself. */
    if (h.len >= 2 && h.ptr[0] == '[' && h.ptr[h.len - 1] == ']') h = dw_str_sub(h, 1, h.len - 2);
    if (!dw_tls_name_lower(h, lower)) {
        dw_err_set(err, DW_EINVAL, "tls internal: invalid host '%s'", host ? host : "");
        return NULL;
    }
    unsigned char addr[sizeof(struct in6_addr)];
    bool ip = inet_pton(AF_INET, lower, addr) == 1 || inet_pton(AF_INET6, lower, addr) == 1;
    if (!ip && !dw_tls_name_valid(h)) {
        dw_err_set(err, DW_EINVAL, "tls internal: invalid host '%s'", host);
        return NULL;
    }

    /* Held while generating (tens of ms): only snapshot compiles call this, and holding it
     * means two compiles never make two certificates for one name. */
    pthread_mutex_lock(&cache_mu);
    cache_entry_t *e = dw_strmap_get(&cache, dw_str_c(lower));
    dw_tls_cert_t *c = NULL;
    if (e) {
        c = e->cert;
        dw_tls_cert_ref(c);
        goto out;
    }
    size_t n = strlen(lower);
    e = malloc(sizeof(*e) + n + 1);
    if (!e) {
        dw_err_set(err, DW_ENOMEM, "tls internal %s: out of memory", lower);
        goto out;
    }
    memcpy(e->host, lower, n + 1);
    if (!(e->cert = make_internal(lower, ip, err))) {
        free(e);
        goto out;
    }
    if (dw_strmap_put(&cache, dw_str_make(e->host, n), e, NULL) != DW_OK) {
        dw_err_set(err, DW_ENOMEM, "tls internal %s: out of memory", lower);
        dw_tls_cert_unref(e->cert);
        free(e);
        goto out;
    }
    c = e->cert;
    dw_tls_cert_ref(c); /* the cache keeps the first reference */
out:
    pthread_mutex_unlock(&cache_mu);
    return c;
}

void dw_tls_cert_internal_purge(void)
{
    pthread_mutex_lock(&cache_mu);
    for (size_t i = 0; i < cache.cap; i++) {
        cache_entry_t *e = cache.slots[i].key.ptr ? cache.slots[i].value : NULL;
        if (!e) continue;
        dw_tls_cert_unref(e->cert);
        free(e);
    }
    dw_strmap_deinit(&cache);
    pthread_mutex_unlock(&cache_mu);
}
