/* Shared pieces of the ring tests: an echo server, a verifying client, waiting helpers. */
#ifndef MPSD_TEST_RING_HARNESS_H
#define MPSD_TEST_RING_HARNESS_H

#include "ring.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Counters the callbacks bump (from worker threads) and the test thread reads. */
typedef struct harness_counts {
    atomic_uint opened, closed, close_errs, double_close, writable, client_ok, client_bad,
        connect_fail;
    atomic_ullong bytes;
} harness_counts;

extern harness_counts H;
extern const ring_conn_cbs echo_cbs;   /* echo server with backpressure (pause + resume) */
extern const ring_conn_cbs client_cbs; /* sends a pattern, checks the echo, then closes */

/* A client connection's plan: send `total` bytes of pattern `id`, expect them back. */
typedef struct client_plan {
    uint64_t id;
    size_t total, sent, recvd;
    bool bad;
} client_plan;

uint8_t pattern_byte(uint64_t id, size_t off);
ring_t *start_ring(ring_config *cfg); /* criterion-asserts success */
bool wait_until(bool (*cond)(void *), void *arg, int timeout_ms);
bool wait_count(atomic_uint *v, unsigned want, int timeout_ms);
struct sockaddr_in addr4(const char *ip, int port);
struct sockaddr_in6 addr6_loopback(int port);

/* Run on a worker: listen with echo_cbs on a->addr, store the port. */
typedef struct listen_args {
    struct sockaddr_storage addr;
    socklen_t len;
    int port;
    const ring_conn_cbs *cb;
} listen_args;
int listen_on_worker(ring_worker *w, void *arg);

/* Run on a worker: open n clients to dst (optionally from src), each sending `bytes`. */
typedef struct clients_args {
    struct sockaddr_storage dst, src;
    socklen_t dlen, slen;
    unsigned n;
    size_t bytes;
    client_plan *plans;
} clients_args;
int open_clients(ring_worker *w, void *arg);

#endif
