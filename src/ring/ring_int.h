/* Internal structures of the ring runtime, shared by its .c files only. */
#ifndef MPSD_RING_INT_H
#define MPSD_RING_INT_H

#include "ring.h"

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/uio.h>

/* --- user_data: what a completion belongs to ---------------------------------------------
 * bits 63..56 op; for connection ops bits 55..32 the slot (= direct descriptor index) and
 * bits 31..0 the slot's generation; for other ops bits 55..0 an index or a pointer (user-space
 * pointers fit in 56 bits on x86-64 and arm64). A completion whose generation differs from the
 * slot's current one is stale and dropped. */
enum ring_op {
    OP_NONE = 0,
    OP_MBOX,    /* eventfd read of the mailbox */
    OP_ACCEPT,  /* index = listener index */
    OP_LCANCEL, /* cancel of a listener's accept */
    OP_RECV,    /* conn */
    OP_SEND,    /* conn */
    OP_SHUT,    /* conn */
    OP_CANCEL,  /* conn: cancel-by-fd or cancel of the recv */
    OP_CLOSE,   /* conn */
    OP_HANDOFF, /* conn: our side of MSG_RING SEND_FD */
    OP_SOCKET,  /* ptr = struct ring_creq */
    OP_FILES,   /* ptr = struct ring_creq */
    OP_CONNECT, /* ptr = struct ring_creq */
    OP_HANDIN,  /* ptr = struct ring_creq, posted to the target ring by MSG_RING */
    OP_PROBE,   /* start-up probe */
    OP_SOCKOPT, /* conn: SO_LINGER {1, 0} before an abortive close (rst.c) */
};

#define UD_OP(ud)      ((unsigned)((ud) >> 56))
#define UD_SLOT(ud)    ((uint32_t)(((ud) >> 32) & 0xffffff))
#define UD_GEN(ud)     ((uint32_t)(ud))
#define UD_PTR(ud)     ((void *)(uintptr_t)((ud) & ((1ULL << 56) - 1)))
#define RING_MAX_SLOTS (1u << 24)

static inline uint64_t ud_conn(unsigned op, uint32_t slot, uint32_t gen)
{
    return ((uint64_t)op << 56) | ((uint64_t)slot << 32) | gen;
}
static inline uint64_t ud_ptr(unsigned op, const void *p)
{
    return ((uint64_t)op << 56) | (uint64_t)(uintptr_t)p;
}

/* --- connections ------------------------------------------------------------------------ */

enum conn_state {
    CS_FREE = 0,
    CS_OPENING, /* outbound connect / adopt in progress: not visible to the user yet */
    CS_OPEN,
    CS_DRAINING, /* graceful close: flushing the send queue */
    CS_LINGER,   /* shutdown(SHUT_WR) sent: discarding input until FIN or linger timeout */
    CS_HANDOFF,  /* waiting for our ops to end, then MSG_RING SEND_FD */
    CS_CLOSING,  /* cancelling ops; close_direct once none is in flight */
    CS_CLOSED,   /* close_direct submitted */
};

enum conn_flag {
    CF_RECV = 1 << 0,         /* multishot recv armed */
    CF_SEND = 1 << 1,         /* a send is in flight */
    CF_EOF = 1 << 2,          /* peer FIN seen */
    CF_OPENED = 1 << 3,       /* on_open ran: on_close is owed */
    CF_WANT_WRITE = 1 << 4,   /* cap was hit: on_writable owed */
    CF_TODO = 1 << 5,         /* on the worker's todo list */
    CF_PAUSED = 1 << 6,       /* recv paused by the user */
    CF_CANCELLED = 1 << 7,    /* cancel-by-fd submitted during CLOSING */
    CF_HANDOFF_SENT = 1 << 8, /* MSG_RING submitted */
    CF_WPOLL = 1 << 9,        /* on the worker's writable-poll list (ring_conn_want_writable) */
    CF_ONESHOT = 1 << 10,     /* single-shot receives (ring_conn_set_recv_bounded) */
    CF_RST = 1 << 11,         /* abortive close: reset the peer (SO_LINGER {1, 0}, rst.c) */
    CF_RST_SENT = 1 << 12,    /* the SO_LINGER SQE was submitted */
};

