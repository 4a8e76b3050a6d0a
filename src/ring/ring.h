/*
 * ring: the generic io_uring runtime of mpsd (like nginx's src/event).
 *
 * One worker thread per CPU, each with its own io_uring, its own registered (sparse) file table,
 * its own receive buffer ring and send-chunk pool, its own timer wheel and a mailbox. Connections
 * live on one worker for their whole life (or are handed to another worker explicitly); every
 * callback for a connection runs on its worker's thread, so the data path takes no locks.
 *
 * The ring knows nothing of TLS or APF: a connection is bytes in (on_data), bytes out
 * (ring_conn_send / reserve+commit), a `void *user` and a callback table.
 *
 * Threads: functions marked [any thread] may be called from anywhere; all others only on the
 * worker's own thread (inside a callback, a timer, a mailbox message or the on_start hook).
 * Errors are negative errno values.
 */
#ifndef MPSD_RING_H
#define MPSD_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef struct ring ring_t;
typedef struct ring_worker ring_worker;
typedef struct ring_conn ring_conn;
typedef struct ring_listener ring_listener;

/* --- configuration ------------------------------------------------------------------------ */

typedef struct ring_config {
    unsigned workers;      /* worker threads; 0 = one per online CPU */
    unsigned sq_entries;   /* SQ size; 0 = 256 */
    unsigned cq_entries;   /* CQ size; 0 = 16 * sq_entries (multishot bursts) */
    unsigned files;        /* direct-descriptor slots per worker; 0 = min(RLIMIT_NOFILE, 65536) */
    unsigned rx_buf_size;  /* bytes per provided receive buffer; 0 = 16384 */
    unsigned rx_buf_count; /* buffers per worker, power of two <= 32768; 0 = 1024 */
    /* bounded receives (ring_conn_set_recv_bounded) take buffers from a second group of larger
     * ones: fewer loop passes per byte for a flow-controlled fast sender. Pages are touched only
     * when used. */
    unsigned rx_big_size;  /* 0 = 65536 */
    unsigned rx_big_count; /* power of two <= 1024; 0 = 64 */
    unsigned tx_chunk;     /* bytes per pooled send chunk (header included); 0 = 16384 */
    unsigned tx_cache;     /* free send chunks kept per worker for reuse; 0 = 256 */
    unsigned send_cap;     /* default cap on queued send bytes per connection; 0 = 262144 */
    unsigned send_lowat;   /* on_writable fires when queued bytes fall to this; 0 = cap / 4 */
    unsigned tick_ms;      /* timer wheel tick; 0 = 100 */
    unsigned linger_ms;    /* bound on a graceful close (flush + wait for FIN); 0 = 5000 */
    /* Called on each worker's thread once its ring is ready, before any other event; and when the
     * worker is told to stop, after its listeners are cancelled (drain your connections here; if
     * on_stop is NULL every connection is closed gracefully). */
    void (*on_start)(ring_worker *w, void *arg);
    void (*on_stop)(ring_worker *w, void *arg);
    void *arg;
} ring_config;

/* Create the workers (not yet running). [any thread] */
int ring_create(const ring_config *cfg, ring_t **out);
/* Start every worker thread and wait until each has probed the kernel and set up its ring.
 * On failure (e.g. -EOPNOTSUPP) ring_error() names what is missing. [any thread] */
int ring_start(ring_t *r);
const char *ring_error(const ring_t *r);
/* After ring_start: "" or one line to log once about a feature the kernel lacks, e.g. that
 * abortive closes are FINs because io_uring cannot set SO_LINGER (Linux < 6.7). [any thread] */
const char *ring_notice(const ring_t *r);
/* Tell every worker to stop (see ring_worker_stop), then wait for the threads. [any thread] */
void ring_stop(ring_t *r);
void ring_join(ring_t *r);
void ring_destroy(ring_t *r);

unsigned ring_nworkers(const ring_t *r);
ring_worker *ring_worker_at(ring_t *r, unsigned i);
unsigned ring_worker_index(const ring_worker *w); /* [any thread] */
/* Stop accepting (cancel listeners), run on_stop, exit once no connection is left. [any thread] */
void ring_worker_stop(ring_worker *w);
/* Milliseconds of CLOCK_MONOTONIC now (the clock ring_now_ms caches). [any thread] */
uint64_t ring_clock_ms(void);
/* Milliseconds of CLOCK_MONOTONIC as cached by the worker's loop. */
uint64_t ring_now_ms(const ring_worker *w);
/* Whether ring_conn_close(ABORT) resets the peer (TCP RST) on this worker's kernel. [any thread] */
bool ring_abort_sends_rst(const ring_worker *w);
/* Connections currently held (opening, open or closing). */
unsigned ring_worker_conns(const ring_worker *w);
/* Visit every open connection (e.g. to close them all from on_stop). fn may close c. */
void ring_foreach_conn(ring_worker *w, void (*fn)(ring_conn *c, void *arg), void *arg);

