/* relay.c - a console session's channel: opening it on the tunnel, relaying bytes both ways with
 * APF flow control, HTTP framing for absolute-URI requests, and device-initiated channels.
 *
 * Up (console -> device): bytes go straight from the ring's receive buffer into the channel
 * (apf_channel_send packs CHANNEL_DATA, TLS encrypts into the tunnel's send queue). What the
 * channel cannot take (device window shut, or the tunnel's send queue at max_buffered) waits in
 * c->in, at most two receive buffers, and the console is not read until it has gone.
 *
 * Down (device -> console): CHANNEL_DATA payloads are queued on the console connection; window
 * goes back to the device (WINDOW_ADJUST) only for bytes that left that queue, so a console that
 * stops reading stops the device, and one channel's consumer never holds more than the window it
 * granted (channel_window). */
#include "console_int.h"
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct console *of(struct chan_end *e)
{
    return (struct console *)e; /* the end is the console's first member */
}

static void http_limits_of(const struct console *c, http_limits *lim)
{
    http_limits_default(lim);
    lim->max_head = console_m(c)->cfg.max_head;
}

/* --- opening --- */

void console_attach(struct console *c)
{
    struct mpsd *m = console_m(c);
    struct tunnel *t = tunnel_lookup(c->wc, c->dtunnel, c->dgen);
    if (!t) {
        console_fail(c, CE_UNKNOWN, "its tunnel just closed");
        return;
    }
    if (!c->anonymous) {
        users_db *db = users_slot_get(&m->users);
        users_target tg = {.device = tunnel_guid(t),
                           .hostname = tunnel_hostname(t),
                           .group = tunnel_group(t),
                           .port = c->port};
        bool ok = db && users_allows(db, c->user, c->ulen, &tg);
        users_db_unref(db);
        if (!ok) {
            console_fail(c, CE_DENIED, tunnel_guid_str(t));
            return;
        }
    }
    if (tunnel_nconsoles(t) >= m->cfg.max_consoles_per_device) {
        console_fail(c, CE_CAP, "max_consoles_per_device reached");
        return;
    }
    if (!tunnel_has_port(t, c->port)) {
        console_fail(c, CE_PORT, tunnel_guid_str(t));
        return;
    }
    /* bytes still queued to this console are none of the new channel's */
    c->enq_other = c->enq;
    c->acked = 0;
    int rc = tunnel_channel_open(t, &c->end, c->port);
    if (rc == APF_ERR_TOO_MANY_CHANNELS) {
        console_fail(c, CE_CAP, "the tunnel's channel table is full");
        return;
    }
    if (rc != APF_OK) {
        console_fail(c, CE_UNKNOWN, apf_strerror(rc));
        return;
    }
    c->state = ST_OPENING;
    c->open_sent_us = stats_now_us();
    console_arm(c, m->cfg.open_timeout_ms);
}

void console_pause_in(struct console *c, bool pause)
{
    if (!c->conn || pause == c->paused)
        return;
    c->paused = pause;
    if (pause)
        ring_conn_pause_recv(c->conn);
    else
        ring_conn_resume_recv(c->conn);
}

static void e_opened(struct chan_end *e)
{
    struct console *c = of(e);
    struct mpsd *m = console_m(c);
    c->chan_was_open = true;
    if (c->proto == CP_DEVICE)
        return; /* relaying starts once the destination is connected */
    STAT_INC(&c->wc->stats, console_channels);
    stats_observe(&c->wc->stats, HIST_CHANNEL_OPEN, stats_now_us() - c->open_sent_us);
    c->ev_proto = (uint8_t)console_proto_index(c);
    console_count_result(c, 0);
    console_event(c, EV_CONSOLE_OPEN);
    c->state = ST_RELAY;
    if (c->proto == CP_SOCKS) {
        socks_reply(&c->rq->socks, SOCKS_REP_SUCCEEDED, NULL, 0);
        console_send_socks_output(c);
    } else if (!c->http_forward) {
        static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
        console_queue(c, (const uint8_t *)ok, sizeof(ok) - 1);
    } else if (!c->hf && !(c->hf = calloc(1, sizeof(*c->hf)))) {
        console_fail(c, CE_INTERNAL, "out of memory");
        return;
    }
    if (c->hf) { /* a fresh channel: fresh framing */
        struct hfwd *h = c->hf;
        uint8_t *rh = h->rh;
        uint32_t rc = h->rh_cap;
        memset(h, 0, sizeof(*h));
        h->rh = rh;
        h->rh_cap = rc;
    }
    console_free_request(c);
    log_kv(LOG_INFO, CF(c), "channel %u open", e->id);
    c->last_ms = ring_now_ms(c->wc->w);
    console_arm(c, m->cfg.idle_timeout_ms);
    console_relay_up(c, NULL, 0);
}

