/* Console sessions: the proxy side of mpsd. This file: errors and replies, the input buffer,
 * accept, timers, the hand-off and the connection's ring callbacks; console_request.c reads the
 * request, checks credentials and names the device; relay.c runs the channel.
 *
 * A console connects to a SOCKS or HTTP proxy listener on any worker. There it says who it is and
 * which device and port it wants (src/proxy parses; this file decides), its credentials are
 * checked (auth.c: on the worker when the cache knows them, else on the auth pool), the device is
 * found in the directory, and the connection is handed (the ring's fd hand-off) to the worker that
 * owns the device's tunnel. From then on every byte of the session is handled by that one thread:
 * the channel is opened on the tunnel, the proxy reply goes out once the device confirms, and
 * bytes are relayed both ways with APF flow control (relay.c).
 *
 * Lifetime: a console is freed only in its ring on_close, which the ring calls exactly once and
 * never from inside another callback; everything else marks and closes. */
#include "console_int.h"
#include "events.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

/* --- errors a console can get, with what each protocol answers --- */

static const struct cerr_info {
    const char *what;
    uint8_t socks;
    int http;
} cerr_info[] = {
    [CE_AUTH] = {"authentication failed", SOCKS_REP_NOT_ALLOWED, 407},
    [CE_NO_AUTH] = {"no credentials given", SOCKS_REP_NOT_ALLOWED, 407},
    [CE_DENIED] = {"denied by the user's ACL", SOCKS_REP_NOT_ALLOWED, 403},
    [CE_UNKNOWN] = {"unknown or offline device", SOCKS_REP_HOST_UNREACHABLE, 502},
    [CE_AMBIGUOUS] = {"host name is claimed by several devices; name it by GUID",
                      SOCKS_REP_HOST_UNREACHABLE, 502},
    [CE_PORT] = {"port not registered by the device", SOCKS_REP_CONNECTION_REFUSED, 502},
    [CE_REFUSED] = {"the device refused the channel", SOCKS_REP_CONNECTION_REFUSED, 502},
    [CE_TIMEOUT] = {"the device did not confirm the channel in time", SOCKS_REP_TTL_EXPIRED, 504},
    [CE_CAP] = {"too many console sessions", SOCKS_REP_GENERAL_FAILURE, 503},
    [CE_BUSY] = {"too many credential checks queued", SOCKS_REP_GENERAL_FAILURE, 503},
    [CE_BAD_REQUEST] = {"malformed proxy request", SOCKS_REP_GENERAL_FAILURE, 400},
    [CE_INTERNAL] = {"internal error", SOCKS_REP_GENERAL_FAILURE, 500},
};

_Static_assert(STATS_CONSOLE_RESULT_COUNT == CE_INTERNAL + 2,
               "stats.h's console results are ok followed by enum cerr, in order");

static void count_error(struct console *c, enum cerr e)
{
    struct stats *st = &c->wc->stats;
    if (c->throttled && (e == CE_AUTH || e == CE_BUSY))
        return; /* console_throttled_* counted it: the login families must not count it twice */
    switch (e) {
    case CE_AUTH:
        STAT_INC(st, console_auth_failed);
        break;
    case CE_NO_AUTH:
        STAT_INC(st, console_auth_missing);
        break;
    case CE_DENIED:
        STAT_INC(st, console_denied);
        break;
    case CE_UNKNOWN:
        STAT_INC(st, console_unknown_device);
        break;
    case CE_AMBIGUOUS:
        STAT_INC(st, console_ambiguous);
        break;
    case CE_PORT:
        STAT_INC(st, console_port_unregistered);
        break;
    case CE_REFUSED:
        STAT_INC(st, console_open_refused);
        break;
    case CE_TIMEOUT:
        STAT_INC(st, console_open_timeout);
        break;
    case CE_CAP:
        STAT_INC(st, console_cap);
        break;
    case CE_BUSY:
        STAT_INC(st, console_auth_busy);
        break;
    case CE_BAD_REQUEST:
        STAT_INC(st, console_bad_request);
        break;
    case CE_INTERNAL:
        break;
    }
}

