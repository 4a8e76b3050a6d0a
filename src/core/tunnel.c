/* Device tunnels: ring connection <-> TLS session <-> APF session.
 *
 * Bytes in: ring on_data (pool buffer) -> tls_conn_feed -> plaintext callback -> apf_session_recv.
 * Bytes out: apf send callback -> tls_conn_write -> TLS output callback -> ring_conn_send (copied
 * into the connection's pooled send queue). Nothing here is shared with another thread except
 * through the directory, the auth pool and ring_post messages, so the data path takes no locks.
 *
 * Closing: callbacks never free the tunnel. They note why it must close (t->close_how/why); the
 * ring callback that started the chain performs ring_conn_close once it unwinds, and the tunnel is
 * freed in on_close, which the ring calls exactly once. */
#include "tunnel_int.h"
#include "admission.h"
#include "events.h"
#include "auth.h"
#include "console.h"
#include "log.h"
#include "netaddr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define PEER_LOG_PER_SEC 100

bool wctx_peer_log_ok(struct wctx *wc)
{
    uint64_t sec = ring_now_ms(wc->w) / 1000;
    if (sec != wc->plog_sec) {
        if (wc->plog_suppressed)
            log_warn("%llu more lines about refused or failing peers were suppressed in the last "
                     "second (the counters have them all)",
                     (unsigned long long)wc->plog_suppressed);
        wc->plog_sec = sec;
        wc->plog_count = 0;
        wc->plog_suppressed = 0;
    }
    if (wc->plog_count < PEER_LOG_PER_SEC) {
        wc->plog_count++;
        return true;
    }
    wc->plog_suppressed++;
    return false;
}

/* Why a tunnel ends: the texts logged, and the symbolic reasons of the disconnect event. The
 * texts are named so that want_close can tell them by address. */
static const char WHY_KEEPALIVE[] = "keep-alive timeout";
static const char WHY_DEVICE_DISCONNECT[] = "device disconnected";
static const char WHY_APF_ERROR[] = "protocol error";
static const char WHY_SEND_OVERFLOW[] = "send queue overflow";
static const char WHY_TLS_ERROR[] = "TLS error";
static const char WHY_DEVICE_CLOSED[] = "device closed the connection";
static const char WHY_DRAIN[] = "mpsd shutting down";
static const char WHY_CLOSE_NOTIFY[] = "TLS close_notify";
const char tunnel_why_superseded[] = "superseded";
static const char WHY_SEND_FAILED[] = "send failed";
static const struct {
    const char *why, *reason;
} end_reasons[] = {
    {WHY_KEEPALIVE, "keepalive_timeout"},
    {WHY_DEVICE_DISCONNECT, "device_disconnect"},
    {WHY_APF_ERROR, "apf_error"},
    {WHY_SEND_OVERFLOW, "send_overflow"},
    {WHY_TLS_ERROR, "tls_error"},
    {WHY_DEVICE_CLOSED, "device_closed"},
    {WHY_DRAIN, "drain"},
    {WHY_CLOSE_NOTIFY, "device_closed"},
    {tunnel_why_superseded, "superseded"},
    {WHY_SEND_FAILED, "send_failed"},
};

/* Marks the tunnel for closing; the first reason given is the one logged. */
void tunnel_want_close(struct tunnel *t, int how, const char *why)
{
    for (size_t i = 0; !t->end_reason && i < sizeof(end_reasons) / sizeof(end_reasons[0]); i++)
        if (why == end_reasons[i].why)
            t->end_reason = end_reasons[i].reason;
    if (t->close_how < 0 || how == RING_CLOSE_ABORT)
        t->close_how = how;
    if (!t->why)
        t->why = why;
}

void tunnel_apply_close(struct tunnel *t)
{
    if (t->close_how >= 0) {
        /* no deadline may fire on a tunnel that is already going (a graceful close can last
         * linger_ms) */
        ring_timer_cancel(t->wc->w, &t->timer);
        ring_conn_close(t->conn, t->close_how);
    }
}

static void release_handshake_slot(struct tunnel *t)
{
    if (t->counted_handshake) {
        t->counted_handshake = false;
        admission_put(M(t)->admission, t->adm_slot);
        t->adm_slot = 0;
        atomic_fetch_sub(&M(t)->handshakes, 1);
        atomic_fetch_sub_explicit(&t->wc->stats.handshakes, 1, memory_order_relaxed);
    }
}

/* --- timers --- */

