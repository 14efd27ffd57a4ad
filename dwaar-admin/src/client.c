/* `dwaar routes` and `dwaar reload` (spec 30 §1.7): one HTTP/1.1 exchange with the admin API
 * over TCP or its unix socket, 5 s timeouts, and the route table dwaarctl prints too. */
#include "admin_int.h"
#include <dwaar/core/h1.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CLIENT_TIMEOUT_MS 5000
#define CLIENT_MAX_RESP   (16u * 1024u * 1024u)

/* --- the route table ------------------------------------------------------------------------ */

void dw_admin_print_routes(FILE *out, const dw_admin_route_row_t *rows, size_t n)
{
    static const char *const head[5] = {"DOMAIN", "UPSTREAM", "TLS", "RATE LIMIT", "UAM"};
    size_t w[5];
    for (int k = 0; k < 5; k++) w[k] = strlen(head[k]);
    char rate[32];
    for (size_t i = 0; i < n; i++) {
        const dw_admin_route_row_t *r = &rows[i];
        size_t dl = strlen(r->domain), ul = r->upstream ? strlen(r->upstream) : 1;
        if (dl > w[0]) w[0] = dl;
        if (ul > w[1]) w[1] = ul;
        int rl = r->has_rps ? snprintf(rate, sizeof rate, "%llu/s", (unsigned long long)r->rps) : 1;
        if ((size_t)rl > w[3]) w[3] = (size_t)rl;
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], head[0], (int)w[1], head[1], (int)w[2],
            head[2], (int)w[3], head[3], head[4]);
    for (size_t i = 0; i < n; i++) {
        const dw_admin_route_row_t *r = &rows[i];
        if (r->has_rps)
            snprintf(rate, sizeof rate, "%llu/s", (unsigned long long)r->rps);
        else
            snprintf(rate, sizeof rate, "-");
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0], r->domain, (int)w[1],
                r->upstream ? r->upstream : "-", (int)w[2], r->tls ? "yes" : "no", (int)w[3], rate,
                r->under_attack ? "on" : "off");
    }
}

/* --- one HTTP exchange ---------------------------------------------------------------------- */

typedef struct http_resp {
    int status;
    dw_buf_t body;
} http_resp_t;

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events until deadline. 0 ready, -1 timeout (errno ETIMEDOUT). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int rc = poll(&p, 1, (int)left);
        if (rc > 0) return 0;
        if (rc < 0 && errno != EINTR) return -1;
    }
}

static int connect_to(const struct sockaddr *sa, socklen_t sl, int64_t deadline)
{
    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, sa, sl) != 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) goto fail;
        if (wait_fd(fd, POLLOUT, deadline)) goto fail;
        int e = 0;
        socklen_t el = sizeof e;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
        if (e) {
            errno = e;
            goto fail;
        }
    }
    return fd;
fail : {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
}
}

/* ADDR: "host:port", "/path" or "unix:///path". Returns a connected fd, or -1 with errno. */
static int admin_connect(const char *addr, int64_t deadline, char *hostbuf, size_t hostlen)
{
    const char *path = strncmp(addr, "unix://", 7) == 0 ? addr + 7 : addr[0] == '/' ? addr : NULL;
    if (path) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(path) >= sizeof sun.sun_path) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(sun.sun_path, path, strlen(path) + 1);
        snprintf(hostbuf, hostlen, "localhost");
        return connect_to((struct sockaddr *)&sun, sizeof sun, deadline);
    }
    const char *colon = strrchr(addr, ':');
    if (!colon || colon == addr) {
        errno = EINVAL;
        return -1;
    }
    char host[256];
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof host) {
        errno = EINVAL;
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    snprintf(hostbuf, hostlen, "%s", host);
    char *h = host;
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') h[hl - 1] = '\0', h++;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(h, colon + 1, &hints, &res) != 0 || !res) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = -1, err = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = connect_to(ai->ai_addr, ai->ai_addrlen, deadline);
        if (fd < 0) err = errno;
    }
    freeaddrinfo(res);
    if (fd < 0) errno = err;
    return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w, n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline)) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

