/*
 * fuzz_apf_gen.c - the generator of the structure-aware APF fuzzer: well-formed
 * device messages packed with apf_pack from fuzzed fields (now and then one
 * corrupted), and the console's calls into the engine, one step at a time.
 * The accounting the checker needs (device windows, confirmations) is noted
 * here as the messages are made. See fuzz_apf_struct.c.
 */
#include "fuzz_apf_struct.h"

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
        if (c && !c->known) /* bytes held while a login is pending: the channel comes later */
            t->pre_adj[a - 4] += b;
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
void login(st *t)
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

void step(st *t)
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
            if (t->auth_wait)
                t->reached |= R_AUTH_LATE;
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
            supersede(t);
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