static void e_open_failed(struct chan_end *e, uint32_t reason)
{
    console_fail(of(e), CE_REFUSED, apf_open_failure_name(reason));
}

static void e_writable(struct chan_end *e)
{
    console_relay_up(of(e), NULL, 0);
}

/* --- down: device -> console --- */

/* The relay cannot go on (a send failed, a bound was exceeded): counted, logged, cut. */
static void relay_abort(struct console *c, const char *why)
{
    STAT_INC(&c->wc->stats, console_relay_aborted);
    if (wctx_peer_log_ok(c->wc))
        log_kv(LOG_WARN, CF(c), "%s: closing", why);
    console_close(c, RING_CLOSE_ABORT, why);
}

static void deliver_down(struct console *c, const uint8_t *p, size_t n)
{
    if (!n || c->closing)
        return;
    ssize_t k = ring_conn_send(c->conn, p, n);
    if (k != (ssize_t)n) {
        /* the device sent beyond the window we granted it, which the APF engine refuses, so
         * this is a console queue that is not what we sized: drop the session, not the tunnel */
        relay_abort(c, "console send queue overflow");
        return;
    }
    c->enq += n;
    c->down += n;
    STAT_ADD(&c->wc->stats, console_bytes_down, n);
}

/* Returns window to the device for what the console took off its queue. */
void console_relay_drained(struct console *c)
{
    if (!c->end.t || !c->conn)
        return;
    uint64_t left = c->enq - ring_conn_queued(c->conn);
    uint64_t dev = left > c->enq_other ? left - c->enq_other : 0;
    if (dev > c->acked) {
        size_t n = (size_t)(dev - c->acked);
        c->acked = dev;
        tunnel_channel_consumed(c->end.t, &c->end, n);
    }
    /* Ask to hear of the drain only while more than the low-water mark (half the window) is
     * queued. Below it nothing can stall: a device out of window has given us a whole window,
     * less what we owe it (under half, or WINDOW_ADJUST went out), so more than half is queued
     * here, and the notification comes as it drains. Asking below the mark would only make the
     * worker ask again on every pass. */
    if (c->end.t && c->enq - c->enq_other > c->acked &&
        ring_conn_queued(c->conn) > console_m(c)->cfg.channel_window / 2)
        ring_conn_want_writable(c->conn);
}

/* --- entry points ---
 * A console's events arrive from two sides (its own connection, and the tunnel's APF callbacks)
 * and call each other (a response ending lets a held request go up). What would drop the
 * channel and its framing state under a caller's feet, a switch to another channel, is only
 * noted inside; it runs when the outermost entry point unwinds. */

static void start_switch(struct console *c);

static void enter(struct console *c)
{
    c->depth++;
}

static void leave(struct console *c)
{
    if (--c->depth == 0 && c->want_switch && !c->closing) {
        c->want_switch = false;
        start_switch(c);
    }
}

/* The device broke HTTP framing: nothing more of this channel can be trusted to belong to a
 * request, so the console goes (its bytes so far were each a response it asked for). */
static void device_framing_error(struct console *c, const char *why)
{
    STAT_INC(&c->wc->stats, console_device_framing);
    if (wctx_peer_log_ok(c->wc))
        log_kv(LOG_WARN, CF(c), "%s: closing", why);
    console_close(c, RING_CLOSE_GRACEFUL, why); /* the responses queued before it still go */
}

static void response_done(struct console *c)
{
    struct hfwd *h = c->hf;
    h->in_resp_body = false;
    if (h->outstanding) {
        h->outstanding--;
        h->head_mask >>= 1;
    }
    if (h->outstanding)
        return;
    if (h->last) {
        console_close(c, RING_CLOSE_GRACEFUL, "the console asked to close after the response");
        return;
    }
    if (h->switching)
        c->want_switch = true;
    else
        console_relay_up(c, NULL, 0); /* requests held back at the pipelining bound */
}