/* Logs, counts, answers in the console's protocol and closes once the answer is out. */
void console_fail(struct console *c, enum cerr e, const char *detail)
{
    if (c->closing)
        return;
    count_error(c, e);
    console_count_result(c, 1 + (unsigned)e);
    const struct cerr_info *ci = &cerr_info[e];
    if (wctx_peer_log_ok(c->wc))
        log_kv(LOG_WARN, CF(c), "refused: %s%s%s", ci->what, detail ? ": " : "",
               detail ? detail : "");
    if (c->proto == CP_SOCKS && c->rq && c->rq->socks.version) {
        socks_session *ss = &c->rq->socks;
        if (c->rq->socks_auth_pending) {
            c->rq->socks_auth_pending = false;
            socks_auth_result(ss, false);
        } else
            socks_reply(ss, (socks_rep)ci->socks, NULL, 0);
        console_send_socks_output(c);
    } else if (c->proto == CP_HTTP) {
        char body[320];
        snprintf(body, sizeof(body), "mpsd: %s%s%s%s%s%s\n", ci->what, detail ? ": " : "",
                 detail ? detail : "", c->name[0] ? " (device " : "", c->name,
                 c->name[0] ? ")" : "");
        uint8_t out[768];
        ssize_t n = http_pack_response(
            out, sizeof(out), ci->http,
            ci->http == 407 ? "Proxy-Authenticate: Basic realm=\"mpsd\", charset=\"UTF-8\"\r\n"
                            : NULL,
            body, false);
        if (n > 0)
            console_queue(c, out, (size_t)n);
    }
    console_close(c, RING_CLOSE_GRACEFUL, ci->what);
}

/* --- small helpers shared with relay.c --- */

struct mpsd *console_m(const struct console *c)
{
    return c->mref;
}

void console_queue(struct console *c, const uint8_t *p, size_t n)
{
    if (!c->conn || n == 0)
        return;
    ssize_t k = ring_conn_send(c->conn, p, n);
    if (k > 0) {
        c->enq += (uint64_t)k;
        c->enq_other += (uint64_t)k;
    }
}

void console_send_socks_output(struct console *c)
{
    const uint8_t *p;
    size_t n = socks_output(&c->rq->socks, &p);
    console_queue(c, p, n);
    socks_output_clear(&c->rq->socks);
}

void console_close(struct console *c, int how, const char *why)
{
    if (!c->why)
        c->why = why;
    if (c->end.t)
        tunnel_detach(c->end.t, &c->end);
    if (c->conn)
        ring_conn_close(c->conn, how);
    c->closing = true;
    ring_timer_cancel(c->wc->w, &c->timer);
}

void console_arm(struct console *c, uint32_t ms)
{
    ring_timer_arm(c->wc->w, &c->timer, ms);
}

/* Bytes from the console kept until they can go on: the request head, payload that came before
 * the channel was confirmed, what the channel could not take yet. Bounded by cap. */
int console_in_append(struct console *c, const uint8_t *p, size_t n, size_t cap)
{
    if (c->in_len + n > cap)
        return -ENOBUFS;
    if (c->in_len + n > c->in_cap) {
        size_t ncap = c->in_cap ? c->in_cap : 4096;
        while (ncap < c->in_len + n)
            ncap *= 2;
        if (ncap > cap)
            ncap = cap;
        /* not realloc: the old block may hold the console's credentials; it is wiped first */
        uint8_t *b = malloc(ncap);
        if (!b)
            return -ENOMEM;
        if (c->in) {
            memcpy(b, c->in, c->in_len);
            explicit_bzero(c->in, c->in_cap);
            free(c->in);
        }
        c->in = b;
        c->in_cap = (uint32_t)ncap;
    }
    memcpy(c->in + c->in_len, p, n);
    c->in_len += (uint32_t)n;
    return 0;
}

static void in_release(struct console *c)
{
    if (c->in)
        explicit_bzero(c->in, c->in_cap);
    free(c->in);
    c->in = NULL;
    c->in_len = c->in_cap = 0;
}

