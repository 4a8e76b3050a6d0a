/*
 * Connection lifecycle: open, multishot receive, the todo list, and close.
 *
 * A connection is the entry of the worker's table at its direct-descriptor slot. Its life ends
 * only after every SQE issued for it has produced its final CQE and close_direct has completed;
 * only then is the slot free for the kernel to hand out again. So a completion can never reach a
 * reused slot by construction; the generation in user_data is the second line of defence.
 *
 * Close, step by step:
 *   OPEN -graceful-> DRAINING (flush queue) -> LINGER (shutdown WR sent, input discarded until
 *   FIN or linger_ms) -> CLOSING (cancel what is in flight) -> CLOSED (close_direct) -> FREE.
 *   Abort jumps straight to CLOSING. on_close runs when close_direct completes.
 */
#include "ring_int.h"

#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define LIVE(c) ((c)->state >= CS_OPEN && (c)->state <= CS_LINGER)

static void gauge_conns(ring_worker *w)
{
    atomic_store_explicit(&w->st.conns.v, w->nconns, memory_order_relaxed);
}

static void linger_expired(ring_timer *t)
{
    ring_conn *c = (ring_conn *)((char *)t - offsetof(ring_conn, linger));
    /* LINGER: every byte reached the kernel, the peer just never sent its FIN: not an error.
     * DRAINING: the peer stopped reading and queued bytes are lost. */
    conn_abort(c, c->state == CS_LINGER ? 0 : -ETIMEDOUT);
}

ring_conn *conn_open_slot(ring_worker *w, uint32_t slot, const ring_conn_cbs *cb, void *user,
                          enum conn_state st)
{
    ring_conn *c = &w->conns[slot];
    uint32_t gen = c->gen + 1;
    /* A slot freed and reused within one CQE batch may still be linked in the todo list (or the
     * writable-poll list); keep that link, or the list would loop back on itself when the new
     * connection is queued. The new connection's own flags decide what the entry does. */
    uint16_t lists = c->flags & (CF_TODO | CF_WPOLL);
    uint32_t todo_next = c->todo_next, wpoll_next = c->wpoll_next;
    memset(c, 0, sizeof(*c));
    c->gen = gen ? gen : 1;
    c->flags = lists;
    c->todo_next = todo_next;
    c->wpoll_next = wpoll_next;
    c->w = w;
    c->cb = cb;
    c->user = user;
    c->slot = slot;
    c->cap = w->send_cap;
    c->lowat = w->send_lowat;
    c->state = (uint8_t)st;
    ring_timer_init(&c->linger, linger_expired);
    w->nconns++;
    gauge_conns(w);
    return c;
}

/* Cancels this connection's request of one kind (found by its user_data). */
static void cancel_op(ring_conn *c, unsigned op)
{
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    io_uring_prep_cancel64(sqe, ud_conn(op, c->slot, c->gen), 0);
    io_uring_sqe_set_data64(sqe, ud_conn(OP_CANCEL, c->slot, c->gen));
    c->inflight++;
}

static void recv_arm(ring_conn *c)
{
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    if (c->flags & CF_ONESHOT) /* one buffer per arming: len 0 takes the buffer's size */
        io_uring_prep_recv(sqe, (int)c->slot, NULL, 0, 0);
    else
        io_uring_prep_recv_multishot(sqe, (int)c->slot, NULL, 0, 0);
    sqe->flags |= IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT;
    sqe->buf_group = (c->flags & CF_ONESHOT) ? 1 : 0; /* bounded: the big buffers */
    io_uring_sqe_set_data64(sqe, ud_conn(OP_RECV, c->slot, c->gen));
    c->flags |= CF_RECV;
    c->inflight++;
}

void conn_start(ring_conn *c)
{
    c->state = CS_OPEN;
    c->flags |= CF_OPENED;
    if (c->cb->on_open)
        c->cb->on_open(c);
    conn_todo(c); /* arms the receive unless on_open paused or closed it */
}

void conn_todo(ring_conn *c)
{
    if (c->flags & CF_TODO)
        return;
    c->flags |= CF_TODO;
    c->todo_next = c->w->todo_head;
    c->w->todo_head = c->slot + 1;
}

/* Bring each listed connection's I/O in line with its state: re-arm the receive (after ENOBUFS,
 * the end of a multishot, or resume), start the next send, advance a close. Run once per loop
 * iteration, after the buffer ring is refilled, so a batch of sends costs one submit. */
void conn_run_todo(ring_worker *w)
{
    while (w->todo_head) {
        ring_conn *c = &w->conns[w->todo_head - 1];
        w->todo_head = c->todo_next;
        c->flags &= ~CF_TODO;
        if (c->state == CS_FREE)
            continue;
        if (LIVE(c) && !(c->flags & (CF_RECV | CF_EOF | CF_PAUSED)))
            recv_arm(c);
        if (LIVE(c) && c->txh && !(c->flags & CF_SEND))
            tx_submit(c);
        if (c->state > CS_OPEN)
            conn_progress(c);
    }
}

