/* Flow control and close: backpressure against a peer that stops reading, graceful close
 * flushing what is queued, and on_close exactly once whichever way a connection ends. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int listen_with(ring_t *r, const ring_conn_cbs *cb)
{
    listen_args la = {.len = sizeof(struct sockaddr_in), .cb = cb};
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(r, 0), listen_on_worker, &la), 0);
    return la.port;
}

static int dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr4("127.0.0.1", port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    return fd;
}

/* --- a server that floods each connection with FLOOD bytes, then closes gracefully ---------- */

#define FLOOD (32u << 20)
#define CAP   65536
static atomic_uint max_queued, flood_closes;

typedef struct flood {
    size_t produced;
} flood;

static void flood_pump(ring_conn *c)
{
    flood *f = ring_conn_user(c);
    uint8_t buf[16384];
    while (f->produced < FLOOD) {
        size_t n = FLOOD - f->produced < sizeof(buf) ? FLOOD - f->produced : sizeof(buf);
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern_byte(0, f->produced + i);
        ssize_t k = ring_conn_send(c, buf, n);
        cr_assert_geq(k, 0);
        f->produced += (size_t)k;
        unsigned q = (unsigned)ring_conn_queued(c);
        if (q > atomic_load(&max_queued))
            atomic_store(&max_queued, q);
        if ((size_t)k < n)
            return; /* at the cap: on_writable calls back */
    }
    ring_conn_close(c, RING_CLOSE_GRACEFUL);
}

static void flood_open(ring_conn *c)
{
    ring_conn_set_user(c, calloc(1, sizeof(flood)));
    flood_pump(c);
}

static void flood_writable(ring_conn *c)
{
    atomic_fetch_add(&H.writable, 1);
    flood_pump(c);
}

static void flood_close(ring_conn *c, int err)
{
    cr_assert_eq(err, 0);
    free(ring_conn_user(c));
    atomic_fetch_add(&flood_closes, 1);
}

static const ring_conn_cbs flood_cbs = {
    .on_open = flood_open, .on_writable = flood_writable, .on_close = flood_close};

Test(ring_flow, backpressure_cap_and_writable, .timeout = 30)
{
    ring_config sc = {.workers = 1, .files = 64, .send_cap = CAP, .send_lowat = CAP / 4};
    ring_t *srv = start_ring(&sc);
    int fd = dial(listen_with(srv, &flood_cbs));

    usleep(300 * 1000); /* not reading: kernel buffers fill, then the queue stops moving */
    unsigned w1 = atomic_load(&H.writable);
    usleep(100 * 1000);
    cr_assert_eq(atomic_load(&H.writable), w1, "queue kept draining with a stalled peer");
    cr_assert_leq(atomic_load(&max_queued), CAP);
    ring_stats st;
    ring_stats_read(ring_worker_at(srv, 0), &st);
    cr_assert_gt(st.send_cap_hits, 0);
    cr_assert_lt(st.bytes_out, FLOOD, "the whole flood fit in kernel buffers: raise FLOOD");

    static uint8_t buf[1 << 16];
    size_t got = 0;
    bool ok = true;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n && ok; i++)
            ok = buf[i] == pattern_byte(0, got + (size_t)i);
        got += (size_t)n;
    }
    cr_assert(ok, "bytes out of order");
    cr_assert_eq(got, FLOOD);
    cr_assert_gt(atomic_load(&H.writable), w1, "on_writable did not fire after resuming");
    close(fd); /* our FIN ends the server's lingering close */
    cr_assert(wait_count(&flood_closes, 1, 5000));
    cr_assert_leq(atomic_load(&max_queued), CAP);
    ring_stop(srv);
    ring_destroy(srv);
}

/* After a transfer the free send chunks stay cached for reuse (at most tx_cache), then decay: each
 * second half of those left unused are freed, so an idle worker gives them all back. */
static bool nothing_cached(void *arg)
{
    ring_stats st;
    ring_stats_read(arg, &st);
    return st.tx_cached == 0;
}

Test(ring_flow, send_chunk_cache_decays_once_idle, .timeout = 30)
{
    ring_config sc = {.workers = 1,
                      .files = 64,
                      .send_cap = CAP,
                      .send_lowat = CAP / 4,
                      .tx_cache = 16,
                      .tick_ms = 20};
    ring_t *srv = start_ring(&sc);
    int fd = dial(listen_with(srv, &flood_cbs));
    static uint8_t buf[1 << 16];
    size_t got = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    cr_assert_eq(got, FLOOD);
    close(fd);
    cr_assert(wait_count(&flood_closes, 1, 5000));
    ring_worker *w = ring_worker_at(srv, 0);
    ring_stats st;
    ring_stats_read(w, &st);
    cr_assert_eq(st.tx_queued, 0, "%llu bytes still counted as queued",
                 (unsigned long long)st.tx_queued);
    cr_assert_gt(st.tx_cached, 0, "the chunks of the transfer are kept for reuse");
    cr_assert_leq(st.tx_cached, 16, "no more than tx_cache are kept");
    /* 16 -> 8 -> 4 -> 2 -> 1 -> 0, one step a second */
    cr_assert(wait_until(nothing_cached, w, 10000), "the cache did not decay while idle");
    ring_stop(srv);
    ring_destroy(srv);
}

