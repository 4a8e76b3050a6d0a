/*
 * chan.c - forwarded-tcpip channels of one simulated device: open, windows both ways, close.
 *
 * Windows: we never send more CHANNEL_DATA payload than the MPS granted (its CHANNEL_OPEN window
 * plus its WINDOW_ADJUSTs); what does not fit waits in a queue bounded by DEV_TXQ_MAX and freed
 * when empty. We grant o->window and return credit with WINDOW_ADJUST once half of it has been
 * consumed; an MPS that sends beyond our grant is a protocol violation.
 *
 * Built-in services (--service; relay.c serves them all instead with --relay): http (digest),
 * http-open, sol (sol.h), echo, discard, source:N. Backpressure: a service takes input only while
 * its answers can go out (the MPS' window plus the queue); what it did not take waits in `inq`
 * without credit, so the MPS stops once our window is used up. inq is bounded by our window,
 * the queue by DEV_TXQ_MAX: memory per channel stays within window + 64 KiB + service state.
 */
#include "device_int.h"

#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "sol.h"

enum { CH_OPENING = 0, CH_OPEN };

struct dev_chan {
    uint32_t id, peer, port;
    uint32_t tx_window; /* the MPS' credit left */
    uint32_t rx_left;   /* our credit the MPS has left */
    uint32_t rx_owed;   /* consumed, not yet returned */
    uint8_t state;
    bool close_sent, want_close, relayed;
    uint8_t svc; /* enum svc_kind */
    uint32_t txq_len;
    uint8_t *txq;
    uint32_t inq_len; /* input the service has not taken yet (no credit returned for it) */
    uint8_t *inq;
    uint64_t src_left, src_off; /* SVC_SOURCE: bytes still to send, bytes sent */
    struct http_rx *http;
    struct sol *sol;
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
    sol_free(&ch->sol);
    free(ch->txq);
    free(ch->inq);
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

/* ---- built-in services ---- */

/* What chan_write takes now: the MPS' window (only while nothing is queued) plus queue room. */
static size_t out_room(const struct dev_chan *ch)
{
    if (ch->close_sent || ch->want_close)
        return 0;
    return (ch->txq_len ? 0 : (size_t)ch->tx_window) + (DEV_TXQ_MAX - ch->txq_len);
}

struct svc_io {
    struct device *d;
    struct dev_chan *ch;
};

static size_t io_room(void *arg)
{
    struct svc_io *io = arg;
    return io->d->state == DS_ENDED ? 0 : out_room(io->ch);
}

static int io_write(void *arg, const uint8_t *p, size_t n)
{
    struct svc_io *io = arg;
    ssize_t r = chan_write(io->d, io->ch, p, n);
    return r == (ssize_t)n ? 0 : -1; /* services never write beyond io_room */
}

static void auth_ctx(struct device *d, struct digest_ctx *a, char uuid[37])
{
    dev_uuid(d, uuid);
    a->user = d->o->amt_user;
    a->password = d->o->amt_password;
    digest_realm(uuid, a->realm);
    a->key = d->o->digest_key;
    a->index = d->index;
    a->seq = &d->nonce_seq;
}

/* Run the channel's service on p[0..n); *used = bytes taken. Returns SVC_*. */
static int svc_run(struct device *d, struct dev_chan *ch, const uint8_t *p, size_t n, size_t *used)
{
    struct svc_io io = {d, ch};
    struct svc_out out = {.arg = &io, .room = io_room, .write = io_write};
    char uuid[37], host[256];
    struct digest_ctx auth;
    switch (ch->svc) {
    case SVC_HTTP:
    case SVC_HTTP_OPEN: {
        auth_ctx(d, &auth, uuid);
        dev_hostname(d, host, sizeof(host));
        struct http_ident id = {
            .device = d->index, .uuid = uuid, .hostname = host, .port = ch->port};
        struct http_cfg cfg = {.id = &id, .auth = ch->svc == SVC_HTTP ? &auth : NULL};
        return http_feed(&ch->http, p, n, &cfg, &out, used);
    }
    case SVC_SOL: {
        auth_ctx(d, &auth, uuid);
        dev_hostname(d, host, sizeof(host));
        struct sol_cfg cfg = {.auth = &auth, .hostname = host, .uuid = uuid};
        int r = sol_feed(&ch->sol, p, n, &cfg, &out, d->now_ms, used);
        uint64_t t = sol_next_timer(ch->sol);
        if (t < d->svc_due)
            d->svc_due = t;
        return r;
    }
    case SVC_ECHO: { /* straight back: as much as the MPS' window and our queue take */
        size_t k = out_room(ch);
        k = k < n ? k : n;
        *used = k;
        return k && io_write(&io, p, k) ? SVC_ERR : SVC_KEEP;
    }
    default: /* discard, source: input is dropped */
        *used = n;
        return SVC_KEEP;
    }
}

/* After a service ran: close if it asked, return credit for what it took. */
static int svc_after(struct device *d, struct dev_chan *ch, int r, size_t used)
{
    if (d->state == DS_ENDED)
        return DEV_ERR_SEND;
    if (r != SVC_KEEP) {
        ch->want_close = true;
        http_free(&ch->http);
        sol_free(&ch->sol);
        free(ch->inq);
        ch->inq = NULL;
        ch->inq_len = 0;
        int f = flush(d, ch);
        if (f != DEV_OK)
            return f;
    }
    return used ? consumed(d, ch, used) : DEV_OK;
}

/* Feed what waits in inq (after the MPS opened its window). */
static int svc_drain(struct device *d, struct dev_chan *ch)
{
    if (!ch->inq_len || ch->want_close || ch->close_sent)
        return DEV_OK;
    size_t used = 0;
    int r = svc_run(d, ch, ch->inq, ch->inq_len, &used);
    if (r == SVC_KEEP && used) {
        ch->inq_len -= (uint32_t)used;
        if (ch->inq_len == 0) {
            free(ch->inq);
            ch->inq = NULL;
        } else {
            memmove(ch->inq, ch->inq + used, ch->inq_len);
        }
    }
    return svc_after(d, ch, r, used);
}

static int svc_data(struct device *d, struct dev_chan *ch, const uint8_t *p, size_t n)
{
    if (ch->inq_len) { /* older input first; inq + n <= our window, the MPS' credit */
        uint8_t *q = realloc(ch->inq, ch->inq_len + n);
        if (!q)
            return DEV_ERR_NOMEM;
        memcpy(q + ch->inq_len, p, n);
        ch->inq = q;
        ch->inq_len += (uint32_t)n;
        return svc_drain(d, ch);
    }
    size_t used = 0;
    int r = svc_run(d, ch, p, n, &used);
    if (r == SVC_KEEP && used < n) {
        if (!(ch->inq = malloc(n - used)))
            return DEV_ERR_NOMEM;
        memcpy(ch->inq, p + used, n - used);
        ch->inq_len = (uint32_t)(n - used);
    }
    return svc_after(d, ch, r, used);
}

/* SVC_SOURCE: the pattern, as far as the windows allow; then close. */
static int source_pump(struct device *d, struct dev_chan *ch)
{
    uint8_t buf[16384];
    while (ch->src_left && d->state != DS_ENDED) {
        size_t k = out_room(ch);
        if (k > sizeof(buf))
            k = sizeof(buf);
        if (k > ch->src_left)
            k = (size_t)ch->src_left;
        if (k == 0)
            return DEV_OK;
        size_t have = k < 251 ? k : 251; /* one period, then doubling copies */
        for (size_t i = 0; i < have; i++)
            buf[i] = SVC_PATTERN(ch->src_off + i);
        while (have < k) {
            size_t c = have < k - have ? have : k - have;
            memcpy(buf + have, buf, c);
            have += c;
        }
        if (chan_write(d, ch, buf, k) != (ssize_t)k)
            return d->state == DS_ENDED ? DEV_ERR_SEND : DEV_ERR_NOMEM;
        ch->src_left -= k;
        ch->src_off += k;
    }
    if (d->state == DS_ENDED)
        return DEV_ERR_SEND;
    if (!ch->want_close) {
        ch->want_close = true;
        return flush(d, ch);
    }
    return DEV_OK;
}

int chan_tick(struct device *d, uint64_t now_ms)
{
    d->svc_due = UINT64_MAX;
    for (uint32_t i = 0; d->chans && i < d->o->max_channels; i++) {
        struct dev_chan *ch = d->chans[i];
        if (!ch || !ch->sol || ch->want_close || ch->close_sent)
            continue;
        struct svc_io io = {d, ch};
        struct svc_out out = {.arg = &io, .room = io_room, .write = io_write};
        char uuid[37], host[256];
        struct digest_ctx auth;
        auth_ctx(d, &auth, uuid);
        dev_hostname(d, host, sizeof(host));
        struct sol_cfg cfg = {.auth = &auth, .hostname = host, .uuid = uuid};
        int r = sol_tick(ch->sol, &cfg, &out, now_ms);
        if (r != SVC_KEEP && (r = svc_after(d, ch, r, 0)) != DEV_OK)
            return r;
        if (d->state == DS_ENDED)
            return DEV_ERR_SEND;
        uint64_t t = sol_next_timer(ch->sol);
        if (t < d->svc_due)
            d->svc_due = t;
    }
    return DEV_OK;
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
    int r = dev_put(d, &m);
    if (r == DEV_OK && !ch->relayed && ch->svc == SVC_SOURCE)
        r = source_pump(d, ch);
    return r;
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
    ch->svc = (uint8_t)opts_service(d->o, ch->port, &ch->src_left);
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
        return svc_data(d, ch, m->u.data.data.p, n);
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
        if (r == DEV_OK && !ch->relayed && ch->state == CH_OPEN) {
            r = svc_drain(d, ch);
            if (r == DEV_OK && ch->src_left)
                r = source_pump(d, ch);
        }
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
