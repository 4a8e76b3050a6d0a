/* ring_conn_set_recv_bounded: with bounded receives a pause stops a fast sender within one
 * receive buffer (at most one on_data after ring_conn_pause_recv), and resuming delivers the rest
 * byte-exact. A multishot receive may deliver megabytes after the pause, which is what a console
 * relayed into an APF window cannot hold; the console glue relies on this bound. */
#include "harness.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define TOTAL    (8u << 20) /* far more than one loop iteration's worth of buffers */
#define RX_SIZE  16384      /* multishot buffers */
#define BIG_SIZE 65536      /* bounded receives' buffers */

static atomic_ullong got_bytes, after_pause_calls, after_pause_bytes, bad_bytes;
static atomic_uint paused_once, closed;
static ring_conn *held; /* worker thread only */
static bool bounded = true;

/* Paused from the start, so the socket fills up before the first receive is armed: the case in
 * which a multishot receive takes many buffers in one go. */
static void b_open(ring_conn *c)
{
    ring_conn_set_recv_bounded(c, bounded);
    ring_conn_pause_recv(c);
    held = c;
}

static void b_data(ring_conn *c, const uint8_t *p, size_t n)
{
    uint64_t off = atomic_fetch_add(&got_bytes, n);
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)((off + i) * 7))
            atomic_fetch_add(&bad_bytes, 1);
    if (atomic_load(&paused_once) == 1) {
        atomic_fetch_add(&after_pause_calls, 1);
        atomic_fetch_add(&after_pause_bytes, n);
        return;
    }
    if (atomic_load(&paused_once) == 3) { /* the first receive after the first resume */
        ring_conn_pause_recv(c);          /* as a console does when its channel is full */
        atomic_store(&paused_once, 1);
    }
}

static void b_close(ring_conn *c, int err)
{
    (void)c, (void)err;
    atomic_fetch_add(&closed, 1);
}

static const ring_conn_cbs b_cbs = {.on_open = b_open, .on_data = b_data, .on_close = b_close};

static int resume_held(ring_worker *w, void *arg)
{
    (void)w;
    atomic_store(&paused_once, *(unsigned *)arg);
    ring_conn_resume_recv(held);
    return 0;
}

static void *writer(void *arg)
{
    int fd = *(int *)arg;
    static uint8_t buf[1 << 16];
    for (size_t off = 0; off < TOTAL; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)((off + i) * 7);
        size_t done = 0;
        while (done < sizeof(buf)) {
            ssize_t k = write(fd, buf + done, sizeof(buf) - done);
            if (k <= 0)
                return NULL;
            done += (size_t)k;
        }
    }
    shutdown(fd, SHUT_WR);
    return NULL;
}

static bool paused_and_settled(void *arg)
{
    (void)arg;
    return atomic_load(&paused_once) == 1;
}

static void run(void)
{
    ring_config sc = {.workers = 1,
                      .files = 64,
                      .rx_buf_size = RX_SIZE,
                      .rx_buf_count = 256,
                      .rx_big_size = BIG_SIZE,
                      .rx_big_count = 16,
                      .tick_ms = 20};
    ring_t *srv = start_ring(&sc);
    listen_args la = {.len = sizeof(struct sockaddr_in), .cb = &b_cbs};
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), listen_on_worker, &la), 0);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    a = addr4("127.0.0.1", la.port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    pthread_t t;
    pthread_create(&t, NULL, writer, &fd);
    usleep(300 * 1000); /* the socket fills while the receiver is paused */
    unsigned first = 3, rest = 2;
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), resume_held, &first), 0);
    cr_assert(wait_until(paused_and_settled, NULL, 10000), "the receiver never paused");
    usleep(300 * 1000); /* the writer keeps the socket full meanwhile */
    cr_assert_leq(atomic_load(&after_pause_calls), 1, "%llu on_data calls after the pause",
                  (unsigned long long)atomic_load(&after_pause_calls));
    cr_assert_leq(atomic_load(&after_pause_bytes), BIG_SIZE);
    unsigned long long before = atomic_load(&got_bytes);
    cr_assert_leq(before, 2 * BIG_SIZE, "%llu bytes taken while paused", before);
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), resume_held, &rest), 0);
    for (int i = 0; i < 1000 && atomic_load(&got_bytes) < TOTAL; i++)
        usleep(10 * 1000);
    pthread_join(t, NULL);
    cr_assert_eq(atomic_load(&got_bytes), TOTAL, "everything arrives after the resume");
    cr_assert_eq(atomic_load(&bad_bytes), 0, "byte-exact");
    close(fd);
    ring_stop(srv);
    ring_destroy(srv);
}

Test(ring_bounded, a_pause_stops_a_fast_sender_within_one_buffer, .timeout = 30)
{
    run();
}
