/*
 * Connections that do not come from a listener: outbound connects, adopted fds, and connections
 * handed over from another worker.
 *
 * Outbound: a transient socket() gets TCP_NODELAY (socket options on a direct descriptor need
 * Linux 6.7) and, with a source address, its bind (IORING_OP_BIND is 6.11); it is installed with
 * IORING_OP_FILES_UPDATE + IORING_FILE_INDEX_ALLOC and closed as soon as the table holds it, then
 * IORING_OP_CONNECT: each pending connect costs one process fd for one round trip through the
 * ring. Out of process fds, it falls back to IORING_OP_SOCKET straight into the table (no fd,
 * no TCP_NODELAY).
 *
 * Hand-off: IORING_OP_MSG_RING / IORING_MSG_SEND_FD installs our slot's file in the target ring's
 * table and posts a CQE there carrying a pointer to the request (liburing 2.3 has no
 * io_uring_prep_msg_ring_fd; the raw fields are set below).
 */
#include "ring_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static struct ring_creq *creq_new(ring_worker *w, const ring_conn_cbs *cb, void *user)
{
    struct ring_creq *q = calloc(1, sizeof(*q));
    if (q) {
        q->cb = cb;
        q->user = user;
        q->fd = -1;
        w->npending++;
    }
    return q;
}

static void creq_fail(ring_worker *w, struct ring_creq *q, int err)
{
    w->npending--;
    STAT_ADD(w, errors, 1);
    if (q->cb->on_connect_fail)
        q->cb->on_connect_fail(w, q->user, err);
    free(q);
}

/* Install q->fd into the table; the CQE brings the slot back in q->fdslot. */
static void files_submit(ring_worker *w, struct ring_creq *q)
{
    q->fdslot = q->fd;
    struct io_uring_sqe *sqe = ring_sqe(w);
    io_uring_prep_files_update(sqe, &q->fdslot, 1, (int)IORING_FILE_INDEX_ALLOC);
    io_uring_sqe_set_data64(sqe, ud_ptr(OP_FILES, q));
}

int ring_connect(ring_worker *w, const struct sockaddr *dst, socklen_t dlen,
                 const struct sockaddr *src, socklen_t slen, const ring_conn_cbs *cb, void *user)
{
    if (w->stopping)
        return -ESHUTDOWN;
    if (dlen > sizeof(struct sockaddr_storage) || (src && src->sa_family != dst->sa_family))
        return -EINVAL;
    /* Always through a transient fd (closed once the socket is in the file table): a direct
     * IORING_OP_SOCKET would be fd-free, but socket options on a direct descriptor need Linux
     * 6.7, and TCP_NODELAY is not optional: without it a small write (an APF WINDOW_ADJUST, a
     * keep-alive) waits behind Nagle for the peer's delayed ACK, 40 ms. */
    int one = 1;
    int fd = socket(dst->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 && (src || (errno != EMFILE && errno != ENFILE)))
        return -errno;
    /* out of process fds (a connect storm past RLIMIT_NOFILE): a direct socket still works,
     * without TCP_NODELAY */
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (src) {
        /* pick the port at connect time, by the full 4-tuple: more than 28k connections per
         * source address when destinations differ */
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        if (bind(fd, src, slen) < 0) {
            int e = -errno;
            close(fd);
            return e;
        }
    }
    struct ring_creq *q = creq_new(w, cb, user);
    if (!q) {
        if (fd >= 0)
            close(fd);
        return -ENOMEM;
    }
    q->connect = true;
    q->dlen = dlen;
    memcpy(&q->dst, dst, dlen);
    if (fd >= 0) {
        q->fd = fd;
        files_submit(w, q);
    } else {
        struct io_uring_sqe *sqe = ring_sqe(w);
        io_uring_prep_socket_direct_alloc(sqe, dst->sa_family, SOCK_STREAM, 0, 0);
        io_uring_sqe_set_data64(sqe, ud_ptr(OP_SOCKET, q));
    }
    return 0;
}

int ring_adopt_fd(ring_worker *w, int fd, const ring_conn_cbs *cb, void *user)
{
    if (w->stopping)
        return -ESHUTDOWN;
    struct ring_creq *q = creq_new(w, cb, user);
    if (!q)
        return -ENOMEM;
    q->fd = fd;
    q->dlen = sizeof(q->dst);
    if (getpeername(fd, (struct sockaddr *)&q->dst, &q->dlen) != 0)
        q->dlen = 0; /* the peer stays unknown; not a reason to refuse the socket */
    files_submit(w, q);
    return 0;
}

/* The connection's peer address from a request's dst (connect target, adopted or handed-in peer).
 */
