/* The auth pool: bounded queue, every job either run or cancelled exactly once. */
#include "jobpool.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

static _Atomic int ran, cancelled;
static _Atomic int gate; /* jobs spin until it opens, so the queue fills deterministically */

static void run_job(struct job *j)
{
    while (!atomic_load(&gate))
        usleep(1000);
    atomic_fetch_add(&ran, 1);
    free(j);
}

static void cancel_job(struct job *j)
{
    atomic_fetch_add(&cancelled, 1);
    free(j);
}

static void *open_gate_later(void *arg)
{
    (void)arg;
    usleep(50 * 1000);
    atomic_store(&gate, 1);
    return NULL;
}

static struct job *new_job(void)
{
    struct job *j = calloc(1, sizeof(*j));
    cr_assert_not_null(j);
    j->run = run_job;
    j->cancel = cancel_job;
    return j;
}

Test(jobpool, runs_every_job)
{
    atomic_store(&ran, 0);
    atomic_store(&gate, 1);
    struct jobpool *p = jobpool_new(2, 64);
    cr_assert_not_null(p);
    for (int i = 0; i < 50; i++)
        cr_assert_eq(jobpool_submit(p, new_job()), 0);
    for (int i = 0; i < 2000 && atomic_load(&ran) < 50; i++)
        usleep(1000);
    cr_expect_eq(atomic_load(&ran), 50);
    jobpool_free(p);
}

Test(jobpool, full_queue_refuses_and_shutdown_cancels_the_backlog)
{
    atomic_store(&ran, 0);
    atomic_store(&cancelled, 0);
    atomic_store(&gate, 0);
    struct jobpool *p = jobpool_new(1, 4);
    cr_assert_not_null(p);
    /* one job is taken by the thread (blocked on the gate), four wait, the next is refused */
    cr_assert_eq(jobpool_submit(p, new_job()), 0);
    for (int i = 0; i < 1000 && jobpool_pending(p) > 0; i++)
        usleep(1000);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(jobpool_submit(p, new_job()), 0);
    struct job *extra = new_job();
    cr_expect_eq(jobpool_submit(p, extra), -EAGAIN);
    free(extra);
    cr_expect_eq(jobpool_pending(p), 4);
    /* shut down while the running job is still blocked: the gate opens later, from a thread */
    pthread_t opener;
    cr_assert_eq(pthread_create(&opener, NULL, open_gate_later, NULL), 0);
    jobpool_free(p);
    pthread_join(opener, NULL);
    cr_expect_eq(atomic_load(&ran), 1, "only the job already running completes");
    cr_expect_eq(atomic_load(&cancelled), 4, "the backlog is cancelled, not worked through");
}