void tunnel_arm_timer(struct tunnel *t)
{
    uint64_t now = ring_now_ms(t->wc->w), due = UINT64_MAX;
    if (t->deadline_ms)
        due = t->deadline_ms;
    if (t->apf) {
        uint64_t n = apf_session_next_timeout(t->apf);
        if (n < due)
            due = n;
    }
    if (due == UINT64_MAX)
        ring_timer_cancel(t->wc->w, &t->timer);
    else
        ring_timer_arm(t->wc->w, &t->timer, due > now ? due - now : 0);
}

static void on_timer(ring_timer *tm)
{
    struct tunnel *t = (struct tunnel *)((char *)tm - offsetof(struct tunnel, timer));
    if (t->close_how >= 0)
        return;
    uint64_t now = ring_now_ms(t->wc->w);
    const struct config *cfg = &M(t)->cfg;
    if (t->deadline_ms && now >= t->deadline_ms) {
        if (t->state == T_HANDSHAKE && !t->hello_seen &&
            cfg->hello_timeout_ms < cfg->handshake_timeout_ms) {
            STAT_INC(&t->wc->stats, timeout_hello);
            peer_warn(t, "no complete ClientHello within %ums: closing", cfg->hello_timeout_ms);
            tunnel_want_close(t, RING_CLOSE_ABORT, "hello timeout");
        } else if (t->state == T_HANDSHAKE) {
            STAT_INC(&t->wc->stats, timeout_handshake);
            peer_warn(t, "TLS handshake not done within %ums: closing", cfg->handshake_timeout_ms);
            tunnel_want_close(t, RING_CLOSE_ABORT, "handshake timeout");
        } else {
            STAT_INC(&t->wc->stats, timeout_login);
            peer_warn(t, "APF login not done within %ums: closing", cfg->login_timeout_ms);
            apf_session_disconnect(t->apf, APF_DISC_CONNECTION_TIMED_OUT);
            tunnel_want_close(t, RING_CLOSE_GRACEFUL, "login timeout");
        }
        tunnel_apply_close(t);
        return;
    }
    if (t->apf && apf_session_tick(t->apf, now) != APF_OK) {
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, "APF session ended");
        tunnel_apply_close(t);
        return;
    }
    tunnel_arm_timer(t);
}

/* --- APF callbacks --- */

static int apf_send(apf_session *s, const uint8_t *msg, size_t len, void *user)
{
    struct tunnel *t = user;
    (void)s;
    t->bytes_out += len;
    if (t->tls) {
        long n = tls_conn_write(t->tls, msg, len);
        if (n == (long)len)
            return 0;
    } else {
        ssize_t n = ring_conn_send(t->conn, msg, len);
        if (n == (ssize_t)len)
            return 0;
    }
    /* The device is not reading and twice max_buffered is queued (console data stops at
     * max_buffered): it cannot be served, and holding more would let one device grow our memory
     * without bound. */
    STAT_INC(&t->wc->stats, send_overflow);
    peer_warn(t, "more than %u bytes queued toward the device: dropping the tunnel",
              2 * M(t)->cfg.max_buffered);
    tunnel_want_close(t, RING_CLOSE_ABORT, WHY_SEND_OVERFLOW);
    return -1;
}

static void apf_on_version(apf_session *s, const apf_version_info *v, void *user)
{
    struct tunnel *t = user;
    (void)s;
    t->guid = v->id;
    guid_format(&t->guid, t->guid_str);
    t->has_guid = true;
    log_kv_debug(TF(t), "APF %u.%u trigger %u", v->major, v->minor, v->trigger);
}

static void apf_on_disconnect(apf_session *s, uint32_t reason, void *user)
{
    struct tunnel *t = user;
    (void)s;
    STAT_INC(&t->wc->stats, peer_disconnects);
    log_kv(LOG_INFO, TF(t), "sent DISCONNECT %s (%u)", apf_disconnect_reason_name(reason), reason);
    tunnel_want_close(t, RING_CLOSE_GRACEFUL, WHY_DEVICE_DISCONNECT);
}

