/*
 * ring_bench: loopback throughput and connections/s, the ring runtime against plain blocking
 * sockets measured in the same run (the ratios' base). Prints one JSON object.
 *
 *   ring_bench [conns=4] [mib_per_conn=64] [connects=5000] [concurrency=64]
 *
 * - echo: ring client worker <-> ring echo worker, against a blocking echo with one thread per
 *   connection and direction.
 * - relay: blocking clients -> relay -> blocking echo server, the relay being one ring worker
 *   (what the console relay is shaped like: two sockets per session, bytes copied across) or a
 *   blocking relay with one thread per direction. Clients and echo server are the same for both.
 * - connect_echo_close: connection set-up and teardown rate.
 *
 * Each throughput figure is measured RB_RUNS times (default 3), ring and blocking alternating,
 * and the JSON gives medians; "ratio" is the median of the per-run ratios. cpu_s is the process's
 * user+system CPU during the phase (2 cores = at most 2 s per second). On a 2-core box every
 * variant shares the same two cores, so figures are relative, not absolute.
 *
 * Environment: RB_TX, RB_RX, RB_RXN, RB_CAP (ring_config fields), RB_RUNS, RB_ONLY=ring|relay
 * (run just that ring variant RB_RUNS times, for perf), RB_DEBUG (worker counters on stderr).
 */
#include "ring.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
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

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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
    bool paused;
} echo;

/* Flow control, two ways (RB_ECHO picks; the default is what the console glue should do):
 * - "mark" (default): send everything; once the queue passes half the cap, pause the source and
 *   ask for on_writable (ring_conn_want_writable), resume there. The cap is rarely hit, so bytes
 *   go straight from the receive buffer into the send queue (lent, not copied).
 * - "cap": send until the cap refuses bytes, keep the refused rest in a side buffer and pause;
 *   on_writable flushes it. Every byte that arrives while the side buffer is non-empty is copied
 *   twice: in steady state that is most of them. */
static bool flow_by_cap;
static unsigned high_mark = 262144 / 2;

static void keep(uint8_t **buf, size_t *len, size_t *capa, const uint8_t *p, size_t n)
{
    if (*len + n > *capa) {
        *capa = (*len + n) * 2;
        *buf = realloc(*buf, *capa);
    }
    memcpy(*buf + *len, p, n);
    *len += n;
}

/* send p to dst in order behind what q holds; pause src when dst is backed up */
static int forward(ring_conn *src, ring_conn *dst, uint8_t **qb, size_t *qoff, size_t *qlen,
                   size_t *qcap, bool *paused, const uint8_t *p, size_t n)
{
    ssize_t k = *qlen ? 0 : ring_conn_send(dst, p, n);
    if (k < 0)
        return (int)k;
    if ((size_t)k < n) /* at the cap (on_writable follows) or behind earlier refused bytes */
        keep(qb, qlen, qcap, p + k, n - (size_t)k);
    if (!*paused && (*qlen || (!flow_by_cap && ring_conn_queued(dst) >= high_mark))) {
        *paused = true;
        ring_conn_pause_recv(src);
        ring_conn_want_writable(dst);
    }
    (void)qoff;
    return 0;
}

/* on_writable of dst: flush what q holds, resume src once it is all queued */
static void backflow(ring_conn *src, ring_conn *dst, uint8_t *qb, size_t *qoff, size_t *qlen,
                     bool *paused)
{
    if (*qlen) {
        ssize_t k = ring_conn_send(dst, qb + *qoff, *qlen - *qoff);
        if (k > 0)
            *qoff += (size_t)k;
        if (*qoff < *qlen)
            return; /* at the cap again: on_writable comes back */
        *qoff = *qlen = 0;
    }
    if (*paused && src) {
        *paused = false;
        ring_conn_resume_recv(src);
    }
}

