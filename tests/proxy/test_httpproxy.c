/* src/proxy/httpproxy.c: CONNECT and absolute-URI targets, Proxy-Authorization, and the head
 * rewritten for the device, byte-exact. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "httpproxy.h"

static httpproxy_req R;

static int parse(const char *s)
{
    return httpproxy_parse((const uint8_t *)s, strlen(s), NULL, &R);
}

static void rewrite_is(const char *want)
{
    uint8_t out[4096];
    ssize_t n = httpproxy_rewrite(&R, out, sizeof out);
    cr_assert_eq(n, (ssize_t)strlen(want), "got %zd bytes:\n%.*s\nwant:\n%s", n,
                 (int)(n > 0 ? n : 0), out, want);
    cr_assert_arr_eq(out, want, strlen(want));
    cr_assert_eq(httpproxy_rewrite(&R, out, strlen(want)), n, "exact fit");
    cr_assert_eq(httpproxy_rewrite(&R, out, strlen(want) - 1), -1);
}

/* --- CONNECT -----------------------------------------------------------------------------------
 */

Test(connect, name_and_port)
{
    const char *m = "CONNECT AMT-Dev.example:16993 HTTP/1.1\r\nHost: amt-dev.example:16993\r\n\r\n";
    cr_assert_eq(parse(m), (int)strlen(m));
    cr_assert_eq(R.kind, HTTPPROXY_CONNECT);
    cr_assert_str_eq(R.host, "amt-dev.example", "lower-cased");
    cr_assert_eq(R.host_len, 15);
    cr_assert(!R.host_is_ip);
    cr_assert_eq(R.port, 16993);
    cr_assert(!R.has_auth);
    cr_assert(!R.auth_malformed);
    uint8_t out[64];
    cr_assert_eq(httpproxy_rewrite(&R, out, sizeof out), -1, "CONNECT is not rewritten");
}

Test(connect, ip_literals)
{
    cr_assert_gt(parse("CONNECT 10.1.2.3:16992 HTTP/1.1\r\n\r\n"), 0);
    cr_assert_str_eq(R.host, "10.1.2.3");
    cr_assert(R.host_is_ip);
    cr_assert_eq(R.port, 16992);
    cr_assert_gt(parse("CONNECT [2001:DB8:0:0::1]:443 HTTP/1.1\r\n\r\n"), 0);
    cr_assert_str_eq(R.host, "2001:db8::1", "without brackets, RFC 5952 form");
    cr_assert(R.host_is_ip);
    cr_assert_eq(R.port, 443);
    cr_assert_gt(parse("CONNECT [::ffff:10.0.0.1]:1 HTTP/1.1\r\n\r\n"), 0);
    cr_assert_str_eq(R.host, "::ffff:10.0.0.1");
}

