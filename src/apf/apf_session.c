/*
 * apf_session.c - the MPS side of one CIRA tunnel: the incremental parser and
 * the login state machine of docs/apf.md section 3 (version, auth service,
 * user auth, pfwd service, tcpip-forward, keep-alive). Channels live in
 * apf_channel.c.
 *
 * Parsing is zero-copy: whole messages are decoded straight from the
 * caller's buffer. Only the prefix of a message cut by the end of a buffer is
 * copied into rx, and only up to the length the codec says it needs, so rx
 * never holds more than one message (bounded by limits.max_msg). CHANNEL_DATA
 * is framed at its 9-byte header and its payload streamed to the channel as
 * it arrives, so no payload is ever buffered here.
 */
#include <stdlib.h>
#include <string.h>

#include "apf_int.h"
#include "apf_wire.h"

static void wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

void apf_config_default(apf_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    apf_limits_default(&cfg->limits);
    cfg->rx_window = 32768;
    cfg->max_payload = 16384;
    cfg->tx_queue = 16384;
    cfg->max_channels = 16;
    cfg->keepalive_interval = 30;
    cfg->keepalive_timeout = 0;
    cfg->ready_after_forwards = 4;
    cfg->settle_ms = 1000;
    cfg->idle_timeout_ms = 90000;
}

static bool config_ok(const apf_config *c)
{
    return c->limits.max_string >= 32 && c->limits.max_msg >= 128 && c->rx_window > 0 &&
           c->max_payload > 0 && c->max_payload <= (1u << 24) && c->max_channels > 0;
}

apf_session *apf_session_new(const apf_config *cfg, const apf_callbacks *cb, void *user)
{
    apf_config def;
    if (!cfg) {
        apf_config_default(&def);
        cfg = &def;
    }
    if (!cb || !cb->send || !config_ok(cfg))
        return NULL;
    apf_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->cb = cb;
    s->user = user;
    s->cfg = *cfg;
    s->next_id = APF_FIRST_CHANNEL;
    return s;
}

/* What the parser enforces: the configured limits, max_data checked against the channel's window
 * instead. */
static apf_limits rx_lim(const apf_session *s)
{
    apf_limits l = s->cfg.limits;
    l.max_data = UINT32_MAX;
    return l;
}

/* The device's PROTOCOLVERSION as the callbacks see it. */
static void version_info(const apf_session *s, apf_version_info *v)
{
    v->major = s->v_major;
    v->minor = s->v_minor;
    v->trigger = s->v_trigger;
    v->id = s->v_id;
    guid_format(&v->id, v->uuid);
}

static void rx_release(apf_session *s)
{
    wipe(s->rx, s->rx_cap); /* may have held a password */
    free(s->rx);
    s->rx = NULL;
    s->rx_len = s->rx_cap = s->rx_need = 0;
}

void apf_session_free(apf_session *s)
{
    if (!s)
        return;
    for (uint32_t i = 0; i < s->nch; i++) {
        free(s->ch[i]->q);
        free(s->ch[i]);
    }
    free(s->ch);
    free(s->tx);
    free(s->hostname);
    rx_release(s);
    free(s);
}

/* ---- output ---------------------------------------------------------- */

int apf_emit(apf_session *s, const uint8_t *p, size_t n)
{
    if (s->state == APF_S_CLOSED)
        return APF_ERR_CLOSED;
    if (s->dbg)
        s->dbg(s, APF_DEBUG_OUT, p, n, s->dbg_user);
    if (s->cb->send(s, p, n, s->user) != 0) {
        apf_fail(s, APF_ERR_CALLBACK, 0);
        return APF_ERR_CALLBACK;
    }
    return APF_OK;
}

int apf_emit_msg(apf_session *s, const apf_msg *m)
{
    uint8_t buf[640]; /* every message the engine builds is small (strings <= 255) */
    ssize_t n = apf_pack(m, buf, sizeof(buf));
    if (n < 0)
        return (int)n;
    return apf_emit(s, buf, (size_t)n);
}

static int emit_simple(apf_session *s, uint8_t type)
{
    return apf_emit(s, &type, 1);
}

static int emit_u32(apf_session *s, uint8_t type, uint32_t v)
{
    uint8_t b[5] = {type};
    apf_put32(b + 1, v);
    return apf_emit(s, b, sizeof(b));
}