static void submit_shutdown(ring_conn *c, int how)
{
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    io_uring_prep_shutdown(sqe, (int)c->slot, how);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_conn(OP_SHUT, c->slot, c->gen));
    c->inflight++;
}

void conn_progress(ring_conn *c)
{
    struct io_uring_sqe *sqe;
    switch (c->state) {
    case CS_DRAINING:
        if (c->txh || (c->flags & CF_SEND))
            return; /* tx completions call back here */
        if (c->flags & CF_EOF) {
            /* the peer closed first: the close itself sends our FIN (IORING_OP_SHUTDOWN always
             * runs on an io-wq thread: a wake-up and a lock round per close) */
            c->state = CS_CLOSING;
            conn_progress(c);
            return;
        }
        submit_shutdown(c, SHUT_WR);
        c->state = CS_LINGER;
        __attribute__((fallthrough)); /* the peer may have sent its FIN already */
    case CS_LINGER:
        if (c->flags & CF_EOF) {
            c->state = CS_CLOSING;
            conn_progress(c);
        }
        return;
    case CS_HANDOFF:
        if (!c->inflight && !(c->flags & CF_HANDOFF_SENT))
            handoff_submit(c);
        return;
    case CS_CLOSING:
        /* Abortive close as a RST: SO_LINGER {1, 0} goes first (it is issued inline, before the
         * cancels in the same submit). */
        if ((c->flags & (CF_RST | CF_RST_SENT)) == CF_RST) {
            c->flags |= CF_RST_SENT;
            rst_submit(c);
        }
        if (!c->inflight) {
            sqe = ring_sqe(c->w);
            io_uring_prep_close_direct(sqe, c->slot);
            io_uring_sqe_set_data64(sqe, ud_conn(OP_CLOSE, c->slot, c->gen));
            c->inflight++;
            c->state = CS_CLOSED;
        } else if (!(c->flags & CF_CANCELLED)) {
            /* Cancel the armed recv and a send waiting for room by their user_data: the kernel
             * finds those in a hash. A cancel by descriptor (IORING_ASYNC_CANCEL_FD) walks every
             * request of the ring instead, which made closing n connections O(n^2) (50 us per
             * close at 10k). A cancel can miss a request that is running at that moment (a
             * multishot receive re-arms itself): the shutdown then wakes it (EOF ends it, EPIPE
             * a send). SHUT_RD only for a reset: SHUT_WR would send the FIN it replaces. */
            c->flags |= CF_CANCELLED;
            bool busy = c->flags & (CF_RECV | CF_SEND);
            if (c->flags & CF_RECV)
                cancel_op(c, OP_RECV);
            if (c->flags & CF_SEND)
                cancel_op(c, OP_SEND);
            if (busy)
                submit_shutdown(c, (c->flags & CF_RST) ? SHUT_RD : SHUT_RDWR);
        }
        return;
    default:
        return;
    }
}

void conn_abort(ring_conn *c, int err)
{
    if (c->state >= CS_CLOSING || c->state == CS_FREE)
        return;
    if (!c->err)
        c->err = err;
    if (err)
        STAT_ADD(c->w, errors, 1);
    c->state = CS_CLOSING;
    ring_timer_cancel(c->w, &c->linger);
    tx_drop(c);
    conn_progress(c);
}

void ring_conn_close(ring_conn *c, int how)
{
    if (c->state == CS_OPEN && how == RING_CLOSE_GRACEFUL) {
        /* a graceful close reads (and discards) until the peer's FIN: a receive paused for flow
         * control would otherwise hold the connection until linger_ms */
        c->flags &= ~CF_PAUSED;
        c->state = CS_DRAINING;
        ring_timer_arm(c->w, &c->linger, c->w->linger_ms);
        conn_todo(c);
    } else if (how == RING_CLOSE_ABORT || c->state == CS_OPENING || c->state == CS_HANDOFF) {
        if (how == RING_CLOSE_ABORT && LIVE(c)) {
            STAT_ADD(c->w, aborts, 1);
            if (c->w->rst_ok)
                c->flags |= CF_RST;
        }
        conn_abort(c, 0);
    }
}

static void close_done(ring_conn *c, int res)
{
    ring_worker *w = c->w;
    ring_timer_cancel(w, &c->linger);
    tx_drop(c);
    free(c->hreq); /* a hand-off aborted before its MSG_RING was sent */
    c->hreq = NULL;
    w->nconns--;
    gauge_conns(w);
    STAT_ADD(w, closes, 1);
    if (res < 0)
        STAT_ADD(w, errors, 1);
    if (c->flags & CF_OPENED) {
        c->flags &= ~CF_OPENED;
        if (c->cb->on_close)
            c->cb->on_close(c, c->err);
    }
    c->state = CS_FREE;
}

