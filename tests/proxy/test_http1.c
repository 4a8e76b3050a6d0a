/* src/proxy/http1.c, http1_body.c: strict HTTP/1 heads (smuggling cases), body framing split at
 * any byte, pipelining, canned replies and Basic credentials. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http1.h"

static http_head H;

static int req(const char *s)
{
    return http_parse_request((const uint8_t *)s, strlen(s), NULL, &H);
}

static int resp(const char *s, bool head_request)
{
    return http_parse_response((const uint8_t *)s, strlen(s), NULL, head_request, &H);
}

static void slice_is(http_slice s, const char *want)
{
    cr_assert_eq(s.len, strlen(want), "slice '%.*s' want '%s'", (int)s.len, s.p, want);
    cr_assert_arr_eq(s.p, want, s.len);
}

/* --- request heads -----------------------------------------------------------------------------
 */

Test(request, a_simple_get)
{
    const char *m = "GET /wsman?x=1 HTTP/1.1\r\nHost: dev:16992\r\nX-A:  v a l  \r\nX-B:\r\n\r\n";
    cr_assert_eq(req(m), (int)strlen(m));
    cr_assert(H.is_request);
    slice_is(H.method, "GET");
    slice_is(H.target, "/wsman?x=1");
    cr_assert_eq(H.minor, 1);
    cr_assert_eq(H.nheaders, 3);
    slice_is(H.headers[0].name, "Host");
    slice_is(H.headers[0].value, "dev:16992");
    slice_is(H.headers[1].value, "v a l");
    slice_is(H.headers[2].value, "");
    cr_assert_eq(H.head_len, strlen(m));
    cr_assert_eq(H.body, HTTP_BODY_NONE);
    cr_assert(H.keep_alive);
    cr_assert(!H.expect_continue);
    cr_assert_eq(http_find_header(&H, "x-b"), &H.headers[2]);
    cr_assert_null(http_find_header(&H, "X-C"));
}

Test(request, every_prefix_is_again)
{
    const char *m = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc";
    size_t head = strlen(m) - 3;
    for (size_t i = 0; i < head; i++)
        cr_assert_eq(http_parse_request((const uint8_t *)m, i, NULL, &H), HTTP_AGAIN, "%zu", i);
    cr_assert_eq(http_parse_request((const uint8_t *)m, head, NULL, &H), (int)head);
    cr_assert_eq(H.body, HTTP_BODY_LENGTH);
    cr_assert_eq(H.content_length, 3);
    cr_assert_eq(http_parse_request(NULL, 0, NULL, &H), HTTP_AGAIN);
}