/* The DISCONNECT reason that matches why we end the tunnel; 0 sends none. */
static uint32_t disconnect_reason(int err)
{
    switch (err) {
    case APF_ERR_UNKNOWN_SERVICE:
        return APF_DISC_SERVICE_NOT_AVAILABLE;
    case APF_ERR_VERSION:
        return APF_DISC_PROTOCOL_VERSION_NOT_SUPPORTED;
    case APF_ERR_AUTH_FAILED:
        return APF_DISC_NO_MORE_AUTH_METHODS_AVAILABLE;
    case APF_ERR_TIMEOUT:
        return APF_DISC_CONNECTION_LOST;
    case APF_ERR_NOMEM:
        return APF_DISC_BY_APPLICATION;
    case APF_ERR_NOT_APF:         /* not an APF peer: nothing to say */
    case APF_ERR_CALLBACK:        /* cannot send anyway */
    case APF_ERR_PEER_DISCONNECT: /* the device already left */
    case APF_ERR_LOCAL_DISCONNECT:
        return 0;
    default:
        return APF_DISC_PROTOCOL_ERROR;
    }
}

static void end(apf_session *s, int err)
{
    s->state = APF_S_CLOSED;
    s->status = err;
    s->paused = false;
    s->data_left = 0;
    apf_ch_close_all(s);
}

void apf_fail(apf_session *s, int err, unsigned msg_type)
{
    if (s->state == APF_S_CLOSED || s->dying)
        return;
    s->dying = true;
    uint32_t reason = disconnect_reason(err);
    if (reason) {
        uint8_t b[7] = {APF_DISCONNECT, 0, 0, 0, 0, 0, 0};
        apf_put32(b + 1, reason);
        apf_emit(s, b, sizeof(b)); /* a failing send callback is moot now */
    }
    if (s->state != APF_S_CLOSED)
        end(s, err);
    s->status = err;
    if (err != APF_ERR_PEER_DISCONNECT && s->cb->on_error)
        s->cb->on_error(s, err, msg_type, s->user);
}

int apf_session_disconnect(apf_session *s, uint32_t reason)
{
    if (!s)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return s->status;
    uint8_t b[7] = {APF_DISCONNECT, 0, 0, 0, 0, 0, 0};
    apf_put32(b + 1, reason);
    s->dying = true;
    apf_emit(s, b, sizeof(b));
    if (s->state != APF_S_CLOSED)
        end(s, APF_ERR_LOCAL_DISCONNECT);
    return APF_OK;
}

/* ---- forwards and readiness ----------------------------------------------- */

bool apf_session_has_port16(const apf_session *s, uint32_t port)
{
    for (unsigned i = 0; i < s->nports; i++)
        if (s->ports[i] == port)
            return true;
    return false;
}

/* Forwards are in: tune AMT's keep-alive once and announce the tunnel. */
static void settle(apf_session *s)
{
    if (s->state != APF_S_FORWARDS)
        return;
    s->state = APF_S_READY;
    s->settle_at = 0;
    if (s->cfg.keepalive_interval) {
        uint8_t b[9] = {APF_KEEPALIVE_OPTIONS_REQUEST};
        apf_put32(b + 1, s->cfg.keepalive_interval);
        apf_put32(b + 5, s->cfg.keepalive_timeout);
        if (apf_emit(s, b, sizeof(b)) < 0)
            return;
    }
    if (s->cb->on_ready)
        s->cb->on_ready(s, s->user);
}

static void keep_hostname(apf_session *s, apf_str addr)
{
    if (s->hostname || addr.len == 0 || addr.len > APF_MAX_HOSTNAME)
        return;
    if (memchr(addr.p, '\0', addr.len))
        return;
    s->hostname = malloc(addr.len + 1u);
    if (!s->hostname)
        return; /* informational only */
    memcpy(s->hostname, addr.p, addr.len);
    s->hostname[addr.len] = '\0';
}