void console_in_consume(struct console *c, size_t n)
{
    if (n >= c->in_len) {
        if (c->state == ST_RELAY) { /* an idle session holds no input buffer */
            in_release(c);
        } else {
            explicit_bzero(c->in, c->in_len); /* a request head, credentials with it */
            c->in_len = 0;
        }
        return;
    }
    memmove(c->in, c->in + n, c->in_len - n);
    explicit_bzero(c->in + c->in_len - n, n);
    c->in_len -= (uint32_t)n;
}

size_t console_in_limit(const struct console *c)
{
    const struct config *cfg = &console_m(c)->cfg;
    if (c->state == ST_REQUEST || c->state == ST_AUTH)
        return cfg->max_head + 512;
    /* Relaying, or waiting for the channel: once the channel cannot take more we stop reading;
     * receives are bounded (one buffer per arming), so at most the buffer in flight follows. */
    return 2 * (size_t)MPSD_CONSOLE_RECV_SIZE + cfg->max_head;
}

void console_cred_digest(const char *user, size_t ulen, const char *pw, size_t pwlen,
                         uint8_t out[32])
{
    wc_Sha256 h;
    static const uint8_t zero = 0;
    wc_InitSha256(&h);
    wc_Sha256Update(&h, (const uint8_t *)user, (word32)ulen);
    wc_Sha256Update(&h, &zero, 1);
    wc_Sha256Update(&h, (const uint8_t *)pw, (word32)pwlen);
    wc_Sha256Final(&h, out);
    wc_Sha256Free(&h);
}

/* --- worker list --- */

static void list_add(struct console *c)
{
    c->listed = true;
    c->prev = NULL;
    c->next = c->wc->chead;
    if (c->wc->chead)
        c->wc->chead->prev = c;
    c->wc->chead = c;
    atomic_fetch_add_explicit(&c->wc->stats.consoles, 1, memory_order_relaxed);
}

static void list_del(struct console *c)
{
    c->listed = false;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->wc->chead = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    atomic_fetch_sub_explicit(&c->wc->stats.consoles, 1, memory_order_relaxed);
}

/* --- timers --- */

static void on_timer(ring_timer *tm)
{
    struct console *c = (struct console *)((char *)tm - offsetof(struct console, timer));
    if (c->closing)
        return;
    const struct config *cfg = &console_m(c)->cfg;
    switch (c->state) {
    case ST_REQUEST:
    case ST_AUTH:
    case ST_MOVING:
        STAT_INC(&c->wc->stats, console_request_timeout);
        if (wctx_peer_log_ok(c->wc))
            log_kv(LOG_WARN, CF(c), "no complete proxy request within %ums: closing",
                   cfg->request_timeout_ms);
        console_close(c, RING_CLOSE_ABORT, "request timeout");
        return;
    case ST_OPENING:
        console_fail(c, CE_TIMEOUT, NULL);
        return;
    case ST_CONNECTING:
        STAT_INC(&c->wc->stats, device_open_failed);
        console_close(c, RING_CLOSE_ABORT, "connect timeout");
        return;
    case ST_RELAY: {
        uint64_t now = ring_now_ms(c->wc->w), idle = now - c->last_ms;
        if (idle >= cfg->idle_timeout_ms) {
            STAT_INC(&c->wc->stats, console_idle_timeout);
            log_kv(LOG_INFO, CF(c), "idle for %ums: closing", cfg->idle_timeout_ms);
            console_close(c, RING_CLOSE_GRACEFUL, "idle timeout");
        } else {
            console_arm(c, (uint32_t)(cfg->idle_timeout_ms - idle));
        }
        return;
    }
    }
}

/* --- accept --- */

static bool admit(struct wctx *wc, ring_conn *conn)
{
    struct mpsd *m = wc->m;
    STAT_INC(&wc->stats, console_accepted);
    const char *why = NULL;
    if (atomic_load(&m->draining))
        why = "draining";
    else if (atomic_load(&m->consoles) >= (int64_t)m->cfg.max_consoles) {
        STAT_INC(&wc->stats, console_refused_cap);
        why = "max_consoles reached";
    }
    if (!why)
        return true;
    if (wctx_peer_log_ok(wc)) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        netaddr a = {0};
        char peer[NETADDR_STRLEN];
        if (ring_conn_peer(conn, (struct sockaddr *)&ss, &len) == 0)
            netaddr_from_sockaddr((struct sockaddr *)&ss, len, &a);
        netaddr_format(&a, peer, sizeof(peer));
        log_kv(LOG_WARN, LF(.peer = peer), "connection refused: %s", why);
    }
    ring_conn_set_user(conn, NULL);
    ring_conn_close(conn, RING_CLOSE_ABORT);
    return false;
}

