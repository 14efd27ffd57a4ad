/* tls.tls: host names (§1.5), loading pairs (§1.4), `tls internal` (§1.10), certificate sets
 * and SNI selection, and real handshakes over a socketpair between dw_tls_server and
 * dw_tls_client: certificate by SNI, ALPN, the protocol floor, verification, session tickets
 * across key rotations, and client certificates (§1.11). The PKI is made here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "tls_int.h"
#include <dwaar/base/log.h>
#include <fcntl.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* --- the test PKI -------------------------------------------------------------------------- */

static char dir[64];
static char certdir[96];

/* A path under dir; a small ring so a few can be used in one call. */
static const char *path(const char *name)
{
    static char ring[8][160];
    static unsigned next;
    char *p = ring[next++ % 8];
    snprintf(p, sizeof(ring[0]), "%s/%s", dir, name);
    return p;
}

static long serial = 1;

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(e);
    assert_int_equal(X509_add_ext(x, e, -1), 1);
    X509_EXTENSION_free(e);
}

/* A certificate for key, issued by issuer/ikey (NULL: self-signed), valid from `from` to `to`
 * days relative to now. san and eku in openssl.cnf syntax, or NULL. */
static X509 *make_cert(EVP_PKEY *key, const char *cn, const char *san, X509 *issuer, EVP_PKEY *ikey,
                       long from, long to, bool ca, const char *eku)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, X509_VERSION_3), 1);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), from * 86400L));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), to * 86400L));
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
    X509_set_pubkey(x, key);
    X509 *iss = issuer ? issuer : x;
    add_ext(x, iss, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    if (ca) add_ext(x, iss, NID_key_usage, "critical,keyCertSign,cRLSign");
    if (san) add_ext(x, iss, NID_subject_alt_name, san);
    if (eku) add_ext(x, iss, NID_ext_key_usage, eku);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

static void write_certs(const char *file, X509 *a, X509 *b)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_X509(f, a), 1);
    if (b) assert_int_equal(PEM_write_X509(f, b), 1);
    fclose(f);
}

/* traditional: "EC PRIVATE KEY" / "RSA PRIVATE KEY" instead of PKCS#8 "PRIVATE KEY". */
static void write_key(const char *file, EVP_PKEY *k, bool traditional)
{
    BIO *b = BIO_new_file(file, "w");
    assert_non_null(b);
    if (traditional)
        assert_int_equal(PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL), 1);
    else
        assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
    BIO_free(b);
}