/* A response head at p[0..n): 0 when incomplete, else its length (the head is delivered). */
static ssize_t response_head(struct console *c, const uint8_t *p, size_t n, bool *bad)
{
    struct hfwd *h = c->hf;
    http_limits lim;
    http_head hd;
    http_limits_of(c, &lim);
    int rc = http_parse_response(p, n, &lim, (h->head_mask & 1) != 0, &hd);
    if (rc == HTTP_AGAIN) {
        *bad = n >= lim.max_head;
        return 0;
    }
    /* 101: mpsd strips Upgrade from every request it forwards, so no device may switch */
    if (rc < 0 || hd.status == 101) {
        *bad = true;
        return 0;
    }
    deliver_down(c, p, (size_t)rc);
    if (hd.status >= 100 && hd.status < 200)
        return rc; /* interim: the final response follows */
    http_body_init(&h->resp, hd.body, hd.content_length, &lim);
    h->in_resp_body = true;
    if (hd.body == HTTP_BODY_UNTIL_CLOSE)
        h->last = true; /* the device ends it by closing: so does the console */
    if (http_body_done(&h->resp))
        response_done(c);
    return rc;
}

static void forward_down(struct console *c, const uint8_t *p, size_t n)
{
    struct hfwd *h = c->hf;
    while (n && !c->closing) {
        if (h->in_resp_body) {
            ssize_t k = http_body_scan(&h->resp, p, n);
            if (k < 0) {
                device_framing_error(c, "the device sent a malformed chunked body");
                return;
            }
            deliver_down(c, p, (size_t)k);
            p += k;
            n -= (size_t)k;
            if (http_body_done(&h->resp))
                response_done(c);
            continue;
        }
        if (!h->outstanding || c->want_switch) {
            device_framing_error(c, "the device sent a response nobody asked for");
            return;
        }
        bool bad = false;
        ssize_t k;
        if (!h->rh_len) {
            k = response_head(c, p, n, &bad);
            if (bad)
                break;
            if (k > 0) {
                p += k;
                n -= (size_t)k;
                continue;
            }
        }
        /* a head split across CHANNEL_DATA: assemble it (bounded by max_head) */
        uint32_t cap = console_m(c)->cfg.max_head;
        size_t take = n < cap - h->rh_len ? n : cap - h->rh_len;
        if (!h->rh) {
            if (!(h->rh = malloc(cap))) {
                console_close(c, RING_CLOSE_ABORT, "out of memory");
                return;
            }
            h->rh_cap = cap;
        }
        size_t old = h->rh_len;
        memcpy(h->rh + old, p, take);
        h->rh_len += (uint32_t)take;
        k = response_head(c, h->rh, h->rh_len, &bad);
        if (bad)
            break;
        if (k == 0) {
            p += take;
            n -= take;
            continue;
        }
        /* the head ended inside what we just added: the rest of p is the body */
        p += (size_t)k - old;
        n -= (size_t)k - old;
        h->rh_len = 0;
    }
    if (n && !c->closing)
        device_framing_error(c, "the device sent a malformed HTTP response head");
}

static void e_data(struct chan_end *e, const uint8_t *p, size_t n)
{
    struct console *c = of(e);
    if (c->closing)
        return;
    c->last_ms = ring_now_ms(c->wc->w);
    if (!c->conn) { /* device-initiated, destination not connected yet: hold (within our window) */
        if (console_in_append(c, p, n, console_m(c)->cfg.channel_window) < 0)
            console_close(c, RING_CLOSE_ABORT, "device sent beyond its window");
        return;
    }
    enter(c);
    if (c->hf)
        forward_down(c, p, n);
    else
        deliver_down(c, p, n);
    console_relay_drained(c);
    leave(c);
}

static void e_closed(struct chan_end *e, const char *why)
{
    struct console *c = of(e);
    if (c->closing)
        return;
    if (c->state == ST_OPENING) {
        console_fail(c, CE_UNKNOWN, why);
        return;
    }
    enter(c);
    struct hfwd *h = c->hf;
    if (h && h->in_resp_body && http_body_eof(&h->resp))
        response_done(c); /* a body delimited by the close is complete */
    if (!c->closing && h && !h->outstanding && !h->last && !c->eof_in &&
        !atomic_load(&console_m(c)->draining)) {
        /* the device closed its HTTP connection between requests: the console's next request
         * gets a fresh channel */
        c->want_switch = true;
    } else if (!c->closing && !c->want_switch) {
        console_close(c, RING_CLOSE_GRACEFUL, why);
    }
    leave(c);
}

