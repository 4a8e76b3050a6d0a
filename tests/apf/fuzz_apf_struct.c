/*
 * libFuzzer target: a structure-aware APF session fuzzer.
 *
 * fuzz_session.c feeds raw bytes, so most inputs die in the framing. Here the
 * input is read FuzzedDataProvider-style as a program: each step either has
 * the "device" send a well-formed APF message (packed with apf_pack from
 * fuzzed fields: ids picked among the live channels, windows and lengths from
 * interesting sets, now and then a corrupted byte or a truncation), or has the
 * "console" act on the engine (open/send/consume/close a channel, answer a
 * pending login accept/refuse/late, advance time, supersede the tunnel). The
 * callbacks act too (answer the login inside on_auth, open on each forward,
 * close or supersede from inside on_channel_data, ...). So the deep states
 * are reached: logged in with channels open in both directions, windows
 * exhausted and queues full, login pending with bytes held, supersede while
 * channels live.
 *
 * The engine's documented invariants are checked on everything it emits and
 * reports; a violation calls abort() so libFuzzer reports it:
 *  - every send is one whole, well-formed message; nothing after DISCONNECT;
 *  - CHANNEL_DATA only on a confirmed channel, <= max_payload, within the
 *    device's window, never after our CLOSE; one CLOSE per channel;
 *  - window returned only for drained bytes (granted - consumed <= rx_window),
 *    inbound data never beyond what was granted;
 *  - no event for an unknown or closed channel, on_channel_closed (or
 *    on_channel_open_failed) exactly once and last, and for every live channel
 *    when the session ends;
 *  - apf_channel_send accepts <= n, the queue stays within its bound, and
 *    apf_channel_send_window agrees with the windows the device granted;
 *  - one on_auth at a time, one USERAUTH_SUCCESS, one KEEPALIVE_OPTIONS_REQUEST.
 * Window accounting is skipped once a corrupted message went in ("tainted").
 */
#include <stdio.h>

#include "fuzz_apf_struct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

ch *chan(st *t, uint32_t id)
{
    return id >= 4 && id - 4 < MAXCH ? &t->c[id - 4] : NULL;
}

/* Our channel i took the confirmation made for it. */
static void confirmed(st *t, uint32_t i)
{
    ch *c = &t->c[i];
    if (c->has_dev || !c->ours || !t->conf_set[i])
        return;
    c->has_dev = true;
    c->dev = t->conf_dev[i];
    c->tx_win = (uint64_t)t->conf_win[i] + t->conf_adj[i];
    c->tx_cap = t->cfg.tx_queue < t->conf_win[i] ? t->cfg.tx_queue : t->conf_win[i];
}

static ch *by_dev(st *t, uint32_t dev)
{
    for (uint32_t i = 0; i < MAXCH; i++)
        if (t->c[i].known && t->c[i].has_dev && t->c[i].dev == dev)
            return &t->c[i];
    for (uint32_t i = 0; i < MAXCH; i++)
        if (t->c[i].known && t->conf_set[i] && t->conf_dev[i] == dev) {
            confirmed(t, i);
            return t->c[i].has_dev ? &t->c[i] : NULL;
        }
    return NULL;
}

void supersede(st *t)
{
    if (apf_session_channel_count(t->s) > 0)
        t->reached |= R_SUPERSEDE;
    apf_session_disconnect(t->s, APF_DISC_BY_APPLICATION);
}

static unsigned long reach_count[R_COUNT], inputs;

static void reach_print(void)
{
    static const char *const names[R_COUNT] = {"logged_in",
                                               "ready",
                                               "our_open_confirmed",
                                               "device_open_accepted",
                                               "data_in",
                                               "window_exhausted_with_queue",
                                               "writable",
                                               "adjust_out",
                                               "auth_pending",
                                               "auth_answered_late",
                                               "supersede_with_channels",
                                               "channel_closed_both"};
    fprintf(stderr, "APF_FUZZ_STATS inputs=%lu", inputs);
    for (int i = 0; i < R_COUNT; i++)
        fprintf(stderr, " %s=%lu", names[i], reach_count[i]);
    fprintf(stderr, "\n");
}

/* An event for id: it must be a channel that exists and has not ended. */
static ch *event_for(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    if (c) {
        CHECK(c->known);
        CHECK(!c->ended);
    }
    return c;
}

static bool accounting(const st *t)
{
    return !t->tainted;
}

void close_ch(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    if (apf_channel_close(t->s, id) == APF_OK && c)
        c->close_req = true;
}

