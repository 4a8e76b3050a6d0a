/* Abortive close as a TCP RST (SO_LINGER {1, 0} through io_uring on the direct descriptor, rst.c):
 * a blocking peer that reads after the close sees ECONNRESET for an abort and EOF for a graceful
 * close. On a kernel without io_uring setsockopt (< 6.7) the abort test is skipped with the
 * runtime's notice; the graceful one runs everywhere. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static atomic_uint closed;

/* The first byte says how the server closes: 'A' abort, 'G' graceful, 'Q' queue 1 MiB then abort
 * (what was queued is dropped, the peer still gets a reset and not a truncated stream + FIN). */
static void rst_data(ring_conn *c, const uint8_t *p, size_t n)
{
    (void)n;
    if (p[0] == 'Q') {
        static uint8_t big[1 << 20];
        (void)ring_conn_send(c, big, sizeof(big));
    }
    ring_conn_close(c, p[0] == 'G' ? RING_CLOSE_GRACEFUL : RING_CLOSE_ABORT);
}
static void rst_close(ring_conn *c, int err)
{
    (void)c;
    (void)err;
    atomic_fetch_add(&closed, 1);
}
static const ring_conn_cbs rst_cbs = {NULL, rst_data, NULL, NULL, rst_close, NULL};

static int serve(ring_t **r)
{
    ring_config c = {.workers = 1, .files = 64, .linger_ms = 2000};
    *r = start_ring(&c);
    listen_args la = {.len = sizeof(struct sockaddr_in), .cb = &rst_cbs};
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(*r, 0), listen_on_worker, &la), 0);
    return la.port;
}

/* Connect, send the command byte, read until the end: returns 0 for EOF, -errno for an error.
 * A 'Q' server may deliver some of its queued bytes before the reset: they are read past. */
static int peer_outcome(int port, char cmd)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = addr4("127.0.0.1", port);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect: %s", strerror(errno));
    cr_assert_eq(send(fd, &cmd, 1, 0), 1);
    /* give the close time to happen before the first read: the test is what a read *after* the
     * close sees */
    if (cmd != 'G') /* a graceful close waits for our FIN (linger) */
        cr_assert(wait_count(&closed, atomic_load(&closed) + 1, 5000), "server never closed");
    char buf[65536];
    ssize_t k;
    while ((k = recv(fd, buf, sizeof(buf), 0)) > 0)
        ;
    int out = k == 0 ? 0 : -errno;
    close(fd);
    return out;
}

Test(ring_rst, abort_resets_the_peer, .timeout = 30)
{
    ring_t *r;
    int port = serve(&r);
    ring_worker *w = ring_worker_at(r, 0);
    if (!ring_abort_sends_rst(w)) {
        cr_assert_neq(ring_notice(r)[0], '\0', "no RST and no notice saying why");
        cr_assert_eq(peer_outcome(port, 'A'), 0, "fallback abort must still end in EOF");
        ring_stop(r);
        ring_destroy(r);
        cr_skip_test("kernel cannot set SO_LINGER through io_uring: %s", ring_notice(r));
    }
    cr_assert_eq(ring_notice(r)[0], '\0', "notice on a kernel that resets: %s", ring_notice(r));
    int got = peer_outcome(port, 'A');
    cr_assert_eq(got, -ECONNRESET, "peer saw %s after an abortive close, not ECONNRESET",
                 got ? strerror(-got) : "EOF");
    got = peer_outcome(port, 'Q');
    cr_assert_eq(got, -ECONNRESET, "abort with 1 MiB queued: peer saw %s",
                 got ? strerror(-got) : "EOF");
    ring_stats st;
    ring_stats_read(w, &st);
    cr_assert_eq(st.aborts, 2);
    cr_assert_eq(st.aborts_rst, 2);
    ring_stop(r);
    ring_destroy(r);
}

Test(ring_rst, graceful_close_is_still_a_fin, .timeout = 30)
{
    ring_t *r;
    int port = serve(&r);
    cr_assert_eq(peer_outcome(port, 'G'), 0, "graceful close must end in EOF");
    ring_stats st;
    ring_stats_read(ring_worker_at(r, 0), &st);
    cr_assert_eq(st.aborts, 0);
    cr_assert_eq(st.aborts_rst, 0);
    ring_stop(r);
    ring_destroy(r);
}