static void write_text(const char *file, const char *text)
{
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static EVP_PKEY *ec_key(const char *curve)
{
    EVP_PKEY *k = EVP_EC_gen(curve);
    assert_non_null(k);
    return k;
}

/* The certificates the tests compare against. */
static X509 *root, *inter, *leaf_a, *leaf_b, *leaf_wild, *leaf_ip, *leaf_client, *leaf_dir_a;
static EVP_PKEY *k_root, *k_inter;

/* <base>.pem and <base>.key for a leaf issued by issuer; returns the leaf (owned by caller). */
static X509 *leaf_files(const char *base, EVP_PKEY *key, const char *cn, const char *san,
                        X509 *issuer, EVP_PKEY *ikey, long from, long to, bool with_issuer,
                        bool traditional, const char *eku)
{
    char pem[200], keyf[200];
    snprintf(pem, sizeof(pem), "%s.pem", base);
    snprintf(keyf, sizeof(keyf), "%s.key", base);
    X509 *x = make_cert(key, cn, san, issuer, ikey, from, to, false, eku);
    write_certs(pem, x, with_issuer ? issuer : NULL);
    write_key(keyf, key, traditional);
    return x;
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(p);
}

/* --- the shared server and set --------------------------------------------------------------- */

static dw_tls_server_t *srv;
static dw_tls_certset_t *set;   /* explicit a, b, *.example.test, 127.0.0.1 (default) */
static dw_tls_client_t *cli;    /* trusts root, h2 */
static dw_tls_client_t *cli_h1; /* trusts root, http/1.1 */

static dw_tls_cert_t *load(const char *base)
{
    char pem[200], key[200];
    snprintf(pem, sizeof(pem), "%s.pem", path(base));
    snprintf(key, sizeof(key), "%s.key", path(base));
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_cert_t *c = dw_tls_cert_load(pem, key, &err);
    if (!c) fail_msg("load %s: %s", base, err.msg);
    return c;
}

static int group_setup(void **state)
{
    dw_log_level = DW_LOG_ERROR; /* the expiry warnings are expected */
    snprintf(dir, sizeof(dir), "/tmp/dwaar-tls-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(certdir, sizeof(certdir), "%s/certs", dir);
    if (mkdir(certdir, 0700) < 0) return -1;

    k_root = ec_key("P-256");
    root = make_cert(k_root, "Dwaar Test Root", NULL, NULL, NULL, -1, 3650, true, NULL);
    write_certs(path("root.pem"), root, NULL);
    k_inter = ec_key("P-256");
    inter = make_cert(k_inter, "Dwaar Test Intermediate", NULL, root, k_root, -1, 3650, true, NULL);

    EVP_PKEY *k_other = ec_key("P-256");
    X509 *other = make_cert(k_other, "Other Root", NULL, NULL, NULL, -1, 3650, true, NULL);
    write_certs(path("other-root.pem"), other, NULL);
    X509_free(other);
    EVP_PKEY_free(k_other);

    /* a: leaf + intermediate in the file, PKCS#8 EC key. */
    EVP_PKEY *ka = ec_key("P-256");
    leaf_a = leaf_files(path("a"), ka, "a.example.test", "DNS:a.example.test", inter, k_inter, -1,
                        365, true, false, NULL);
    /* b: RSA, traditional "RSA PRIVATE KEY", issued by the root. */
    EVP_PKEY *kb = EVP_RSA_gen(2048);
    assert_non_null(kb);
    leaf_b = leaf_files(path("b"), kb, "b.example.test", "DNS:b.example.test", root, k_root, -1,
                        365, false, true, NULL);
    /* wildcard: P-384, traditional "EC PRIVATE KEY". */
    EVP_PKEY *kw = ec_key("P-384");
    leaf_wild = leaf_files(path("wild"), kw, "*.example.test", "DNS:*.example.test", root, k_root,
                           -1, 365, false, true, NULL);
    EVP_PKEY *kip = ec_key("P-256");
    leaf_ip = leaf_files(path("ip"), kip, "127.0.0.1", "IP:127.0.0.1", root, k_root, -1, 365, false,
                         false, NULL);
    EVP_PKEY *kc = ec_key("P-256");
    leaf_client = leaf_files(path("client"), kc, "dwaar client", NULL, root, k_root, -1, 365, false,
                             false, "clientAuth");

    EVP_PKEY *k = ec_key("P-256");
    X509_free(leaf_files(path("expired"), k, "old.example.test", "DNS:old.example.test", root,
                         k_root, -30, -1, false, false, NULL));
    X509_free(leaf_files(path("soon"), k, "soon.example.test", "DNS:soon.example.test", root,
                         k_root, -1, 10, false, false, NULL));
    EVP_PKEY_free(k);
    EVP_PKEY *ked = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ked);
    X509_free(leaf_files(path("ed"), ked, "ed.example.test", "DNS:ed.example.test", root, k_root,
                         -1, 365, false, false, NULL));
    EVP_PKEY_free(ked);
    EVP_PKEY *k521 = ec_key("P-521");
    X509_free(leaf_files(path("p521"), k521, "p521.example.test", "DNS:p521.example.test", root,
                         k_root, -1, 365, false, false, NULL));
    EVP_PKEY_free(k521);

    /* DER, no certificate at all, a broken block. */
    FILE *f = fopen(path("der.pem"), "wb");
    assert_non_null(f);
    assert_int_equal(i2d_X509_fp(f, leaf_a), 1);
    fclose(f);
    write_text(path("nocert.pem"), "just some text\n");
    write_text(path("broken.pem"), "-----BEGIN CERTIFICATE-----\nnot base64 !!!\n"
                                   "-----END CERTIFICATE-----\n");

    /* The cert dir (ACME layout): two good pairs, a wildcard, a .pem without .key, an invalid
     * name, a file that is not a .pem, and a second a.example.test (explicit entries win). */
    char base[200];
    snprintf(base, sizeof(base), "%s/c.example.test", certdir);
    X509_free(leaf_files(base, ka, "c.example.test", "DNS:c.example.test", root, k_root, -1, 365,
                         false, false, NULL));
    snprintf(base, sizeof(base), "%s/*.dir.test", certdir);
    X509_free(leaf_files(base, ka, "*.dir.test", "DNS:*.dir.test", root, k_root, -1, 365, false,
                         false, NULL));
    snprintf(base, sizeof(base), "%s/a.example.test", certdir);
    leaf_dir_a = leaf_files(base, ka, "a.example.test (dir)", "DNS:a.example.test", root, k_root,
                            -1, 365, false, false, NULL);
    snprintf(base, sizeof(base), "%s/lonely.example.test.pem", certdir);
    write_certs(base, leaf_a, NULL);
    snprintf(base, sizeof(base), "%s/bad_name", certdir);
    X509_free(leaf_files(base, ka, "bad_name", "DNS:bad_name", root, k_root, -1, 365, false, false,
                         NULL));
    snprintf(base, sizeof(base), "%s/notes.txt", certdir);
    write_text(base, "hello\n");

    EVP_PKEY_free(ka);
    EVP_PKEY_free(kb);
    EVP_PKEY_free(kw);
    EVP_PKEY_free(kip);
    EVP_PKEY_free(kc);

    dw_err_t err;
    dw_err_clear(&err);
    srv = dw_tls_server_new(&err);
    if (!srv) fail_msg("server: %s", err.msg);
    set = dw_tls_certset_new();
    assert_non_null(set);
    const char *bases[] = {"a", "b", "wild", "ip", "a"};
    const char *names[] = {"a.example.test", "b.example.test", "*.example.test", "127.0.0.1",
                           "mismatch.example.test"};
    for (size_t i = 0; i < DW_ARRAY_LEN(bases); i++) {
        dw_tls_cert_t *c = load(bases[i]);
        assert_int_equal(dw_tls_certset_add(set, dw_str_c(names[i]), c), DW_OK);
        dw_tls_cert_unref(c);
    }
    dw_tls_certset_set_default(set, DW_STR("127.0.0.1"));
    cli = dw_tls_client_new(path("root.pem"), NULL, NULL, true, &err);
    if (!cli) fail_msg("client: %s", err.msg);
    cli_h1 = dw_tls_client_new(path("root.pem"), NULL, NULL, false, &err);
    if (!cli_h1) fail_msg("client: %s", err.msg);
    return 0;
}

static int group_teardown(void **state)
{
    dw_tls_client_free(cli);
    dw_tls_client_free(cli_h1);
    dw_tls_certset_free(set);
    dw_tls_server_free(srv);
    dw_tls_cert_internal_purge();
    X509 *xs[] = {root, inter, leaf_a, leaf_b, leaf_wild, leaf_ip, leaf_client, leaf_dir_a};
    for (size_t i = 0; i < DW_ARRAY_LEN(xs); i++) X509_free(xs[i]);
    EVP_PKEY_free(k_root);
    EVP_PKEY_free(k_inter);
    nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* --- names ----------------------------------------------------------------------------------- */

static void test_name_valid(void **state)
{
    const char *good[] = {"example.com", "*.example.com",         "a",         "A-1.b2.C",
                          "localhost",   "xn--bcher-kva.example", "127.0.0.1", "*.com"};
    const char *bad[] = {
        "",       "*",      "exam*ple.com", "*ample.com", "foo.*.com", "**.example.com",
        "-a.com", "a-.com", "a..b",         ".a",         "a.",        "a_b.com",
        "a b",    "a/b",    "..",           "*.",         "a.*"};
    for (size_t i = 0; i < DW_ARRAY_LEN(good); i++)
        if (!dw_tls_name_valid(dw_str_c(good[i]))) fail_msg("'%s' should be valid", good[i]);
    for (size_t i = 0; i < DW_ARRAY_LEN(bad); i++)
        if (dw_tls_name_valid(dw_str_c(bad[i]))) fail_msg("'%s' should be invalid", bad[i]);
    assert_false(dw_tls_name_valid(dw_str_make("a\0b", 3)));

    /* Lengths: labels up to 63, names up to 253. */
    char buf[300];
    memset(buf, 'a', 63);
    assert_true(dw_tls_name_valid(dw_str_make(buf, 63)));
    memset(buf, 'a', 64);
    assert_false(dw_tls_name_valid(dw_str_make(buf, 64)));
    for (size_t i = 0; i < sizeof(buf); i++) buf[i] = i % 2 ? '.' : 'a'; /* a.a.a... */
    assert_true(dw_tls_name_valid(dw_str_make(buf, 253)));
    assert_false(dw_tls_name_valid(dw_str_make(buf, 255)));
}

/* --- loading --------------------------------------------------------------------------------- */

static void test_load_ok(void **state)
{
    dw_tls_cert_t *a = load("a");
    assert_int_equal(X509_cmp(dw_tls_cert_leaf(a), leaf_a), 0);
    assert_int_equal(sk_X509_num(dw_tls_cert_chain(a)), 1); /* the intermediate is kept */
    assert_int_equal(X509_cmp(sk_X509_value(dw_tls_cert_chain(a), 0), inter), 0);
    assert_true(EVP_PKEY_is_a(dw_tls_cert_key(a), "EC"));
    dw_tls_cert_ref(a);
    dw_tls_cert_unref(a);
    dw_tls_cert_unref(a);

    /* RSA PRIVATE KEY; EC PRIVATE KEY on P-384; an expired and an expiring leaf (warnings). */
    const char *ok[] = {"b", "wild", "expired", "soon", "client"};
    for (size_t i = 0; i < DW_ARRAY_LEN(ok); i++) {
        dw_tls_cert_t *c = load(ok[i]);
        assert_int_equal(sk_X509_num(dw_tls_cert_chain(c)), 0);
        dw_tls_cert_unref(c);
    }
}

static void expect_load_error(const char *cert, const char *key, int rc, const char *needle)
{
    char kp[200];
    snprintf(kp, sizeof(kp), "%s", path(key));
    const char *cp = path(cert);
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_cert_t *c = dw_tls_cert_load(cp, kp, &err);
    if (c) fail_msg("%s + %s loaded", cert, key);
    assert_int_equal(err.rc, rc);
    if (!strstr(err.msg, needle)) fail_msg("'%s' lacks '%s'", err.msg, needle);
    if (!strstr(err.msg, cp)) fail_msg("'%s' does not name the cert path", err.msg);
    if (strstr(err.msg, kp)) fail_msg("'%s' names the key path", err.msg);
}

static void test_load_errors(void **state)
{
    expect_load_error("a.pem", "b.key", DW_EINVAL, "does not match");
    expect_load_error("nope.pem", "a.key", DW_ENOENT, "cannot read");
    expect_load_error("a.pem", "nope.key", DW_ENOENT, "private key");
    expect_load_error("nocert.pem", "a.key", DW_EPROTO, "no PEM certificate");
    expect_load_error("der.pem", "a.key", DW_EPROTO, "DER");
    expect_load_error("broken.pem", "a.key", DW_EPROTO, "cannot be parsed");
    expect_load_error("a.pem", "b.pem", DW_EPROTO, "private key cannot be parsed");
    expect_load_error("a.pem", "der.pem", DW_EPROTO, "private key cannot be parsed");
    expect_load_error("ed.pem", "ed.key", DW_EINVAL, "ED25519");
    expect_load_error("p521.pem", "p521.key", DW_EINVAL, "secp521r1");
    expect_load_error("certs", "a.key", DW_EIO, "cannot read"); /* a directory */
}

/* --- tls internal ---------------------------------------------------------------------------- */

static void check_internal(dw_tls_cert_t *c, const char *host, bool ip)
{
    X509 *x = dw_tls_cert_leaf(c);
    EVP_PKEY *k = dw_tls_cert_key(c);
    assert_true(EVP_PKEY_is_a(k, "RSA"));
    assert_int_equal(EVP_PKEY_get_bits(k), 2048);
    assert_int_equal(X509_get_version(x), X509_VERSION_3);
    assert_int_equal(X509_get_signature_nid(x), NID_sha256WithRSAEncryption);
    assert_int_equal(X509_check_private_key(x, k), 1);
    assert_int_equal(X509_check_issued(x, x), X509_V_OK); /* self-signed */
    assert_int_equal(X509_verify(x, k), 1);
    assert_true(X509_get_ext_by_NID(x, NID_info_access, -1) < 0); /* no AIA */
    assert_int_equal(sk_X509_num(dw_tls_cert_chain(c)), 0);

    char cn[256];
    assert_true(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof(cn)) > 0);
    assert_string_equal(cn, host);
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    assert_non_null(gens);
    assert_int_equal(sk_GENERAL_NAME_num(gens), 1);
    GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, 0);
    assert_int_equal(g->type, ip ? GEN_IPADD : GEN_DNS);
    if (ip)
        assert_int_equal(X509_check_ip_asc(x, host, 0), 1);
    else
        assert_int_equal(X509_check_host(x, host, 0, 0, NULL), 1);
    GENERAL_NAMES_free(gens);

    /* now .. now + 365 days */
    assert_true(X509_cmp_current_time(X509_get0_notBefore(x)) <= 0);
    int days = 0, secs = 0;
    assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)),
                     1);
    assert_int_equal(days, 365);
    assert_int_equal(secs, 0);
    assert_int_equal(ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notBefore(x)), 1);
    assert_true(days == 0 && secs > -120 && secs <= 0);
}

