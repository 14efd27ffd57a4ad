/* The byte stream under a client connection: a TCP (or unix) socket, with or without TLS.
 * HTTP/1.1 (http1.c) and HTTP/2 (http2.c) read and write only through these calls, so TLS is
 * one layer below both.
 *
 * Level-triggered readiness is not enough with TLS: OpenSSL may hold decrypted bytes the
 * socket no longer signals. dw_tport_recv re-activates the read callback when that happens,
 * and a front end that turns read interest back on calls dw_tport_kick. */
#ifndef DWAAR_CORE_TRANSPORT_H
#define DWAAR_CORE_TRANSPORT_H

#include <dwaar/base/loop.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct dw_tport {
    int fd;
    SSL *ssl; /* NULL = plain */
    dw_io_t *io;
} dw_tport_t;

#define DW_TPORT_AGAIN (-2)

/* >0 bytes read, 0 end of stream (FIN or close_notify), -1 error, DW_TPORT_AGAIN. */
ssize_t dw_tport_recv(dw_tport_t *t, void *buf, size_t n);
/* Bytes written (maybe fewer than offered), -1 error, DW_TPORT_AGAIN. */
ssize_t dw_tport_writev(dw_tport_t *t, const struct iovec *iov, int iovcnt);
/* TLS holds received bytes not yet returned by dw_tport_recv. */
bool dw_tport_has_pending(const dw_tport_t *t);
/* When reads are wanted and TLS holds bytes, schedules the read callback. */
void dw_tport_kick(dw_tport_t *t);
/* Ends the write side: close_notify (TLS, best effort) then shutdown(SHUT_WR). */
void dw_tport_shutdown(dw_tport_t *t);
/* Frees the SSL and closes the fd (not the io: its owner frees it first). */
void dw_tport_close(dw_tport_t *t);

#endif
