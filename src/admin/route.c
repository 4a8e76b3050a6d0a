#include "route.h"
#include "http1_chars.h"

#include <fnmatch.h>
#include <string.h>
#include <strings.h>

static enum admin_method method_of(http_slice m)
{
    static const struct {
        const char *name;
        enum admin_method m;
    } t[] = {{"GET", AM_GET},
             {"HEAD", AM_HEAD},
             {"DELETE", AM_DELETE},
             {"PUT", AM_PUT},
             {"POST", AM_POST}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (m.len == strlen(t[i].name) && memcmp(m.p, t[i].name, m.len) == 0) /* case matters */
            return t[i].m;
    return AM_OTHER;
}

/* Percent-decodes s[0..n) into out (NUL-terminated, at most cap-1 bytes; '+' is a space in a
 * query). -1 for a bad escape, a decoded NUL or control byte, or too long. */
static int pct_decode(const char *s, size_t n, bool plus_space, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = http_hexval((uint8_t)s[i + 1]), l = http_hexval((uint8_t)s[i + 2]);
            if (h < 0 || l < 0)
                return -1;
            c = (unsigned char)(h * 16 + l);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (c < 0x20 || c == 0x7f)
            return -1;
        if (o + 1 >= cap)
            return -1;
        out[o++] = (char)c;
    }
    out[o] = 0;
    return (int)o;
}

/* What admin_parse_request returns for a refused request: negative, and never HTTP_AGAIN (-1),
 * which the caller reads as "incomplete, wait for more" (a refusal returned as -1 was never
 * answered: the client hung until request_timeout). */
#define ADMIN_REFUSED (-2)
_Static_assert(ADMIN_REFUSED != HTTP_AGAIN, "a refusal must not read as an incomplete head");

static int fail(struct admin_request *r, int status, const char *why)
{
    r->status = status;
    r->error = why;
    return ADMIN_REFUSED;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (!*s)
        return -1;
    unsigned long v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > max)
            return -1;
    }
    *out = (unsigned)v;
    return 0;
}

/* The query string of /api/v1/devices. Unknown parameters are an error (a typo must not silently
 * list everything). */
static int parse_list_query(const char *q, size_t n, struct admin_request *r)
{
    struct admin_list_query *L = &r->list;
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&')
            j++;
        const char *eq = memchr(q + i, '=', j - i);
        if (j > i) {
            if (!eq)
                return fail(r, 400, "query parameter without a value");
            char key[32], val[ADMIN_HOSTGLOB_MAX + 1];
            if (pct_decode(q + i, (size_t)(eq - (q + i)), true, key, sizeof(key)) < 0 ||
                pct_decode(eq + 1, (size_t)(q + j - eq - 1), true, val, sizeof(val)) < 0)
                return fail(r, 400, "bad percent-encoding or value too long in the query");
            if (!strcmp(key, "limit")) {
                if (parse_uint(val, ADMIN_LIST_MAX, &L->limit) || L->limit == 0)
                    return fail(r, 400, "limit must be 1..1000");
            } else if (!strcmp(key, "after")) {
                if (guid_parse_loose(val, strlen(val), &L->after) != 0)
                    return fail(r, 400, "after must be a device GUID (the next cursor)");
                L->has_after = true;
            } else if (!strcmp(key, "hostname")) {
                if (!*val)
                    return fail(r, 400, "hostname must not be empty");
                memcpy(L->hostname, val, strlen(val) + 1);
            } else if (!strcmp(key, "port")) {
                unsigned p;
                if (parse_uint(val, 65535, &p) || p == 0)
                    return fail(r, 400, "port must be 1..65535");
                L->port = (uint16_t)p;
            } else if (!strcmp(key, "peer")) {
                if (netaddr_parse(val, strlen(val), &L->peer) != 0 &&
                    netaddr_from_host(val, strlen(val), 0, &L->peer) != 0)
                    return fail(r, 400, "peer must be a numeric IP address (or address:port)");
                L->has_peer = true;
            } else {
                return fail(r, 400,
                            "unknown query parameter (limit, after, hostname, port, "
                            "peer)");
            }
        }
        i = j + 1;
    }
    return 0;
}

/* /api/v1/devices/<guid>[/hexdump] */
static int parse_device_path(const char *p, size_t n, struct admin_request *r)
{
    const char *slash = memchr(p, '/', n);
    size_t glen = slash ? (size_t)(slash - p) : n;
    char g[64];
    if (pct_decode(p, glen, false, g, sizeof(g)) < 0 || guid_parse_loose(g, strlen(g), &r->guid))
        return fail(r, 404, "no such resource: expected /api/v1/devices/<GUID>");
    if (!slash) {
        r->route = AR_DEVICE;
        return 0;
    }
    size_t rest = n - glen - 1;
    if (rest == 7 && memcmp(slash + 1, "hexdump", 7) == 0) {
        r->route = AR_DEVICE_HEXDUMP;
        return 0;
    }
    return fail(r, 404, "no such resource under /api/v1/devices/<GUID>");
}