const struct chan_end_ops console_end_ops = {
    .opened = e_opened,
    .open_failed = e_open_failed,
    .data = e_data,
    .writable = e_writable,
    .closed = e_closed,
};

/* --- up: console -> device --- */

static bool same_device(struct console *c, const httpproxy_req *r)
{
    if (r->port != c->port)
        return false;
    struct mpsd *m = console_m(c);
    size_t n = console_strip_suffix(&m->cfg, r->host, r->host_len);
    guid g;
    dir_entry e;
    if (guid_parse_loose(r->host, n, &g) == 0)
        return guid_eq(&g, &c->device);
    return dir_lookup_host(m->directory, r->host, n, &e) == 0 && guid_eq(&e.guid, &c->device);
}

/* A later request's credentials are the session's only if they are the very ones that
 * authenticated it (user and password: the digest), else the request is checked afresh. */
static bool same_credentials(struct console *c, const httpproxy_req *r)
{
    if (!r->has_auth)
        return true; /* the connection is authenticated already */
    if (!c->has_cred_digest)
        return false;
    uint8_t d[32];
    console_cred_digest(r->user, r->user_len, r->pass, r->pass_len, d);
    unsigned diff = 0;
    for (int i = 0; i < 32; i++)
        diff |= (unsigned)(d[i] ^ c->cred_digest[i]);
    explicit_bzero(d, sizeof(d));
    return diff == 0;
}

/* Replaces the head at the front of c->in (hl bytes) with its origin-form rewrite. */
static int rewrite_head(struct console *c, const httpproxy_req *r, size_t hl)
{
    size_t cap = hl + 320;
    uint8_t *tmp = malloc(cap);
    if (!tmp)
        return -ENOMEM;
    ssize_t wl = httpproxy_rewrite(r, tmp, cap);
    if (wl < 0) {
        free(tmp);
        return -EINVAL;
    }
    size_t need = c->in_len - hl + (size_t)wl;
    if (need > c->in_cap) {
        /* not realloc: the old block held the console's credentials, it is wiped first */
        uint8_t *b = malloc(need);
        if (!b) {
            free(tmp);
            return -ENOMEM;
        }
        memcpy(b, c->in, c->in_len);
        explicit_bzero(c->in, c->in_cap);
        free(c->in);
        c->in = b;
        c->in_cap = (uint32_t)need;
    }
    memmove(c->in + wl, c->in + hl, c->in_len - hl);
    memcpy(c->in, tmp, (size_t)wl);
    if ((size_t)wl < hl) /* the tail the shorter head left: it held Proxy-Authorization */
        explicit_bzero(c->in + need, hl - (size_t)wl);
    c->in_len = (uint32_t)need;
    c->hf->pass = (uint32_t)wl;
    free(tmp);
    return 0;
}

enum frame { FRAME_GO, FRAME_NEED, FRAME_HOLD };

/* A request the console sent on an HTTP forwarding session is bad: with responses still owed
 * an error reply would land among them, so the connection is cut instead. */
static void frame_fail(struct console *c, int status, const char *detail)
{
    if (c->hf->outstanding) {
        STAT_INC(&c->wc->stats, console_bad_request);
        if (wctx_peer_log_ok(c->wc))
            log_kv(LOG_WARN, CF(c), "malformed proxy request: %s: closing", detail);
        console_close(c, RING_CLOSE_ABORT, "malformed request");
    } else {
        console_fail_http(c, status, detail);
    }
}

/* What may go up now from the front of c->in (HTTP forwarding): *go bytes, or nothing because
 * the rest of a head has not come (NEED: keep reading) or because we wait for responses (HOLD).
 */