static void e_open(ring_conn *c)
{
    ring_conn_set_user(c, calloc(1, sizeof(echo)));
}
static void e_data(ring_conn *c, const uint8_t *p, size_t n)
{
    echo *e = ring_conn_user(c);
    if (forward(c, c, &e->pend, &e->poff, &e->plen, &e->pcap, &e->paused, p, n) < 0)
        ring_conn_close(c, RING_CLOSE_ABORT);
}
static void e_writable(ring_conn *c)
{
    echo *e = ring_conn_user(c);
    backflow(c, c, e->pend, &e->poff, &e->plen, &e->paused);
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
    sem_t finished; /* posted when the last ring client ends: the main thread sleeps, not polls */
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
    if (atomic_fetch_add(&B.done, 1) + 1 == B.todo)
        sem_post(&B.finished);
    next_conn(ring_conn_worker(c));
}
static void c_fail(ring_worker *w, void *user, int err)
{
    if (atomic_fetch_add(&B.done, 1) + 1 == B.todo)
        sem_post(&B.finished);
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
    while (sem_wait(&B.finished) && errno == EINTR) {
    }
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

/* --- ring relay: A (accepted) <-> B (connected to the echo server), bytes copied across ---- */

typedef struct rbuf {
    uint8_t *p;
    size_t off, len, cap;
} rbuf;

typedef struct relay {
    ring_conn *a, *b;
    rbuf to_a, to_b; /* bytes the cap refused, for that side */
    bool a_paused, b_paused;
    int refs;
} relay;

static int relay_port; /* the echo server the relay dials */

static ring_conn *peer_of(relay *r, ring_conn *c)
{
    return c == r->a ? r->b : r->a;
}

static void r_unref(relay *r)
{
    if (--r->refs == 0) {
        free(r->to_a.p);
        free(r->to_b.p);
        free(r);
    }
}

static void r_data(ring_conn *src, const uint8_t *p, size_t n)
{
    relay *r = ring_conn_user(src);
    ring_conn *dst = peer_of(r, src);
    if (!dst)
        return;
    rbuf *q = dst == r->a ? &r->to_a : &r->to_b;
    bool *paused = src == r->a ? &r->a_paused : &r->b_paused;
    if (forward(src, dst, &q->p, &q->off, &q->len, &q->cap, paused, p, n) < 0)
        ring_conn_close(src, RING_CLOSE_ABORT);
}
static void r_writable(ring_conn *dst)
{
    relay *r = ring_conn_user(dst);
    ring_conn *src = peer_of(r, dst);
    rbuf *q = dst == r->a ? &r->to_a : &r->to_b;
    bool *paused = dst == r->a ? &r->b_paused : &r->a_paused;
    backflow(src, dst, q->p, &q->off, &q->len, paused);
}
static void r_eof(ring_conn *c)
{
    relay *r = ring_conn_user(c);
    ring_conn *o = peer_of(r, c);
    if (o)
        ring_conn_close(o, RING_CLOSE_GRACEFUL);
    ring_conn_close(c, RING_CLOSE_GRACEFUL);
}
static void r_close(ring_conn *c, int err)
{
    relay *r = ring_conn_user(c);
    ring_conn *o = peer_of(r, c);
    if (c == r->a)
        r->a = NULL;
    else
        r->b = NULL;
    if (o)
        ring_conn_close(o, RING_CLOSE_GRACEFUL);
    r_unref(r);
}
static void rb_open(ring_conn *c)
{
    relay *r = ring_conn_user(c);
    r->b = c; /* the connect's reference is B's from now on */
    if (r->a)
        ring_conn_resume_recv(r->a);
    else
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
}
static void rb_fail(ring_worker *w, void *user, int err)
{
    relay *r = user;
    if (r->a)
        ring_conn_close(r->a, RING_CLOSE_ABORT);
    r_unref(r);
}
static const ring_conn_cbs relay_b_cbs = {.on_open = rb_open,
                                          .on_data = r_data,
                                          .on_eof = r_eof,
                                          .on_writable = r_writable,
                                          .on_close = r_close,
                                          .on_connect_fail = rb_fail};
static void ra_open(ring_conn *c)
{
    relay *r = calloc(1, sizeof(*r));
    r->a = c;
    r->refs = 2; /* A, and the connect until it opens or fails */
    ring_conn_set_user(c, r);
    ring_conn_pause_recv(c); /* nothing to forward to until B is connected */
    struct sockaddr_in d = lo(relay_port);
    int rc = ring_connect(ring_conn_worker(c), (struct sockaddr *)&d, sizeof(d), NULL, 0,
                          &relay_b_cbs, r);
    if (rc) {
        r->refs--;
        ring_conn_close(c, RING_CLOSE_ABORT);
    }
}
static void ra_close(ring_conn *c, int err)
{
    r_close(c, err);
}
static const ring_conn_cbs relay_a_cbs = {.on_open = ra_open,
                                          .on_data = r_data,
                                          .on_eof = r_eof,
                                          .on_writable = r_writable,
                                          .on_close = ra_close};

static int relay_listen_fn(ring_worker *w, void *arg)
{
    struct sockaddr_in a = lo(0);
    ring_listener *l;
    int rc = ring_listen(w, (struct sockaddr *)&a, sizeof(a), 4096, &relay_a_cbs, NULL, &l);
    return rc ? rc : ring_listener_port(l);
}

/* --- blocking relay: one thread per direction ---------------------------------------------- */

static void *blk_pipe(void *arg)
{
    int *fds = arg; /* from, to */
    static __thread uint8_t buf[65536];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof(buf))) > 0)
        for (ssize_t off = 0; off < n;) {
            ssize_t k = write(fds[1], buf + off, (size_t)(n - off));
            if (k <= 0)
                goto out;
            off += k;
        }
