/*
 * httpproxy.h - what an HTTP proxy request asks of mpsd, sans-I/O, on top of http1.h:
 * "CONNECT host:port" (authority form) and absolute-URI requests ("GET http://host:16992/wsman
 * HTTP/1.1", any method), their Proxy-Authorization, and the head to forward to the device.
 *
 * The target is parsed here once into a typed value (host as name or IP literal, port); the caller
 * decides from it, never from the rendered URI. Only the "http" scheme is proxied: an "https://"
 * absolute URI is refused (a console that wants TLS to the device uses CONNECT to 16993).
 *
 * Targets, as implemented: the method "CONNECT" is case-sensitive (RFC 9110); CONNECT may carry
 * "Content-Length: 0" but no other body. Host names are letters, digits, '-', '.', '_' (no
 * percent-encoding); an IPv4 literal is a dotted quad inet_pton accepts; a name whose last label
 * is numeric ("127.1", "host.123", "0x7f000001") is HTTPPROXY_E_HOST, since a resolver might read
 * it as an address. IPv6 literals are rendered back in RFC 5952 form ("[2001:DB8:0::1]" ->
 * "2001:db8::1"); zone ids are refused. An empty port ("http://h:/") is HTTPPROXY_E_PORT. A
 * fragment ('#') is HTTPPROXY_E_TARGET. For "http://h?q" path is "?q" (the rewrite sends "/?q").
 * Two Proxy-Authorization headers: auth_malformed, no credentials kept.
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

/* FORWARD: writes the head to send to the device: "<METHOD> <path> HTTP/1.<minor>\r\n", then
 * "Host: <host>:<port>" (IPv6 in brackets) generated from the target - always: a received Host is
 * dropped, as RFC 9112 3.2.2 requires of a proxy (the contract said "when the request had none";
 * changed so the device never sees a Host that disagrees with where mpsd routed), then every
 * header in order except Proxy-Authorization, Proxy-Connection, Keep-Alive, Upgrade (mpsd does not
 * relay protocol switches), Connection and those the Connection headers name (Content-Length and
 * Transfer-Encoding are never dropped that way: the device must frame the body as we do), each as
 * "Name: value\r\n"; then one normalized "Connection: close" when an HTTP/1.1 request had
 * keep_alive false, or "Connection: keep-alive" when an HTTP/1.0 one had it true (nothing when the
 * version's default holds), and the blank line. Returns the length, or -1 if cap is too small or
 * the request is not FORWARD (a head never grows by more than 300 bytes). */
ssize_t httpproxy_rewrite(const httpproxy_req *req, uint8_t *out, size_t cap);

void httpproxy_wipe(httpproxy_req *req);

#endif
