/* The ClientHello census parser: captured hellos, truncations, fragmentation, garbage. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
    cr_assert_eq(tls_global_init(), 0);
}

TestSuite(tls_hello, .init = setup);

/* The first flight of one of our wolfSSL clients. */
static size_t capture(uint16_t min, uint16_t max, const char *ciphers, uint8_t *out, size_t cap)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_ctx *c = client_ctx(min, max, ciphers, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(tls_conn_handshake(pr.c.c), TLS_E_AGAIN);
    size_t n = pr.c.out.len < cap ? pr.c.out.len : cap;
    memcpy(out, pr.c.out.p, n);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
    return n;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s", path);
    uint8_t *p = malloc(65536);
    *n = fread(p, 1, 65536, f);
    fclose(f);
    return p;
}

/* Every proper prefix must ask for more, never fail or read past the end (ASan watches). */
static void check_prefixes(const uint8_t *p, size_t n)
{
    struct tls_client_hello ch;
    cr_assert_eq(tls_client_hello_parse(p, n, &ch), 0);
    size_t whole = ch.consumed;
    for (size_t k = 0; k < whole; k++) {
        uint8_t *copy = malloc(k ? k : 1); /* exact-size copy: overreads hit the redzone */
        memcpy(copy, p, k);
        cr_assert_eq(tls_client_hello_parse(copy, k, &ch), TLS_CH_NEED_MORE, "prefix %zu", k);
        free(copy);
    }
}

Test(tls_hello, wolfssl_tls13_hello)
{
    uint8_t buf[4096];
    size_t n = capture(0, 0, NULL, buf, sizeof(buf));
    struct tls_client_hello ch;
    cr_assert_eq(tls_client_hello_parse(buf, n, &ch), 0);
    cr_expect_eq(ch.consumed, n);
    cr_expect_eq(ch.legacy_version, TLS_V1_2);
    cr_expect(ch.has_supported_versions);
    uint16_t lo, hi;
    tls_client_hello_range(&ch, &lo, &hi);
    cr_expect_eq(lo, TLS_V1_2);
    cr_expect_eq(hi, TLS_V1_3);
    cr_expect_str_eq(ch.sni, "mps.test");
    cr_expect_gt(ch.n_suites, 3);
    check_prefixes(buf, n);
    char line[1024];
    tls_client_hello_format(&ch, line, sizeof(line));
    cr_expect_not_null(strstr(line, "versions=TLS 1.2-TLS 1.3 suites("), "%s", line);
    cr_expect_not_null(strstr(line, "TLS13-AES128-GCM-SHA256"), "%s", line);
    cr_expect_not_null(strstr(line, "sni=mps.test"), "%s", line);
}

Test(tls_hello, wolfssl_tls11_static_rsa_hello)
{
    uint8_t buf[4096];
    size_t n = capture(TLS_V1_1, TLS_V1_1, "AES128-SHA:AES256-SHA", buf, sizeof(buf));
    struct tls_client_hello ch;
    cr_assert_eq(tls_client_hello_parse(buf, n, &ch), 0);
    cr_expect_eq(ch.legacy_version, TLS_V1_1);
    cr_expect_not(ch.has_supported_versions);
    cr_expect_eq(ch.suites[0], 0x002F);
    cr_expect_eq(ch.suites[1], 0x0035);
    char line[256];
    tls_client_hello_format(&ch, line, sizeof(line));
    cr_expect_not_null(strstr(line, "versions=TLS 1.0-TLS 1.1 (no supported_versions) "
                                    "suites(2)=AES128-SHA,AES256-SHA sni=mps.test"),
                       "%s", line);
    check_prefixes(buf, n);
}

/* The same hello cut into 1..7-byte handshake records must parse the same. */
Test(tls_hello, fragmented_over_records)
{
    uint8_t buf[4096];
    size_t n = capture(0, 0, NULL, buf, sizeof(buf));
    struct tls_client_hello whole, frag;
    cr_assert_eq(tls_client_hello_parse(buf, n, &whole), 0);
    size_t body = n - 5;
    for (size_t piece = 1; piece <= 7; piece++) {
        uint8_t *out = malloc(body + 5 * (body / piece + 1));
        size_t o = 0;
        for (size_t off = 0; off < body; off += piece) {
            size_t k = body - off < piece ? body - off : piece;
            out[o++] = 0x16, out[o++] = 3, out[o++] = 1, out[o++] = 0, out[o++] = (uint8_t)k;
            memcpy(out + o, buf + 5 + off, k);
            o += k;
        }
        cr_assert_eq(tls_client_hello_parse(out, o, &frag), 0, "piece %zu", piece);
        cr_expect_eq(frag.consumed, o);
        cr_expect_eq(frag.n_suites, whole.n_suites);
        cr_expect_eq(memcmp(frag.suites, whole.suites, whole.n_suites * 2), 0);
        cr_expect_str_eq(frag.sni, whole.sni);
        cr_expect_eq(frag.n_versions, whole.n_versions);
        for (size_t k = 0; k < o; k += 13)
            cr_expect_eq(tls_client_hello_parse(out, k, &frag), TLS_CH_NEED_MORE);
        free(out);
    }
}