/* apf_channel_consumed, counted first: the WINDOW_ADJUST goes out inside the call. */
void consume(st *t, uint32_t id, size_t n)
{
    ch *c = chan(t, id);
    if (c)
        c->consumed += n;
    if (apf_channel_consumed(t->s, id, n) != APF_OK && c)
        c->consumed -= n;
}

/* ---- callbacks: check what the engine emits ---------------------------------- */

static int f_send(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    st *t = u;
    (void)s;
    CHECK(!t->disc_out);
    t->sends++;
    apf_msg m;
    size_t len = 0;
    int rc = apf_unpack(p, n, NULL, 0, &m, &len);
    if (rc != APF_OK || len != n)
        rc = apf_unpack(p, n, NULL, APF_UNPACK_SUCCESS_PORT, &m, &len);
    CHECK(rc == APF_OK && len == n); /* one whole message per call */
    ch *c;
    switch (m.type) {
    case APF_DISCONNECT:
        t->disc_out = true;
        break;
    case APF_USERAUTH_SUCCESS:
        CHECK(!t->auth_ok);
        t->auth_ok = true;
        t->reached |= R_LOGGED_IN;
        break;
    case APF_KEEPALIVE_OPTIONS_REQUEST:
        CHECK(!t->ka_opts);
        t->ka_opts = true;
        t->reached |= R_READY;
        break;
    case APF_CHANNEL_OPEN: /* ours: sent inside apf_channel_open, before it returns the id */
        c = chan(t, m.u.open.sender);
        t->expect_open = m.u.open.sender;
        if (c) {
            CHECK(!c->known);
            *c = (ch){.known = true, .ours = true, .granted = m.u.open.window};
        }
        break;
    case APF_CHANNEL_OPEN_CONFIRMATION: /* a device-initiated open we accepted */
        c = chan(t, m.u.open_confirm.sender);
        if (c) {
            CHECK(!c->known);
            uint32_t k = m.u.open_confirm.recipient - DEV_BASE;
            *c = (ch){.known = true,
                      .has_dev = true,
                      .dev = m.u.open_confirm.recipient,
                      .granted = m.u.open_confirm.window};
            t->reached |= R_DEV_OPEN;
            if (k < MAXDEV && k < t->ndev) {
                c->tx_win = t->devwin[k] + t->pre_adj[m.u.open_confirm.sender - 4];
                c->tx_cap = t->cfg.tx_queue < t->devwin[k] ? t->cfg.tx_queue : t->devwin[k];
            } else {
                c->has_dev = false;
            }
        }
        break;
    case APF_CHANNEL_DATA:
        CHECK(m.u.data.data.len <= t->cfg.max_payload);
        c = by_dev(t, m.u.data.recipient);
        if (!c) {
            CHECK(t->tainted); /* data for a channel the device never confirmed */
            break;
        }
        CHECK(!c->ended && !c->close_out);
        if (accounting(t)) {
            CHECK(m.u.data.data.len <= c->tx_win); /* never beyond the device's window */
            c->tx_win -= m.u.data.data.len;
        }
        break;
    case APF_CHANNEL_WINDOW_ADJUST:
        c = by_dev(t, m.u.window_adjust.recipient);
        if (!c) {
            CHECK(t->tainted);
            break;
        }
        CHECK(!c->ended);
        c->granted += m.u.window_adjust.bytes;
        t->reached |= R_ADJUST_OUT;
        if (accounting(t)) /* window comes back only for drained bytes */
            CHECK(c->granted - c->consumed <= t->cfg.rx_window);
        break;
    case APF_CHANNEL_CLOSE:
        c = by_dev(t, m.u.close.recipient);
        if (!c) {
            CHECK(t->tainted);
            break;
        }
        CHECK(!c->ended && !c->close_out); /* exactly one CLOSE per side */
        c->close_out = true;
        break;
    default:
        break;
    }
    return 0;
}

static void f_auth(apf_session *s, const apf_auth_request *r, void *u)
{
    st *t = u;
    CHECK(!t->auth_wait && !t->auth_ok);
    CHECK(r->user && r->method && r->password);
    CHECK(!strcmp(r->method, "password") || !strcmp(r->method, "none"));
    t->auth_wait = true;
    if (!(t->mode & M_AUTH_DEFER)) {
        t->auth_wait = false;
        apf_session_auth_result(s, !(t->mode & M_AUTH_REFUSE));
    }
}