/* Up to TX_IOV queued chunks go out in one sendmsg; the msghdr and iovec live in the header of
 * the head chunk, which stays put until the send completes. */
#define TX_IOV 8
typedef struct tx_chunk {
    struct tx_chunk *next;
    uint32_t off, len; /* sent up to off, filled up to len */
    struct msghdr mh;
    struct iovec iov[TX_IOV];
    uint8_t data[];
} tx_chunk;

struct ring_conn {
    ring_worker *w;
    const ring_conn_cbs *cb;
    void *user;
    tx_chunk *txh, *txt;    /* send queue: head is being sent, tail is being filled */
    struct ring_creq *hreq; /* pending handoff */
    uint32_t queued;        /* bytes queued and not yet completed */
    uint32_t cap, lowat;
    uint32_t slot, gen;
    uint32_t todo_next;  /* slot + 1 of the next conn on the todo list; 0 ends it */
    uint32_t wpoll_next; /* slot + 1 of the next conn on the writable-poll list; 0 ends it */
    uint16_t flags;
    uint8_t state;
    uint8_t inflight; /* SQEs whose final CQE has not come back */
    int err;          /* first error, reported by on_close */
    ring_timer linger;
    /* The peer's address (accepted: from the accept itself; connected: the destination; adopted:
     * getpeername). sockaddr_in6 holds an IPv4 sockaddr_in too. Family 0 when unknown. */
    struct sockaddr_in6 peer;
};

/* A pending outbound connect, adoption or incoming handoff (needs stable memory for the kernel). */
struct ring_creq {
    const ring_conn_cbs *cb;
    void *user;
    int fd;     /* transient fd to install (closed once installed) */
    int fdslot; /* FILES_UPDATE reads the fd here and writes the slot back */
    uint32_t slot;
    ring_worker *to; /* handoff target */
    bool connect;
    socklen_t dlen;
    struct sockaddr_storage dst;
};

/* Accepts in flight per listener. Single-shot rather than multishot: each accept needs its own
 * address buffer, because a multishot accept overwrites one buffer per connection and the address
 * of an earlier CQE is gone by the time it is read. A handful in flight keeps the accept queue
 * drained at any rate a TLS server can handshake. */
#define RING_ACCEPT_DEPTH 8

struct ring_accept_buf {
    struct sockaddr_in6 addr;
    socklen_t len;
};

struct ring_listener {
    ring_worker *w;
    int fd, index, port;
    bool closing;
    unsigned armed; /* accepts in flight */
    const ring_conn_cbs *cb;
    void *user;
    struct ring_accept_buf acc[RING_ACCEPT_DEPTH];
};

/* --- the worker -------------------------------------------------------------------------- */

#define WHEEL_SLOTS 512

typedef struct stat_word {
    _Atomic uint64_t v;
} stat_word;

struct ring_worker {
    struct ring *r;
    unsigned index;
    pthread_t thread;
    struct io_uring ring;
    int init_err;
    bool stopping, exited_loop;
    bool rst_ok; /* io_uring can set SO_LINGER on a direct descriptor (rst.c) */

    /* connections: table indexed by direct-descriptor slot */
    ring_conn *conns;
    unsigned nslots, nconns, npending; /* npending: creqs in flight */
    uint32_t todo_head;                /* slot + 1 */
    uint32_t wpoll_head;               /* slot + 1: on_writable owed from the loop */
    unsigned send_cap, send_lowat, linger_ms;

    /* receive buffers: provided buffer ring, group 0 */
    struct io_uring_buf_ring *br;
    uint8_t *rx_base;
    unsigned rx_size, rx_count, rx_pending; /* rx_pending: recycled, not yet published */
    struct io_uring_buf_ring *br_big;       /* group 1: bounded receives; bids rx_count.. */
    uint8_t *rx_big_base;
    unsigned rx_big_size, rx_big_count, rx_big_pending;