/* Returns 0 with resp filled, -1 for a transport failure (errno set; *connect_failed tells
 * whether nothing could be reached). */
static int exchange(const char *addr, const char *method, const char *path, http_resp_t *resp,
                    bool *connect_failed)
{
    int64_t deadline = mono_ms() + CLIENT_TIMEOUT_MS;
    char host[256];
    *connect_failed = false;
    int fd = admin_connect(addr, deadline, host, sizeof host);
    if (fd < 0) {
        *connect_failed = true;
        return -1;
    }
    dw_buf_t req = DW_BUF_INIT;
    dw_buf_appendf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: dwaar/%s\r\n", method, path,
                   host, DWAAR_VERSION);
    const char *tok = getenv("DWAAR_ADMIN_TOKEN");
    if (tok && tok[0]) dw_buf_appendf(&req, "Authorization: Bearer %s\r\n", tok);
    if (strcmp(method, "POST") == 0) dw_buf_append_c(&req, "Content-Length: 0\r\n");
    dw_buf_append_c(&req, "Connection: close\r\n\r\n");
    int rc = req.failed ? -1 : send_all(fd, req.data, req.len, deadline);
    dw_buf_deinit(&req);

    dw_buf_t in = DW_BUF_INIT;
    dw_h1_scan_t scan = {0};
    dw_h1_field_t fields[100];
    dw_h1_head_t h = {0};
    static const dw_h1_limits_t limits = DW_H1_LIMITS_DEFAULT;
    bool have_head = false;
    while (rc == 0) {
        if (dw_buf_reserve(&in, 16384)) {
            errno = ENOMEM, rc = -1;
            break;
        }
        ssize_t n = recv(fd, in.data + in.len, 16384, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLIN, deadline)) rc = -1;
            continue;
        }
        if (n < 0) {
            rc = -1;
            break;
        }
        in.len += (size_t)n;
        in.data[in.len] = '\0';
        if (!have_head) {
            dw_h1_rc_t hr = dw_h1_parse_response(in.data, in.len, &limits, &scan, fields, &h);
            if (hr == DW_H1_ERROR) {
                errno = EPROTO, rc = -1;
                break;
            }
            have_head = hr == DW_H1_OK;
        }
        if (have_head && h.body == DW_H1_BODY_LENGTH && in.len - h.head_len >= h.content_length)
            break;
        if (n == 0) {
            if (!have_head) errno = ECONNRESET, rc = -1;
            break;
        }
        if (in.len > CLIENT_MAX_RESP) {
            errno = EMSGSIZE, rc = -1;
            break;
        }
    }
    close(fd);
    if (rc == 0) {
        resp->status = h.status;
        size_t blen = in.len - h.head_len;
        if (h.body == DW_H1_BODY_LENGTH && blen > h.content_length) blen = h.content_length;
        dw_buf_init(&resp->body, 0);
        dw_buf_append(&resp->body, in.data + h.head_len, blen);
        if (!resp->body.data) dw_buf_append_c(&resp->body, "");
    }
    dw_buf_deinit(&in);
    return rc;
}

static void transport_error(const char *addr, bool connect_failed)
{
    int e = errno;
    fprintf(stderr, "error: cannot %s the admin API at %s: %s\n",
            connect_failed ? "connect to" : "talk to", addr, strerror(e));
    if (connect_failed && (e == ECONNREFUSED || e == ENOENT))
        fprintf(stderr, "hint: dwaar is not running, start it with `dwaar run` (or point "
                        "--admin at its admin address or socket)\n");
}

