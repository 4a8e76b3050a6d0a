/* tls_conn.c - a TLS session driven without file descriptors.
 *
 * Ciphertext in: tls_conn_feed lends wolfSSL the caller's buffer for the duration of the call
 * (io_recv copies from it); what wolfSSL did not take is copied into a pending buffer, which in
 * the normal (plaintext callback) mode is at most one partial record and is freed once drained.
 * Ciphertext out: io_send hands wolfSSL's output to the caller's output callback.
 *
 * Server sessions first hold the peer's bytes until a whole ClientHello is there, parse it for
 * the census (and to fail garbage at once), then let wolfSSL run over the same bytes.
 */
#include "tls_internal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PENDING_MAX     (256u * 1024) /* pull mode: the caller must read before feeding this much */
#define PLAINTEXT_CHUNK 16384         /* one record's worth per wolfSSL_read in callback mode */

static int io_recv(WOLFSSL *ssl, char *buf, int sz, void *vc)
{
    struct tls_conn *c = vc;
    size_t want = sz > 0 ? (size_t)sz : 0, got = 0;
    (void)ssl;
    if (c->pend_len > 0) {
        size_t k = want < c->pend_len ? want : c->pend_len;
        memcpy(buf, c->pend + c->pend_off, k);
        c->pend_off += (uint32_t)k;
        c->pend_len -= (uint32_t)k;
        got = k;
    }
    if (got < want && c->in_len > 0) {
        size_t k = want - got < c->in_len ? want - got : c->in_len;
        memcpy(buf + got, c->in, k);
        c->in += k;
        c->in_len -= k;
        got += k;
    }
    return got > 0 ? (int)got : WOLFSSL_CBIO_ERR_WANT_READ;
}

/* RFC 8446 4.1.3: a HelloRetryRequest is a ServerHello whose random is
 * SHA-256("HelloRetryRequest"). */
static const uint8_t hrr_random[32] = {
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c};

/* Our own first flight, in plaintext: record header (5), handshake header (4), version (2), then
 * the random. An HRR costs the device a round trip: the census counts them. */
static void check_first_flight(struct tls_conn *c, const uint8_t *p, size_t n)
{
    c->first_flight_seen = true;
    if (n >= 43 && p[0] == 0x16 && p[5] == 0x02 && memcmp(p + 11, hrr_random, 32) == 0) {
        census_inc(c->ctx->census->hello_retry);
        c->first_flight_seen = false; /* the ServerHello after the second ClientHello is next */
    }
}

static int io_send(WOLFSSL *ssl, char *buf, int sz, void *vc)
{
    struct tls_conn *c = vc;
    (void)ssl;
    if (c->ctx->server && !c->first_flight_seen)
        check_first_flight(c, (const uint8_t *)buf, (size_t)sz);
    size_t k = c->io.output(c->io.user, (const uint8_t *)buf, (size_t)sz);
    if (k == 0)
        return WOLFSSL_CBIO_ERR_WANT_WRITE; /* wolfSSL keeps the bytes and retries later */
    return (int)(k < (size_t)sz ? k : (size_t)sz);
}

void tls_conn_install_hooks(WOLFSSL_CTX *wctx)
{
    wolfSSL_CTX_SetIORecv(wctx, io_recv);
    wolfSSL_CTX_SetIOSend(wctx, io_send);
    wolfSSL_CertManagerSetVerify(wolfSSL_CTX_GetCertManager(wctx), tls_verdict_verify_hook);
}

/* Copies the unconsumed rest of the caller's buffer into pending. */
static int stash(struct tls_conn *c)
{
    if (c->in_len == 0)
        return 0;
    if ((size_t)c->pend_len + c->in_len > PENDING_MAX)
        return tls_conn_fail(c, TLS_E_NOMEM, TLS_FAIL_OTHER,
                             "more than %u bytes of unread ciphertext pending", PENDING_MAX);
    if (c->pend_off > 0) {
        memmove(c->pend, c->pend + c->pend_off, c->pend_len);
        c->pend_off = 0;
    }
    size_t need = c->pend_len + c->in_len;
    if (need > c->pend_cap) {
        uint8_t *p = realloc(c->pend, need);
        if (!p)
            return tls_conn_fail(c, TLS_E_NOMEM, TLS_FAIL_OTHER, "out of memory");
        c->pend = p;
        c->pend_cap = (uint32_t)need;
    }
    memcpy(c->pend + c->pend_len, c->in, c->in_len);
    c->pend_len += (uint32_t)c->in_len;
    c->in += c->in_len;
    c->in_len = 0;
    return 0;
}

