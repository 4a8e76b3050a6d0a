/* auth.c - one path for device and console credential checks (see auth.h).
 *
 * The worker answers what needs no argon2 itself (creds_precheck / users_precheck: unknown GUIDs,
 * unknown users, wrong usernames and cache hits cost microseconds); only a real password check
 * goes to the pool. A queued check carries its connection's deadline and is dropped unrun past it,
 * and shutdown cancels the queue instead of working through it.
 *
 * Login throttling (docs/credentials.md): a check that needs argon2 is first held against its
 * source's failure budget (throttle.h) and, for an identity that never logged in since start,
 * against its share of the pool's queue. The budgets live in one table shared by all workers,
 * split into lock stripes by source prefix, so a source's budget is the same whatever worker
 * SO_REUSEPORT hands its connections to. */
#include "auth.h"
#include "throttle.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

/* 16 stripes x 4096 entries x 32 bytes = 2 MiB of budgets, and a 1 MiB known set (8 Mi bits:
 * under 3% false positives at 1M identities, 0.01% at 100k): fixed whatever the sources do. */
#define STRIPES         16
#define STRIPE_ENTRIES  4096
#define KNOWN_LOG2_BITS 23

static struct {
    pthread_once_t once;
    pthread_mutex_t mu[STRIPES];
    struct throttle *t[STRIPES];
    struct throttle_known *known;
    bool ok; /* everything allocated; else nothing is throttled (and nothing breaks) */
} G = {.once = PTHREAD_ONCE_INIT};

static void throttle_init(void)
{
    uint64_t seed[STRIPES + 1];
    if (getrandom(seed, sizeof seed, 0) != (ssize_t)sizeof seed)
        return;
    G.known = throttle_known_new(KNOWN_LOG2_BITS, seed[STRIPES]);
    bool ok = G.known != NULL;
    for (int i = 0; i < STRIPES; i++) {
        pthread_mutex_init(&G.mu[i], NULL);
        G.t[i] = throttle_new(STRIPE_ENTRIES, seed[i]);
        ok = ok && G.t[i];
    }
    G.ok = ok; /* kept for the process' life: reachable, never freed */
}

static bool throttling(struct mpsd *m, struct throttle_params *p)
{
    if (!m->cfg.login_throttle)
        return false;
    pthread_once(&G.once, throttle_init);
    if (!G.ok)
        return false;
    throttle_params_default(p, m->cfg.login_fail_burst, m->cfg.login_fail_refill_ms);
    return true;
}

/* The identity the known set remembers: kind, then the GUID or the user name. */
static size_t known_id(enum auth_kind kind, const guid *device, const char *user, size_t ulen,
                       uint8_t *out)
{
    out[0] = (uint8_t)kind;
    if (kind == AUTH_DEVICE) {
        memcpy(out + 1, device, sizeof(*device));
        return 1 + sizeof(*device);
    }
    memcpy(out + 1, user, ulen);
    return 1 + ulen;
}

#define KNOWN_ID_MAX (1 + (USERS_NAME_MAX > 16 ? USERS_NAME_MAX : 16))

/* What a check from peer that ended with ok (or a verified wrong password) does to the budgets. */
static void throttle_note(const struct throttle_params *p, const netaddr *peer, bool ok,
                          const uint8_t *id, size_t idlen)
{
    if (ok)
        throttle_known_add(G.known, id, idlen);
    if (!peer)
        return;
    unsigned s = throttle_prefix_hash(p, peer) % STRIPES;
    uint64_t now = ring_clock_ms();
    pthread_mutex_lock(&G.mu[s]);
    if (ok)
        throttle_success(G.t[s], p, peer, now);
    else
        throttle_failure(G.t[s], p, peer, now);
    pthread_mutex_unlock(&G.mu[s]);
}

struct auth_job {
    struct job job;
    ring_msg msg;
    struct mpsd *m;
    struct wctx *wc;
    auth_done_fn done;
    enum auth_kind kind;
    guid device;
    uint64_t conn_id, deadline_ms;
    bool has_peer, ran;
    netaddr peer;
    char user[USERS_NAME_MAX > CREDS_USER_MAX ? USERS_NAME_MAX + 1 : CREDS_USER_MAX + 1];
    size_t ulen;
    char pw[AUTH_PW_MAX];
    size_t pwlen;
    struct auth_res res;
};

static void decide(struct mpsd *m, enum auth_kind kind, const guid *device, const char *user,
                   size_t ulen, const char *pw, size_t pwlen, bool may_argon2, struct auth_res *res)
{
    memset(res, 0, sizeof(*res));
    if (kind == AUTH_DEVICE) {
        creds_db *db = creds_slot_get(&m->creds);
        creds_result cr = {0};
        if (!db)
            res->status = CREDS_UNKNOWN_DEVICE;
        else if (may_argon2)
            res->status = creds_check(db, device, user, ulen, pw, pwlen, &cr);
        else
            res->status = creds_precheck(db, device, user, ulen, pw, pwlen, &cr);
        res->cached = cr.cached || !may_argon2;
        if (cr.match == CREDS_MATCH_GROUP && cr.group)
            snprintf(res->group, sizeof(res->group), "%s", cr.group);
        creds_db_unref(db);
    } else {
        users_db *db = users_slot_get(&m->users);
        if (!db)
            res->status = USERS_UNKNOWN_USER;
        else if (may_argon2)
            res->status = users_check(db, user, ulen, pw, pwlen);
        else
            res->status = users_precheck(db, user, ulen, pw, pwlen);
        res->cached = !may_argon2;
        users_db_unref(db);
    }
}

static void job_free(struct auth_job *a)
{
    explicit_bzero(a->pw, sizeof(a->pw));
    free(a);
}

static void job_cancel(struct job *job)
{
    job_free((struct auth_job *)job);
}

