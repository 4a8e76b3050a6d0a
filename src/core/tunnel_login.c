/* tunnel_login.c - a tunnel's login: the APF USERAUTH check (cache, throttle, auth pool), the
 * answer, entering the device in the directory (superseding an older tunnel of its GUID) and the
 * tunnel's ready point, with the admin events of each step. The rest of the tunnel's life (ring,
 * TLS, deadlines, close) is tunnel.c. */
#include "tunnel_int.h"
#include "admission.h"
#include "auth.h"
#include "events.h"
#include "log.h"
#include "netaddr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static bool register_device(struct tunnel *t);

static const char no_group[] = "";

void tunnel_set_group(struct tunnel *t, const char *group)
{
    if (t->group && t->group != no_group)
        free((char *)t->group);
    t->group = no_group;
    if (group && *group) {
        char *g = strdup(group);
        if (g)
            t->group = g;
        else /* fails closed: a console ACL naming the group does not match this device */
            log_kv(LOG_ERROR, TF(t), "out of memory keeping credential group '%s'", group);
    }
}

/* A refused login: USERAUTH_FAILURE, then the graceful close (the line and counter are the
 * caller's, each naming its reason). */
static void refuse_login(struct tunnel *t)
{
    tunnel_want_close(t, RING_CLOSE_GRACEFUL, "login refused");
    apf_session_auth_result(t->apf, false);
}

static void auth_decide(struct tunnel *t, creds_status st, bool cached)
{
    struct wctx *wc = t->wc;
    bool ok = false;
    stats_observe(&wc->stats, HIST_LOGIN, stats_now_us() - t->tls_up_us);
    switch (st) {
    case CREDS_OK:
        ok = true;
        t->authed = true;
        STAT_INC(&wc->stats, auth_ok);
        log_kv_debug(TF(t), "login accepted%s", cached ? " (cached)" : "");
        break;
    case CREDS_UNKNOWN_DEVICE:
        if (atomic_load_explicit(&M(t)->auto_enroll, memory_order_relaxed)) {
            ok = true;
            t->authed = true;
            STAT_INC(&wc->stats, auth_enrolled);
            log_kv(LOG_INFO, TF(t), "unknown GUID accepted by auto_enroll");
        } else {
            STAT_INC(&wc->stats, auth_unknown_device);
            peer_warn(t, "login refused: unknown device (not in credentials)");
        }
        break;
    case CREDS_BAD_USERNAME:
        STAT_INC(&wc->stats, auth_bad_username);
        peer_warn(t, "login refused: wrong username");
        break;
    case CREDS_BAD_PASSWORD:
        STAT_INC(&wc->stats, auth_bad_password);
        peer_warn(t, "login refused: wrong password");
        break;
    case CREDS_ERROR:
    case CREDS_NEED_ARGON2: /* not an answer from creds_check */
        STAT_INC(&wc->stats, auth_error);
        log_kv(LOG_ERROR, TF(t), "login refused: credential check failed (out of memory?)");
        break;
    }
    if (ok && !register_device(t)) {
        ok = false; /* a device no console could find is not worth a tunnel */
        STAT_INC(&wc->stats, auth_error);
    }
    if (ok)
        apf_session_auth_result(t->apf, true);
    else
        refuse_login(t);
}

static void auth_answered(struct wctx *wc, uint64_t conn_id, const struct auth_res *res)
{
    ring_conn *c = ring_conn_find(wc->w, conn_id);
    struct tunnel *t = c ? ring_conn_user(c) : NULL;
    if (t && t->auth_pending && t->close_how < 0) {
        t->auth_pending = false;
        tunnel_set_group(t, res->group);
        auth_decide(t, (creds_status)res->status, res->cached);
        if (t->close_how < 0)
            tunnel_arm_timer(
                t); /* the answer let APF run what the device pipelined: settle timer */
        tunnel_apply_close(t);
    }
}