/* --- close in every way: on_close exactly once ---------------------------------------- */

typedef struct closer {
    int closes;
    bool acted;
} closer;
static atomic_uint closer_closed, closer_twice, closer_errs;
static closer closers[8]; /* never freed, so a second on_close would be counted, not a UAF */
static unsigned ncloser;  /* worker thread only */

static void closer_open(ring_conn *c)
{
    ring_conn_set_user(c, &closers[ncloser++ % 8]);
}

/* The first byte the client sends says how the server should end the connection. */
static void closer_data(ring_conn *c, const uint8_t *p, size_t n)
{
    closer *k = ring_conn_user(c);
    if (k->acted)
        return;
    k->acted = true;
    static uint8_t big[1 << 20];
    switch (p[0]) {
    case 'g': /* queue 1 MiB, close gracefully: all of it must arrive before FIN */
        for (size_t i = 0; i < sizeof(big); i++)
            big[i] = pattern_byte(1, i);
        ring_conn_set_send_cap(c, 2u << 20, 1u << 20);
        cr_assert_eq(ring_conn_send(c, big, sizeof(big)), (ssize_t)sizeof(big));
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        break;
    case 'a':
        ring_conn_close(c, RING_CLOSE_ABORT);
        break;
    case 'd': /* twice, then a send after close */
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        ring_conn_close(c, RING_CLOSE_ABORT);
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
        cr_assert_eq(ring_conn_send(c, "x", 1), -EPIPE);
        break;
    default: /* 'e': wait for the client's FIN */
        break;
    }
    (void)n;
}

static void closer_close(ring_conn *c, int err)
{
    closer *k = ring_conn_user(c);
    if (++k->closes > 1)
        atomic_fetch_add(&closer_twice, 1);
    if (err)
        atomic_fetch_add(&closer_errs, 1);
    atomic_fetch_add(&closer_closed, 1);
}

static const ring_conn_cbs closer_cbs = {
    .on_open = closer_open, .on_data = closer_data, .on_close = closer_close};

Test(ring_flow, close_exactly_once, .timeout = 20)
{
    ring_config sc = {.workers = 1, .files = 64, .linger_ms = 2000};
    ring_t *srv = start_ring(&sc);
    int port = listen_with(srv, &closer_cbs);
    int g = dial(port), a = dial(port), d = dial(port), e = dial(port);
    cr_assert_eq(write(g, "g", 1), 1);
    cr_assert_eq(write(a, "a", 1), 1);
    cr_assert_eq(write(d, "d", 1), 1);
    cr_assert_eq(write(e, "e", 1), 1);

    static uint8_t buf[1 << 16];
    size_t got = 0;
    bool ok = true;
    ssize_t n;
    while ((n = read(g, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n && ok; i++)
            ok = buf[i] == pattern_byte(1, got + (size_t)i);
        got += (size_t)n;
    }
    cr_assert_eq(n, 0, "graceful close must end with FIN, not an error");
    cr_assert(ok);
    cr_assert_eq(got, 1u << 20, "graceful close lost queued bytes");
    cr_assert_leq(read(a, buf, 1), 0);
    cr_assert_leq(read(d, buf, 1), 0);
    shutdown(e, SHUT_WR); /* EOF path: the server closes by default */
    cr_assert_eq(read(e, buf, 1), 0);
    close(g);
    close(a);
    close(d);
    close(e);
    cr_assert(wait_count(&closer_closed, 4, 5000));
    usleep(50 * 1000);
    cr_assert_eq(atomic_load(&closer_closed), 4);
    cr_assert_eq(atomic_load(&closer_twice), 0);
    cr_assert_eq(atomic_load(&closer_errs), 0);
    ring_stats st; /* the aborted and the graceful 1 MiB left nothing counted as queued */
    ring_stats_read(ring_worker_at(srv, 0), &st);
    cr_assert_eq(st.tx_queued, 0, "%llu bytes", (unsigned long long)st.tx_queued);
    ring_stop(srv);
    ring_destroy(srv);
}

/* A peer that never reads: graceful close gives up after linger_ms and reports -ETIMEDOUT. */
static atomic_int linger_err = 1;
static void stuck_open(ring_conn *c)
{
    static uint8_t big[1 << 20];
    ring_conn_set_send_cap(c, 64u << 20, 0);
    for (int i = 0; i < 32; i++)
        ring_conn_send(c, big, sizeof(big));
    ring_conn_close(c, RING_CLOSE_GRACEFUL);
}
static void stuck_close(ring_conn *c, int err)
{
    atomic_store(&linger_err, err);
}
static const ring_conn_cbs stuck_cbs = {.on_open = stuck_open, .on_close = stuck_close};

Test(ring_flow, graceful_close_is_bounded_by_linger, .timeout = 10)
{
    ring_config sc = {.workers = 1, .files = 64, .linger_ms = 300, .tick_ms = 20};
    ring_t *srv = start_ring(&sc);
    int fd = dial(listen_with(srv, &stuck_cbs));
    for (int i = 0; i < 200 && atomic_load(&linger_err) == 1; i++)
        usleep(10 * 1000);
    cr_assert_eq(atomic_load(&linger_err), -ETIMEDOUT);
    close(fd);
    ring_stop(srv);
    ring_destroy(srv);
}