static void job_answer(ring_worker *w, ring_msg *msg)
{
    struct auth_job *a = (struct auth_job *)((char *)msg - offsetof(struct auth_job, msg));
    (void)w;
    if (a->ran) {
        /* on a->wc's own thread: its stats are ours to bump */
        if (a->kind == AUTH_DEVICE)
            STAT_INC(&a->wc->stats, auth_argon2_device);
        else
            STAT_INC(&a->wc->stats, auth_argon2_console);
        int ok = a->kind == AUTH_DEVICE ? CREDS_OK : USERS_OK;
        int bad = a->kind == AUTH_DEVICE ? CREDS_BAD_PASSWORD : USERS_BAD_PASSWORD;
        struct throttle_params p;
        if ((a->res.status == ok || a->res.status == bad) && throttling(a->m, &p)) {
            uint8_t id[KNOWN_ID_MAX];
            size_t idlen = known_id(a->kind, &a->device, a->user, a->ulen, id);
            throttle_note(&p, a->has_peer ? &a->peer : NULL, a->res.status == ok, id, idlen);
        }
    }
    a->done(a->wc, a->conn_id, &a->res);
    job_free(a);
}

/* On a pool thread. */
static void job_run(struct job *job)
{
    struct auth_job *a = (struct auth_job *)job;
    if (a->deadline_ms && ring_clock_ms() >= a->deadline_ms) {
        /* nobody waits for this answer any more; argon2 for it would only delay the others */
        job_free(a);
        return;
    }
    decide(a->m, a->kind, &a->device, a->user, a->ulen, a->pw, a->pwlen, true, &a->res);
    a->ran = !a->res.cached; /* another check of the entry may have filled the cache meanwhile */
    explicit_bzero(a->pw, sizeof(a->pw));
    a->msg.fn = job_answer;
    if (ring_post(a->wc->w, &a->msg) != 0)
        job_free(a); /* the worker is gone, and its connections with it */
}

int auth_check(struct wctx *wc, const struct auth_req *rq, auth_done_fn done, struct auth_res *res)
{
    struct mpsd *m = wc->m;
    size_t umax = rq->kind == AUTH_DEVICE ? CREDS_USER_MAX : USERS_NAME_MAX;
    if (rq->ulen > umax || rq->pwlen >= AUTH_PW_MAX) {
        /* no stored name or password is that long: refused without a check */
        memset(res, 0, sizeof(*res));
        res->status = rq->kind == AUTH_DEVICE
                          ? (rq->ulen > umax ? CREDS_BAD_USERNAME : CREDS_BAD_PASSWORD)
                          : (rq->ulen > umax ? USERS_UNKNOWN_USER : USERS_BAD_PASSWORD);
        return 1;
    }
    decide(m, rq->kind, &rq->device, rq->user, rq->ulen, rq->pw, rq->pwlen, false, res);
    int need = rq->kind == AUTH_DEVICE ? CREDS_NEED_ARGON2 : USERS_NEED_ARGON2;
    int ok = rq->kind == AUTH_DEVICE ? CREDS_OK : USERS_OK;
    struct throttle_params p;
    bool thr = throttling(m, &p);
    uint8_t id[KNOWN_ID_MAX];
    size_t idlen = thr ? known_id(rq->kind, &rq->device, rq->user, rq->ulen, id) : 0;
    if (res->status != need) {
        /* Decided without argon2: never throttled. A success refills the source's budget; a
         * refusal here cost nothing and takes nothing from it. */
        if (thr && res->status == ok)
            throttle_note(&p, rq->peer, true, id, idlen);
        return 1;
    }
    if (thr) {
        enum throttle_verdict v = THROTTLE_PASS;
        if (rq->peer) {
            unsigned s = throttle_prefix_hash(&p, rq->peer) % STRIPES;
            pthread_mutex_lock(&G.mu[s]);
            v = throttle_admit(G.t[s], &p, rq->peer, ring_clock_ms());
            pthread_mutex_unlock(&G.mu[s]);
        }
        enum auth_throttle why = v == THROTTLE_SOURCE   ? AUTH_THROTTLE_SOURCE
                                 : v == THROTTLE_PREFIX ? AUTH_THROTTLE_PREFIX
                                                        : AUTH_THROTTLE_NONE;
        /* Identities that never logged in since start get the first part of the queue only; the
         * rest stays free for those that did (their checks after a reload emptied the cache). */
        if (why == AUTH_THROTTLE_NONE &&
            jobpool_pending(m->auth_pool) >= m->cfg.login_unverified_queue &&
            !throttle_known_has(G.known, id, idlen))
            why = AUTH_THROTTLE_POOL;
        if (why != AUTH_THROTTLE_NONE) {
            res->status = rq->kind == AUTH_DEVICE ? CREDS_BAD_PASSWORD : USERS_BAD_PASSWORD;
            res->throttled = why;
            return 1;
        }
    }
    struct auth_job *a = calloc(1, sizeof(*a));
    if (!a)
        return -ENOMEM;
    a->job.run = job_run;
    a->job.cancel = job_cancel;
    a->m = m;
    a->wc = wc;
    a->done = done;
    a->kind = rq->kind;
    a->device = rq->device;
    a->conn_id = rq->conn_id;
    a->deadline_ms = rq->deadline_ms;
    if (rq->peer) {
        a->peer = *rq->peer;
        a->has_peer = true;
    }
    memcpy(a->user, rq->user, rq->ulen);
    a->ulen = rq->ulen;
    memcpy(a->pw, rq->pw, rq->pwlen);
    a->pwlen = rq->pwlen;
    if (jobpool_submit(m->auth_pool, &a->job) != 0) {
        job_free(a);
        return -EAGAIN;
    }
    return 0;
}
