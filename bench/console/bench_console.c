/* bench_console: the load generator and the baseline of bench/console/run.py.
 *
 *   bench_console serve --listen H:P --kind echo|discard|source:N
 *       a plain TCP service (one epoll thread): what amtsim's echo/discard/source:N services are
 *       on a device, for the baseline.
 *   bench_console relay --listen H:P --to H:P [--buf B]
 *       a plain TCP relay (one epoll thread, read/write through a B-byte buffer each way, with
 *       half-close): the baseline for mpsd's console -> device path.
 *   bench_console tput --connect H:P [--socks USER:PASS --host-fmt amt-%u --first I --port P]
 *                      --conns N --bytes B --mode echo|up|down
 *       N connections (through SOCKS5 with RFC 1929 auth when --socks is given, connection i to
 *       host-fmt(first + i)), then each moves B bytes: echo = send B and read B back, up = send B
 *       then half-close and wait for the peer's EOF, down = read B (the pattern) until EOF. One
 *       epoll thread. Prints one JSON object.
 *   bench_console open --connect H:P --socks USER:PASS [--host-fmt F] --devices D --port P
 *                      --count K --threads T [--seed S]
 *       K channel opens to random devices in [0, D), T threads each doing opens one after the
 *       other: TCP connect, greeting, auth, then the timed part: CONNECT sent -> first reply byte,
 *       then one byte sent and -> its echo (from CONNECT sent). Prints one JSON object.
 *
 * Data is the pattern byte(i) = i % 251 (amtsim's SVC_PATTERN); everything received is checked. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PERIOD   251u
#define PATLEN   (1u << 20)
#define MAXEV    256
#define SRV_BUF  (256u * 1024)
#define READ_BUF (256u * 1024)

static uint8_t pattern[PATLEN + PERIOD];

static void die(const char *what)
{
    fprintf(stderr, "bench_console: %s: %s\n", what, strerror(errno));
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void init_pattern(void)
{
    for (size_t i = 0; i < sizeof(pattern); i++)
        pattern[i] = (uint8_t)(i % PERIOD);
}

static int parse_addr(const char *s, struct sockaddr_in *sa)
{
    char host[64];
    const char *c = strrchr(s, ':');
    if (!c || (size_t)(c - s) >= sizeof(host))
        return -1;
    memcpy(host, s, (size_t)(c - s));
    host[c - s] = 0;
    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    sa->sin_port = htons((uint16_t)atoi(c + 1));
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return -1;
    /* loopback only */
    if ((ntohl(sa->sin_addr.s_addr) >> 24) != 127)
        return -1;
    return 0;
}

static void set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        die("fcntl");
}

