/* src/admin/api.c: the device API's and the event stream's JSON, parsed back with jansson: every
 * field present with its value, strings escaped (quotes, control bytes, bytes that are not UTF-8),
 * SSE frames of exactly one data line, times out of range written as null rather than garbage. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "tls.h"

#define G "0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b"

static json_t *parse_abuf(const struct abuf *b)
{
    cr_assert(!b->failed);
    cr_assert_gt(b->len, 1);
    cr_assert_eq(b->p[b->len - 1], '\n');
    cr_assert_eq(memchr(b->p, '\n', b->len), b->p + b->len - 1, "one line");
    json_error_t err;
    json_t *o = json_loadb(b->p, b->len, 0, &err);
    cr_assert_not_null(o, "%s: %.*s", err.text, (int)b->len, b->p);
    return o;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    cr_assert(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static void device(struct dev_info *d, const char *host)
{
    memset(d, 0, sizeof(*d));
    cr_assert_eq(guid_parse(G, GUID_STRLEN, &d->guid), 0);
    snprintf(d->hostname, sizeof(d->hostname), "%s", host);
    d->nports = 2;
    d->ports[0] = 16992;
    d->ports[1] = 16993;
    cr_assert_eq(netaddr_parse("127.0.0.1:40000", 15, &d->peer), 0);
    d->connected_since = 1700000000;
    d->tls_version = 0x0304;
    d->tls_suite = 0x1301;
    d->channels = 3;
    d->bytes_from_device = 1234;
    d->bytes_to_device = 5678;
    d->worker = 1;
}

Test(api, one_device)
{
    struct dev_info d;
    device(&d, "amt-7");
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(api_device_one(&d, &b));
    json_t *o = parse_abuf(&b);
    cr_assert_str_eq(str(o, "guid"), G);
    cr_assert_str_eq(str(o, "hostname"), "amt-7");
    cr_assert_str_eq(str(o, "peer"), "127.0.0.1:40000");
    cr_assert_str_eq(str(o, "connected_since"), "2023-11-14T22:13:20Z");
    cr_assert_eq(json_integer_value(json_object_get(o, "connected_since_unix")), 1700000000);
    json_t *ports = json_object_get(o, "ports");
    cr_assert_eq(json_array_size(ports), 2);
    cr_assert_eq(json_integer_value(json_array_get(ports, 1)), 16993);
    json_t *tls = json_object_get(o, "tls");
    cr_assert_str_eq(str(tls, "version"), "TLS 1.3");
    cr_assert_str_eq(str(tls, "suite"), tls_suite_name(0x1301));
    cr_assert(json_is_false(json_object_get(tls, "resumed")));
    cr_assert_eq(json_integer_value(json_object_get(o, "channels")), 3);
    cr_assert_eq(json_integer_value(json_object_get(o, "bytes_from_device")), 1234);
    cr_assert_eq(json_integer_value(json_object_get(o, "bytes_to_device")), 5678);
    cr_assert(json_is_false(json_object_get(o, "hexdump")));
    cr_assert_eq(json_integer_value(json_object_get(o, "worker")), 1);
    json_decref(o);
    /* plain APF (TLS offloaded) and no host name: nulls */
    d.tls_version = 0;
    d.hostname[0] = 0;
    abuf_reset(&b);
    cr_assert(api_device_one(&d, &b));
    o = parse_abuf(&b);
    cr_assert(json_is_null(json_object_get(o, "tls")));
    cr_assert(json_is_null(json_object_get(o, "hostname")));
    json_decref(o);
    abuf_free(&b);
}

Test(api, hostile_strings_are_escaped_not_dropped)
{
    struct dev_info d;
    /* what the JSON must carry safely: quotes, backslashes, a would-be second line */
    device(&d, "a\"b\\c</script>");
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(api_device_one(&d, &b));
    json_t *o = parse_abuf(&b);
    cr_assert_str_eq(str(o, "hostname"), "a\"b\\c</script>");
    json_decref(o);
    /* bytes that are not UTF-8: jansson refuses them as a string; the field must still be there
     * (each such byte as '?'), not silently missing */
    device(&d, "pc-\xff\xfe-\xc3");
    abuf_reset(&b);
    cr_assert(api_device_one(&d, &b));
    o = parse_abuf(&b);
    cr_assert_str_eq(str(o, "hostname"), "pc-?"
                                         "?-?");
    json_decref(o);
    /* valid UTF-8 stays as it is (written as \u escapes) */
    device(&d, "caf\xc3\xa9");
    abuf_reset(&b);
    cr_assert(api_device_one(&d, &b));
    cr_assert_not_null(memmem(b.p, b.len, "caf\\u00E9", 9), "%.*s", (int)b.len, b.p);
    o = parse_abuf(&b);
    cr_assert_str_eq(str(o, "hostname"), "caf\xc3\xa9");
    json_decref(o);
    abuf_free(&b);
}

Test(api, times_out_of_range)
{
    struct dev_info d;
    device(&d, "amt-1");
    d.connected_since = INT64_MAX; /* gmtime cannot represent it */
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(api_device_one(&d, &b));
    json_t *o = parse_abuf(&b);
    cr_assert(json_is_null(json_object_get(o, "connected_since")));
    cr_assert_eq(json_integer_value(json_object_get(o, "connected_since_unix")), INT64_MAX);
    json_decref(o);
    abuf_free(&b);
}

