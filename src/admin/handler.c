/* Requests and responses of the admin surface: authorisation, routing to the metrics exporter,
 * health, the device API (through worker queries) and the event stream. */
#include "admin_int.h"
#include "api.h"
#include "ct.h"
#include "log.h"

#include <argon2.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/sha256.h>

#define ADMIN_FAILS_PER_SECOND 5 /* argon2 runs for wrong tokens; beyond: 429 without one */

/* --- responses -------------------------------------------------------------------------------- */

void admin_respond(struct aconn *c, int status, const char *ctype, const char *extra,
                   const char *body, size_t blen)
{
    char head[1024];
    bool keep = c->req.keep_alive && !c->close_after_write && status < 500 && status != 413 &&
                status != 431 && status != 400;
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                     "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n%s%s\r\n",
                     status, http_reason(status), ctype, blen, extra ? extra : "",
                     keep ? "" : "Connection: close\r\n");
    if (n < 0 || (size_t)n >= sizeof(head)) {
        c->close_after_write = true;
        return;
    }
    aconn_send(c, head, (size_t)n);
    if (body && blen && c->req.method != AM_HEAD)
        aconn_send(c, body, blen);
    if (!keep)
        c->close_after_write = true;
    c->deadline_ms = admin_now_ms() + c->a->m->cfg.admin_request_timeout_ms;
}

static void respond_text(struct aconn *c, int status, const char *extra, const char *text)
{
    admin_respond(c, status, "text/plain; charset=utf-8", extra, text, strlen(text));
}

static void respond_json_error(struct aconn *c, int status, const char *extra, const char *msg)
{
    struct abuf b;
    abuf_init(&b, 0);
    api_error(status, msg, &b);
    admin_respond(c, status, "application/json", extra, b.p ? b.p : "", b.len);
    abuf_free(&b);
}

static void respond_abuf(struct aconn *c, int status, const char *ctype, struct abuf *b)
{
    if (b->failed) {
        respond_json_error(c, 500, NULL, "response too large or out of memory");
        return;
    }
    admin_respond(c, status, ctype, NULL, b->p ? b->p : "", b->len);
}

/* --- the bearer token ------------------------------------------------------------------------- */

int admin_token_init(struct admin *a, char *err, size_t cap)
{
    a->token_set = a->m->cfg.admin_token_hash[0] != 0;
    if (getrandom(a->token_key, sizeof(a->token_key), 0) != (ssize_t)sizeof(a->token_key)) {
        snprintf(err, cap, "getrandom failed");
        return -1;
    }
    return 0;
}

static void token_digest(const struct admin *a, const char *tok, size_t n, uint8_t out[32])
{
    wc_Sha256 sha;
    wc_InitSha256(&sha);
    wc_Sha256Update(&sha, a->token_key, sizeof(a->token_key));
    wc_Sha256Update(&sha, (const uint8_t *)tok, (word32)n);
    wc_Sha256Final(&sha, out);
    wc_Sha256Free(&sha);
}

enum token_verdict { TOK_OK, TOK_MISSING, TOK_BAD, TOK_THROTTLED, TOK_OFF };

static enum token_verdict check_token(struct admin *a, struct admin_request *r)
{
    if (!a->token_set)
        return TOK_OFF;
    if (!r->has_token)
        return TOK_MISSING;
    uint8_t d[32];
    token_digest(a, r->token, r->token_len, d);
    enum token_verdict v;
    if (a->token_cached && ct_memeq(d, a->token_digest, sizeof(d))) {
        v = TOK_OK;
    } else {
        uint64_t now = admin_now_ms();
        if (now - a->fail_window_ms >= 1000) {
            a->fail_window_ms = now;
            a->fails = 0;
        }
        if (a->fails >= ADMIN_FAILS_PER_SECOND) {
            v = TOK_THROTTLED;
        } else if (argon2_verify(a->m->cfg.admin_token_hash, r->token, r->token_len, Argon2_id) ==
                   ARGON2_OK) {
            memcpy(a->token_digest, d, sizeof(d));
            a->token_cached = true;
            v = TOK_OK;
        } else {
            a->fails++;
            v = TOK_BAD;
        }
    }
    ct_wipe(r->token, sizeof(r->token));
    ct_wipe(d, sizeof(d));
    return v;
}

