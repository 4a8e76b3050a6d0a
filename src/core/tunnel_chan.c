/* tunnel_chan.c - a tunnel's channels: the channel ends (console sessions, device-initiated
 * connections) attached to it, the APF channel callbacks dispatched to them, and the calls a
 * channel end makes on its tunnel (open, send within the tunnel's send queue, consumed, close,
 * detach). Runs on the tunnel's worker only. */
#include "tunnel_int.h"
#include "console.h"
#include "log.h"

#include <errno.h>

/* --- channels: the tunnel's side of console sessions and device-initiated connections ---
 * The APF engine names a channel's consumer by its user pointer, a struct chan_end. An end that
 * goes away first detaches (its channel's pointer becomes NULL), so a late callback for its id
 * finds nobody and is dropped. */

static void end_link(struct tunnel *t, struct chan_end *e, uint32_t id)
{
    e->t = t;
    e->id = id;
    e->prev = NULL;
    e->next = t->ends;
    if (t->ends)
        t->ends->prev = e;
    t->ends = e;
    t->nends++;
    if (e->console)
        t->nconsoles++;
}

static void end_unlink(struct tunnel *t, struct chan_end *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        t->ends = e->next;
    if (e->next)
        e->next->prev = e->prev;
    e->prev = e->next = NULL;
    e->t = NULL;
    e->id = 0;
    e->blocked = false;
    t->nends--;
    if (e->console)
        t->nconsoles--;
}

void tunnel_apf_on_channel_open(apf_session *s, uint32_t id, void *cu, void *user)
{
    struct chan_end *e = cu;
    (void)s, (void)id, (void)user;
    if (e)
        e->ops->opened(e);
}

void tunnel_apf_on_channel_open_failed(apf_session *s, uint32_t id, uint32_t reason, void *cu,
                                       void *user)
{
    struct chan_end *e = cu;
    (void)s, (void)id;
    if (e) {
        end_unlink(user, e); /* the id never existed on the device */
        e->ops->open_failed(e, reason);
    }
}

void tunnel_apf_on_channel_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu,
                                void *user)
{
    struct chan_end *e = cu;
    (void)s, (void)id, (void)user;
    if (e)
        e->ops->data(e, p, n);
}

void tunnel_apf_on_channel_writable(apf_session *s, uint32_t id, void *cu, void *user)
{
    struct chan_end *e = cu;
    (void)s, (void)id, (void)user;
    if (e)
        e->ops->writable(e);
}

void tunnel_apf_on_channel_closed(apf_session *s, uint32_t id, void *cu, void *user)
{
    struct chan_end *e = cu;
    struct tunnel *t = user;
    (void)id;
    if (e) {
        end_unlink(t, e);
        e->ops->closed(e, apf_session_is_closed(s) ? "the device's tunnel ended"
                                                   : "the device closed the channel");
    }
}

uint32_t tunnel_apf_on_open_request(apf_session *s, const apf_open_request *req, void **cu,
                                    void *user)
{
    struct tunnel *t = user;
    struct chan_end *e = NULL;
    (void)s;
    uint32_t reason = console_device_open(t->wc, t, req, &e);
    if (reason == 0 && e) {
        end_link(t, e, req->channel);
        *cu = e;
    }
    return reason;
}

struct tunnel *tunnel_lookup(struct wctx *wc, uint64_t conn_id, uint64_t generation)
{
    ring_conn *c = ring_conn_find(wc->w, conn_id);
    struct tunnel *t = c ? ring_conn_user(c) : NULL;
    if (!t || t->serial != generation || t->state != T_READY || t->close_how >= 0 || !t->apf ||
        apf_session_is_closed(t->apf))
        return NULL;
    return t;
}

const guid *tunnel_guid(const struct tunnel *t)
{
    return &t->guid;
}

const char *tunnel_guid_str(const struct tunnel *t)
{
    return t->guid_str;
}

const char *tunnel_peer(const struct tunnel *t)
{
    return t->peer;
}

void tunnel_set_hexdump(struct wctx *wc, uint64_t conn_id, uint64_t serial, bool on)
{
    struct tunnel *t = tunnel_lookup(wc, conn_id, serial);
    if (!t || t->hexdump == on)
        return;
    t->hexdump = on;
    log_kv(LOG_INFO, LF(.peer = t->peer, .guid = t->guid_str), "APF hex dumps %s",
           on ? "on" : "off");
}

const char *tunnel_hostname(const struct tunnel *t)
{
    const char *h = t->apf ? apf_session_hostname(t->apf) : NULL;
    return h ? h : "";
}

const char *tunnel_group(const struct tunnel *t)
{
    return t->group[0] ? t->group : NULL;
}

unsigned tunnel_nconsoles(const struct tunnel *t)
{
    return t->nconsoles;
}

bool tunnel_has_port(const struct tunnel *t, uint16_t port)
{
    return t->apf && apf_session_has_port(t->apf, port);
}

int tunnel_channel_open(struct tunnel *t, struct chan_end *e, uint16_t port)
{
    uint32_t id;
    int rc = apf_channel_open(t->apf, port, NULL, 0, e, &id);
    if (rc == APF_OK)
        end_link(t, e, id);
    tunnel_apply_close(t);
    return rc;
}

ssize_t tunnel_channel_send(struct tunnel *t, struct chan_end *e, const uint8_t *p, size_t n)
{
    if (t->close_how >= 0)
        return -EPIPE;
    if (ring_conn_queued(t->conn) >= t->wc->m->cfg.max_buffered) {
        /* the device reads slower than its consoles write: hold them all back, keep-alives and
         * the other channels' windows still go out */
        e->blocked = true;
        t->ends_blocked = true;
        ring_conn_want_writable(t->conn);
        return 0;
    }
    ssize_t k = apf_channel_send(t->apf, e->id, p, n);
    tunnel_apply_close(t);
    return k;
}

int tunnel_channel_consumed(struct tunnel *t, struct chan_end *e, size_t n)
{
    int rc = apf_channel_consumed(t->apf, e->id, n);
    tunnel_apply_close(t);
    return rc;
}

int tunnel_channel_close(struct tunnel *t, struct chan_end *e)
{
    int rc = apf_channel_close(t->apf, e->id);
    tunnel_apply_close(t);
    return rc;
}

void tunnel_detach(struct tunnel *t, struct chan_end *e)
{
    if (t->apf && !apf_session_is_closed(t->apf)) {
        apf_channel_set_user(t->apf, e->id, NULL);
        apf_channel_close(t->apf, e->id); /* refused when our CLOSE went already: fine */
    }
    end_unlink(t, e);
    tunnel_apply_close(t);
}

void tunnel_on_writable(ring_conn *c)
{
    struct tunnel *t = ring_conn_user(c);
    if (!t || !t->ends_blocked || t->close_how >= 0)
        return;
    t->ends_blocked = false;
    for (struct chan_end *e = t->ends, *next; e; e = next) {
        next = e->next;
        if (e->blocked) {
            e->blocked = false;
            e->ops->writable(e);
            if (t->ends_blocked)
                break; /* full again: the rest wait for the next round */
        }
    }
    if (t->ends_blocked)
        ring_conn_want_writable(c);
}

/* The tunnel is going: its ends learn it now, since no APF callback will come any more. */
void tunnel_ends_gone(struct tunnel *t)
{
    while (t->ends) {
        struct chan_end *e = t->ends;
        end_unlink(t, e);
        e->ops->closed(e, "the device's tunnel closed");
    }
}
