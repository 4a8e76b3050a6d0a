/*
 * httpproxy.c - HTTP proxy requests: CONNECT and absolute-URI targets, Proxy-Authorization and
 * the origin-form head forwarded to a device (see httpproxy.h).
 *
 * Why a typed target: the caller routes on req->host/req->port, so the target is parsed here once
 * and strictly (no userinfo, no percent-encoding, no numeric forms a resolver would read as an
 * address other than the dotted quad), and the head sent to the device is rebuilt from the parsed
 * pieces (Host from the target, RFC 9112 3.2.2) rather than from the console's text. Hop-by-hop
 * headers stop here: the device hop has its own connection semantics.
 */
#include "httpproxy.h"
#include "http1_chars.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

static void hp_zero(void *p, size_t n)
{
    volatile uint8_t *v = p;
    while (n--)
        *v++ = 0;
}

static uint8_t hp_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* --- target ------------------------------------------------------------------------------------
 */

static int parse_port(const char *s, size_t len, uint16_t *port)
{
    unsigned v = 0;
    if (len == 0 || len > 5)
        return HTTPPROXY_E_PORT;
    for (size_t i = 0; i < len; i++) {
        if (!is_digit((uint8_t)s[i]))
            return HTTPPROXY_E_PORT;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v == 0 || v > 65535)
        return HTTPPROXY_E_PORT;
    *port = (uint16_t)v;
    return 0;
}

static int parse_v6(const char *s, size_t len, httpproxy_req *req)
{
    char tmp[INET6_ADDRSTRLEN];
    uint8_t a[16];
    if (len == 0 || len >= sizeof tmp)
        return HTTPPROXY_E_HOST;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    if (inet_pton(AF_INET6, tmp, a) != 1 || !inet_ntop(AF_INET6, a, req->host, sizeof req->host))
        return HTTPPROXY_E_HOST;
    req->host_len = strlen(req->host);
    req->host_is_ip = true;
    return 0;
}

/* Whether a label is one a resolver might read as a number ("127", "0x7f"). */
static bool numeric_label(const char *s, size_t len)
{
    bool hex = len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    if (len == 0)
        return false;
    for (size_t i = hex ? 2 : 0; i < len; i++) {
        uint8_t c = hp_lower((uint8_t)s[i]);
        if (!is_digit(c) && !(hex && c >= 'a' && c <= 'f'))
            return false;
    }
    return true;
}

/* A host name (letters, digits, '-', '.', '_'), lower-cased, or an IPv4 dotted quad. */
static int parse_name(const char *s, size_t len, httpproxy_req *req)
{
    uint8_t a[4];
    if (len == 0 || len >= sizeof req->host)
        return HTTPPROXY_E_HOST;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.' && c != '_')
            return HTTPPROXY_E_HOST;
        req->host[i] = (char)hp_lower(c);
    }
    req->host[len] = '\0';
    req->host_len = len;
    if (inet_pton(AF_INET, req->host, a) == 1) {
        req->host_is_ip = true;
        return 0;
    }
    size_t end = len;
    if (end > 0 && s[end - 1] == '.')
        end--;
    size_t start = end;
    while (start > 0 && s[start - 1] != '.')
        start--;
    if (end == 0 || numeric_label(s + start, end - start))
        return HTTPPROXY_E_HOST; /* "127.1", "0x7f000001": not a dotted quad, not a name */
    return 0;
}

/* "host[:port]" or "[v6][:port]"; without a port: HTTPPROXY_E_PORT if required, else 80. */
static int parse_authority(const char *s, size_t len, bool port_required, httpproxy_req *req)
{
    const char *colon;
    int r;
    if (len == 0)
        return HTTPPROXY_E_HOST;
    if (s[0] == '[') {
        const char *close = memchr(s, ']', len);
        if (!close)
            return HTTPPROXY_E_HOST;
        r = parse_v6(s + 1, (size_t)(close - s - 1), req);
        if (r < 0)
            return r;
        colon = close + 1 < s + len ? close + 1 : NULL;
        if (colon && *colon != ':')
            return HTTPPROXY_E_HOST;
    } else {
        colon = memchr(s, ':', len);
        r = parse_name(s, colon ? (size_t)(colon - s) : len, req);
        if (r < 0)
            return r;
    }
    if (!colon) {
        req->port = 80;
        return port_required ? HTTPPROXY_E_PORT : 0;
    }
    return parse_port(colon + 1, (size_t)(s + len - colon - 1), &req->port);
}