static enum frame frame_up(struct console *c, size_t *go)
{
    struct hfwd *h = c->hf;
    *go = 0;
    if (h->pass) {
        *go = h->pass;
        return FRAME_GO;
    }
    if (h->switching || h->last || c->closing)
        return FRAME_HOLD;
    if (h->in_req_body) {
        ssize_t k = http_body_scan(&h->req, c->in, c->in_len);
        if (k < 0) {
            frame_fail(c, 400, "malformed chunked request body");
            return FRAME_HOLD;
        }
        h->pass = (uint32_t)k;
        if (http_body_done(&h->req))
            h->in_req_body = false;
        *go = h->pass;
        return k ? FRAME_GO : FRAME_NEED;
    }
    if (h->outstanding >= 64)
        return FRAME_HOLD; /* pipelining bound: wait for responses */
    http_limits lim;
    http_limits_of(c, &lim);
    httpproxy_req r;
    int rc = httpproxy_parse(c->in, c->in_len, &lim, &r);
    if (rc == HTTP_AGAIN) {
        if (c->in_len < lim.max_head)
            return FRAME_NEED;
        frame_fail(c, 431, "request head too large");
        return FRAME_HOLD;
    }
    if (rc < 0) {
        frame_fail(c, httpproxy_err_status(rc), httpproxy_strerror(rc));
        return FRAME_HOLD;
    }
    bool same = r.kind == HTTPPROXY_FORWARD && same_device(c, &r) && same_credentials(c, &r);
    if (!same) {
        httpproxy_wipe(&r);
        h->switching = true;
        if (!h->outstanding)
            c->want_switch = true;
        return FRAME_HOLD;
    }
    if (rewrite_head(c, &r, (size_t)rc) < 0) {
        httpproxy_wipe(&r);
        console_close(c, RING_CLOSE_ABORT, "cannot rewrite the request");
        return FRAME_HOLD;
    }
    if (http_slice_eq(r.head.method, "HEAD"))
        h->head_mask |= 1ull << h->outstanding;
    h->outstanding++;
    http_body_init(&h->req, r.head.body, r.head.content_length, &lim);
    h->in_req_body = !http_body_done(&h->req);
    h->last = !r.head.keep_alive;
    httpproxy_wipe(&r);
    *go = h->pass;
    return FRAME_GO;
}

/* The next request names another device (or port, or carries other credentials), or the device
 * closed its end: let this channel go and run the request phase again on what the console sent. */
static void start_switch(struct console *c)
{
    if (c->end.t)
        tunnel_detach(c->end.t, &c->end);
    console_relay_free(c);
    c->http_forward = false;
    if (!(c->rq = calloc(1, sizeof(*c->rq)))) {
        console_close(c, RING_CLOSE_ABORT, "out of memory");
        return;
    }
    c->state = ST_REQUEST;
    c->req_ms = ring_now_ms(c->wc->w);
    console_arm(c, console_m(c)->cfg.request_timeout_ms);
    if (c->in_len)
        console_request(c);
    else if (c->eof_in)
        console_close(c, RING_CLOSE_GRACEFUL, "console closed");
    else
        console_pause_in(c, false);
}

static void account_up(struct console *c, size_t k)
{
    c->up += k;
    STAT_ADD(&c->wc->stats, console_bytes_up, k);
}

static void relay_up(struct console *c, const uint8_t *p, size_t n)
{
    if (c->closing || c->state != ST_RELAY || !c->end.t)
        return; /* not open yet, or the channel is gone and the close is under way */
    bool blocked = false;
    if (n && !c->in_len && !c->hf) {
        /* the usual case: straight from the receive buffer into CHANNEL_DATA */
        ssize_t k = tunnel_channel_send(c->end.t, &c->end, p, n);
        if (k < 0) {
            relay_abort(c, "channel send failed");
            return;
        }
        account_up(c, (size_t)k);
        p += k;
        n -= (size_t)k;
    }
    if (n && console_in_append(c, p, n, console_in_limit(c)) < 0) {
        relay_abort(c, "console sent while paused beyond the bound");
        return;
    }
    while (c->in_len && c->end.t && !c->closing && c->state == ST_RELAY) {
        size_t go = c->in_len;
        if (c->hf) {
            enum frame f = frame_up(c, &go);
            if (f != FRAME_GO) {
                blocked = f == FRAME_HOLD;
                break;
            }
        }
        ssize_t k = tunnel_channel_send(c->end.t, &c->end, c->in, go);
        if (k < 0) {
            relay_abort(c, "channel send failed");
            return;
        }
        if (c->hf)
            c->hf->pass -= (uint32_t)k;
        console_in_consume(c, (size_t)k);
        account_up(c, (size_t)k);
        if ((size_t)k < go) {
            blocked = true; /* window or tunnel queue: writable() follows */
            break;
        }
    }
    if (c->closing || c->state != ST_RELAY)
        return;
    /* read on while the console's bytes go out (or a head is still incomplete), stop while the
     * channel cannot take them */
    console_pause_in(c, blocked || (c->in_len && !c->hf));
    if (!c->in_len && c->eof_in && !c->close_sent && c->end.t) {
        /* APF has no EOF: our CLOSE is the half-close; the device's answer still comes down,
         * within the window left (no WINDOW_ADJUST follows a CLOSE) */
        c->close_sent = true;
        tunnel_channel_close(c->end.t, &c->end);
    }
}

