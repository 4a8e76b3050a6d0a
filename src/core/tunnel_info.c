/* The worker's answers to the admin surface (devinfo.h): its tunnels as dev_info values, and the
 * two things an operator may do to one (disconnect it, switch its hex dumps). Runs on the worker
 * that owns the tunnels, from a mailbox message. */
#include "devinfo.h"
#include "log.h"
#include "tunnel_int.h"

#include <errno.h>
#include <string.h>

int devinfo_guid_cmp(const guid *a, const guid *b)
{
    return memcmp(a->b, b->b, sizeof(a->b));
}

static void fill(const struct tunnel *t, struct dev_info *d)
{
    memset(d, 0, sizeof(*d));
    d->guid = t->guid;
    const char *host = t->apf ? apf_session_hostname(t->apf) : NULL;
    log_sanitize(host ? host : "", d->hostname, sizeof(d->hostname));
    if (t->apf)
        d->nports = (unsigned)apf_session_ports(t->apf, d->ports, DEVINFO_PORTS);
    if (d->nports > DEVINFO_PORTS)
        d->nports = DEVINFO_PORTS;
    tunnel_peer_addr(t, &d->peer);
    d->connected_since = t->since_unix;
    struct tls_conn_info info;
    if (t->tls && tls_conn_info(t->tls, &info) == 0) {
        d->tls_version = info.version;
        d->tls_suite = info.suite;
        d->tls_resumed = info.resumed;
    }
    d->channels = t->nends;
    d->bytes_from_device = t->bytes_in;
    d->bytes_to_device = t->bytes_out;
    d->hexdump = t->hexdump;
    d->worker = t->wc->index;
    d->conn_id = t->conn_id;
    d->serial = t->serial;
}

static bool matches(const struct tunnel *t, const struct admin_list_query *q)
{
    if (t->state != T_READY || !t->registered || t->close_how >= 0)
        return false;
    if (q->has_after && devinfo_guid_cmp(&t->guid, &q->after) <= 0)
        return false;
    if (q->port && !tunnel_has_port(t, q->port))
        return false;
    if (q->has_peer) {
        netaddr p;
        tunnel_peer_addr(t, &p);
        if (netaddr_port(&q->peer) == 0) {
            char a[NETADDR_STRLEN], b[NETADDR_STRLEN];
            netaddr_format_host(&p, a, sizeof(a));
            netaddr_format_host(&q->peer, b, sizeof(b));
            if (strcmp(a, b) != 0)
                return false;
        } else if (!netaddr_eq(&p, &q->peer)) {
            return false;
        }
    }
    if (q->hostname[0]) {
        const char *host = t->apf ? apf_session_hostname(t->apf) : NULL;
        if (!host || !admin_hostname_match(q->hostname, host))
            return false;
    }
    return true;
}

size_t devinfo_list(struct wctx *wc, const struct admin_list_query *q, struct dev_info *out,
                    size_t cap)
{
    /* keeps the cap smallest GUIDs: out[] is a sorted array (insertion; cap <= 1001) */
    size_t n = 0;
    for (struct tunnel *t = wc->head; t; t = t->next) {
        if (!matches(t, q))
            continue;
        if (n == cap && devinfo_guid_cmp(&t->guid, &out[n - 1].guid) >= 0)
            continue;
        size_t i = n < cap ? n++ : n - 1;
        while (i > 0 && devinfo_guid_cmp(&t->guid, &out[i - 1].guid) < 0) {
            out[i] = out[i - 1];
            i--;
        }
        fill(t, &out[i]);
    }
    return n;
}

int devinfo_get(struct wctx *wc, uint64_t conn_id, uint64_t serial, struct dev_info *out)
{
    struct tunnel *t = tunnel_lookup(wc, conn_id, serial);
    if (!t)
        return -ENOENT;
    fill(t, out);
    return 0;
}

int devinfo_disconnect(struct wctx *wc, uint64_t conn_id, uint64_t serial)
{
    struct tunnel *t = tunnel_lookup(wc, conn_id, serial);
    if (!t)
        return -ENOENT;
    log_kv(LOG_INFO, TF(t), "disconnected through the admin API: sending DISCONNECT");
    if (!t->end_reason)
        t->end_reason = "admin";
    STAT_INC(&wc->stats, admin_disconnects);
    if (t->apf)
        apf_session_disconnect(t->apf, APF_DISC_BY_APPLICATION);
    if (t->close_how < 0)
        t->close_how = RING_CLOSE_GRACEFUL;
    if (!t->why)
        t->why = "disconnected through the admin API";
    tunnel_apply_close(t);
    return 0;
}

int devinfo_hexdump(struct wctx *wc, uint64_t conn_id, uint64_t serial, bool on)
{
    struct tunnel *t = tunnel_lookup(wc, conn_id, serial);
    if (!t)
        return -ENOENT;
    t->hexdump = on;
    log_kv(LOG_INFO, TF(t), "APF hex dumps %s through the admin API", on ? "on" : "off");
    return 0;
}
