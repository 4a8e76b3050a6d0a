/* Questions to workers. A query is posted to each worker it concerns as one mailbox message; the
 * worker answers on its own thread (devinfo.h) into the query's per-worker slot and, last one out,
 * wakes the admin loop through its eventfd. The query is reference-counted: an admin request that
 * gives up at its deadline drops its reference, and a late worker's answer then frees it. */
#include "admin_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct qpart {
    ring_msg msg; /* first: the mailbox hands this back */
    struct wquery *q;
    unsigned worker;
    bool answered;
    size_t n;             /* LIST: entries in res */
    struct dev_info *res; /* LIST: cap limit + 1; GET: one */
    int rc;
};

struct wquery {
    _Atomic int refs;
    _Atomic unsigned pending;
    struct mpsd *m;
    int efd;
    enum wq_kind kind;
    struct admin_list_query list;
    uint64_t conn_id, serial;
    unsigned nparts;
    struct qpart parts[];
};

static void unref(struct wquery *q)
{
    if (atomic_fetch_sub(&q->refs, 1) != 1)
        return;
    for (unsigned i = 0; i < q->nparts; i++)
        free(q->parts[i].res);
    free(q);
}

void admin_query_unref(struct wquery *q)
{
    unref(q);
}

static void part_done(struct wquery *q)
{
    if (atomic_fetch_sub(&q->pending, 1) == 1) {
        uint64_t one = 1;
        ssize_t w = write(q->efd, &one, sizeof(one));
        (void)w;
    }
    unref(q);
}

/* [worker] */
static void run(ring_worker *w, ring_msg *msg)
{
    struct qpart *p = (struct qpart *)msg;
    struct wquery *q = p->q;
    struct wctx *wc = &q->m->workers[ring_worker_index(w)];
    switch (q->kind) {
    case WQ_PING:
        p->rc = 0;
        break;
    case WQ_LIST:
        p->n = devinfo_list(wc, &q->list, p->res, q->list.limit + 1);
        break;
    case WQ_GET:
        p->rc = devinfo_get(wc, q->conn_id, q->serial, p->res);
        break;
    case WQ_DELETE:
        p->rc = devinfo_disconnect(wc, q->conn_id, q->serial);
        break;
    case WQ_HEXDUMP_ON:
    case WQ_HEXDUMP_OFF:
        p->rc = devinfo_hexdump(wc, q->conn_id, q->serial, q->kind == WQ_HEXDUMP_ON);
        break;
    }
    p->answered = true;
    part_done(q);
}

struct wquery *admin_query_new(struct admin *a, enum wq_kind kind, unsigned worker,
                               const struct admin_request *req, uint64_t conn_id, uint64_t serial)
{
    struct mpsd *m = a->m;
    bool all = kind == WQ_PING || kind == WQ_LIST;
    unsigned n = all ? m->nworkers : 1;
    if (!all && worker >= m->nworkers)
        return NULL;
    struct wquery *q = calloc(1, sizeof(*q) + n * sizeof(struct qpart));
    if (!q)
        return NULL;
    q->m = m;
    q->efd = a->efd;
    q->kind = kind;
    q->conn_id = conn_id;
    q->serial = serial;
    q->nparts = n;
    if (req)
        q->list = req->list;
    size_t cap = kind == WQ_LIST ? q->list.limit + 1 : kind == WQ_GET ? 1 : 0;
    for (unsigned i = 0; i < n; i++) {
        q->parts[i].q = q;
        q->parts[i].worker = all ? i : worker;
        q->parts[i].msg.fn = run;
        q->parts[i].rc = -ENOENT;
        if (cap && !(q->parts[i].res = calloc(cap, sizeof(struct dev_info)))) {
            atomic_store(&q->refs, 1);
            unref(q);
            return NULL;
        }
    }
    atomic_store(&q->refs, (int)n + 1); /* one per worker part, one for the admin */
    atomic_store(&q->pending, n);
    for (unsigned i = 0; i < n; i++) {
        if (ring_post(ring_worker_at(m->ring, q->parts[i].worker), &q->parts[i].msg) != 0) {
            q->parts[i].rc = -ESHUTDOWN; /* the worker has exited: it will never answer */
            part_done(q);
        }
    }
    return q;
}

bool admin_query_done(const struct wquery *q)
{
    return atomic_load(&q->pending) == 0;
}

bool admin_query_worker_answered(const struct wquery *q, unsigned worker)
{
    for (unsigned i = 0; i < q->nparts; i++)
        if (q->parts[i].worker == worker)
            return q->parts[i].answered && q->parts[i].rc == 0;
    return false;
}

static int by_guid(const void *a, const void *b)
{
    return devinfo_guid_cmp(&((const struct dev_info *)a)->guid,
                            &((const struct dev_info *)b)->guid);
}

size_t admin_query_list(struct wquery *q, struct dev_info **out, bool *more)
{
    size_t total = 0;
    for (unsigned i = 0; i < q->nparts; i++)
        total += q->parts[i].n;
    *out = NULL;
    *more = false;
    if (!total)
        return 0;
    struct dev_info *v = malloc(total * sizeof(*v));
    if (!v)
        return 0;
    size_t k = 0;
    for (unsigned i = 0; i < q->nparts; i++) {
        memcpy(v + k, q->parts[i].res, q->parts[i].n * sizeof(*v));
        k += q->parts[i].n;
    }
    qsort(v, k, sizeof(*v), by_guid);
    if (k > q->list.limit) {
        k = q->list.limit;
        *more = true;
    }
    *out = v;
    return k;
}

int admin_query_result(const struct wquery *q, struct dev_info *out)
{
    const struct qpart *p = &q->parts[0];
    if (!p->answered)
        return -ETIMEDOUT;
    if (p->rc == 0 && out && p->res)
        *out = p->res[0];
    return p->rc;
}
