/* src/admin/route.c: the admin surface's request parser on crafted hostile input. Every route and
 * method (405 names the right Allow list), the device list's query string (unknown parameters,
 * bounds, percent-encoding edge cases), device paths with bad GUIDs, the bearer token (other
 * schemes, characters outside token68, length, spaces), bodies (413), oversized heads (431) and
 * Last-Event-ID. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

#define G  "0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b"
#define GB "0aa8f7c211114e2f9a3b5c6d7e8f9a0b" /* the same without dashes */

static struct admin_request R;

static int parse_n(const char *s, size_t n)
{
    http_limits lim;
    http_limits_default(&lim);
    return admin_parse_request((const uint8_t *)s, n, &lim, &R);
}

static int parse(const char *s)
{
    return parse_n(s, strlen(s));
}

/* A refused request: negative with a status, and never HTTP_AGAIN (which means "wait for more"). */
static bool refusal(int n)
{
    return n < 0 && n != HTTP_AGAIN && R.status >= 400;
}

/* A request for method and target with extra header lines. */
static int req(const char *method, const char *target, const char *headers)
{
    static char buf[16384];
    snprintf(buf, sizeof(buf), "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n", method, target,
             headers ? headers : "");
    return parse(buf);
}

static void ok(const char *method, const char *target, const char *headers, enum admin_route r)
{
    int n = req(method, target, headers);
    cr_assert_gt(n, 0, "%s %s: %d status %d (%s)", method, target, n, R.status,
                 R.error ? R.error : "");
    cr_assert_eq(R.route, r, "%s %s: route %d, want %d", method, target, R.route, r);
}

Test(route, a_refusal_is_not_an_incomplete_head)
{
    /* regression: refusals returned -1, which is HTTP_AGAIN, so the server waited for more bytes
     * and never answered a 400/404/405/413 */
    const char *m[] = {"GET /api/v1/devices?limit=0 HTTP/1.1\r\n\r\n",
                       "POST /metrics HTTP/1.1\r\n\r\n", "GET /nope HTTP/1.1\r\n\r\n",
                       "PUT /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"};
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
        int n = parse(m[i]);
        cr_assert_neq(n, HTTP_AGAIN, "%s", m[i]);
        cr_assert_lt(n, 0);
        cr_assert_geq(R.status, 400);
    }
    /* and an incomplete head is HTTP_AGAIN with no status */
    cr_assert_eq(parse("GET /metrics HTTP/1.1\r\n"), HTTP_AGAIN);
    cr_assert_eq(R.status, 0);
}

static void refused(const char *method, const char *target, const char *headers, int status)
{
    int n = req(method, target, headers);
    /* negative, and never HTTP_AGAIN: the caller would wait for more and never answer */
    cr_assert(n < 0 && n != HTTP_AGAIN, "%s %s: %d, want a refusal", method, target, n);
    cr_assert_eq(R.status, status, "%s %s: status %d, want %d (%s)", method, target, R.status,
                 status, R.error ? R.error : "");
    cr_assert_not_null(R.error);
    cr_assert_gt(strlen(R.error), 0);
}

/* --- routes and methods ------------------------------------------------------------------------
 */

static const struct {
    const char *target;
    enum admin_route route;
    const char *allow;
} routes[] = {
    {"/metrics", AR_METRICS, "GET, HEAD"},
    {"/healthz", AR_HEALTHZ, "GET, HEAD"},
    {"/readyz", AR_READYZ, "GET, HEAD"},
    {"/api/v1/devices", AR_DEVICES, "GET, HEAD"},
    {"/api/v1/devices/" G, AR_DEVICE, "GET, HEAD, DELETE"},
    {"/api/v1/devices/" G "/hexdump", AR_DEVICE_HEXDUMP, "PUT, DELETE"},
    {"/api/v1/events", AR_EVENTS, "GET, HEAD"},
};

