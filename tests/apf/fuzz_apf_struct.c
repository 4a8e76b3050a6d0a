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
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* ---- the input as a data provider ------------------------------------------ */

typedef struct fdp {
    const uint8_t *p;
    size_t n;
} fdp;

static uint8_t u8(fdp *f)
{
    if (!f->n)
        return 0;
    f->n--;
    return *f->p++;
}

static uint32_t u32(fdp *f)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | u8(f);
    return v;
}

static uint32_t pick(fdp *f, const uint32_t *set, size_t n)
{
    return set[u8(f) % n];
}
#define PICK(f, set) pick(f, set, sizeof(set) / sizeof(set[0]))

/* A string: one of a few known ones, or fuzz bytes of a fuzzed length. */
static apf_str str(fdp *f, const char *const *known, size_t nknown)
{
    uint8_t b = u8(f);
    if (b < 0xe0 && nknown)
        return apf_str_c(known[b % nknown]);
    uint32_t len = u8(f) % 64;
    if (len > f->n)
        len = (uint32_t)f->n;
    apf_str s = {f->p, len};
    f->p += len;
    f->n -= len;
    return s;
}
#define STR(f, known) str(f, known, sizeof(known) / sizeof(known[0]))

/* ---- the fuzzer's model of the tunnel --------------------------------------- */

#define MAXCH    64 /* our ids 4..4+MAXCH-1 are tracked; later ones are only checked loosely */
#define MAXDEV   256
#define DEV_BASE 0x1000u /* device-side ids are unique: DEV_BASE + k */

typedef struct ch {
    bool known;      /* CHANNEL_OPEN or OPEN_CONFIRMATION went out for it */
    bool ours;       /* we opened it */
    bool opened;     /* on_channel_open */
    bool ended;      /* on_channel_closed / on_channel_open_failed: no event after this */
    bool close_req;  /* the console called apf_channel_close (the CLOSE may wait) */
    bool close_out;  /* our CLOSE went out */
    bool dev_close;  /* the device was made to send CLOSE */
    bool has_dev;    /* dev is the device's id for it */
    uint32_t dev;    /* device's id */
    uint64_t tx_win; /* what the device lets us send (its window - our data) */
    uint32_t tx_cap; /* queue bound: min(tx_queue, device's initial window) */
    uint64_t granted, delivered, consumed;
} ch;

typedef struct st {
    apf_config cfg;
    apf_session *s;
    uint8_t mode;         /* callback behaviour bits, see below */
    bool tainted;         /* a corrupted message went in: no window accounting */
    bool disc_out;        /* DISCONNECT went out: nothing may follow */
    bool auth_wait;       /* on_auth called, no answer yet */
    bool auth_ok;         /* USERAUTH_SUCCESS went out */
    bool ka_opts;         /* KEEPALIVE_OPTIONS_REQUEST went out */
    bool ready;           /* on_ready */
    bool in_data;         /* inside on_channel_data (bounds re-entrant work) */
    uint32_t expect_open; /* sender id of the CHANNEL_OPEN that just went out */
    ch c[MAXCH];
    uint32_t devwin[MAXDEV]; /* window of each device-initiated CHANNEL_OPEN */
    /* the first OPEN_CONFIRMATION made for each of our ids (it may be made before the
     * CHANNEL_OPEN goes out, when bytes are held during a pending login) and the device's
     * WINDOW_ADJUSTs made after it: applied when the engine shows it took the confirmation */
    bool conf_set[MAXCH];
    uint32_t conf_dev[MAXCH], conf_win[MAXCH];
    uint64_t conf_adj[MAXCH];
    uint32_t ndev;
    uint32_t ports[8];
    uint32_t nports;
    uint64_t now;
    size_t sends;
    fdp *f;
} st;

/* mode bits (first input byte) */
#define M_AUTH_DEFER  0x01 /* on_auth leaves the answer to a later step */
#define M_AUTH_REFUSE 0x02 /* ... and the immediate answer is refuse */
#define M_OPEN_ON_FWD 0x04 /* on_forward opens a channel at once */
#define M_ACCEPT_DEV  0x08 /* on_open_request accepts */
#define M_CONSUME     0x10 /* on_channel_data drains at once */
#define M_CB_CLOSE    0x20 /* on_channel_data closes the channel */
#define M_CB_SUPER    0x40 /* on_channel_data supersedes the tunnel (disconnect) */
#define M_WRITABLE    0x80 /* on_channel_writable sends again */