Test(request, bare_lf_is_a_line_end_bare_cr_is_not)
{
    cr_assert_eq(req("GET / HTTP/1.1\nHost: h\n\n"), 24);
    cr_assert_eq(H.nheaders, 1);
    slice_is(H.headers[0].value, "h");
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), HTTP_E_HEADER);
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost: h\r\r\n\r\n"), HTTP_E_HEADER);
    cr_assert_eq(req("GET /\r HTTP/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), HTTP_E_HEADER);
}

Test(request, header_syntax_is_strict)
{
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost : h\r\n\r\n"), HTTP_E_HEADER, "space before colon");
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n"), HTTP_E_HEADER);
    cr_assert_eq(req("GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n"), HTTP_E_HEADER, "obs-fold");
    cr_assert_eq(req("GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n"), HTTP_E_HEADER, "obs-fold");
    cr_assert_eq(req("GET / HTTP/1.1\r\n X: a\r\n\r\n"), HTTP_E_HEADER, "leading space");
    cr_assert_eq(req("GET / HTTP/1.1\r\nNoColon\r\n\r\n"), HTTP_E_HEADER);
    cr_assert_eq(req("GET / HTTP/1.1\r\n: v\r\n\r\n"), HTTP_E_HEADER, "empty name");
    cr_assert_eq(req("GET / HTTP/1.1\r\nX(y): v\r\n\r\n"), HTTP_E_HEADER, "name not a token");
    cr_assert_eq(req("GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n"), HTTP_E_HEADER, "control char");
    cr_assert_eq(req("GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n"), HTTP_E_HEADER, "DEL");
    const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
    cr_assert_eq(http_parse_request((const uint8_t *)nul, sizeof nul - 1, NULL, &H), HTTP_E_HEADER);
    cr_assert_gt(req("GET / HTTP/1.1\r\nX: caf\xc3\xa9\t!\r\n\r\n"), 0, "obs-text is fine");
    slice_is(H.headers[0].value, "caf\xc3\xa9\t!");
}

Test(request, request_line_errors)
{
    cr_assert_eq(req("GET / HTTP/2.0\r\n\r\n"), HTTP_E_VERSION);
    cr_assert_eq(req("GET / HTTP/1.2\r\n\r\n"), HTTP_E_VERSION);
    cr_assert_eq(req("GET / HTTP/0.9\r\n\r\n"), HTTP_E_VERSION);
    cr_assert_eq(req("GET / HTTP/2\r\n\r\n"), HTTP_E_VERSION);
    cr_assert_eq(req("GET / http/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET / HTTP/1.1x\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET / HTTP/1.1 \r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET  / HTTP/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET /\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req(" GET / HTTP/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET /a\tb HTTP/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n"), HTTP_E_REQUEST_LINE);
    cr_assert_eq(req("GE(T / HTTP/1.1\r\n\r\n"), HTTP_E_METHOD);
    cr_assert_eq(req("G\x80T / HTTP/1.1\r\n\r\n"), HTTP_E_METHOD);
    cr_assert_eq(req("\r\n\r\nGET / HTTP/1.0\r\n\r\n"), 22, "empty lines before are ignored");
    slice_is(H.method, "GET");
    cr_assert_eq(H.minor, 0);
    cr_assert(!H.keep_alive);
}

Test(request, content_length_rules)
{
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"),
                 HTTP_E_CONTENT_LENGTH, "conflicting");
    cr_assert_gt(req("POST / HTTP/1.1\r\nContent-Length: 5\r\ncontent-length: 005\r\n\r\n"), 0,
                 "agreeing copies");
    cr_assert_eq(H.content_length, 5);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 1 2\r\n\r\n"), HTTP_E_CONTENT_LENGTH);
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n"),
                 HTTP_E_CONTENT_LENGTH, "2^64 overflows");
    cr_assert_gt(req("POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n"), 0);
    cr_assert_eq(H.content_length, UINT64_MAX);
}

Test(request, transfer_encoding_rules)
{
    cr_assert_eq(req("POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING, "CL + TE");
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING, "TE + CL");
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING);
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING);
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked, identity\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING);
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING, "chunked twice");
    cr_assert_eq(req("POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING);
    cr_assert_eq(req("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
                 HTTP_E_TRANSFER_ENCODING, "TE in an HTTP/1.0 request");
    cr_assert_gt(req("POST / HTTP/1.1\r\nTransfer-Encoding:  Chunked \r\n\r\n"), 0);
    cr_assert_eq(H.body, HTTP_BODY_CHUNKED);
}

Test(request, duplicate_host_is_refused)
{
    cr_assert_eq(req("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), HTTP_E_HEADER);
}

Test(request, connection_and_expect)
{
    cr_assert_gt(req("GET / HTTP/1.1\r\nConnection: foo, Close\r\n\r\n"), 0);
    cr_assert(!H.keep_alive);
    cr_assert_gt(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), 0);
    cr_assert(H.keep_alive);
    cr_assert_gt(req("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"), 0);
    cr_assert(!H.keep_alive);
    cr_assert_gt(req("GET / HTTP/1.0\r\n\r\n"), 0);
    cr_assert(!H.keep_alive);
    cr_assert_gt(req("GET / HTTP/1.1\r\nConnection: keep-alive-ish\r\n\r\n"), 0);
    cr_assert(H.keep_alive);
    cr_assert_gt(req("GET / HTTP/1.1\r\nConnection: closed\r\n\r\n"), 0);
    cr_assert(H.keep_alive, "closed is not close");
    cr_assert_gt(req("PUT / HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n"), 0);
    cr_assert(H.expect_continue);
}

Test(request, limits)
{
    http_limits lim = {.max_head = 200, .max_line = 60, .max_headers = 3};
    char m[1024];
    snprintf(m, sizeof m, "GET /%070d HTTP/1.1\r\n\r\n", 0);
    cr_assert_eq(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), HTTP_E_URI_TOO_LONG);
    cr_assert_eq(http_err_status(HTTP_E_URI_TOO_LONG), 414);
    cr_assert_eq(http_parse_request((uint8_t *)m, 64, &lim, &H), HTTP_E_URI_TOO_LONG,
                 "even before the line ends");
    snprintf(m, sizeof m, "GET / HTTP/1.1\r\nX: %070d\r\n\r\n", 0);
    cr_assert_eq(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), HTTP_E_LINE_TOO_LONG);
    cr_assert_eq(http_err_status(HTTP_E_LINE_TOO_LONG), 431);
    /* exactly max_line bytes of content is fine */
    snprintf(m, sizeof m, "GET / HTTP/1.1\r\nX: %057d\r\n\r\n", 0);
    cr_assert_gt(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), 0);
    snprintf(m, sizeof m, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    cr_assert_eq(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), HTTP_E_TOO_MANY_HEADERS);
    cr_assert_eq(http_err_status(HTTP_E_TOO_MANY_HEADERS), 431);
    snprintf(m, sizeof m, "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
    cr_assert_gt(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), 0);
    /* head above max_head: refused even while incomplete */
    memset(m, 0, sizeof m);
    strcpy(m, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 4; i++)
        strcat(m, "X: 0123456789012345678901234567890123456789012345\r\n");
    cr_assert_eq(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), HTTP_E_HEAD_TOO_LARGE);
    cr_assert_eq(http_err_status(HTTP_E_HEAD_TOO_LARGE), 431);
    lim.max_headers = 100;
    cr_assert_eq(http_parse_request((uint8_t *)m, strlen(m), &lim, &H), HTTP_E_HEAD_TOO_LARGE);
}

