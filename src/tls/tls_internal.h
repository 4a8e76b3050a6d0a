/* tls_internal.h - what tls_ctx.c, tls_conn.c and tls_census.c share; not part of the API. */
#ifndef MPSD_TLS_INTERNAL_H
#define MPSD_TLS_INTERNAL_H

#include "tls.h"

#include <stdatomic.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

/* Same shape as struct tls_census, but atomic: sessions of one context run on many threads.
 * Relaxed increments; a snapshot is a set of relaxed loads (counters, not a transaction). */
struct tls_census_atomic {
    atomic_uint_fast64_t started, ok, resumed;
    atomic_uint_fast64_t failed[TLS_FAIL__COUNT];
    atomic_uint_fast64_t version[TLS_VIDX__COUNT];
    atomic_uint_fast64_t offered_max[TLS_VIDX__COUNT];
    atomic_uint_fast64_t suite[TLS_SUITE_SLOTS];
    atomic_uint_fast64_t group[TLS_GIDX__COUNT];
    atomic_uint_fast64_t hello_retry;
    atomic_int refs; /* shared by a context and the ones reloaded from it */
};

struct tls_ctx {
    WOLFSSL_CTX *wctx;
    atomic_int refs;
    bool server;
    bool verify_peer; /* server: client certs required; client: server verified */
    enum tls_profile profile;
    struct tls_census_atomic *census;
    char *server_name;           /* client: SNI */
    struct tls_tickets *tickets; /* server: ticket keys (a reference), NULL: wolfSSL's own */
};

#define census_inc(ctr) atomic_fetch_add_explicit(&(ctr), 1, memory_order_relaxed)

struct tls_census_atomic *tls_census_new(void);
void tls_census_unref(struct tls_census_atomic *c);

enum conn_state { ST_HELLO, ST_HANDSHAKE, ST_OPEN, ST_CLOSED, ST_FAILED };

struct tls_peer {
    char subject[256]; /* for logs only (sanitized, ambiguous) */
    uint8_t sha256[32];
    struct tls_cert_id id; /* decoded from the DER: what identity decisions read */
};

struct tls_conn {
    WOLFSSL *ssl;
    struct tls_ctx *ctx;
    struct tls_conn_io io;
    const uint8_t *in; /* the caller's ciphertext, borrowed during tls_conn_feed only */
    size_t in_len;
    uint8_t *pend; /* ciphertext wolfSSL has not consumed yet; NULL when empty */
    uint32_t pend_off, pend_len, pend_cap;
    struct tls_client_hello *hello; /* server: parsed first flight, until the handshake ends */
    struct tls_peer *peer;          /* leaf of the peer's chain, when it sent one */
    char *error;                    /* detail of the failure */
    int err;                        /* tls_error of the failure (ST_FAILED) */
    uint8_t state;                  /* enum conn_state */
    bool started;                   /* counted in census.started */
    bool first_flight_seen;         /* server: the first ServerHello was checked for an HRR */
};

/* tls_ctx.c: formats a message into err (if given) and returns code. */
int tls_errf(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* tls_tickets.c: makes wctx seal and open tickets with tk's keys (the caller holds the ref). */
int tls_tickets_install(struct tls_tickets *tk, WOLFSSL_CTX *wctx);
/* Installs wolfSSL's I/O callbacks and the certificate-manager verify hook on a context. */
void tls_conn_install_hooks(WOLFSSL_CTX *wctx);
/* tls_verdict.c: classifies a wolfSSL handshake error, records it and returns a tls_error. */
int tls_conn_fail_wolf(struct tls_conn *c, int wolf_err);
int tls_conn_fail(struct tls_conn *c, int code, enum tls_fail_reason why, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The session whose handshake runs on this thread right now (for the verify hook). */
void tls_verdict_set_current(struct tls_conn *c);
int tls_verdict_verify_hook(int preverify, WOLFSSL_X509_STORE_CTX *store);

#endif