static ch *chan(st *t, uint32_t id)
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

static void close_ch(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    if (apf_channel_close(t->s, id) == APF_OK && c)
        c->close_req = true;
}

/* apf_channel_consumed, counted first: the WINDOW_ADJUST goes out inside the call. */
static void consume(st *t, uint32_t id, size_t n)
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
        break;
    case APF_KEEPALIVE_OPTIONS_REQUEST:
        CHECK(!t->ka_opts);
        t->ka_opts = true;
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
            if (k < MAXDEV && k < t->ndev) {
                c->tx_win = t->devwin[k];
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
        if (c->ours)
            confirmed(t, id - 4);
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
        apf_session_disconnect(s, APF_DISC_BY_APPLICATION); /* superseded mid-callback */
    t->in_data = false;
}

static void f_writable(apf_session *s, uint32_t id, void *cu, void *u)
{
    st *t = u;
    (void)cu;
    ch *c = event_for(t, id);
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
    if (c)
        c->ended = true;
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

static const apf_callbacks cb = {
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
static void quiet_checks(st *t)
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
        if (accounting(t) && c->opened && c->has_dev)
            CHECK(w == c->tx_win || (w == 0 && (c->close_out || c->dev_close)));
    }
    if (closed)
        CHECK(apf_session_channel_count(t->s) == 0);
}

/* ---- the device: well-formed messages with fuzzed fields ---------------------- */

/* Deliver bytes in one recv() or in pieces of a fuzzed size. */
static void feed(st *t, const uint8_t *p, size_t n)
{
    uint8_t b = u8(t->f);
    size_t step = b < 0xc0 ? n : (size_t)(b & 0x1f) + 1;
    for (size_t off = 0; off < n && !apf_session_is_closed(t->s); off += step) {
        size_t k = n - off < step ? n - off : step;
        apf_session_recv(t->s, p + off, k, t->now);
    }
}

static uint8_t wire[1 << 17];

static void dev_msg(st *t, const apf_msg *m)
{
    ssize_t n = apf_pack(m, wire, sizeof(wire));
    if (n <= 0)
        return;
    uint8_t mut = u8(t->f);
    if (mut >= 0xf4) { /* a corrupted field or length, or a cut message */
        t->tainted = true;
        size_t at = u8(t->f) % (size_t)n;
        if (mut == 0xf4)
            n = (ssize_t)at + 1;
        else if (mut == 0xf5 && at + 4 <= (size_t)n)
            memset(wire + at, 0xff, 4); /* a length or id of 0xffffffff */
        else
            wire[at] ^= u8(t->f) | 1;
    }
    feed(t, wire, (size_t)n);
}

static void bump_next(st *t, uint32_t id, uint32_t *next)
{
    (void)t;
    if (id >= *next && id < 4 + MAXCH)
        *next = id + 1;
}

/* Highest id allocated so far + 1 (ids start at 4). */
static uint32_t next_id(st *t)
{
    uint32_t next = 4;
    for (uint32_t i = 0; i < MAXCH; i++)
        if (t->c[i].known)
            bump_next(t, i + 4, &next);
    return next;
}

/* A channel id the device or the console names: mostly one allocated (live or closed). */
static uint32_t pick_id(st *t)
{
    uint8_t b = u8(t->f);
    uint32_t next = next_id(t);
    if (b >= 0xfa)
        return b == 0xff ? u32(t->f) : b & 3; /* never allocated */
    if (next == 4)
        return 4;
    /* prefer the newest channels: they are the live ones */
    return b & 0x80 ? next - 1 - (b & 1) % (next - 4) : 4 + b % (next - 4);
}

static const char *const users[] = {"admin", "", "dev"};
static const char *const passwords[] = {"P@ssw0rd", ""};
static const char *const services[] = {APF_SERVICE_AUTH, APF_SERVICE_PFWD, "ssh-userauth"};
static const char *const hosts[] = {"", "amt-host", "127.0.0.1", "::1"};
static const char *const chan_types[] = {APF_CHAN_FORWARDED_TCPIP, APF_CHAN_DIRECT_TCPIP};
static const uint32_t port_set[] = {16992, 16993, 5900, 623, 664, 0, 65535, 65536};
static const uint32_t win_set[] = {0, 1, 100, 4096, 32768, 0x7fffffff, 0xffffffff, 512};