/* --- counters ----------------------------------------------------------------------------- */

/* Written by the worker only, with relaxed atomic word stores; any thread may read them. */
typedef struct ring_stats {
    uint64_t accepts, connects, adopts, recvs, bytes_in, bytes_out, sends, enobufs, send_cap_hits,
        closes, errors, stale_cqes, timers_fired, msgs;
    uint64_t conns;      /* gauge */
    uint64_t aborts;     /* ring_conn_close(ABORT) of an open or closing connection */
    uint64_t aborts_rst; /* of those, sent as a RST (SO_LINGER {1, 0} accepted) */
    /* loop passes (one io_uring_enter each), SQEs submitted, CQEs reaped */
    uint64_t enters, sqes, cqes;
    uint64_t tx_queued; /* gauge: bytes in every connection's send queue */
    uint64_t tx_cached; /* gauge: free send chunks kept for reuse (decays while unused) */
    /* provided receive buffers per group; each returns to the kernel in the batch that used it,
     * so between batches none is held by mpsd (enobufs counts when the kernel had none) */
    uint64_t rx_buffers, rx_big_buffers;
} ring_stats;
void ring_stats_read(const ring_worker *w, ring_stats *out); /* [any thread] */

/* --- connections -------------------------------------------------------------------------- */

/* Callback contract (all on the connection's worker thread):
 * - on_open(c): the connection is usable (accepted, connected, adopted or handed in).
 *   ring_conn_user(c) holds the listener's / ring_connect's user pointer; replace it with
 *   ring_conn_set_user. Everything below happens only after on_open.
 * - on_data(c, p, n): n > 0 bytes received; p is valid only during the call (the buffer returns to
 *   the ring right after), so copy or consume. Not called after ring_conn_close.
 * - on_eof(c): the peer sent FIN. NULL = close gracefully (flush what is queued, then close).
 * - on_writable(c): queued send bytes fell to the low-water mark after a send or reserve hit the
 *   cap, or as asked by ring_conn_want_writable.
 * - on_close(c, err): exactly once per opened connection, when the socket is closed and its slot
 *   freed; err is 0 for a local close or EOF, else the -errno that ended it. c is invalid after.
 * - on_connect_fail(w, user, err): ring_connect or ring_adopt_fd failed before on_open; there is
 *   no connection and no on_close.
 */
typedef struct ring_conn_cbs {
    void (*on_open)(ring_conn *c);
    void (*on_data)(ring_conn *c, const uint8_t *p, size_t n);
    void (*on_eof)(ring_conn *c);
    void (*on_writable)(ring_conn *c);
    void (*on_close)(ring_conn *c, int err);
    void (*on_connect_fail)(ring_worker *w, void *user, int err);
} ring_conn_cbs;

void *ring_conn_user(const ring_conn *c);
void ring_conn_set_user(ring_conn *c, void *user);
ring_worker *ring_conn_worker(const ring_conn *c);
/* A stable name for the connection that other threads may hold: (worker, slot, generation).
 * ring_conn_find returns NULL once that connection is gone, even if the slot was reused. */
uint64_t ring_conn_id(const ring_conn *c);
ring_conn *ring_conn_find(ring_worker *w, uint64_t id);
/* The peer's address into out (*len: its size in, the address length out): 0, or -ENOTCONN when
 * it is not known (a connection handed in from another worker keeps it; an adopted fd whose
 * getpeername failed does not). */
int ring_conn_peer(const ring_conn *c, struct sockaddr *out, socklen_t *len);

/* Copy up to len bytes into the connection's send queue. Returns the bytes accepted (less than
 * len when the cap is hit: on_writable fires later), -EPIPE if closing, -ENOMEM. */
ssize_t ring_conn_send(ring_conn *c, const void *data, size_t len);
/* Write in place (e.g. encrypt straight into the send queue): reserve returns the room (> 0) at
 * *p in the tail chunk, bounded by the cap, or -EAGAIN at the cap (on_writable follows), -EPIPE,
 * -ENOMEM. commit(n <= room) queues n bytes. Commit before calling anything else on c. */
ssize_t ring_conn_reserve(ring_conn *c, void **p);
/* Ask for one on_writable once queued send bytes are at or below the low-water mark (see
 * ring_conn_set_send_cap; lowat 0 = the queue is empty, e.g. before ring_conn_handoff). Never
 * called back from inside this call: if the queue is already low enough, on_writable comes from
 * the worker loop on the next pass (before it waits). Delivered only while c is open (not after
 * ring_conn_close or a hand-off), and once per request; requests made before it is delivered,
 * and a pending cap hit, share that one callback. Ask again from on_writable for another. */
