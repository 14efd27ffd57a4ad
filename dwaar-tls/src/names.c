/* Host name rules (§1.5), shared helpers (ex_data indices, file reading, OpenSSL errors). */
#include "tls_int.h"
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

static bool label_char(char c)
{
    return dw_ascii_isalnum(c) || c == '-' || c == '*';
}

bool dw_tls_name_valid(dw_str_t name)
{
    if (name.len < 1 || name.len > 253) return false;
    size_t start = 0, label = 0;
    while (start <= name.len) {
        size_t end = start;
        while (end < name.len && name.ptr[end] != '.') end++;
        size_t n = end - start;
        const char *p = name.ptr + start;
        if (n < 1 || n > 63 || p[0] == '-' || p[n - 1] == '-') return false;
        bool star = false;
        for (size_t i = 0; i < n; i++) {
            if (!label_char(p[i])) return false;
            star |= p[i] == '*';
        }
        /* A wildcard is a whole first label, and it must stand for something below a
         * parent: "*" alone is not a name. */
        if (star && (label > 0 || n != 1 || end == name.len)) return false;
        label++;
        start = end + 1;
    }
    return true;
}

bool dw_tls_name_lower(dw_str_t name, char out[DW_TLS_NAME_MAX])
{
    if (name.len == 0 || name.len >= DW_TLS_NAME_MAX) return false;
    for (size_t i = 0; i < name.len; i++) out[i] = dw_ascii_lower(name.ptr[i]);
    out[name.len] = '\0';
    return true;
}

/* --- ex_data indices ----------------------------------------------------------------------- */

static dw_tls_ex_t ex_idx;
static bool ex_ok;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void free_name(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
    free(ptr);
}

static void ex_init(void)
{
    ex_idx.ssl_set = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_idx.ssl_h2 = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_idx.ssl_name = SSL_get_ex_new_index(0, NULL, NULL, NULL, free_name);
    ex_idx.ctx_server = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_idx.ctx_client = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_ok = ex_idx.ssl_set >= 0 && ex_idx.ssl_h2 >= 0 && ex_idx.ssl_name >= 0 &&
            ex_idx.ctx_server >= 0 && ex_idx.ctx_client >= 0;
}

const dw_tls_ex_t *dw_tls_ex(void)
{
    pthread_once(&ex_once, ex_init);
    return ex_ok ? &ex_idx : NULL;
}

/* --- files and errors ---------------------------------------------------------------------- */

int dw_tls_read_file(const char *path, size_t max, char **out, size_t *len)
{
    *out = NULL, *len = 0;
    /* O_NONBLOCK: opening a FIFO must not hang the config load; regular files ignore it. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return errno == ENOENT ? DW_ENOENT : DW_EIO;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return DW_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        errno = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
        return DW_EIO;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        errno = EFBIG;
        return DW_ELIMIT;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return DW_ENOMEM;
    }
    /* The size may change under us: read what fits, never past cap - 1. */
    while (n < cap - 1) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            int e = errno;
            OPENSSL_cleanse(buf, cap);
            free(buf);
            close(fd);
            errno = e;
            return DW_EIO;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf, *len = n;
    return DW_OK;
}

const char *dw_tls_error_string(char *buf, size_t n)
{
    unsigned long e, last = 0;
    while ((e = ERR_get_error()) != 0) last = e;
    if (n == 0) return buf;
    if (last)
        ERR_error_string_n(last, buf, n);
    else
        snprintf(buf, n, "no OpenSSL error");
    return buf;
}
