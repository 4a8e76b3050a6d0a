/*
 * chan.c - forwarded-tcpip channels of one simulated device: open, windows both ways, close.
 *
 * Windows: we never send more CHANNEL_DATA payload than the MPS granted (its CHANNEL_OPEN window
 * plus its WINDOW_ADJUSTs); what does not fit waits in a queue bounded by DEV_TXQ_MAX and freed
 * when empty. We grant o->window and return credit with WINDOW_ADJUST once half of it has been
 * consumed; an MPS that sends beyond our grant is a protocol violation.
 */
#include "device_int.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"

enum { CH_OPENING = 0, CH_OPEN };

struct dev_chan {
    uint32_t id, peer, port;
    uint32_t tx_window; /* the MPS' credit left */
    uint32_t rx_left;   /* our credit the MPS has left */
    uint32_t rx_owed;   /* consumed, not yet returned */
    uint8_t state;
    bool close_sent, want_close, relayed;
    uint32_t txq_len;
    uint8_t *txq;
    struct http_rx *http;
};

static struct dev_chan *get(const struct device *d, uint32_t id)
{
    if (!d->chans || id >= d->o->max_channels)
        return NULL;
    return d->chans[id];
}

static void chan_free(struct device *d, struct dev_chan *ch, bool tell)
{
    uint32_t id = ch->id;
    d->chans[id] = NULL;
    if (ch->relayed && tell && d->ops->chan_closed)
        d->ops->chan_closed(d->user, id);
    http_free(&ch->http);
    free(ch->txq);
    free(ch);
    if (--d->nchans == 0) { /* no channel: no table */
        free(d->chans);
        d->chans = NULL;
    }
    dev_event(d, DEV_EV_CHANNEL_CLOSED, id);
}

void chan_free_all(struct device *d)
{
    for (uint32_t i = 0; d->chans && i < d->o->max_channels; i++)
        if (d->chans[i])
            chan_free(d, d->chans[i], true);
}

static int send_close(struct device *d, struct dev_chan *ch)
{
    ch->close_sent = true;
    apf_msg m = {.type = APF_CHANNEL_CLOSE, .u.close.recipient = ch->peer};
    return dev_put(d, &m);
}

/* Send p[0..n) as CHANNEL_DATA within the MPS' window; returns the bytes sent or a dev_err. */
static long send_direct(struct device *d, struct dev_chan *ch, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n && ch->tx_window > 0) {
        size_t k = n - done;
        if (k > ch->tx_window)
            k = ch->tx_window;
        if (k > d->o->max_payload)
            k = d->o->max_payload;
        apf_msg m = {.type = APF_CHANNEL_DATA};
        m.u.data.recipient = ch->peer;
        m.u.data.data = (apf_str){.p = p + done, .len = (uint32_t)k};
        int r = dev_put(d, &m);
        if (r != DEV_OK)
            return r;
        ch->tx_window -= (uint32_t)k;
        done += k;
    }
    return (long)done;
}

/* Queue first, then as much as the window allows; then a pending close. */
static int flush(struct device *d, struct dev_chan *ch)
{
    if (ch->txq_len) {
        long s = send_direct(d, ch, ch->txq, ch->txq_len);
        if (s < 0)
            return (int)s;
        ch->txq_len -= (uint32_t)s;
        if (ch->txq_len == 0) {
            free(ch->txq);
            ch->txq = NULL;
        } else {
            memmove(ch->txq, ch->txq + s, ch->txq_len);
        }
    }
    if (ch->txq_len == 0 && ch->want_close && !ch->close_sent)
        return send_close(d, ch);
    return DEV_OK;
}

static ssize_t chan_write(struct device *d, struct dev_chan *ch, const uint8_t *p, size_t n)
{
    if (ch->close_sent || ch->want_close)
        return 0;
    size_t done = 0;
    if (ch->txq_len == 0) {
        long s = send_direct(d, ch, p, n);
        if (s < 0)
            return s;
        done = (size_t)s;
    }
    size_t k = n - done, room = DEV_TXQ_MAX - ch->txq_len;
    if (k > room)
        k = room;
    if (k) {
        uint8_t *q = realloc(ch->txq, ch->txq_len + k);
        if (!q)
            return DEV_ERR_NOMEM;
        memcpy(q + ch->txq_len, p + done, k);
        ch->txq = q;
        ch->txq_len += (uint32_t)k;
        done += k;
    }
    return (ssize_t)done;
}

