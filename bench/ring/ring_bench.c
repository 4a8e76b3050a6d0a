/*
 * ring_bench: echo throughput and connections/s over loopback, the ring runtime against a plain
 * blocking-socket echo measured in the same run (the ratio's base). Prints one JSON object.
 *
 *   ring_bench [conns=4] [mib_per_conn=64] [connects=5000] [concurrency=64]
 *
 * Both sides of the ring variant are ring workers (server: 1 worker, client: 1 worker); the
 * baseline uses one thread per connection and direction. On a 2-core box both variants share
 * the same two cores, so figures are relative, not absolute.
 */
#include "ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct sockaddr_in lo(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "ring_bench: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
    exit(1);
}

/* --- ring echo server (backpressure: pause reading while the send queue is full) --------- */

typedef struct echo {
    uint8_t *pend; /* bytes the cap refused: pend[poff .. plen) */
    size_t poff, plen, pcap;
} echo;

static void e_open(ring_conn *c)
{
    ring_conn_set_user(c, calloc(1, sizeof(echo)));
}
static void e_data(ring_conn *c, const uint8_t *p, size_t n)
{
    echo *e = ring_conn_user(c);
    ssize_t k = e->plen ? 0 : ring_conn_send(c, p, n);
    if (k < 0)
        return ring_conn_close(c, RING_CLOSE_ABORT);
    if ((size_t)k < n) {
        if (e->plen + n > e->pcap) {
            e->pcap = (e->plen + n) * 2;
            e->pend = realloc(e->pend, e->pcap);
        }
        memcpy(e->pend + e->plen, p + k, n - (size_t)k);
        e->plen += n - (size_t)k;
        ring_conn_pause_recv(c);
    }
}
static void e_writable(ring_conn *c)
{
    echo *e = ring_conn_user(c);
    ssize_t k = ring_conn_send(c, e->pend + e->poff, e->plen - e->poff);
    if (k > 0)
        e->poff += (size_t)k;
    if (e->poff == e->plen) {
        e->poff = e->plen = 0;
        ring_conn_resume_recv(c);
    }
}
static void e_close(ring_conn *c, int err)
{
    echo *e = ring_conn_user(c);
    free(e->pend);
    free(e);
}
static const ring_conn_cbs echo_cbs = {
    .on_open = e_open, .on_data = e_data, .on_writable = e_writable, .on_close = e_close};

static int listen_fn(ring_worker *w, void *arg)
{
    struct sockaddr_in a = lo(0);
    ring_listener *l;
    int rc = ring_listen(w, (struct sockaddr *)&a, sizeof(a), 4096, &echo_cbs, NULL, &l);
    return rc ? rc : ring_listener_port(l);
}

/* --- ring clients ---------------------------------------------------------------------------- */

static struct {
    int port;
    size_t bytes; /* per connection */
    unsigned todo, started;
    atomic_uint done;
    atomic_ullong moved;
} B;

typedef struct cli {
    size_t sent, recvd;
} cli;

static void c_pump(ring_conn *c)
{
    cli *k = ring_conn_user(c);
    while (k->sent < B.bytes) {
        void *p;
        ssize_t room = ring_conn_reserve(c, &p);
        if (room <= 0)
            return;
        size_t n = B.bytes - k->sent < (size_t)room ? B.bytes - k->sent : (size_t)room;
        memset(p, 'x', n);
        ring_conn_commit(c, n);
        k->sent += n;
    }
}
static void c_open(ring_conn *c)
{
    ring_conn_set_user(c, calloc(1, sizeof(cli)));
    c_pump(c);
}
static void c_data(ring_conn *c, const uint8_t *p, size_t n)
{
    cli *k = ring_conn_user(c);
    k->recvd += n;
    if (k->recvd >= B.bytes)
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
}
static void next_conn(ring_worker *w);
static void c_close(ring_conn *c, int err)
{
    cli *k = ring_conn_user(c);
    atomic_fetch_add(&B.moved, k->recvd);
    free(k);
    atomic_fetch_add(&B.done, 1);
    next_conn(ring_conn_worker(c));
}
static void c_fail(ring_worker *w, void *user, int err)
{
    atomic_fetch_add(&B.done, 1);
    next_conn(w);
}
static const ring_conn_cbs cli_cbs = {.on_open = c_open,
                                      .on_data = c_data,
                                      .on_writable = c_pump,
                                      .on_close = c_close,
                                      .on_connect_fail = c_fail};

