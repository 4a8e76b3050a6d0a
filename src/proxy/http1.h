/*
 * http1.h - a small, bounded HTTP/1.x message-head parser and body framer, sans-I/O. Shared by
 * the console HTTP proxy (httpproxy.h) and the admin HTTP surface.
 *
 * Debian has no well-kept sans-I/O HTTP/1 parser (no llhttp, no picohttpparser), so this is ours;
 * it follows picohttpparser's shape: the caller holds the bytes, the parser returns the head's
 * length, HTTP_AGAIN (incomplete) or a precise negative error, with slices pointing into the
 * caller's buffer and no allocation. Everything is bounded by http_limits before it is trusted.
 *
 * Strictness (RFC 9110/9112, with request smuggling in mind): CRLF line ends (a bare LF is
 * accepted only as the whole line terminator "\n", never a bare CR); no whitespace before a
 * header's colon; no obsolete line folding; header names are tokens; values hold no CR, LF or NUL;
 * Content-Length is digits only and every copy must agree; Transfer-Encoding other than exactly
 * "chunked" as the last coding is refused; both Content-Length and Transfer-Encoding is refused.
 *
 * As implemented: Transfer-Encoding must be a single header whose value is exactly "chunked"
 * (case-insensitive; "gzip, chunked" is refused too, 501), and is refused in an HTTP/1.0 request;
 * a request with two Host headers is HTTP_E_HEADER (a missing Host is the caller's call); empty
 * lines before a request line are skipped (RFC 9112 2.2); a status line may omit the reason
 * ("HTTP/1.1 200"). A limits field of 0 takes its default; max_headers is capped at
 * HTTP_MAX_HEADERS. The first problem in line order is reported, as soon as its line is complete
 * (limits: as soon as they are exceeded, even mid-line), so a prefix of a valid head is always
 * HTTP_AGAIN. Chunk-size and trailer lines need CRLF (no bare LF inside a body).
 */
#ifndef MPSD_PROXY_HTTP1_H
#define MPSD_PROXY_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef enum http_err {
    HTTP_AGAIN = -1,              /* incomplete: feed more (not an error) */
    HTTP_E_HEAD_TOO_LARGE = -2,   /* head above limits.max_head (431) */
    HTTP_E_LINE_TOO_LONG = -3,    /* a line above limits.max_line (431; 414 for a request line) */
    HTTP_E_TOO_MANY_HEADERS = -4, /* above limits.max_headers (431) */
    HTTP_E_REQUEST_LINE = -5,     /* malformed request line (400) */
    HTTP_E_STATUS_LINE = -6,      /* malformed status line (a device's answer: 502) */
    HTTP_E_VERSION = -7,          /* not HTTP/1.0 or HTTP/1.1 (505) */
    HTTP_E_HEADER = -8,           /* malformed header line (400) */
    HTTP_E_CONTENT_LENGTH = -9,   /* bad or conflicting Content-Length (400) */
    /* Transfer-Encoding other than one "chunked", with Content-Length, or in a 1.0 request (501) */
    HTTP_E_TRANSFER_ENCODING = -10,
    HTTP_E_CHUNK = -11,        /* malformed chunked body (400) */
    HTTP_E_METHOD = -12,       /* method is not a token (400) */
    HTTP_E_URI_TOO_LONG = -13, /* the request line above limits.max_line (414); added so that
                                * http_err_status can tell it from a long header line (431) */
} http_err;

const char *http_strerror(int err);
/* The status code a server answers a request-parse error with (400, 414, 431, 501, 505; 502 for
 * HTTP_E_STATUS_LINE; 0 for HTTP_AGAIN and non-errors). */
int http_err_status(int err);

typedef struct http_limits {
    uint32_t max_head;    /* request/status line + headers + blank line (default 8192) */
    uint32_t max_line;    /* any one line (default 4096) */
    uint32_t max_headers; /* header lines (default 64; at most HTTP_MAX_HEADERS) */
} http_limits;

#define HTTP_MAX_HEADERS 128

void http_limits_default(http_limits *lim);

typedef struct http_slice {
    const char *p; /* into the caller's buffer; not NUL-terminated */
    size_t len;
} http_slice;

typedef struct http_header {
    http_slice name, value; /* value without surrounding whitespace */
} http_header;

