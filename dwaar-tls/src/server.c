/* The process-wide server context (§1.2): protocol and cipher policy, certificate choice in
 * the ClientHello callback, ALPN, and session tickets under rotated keys. */
#include "tls_int.h"
#include <dwaar/base/log.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdint.h>

#define TLS12_CIPHERS                                                                              \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"       \
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384"
#define TLS13_SUITES "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define GROUPS       "X25519:P-256:P-384"

/* Session ticket keys live in a ring: the current key encrypts, the current and the previous
 * one decrypt. A rotation fills the slot after the current one (two rotations old, no longer
 * read by anyone in practice) and then publishes it with one atomic store.
 *
 * The one window: a handshake that loaded index i and is still reading slot i-1 (the previous
 * key) while two more rotations happen would read a slot being rewritten. Rotations are 12 h
 * apart and a ticket callback takes microseconds, so this cannot happen outside a frozen
 * process; a torn read would at worst make one ticket unusable (a full handshake later). The
 * current slot itself is only rewritten by the third rotation after it was loaded. */
#define TICKET_KEYS 3

typedef struct ticket_key {
    unsigned char name[16];
    unsigned char aes[32];  /* AES-256-CBC */
    unsigned char hmac[32]; /* HMAC-SHA256 */
} ticket_key_t;

struct dw_tls_server {
    SSL_CTX *ctx;
    EVP_CIPHER *cipher; /* fetched once: AES-256-CBC */
    ticket_key_t keys[TICKET_KEYS];
    atomic_uint current;       /* slot index of the encrypting key */
    pthread_mutex_t rotate_mu; /* serialises rotators only; handshakes never take it */
};

/* --- ClientHello: pick the certificate -------------------------------------------------- */

/* The first host_name of a server_name extension body (RFC 6066 §3); false when malformed. */
static bool parse_sni(const unsigned char *p, size_t len, dw_str_t *out)
{
    if (len < 2) return false;
    size_t list = (size_t)p[0] << 8 | p[1];
    if (list != len - 2 || list == 0) return false;
    p += 2;
    while (list >= 3) {
        unsigned type = p[0];
        size_t n = (size_t)p[1] << 8 | p[2];
        if (n > list - 3) return false;
        if (type == 0 /* host_name */) {
            *out = dw_str_make((const char *)p + 3, n);
            return n > 0;
        }
        p += 3 + n, list -= 3 + n;
    }
    return false;
}

static int client_hello_cb(SSL *ssl, int *al, void *arg)
{
    const dw_tls_ex_t *ex = dw_tls_ex();
    const dw_tls_certset_t *set = SSL_get_ex_data(ssl, ex->ssl_set);
    if (!set) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    const unsigned char *ext;
    size_t ext_len;
    dw_str_t sni = DW_STR_NULL;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &ext_len) &&
        !parse_sni(ext, ext_len, &sni)) {
        *al = SSL_AD_DECODE_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    const dw_tls_cert_t *c = dw_tls_certset_select(set, sni);
    if (!c) {
        *al = SSL_AD_UNRECOGNIZED_NAME;
        return SSL_CLIENT_HELLO_ERROR;
    }
    if (SSL_use_cert_and_key(ssl, c->leaf, c->key, c->chain, 1) != 1) {
        *al = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* --- ALPN -------------------------------------------------------------------------------- */

/* Finds proto in the client's wire-format list; false also when the list is malformed. */
static bool alpn_find(const unsigned char *in, unsigned inlen, const char *proto,
                      const unsigned char **out, unsigned char *outlen)
{
    size_t plen = strlen(proto);
    for (unsigned i = 0; i < inlen;) {
        unsigned n = in[i];
        if (n == 0 || n > inlen - i - 1) return false;
        if (n == plen && memcmp(in + i + 1, proto, n) == 0) {
            *out = in + i + 1, *outlen = (unsigned char)n;
            return true;
        }
        i += 1 + n;
    }
    return false;
}

/* Server preference: h2 (when this listener offers it), then http/1.1. Neither offered →
 * no ALPN; the connection goes on as HTTP/1.1. */
static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned inlen, void *arg)
{
    bool h2 = SSL_get_ex_data(ssl, dw_tls_ex()->ssl_h2) != NULL;
    if (h2 && alpn_find(in, inlen, "h2", out, outlen)) return SSL_TLSEXT_ERR_OK;
    if (alpn_find(in, inlen, "http/1.1", out, outlen)) return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

/* --- session tickets ----------------------------------------------------------------------- */

static bool ticket_key_init(ticket_key_t *k)
{
    return RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
           RAND_bytes(k->hmac, sizeof(k->hmac)) == 1;
}

static bool hmac_init(EVP_MAC_CTX *hctx, const ticket_key_t *k)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)k->hmac, sizeof(k->hmac)),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

/* enc: new ticket under the current key (1, or -1 on failure). Decrypt: 1 with the current
 * key, 2 (use it and issue a fresh ticket) with the previous one, 0 for an unknown key (a
 * full handshake). */