Test(request, default_limits_and_too_many_headers)
{
    static char m[16384];
    http_limits d;
    http_limits_default(&d);
    cr_assert_eq(d.max_head, 8192);
    cr_assert_eq(d.max_line, 4096);
    cr_assert_eq(d.max_headers, 64);
    strcpy(m, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 65; i++)
        strcat(m, "X: y\r\n");
    strcat(m, "\r\n");
    cr_assert_eq(req(m), HTTP_E_TOO_MANY_HEADERS);
    http_limits big = {.max_head = 16384, .max_line = 100, .max_headers = 1000};
    cr_assert_gt(http_parse_request((uint8_t *)m, strlen(m), &big, &H), 0, "clamped to 128");
    cr_assert_eq(H.nheaders, 65);
    /* a head that never ends: lines below max_line, more than max_head in all */
    memcpy(m, "GET / HTTP/1.1\r\n", 16);
    for (size_t i = 16; i + 4000 <= sizeof m; i += 4000) {
        memcpy(m + i, "X: ", 3);
        memset(m + i + 3, 'a', 3995);
        memcpy(m + i + 3998, "\r\n", 2);
    }
    cr_assert_eq(http_parse_request((uint8_t *)m, sizeof m, NULL, &H), HTTP_E_HEAD_TOO_LARGE);
    cr_assert_eq(http_parse_request((uint8_t *)m, 8000, NULL, &H), HTTP_AGAIN);
    cr_assert_eq(http_parse_request((uint8_t *)m, 8193, NULL, &H), HTTP_E_HEAD_TOO_LARGE);
}

/* --- responses ---------------------------------------------------------------------------------
 */

