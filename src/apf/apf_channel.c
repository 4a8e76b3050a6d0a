/*
 * apf_channel.c - channels of one tunnel: open/confirm/close, and flow control
 * in both directions (docs/apf.md section 4).
 *
 * Receive: the device may send at most the window we granted; we return
 * window only for bytes the caller reports drained (apf_channel_consumed),
 * once half the window is owed. A console that stops reading therefore stops
 * our WINDOW_ADJUSTs and, in turn, the device.
 *
 * Send: bytes go out at once within the device's window, in CHANNEL_DATA of
 * at most max_payload; the rest waits in a per-channel queue bounded by
 * min(tx_queue, the device's initial window). apf_channel_send() accepts no
 * more than that, so memory per channel is bounded.
 *
 * Ids are ours (the CHANNEL_OPEN sender / CONFIRMATION sender), counted from
 * 4 and never reused in a tunnel, so a late message for an id below next_id
 * that is no longer live belongs to a closed channel and is dropped.
 */
#include <stdlib.h>
#include <string.h>

#include "apf_int.h"
#include "apf_wire.h"

#define NONE_RESERVED 0xFFFFFFFFu /* SSH "max packet" slot: every sender uses this */

apf_channel *apf_ch_find(const apf_session *s, uint32_t id)
{
    for (uint32_t i = 0; i < s->nch; i++)
        if (s->ch[i]->id == id)
            return s->ch[i];
    return NULL;
}

static bool is_late(const apf_session *s, uint32_t id)
{
    return id >= APF_FIRST_CHANNEL && id < s->next_id;
}

static apf_channel *ch_new(apf_session *s)
{
    if (s->nch == s->ch_cap) {
        uint32_t cap = s->ch_cap ? s->ch_cap * 2 : 4;
        apf_channel **t = realloc(s->ch, cap * sizeof(*t));
        if (!t)
            return NULL;
        s->ch = t;
        s->ch_cap = cap;
    }
    apf_channel *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->rx_window = s->cfg.rx_window;
    c->q_cap = s->cfg.tx_queue;
    return c;
}

/* Takes a channel allocated by ch_new into the table under the next id. */
static void ch_insert(apf_session *s, apf_channel *c)
{
    c->id = s->next_id++;
    s->ch[s->nch++] = c;
}

/* Forget the channel; the last callback the caller gets for it is `closed`. */
static void ch_remove(apf_session *s, apf_channel *c, bool tell)
{
    for (uint32_t i = 0; i < s->nch; i++) {
        if (s->ch[i] == c) {
            s->ch[i] = s->ch[--s->nch];
            break;
        }
    }
    if (s->data_left && s->data_chan == c->id)
        s->data_chan = 0; /* the rest of an inbound payload is dropped */
    uint32_t id = c->id;
    void *cu = c->user;
    free(c->q);
    free(c);
    if (s->nch == 0) {
        /* Idle tunnels hold no channel memory at all. */
        free(s->ch);
        free(s->tx);
        s->ch = NULL;
        s->tx = NULL;
        s->ch_cap = 0;
    }
    if (tell && s->cb->on_channel_closed)
        s->cb->on_channel_closed(s, id, cu, s->user);
}

void apf_ch_close_all(apf_session *s)
{
    while (s->nch)
        ch_remove(s, s->ch[s->nch - 1], true);
}

size_t apf_ch_memory(const apf_session *s)
{
    size_t m = s->ch_cap * sizeof(*s->ch) + (s->tx ? APF_TX_SCRATCH(&s->cfg) : 0);
    for (uint32_t i = 0; i < s->nch; i++)
        m += sizeof(apf_channel) + (s->ch[i]->q ? s->ch[i]->q_cap : 0);
    return m;
}

static int send_close(apf_session *s, apf_channel *c)
{
    uint8_t b[5] = {APF_CHANNEL_CLOSE};
    apf_put32(b + 1, c->peer_id);
    c->state = APF_CH_CLOSING; /* exactly one CLOSE per side, whatever comes next */
    return apf_emit(s, b, sizeof(b));
}

/* One CHANNEL_DATA, header and payload contiguous in the scratch buffer. */
static int send_data(apf_session *s, apf_channel *c, const uint8_t *p, uint32_t k)
{
    if (!s->tx && !(s->tx = malloc(APF_TX_SCRATCH(&s->cfg)))) {
        apf_fail(s, APF_ERR_NOMEM, 0);
        return APF_ERR_NOMEM;
    }
    s->tx[0] = APF_CHANNEL_DATA;
    apf_put32(s->tx + 1, c->peer_id);
    apf_put32(s->tx + 5, k);
    memcpy(s->tx + 9, p, k);
    c->tx_window -= k;
    return apf_emit(s, s->tx, 9 + (size_t)k);
}