static void set_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int listen_on(const char *addr)
{
    struct sockaddr_in sa;
    if (parse_addr(addr, &sa) < 0) {
        fprintf(stderr, "bench_console: bad or non-loopback address %s\n", addr);
        exit(2);
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        die("bind");
    if (listen(fd, 4096) < 0)
        die("listen");
    set_nonblock(fd);
    return fd;
}

static int connect_to(const struct sockaddr_in *sa)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0) {
        close(fd);
        return -1;
    }
    set_nodelay(fd);
    return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t k = write(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int read_exact(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = read(fd, b, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

/* ------------------------------------------------------------------ serve */

enum kind { K_ECHO, K_DISCARD, K_SOURCE };

struct sconn {
    int fd;
    uint32_t len, off; /* echo: pending bytes in buf */
    uint64_t src_off;  /* source: bytes sent */
    bool want_out;
    uint8_t buf[SRV_BUF];
};

static void sconn_close(int ep, struct sconn *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c);
}

static void sconn_events(int ep, struct sconn *c, bool out)
{
    if (out == c->want_out)
        return;
    c->want_out = out;
    struct epoll_event ev = {.events = out ? EPOLLOUT : EPOLLIN, .data.ptr = c};
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

static int cmd_serve(const char *listen_addr, const char *kind_s)
{
    enum kind kind;
    uint64_t src_n = 0;
    if (!strcmp(kind_s, "echo"))
        kind = K_ECHO;
    else if (!strcmp(kind_s, "discard"))
        kind = K_DISCARD;
    else if (!strncmp(kind_s, "source:", 7)) {
        kind = K_SOURCE;
        src_n = strtoull(kind_s + 7, NULL, 10);
    } else {
        fprintf(stderr, "bench_console: unknown kind %s\n", kind_s);
        return 2;
    }
    int lfd = listen_on(listen_addr);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAXEV];
    for (;;) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct sconn *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    set_nodelay(fd);
                    struct sconn *nc = calloc(1, sizeof(*nc));
                    if (!nc)
                        die("calloc");
                    nc->fd = fd;
                    nc->want_out = kind == K_SOURCE;
                    struct epoll_event e2 = {.events = nc->want_out ? EPOLLOUT : EPOLLIN,
                                             .data.ptr = nc};
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e2);
                }
                continue;
            }
            if (kind == K_SOURCE) {
                bool dead = false;
                while (c->src_off < src_n) {
                    uint64_t left = src_n - c->src_off;
                    size_t k = left < PATLEN ? (size_t)left : PATLEN;
                    ssize_t w = write(c->fd, pattern + c->src_off % PERIOD, k);
                    if (w < 0 && errno == EAGAIN)
                        break;
                    if (w <= 0) {
                        dead = true;
                        break;
                    }
                    c->src_off += (uint64_t)w;
                }
                if (dead || c->src_off >= src_n)
                    sconn_close(ep, c);
                continue;
            }
            bool dead = false;
            for (;;) {
                if (c->len > c->off) { /* echo: flush what we hold first */
                    ssize_t w = write(c->fd, c->buf + c->off, c->len - c->off);
                    if (w < 0 && errno == EAGAIN) {
                        sconn_events(ep, c, true);
                        break;
                    }
                    if (w <= 0) {
                        dead = true;
                        break;
                    }
                    c->off += (uint32_t)w;
                    continue;
                }
                c->len = c->off = 0;
                ssize_t r = read(c->fd, c->buf, sizeof(c->buf));
                if (r < 0 && errno == EAGAIN) {
                    sconn_events(ep, c, false);
                    break;
                }
                if (r <= 0) {
                    dead = true;
                    break;
                }
                if (kind == K_ECHO)
                    c->len = (uint32_t)r;
            }
            if (dead)
                sconn_close(ep, c);
        }
    }
}

/* ------------------------------------------------------------------ relay */

struct pair;
struct side {
    struct pair *p;
    int fd;
    uint32_t events;
};
struct pair {
    struct side s[2];
    /* dir d carries s[d] -> s[1-d] */
    uint8_t *buf[2];
    uint32_t len[2], off[2];
    bool eof[2], shut[2], dead;
};

static size_t relay_bufsize = 128 * 1024;

static void side_update(int ep, struct pair *p, int i)
{
    /* read from side i while dir i's buffer is empty and no EOF; write to side i while dir
     * (1-i) holds bytes */
    uint32_t want = 0;
    if (!p->eof[i] && p->len[i] == p->off[i])
        want |= EPOLLIN;
    if (p->len[1 - i] > p->off[1 - i])
        want |= EPOLLOUT;
    if (want != p->s[i].events) {
        p->s[i].events = want;
        struct epoll_event ev = {.events = want, .data.ptr = &p->s[i]};
        epoll_ctl(ep, EPOLL_CTL_MOD, p->s[i].fd, &ev);
    }
}

static void pair_free(int ep, struct pair *p)
{
    for (int i = 0; i < 2; i++) {
        epoll_ctl(ep, EPOLL_CTL_DEL, p->s[i].fd, NULL);
        close(p->s[i].fd);
        free(p->buf[i]);
    }
    free(p);
}

/* moves what it can in direction d; returns false when the pair is dead */
static bool pump(struct pair *p, int d)
{
    int from = p->s[d].fd, to = p->s[1 - d].fd;
    for (;;) {
        if (p->len[d] > p->off[d]) {
            ssize_t w = write(to, p->buf[d] + p->off[d], p->len[d] - p->off[d]);
            if (w < 0 && errno == EAGAIN)
                return true;
            if (w <= 0)
                return false;
            p->off[d] += (uint32_t)w;
            continue;
        }
        p->len[d] = p->off[d] = 0;
        if (p->eof[d]) {
            if (!p->shut[d]) {
                shutdown(to, SHUT_WR);
                p->shut[d] = true;
            }
            return true;
        }
        ssize_t r = read(from, p->buf[d], relay_bufsize);
        if (r < 0 && errno == EAGAIN)
            return true;
        if (r < 0)
            return false;
        if (r == 0) {
            p->eof[d] = true;
            continue;
        }
        p->len[d] = (uint32_t)r;
    }
}

