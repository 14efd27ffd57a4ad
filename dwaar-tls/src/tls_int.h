/* dwaar-tls internals, shared between the source files and with the unit tests. */
#ifndef DWAAR_TLS_TLS_INT_H
#define DWAAR_TLS_TLS_INT_H

#include <dwaar/tls/tls.h>
#include <stdatomic.h>

/* The longest valid name (§1.5) plus its NUL. */
#define DW_TLS_NAME_MAX 254

struct dw_tls_cert {
    atomic_int refs;
    X509 *leaf;
    EVP_PKEY *key;
    STACK_OF(X509) * chain; /* the certificates after the leaf, in file order */
};

/* ex_data indices, allocated once per process. */
typedef struct dw_tls_ex {
    int ssl_set;    /* server SSL -> const dw_tls_certset_t * */
    int ssl_h2;     /* server SSL -> non-NULL when h2 may be negotiated */
    int ssl_name;   /* client SSL -> malloc'd verification name (freed with the SSL) */
    int ctx_server; /* server SSL_CTX -> dw_tls_server_t * */
    int ctx_client; /* client SSL_CTX -> dw_tls_client_t * */
} dw_tls_ex_t;

/* NULL when OpenSSL could not allocate the indices. Thread safe. */
const dw_tls_ex_t *dw_tls_ex(void);

/* Lower-cases name into out (DW_TLS_NAME_MAX bytes, NUL-terminated); false when it is
 * empty or too long to be a valid name. */
bool dw_tls_name_lower(dw_str_t name, char out[DW_TLS_NAME_MAX]);

/* Reads a whole regular file of at most max bytes into a malloc'd buffer (NUL-terminated,
 * not counted in *len). Returns DW_OK, DW_ENOENT, DW_EIO, DW_ELIMIT or DW_ENOMEM; errno is
 * left set for a message. */
int dw_tls_read_file(const char *path, size_t max, char **out, size_t *len);

/* Frees every cached `tls internal` certificate (tests and shutdown; no certificate may be
 * in use by a set being built concurrently). */
void dw_tls_cert_internal_purge(void);

#endif