/* The console's send queue holds at most one channel window of device data plus our replies. */
void console_set_caps(struct console *c)
{
    uint32_t win = console_m(c)->cfg.channel_window;
    /* twice the window: when an HTTP session moves to a new channel on the same worker, the old
     * channel's last bytes may still be queued while the new one's window fills */
    ring_conn_set_send_cap(c->conn, 2 * win + 16384, win / 2);
    ring_conn_set_recv_bounded(c->conn, true); /* a pause must stop the console within a buffer */
}

struct console *console_new(struct wctx *wc, enum cproto proto)
{
    struct console *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->wc = wc;
    c->mref = wc->m;
    c->proto = (uint8_t)proto;
    c->end.ops = &console_end_ops;
    c->end.console = proto != CP_DEVICE;
    ring_timer_init(&c->timer, on_timer);
    c->opened_ms = c->last_ms = c->req_ms = ring_now_ms(wc->w);
    atomic_fetch_add(&wc->m->consoles, 1);
    list_add(c);
    return c;
}

static void open_common(ring_conn *conn, enum cproto proto)
{
    struct wctx *wc = ring_conn_user(conn);
    if (!admit(wc, conn))
        return;
    struct console *c = console_new(wc, proto);
    if (c)
        c->rq = calloc(1, sizeof(*c->rq));
    if (!c || !c->rq) {
        if (c) {
            list_del(c);
            atomic_fetch_sub(&wc->m->consoles, 1);
            free(c);
        }
        ring_conn_set_user(conn, NULL);
        ring_conn_close(conn, RING_CLOSE_ABORT);
        return;
    }
    c->conn = conn;
    c->conn_id = ring_conn_id(conn);
    ring_conn_set_user(conn, c);
    console_set_caps(c);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    netaddr a = {0};
    if (ring_conn_peer(conn, (struct sockaddr *)&ss, &len) == 0)
        netaddr_from_sockaddr((struct sockaddr *)&ss, len, &a);
    netaddr_format(&a, c->peer, sizeof(c->peer));
    c->loopback = netaddr_is_loopback(&a);
    const struct config *cfg = &wc->m->cfg;
    if (proto == CP_SOCKS) {
        socks_conf sc = {.allow_socks4 = cfg->allow_socks4,
                         .allow_anonymous = cfg->allow_anonymous_loopback && c->loopback};
        socks_init(&c->rq->socks, &sc);
    }
    console_arm(c, cfg->request_timeout_ms);
}

static void on_open_socks(ring_conn *conn)
{
    open_common(conn, CP_SOCKS);
}

static void on_open_http(ring_conn *conn)
{
    open_common(conn, CP_HTTP);
}

void console_fail_http(struct console *c, int status, const char *detail)
{
    enum cerr e = status == 503 ? CE_CAP : CE_BAD_REQUEST;
    if (status == 400 || status == 501 || status == 505 || status == 431 || status == 414) {
        count_error(c, CE_BAD_REQUEST);
        if (wctx_peer_log_ok(c->wc))
            log_kv(LOG_WARN, CF(c), "refused: malformed proxy request: %s", detail);
        uint8_t out[512];
        char body[256];
        snprintf(body, sizeof(body), "mpsd: malformed proxy request: %s\n", detail);
        ssize_t n = http_pack_response(out, sizeof(out), status, NULL, body, false);
        if (n > 0)
            console_queue(c, out, (size_t)n);
        console_close(c, RING_CLOSE_GRACEFUL, "malformed request");
        return;
    }
    console_fail(c, e, detail);
}

/* --- moving to the tunnel's worker --- */

