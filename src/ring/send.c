/*
 * Send queue: per connection a list of pooled chunks, one send in flight at a time (which keeps
 * bytes in order without links), a cap on queued bytes, and on_writable at the low-water mark.
 *
 * Chunks come from a per-worker free list and go back to it as soon as the kernel has taken their
 * bytes, so an idle connection holds no send memory either. Plain sends, not registered buffers:
 * fixed-buffer sends need SEND_ZC on 6.x, whose notification CQEs hold the chunk twice as long.
 */
#include "ring_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_CAP(w) ((w)->tx_size - (uint32_t)sizeof(tx_chunk))

/* The free list gives back what it did not need: every TX_TRIM_MS, half of the chunks that sat
 * unused the whole interval (the list's low-water mark) are freed, so after a burst (a reconnect
 * storm, a drain, console transfers) the cache decays to its working set within seconds and
 * jemalloc's decay returns the pages; the timer is armed only while the list holds chunks. */
#define TX_TRIM_MS 1000

/* The free list's length, for ring_stats_read on any thread. */
static void gauge_cached(ring_worker *w)
{
    atomic_store_explicit(&w->st.tx_cached.v, w->tx_nfree, memory_order_relaxed);
}

static void tx_trim_fire(ring_timer *tm)
{
    ring_worker *w = (ring_worker *)((char *)tm - offsetof(ring_worker, tx_trim));
    unsigned idle = w->tx_low < w->tx_nfree ? w->tx_low : w->tx_nfree;
    for (unsigned n = (idle + 1) / 2; n && w->tx_free; n--) {
        tx_chunk *t = w->tx_free;
        w->tx_free = t->next;
        w->tx_nfree--;
        free(t);
    }
    w->tx_low = w->tx_nfree;
    gauge_cached(w);
    if (w->tx_nfree)
        ring_timer_arm(w, &w->tx_trim, TX_TRIM_MS);
}

void tx_pool_init(ring_worker *w)
{
    ring_timer_init(&w->tx_trim, tx_trim_fire);
}

static tx_chunk *chunk_get(ring_worker *w)
{
    tx_chunk *t = w->tx_free;
    if (t) {
        w->tx_free = t->next;
        if (--w->tx_nfree < w->tx_low)
            w->tx_low = w->tx_nfree;
        gauge_cached(w);
    } else if (!(t = malloc(w->tx_size))) {
        return NULL;
    }
    t->next = NULL;
    t->off = t->len = 0;
    return t;
}

static void chunk_put(ring_worker *w, tx_chunk *t)
{
    if (w->tx_nfree >= w->tx_cache) {
        free(t);
        return;
    }
    t->next = w->tx_free;
    w->tx_free = t;
    w->tx_nfree++;
    gauge_cached(w);
    if (!ring_timer_armed(&w->tx_trim)) {
        w->tx_low = w->tx_nfree;
        ring_timer_arm(w, &w->tx_trim, TX_TRIM_MS);
    }
}

void tx_pool_free(ring_worker *w)
{
    while (w->tx_free) {
        tx_chunk *t = w->tx_free;
        w->tx_free = t->next;
        free(t);
    }
    w->tx_nfree = 0;
    gauge_cached(w);
}

/* A tail chunk with room, appending a fresh one if needed. */
static tx_chunk *tail_with_room(ring_conn *c)
{
    tx_chunk *t = c->txt;
    if (t && t->len < CHUNK_CAP(c->w))
        return t;
    if (!(t = chunk_get(c->w)))
        return NULL;
    if (c->txt)
        c->txt->next = t;
    else
        c->txh = t;
    c->txt = t;
    return t;
}

static size_t room(const ring_conn *c)
{
    return c->queued < c->cap ? c->cap - c->queued : 0;
}

static void cap_hit(ring_conn *c)
{
    c->flags |= CF_WANT_WRITE;
    STAT_ADD(c->w, send_cap_hits, 1);
}

ssize_t ring_conn_send(ring_conn *c, const void *data, size_t len)
{
    if (c->state != CS_OPEN)
        return -EPIPE;
    size_t n = len < room(c) ? len : room(c), done = 0;
    if (n < len)
        cap_hit(c);
    while (done < n) {
        tx_chunk *t = tail_with_room(c);
        if (!t)
            break;
        size_t k = CHUNK_CAP(c->w) - t->len;
        if (k > n - done)
            k = n - done;
        memcpy(t->data + t->len, (const uint8_t *)data + done, k);
        t->len += (uint32_t)k;
        done += k;
    }
    c->queued += (uint32_t)done;
    STAT_ADD(c->w, tx_queued, done);
    if (done)
        conn_todo(c);
    return done || !n ? (ssize_t)done : -ENOMEM;
}

ssize_t ring_conn_reserve(ring_conn *c, void **p)
{
    if (c->state != CS_OPEN)
        return -EPIPE;
    size_t r = room(c);
    if (!r) {
        cap_hit(c);
        return -EAGAIN;
    }
    tx_chunk *t = tail_with_room(c);
    if (!t)
        return -ENOMEM;
    size_t k = CHUNK_CAP(c->w) - t->len;
    *p = t->data + t->len;
    return (ssize_t)(k < r ? k : r);
}

int ring_conn_commit(ring_conn *c, size_t n)
{
    tx_chunk *t = c->txt;
    if (c->state != CS_OPEN || !t || n > CHUNK_CAP(c->w) - t->len)
        return -EINVAL;
    t->len += (uint32_t)n;
    c->queued += (uint32_t)n;
    STAT_ADD(c->w, tx_queued, n);
    if (n)
        conn_todo(c);
    return 0;
}

size_t ring_conn_queued(const ring_conn *c)
{
    return c->queued;
}

