/*
 * Per-worker hashed timer wheel: WHEEL_SLOTS slots of tick_ms each, entries further out than one
 * turn wait in their slot for their round. Arm, cancel and re-arm are O(1).
 *
 * Re-arming to a later deadline (the common case: "idle timeout, pushed back on every read")
 * only stores the new deadline; the entry moves when its old slot comes up (nginx's lazy timer
 * update). No kernel timer per connection: the loop's wait is bounded by the next tick instead
 * (a ring-wide timeout through io_uring_submit_and_wait_timeout, no SQE/CQE per tick), and not
 * bounded at all when no timer is armed.
 */
#include "ring_int.h"

#include <time.h>

uint64_t ring_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void list_init(ring_timer *h)
{
    h->prev = h->next = h;
}

static void link_at(ring_worker *w, ring_timer *t, uint64_t slot)
{
    ring_timer *h = &w->wheel[slot % WHEEL_SLOTS];
    t->slot = slot;
    t->prev = h->prev;
    t->next = h;
    h->prev->next = t;
    h->prev = t;
}

static void unlink_timer(ring_timer *t)
{
    t->prev->next = t->next;
    t->next->prev = t->prev;
    t->prev = t->next = NULL;
}

void timer_wheel_init(ring_worker *w)
{
    for (unsigned i = 0; i < WHEEL_SLOTS; i++)
        list_init(&w->wheel[i]);
    w->tick = w->now_ms / w->tick_ms;
}

void ring_timer_init(ring_timer *t, void (*fn)(ring_timer *t))
{
    t->prev = t->next = NULL;
    t->due = t->slot = 0;
    t->fn = fn;
}

int ring_timer_armed(const ring_timer *t)
{
    return t->next != NULL;
}

void ring_timer_arm(ring_worker *w, ring_timer *t, uint64_t after_ms)
{
    /* round up: a timer never fires early */
    uint64_t due = (w->now_ms + after_ms + w->tick_ms - 1) / w->tick_ms;
    if (due <= w->tick)
        due = w->tick + 1;
    t->due = due;
    if (t->next) {
        if (due >= t->slot)
            return; /* lazy: re-filed when its current slot is processed */
        unlink_timer(t);
    } else {
        w->ntimers++;
    }
    link_at(w, t, due);
}

void ring_timer_cancel(ring_worker *w, ring_timer *t)
{
    if (t->next) {
        unlink_timer(t);
        w->ntimers--;
    }
}

static void run_slot(ring_worker *w, uint64_t tick)
{
    ring_timer *h = &w->wheel[tick % WHEEL_SLOTS], tmp;
    if (h->next == h)
        return;
    /* detach the slot so callbacks may arm/cancel freely (even this slot) */
    tmp.next = h->next;
    tmp.prev = h->prev;
    tmp.next->prev = &tmp;
    tmp.prev->next = &tmp;
    list_init(h);
    while (tmp.next != &tmp) {
        ring_timer *t = tmp.next;
        unlink_timer(t);
        if (t->slot > tick) {
            link_at(w, t, t->slot); /* a later round */
        } else if (t->due > tick) {
            link_at(w, t, t->due); /* lazily re-armed */
        } else {
            w->ntimers--;
            STAT_ADD(w, timers_fired, 1);
            t->fn(t);
        }
    }
}

void timer_run(ring_worker *w)
{
    uint64_t now = w->now_ms / w->tick_ms;
    if (now <= w->tick)
        return;
    uint64_t from = w->tick + 1;
    if (now - w->tick > WHEEL_SLOTS) /* slept over a whole turn: visit each slot once */
        from = now - WHEEL_SLOTS + 1;
    for (uint64_t t = from; t <= now; t++) {
        w->tick = t;
        if (w->ntimers)
            run_slot(w, t);
    }
    w->tick = now;
}

int timer_wait_ms(const ring_worker *w)
{
    if (!w->ntimers)
        return -1;
    uint64_t next = (w->tick + 1) * w->tick_ms;
    return next > w->now_ms ? (int)(next - w->now_ms) : 0;
}
