#include "api.h"
#include "tls.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static json_t *iso_time(int64_t unix_s)
{
    time_t t = (time_t)unix_s;
    struct tm tm;
    char buf[32];
    if (!gmtime_r(&t, &tm) || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null(); /* not representable: null, never an uninitialised struct tm */
    return json_string(buf);
}

/* A string from the network (host name, user): jansson refuses what is not UTF-8, which would
 * drop the field silently; such a string is written with '?' for every byte outside printable
 * ASCII instead. */
static json_t *text_json(const char *s)
{
    json_t *j = json_string(s);
    if (j)
        return j;
    size_t n = strlen(s);
    char *c = malloc(n + 1);
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++)
        c[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    c[n] = 0;
    j = json_string(c);
    free(c);
    return j;
}

static json_t *guid_json(const guid *g)
{
    char s[GUID_STRLEN + 1];
    guid_format(g, s);
    return json_string(s);
}

static json_t *addr_json(const netaddr *a)
{
    char s[NETADDR_STRLEN];
    netaddr_format(a, s, sizeof(s));
    return json_string(s);
}

void *api_device_json(const struct dev_info *d)
{
    json_t *o = json_object();
    json_object_set_new(o, "guid", guid_json(&d->guid));
    json_object_set_new(o, "hostname", d->hostname[0] ? text_json(d->hostname) : json_null());
    json_t *ports = json_array();
    for (unsigned i = 0; i < d->nports; i++)
        json_array_append_new(ports, json_integer(d->ports[i]));
    json_object_set_new(o, "ports", ports);
    json_object_set_new(o, "peer", addr_json(&d->peer));
    json_object_set_new(o, "connected_since", iso_time(d->connected_since));
    json_object_set_new(o, "connected_since_unix", json_integer(d->connected_since));
    if (d->tls_version) {
        const char *suite = tls_suite_name(d->tls_suite);
        json_object_set_new(o, "tls",
                            json_pack("{s:s, s:s?, s:b}", "version",
                                      tls_version_name(d->tls_version), "suite", suite, "resumed",
                                      d->tls_resumed));
    } else {
        json_object_set_new(o, "tls", json_null());
    }
    json_object_set_new(o, "channels", json_integer(d->channels));
    json_object_set_new(o, "bytes_from_device", json_integer((json_int_t)d->bytes_from_device));
    json_object_set_new(o, "bytes_to_device", json_integer((json_int_t)d->bytes_to_device));
    json_object_set_new(o, "hexdump", json_boolean(d->hexdump));
    json_object_set_new(o, "worker", json_integer(d->worker));
    return o;
}

static bool dump(json_t *o, struct abuf *out)
{
    if (!o)
        return false;
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s)
        return false;
    bool ok = abuf_puts(out, s) && abuf_puts(out, "\n");
    free(s);
    return ok;
}

bool api_device_list(const struct dev_info *v, size_t n, bool more, size_t total, struct abuf *out)
{
    json_t *o = json_object(), *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, api_device_json(&v[i]));
    json_object_set_new(o, "devices", arr);
    json_object_set_new(o, "count", json_integer((json_int_t)n));
    json_object_set_new(o, "next", more && n ? guid_json(&v[n - 1].guid) : json_null());
    json_object_set_new(o, "total", json_integer((json_int_t)total));
    return dump(o, out);
}

bool api_device_one(const struct dev_info *d, struct abuf *out)
{
    return dump(api_device_json(d), out);
}

bool api_error(int status, const char *msg, struct abuf *out)
{
    return dump(json_pack("{s:s, s:i}", "error", msg, "status", status), out);
}

bool api_event_frame(uint64_t id, const struct admin_event *e, struct abuf *out)
{
    static const char *const protos[] = {"socks5", "socks4", "http_connect", "http_forward"};
    json_t *o = json_object();
    char ts[40];
    time_t t = (time_t)(e->ts_us / 1000000u);
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%06uZ", (unsigned)(e->ts_us % 1000000u));
    json_object_set_new(o, "time", json_string(ts));
    json_object_set_new(o, "guid", guid_json(&e->guid));
    if (e->host[0])
        json_object_set_new(o, "hostname", text_json(e->host));
    if (e->kind == EV_CONSOLE_OPEN || e->kind == EV_CONSOLE_CLOSE) {
        json_object_set_new(o, "console", addr_json(&e->peer));
        json_object_set_new(o, "port", json_integer(e->port));
        json_object_set_new(o, "protocol", json_string(e->proto < 4 ? protos[e->proto] : "?"));
        if (e->user[0])
            json_object_set_new(o, "user", text_json(e->user));
        if (e->kind == EV_CONSOLE_CLOSE) {
            json_object_set_new(o, "bytes_to_device", json_integer((json_int_t)e->bytes_up));
            json_object_set_new(o, "bytes_to_console", json_integer((json_int_t)e->bytes_down));
        }
    } else {
        json_object_set_new(o, "peer", addr_json(&e->peer));
    }
    if (e->reason)
        json_object_set_new(o, "reason", text_json(e->reason));
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (!s)
        return false;
    /* JSON_COMPACT output holds no newline, so one data line carries it */
    bool ok = abuf_printf(out, "id: %llu\nevent: %s\ndata: %s\n\n", (unsigned long long)id,
                          admin_event_kind_name((enum admin_event_kind)e->kind), s);
    free(s);
    return ok;
}