static int ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                     EVP_MAC_CTX *hctx, int enc)
{
    dw_tls_server_t *s = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), dw_tls_ex()->ctx_server);
    if (!s) return enc ? -1 : 0;
    unsigned cur = atomic_load_explicit(&s->current, memory_order_acquire);
    int ivlen = EVP_CIPHER_get_iv_length(s->cipher);
    if (enc) {
        const ticket_key_t *k = &s->keys[cur];
        if (RAND_bytes(iv, ivlen) != 1) return -1;
        memcpy(key_name, k->name, sizeof(k->name));
        if (EVP_EncryptInit_ex(cctx, s->cipher, NULL, k->aes, iv) != 1 || !hmac_init(hctx, k))
            return -1;
        return 1;
    }
    unsigned prev = (cur + TICKET_KEYS - 1) % TICKET_KEYS;
    const ticket_key_t *k;
    int rc;
    if (memcmp(key_name, s->keys[cur].name, 16) == 0)
        k = &s->keys[cur], rc = 1;
    else if (memcmp(key_name, s->keys[prev].name, 16) == 0)
        k = &s->keys[prev], rc = 2;
    else
        return 0;
    if (!hmac_init(hctx, k) || EVP_DecryptInit_ex(cctx, s->cipher, NULL, k->aes, iv) != 1)
        return -1;
    return rc;
}

void dw_tls_server_rotate_tickets(dw_tls_server_t *s)
{
    pthread_mutex_lock(&s->rotate_mu);
    unsigned cur = atomic_load_explicit(&s->current, memory_order_relaxed);
    unsigned next = (cur + 1) % TICKET_KEYS;
    ticket_key_t k;
    if (ticket_key_init(&k)) {
        s->keys[next] = k;
        atomic_store_explicit(&s->current, next, memory_order_release);
    } else {
        DW_WARN("tls", "session ticket key rotation failed: no random bytes");
    }
    OPENSSL_cleanse(&k, sizeof(k));
    pthread_mutex_unlock(&s->rotate_mu);
}

/* --- the context --------------------------------------------------------------------------- */

static int server_fail(dw_err_t *err, const char *what)
{
    char buf[256];
    return dw_err_set(err, DW_EIO, "tls server context: %s: %s", what,
                      dw_tls_error_string(buf, sizeof(buf)));
}

dw_tls_server_t *dw_tls_server_new(dw_err_t *err)
{
    const dw_tls_ex_t *ex = dw_tls_ex();
    if (!ex) {
        server_fail(err, "ex_data indices");
        return NULL;
    }
    dw_tls_server_t *s = calloc(1, sizeof(*s));
    if (!s) {
        dw_err_set(err, DW_ENOMEM, "tls server context: out of memory");
        return NULL;
    }
    pthread_mutex_init(&s->rotate_mu, NULL);
    atomic_init(&s->current, 0);
    /* Every slot gets a random key so none ever holds a guessable one. */
    for (int i = 0; i < TICKET_KEYS; i++) {
        if (!ticket_key_init(&s->keys[i])) {
            server_fail(err, "random ticket keys");
            goto fail;
        }
    }
    const char *what = "cipher AES-256-CBC";
    if (!(s->cipher = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL))) goto ssl_fail;
    what = "SSL_CTX_new";
    SSL_CTX *ctx = s->ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) goto ssl_fail;
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_NO_COMPRESSION);
    /* idle connections give their record buffers back (nginx does the same) */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    /* Tickets carry the whole session; nothing is kept server-side. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    what = "protocol versions";
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION))
        goto ssl_fail;
    what = "cipher lists";
    if (!SSL_CTX_set_cipher_list(ctx, TLS12_CIPHERS) ||
        !SSL_CTX_set_ciphersuites(ctx, TLS13_SUITES))
        goto ssl_fail;
    what = "groups";
    if (!SSL_CTX_set1_groups_list(ctx, GROUPS)) goto ssl_fail;
    /* The DHE-RSA suites of the intermediate profile need parameters (RFC 7919 groups). */
    what = "DH parameters";
    if (!SSL_CTX_set_dh_auto(ctx, 1)) goto ssl_fail;
    what = "ex_data";
    if (!SSL_CTX_set_ex_data(ctx, ex->ctx_server, s)) goto ssl_fail;
    what = "session ticket callback";
    if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb)) goto ssl_fail;
    SSL_CTX_set_client_hello_cb(ctx, client_hello_cb, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, NULL);
    return s;
ssl_fail:
    server_fail(err, what);
fail:
    dw_tls_server_free(s);
    return NULL;
}

void dw_tls_server_free(dw_tls_server_t *s)
{
    if (!s) return;
    SSL_CTX_free(s->ctx);
    EVP_CIPHER_free(s->cipher);
    OPENSSL_cleanse(s->keys, sizeof(s->keys));
    pthread_mutex_destroy(&s->rotate_mu);
    free(s);
}

SSL *dw_tls_server_ssl(dw_tls_server_t *s, int fd, const dw_tls_certset_t *set, bool h2)
{
    const dw_tls_ex_t *ex = dw_tls_ex();
    SSL *ssl = SSL_new(s->ctx);
    if (!ssl) return NULL;
    /* The callbacks only read the set; the cast is for OpenSSL's void * slot. */
    if (!SSL_set_fd(ssl, fd) || !SSL_set_ex_data(ssl, ex->ssl_set, (void *)(uintptr_t)set) ||
        !SSL_set_ex_data(ssl, ex->ssl_h2, h2 ? (void *)s : NULL)) {
        SSL_free(ssl);
        return NULL;
    }
    SSL_set_accept_state(ssl);
    return ssl;
}

bool dw_tls_alpn_is_h2(const SSL *ssl)
{
    const unsigned char *p = NULL;
    unsigned n = 0;
    SSL_get0_alpn_selected(ssl, &p, &n);
    return n == 2 && memcmp(p, "h2", 2) == 0;
}

const char *dw_tls_version_name(const SSL *ssl)
{
    return SSL_get_version(ssl);
}

const char *dw_tls_cipher_name(const SSL *ssl)
{
    const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
    return c ? SSL_CIPHER_get_name(c) : "";
}