static void apf_on_error(apf_session *s, int err, unsigned msg_type, void *user)
{
    struct tunnel *t = user;
    (void)s;
    if (err == APF_ERR_TIMEOUT) {
        STAT_INC(&t->wc->stats, timeout_idle);
        peer_warn(t, "silent for more than %ums: dropping the tunnel",
                  M(t)->cfg.keepalive_timeout_ms);
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, WHY_KEEPALIVE);
        return;
    }
    if (err == APF_ERR_AUTH_FAILED || err == APF_ERR_CALLBACK) {
        tunnel_want_close(t, err == APF_ERR_CALLBACK ? RING_CLOSE_ABORT : RING_CLOSE_GRACEFUL,
                          err == APF_ERR_CALLBACK ? WHY_SEND_FAILED : "login refused");
        return;
    }
    STAT_INC(&t->wc->stats, apf_errors);
    if (err < 0 && -err < APF_ERR_COUNT)
        STAT_INC(&t->wc->stats, apf_error_by_code[-err]);
    peer_warn(t, "APF protocol error: %s%s%s: closing", apf_strerror(err), msg_type ? " in " : "",
              msg_type ? apf_msg_type_name(msg_type) : "");
    tunnel_want_close(t, RING_CLOSE_GRACEFUL, WHY_APF_ERROR);
}

/* APF bytes as hex+ASCII lines (passwords masked by the APF engine): every tunnel's at debug
 * level, a tunnel's whose hexdump is on (tunnel_set_hexdump) at info level. */
static void apf_debug(apf_session *s, int direction, const uint8_t *p, size_t n, void *user)
{
    struct tunnel *t = user;
    (void)s;
    enum log_level lv = t->hexdump ? LOG_INFO : LOG_DEBUG;
    if (!log_enabled(lv))
        return;
    char msg[64];
    snprintf(msg, sizeof(msg), "APF %s, %zu bytes",
             direction == APF_DEBUG_IN_DATA ? "channel data" : "message", n);
    log_hexdump(lv,
                LF(.peer = t->peer, .guid = t->has_guid ? t->guid_str : NULL,
                   .dir = direction == APF_DEBUG_OUT ? "out" : "in"),
                msg, p, n);
}

static const apf_callbacks apf_cbs = {
    .send = apf_send,
    .on_version = apf_on_version,
    .on_auth = tunnel_apf_on_auth,
    .on_ready = tunnel_apf_on_ready,
    .on_channel_open = tunnel_apf_on_channel_open,
    .on_channel_open_failed = tunnel_apf_on_channel_open_failed,
    .on_channel_data = tunnel_apf_on_channel_data,
    .on_channel_writable = tunnel_apf_on_channel_writable,
    .on_channel_closed = tunnel_apf_on_channel_closed,
    .on_open_request = tunnel_apf_on_open_request,
    .on_disconnect = apf_on_disconnect,
    .on_error = apf_on_error,
};

static int start_apf(struct tunnel *t)
{
    const struct config *cfg = &M(t)->cfg;
    apf_config ac;
    apf_config_default(&ac);
    ac.keepalive_interval = cfg->keepalive_interval_ms / 1000;
    ac.keepalive_timeout = cfg->keepalive_timeout_ms / 1000;
    ac.idle_timeout_ms = cfg->keepalive_timeout_ms;
    ac.rx_window = cfg->channel_window;
    /* one CHANNEL_DATA (9-byte header + payload) per TLS record: 16 KiB of plaintext at most */
    ac.max_payload = 16384 - 9;
    /* consoles plus a few device-initiated channels */
    ac.max_channels = cfg->max_consoles_per_device + 4;
    t->apf = apf_session_new(&ac, &apf_cbs, t);
    if (!t->apf)
        return -1;
    /* always: tunnel_set_hexdump may switch one tunnel's dumps on at any time */
    apf_session_set_debug(t->apf, apf_debug, t);
    t->state = T_LOGIN;
    t->deadline_ms = ring_now_ms(t->wc->w) + cfg->login_timeout_ms;
    tunnel_arm_timer(t);
    return 0;
}

/* --- TLS callbacks --- */

static size_t tls_output(void *user, const uint8_t *p, size_t n)
{
    struct tunnel *t = user;
    ssize_t r = ring_conn_send(t->conn, p, n);
    return r > 0 ? (size_t)r : 0;
}

static void tls_plaintext(void *user, const uint8_t *p, size_t n)
{
    struct tunnel *t = user;
    if (t->close_how >= 0 || !t->apf)
        return;
    t->bytes_in += n;
    int rc = apf_session_recv(t->apf, p, n, ring_now_ms(t->wc->w));
    if (rc == APF_ERR_NOT_APF) {
        STAT_INC(&t->wc->stats, apf_errors);
        STAT_INC(&t->wc->stats, apf_error_by_code[-APF_ERR_NOT_APF]);
        peer_warn(t, "sent HTTP, not APF, inside TLS: closing");
        tunnel_want_close(t, RING_CLOSE_ABORT, "not APF");
    } else if (rc < 0) {
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, "APF session ended");
    }
}