out:
    shutdown(fds[1], SHUT_WR);
    return NULL;
}

static void *blk_relay_conn(void *arg)
{
    int fa = (int)(intptr_t)arg, fb = blk_dial(relay_port);
    int ab[2] = {fa, fb}, ba[2] = {fb, fa};
    pthread_t t;
    pthread_create(&t, NULL, blk_pipe, ab);
    blk_pipe(ba);
    pthread_join(t, NULL);
    close(fa);
    close(fb);
    return NULL;
}

static void *blk_relay_accept(void *arg)
{
    int lfd = (int)(intptr_t)arg, fd;
    while ((fd = accept(lfd, NULL, NULL)) >= 0) {
        pthread_t t;
        pthread_create(&t, NULL, blk_relay_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    return NULL;
}

static int blk_listen(void *(*fn)(void *), pthread_t *th, int *lfd_out)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = lo(0);
    socklen_t sl = sizeof(a);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, 4096))
        die("listen", errno);
    getsockname(lfd, (struct sockaddr *)&a, &sl);
    pthread_create(th, NULL, fn, (void *)(intptr_t)lfd);
    *lfd_out = lfd;
    return ntohs(a.sin_port);
}

/* conns blocking clients through port, each echoing B.bytes; MB/s, CPU seconds in *cpu */
static double blk_clients_run(int port, unsigned conns, double *cpu)
{
    pthread_t th[256];
    unsigned nth = conns < 256 ? conns : 256;
    atomic_store(&B.moved, 0);
    double c0 = cpu_s(), t0 = now_s();
    for (unsigned i = 0; i < nth; i++)
        pthread_create(&th[i], NULL, blk_client, (void *)(intptr_t)port);
    for (unsigned i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    return (double)atomic_load(&B.moved) / t / 1e6;
}

static double ring_echo_run(ring_t *cr, unsigned conns, size_t bytes, double *cpu)
{
    double c0 = cpu_s();
    double t = ring_run(cr, conns, conns, bytes);
    *cpu = cpu_s() - c0;
    return (double)atomic_load(&B.moved) / t / 1e6;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(double *v, unsigned n)
{
    double t[64];
    memcpy(t, v, n * sizeof(*v));
    qsort(t, n, sizeof(*t), cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double vmin(const double *v, unsigned n)
{
    double m = v[0];
    for (unsigned i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}
static double vmax(const double *v, unsigned n)
{
    double m = v[0];
    for (unsigned i = 1; i < n; i++)
        m = v[i] > m ? v[i] : m;
    return m;
}

static void print_stats(const char *tag, ring_worker *w)
{
    ring_stats a;
    ring_stats_read(w, &a);
    fprintf(stderr,
            "%s: recvs %llu (%.0f B avg) sends %llu (%.0f B avg) enobufs %llu caphits %llu\n", tag,
            (unsigned long long)a.recvs, a.recvs ? (double)a.bytes_in / (double)a.recvs : 0.0,
            (unsigned long long)a.sends, a.sends ? (double)a.bytes_out / (double)a.sends : 0.0,
            (unsigned long long)a.enobufs, (unsigned long long)a.send_cap_hits);
}

#define MAXRUNS 64

int main(int argc, char **argv)
{
    unsigned conns = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
    size_t mib = argc > 2 ? (size_t)atoi(argv[2]) : 64;
    unsigned connects = argc > 3 ? (unsigned)atoi(argv[3]) : 5000;
    unsigned conc = argc > 4 ? (unsigned)atoi(argv[4]) : 64;
    unsigned runs = getenv("RB_RUNS") ? (unsigned)atoi(getenv("RB_RUNS")) : 3;
    const char *only = getenv("RB_ONLY");
    if (runs < 1 || runs > MAXRUNS)
        runs = 3;

    sem_init(&B.finished, 0, 0);
    ring_config cfg = {.workers = 1, .files = 4096};
    if (getenv("RB_TX"))
        cfg.tx_chunk = (unsigned)atoi(getenv("RB_TX"));
    if (getenv("RB_RX"))
        cfg.rx_buf_size = (unsigned)atoi(getenv("RB_RX"));
    if (getenv("RB_RXN"))
        cfg.rx_buf_count = (unsigned)atoi(getenv("RB_RXN"));
    if (getenv("RB_CAP"))
        cfg.send_cap = (unsigned)atoi(getenv("RB_CAP"));
    if (cfg.send_cap)
        high_mark = cfg.send_cap / 2;
    flow_by_cap = getenv("RB_ECHO") && !strcmp(getenv("RB_ECHO"), "cap");
    ring_t *srv, *cli_r;
    int rc;
    if ((rc = ring_create(&cfg, &srv)) || (rc = ring_start(srv)))
        die(ring_error(srv), rc);
    if ((rc = ring_create(&cfg, &cli_r)) || (rc = ring_start(cli_r)))
        die(ring_error(cli_r), rc);
    B.port = ring_call(ring_worker_at(srv, 0), listen_fn, NULL);
    if (B.port < 0)
        die("listen", B.port);
    int rport = ring_call(ring_worker_at(srv, 0), relay_listen_fn, NULL);
    if (rport < 0)
        die("listen", rport);

    /* blocking echo server (the relays' target and the echo baseline) and blocking relay */
    pthread_t acc, racc;
    int lfd, rlfd;
    int bport = blk_listen(blk_accept, &acc, &lfd);
    int brport = blk_listen(blk_relay_accept, &racc, &rlfd);
    relay_port = bport;

    /* warm-up: first touch of the buffer pools and chunk caches is not what we measure */
    double cpu, e_ring[MAXRUNS], e_blk[MAXRUNS], e_ratio[MAXRUNS], e_cring[MAXRUNS],
        e_cblk[MAXRUNS];
    double r_ring[MAXRUNS], r_blk[MAXRUNS], r_ratio[MAXRUNS], r_cring[MAXRUNS], r_cblk[MAXRUNS];
    ring_run(cli_r, conns, conns, 4 << 20);
    B.bytes = 4 << 20;
    blk_clients_run(bport, 1, &cpu);
    blk_clients_run(rport, 1, &cpu);
    blk_clients_run(brport, 1, &cpu);

    if (only) { /* profiling: one ring variant only */
        for (unsigned i = 0; i < runs; i++) {
            double v;
            B.bytes = mib << 20;
            if (!strcmp(only, "relay"))
                v = blk_clients_run(rport, conns, &cpu);
            else
                v = ring_echo_run(cli_r, conns, mib << 20, &cpu);
            printf("{\"%s_MBps\":%.1f,\"cpu_s\":%.2f}\n", only, v, cpu);
        }
        if (getenv("RB_DEBUG")) {
            print_stats("server/relay", ring_worker_at(srv, 0));
            print_stats("client", ring_worker_at(cli_r, 0));
        }
        return 0; /* the kernel tears the rest down */
    }

    for (unsigned i = 0; i < runs; i++) {
        e_ring[i] = ring_echo_run(cli_r, conns, mib << 20, &e_cring[i]);
        B.bytes = mib << 20;
        e_blk[i] = blk_clients_run(bport, conns, &e_cblk[i]);
        e_ratio[i] = e_ring[i] / e_blk[i];
        r_ring[i] = blk_clients_run(rport, conns, &r_cring[i]);
        r_blk[i] = blk_clients_run(brport, conns, &r_cblk[i]);
        r_ratio[i] = r_ring[i] / r_blk[i];
    }
    if (getenv("RB_DEBUG")) {
        print_stats("server/relay", ring_worker_at(srv, 0));
        print_stats("client", ring_worker_at(cli_r, 0));
    }

    double c_ring = ring_run(cli_r, connects, conc, 64);
    ring_stats ss;
    ring_stats_read(ring_worker_at(srv, 0), &ss);
    pthread_t th[256];
    B.todo = connects;
    atomic_store(&B.done, 0);
    unsigned ncth = conc < 256 ? conc : 256;
    double t0 = now_s();
    for (unsigned i = 0; i < ncth; i++)
        pthread_create(&th[i], NULL, blk_connector, (void *)(intptr_t)bport);
    for (unsigned i = 0; i < ncth; i++)
        pthread_join(th[i], NULL);
    double c_blk = now_s() - t0;

    printf("{\"bench\":\"ring\",\"workers\":{\"server\":1,\"client\":1},\"runs\":%u,"
           "\"flow\":\"%s\","
           "\"echo\":{\"conns\":%u,\"bytes_per_conn\":%zu,\"ring_MBps\":%.1f,"
           "\"blocking_MBps\":%.1f,\"ratio\":%.2f,\"ratio_min\":%.2f,\"ratio_max\":%.2f,"
           "\"ring_cpu_s\":%.2f,\"blocking_cpu_s\":%.2f},"
           "\"relay\":{\"conns\":%u,\"bytes_per_conn\":%zu,\"ring_MBps\":%.1f,"
           "\"blocking_MBps\":%.1f,\"ratio\":%.2f,\"ratio_min\":%.2f,\"ratio_max\":%.2f,"
           "\"ring_cpu_s\":%.2f,\"blocking_cpu_s\":%.2f},"
           "\"connect_echo_close\":{\"connections\":%u,\"concurrency\":%u,\"ring_per_s\":%.0f,"
           "\"blocking_per_s\":%.0f,\"ratio\":%.2f},"
           "\"server_stats\":{\"accepts\":%llu,\"recvs\":%llu,\"bytes_in\":%llu,\"sends\":%llu,"
           "\"enobufs\":%llu,\"send_cap_hits\":%llu,\"errors\":%llu}}\n",
           runs, flow_by_cap ? "cap" : "mark", conns, mib << 20, median(e_ring, runs),
           median(e_blk, runs), median(e_ratio, runs), vmin(e_ratio, runs), vmax(e_ratio, runs),
           median(e_cring, runs), median(e_cblk, runs), conns, mib << 20, median(r_ring, runs),
           median(r_blk, runs), median(r_ratio, runs), vmin(r_ratio, runs), vmax(r_ratio, runs),
           median(r_cring, runs), median(r_cblk, runs), connects, conc, connects / c_ring,
           connects / c_blk, (connects / c_ring) / (connects / c_blk),
           (unsigned long long)ss.accepts, (unsigned long long)ss.recvs,
           (unsigned long long)ss.bytes_in, (unsigned long long)ss.sends,
           (unsigned long long)ss.enobufs, (unsigned long long)ss.send_cap_hits,
           (unsigned long long)ss.errors);
    ring_stop(cli_r);
    ring_stop(srv);
    ring_destroy(cli_r);
    ring_destroy(srv);
    shutdown(lfd, SHUT_RDWR);
    shutdown(rlfd, SHUT_RDWR);
    close(lfd);
    close(rlfd);
    pthread_join(acc, NULL);
    pthread_join(racc, NULL);
    return 0;
}