static void dev_version(st *t)
{
    apf_msg m = {.type = APF_PROTOCOLVERSION};
    uint8_t b = u8(t->f);
    m.u.version.major = b < 0xf0 ? 1 : b & 3;
    m.u.version.minor = u8(t->f) % 3;
    m.u.version.trigger = u8(t->f);
    for (int i = 0; i < 16; i++)
        m.u.version.uuid[i] = u8(t->f) & 0x0f ? (uint8_t)i : 0;
    dev_msg(t, &m);
}

static void dev_service(st *t, const char *name)
{
    apf_msg m = {.type = APF_SERVICE_REQUEST};
    m.u.service.name = name ? apf_str_c(name) : STR(t->f, services);
    dev_msg(t, &m);
}

static void dev_userauth(st *t)
{
    apf_msg m = {.type = APF_USERAUTH_REQUEST};
    uint8_t b = u8(t->f);
    m.u.userauth.user = STR(t->f, users);
    m.u.userauth.service = b < 0xf0 ? apf_str_c(APF_SERVICE_PFWD) : apf_str_c(APF_SERVICE_AUTH);
    m.u.userauth.method = apf_str_c(b & 1 ? APF_METHOD_NONE : APF_METHOD_PASSWORD);
    m.u.userauth.has_password = !(b & 1);
    m.u.userauth.password = STR(t->f, passwords);
    dev_msg(t, &m);
}

static void dev_forward(st *t, bool cancel)
{
    apf_msg m = {.type = APF_GLOBAL_REQUEST};
    m.u.global.name = apf_str_c(cancel ? APF_REQ_CANCEL_TCPIP_FORWARD : APF_REQ_TCPIP_FORWARD);
    m.u.global.want_reply = u8(t->f) & 1;
    m.u.global.addr = STR(t->f, hosts);
    uint8_t b = u8(t->f);
    m.u.global.port = b < 0xf0 ? PICK(t->f, port_set) : (t->nports ? t->ports[b % t->nports] : b);
    if (!cancel && m.u.global.port <= 65535 && t->nports < 8)
        t->ports[t->nports++] = m.u.global.port;
    dev_msg(t, &m);
}

static void dev_udp(st *t)
{
    apf_msg m = {.type = APF_GLOBAL_REQUEST};
    m.u.global.name = apf_str_c(APF_REQ_UDP_SEND_TO);
    m.u.global.want_reply = u8(t->f) & 1;
    m.u.global.addr = STR(t->f, hosts);
    m.u.global.port = u8(t->f);
    m.u.global.orig_addr = STR(t->f, hosts);
    m.u.global.orig_port = u8(t->f);
    m.u.global.data = STR(t->f, hosts);
    dev_msg(t, &m);
}

static void dev_open(st *t)
{
    if (t->ndev >= MAXDEV)
        return;
    apf_msg m = {.type = APF_CHANNEL_OPEN};
    m.u.open.type = STR(t->f, chan_types);
    m.u.open.sender = DEV_BASE + t->ndev;
    m.u.open.window = PICK(t->f, win_set);
    m.u.open.reserved = 0xffffffff;
    m.u.open.addr = STR(t->f, hosts);
    m.u.open.port = PICK(t->f, port_set);
    m.u.open.orig_addr = STR(t->f, hosts);
    m.u.open.orig_port = u8(t->f);
    t->devwin[t->ndev++] = m.u.open.window;
    dev_msg(t, &m);
}

static void dev_confirm(st *t, uint32_t id)
{
    if (t->ndev >= MAXDEV)
        return;
    apf_msg m = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
    m.u.open_confirm.recipient = id;
    m.u.open_confirm.sender = DEV_BASE + t->ndev;
    m.u.open_confirm.window = PICK(t->f, win_set);
    m.u.open_confirm.reserved = 0xffffffff;
    t->devwin[t->ndev++] = m.u.open_confirm.window;
    ch *c = chan(t, id);
    if (c && !t->conf_set[id - 4] && !c->ended) {
        t->conf_set[id - 4] = true;
        t->conf_dev[id - 4] = m.u.open_confirm.sender;
        t->conf_win[id - 4] = m.u.open_confirm.window;
    }
    dev_msg(t, &m);
}