static void recv_cqe(ring_conn *c, struct io_uring_cqe *cqe)
{
    ring_worker *w = c->w;
    int res = cqe->res;
    if (!(cqe->flags & IORING_CQE_F_MORE)) {
        c->flags &= ~CF_RECV;
        c->inflight--;
        conn_todo(c); /* multishot ended: re-arm if the state still wants input */
    }
    if (cqe->flags & IORING_CQE_F_BUFFER) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (res > 0) {
            STAT_ADD(w, recvs, 1);
            STAT_ADD(w, bytes_in, (uint64_t)res);
            /* HANDOFF: bytes that completed before the recv was cancelled still go to the user */
            if ((c->state == CS_OPEN || c->state == CS_HANDOFF) && c->cb->on_data)
                c->cb->on_data(c, rx_ptr(w, bid), (size_t)res);
        }
        rx_recycle(w, bid);
    }
    if (res == 0) {
        c->flags |= CF_EOF;
        if (c->state == CS_OPEN) {
            if (c->cb->on_eof)
                c->cb->on_eof(c);
            else
                ring_conn_close(c, RING_CLOSE_GRACEFUL);
        }
    } else if (res == -ENOBUFS) {
        STAT_ADD(w, enobufs, 1); /* pool empty: re-armed after this batch refills it */
    } else if (res < 0 && res != -ECANCELED) {
        conn_abort(c, res);
    }
    if (c->state > CS_OPEN)
        conn_progress(c);
}

void conn_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe)
{
    uint64_t ud = cqe->user_data;
    uint32_t slot = UD_SLOT(ud);
    ring_conn *c = slot < w->nslots ? &w->conns[slot] : NULL;
    if (!c || c->state == CS_FREE || c->gen != UD_GEN(ud)) {
        STAT_ADD(w, stale_cqes, 1);
        if (cqe->flags & IORING_CQE_F_BUFFER)
            rx_recycle(w, cqe->flags >> IORING_CQE_BUFFER_SHIFT);
        return;
    }
    switch (UD_OP(ud)) {
    case OP_RECV:
        recv_cqe(c, cqe);
        break;
    case OP_SEND:
        tx_handle_cqe(c, cqe->res);
        break;
    case OP_SOCKOPT:
        c->inflight--;
        if (cqe->res == 0)
            STAT_ADD(w, aborts_rst, 1);
        conn_progress(c);
        break;
    case OP_SHUT:
    case OP_CANCEL:
        c->inflight--;
        if (c->state == CS_LINGER && cqe->res < 0 && UD_OP(ud) == OP_SHUT)
            conn_abort(c, cqe->res);
        conn_progress(c);
        break;
    case OP_CLOSE:
        c->inflight--;
        close_done(c, cqe->res);
        break;
    case OP_HANDOFF:
        c->inflight--;
        handoff_handle_cqe(c, cqe->res);
        break;
    default:
        break;
    }
}

void conn_close_all(ring_worker *w)
{
    for (unsigned i = 0; i < w->nslots; i++)
        if (w->conns[i].state == CS_OPEN)
            ring_conn_close(&w->conns[i], RING_CLOSE_GRACEFUL);
}

void ring_foreach_conn(ring_worker *w, void (*fn)(ring_conn *c, void *arg), void *arg)
{
    for (unsigned i = 0; i < w->nslots; i++)
        if (LIVE(&w->conns[i]) && (w->conns[i].flags & CF_OPENED))
            fn(&w->conns[i], arg);
}

void conn_cancel_recv(ring_conn *c)
{
    if (c->flags & CF_RECV)
        cancel_op(c, OP_RECV);
}

void ring_conn_pause_recv(ring_conn *c)
{
    if (!(c->flags & CF_PAUSED)) {
        c->flags |= CF_PAUSED;
        conn_cancel_recv(c);
    }
}

void ring_conn_set_recv_bounded(ring_conn *c, bool on)
{
    if (on)
        c->flags |= CF_ONESHOT;
    else
        c->flags &= ~CF_ONESHOT;
}

void ring_conn_resume_recv(ring_conn *c)
{
    if (!(c->flags & CF_PAUSED))
        return;
    c->flags &= ~CF_PAUSED;
    conn_todo(c);
}

void *ring_conn_user(const ring_conn *c)
{
    return c->user;
}

void ring_conn_set_user(ring_conn *c, void *user)
{
    c->user = user;
}

ring_worker *ring_conn_worker(const ring_conn *c)
{
    return c->w;
}

uint64_t ring_conn_id(const ring_conn *c)
{
    return ((uint64_t)c->w->index << 56) | ((uint64_t)c->slot << 32) | c->gen;
}

int ring_conn_peer(const ring_conn *c, struct sockaddr *out, socklen_t *len)
{
    if (c->peer.sin6_family == 0)
        return -ENOTCONN;
    socklen_t have =
        c->peer.sin6_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    memcpy(out, &c->peer, have < *len ? have : *len);
    *len = have;
    return 0;
}

ring_conn *ring_conn_find(ring_worker *w, uint64_t id)
{
    uint32_t slot = UD_SLOT(id);
    if ((id >> 56) != w->index || slot >= w->nslots)
        return NULL;
    ring_conn *c = &w->conns[slot];
    return LIVE(c) && c->gen == UD_GEN(id) && (c->flags & CF_OPENED) ? c : NULL;
}
