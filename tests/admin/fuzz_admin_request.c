/* libFuzzer target: src/admin/route.c's admin_parse_request on arbitrary bytes, and the JSON the
 * admin surface writes (api_device_json, api_device_list, api_event_frame) for values derived
 * from the same input. Invariants: a parsed head is a prefix of the input that parses alone to the
 * same length, and names a route that allows its method, with a token68 bearer token and bounded
 * list values; a refusal carries one of the documented statuses and a reason; every JSON body
 * parses back with its strings intact (as jansson wrote them) and an SSE frame is exactly
 * "id: N\nevent: K\ndata: <one line>\n\n". */
#include "api.h"
#include "route.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool token68(const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = t[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("-._~+/=", c)))
            return false;
    }
    return n > 0;
}

static void check_request(const uint8_t *p, size_t n)
{
    http_limits lim;
    http_limits_default(&lim);
    struct admin_request r;
    int len = admin_parse_request(p, n, &lim, &r);
    if (len == HTTP_AGAIN) {
        CHECK(n <= lim.max_head && r.status == 0);
        return;
    }
    if (len < 0) {
        static const int ok[] = {400, 404, 405, 413, 414, 431, 501, 505};
        bool known = false;
        for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
            known |= r.status == ok[i];
        CHECK(known);
        CHECK(r.error && r.error[0]);
        if (r.status == 405)
            CHECK(r.route != AR_NOT_FOUND && !admin_method_allowed(r.route, r.method));
        if (r.status == 413)
            CHECK(r.has_body && !r.keep_alive);
        return;
    }
    CHECK((size_t)len <= n && (size_t)len <= lim.max_head);
    CHECK(r.route != AR_NOT_FOUND);
    CHECK(admin_method_allowed(r.route, r.method));
    CHECK(r.method != AM_OTHER);
    CHECK(!r.has_body);
    CHECK(r.list.limit >= 1 && r.list.limit <= ADMIN_LIST_MAX);
    CHECK(strlen(r.list.hostname) <= ADMIN_HOSTGLOB_MAX);
    for (const char *h = r.list.hostname; *h; h++)
        CHECK((unsigned char)*h >= 0x20 && *h != 0x7f);
    if (r.route != AR_DEVICES)
        CHECK(r.list.limit == ADMIN_LIST_DEFAULT && !r.list.has_after && !r.list.port &&
              !r.list.has_peer && !r.list.hostname[0]);
    if (r.has_token) {
        CHECK(r.token_len > 0 && r.token_len <= ADMIN_TOKEN_MAX);
        CHECK(strlen(r.token) == r.token_len);
        CHECK(token68(r.token, r.token_len));
    } else {
        CHECK(r.token_len == 0 && r.token[0] == 0);
    }
    /* the head alone parses the same */
    struct admin_request r2;
    CHECK(admin_parse_request(p, (size_t)len, &lim, &r2) == len);
    CHECK(r2.route == r.route && r2.method == r.method && r2.has_token == r.has_token);
    CHECK(guid_eq(&r2.guid, &r.guid) && r2.last_event_id == r.last_event_id);
    if (len > 1)
        CHECK(admin_parse_request(p, (size_t)len - 1, &lim, &r2) == HTTP_AGAIN);
}

/* --- values from the input ------------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t n, i;
};

static uint64_t take(struct rd *r, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned k = 0; k < bytes; k++)
        v = v << 8 | (r->i < r->n ? r->p[r->i++] : 0);
    return v;
}

/* A NUL-terminated string of arbitrary bytes (any but NUL). */
static size_t take_str(struct rd *r, char *out, size_t cap)
{
    size_t len = (size_t)take(r, 1) % cap, k = 0;
    for (; k < len; k++) {
        uint8_t c = (uint8_t)take(r, 1);
        out[k] = (char)(c ? c : 'z');
    }
    out[k] = 0;
    return k;
}

/* jansson refuses strings that are not UTF-8; api.c then writes them with '?' for every byte
 * outside printable ASCII. Either way the string that comes back is one of the two. */
static void check_str(json_t *o, const char *key, const char *want)
{
    json_t *v = json_object_get(o, key);
    CHECK(json_is_string(v));
    const char *got = json_string_value(v);
    if (strcmp(got, want) == 0)
        return;
    CHECK(strlen(got) == strlen(want));
    for (size_t i = 0; want[i]; i++) {
        unsigned char c = (unsigned char)want[i];
        CHECK(got[i] == ((c >= 0x20 && c < 0x7f) ? want[i] : '?'));
    }
}

static json_t *reparse(const struct abuf *b)
{
    CHECK(!b->failed && b->len > 1 && b->p[b->len - 1] == '\n');
    CHECK(memchr(b->p, '\n', b->len) == b->p + b->len - 1); /* one line */
    json_error_t err;
    json_t *o = json_loadb(b->p, b->len, 0, &err);
    CHECK(o);
    return o;
}

