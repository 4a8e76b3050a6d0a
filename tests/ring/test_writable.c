/* ring_conn_want_writable: on_writable on demand. Already at or below the low-water mark (it
 * still comes, from the loop, never inside the call), above it and then drained (comes once the
 * peer reads; with lowat 0 the queue is empty and a hand-off is allowed), and never after close.
 * The first byte a client sends picks the server's behaviour. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BIG (16u << 20) /* more than loopback socket buffers hold, so the queue stays above 0 */

typedef struct wstate {
    char mode;
    pthread_t thread;
    unsigned writable;   /* on_writable calls */
    unsigned closes;     /* on_close calls */
    size_t queued_at_cb; /* ring_conn_queued at the first on_writable */
    int handoff_rc;
    bool bad_thread, sync_cb, bad_mark;
} wstate;

static wstate states[8]; /* never freed, so a late callback is counted, not a UAF */
static unsigned nstates; /* worker 0 thread only */
static atomic_uint w_closed, n_writable, handed_in;
static bool inside_call; /* worker 0 thread only: set around ring_conn_want_writable */
static ring_worker *target;
static uint8_t big[BIG];

static void ask(ring_conn *c)
{
    inside_call = true;
    ring_conn_want_writable(c);
    inside_call = false;
}

static void w_open(ring_conn *c)
{
    wstate *s = &states[nstates++ % 8];
    s->thread = pthread_self();
    ring_conn_set_user(c, s);
}

static void w_data(ring_conn *c, const uint8_t *p, size_t n)
{
    wstate *s = ring_conn_user(c);
    (void)n;
    if (s->mode)
        return;
    s->mode = (char)p[0];
    switch (s->mode) {
    case 'b': /* 1000 bytes queued, mark 32 KiB: already below; ask twice, one callback */
        ring_conn_set_send_cap(c, 65536, 32768);
        cr_assert_eq(ring_conn_send(c, big, 1000), 1000);
        ask(c);
        ask(c);
        break;
    case 'e': /* empty queue, lowat 0 */
        ring_conn_set_send_cap(c, 65536, 0);
        ask(c);
        break;
    case 'd': /* BIG queued, lowat 0: only once the peer has read it all */
    case 'g': /* the same, then a graceful close: the bytes flush but no on_writable */
    case 'a': /* the same, then an abort */
        ring_conn_set_send_cap(c, 2 * BIG, 0);
        cr_assert_eq(ring_conn_send(c, big, BIG), (ssize_t)BIG);
        ask(c);
        if (s->mode != 'd')
            ring_conn_close(c, s->mode == 'g' ? RING_CLOSE_GRACEFUL : RING_CLOSE_ABORT);
        break;
    case 'c': /* empty queue, ask, close in the same callback: the loop must not deliver */
        ring_conn_set_send_cap(c, 65536, 0);
        ask(c);
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        break;
    default:
        break;
    }
}

static void h_open(ring_conn *c)
{
    atomic_fetch_add(&handed_in, 1);
    ring_conn_close(c, RING_CLOSE_GRACEFUL);
}
static const ring_conn_cbs handed_cbs = {.on_open = h_open};

static void w_writable(ring_conn *c)
{
    wstate *s = ring_conn_user(c);
    if (!pthread_equal(s->thread, pthread_self()))
        s->bad_thread = true;
    if (inside_call)
        s->sync_cb = true;
    if (s->writable++ == 0)
        s->queued_at_cb = ring_conn_queued(c);
    atomic_fetch_add(&n_writable, 1);
    switch (s->mode) {
    case 'b':
        if (ring_conn_queued(c) > 32768)
            s->bad_mark = true;
        if (s->writable < 5) /* re-asking from the callback is served on a later pass */
            ask(c);
        else
            ring_conn_close(c, RING_CLOSE_GRACEFUL);
        break;
    case 'e':
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        break;
    case 'd': /* lowat 0: the queue is empty, so the connection may move */
        s->handoff_rc = ring_conn_handoff(c, target, &handed_cbs, NULL);
        break;
    default:
        break;
    }
}