static void on_tcpip_forward(apf_session *s, const apf_msg *m)
{
    uint32_t port = m->u.global.port;
    bool fresh = !apf_session_has_port16(s, port);
    /* Every reference MPS answers regardless of want_reply, and AMT expects it. */
    if (port > 65535 || (fresh && s->nports == APF_MAX_PORTS)) {
        emit_simple(s, APF_REQUEST_FAILURE);
        return;
    }
    if (emit_u32(s, APF_REQUEST_SUCCESS, port) < 0)
        return;
    if (!fresh)
        return;
    s->ports[s->nports++] = (uint16_t)port;
    s->nforwards++;
    keep_hostname(s, m->u.global.addr);
    if (s->cb->on_forward)
        s->cb->on_forward(s, port, true, s->user);
    if (s->state != APF_S_FORWARDS)
        return;
    /* 5900 is the last port real AMT registers, but not every AMT registers it. */
    if (port == 5900 || s->nforwards == s->cfg.ready_after_forwards)
        settle(s);
    else
        s->settle_at = s->last_rx + s->cfg.settle_ms;
}

static void on_cancel_forward(apf_session *s, const apf_msg *m)
{
    uint32_t port = m->u.global.port;
    if (!apf_session_has_port16(s, port)) {
        emit_simple(s, APF_REQUEST_FAILURE);
        return;
    }
    for (unsigned i = 0; i < s->nports; i++)
        if (s->ports[i] == port)
            s->ports[i] = s->ports[--s->nports];
    if (emit_simple(s, APF_REQUEST_SUCCESS) < 0)
        return;
    if (s->cb->on_forward)
        s->cb->on_forward(s, port, false, s->user);
}

static void on_udp_send_to(apf_session *s, const apf_msg *m)
{
    apf_udp_request req = {m->u.global.addr, m->u.global.port, m->u.global.orig_addr,
                           m->u.global.orig_port, m->u.global.data};
    bool ok = s->cb->on_udp_send_to && s->cb->on_udp_send_to(s, &req, s->user);
    if (m->u.global.want_reply && s->state != APF_S_CLOSED)
        emit_simple(s, ok ? APF_REQUEST_SUCCESS : APF_REQUEST_FAILURE);
}

static void on_global_request(apf_session *s, const apf_msg *m)
{
    if (s->state != APF_S_FORWARDS && s->state != APF_S_READY)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    if (apf_str_eq(m->u.global.name, APF_REQ_TCPIP_FORWARD))
        on_tcpip_forward(s, m);
    else if (apf_str_eq(m->u.global.name, APF_REQ_CANCEL_TCPIP_FORWARD))
        on_cancel_forward(s, m);
    else
        on_udp_send_to(s, m);
}

/* ---- login ---------------------------------------------------------------- */

static void on_version(apf_session *s, const apf_msg *m)
{
    if (s->have_version || s->state > APF_S_USERAUTH)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    if (m->u.version.major != 1)
        return apf_fail(s, APF_ERR_VERSION, m->type);
    s->have_version = true;
    s->v_major = m->u.version.major;
    s->v_minor = m->u.version.minor;
    s->v_trigger = m->u.version.trigger;
    memcpy(s->v_id.b, m->u.version.uuid, 16);
    if (s->cb->on_version) {
        apf_version_info v;
        version_info(s, &v);
        s->cb->on_version(s, &v, s->user);
    }
}

static void on_service_request(apf_session *s, const apf_msg *m)
{
    apf_str name = m->u.service.name;
    bool auth = apf_str_eq(name, APF_SERVICE_AUTH), pfwd = apf_str_eq(name, APF_SERVICE_PFWD);
    if (!auth && !pfwd)
        return apf_fail(s, APF_ERR_UNKNOWN_SERVICE, m->type);
    if (auth && s->state == APF_S_AUTH_SVC)
        s->state = APF_S_USERAUTH;
    else if (pfwd && s->state == APF_S_PFWD_SVC)
        s->state = APF_S_FORWARDS;
    else
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    apf_msg a = {.type = APF_SERVICE_ACCEPT, .u.service.name = name};
    apf_emit_msg(s, &a);
}

