/* The directive table (spec 10 §4.1, §6): names, aliases, execution rank, where each is
 * allowed and whether it takes a matcher token. Execution order comes from this table,
 * never from the order in the file. */
#include "directives_int.h"

#define M  DW_DIRF_MATCHER
#define S  DW_DIRF_SITE_ONLY
#define T  DW_DIRF_TERMINAL
#define IM DW_DIRF_INLINE_MIN
#define F  DW_DIRF_FAMILY
#define D(name, kind, rank, flags, min, fn)                                                        \
    {                                                                                              \
        name, kind, rank, flags, min, dw_cfg_parse_##fn, dw_cfg_json_##fn                          \
    }

const dw_cfg_dir_def_t dw_cfg_directives[] = {
    /* rank 1 */
    D("tracing", DW_DIR_NOOP, 1, 0, 0, noop),
    D("map", DW_DIR_MAP, 1, M, 2, map),
    D("vars", DW_DIR_VARS, 1, M | IM, 1, vars),
    D("fs", DW_DIR_NOOP, 1, 0, 0, noop),
    D("root", DW_DIR_ROOT, 1, M, 1, root),
    D("log_append", DW_DIR_LOG_APPEND, 1, 0, 0, log_append),
    D("skip_log", DW_DIR_SKIP_LOG, 1, M, 0, skip_log),
    D("log_skip", DW_DIR_SKIP_LOG, 1, M, 0, skip_log),
    /* rank 2 */
    D("request_body", DW_DIR_REQUEST_BODY, 2, 0, 0, body_limit),
    D("response_body_limit", DW_DIR_RESPONSE_BODY_LIMIT, 2, 0, 0, body_limit),
    /* rank 3: the plugin chain [20 §2.1] */
    D("ip_filter", DW_DIR_IP_FILTER, 3, 0, 0, ip_filter),
    D("rate_limit", DW_DIR_RATE_LIMIT, 3, 0, 0, rate_limit),
    D("under_attack", DW_DIR_UNDER_ATTACK, 3, 0, 0, under_attack),
    D("wasm_plugin", DW_DIR_WASM_PLUGIN, 3, 0, 0, wasm_plugin),
    /* rank 4 */
    D("header", DW_DIR_HEADER, 4, M | IM, 1, header),
    D("copy_response_headers", DW_DIR_COPY_RESPONSE_HEADERS, 4, 0, 0, copy_response_headers),
    D("redir", DW_DIR_REDIR, 4, 0, 0, redir), /* its own matcher rule (§6.7) */
    /* rank 5 */
    D("method", DW_DIR_METHOD, 5, M, 1, method),
    D("rewrite", DW_DIR_REWRITE, 5, M, 1, rewrite),
    D("uri", DW_DIR_URI, 5, M, 2, uri),
    D("try_files", DW_DIR_TRY_FILES, 5, M, 1, try_files),
    /* rank 6 */
    D("basic_auth", DW_DIR_BASIC_AUTH, 6, 0, 0, basic_auth),
    D("basicauth", DW_DIR_BASIC_AUTH, 6, 0, 0, basic_auth),
    D("forward_auth", DW_DIR_FORWARD_AUTH, 6, 0, 0, forward_auth),
    /* rank 7 */
    D("request_header", DW_DIR_REQUEST_HEADER, 7, M | IM, 1, header),
    D("encode", DW_DIR_ENCODE, 7, M, 1, encode),
    D("cache", DW_DIR_CACHE, 7, 0, 0, cache),
    D("intercept", DW_DIR_INTERCEPT, 7, 0, 0, intercept),
    D("push", DW_DIR_NOOP, 7, 0, 0, noop),
    D("templates", DW_DIR_NOOP, 7, 0, 0, noop),
    D("invoke", DW_DIR_NOOP, 7, 0, 0, noop),
    /* rank 8: the handle family */
    D("handle", DW_DIR_HANDLE, 8, F, 0, handle),
    D("handle_path", DW_DIR_HANDLE_PATH, 8, F, 0, handle),
    D("route", DW_DIR_ROUTE, 8, F, 0, handle),
    /* rank 9: terminal handlers */
    D("abort", DW_DIR_ABORT, 9, M | T, 0, abort),
    D("error", DW_DIR_ERROR, 9, M | T, 0, error),
    D("copy_response", DW_DIR_NOOP, 9, 0, 0, noop),
    D("respond", DW_DIR_RESPOND, 9, M | T, 0, respond),
    D("metrics", DW_DIR_METRICS, 9, M | T, 0, metrics),
    D("reverse_proxy", DW_DIR_REVERSE_PROXY, 9, M | T | IM, 1, reverse_proxy),
    D("proxy", DW_DIR_REVERSE_PROXY, 9, M | T | IM, 1, reverse_proxy),
    D("grpc", DW_DIR_GRPC, 9, 0, 0, grpc), /* terminal only with an upstream */
    D("php_fastcgi", DW_DIR_PHP_FASTCGI, 9, M | T, 1, php_fastcgi),
    D("file_server", DW_DIR_FILE_SERVER, 9, M | T, 0, file_server),
    /* configuration only (site level) */
    D("tls", DW_DIR_TLS, 0, S, 0, tls),
    D("tls_cert", DW_DIR_TLS_CERT, 0, S, 0, path_arg),
    D("tls_key", DW_DIR_TLS_KEY, 0, S, 0, path_arg),
    D("bind", DW_DIR_BIND, 0, S, 0, bind),
    D("log", DW_DIR_LOG, 0, S, 0, log),
    D("log_name", DW_DIR_LOG_NAME, 0, S, 0, log_name),
    D("analytics", DW_DIR_ANALYTICS, 0, S, 0, analytics),
    D("security_headers", DW_DIR_SECURITY_HEADERS, 0, S, 0, security_headers),
    D("handle_errors", DW_DIR_HANDLE_ERRORS, 0, S, 0, handle_errors),
    D("acme_server", DW_DIR_NOOP, 0, 0, 0, noop),
};
const size_t dw_cfg_ndirectives = DW_ARRAY_LEN(dw_cfg_directives);

const dw_cfg_dir_def_t *dw_cfg_dir_lookup(dw_str_t name)
{
    if (name.len == 0) return NULL;
    for (size_t i = 0; i < dw_cfg_ndirectives; i++) {
        const char *n = dw_cfg_directives[i].name;
        /* memcmp, not strncmp: a name with a NUL byte must not end the comparison early */
        if (n[0] == name.ptr[0] && strlen(n) == name.len && memcmp(n, name.ptr, name.len) == 0)
            return &dw_cfg_directives[i];
    }
    return NULL;
}

const dw_cfg_dir_def_t *dw_cfg_dir_by_kind(unsigned kind)
{
    for (size_t i = 0; i < dw_cfg_ndirectives; i++)
        if (dw_cfg_directives[i].kind == kind) return &dw_cfg_directives[i];
    return NULL;
}
