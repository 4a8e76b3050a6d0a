#include "harness.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

harness_counts H;

uint8_t pattern_byte(uint64_t id, size_t off)
{
    /* off >> 9 makes a swapped or repeated block show up */
    return (uint8_t)(off * 131 + id * 7 + (off >> 9) * 13);
}

ring_t *start_ring(ring_config *cfg)
{
    ring_t *r = NULL;
    cr_assert_eq(ring_create(cfg, &r), 0);
    int rc = ring_start(r);
    cr_assert_eq(rc, 0, "ring_start: %d %s", rc, ring_error(r));
    return r;
}

bool wait_until(bool (*cond)(void *), void *arg, int timeout_ms)
{
    struct timespec ts = {0, 2 * 1000 * 1000};
    for (int waited = 0; waited < timeout_ms; waited += 2) {
        if (cond(arg))
            return true;
        nanosleep(&ts, NULL);
    }
    return cond(arg);
}

static bool count_reached(void *arg)
{
    void **a = arg;
    return atomic_load((atomic_uint *)a[0]) >= *(unsigned *)a[1];
}

bool wait_count(atomic_uint *v, unsigned want, int timeout_ms)
{
    void *a[2] = {v, &want};
    return wait_until(count_reached, a, timeout_ms);
}

struct sockaddr_in addr4(const char *ip, int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

struct sockaddr_in6 addr6_loopback(int port)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port)};
    a.sin6_addr = in6addr_loopback;
    return a;
}

int listen_on_worker(ring_worker *w, void *arg)
{
    listen_args *a = arg;
    ring_listener *l;
    int rc = ring_listen(w, (struct sockaddr *)&a->addr, a->len, 4096, a->cb ? a->cb : &echo_cbs,
                         NULL, &l);
    if (rc == 0)
        a->port = ring_listener_port(l);
    return rc;
}

int open_clients(ring_worker *w, void *arg)
{
    clients_args *a = arg;
    for (unsigned i = 0; i < a->n; i++) {
        a->plans[i] = (client_plan){.id = i, .total = a->bytes};
        int rc = ring_connect(w, (struct sockaddr *)&a->dst, a->dlen,
                              a->slen ? (struct sockaddr *)&a->src : NULL, a->slen, &client_cbs,
                              &a->plans[i]);
        if (rc)
            return rc;
    }
    return 0;
}

/* --- echo server ------------------------------------------------------------------------- */

typedef struct echo_conn {
    uint8_t *pend; /* bytes the send cap refused, waiting for on_writable */
    size_t plen, pcap;
    int closes;
} echo_conn;

static void echo_keep(echo_conn *e, const uint8_t *p, size_t n)
{
    if (e->plen + n > e->pcap) {
        e->pcap = (e->plen + n) * 2;
        e->pend = realloc(e->pend, e->pcap);
        cr_assert(e->pend);
    }
    memcpy(e->pend + e->plen, p, n);
    e->plen += n;
}

static void echo_open(ring_conn *c)
{
    ring_conn_set_user(c, calloc(1, sizeof(echo_conn)));
    atomic_fetch_add(&H.opened, 1);
}

static void echo_data(ring_conn *c, const uint8_t *p, size_t n)
{
    echo_conn *e = ring_conn_user(c);
    if (e->plen) { /* already backed up: keep order */
        echo_keep(e, p, n);
        return;
    }
    ssize_t k = ring_conn_send(c, p, n);
    if (k < 0) {
        ring_conn_close(c, RING_CLOSE_ABORT);
        return;
    }
    if ((size_t)k < n) {
        echo_keep(e, p + k, n - (size_t)k);
        ring_conn_pause_recv(c); /* stop reading until the peer drains our queue */
    }
}

static void echo_writable(ring_conn *c)
{
    echo_conn *e = ring_conn_user(c);
    atomic_fetch_add(&H.writable, 1);
    ssize_t k = ring_conn_send(c, e->pend, e->plen);
    if (k > 0) {
        memmove(e->pend, e->pend + k, e->plen - (size_t)k);
        e->plen -= (size_t)k;
    }
    if (!e->plen)
        ring_conn_resume_recv(c);
}

static void echo_close(ring_conn *c, int err)
{
    echo_conn *e = ring_conn_user(c);
    if (++e->closes > 1)
        atomic_fetch_add(&H.double_close, 1);
    if (err)
        atomic_fetch_add(&H.close_errs, 1);
    free(e->pend);
    free(e);
    atomic_fetch_add(&H.closed, 1);
}

const ring_conn_cbs echo_cbs = {.on_open = echo_open,
                                .on_data = echo_data,
                                .on_writable = echo_writable,
                                .on_close = echo_close};

/* --- verifying client -------------------------------------------------------------------- */

/* Write the pattern straight into the send queue (reserve/commit) until done or at the cap. */
static void client_pump(ring_conn *c)
{
    client_plan *pl = ring_conn_user(c);
    while (pl->sent < pl->total) {
        void *p;
        ssize_t room = ring_conn_reserve(c, &p);
        if (room <= 0)
            return; /* -EAGAIN: on_writable resumes */
        size_t k = pl->total - pl->sent < (size_t)room ? pl->total - pl->sent : (size_t)room;
        for (size_t i = 0; i < k; i++)
            ((uint8_t *)p)[i] = pattern_byte(pl->id, pl->sent + i);
        cr_assert_eq(ring_conn_commit(c, k), 0);
        pl->sent += k;
    }
}

static void client_data(ring_conn *c, const uint8_t *p, size_t n)
{
    client_plan *pl = ring_conn_user(c);
    for (size_t i = 0; i < n && !pl->bad; i++)
        if (p[i] != pattern_byte(pl->id, pl->recvd + i))
            pl->bad = true;
    pl->recvd += n;
    atomic_fetch_add(&H.bytes, n);
    if (pl->recvd >= pl->total)
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
}

static void client_close(ring_conn *c, int err)
{
    client_plan *pl = ring_conn_user(c);
    if (!pl->bad && pl->recvd == pl->total && !err)
        atomic_fetch_add(&H.client_ok, 1);
    else
        atomic_fetch_add(&H.client_bad, 1);
}

static void client_fail(ring_worker *w, void *user, int err)
{
    atomic_fetch_add(&H.connect_fail, 1);
}

const ring_conn_cbs client_cbs = {.on_open = client_pump,
                                  .on_data = client_data,
                                  .on_writable = client_pump,
                                  .on_close = client_close,
                                  .on_connect_fail = client_fail};