static uint8_t payload[1 << 17];

static void dev_data(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    uint64_t room = c ? c->granted - c->delivered : 0;
    uint32_t sizes[] = {0,    1,    7, 100, (uint32_t)room, (uint32_t)room + 1, t->cfg.max_payload,
                        5000, 40000};
    apf_msg m = {.type = APF_CHANNEL_DATA};
    m.u.data.recipient = id;
    uint32_t n = PICK(t->f, sizes);
    if (n > sizeof(payload))
        n = sizeof(payload);
    memset(payload, u8(t->f), n);
    m.u.data.data = (apf_str){payload, n};
    dev_msg(t, &m);
}

static void dev_simple(st *t, uint8_t type, uint32_t a, uint32_t b)
{
    apf_msg m = {.type = type};
    switch (type) {
    case APF_CHANNEL_OPEN_FAILURE:
        m.u.open_failure.recipient = a;
        m.u.open_failure.reason = b;
        break;
    case APF_CHANNEL_WINDOW_ADJUST: {
        m.u.window_adjust.recipient = a;
        m.u.window_adjust.bytes = b;
        ch *c = chan(t, a);
        if (c && c->known && c->has_dev && !c->ended)
            c->tx_win += b;
        else if (c && t->conf_set[a - 4])
            t->conf_adj[a - 4] += b;
        break;
    }
    case APF_CHANNEL_CLOSE: {
        m.u.close.recipient = a;
        ch *c = chan(t, a);
        if (c)
            c->dev_close = true;
        break;
    }
    case APF_KEEPALIVE_REQUEST:
    case APF_KEEPALIVE_REPLY:
        m.u.keepalive.cookie = a;
        break;
    case APF_KEEPALIVE_OPTIONS_REPLY:
        m.u.keepalive_options.interval = a;
        m.u.keepalive_options.timeout = b;
        break;
    case APF_DISCONNECT:
        m.u.disconnect.reason = a;
        break;
    case APF_SERVICE_ACCEPT: /* only an MPS sends these */
        m.u.service.name = apf_str_c(APF_SERVICE_PFWD);
        break;
    default:
        break;
    }
    dev_msg(t, &m);
}

/* The login burst of a real AMT, each message through dev_msg (so it may be mutated too). */
static void login(st *t)
{
    dev_version(t);
    dev_service(t, APF_SERVICE_AUTH);
    dev_userauth(t);
    dev_service(t, APF_SERVICE_PFWD);
    for (int i = u8(t->f) % 4; i >= 0; i--)
        dev_forward(t, false);
}

/* ---- the console: calls into the engine -------------------------------------- */

static void console_open(st *t)
{
    uint8_t b = u8(t->f);
    uint32_t port = t->nports && b < 0xf0 ? t->ports[b % t->nports] : PICK(t->f, port_set);
    uint32_t id = 0;
    t->expect_open = 0;
    int rc = apf_channel_open(t->s, port, b & 1 ? "10.0.0.1" : NULL, b, NULL, &id);
    if (rc == APF_OK) {
        CHECK(id == t->expect_open); /* the CHANNEL_OPEN went out with that id */
        CHECK(id >= 4);
    }
}

static void console_send(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    uint32_t win = c ? (uint32_t)c->tx_win : 0;
    uint32_t cap = c ? c->tx_cap : 0;
    uint32_t sizes[] = {1, 100, t->cfg.max_payload + 1, win, win + cap, win + cap + 1, 70000};
    uint32_t n = PICK(t->f, sizes);
    if (n > sizeof(payload))
        n = sizeof(payload);
    ssize_t k = apf_channel_send(t->s, id, payload, n);
    CHECK(k <= (ssize_t)n);
    if (k >= 0)
        CHECK(apf_channel_queued(t->s, id) <= t->cfg.tx_queue);
}

static void console_consume(st *t, uint32_t id)
{
    ch *c = chan(t, id);
    uint64_t owed = c ? c->delivered - c->consumed : 0;
    uint32_t sizes[] = {(uint32_t)owed, 1, (uint32_t)owed / 2, (uint32_t)owed + 1, u8(t->f)};
    uint32_t n = PICK(t->f, sizes);
    consume(t, id, n);
}