static uint32_t next_chunk(const apf_session *s, const apf_channel *c, size_t avail)
{
    size_t k = avail;
    if (k > c->tx_window)
        k = c->tx_window;
    if (k > s->cfg.max_payload)
        k = s->cfg.max_payload;
    return (uint32_t)k;
}

/* Room a send would find now: the window when nothing waits, plus the queue. */
static size_t ch_room(const apf_channel *c)
{
    size_t q = c->q_cap > c->q_len ? c->q_cap - c->q_len : 0;
    return q + (c->q_len == 0 && c->state == APF_CH_OPEN ? c->tx_window : 0);
}

/* Send what the window allows from the queue; then a pending close; then
 * tell a blocked writer. Returns with the session possibly closed. */
static void flush(apf_session *s, apf_channel *c)
{
    uint32_t id = c->id;
    while (c->q_len && c->tx_window && c->state == APF_CH_OPEN) {
        uint32_t k = next_chunk(s, c, c->q_len);
        if (send_data(s, c, c->q + c->q_head, k) < 0)
            return;
        c->q_head += k;
        c->q_len -= k;
    }
    if (c->q_len == 0 && c->q) {
        free(c->q);
        c->q = NULL;
        c->q_head = 0;
    }
    if (c->state != APF_CH_OPEN)
        return;
    if (c->close_wanted) {
        if (c->q_len == 0)
            send_close(s, c);
        return;
    }
    if (c->want_writable && ch_room(c) > 0) {
        c->want_writable = false;
        if (s->cb->on_channel_writable)
            s->cb->on_channel_writable(s, id, c->user, s->user);
    }
}

static bool enqueue(apf_channel *c, const uint8_t *p, uint32_t k)
{
    if (k == 0)
        return true;
    if (!c->q) {
        c->q = malloc(c->q_cap);
        if (!c->q)
            return false;
        c->q_head = 0;
    }
    if (c->q_head + c->q_len + k > c->q_cap) {
        memmove(c->q, c->q + c->q_head, c->q_len);
        c->q_head = 0;
    }
    memcpy(c->q + c->q_head + c->q_len, p, k);
    c->q_len += k;
    return true;
}

/* ---- caller's calls ----------------------------------------------------- */

static int live(const apf_session *s, uint32_t id, apf_channel **c)
{
    if (!s)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return APF_ERR_CLOSED;
    *c = apf_ch_find(s, id);
    return *c ? APF_OK : APF_ERR_NO_CHANNEL;
}

int apf_channel_open(apf_session *s, uint32_t port, const char *orig_addr, uint32_t orig_port,
                     void *cu, uint32_t *id)
{
    if (!s || !id)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return APF_ERR_CLOSED;
    if (s->state != APF_S_FORWARDS && s->state != APF_S_READY)
        return APF_ERR_NOT_READY;
    if (!apf_session_has_port16(s, port))
        return APF_ERR_PORT_NOT_REGISTERED;
    if (s->nch >= s->cfg.max_channels || s->next_id == UINT32_MAX)
        return APF_ERR_TOO_MANY_CHANNELS;
    if (!orig_addr) {
        orig_addr = "1.2.3.4"; /* what MeshCentral and Open AMT send; AMT routes by port */
        orig_port = 1024;
    }
    if (strlen(orig_addr) > APF_MAX_HOSTNAME)
        return APF_ERR_INVALID;
    apf_channel *c = ch_new(s);
    if (!c)
        return APF_ERR_NOMEM;
    c->port = port;
    c->user = cu;
    c->state = APF_CH_OPENING;
    apf_msg m = {.type = APF_CHANNEL_OPEN};
    m.u.open.type = apf_str_c(APF_CHAN_FORWARDED_TCPIP);
    m.u.open.sender = s->next_id;
    m.u.open.window = s->cfg.rx_window;
    m.u.open.reserved = NONE_RESERVED;
    m.u.open.addr = apf_str_c("");
    m.u.open.port = port;
    m.u.open.orig_addr = apf_str_c(orig_addr);
    m.u.open.orig_port = orig_port;
    int rc = apf_emit_msg(s, &m);
    if (rc < 0) {
        free(c);
        return rc;
    }
    ch_insert(s, c);
    *id = c->id;
    return APF_OK;
}

ssize_t apf_channel_send(apf_session *s, uint32_t id, const uint8_t *p, size_t n)
{
    apf_channel *c;
    int rc = live(s, id, &c);
    if (rc < 0)
        return rc;
    if (c->close_wanted || c->state == APF_CH_CLOSING)
        return APF_ERR_CHANNEL_STATE;
    if (!p && n)
        return APF_ERR_INVALID;
    size_t done = 0;
    /* Straight out while nothing waits ahead of these bytes. */
    while (c->state == APF_CH_OPEN && c->q_len == 0 && done < n && c->tx_window) {
        uint32_t k = next_chunk(s, c, n - done);
        if (send_data(s, c, p + done, k) < 0)
            return s->status;
        done += k;
    }
    size_t room = c->q_cap > c->q_len ? c->q_cap - c->q_len : 0;
    size_t k = n - done < room ? n - done : room;
    if (!enqueue(c, p + done, (uint32_t)k))
        return done ? (ssize_t)done : APF_ERR_NOMEM;
    done += k;
    if (done < n)
        c->want_writable = true;
    return (ssize_t)done;
}