static int route_target(http_slice t, struct admin_request *r)
{
    const char *p = t.p;
    size_t n = t.len;
    if (n == 0 || p[0] != '/')
        return fail(r, 400, "the target must be an origin-form path");
    const char *qm = memchr(p, '?', n);
    size_t plen = qm ? (size_t)(qm - p) : n;
    const char *q = qm ? qm + 1 : NULL;
    size_t qlen = qm ? n - plen - 1 : 0;
    static const char dev[] = "/api/v1/devices";
    struct {
        const char *path;
        enum admin_route route;
    } fixed[] = {{"/metrics", AR_METRICS},
                 {"/healthz", AR_HEALTHZ},
                 {"/readyz", AR_READYZ},
                 {dev, AR_DEVICES},
                 {"/api/v1/events", AR_EVENTS}};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        if (plen == strlen(fixed[i].path) && memcmp(p, fixed[i].path, plen) == 0) {
            r->route = fixed[i].route;
            if (r->route == AR_DEVICES)
                return parse_list_query(q, qlen, r);
            if (qlen && r->route != AR_METRICS && r->route != AR_READYZ)
                return fail(r, 400, "this resource takes no query parameters");
            return 0;
        }
    }
    if (plen > sizeof(dev) && memcmp(p, dev, sizeof(dev) - 1) == 0 && p[sizeof(dev) - 1] == '/') {
        if (qlen)
            return fail(r, 400, "this resource takes no query parameters");
        return parse_device_path(p + sizeof(dev), plen - sizeof(dev), r);
    }
    return fail(r, 404,
                "no such resource (see /api/v1/devices, /api/v1/events, /metrics, "
                "/healthz, /readyz)");
}

static void parse_bearer(const http_head *h, struct admin_request *r)
{
    const http_header *a = http_find_header(h, "Authorization");
    if (!a)
        return;
    http_slice v = a->value;
    if (v.len < 7 || strncasecmp(v.p, "Bearer ", 7) != 0)
        return; /* another scheme: as if no token (401 says Bearer) */
    const char *t = v.p + 7;
    size_t n = v.len - 7;
    while (n && *t == ' ')
        t++, n--;
    if (n == 0 || n > ADMIN_TOKEN_MAX)
        return;
    for (size_t i = 0; i < n; i++) { /* token68 (RFC 7235) */
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' || c == '='))
            return;
    }
    memcpy(r->token, t, n);
    r->token[n] = 0;
    r->token_len = n;
    r->has_token = true;
}

int admin_parse_request(const uint8_t *p, size_t n, const http_limits *lim, struct admin_request *r)
{
    memset(r, 0, sizeof(*r));
    r->list.limit = ADMIN_LIST_DEFAULT;
    http_head h;
    int len = http_parse_request(p, n, lim, &h);
    if (len == HTTP_AGAIN)
        return HTTP_AGAIN;
    if (len < 0)
        return fail(r, http_err_status(len), http_strerror(len));
    r->keep_alive = h.keep_alive;
    r->method = method_of(h.method);
    if (h.body != HTTP_BODY_NONE && !(h.body == HTTP_BODY_LENGTH && h.content_length == 0)) {
        r->has_body = true;
        r->keep_alive = false; /* the body is not read: the connection cannot go on */
        return fail(r, 413, "request bodies are not accepted here");
    }
    parse_bearer(&h, r);
    const http_header *le = http_find_header(&h, "Last-Event-ID");
    if (le && le->value.len > 0 && le->value.len < 20) {
        uint64_t v = 0;
        bool ok = true;
        for (size_t i = 0; i < le->value.len; i++) {
            char c = le->value.p[i];
            if (c < '0' || c > '9')
                ok = false;
            else
                v = v * 10 + (uint64_t)(c - '0');
        }
        if (ok)
            r->last_event_id = v;
    }
    if (route_target(h.target, r) != 0)
        return ADMIN_REFUSED;
    if (!admin_method_allowed(r->route, r->method))
        return fail(r, 405, "method not allowed on this resource");
    return len;
}

bool admin_method_allowed(enum admin_route route, enum admin_method m)
{
    switch (route) {
    case AR_DEVICE:
        return m == AM_GET || m == AM_HEAD || m == AM_DELETE;
    case AR_DEVICE_HEXDUMP:
        return m == AM_PUT || m == AM_DELETE;
    case AR_NOT_FOUND:
        return true;
    default:
        return m == AM_GET || m == AM_HEAD;
    }
}

const char *admin_route_allow(enum admin_route route)
{
    switch (route) {
    case AR_DEVICE:
        return "GET, HEAD, DELETE";
    case AR_DEVICE_HEXDUMP:
        return "PUT, DELETE";
    default:
        return "GET, HEAD";
    }
}

bool admin_hostname_match(const char *glob, const char *host)
{
    return fnmatch(glob, host, FNM_CASEFOLD) == 0;
}