static void test_internal(void **state)
{
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_cert_t *a = dw_tls_cert_internal("internal.example.test", &err);
    if (!a) fail_msg("%s", err.msg);
    check_internal(a, "internal.example.test", false);
    /* Cached: the same certificate again, whatever the case of the name. */
    dw_tls_cert_t *a2 = dw_tls_cert_internal("Internal.Example.TEST", &err);
    assert_ptr_equal(a2, a);
    dw_tls_cert_t *b = dw_tls_cert_internal("other.example.test", &err);
    assert_non_null(b);
    assert_ptr_not_equal(b, a);
    assert_int_not_equal(X509_cmp(dw_tls_cert_leaf(a), dw_tls_cert_leaf(b)), 0);
    assert_int_not_equal(ASN1_INTEGER_cmp(X509_get0_serialNumber(dw_tls_cert_leaf(a)),
                                          X509_get0_serialNumber(dw_tls_cert_leaf(b))),
                         0);
    dw_tls_cert_t *ip = dw_tls_cert_internal("127.0.0.2", &err);
    assert_non_null(ip);
    check_internal(ip, "127.0.0.2", true);

    assert_null(dw_tls_cert_internal("exam*ple.test", &err));
    assert_int_equal(err.rc, DW_EINVAL);
    assert_null(dw_tls_cert_internal("", &err));

    dw_tls_cert_unref(a);
    dw_tls_cert_unref(a2);
    dw_tls_cert_unref(b);
    dw_tls_cert_unref(ip);
}