static const ring_conn_cbs console_moved_cbs;

static void do_handoff(struct console *c)
{
    struct mpsd *m = console_m(c);
    ring_conn *conn = c->conn;
    ring_timer_cancel(c->wc->w, &c->timer);
    /* Off this worker's list now: on the next it joins that one's. Until the connection arrives
     * only this worker may still call on_data (bytes that completed before the hand-off), and on
     * failure on_close, both of which find c->wc still naming this worker. */
    list_del(c);
    c->conn = NULL;
    c->moving = false;
    int rc = ring_conn_handoff(conn, m->workers[c->dworker].w, &console_moved_cbs, c);
    if (rc != 0) {
        /* still ours, on this worker: close it here (on_close frees the console) */
        c->conn = conn;
        list_add(c);
        if (wctx_peer_log_ok(c->wc))
            log_kv(LOG_WARN, CF(c), "hand-off to worker %u failed: %s: closing", c->dworker,
                   strerror(-rc));
        console_close(c, RING_CLOSE_ABORT, "hand-off to the tunnel's worker failed");
    }
}

/* Hands the connection to the worker that owns the device's tunnel (or opens right here). */
void console_move(struct console *c)
{
    if (c->dworker == c->wc->index) {
        console_attach(c);
        return;
    }
    c->state = ST_MOVING;
    if (ring_conn_queued(c->conn) > 0) {
        /* a hand-off carries no queued bytes: wait for our replies to go out */
        c->moving = true;
        ring_conn_set_send_cap(c->conn, 2 * console_m(c)->cfg.channel_window + 16384, 0);
        ring_conn_want_writable(c->conn);
        return;
    }
    do_handoff(c);
}

static void on_open_moved(ring_conn *conn)
{
    struct console *c = ring_conn_user(conn);
    struct mpsd *m = c->mref;
    c->wc = &m->workers[ring_worker_index(ring_conn_worker(conn))];
    c->conn = conn;
    c->conn_id = ring_conn_id(conn);
    c->paused = false; /* a connection arrives reading */
    list_add(c);
    console_set_caps(c);
    console_arm(c, m->cfg.request_timeout_ms);
    if (c->why) { /* it sent more than it may while travelling: its stream is not whole */
        console_close(c, RING_CLOSE_ABORT, c->why);
        return;
    }
    console_attach(c);
}

/* --- the connection's ring callbacks --- */

static void on_data(ring_conn *conn, const uint8_t *p, size_t n)
{
    struct console *c = ring_conn_user(conn);
    if (!c || c->closing)
        return;
    c->last_ms = ring_now_ms(c->wc->w);
    if (!c->conn) { /* completed before a hand-off: it travels with the console */
        if (console_in_append(c, p, n, console_in_limit(c)) < 0)
            c->why = "console sent too much while moving";
        return;
    }
    if (c->state == ST_RELAY) {
        console_relay_up(c, p, n);
        return;
    }
    if (console_in_append(c, p, n, console_in_limit(c)) < 0) {
        if (c->state == ST_REQUEST)
            console_fail_http_or_bad(c);
        else
            console_close(c, RING_CLOSE_ABORT, "console sent too much before its channel opened");
        return;
    }
    if (c->state == ST_REQUEST)
        console_request(c);
    else
        console_pause_in(c, true); /* nothing more is read ahead while we wait */
}

void console_fail_http_or_bad(struct console *c)
{
    if (c->proto == CP_HTTP)
        console_fail_http(c, 431, "request head too large");
    else
        console_fail(c, CE_BAD_REQUEST, "request too large");
}

static void on_eof(ring_conn *conn)
{
    struct console *c = ring_conn_user(conn);
    if (!c || c->closing) {
        ring_conn_close(conn, RING_CLOSE_GRACEFUL);
        return;
    }
    c->eof_in = true;
    if (c->state == ST_RELAY)
        console_relay_up(c, NULL, 0);
    else if (c->state == ST_REQUEST && !c->in_len)
        console_close(c, RING_CLOSE_GRACEFUL, "console closed before its request");
    /* otherwise the request (or the open) goes on; the close follows the relay */
}