/* "http://authority[/path][?query]" */
static int parse_absolute(http_slice t, httpproxy_req *req)
{
    const char *s = t.p, *end = t.p + t.len;
    size_t i = 0;
    if (t.len == 0 || !is_alpha((uint8_t)s[0]))
        return HTTPPROXY_E_TARGET; /* origin form "/path", asterisk form "*" */
    while (i < t.len && (is_alpha((uint8_t)s[i]) || is_digit((uint8_t)s[i]) || s[i] == '+' ||
                         s[i] == '-' || s[i] == '.'))
        i++;
    if (t.len - i < 3 || memcmp(s + i, "://", 3) != 0)
        return HTTPPROXY_E_TARGET;
    if (i != 4 || !http_slice_eq((http_slice){s, 4}, "http"))
        return HTTPPROXY_E_SCHEME;
    if (memchr(s, '#', t.len))
        return HTTPPROXY_E_TARGET; /* a fragment is no part of an absolute-form target */
    const char *a = s + i + 3, *e = a;
    while (e < end && *e != '/' && *e != '?')
        e++;
    if (memchr(a, '@', (size_t)(e - a)))
        return HTTPPROXY_E_HOST;
    int r = parse_authority(a, (size_t)(e - a), false, req);
    if (r < 0)
        return r;
    req->path = e < end ? (http_slice){e, (size_t)(end - e)} : (http_slice){"/", 1};
    return 0;
}

static void proxy_auth(httpproxy_req *req)
{
    const http_header *found = NULL;
    const http_head *h = &req->head;
    for (size_t i = 0; i < h->nheaders; i++) {
        if (!http_slice_eq(h->headers[i].name, "Proxy-Authorization"))
            continue;
        if (found) { /* two of them: which one would the caller check? */
            req->auth_malformed = true;
            req->has_auth = false;
            httpproxy_wipe(req);
            return;
        }
        found = &h->headers[i];
        if (http_basic_decode(found->value, req->user, sizeof req->user, &req->user_len, req->pass,
                              sizeof req->pass, &req->pass_len) == 0)
            req->has_auth = true;
        else
            req->auth_malformed = true;
    }
}

static void req_reset(httpproxy_req *req)
{
    req->kind = 0;
    req->host[0] = '\0';
    req->host_len = 0;
    req->host_is_ip = false;
    req->port = 0;
    req->path = (http_slice){NULL, 0};
    req->has_auth = false;
    req->auth_malformed = false;
    hp_zero(req->user, sizeof req->user);
    req->user_len = 0;
    hp_zero(req->pass, sizeof req->pass);
    req->pass_len = 0;
}

int httpproxy_parse(const uint8_t *p, size_t n, const http_limits *lim, httpproxy_req *req)
{
    req_reset(req);
    int r = http_parse_request(p, n, lim, &req->head);
    if (r < 0)
        return r;
    const http_head *h = &req->head;
    int e;
    if (h->method.len == 7 && memcmp(h->method.p, "CONNECT", 7) == 0) {
        req->kind = HTTPPROXY_CONNECT;
        if (!(h->body == HTTP_BODY_NONE || (h->body == HTTP_BODY_LENGTH && h->content_length == 0)))
            return HTTPPROXY_E_CONNECT_BODY;
        e = parse_authority(h->target.p, h->target.len, true, req);
    } else {
        req->kind = HTTPPROXY_FORWARD;
        e = parse_absolute(h->target, req);
    }
    if (e < 0)
        return e;
    proxy_auth(req);
    return r;
}

/* --- rewrite -----------------------------------------------------------------------------------
 */