int dw_admin_cli_routes(const char *addr)
{
    if (!addr || !addr[0]) addr = DW_ADMIN_DEFAULT_TCP;
    http_resp_t r;
    bool cf;
    if (exchange(addr, "GET", "/routes", &r, &cf)) {
        transport_error(addr, cf);
        return 1;
    }
    int rc = 1;
    dw_admin_json_doc_t doc = {0};
    char err[160];
    if (r.status != 200) {
        fprintf(stderr, "error: the admin API at %s answered %d: %s\n", addr, r.status,
                r.body.data);
    } else if (dw_admin_json_parse(r.body.data, r.body.len, &doc, err, sizeof err) ||
               doc.root->type != DW_ADMIN_JSON_ARRAY) {
        fprintf(stderr, "error: unexpected answer from the admin API at %s: %s\n", addr,
                r.body.data);
    } else {
        size_t n = 0;
        for (const dw_admin_json_t *k = doc.root->kids; k; k = k->next) n++;
        dw_admin_route_row_t *rows = calloc(n ? n : 1, sizeof *rows);
        size_t i = 0;
        for (const dw_admin_json_t *k = doc.root->kids; k && rows; k = k->next) {
            const dw_admin_json_t *d = dw_admin_json_get(k, "domain"),
                                  *u = dw_admin_json_get(k, "upstream"),
                                  *t = dw_admin_json_get(k, "tls"),
                                  *rl = dw_admin_json_get(k, "rate_limit_rps"),
                                  *ua = dw_admin_json_get(k, "under_attack");
            dw_admin_route_row_t *row = &rows[i++];
            row->domain = d && d->type == DW_ADMIN_JSON_STRING ? d->str.ptr : "?";
            row->upstream = u && u->type == DW_ADMIN_JSON_STRING ? u->str.ptr : NULL;
            row->tls = t && t->type == DW_ADMIN_JSON_BOOL && t->b;
            row->has_rps = rl && rl->type == DW_ADMIN_JSON_NUMBER && rl->num >= 0;
            row->rps = row->has_rps ? (uint64_t)rl->num : 0;
            row->under_attack = ua && ua->type == DW_ADMIN_JSON_BOOL && ua->b;
        }
        if (!rows) {
            fprintf(stderr, "error: out of memory\n");
        } else {
            if (n == 0)
                fprintf(stderr, "no routes configured\n");
            else
                dw_admin_print_routes(stdout, rows, n);
            rc = 0;
        }
        free(rows);
    }
    dw_admin_json_free(&doc);
    dw_buf_deinit(&r.body);
    return rc;
}

/* The address file's content (trimmed), or NULL. */
static char *read_addr_file(void)
{
    const char *env = getenv("DWAAR_ADMIN_ADDR_FILE");
    FILE *f = fopen(env && env[0] ? env : DW_ADMIN_DEFAULT_ADDRFILE, "re");
    if (!f) return NULL;
    char buf[512];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) buf[--n] = '\0';
    return n ? strdup(buf) : NULL;
}

int dw_admin_cli_reload(const char *addr)
{
    char *from_file = NULL;
    if (!addr || !addr[0]) {
        from_file = read_addr_file();
        addr = from_file ? from_file : DW_ADMIN_DEFAULT_TCP;
    }
    http_resp_t r;
    bool cf;
    int rc = 1;
    if (exchange(addr, "POST", "/reload", &r, &cf)) {
        transport_error(addr, cf);
        free(from_file);
        return 1;
    }
    if (r.status == 200) {
        dw_admin_json_doc_t doc;
        char err[160];
        const dw_admin_json_t *m = NULL;
        if (dw_admin_json_parse(r.body.data, r.body.len, &doc, err, sizeof err) == 0) {
            m = dw_admin_json_get(doc.root, "message");
            printf("%s\n", m && m->type == DW_ADMIN_JSON_STRING ? m->str.ptr : r.body.data);
            dw_admin_json_free(&doc);
        } else {
            printf("%s\n", r.body.data);
        }
        rc = 0;
    } else {
        fprintf(stderr, "reload failed (%d): %s\n", r.status, r.body.data);
    }
    dw_buf_deinit(&r.body);
    free(from_file);
    return rc;
}
