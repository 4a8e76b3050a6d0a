/* auth.c - one path for device and console credential checks (see auth.h).
 *
 * The worker answers what needs no argon2 itself (creds_precheck / users_precheck: unknown GUIDs,
 * unknown users, wrong usernames and cache hits cost microseconds); only a real password check
 * goes to the pool. A queued check carries its connection's deadline and is dropped unrun past it,
 * and shutdown cancels the queue instead of working through it. */
#include "auth.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct auth_job {
    struct job job;
    ring_msg msg;
    struct mpsd *m;
    struct wctx *wc;
    auth_done_fn done;
    enum auth_kind kind;
    guid device;
    uint64_t conn_id, deadline_ms;
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
    if (res->status != need)
        return 1;
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