static void on_writable(ring_conn *conn)
{
    struct console *c = ring_conn_user(conn);
    if (!c || c->closing)
        return;
    if (c->moving) {
        if (ring_conn_queued(conn) == 0)
            do_handoff(c);
        else
            ring_conn_want_writable(conn);
        return;
    }
    console_relay_drained(c);
}

static void on_close(ring_conn *conn, int err)
{
    struct console *c = ring_conn_user(conn);
    if (!c)
        return;
    struct wctx *wc = c->wc;
    if (c->end.t)
        tunnel_detach(c->end.t, &c->end);
    ring_timer_cancel(wc->w, &c->timer);
    uint64_t ms = ring_now_ms(wc->w) - c->opened_ms;
    if (c->proto == CP_DEVICE)
        log_kv(LOG_INFO, DF(c), "channel to %s closed after %llums (%llu bytes up, %llu down): %s",
               c->peer, (unsigned long long)ms, (unsigned long long)c->up,
               (unsigned long long)c->down, c->why ? c->why : "destination closed");
    else if (c->chan_was_open)
        log_kv(LOG_INFO, CF(c), "closed after %llu.%03llus (%llu bytes up, %llu down): %s%s%s",
               (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
               (unsigned long long)c->up, (unsigned long long)c->down,
               c->why ? c->why : "console closed", err ? ": " : "", err ? strerror(-err) : "");
    STAT_INC(&wc->stats, console_closed);
    if (c->proto != CP_DEVICE && c->chan_was_open)
        console_event(c, EV_CONSOLE_CLOSE);
    console_free(c);
}

void console_event(struct console *c, int kind)
{
    struct event_bus *b = c->wc->m->events;
    if (!event_bus_wanted(b))
        return;
    struct admin_event ev = {.kind = (uint8_t)kind,
                             .guid = c->device,
                             .port = c->port,
                             .proto = c->ev_proto,
                             .reason = kind == EV_CONSOLE_CLOSE ? c->why : NULL,
                             .bytes_up = c->up,
                             .bytes_down = c->down};
    netaddr_parse(c->peer, strlen(c->peer), &ev.peer);
    size_t ul = c->ulen < sizeof(ev.user) - 1 ? c->ulen : sizeof(ev.user) - 1;
    memcpy(ev.user, c->user, ul);
    ev.user[ul] = 0;
    log_sanitize(c->name, ev.host, sizeof(ev.host)); /* already sanitised; may be cut */
    event_bus_emit(b, c->wc->index, &ev);
}

/* The request phase is over (or the session is): wipe what it held (passwords) and free it. */
void console_free_request(struct console *c)
{
    if (!c->rq)
        return;
    if (c->proto == CP_SOCKS)
        socks_wipe(&c->rq->socks);
    else
        httpproxy_wipe(&c->rq->http);
    explicit_bzero(c->rq, sizeof(*c->rq));
    free(c->rq);
    c->rq = NULL;
}

void console_free(struct console *c)
{
    console_free_request(c);
    console_relay_free(c);
    in_release(c);
    if (c->listed)
        list_del(c);
    atomic_fetch_sub(&c->mref->consoles, 1);
    free(c);
}

const ring_conn_cbs console_socks_cbs = {
    .on_open = on_open_socks,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = on_writable,
    .on_close = on_close,
};

const ring_conn_cbs console_http_cbs = {
    .on_open = on_open_http,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = on_writable,
    .on_close = on_close,
};

static const ring_conn_cbs console_moved_cbs = {
    .on_open = on_open_moved,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = on_writable,
    .on_close = on_close,
};

/* A device-initiated channel's connection to its destination (relay.c opens it). */
const ring_conn_cbs console_device_cbs = {
    .on_open = console_dev_connected,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_writable = on_writable,
    .on_close = on_close,
    .on_connect_fail = console_dev_connect_failed,
};

void console_drain_worker(struct wctx *wc)
{
    for (struct console *c = wc->chead, *next; c; c = next) {
        next = c->next;
        if (!c->closing)
            console_close(c, RING_CLOSE_GRACEFUL, "mpsd shutting down");
    }
}