typedef enum http_body_kind {
    HTTP_BODY_NONE = 0,   /* no body (a request without CL/TE; 1xx/204/304/HEAD responses) */
    HTTP_BODY_LENGTH,     /* Content-Length bytes */
    HTTP_BODY_CHUNKED,    /* Transfer-Encoding: chunked */
    HTTP_BODY_UNTIL_CLOSE /* a response without framing: the body ends when the sender closes */
} http_body_kind;

typedef struct http_head {
    bool is_request;
    http_slice method, target; /* requests */
    int status;                /* responses: 100..999 */
    http_slice reason;
    int minor; /* HTTP/1.<minor>: 0 or 1 */
    size_t nheaders;
    http_header headers[HTTP_MAX_HEADERS];
    size_t head_len; /* bytes of the whole head, blank line included */
    /* framing, derived once from the headers */
    http_body_kind body;
    uint64_t content_length;
    bool keep_alive;      /* HTTP/1.1 without "Connection: close", or 1.0 with "keep-alive" */
    bool expect_continue; /* "Expect: 100-continue" */
} http_head;

/* Parses a request head at p[0..n). Returns the head length (> 0), HTTP_AGAIN, or an http_err. */
int http_parse_request(const uint8_t *p, size_t n, const http_limits *lim, http_head *h);
/* Parses a response head; head_request: it answers a HEAD (no body whatever it says). A response
 * without Content-Length or chunked is HTTP_BODY_UNTIL_CLOSE (1xx/204/304: NONE). */
int http_parse_response(const uint8_t *p, size_t n, const http_limits *lim, bool head_request,
                        http_head *h);

/* The first header named name (case-insensitive), or NULL. */
const http_header *http_find_header(const http_head *h, const char *name);
/* Case-insensitive comparison of a slice with a NUL-terminated literal. */
bool http_slice_eq(http_slice s, const char *lit);
/* Whether a comma-separated header value lists token (case-insensitive), e.g. Connection. */
bool http_list_has(http_slice value, const char *token);

/* --- body framing ------------------------------------------------------------------------------
 * Scans a body as it streams through (bytes are never copied or changed): tells where the body
 * ends so the next message's head can be found, and checks the chunked syntax (chunk-size lines
 * bounded by max_line, trailers bounded by max_head). */
typedef struct http_body {
    http_body_kind kind;
    uint64_t left;    /* LENGTH: bytes left; CHUNKED: bytes left in the current chunk */
    uint8_t state;    /* private: chunked parser state */
    uint32_t line;    /* private: length of the chunk-size/trailer line so far */
    uint32_t trailer; /* private: trailer bytes so far */
    uint32_t max_line, max_trailer;
    bool done;
} http_body;

void http_body_init(http_body *b, http_body_kind kind, uint64_t content_length,
                    const http_limits *lim);
/* Returns how many of p[0..n) belong to this body (<= n; the rest is the next message), or
 * HTTP_E_CHUNK. UNTIL_CLOSE takes everything and is done only by http_body_eof. */
ssize_t http_body_scan(http_body *b, const uint8_t *p, size_t n);
bool http_body_done(const http_body *b);
/* The sender closed: true if that ends the body cleanly (UNTIL_CLOSE, or already done). */
bool http_body_eof(http_body *b);

/* --- replies --------------------------------------------------------------------------------- */

/* Writes a complete response: "HTTP/1.1 <status> <reason>\r\n", the extra header lines (each
 * "Name: value\r\n", may be NULL), Content-Type: text/plain, Content-Length, "Connection: close"
 * unless keep_alive, the blank line and body (may be NULL). Returns the length, or -1 if cap is too
 * small. */
ssize_t http_pack_response(uint8_t *out, size_t cap, int status, const char *extra_headers,
                           const char *body, bool keep_alive);
/* The standard reason phrase ("Bad Gateway"), "Unknown" otherwise. */
const char *http_reason(int status);

/* --- Basic authentication (RFC 7617) -----------------------------------------------------------
 * Decodes "Basic <base64(user:password)>" (scheme case-insensitive) into NUL-terminated user and
 * password (split at the first ':'). Returns 0, or -1 for another scheme, bad base64, no ':', an
 * empty user, a NUL byte, or fields longer than ucap-1 / pcap-1. The password buffer is the
 * caller's to wipe. */
int http_basic_decode(http_slice value, char *user, size_t ucap, size_t *ulen, char *pass,
                      size_t pcap, size_t *plen);

#endif