static void f_forward(apf_session *s, uint32_t port, bool added, void *u)
{
    st *t = u;
    CHECK(port <= 65535);
    if (added && (t->mode & M_OPEN_ON_FWD)) {
        uint32_t id;
        apf_channel_open(s, port, NULL, 0, NULL, &id);
    }
}

static void f_ready(apf_session *s, void *u)
{
    st *t = u;
    (void)s;
    CHECK(!t->ready);
    CHECK(t->ka_opts); /* KEEPALIVE_OPTIONS_REQUEST goes out first */
    t->ready = true;
}

static void f_open(apf_session *s, uint32_t id, void *cu, void *u)
{
    st *t = u;
    ch *c = event_for(t, id);
    (void)cu;
    if (c) {
        CHECK(!c->opened);
        c->opened = true;
        if (c->ours) {
            confirmed(t, id - 4);
            t->reached |= R_OUR_OPEN;
        }
        if (c->ours)
            CHECK(c->has_dev || t->tainted);
    }
    if (t->mode & M_WRITABLE) {
        static uint8_t junk[600];
        CHECK(apf_channel_send(s, id, junk, sizeof(junk)) <= (ssize_t)sizeof(junk));
    }
}

static void f_open_failed(apf_session *s, uint32_t id, uint32_t reason, void *cu, void *u)
{
    st *t = u;
    ch *c = event_for(t, id);
    (void)s, (void)reason, (void)cu;
    if (c) {
        CHECK(c->ours && !c->opened);
        c->ended = true;
    }
}

static void f_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu, void *u)
{
    st *t = u;
    ch *c = event_for(t, id);
    (void)cu;
    CHECK(n > 0 && p);
    if (c) {
        /* a channel we closed before the confirmation has no on_channel_open, but what the
         * device sent before it saw our CLOSE is still delivered (half-close) */
        CHECK(c->opened || c->close_req);
        c->delivered += n;
        t->reached |= R_DATA_IN;
        if (accounting(t))
            CHECK(c->delivered <= c->granted); /* never beyond the window we granted */
    }
    if (t->in_data)
        return;
    t->in_data = true;
    if (t->mode & M_CONSUME)
        consume(t, id, n);
    if (t->mode & M_CB_CLOSE)
        close_ch(t, id);
    if ((t->mode & M_CB_SUPER) && (p[0] & 0x80))
        supersede(t); /* superseded mid-callback */
    t->in_data = false;
}

static void f_writable(apf_session *s, uint32_t id, void *cu, void *u)
{
    st *t = u;
    (void)cu;
    ch *c = event_for(t, id);
    t->reached |= R_WRITABLE;
    if (c)
        CHECK(c->opened);
    if (t->mode & M_WRITABLE) {
        static uint8_t junk[1000];
        apf_channel_send(s, id, junk, sizeof(junk));
    }
}

static void f_closed(apf_session *s, uint32_t id, void *cu, void *u)
{
    st *t = u;
    (void)s, (void)cu;
    ch *c = event_for(t, id);
    if (c) {
        c->ended = true;
        if (c->close_out && !apf_session_is_closed(s))
            t->reached |= R_HALF_CLOSE;
    }
}

static uint32_t f_open_req(apf_session *s, const apf_open_request *r, void **cu, void *u)
{
    st *t = u;
    (void)s, (void)cu;
    ch *c = chan(t, r->channel);
    if (c)
        CHECK(!c->known); /* ids are never reused */
    return (t->mode & M_ACCEPT_DEV) ? 0 : APF_OPEN_CONNECT_FAILED;
}

static bool f_udp(apf_session *s, const apf_udp_request *r, void *u)
{
    (void)s, (void)u;
    return r->port & 1;
}

static void f_version(apf_session *s, const apf_version_info *v, void *u)
{
    (void)u;
    apf_version_info got;
    CHECK(v && apf_session_version(s, &got) && guid_eq(&got.id, &v->id) &&
          strcmp(got.uuid, v->uuid) == 0);
}

static void f_ka_opts(apf_session *s, uint32_t interval, uint32_t timeout, void *u)
{
    (void)s, (void)interval, (void)timeout, (void)u;
}

static void f_disconnect(apf_session *s, uint32_t reason, void *u)
{
    (void)s, (void)reason, (void)u;
}

static void f_error(apf_session *s, int err, unsigned msg_type, void *u)
{
    (void)s, (void)msg_type, (void)u;
    CHECK(err < 0 && -err < APF_ERR_COUNT); /* a counter index, as mpsd uses it */
}

