#include "events.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

struct equeue {
    _Atomic uint64_t head; /* written by the worker */
    char pad1[56];
    _Atomic uint64_t tail; /* written by the admin thread */
    char pad2[56];
    struct admin_event *slots;
    uint32_t mask;
} __attribute__((aligned(64)));

struct event_bus {
    struct event_bus_head h; /* first: event_bus_wanted reads it */
    _Atomic uint64_t dropped;
    unsigned nq;
    struct equeue *q;
};

struct event_bus *event_bus_new(unsigned workers, unsigned per_worker)
{
    unsigned size = 1;
    while (size < per_worker)
        size <<= 1;
    struct event_bus *b = calloc(1, sizeof(*b));
    if (!b)
        return NULL;
    b->nq = workers;
    b->q = aligned_alloc(64, sizeof(struct equeue) * workers);
    if (!b->q) {
        free(b);
        return NULL;
    }
    memset(b->q, 0, sizeof(struct equeue) * workers);
    for (unsigned i = 0; i < workers; i++) {
        b->q[i].mask = size - 1;
        b->q[i].slots = calloc(size, sizeof(struct admin_event));
        if (!b->q[i].slots) {
            event_bus_free(b);
            return NULL;
        }
    }
    return b;
}

void event_bus_free(struct event_bus *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < b->nq; i++)
        free(b->q[i].slots);
    free(b->q);
    free(b);
}

void event_bus_emit(struct event_bus *b, unsigned worker, struct admin_event *e)
{
    if (!event_bus_wanted(b) || worker >= b->nq)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    e->ts_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->mono_us = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    struct equeue *q = &b->q[worker];
    uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
    uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h - t > q->mask) {
        atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
        return;
    }
    q->slots[h & q->mask] = *e;
    atomic_store_explicit(&q->head, h + 1, memory_order_release);
}

static int by_time(const void *a, const void *b)
{
    const struct admin_event *x = a, *y = b;
    if (x->mono_us != y->mono_us)
        return x->mono_us < y->mono_us ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

unsigned event_bus_drain(struct event_bus *b, struct admin_event *out, unsigned cap)
{
    unsigned n = 0;
    for (unsigned i = 0; i < b->nq && n < cap; i++) {
        struct equeue *q = &b->q[i];
        uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
        uint64_t h = atomic_load_explicit(&q->head, memory_order_acquire);
        for (; t != h && n < cap; t++)
            out[n++] = q->slots[t & q->mask];
        atomic_store_explicit(&q->tail, t, memory_order_release);
    }
    /* one worker's events are in order already; merge the workers' by monotonic time, ties kept
     * in drain order so that one worker's order is never changed */
    for (unsigned i = 0; i < n; i++)
        out[i].order = i;
    qsort(out, n, sizeof(*out), by_time);
    return n;
}

void event_bus_set_listeners(struct event_bus *b, unsigned n)
{
    atomic_store_explicit(&b->h.listeners, n, memory_order_relaxed);
}

uint64_t event_bus_dropped(const struct event_bus *b)
{
    return b ? atomic_load_explicit(&b->dropped, memory_order_relaxed) : 0;
}

const char *admin_event_kind_name(enum admin_event_kind k)
{
    static const char *const names[EV__COUNT] = {"connect", "disconnect", "supersede",
                                                 "console_open", "console_close"};
    return (unsigned)k < EV__COUNT ? names[k] : "unknown";
}