/* false when the request was answered (refused). */
static bool authorised(struct admin *a, struct aconn *c)
{
    struct admin_request *r = &c->req;
    bool open = r->route == AR_HEALTHZ || r->route == AR_READYZ || r->route == AR_METRICS;
    if (open && a->m->cfg.metrics_public) {
        ct_wipe(r->token, sizeof(r->token));
        return true;
    }
    static const char www[] = "WWW-Authenticate: Bearer realm=\"mpsd\"\r\n";
    switch (check_token(a, r)) {
    case TOK_OK:
        return true;
    case TOK_OFF:
        respond_json_error(c, 403, NULL,
                           "the device API is off: set token_hash in [admin] (mpsd-passwd "
                           "--token makes a token and its hash)");
        return false;
    case TOK_MISSING:
        respond_json_error(c, 401, www, "a bearer token is required (Authorization: Bearer ...)");
        return false;
    case TOK_THROTTLED:
        log_kv(LOG_WARN, LF(.peer = c->peer),
               "admin: token refused without checking: too many wrong tokens this second");
        respond_json_error(c, 429, "Retry-After: 1\r\n", "too many wrong tokens; retry later");
        return false;
    case TOK_BAD:
    default:
        log_kv(LOG_WARN, LF(.peer = c->peer), "admin: wrong bearer token for %s",
               r->route == AR_EVENTS ? "the event stream" : "the device API");
        respond_json_error(c, 401, www, "wrong bearer token");
        return false;
    }
}

/* --- routes ----------------------------------------------------------------------------------- */

static void park(struct aconn *c, struct wquery *q, uint64_t deadline_ms)
{
    if (!q) {
        respond_json_error(c, 503, NULL, "out of memory");
        return;
    }
    c->q = q;
    c->q_deadline = admin_now_ms() + deadline_ms;
}

/* The live tunnel of the request's GUID, from the directory (any thread may read it). */
static bool lookup(struct admin *a, struct aconn *c, dir_entry *e)
{
    if (dir_lookup_guid(a->m->directory, &c->req.guid, e) != 0) {
        respond_json_error(c, 404, NULL, "no such device connected");
        return false;
    }
    return true;
}

static void dispatch(struct admin *a, struct aconn *c)
{
    struct admin_request *r = &c->req;
    if (!authorised(a, c))
        return;
    dir_entry e;
    switch (r->route) {
    case AR_HEALTHZ:
        respond_text(c, 200, NULL, "ok\n");
        return;
    case AR_READYZ: {
        const char *why = atomic_load(&a->not_ready);
        if (!why && atomic_load(&a->m->draining))
            why = "draining: not taking new devices";
        if (why) {
            char msg[300];
            snprintf(msg, sizeof(msg), "not ready: %s\n", why);
            respond_text(c, 503, NULL, msg);
            return;
        }
        park(c, admin_query_new(a, WQ_PING, 0, NULL, 0, 0), a->m->cfg.admin_ready_deadline_ms);
        return;
    }
    case AR_METRICS: {
        struct abuf b;
        abuf_init(&b, 0);
        admin_render_metrics(a, &b);
        respond_abuf(c, 200, "text/plain; version=0.0.4; charset=utf-8", &b);
        abuf_free(&b);
        return;
    }
    case AR_DEVICES:
        park(c, admin_query_new(a, WQ_LIST, 0, r, 0, 0), ADMIN_QUERY_DEADLINE);
        return;
    case AR_DEVICE:
        if (!lookup(a, c, &e))
            return;
        if (r->method == AM_DELETE) {
            char gs[GUID_STRLEN + 1];
            guid_format(&r->guid, gs);
            log_kv(LOG_INFO, LF(.peer = c->peer, .guid = gs),
                   "admin: disconnecting the device by API request");
            park(c, admin_query_new(a, WQ_DELETE, e.worker, r, e.tunnel_id, e.generation),
                 ADMIN_QUERY_DEADLINE);
        } else {
            park(c, admin_query_new(a, WQ_GET, e.worker, r, e.tunnel_id, e.generation),
                 ADMIN_QUERY_DEADLINE);
        }
        return;
    case AR_DEVICE_HEXDUMP:
        if (!lookup(a, c, &e))
            return;
        park(c,
             admin_query_new(a, r->method == AM_PUT ? WQ_HEXDUMP_ON : WQ_HEXDUMP_OFF, e.worker, r,
                             e.tunnel_id, e.generation),
             ADMIN_QUERY_DEADLINE);
        return;
    case AR_EVENTS:
        if (r->method == AM_HEAD) { /* the headers of a stream, not a subscription */
            admin_respond(c, 200, "text/event-stream", NULL, NULL, 0);
            return;
        }
        admin_events_start(a, c);
        return;
    case AR_NOT_FOUND:
    default:
        respond_json_error(c, 404, NULL, "no such resource");
        return;
    }
}