static const struct {
    const char *name;
    enum admin_method m;
} methods[] = {{"GET", AM_GET},   {"HEAD", AM_HEAD},     {"DELETE", AM_DELETE}, {"PUT", AM_PUT},
               {"POST", AM_POST}, {"OPTIONS", AM_OTHER}, {"PATCH", AM_OTHER},   {"TRACE", AM_OTHER},
               {"get", AM_OTHER}, {"Delete", AM_OTHER},  {"CONNECT", AM_OTHER}, {"GETX", AM_OTHER}};

/* The Allow list, as a set of methods. */
static bool allow_lists(const char *allow, const char *method)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "%s", allow);
    char *save = NULL;
    for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save))
        if (!strcmp(t, method))
            return true;
    return false;
}

Test(route, every_route_and_method)
{
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        cr_assert_str_eq(admin_route_allow(routes[i].route), routes[i].allow);
        for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]); k++) {
            bool allowed = allow_lists(routes[i].allow, methods[k].name);
            int n = req(methods[k].name, routes[i].target, NULL);
            cr_assert_eq(R.method, methods[k].m, "%s parsed as %d", methods[k].name, R.method);
            cr_assert_eq(R.route, routes[i].route, "%s %s: route %d", methods[k].name,
                         routes[i].target, R.route);
            cr_assert_eq(admin_method_allowed(routes[i].route, methods[k].m), allowed);
            if (allowed) {
                cr_assert_gt(n, 0, "%s %s: %d %d %s", methods[k].name, routes[i].target, n,
                             R.status, R.error);
            } else {
                cr_assert(n < 0 && n != HTTP_AGAIN, "%s %s should be refused: %d", methods[k].name,
                          routes[i].target, n);
                cr_assert_eq(R.status, 405, "%s %s: %d", methods[k].name, routes[i].target,
                             R.status);
                /* the Allow header's list is the route's, and it does not list this method */
                cr_assert(!allow_lists(admin_route_allow(R.route), methods[k].name));
            }
        }
    }
}

Test(route, the_parsed_values)
{
    ok("GET", "/api/v1/devices/" G, NULL, AR_DEVICE);
    char s[GUID_STRLEN + 1];
    guid_format(&R.guid, s);
    cr_assert_str_eq(s, G);
    cr_assert(R.keep_alive);
    cr_assert(!R.has_token);
    cr_assert_eq(R.last_event_id, 0);
    /* the same GUID without dashes, in upper case, and percent-encoded */
    ok("DELETE", "/api/v1/devices/" GB, NULL, AR_DEVICE);
    guid_format(&R.guid, s);
    cr_assert_str_eq(s, G);
    ok("GET", "/api/v1/devices/0AA8F7C2-1111-4E2F-9A3B-5C6D7E8F9A0B", NULL, AR_DEVICE);
    guid_format(&R.guid, s);
    cr_assert_str_eq(s, G);
    ok("GET", "/api/v1/devices/%30aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b", NULL, AR_DEVICE);
    guid_format(&R.guid, s);
    cr_assert_str_eq(s, G);
    ok("PUT", "/api/v1/devices/" G "/hexdump", NULL, AR_DEVICE_HEXDUMP);
    guid_format(&R.guid, s);
    cr_assert_str_eq(s, G);
    /* HTTP/1.0 and Connection: close end the connection after the answer */
    cr_assert_gt(parse("GET /healthz HTTP/1.0\r\n\r\n"), 0);
    cr_assert(!R.keep_alive);
    ok("GET", "/healthz", "Connection: close\r\n", AR_HEALTHZ);
    cr_assert(!R.keep_alive);
}