    /* send chunks */
    tx_chunk *tx_free;
    unsigned tx_size, tx_nfree, tx_cache;
    unsigned tx_low;    /* fewest chunks on the free list since the last trim */
    ring_timer tx_trim; /* armed while the free list holds chunks */

    /* listeners */
    ring_listener **listeners;
    unsigned nlisteners, nlisteners_live;

    /* timers */
    ring_timer wheel[WHEEL_SLOTS]; /* list heads */
    uint64_t now_ms, tick, tick_ms;
    unsigned ntimers;

    /* mailbox */
    int efd;
    uint64_t efd_val;
    pthread_mutex_t mlock;
    ring_msg *mhead, *mtail;
    bool mclosed;
    ring_msg stop_msg;
    atomic_bool stop_posted;

    struct {
        stat_word accepts, connects, adopts, recvs, bytes_in, bytes_out, sends, enobufs,
            send_cap_hits, closes, errors, stale_cqes, timers_fired, msgs, conns, aborts,
            aborts_rst, enters, sqes, cqes, tx_queued, tx_cached;
    } st;
};

struct ring {
    ring_config cfg;
    unsigned n;
    ring_worker *w;
    char err[256];
    char note[256]; /* ring_notice: a degraded feature, said once */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    unsigned ready;
};

/* Counters have one writer (the worker): a relaxed load+store is a plain mov, no lock prefix. */
#define STAT_ADD(w, f, n)                                                                          \
    atomic_store_explicit(&(w)->st.f.v,                                                            \
                          atomic_load_explicit(&(w)->st.f.v, memory_order_relaxed) + (n),          \
                          memory_order_relaxed)

/* worker.c */
struct io_uring_sqe *ring_sqe(ring_worker *w);
void ring_set_error(struct ring *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* conn.c */
ring_conn *conn_open_slot(ring_worker *w, uint32_t slot, const ring_conn_cbs *cb, void *user,
                          enum conn_state st);
void conn_start(ring_conn *c); /* on_open + arm recv */
void conn_todo(ring_conn *c);
void conn_run_todo(ring_worker *w);
void conn_run_wpoll(ring_worker *w);
void conn_progress(ring_conn *c);
void conn_abort(ring_conn *c, int err);
void conn_cancel_recv(ring_conn *c);
void conn_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe);
void conn_close_all(ring_worker *w);

/* send.c */
void tx_pool_init(ring_worker *w);
void tx_submit(ring_conn *c);
void tx_handle_cqe(ring_conn *c, int res);
void tx_drop(ring_conn *c);
void tx_pool_free(ring_worker *w);

/* rxbuf.c */
int rx_init(ring_worker *w);
void rx_recycle(ring_worker *w, unsigned bid);
/* The data of buffer bid (either group). */
uint8_t *rx_ptr(ring_worker *w, unsigned bid);
void rx_publish(ring_worker *w);
void rx_free(ring_worker *w);

/* listen.c */
void listen_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe);
void listen_cancel_all(ring_worker *w);
void listen_free_all(ring_worker *w);

/* connect.c */
void creq_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe);
void handoff_submit(ring_conn *c);
void handoff_handle_cqe(ring_conn *c, int res);

/* timer.c */
void timer_wheel_init(ring_worker *w);
void timer_run(ring_worker *w);
int timer_wait_ms(const ring_worker *w); /* -1: no timer armed */

/* rst.c */
void rst_probe(ring_worker *w); /* sets w->rst_ok; else a ring_notice() */
void rst_submit(ring_conn *c);  /* SO_LINGER {1, 0} on c (counts in inflight) */

/* mailbox.c */
int mbox_init(ring_worker *w);
void mbox_arm(ring_worker *w);
void mbox_handle_cqe(ring_worker *w, struct io_uring_cqe *cqe);
void mbox_close(ring_worker *w);
void mbox_free(ring_worker *w);

#endif