void admin_complete(struct admin *a, struct aconn *c, bool timed_out)
{
    struct wquery *q = c->q;
    struct admin_request *r = &c->req;
    c->q = NULL;
    if (r->route == AR_READYZ) {
        unsigned late = a->m->nworkers;
        for (unsigned i = 0; i < a->m->nworkers; i++)
            if (!admin_query_worker_answered(q, i)) {
                late = i;
                break;
            }
        if (late == a->m->nworkers) {
            respond_text(c, 200, NULL, "ready\n");
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "not ready: worker %u did not answer within %ums\n", late,
                     a->m->cfg.admin_ready_deadline_ms);
            log_warn("readiness: worker %u did not answer its mailbox within %ums", late,
                     a->m->cfg.admin_ready_deadline_ms);
            respond_text(c, 503, NULL, msg);
        }
        admin_query_unref(q);
        return;
    }
    if (timed_out) {
        respond_json_error(c, 504, NULL, "a worker did not answer in time");
        admin_query_unref(q);
        return;
    }
    struct abuf b;
    abuf_init(&b, 0);
    if (r->route == AR_DEVICES) {
        bool more;
        struct dev_info *v;
        size_t n = admin_query_list(q, &v, &more);
        api_device_list(v, n, more, dir_count(a->m->directory), &b);
        free(v);
        respond_abuf(c, 200, "application/json", &b);
    } else {
        struct dev_info d;
        int rc = admin_query_result(q, r->method == AM_GET || r->method == AM_HEAD ? &d : NULL);
        if (rc != 0) {
            respond_json_error(c, 404, NULL, "no such device connected");
        } else if (r->route == AR_DEVICE && (r->method == AM_GET || r->method == AM_HEAD)) {
            api_device_one(&d, &b);
            respond_abuf(c, 200, "application/json", &b);
        } else {
            admin_respond(c, 204, "application/json", NULL, NULL, 0);
        }
    }
    abuf_free(&b);
    admin_query_unref(q);
}

void admin_handle_input(struct admin *a, struct aconn *c)
{
    http_limits lim;
    http_limits_default(&lim);
    lim.max_head = 8192;
    while (!c->q && !c->sse && !c->close_after_write && c->in_len) {
        int n = admin_parse_request(c->in, c->in_len, &lim, &c->req);
        if (n == HTTP_AGAIN) {
            if (c->overflow || c->in_len >= lim.max_head) {
                c->req.keep_alive = false;
                respond_json_error(c, 431, NULL, "request head too large");
            }
            return;
        }
        if (n < 0) {
            char msg[200];
            snprintf(msg, sizeof(msg), "%s", c->req.error ? c->req.error : "bad request");
            log_kv(LOG_WARN, LF(.peer = c->peer), "admin: refused request: %d %s", c->req.status,
                   msg);
            const char *extra = NULL;
            char allow[80];
            if (c->req.status == 405) {
                snprintf(allow, sizeof(allow), "Allow: %s\r\n", admin_route_allow(c->req.route));
                extra = allow;
            }
            ct_wipe(c->req.token, sizeof(c->req.token));
            if (c->req.status == 405 || c->req.status == 404) {
                /* the head was whole and well-formed: the connection can go on */
                respond_json_error(c, c->req.status, extra, msg);
                size_t hl = 0;
                http_head h;
                int len = http_parse_request(c->in, c->in_len, &lim, &h);
                if (len > 0)
                    hl = (size_t)len;
                if (!hl)
                    c->close_after_write = true;
                memmove(c->in, c->in + hl, c->in_len - hl);
                c->in_len -= hl;
                continue;
            }
            c->req.keep_alive = false;
            respond_json_error(c, c->req.status ? c->req.status : 400, extra, msg);
            return;
        }
        memmove(c->in, c->in + n, c->in_len - (size_t)n);
        c->in_len -= (size_t)n;
        dispatch(a, c);
    }
}