Test(response, framing)
{
    cr_assert_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", false), 0);
    cr_assert_eq(H.status, 200);
    slice_is(H.reason, "OK");
    cr_assert_eq(H.body, HTTP_BODY_LENGTH);
    cr_assert_eq(H.content_length, 12);
    cr_assert(H.keep_alive);
    cr_assert_gt(resp("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true), 0);
    cr_assert_eq(H.body, HTTP_BODY_NONE, "answer to HEAD");
    cr_assert_gt(resp("HTTP/1.1 401 Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n", false), 0);
    cr_assert_eq(H.body, HTTP_BODY_CHUNKED);
    cr_assert_gt(resp("HTTP/1.0 200 OK\r\n\r\n", false), 0);
    cr_assert_eq(H.body, HTTP_BODY_UNTIL_CLOSE);
    cr_assert(!H.keep_alive);
    cr_assert_gt(resp("HTTP/1.1 200 OK\r\n\r\n", false), 0);
    cr_assert_eq(H.body, HTTP_BODY_UNTIL_CLOSE);
    cr_assert(!H.keep_alive, "until close ends the connection");
    const int none[] = {100, 101, 199, 204, 304};
    for (size_t i = 0; i < 5; i++) {
        char m[64];
        snprintf(m, sizeof m, "HTTP/1.1 %d X\r\nContent-Length: 5\r\n\r\n", none[i]);
        cr_assert_gt(resp(m, false), 0);
        cr_assert_eq(H.status, none[i]);
        cr_assert_eq(H.body, HTTP_BODY_NONE, "%d", none[i]);
    }
    cr_assert_gt(resp("HTTP/1.1 205 Reset\r\nContent-Length: 0\r\n\r\n", false), 0);
    cr_assert_eq(H.body, HTTP_BODY_LENGTH);
    cr_assert_eq(
        resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", false),
        HTTP_E_TRANSFER_ENCODING);
    cr_assert_eq(resp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false),
                 HTTP_E_CONTENT_LENGTH);
}

Test(response, status_line)
{
    cr_assert_gt(resp("HTTP/1.1 200\r\n\r\n", false), 0, "no reason");
    slice_is(H.reason, "");
    cr_assert_gt(resp("HTTP/1.1 200 \r\n\r\n", false), 0);
    cr_assert_gt(resp("HTTP/1.1 999 Whatever it is\r\n\r\n", false), 0);
    slice_is(H.reason, "Whatever it is");
    cr_assert_eq(resp("HTTP/1.1 20 OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 099 OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 2000 OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 200OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 abc OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 200 O\x01K\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/2 200\r\n\r\n", false), HTTP_E_VERSION);
    cr_assert_eq(resp("ICY 200 OK\r\n\r\n", false), HTTP_E_STATUS_LINE);
    cr_assert_eq(resp("HTTP/1.1 200 OK\r\nX : y\r\n\r\n", false), HTTP_E_HEADER);
    cr_assert_eq(http_err_status(HTTP_E_STATUS_LINE), 502);
    cr_assert_eq(http_err_status(HTTP_E_VERSION), 505);
}

/* --- bodies ------------------------------------------------------------------------------------
 */

static void body_chunked(http_body *b)
{
    http_body_init(b, HTTP_BODY_CHUNKED, 0, NULL);
}

/* Scans s in pieces of step bytes; returns the bytes that belong to the body or an error. */
static ssize_t scan_split(http_body_kind kind, const char *s, size_t n, size_t step,
                          const http_limits *lim)
{
    http_body b;
    size_t pos = 0;
    http_body_init(&b, kind, 0, lim);
    while (pos < n && !http_body_done(&b)) {
        size_t k = n - pos < step ? n - pos : step;
        ssize_t r = http_body_scan(&b, (const uint8_t *)s + pos, k);
        if (r < 0)
            return r;
        cr_assert_leq((size_t)r, k);
        pos += (size_t)r;
        if ((size_t)r < k)
            cr_assert(http_body_done(&b), "a short count means the body ended");
    }
    return http_body_done(&b) ? (ssize_t)pos : HTTP_AGAIN;
}

static void chunked_is(const char *s, ssize_t want)
{
    size_t n = strlen(s);
    for (size_t step = 1; step <= n; step++)
        cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, s, n, step, NULL), want, "'%s' step %zu: %zd", s,
                     step, scan_split(HTTP_BODY_CHUNKED, s, n, step, NULL));
}

Test(body, chunked_bodies_split_at_any_byte)
{
    chunked_is("5\r\nhello\r\n0\r\n\r\nNEXT", 15);
    chunked_is("5;name=val;q=\"a;b\"\r\nhello\r\nA\r\n0123456789\r\n0\r\n\r\n", 47);
    chunked_is("5 ; ext\r\nhello\r\n0\r\n\r\n", 21);
    chunked_is("1\r\nx\r\n0\r\nTrailer-A: 1\r\nB: two words\r\n\r\nGET", 39);
    chunked_is("00000\r\n\r\n", 9);
    chunked_is("0;last\r\nX-Sum: 1\r\n\r\n", 20);
    chunked_is("fF\r\n", HTTP_AGAIN);
}