/* An idle session holds no pending buffer. */
static void pend_trim(struct tls_conn *c)
{
    if (c->pend_len == 0 && c->pend) {
        free(c->pend);
        c->pend = NULL;
        c->pend_cap = c->pend_off = 0;
    }
}

struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const struct tls_conn_io *io)
{
    if (!ctx || !io || !io->output)
        return NULL;
    struct tls_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->ssl = wolfSSL_new(ctx->wctx);
    if (!c->ssl) {
        free(c);
        return NULL;
    }
    c->ctx = tls_ctx_ref(ctx);
    c->io = *io;
    c->state = ctx->server ? ST_HELLO : ST_HANDSHAKE;
    wolfSSL_SetIOReadCtx(c->ssl, c);
    wolfSSL_SetIOWriteCtx(c->ssl, c);
    if (!ctx->server && ctx->server_name &&
        wolfSSL_UseSNI(c->ssl, WOLFSSL_SNI_HOST_NAME, ctx->server_name,
                       (unsigned short)strlen(ctx->server_name)) != WOLFSSL_SUCCESS) {
        tls_conn_free(c);
        return NULL;
    }
    return c;
}

static size_t drop_output(void *user, const uint8_t *p, size_t n)
{
    (void)user, (void)p;
    return n;
}

void tls_conn_free(struct tls_conn *c)
{
    if (!c)
        return;
    if (c->started && (c->state == ST_HELLO || c->state == ST_HANDSHAKE))
        census_inc(c->ctx->census->failed[TLS_FAIL_ABANDONED]);
    /* Abortive: wolfSSL_free sends nothing (no close_notify); wolfSSL_set_quiet_shutdown is
     * OPENSSL_EXTRA-only in this build, so the output is also cut here to make sure. */
    c->io.output = drop_output;
    wolfSSL_free(c->ssl);
    tls_ctx_unref(c->ctx);
    free(c->pend);
    free(c->hello);
    free(c->peer);
    free(c->error);
    free(c);
}

/* Server: wait for the whole ClientHello, parse it, then hand the bytes to wolfSSL. */
static int peek_hello(struct tls_conn *c)
{
    if (!c->hello && !(c->hello = malloc(sizeof(*c->hello))))
        return tls_conn_fail(c, TLS_E_NOMEM, TLS_FAIL_OTHER, "out of memory");
    const uint8_t *p = c->in;
    size_t n = c->in_len;
    if (c->pend_len > 0) { /* an earlier part is pending: parse the joined bytes */
        int s = stash(c);
        if (s != 0)
            return s;
        p = c->pend + c->pend_off;
        n = c->pend_len;
    }
    int r = tls_client_hello_parse(p, n, c->hello);
    if (r == TLS_CH_NEED_MORE)
        return TLS_E_AGAIN;
    if (r == TLS_E_NOT_TLS) {
        char hex[12] = "";
        for (size_t i = 0; i < n && i < 3; i++)
            snprintf(hex + 3 * i, sizeof(hex) - 3 * i, "%s%02x", i ? " " : "", p[i]);
        return tls_conn_fail(c, r, TLS_FAIL_NOT_TLS,
                             "not TLS: first bytes %s (%s) start no handshake record", hex,
                             p[0] >= 0x20 && p[0] < 0x7f ? "text" : "binary");
    }
    if (r != 0)
        return tls_conn_fail(c, r, TLS_FAIL_HELLO, "malformed ClientHello (%zu bytes seen)", n);
    uint16_t lo, hi;
    tls_client_hello_range(c->hello, &lo, &hi);
    census_inc(c->ctx->census->offered_max[tls_version_index(hi)]);
    c->state = ST_HANDSHAKE;
    if (c->io.hello)
        c->io.hello(c->io.user, c->hello);
    return 0;
}

/* The key exchange group wolfSSL settled on. Its name is wolfSSL's own constant text (never the
 * peer's); DHE suites report no curve. */
