/*
 * Mailbox: messages for a worker from any thread.
 *
 * A mutex-protected intrusive list plus an eventfd that the worker keeps a read armed on. The
 * control thread has no ring, so MSG_RING cannot serve it; using the same path between workers
 * keeps one mechanism. The eventfd is written only when the list goes from empty to non-empty,
 * so a burst of posts costs one syscall and one wake-up. Messages are for control (stop, hand-off
 * notices, directory updates), never per byte, so the lock is not on the data path.
 */
#include "ring_int.h"

#include <errno.h>
#include <semaphore.h>
#include <sys/eventfd.h>
#include <unistd.h>

int mbox_init(ring_worker *w)
{
    w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (w->efd < 0) {
        ring_set_error(w->r, "eventfd failed");
        return -errno;
    }
    return 0;
}

void mbox_arm(ring_worker *w)
{
    struct io_uring_sqe *sqe = ring_sqe(w);
    io_uring_prep_read(sqe, w->efd, &w->efd_val, sizeof(w->efd_val), 0);
    io_uring_sqe_set_data64(sqe, ud_ptr(OP_MBOX, NULL));
}

static void mbox_run(ring_worker *w)
{
    pthread_mutex_lock(&w->mlock);
    ring_msg *m = w->mhead;
    w->mhead = w->mtail = NULL;
    pthread_mutex_unlock(&w->mlock);
    while (m) {
        ring_msg *next = m->next; /* fn may free or re-post m */
        STAT_ADD(w, msgs, 1);
        m->fn(w, m);
        m = next;
    }
}

void mbox_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe)
{
    (void)cqe;
    mbox_run(w);
    mbox_arm(w);
}

/* Refuse further posts and run what is queued (ring_call waiters must wake). */
void mbox_close(ring_worker *w)
{
    pthread_mutex_lock(&w->mlock);
    w->mclosed = true;
    pthread_mutex_unlock(&w->mlock);
    mbox_run(w);
}

void mbox_free(ring_worker *w)
{
    if (w->efd >= 0)
        close(w->efd);
    w->efd = -1;
}

int ring_post(ring_worker *w, ring_msg *m)
{
    m->next = NULL;
    pthread_mutex_lock(&w->mlock);
    if (w->mclosed) {
        pthread_mutex_unlock(&w->mlock);
        return -ESHUTDOWN;
    }
    bool wake = !w->mhead;
    if (w->mtail)
        w->mtail->next = m;
    else
        w->mhead = m;
    w->mtail = m;
    pthread_mutex_unlock(&w->mlock);
    if (wake) {
        /* The message is queued and now belongs to the worker whatever the wake-up does: a
         * failure here must not make the caller free it. (An eventfd write fails only with
         * EAGAIN when the counter is saturated, which is a pending wake-up anyway.) */
        uint64_t one = 1;
        ssize_t n = write(w->efd, &one, sizeof(one));
        (void)n;
    }
    return 0;
}

struct call {
    ring_msg m;
    int (*fn)(ring_worker *w, void *arg);
    void *arg;
    int ret;
    sem_t done;
};

static void call_msg(ring_worker *w, ring_msg *m)
{
    struct call *c = (struct call *)m;
    c->ret = w->exited_loop ? -ESHUTDOWN : c->fn(w, c->arg);
    sem_post(&c->done);
}

int ring_call(ring_worker *w, int (*fn)(ring_worker *w, void *arg), void *arg)
{
    struct call c = {.m.fn = call_msg, .fn = fn, .arg = arg};
    sem_init(&c.done, 0, 0);
    int rc = ring_post(w, &c.m);
    if (rc == 0) {
        while (sem_wait(&c.done) < 0 && errno == EINTR)
            ;
        rc = c.ret;
    }
    sem_destroy(&c.done);
    return rc;
}