Test(body, chunked_errors)
{
    chunked_is("\r\n", HTTP_E_CHUNK);
    chunked_is("x\r\n", HTTP_E_CHUNK);
    chunked_is("0x5\r\nhello\r\n0\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("-1\r\n", HTTP_E_CHUNK);
    chunked_is("5\nhello\r\n0\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("5\r\nhelloX\r\n0\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("5\r\nhello\n0\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("5 \r\nhello\r\n0\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("5;a\x01\r\n", HTTP_E_CHUNK);
    chunked_is("5\r\r\n", HTTP_E_CHUNK);
    chunked_is("0\r\n X: folded\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("0\r\nX : y\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("0\r\nnocolon\r\n\r\n", HTTP_E_CHUNK);
    chunked_is("0\r\nX: y\n\r\n", HTTP_E_CHUNK);
    chunked_is("0\r\n\r\r", HTTP_E_CHUNK);
}

Test(body, chunk_size_overflow)
{
    chunked_is("ffffffffffffffff\r\n", HTTP_AGAIN);
    chunked_is("10000000000000000\r\n", HTTP_E_CHUNK);
    chunked_is("fffffffffffffffff\r\n", HTTP_E_CHUNK);
    chunked_is("0000000000000000000000000001\r\nx\r\n0\r\n\r\n", 38);
    http_body b;
    body_chunked(&b);
    const char *s = "ffffffffffffffff\r\n";
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)s, strlen(s)), (ssize_t)strlen(s));
    cr_assert_eq(b.left, UINT64_MAX);
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"abc", 3), 3);
    cr_assert_eq(b.left, UINT64_MAX - 3);
}

Test(body, chunk_line_and_trailer_limits)
{
    http_limits lim = {.max_head = 64, .max_line = 16, .max_headers = 8};
    const char *ok = "5;0123456789\r\nhello\r\n0\r\n\r\n";
    cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, ok, strlen(ok), 1, &lim), (ssize_t)strlen(ok));
    const char *longext = "5;0123456789abcdef\r\nhello\r\n0\r\n\r\n";
    cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, longext, strlen(longext), 1, &lim), HTTP_E_CHUNK);
    char big[256] = "0\r\n";
    for (int i = 0; i < 10; i++)
        strcat(big, "X: 0123456\r\n");
    strcat(big, "\r\n");
    cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, big, strlen(big), 3, &lim), HTTP_E_CHUNK,
                 "trailers above max_head");
    const char *longtr = "0\r\nX: 0123456789abcdefgh\r\n\r\n";
    cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, longtr, strlen(longtr), 2, &lim), HTTP_E_CHUNK,
                 "trailer line above max_line");
    char zeros[64];
    memset(zeros, '0', 40);
    strcpy(zeros + 40, "\r\n\r\n");
    cr_assert_eq(scan_split(HTTP_BODY_CHUNKED, zeros, strlen(zeros), 5, &lim), HTTP_E_CHUNK,
                 "leading zeros count toward the line");
}

Test(body, errors_are_sticky_and_length_bodies)
{
    http_body b;
    body_chunked(&b);
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"z", 1), HTTP_E_CHUNK);
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"0\r\n\r\n", 5), HTTP_E_CHUNK);
    cr_assert(!http_body_eof(&b));

    http_body_init(&b, HTTP_BODY_LENGTH, 5, NULL);
    cr_assert(!http_body_done(&b));
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"abc", 3), 3);
    cr_assert_eq(b.left, 2);
    cr_assert(!http_body_eof(&b), "closed early");
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"deNEXT", 6), 2);
    cr_assert(http_body_done(&b));
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"NEXT", 4), 0);
    cr_assert(http_body_eof(&b));

    http_body_init(&b, HTTP_BODY_LENGTH, 0, NULL);
    cr_assert(http_body_done(&b));
    http_body_init(&b, HTTP_BODY_NONE, 0, NULL);
    cr_assert(http_body_done(&b));
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"x", 1), 0);

    http_body_init(&b, HTTP_BODY_UNTIL_CLOSE, 0, NULL);
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"abcdef", 6), 6);
    cr_assert(!http_body_done(&b));
    cr_assert(http_body_eof(&b));
    cr_assert(http_body_done(&b));

    body_chunked(&b);
    cr_assert_eq(http_body_scan(&b, (const uint8_t *)"3\r\nab", 5), 5);
    cr_assert(!http_body_eof(&b), "a chunked body cut short");
}