static void w_close(ring_conn *c, int err)
{
    wstate *s = ring_conn_user(c);
    s->closes++;
    (void)err;
    atomic_fetch_add(&w_closed, 1);
}

static const ring_conn_cbs w_cbs = {
    .on_open = w_open, .on_data = w_data, .on_writable = w_writable, .on_close = w_close};

static ring_t *srv;

static int dial_mode(char mode)
{
    listen_args la = {.len = sizeof(struct sockaddr_in), .cb = &w_cbs};
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), listen_on_worker, &la), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a = addr4("127.0.0.1", la.port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(write(fd, &mode, 1), 1);
    return fd;
}

/* read until EOF or error; returns bytes read */
static size_t drain(int fd)
{
    static uint8_t buf[1 << 16];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    return got;
}

static void setup(void)
{
    ring_config sc = {.workers = 2, .files = 64, .linger_ms = 2000, .tick_ms = 20};
    srv = start_ring(&sc);
    target = ring_worker_at(srv, 1);
}

static void teardown(void)
{
    ring_stop(srv);
    ring_destroy(srv);
}

static wstate *state_of(char mode)
{
    for (unsigned i = 0; i < 8; i++)
        if (states[i].mode == mode)
            return &states[i];
    return NULL;
}

Test(ring_writable, already_below_lowat, .init = setup, .fini = teardown, .timeout = 20)
{
    int b = dial_mode('b'), e = dial_mode('e');
    cr_assert_eq(drain(b), 1000);
    cr_assert_eq(drain(e), 0);
    close(b); /* our FIN ends the server's lingering close */
    close(e);
    cr_assert(wait_count(&w_closed, 2, 5000));
    wstate *sb = state_of('b'), *se = state_of('e');
    cr_assert(sb && se);
    cr_assert_eq(sb->writable, 5, "two asks before delivery share one callback; 4 re-asks");
    cr_assert_leq(sb->queued_at_cb, 32768);
    cr_assert_eq(se->writable, 1);
    cr_assert_eq(se->queued_at_cb, 0);
    cr_assert(!sb->sync_cb && !se->sync_cb, "on_writable ran inside ring_conn_want_writable");
    cr_assert(!sb->bad_thread && !se->bad_thread);
    cr_assert(!sb->bad_mark);
    cr_assert_eq(sb->closes + se->closes, 2);
}

Test(ring_writable, above_lowat_then_drained, .init = setup, .fini = teardown, .timeout = 20)
{
    int d = dial_mode('d');
    usleep(300 * 1000); /* not reading: the queue cannot reach lowat 0 */
    cr_assert_eq(atomic_load(&n_writable), 0, "on_writable before the queue drained");
    cr_assert_eq(drain(d), BIG); /* the handed-in side closes gracefully: EOF ends this */
    wstate *s = state_of('d');
    cr_assert(s);
    cr_assert_eq(s->writable, 1);
    cr_assert_eq(s->queued_at_cb, 0);
    cr_assert_eq(s->handoff_rc, 0, "lowat 0 must mean the queue is empty: handoff %d",
                 s->handoff_rc);
    cr_assert(!s->sync_cb && !s->bad_thread);
    cr_assert(wait_count(&handed_in, 1, 2000));
    close(d);
}

Test(ring_writable, none_after_close, .init = setup, .fini = teardown, .timeout = 20)
{
    int c = dial_mode('c'), g = dial_mode('g'), a = dial_mode('a');
    cr_assert_eq(drain(c), 0);
    cr_assert_eq(drain(g), BIG, "graceful close must still flush");
    drain(a);
    close(c);
    close(g);
    close(a);
    cr_assert(wait_count(&w_closed, 3, 5000));
    usleep(100 * 1000);
    cr_assert_eq(atomic_load(&n_writable), 0, "on_writable after ring_conn_close");
    cr_assert_eq(atomic_load(&w_closed), 3);
    for (unsigned i = 0; i < 3; i++)
        cr_assert_eq(states[i].closes, 1);
}
