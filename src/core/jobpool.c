#include "jobpool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct jobpool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    unsigned pending, capacity, nthreads;
    bool stopping;
    pthread_t threads[];
};

static void *pool_main(void *arg)
{
    struct jobpool *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->head && !p->stopping)
            pthread_cond_wait(&p->cond, &p->lock);
        struct job *j = p->head;
        if (!j)
            break; /* stopping and drained */
        p->head = j->next;
        if (!p->head)
            p->tail = NULL;
        p->pending--;
        pthread_mutex_unlock(&p->lock);
        j->run(j);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

struct jobpool *jobpool_new(unsigned threads, unsigned capacity)
{
    if (threads == 0 || capacity == 0)
        return NULL;
    struct jobpool *p = calloc(1, sizeof(*p) + threads * sizeof(pthread_t));
    if (!p)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->capacity = capacity;
    for (; p->nthreads < threads; p->nthreads++)
        if (pthread_create(&p->threads[p->nthreads], NULL, pool_main, p) != 0)
            break;
    if (p->nthreads == 0) {
        free(p);
        return NULL;
    }
    return p;
}

int jobpool_submit(struct jobpool *p, struct job *job)
{
    int rc = 0;
    job->next = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->stopping)
        rc = -ESHUTDOWN;
    else if (p->pending >= p->capacity)
        rc = -EAGAIN;
    else {
        if (p->tail)
            p->tail->next = job;
        else
            p->head = job;
        p->tail = job;
        p->pending++;
        pthread_cond_signal(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    return rc;
}

unsigned jobpool_pending(struct jobpool *p)
{
    pthread_mutex_lock(&p->lock);
    unsigned n = p->pending;
    pthread_mutex_unlock(&p->lock);
    return n;
}

void jobpool_free(struct jobpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    struct job *queued = p->head;
    p->head = p->tail = NULL;
    p->pending = 0;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    while (queued) {
        struct job *next = queued->next;
        queued->cancel(queued);
        queued = next;
    }
    for (unsigned i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