/* --- pipelining --------------------------------------------------------------------------------
 */

Test(pipeline, second_request_after_the_first_body)
{
    const char *m = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nGET "
                    "PUT /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n"
                    "GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    const uint8_t *p = (const uint8_t *)m;
    size_t n = strlen(m), pos = 0;
    const char *targets[] = {"/a", "/b", "/c"};
    for (int i = 0; i < 3; i++) {
        int r = http_parse_request(p + pos, n - pos, NULL, &H);
        cr_assert_gt(r, 0, "request %d: %d", i, r);
        slice_is(H.target, targets[i]);
        pos += (size_t)r;
        http_body b;
        http_body_init(&b, H.body, H.content_length, NULL);
        ssize_t k = http_body_scan(&b, p + pos, n - pos);
        cr_assert_geq(k, 0);
        cr_assert(http_body_done(&b));
        pos += (size_t)k;
    }
    cr_assert_eq(pos, n);
}

/* --- replies -----------------------------------------------------------------------------------
 */

Test(reply, pack_response_is_byte_exact)
{
    uint8_t out[256];
    ssize_t n =
        http_pack_response(out, sizeof out, 407, "Proxy-Authenticate: Basic realm=\"mpsd\"\r\n",
                           "auth needed\n", false);
    const char *want = "HTTP/1.1 407 Proxy Authentication Required\r\n"
                       "Proxy-Authenticate: Basic realm=\"mpsd\"\r\n"
                       "Content-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\n"
                       "auth needed\n";
    cr_assert_eq(n, (ssize_t)strlen(want));
    cr_assert_arr_eq(out, want, strlen(want));
    n = http_pack_response(out, sizeof out, 200, NULL, NULL, true);
    want = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n";
    cr_assert_eq(n, (ssize_t)strlen(want));
    cr_assert_arr_eq(out, want, strlen(want));
    cr_assert_eq(http_pack_response(out, strlen(want), 200, NULL, NULL, true), n, "exact fit");
    cr_assert_eq(http_pack_response(out, strlen(want) - 1, 200, NULL, NULL, true), -1);
    cr_assert_eq(http_pack_response(out, sizeof out, 99, NULL, NULL, true), -1);
    cr_assert_eq(http_pack_response(out, sizeof out, 1000, NULL, NULL, true), -1);
    n = http_pack_response(out, sizeof out, 599, NULL, "x", true);
    want = "HTTP/1.1 599 Unknown\r\nContent-Type: text/plain\r\nContent-Length: 1\r\n\r\nx";
    cr_assert_arr_eq(out, want, strlen(want));
    cr_assert_str_eq(http_reason(502), "Bad Gateway");
    cr_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
}

Test(reply, err_status)
{
    cr_assert_eq(http_err_status(HTTP_E_REQUEST_LINE), 400);
    cr_assert_eq(http_err_status(HTTP_E_HEADER), 400);
    cr_assert_eq(http_err_status(HTTP_E_CONTENT_LENGTH), 400);
    cr_assert_eq(http_err_status(HTTP_E_TRANSFER_ENCODING), 501);
    cr_assert_eq(http_err_status(HTTP_E_CHUNK), 400);
    cr_assert_eq(http_err_status(HTTP_E_METHOD), 400);
    cr_assert_eq(http_err_status(HTTP_AGAIN), 0);
    for (int e = HTTP_E_HEAD_TOO_LARGE; e >= HTTP_E_URI_TOO_LONG; e--)
        cr_assert_neq(strcmp(http_strerror(e), "unknown HTTP error"), 0, "%d", e);
}

/* --- lists, slices -----------------------------------------------------------------------------
 */