static int cmd_relay(const char *listen_addr, const char *to_addr)
{
    struct sockaddr_in to;
    if (parse_addr(to_addr, &to) < 0) {
        fprintf(stderr, "bench_console: bad or non-loopback address %s\n", to_addr);
        return 2;
    }
    int lfd = listen_on(listen_addr);
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event evs[MAXEV];
    for (;;) {
        int n = epoll_wait(ep, evs, MAXEV, -1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            struct side *s = evs[i].data.ptr;
            if (!s) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    set_nodelay(fd);
                    int up = connect_to(&to);
                    if (up < 0) {
                        close(fd);
                        continue;
                    }
                    set_nonblock(up);
                    struct pair *p = calloc(1, sizeof(*p));
                    if (!p)
                        die("calloc");
                    p->buf[0] = malloc(relay_bufsize);
                    p->buf[1] = malloc(relay_bufsize);
                    if (!p->buf[0] || !p->buf[1])
                        die("malloc");
                    p->s[0] = (struct side){p, fd, EPOLLIN};
                    p->s[1] = (struct side){p, up, EPOLLIN};
                    for (int k = 0; k < 2; k++) {
                        struct epoll_event e2 = {.events = EPOLLIN, .data.ptr = &p->s[k]};
                        epoll_ctl(ep, EPOLL_CTL_ADD, p->s[k].fd, &e2);
                    }
                }
                continue;
            }
            struct pair *p = s->p;
            if (p->dead)
                continue;
            int me = s == &p->s[0] ? 0 : 1;
            /* readable: my direction; writable: the other direction */
            bool ok = pump(p, me) && pump(p, 1 - me);
            if (!ok || (evs[i].events & (EPOLLERR)) || (p->shut[0] && p->shut[1])) {
                p->dead = true;
                pair_free(ep, p);
                /* later events in this batch may point at it: skip the rest of the batch for
                 * safety by re-polling */
                break;
            }
            side_update(ep, p, 0);
            side_update(ep, p, 1);
        }
    }
}

/* ------------------------------------------------------------------ SOCKS5 client */

static int socks_auth(int fd, const char *user, const char *pass)
{
    uint8_t g[3] = {5, 1, 2}, r[2];
    if (write_all(fd, g, 3) < 0 || read_exact(fd, r, 2) < 0 || r[0] != 5 || r[1] != 2)
        return -1;
    uint8_t a[520];
    size_t ul = strlen(user), pl = strlen(pass), n = 0;
    a[n++] = 1;
    a[n++] = (uint8_t)ul;
    memcpy(a + n, user, ul);
    n += ul;
    a[n++] = (uint8_t)pl;
    memcpy(a + n, pass, pl);
    n += pl;
    if (write_all(fd, a, n) < 0 || read_exact(fd, r, 2) < 0 || r[0] != 1 || r[1] != 0)
        return -1;
    return 0;
}

static size_t socks_connect_req(uint8_t *b, const char *host, uint16_t port)
{
    size_t hl = strlen(host), n = 0;
    b[n++] = 5;
    b[n++] = 1;
    b[n++] = 0;
    b[n++] = 3;
    b[n++] = (uint8_t)hl;
    memcpy(b + n, host, hl);
    n += hl;
    b[n++] = (uint8_t)(port >> 8);
    b[n++] = (uint8_t)port;
    return n;
}

/* reads the rest of a reply whose first byte was read; returns the REP code or -1 */
static int socks_reply_rest(int fd, uint8_t first)
{
    uint8_t h[3], skip[260];
    if (first != 5 || read_exact(fd, h, 3) < 0)
        return -1;
    size_t n;
    if (h[2] == 1)
        n = 4 + 2;
    else if (h[2] == 4)
        n = 16 + 2;
    else if (h[2] == 3) {
        uint8_t l;
        if (read_exact(fd, &l, 1) < 0)
            return -1;
        n = (size_t)l + 2;
    } else
        return -1;
    if (read_exact(fd, skip, n) < 0)
        return -1;
    return h[0];
}

struct target {
    struct sockaddr_in sa;
    const char *user, *pass; /* NULL: plain TCP */
    const char *host_fmt;
    uint16_t port;
};