static int consumed(struct device *d, struct dev_chan *ch, size_t n)
{
    ch->rx_owed += (uint32_t)n;
    if (ch->close_sent || ch->rx_owed < d->o->window / 2)
        return DEV_OK;
    apf_msg m = {.type = APF_CHANNEL_WINDOW_ADJUST};
    m.u.window_adjust.recipient = ch->peer;
    m.u.window_adjust.bytes = ch->rx_owed;
    ch->rx_left += ch->rx_owed;
    ch->rx_owed = 0;
    return dev_put(d, &m);
}

/* ---- built-in HTTP responder ---- */

struct http_emit_ctx {
    struct device *d;
    struct dev_chan *ch;
};

static int http_emit(void *arg, const uint8_t *p, size_t n)
{
    struct http_emit_ctx *c = arg;
    ssize_t r = chan_write(c->d, c->ch, p, n);
    return r == (ssize_t)n ? 0 : -1; /* a response that does not fit 64 KiB: give up */
}

static int http_data(struct device *d, struct dev_chan *ch, const uint8_t *p, size_t n)
{
    char uuid[37], host[256];
    dev_uuid(d, uuid);
    dev_hostname(d, host, sizeof(host));
    struct http_ident id = {.device = d->index, .uuid = uuid, .hostname = host, .port = ch->port};
    struct http_emit_ctx ctx = {d, ch};
    int r = http_feed(&ch->http, p, n, &id, http_emit, &ctx);
    if (d->state == DS_ENDED)
        return DEV_ERR_SEND;
    if (r != HTTP_KEEP) {
        ch->want_close = true;
        http_free(&ch->http);
        int f = flush(d, ch);
        if (f != DEV_OK)
            return f;
    }
    return consumed(d, ch, n);
}

/* ---- messages from the MPS ---- */

static bool port_registered(const struct device *d, uint32_t port)
{
    for (size_t i = 0; i < d->fwd_acked && i < d->o->nports; i++)
        if (d->o->ports[i] == port)
            return true;
    return false;
}

static int refuse(struct device *d, uint32_t peer, uint32_t reason)
{
    dev_event(d, DEV_EV_CHANNEL_REFUSED, reason);
    apf_msg m = {.type = APF_CHANNEL_OPEN_FAILURE};
    m.u.open_failure.recipient = peer;
    m.u.open_failure.reason = reason;
    return dev_put(d, &m);
}

static int confirm(struct device *d, struct dev_chan *ch)
{
    ch->state = CH_OPEN;
    apf_msg m = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
    m.u.open_confirm.recipient = ch->peer;
    m.u.open_confirm.sender = ch->id;
    m.u.open_confirm.window = d->o->window;
    m.u.open_confirm.reserved = 0xffffffffu;
    dev_event(d, DEV_EV_CHANNEL_OPEN, ch->port);
    return dev_put(d, &m);
}

static int on_open(struct device *d, const apf_msg *m)
{
    uint32_t peer = m->u.open.sender;
    if (!apf_str_eq(m->u.open.type, APF_CHAN_FORWARDED_TCPIP))
        return refuse(d, peer, APF_OPEN_UNKNOWN_CHANNEL_TYPE);
    if (!port_registered(d, m->u.open.port)) /* AMT routes by the connected port only */
        return refuse(d, peer, APF_OPEN_ADMINISTRATIVELY_PROHIBITED);
    if (!d->chans && !(d->chans = calloc(d->o->max_channels, sizeof(*d->chans))))
        return refuse(d, peer, APF_OPEN_RESOURCE_SHORTAGE);
    uint32_t id = 0;
    while (id < d->o->max_channels && d->chans[id])
        id++;
    struct dev_chan *ch = id < d->o->max_channels ? calloc(1, sizeof(*ch)) : NULL;
    if (!ch) {
        if (d->nchans == 0) {
            free(d->chans);
            d->chans = NULL;
        }
        return refuse(d, peer, APF_OPEN_RESOURCE_SHORTAGE);
    }
    ch->id = id;
    ch->peer = peer;
    ch->port = m->u.open.port;
    ch->tx_window = m->u.open.window;
    ch->rx_left = d->o->window;
    d->chans[id] = ch;
    d->nchans++;
    if (!d->o->relay || !d->ops->chan_open)
        return confirm(d, ch);
    ch->relayed = true;
    int reason = d->ops->chan_open(d->user, id, ch->port);
    if (reason == 0)
        return DEV_OK; /* dev_chan_open_result follows */
    ch->relayed = false;
    chan_free(d, ch, false);
    return refuse(d, peer, (uint32_t)reason);
}