void ring_conn_set_send_cap(ring_conn *c, unsigned cap, unsigned lowat)
{
    c->cap = cap;
    c->lowat = lowat < cap ? lowat : cap;
}

void ring_conn_want_writable(ring_conn *c)
{
    if (c->state != CS_OPEN)
        return; /* closing or handed off: on_writable would never be delivered anyway */
    c->flags |= CF_WANT_WRITE;
    /* Above the mark, the send completion that crosses it delivers (tx_handle_cqe). At or below
     * it, no completion may be coming, so the loop delivers: never from inside this call, where
     * the caller may hold state it is in the middle of changing. */
    if (c->queued <= c->lowat && !(c->flags & CF_WPOLL)) {
        c->flags |= CF_WPOLL;
        c->wpoll_next = c->w->wpoll_head;
        c->w->wpoll_head = c->slot + 1;
    }
}

/* Deliver the on_writable owed to connections that asked while already at or below their mark.
 * The list is detached first: a callback that asks again is served on the next pass, after the
 * ring was entered, so a connection re-asking from on_writable cannot spin the loop. */
void conn_run_wpoll(ring_worker *w)
{
    uint32_t head = w->wpoll_head;
    w->wpoll_head = 0;
    while (head) {
        ring_conn *c = &w->conns[head - 1];
        head = c->wpoll_next;
        c->flags &= ~CF_WPOLL;
        /* checked now, not at request time: the connection may have closed, queued more (then
         * the completion that drains it delivers), or already been served by a completion */
        if (c->state == CS_OPEN && (c->flags & CF_WANT_WRITE) && c->queued <= c->lowat) {
            c->flags &= ~CF_WANT_WRITE;
            if (c->cb->on_writable)
                c->cb->on_writable(c);
        }
    }
}

/* Free fully sent chunks at the head (never the one the kernel is reading). */
static void pop_sent(ring_conn *c)
{
    while (c->txh && c->txh->off == c->txh->len && !(c->flags & CF_SEND)) {
        tx_chunk *t = c->txh;
        c->txh = t->next;
        if (!c->txh)
            c->txt = NULL;
        chunk_put(c->w, t);
    }
}

void tx_submit(ring_conn *c)
{
    pop_sent(c);
    tx_chunk *h = c->txh;
    if (!h || (c->flags & CF_SEND))
        return;
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    unsigned n = 0;
    for (tx_chunk *t = h; t && n < TX_IOV; t = t->next)
        if (t->len > t->off)
            h->iov[n++] = (struct iovec){t->data + t->off, t->len - t->off};
    h->mh.msg_iovlen = n; /* how many chunks the send in flight reads (tx_drop keeps them) */
    if (n == 1) {
        io_uring_prep_send(sqe, (int)c->slot, h->iov[0].iov_base, h->iov[0].iov_len, MSG_NOSIGNAL);
    } else { /* one syscall-free round trip for several chunks */
        h->mh = (struct msghdr){.msg_iov = h->iov, .msg_iovlen = n};
        io_uring_prep_sendmsg(sqe, (int)c->slot, &h->mh, MSG_NOSIGNAL);
    }
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn(OP_SEND, c->slot, c->gen));
    c->flags |= CF_SEND;
    c->inflight++;
}

void tx_handle_cqe(ring_conn *c, int res)
{
    ring_worker *w = c->w;
    c->flags &= ~CF_SEND;
    c->inflight--;
    if (res > 0) {
        c->queued -= (uint32_t)res;
        STAT_ADD(w, tx_queued, -(uint64_t)res);
        STAT_ADD(w, sends, 1);
        STAT_ADD(w, bytes_out, (uint64_t)res);
        for (tx_chunk *t = c->txh; res > 0 && t; t = t->next) { /* may span chunks */
            uint32_t k = t->len - t->off < (uint32_t)res ? t->len - t->off : (uint32_t)res;
            t->off += k;
            res -= (int)k;
        }
    }
    pop_sent(c);
    if (c->state >= CS_CLOSING) {
        tx_drop(c);
        conn_progress(c);
        return;
    }
    if (res < 0) {
        conn_abort(c, res);
        return;
    }
    tx_submit(c); /* keep the pipe full: short sends resume here too */
    if ((c->flags & CF_WANT_WRITE) && c->queued <= c->lowat && c->state == CS_OPEN) {
        c->flags &= ~CF_WANT_WRITE;
        if (c->cb->on_writable)
            c->cb->on_writable(c);
    }
    if (c->state == CS_DRAINING || c->state == CS_HANDOFF)
        conn_progress(c);
}

/* Drop what is queued, keeping every chunk the send in flight reads (a sendmsg spans up to TX_IOV
 * chunks): their memory stays the kernel's until the CQE, and the bytes that send can still report
 * stay counted in queued, so its completion never subtracts more than is left. */
void tx_drop(ring_conn *c)
{
    tx_chunk *last = NULL;
    uint32_t left = 0;
    if (c->flags & CF_SEND) {
        size_t n = c->txh->mh.msg_iovlen;
        for (tx_chunk *t = c->txh; t && n; t = t->next) {
            last = t;
            if (t->len > t->off) {
                left += t->len - t->off;
                n--;
            }
        }
    }
    tx_chunk *t = last ? last->next : c->txh;
    while (t) {
        tx_chunk *n = t->next;
        chunk_put(c->w, t);
        t = n;
    }
    if (last)
        last->next = NULL;
    else
        c->txh = NULL;
    c->txt = last;
    STAT_ADD(c->w, tx_queued, -(uint64_t)(c->queued - left));
    c->queued = left;
    c->flags &= ~CF_WANT_WRITE;
}