static void on_userauth(apf_session *s, const apf_msg *m)
{
    if (s->state != APF_S_USERAUTH)
        return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
    s->state = APF_S_AUTH_WAIT;
    /* No UUID, no identity to check the password against (Open AMT, console). */
    if (!s->have_version || !apf_str_eq(m->u.userauth.service, APF_SERVICE_PFWD) ||
        !s->cb->on_auth) {
        apf_session_auth_result(s, false);
        return;
    }
    apf_str u = m->u.userauth.user, pw = m->u.userauth.password;
    char *copy = malloc((size_t)u.len + pw.len + 2);
    if (!copy)
        return apf_fail(s, APF_ERR_NOMEM, m->type);
    memcpy(copy, u.p, u.len);
    copy[u.len] = '\0';
    char *pcopy = copy + u.len + 1;
    if (pw.len)
        memcpy(pcopy, pw.p, pw.len);
    pcopy[pw.len] = '\0';
    /* Our own buffered copy of the message goes now; the callback has its copy. */
    if (pw.len && s->rx && pw.p >= s->rx && pw.p < s->rx + s->rx_cap)
        wipe((uint8_t *)s->rx + (pw.p - s->rx), pw.len);
    apf_version_info v;
    version_info(s, &v);
    apf_auth_request req = {
        .user = copy,
        .user_len = u.len,
        .method = m->u.userauth.has_password ? APF_METHOD_PASSWORD : APF_METHOD_NONE,
        .password = pcopy,
        .password_len = pw.len,
        .version = &v,
    };
    s->paused = true; /* until the decision: the device must not get ahead of it */
    s->cb->on_auth(s, &req, s->user);
    wipe(copy, (size_t)u.len + pw.len + 2);
    free(copy);
}

static void drain_rx(apf_session *s);

int apf_session_auth_result(apf_session *s, bool ok)
{
    if (!s)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return s->status;
    if (s->state != APF_S_AUTH_WAIT)
        return APF_ERR_INVALID;
    if (!ok) {
        /* The 14-byte RFC 4252 form (what MeshCentral's own APF client parses). */
        static const uint8_t failure[14] = {
            APF_USERAUTH_FAILURE, 0, 0, 0, 8, 'p', 'a', 's', 's', 'w', 'o', 'r', 'd', 0};
        if (apf_emit(s, failure, sizeof(failure)) == APF_OK)
            apf_fail(s, APF_ERR_AUTH_FAILED, APF_USERAUTH_REQUEST);
        return s->status;
    }
    s->state = APF_S_PFWD_SVC;
    if (emit_simple(s, APF_USERAUTH_SUCCESS) < 0)
        return s->status;
    s->paused = false;
    if (!s->in_recv && s->rx_len)
        drain_rx(s); /* what the device sent meanwhile */
    return s->status;
}

/* ---- dispatch ---------------------------------------------------------- */

static void on_keepalive(apf_session *s, const apf_msg *m)
{
    if (m->type == APF_KEEPALIVE_REQUEST)
        emit_u32(s, APF_KEEPALIVE_REPLY, m->u.keepalive.cookie);
    else if (m->type == APF_KEEPALIVE_OPTIONS_REPLY && s->cb->on_keepalive_options)
        s->cb->on_keepalive_options(s, m->u.keepalive_options.interval,
                                    m->u.keepalive_options.timeout, s->user);
    /* KEEPALIVE_REPLY: we never ask, so there is nothing to match. */
}

static void dispatch(apf_session *s, const apf_msg *m)
{
    switch (m->type) {
    case APF_DISCONNECT:
        if (s->cb->on_disconnect)
            s->cb->on_disconnect(s, m->u.disconnect.reason, s->user);
        apf_fail(s, APF_ERR_PEER_DISCONNECT, m->type);
        break;
    case APF_PROTOCOLVERSION:
        on_version(s, m);
        break;
    case APF_SERVICE_REQUEST:
        on_service_request(s, m);
        break;
    case APF_USERAUTH_REQUEST:
        on_userauth(s, m);
        break;
    case APF_GLOBAL_REQUEST:
        on_global_request(s, m);
        break;
    case APF_KEEPALIVE_REQUEST:
    case APF_KEEPALIVE_REPLY:
    case APF_KEEPALIVE_OPTIONS_REPLY:
        on_keepalive(s, m);
        break;
    case APF_CHANNEL_OPEN:
        if (s->state != APF_S_FORWARDS && s->state != APF_S_READY)
            return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
        apf_ch_on_open_request(s, m);
        break;
    default: /* the other channel messages */
        if (s->state != APF_S_FORWARDS && s->state != APF_S_READY)
            return apf_fail(s, APF_ERR_UNEXPECTED, m->type);
        apf_ch_on_msg(s, m);
        break;
    }
}