void console_relay_up(struct console *c, const uint8_t *p, size_t n)
{
    enter(c);
    relay_up(c, p, n);
    leave(c);
}

void console_relay_free(struct console *c)
{
    if (c->hf) {
        free(c->hf->rh);
        free(c->hf);
        c->hf = NULL;
    }
}

/* --- device-initiated channels --- */

static bool allowed(const struct config *cfg, const netaddr *dst)
{
    for (unsigned i = 0; i < cfg->n_device_open_allow; i++) {
        netaddr a;
        const struct config_listen *l = &cfg->device_open_allow[i];
        if (netaddr_from_host(l->host, strlen(l->host), l->port, &a) == 0 && netaddr_eq(&a, dst))
            return true;
    }
    return false;
}

void console_dev_connected(ring_conn *conn)
{
    struct console *c = ring_conn_user(conn);
    c->conn = conn;
    c->conn_id = ring_conn_id(conn);
    console_set_caps(c);
    if (c->closing) { /* timed out, or the tunnel went, while we connected */
        ring_conn_close(conn, RING_CLOSE_ABORT);
        return;
    }
    if (!c->end.t) { /* the device closed the channel while we connected */
        console_close(c, RING_CLOSE_GRACEFUL, "the device closed the channel");
        return;
    }
    c->state = ST_RELAY;
    log_kv(LOG_INFO, DF(c), "channel %u to %s connected", c->end.id, c->peer);
    console_arm(c, console_m(c)->cfg.idle_timeout_ms);
    /* what the device sent meanwhile: down it goes, window returns as it drains */
    if (c->in_len) {
        deliver_down(c, c->in, c->in_len);
        console_in_consume(c, c->in_len); /* ST_RELAY: the buffer goes */
    }
    console_relay_drained(c);
}

void console_dev_connect_failed(ring_worker *w, void *user, int err)
{
    struct console *c = user;
    (void)w;
    STAT_INC(&c->wc->stats, device_open_failed);
    if (wctx_peer_log_ok(c->wc))
        log_kv(LOG_WARN, DF(c), "channel to %s: connect failed: %s", c->peer, strerror(-err));
    if (c->end.t)
        tunnel_detach(c->end.t, &c->end);
    ring_timer_cancel(c->wc->w, &c->timer);
    console_free(c);
}

uint32_t console_device_open(struct wctx *wc, struct tunnel *t, const apf_open_request *req,
                             struct chan_end **out)
{
    struct mpsd *m = wc->m;
    netaddr dst;
    char shown[80];
    log_sanitize_n((const char *)req->addr.p, req->addr.len, shown, sizeof(shown));
    bool ok = req->port > 0 && req->port <= 65535 &&
              netaddr_from_host((const char *)req->addr.p, req->addr.len, (uint16_t)req->port,
                                &dst) == 0 &&
              allowed(&m->cfg, &dst);
    if (!ok) {
        STAT_INC(&wc->stats, device_open_refused);
        if (wctx_peer_log_ok(wc))
            log_kv(LOG_WARN, LF(.peer = tunnel_peer(t), .guid = tunnel_guid_str(t)),
                   "asked for a channel to '%s':%u: refused: not in device_open_allow", shown,
                   req->port);
        return APF_OPEN_ADMINISTRATIVELY_PROHIBITED;
    }
    struct console *c = console_new(wc, CP_DEVICE);
    if (!c)
        return APF_OPEN_RESOURCE_SHORTAGE;
    c->state = ST_CONNECTING;
    c->port = (uint16_t)req->port;
    snprintf(c->name, sizeof(c->name), "%s", tunnel_guid_str(t));
    snprintf(c->guid_str, sizeof(c->guid_str), "%s", tunnel_guid_str(t));
    netaddr_format(&dst, c->peer, sizeof(c->peer));
    if (ring_connect(wc->w, (const struct sockaddr *)&dst.ss, dst.len, NULL, 0, &console_device_cbs,
                     c) != 0) {
        STAT_INC(&wc->stats, device_open_failed);
        console_free(c);
        return APF_OPEN_CONNECT_FAILED;
    }
    STAT_INC(&wc->stats, device_open_allowed);
    console_arm(c, m->cfg.open_timeout_ms);
    *out = &c->end;
    return 0;
}
