/*
 * Listeners: one SO_REUSEPORT socket per worker and address, so the kernel spreads connections
 * over workers with no shared accept queue. Accepts are *direct* (RING_ACCEPT_DEPTH single-shot
 * accepts in flight, each with its own peer-address buffer; see ring_int.h): each connection
 * lands in the ring's registered file table, never in the process fd table, so the number of
 * connections is bounded by the table size, not by RLIMIT_NOFILE. The listening socket itself is
 * a plain fd (a handful per process).
 */
#include "ring_int.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void accept_arm(ring_listener *l, unsigned k)
{
    struct io_uring_sqe *sqe = ring_sqe(l->w);
    struct ring_accept_buf *b = &l->acc[k];
    b->len = sizeof(b->addr);
    /* flags must be 0: SOCK_CLOEXEC is refused for direct descriptors (they have no fd) */
    /* liburing 2.3 stores file_index + 1 and does not special-case ALLOC: pass ALLOC - 1, as its
     * own multishot_accept_direct does */
    io_uring_prep_accept_direct(sqe, l->fd, (struct sockaddr *)&b->addr, &b->len, 0,
                                IORING_FILE_INDEX_ALLOC - 1);
    io_uring_sqe_set_data64(sqe,
                            ((uint64_t)OP_ACCEPT << 56) | ((uint64_t)k << 24) | (unsigned)l->index);
    l->armed++;
}

static int listen_socket(const struct sockaddr *addr, socklen_t len, int backlog, int *port)
{
    int one = 1, fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* accepted sockets inherit it: no Nagle stall (the peer's 40 ms delayed ACK) behind a small
     * write such as an APF WINDOW_ADJUST or a keep-alive */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
        goto fail;
    if (addr->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)))
        goto fail;
    if (bind(fd, addr, len) < 0 || listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        goto fail;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
        goto fail;
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
fail:;
    int e = -errno;
    close(fd);
    return e;
}

int ring_listen(ring_worker *w, const struct sockaddr *addr, socklen_t len, int backlog,
                const ring_conn_cbs *cb, void *user, ring_listener **out)
{
    if (w->stopping)
        return -ESHUTDOWN;
    ring_listener **arr = realloc(w->listeners, (w->nlisteners + 1) * sizeof(*arr));
    if (!arr)
        return -ENOMEM;
    w->listeners = arr;
    ring_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return -ENOMEM;
    int port = 0, fd = listen_socket(addr, len, backlog, &port);
    if (fd < 0) {
        free(l);
        return fd;
    }
    *l = (ring_listener){
        .w = w, .fd = fd, .index = (int)w->nlisteners, .port = port, .cb = cb, .user = user};
    arr[w->nlisteners++] = l;
    w->nlisteners_live++;
    for (unsigned k = 0; k < RING_ACCEPT_DEPTH; k++)
        accept_arm(l, k);
    if (out)
        *out = l;
    return 0;
}

int ring_listener_port(const ring_listener *l)
{
    return l->port;
}

void ring_listener_close(ring_listener *l)
{
    if (l->closing)
        return;
    l->closing = true;
    struct io_uring_sqe *sqe = ring_sqe(l->w);
    io_uring_prep_cancel_fd(sqe, l->fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data64(sqe, ((uint64_t)OP_LCANCEL << 56) | (unsigned)l->index);
}

void listen_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe)
{
    uint64_t idx = cqe->user_data & ((1ULL << 24) - 1);
    unsigned k = (unsigned)((cqe->user_data >> 24) & 0xff);
    if (UD_OP(cqe->user_data) == OP_LCANCEL || idx >= w->nlisteners || k >= RING_ACCEPT_DEPTH)
        return;
    ring_listener *l = w->listeners[idx];
    l->armed--;
    if (cqe->res >= 0) {
        ring_conn *c = conn_open_slot(w, (uint32_t)cqe->res, l->cb, l->user, CS_OPENING);
        if (l->acc[k].len <= sizeof(c->peer))
            memcpy(&c->peer, &l->acc[k].addr, l->acc[k].len);
        STAT_ADD(w, accepts, 1);
        if (l->closing)
            conn_abort(c, 0); /* raced the cancel: nobody is left to serve it */
        else
            conn_start(c);
    } else if (cqe->res != -ECANCELED) {
        STAT_ADD(w, errors, 1); /* -ENFILE: file table full; the connection was dropped */
    }
    if (l->fd < 0)
        return;
    if (!l->closing) {
        accept_arm(l, k);
    } else if (l->armed == 0) {
        close(l->fd);
        l->fd = -1;
        w->nlisteners_live--;
    }
}

void listen_cancel_all(ring_worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++)
        if (w->listeners[i]->fd >= 0)
            ring_listener_close(w->listeners[i]);
}

void listen_free_all(ring_worker *w)
{
    for (unsigned i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i]->fd >= 0)
            close(w->listeners[i]->fd);
        free(w->listeners[i]);
    }
    free(w->listeners);
    w->listeners = NULL;
    w->nlisteners = 0;
}
