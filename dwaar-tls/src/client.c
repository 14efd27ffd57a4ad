/* Client contexts for TLS to upstreams (§1.11): verification always on, optional client
 * certificate, ALPN, and session resumption keyed by the verified name. */
#include "tls_int.h"
#include <arpa/inet.h>
#include <pthread.h>
#include <openssl/x509v3.h>

/* Upstream names one transport talks to; more names share the slots round-robin. */
#define CLIENT_SESSIONS 32

typedef struct sess_slot {
    char name[DW_TLS_NAME_MAX]; /* lower-case verification name; "" = free */
    SSL_SESSION *sess;
} sess_slot_t;

struct dw_tls_client {
    SSL_CTX *ctx;
    /* A session resumes only for the name it was verified against: a resumed handshake
     * checks no certificate, so sharing one across names would skip verification. */
    pthread_mutex_t mu; /* held for a slot copy only, never across I/O */
    sess_slot_t sess[CLIENT_SESSIONS];
    unsigned next;
};

static sess_slot_t *sess_find(dw_tls_client_t *c, const char *name)
{
    for (size_t i = 0; i < CLIENT_SESSIONS; i++)
        if (c->sess[i].sess && strcmp(c->sess[i].name, name) == 0) return &c->sess[i];
    return NULL;
}

/* OpenSSL hands over each new session (TLS 1.3: each ticket) of a verified handshake. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    const dw_tls_ex_t *ex = dw_tls_ex();
    dw_tls_client_t *c = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ex->ctx_client);
    const char *name = SSL_get_ex_data(ssl, ex->ssl_name);
    if (!c || !name || !SSL_SESSION_is_resumable(sess)) return 0;
    pthread_mutex_lock(&c->mu);
    sess_slot_t *slot = sess_find(c, name);
    if (!slot) {
        for (size_t i = 0; i < CLIENT_SESSIONS && !slot; i++)
            if (!c->sess[i].sess) slot = &c->sess[i];
        if (!slot) slot = &c->sess[c->next++ % CLIENT_SESSIONS];
        snprintf(slot->name, sizeof(slot->name), "%s", name);
    }
    SSL_SESSION_free(slot->sess);
    slot->sess = sess;
    pthread_mutex_unlock(&c->mu);
    return 1; /* we keep the reference */
}

static int client_fail(dw_err_t *err, int rc, const char *what, const char *path)
{
    char buf[256];
    return dw_err_set(err, rc, "tls client: %s%s%s: %s", what, path ? " " : "", path ? path : "",
                      dw_tls_error_string(buf, sizeof(buf)));
}

dw_tls_client_t *dw_tls_client_new(const char *trusted_ca, const char *client_cert,
                                   const char *client_key, bool h2, dw_err_t *err)
{
    const dw_tls_ex_t *ex = dw_tls_ex();
    if (!ex) {
        client_fail(err, DW_EIO, "ex_data indices", NULL);
        return NULL;
    }
    if (!client_cert != !client_key) {
        dw_err_set(err, DW_EINVAL, "tls client: a client certificate needs both cert and key");
        return NULL;
    }
    dw_tls_client_t *c = calloc(1, sizeof(*c));
    if (!c) {
        dw_err_set(err, DW_ENOMEM, "tls client: out of memory");
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    SSL_CTX *ctx = c->ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        client_fail(err, DW_ENOMEM, "SSL_CTX_new", NULL);
        goto fail;
    }
    /* idle connections give their record buffers back (nginx does the same) */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_set_ex_data(ctx, ex->ctx_client, c)) {
        client_fail(err, DW_EIO, "context setup", NULL);
        goto fail;
    }
    if (trusted_ca ? SSL_CTX_load_verify_locations(ctx, trusted_ca, NULL) != 1
                   : SSL_CTX_set_default_verify_paths(ctx) != 1) {
        client_fail(err, DW_EINVAL, trusted_ca ? "cannot load trusted CAs from" : "system roots",
                    trusted_ca);
        goto fail;
    }
    if (client_cert) {
        dw_tls_cert_t *cert = dw_tls_cert_load(client_cert, client_key, err);
        if (!cert) goto fail;
        int ok = SSL_CTX_use_cert_and_key(ctx, cert->leaf, cert->key, cert->chain, 1);
        dw_tls_cert_unref(cert); /* the context holds its own references */
        if (ok != 1) {
            client_fail(err, DW_EINVAL, "cannot use client certificate", client_cert);
            goto fail;
        }
    }
    static const unsigned char alpn_h2[] = "\x02h2", alpn_h1[] = "\x08http/1.1";
    /* SSL_CTX_set_alpn_protos returns 0 on success. */
    if (h2 ? SSL_CTX_set_alpn_protos(ctx, alpn_h2, sizeof(alpn_h2) - 1)
           : SSL_CTX_set_alpn_protos(ctx, alpn_h1, sizeof(alpn_h1) - 1)) {
        client_fail(err, DW_ENOMEM, "ALPN", NULL);
        goto fail;
    }
    /* Sessions go to new_session_cb only; OpenSSL's own cache is a server-side notion. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, new_session_cb);
    return c;
fail:
    dw_tls_client_free(c);
    return NULL;
}

void dw_tls_client_free(dw_tls_client_t *c)
{
    if (!c) return;
    SSL_CTX_free(c->ctx);
    for (size_t i = 0; i < CLIENT_SESSIONS; i++) SSL_SESSION_free(c->sess[i].sess);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

SSL *dw_tls_client_ssl(dw_tls_client_t *c, int fd, const char *name)
{
    char host[DW_TLS_NAME_MAX];
    dw_str_t n = dw_str_c(name);
    /* An IPv6 upstream is written in brackets; verification wants the bare address. */
    if (n.len >= 2 && n.ptr[0] == '[' && n.ptr[n.len - 1] == ']') n = dw_str_sub(n, 1, n.len - 2);
    if (!dw_tls_name_lower(n, host)) return NULL;
    unsigned char addr[sizeof(struct in6_addr)];
    bool ip = inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;

    const dw_tls_ex_t *ex = dw_tls_ex();
    SSL *ssl = SSL_new(c->ctx);
    char *copy = strdup(host);
    if (!ssl || !copy || !SSL_set_fd(ssl, fd)) goto fail;
    if (!SSL_set_ex_data(ssl, ex->ssl_name, copy)) goto fail;
    copy = NULL; /* freed with the SSL */
    if (ip) {
        /* No SNI for an address (RFC 6066); checked against the IP SANs. */
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) goto fail;
    } else {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1) goto fail;
    }
    SSL_set_connect_state(ssl);
    pthread_mutex_lock(&c->mu);
    sess_slot_t *slot = sess_find(c, host);
    /* OpenSSL spends a TLS 1.3 session when it is resumed (single use); its tickets replace
     * it through new_session_cb, and a spent one is dropped here. */
    if (slot && SSL_SESSION_is_resumable(slot->sess)) {
        SSL_set_session(ssl, slot->sess); /* takes its own reference */
    } else if (slot) {
        SSL_SESSION_free(slot->sess);
        slot->sess = NULL;
        slot->name[0] = '\0';
    }
    pthread_mutex_unlock(&c->mu);
    return ssl;
fail:
    free(copy);
    SSL_free(ssl);
    return NULL;
}