/* --- certificate sets ---------------------------------------------------------------------- */

static X509 *pick(const dw_tls_certset_t *s, const char *sni)
{
    const dw_tls_cert_t *c = dw_tls_certset_select(s, sni ? dw_str_c(sni) : DW_STR_NULL);
    return c ? dw_tls_cert_leaf(c) : NULL;
}

static void assert_picks(const dw_tls_certset_t *s, const char *sni, X509 *want)
{
    X509 *got = pick(s, sni);
    if (!want && got) fail_msg("'%s' selected a certificate", sni ? sni : "(none)");
    if (want && (!got || X509_cmp(got, want) != 0))
        fail_msg("'%s' selected the wrong certificate", sni ? sni : "(none)");
}

static X509 *dir_leaf(const char *name)
{
    char p[200];
    snprintf(p, sizeof(p), "%s/%s.pem", certdir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static void test_certset_select(void **state)
{
    dw_tls_certset_t *s = dw_tls_certset_new();
    assert_non_null(s);
    dw_tls_cert_t *a = load("a"), *b = load("b"), *w = load("wild");
    assert_int_equal(dw_tls_certset_add(s, DW_STR("A.Example.TEST"), a), DW_OK); /* lowered */
    assert_int_equal(dw_tls_certset_add(s, DW_STR("a.example.test"), b), DW_OK); /* first wins */
    assert_int_equal(dw_tls_certset_add(s, DW_STR("*.example.test"), w), DW_OK);
    assert_int_equal(dw_tls_certset_add(s, DW_STR("b.example.test"), b), DW_OK);
    assert_int_equal(dw_tls_certset_add(s, DW_STR("exam*ple.test"), b), DW_EINVAL);
    assert_int_equal(dw_tls_certset_count(s), 3);
    assert_int_equal(dw_tls_certset_load_dir(s, certdir, 100), 3);
    assert_int_equal(dw_tls_certset_count(s), 6);
    dw_tls_cert_unref(a);
    dw_tls_cert_unref(b);
    dw_tls_cert_unref(w);

    X509 *c = dir_leaf("c.example.test"), *dw = dir_leaf("*.dir.test");
    assert_picks(s, "a.example.test", leaf_a); /* explicit before the cert dir */
    assert_picks(s, "A.EXAMPLE.test", leaf_a);
    assert_picks(s, "b.example.test", leaf_b);
    assert_picks(s, "c.example.test", c);         /* cert dir */
    assert_picks(s, "x.example.test", leaf_wild); /* one-level wildcard */
    assert_picks(s, "X.Example.Test", leaf_wild);
    assert_picks(s, "a.b.example.test", NULL); /* never two levels */
    assert_picks(s, "example.test", NULL);
    assert_picks(s, "x.dir.test", dw); /* a wildcard from the cert dir */
    assert_picks(s, "dir.test", NULL);
    assert_picks(s, "unknown.test", NULL);
    assert_picks(s, "exam*ple.test", NULL); /* invalid SNI */
    assert_picks(s, "bad_name", NULL);
    assert_picks(s, "a.example.test.", NULL);
    assert_picks(s, NULL, NULL); /* no SNI and no default yet */
    assert_picks(s, "", NULL);

    dw_tls_certset_set_default(s, DW_STR("B.example.test"));
    dw_tls_certset_set_default(s, DW_STR("a.example.test")); /* first call wins */
    assert_picks(s, NULL, leaf_b);
    assert_picks(s, "", leaf_b);
    X509_free(c);
    X509_free(dw);
    dw_tls_certset_free(s);

    /* A default that names nothing selects nothing. */
    s = dw_tls_certset_new();
    dw_tls_certset_set_default(s, DW_STR("nothing.test"));
    assert_picks(s, NULL, NULL);
    dw_tls_certset_free(s);
}

static void test_certset_load_dir(void **state)
{
    dw_tls_certset_t *s = dw_tls_certset_new();
    assert_non_null(s);
    /* c.example.test, *.dir.test, a.example.test; not lonely.* (no .key), not bad_name. */
    assert_int_equal(dw_tls_certset_load_dir(s, certdir, 100), 3);
    assert_picks(s, "a.example.test", leaf_dir_a);
    assert_non_null(pick(s, "c.example.test"));
    assert_null(pick(s, "lonely.example.test"));
    assert_null(pick(s, "bad_name"));
    dw_tls_certset_free(s);

    /* At most max, in name order: "*.dir.test" sorts first. */
    s = dw_tls_certset_new();
    assert_int_equal(dw_tls_certset_load_dir(s, certdir, 1), 1);
    assert_int_equal(dw_tls_certset_count(s), 1);
    assert_non_null(pick(s, "x.dir.test"));
    dw_tls_certset_free(s);

    s = dw_tls_certset_new();
    assert_int_equal(dw_tls_certset_load_dir(s, path("missing"), 100), 0);
    assert_int_equal(dw_tls_certset_count(s), 0);
    dw_tls_certset_free(s);
}

/* --- handshakes --------------------------------------------------------------------------------
 */

typedef struct side {
    bool done, failed;
    unsigned long err; /* the OpenSSL error that ended it, if any */
} side_t;

typedef struct conn {
    int fds[2]; /* [0] client, [1] server */
    SSL *c, *s;
    side_t cs, ss;
} conn_t;

static void conn_fds(conn_t *cn)
{
    memset(cn, 0, sizeof(*cn));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, cn->fds),
                     0);
}