static int group_index(struct tls_conn *c)
{
    static const struct {
        const char *name;
        int idx;
    } t[] = {{"X25519", TLS_GIDX_X25519},
             {"SECP256R1", TLS_GIDX_P256},
             {"SECP384R1", TLS_GIDX_P384},
             {"SECP521R1", TLS_GIDX_P521}};
    const char *n = wolfSSL_get_curve_name(c->ssl);
    for (size_t i = 0; n && i < sizeof(t) / sizeof(t[0]); i++)
        if (strcmp(n, t[i].name) == 0)
            return t[i].idx;
    if (n && strncmp(n, "FFDHE", 5) == 0)
        return TLS_GIDX_FFDHE;
    const char *suite = wolfSSL_get_cipher_name(c->ssl);
    if (suite && strncmp(suite, "DHE-", 4) == 0)
        return TLS_GIDX_FFDHE;
    return TLS_GIDX_NONE;
}

static void handshake_done(struct tls_conn *c)
{
    struct tls_census_atomic *cs = c->ctx->census;
    c->state = ST_OPEN;
    wolfSSL_FreeArrays(c->ssl); /* handshake-only secrets and buffers: most of the session heap */
    free(c->hello);
    c->hello = NULL;
    census_inc(cs->ok);
    if (wolfSSL_session_reused(c->ssl))
        census_inc(cs->resumed);
    census_inc(cs->version[tls_version_index((uint16_t)wolfSSL_version(c->ssl))]);
    census_inc(cs->suite[tls_suite_index((uint16_t)wolfSSL_get_current_cipher_suite(c->ssl))]);
    census_inc(cs->group[group_index(c)]);
    if (c->io.handshake)
        c->io.handshake(c->io.user, c);
}

static int handshake_step(struct tls_conn *c)
{
    tls_verdict_set_current(c);
    int ret = c->ctx->server ? wolfSSL_accept(c->ssl) : wolfSSL_connect(c->ssl);
    tls_verdict_set_current(NULL);
    if (ret == WOLFSSL_SUCCESS) {
        handshake_done(c);
        return 0;
    }
    int e = wolfSSL_get_error(c->ssl, ret);
    if (e == WOLFSSL_ERROR_WANT_READ)
        return TLS_E_AGAIN;
    if (e == WOLFSSL_ERROR_WANT_WRITE)
        return TLS_E_WANT_WRITE;
    return tls_conn_fail_wolf(c, e);
}

/* One wolfSSL_read: bytes, or a tls_error (TLS_E_AGAIN when the ciphertext ran out). */
static int read_once(struct tls_conn *c, uint8_t *buf, size_t cap)
{
    int r = wolfSSL_read(c->ssl, buf, cap > INT_MAX ? INT_MAX : (int)cap);
    if (r > 0)
        return r;
    int e = wolfSSL_get_error(c->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_READ)
        return TLS_E_AGAIN;
    if (e == WOLFSSL_ERROR_WANT_WRITE)
        return TLS_E_WANT_WRITE;
    if (e == WOLFSSL_ERROR_ZERO_RETURN) {
        c->state = ST_CLOSED;
        return TLS_E_CLOSED;
    }
    return tls_conn_fail_wolf(c, e);
}

static int pump_plaintext(struct tls_conn *c)
{
    uint8_t buf[PLAINTEXT_CHUNK];
    for (;;) {
        int r = read_once(c, buf, sizeof(buf));
        if (r <= 0)
            return r;
        c->io.plaintext(c->io.user, buf, (size_t)r);
        /* the plaintext may hold an APF password: do not leave it on the stack */
        explicit_bzero(buf, (size_t)r);
    }
}

/* Runs the state machine as far as the available ciphertext goes. */
static int progress(struct tls_conn *c, bool deliver)
{
    int r = 0;
    if (c->state == ST_HELLO && (r = peek_hello(c)) != 0)
        return r;
    if (c->state == ST_HANDSHAKE && (r = handshake_step(c)) != 0)
        return r;
    if (c->state == ST_OPEN && deliver && c->io.plaintext)
        return pump_plaintext(c);
    if (c->state == ST_CLOSED)
        return TLS_E_CLOSED;
    return c->state == ST_FAILED ? c->err : 0;
}