Test(lists, list_has_and_slice_eq)
{
    http_slice v = {"keep-alive , Upgrade,,\tTE ", 26};
    cr_assert(http_list_has(v, "upgrade"));
    cr_assert(http_list_has(v, "te"));
    cr_assert(http_list_has(v, "KEEP-ALIVE"));
    cr_assert(!http_list_has(v, "close"));
    cr_assert(!http_list_has(v, "keep"));
    cr_assert(http_list_has((http_slice){"close", 5}, "close"));
    cr_assert(!http_list_has((http_slice){"", 0}, "close"));
    cr_assert(http_slice_eq((http_slice){"HoSt", 4}, "host"));
    cr_assert(!http_slice_eq((http_slice){"Hos", 3}, "host"));
}

/* --- Basic -------------------------------------------------------------------------------------
 */

static int basic(const char *v, char *u, char *p)
{
    size_t ul = 99, pl = 99;
    int r = http_basic_decode((http_slice){v, strlen(v)}, u, 32, &ul, p, 32, &pl);
    cr_assert_eq(ul, strlen(u));
    cr_assert_eq(pl, strlen(p));
    return r;
}

Test(basic, decodes)
{
    char u[32], p[32];
    cr_assert_eq(basic("Basic YWRtaW46cGFzcw==", u, p), 0);
    cr_assert_str_eq(u, "admin");
    cr_assert_str_eq(p, "pass");
    cr_assert_eq(basic("bAsIc   YWRtaW46cGFzcw==", u, p), 0, "scheme case, several spaces");
    cr_assert_eq(basic("Basic dXNlcjo=", u, p), 0);
    cr_assert_str_eq(u, "user");
    cr_assert_str_eq(p, "", "empty password");
    cr_assert_eq(basic("Basic YTpiOmM=", u, p), 0);
    cr_assert_str_eq(u, "a");
    cr_assert_str_eq(p, "b:c", "split at the first ':'");
    cr_assert_eq(basic("Basic YTpi", u, p), 0, "no padding needed");
    cr_assert_str_eq(p, "b");
    cr_assert_eq(basic("Basic YTpiYw", u, p), 0, "unpadded");
    cr_assert_str_eq(p, "bc");
    cr_assert_eq(basic("Basic asO8cmdlbjpww6Rzc3fDtnJk", u, p), 0);
    cr_assert_str_eq(u, "j\xc3\xbcrgen");
}

Test(basic, refuses)
{
    char u[32], p[32];
    const char *bad[] = {
        "Basic OnB3",                 /* empty user */
        "Basic YWI=",                 /* no colon */
        "Basic YQA6Yg==",             /* NUL */
        "Basic YTpiYx==",             /* non-canonical trailing bits */
        "Basic YTpiYw=",              /* wrong padding */
        "Basic YTpiYw===",            /* too much padding */
        "Basic YTp=iYw=",             /* padding inside */
        "Basic YT pi",                /* space inside */
        "Basic YTpi!",                /* not base64 */
        "Basic Y",                    /* 1 mod 4 */
        "Basic ",                     /* nothing */
        "Basic",                      /* nothing */
        "Bearer YWRtaW46cGFzcw==",    /* another scheme */
        "Basically YWRtaW46cGFzcw==", /* not the scheme */
        "Basic\tYWRtaW46cGFzcw==",    /* HTAB is not SP */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        strcpy(p, "junk");
        cr_assert_eq(basic(bad[i], u, p), -1, "'%s'", bad[i]);
        cr_assert_str_eq(u, "");
        cr_assert_str_eq(p, "");
    }
}

Test(basic, field_capacity)
{
    char u[6], p[5];
    size_t ul, pl;
    http_slice v = {"Basic YWRtaW46cGFzcw==", 22}; /* admin:pass */
    cr_assert_eq(http_basic_decode(v, u, 6, &ul, p, 5, &pl), 0, "exactly fits");
    cr_assert_str_eq(u, "admin");
    cr_assert_str_eq(p, "pass");
    cr_assert_eq(http_basic_decode(v, u, 5, &ul, p, 5, &pl), -1);
    cr_assert_eq(http_basic_decode(v, u, 6, &ul, p, 4, &pl), -1);
    cr_assert_eq(pl, 0);
    cr_assert_eq(http_basic_decode(v, u, 0, &ul, p, 5, &pl), -1);
}