Test(api, list_and_cursor)
{
    struct dev_info v[3];
    for (int i = 0; i < 3; i++) {
        char h[16];
        snprintf(h, sizeof(h), "amt-%d", i);
        device(&v[i], h);
        v[i].guid.b[15] = (uint8_t)i;
    }
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(api_device_list(v, 3, true, 10, &b));
    json_t *o = parse_abuf(&b);
    cr_assert_eq(json_array_size(json_object_get(o, "devices")), 3);
    cr_assert_eq(json_integer_value(json_object_get(o, "count")), 3);
    cr_assert_eq(json_integer_value(json_object_get(o, "total")), 10);
    char last[GUID_STRLEN + 1];
    guid_format(&v[2].guid, last);
    cr_assert_str_eq(str(o, "next"), last);
    json_decref(o);
    abuf_reset(&b);
    cr_assert(api_device_list(v, 3, false, 3, &b));
    o = parse_abuf(&b);
    cr_assert(json_is_null(json_object_get(o, "next")));
    json_decref(o);
    abuf_reset(&b);
    cr_assert(api_device_list(NULL, 0, true, 0, &b)); /* an empty page has no cursor */
    o = parse_abuf(&b);
    cr_assert_eq(json_array_size(json_object_get(o, "devices")), 0);
    cr_assert(json_is_null(json_object_get(o, "next")));
    json_decref(o);
    abuf_reset(&b);
    cr_assert(api_error(404, "no \"such\" device", &b));
    o = parse_abuf(&b);
    cr_assert_str_eq(str(o, "error"), "no \"such\" device");
    cr_assert_eq(json_integer_value(json_object_get(o, "status")), 404);
    json_decref(o);
    abuf_free(&b);
}

/* The frame's data line, parsed; checks the id and event lines. */
static json_t *frame(uint64_t id, const struct admin_event *e, const char *kind)
{
    struct abuf b;
    abuf_init(&b, 0);
    cr_assert(api_event_frame(id, e, &b));
    char head[96];
    int n =
        snprintf(head, sizeof(head), "id: %llu\nevent: %s\ndata: ", (unsigned long long)id, kind);
    cr_assert_gt(b.len, (size_t)n + 2);
    cr_assert_arr_eq(b.p, head, (size_t)n, "%.*s", (int)b.len, b.p);
    cr_assert_eq(b.p[b.len - 1], '\n');
    cr_assert_eq(b.p[b.len - 2], '\n');
    cr_assert_null(memchr(b.p + n, '\n', b.len - (size_t)n - 2), "one data line");
    json_error_t err;
    json_t *o = json_loadb(b.p + n, b.len - (size_t)n - 2, 0, &err);
    cr_assert_not_null(o, "%s", err.text);
    abuf_free(&b);
    return o;
}

Test(api, event_frames)
{
    struct admin_event e;
    memset(&e, 0, sizeof(e));
    e.kind = EV_CONNECT;
    e.ts_us = 1700000000123456ull;
    cr_assert_eq(guid_parse(G, GUID_STRLEN, &e.guid), 0);
    cr_assert_eq(netaddr_parse("127.0.0.1:40000", 15, &e.peer), 0);
    snprintf(e.host, sizeof(e.host), "amt-1");
    json_t *o = frame(7, &e, "connect");
    cr_assert_str_eq(str(o, "time"), "2023-11-14T22:13:20.123456Z");
    cr_assert_str_eq(str(o, "guid"), G);
    cr_assert_str_eq(str(o, "hostname"), "amt-1");
    cr_assert_str_eq(str(o, "peer"), "127.0.0.1:40000");
    cr_assert_null(json_object_get(o, "reason"));
    json_decref(o);

    e.kind = EV_DISCONNECT;
    e.reason = "admin";
    o = frame(8, &e, "disconnect");
    cr_assert_str_eq(str(o, "reason"), "admin");
    json_decref(o);

    e.kind = EV_CONSOLE_CLOSE;
    e.proto = 2;
    e.port = 16992;
    snprintf(e.user, sizeof(e.user), "al\"ice\n\xff");
    e.bytes_up = 10;
    e.bytes_down = 20;
    e.reason = NULL;
    o = frame(18446744073709551615ull, &e, "console_close");
    cr_assert_str_eq(str(o, "protocol"), "http_connect");
    cr_assert_eq(json_integer_value(json_object_get(o, "port")), 16992);
    cr_assert_str_eq(str(o, "console"), "127.0.0.1:40000");
    cr_assert_str_eq(str(o, "user"),
                     "al\"ice??"); /* not UTF-8: each byte outside printable ASCII is ? */
    cr_assert_eq(json_integer_value(json_object_get(o, "bytes_to_device")), 10);
    cr_assert_eq(json_integer_value(json_object_get(o, "bytes_to_console")), 20);
    cr_assert_null(json_object_get(o, "peer"));
    json_decref(o);

    e.kind = EV_CONSOLE_OPEN;
    e.proto = 9; /* out of range: "?" */
    o = frame(9, &e, "console_open");
    cr_assert_str_eq(str(o, "protocol"), "?");
    cr_assert_null(json_object_get(o, "bytes_to_device"));
    json_decref(o);

    e.kind = EV__COUNT;
    o = frame(10, &e, "unknown");
    json_decref(o);
}