static void check_device(const struct dev_info *d, json_t *o)
{
    CHECK(json_is_object(o));
    static const char *const keys[] = {"guid",
                                       "hostname",
                                       "ports",
                                       "peer",
                                       "connected_since",
                                       "connected_since_unix",
                                       "tls",
                                       "channels",
                                       "bytes_from_device",
                                       "bytes_to_device",
                                       "hexdump",
                                       "worker"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        CHECK(json_object_get(o, keys[i]));
    char g[GUID_STRLEN + 1];
    guid_format(&d->guid, g);
    check_str(o, "guid", g);
    if (d->hostname[0])
        check_str(o, "hostname", d->hostname);
    else
        CHECK(json_is_null(json_object_get(o, "hostname")));
    CHECK(json_array_size(json_object_get(o, "ports")) == d->nports);
    CHECK(json_integer_value(json_object_get(o, "connected_since_unix")) == d->connected_since);
    CHECK(json_is_string(json_object_get(o, "connected_since")) ||
          json_is_null(json_object_get(o, "connected_since")));
    CHECK(json_is_object(json_object_get(o, "tls")) == (d->tls_version != 0));
    CHECK(json_integer_value(json_object_get(o, "channels")) == (json_int_t)d->channels);
    CHECK(json_is_boolean(json_object_get(o, "hexdump")));
}

static void check_api(const uint8_t *p, size_t n)
{
    struct rd r = {p, n, 0};
    struct dev_info d[2];
    memset(d, 0, sizeof(d));
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < 16; i++)
            d[k].guid.b[i] = (uint8_t)take(&r, 1);
        take_str(&r, d[k].hostname, sizeof(d[k].hostname));
        d[k].nports = (unsigned)take(&r, 1) % (DEVINFO_PORTS + 1);
        for (unsigned i = 0; i < d[k].nports; i++)
            d[k].ports[i] = (uint32_t)take(&r, 2);
        if (netaddr_from_host("127.0.0.1", 9, (uint16_t)take(&r, 2), &d[k].peer) != 0)
            __builtin_trap();
        d[k].connected_since = (int64_t)take(&r, 8);
        d[k].tls_version = (uint16_t)take(&r, 2);
        d[k].tls_suite = (uint16_t)take(&r, 2);
        d[k].tls_resumed = take(&r, 1) & 1;
        d[k].channels = (unsigned)take(&r, 4);
        d[k].bytes_from_device = take(&r, 8) >> 1; /* JSON integers are signed 64-bit */
        d[k].bytes_to_device = take(&r, 8) >> 1;
        d[k].hexdump = take(&r, 1) & 1;
        d[k].worker = (uint32_t)take(&r, 1);
    }
    struct abuf b;
    abuf_init(&b, 0);
    CHECK(api_device_one(&d[0], &b));
    json_t *o = reparse(&b);
    check_device(&d[0], o);
    json_decref(o);
    abuf_reset(&b);
    bool more = take(&r, 1) & 1;
    CHECK(api_device_list(d, 2, more, (size_t)take(&r, 4), &b));
    o = reparse(&b);
    json_t *arr = json_object_get(o, "devices");
    CHECK(json_array_size(arr) == 2);
    check_device(&d[0], json_array_get(arr, 0));
    check_device(&d[1], json_array_get(arr, 1));
    CHECK(json_integer_value(json_object_get(o, "count")) == 2);
    CHECK(json_is_string(json_object_get(o, "next")) == more);
    json_decref(o);

    /* an event */
    static const char *const reasons[] = {NULL, "admin", "connection_lost", "keepalive",
                                          "a \"quoted\"\nreason\\"};
    struct admin_event e;
    memset(&e, 0, sizeof(e));
    e.ts_us = take(&r, 8);
    e.kind = (uint8_t)(take(&r, 1) % (EV__COUNT + 1));
    e.proto = (uint8_t)take(&r, 1) % 6;
    e.port = (uint16_t)take(&r, 2);
    for (int i = 0; i < 16; i++)
        e.guid.b[i] = (uint8_t)take(&r, 1);
    if (netaddr_from_host("::1", 3, (uint16_t)take(&r, 2), &e.peer) != 0)
        __builtin_trap();
    e.reason = reasons[take(&r, 1) % 5];
    take_str(&r, e.host, sizeof(e.host));
    take_str(&r, e.user, sizeof(e.user));
    e.bytes_up = take(&r, 8) >> 1;
    e.bytes_down = take(&r, 8) >> 1;
    uint64_t id = take(&r, 8);
    abuf_reset(&b);
    CHECK(api_event_frame(id, &e, &b));
    CHECK(!b.failed);
    char want[96];
    int wl = snprintf(want, sizeof(want), "id: %llu\nevent: %s\ndata: ", (unsigned long long)id,
                      admin_event_kind_name((enum admin_event_kind)e.kind));
    CHECK(b.len > (size_t)wl + 2 && memcmp(b.p, want, (size_t)wl) == 0);
    CHECK(b.p[b.len - 1] == '\n' && b.p[b.len - 2] == '\n');
    const char *data = b.p + wl;
    size_t dlen = b.len - (size_t)wl - 2;
    CHECK(!memchr(data, '\n', dlen) && !memchr(data, '\r', dlen) && !memchr(data, 0, dlen));
    json_error_t err;
    o = json_loadb(data, dlen, 0, &err);
    CHECK(o);
    char g[GUID_STRLEN + 1];
    guid_format(&e.guid, g);
    check_str(o, "guid", g);
    CHECK(json_is_string(json_object_get(o, "time")));
    if (e.host[0])
        check_str(o, "hostname", e.host);
    if (e.reason)
        check_str(o, "reason", e.reason);
    if (e.kind == EV_CONSOLE_OPEN || e.kind == EV_CONSOLE_CLOSE) {
        CHECK(json_integer_value(json_object_get(o, "port")) == e.port);
        if (e.user[0])
            check_str(o, "user", e.user);
    }
    json_decref(o);
    abuf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_request(data, size);
    check_api(data, size);
    return 0;
}
