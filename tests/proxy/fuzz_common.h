/* tests/proxy: helpers the HTTP fuzzers share (a trap on a broken invariant, a small PRNG, and a
 * body scan fed whole and in random pieces that must agree). */
#ifndef MPSD_TESTS_PROXY_FUZZ_COMMON_H
#define MPSD_TESTS_PROXY_FUZZ_COMMON_H

#include "http1.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static inline uint32_t fuzz_rng(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* The bytes of p[0..n) the body takes (or HTTP_E_CHUNK), and whether it is done. */
static inline ssize_t fuzz_scan(const http_head *h, const http_limits *lim, const uint8_t *p,
                                size_t n, uint32_t seed, size_t step, bool *done)
{
    http_body b;
    size_t pos = 0;
    http_body_init(&b, h->body, h->content_length, lim);
    while (pos < n && !http_body_done(&b)) {
        size_t k = n - pos;
        if (step) {
            size_t r = 1 + fuzz_rng(&seed) % step;
            k = k < r ? k : r;
        }
        ssize_t r = http_body_scan(&b, p + pos, k);
        if (r < 0) {
            CHECK(r == HTTP_E_CHUNK && h->body == HTTP_BODY_CHUNKED);
            CHECK(http_body_scan(&b, p, n) == HTTP_E_CHUNK);
            *done = false;
            return r;
        }
        CHECK((size_t)r <= k);
        CHECK((size_t)r == k || http_body_done(&b));
        pos += (size_t)r;
    }
    *done = http_body_done(&b);
    if (h->body == HTTP_BODY_UNTIL_CLOSE) {
        CHECK(pos == n && !*done);
        CHECK(http_body_eof(&b));
    }
    return (ssize_t)pos;
}

/* Whole and split scans agree. */
static inline void fuzz_check_body(const http_head *h, const http_limits *lim, const uint8_t *p,
                                   size_t n, uint32_t seed)
{
    bool d1, d2;
    ssize_t a = fuzz_scan(h, lim, p, n, seed, 0, &d1);
    ssize_t b = fuzz_scan(h, lim, p, n, seed, 1 + seed % 17, &d2);
    CHECK(a == b && d1 == d2);
    if (a >= 0 && h->body == HTTP_BODY_LENGTH)
        CHECK(d1 == ((uint64_t)a == h->content_length));
}

/* The head's slices lie inside p[0..head_len). */
static inline void fuzz_check_head(const http_head *h, const uint8_t *p, int r, size_t n,
                                   const http_limits *lim)
{
    const char *lo = (const char *)p, *hi = (const char *)p + r;
    CHECK(r > 0 && (size_t)r <= n && (size_t)r == h->head_len);
    CHECK((size_t)r <= lim->max_head);
    CHECK(h->nheaders <= lim->max_headers && h->nheaders <= HTTP_MAX_HEADERS);
    CHECK(h->minor == 0 || h->minor == 1);
    for (size_t i = 0; i < h->nheaders; i++) {
        const http_header *x = &h->headers[i];
        CHECK(x->name.len > 0 && x->name.p >= lo && x->name.p + x->name.len <= hi);
        CHECK(x->value.p >= lo && x->value.p + x->value.len <= hi);
        CHECK(!memchr(x->value.p, '\r', x->value.len) && !memchr(x->value.p, '\n', x->value.len));
        CHECK(!memchr(x->value.p, 0, x->value.len));
    }
    /* the bytes after the head play no part; a shorter prefix is incomplete */
    http_head h2;
    int r2 = h->is_request ? http_parse_request(p, (size_t)r, lim, &h2)
                           : http_parse_response(p, (size_t)r, lim, false, &h2);
    CHECK(r2 == r);
    if (r > 1) {
        int r3 = h->is_request ? http_parse_request(p, (size_t)r - 1, lim, &h2)
                               : http_parse_response(p, (size_t)r - 1, lim, false, &h2);
        CHECK(r3 == HTTP_AGAIN);
    }
}

#endif
