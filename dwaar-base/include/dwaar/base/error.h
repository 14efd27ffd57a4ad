/* Return codes and error values that carry a message. errno never crosses a library boundary. */
#ifndef DWAAR_BASE_ERROR_H
#define DWAAR_BASE_ERROR_H

#include <dwaar/base/compiler.h>

typedef enum dw_rc {
    DW_OK = 0,
    DW_EAGAIN = -1, /* would block / need more input */
    DW_EDECLINED = -2,
    DW_EDONE = -3,
    DW_ENOMEM = -4,
    DW_EPROTO = -5, /* malformed input */
    DW_ELIMIT = -6, /* a configured or built-in limit was hit */
    DW_EIO = -7,
    DW_EINVAL = -8, /* invalid argument or value */
    DW_ENOENT = -9,
    DW_ERANGE = -10, /* value out of range / overflow */
} dw_rc;

const char *dw_rc_str(int rc);

/* An error value with a message; embed it in a struct or on the stack. */
typedef struct dw_err {
    int rc;
    char msg[256];
} dw_err_t;

/* Sets err (if non-NULL) and returns rc, so callers can `return dw_err_set(...)`. */
int dw_err_set(dw_err_t *err, int rc, const char *fmt, ...) DW_PRINTF(3, 4);
static inline void dw_err_clear(dw_err_t *err)
{
    err->rc = 0, err->msg[0] = '\0';
}

#endif