static void next_conn(ring_worker *w)
{
    if (B.started >= B.todo)
        return;
    B.started++;
    struct sockaddr_in a = lo(B.port);
    int rc = ring_connect(w, (struct sockaddr *)&a, sizeof(a), NULL, 0, &cli_cbs, NULL);
    if (rc)
        die("ring_connect", rc);
}

static int start_clients(ring_worker *w, void *arg)
{
    unsigned conc = *(unsigned *)arg;
    for (unsigned i = 0; i < conc; i++)
        next_conn(w);
    return 0;
}

/* total connections `todo`, `conc` at a time, each echoing `bytes`; returns seconds */
static double ring_run(ring_t *cr, unsigned todo, unsigned conc, size_t bytes)
{
    B.bytes = bytes;
    B.todo = todo;
    B.started = 0;
    atomic_store(&B.done, 0);
    atomic_store(&B.moved, 0);
    double t0 = now_s();
    ring_call(ring_worker_at(cr, 0), start_clients, &conc);
    while (atomic_load(&B.done) < todo)
        usleep(200);
    return now_s() - t0;
}

/* --- blocking baseline -------------------------------------------------------------------- */

static void *blk_serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t k = write(fd, buf + off, (size_t)(n - off));
            if (k <= 0)
                goto out;
            off += k;
        }
out:
    close(fd);
    return NULL;
}

