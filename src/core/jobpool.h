/* A small pool of threads for CPU-heavy work that must stay off the io_uring workers (argon2id
 * password checks). Bounded: when the queue is full, submit fails and the caller refuses the work
 * (a login flood then costs a DISCONNECT, not unbounded memory or latency for everyone). */
#ifndef MPSD_JOBPOOL_H
#define MPSD_JOBPOOL_H

#include <stddef.h>

struct jobpool;

struct job {
    struct job *next;
    /* Runs on a pool thread. The job owns its memory; run() typically posts the result back to the
     * worker that submitted it, which frees the job. */
    void (*run)(struct job *job);
    /* Drops the job unrun (queued when the pool shuts down): must free what run() would have. */
    void (*cancel)(struct job *job);
};

/* Starts `threads` threads with room for `capacity` queued jobs. NULL on failure. */
struct jobpool *jobpool_new(unsigned threads, unsigned capacity);
/* 0, or -EAGAIN when the queue is full, -ESHUTDOWN once stopping. */
int jobpool_submit(struct jobpool *p, struct job *job);
/* Jobs waiting now (a gauge for stats). */
unsigned jobpool_pending(struct jobpool *p);
/* Cancels the jobs still queued (their cancel()), lets running ones finish, joins the threads and
 * frees the pool: shutdown never waits for a backlog. */
void jobpool_free(struct jobpool *p);

#endif