/* What a device may send; anything else is a fault even if it parses. */
static bool from_device(unsigned t)
{
    switch (t) {
    case APF_DISCONNECT:
    case APF_SERVICE_REQUEST:
    case APF_USERAUTH_REQUEST:
    case APF_GLOBAL_REQUEST:
    case APF_CHANNEL_OPEN:
    case APF_CHANNEL_OPEN_CONFIRMATION:
    case APF_CHANNEL_OPEN_FAILURE:
    case APF_CHANNEL_WINDOW_ADJUST:
    case APF_CHANNEL_DATA:
    case APF_CHANNEL_CLOSE:
    case APF_PROTOCOLVERSION:
    case APF_KEEPALIVE_REQUEST:
    case APF_KEEPALIVE_REPLY:
    case APF_KEEPALIVE_OPTIONS_REPLY:
        return true;
    default:
        return false;
    }
}

static void debug_in(apf_session *s, const uint8_t *p, size_t len, const apf_msg *m)
{
    apf_str pw = m->u.userauth.password;
    if (m->type != APF_USERAUTH_REQUEST || pw.len == 0) {
        s->dbg(s, APF_DEBUG_IN, p, len, s->dbg_user);
        return;
    }
    uint8_t *copy = malloc(len);
    if (!copy)
        return;
    memcpy(copy, p, len);
    memset(copy + (pw.p - p), '*', pw.len); /* never log a secret */
    s->dbg(s, APF_DEBUG_IN, copy, len, s->dbg_user);
    free(copy);
}

/* Parse and act on whole messages in p[0..n); stops at an incomplete one
 * (rx_need says how long it is at least), on pause, or when the session
 * ends. *used is what was consumed. */
static size_t process(apf_session *s, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n && s->state != APF_S_CLOSED && !s->paused) {
        if (s->data_left) {
            size_t k = n - off < s->data_left ? n - off : s->data_left;
            s->data_left -= (uint32_t)k;
            if (s->dbg)
                s->dbg(s, APF_DEBUG_IN_DATA, p + off, k, s->dbg_user);
            apf_ch_on_data_piece(s, p + off, k);
            off += k;
            continue;
        }
        unsigned t = p[off];
        if (!from_device(t)) {
            apf_fail(s, apf_msg_type_name(t)[0] == '?' ? APF_ERR_UNKNOWN_TYPE : APF_ERR_UNEXPECTED,
                     t);
            break;
        }
        apf_msg m;
        size_t len;
        apf_limits lim = rx_lim(s);
        int rc = apf_unpack(p + off, n - off, &lim, APF_UNPACK_DATA_HEADER, &m, &len);
        if (rc == APF_ERR_AGAIN) {
            s->rx_need = (uint32_t)len;
            break;
        }
        if (rc < 0) {
            /* The spec's advice: answer an unknown request, then close. */
            if (rc == APF_ERR_UNKNOWN_REQUEST && m.u.global.want_reply)
                emit_simple(s, APF_REQUEST_FAILURE);
            apf_fail(s, rc, t);
            break;
        }
        if (s->dbg)
            debug_in(s, p + off, len, &m);
        dispatch(s, &m);
        off += len;
    }
    return off;
}

/* Run the parser over the held-back bytes and keep what is left. */
static void drain_rx(apf_session *s)
{
    bool nested = s->in_recv;
    s->in_recv = true;
    size_t used = process(s, s->rx, s->rx_len);
    s->in_recv = nested;
    if (s->state == APF_S_CLOSED || !s->rx)
        return;
    size_t left = s->rx_len - used;
    memmove(s->rx, s->rx + used, left);
    wipe(s->rx + left, used);
    s->rx_len = (uint32_t)left;
    if (left == 0)
        rx_release(s);
}

static int rx_append(apf_session *s, const uint8_t *p, size_t k)
{
    size_t want = (size_t)s->rx_len + k;
    if (want > s->cfg.limits.max_msg) {
        apf_fail(s, APF_ERR_RX_OVERFLOW, 0);
        return APF_ERR_RX_OVERFLOW;
    }
    if (want > s->rx_cap) {
        /* Grow to the known need (or max_msg while paused), never beyond. */
        size_t cap = s->paused ? s->cfg.limits.max_msg : (s->rx_need > want ? s->rx_need : want);
        uint8_t *q = malloc(cap);
        if (!q) {
            apf_fail(s, APF_ERR_NOMEM, 0);
            return APF_ERR_NOMEM;
        }
        if (s->rx_len)
            memcpy(q, s->rx, s->rx_len);
        uint32_t len = s->rx_len, need = s->rx_need;
        rx_release(s); /* wipes the old copy */
        s->rx = q;
        s->rx_cap = (uint32_t)cap;
        s->rx_len = len;
        s->rx_need = need;
    }
    memcpy(s->rx + s->rx_len, p, k);
    s->rx_len += (uint32_t)k;
    return APF_OK;
}