void ring_conn_want_writable(ring_conn *c);
int ring_conn_commit(ring_conn *c, size_t n);
size_t ring_conn_queued(const ring_conn *c);
void ring_conn_set_send_cap(ring_conn *c, unsigned cap, unsigned lowat);

/* Stop / restart receiving (flow control toward this peer). Data already received by the kernel
 * for an in-flight completion may still arrive once after pause. */
void ring_conn_pause_recv(ring_conn *c);
void ring_conn_resume_recv(ring_conn *c);
/* Bounded receives: one receive buffer per arming instead of a multishot receive, so that after
 * ring_conn_pause_recv at most one more on_data comes. A multishot receive keeps filling buffers
 * with whatever the socket holds until the cancel lands, which for a fast sender is megabytes in
 * one loop iteration; a connection that applies flow control to its peer (a console relayed into
 * an APF window) wants the bound, at one SQE per received buffer. Takes effect at the next arming;
 * a handed-off connection starts unbounded again. */
void ring_conn_set_recv_bounded(ring_conn *c, bool on);

enum { RING_CLOSE_GRACEFUL = 0, RING_CLOSE_ABORT = 1 };
/* GRACEFUL: flush the queue, shutdown(SHUT_WR), discard input until the peer's FIN (a paused
 * receive is resumed for that), close; bounded by linger_ms, after which it aborts. ABORT: drop the
 * queue, cancel I/O, close now; the peer gets a RST where the kernel lets io_uring set SO_LINGER
 * {1, 0} (Linux 6.7, ring_abort_sends_rst), else a FIN. Either way on_close follows exactly once;
 * calling close again only upgrades GRACEFUL to ABORT. */
void ring_conn_close(ring_conn *c, int how);

/* --- listeners and outbound connections --------------------------------------------------- */

/* SO_REUSEPORT listener on this worker with multishot accept into direct descriptors. Call it on
 * each worker with the same address to spread accepts over workers. Port 0 picks one: read it
 * back with ring_listener_port. */
int ring_listen(ring_worker *w, const struct sockaddr *addr, socklen_t len, int backlog,
                const ring_conn_cbs *cb, void *user, ring_listener **out);
int ring_listener_port(const ring_listener *l);
void ring_listener_close(ring_listener *l);

/* Connect to dst, optionally bound to src first (a transient fd is used for the bind, then the
 * socket moves into the file table). Result: cb->on_open or cb->on_connect_fail. */
int ring_connect(ring_worker *w, const struct sockaddr *dst, socklen_t dlen,
                 const struct sockaddr *src, socklen_t slen, const ring_conn_cbs *cb, void *user);
/* Take ownership of a connected socket fd (closed once installed). Result as for ring_connect. */
int ring_adopt_fd(ring_worker *w, int fd, const ring_conn_cbs *cb, void *user);
/* Move c to another worker (IORING_MSG_SEND_FD): c must have nothing queued. The connection ends
 * here without on_close and reappears on `to` through cb->on_open with user. On failure c is
 * aborted (on_close with the error). */
int ring_conn_handoff(ring_conn *c, ring_worker *to, const ring_conn_cbs *cb, void *user);

/* --- timers ------------------------------------------------------------------------------- */

/* Embed in your own state. Timer wheel with tick_ms resolution; arm/re-arm/cancel are O(1);
 * re-arming to a later deadline only updates a field (the entry moves when its slot comes up). */
typedef struct ring_timer {
    struct ring_timer *prev, *next;
    uint64_t due;  /* tick at which it fires */
    uint64_t slot; /* tick whose wheel slot holds it */
    void (*fn)(struct ring_timer *t);
} ring_timer;

void ring_timer_init(ring_timer *t, void (*fn)(ring_timer *t));
void ring_timer_arm(ring_worker *w, ring_timer *t, uint64_t after_ms);
void ring_timer_cancel(ring_worker *w, ring_timer *t);
int ring_timer_armed(const ring_timer *t);

/* --- mailbox ------------------------------------------------------------------------------ */

/* Embed in your message. fn runs on the target worker's thread; the memory stays the caller's
 * (free it in fn if it was allocated for the trip). */
typedef struct ring_msg {
    struct ring_msg *next;
    void (*fn)(ring_worker *w, struct ring_msg *m);
} ring_msg;

/* Queue m for w. [any thread] Returns -ESHUTDOWN once w has exited. */
int ring_post(ring_worker *w, ring_msg *m);
/* Run fn(w, arg) on w's thread and wait for its return value. Not from a worker thread. */
int ring_call(ring_worker *w, int (*fn)(ring_worker *w, void *arg), void *arg);

#endif
