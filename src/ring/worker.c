/* Worker threads: ring set-up with a feature probe, the event loop and completion dispatch. */
#include "ring_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

void ring_set_error(struct ring *r, const char *fmt, ...)
{
    va_list ap;
    pthread_mutex_lock(&r->lock);
    if (!r->err[0]) {
        va_start(ap, fmt);
        vsnprintf(r->err, sizeof(r->err), fmt, ap);
        va_end(ap);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Never fails: a full SQ is submitted to make room (the kernel copies SQEs at submit). */
struct io_uring_sqe *ring_sqe(ring_worker *w)
{
    struct io_uring_sqe *sqe;
    while (!(sqe = io_uring_get_sqe(&w->ring)))
        io_uring_submit(&w->ring);
    return sqe;
}

static unsigned def(unsigned v, unsigned d)
{
    return v ? v : d;
}

int ring_create(const ring_config *cfg, ring_t **out)
{
    struct ring *r = calloc(1, sizeof(*r));
    if (!r)
        return -ENOMEM;
    r->cfg = *cfg;
    ring_config *c = &r->cfg;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    c->workers = def(c->workers, ncpu > 0 ? (unsigned)ncpu : 1);
    c->sq_entries = def(c->sq_entries, 256);
    c->cq_entries = def(c->cq_entries, 16 * c->sq_entries);
    c->files = def(c->files, rl.rlim_cur < 65536 ? (unsigned)rl.rlim_cur : 65536);
    c->rx_buf_size = def(c->rx_buf_size, 16384);
    c->rx_buf_count = def(c->rx_buf_count, 1024);
    c->rx_big_size = def(c->rx_big_size, 65536);
    c->rx_big_count = def(c->rx_big_count, 64);
    c->tx_chunk = def(c->tx_chunk, 16384);
    c->tx_cache = def(c->tx_cache, 256);
    c->send_cap = def(c->send_cap, 262144);
    c->send_lowat = def(c->send_lowat, c->send_cap / 4);
    c->tick_ms = def(c->tick_ms, 100);
    c->linger_ms = def(c->linger_ms, 5000);
    if ((c->rx_buf_count & (c->rx_buf_count - 1)) || c->rx_buf_count > 32768 ||
        (c->rx_big_count & (c->rx_big_count - 1)) || c->rx_big_count > 1024 ||
        c->files >= RING_MAX_SLOTS || c->tx_chunk <= sizeof(tx_chunk) + 64 ||
        c->send_lowat > c->send_cap) {
        free(r);
        return -EINVAL;
    }
    r->n = c->workers;
    r->w = calloc(r->n, sizeof(*r->w));
    if (!r->w) {
        free(r);
        return -ENOMEM;
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    for (unsigned i = 0; i < r->n; i++) {
        ring_worker *w = &r->w[i];
        w->r = r;
        w->index = i;
        w->efd = -1;
        pthread_mutex_init(&w->mlock, NULL);
    }
    *out = r;
    return 0;
}

/* Opcodes stand in for features the probe interface cannot name: IORING_OP_SOCKET and multishot
 * accept (direct) both came in Linux 5.19, IORING_OP_SEND_ZC and multishot recv / MSG_RING fd
 * passing in 6.0. Multishot recv is also tried for real in probe_multishot_recv. */
static const struct {
    int op;
    const char *what;
} needed_ops[] = {
    {IORING_OP_ACCEPT, "accept"},
    {IORING_OP_RECV, "recv"},
    {IORING_OP_SEND, "send"},
    {IORING_OP_SHUTDOWN, "shutdown"},
    {IORING_OP_CLOSE, "close"},
    {IORING_OP_ASYNC_CANCEL, "cancel"},
    {IORING_OP_READ, "read (mailbox eventfd)"},
    {IORING_OP_CONNECT, "connect"},
    {IORING_OP_FILES_UPDATE, "files update"},
    {IORING_OP_SOCKET, "multishot accept direct / direct sockets (Linux 5.19)"},
    {IORING_OP_MSG_RING, "MSG_RING"},
    {IORING_OP_SEND_ZC, "multishot recv and MSG_RING fd passing (Linux 6.0)"},
};

static int probe_ops(ring_worker *w)
{
    struct io_uring_probe *p = io_uring_get_probe_ring(&w->ring);
    if (!p) {
        ring_set_error(w->r, "io_uring opcode probe failed");
        return -EOPNOTSUPP;
    }
    int rc = 0;
    for (size_t i = 0; i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++) {
        if (!io_uring_opcode_supported(p, needed_ops[i].op)) {
            ring_set_error(w->r, "kernel io_uring lacks %s", needed_ops[i].what);
            rc = -EOPNOTSUPP;
            break;
        }
    }
    io_uring_free_probe(p);
    return rc;
}

/* Arm a multishot recv on a socketpair, send one byte, expect a buffer-select CQE with F_MORE. */
static int probe_multishot_recv(ring_worker *w)
{
    int sv[2], rc = -EOPNOTSUPP;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return -errno;
    struct io_uring_sqe *sqe = ring_sqe(w);
    io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = 0;
    io_uring_sqe_set_data64(sqe, ud_ptr(OP_PROBE, NULL));
    io_uring_submit(&w->ring);
    if (write(sv[1], "x", 1) != 1)
        goto out;
    struct io_uring_cqe *cqe;
    if (io_uring_wait_cqe(&w->ring, &cqe) == 0) {
        if (cqe->res == 1 && (cqe->flags & IORING_CQE_F_MORE) &&
            (cqe->flags & IORING_CQE_F_BUFFER)) {
            rx_recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
            rx_publish(w);
            rc = 0;
        }
        io_uring_cqe_seen(&w->ring, cqe);
    }
    if (rc == 0) { /* end the multishot: cancel it and reap both CQEs */
        sqe = ring_sqe(w);
        io_uring_prep_cancel64(sqe, ud_ptr(OP_PROBE, NULL), 0);
        io_uring_sqe_set_data64(sqe, ud_ptr(OP_PROBE, NULL));
        io_uring_submit_and_wait(&w->ring, 2);
        for (int i = 0; i < 2 && io_uring_peek_cqe(&w->ring, &cqe) == 0; i++)
            io_uring_cqe_seen(&w->ring, cqe);
    }
out:
    close(sv[0]);
    close(sv[1]);
    if (rc)
        ring_set_error(w->r, "kernel lacks multishot recv with provided buffer rings (Linux 6.0)");
    return rc;
}

static int worker_init(ring_worker *w)
{
    const ring_config *c = &w->r->cfg;
    struct io_uring_params p = {0};
    int rc;

    /* SINGLE_ISSUER + DEFER_TASKRUN: completions run only when this thread waits, in batches
     * (netty measured ~1.7x). The ring is created here so this thread is its single issuer. */
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
              IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = c->cq_entries;
    rc = io_uring_queue_init_params(c->sq_entries, &w->ring, &p);
    if (rc == -EINVAL) {
        ring_set_error(w->r, "io_uring lacks SINGLE_ISSUER/DEFER_TASKRUN (Linux 6.1)");
        return -EOPNOTSUPP;
    }
    if (rc < 0) {
        ring_set_error(w->r, "io_uring_queue_init: %s", strerror(-rc));
        return rc;
    }
    if ((rc = probe_ops(w)) < 0)
        return rc;
    io_uring_register_ring_fd(&w->ring); /* optional: saves an fget per enter */

    rc = io_uring_register_files_sparse(&w->ring, c->files);
    if (rc < 0) {
        ring_set_error(w->r,
                       "registering %u direct descriptors: %s (each ring's table is capped "
                       "at RLIMIT_NOFILE when registered)",
                       c->files, strerror(-rc));
        return rc;
    }
    w->nslots = c->files;
    rst_probe(w); /* before any slot is in use: it borrows slot 0 */
    w->conns = calloc(w->nslots, sizeof(ring_conn)); /* untouched pages cost nothing */
    if (!w->conns)
        return -ENOMEM;
    w->send_cap = c->send_cap;
    w->send_lowat = c->send_lowat;
    w->linger_ms = c->linger_ms;
    w->tx_size = c->tx_chunk;
    w->tx_cache = c->tx_cache;
    if ((rc = rx_init(w)) < 0)
        return rc;
    if ((rc = probe_multishot_recv(w)) < 0)
        return rc;
    if ((rc = mbox_init(w)) < 0)
        return rc;
    w->tick_ms = c->tick_ms;
    w->now_ms = ring_clock_ms();
    timer_wheel_init(w);
    tx_pool_init(w);
    mbox_arm(w);
    return 0;
}

static void dispatch(ring_worker *w, struct io_uring_cqe *cqe)
{
    switch (UD_OP(cqe->user_data)) {
    case OP_MBOX:
        mbox_handle_cqe(w, cqe);
        break;
    case OP_ACCEPT:
    case OP_LCANCEL:
        listen_handle_cqe(w, cqe);
        break;
    case OP_RECV:
    case OP_SEND:
    case OP_SHUT:
    case OP_CANCEL:
    case OP_CLOSE:
    case OP_HANDOFF:
    case OP_SOCKOPT:
        conn_handle_cqe(w, cqe);
        break;
    case OP_SOCKET:
    case OP_FILES:
    case OP_CONNECT:
    case OP_HANDIN:
        creq_handle_cqe(w, cqe);
        break;
    default:
        break;
    }
}

static bool worker_done(const ring_worker *w)
{
    return w->stopping && !w->nconns && !w->npending && !w->nlisteners_live;
}

static void worker_loop(ring_worker *w)
{
    struct io_uring_cqe *cqe;
    for (;;) {
        conn_run_wpoll(w); /* first: what its callbacks queue goes out with this submit */
        conn_run_todo(w);
        if (worker_done(w))
            break;
        int ms = timer_wait_ms(w);
        struct __kernel_timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
        /* One enter both submits and waits; the timeout is the next wheel tick (none if idle).
         * A writable notification asked for during this pass must not wait for I/O, but the
         * completions that are there must still be reaped: with DEFER_TASKRUN they are posted
         * only by an enter with GETEVENTS, and a callback that asks again on every pass would
         * otherwise spin the loop without any I/O making progress. */
        STAT_ADD(w, sqes, io_uring_sq_ready(&w->ring));
        STAT_ADD(w, enters, 1);
        if (w->wpoll_head)
            io_uring_submit_and_get_events(&w->ring);
        else
            io_uring_submit_and_wait_timeout(&w->ring, &cqe, 1, ms >= 0 ? &ts : NULL, NULL);
        /* The wait may have lasted seconds: callbacks of this batch must see the time they run at
         * (a deadline armed from a stale clock would fire at once). */
        w->now_ms = ring_clock_ms();
        unsigned head, n = 0;
        io_uring_for_each_cqe(&w->ring, head, cqe)
        {
            dispatch(w, cqe);
            n++;
        }
        io_uring_cq_advance(&w->ring, n);
        STAT_ADD(w, cqes, n);
        rx_publish(w); /* buffers recycled by this batch go back to the kernel at once */
        w->now_ms = ring_clock_ms();
        timer_run(w);
    }
}

static void *worker_main(void *arg)
{
    ring_worker *w = arg;
    struct ring *r = w->r;
    char name[16];
    snprintf(name, sizeof(name), "ring-%u", w->index);
    pthread_setname_np(pthread_self(), name);

    w->init_err = worker_init(w);
    pthread_mutex_lock(&r->lock);
    r->ready++;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (w->init_err) {
        w->exited_loop = true;
        mbox_close(w);
        return NULL;
    }
    if (r->cfg.on_start)
        r->cfg.on_start(w, r->cfg.arg);
    worker_loop(w);
    w->exited_loop = true;
    mbox_close(w); /* runs what is still queued so ring_call waiters wake */
    return NULL;
}

int ring_start(ring_t *r)
{
    int rc = 0;
    unsigned started = 0;
    for (; started < r->n; started++) {
        rc = -pthread_create(&r->w[started].thread, NULL, worker_main, &r->w[started]);
        if (rc) {
            ring_set_error(r, "pthread_create: %s", strerror(-rc));
            break;
        }
    }
    pthread_mutex_lock(&r->lock);
    while (r->ready < started)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    for (unsigned i = 0; i < started && !rc; i++)
        rc = r->w[i].init_err;
    if (rc) {
        for (unsigned i = 0; i < started; i++)
            ring_worker_stop(&r->w[i]);
        for (unsigned i = 0; i < started; i++)
            pthread_join(r->w[i].thread, NULL);
        r->n = 0; /* nothing left to join */
    }
    return rc;
}

const char *ring_error(const ring_t *r)
{
    return r->err;
}

static void stop_msg(ring_worker *w, ring_msg *m)
{
    (void)m;
    if (w->stopping || w->exited_loop)
        return;
    w->stopping = true;
    listen_cancel_all(w);
    if (w->r->cfg.on_stop)
        w->r->cfg.on_stop(w, w->r->cfg.arg);
    else
        conn_close_all(w);
}

void ring_worker_stop(ring_worker *w)
{
    if (atomic_exchange(&w->stop_posted, true))
        return;
    w->stop_msg.fn = stop_msg;
    ring_post(w, &w->stop_msg);
}

void ring_stop(ring_t *r)
{
    for (unsigned i = 0; i < r->n; i++)
        ring_worker_stop(&r->w[i]);
    ring_join(r);
}

void ring_join(ring_t *r)
{
    for (unsigned i = 0; i < r->n; i++)
        pthread_join(r->w[i].thread, NULL);
    r->n = 0;
}

void ring_destroy(ring_t *r)
{
    if (!r)
        return;
    unsigned total = r->cfg.workers;
    for (unsigned i = 0; i < total; i++) {
        ring_worker *w = &r->w[i];
        listen_free_all(w);
        tx_pool_free(w);
        if (w->ring.ring_fd > 0)
            io_uring_queue_exit(&w->ring);
        rx_free(w); /* after the ring: the kernel no longer references the buffers */
        mbox_free(w);
        free(w->conns);
        pthread_mutex_destroy(&w->mlock);
    }
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    free(r->w);
    free(r);
}

unsigned ring_nworkers(const ring_t *r)
{
    return r->cfg.workers;
}

ring_worker *ring_worker_at(ring_t *r, unsigned i)
{
    return i < r->cfg.workers ? &r->w[i] : NULL;
}

unsigned ring_worker_index(const ring_worker *w)
{
    return w->index;
}

uint64_t ring_now_ms(const ring_worker *w)
{
    return w->now_ms;
}

unsigned ring_worker_conns(const ring_worker *w)
{
    return w->nconns;
}

void ring_stats_read(const ring_worker *w, ring_stats *o)
{
#define RD(f) o->f = atomic_load_explicit(&w->st.f.v, memory_order_relaxed)
    RD(accepts);
    RD(connects);
    RD(adopts);
    RD(recvs);
    RD(bytes_in);
    RD(bytes_out);
    RD(sends);
    RD(enobufs);
    RD(send_cap_hits);
    RD(closes);
    RD(errors);
    RD(stale_cqes);
    RD(timers_fired);
    RD(msgs);
    RD(conns);
    RD(aborts);
    RD(aborts_rst);
    RD(enters);
    RD(sqes);
    RD(cqes);
    RD(tx_queued);
    RD(tx_cached);
    o->rx_buffers = w->rx_count;
    o->rx_big_buffers = w->rx_big_count;
#undef RD
}