static void step(st *t)
{
    fdp *f = t->f;
    uint8_t op = u8(f) % 32;
    uint32_t id;
    static const uint32_t adj_set[] = {1, 100, 4096, 32768, 0x7fffffff, 0xffffffff, 0};
    static const uint32_t dt[] = {0, 1, 100, 999, 1001, 30000, 90001, 4999};
    switch (op) {
    case 0:
        dev_version(t);
        break;
    case 1:
        dev_service(t, NULL);
        break;
    case 2:
        dev_userauth(t);
        break;
    case 3:
        dev_forward(t, false);
        break;
    case 4:
        dev_forward(t, true);
        break;
    case 5:
        dev_udp(t);
        break;
    case 6:
        dev_open(t);
        break;
    case 7:
    case 8:
        dev_confirm(t, pick_id(t));
        break;
    case 9:
        id = pick_id(t);
        dev_simple(t, APF_CHANNEL_OPEN_FAILURE, id, u8(f) % 5);
        break;
    case 10:
    case 11:
        id = pick_id(t);
        dev_simple(t, APF_CHANNEL_WINDOW_ADJUST, id, PICK(f, adj_set));
        break;
    case 12:
    case 13:
    case 14:
        dev_data(t, pick_id(t));
        break;
    case 15:
        dev_simple(t, APF_CHANNEL_CLOSE, pick_id(t), 0);
        break;
    case 16:
        dev_simple(t, u8(f) & 1 ? APF_KEEPALIVE_REQUEST : APF_KEEPALIVE_REPLY, u32(f), 0);
        break;
    case 17:
        dev_simple(t, APF_KEEPALIVE_OPTIONS_REPLY, u8(f), u8(f));
        break;
    case 18: {
        uint8_t b = u8(f);
        if (b < 0x20) { /* rare: the tunnel ends */
            dev_simple(t, b & 1 ? APF_DISCONNECT : APF_SERVICE_ACCEPT, u8(f), 0);
        } else if (b < 0x60) { /* raw bytes: odd framing between good messages */
            size_t n = (size_t)(b & 0x1f) + 1;
            n = n < f->n ? n : f->n;
            t->tainted = true;
            memcpy(wire, f->p, n);
            f->p += n;
            f->n -= n;
            feed(t, wire, n);
        }
        break;
    }
    case 19:
    case 20:
        console_open(t);
        break;
    case 21:
    case 22:
        console_send(t, pick_id(t));
        break;
    case 23:
        console_consume(t, pick_id(t));
        break;
    case 24:
        close_ch(t, pick_id(t));
        break;
    case 25:
        apf_channel_set_user(t->s, pick_id(t), NULL);
        break;
    case 26: /* the pending login answered (late); an answer nobody waits for is refused */
        if (t->auth_wait || (u8(f) & 1)) {
            t->auth_wait = false;
            apf_session_auth_result(t->s, u8(f) & 1);
        }
        break;
    case 27:
    case 28:
        t->now += PICK(f, dt);
        apf_session_tick(t->s, t->now);
        break;
    case 29:
        if (u8(f) < 0x10) /* superseded by a new login of the same device */
            apf_session_disconnect(t->s, APF_DISC_BY_APPLICATION);
        break;
    case 30: {
        uint32_t ports[16];
        CHECK(apf_session_ports(t->s, ports, 16) <= 16);
        CHECK(apf_session_memory(t->s) > 0);
        (void)apf_session_next_timeout(t->s);
        break;
    }
    default:
        login(t);
        break;
    }
    quiet_checks(t);
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
    if (!(shape & 0x80) || (t.mode & 0x40)) /* most inputs start logged in */
        login(&t);
    while (f.n && !apf_session_is_closed(t.s))
        step(&t);
    quiet_checks(&t);
    apf_session_tick(t.s, t.now + 1); /* silence counts from the first tick */
    apf_session_tick(t.s, t.now + 200000);
    quiet_checks(&t);
    CHECK(apf_session_is_closed(t.s)); /* the idle timeout ends every session */
    apf_session_free(t.s);
    return 0;
}