/* a connected (and, through SOCKS, opened) socket to device i, blocking; -1 on failure */
static int open_to(const struct target *t, unsigned i)
{
    int fd = connect_to(&t->sa);
    if (fd < 0 || !t->user)
        return fd;
    char host[128];
    snprintf(host, sizeof(host), t->host_fmt, i);
    uint8_t req[300], b;
    size_t n = socks_connect_req(req, host, t->port);
    if (socks_auth(fd, t->user, t->pass) < 0 || write_all(fd, req, n) < 0 ||
        read_exact(fd, &b, 1) < 0 || socks_reply_rest(fd, b) != 0) {
        fprintf(stderr, "bench_console: SOCKS open of %s:%u failed\n", host, t->port);
        close(fd);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------ tput */

struct cconn {
    int fd;
    uint64_t sent, rcvd;
    bool shut, done;
};

static void cpu_json(const char *prefix)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("\"%suser_s\":%.3f,\"%ssys_s\":%.3f", prefix,
           (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6, prefix,
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6);
}

static double max_seconds = 60;

static int cmd_tput(const struct target *t, unsigned first, unsigned nconns, uint64_t bytes,
                    const char *mode)
{
    bool echo = !strcmp(mode, "echo"), up = !strcmp(mode, "up"), down = !strcmp(mode, "down");
    if (!echo && !up && !down) {
        fprintf(stderr, "bench_console: mode echo|up|down\n");
        return 2;
    }
    uint64_t want_up = down ? 0 : bytes, want_down = up ? 0 : bytes;
    struct cconn *cs = calloc(nconns, sizeof(*cs));
    uint8_t *rbuf = malloc(READ_BUF);
    if (!cs || !rbuf)
        die("calloc");
    double t_setup = now_s();
    for (unsigned i = 0; i < nconns; i++) {
        cs[i].fd = open_to(t, first + i);
        if (cs[i].fd < 0) {
            printf("{\"error\":\"open %u failed\"}\n", i);
            return 1;
        }
    }
    int ep = epoll_create1(0);
    for (unsigned i = 0; i < nconns; i++) {
        set_nonblock(cs[i].fd);
        struct epoll_event ev = {.events = EPOLLIN | (want_up ? EPOLLOUT : 0), .data.u32 = i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    double t0 = now_s(), t_up_done = t0, t_down_done = t0;
    unsigned left = nconns, up_left = want_up ? nconns : 0;
    uint64_t verify_errors = 0, early_eof = 0, wakeups = 0;
    struct epoll_event evs[MAXEV];
    bool timed_out = false;
    while (left) {
        if (now_s() - t0 > max_seconds) {
            timed_out = true;
            break;
        }
        int n = epoll_wait(ep, evs, MAXEV, 1000);
        if (n == 0 && now_s() - t0 < 60)
            continue;
        if (n == 0) {
            fprintf(stderr, "bench_console: stalled 60 s with %u connections left\n", left);
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            die("epoll_wait");
        wakeups++;
        for (int k = 0; k < n; k++) {
            struct cconn *c = &cs[evs[k].data.u32];
            if (c->done)
                continue;
            if ((evs[k].events & EPOLLOUT) && c->sent < want_up) {
                for (;;) {
                    uint64_t l = want_up - c->sent;
                    size_t m = l < PATLEN ? (size_t)l : PATLEN;
                    ssize_t w = write(c->fd, pattern + c->sent % PERIOD, m);
                    if (w <= 0)
                        break;
                    c->sent += (uint64_t)w;
                    if (c->sent >= want_up)
                        break;
                }
                if (c->sent >= want_up) {
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                    if (--up_left == 0)
                        t_up_done = now_s();
                    if (up) { /* then wait for the peer's EOF: everything went through */
                        shutdown(c->fd, SHUT_WR);
                        c->shut = true;
                    }
                }
            }
            if (evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = read(c->fd, rbuf, READ_BUF);
                    if (r < 0)
                        break;
                    if (r == 0) {
                        if (c->rcvd < want_down || c->sent < want_up)
                            early_eof++;
                        c->done = true;
                        break;
                    }
                    if (memcmp(rbuf, pattern + c->rcvd % PERIOD, (size_t)r))
                        verify_errors++;
                    c->rcvd += (uint64_t)r;
                    if (echo && c->rcvd >= want_down) {
                        c->done = true;
                        break;
                    }
                    if ((size_t)r < READ_BUF)
                        break;
                }
                if (c->done) {
                    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
                    left--;
                    t_down_done = now_s();
                }
            }
        }
    }
    double t1 = now_s();
    uint64_t su = 0, sd = 0;
    for (unsigned i = 0; i < nconns; i++) {
        su += cs[i].sent;
        sd += cs[i].rcvd;
        close(cs[i].fd);
    }
    double el = t1 - t0;
    if (up || up_left)
        t_up_done = t_down_done; /* up counts until the peer confirmed with EOF */
    if (left || early_eof)       /* incomplete: rates are what moved over the whole time */
        t_up_done = t_down_done = t1;
    double up_el = t_up_done - t0, down_el = t_down_done - t0;
    printf("{\"mode\":\"%s\",\"conns\":%u,\"bytes_per_conn\":%" PRIu64 ",\"setup_s\":%.4f,"
           "\"elapsed_s\":%.4f,\"up_bytes\":%" PRIu64 ",\"down_bytes\":%" PRIu64 ","
           "\"up_MBps\":%.1f,\"down_MBps\":%.1f,\"total_MBps\":%.1f,\"left\":%u,"
           "\"timed_out\":%s,\"verify_errors\":%" PRIu64 ",\"early_eof\":%" PRIu64
           ",\"client_wakeups\":%" PRIu64 ",",
           mode, nconns, bytes, t0 - t_setup, el, su, sd, su && up_el > 0 ? su / up_el / 1e6 : 0.0,
           sd && down_el > 0 ? sd / down_el / 1e6 : 0.0, (su + sd) / el / 1e6, left,
           timed_out ? "true" : "false", verify_errors, early_eof, wakeups);
    cpu_json("client_");
    printf("}\n");
    close(ep); /* the connections were closed above */
    free(cs);
    free(rbuf);
    return verify_errors || early_eof ? 1 : 0; /* timed out: a figure, not an error */
}

/* ------------------------------------------------------------------ open */

struct open_job {
    const struct target *t;
    unsigned devices, count;
    unsigned seed;
    double *reply_us, *echo_us, *total_us;
    unsigned done, failed;
};

static void *open_thread(void *arg)
{
    struct open_job *j = arg;
    unsigned s = j->seed;
    for (unsigned k = 0; k < j->count; k++) {
        unsigned dev = (unsigned)(rand_r(&s) % j->devices);
        double ta = now_s();
        int fd = connect_to(&j->t->sa);
        if (fd < 0 || socks_auth(fd, j->t->user, j->t->pass) < 0) {
            if (fd >= 0)
                close(fd);
            j->failed++;
            continue;
        }
        char host[128];
        snprintf(host, sizeof(host), j->t->host_fmt, dev);
        uint8_t req[300], b, x = 0x42;
        size_t n = socks_connect_req(req, host, j->t->port);
        double t0 = now_s();
        if (write_all(fd, req, n) < 0 || read_exact(fd, &b, 1) < 0) {
            close(fd);
            j->failed++;
            continue;
        }
        double t1 = now_s();
        if (socks_reply_rest(fd, b) != 0 || write_all(fd, &x, 1) < 0 || read_exact(fd, &b, 1) < 0 ||
            b != x) {
            close(fd);
            j->failed++;
            continue;
        }
        double t2 = now_s();
        close(fd);
        j->reply_us[j->done] = (t1 - t0) * 1e6;
        j->echo_us[j->done] = (t2 - t0) * 1e6;
        j->total_us[j->done] = (t2 - ta) * 1e6;
        j->done++;
    }
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void pct_json(const char *name, double *v, size_t n)
{
    qsort(v, n, sizeof(*v), cmp_d);
    if (!n) {
        printf("\"%s\":null", name);
        return;
    }
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    size_t i50 = (n - 1) * 50 / 100, i99 = (n - 1) * 99 / 100;
    printf("\"%s\":{\"p50\":%.1f,\"p90\":%.1f,\"p99\":%.1f,\"max\":%.1f,\"mean\":%.1f}", name,
           v[i50], v[(n - 1) * 90 / 100], v[i99], v[n - 1], sum / (double)n);
}

static int cmd_open(const struct target *t, unsigned devices, unsigned count, unsigned threads,
                    unsigned seed)
{
    if (!t->user || !threads || !devices) {
        fprintf(stderr, "bench_console: open needs --socks, --devices, --threads\n");
        return 2;
    }
    struct open_job *jobs = calloc(threads, sizeof(*jobs));
    pthread_t *tid = calloc(threads, sizeof(*tid));
    if (!jobs || !tid)
        die("calloc");
    for (unsigned i = 0; i < threads; i++) {
        unsigned c = count / threads + (i < count % threads);
        jobs[i] = (struct open_job){.t = t,
                                    .devices = devices,
                                    .count = c,
                                    .seed = seed * 7919u + i,
                                    .reply_us = calloc(c + 1, sizeof(double)),
                                    .echo_us = calloc(c + 1, sizeof(double)),
                                    .total_us = calloc(c + 1, sizeof(double))};
    }
    double t0 = now_s();
    for (unsigned i = 0; i < threads; i++)
        if (pthread_create(&tid[i], NULL, open_thread, &jobs[i]))
            die("pthread_create");
    size_t done = 0, failed = 0;
    for (unsigned i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        done += jobs[i].done;
        failed += jobs[i].failed;
    }
    double el = now_s() - t0;
    double *r = calloc(done + 1, sizeof(double)), *e = calloc(done + 1, sizeof(double)),
           *a = calloc(done + 1, sizeof(double));
    size_t k = 0;
    for (unsigned i = 0; i < threads; i++) {
        memcpy(r + k, jobs[i].reply_us, jobs[i].done * sizeof(double));
        memcpy(e + k, jobs[i].echo_us, jobs[i].done * sizeof(double));
        memcpy(a + k, jobs[i].total_us, jobs[i].done * sizeof(double));
        k += jobs[i].done;
    }
    printf("{\"opens\":%zu,\"failed\":%zu,\"threads\":%u,\"devices\":%u,\"elapsed_s\":%.3f,"
           "\"opens_per_s\":%.1f,",
           done, failed, threads, devices, el, (double)done / el);
    pct_json("connect_to_reply_us", r, done);
    printf(",");
    pct_json("connect_to_first_echo_us", e, done);
    printf(",");
    pct_json("tcp_auth_connect_echo_us", a, done);
    printf(",");
    cpu_json("client_");
    printf("}\n");
    return failed ? 1 : 0;
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr, "usage: bench_console serve|relay|tput|open [options] (see the source)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        usage();
    signal(SIGPIPE, SIG_IGN);
    init_pattern();
    const char *cmd = argv[1], *listen_addr = NULL, *to = NULL, *kind = "echo", *mode = "echo",
               *connect_s = NULL, *socks = NULL;
    struct target t = {.host_fmt = "amt-%u", .port = 5900};
    unsigned first = 0, conns = 1, devices = 0, count = 1000, threads = 1, seed = 1;
    uint64_t bytes = 1u << 20;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        i++;
        if (!strcmp(o, "--listen"))
            listen_addr = v;
        else if (!strcmp(o, "--to"))
            to = v;
        else if (!strcmp(o, "--kind"))
            kind = v;
        else if (!strcmp(o, "--buf"))
            relay_bufsize = strtoul(v, NULL, 10);
        else if (!strcmp(o, "--connect"))
            connect_s = v;
        else if (!strcmp(o, "--socks"))
            socks = v;
        else if (!strcmp(o, "--host-fmt"))
            t.host_fmt = v;
        else if (!strcmp(o, "--port"))
            t.port = (uint16_t)atoi(v);
        else if (!strcmp(o, "--first"))
            first = (unsigned)atoi(v);
        else if (!strcmp(o, "--conns"))
            conns = (unsigned)atoi(v);
        else if (!strcmp(o, "--bytes"))
            bytes = strtoull(v, NULL, 10);
        else if (!strcmp(o, "--mode"))
            mode = v;
        else if (!strcmp(o, "--devices"))
            devices = (unsigned)atoi(v);
        else if (!strcmp(o, "--count"))
            count = (unsigned)atoi(v);
        else if (!strcmp(o, "--threads"))
            threads = (unsigned)atoi(v);
        else if (!strcmp(o, "--max-seconds"))
            max_seconds = atof(v);
        else if (!strcmp(o, "--seed"))
            seed = (unsigned)atoi(v);
        else
            usage();
    }
    if (!strcmp(cmd, "serve")) {
        if (!listen_addr)
            usage();
        return cmd_serve(listen_addr, kind);
    }
    if (!strcmp(cmd, "relay")) {
        if (!listen_addr || !to)
            usage();
        return cmd_relay(listen_addr, to);
    }
    if (!connect_s || parse_addr(connect_s, &t.sa) < 0)
        usage();
    static char user[256], pass[256];
    if (socks) {
        const char *c = strchr(socks, ':');
        if (!c || (size_t)(c - socks) >= sizeof(user) || strlen(c + 1) >= sizeof(pass))
            usage();
        memcpy(user, socks, (size_t)(c - socks));
        snprintf(pass, sizeof(pass), "%s", c + 1);
        t.user = user;
        t.pass = pass;
    }
    if (!strcmp(cmd, "tput"))
        return cmd_tput(&t, first, conns, bytes, mode);
    if (!strcmp(cmd, "open"))
        return cmd_open(&t, devices, count, threads, seed);
    usage();
    return 2;
}
