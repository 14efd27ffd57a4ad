/* Plain and TLS byte streams for client connections (see transport.h). */
#include "transport.h"
#include <errno.h>
#include <openssl/err.h>
#include <sys/socket.h>
#include <unistd.h>

ssize_t dw_tport_recv(dw_tport_t *t, void *buf, size_t n)
{
    if (!t->ssl) {
        ssize_t r = recv(t->fd, buf, n, 0);
        if (r >= 0) return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? DW_TPORT_AGAIN : -1;
    }
    size_t got = 0;
    ERR_clear_error();
    if (SSL_read_ex(t->ssl, buf, n, &got)) {
        /* a record larger than buf leaves bytes inside OpenSSL the socket will not signal */
        if (SSL_has_pending(t->ssl) && t->io) dw_io_activate(t->io, DW_IO_READ);
        return (ssize_t)got;
    }
    switch (SSL_get_error(t->ssl, 0)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE: return DW_TPORT_AGAIN;
    case SSL_ERROR_ZERO_RETURN: return 0; /* close_notify */
    default: ERR_clear_error(); return -1;
    }
}

ssize_t dw_tport_writev(dw_tport_t *t, const struct iovec *iov, int iovcnt)
{
    if (!t->ssl) {
        struct msghdr mh = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
        ssize_t r = sendmsg(t->fd, &mh, MSG_NOSIGNAL);
        if (r >= 0) return r;
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? DW_TPORT_AGAIN : -1;
    }
    /* One record per piece; partial writes are enabled, so a short count is normal. */
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        if (!iov[i].iov_len) continue;
        size_t wrote = 0;
        ERR_clear_error();
        if (!SSL_write_ex(t->ssl, iov[i].iov_base, iov[i].iov_len, &wrote)) {
            if (total) return (ssize_t)total;
            int e = SSL_get_error(t->ssl, 0);
            if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return DW_TPORT_AGAIN;
            ERR_clear_error();
            return -1;
        }
        total += wrote;
        if (wrote < iov[i].iov_len) break;
    }
    return (ssize_t)total;
}

bool dw_tport_has_pending(const dw_tport_t *t)
{
    return t->ssl && SSL_has_pending(t->ssl);
}

void dw_tport_kick(dw_tport_t *t)
{
    if (t->io && dw_tport_has_pending(t)) dw_io_activate(t->io, DW_IO_READ);
}

void dw_tport_shutdown(dw_tport_t *t)
{
    if (t->ssl) {
        ERR_clear_error();
        if (SSL_is_init_finished(t->ssl)) SSL_shutdown(t->ssl); /* close_notify, not waiting */
        ERR_clear_error();
    }
    shutdown(t->fd, SHUT_WR);
}

void dw_tport_close(dw_tport_t *t)
{
    if (t->ssl) {
        /* OpenSSL forgets the session of an SSL freed without a shutdown; a quiet one (nothing
         * sent) keeps upstream sessions resumable */
        if (SSL_is_init_finished(t->ssl)) {
            SSL_set_quiet_shutdown(t->ssl, 1);
            SSL_shutdown(t->ssl);
        }
        ERR_clear_error();
        SSL_free(t->ssl);
        t->ssl = NULL;
    }
    if (t->fd >= 0) close(t->fd);
    t->fd = -1;
}
