/* console_request.c - a console's request phase: what it asks for (SOCKS5/4/4a, HTTP CONNECT or
 * an absolute URI, parsed by src/proxy), who it is (credentials checked through auth.c: on this
 * worker when the cache knows them, else on the auth pool), and which device it names (the
 * directory, by GUID, host name or a configured suffix). Once all three are known the session
 * moves to the tunnel's worker (console.c) and its channel opens there (relay.c). */
#include "console_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* --- naming the device --- */

/* "<name>.<suffix>" names <name>: the configured suffixes are stripped (case-insensitive, at a
 * label boundary). */
size_t console_strip_suffix(const struct config *cfg, const char *name, size_t len)
{
    for (unsigned i = 0; i < cfg->n_name_suffix; i++) {
        size_t sl = strlen(cfg->name_suffix[i]);
        if (len > sl + 1 && name[len - sl - 1] == '.' &&
            !strncasecmp(name + len - sl, cfg->name_suffix[i], sl))
            return len - sl - 1;
    }
    return len;
}

/* Finds the device a console names: its GUID (with or without dashes), or the host name (or IP
 * literal) it registered, either with a configured suffix. */
static int resolve(struct console *c, const char *host, size_t hlen, dir_entry *e)
{
    struct mpsd *m = console_m(c);
    size_t n = console_strip_suffix(&m->cfg, host, hlen);
    log_sanitize_n(host, n, c->name, sizeof(c->name));
    guid g;
    if (guid_parse_loose(host, n, &g) == 0)
        return dir_lookup_guid(m->directory, &g, e);
    return dir_lookup_host(m->directory, host, n, e);
}

/* The request is authenticated: find the device and go to its worker. */
static void target_known(struct console *c, const char *host, size_t hlen, uint16_t port)
{
    dir_entry e;
    c->port = port;
    int rc = resolve(c, host, hlen, &e);
    if (rc == -ENOTUNIQ) {
        console_fail(c, CE_AMBIGUOUS, NULL);
        return;
    }
    if (rc < 0) {
        console_fail(c, CE_UNKNOWN, NULL);
        return;
    }
    c->device = e.guid;
    guid_format(&c->device, c->guid_str);
    c->dworker = e.worker;
    c->dtunnel = e.tunnel_id;
    c->dgen = e.generation;
    console_move(c);
}

/* --- authentication --- */

static void authed(struct console *c)
{
    STAT_INC(&c->wc->stats, console_auth_ok);
    c->state = ST_REQUEST;
    if (c->proto == CP_SOCKS && c->rq->socks_auth_pending) {
        c->rq->socks_auth_pending = false;
        socks_auth_result(&c->rq->socks, true);
        console_send_socks_output(c);
    }
    console_request(c);
}

static void auth_answered(struct wctx *wc, uint64_t conn_id, const struct auth_res *res)
{
    ring_conn *conn = ring_conn_find(wc->w, conn_id);
    struct console *c = conn ? ring_conn_user(conn) : NULL;
    if (!c || c->closing || c->state != ST_AUTH)
        return;
    if (res->status == USERS_OK) {
        authed(c);
    } else {
        c->has_cred_digest = false;
        console_fail(c, res->status == USERS_ERROR ? CE_INTERNAL : CE_AUTH,
                     users_status_str((users_status)res->status));
    }
}

/* Checks user/password; the answer continues the request (now or from the auth pool). */
static void start_auth(struct console *c, const char *user, size_t ulen, const char *pw,
                       size_t pwlen)
{
    if (ulen > USERS_NAME_MAX) {
        console_fail(c, CE_AUTH, "user name too long");
        return;
    }
    if (c->ulen && (c->ulen != ulen || memcmp(c->user, user, ulen))) {
        console_fail(c, CE_AUTH, "another user on the same connection");
        return;
    }
    for (size_t i = 0; i < ulen; i++) {
        if (user[i] <= 0x20 || user[i] >= 0x7f) { /* no user file entry can have such a name */
            console_fail(c, CE_AUTH, "user name has bytes outside printable ASCII");
            return;
        }
    }
    memcpy(c->user, user, ulen);
    c->user[ulen] = 0;
    c->ulen = (uint8_t)ulen;
    struct auth_req rq = {.kind = AUTH_CONSOLE,
                          .user = user,
                          .ulen = ulen,
                          .pw = pw,
                          .pwlen = pwlen,
                          .conn_id = c->conn_id,
                          .deadline_ms = c->req_ms + console_m(c)->cfg.request_timeout_ms};
    console_cred_digest(user, ulen, pw, pwlen, c->cred_digest);
    c->has_cred_digest = true; /* it counts only once the check below says OK */
    netaddr peer;
    if (netaddr_parse(c->peer, strlen(c->peer), &peer) == 0)
        rq.peer = &peer; /* its failure budget (docs/credentials.md, "Login throttling") */
    struct auth_res res;
    c->state = ST_AUTH;
    int rc = auth_check(c->wc, &rq, auth_answered, &res);
    if (rc == 1 && res.throttled != AUTH_THROTTLE_NONE) {
        c->throttled = true; /* counted below as throttled_*, not again as failed or busy */
        /* refused before argon2 (also counted as console_auth_failed / console_auth_busy) */
        c->has_cred_digest = false;
        if (res.throttled == AUTH_THROTTLE_POOL) {
            STAT_INC(&c->wc->stats, console_throttled_pool);
            console_fail(c, CE_BUSY, "throttled: first-time checks fill their share of the pool");
        } else if (res.throttled == AUTH_THROTTLE_SOURCE) {
            STAT_INC(&c->wc->stats, console_throttled_source);
            console_fail(c, CE_AUTH, "throttled: too many wrong passwords from this address");
        } else {
            STAT_INC(&c->wc->stats, console_throttled_prefix);
            console_fail(c, CE_AUTH, "throttled: too many wrong passwords from this network");
        }
    } else if (rc == 1)
        auth_answered(c->wc, c->conn_id, &res);
    else if (rc == -EAGAIN)
        console_fail(c, CE_BUSY, NULL);
    else if (rc < 0)
        console_fail(c, CE_INTERNAL, "out of memory");
}