Test(tls_hello, garbage_and_malformed)
{
    struct tls_client_hello ch;
    cr_expect_eq(tls_client_hello_parse((const uint8_t *)"G", 1, &ch), TLS_E_NOT_TLS);
    cr_expect_eq(tls_client_hello_parse((const uint8_t *)"SSH-2.0-x", 9, &ch), TLS_E_NOT_TLS);
    static const uint8_t v2[] = {0x80, 0x2e, 0x01, 0x03, 0x01}; /* SSLv2-compatible hello */
    cr_expect_eq(tls_client_hello_parse(v2, sizeof(v2), &ch), TLS_E_NOT_TLS);
    static const uint8_t badmaj[] = {0x16, 0x02, 0x00};
    cr_expect_eq(tls_client_hello_parse(badmaj, 3, &ch), TLS_E_NOT_TLS);
    cr_expect_eq(tls_client_hello_parse(badmaj, 1, &ch), TLS_CH_NEED_MORE);
    cr_expect_eq(tls_client_hello_parse(NULL, 0, &ch), TLS_CH_NEED_MORE);
    static const uint8_t huge_rec[] = {0x16, 0x03, 0x01, 0x48, 0x01, 0x01, 0, 0, 40};
    cr_expect_eq(tls_client_hello_parse(huge_rec, sizeof(huge_rec), &ch), TLS_E_HELLO);
    static const uint8_t not_ch[] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0, 0, 40};
    cr_expect_eq(tls_client_hello_parse(not_ch, sizeof(not_ch), &ch), TLS_E_HELLO);
    static const uint8_t huge_hs[] = {0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x01, 0x00, 0x00};
    cr_expect_eq(tls_client_hello_parse(huge_hs, sizeof(huge_hs), &ch), TLS_E_HELLO);
    /* an alert record where the hello's continuation should be */
    uint8_t buf[4096];
    size_t n = capture(0, 0, NULL, buf, sizeof(buf));
    uint8_t two[64] = {0x16, 0x03, 0x01, 0x00, 0x06};
    memcpy(two + 5, buf + 5, 6);
    memcpy(two + 11, "\x15\x03\x03\x00\x02\x02\x28", 7);
    cr_expect_eq(tls_client_hello_parse(two, 18, &ch), TLS_E_HELLO);
    (void)n;
}

/* Corrupting any single length byte must give a clean verdict (ASan watches for overreads). */
Test(tls_hello, mutations_stay_in_bounds)
{
    uint8_t buf[4096];
    size_t n = capture(0, 0, NULL, buf, sizeof(buf));
    struct tls_client_hello ch;
    for (size_t i = 0; i < n; i++) {
        uint8_t *m = malloc(n);
        for (int delta = 1; delta < 256; delta += 37) {
            memcpy(m, buf, n);
            m[i] = (uint8_t)(m[i] + delta);
            int r = tls_client_hello_parse(m, n, &ch);
            cr_assert(r == 0 || r == TLS_CH_NEED_MORE || r == TLS_E_HELLO || r == TLS_E_NOT_TLS);
            if (r == 0)
                cr_assert_leq(ch.consumed, n);
        }
        free(m);
    }
}

Test(tls_hello, committed_corpus_parses)
{
    const char *dir = getenv("TLS_TEST_CORPUS");
    cr_assert_not_null(dir);
    static const char *const files[] = {
        "wolfssl-tls13.bin",
        "wolfssl-tls12.bin",
        "wolfssl-tls11-aes128-sha.bin",
        "wolfssl-tls10-aes256-sha.bin",
        "openssl-tls13.bin",
        "openssl-tls11-legacy.bin",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        size_t n;
        uint8_t *p = slurp(path, &n);
        struct tls_client_hello ch;
        cr_expect_eq(tls_client_hello_parse(p, n, &ch), 0, "%s", files[i]);
        check_prefixes(p, n);
        free(p);
    }
}

/* TLS_CORPUS_OUT=dir regenerates the wolfSSL part of the committed corpus. */
Test(tls_hello, write_corpus)
{
    const char *out = getenv("TLS_CORPUS_OUT");
    if (!out)
        cr_skip_test("set TLS_CORPUS_OUT to regenerate");
    static const struct {
        const char *name;
        uint16_t min, max;
        const char *ciphers;
    } kinds[] = {
        {"wolfssl-tls13.bin", 0, 0, NULL},
        {"wolfssl-tls12.bin", TLS_V1_2, TLS_V1_2, NULL},
        {"wolfssl-tls11-aes128-sha.bin", TLS_V1_1, TLS_V1_1, "AES128-SHA"},
        {"wolfssl-tls10-aes256-sha.bin", TLS_V1_0, TLS_V1_0, "AES256-SHA"},
    };
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        uint8_t buf[4096];
        size_t n = capture(kinds[i].min, kinds[i].max, kinds[i].ciphers, buf, sizeof(buf));
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", out, kinds[i].name);
        FILE *f = fopen(path, "wb");
        cr_assert_not_null(f);
        fwrite(buf, 1, n, f);
        fclose(f);
    }
}

Test(tls_hello, suite_names)
{
    cr_expect_str_eq(tls_suite_name(0x002F), "AES128-SHA");
    cr_expect_str_eq(tls_suite_name(0x1301), "TLS13-AES128-GCM-SHA256");
    cr_expect_str_eq(tls_suite_name(0x3a3a), "GREASE");
    cr_expect_null(tls_suite_name(0x1234));
    cr_expect_eq(tls_suite_index(0x1234), (int)tls_suite_count());
    for (size_t i = 0; i < tls_suite_count(); i++)
        cr_expect_eq(tls_suite_index(tls_suite_id_at(i)), (int)i);
    cr_expect_str_eq(tls_version_name(TLS_V1_1), "TLS 1.1");
    cr_expect_str_eq(tls_strerror(TLS_E_NOT_TLS), "peer did not start a TLS handshake");
}
