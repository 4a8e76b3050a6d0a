/* Heap held by an idle server session after the handshake, counted through wolfSSL's allocator
 * hooks. Target ~8 KiB (docs/tls.md); the assertion is a sanity bound, the figure is printed. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/memory.h>

#define SESSIONS 64
#define HDR      16 /* keeps the user pointer 16-byte aligned */

static long long live; /* criterion runs each test in its own process: no sharing */

static void *count_malloc(size_t n)
{
    uint8_t *p = malloc(n + HDR);
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
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t n;
    memcpy(&n, p, sizeof(n));
    live -= (long long)n;
    free(p);
}

static void *count_realloc(void *ptr, size_t n)
{
    if (!ptr)
        return count_malloc(n);
    uint8_t *p = (uint8_t *)ptr - HDR;
    size_t old;
    memcpy(&old, p, sizeof(old));
    uint8_t *q = realloc(p, n + HDR);
    if (!q)
        return NULL;
    memcpy(q, &n, sizeof(n));
    live += (long long)n - (long long)old;
    return q + HDR;
}

static void setup(void)
{
    /* before wolfSSL allocates anything in this (forked) test process */
    cr_assert_eq(wolfSSL_SetAllocators(count_malloc, count_free, count_realloc), 0);
    cr_assert_eq(tls_global_init(), 0);
}

TestSuite(tls_heap, .init = setup);

static long long idle_bytes(uint16_t max)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_ctx *c = client_ctx(0, max, NULL, false);
    static struct pair pr[SESSIONS];
    long long base = live;
    for (int i = 0; i < SESSIONS; i++) {
        pair_init(&pr[i], s, c, true);
        cr_assert_eq(pair_handshake(&pr[i], 0), 0);
    }
    for (int i = 0; i < SESSIONS; i++) { /* keep only the server halves */
        tls_conn_free(pr[i].c.c);
        pr[i].c.c = NULL;
    }
    long long per = (live - base) / SESSIONS;
    for (int i = 0; i < SESSIONS; i++)
        pair_free(&pr[i]);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
    return per;
}

Test(tls_heap, idle_server_session_tls12)
{
    long long b = idle_bytes(TLS_V1_2);
    printf(
        "heap per idle server session, TLS 1.2 ECDHE-RSA-AES256-GCM: %lld B wolfSSL + tls_conn\n",
        b);
    cr_expect_gt(b, 1000);
    cr_expect_lt(b, 16384, "idle TLS 1.2 session holds %lld B", b);
}

Test(tls_heap, idle_server_session_tls13)
{
    long long b = idle_bytes(0);
    printf("heap per idle server session, TLS 1.3 AES256-GCM: %lld B wolfSSL\n", b);
    cr_expect_lt(b, 16384, "idle TLS 1.3 session holds %lld B", b);
}