/* A console without credentials: only from loopback, only when the config says so. */
static bool anonymous_ok(struct console *c)
{
    if (console_m(c)->cfg.allow_anonymous_loopback && c->loopback) {
        c->anonymous = true;
        return true;
    }
    return false;
}

/* --- the request phase --- */

static void socks_request(struct console *c)
{
    socks_session *ss = &c->rq->socks;
    for (;;) {
        socks_event ev;
        size_t used = socks_feed(ss, c->in, c->in_len, &ev);
        console_in_consume(c, used);
        console_send_socks_output(c);
        switch (ev) {
        case SOCKS_EV_NONE:
            return;
        case SOCKS_EV_FAILED:
            /* the session queued its own reply (0xFF, 0x07, 0x08, ...), sent above */
            console_fail(c, ss->error == SOCKS_E_NO_METHOD ? CE_NO_AUTH : CE_BAD_REQUEST,
                         socks_strerror(ss->error));
            return;
        case SOCKS_EV_AUTH:
            if (ss->version == 5)
                STAT_INC(&c->wc->stats, console_socks5);
            else
                STAT_INC(&c->wc->stats, console_socks4);
            if (!ss->has_password) {
                if (anonymous_ok(c)) {
                    socks_auth_result(ss, true);
                    console_send_socks_output(c);
                    continue;
                }
                c->rq->socks_auth_pending = true;
                console_fail(c, CE_NO_AUTH, "SOCKS4 user id must be user:password");
                return;
            }
            c->rq->socks_auth_pending = true;
            start_auth(c, ss->user, ss->user_len, ss->pass, ss->pass_len);
            explicit_bzero(ss->pass, sizeof(ss->pass));
            ss->pass_len = 0;
            return;
        case SOCKS_EV_REQUEST:
            if (ss->anonymous) {
                STAT_INC(&c->wc->stats, console_socks5);
                if (!anonymous_ok(c)) {
                    console_fail(c, CE_NO_AUTH, NULL);
                    return;
                }
            }
            c->state = ST_REQUEST;
            target_known(c, ss->target.host, ss->target.host_len, ss->target.port);
            return;
        }
    }
}

static void http_request(struct console *c)
{
    httpproxy_req *r = &c->rq->http;
    http_limits lim;
    http_limits_default(&lim);
    lim.max_head = console_m(c)->cfg.max_head;
    int rc = httpproxy_parse(c->in, c->in_len, &lim, r);
    if (rc == HTTP_AGAIN) {
        if (c->in_len >= lim.max_head)
            rc = HTTP_E_HEAD_TOO_LARGE;
        else
            return;
    }
    if (rc < 0) {
        console_fail_http(c, httpproxy_err_status(rc), httpproxy_strerror(rc));
        return;
    }
    bool first = !c->http_seen;
    c->http_seen = true;
    if (first && r->kind == HTTPPROXY_CONNECT)
        STAT_INC(&c->wc->stats, console_http_connect);
    else if (first)
        STAT_INC(&c->wc->stats, console_http_forward);
    c->http_forward = r->kind == HTTPPROXY_FORWARD;
    if (r->kind == HTTPPROXY_CONNECT)
        console_in_consume(c, (size_t)rc); /* what follows the head is the tunnel's payload */
    /* FORWARD keeps the head in c->in: relay.c rewrites it when the channel is open */
    c->state = ST_REQUEST;
    /* known before the credentials are checked: a refusal's log line names device and port */
    c->port = r->port;
    log_sanitize_n(r->host, console_strip_suffix(&console_m(c)->cfg, r->host, r->host_len), c->name,
                   sizeof(c->name));
    if (r->has_auth) {
        char user[256];
        size_t ulen = r->user_len < sizeof(user) ? r->user_len : sizeof(user) - 1;
        memcpy(user, r->user, ulen);
        c->rq->pending_port = r->port;
        snprintf(c->rq->pending_host, sizeof(c->rq->pending_host), "%s", r->host);
        c->rq->pending_host_len = r->host_len;
        char pw[256];
        size_t pwlen = r->pass_len < sizeof(pw) ? r->pass_len : sizeof(pw) - 1;
        memcpy(pw, r->pass, pwlen);
        httpproxy_wipe(r);
        c->rq->authing = true;
        start_auth(c, user, ulen, pw, pwlen);
        explicit_bzero(pw, sizeof(pw));
        return;
    }
    if (r->auth_malformed) {
        console_fail(c, CE_AUTH, "Proxy-Authorization is not valid Basic credentials");
        return;
    }
    if (!anonymous_ok(c) && !c->ulen) {
        console_fail(c, CE_NO_AUTH, NULL);
        return;
    }
    target_known(c, r->host, r->host_len, r->port);
}

/* Runs the request phase on what c->in holds. */
void console_request(struct console *c)
{
    if (c->closing || c->state != ST_REQUEST)
        return;
    console_pause_in(c, false); /* a request phase reads what the console sends */
    if (c->proto == CP_SOCKS) {
        socks_request(c);
    } else if (c->rq->authing) {
        c->rq->authing = false; /* the head was parsed before the check */
        target_known(c, c->rq->pending_host, c->rq->pending_host_len, c->rq->pending_port);
    } else {
        http_request(c);
    }
}