/* HTTP methods whose first letter is no APF type ('P' is GLOBAL_REQUEST). */
static bool looks_like_http(uint8_t c)
{
    return c == 'G' || c == 'H' || c == 'O' || c == 'C' || c == 'D';
}

int apf_session_recv(apf_session *s, const uint8_t *p, size_t n, uint64_t now_ms)
{
    if (!s || (!p && n) || s->in_recv)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return s->status;
    if (n == 0)
        return APF_OK;
    s->last_rx = now_ms;
    if (!s->rx_seen) {
        s->rx_seen = true;
        if (looks_like_http(p[0])) {
            apf_fail(s, APF_ERR_NOT_APF, p[0]);
            return s->status;
        }
    }
    s->in_recv = true;
    while (n > 0 && s->state != APF_S_CLOSED) {
        if (s->rx_len == 0 && !s->paused) {
            size_t used = process(s, p, n);
            p += used;
            n -= used;
            if (n == 0 || s->state == APF_S_CLOSED)
                break;
        }
        /* Hold back: everything while paused, else exactly the missing part. */
        size_t take = n;
        if (!s->paused && s->rx_need - s->rx_len < take)
            take = s->rx_need - s->rx_len;
        if (rx_append(s, p, take) < 0)
            break;
        p += take;
        n -= take;
        if (!s->paused && s->rx_len >= s->rx_need)
            drain_rx(s);
    }
    s->in_recv = false;
    if (s->state == APF_S_FORWARDS && s->settle_at && now_ms >= s->settle_at)
        settle(s);
    return s->status;
}

/* ---- timers and accessors -------------------------------------------------- */

int apf_session_tick(apf_session *s, uint64_t now_ms)
{
    if (!s)
        return APF_ERR_INVALID;
    if (s->state == APF_S_CLOSED)
        return s->status;
    if (!s->rx_seen && s->last_rx == 0)
        s->last_rx = now_ms; /* silence is counted from the first tick */
    if (s->cfg.idle_timeout_ms && now_ms - s->last_rx >= s->cfg.idle_timeout_ms) {
        apf_fail(s, APF_ERR_TIMEOUT, 0);
        return s->status;
    }
    if (s->state == APF_S_FORWARDS && s->settle_at && now_ms >= s->settle_at)
        settle(s);
    return s->status;
}

uint64_t apf_session_next_timeout(const apf_session *s)
{
    uint64_t t = UINT64_MAX;
    if (!s || s->state == APF_S_CLOSED)
        return t;
    if (s->cfg.idle_timeout_ms)
        t = s->last_rx + s->cfg.idle_timeout_ms;
    if (s->state == APF_S_FORWARDS && s->settle_at && s->settle_at < t)
        t = s->settle_at;
    return t;
}

uint64_t apf_session_last_rx_ms(const apf_session *s)
{
    return s->last_rx;
}

bool apf_session_is_closed(const apf_session *s)
{
    return s->state == APF_S_CLOSED;
}

bool apf_session_is_ready(const apf_session *s)
{
    return s->state == APF_S_READY;
}

int apf_session_status(const apf_session *s)
{
    return s->status;
}

bool apf_session_version(const apf_session *s, apf_version_info *out)
{
    if (!s->have_version)
        return false;
    version_info(s, out);
    return true;
}

const char *apf_session_hostname(const apf_session *s)
{
    return s->hostname;
}

bool apf_session_has_port(const apf_session *s, uint32_t port)
{
    return apf_session_has_port16(s, port);
}

size_t apf_session_ports(const apf_session *s, uint32_t *out, size_t max)
{
    for (size_t i = 0; i < s->nports && i < max; i++)
        out[i] = s->ports[i];
    return s->nports;
}

size_t apf_session_channel_count(const apf_session *s)
{
    return s->nch;
}

size_t apf_session_memory(const apf_session *s)
{
    size_t m = sizeof(*s) + s->rx_cap + apf_ch_memory(s);
    if (s->hostname)
        m += strlen(s->hostname) + 1;
    return m;
}

void *apf_session_user(const apf_session *s)
{
    return s->user;
}

void apf_session_set_debug(apf_session *s, apf_debug_fn fn, void *user)
{
    s->dbg = fn;
    s->dbg_user = user;
}