static void *blk_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg, fd;
    while ((fd = accept(lfd, NULL, NULL)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, blk_serve, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static void *blk_writer(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static __thread uint8_t buf[65536];
    memset(buf, 'x', sizeof(buf));
    for (size_t sent = 0; sent < B.bytes;) {
        size_t n = B.bytes - sent < sizeof(buf) ? B.bytes - sent : sizeof(buf);
        ssize_t k = write(fd, buf, n);
        if (k <= 0)
            break;
        sent += (size_t)k;
    }
    return NULL;
}

static int blk_dial(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = lo(port);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
        die("connect", errno);
    return fd;
}

/* one connection: a writer thread streams, this thread reads the echo back */
static void *blk_client(void *arg)
{
    int fd = blk_dial((int)(intptr_t)arg);
    pthread_t wt;
    pthread_create(&wt, NULL, blk_writer, (void *)(intptr_t)fd);
    static __thread uint8_t buf[65536];
    size_t got = 0;
    ssize_t n;
    while (got < B.bytes && (n = read(fd, buf, sizeof(buf))) > 0)
        got += (size_t)n;
    pthread_join(wt, NULL);
    atomic_fetch_add(&B.moved, got);
    close(fd);
    return NULL;
}

static void *blk_connector(void *arg)
{
    int port = (int)(intptr_t)arg;
    uint8_t buf[64] = {0};
    for (;;) {
        unsigned i = atomic_fetch_add(&B.done, 1);
        if (i >= B.todo)
            break;
        int fd = blk_dial(port);
        if (write(fd, buf, sizeof(buf)) != sizeof(buf) ||
            recv(fd, buf, sizeof(buf), MSG_WAITALL) != sizeof(buf))
            die("blocking echo", errno);
        close(fd);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned conns = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 64;
    unsigned connects = argc > 3 ? (unsigned)atoi(argv[3]) : 5000;
    unsigned conc = argc > 4 ? (unsigned)atoi(argv[4]) : 64;

    ring_config cfg = {.workers = 1, .files = 4096};
    if (getenv("RB_TX"))
        cfg.tx_chunk = (unsigned)atoi(getenv("RB_TX"));
    if (getenv("RB_RX"))
        cfg.rx_buf_size = (unsigned)atoi(getenv("RB_RX"));
    if (getenv("RB_CAP"))
        cfg.send_cap = (unsigned)atoi(getenv("RB_CAP"));
    ring_t *srv, *cli_r;
    int rc;
    if ((rc = ring_create(&cfg, &srv)) || (rc = ring_start(srv)))
        die(ring_error(srv), rc);
    if ((rc = ring_create(&cfg, &cli_r)) || (rc = ring_start(cli_r)))
        die(ring_error(cli_r), rc);
    B.port = ring_call(ring_worker_at(srv, 0), listen_fn, NULL);
    if (B.port < 0)
        die("listen", B.port);

    /* warm-up: first touch of the buffer pools and chunk caches is not what we measure */
    ring_run(cli_r, conns, conns, 4 << 20);
    /* ring: throughput, then connections/s */
    double t_ring = ring_run(cli_r, conns, conns, mib << 20);
    double ring_mbps = (double)atomic_load(&B.moved) / t_ring / 1e6;
    if (getenv("RB_DEBUG")) {
        ring_stats a, b;
        ring_stats_read(ring_worker_at(srv, 0), &a);
        ring_stats_read(ring_worker_at(cli_r, 0), &b);
        fprintf(stderr,
                "srv recvs %llu sends %llu in %llu caphits %llu | cli recvs %llu sends %llu "
                "caphits %llu\n",
                (unsigned long long)a.recvs, (unsigned long long)a.sends,
                (unsigned long long)a.bytes_in, (unsigned long long)a.send_cap_hits,
                (unsigned long long)b.recvs, (unsigned long long)b.sends,
                (unsigned long long)b.send_cap_hits);
    }
    double c_ring = ring_run(cli_r, connects, conc, 64);
    ring_stats ss;
    ring_stats_read(ring_worker_at(srv, 0), &ss);

    /* blocking baseline on its own listener */
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = lo(0);
    socklen_t sl = sizeof(a);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096))
        die("listen", errno);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    int bport = ntohs(a.sin_port);
    pthread_t acc;
    pthread_create(&acc, NULL, blk_accept, (void *)(intptr_t)lfd);

    pthread_t th[256];
    B.bytes = 4 << 20; /* warm-up, as for the ring */
    pthread_create(&th[0], NULL, blk_client, (void *)(intptr_t)bport);
    pthread_join(th[0], NULL);
    B.bytes = mib << 20;
    atomic_store(&B.moved, 0);
    unsigned nth = conns < 256 ? conns : 256;
    double t0 = now_s();
    for (unsigned i = 0; i < nth; i++)
        pthread_create(&th[i], NULL, blk_client, (void *)(intptr_t)bport);
    for (unsigned i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    double t_blk = now_s() - t0;
    double blk_mbps = (double)atomic_load(&B.moved) / t_blk / 1e6;

    B.todo = connects;
    atomic_store(&B.done, 0);
    unsigned ncth = conc < 256 ? conc : 256;
    t0 = now_s();
    for (unsigned i = 0; i < ncth; i++)
        pthread_create(&th[i], NULL, blk_connector, (void *)(intptr_t)bport);
    for (unsigned i = 0; i < ncth; i++)
        pthread_join(th[i], NULL);
    double c_blk = now_s() - t0;

    printf("{\"bench\":\"ring\",\"workers\":{\"server\":1,\"client\":1},"
           "\"echo\":{\"conns\":%u,\"bytes_per_conn\":%zu,\"ring_MBps\":%.1f,"
           "\"blocking_MBps\":%.1f,\"ratio\":%.2f},"
           "\"connect_echo_close\":{\"connections\":%u,\"concurrency\":%u,\"ring_per_s\":%.0f,"
           "\"blocking_per_s\":%.0f,\"ratio\":%.2f},"
           "\"server_stats\":{\"accepts\":%llu,\"recvs\":%llu,\"enobufs\":%llu,"
           "\"send_cap_hits\":%llu,\"errors\":%llu}}\n",
           conns, mib << 20, ring_mbps, blk_mbps, ring_mbps / blk_mbps, connects, conc,
           connects / c_ring, connects / c_blk, (connects / c_ring) / (connects / c_blk),
           (unsigned long long)ss.accepts, (unsigned long long)ss.recvs,
           (unsigned long long)ss.enobufs, (unsigned long long)ss.send_cap_hits,
           (unsigned long long)ss.errors);
    ring_stop(cli_r);
    ring_stop(srv);
    ring_destroy(cli_r);
    ring_destroy(srv);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    pthread_join(acc, NULL);
    return 0;
}