static void tls_hello(void *user, const struct tls_client_hello *ch)
{
    struct tunnel *t = user;
    t->hello_seen = true;
    if (t->state == T_HANDSHAKE) {
        t->deadline_ms = t->opened_ms + M(t)->cfg.handshake_timeout_ms;
        tunnel_arm_timer(t);
    }
    if (log_get_level() >= LOG_DEBUG) {
        char buf[512];
        tls_client_hello_format(ch, buf, sizeof(buf));
        log_kv_debug(TF(t), "ClientHello %s", buf);
    }
}

static void tls_handshake_done(void *user, struct tls_conn *c)
{
    struct tunnel *t = user;
    struct tls_conn_info info;
    release_handshake_slot(t);
    STAT_INC(&t->wc->stats, tls_ok);
    t->tls_up_us = stats_now_us();
    stats_observe(&t->wc->stats, HIST_HANDSHAKE, t->tls_up_us - t->accept_us);
    if (tls_conn_info(c, &info) == 0) {
        t->peer_cert = info.has_peer;
        /* The device a client certificate names (docs/tls.md "Peer identity"): its one subject
         * CN, decoded from the DER by the TLS layer (never searched for in the rendered subject,
         * where "O=x/CN=<guid>" looks like a CN), parsed as a GUID. A urn:uuid SAN, or a
         * dNSName that is a GUID, naming another device makes the certificate name none.
         * cert_guid holds that GUID when cert_named. */
        const struct tls_cert_id *id = &info.peer_id;
        guid named, san;
        bool names = info.has_peer && id->cn_count == 1 && !id->san_ids_bad &&
                     guid_parse(id->cn, strlen(id->cn), &named) == 0;
        for (unsigned i = 0; names && i < id->n_san_ids; i++) {
            const char *v = id->san_ids[i].value;
            if (guid_parse(v, strlen(v), &san) == 0)
                names = guid_eq(&san, &named);
            else
                names = id->san_ids[i].kind != TLS_SAN_URN_UUID; /* a plain host name is fine */
        }
        t->cert_named = names;
        if (names)
            t->cert_guid = named;
        log_kv_debug(TF(t), "TLS up: %s %s%s", tls_version_name(info.version), info.cipher,
                     info.resumed ? " (resumed)" : "");
    }
    if (start_apf(t) != 0)
        tunnel_want_close(t, RING_CLOSE_ABORT, "out of memory");
}

/* --- ring callbacks --- */

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    netaddr a;
    if (netaddr_from_sockaddr((const struct sockaddr *)ss, sizeof(*ss), &a) == 0)
        netaddr_format(&a, out, cap);
    else
        snprintf(out, cap, "?");
}

int tunnel_peer_addr(const struct tunnel *t, netaddr *out)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof(sa);
    memset(out, 0, sizeof(*out));
    if (!t->conn || ring_conn_peer(t->conn, (struct sockaddr *)&sa, &len) != 0 ||
        netaddr_from_sockaddr((const struct sockaddr *)&sa, len, out) != 0)
        return -ENOTCONN;
    return 0;
}

static void format_peer(struct tunnel *t)
{
    netaddr a;
    if (tunnel_peer_addr(t, &a) == 0)
        netaddr_format(&a, t->peer, sizeof(t->peer));
    else
        snprintf(t->peer, sizeof(t->peer), "?");
}