static void set_peer(ring_conn *c, const struct ring_creq *q)
{
    if (q->dlen > 0 && q->dlen <= sizeof(c->peer))
        memcpy(&c->peer, &q->dst, q->dlen);
}

static void connect_submit(ring_worker *w, struct ring_creq *q, uint32_t slot)
{
    ring_conn *c = conn_open_slot(w, slot, q->cb, q->user, CS_OPENING);
    set_peer(c, q);
    q->slot = slot;
    struct io_uring_sqe *sqe = ring_sqe(w);
    io_uring_prep_connect(sqe, (int)slot, (struct sockaddr *)&q->dst, q->dlen);
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data64(sqe, ud_ptr(OP_CONNECT, q));
    c->inflight++;
}

static void connect_done(ring_worker *w, struct ring_creq *q, int res)
{
    ring_conn *c = &w->conns[q->slot];
    c->inflight--;
    w->npending--;
    if (res == 0 && c->state == CS_OPENING) {
        STAT_ADD(w, connects, 1);
        free(q);
        conn_start(c);
        return;
    }
    if (c->state == CS_OPENING)
        conn_abort(c, res); /* not opened: closes the slot without on_close */
    else
        conn_progress(c);
    w->npending++; /* creq_fail counts it down */
    creq_fail(w, q, res < 0 ? res : -ECANCELED);
}

void creq_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe)
{
    struct ring_creq *q = UD_PTR(cqe->user_data);
    int res = cqe->res;
    switch (UD_OP(cqe->user_data)) {
    case OP_SOCKET:
        if (res < 0)
            creq_fail(w, q, res);
        else
            connect_submit(w, q, (uint32_t)res);
        break;
    case OP_FILES:
        close(q->fd); /* the table holds its own reference now (or the install failed) */
        if (res < 1) {
            creq_fail(w, q, res < 0 ? res : -ENFILE);
        } else if (q->connect) {
            connect_submit(w, q, (uint32_t)q->fdslot);
        } else {
            ring_conn *c = conn_open_slot(w, (uint32_t)q->fdslot, q->cb, q->user, CS_OPENING);
            set_peer(c, q);
            w->npending--;
            STAT_ADD(w, adopts, 1);
            free(q);
            conn_start(c);
        }
        break;
    case OP_CONNECT:
        connect_done(w, q, res);
        break;
    case OP_HANDIN:
        if (res >= 0) {
            ring_conn *c = conn_open_slot(w, (uint32_t)res, q->cb, q->user, CS_OPENING);
            set_peer(c, q);
            STAT_ADD(w, adopts, 1);
            free(q);
            conn_start(c);
        }
        break;
    default:
        break;
    }
}

int ring_conn_handoff(ring_conn *c, ring_worker *to, const ring_conn_cbs *cb, void *user)
{
    if (c->state != CS_OPEN || to == c->w)
        return -EINVAL;
    if (c->queued || (c->flags & CF_SEND))
        return -EBUSY;
    if (atomic_load(&to->stop_posted))
        return -ESHUTDOWN;
    struct ring_creq *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->cb = cb;
    q->user = user;
    q->to = to;
    memcpy(&q->dst, &c->peer, sizeof(c->peer));
    q->dlen = c->peer.sin6_family ? sizeof(c->peer) : 0;
    c->hreq = q;
    c->state = CS_HANDOFF;
    conn_cancel_recv(c);
    conn_progress(c); /* submits at once if nothing is in flight */
    return 0;
}

void handoff_submit(ring_conn *c)
{
    struct ring_creq *q = c->hreq;
    struct io_uring_sqe *sqe = ring_sqe(c->w);
    /* what io_uring_prep_msg_ring_fd (liburing 2.4) does: the target CQE gets off as user_data
     * and the slot it allocated as res */
    io_uring_prep_rw(IORING_OP_MSG_RING, sqe, q->to->ring.ring_fd,
                     (void *)(uintptr_t)IORING_MSG_SEND_FD, 0, ud_ptr(OP_HANDIN, q));
    sqe->addr3 = c->slot;
    sqe->file_index = IORING_FILE_INDEX_ALLOC;
    io_uring_sqe_set_data64(sqe, ud_conn(OP_HANDOFF, c->slot, c->gen));
    c->flags |= CF_HANDOFF_SENT;
    c->inflight++;
}

void handoff_handle_cqe(ring_conn *c, int res)
{
    if (res < 0) {
        free(c->hreq);
        c->hreq = NULL;
        conn_abort(c, res);
        return;
    }
    c->hreq = NULL;         /* the target owns and frees it */
    c->flags &= ~CF_OPENED; /* the connection lives on over there: no on_close here */
    c->state = CS_CLOSING;
    conn_progress(c);
}
