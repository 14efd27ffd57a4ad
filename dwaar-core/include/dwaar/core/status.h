/* HTTP status codes: reason phrases (RFC 9110 names), for status lines and
 * {http.error.status_text}. */
#ifndef DWAAR_CORE_STATUS_H
#define DWAAR_CORE_STATUS_H

/* The standard reason phrase of status ("Not Found" for 404); "" for a code without one. */
const char *dw_http_reason(int status);

#endif
