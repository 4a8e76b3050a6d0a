/* pair.h - an in-memory client/server TLS pair for the tests: no sockets, no threads. */
#ifndef MPSD_TESTS_TLS_PAIR_H
#define MPSD_TESTS_TLS_PAIR_H

#include "tls.h"

struct buf {
    uint8_t *p;
    size_t len, cap;
};
void buf_put(struct buf *b, const uint8_t *p, size_t n);
void buf_drop(struct buf *b, size_t n); /* remove n bytes from the front */
void buf_free(struct buf *b);

struct end {
    struct tls_conn *c;
    struct buf out;    /* ciphertext this end sent, not yet delivered */
    struct buf plain;  /* plaintext delivered by the plaintext callback */
    size_t accept_max; /* output callback takes at most this much per call (0: all) */
    bool refuse;       /* output callback takes nothing (queue full) */
    int hellos, handshakes;
    struct tls_client_hello hello; /* the last one the server saw */
};

struct pair {
    struct end s, c;
};

/* Certificate path in the build-time directory ($TLS_TEST_CERTS). */
const char *cert(const char *name);
struct tls_ctx *server_ctx(enum tls_profile p, const char *client_ca);
struct tls_ctx *client_ctx(uint16_t min, uint16_t max, const char *ciphers, bool with_cert);

/* plaintext_cb: deliver plaintext through the callback (else tests pull with tls_conn_read). */
void pair_init(struct pair *pr, struct tls_ctx *sctx, struct tls_ctx *cctx, bool plaintext_cb);
void pair_free(struct pair *pr);
/* Moves ciphertext both ways, `chunk` bytes per feed (0: all at once), until both handshakes are
 * done, one side fails or nothing moves. Returns 0 or the first error (client's or server's). */
int pair_handshake(struct pair *pr, size_t chunk);
/* Delivers everything `from` has sent to `to`, chunk bytes per feed (0: all). Returns the last
 * feed result (first error). */
int pair_flush(struct end *from, struct end *to, size_t chunk);

#endif