Test(route, unknown_paths_are_404)
{
    const char *bad[] = {"/",
                         "/metrics/",
                         "//metrics",
                         "/METRICS",
                         "/m%65trics",
                         "/metrics.txt",
                         "/api",
                         "/api/v1",
                         "/api/v1/",
                         "/api/v2/devices",
                         "/api/v1/devices/",
                         "/api/v1/devicesX",
                         "/api/v1/events/",
                         "/api/v1/events/1",
                         "/healthz/../metrics",
                         "/readyz%00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        refused("GET", bad[i], NULL, 404);
    /* not origin-form */
    refused("GET", "*", NULL, 400);
    refused("GET", "http://127.0.0.1/metrics", NULL, 400);
}

Test(route, bad_guids_are_404)
{
    const char *bad[] = {
        "/api/v1/devices/x",
        "/api/v1/devices/0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0",   /* a digit short */
        "/api/v1/devices/0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b0", /* a digit long */
        "/api/v1/devices/0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0g",  /* not hex */
        "/api/v1/devices/0aa8f7c2_1111_4e2f_9a3b_5c6d7e8f9a0b",  /* not dashes */
        "/api/v1/devices/0aa8f7c21111-4e2f-9a3b-5c6d7e8f9a0b-",  /* dashes moved */
        "/api/v1/devices/" G "%00",                              /* a decoded NUL */
        "/api/v1/devices/" G "%",                                /* truncated escapes */
        "/api/v1/devices/" G "%4",
        "/api/v1/devices/%zz" G,
        "/api/v1/devices/ " G,
        "/api/v1/devices/" G "/",
        "/api/v1/devices/" G "/hexdump/",
        "/api/v1/devices/" G "/HEXDUMP",
        "/api/v1/devices/" G "/hexdum",
        "/api/v1/devices/" G "/hexdumps",
        "/api/v1/devices/" G "/channels",
        "/api/v1/devices//hexdump",
        "/api/v1/devices/" GB "00" /* 34 hex digits */,
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int n = req("GET", bad[i], NULL);
        /* a raw space or bare % may already be a malformed request line (400) */
        cr_assert(n < 0 && n != HTTP_AGAIN, "%s: %d", bad[i], n);
        cr_assert(R.status == 404 || (R.status == 400 && strpbrk(bad[i], " ")), "%s: %d", bad[i],
                  R.status);
    }
    /* a query string on a device path is refused, not ignored */
    refused("GET", "/api/v1/devices/" G "?x=1", NULL, 400);
    ok("GET", "/api/v1/devices/" G "?", NULL, AR_DEVICE); /* an empty one is none */
}

Test(route, query_strings_on_other_routes)
{
    /* /metrics and /readyz ignore query strings (Prometheus may add some); the others refuse */
    ok("GET", "/metrics?name[]=x", NULL, AR_METRICS);
    ok("GET", "/readyz?verbose", NULL, AR_READYZ);
    refused("GET", "/healthz?x=1", NULL, 400);
    refused("GET", "/api/v1/events?since=4", NULL, 400);
}

/* --- the device list's query -------------------------------------------------------------------
 */

Test(list, defaults_and_each_parameter)
{
    ok("GET", "/api/v1/devices", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, ADMIN_LIST_DEFAULT);
    cr_assert(!R.list.has_after && !R.list.has_peer);
    cr_assert_eq(R.list.port, 0);
    cr_assert_str_eq(R.list.hostname, "");
    ok("GET", "/api/v1/devices?", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, ADMIN_LIST_DEFAULT);
    ok("GET", "/api/v1/devices?limit=3&after=" G "&hostname=amt-*&port=16992&peer=127.0.0.1", NULL,
       AR_DEVICES);
    cr_assert_eq(R.list.limit, 3);
    cr_assert(R.list.has_after);
    char s[GUID_STRLEN + 1];
    guid_format(&R.list.after, s);
    cr_assert_str_eq(s, G);
    cr_assert_str_eq(R.list.hostname, "amt-*");
    cr_assert_eq(R.list.port, 16992);
    cr_assert(R.list.has_peer);
    char a[NETADDR_STRLEN];
    netaddr_format_host(&R.list.peer, a, sizeof(a));
    cr_assert_str_eq(a, "127.0.0.1");
    cr_assert_eq(netaddr_port(&R.list.peer), 0);
    ok("GET", "/api/v1/devices?peer=127.0.0.1:4000", NULL, AR_DEVICES);
    cr_assert_eq(netaddr_port(&R.list.peer), 4000);
    ok("GET", "/api/v1/devices?peer=%3A%3A1", NULL, AR_DEVICES);
    netaddr_format_host(&R.list.peer, a, sizeof(a));
    cr_assert_str_eq(a, "::1");
    ok("GET", "/api/v1/devices?peer=[::1]:5", NULL, AR_DEVICES);
    cr_assert_eq(netaddr_port(&R.list.peer), 5);
    /* empty pairs are skipped */
    ok("GET", "/api/v1/devices?&&limit=7&", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, 7);
}

Test(list, limit_bounds)
{
    ok("GET", "/api/v1/devices?limit=1", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, 1);
    ok("GET", "/api/v1/devices?limit=1000", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, ADMIN_LIST_MAX);
    ok("GET", "/api/v1/devices?limit=0001000", NULL, AR_DEVICES);
    cr_assert_eq(R.list.limit, 1000);
    const char *bad[] = {"0",          "1001", "-1",
                         "+1",         "1e3",  "10 ",
                         "0x10",       "",     "99999999999999999999999999",
                         "4294967297", "1.5",  "%31%30%30%31"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char t[200];
        snprintf(t, sizeof(t), "/api/v1/devices?limit=%s", bad[i]);
        if (strchr(bad[i], ' ')) /* a raw space ends the target: the request line is malformed */
            continue;
        refused("GET", t, NULL, 400);
    }
    refused("GET", "/api/v1/devices?limit", NULL, 400);
    refused("GET", "/api/v1/devices?port=0", NULL, 400);
    refused("GET", "/api/v1/devices?port=65536", NULL, 400);
    ok("GET", "/api/v1/devices?port=65535", NULL, AR_DEVICES);
    cr_assert_eq(R.list.port, 65535);
    refused("GET", "/api/v1/devices?port=http", NULL, 400);
}

Test(list, unknown_parameters)
{
    const char *bad[] = {"limits=3",   "Limit=3",     "offset=10", "page=2", ("guid=" G),
                         "limit=3&x=", "x=1&limit=3", "=3",        "%00=1",  "hostname"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char t[200];
        snprintf(t, sizeof(t), "/api/v1/devices?%s", bad[i]);
        refused("GET", t, NULL, 400);
    }
    /* a key longer than any known one */
    char t[400];
    snprintf(t, sizeof(t), "/api/v1/devices?%0200d=1", 0);
    refused("GET", t, NULL, 400);
    refused("GET", "/api/v1/devices?after=nope", NULL, 400);
    refused("GET", "/api/v1/devices?after=", NULL, 400);
    refused("GET", "/api/v1/devices?hostname=", NULL, 400);
    refused("GET", "/api/v1/devices?peer=amt-1.example", NULL, 400);
    refused("GET", "/api/v1/devices?peer=", NULL, 400);
    refused("GET", "/api/v1/devices?peer=300.0.0.1", NULL, 400);
    /* a method the list does not allow is 405 once the query is valid */
    refused("DELETE", "/api/v1/devices?limit=3", NULL, 405);
}

Test(list, percent_encoding)
{
    ok("GET", "/api/v1/devices?hostname=a%2Ab", NULL, AR_DEVICES);
    cr_assert_str_eq(R.list.hostname, "a*b");
    ok("GET", "/api/v1/devices?hostname=a%2ab", NULL, AR_DEVICES); /* lower-case hex */
    cr_assert_str_eq(R.list.hostname, "a*b");
    ok("GET", "/api/v1/devices?hostname=lab+pc", NULL, AR_DEVICES); /* '+' is a space */
    cr_assert_str_eq(R.list.hostname, "lab pc");
    ok("GET", "/api/v1/devices?hostname=a%2Bb", NULL, AR_DEVICES); /* an encoded '+' is '+' */
    cr_assert_str_eq(R.list.hostname, "a+b");
    ok("GET", "/api/v1/devices?hostname=%26%3D", NULL, AR_DEVICES); /* '&' and '=' in a value */
    cr_assert_str_eq(R.list.hostname, "&=");
    ok("GET", "/api/v1/devices?hostname=a%25", NULL, AR_DEVICES); /* '%' itself */
    cr_assert_str_eq(R.list.hostname, "a%");
    ok("GET", "/api/v1/devices?%6cimit=9", NULL, AR_DEVICES); /* an encoded key */
    cr_assert_eq(R.list.limit, 9);
    ok("GET", "/api/v1/devices?hostname=%C3%A9*", NULL, AR_DEVICES); /* UTF-8 bytes pass */
    cr_assert_str_eq(R.list.hostname, "\xc3\xa9*");
    const char *bad[] = {"%00", "a%00b", "%0a", "%0D%0A", "%1f",  "%7f", "%",  "%4",
                         "a%4", "%zz",   "%4g", "%g4",    "%%41", "%+1", "%-1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char t[200];
        snprintf(t, sizeof(t), "/api/v1/devices?hostname=%s", bad[i]);
        int n = req("GET", t, NULL);
        cr_assert(n < 0 && n != HTTP_AGAIN, "%s accepted as '%s' (%d)", bad[i], R.list.hostname, n);
        cr_assert_eq(R.status, 400, "%s: %d", bad[i], R.status);
    }
    /* a truncated escape at the very end of the target, in the key too */
    refused("GET", "/api/v1/devices?limit=3%", NULL, 400);
    refused("GET", "/api/v1/devices?limit=3%3", NULL, 400);
    refused("GET", "/api/v1/devices?lim%", NULL, 400);
    /* longest hostname glob kept whole; one byte more is refused */
    char t[1024], h[ADMIN_HOSTGLOB_MAX + 2];
    memset(h, 'h', sizeof(h));
    h[ADMIN_HOSTGLOB_MAX] = 0;
    snprintf(t, sizeof(t), "/api/v1/devices?hostname=%s", h);
    ok("GET", t, NULL, AR_DEVICES);
    cr_assert_eq(strlen(R.list.hostname), ADMIN_HOSTGLOB_MAX);
    h[ADMIN_HOSTGLOB_MAX] = 'h';
    h[ADMIN_HOSTGLOB_MAX + 1] = 0;
    snprintf(t, sizeof(t), "/api/v1/devices?hostname=%s", h);
    refused("GET", t, NULL, 400);
}

Test(list, hostname_glob)
{
    cr_assert(admin_hostname_match("amt-*", "amt-12"));
    cr_assert(admin_hostname_match("AMT-?", "amt-1"));
    cr_assert(!admin_hostname_match("amt-?", "amt-12"));
    cr_assert(!admin_hostname_match("amt-1", "amt-12"));
    cr_assert(admin_hostname_match("*", ""));
}

/* --- the bearer token --------------------------------------------------------------------------
 */

static void token_is(const char *header, const char *want)
{
    char h[2048];
    snprintf(h, sizeof(h), "Authorization: %s\r\n", header);
    ok("GET", "/api/v1/devices", h, AR_DEVICES);
    if (!want) {
        cr_assert(!R.has_token, "'%s' gave token '%s'", header, R.token);
        cr_assert_eq(R.token_len, 0);
        cr_assert_eq(R.token[0], 0);
        return;
    }
    cr_assert(R.has_token, "'%s' gave no token", header);
    cr_assert_str_eq(R.token, want);
    cr_assert_eq(R.token_len, strlen(want));
}

Test(bearer, parsing)
{
    token_is("Bearer abc", "abc");
    token_is("bearer abc", "abc");
    token_is("BEARER abc", "abc");
    token_is("Bearer    abc", "abc");
    token_is("Bearer abc   ", "abc"); /* trailing whitespace is not part of the value */
    token_is("Bearer a-b.c_d~e+f/g==", "a-b.c_d~e+f/g==");
    token_is("Bearer Zm9v4VJ8mA3d-kq2b_Qh7pWnN0xYcT1sLrE6uI5oG9a", /* mpsd-passwd's form */
             "Zm9v4VJ8mA3d-kq2b_Qh7pWnN0xYcT1sLrE6uI5oG9a");
    /* other schemes count as no token (the 401 then says Bearer) */
    token_is("Basic YWRtaW46cGFzcw==", NULL);
    token_is("Digest username=\"a\"", NULL);
    token_is("Token abc", NULL);
    token_is("Bearerabc", NULL);
    token_is("Bearer", NULL);
    token_is("Bearer ", NULL);
    token_is("BearerX abc", NULL);
    token_is("Bearer\tabc", NULL);
    /* characters outside token68 */
    token_is("Bearer abc def", NULL);
    token_is("Bearer abc,def", NULL);
    token_is("Bearer \"abc\"", NULL);
    token_is("Bearer abc;", NULL);
    token_is("Bearer a\tb", NULL);
    token_is("Bearer ab\xc3\xa9", NULL);
    token_is("Bearer abc%20", NULL);
    token_is("Bearer a:b", NULL);
    /* the longest token kept; one character more is no token */
    char h[ADMIN_TOKEN_MAX + 16], t[ADMIN_TOKEN_MAX + 2];
    memset(t, 'k', sizeof(t));
    t[ADMIN_TOKEN_MAX] = 0;
    snprintf(h, sizeof(h), "Bearer %s", t);
    token_is(h, t);
    t[ADMIN_TOKEN_MAX] = 'k';
    t[ADMIN_TOKEN_MAX + 1] = 0;
    snprintf(h, sizeof(h), "Bearer %s", t);
    token_is(h, NULL);
    /* a second Authorization header: only the first counts */
    ok("GET", "/api/v1/devices", "Authorization: Bearer one\r\nAuthorization: Bearer two\r\n",
       AR_DEVICES);
    cr_assert_str_eq(R.token, "one");
}

Test(bearer, a_wrong_request_leaves_no_token_behind)
{
    /* a refused request still had its token parsed: the caller must wipe r->token (it does) */
    int n = req("DELETE", "/api/v1/devices", "Authorization: Bearer secret\r\n");
    cr_assert(n < 0 && n != HTTP_AGAIN);
    cr_assert_eq(R.status, 405);
    /* a new parse starts from a clean request */
    ok("GET", "/healthz", NULL, AR_HEALTHZ);
    cr_assert(!R.has_token);
    cr_assert_eq(R.token[0], 0);
}

/* --- bodies, sizes, framing --------------------------------------------------------------------
 */

Test(framing, bodies_are_413)
{
    refused("POST", "/api/v1/devices", "Content-Length: 5\r\n", 413);
    cr_assert(R.has_body);
    cr_assert(!R.keep_alive);
    refused("PUT", "/api/v1/devices/" G "/hexdump", "Transfer-Encoding: chunked\r\n", 413);
    cr_assert(R.has_body);
    cr_assert(!R.keep_alive);
    refused("GET", "/metrics", "Content-Length: 1\r\n", 413);
    /* even on a path that does not exist: the body is not read either way */
    refused("GET", "/nope", "Content-Length: 100000000\r\n", 413);
    /* Content-Length: 0 is no body */
    ok("PUT", "/api/v1/devices/" G "/hexdump", "Content-Length: 0\r\n", AR_DEVICE_HEXDUMP);
    cr_assert(!R.has_body);
    cr_assert(R.keep_alive);
    /* smuggling shapes are 400 from the HTTP parser */
    refused("GET", "/metrics", "Content-Length: 1\r\nContent-Length: 2\r\n", 400);
    refused("GET", "/metrics", "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n", 501);
    refused("GET", "/metrics", "Transfer-Encoding: gzip\r\n", 501);
    refused("GET", "/metrics", "Content-Length: -1\r\n", 400);
}

Test(framing, oversized_heads_are_431)
{
    /* a head over max_head: complete or not, it is 431 */
    size_t big = 9000;
    char *h = malloc(big + 64);
    memcpy(h, "X-Pad: ", 7);
    size_t k = 7;
    while (k < 3000)
        h[k++] = 'p';
    memcpy(h + k, "\r\nX-Pad2: ", 10);
    k += 10;
    while (k < 6000)
        h[k++] = 'q';
    memcpy(h + k, "\r\nX-Pad3: ", 10);
    k += 10;
    while (k < big)
        h[k++] = 'r';
    memcpy(h + k, "\r\n", 3);
    refused("GET", "/metrics", h, 431);
    free(h);
    /* incomplete but already over the limit */
    char *p = malloc(10000);
    memcpy(p, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(p + 26, 'x', 10000 - 26);
    int n = parse_n(p, 10000);
    cr_assert(n < 0 && n != HTTP_AGAIN, "%d", n);
    cr_assert_eq(R.status, 431);
    free(p);
    /* too many header lines */
    char many[4096] = "";
    for (int i = 0; i < 80; i++) {
        char l[32];
        snprintf(l, sizeof(l), "X-%d: v\r\n", i);
        strcat(many, l);
    }
    refused("GET", "/metrics", many, 431);
    /* a request line too long: 414 */
    char t[6000] = "/api/v1/devices?hostname=";
    memset(t + strlen(t), 'a', 5000);
    t[5025] = 0;
    refused("GET", t, NULL, 414);
}

Test(framing, incomplete_and_malformed)
{
    const char *m = "GET /api/v1/devices/" G " HTTP/1.1\r\nAuthorization: Bearer x\r\n\r\n";
    for (size_t i = 0; i < strlen(m); i++)
        cr_assert_eq(parse_n(m, i), HTTP_AGAIN, "prefix %zu", i);
    cr_assert_eq(parse_n(m, strlen(m)), (int)strlen(m));
    /* pipelined: only the first head is taken */
    char two[512];
    snprintf(two, sizeof(two), "%sGET /metrics HTTP/1.1\r\n\r\n", m);
    cr_assert_eq(parse(two), (int)strlen(m));
    cr_assert_eq(R.route, AR_DEVICE);
    cr_assert(refusal(parse("GET /metrics HTTP/2.0\r\n\r\n")));
    cr_assert_eq(R.status, 505);
    cr_assert(refusal(parse("GET /metrics\r\n\r\n")));
    cr_assert_eq(R.status, 400);
    cr_assert(refusal(parse("GET  /metrics HTTP/1.1\r\n\r\n")));
    cr_assert_eq(R.status, 400);
    cr_assert(refusal(parse("GET /metrics HTTP/1.1\r\nBad Header: x\r\n\r\n")));
    cr_assert_eq(R.status, 400);
    cr_assert(refusal(parse("GET /metrics HTTP/1.1\r\nX: a\r\n folded\r\n\r\n")));
    cr_assert_eq(R.status, 400);
    static const char nul[] = "GET /met\0rics HTTP/1.1\r\n\r\n";
    cr_assert(refusal(parse_n(nul, sizeof(nul) - 1)));
    cr_assert(R.status == 400, "%d", R.status);
}

/* --- Last-Event-ID -----------------------------------------------------------------------------
 */

static uint64_t leid(const char *v)
{
    char h[256];
    snprintf(h, sizeof(h), "Last-Event-ID: %s\r\n", v);
    ok("GET", "/api/v1/events", h, AR_EVENTS);
    return R.last_event_id;
}

Test(events, last_event_id)
{
    ok("GET", "/api/v1/events", NULL, AR_EVENTS);
    cr_assert_eq(R.last_event_id, 0);
    cr_assert_eq(leid("1"), 1);
    cr_assert_eq(leid("42"), 42);
    cr_assert_eq(leid("  17  "), 17);
    cr_assert_eq(leid("0"), 0);
    cr_assert_eq(leid("0000000000000000007"), 7);
    cr_assert_eq(leid("9999999999999999999"), 9999999999999999999ull); /* 19 digits fit */
    /* anything else is ignored (a fresh stream), never wrapped around */
    cr_assert_eq(leid("18446744073709551616"), 0); /* 2^64 */
    cr_assert_eq(leid("99999999999999999999"), 0);
    cr_assert_eq(leid("-1"), 0);
    cr_assert_eq(leid("1x"), 0);
    cr_assert_eq(leid("0x10"), 0);
    cr_assert_eq(leid("1 2"), 0);
    cr_assert_eq(leid(""), 0);
    cr_assert_eq(leid("+5"), 0);
}
