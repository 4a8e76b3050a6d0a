/* Echo over the runtime: many connections beyond the fd limit, large ordered transfers, a tiny
 * buffer ring (ENOBUFS), IPv6, SO_REUSEPORT over two workers, outbound from 127.0.0.x. */
#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int listen4(ring_worker *w, const char *ip, int port)
{
    listen_args la = {.len = sizeof(struct sockaddr_in)};
    struct sockaddr_in a = addr4(ip, port);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(w, listen_on_worker, &la), 0);
    return la.port;
}

static clients_args *clients4(const char *ip, int port, unsigned n, size_t bytes)
{
    clients_args *ca = calloc(1, sizeof(*ca));
    struct sockaddr_in d = addr4(ip, port);
    memcpy(&ca->dst, &d, sizeof(d));
    ca->dlen = sizeof(d);
    ca->n = n;
    ca->bytes = bytes;
    ca->plans = calloc(n, sizeof(client_plan));
    return ca;
}

static void finish(ring_t *srv, ring_t *cli, clients_args *ca)
{
    ring_stop(cli);
    ring_stop(srv);
    ring_destroy(cli);
    ring_destroy(srv);
    if (ca) {
        free(ca->plans);
        free(ca);
    }
}

Test(ring_echo, two_thousand_conns_past_fd_limit, .timeout = 30)
{
    ring_config sc = {.workers = 1, .files = 4096, .rx_buf_count = 256, .rx_buf_size = 4096};
    ring_config cc = sc;
    ring_t *srv = start_ring(&sc), *cli = start_ring(&cc);
    int port = listen4(ring_worker_at(srv, 0), "127.0.0.1", 0);

    /* Tables are registered: from here the process may hold only 256 fds. */
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = 256;
    cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);

    const unsigned n = 2000;
    clients_args *ca = clients4("127.0.0.1", port, n, 1000);
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.client_ok, n, 20000), "ok %u bad %u fail %u", H.client_ok, H.client_bad,
              H.connect_fail);
    cr_assert(wait_count(&H.closed, n, 5000));
    ring_stats st;
    ring_stats_read(ring_worker_at(srv, 0), &st);
    cr_assert_eq(st.accepts, n);
    cr_assert_eq(st.closes, n);
    cr_assert_eq(H.double_close, 0);
    cr_assert_eq(H.client_bad, 0);
    finish(srv, cli, ca);
}

Test(ring_echo, large_transfer_in_order, .timeout = 30)
{
    ring_config sc = {.workers = 1, .files = 64, .send_cap = 65536};
    ring_t *srv = start_ring(&sc), *cli = start_ring(&sc);
    int port = listen4(ring_worker_at(srv, 0), "127.0.0.1", 0);
    clients_args *ca = clients4("127.0.0.1", port, 4, 16u << 20);
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.client_ok, 4, 25000), "ok %u bad %u bytes %llu", H.client_ok,
              H.client_bad, (unsigned long long)H.bytes);
    cr_assert_eq(H.bytes, 4ull * (16u << 20));
    ring_stats st;
    ring_stats_read(ring_worker_at(srv, 0), &st);
    cr_assert_eq(st.bytes_in, 4ull * (16u << 20));
    cr_assert_eq(st.bytes_out, 4ull * (16u << 20));
    finish(srv, cli, ca);
}

Test(ring_echo, tiny_buffer_ring_enobufs, .timeout = 30)
{
    ring_config sc = {.workers = 1, .files = 256, .rx_buf_count = 2, .rx_buf_size = 512};
    ring_config cc = {.workers = 1, .files = 256};
    ring_t *srv = start_ring(&sc), *cli = start_ring(&cc);
    int port = listen4(ring_worker_at(srv, 0), "127.0.0.1", 0);
    clients_args *ca = clients4("127.0.0.1", port, 32, 256 << 10);
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.client_ok, 32, 25000), "ok %u bad %u", H.client_ok, H.client_bad);
    ring_stats st;
    ring_stats_read(ring_worker_at(srv, 0), &st);
    cr_assert_gt(st.enobufs, 0, "no ENOBUFS with a 2-buffer ring");
    cr_assert_eq(st.bytes_in, 32ull * (256 << 10));
    finish(srv, cli, ca);
}