int apf_channel_consumed(apf_session *s, uint32_t id, size_t n)
{
    apf_channel *c;
    int rc = live(s, id, &c);
    if (rc < 0)
        return rc;
    if (n > c->rx_unconsumed)
        return APF_ERR_INVALID;
    c->rx_unconsumed -= (uint32_t)n;
    c->rx_owed += (uint32_t)n;
    /* Half the window, as MeshCentral and Open AMT: few adjusts, no stall. */
    if (c->state != APF_CH_OPEN || c->close_wanted || c->rx_owed < s->cfg.rx_window / 2 ||
        c->rx_owed == 0)
        return APF_OK;
    uint8_t b[9] = {APF_CHANNEL_WINDOW_ADJUST};
    apf_put32(b + 1, c->peer_id);
    apf_put32(b + 5, c->rx_owed);
    c->rx_window += c->rx_owed;
    c->rx_owed = 0;
    return apf_emit(s, b, sizeof(b));
}

int apf_channel_close(apf_session *s, uint32_t id)
{
    apf_channel *c;
    int rc = live(s, id, &c);
    if (rc < 0)
        return rc;
    if (c->close_wanted || c->state == APF_CH_CLOSING)
        return APF_ERR_CHANNEL_STATE;
    c->close_wanted = true;
    c->want_writable = false;
    if (c->state == APF_CH_OPEN && c->q_len == 0)
        return send_close(s, c);
    return APF_OK; /* on confirmation / once the queue drained */
}

uint32_t apf_channel_send_window(const apf_session *s, uint32_t id)
{
    apf_channel *c = apf_ch_find(s, id);
    return c && c->state == APF_CH_OPEN ? c->tx_window : 0;
}

size_t apf_channel_queued(const apf_session *s, uint32_t id)
{
    apf_channel *c = apf_ch_find(s, id);
    return c ? c->q_len : 0;
}

void *apf_channel_user(const apf_session *s, uint32_t id)
{
    apf_channel *c = apf_ch_find(s, id);
    return c ? c->user : NULL;
}

int apf_channel_set_user(apf_session *s, uint32_t id, void *cu)
{
    apf_channel *c = s ? apf_ch_find(s, id) : NULL;
    if (!c)
        return APF_ERR_NO_CHANNEL;
    c->user = cu;
    return APF_OK;
}

/* ---- the device's channel messages ---------------------------------------- */

void apf_ch_on_open_request(apf_session *s, const apf_msg *m)
{
    uint32_t reason = APF_OPEN_ADMINISTRATIVELY_PROHIBITED;
    void *cu = NULL;
    if (s->nch >= s->cfg.max_channels || s->next_id == UINT32_MAX) {
        reason = APF_OPEN_RESOURCE_SHORTAGE;
    } else if (s->cb->on_open_request) {
        apf_open_request req = {m->u.open.type,      m->u.open.addr,      m->u.open.port,
                                m->u.open.orig_addr, m->u.open.orig_port, s->next_id};
        reason = s->cb->on_open_request(s, &req, &cu, s->user);
        if (s->state == APF_S_CLOSED)
            return;
    }
    apf_channel *c = reason == 0 ? ch_new(s) : NULL;
    if (!c) {
        apf_msg f = {.type = APF_CHANNEL_OPEN_FAILURE};
        f.u.open_failure.recipient = m->u.open.sender;
        f.u.open_failure.reason = reason ? reason : APF_OPEN_RESOURCE_SHORTAGE;
        apf_emit_msg(s, &f);
        return;
    }
    c->peer_id = m->u.open.sender;
    c->tx_window = m->u.open.window;
    if (c->q_cap > c->tx_window)
        c->q_cap = c->tx_window;
    c->user = cu;
    c->state = APF_CH_OPEN;
    ch_insert(s, c);
    apf_msg a = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
    a.u.open_confirm.recipient = c->peer_id;
    a.u.open_confirm.sender = c->id;
    a.u.open_confirm.window = c->rx_window;
    a.u.open_confirm.reserved = NONE_RESERVED;
    if (apf_emit_msg(s, &a) == APF_OK && s->cb->on_channel_open)
        s->cb->on_channel_open(s, c->id, cu, s->user);
}

