#include <dwaar/base/error.h>
#include <stdarg.h>

const char *dw_rc_str(int rc)
{
    switch (rc) {
    case DW_OK: return "ok";
    case DW_EAGAIN: return "try again";
    case DW_EDECLINED: return "declined";
    case DW_EDONE: return "done";
    case DW_ENOMEM: return "out of memory";
    case DW_EPROTO: return "protocol error";
    case DW_ELIMIT: return "limit exceeded";
    case DW_EIO: return "I/O error";
    case DW_EINVAL: return "invalid value";
    case DW_ENOENT: return "not found";
    case DW_ERANGE: return "out of range";
    default: return "unknown error";
    }
}

int dw_err_set(dw_err_t *err, int rc, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        err->rc = rc;
    }
    return rc;
}
