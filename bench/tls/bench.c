/* bench/tls/bench.c - wolfSSL micro-benchmark, built twice from this one source: against the
 * AES-NI wolfSSL mpsd links (.deps) and against Debian's libwolfssl (the generic binary).
 * Measures AES-128-GCM encryption, in-memory TLS 1.2 ECDHE-RSA handshakes (client and server in
 * one thread), and the heap an idle server session keeps after the handshake. Prints one JSON
 * object. It uses wolfSSL directly (not src/tls) because src/tls is compiled for one options.h.
 *
 *   bench_tls LABEL CERT2048 KEY2048 CERT3072 KEY3072 [seconds]
 */
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/memory.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- counting allocator (for heap per idle session) --------------------------------------- */
#define HDR 16
static long long live;

static void *count_malloc(size_t n)
{
    unsigned char *p = malloc(n + HDR);
    if (!p)
        return NULL;
    memcpy(p, &n, sizeof(n));
    live += (long long)n;
    return p + HDR;
}

static void count_free(void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    live -= (long long)n;
    free(p);
}

static void *count_realloc(void *ptr, size_t n)
{
    if (!ptr)
        return count_malloc(n);
    unsigned char *p = (unsigned char *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof(old));
    unsigned char *q = realloc(p, n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof(n));
    live += (long long)n - (long long)old;
    return q + HDR;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_tls: %s\n", what);
    exit(1);
}

/* ---- AES-128-GCM ---------------------------------------------------------------------------- */
static double aes_gcm_mbps(double seconds)
{
    static unsigned char in[16384], out[16384];
    unsigned char key[16] = {1, 2, 3}, iv[12] = {4, 5, 6}, tag[16];
    Aes aes;
    if (wc_AesInit(&aes, NULL, INVALID_DEVID) != 0 || wc_AesGcmSetKey(&aes, key, 16) != 0)
        die("AES-GCM init");
    long blocks = 0;
    double t0 = now(), t;
    do {
        for (int i = 0; i < 64; i++, blocks++)
            if (wc_AesGcmEncrypt(&aes, out, in, sizeof(in), iv, sizeof(iv), tag, sizeof(tag), NULL,
                                 0) != 0)
                die("AES-GCM encrypt");
        t = now() - t0;
    } while (t < seconds);
    wc_AesFree(&aes);
    return (double)blocks * sizeof(in) / t / 1e6;
}

/* ---- in-memory TLS pair --------------------------------------------------------------------- */
struct pipe {
    unsigned char buf[65536];
    size_t len;
};

struct end {
    struct pipe *rx, *tx;
};

static int io_recv(WOLFSSL *ssl, char *b, int sz, void *vctx)
{
    struct end *e = vctx;
    (void)ssl;
    if (e->rx->len == 0)
        return WOLFSSL_CBIO_ERR_WANT_READ;
    size_t k = (size_t)sz < e->rx->len ? (size_t)sz : e->rx->len;
    memcpy(b, e->rx->buf, k);
    memmove(e->rx->buf, e->rx->buf + k, e->rx->len - k);
    e->rx->len -= k;
    return (int)k;
}

static int io_send(WOLFSSL *ssl, char *b, int sz, void *vctx)
{
    struct end *e = vctx;
    (void)ssl;
    if (e->tx->len + (size_t)sz > sizeof(e->tx->buf))
        return WOLFSSL_CBIO_ERR_WANT_WRITE;
    memcpy(e->tx->buf + e->tx->len, b, (size_t)sz);
    e->tx->len += (size_t)sz;
    return sz;
}

struct pair {
    struct pipe c2s, s2c;
    struct end se, ce;
    WOLFSSL *s, *c;
};

static void pair_new(struct pair *p, WOLFSSL_CTX *sctx, WOLFSSL_CTX *cctx)
{
    p->c2s.len = p->s2c.len = 0;
    p->se = (struct end){.rx = &p->c2s, .tx = &p->s2c};
    p->ce = (struct end){.rx = &p->s2c, .tx = &p->c2s};
    p->s = wolfSSL_new(sctx);
    p->c = wolfSSL_new(cctx);
    if (!p->s || !p->c)
        die("wolfSSL_new");
    wolfSSL_SSLSetIORecv(p->s, io_recv);
    wolfSSL_SSLSetIOSend(p->s, io_send);
    wolfSSL_SSLSetIORecv(p->c, io_recv);
    wolfSSL_SSLSetIOSend(p->c, io_send);
    wolfSSL_SetIOReadCtx(p->s, &p->se);
    wolfSSL_SetIOWriteCtx(p->s, &p->se);
    wolfSSL_SetIOReadCtx(p->c, &p->ce);
    wolfSSL_SetIOWriteCtx(p->c, &p->ce);
}

static void handshake(struct pair *p)
{
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 20 && !(cdone && sdone); i++) {
        if (!cdone) {
            int r = wolfSSL_connect(p->c);
            if (r == WOLFSSL_SUCCESS)
                cdone = 1;
            else if (wolfSSL_get_error(p->c, r) != WOLFSSL_ERROR_WANT_READ)
                die("client handshake failed");
        }
        if (!sdone) {
            int r = wolfSSL_accept(p->s);
            if (r == WOLFSSL_SUCCESS)
                sdone = 1;
            else if (wolfSSL_get_error(p->s, r) != WOLFSSL_ERROR_WANT_READ)
                die("server handshake failed");
        }
    }
    if (!(cdone && sdone))
        die("handshake did not finish");
}