/* The hex-dump hook sees every message; a password never reaches it. */
static void f_debug(apf_session *s, int dir, const uint8_t *p, size_t n, void *u)
{
    (void)s, (void)u;
    CHECK(n > 0 && p && dir >= APF_DEBUG_IN && dir <= APF_DEBUG_OUT);
    apf_msg m;
    size_t len;
    if (dir == APF_DEBUG_IN && p[0] == APF_USERAUTH_REQUEST &&
        apf_unpack(p, n, NULL, 0, &m, &len) == APF_OK && m.u.userauth.has_password)
        for (uint32_t i = 0; i < m.u.userauth.password.len; i++)
            CHECK(m.u.userauth.password.p[i] == '*');
}

static const apf_callbacks cb = {
    .on_version = f_version,
    .on_keepalive_options = f_ka_opts,
    .on_disconnect = f_disconnect,
    .on_error = f_error,
    .send = f_send,
    .on_auth = f_auth,
    .on_forward = f_forward,
    .on_ready = f_ready,
    .on_channel_open = f_open,
    .on_channel_open_failed = f_open_failed,
    .on_channel_data = f_data,
    .on_channel_writable = f_writable,
    .on_channel_closed = f_closed,
    .on_open_request = f_open_req,
    .on_udp_send_to = f_udp,
};

/* Checks at a quiet point (no bytes in flight). */
void quiet_checks(st *t)
{
    bool closed = apf_session_is_closed(t->s);
    for (uint32_t i = 0; i < MAXCH; i++) {
        ch *c = &t->c[i];
        if (!c->known || c->ended)
            continue;
        CHECK(!closed); /* the end of a session closes every live channel */
        uint32_t id = i + 4;
        CHECK(apf_channel_queued(t->s, id) <= t->cfg.tx_queue);
        uint32_t w = apf_channel_send_window(t->s, id); /* 0 once a CLOSE went either way */
        if (c->opened && w == 0 && apf_channel_queued(t->s, id) > 0)
            t->reached |= R_WIN_EXHAUSTED;
        if (accounting(t) && c->opened && c->has_dev)
            CHECK(w == c->tx_win || (w == 0 && (c->close_out || c->dev_close)));
    }
    if (closed)
        CHECK(apf_session_channel_count(t->s) == 0);
    if (t->auth_wait)
        t->reached |= R_AUTH_PENDING;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static st t;
    fdp f = {data, size};
    memset(&t, 0, sizeof(t));
    t.f = &f;
    t.mode = u8(&f);
    uint8_t shape = u8(&f);
    static const uint32_t windows[] = {64, 600, 4096, 32768};
    static const uint32_t payloads[] = {16, 100, 512, 16384};
    static const uint32_t queues[] = {0, 100, 2048, 16384};
    static const uint32_t chans[] = {1, 2, 4, 16};
    apf_config_default(&t.cfg);
    t.cfg.rx_window = windows[shape & 3];
    t.cfg.max_payload = payloads[(shape >> 2) & 3];
    t.cfg.tx_queue = queues[(shape >> 4) & 3];
    t.cfg.max_channels = chans[shape >> 6];
    t.cfg.ready_after_forwards = u8(&f) % 5;
    t.cfg.idle_timeout_ms = (t.mode & 1) ? 5000 : 90000;
    t.s = apf_session_new(&t.cfg, &cb, &t);
    if (!t.s)
        return 0;
    t.now = 1;
    if (t.cfg.ready_after_forwards & 1) /* half the inputs with the hex-dump hook on */
        apf_session_set_debug(t.s, f_debug, &t);
    if (!(shape & 0x80) || (t.mode & 0x40)) /* most inputs start logged in */
        login(&t);
    while (f.n && !apf_session_is_closed(t.s))
        step(&t);
    quiet_checks(&t);
    apf_session_tick(t.s, t.now + 1); /* silence counts from the first tick */
    apf_session_tick(t.s, t.now + 200000);
    quiet_checks(&t);
    CHECK(apf_session_is_closed(t.s)); /* the idle timeout ends every session */
    static int stats = -1;
    if (stats < 0 && (stats = getenv("APF_FUZZ_STATS") != NULL))
        atexit(reach_print);
    inputs++;
    for (int i = 0; i < R_COUNT; i++)
        reach_count[i] += (t.reached >> i) & 1;
    apf_session_free(t.s);
    return 0;
}