int tls_conn_feed(struct tls_conn *c, const uint8_t *cipher, size_t n)
{
    if (c->state == ST_FAILED)
        return c->err;
    if (n > 0 && !cipher)
        return TLS_E_INVAL;
    if (n > 0 && !c->started) {
        c->started = true;
        census_inc(c->ctx->census->started);
    }
    c->in = cipher;
    c->in_len = n;
    int r = progress(c, true);
    if (c->state != ST_FAILED && c->state != ST_CLOSED) {
        int s = stash(c);
        if (s != 0)
            r = s;
    }
    c->in = NULL;
    c->in_len = 0;
    pend_trim(c);
    return r == TLS_E_AGAIN ? 0 : r;
}

int tls_conn_handshake(struct tls_conn *c)
{
    if (c->state == ST_OPEN)
        return 0;
    if (!c->ctx->server && !c->started) {
        c->started = true;
        census_inc(c->ctx->census->started);
    }
    int r = progress(c, false);
    pend_trim(c);
    return r;
}

bool tls_conn_handshake_done(const struct tls_conn *c)
{
    return c->state == ST_OPEN || c->state == ST_CLOSED;
}

size_t tls_conn_pending(const struct tls_conn *c)
{
    return c->pend_len;
}

long tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap)
{
    if (!buf || cap == 0)
        return TLS_E_INVAL;
    int r = progress(c, false);
    if (r == 0 && c->state == ST_OPEN)
        r = read_once(c, buf, cap);
    pend_trim(c);
    return r;
}

long tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t n)
{
    if (c->state == ST_FAILED)
        return c->err;
    if (c->state != ST_OPEN)
        return TLS_E_STATE;
    if (n == 0)
        return 0;
    int sz = n > INT_MAX ? INT_MAX : (int)n;
    int r = wolfSSL_write(c->ssl, data, sz);
    if (r > 0)
        return r;
    int e = wolfSSL_get_error(c->ssl, r);
    if (e == WOLFSSL_ERROR_WANT_WRITE)
        return TLS_E_WANT_WRITE;
    return tls_conn_fail_wolf(c, e);
}

int tls_conn_shutdown(struct tls_conn *c)
{
    if (c->state == ST_FAILED)
        return c->err;
    int r = wolfSSL_shutdown(c->ssl);
    if (r == WOLFSSL_SUCCESS || r == WOLFSSL_SHUTDOWN_NOT_DONE) {
        c->state = ST_CLOSED;
        return 0;
    }
    return wolfSSL_get_error(c->ssl, r) == WOLFSSL_ERROR_WANT_WRITE ? TLS_E_WANT_WRITE
                                                                    : TLS_E_PROTOCOL;
}

int tls_conn_info(const struct tls_conn *c, struct tls_conn_info *out)
{
    memset(out, 0, sizeof(*out));
    if (!tls_conn_handshake_done(c))
        return TLS_E_STATE;
    out->version = (uint16_t)wolfSSL_version(c->ssl);
    out->suite = (uint16_t)wolfSSL_get_current_cipher_suite(c->ssl);
    out->cipher = wolfSSL_get_cipher_name(c->ssl);
    out->resumed = wolfSSL_session_reused(c->ssl) != 0;
    if (c->peer) {
        out->has_peer = true;
        memcpy(out->peer_subject, c->peer->subject, sizeof(out->peer_subject));
        memcpy(out->peer_sha256, c->peer->sha256, sizeof(out->peer_sha256));
        out->peer_id = c->peer->id;
    }
    return 0;
}

const char *tls_conn_error(const struct tls_conn *c)
{
    if (c->error)
        return c->error;
    return c->state == ST_FAILED ? tls_strerror(c->err) : "";
}

void *tls_conn_get_session(struct tls_conn *c)
{
    return tls_conn_handshake_done(c) ? wolfSSL_get1_session(c->ssl) : NULL;
}

int tls_conn_set_session(struct tls_conn *c, void *session)
{
    if (!session || c->started)
        return TLS_E_STATE;
    return wolfSSL_set_session(c->ssl, session) == WOLFSSL_SUCCESS ? 0 : TLS_E_INVAL;
}

void tls_session_free(void *session)
{
    wolfSSL_SESSION_free(session);
}