void tunnel_apf_on_auth(apf_session *s, const apf_auth_request *req, void *user)
{
    struct tunnel *t = user;
    struct wctx *wc = t->wc;
    if (!strcmp(req->method, APF_METHOD_NONE)) {
        /* apf.md 6.2: method none only with a verified client certificate bound to the TLS
         * session, and only for the device that certificate names: its subject CN must be the
         * GUID the device claims. Any other certificate from the CA proves nothing about it. */
        if (t->peer_cert && t->has_guid && t->cert_named && guid_eq(&t->cert_guid, &t->guid)) {
            t->authed = true;
            auth_decide(t, CREDS_OK, false);
        } else {
            STAT_INC(&wc->stats, auth_bad_password);
            peer_warn(t, "login refused: method none needs a client certificate whose CN is the "
                         "device GUID");
            refuse_login(t);
        }
        return;
    }
    struct auth_req rq = {.kind = AUTH_DEVICE,
                          .device = req->version ? req->version->id : t->guid,
                          .user = req->user,
                          .ulen = req->user_len,
                          .pw = req->password,
                          .pwlen = req->password_len,
                          .conn_id = t->conn_id,
                          .deadline_ms = t->deadline_ms ? t->deadline_ms : 0};
    netaddr peer;
    if (tunnel_peer_addr(t, &peer) == 0)
        rq.peer = &peer; /* its failure budget (docs/credentials.md, "Login throttling") */
    struct auth_res res;
    int rc = auth_check(wc, &rq, auth_answered, &res);
    if (rc == 1 && res.throttled == AUTH_THROTTLE_POOL) {
        /* mpsd's load, not the device's fault: the answer a full queue gets */
        STAT_INC(&wc->stats, auth_throttled_pool);
        peer_warn(t, "login refused: throttled: first-time credential checks fill their share "
                     "of the auth pool");
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, "auth queue full");
        apf_session_disconnect(s, APF_DISC_TEMPORARILY_UNAVAILABLE);
    } else if (rc == 1 && res.throttled != AUTH_THROTTLE_NONE) {
        /* refused before argon2, answered like a wrong password: USERAUTH_FAILURE, DISCONNECT */
        if (res.throttled == AUTH_THROTTLE_SOURCE) {
            STAT_INC(&wc->stats, auth_throttled_source);
            peer_warn(t, "login refused: throttled: too many wrong passwords from this address");
        } else {
            STAT_INC(&wc->stats, auth_throttled_prefix);
            peer_warn(t, "login refused: throttled: too many wrong passwords from this address's "
                         "network (/24 or /56)");
        }
        refuse_login(t);
    } else if (rc == 1) {
        tunnel_set_group(t, res.group);
        auth_decide(t, (creds_status)res.status, res.cached);
    } else if (rc == 0) {
        t->auth_pending = true;
    } else if (rc == -EAGAIN) {
        STAT_INC(&wc->stats, auth_busy);
        peer_warn(t, "login refused: too many credential checks queued");
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, "auth queue full");
        apf_session_disconnect(s, APF_DISC_TEMPORARILY_UNAVAILABLE);
    } else {
        auth_decide(t, CREDS_ERROR, false);
    }
}

/* --- the directory --- */

struct supersede_msg {
    ring_msg msg;
    uint64_t tunnel_id, generation;
    char new_peer[NETADDR_STRLEN];
};

static void supersede_run(ring_worker *w, ring_msg *msg)
{
    struct supersede_msg *sm = (struct supersede_msg *)msg;
    ring_conn *c = ring_conn_find(w, sm->tunnel_id);
    struct tunnel *t = c ? ring_conn_user(c) : NULL;
    if (t && t->serial == sm->generation && t->close_how < 0) {
        STAT_INC(&t->wc->stats, superseded);
        log_kv(LOG_INFO, TF(t), "superseded by a new login from %s: closing the old tunnel",
               sm->new_peer);
        t->registered = false; /* the directory already names the new tunnel */
        if (t->apf)
            apf_session_disconnect(t->apf, APF_DISC_BY_APPLICATION);
        tunnel_want_close(t, RING_CLOSE_GRACEFUL, tunnel_why_superseded);
        tunnel_apply_close(t);
    }
    free(sm);
}