static void on_confirm(apf_session *s, apf_channel *c, const apf_msg *m)
{
    if (c->state != APF_CH_OPENING)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    c->peer_id = m->u.open_confirm.sender;
    c->tx_window = m->u.open_confirm.window;
    c->state = APF_CH_OPEN;
    /* Never hold more than the device lets through in one window. */
    uint32_t cap = c->tx_window < s->cfg.tx_queue ? c->tx_window : s->cfg.tx_queue;
    c->q_cap = cap > c->q_len ? cap : c->q_len;
    if (!c->close_wanted && s->cb->on_channel_open)
        s->cb->on_channel_open(s, c->id, c->user, s->user);
    c = apf_ch_find(s, m->u.open_confirm.recipient); /* the callback may have closed it */
    if (c && s->state != APF_S_CLOSED)
        flush(s, c);
}

static void on_open_failure(apf_session *s, apf_channel *c, const apf_msg *m)
{
    if (c->state != APF_CH_OPENING)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    uint32_t id = c->id;
    void *cu = c->user;
    ch_remove(s, c, false); /* no CLOSE: the channel never existed on the device */
    if (s->cb->on_channel_open_failed)
        s->cb->on_channel_open_failed(s, id, m->u.open_failure.reason, cu, s->user);
}

static void on_window_adjust(apf_session *s, apf_channel *c, const apf_msg *m)
{
    if (c->state == APF_CH_OPENING)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    if (m->u.window_adjust.bytes > UINT32_MAX - c->tx_window)
        return apf_fail(s, APF_ERR_WINDOW_OVERFLOW, m->type);
    c->tx_window += m->u.window_adjust.bytes;
    flush(s, c);
}

static void on_data(apf_session *s, apf_channel *c, const apf_msg *m)
{
    uint32_t len = m->u.data.data.len;
    if (c->state == APF_CH_OPENING)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    if (len > c->rx_window)
        return apf_fail(s, APF_ERR_WINDOW_EXCEEDED, m->type);
    c->rx_window -= len;
    s->data_left = len;
    /* Bytes the device sent before it saw our CLOSE still go to the caller: APF has no EOF, so
     * our CLOSE is how a console's half-close (FIN) reaches the device, and the answer already
     * in flight must not be lost. Once both CLOSEs are exchanged the id is gone. */
    s->data_chan = c->state == APF_CH_OPEN || c->state == APF_CH_CLOSING ? c->id : 0;
}

static void on_close(apf_session *s, apf_channel *c, const apf_msg *m)
{
    if (c->state == APF_CH_OPENING)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    if (c->state == APF_CH_OPEN && send_close(s, c) < 0)
        return;
    ch_remove(s, c, true);
}

void apf_ch_on_msg(apf_session *s, const apf_msg *m)
{
    /* recipient is the first field of every channel message */
    uint32_t id = m->u.close.recipient;
    switch (m->type) {
    case APF_CHANNEL_OPEN_CONFIRMATION:
        id = m->u.open_confirm.recipient;
        break;
    case APF_CHANNEL_OPEN_FAILURE:
        id = m->u.open_failure.recipient;
        break;
    case APF_CHANNEL_WINDOW_ADJUST:
        id = m->u.window_adjust.recipient;
        break;
    case APF_CHANNEL_DATA:
        id = m->u.data.recipient;
        break;
    default:
        break;
    }
    apf_channel *c = apf_ch_find(s, id);
    if (!c) {
        if (!is_late(s, id))
            return apf_fail(s, APF_ERR_UNKNOWN_CHANNEL, m->type);
        if (m->type == APF_CHANNEL_DATA) {
            /* A closed channel's data: skip it, still bounded by our window. */
            if (m->u.data.data.len > s->cfg.rx_window)
                return apf_fail(s, APF_ERR_WINDOW_EXCEEDED, m->type);
            s->data_left = m->u.data.data.len;
            s->data_chan = 0;
        }
        return;
    }
    switch (m->type) {
    case APF_CHANNEL_OPEN_CONFIRMATION:
        on_confirm(s, c, m);
        break;
    case APF_CHANNEL_OPEN_FAILURE:
        on_open_failure(s, c, m);
        break;
    case APF_CHANNEL_WINDOW_ADJUST:
        on_window_adjust(s, c, m);
        break;
    case APF_CHANNEL_DATA:
        on_data(s, c, m);
        break;
    case APF_CHANNEL_CLOSE:
        on_close(s, c, m);
        break;
    default:
        break;
    }
}

void apf_ch_on_data_piece(apf_session *s, const uint8_t *p, size_t n)
{
    apf_channel *c = s->data_chan ? apf_ch_find(s, s->data_chan) : NULL;
    if (!c || (c->state != APF_CH_OPEN && c->state != APF_CH_CLOSING))
        return;
    c->rx_unconsumed += (uint32_t)n;
    if (s->cb->on_channel_data)
        s->cb->on_channel_data(s, c->id, p, n, c->user, s->user);
}