static WOLFSSL_CTX *server_ctx(const char *cert, const char *key)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (!ctx || wolfSSL_CTX_use_certificate_chain_file(ctx, cert) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_use_PrivateKey_file(ctx, key, WOLFSSL_FILETYPE_PEM) != WOLFSSL_SUCCESS)
        die("server certificate/key");
    /* what mpsd does on the server: no global session cache on the handshake path */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    return ctx;
}

static WOLFSSL_CTX *client_ctx(void)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfTLSv1_2_client_method());
    if (!ctx || wolfSSL_CTX_set_cipher_list(ctx, "ECDHE-RSA-AES128-GCM-SHA256") != WOLFSSL_SUCCESS)
        die("client context");
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL); /* measure the handshake, not X.509 */
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    return ctx;
}

static double handshakes_per_s(const char *cert, const char *key, double seconds)
{
    WOLFSSL_CTX *s = server_ctx(cert, key), *c = client_ctx();
    static struct pair p;
    long n = 0;
    double t0 = now(), t;
    do {
        pair_new(&p, s, c);
        handshake(&p);
        wolfSSL_free(p.s);
        wolfSSL_free(p.c);
        n++;
        t = now() - t0;
    } while (t < seconds);
    wolfSSL_CTX_free(s);
    wolfSSL_CTX_free(c);
    return (double)n / t;
}

/* TLS 1.3 full handshakes whose key exchange is `group` (the client's only key share), with the
 * RSA-2048 certificate: what the key exchange itself costs, X25519 against P-256. 0 when this
 * wolfSSL lacks the group. */
static double tls13_handshakes_per_s(const char *cert, const char *key, int group, double seconds)
{
    WOLFSSL_CTX *s = server_ctx(cert, key);
    WOLFSSL_CTX *c = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    if (!c)
        die("client context");
    wolfSSL_CTX_set_verify(c, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_set_session_cache_mode(c, WOLFSSL_SESS_CACHE_OFF);
    if (wolfSSL_CTX_set_groups(c, &group, 1) != WOLFSSL_SUCCESS) {
        wolfSSL_CTX_free(s);
        wolfSSL_CTX_free(c);
        return 0;
    }
    static struct pair p;
    long n = 0;
    double t0 = now(), t;
    do {
        pair_new(&p, s, c);
        if (wolfSSL_UseKeyShare(p.c, (word16)group) != WOLFSSL_SUCCESS)
            die("key share");
        handshake(&p);
        wolfSSL_free(p.s);
        wolfSSL_free(p.c);
        n++;
        t = now() - t0;
    } while (t < seconds);
    wolfSSL_CTX_free(s);
    wolfSSL_CTX_free(c);
    return (double)n / t;
}

/* Heap kept by one idle server session: handshake N pairs, free the clients, divide. */
static long long idle_session_bytes(const char *cert, const char *key)
{
    enum { N = 32 };
    WOLFSSL_CTX *s = server_ctx(cert, key), *c = client_ctx();
    static struct pair p[N];
    long long base = live;
    for (int i = 0; i < N; i++) {
        pair_new(&p[i], s, c);
        handshake(&p[i]);
        wolfSSL_FreeArrays(p[i].s);
    }
    for (int i = 0; i < N; i++)
        wolfSSL_free(p[i].c);
    long long per = (live - base) / N;
    for (int i = 0; i < N; i++)
        wolfSSL_free(p[i].s);
    wolfSSL_CTX_free(s);
    wolfSSL_CTX_free(c);
    return per;
}

int main(int argc, char **argv)
{
    if (argc < 6) {
        fprintf(stderr, "usage: %s LABEL CERT2048 KEY2048 CERT3072 KEY3072 [seconds]\n", argv[0]);
        return 2;
    }
    double secs = argc > 6 ? atof(argv[6]) : 2.0;
    if (wolfSSL_SetAllocators(count_malloc, count_free, count_realloc) != 0)
        die("wolfSSL_SetAllocators");
    if (wolfSSL_Init() != WOLFSSL_SUCCESS)
        die("wolfSSL_Init");
#ifdef WOLFSSL_AESNI
    const char *aesni = "true";
#else
    const char *aesni = "false";
#endif
    double aes = aes_gcm_mbps(secs);
    double hs2 = handshakes_per_s(argv[2], argv[3], secs);
    double hs3 = handshakes_per_s(argv[4], argv[5], secs);
    long long idle = idle_session_bytes(argv[2], argv[3]);
    double p256 = tls13_handshakes_per_s(argv[2], argv[3], WOLFSSL_ECC_SECP256R1, secs);
#ifdef HAVE_CURVE25519
    double x25519 = tls13_handshakes_per_s(argv[2], argv[3], WOLFSSL_ECC_X25519, secs);
#else
    double x25519 = 0;
#endif
    printf("{\"label\": \"%s\", \"wolfssl_version\": \"%s\", \"aesni\": %s, "
           "\"aes128gcm_16k_MBps\": %.1f, \"tls12_ecdhe_rsa2048_hs_per_s\": %.1f, "
           "\"tls12_ecdhe_rsa3072_hs_per_s\": %.1f, \"idle_server_session_heap_B\": %lld, "
           "\"tls13_rsa2048_p256_hs_per_s\": %.1f, \"tls13_rsa2048_x25519_hs_per_s\": %.1f}\n",
           argv[1], wolfSSL_lib_version(), aesni, aes, hs2, hs3, idle, p256, x25519);
    wolfSSL_Cleanup();
    return 0;
}