/* Caps and drain: refused connections are closed at once, before any allocation. */
static bool admit(struct wctx *wc, ring_conn *c, bool tls, uint64_t *slot)
{
    struct mpsd *m = wc->m;
    STAT_INC(&wc->stats, accepted);
    const char *why = NULL;
    *slot = 0;
    if (atomic_load(&m->draining)) {
        STAT_INC(&wc->stats, refused_draining);
        why = "draining";
    } else if (atomic_load(&m->tunnels) >= (int64_t)m->cfg.max_tunnels) {
        STAT_INC(&wc->stats, refused_tunnel_cap);
        why = "max_tunnels reached";
    } else if (tls && atomic_load(&m->handshakes) >= (int64_t)m->cfg.max_handshakes) {
        STAT_INC(&wc->stats, refused_handshake_cap);
        why = "max_handshakes in flight";
    } else if (tls) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        netaddr src = {0};
        if (ring_conn_peer(c, (struct sockaddr *)&ss, &len) == 0)
            netaddr_from_sockaddr((struct sockaddr *)&ss, len, &src);
        int rc = admission_take(m->admission, &src, m->cfg.max_handshakes_per_source,
                                m->cfg.max_handshakes_per_prefix, slot);
        if (rc == 1) {
            STAT_INC(&wc->stats, refused_handshake_source);
            why = "max_handshakes_per_source in flight from this address";
        } else if (rc == 2) {
            STAT_INC(&wc->stats, refused_handshake_prefix);
            why = "max_handshakes_per_prefix in flight from this network";
        }
    }
    if (!why)
        return true;
    if (wctx_peer_log_ok(wc)) {
        char peer[NETADDR_STRLEN] = "?";
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (ring_conn_peer(c, (struct sockaddr *)&ss, &len) == 0)
            format_addr(&ss, peer, sizeof(peer));
        log_kv(LOG_WARN, LF(.peer = peer), "connection refused: %s", why);
    }
    ring_conn_close(c, RING_CLOSE_ABORT);
    return false;
}

static void open_common(ring_conn *c, bool tls)
{
    struct wctx *wc = ring_conn_user(c);
    struct mpsd *m = wc->m;
    uint64_t slot;
    if (!admit(wc, c, tls, &slot)) {
        ring_conn_set_user(c, NULL);
        return;
    }
    struct tunnel *t = calloc(1, sizeof(*t));
    if (!t) {
        ring_conn_set_user(c, NULL);
        ring_conn_close(c, RING_CLOSE_ABORT);
        return;
    }
    t->wc = wc;
    t->conn = c;
    t->conn_id = ring_conn_id(c);
    t->serial = ++wc->serial;
    t->close_how = -1;
    t->opened_ms = ring_now_ms(wc->w);
    t->accept_us = stats_now_us();
    t->tls_up_us = t->accept_us; /* a plain listener has no handshake */
    ring_timer_init(&t->timer, on_timer);
    tunnel_set_group(t, NULL);
    format_peer(t);
    ring_conn_set_user(c, t);
    /* max_buffered is where console data stops (tunnel_channel_send); the hard cap above it only
     * catches a device that reads nothing while control messages pile up */
    ring_conn_set_send_cap(c, 2 * m->cfg.max_buffered, m->cfg.max_buffered / 2);
    t->next = wc->head;
    if (wc->head)
        wc->head->prev = t;
    wc->head = t;
    atomic_fetch_add(&m->tunnels, 1);
    atomic_fetch_add_explicit(&wc->stats.tunnels, 1, memory_order_relaxed);

    if (tls) {
        struct tls_ctx *ctx = tls_ctx_slot_get(m->tls);
        struct tls_conn_io io = {.output = tls_output,
                                 .plaintext = tls_plaintext,
                                 .hello = tls_hello,
                                 .handshake = tls_handshake_done,
                                 .user = t};
        t->tls = ctx ? tls_conn_new(ctx, &io) : NULL;
        tls_ctx_unref(ctx);
        if (!t->tls) {
            tunnel_want_close(t, RING_CLOSE_ABORT, "out of memory");
            tunnel_apply_close(t);
            return;
        }
        t->counted_handshake = true;
        t->adm_slot = slot;
        atomic_fetch_add(&m->handshakes, 1);
        atomic_fetch_add_explicit(&wc->stats.handshakes, 1, memory_order_relaxed);
        t->state = T_HANDSHAKE;
        /* until a whole ClientHello is in, the shorter hello_timeout (a silent or slowloris peer
         * gives its handshake slot back sooner) */
        uint32_t first = m->cfg.hello_timeout_ms < m->cfg.handshake_timeout_ms
                             ? m->cfg.hello_timeout_ms
                             : m->cfg.handshake_timeout_ms;
        t->deadline_ms = t->opened_ms + first;
        tunnel_arm_timer(t);
    } else if (start_apf(t) != 0) {
        tunnel_want_close(t, RING_CLOSE_ABORT, "out of memory");
        tunnel_apply_close(t);
    }
}

static void on_open_tls(ring_conn *c)
{
    open_common(c, true);
}

static void on_open_plain(ring_conn *c)
{
    open_common(c, false);
}