Test(connect, errors)
{
    cr_assert_eq(parse("CONNECT host HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host: HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:0 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:65536 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:123456 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:8o HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:80:81 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT host:+80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT [::1] HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("CONNECT :80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT [::1:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT [::1]x:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT [1.2.3.4]:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT [fe80::1%25eth0]:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT []:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT ::1:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT user@host:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT ho%73t:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT 127.1:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST, "not a quad");
    cr_assert_eq(parse("CONNECT 0x7f000001:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT 010.0.0.1:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT host.123:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT .:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT /path HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("CONNECT http://h:80/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_gt(parse("CONNECT 0x1.example:80 HTTP/1.1\r\n\r\n"), 0, "a name like any");
    cr_assert_gt(parse("CONNECT host.:80 HTTP/1.1\r\n\r\n"), 0);
    cr_assert_str_eq(R.host, "host.");
    cr_assert_eq(parse("CONNECT h:80 HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"),
                 HTTPPROXY_E_CONNECT_BODY);
    cr_assert_eq(parse("CONNECT h:80 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
                 HTTPPROXY_E_CONNECT_BODY);
    cr_assert_gt(parse("CONNECT h:80 HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 0);
}

Test(connect, host_length)
{
    char m[600], name[300];
    memset(name, 'a', 255);
    name[255] = 0;
    snprintf(m, sizeof m, "CONNECT %s:1 HTTP/1.1\r\n\r\n", name);
    cr_assert_gt(parse(m), 0);
    cr_assert_eq(R.host_len, 255);
    memset(name, 'a', 256);
    name[256] = 0;
    snprintf(m, sizeof m, "CONNECT %s:1 HTTP/1.1\r\n\r\n", name);
    cr_assert_eq(parse(m), HTTPPROXY_E_HOST);
}

/* --- absolute URIs -----------------------------------------------------------------------------
 */

Test(forward, absolute_uris)
{
    cr_assert_gt(parse("POST HTTP://Dev1:16992/wsman?a=b HTTP/1.1\r\nHost: dev1\r\n\r\n"), 0);
    cr_assert_eq(R.kind, HTTPPROXY_FORWARD);
    cr_assert_str_eq(R.host, "dev1");
    cr_assert_eq(R.port, 16992);
    cr_assert_eq(R.path.len, 10);
    cr_assert_arr_eq(R.path.p, "/wsman?a=b", 10);
    cr_assert_gt(parse("GET http://dev1 HTTP/1.1\r\n\r\n"), 0);
    cr_assert_eq(R.port, 80, "default port");
    cr_assert_eq(R.path.len, 1);
    cr_assert_eq(R.path.p[0], '/');
    cr_assert_gt(parse("GET http://[fe80::1]:8080/x HTTP/1.0\r\n\r\n"), 0);
    cr_assert_str_eq(R.host, "fe80::1");
    cr_assert(R.host_is_ip);
    cr_assert_eq(R.port, 8080);
    cr_assert_gt(parse("GET http://192.168.1.5/ HTTP/1.1\r\n\r\n"), 0);
    cr_assert(R.host_is_ip);
    cr_assert_gt(parse("GET http://h?q HTTP/1.1\r\n\r\n"), 0);
    cr_assert_eq(R.path.len, 2);
    cr_assert_arr_eq(R.path.p, "?q", 2);
    cr_assert_gt(parse("connect http://h/ HTTP/1.1\r\n\r\n"), 0, "methods are case-sensitive");
    cr_assert_eq(R.kind, HTTPPROXY_FORWARD);
}

Test(forward, errors)
{
    cr_assert_eq(parse("GET https://h/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_SCHEME);
    cr_assert_eq(parse("GET ftp://h/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_SCHEME);
    cr_assert_eq(parse("GET httpx://h/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_SCHEME);
    cr_assert_eq(parse("GET / HTTP/1.1\r\nHost: h\r\n\r\n"), HTTPPROXY_E_TARGET, "origin form");
    cr_assert_eq(parse("OPTIONS * HTTP/1.1\r\n\r\n"), HTTPPROXY_E_TARGET);
    cr_assert_eq(parse("GET h:80 HTTP/1.1\r\n\r\n"), HTTPPROXY_E_TARGET, "authority form");
    cr_assert_eq(parse("GET http:/h/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_TARGET);
    cr_assert_eq(parse("GET http://h/#frag HTTP/1.1\r\n\r\n"), HTTPPROXY_E_TARGET);
    cr_assert_eq(parse("GET http://user@h/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST, "userinfo");
    cr_assert_eq(parse("GET http://u:p@h:80/ HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("GET http:///x HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("GET http://h:/x HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("GET http://h:99999/x HTTP/1.1\r\n\r\n"), HTTPPROXY_E_PORT);
    cr_assert_eq(parse("GET http://[::1/x HTTP/1.1\r\n\r\n"), HTTPPROXY_E_HOST);
    cr_assert_eq(parse("GET http://h_1.x/ HTTP/1.1\r\n\r\n"),
                 (int)strlen("GET http://h_1.x/ HTTP/1.1\r\n\r\n"));
    cr_assert_eq(parse("GET http://h/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
                 HTTP_E_CONTENT_LENGTH, "http1 errors come through");
    cr_assert_eq(parse("GET http://h/ HTTP/1.1\r\n"), HTTP_AGAIN);
}

Test(forward, error_statuses)
{
    cr_assert_eq(httpproxy_err_status(HTTPPROXY_E_SCHEME), 501);
    cr_assert_eq(httpproxy_err_status(HTTPPROXY_E_TARGET), 400);
    cr_assert_eq(httpproxy_err_status(HTTPPROXY_E_HOST), 400);
    cr_assert_eq(httpproxy_err_status(HTTPPROXY_E_PORT), 400);
    cr_assert_eq(httpproxy_err_status(HTTPPROXY_E_CONNECT_BODY), 400);
    cr_assert_eq(httpproxy_err_status(HTTP_E_URI_TOO_LONG), 414);
    cr_assert_eq(httpproxy_err_status(HTTP_E_TOO_MANY_HEADERS), 431);
    cr_assert_eq(httpproxy_err_status(HTTP_E_VERSION), 505);
    cr_assert_str_eq(httpproxy_strerror(HTTP_E_VERSION), "HTTP version not supported");
    for (int e = HTTPPROXY_E_TARGET; e >= HTTPPROXY_E_CONNECT_BODY; e--)
        cr_assert_neq(strcmp(httpproxy_strerror(e), "unknown HTTP error"), 0);
}

/* --- Proxy-Authorization -----------------------------------------------------------------------
 */

Test(auth, basic_and_malformed)
{
    cr_assert_gt(
        parse("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Basic YWRtaW46cGFzcw==\r\n\r\n"), 0);
    cr_assert(R.has_auth);
    cr_assert(!R.auth_malformed);
    cr_assert_str_eq(R.user, "admin");
    cr_assert_eq(R.user_len, 5);
    cr_assert_str_eq(R.pass, "pass");
    cr_assert_eq(R.pass_len, 4);
    httpproxy_wipe(&R);
    cr_assert_eq(R.pass_len, 0);
    cr_assert_eq(R.pass[0], 0);

    cr_assert_gt(parse("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Digest x=y\r\n\r\n"), 0);
    cr_assert(!R.has_auth);
    cr_assert(R.auth_malformed);
    cr_assert_gt(parse("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Basic !!\r\n\r\n"), 0);
    cr_assert(R.auth_malformed);
    cr_assert_gt(parse("CONNECT h:1 HTTP/1.1\r\nProxy-Authorization: Basic YWRtaW46cGFzcw==\r\n"
                       "Proxy-Authorization: Basic YTpi\r\n\r\n"),
                 0);
    cr_assert(!R.has_auth, "two credentials: neither is trusted");
    cr_assert(R.auth_malformed);
    cr_assert_eq(R.pass_len, 0);
    cr_assert_gt(parse("CONNECT h:1 HTTP/1.1\r\nAuthorization: Basic YWRtaW46cGFzcw==\r\n\r\n"), 0);
    cr_assert(!R.has_auth, "Authorization is the device's, not ours");
    cr_assert(!R.auth_malformed);
}

/* --- rewrite -----------------------------------------------------------------------------------
 */

Test(rewrite, origin_form_host_and_hop_by_hop)
{
    cr_assert_gt(parse("POST http://Dev1:16992/wsman HTTP/1.1\r\n"
                       "Host: somewhere.else\r\n"
                       "Proxy-Authorization: Basic YWRtaW46cGFzcw==\r\n"
                       "Proxy-Connection: keep-alive\r\n"
                       "Keep-Alive: timeout=5\r\n"
                       "Connection: X-Hop, keep-alive\r\n"
                       "X-Hop: 1\r\n"
                       "Upgrade: websocket\r\n"
                       "Authorization: Digest username=\"admin\"\r\n"
                       "Content-Type: application/soap+xml\r\n"
                       "Content-Length: 4\r\n\r\nbody"),
                 0);
    rewrite_is("POST /wsman HTTP/1.1\r\n"
               "Host: dev1:16992\r\n"
               "Authorization: Digest username=\"admin\"\r\n"
               "Content-Type: application/soap+xml\r\n"
               "Content-Length: 4\r\n\r\n");
}

Test(rewrite, connection_cannot_drop_the_framing)
{
    cr_assert_gt(
        parse("POST http://h/ HTTP/1.1\r\nConnection: Content-Length, Transfer-Encoding\r\n"
              "Content-Length: 3\r\n\r\nabc"),
        0);
    rewrite_is("POST / HTTP/1.1\r\nHost: h:80\r\nContent-Length: 3\r\n\r\n");
    cr_assert_gt(parse("POST http://h/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                       "Connection: transfer-encoding\r\n\r\n"),
                 0);
    rewrite_is("POST / HTTP/1.1\r\nHost: h:80\r\nTransfer-Encoding: chunked\r\n\r\n");
}

Test(rewrite, connection_close_and_http10_keep_alive_are_kept)
{
    cr_assert_gt(parse("GET http://h/ HTTP/1.1\r\nConnection: close, TE\r\nTE: trailers\r\n\r\n"),
                 0);
    rewrite_is("GET / HTTP/1.1\r\nHost: h:80\r\nConnection: close\r\n\r\n");
    cr_assert_gt(parse("GET http://h/a HTTP/1.0\r\nConnection: Keep-Alive\r\nX: y\r\n\r\n"), 0);
    rewrite_is("GET /a HTTP/1.0\r\nHost: h:80\r\nX: y\r\nConnection: keep-alive\r\n\r\n");
    cr_assert_gt(parse("GET http://h/a HTTP/1.0\r\n\r\n"), 0);
    rewrite_is("GET /a HTTP/1.0\r\nHost: h:80\r\n\r\n");
}

Test(rewrite, ipv6_host_query_only_and_chunked)
{
    cr_assert_gt(parse("PUT http://[2001:db8::5]:16992?x=1 HTTP/1.1\r\n"
                       "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"),
                 0);
    cr_assert(R.head.expect_continue);
    rewrite_is("PUT /?x=1 HTTP/1.1\r\nHost: [2001:db8::5]:16992\r\n"
               "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n");
}

Test(rewrite, never_grows_by_more_than_300)
{
    char m[1024], name[256];
    memset(name, 'n', 255);
    name[255] = 0;
    /* the shortest target for the longest Host line */
    snprintf(m, sizeof m, "GET http://%s:65535?x HTTP/1.1\r\nConnection: close\r\n\r\n", name);
    int r = parse(m);
    cr_assert_gt(r, 0);
    uint8_t out[2048];
    ssize_t n = httpproxy_rewrite(&R, out, sizeof out);
    cr_assert_gt(n, 0);
    cr_assert_leq((size_t)n, (size_t)r + 300);
}

Test(rewrite, pipelined_forward_requests)
{
    const char *m = "POST http://a/1 HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                    "GET http://b:81/2 HTTP/1.1\r\n\r\n";
    const uint8_t *p = (const uint8_t *)m;
    int r = httpproxy_parse(p, strlen(m), NULL, &R);
    cr_assert_gt(r, 0);
    cr_assert_str_eq(R.host, "a");
    http_body b;
    http_body_init(&b, R.head.body, R.head.content_length, NULL);
    ssize_t k = http_body_scan(&b, p + r, strlen(m) - (size_t)r);
    cr_assert_eq(k, 2);
    size_t off = (size_t)r + 2;
    r = httpproxy_parse(p + off, strlen(m) - off, NULL, &R);
    cr_assert_eq(r, (int)(strlen(m) - off));
    cr_assert_str_eq(R.host, "b");
    cr_assert_eq(R.port, 81);
    rewrite_is("GET /2 HTTP/1.1\r\nHost: b:81\r\n\r\n");
}