static int on_data(struct device *d, struct dev_chan *ch, const apf_msg *m)
{
    uint32_t n = m->u.data.data.len;
    if (ch->state != CH_OPEN || n > ch->rx_left)
        return dev_violation(d, m->type); /* beyond the window we granted */
    ch->rx_left -= n;
    if (ch->close_sent || ch->want_close || n == 0)
        return DEV_OK; /* late data after our CLOSE: dropped, no credit */
    if (!ch->relayed)
        return http_data(d, ch, m->u.data.data.p, n);
    d->ops->chan_data(d->user, ch->id, m->u.data.data.p, n);
    return DEV_OK;
}

int chan_handle(struct device *d, const apf_msg *m)
{
    if (m->type == APF_CHANNEL_OPEN)
        return on_open(d, m);
    if (m->type == APF_CHANNEL_OPEN_CONFIRMATION || m->type == APF_CHANNEL_OPEN_FAILURE)
        return dev_violation(d, m->type); /* we never open a channel */
    /* WINDOW_ADJUST, DATA and CLOSE all start with the recipient: our id */
    struct dev_chan *ch = get(d, m->u.close.recipient);
    if (!ch)
        return dev_violation(d, m->type);
    switch (m->type) {
    case APF_CHANNEL_DATA:
        return on_data(d, ch, m);
    case APF_CHANNEL_WINDOW_ADJUST: {
        if (m->u.window_adjust.bytes > UINT32_MAX - ch->tx_window)
            return dev_violation(d, m->type);
        ch->tx_window += m->u.window_adjust.bytes;
        uint32_t before = ch->txq_len;
        int r = flush(d, ch);
        if (r == DEV_OK && ch->relayed && ch->txq_len < before && d->ops->chan_writable)
            d->ops->chan_writable(d->user, ch->id);
        return r;
    }
    default: { /* CHANNEL_CLOSE: answer once, then the id is free for reuse */
        int r = ch->close_sent ? DEV_OK : send_close(d, ch);
        chan_free(d, ch, true);
        return r;
    }
    }
}

/* ---- the relay's side ---- */

int dev_chan_open_result(struct device *d, uint32_t id, bool ok, uint32_t reason)
{
    struct dev_chan *ch = get(d, id);
    if (!ch || ch->state != CH_OPENING)
        return DEV_ERR_CLOSED;
    if (ok)
        return confirm(d, ch);
    uint32_t peer = ch->peer;
    ch->relayed = false; /* the relay knows */
    chan_free(d, ch, false);
    return refuse(d, peer, reason ? reason : APF_OPEN_CONNECT_FAILED);
}

ssize_t dev_chan_send(struct device *d, uint32_t id, const uint8_t *p, size_t n)
{
    struct dev_chan *ch = get(d, id);
    if (!ch || ch->state != CH_OPEN || d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    return chan_write(d, ch, p, n);
}

int dev_chan_consumed(struct device *d, uint32_t id, size_t n)
{
    struct dev_chan *ch = get(d, id);
    if (!ch || d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    return consumed(d, ch, n);
}

int dev_chan_close(struct device *d, uint32_t id)
{
    struct dev_chan *ch = get(d, id);
    if (!ch || d->state == DS_ENDED)
        return DEV_ERR_CLOSED;
    ch->want_close = true;
    return flush(d, ch);
}

uint32_t dev_chan_tx_window(const struct device *d, uint32_t id)
{
    const struct dev_chan *ch = get(d, id);
    return ch ? ch->tx_window : 0;
}

uint32_t dev_chan_queued(const struct device *d, uint32_t id)
{
    const struct dev_chan *ch = get(d, id);
    return ch ? ch->txq_len : 0;
}

uint32_t dev_chan_rx_left(const struct device *d, uint32_t id)
{
    const struct dev_chan *ch = get(d, id);
    return ch ? ch->rx_left : 0;
}

bool dev_chan_live(const struct device *d, uint32_t id)
{
    return get(d, id) != NULL;
}
