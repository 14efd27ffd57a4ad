/* logd internals, shared with its unit tests. */
#ifndef DWAAR_LOG_LOGD_INT_H
#define DWAAR_LOG_LOGD_INT_H

#include <dwaar/base/buf.h>
#include <dwaar/log/logd.h>
#include <dwaar/log/record.h>

enum { W_BLOCK = 0, W_NONBLOCK, W_SOCKET };

struct dw_logd;

/* One writer per distinct destination (output kind, and path for file/unix). */
typedef struct dw_logd_dest {
    struct dw_logd *ld;
    uint8_t output; /* dw_cfg_log_output_t */
    uint8_t mode;   /* W_* */
    char *path;     /* file, unix */
    int fd;         /* -1 = not open (or unusable) */
    bool own_fd;    /* close it (files, the reopened stdout pipe) */
    bool opened;    /* the open was tried (stdout/stderr: once) */
    bool waiting;   /* a non-blocking write waits for the fd on the loop */
    dw_io_t *io;
    dw_buf_t out; /* this batch's lines, and what a non-blocking fd has not taken yet */
    size_t off;   /* bytes of out already written */
    uint64_t open_failed_ms;
    uint64_t warned_ms;
} dw_logd_dest_t;

typedef struct dw_logd {
    char *endpoint;
    unsigned drain_ms;
    int rcvhwm;
    size_t pending_max;
    dw_loop_t *loop; /* NULL outside a service (tests) */
    dw_bus_sock_t *sock;
    dw_logd_dest_t **dests;
    size_t ndests, dests_cap;
    dw_logd_dest_t *last; /* the destination found last */
    dw_buf_t scratch;     /* lines for discard are built here and thrown away */
} dw_logd_t;

dw_logd_t *dw_logd_new(const dw_logd_opts_t *opts);
void dw_logd_free(dw_logd_t *ld);
/* Handles one log.batch body: lines appended per destination, then written. */
void dw_logd_handle_body(dw_logd_t *ld, const msgpack_object *body);
/* Writes what every destination has pending. */
void dw_logd_flush(dw_logd_t *ld);
dw_logd_dest_t *dw_logd_dest_get(dw_logd_t *ld, uint8_t output, dw_str_t path);

/* JSON helpers: a string literal (invalid UTF-8 bytes become U+FFFD), and one record's fields
 * as a line (false, nothing appended, when a key or value type cannot be written). */
void dw_logd_json_str(dw_buf_t *b, const char *s, size_t n);
bool dw_logd_json_line(dw_buf_t *b, const msgpack_object *fields);

#endif