static void conn_open(conn_t *cn, const dw_tls_certset_t *s, bool h2, dw_tls_client_t *c,
                      const char *name)
{
    conn_fds(cn);
    cn->s = dw_tls_server_ssl(srv, cn->fds[1], s, h2);
    assert_non_null(cn->s);
    cn->c = dw_tls_client_ssl(c, cn->fds[0], name);
    assert_non_null(cn->c);
}

/* A clean close: OpenSSL marks the session of an SSL freed without SSL_shutdown as not
 * resumable. */
static void conn_close(conn_t *cn)
{
    if (cn->c && SSL_is_init_finished(cn->c)) SSL_shutdown(cn->c);
    if (cn->s && SSL_is_init_finished(cn->s)) SSL_shutdown(cn->s);
    ERR_clear_error();
    SSL_free(cn->c);
    SSL_free(cn->s);
    close(cn->fds[0]);
    close(cn->fds[1]);
}

static void step(SSL *ssl, side_t *st)
{
    if (st->done || st->failed) return;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl);
    if (r == 1) {
        st->done = true;
        return;
    }
    int e = SSL_get_error(ssl, r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return;
    st->failed = true;
    st->err = ERR_peek_last_error();
    ERR_clear_error();
}

/* Drives both ends until each finished or failed; true when both finished. The client then
 * reads what follows the handshake (TLS 1.3 session tickets). */
static bool conn_run(conn_t *cn)
{
    for (int i = 0; i < 100; i++) {
        step(cn->c, &cn->cs);
        step(cn->s, &cn->ss);
        if ((cn->cs.done || cn->cs.failed) && (cn->ss.done || cn->ss.failed)) break;
    }
    if (!cn->cs.done || !cn->ss.done) return false;
    char b;
    for (int i = 0; i < 4; i++) {
        int r = SSL_read(cn->c, &b, 1);
        if (r <= 0 && SSL_get_error(cn->c, r) != SSL_ERROR_WANT_READ) break;
    }
    ERR_clear_error();
    return true;
}

static X509 *peer(conn_t *cn)
{
    return SSL_get0_peer_certificate(cn->c);
}

static void expect_ok(const char *name, X509 *want)
{
    conn_t cn;
    conn_open(&cn, set, true, cli, name);
    if (!conn_run(&cn))
        fail_msg("%s: handshake failed (verify: %s)", name,
                 X509_verify_cert_error_string(SSL_get_verify_result(cn.c)));
    assert_int_equal(SSL_get_verify_result(cn.c), X509_V_OK);
    assert_int_equal(X509_cmp(peer(&cn), want), 0);
    conn_close(&cn);
}