static void on_data(ring_conn *c, const uint8_t *p, size_t n)
{
    struct tunnel *t = ring_conn_user(c);
    if (!t || t->close_how >= 0)
        return;
    if (!t->tls) {
        tls_plaintext(t, p, n);
    } else {
        int rc = tls_conn_feed(t->tls, p, n);
        if (rc == TLS_E_WANT_WRITE) {
            STAT_INC(&t->wc->stats, send_overflow);
            tunnel_want_close(t, RING_CLOSE_ABORT, WHY_SEND_OVERFLOW);
        } else if (rc == TLS_E_CLOSED) {
            tunnel_want_close(t, RING_CLOSE_GRACEFUL, WHY_CLOSE_NOTIFY);
        } else if (rc < 0 && rc != TLS_E_AGAIN) {
            if (!tls_conn_handshake_done(t->tls)) {
                STAT_INC(&t->wc->stats, tls_failed);
                release_handshake_slot(t);
                peer_warn(t, "TLS handshake failed: %s", tls_conn_error(t->tls));
            } else {
                peer_warn(t, "TLS error: %s", tls_conn_error(t->tls));
            }
            tunnel_want_close(t, RING_CLOSE_ABORT, WHY_TLS_ERROR);
        }
    }
    if (t->close_how < 0 && t->apf)
        tunnel_arm_timer(t); /* the engine's idle deadline moved with the bytes just received */
    tunnel_apply_close(t);
}

static void on_eof(ring_conn *c)
{
    struct tunnel *t = ring_conn_user(c);
    if (t) {
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, WHY_DEVICE_CLOSED);
        tunnel_apply_close(t);
    } else {
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
    }
}

static void on_close(ring_conn *c, int err)
{
    struct tunnel *t = ring_conn_user(c);
    if (!t)
        return;
    struct wctx *wc = t->wc;
    struct mpsd *m = wc->m;
    if (t->state == T_HANDSHAKE && t->counted_handshake)
        STAT_INC(&wc->stats, tls_failed); /* abandoned: closed before the handshake ended */
    release_handshake_slot(t);
    /* a superseded tunnel is no longer registered: its successor's supersede event said it */
    if (t->registered && t->state == T_READY)
        tunnel_event(t, EV_DISCONNECT, t->end_reason ? t->end_reason : "connection_lost");
    if (t->registered)
        dir_unregister(m->directory, &t->guid, wc->index, t->conn_id, t->serial);
    if (t->state == T_READY)
        atomic_fetch_sub_explicit(&wc->stats.ready, 1, memory_order_relaxed);
    ring_timer_cancel(wc->w, &t->timer);
    uint64_t ms = ring_now_ms(wc->w) - t->opened_ms;
    if (t->state == T_READY || t->authed || (t->has_guid && wctx_peer_log_ok(wc)))
        log_kv(LOG_INFO, TF(t), "tunnel closed after %llu.%03llus: %s%s%s",
               (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
               t->why ? t->why : "connection lost", err ? ": " : "", err ? strerror(-err) : "");
    else
        log_kv_debug(TF(t), "connection closed after %llums: %s", (unsigned long long)ms,
                     t->why ? t->why : "connection lost");
    tunnel_ends_gone(t);
    apf_session_free(t->apf);
    tls_conn_free(t->tls);
    tunnel_set_group(t, NULL);
    if (t->prev)
        t->prev->next = t->next;
    else
        wc->head = t->next;
    if (t->next)
        t->next->prev = t->prev;
    STAT_INC(&wc->stats, closed);
    atomic_fetch_sub(&m->tunnels, 1);
    atomic_fetch_sub_explicit(&wc->stats.tunnels, 1, memory_order_relaxed);
    free(t);
}

void tunnel_drain_worker(struct wctx *wc)
{
    for (struct tunnel *t = wc->head, *next; t; t = next) {
        next = t->next;
        if (t->close_how >= 0)
            continue;
        if (t->apf && !apf_session_is_closed(t->apf))
            apf_session_disconnect(t->apf, APF_DISC_BY_APPLICATION);
        if (t->tls && tls_conn_handshake_done(t->tls))
            tls_conn_shutdown(t->tls);
        tunnel_want_close(
            t, t->tls && !tls_conn_handshake_done(t->tls) ? RING_CLOSE_ABORT : RING_CLOSE_GRACEFUL,
            WHY_DRAIN);
        tunnel_apply_close(t);
    }
}

const ring_conn_cbs tunnel_tls_cbs = {
    .on_open = on_open_tls,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = tunnel_on_writable,
    .on_close = on_close,
};

const ring_conn_cbs tunnel_plain_cbs = {
    .on_open = on_open_plain,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = tunnel_on_writable,
    .on_close = on_close,
};
