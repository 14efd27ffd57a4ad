/* TLS for the data plane (spec 20 §1.1-1.5, §1.10, §1.11): certificates and their selection
 * by SNI, the process-wide OpenSSL server context (protocols, ciphers, ALPN, session tickets
 * with rotated keys), self-signed `tls internal` certificates, and client contexts for TLS to
 * upstreams.
 *
 * Threads: a dw_tls_certset_t is built off the workers (snapshot compile) and is read-only
 * afterwards, so handshakes on any worker read it without locks. Certificates are reference
 * counted; a set holds one reference per entry. The server context is shared by every worker;
 * its ticket keys rotate with atomics only. Nothing here blocks or touches the disk during a
 * handshake: certificate files are read when a set is built. */
#ifndef DWAAR_TLS_TLS_H
#define DWAAR_TLS_TLS_H

#include <dwaar/base/error.h>
#include <dwaar/base/str.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

/* --- names ------------------------------------------------------------------------------- */

/* §1.5: 1-253 bytes; labels 1-63 of [A-Za-z0-9-*], not starting/ending with '-'; only the
 * first label may hold '*', and then it is exactly "*". */
bool dw_tls_name_valid(dw_str_t name);

/* --- certificates ------------------------------------------------------------------------ */

typedef struct dw_tls_cert dw_tls_cert_t;

/* Loads a PEM chain (leaf first, every CERTIFICATE block; DER refused) and a PEM key
 * (PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY; RSA, P-256, P-384). Fails with a message
 * naming the cert path (never the key path) when there is no certificate, the key cannot be
 * parsed, or the key does not match the leaf. Logs a warning (DW_WARN "tls") and still loads
 * when the leaf has expired or expires within 30 days. Key bytes read are wiped. */
dw_tls_cert_t *dw_tls_cert_load(const char *cert_path, const char *key_path, dw_err_t *err);

/* §1.10: a self-signed certificate for host (RSA-2048, random serial, CN = host, SAN dNSName
 * = host or an IP SAN when host is an IP literal, valid now .. now + 365 days, SHA-256, no
 * AIA). Kept in a process-wide cache keyed by host, so a reload that compiles the same name
 * again gets the same certificate (a new reference); a new process makes new ones. Thread
 * safe (a mutex around the cache; only called while compiling snapshots). */
dw_tls_cert_t *dw_tls_cert_internal(const char *host, dw_err_t *err);

void dw_tls_cert_ref(dw_tls_cert_t *c);
void dw_tls_cert_unref(dw_tls_cert_t *c);
/* Borrowed views (valid while the cert is referenced). */
X509 *dw_tls_cert_leaf(const dw_tls_cert_t *c);
EVP_PKEY *dw_tls_cert_key(const dw_tls_cert_t *c);
STACK_OF(X509) * dw_tls_cert_chain(const dw_tls_cert_t *c); /* after the leaf; may be empty */

/* --- certificate sets: the TLS material of one snapshot ----------------------------------- */

typedef struct dw_tls_certset dw_tls_certset_t;

dw_tls_certset_t *dw_tls_certset_new(void);
void dw_tls_certset_free(dw_tls_certset_t *s);
/* An explicit entry for name (lower-cased here; `*.example.com` allowed). Takes a new
 * reference. A second add of the same name keeps the first (config order wins). */
int dw_tls_certset_add(dw_tls_certset_t *s, dw_str_t name, dw_tls_cert_t *cert);
/* The no-SNI default (§1.5 step 1): the first TLS site in config order. First call wins. */
void dw_tls_certset_set_default(dw_tls_certset_t *s, dw_str_t name);
/* Reads the ACME layout of dir (§1.3): every `<name>.pem` with a matching `<name>.key` whose
 * <name> is valid is loaded as a cert-dir entry (consulted after explicit entries). At most
 * max pairs; unreadable or invalid pairs are skipped with a warning naming the .pem. A missing
 * dir is not an error. Returns the number loaded, or a negative dw_rc. */
int dw_tls_certset_load_dir(dw_tls_certset_t *s, const char *dir, size_t max);
/* §1.5 selection for a handshake. sni may be NULL/empty (no SNI → default name). Returns the
 * certificate or NULL (invalid name, or nothing matches: abort with unrecognized_name).
 * Steps: explicit n, cert-dir n, then one-level wildcard (`*.` + n without its first label):
 * explicit, then cert dir. */
const dw_tls_cert_t *dw_tls_certset_select(const dw_tls_certset_t *s, dw_str_t sni);
size_t dw_tls_certset_count(const dw_tls_certset_t *s);

/* --- the server context -------------------------------------------------------------------- */

typedef struct dw_tls_server dw_tls_server_t;

/* One per process: TLS 1.2-1.3 only, the §1.2 cipher lists and groups (X25519, P-256,
 * P-384), no renegotiation, server cipher preference, partial writes and moving write buffers
 * allowed (SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), ALPN with
 * server preference h2 then http/1.1 (no ALPN → HTTP/1.1; an ALPN list with neither → no
 * ALPN negotiated, the handshake goes on as HTTP/1.1), certificate choice in a ClientHello
 * callback from the certset given at accept, and session tickets encrypted with keys
 * dw_tls_server_rotate_tickets() rotates (the previous key still decrypts; tickets from it are
 * renewed). Stateless tickets only (no server session cache). */
dw_tls_server_t *dw_tls_server_new(dw_err_t *err);
void dw_tls_server_free(dw_tls_server_t *s);
/* Makes a new key current (call every 12 h; any thread). */
void dw_tls_server_rotate_tickets(dw_tls_server_t *s);
/* A server-side SSL on fd (non-blocking) that selects from set; set must stay alive until
 * the handshake finished (the caller holds the snapshot). h2 = offer ALPN h2. */
SSL *dw_tls_server_ssl(dw_tls_server_t *s, int fd, const dw_tls_certset_t *set, bool h2);

/* After the handshake: the negotiated protocol is h2. */
bool dw_tls_alpn_is_h2(const SSL *ssl);
/* "TLSv1.3" etc. and the cipher name, for logs and placeholders. */
const char *dw_tls_version_name(const SSL *ssl);
const char *dw_tls_cipher_name(const SSL *ssl); /* "" before the handshake */

/* --- upstream (client) contexts, §1.11 --------------------------------------------------- */

typedef struct dw_tls_client dw_tls_client_t;

/* A client context: verification always on, against trusted_ca (a PEM bundle) or the system
 * roots when NULL; client_cert/client_key (both or neither) presented when the upstream asks
 * (validated like dw_tls_cert_load: mismatch is an error; expiry within 30 days a warning);
 * ALPN "h2" when h2, else "http/1.1". Built at snapshot compile. */
dw_tls_client_t *dw_tls_client_new(const char *trusted_ca, const char *client_cert,
                                   const char *client_key, bool h2, dw_err_t *err);
void dw_tls_client_free(dw_tls_client_t *c);
/* A client SSL on fd (non-blocking, connect state) that verifies the peer against name: a DNS
 * name is also sent as SNI and checked against the certificate's DNS names; an IP literal is
 * checked against IP SANs with no SNI. Session resumption per context, keyed by name (only
 * sessions of connections closed with SSL_shutdown stay resumable: OpenSSL drops the others). */
SSL *dw_tls_client_ssl(dw_tls_client_t *c, int fd, const char *name);

/* The last OpenSSL error as text (thread-local queue drained), for logs. */
const char *dw_tls_error_string(char *buf, size_t n);

#endif