static void test_hs_sni(void **state)
{
    /* a's chain verifies only because the intermediate is sent: the client trusts the root. */
    expect_ok("a.example.test", leaf_a);
    expect_ok("A.Example.Test", leaf_a);
    expect_ok("b.example.test", leaf_b); /* RSA */
    expect_ok("x.example.test", leaf_wild);

    conn_t cn;
    conn_open(&cn, set, true, cli, "a.example.test");
    assert_true(conn_run(&cn));
    assert_string_equal(dw_tls_version_name(cn.s), "TLSv1.3");
    assert_string_equal(dw_tls_cipher_name(cn.s), "TLS_AES_128_GCM_SHA256");
    assert_string_equal(SSL_get_servername(cn.s, TLSEXT_NAMETYPE_host_name), "a.example.test");
    conn_close(&cn);

    /* An IP: no SNI, so the default (127.0.0.1), verified against the IP SAN. */
    conn_open(&cn, set, true, cli, "127.0.0.1");
    assert_true(conn_run(&cn));
    assert_null(SSL_get_servername(cn.s, TLSEXT_NAMETYPE_host_name));
    assert_int_equal(X509_cmp(peer(&cn), leaf_ip), 0);
    conn_close(&cn);

    /* Unknown names and two-level wildcards abort with unrecognized_name. */
    const char *unknown[] = {"zzz.unknown.test", "a.b.example.test", "example.test"};
    for (size_t i = 0; i < DW_ARRAY_LEN(unknown); i++) {
        conn_open(&cn, set, true, cli, unknown[i]);
        assert_false(conn_run(&cn));
        assert_true(cn.ss.failed && cn.cs.failed);
        assert_int_equal(ERR_GET_REASON(cn.cs.err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
        conn_close(&cn);
    }
    /* An invalid SNI too (the client sends what it is given). */
    conn_open(&cn, set, true, cli, "a_b.example.test");
    assert_false(conn_run(&cn));
    assert_int_equal(ERR_GET_REASON(cn.cs.err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
    conn_close(&cn);

    /* No SNI and no default: refused. */
    dw_tls_certset_t *empty = dw_tls_certset_new();
    conn_open(&cn, empty, true, cli, "127.0.0.1");
    assert_false(conn_run(&cn));
    assert_int_equal(ERR_GET_REASON(cn.cs.err), SSL_R_TLSV1_UNRECOGNIZED_NAME);
    conn_close(&cn);
    dw_tls_certset_free(empty);
}

static void test_hs_verify(void **state)
{
    conn_t cn;
    /* The server picks a.example.test's certificate for this name: wrong host. */
    conn_open(&cn, set, true, cli, "mismatch.example.test");
    assert_false(conn_run(&cn));
    assert_true(cn.cs.failed);
    assert_int_equal(SSL_get_verify_result(cn.c), X509_V_ERR_HOSTNAME_MISMATCH);
    conn_close(&cn);

    /* An IP checked against a certificate without that IP SAN. */
    dw_tls_certset_t *s = dw_tls_certset_new();
    dw_tls_cert_t *a = load("a");
    dw_tls_certset_add(s, DW_STR("a.example.test"), a);
    dw_tls_certset_set_default(s, DW_STR("a.example.test"));
    conn_open(&cn, s, true, cli, "127.0.0.1");
    assert_false(conn_run(&cn));
    assert_int_equal(SSL_get_verify_result(cn.c), X509_V_ERR_IP_ADDRESS_MISMATCH);
    conn_close(&cn);
    dw_tls_cert_unref(a);
    dw_tls_certset_free(s);

    /* A client trusting another CA, and one on the system roots, refuse the chain. */
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_client_t *other = dw_tls_client_new(path("other-root.pem"), NULL, NULL, false, &err);
    dw_tls_client_t *sys = dw_tls_client_new(NULL, NULL, NULL, false, &err);
    assert_non_null(other);
    assert_non_null(sys);
    dw_tls_client_t *clients[] = {other, sys};
    for (size_t i = 0; i < DW_ARRAY_LEN(clients); i++) {
        conn_open(&cn, set, true, clients[i], "a.example.test");
        assert_false(conn_run(&cn));
        assert_true(cn.cs.failed);
        assert_int_equal(SSL_get_verify_result(cn.c), X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
        conn_close(&cn);
    }
    dw_tls_client_free(other);
    dw_tls_client_free(sys);

    /* A trust bundle that holds no certificate is a config error. */
    assert_null(dw_tls_client_new(path("nocert.pem"), NULL, NULL, false, &err));
    assert_non_null(strstr(err.msg, "nocert.pem"));
    assert_null(dw_tls_client_new(path("missing.pem"), NULL, NULL, false, &err));
}

/* The ALPN a client offering `offer` (wire format; NULL = none) gets from a server with h2. */
static void expect_alpn(dw_tls_client_t *c, const char *offer, size_t offer_len, bool h2,
                        const char *want)
{
    conn_t cn;
    conn_open(&cn, set, h2, c, "a.example.test");
    if (offer) assert_int_equal(SSL_set_alpn_protos(cn.c, (const void *)offer, offer_len), 0);
    assert_true(conn_run(&cn));
    const unsigned char *p;
    unsigned n;
    SSL_get0_alpn_selected(cn.s, &p, &n);
    if (n != strlen(want) || (n && memcmp(p, want, n) != 0))
        fail_msg("ALPN '%.*s', want '%s'", (int)n, (const char *)p, want);
    assert_int_equal(dw_tls_alpn_is_h2(cn.s), strcmp(want, "h2") == 0);
    assert_int_equal(dw_tls_alpn_is_h2(cn.c), strcmp(want, "h2") == 0);
    conn_close(&cn);
}

#define BOTH     "\x08http/1.1\x02h2" /* client order must not matter: server preference */
#define BOTH_LEN (sizeof(BOTH) - 1)

static void test_hs_alpn(void **state)
{
    expect_alpn(cli, NULL, 0, true, "h2");          /* dw client with h2 */
    expect_alpn(cli_h1, NULL, 0, true, "http/1.1"); /* dw client without */
    expect_alpn(cli, BOTH, BOTH_LEN, true, "h2");   /* server preference */
    expect_alpn(cli, BOTH, BOTH_LEN, false, "http/1.1");
    expect_alpn(cli, NULL, 0, false, ""); /* h2 only, server without: none */
    expect_alpn(cli,
                "\x03"
                "foo",
                4, true, ""); /* nothing known: none, no failure */
    expect_alpn(cli,
                "\x03"
                "foo\x02h2",
                7, true, "h2");

    /* No ALPN extension at all. */
    conn_t cn;
    conn_open(&cn, set, true, cli, "a.example.test");
    assert_int_equal(SSL_set_alpn_protos(cn.c, NULL, 0), 0);
    assert_true(conn_run(&cn));
    assert_false(dw_tls_alpn_is_h2(cn.s));
    conn_close(&cn);
}

static void test_hs_versions(void **state)
{
    /* TLS 1.1 at most: refused by the server. */
    conn_t cn;
    conn_open(&cn, set, true, cli, "a.example.test");
    SSL_set_session(cn.c, NULL);     /* a full handshake, not the context's cached session */
    SSL_set_security_level(cn.c, 0); /* so the client really offers TLS 1.1 */
    assert_int_equal(SSL_set_min_proto_version(cn.c, TLS1_VERSION), 1);
    assert_int_equal(SSL_set_max_proto_version(cn.c, TLS1_1_VERSION), 1);
    assert_false(conn_run(&cn));
    assert_true(cn.ss.failed);
    assert_int_equal(ERR_GET_REASON(cn.ss.err), SSL_R_UNSUPPORTED_PROTOCOL);
    conn_close(&cn);

    /* TLS 1.2: the server's first suite the client has (an EC key: ECDSA). */
    conn_open(&cn, set, true, cli, "a.example.test");
    SSL_set_session(cn.c, NULL); /* a full handshake, not the context's cached session */
    assert_int_equal(SSL_set_max_proto_version(cn.c, TLS1_2_VERSION), 1);
    assert_true(conn_run(&cn));
    assert_string_equal(dw_tls_version_name(cn.s), "TLSv1.2");
    assert_string_equal(dw_tls_cipher_name(cn.s), "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_true(dw_tls_alpn_is_h2(cn.s));
    conn_close(&cn);

    /* A TLS 1.2 client that only has a suite outside the profile is refused. */
    conn_open(&cn, set, true, cli, "a.example.test");
    SSL_set_session(cn.c, NULL); /* a full handshake, not the context's cached session */
    assert_int_equal(SSL_set_max_proto_version(cn.c, TLS1_2_VERSION), 1);
    assert_int_equal(SSL_set_cipher_list(cn.c, "ECDHE-ECDSA-AES128-SHA256"), 1);
    assert_false(conn_run(&cn));
    assert_int_equal(ERR_GET_REASON(cn.ss.err), SSL_R_NO_SHARED_CIPHER);
    conn_close(&cn);
}

/* A handshake with `resume` offered (NULL: whatever the client context cached); returns
 * whether the session was resumed, and the client's session afterwards in *out. */
static bool resumed(dw_tls_server_t *server, dw_tls_client_t *c, const char *name,
                    SSL_SESSION *resume, int max_version, SSL_SESSION **out)
{
    conn_t cn;
    conn_fds(&cn);
    cn.s = dw_tls_server_ssl(server, cn.fds[1], set, true);
    cn.c = dw_tls_client_ssl(c, cn.fds[0], name);
    assert_non_null(cn.s);
    assert_non_null(cn.c);
    if (max_version) assert_int_equal(SSL_set_max_proto_version(cn.c, max_version), 1);
    if (resume) {
        /* OpenSSL's client spends a TLS 1.3 session on use (single use, RFC 8446 C.4): offer
         * a copy, which carries the same ticket. */
        SSL_SESSION *copy = SSL_SESSION_dup(resume);
        assert_non_null(copy);
        assert_int_equal(SSL_set_session(cn.c, copy), 1);
        SSL_SESSION_free(copy);
    }
    assert_true(conn_run(&cn));
    assert_int_equal(SSL_get_verify_result(cn.c), X509_V_OK);
    bool r = SSL_session_reused(cn.c);
    assert_int_equal(SSL_session_reused(cn.s), r);
    if (out) {
        /* A copy: the original is also in the client context's cache, which spends it. */
        SSL_SESSION *sess = SSL_get1_session(cn.c);
        assert_non_null(sess);
        *out = SSL_SESSION_dup(sess);
        SSL_SESSION_free(sess);
        assert_non_null(*out);
        assert_true(SSL_SESSION_is_resumable(*out));
    }
    conn_close(&cn);
    return r;
}

/* Tickets: the current key and the one before it decrypt; a ticket under the previous key is
 * renewed (a fresh ticket under the current key), so it survives one more rotation; a ticket
 * two rotations old is refused (full handshake). Run for TLS 1.3 and TLS 1.2. */
static void test_hs_tickets(void **state)
{
    const int versions[] = {0, TLS1_2_VERSION};
    for (size_t v = 0; v < DW_ARRAY_LEN(versions); v++) {
        int max = versions[v];
        dw_err_t err;
        dw_err_clear(&err);
        dw_tls_server_t *s = dw_tls_server_new(&err);
        dw_tls_client_t *c = dw_tls_client_new(path("root.pem"), NULL, NULL, true, &err);
        assert_non_null(s);
        assert_non_null(c);

        SSL_SESSION *s0, *s1;
        assert_false(resumed(s, c, "a.example.test", NULL, max, &s0));
        /* The client context resumes by itself, per name only. */
        assert_true(resumed(s, c, "a.example.test", NULL, max, NULL));
        assert_false(resumed(s, c, "b.example.test", NULL, max, NULL));
        assert_true(resumed(s, c, "a.example.test", s0, max, NULL));

        dw_tls_server_rotate_tickets(s); /* s0's key is now the previous one */
        assert_true(resumed(s, c, "a.example.test", s0, max, &s1)); /* renewed into s1 */
        dw_tls_server_rotate_tickets(s);                            /* s0's key is gone */
        assert_false(resumed(s, c, "a.example.test", s0, max, NULL));
        assert_true(resumed(s, c, "a.example.test", s1, max, NULL));

        /* Another server (other keys) cannot read these tickets. */
        dw_tls_server_t *s2 = dw_tls_server_new(&err);
        assert_non_null(s2);
        assert_false(resumed(s2, c, "a.example.test", s1, max, NULL));

        SSL_SESSION_free(s0);
        SSL_SESSION_free(s1);
        dw_tls_server_free(s2);
        dw_tls_client_free(c);
        dw_tls_server_free(s);
    }
}

/* An upstream that requires a client certificate sees the one the client context was given. */
static void test_hs_client_cert(void **state)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    assert_non_null(ctx);
    dw_tls_cert_t *a = load("a");
    assert_int_equal(SSL_CTX_use_cert_and_key(ctx, a->leaf, a->key, a->chain, 1), 1);
    dw_tls_cert_unref(a);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, path("root.pem"), NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);

    dw_err_t err;
    dw_err_clear(&err);
    char key[200];
    snprintf(key, sizeof(key), "%s", path("client.key"));
    dw_tls_client_t *mtls =
        dw_tls_client_new(path("root.pem"), path("client.pem"), key, false, &err);
    if (!mtls) fail_msg("%s", err.msg);

    dw_tls_client_t *clients[] = {mtls, cli_h1};
    for (size_t i = 0; i < DW_ARRAY_LEN(clients); i++) {
        conn_t cn;
        conn_fds(&cn);
        cn.s = SSL_new(ctx);
        assert_non_null(cn.s);
        SSL_set_fd(cn.s, cn.fds[1]);
        SSL_set_accept_state(cn.s);
        cn.c = dw_tls_client_ssl(clients[i], cn.fds[0], "a.example.test");
        bool ok = conn_run(&cn);
        if (clients[i] == mtls) {
            assert_true(ok);
            X509 *got = SSL_get0_peer_certificate(cn.s);
            assert_non_null(got);
            assert_int_equal(X509_cmp(got, leaf_client), 0);
            assert_int_equal(SSL_get_verify_result(cn.s), X509_V_OK);
        } else {
            assert_false(ok); /* no certificate: the upstream refuses */
            assert_true(cn.ss.failed);
            assert_int_equal(ERR_GET_REASON(cn.ss.err), SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE);
        }
        conn_close(&cn);
    }
    dw_tls_client_free(mtls);
    SSL_CTX_free(ctx);

    /* Both or neither; a mismatch names the cert path only. */
    assert_null(dw_tls_client_new(NULL, path("client.pem"), NULL, false, &err));
    assert_int_equal(err.rc, DW_EINVAL);
    snprintf(key, sizeof(key), "%s", path("a.key"));
    assert_null(dw_tls_client_new(NULL, path("client.pem"), key, false, &err));
    assert_non_null(strstr(err.msg, "does not match"));
    assert_non_null(strstr(err.msg, "client.pem"));
    assert_null(strstr(err.msg, key));
}

/* A `tls internal` certificate serves as is: a client trusting it verifies the handshake. */
static void test_hs_internal(void **state)
{
    dw_err_t err;
    dw_err_clear(&err);
    dw_tls_cert_t *c = dw_tls_cert_internal("internal.example.test", &err);
    assert_non_null(c);
    write_certs(path("internal.pem"), dw_tls_cert_leaf(c), NULL);
    dw_tls_certset_t *s = dw_tls_certset_new();
    assert_int_equal(dw_tls_certset_add(s, DW_STR("internal.example.test"), c), DW_OK);
    dw_tls_cert_unref(c);
    dw_tls_client_t *tc = dw_tls_client_new(path("internal.pem"), NULL, NULL, true, &err);
    assert_non_null(tc);

    conn_t cn;
    conn_open(&cn, s, true, tc, "internal.example.test");
    if (!conn_run(&cn))
        fail_msg("handshake failed (verify: %s)",
                 X509_verify_cert_error_string(SSL_get_verify_result(cn.c)));
    assert_true(dw_tls_alpn_is_h2(cn.s));
    conn_close(&cn);
    dw_tls_client_free(tc);
    dw_tls_certset_free(s);
}

static void test_error_string(void **state)
{
    char buf[256];
    ERR_raise(ERR_LIB_SSL, SSL_R_NO_SHARED_CIPHER);
    ERR_raise(ERR_LIB_SSL, SSL_R_UNSUPPORTED_PROTOCOL);
    dw_tls_error_string(buf, sizeof(buf));
    assert_non_null(strstr(buf, "unsupported protocol"));
    assert_int_equal(ERR_peek_error(), 0); /* drained */
    assert_string_equal(dw_tls_error_string(buf, sizeof(buf)), "no OpenSSL error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_valid),     cmocka_unit_test(test_load_ok),
        cmocka_unit_test(test_load_errors),    cmocka_unit_test(test_internal),
        cmocka_unit_test(test_certset_select), cmocka_unit_test(test_certset_load_dir),
        cmocka_unit_test(test_hs_sni),         cmocka_unit_test(test_hs_verify),
        cmocka_unit_test(test_hs_alpn),        cmocka_unit_test(test_hs_versions),
        cmocka_unit_test(test_hs_tickets),     cmocka_unit_test(test_hs_client_cert),
        cmocka_unit_test(test_hs_internal),    cmocka_unit_test(test_error_string),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