void tunnel_supersede(struct mpsd *m, const dir_entry *old, const char *new_peer)
{
    if (old->worker >= m->nworkers)
        return;
    struct supersede_msg *sm = calloc(1, sizeof(*sm));
    if (!sm)
        return;
    sm->msg.fn = supersede_run;
    sm->tunnel_id = old->tunnel_id;
    sm->generation = old->generation;
    snprintf(sm->new_peer, sizeof(sm->new_peer), "%s", new_peer);
    if (ring_post(m->workers[old->worker].w, &sm->msg) != 0)
        free(sm);
}

/* An event for /api/v1/events (built only while someone listens). */
void tunnel_event(struct tunnel *t, enum admin_event_kind kind, const char *reason)
{
    struct event_bus *b = M(t)->events;
    if (!event_bus_wanted(b))
        return;
    struct admin_event ev = {.kind = (uint8_t)kind, .guid = t->guid, .reason = reason};
    tunnel_peer_addr(t, &ev.peer);
    const char *host = t->apf ? apf_session_hostname(t->apf) : NULL;
    log_sanitize(host ? host : "", ev.host, sizeof(ev.host));
    event_bus_emit(b, t->wc->index, &ev);
}

/* Enters the device in the directory (superseding an older tunnel of its GUID); false when it
 * could not be entered (logged). */
static bool register_device(struct tunnel *t)
{
    dir_entry e = {0}, old;
    e.guid = t->guid;
    e.worker = t->wc->index;
    e.tunnel_id = t->conn_id;
    e.generation = t->serial;
    e.connected_since = (int64_t)time(NULL);
    netaddr peer;
    if (tunnel_peer_addr(t, &peer) == 0)
        memcpy(&e.peer, &peer.ss, peer.len);
    int rc = dir_register(M(t)->directory, &e, &old);
    if (rc < 0) {
        log_kv(LOG_ERROR, TF(t), "login refused: directory: %s", strerror(-rc));
        return false;
    }
    t->registered = true;
    t->since_unix = e.connected_since;
    if (rc == 1) {
        tunnel_supersede(M(t), &old, t->peer);
        tunnel_event(t, EV_SUPERSEDE, "a new login of the same GUID replaced the live tunnel");
    }
    return true;
}

void tunnel_apf_on_ready(apf_session *s, void *user)
{
    struct tunnel *t = user;
    const char *host = apf_session_hostname(s);
    char host_log[DIR_HOSTNAME_MAX + 1];
    log_sanitize(host ? host : "", host_log, sizeof(host_log)); /* device-chosen bytes */
    if (t->registered && host && *host) {
        /* a device that registers an IP literal is found by it in its one canonical form */
        char canon[NETADDR_STRLEN];
        netaddr ip;
        const char *name = host;
        if (netaddr_from_host(host, strlen(host), 0, &ip) == 0) {
            netaddr_format_host(&ip, canon, sizeof(canon));
            name = canon;
        }
        int rc = dir_set_hostname(M(t)->directory, &t->guid, t->wc->index, t->conn_id, t->serial,
                                  name, strlen(name));
        if (rc < 0 && rc != -ESTALE)
            peer_warn(t, "hostname '%s' not registered: %s", host_log, strerror(-rc));
    }
    uint32_t ports[16];
    size_t np = apf_session_ports(s, ports, 16);
    char plist[128] = "";
    for (size_t i = 0, n = 0; i < np && i < 16 && n < sizeof(plist); i++)
        n += (size_t)snprintf(plist + n, sizeof(plist) - n, "%s%u", i ? "," : "", ports[i]);
    char tlsdesc[96] = "plain";
    struct tls_conn_info info;
    if (t->tls && tls_conn_info(t->tls, &info) == 0)
        snprintf(tlsdesc, sizeof(tlsdesc), "%s %s%s", tls_version_name(info.version), info.cipher,
                 info.resumed ? " resumed" : "");
    t->state = T_READY;
    t->deadline_ms = 0;
    STAT_INC(&t->wc->stats, tunnels_ready);
    atomic_fetch_add_explicit(&t->wc->stats.ready, 1, memory_order_relaxed);
    if (t->registered)
        tunnel_event(t, EV_CONNECT, NULL);
    log_kv(LOG_INFO, TF(t), "ready: host '%s' ports %s (%s)", host_log, plist, tlsdesc);
}
