/*
 * httpproxy.h - what an HTTP proxy request asks of mpsd, sans-I/O, on top of http1.h:
 * "CONNECT host:port" (authority form) and absolute-URI requests ("GET http://host:16992/wsman
 * HTTP/1.1", any method), their Proxy-Authorization, and the head to forward to the device.
 *
 * The target is parsed here once into a typed value (host as name or IP literal, port); the caller
 * decides from it, never from the rendered URI. Only the "http" scheme is proxied: an "https://"
 * absolute URI is refused (a console that wants TLS to the device uses CONNECT to 16993).
 */
#ifndef MPSD_PROXY_HTTPPROXY_H
#define MPSD_PROXY_HTTPPROXY_H

#include "http1.h"

typedef enum httpproxy_err {
    HTTPPROXY_E_TARGET = -40, /* request target is neither authority form (CONNECT) nor absolute
                               * http:// URI; or an origin-form request sent to the proxy (400) */
    HTTPPROXY_E_SCHEME = -41, /* absolute URI with a scheme other than http (501) */
    HTTPPROXY_E_HOST = -42,   /* empty or malformed host, bad IPv6 literal, userinfo in the URI
                               * (400) */
    HTTPPROXY_E_PORT = -43,   /* port missing for CONNECT, not a number, 0 or > 65535 (400) */
    HTTPPROXY_E_CONNECT_BODY = -44, /* CONNECT with a body (400) */
} httpproxy_err;

const char *httpproxy_strerror(int err); /* also names http_err codes */
int httpproxy_err_status(int err);       /* the status to answer with (also for http_err) */

typedef enum httpproxy_kind {
    HTTPPROXY_CONNECT = 1, /* a tunnel: after the 200, bytes flow raw both ways */
    HTTPPROXY_FORWARD,     /* one request to forward (rewritten to origin form) */
} httpproxy_kind;

typedef struct httpproxy_req {
    httpproxy_kind kind;
    http_head head; /* the parsed head (slices into the caller's buffer) */
    char host[256]; /* NUL-terminated: the name as given (lower-cased), or the IP literal
                     * without brackets */
    size_t host_len;
    bool host_is_ip;     /* an IPv4 or IPv6 literal */
    uint16_t port;       /* CONNECT: required; absolute URI: given or 80 */
    http_slice path;     /* FORWARD: path and query ("/wsman", "/" when the URI has none) */
    bool has_auth;       /* a Proxy-Authorization: Basic header decoded into user/pass */
    bool auth_malformed; /* a Proxy-Authorization header that is not valid Basic */
    char user[256];
    size_t user_len;
    char pass[256]; /* the caller wipes it (httpproxy_wipe) */
    size_t pass_len;
} httpproxy_req;

/* Parses one proxy request head at p[0..n). Returns the head length (> 0), HTTP_AGAIN, or a
 * negative http_err / httpproxy_err. */
int httpproxy_parse(const uint8_t *p, size_t n, const http_limits *lim, httpproxy_req *req);

/* FORWARD: writes the head to send to the device: "<METHOD> <path> HTTP/1.<minor>\r\n", every
 * header except Proxy-Authorization, Proxy-Connection, Keep-Alive and those the Connection
 * header names, a "Host: <host>:<port>" when the request had none, and the blank line. Returns
 * the length, or -1 if cap is too small (a head never grows by more than 300 bytes). */
ssize_t httpproxy_rewrite(const httpproxy_req *req, uint8_t *out, size_t cap);

void httpproxy_wipe(httpproxy_req *req);

#endif