static void wslice(http_writer *w, http_slice s)
{
    http_put(w, s.p, s.len);
}

/* Whether a Connection header of the request names this header. */
static bool named_in_connection(const http_head *h, http_slice name)
{
    char tok[128];
    if (name.len >= sizeof tok)
        return false; /* no connection option is that long; a longer name is forwarded */
    memcpy(tok, name.p, name.len);
    tok[name.len] = '\0';
    for (size_t i = 0; i < h->nheaders; i++)
        if (http_slice_eq(h->headers[i].name, "Connection") &&
            http_list_has(h->headers[i].value, tok))
            return true;
    return false;
}

static bool hop_by_hop(const http_head *h, http_slice name)
{
    static const char *const drop[] = {"Proxy-Authorization", "Proxy-Connection", "Keep-Alive",
                                       "Connection",          "Upgrade",          "Host"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (http_slice_eq(name, drop[i]))
            return true;
    /* "Connection: Content-Length" must not change the framing the device sees from ours */
    if (http_slice_eq(name, "Content-Length") || http_slice_eq(name, "Transfer-Encoding"))
        return false;
    return named_in_connection(h, name);
}

static void write_host(http_writer *w, const httpproxy_req *req)
{
    char port[8];
    bool v6 = memchr(req->host, ':', req->host_len) != NULL;
    http_puts(w, v6 ? "Host: [" : "Host: ");
    http_put(w, req->host, req->host_len);
    snprintf(port, sizeof port, "%u", (unsigned)req->port);
    http_puts(w, v6 ? "]:" : ":");
    http_puts(w, port);
    http_puts(w, "\r\n");
}

ssize_t httpproxy_rewrite(const httpproxy_req *req, uint8_t *out, size_t cap)
{
    const http_head *h = &req->head;
    http_writer w = {out, cap, 0, false};
    if (req->kind != HTTPPROXY_FORWARD || !out)
        return -1;
    wslice(&w, h->method);
    http_puts(&w, " ");
    if (req->path.len == 0 || req->path.p[0] == '?')
        http_puts(&w, "/");
    wslice(&w, req->path);
    http_puts(&w, h->minor == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n");
    write_host(&w, req);
    for (size_t i = 0; i < h->nheaders; i++) {
        if (hop_by_hop(h, h->headers[i].name))
            continue;
        wslice(&w, h->headers[i].name);
        http_puts(&w, ": ");
        wslice(&w, h->headers[i].value);
        http_puts(&w, "\r\n");
    }
    if (h->minor == 1 && !h->keep_alive)
        http_puts(&w, "Connection: close\r\n");
    else if (h->minor == 0 && h->keep_alive)
        http_puts(&w, "Connection: keep-alive\r\n");
    http_puts(&w, "\r\n");
    return w.full ? -1 : (ssize_t)w.len;
}

void httpproxy_wipe(httpproxy_req *req)
{
    hp_zero(req->pass, sizeof req->pass);
    req->pass_len = 0;
}

/* --- errors ------------------------------------------------------------------------------------
 */

const char *httpproxy_strerror(int err)
{
    switch (err) {
    case HTTPPROXY_E_TARGET:
        return "request target is not a proxy target (CONNECT host:port or http:// URI)";
    case HTTPPROXY_E_SCHEME:
        return "only http:// URIs are proxied (use CONNECT for TLS)";
    case HTTPPROXY_E_HOST:
        return "malformed host in the request target";
    case HTTPPROXY_E_PORT:
        return "missing or bad port in the request target";
    case HTTPPROXY_E_CONNECT_BODY:
        return "CONNECT with a body";
    default:
        return http_strerror(err);
    }
}

int httpproxy_err_status(int err)
{
    switch (err) {
    case HTTPPROXY_E_SCHEME:
        return 501;
    case HTTPPROXY_E_TARGET:
    case HTTPPROXY_E_HOST:
    case HTTPPROXY_E_PORT:
    case HTTPPROXY_E_CONNECT_BODY:
        return 400;
    default:
        return http_err_status(err);
    }
}