Test(ring_echo, ipv6_loopback, .timeout = 15)
{
    ring_config sc = {.workers = 1, .files = 64};
    ring_t *srv = start_ring(&sc), *cli = start_ring(&sc);
    listen_args la = {.len = sizeof(struct sockaddr_in6)};
    struct sockaddr_in6 a = addr6_loopback(0);
    memcpy(&la.addr, &a, sizeof(a));
    cr_assert_eq(ring_call(ring_worker_at(srv, 0), listen_on_worker, &la), 0);
    clients_args *ca = calloc(1, sizeof(*ca));
    a = addr6_loopback(la.port);
    memcpy(&ca->dst, &a, sizeof(a));
    ca->dlen = sizeof(a);
    ca->n = 8;
    ca->bytes = 100000;
    ca->plans = calloc(8, sizeof(client_plan));
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.client_ok, 8, 10000));
    finish(srv, cli, ca);
}

Test(ring_echo, reuseport_two_workers, .timeout = 15)
{
    ring_config sc = {.workers = 2, .files = 512};
    ring_config cc = {.workers = 1, .files = 512};
    ring_t *srv = start_ring(&sc), *cli = start_ring(&cc);
    int port = listen4(ring_worker_at(srv, 0), "127.0.0.1", 0);
    cr_assert_eq(listen4(ring_worker_at(srv, 1), "127.0.0.1", port), port);
    clients_args *ca = clients4("127.0.0.1", port, 200, 100);
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.client_ok, 200, 10000));
    ring_stats s0, s1;
    ring_stats_read(ring_worker_at(srv, 0), &s0);
    ring_stats_read(ring_worker_at(srv, 1), &s1);
    cr_assert_eq(s0.accepts + s1.accepts, 200);
    cr_assert_gt(s0.accepts, 0);
    cr_assert_gt(s1.accepts, 0);
    finish(srv, cli, ca);
}

/* The server is a plain socket here so that accept() reports the peer's address. */
Test(ring_echo, connect_from_chosen_source, .timeout = 15)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in la = addr4("127.0.0.1", 0);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&la, sizeof(la)), 0);
    cr_assert_eq(listen(lfd, 64), 0);
    socklen_t sl = sizeof(la);
    getsockname(lfd, (struct sockaddr *)&la, &sl);

    ring_config cc = {.workers = 1, .files = 64};
    ring_t *cli = start_ring(&cc);
    const char *srcs[] = {"127.0.0.2", "127.0.0.3"};
    for (int i = 0; i < 2; i++) {
        clients_args *ca = clients4("127.0.0.1", ntohs(la.sin_port), 1, 10);
        struct sockaddr_in s = addr4(srcs[i], 0);
        memcpy(&ca->src, &s, sizeof(s));
        ca->slen = sizeof(s);
        cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
        struct sockaddr_in peer;
        socklen_t pl = sizeof(peer);
        int fd = accept(lfd, (struct sockaddr *)&peer, &pl);
        cr_assert_geq(fd, 0);
        char ip[32];
        inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
        cr_assert_str_eq(ip, srcs[i]);
        uint8_t buf[10];
        cr_assert_eq(recv(fd, buf, 10, MSG_WAITALL), 10);
        cr_assert_eq(send(fd, buf, 10, 0), 10); /* echo by hand */
        cr_assert_eq(recv(fd, buf, 1, 0), 0);   /* the client closes once it has its echo */
        close(fd);
        cr_assert(wait_count(&H.client_ok, (unsigned)i + 1, 5000));
        free(ca->plans);
        free(ca);
    }
    ring_stats st;
    ring_stats_read(ring_worker_at(cli, 0), &st);
    cr_assert_eq(st.connects, 2);
    ring_stop(cli);
    ring_destroy(cli);
    close(lfd);
}

Test(ring_echo, connect_refused_reports_failure, .timeout = 10)
{
    ring_config cc = {.workers = 1, .files = 64};
    ring_t *cli = start_ring(&cc);
    int fd = socket(AF_INET, SOCK_STREAM, 0); /* bound, not listening: connects are refused */
    struct sockaddr_in a = addr4("127.0.0.1", 0);
    bind(fd, (struct sockaddr *)&a, sizeof(a));
    socklen_t sl = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &sl);
    clients_args *ca = clients4("127.0.0.1", ntohs(a.sin_port), 3, 10);
    cr_assert_eq(ring_call(ring_worker_at(cli, 0), open_clients, ca), 0);
    cr_assert(wait_count(&H.connect_fail, 3, 5000));
    ring_stats st;
    for (int i = 0; i < 500; i++) { /* the failed slots close right after */
        ring_stats_read(ring_worker_at(cli, 0), &st);
        if (!st.conns)
            break;
        usleep(2000);
    }
    cr_assert_eq(st.conns, 0);
    ring_stop(cli);
    ring_destroy(cli);
    close(fd);
    free(ca->plans);
    free(ca);
}
