/* Sessions in memory: handshakes, splitting, bulk data, close, garbage, back-pressure. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void setup(void)
{
    cr_assert_eq(tls_global_init(), 0);
}

TestSuite(tls_session, .init = setup);

static void expect_version(struct pair *pr, uint16_t v)
{
    struct tls_conn_info si, ci;
    cr_assert_eq(tls_conn_info(pr->s.c, &si), 0);
    cr_assert_eq(tls_conn_info(pr->c.c, &ci), 0);
    cr_expect_eq(si.version, v, "server negotiated %s", tls_version_name(si.version));
    cr_expect_eq(ci.version, v);
    cr_expect_eq(si.suite, ci.suite);
    cr_expect_str_eq(si.cipher, ci.cipher);
    cr_expect_not(si.resumed);
    cr_expect_not(si.has_peer, "no client certificate was asked for");
    cr_expect(ci.has_peer, "the client saw the server leaf");
    cr_expect_not_null(strstr(ci.peer_subject, "CN=mps.test"), "%s", ci.peer_subject);
}

Test(tls_session, modern_tls13)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    expect_version(&pr, TLS_V1_3);
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.suite, 0x1302, "server preference: AES-256-GCM first, got %s", si.cipher);
    cr_expect_eq(pr.s.hellos, 1);
    cr_expect_str_eq(pr.s.hello.sni, "mps.test");
    cr_expect(pr.s.hello.has_supported_versions);
    cr_expect_eq(pr.s.handshakes, 1);
    cr_expect_eq(pr.c.handshakes, 1);

    /* a small exchange both ways */
    cr_assert_eq(tls_conn_write(pr.c.c, (const uint8_t *)"ping", 4), 4);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    cr_assert_eq(pr.s.plain.len, 4);
    cr_expect_eq(memcmp(pr.s.plain.p, "ping", 4), 0);
    cr_assert_eq(tls_conn_write(pr.s.c, (const uint8_t *)"pong!", 5), 5);
    cr_assert_eq(pair_flush(&pr.s, &pr.c, 0), 0);
    cr_expect_eq(pr.c.plain.len, 5);

    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.started, 1);
    cr_expect_eq(cs.ok, 1);
    cr_expect_eq(cs.version[TLS_VIDX_1_3], 1);
    cr_expect_eq(cs.offered_max[TLS_VIDX_1_3], 1);
    cr_expect_eq(cs.suite[tls_suite_index(0x1302)], 1);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, modern_tls12_ecdhe_gcm)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_ctx *c = client_ctx(TLS_V1_2, TLS_V1_2, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    expect_version(&pr, TLS_V1_2);
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.suite, 0xC030, "ECDHE-RSA-AES256-GCM preferred, got %s", si.cipher);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, server_preference_dhe_when_no_ecdhe)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_ctx *c = client_ctx(TLS_V1_2, TLS_V1_2,
                                   "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384", false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0, "%s", tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.suite, 0x009F, "DHE-RSA-AES256-GCM (ffdhe2048) expected, got %s", si.cipher);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, modern_refuses_cbc_and_static_rsa_in_tls12)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_ctx *c =
        client_ctx(TLS_V1_2, TLS_V1_2, "AES128-SHA:AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA", false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), TLS_E_NO_CIPHER);
    cr_log_info("%s", tls_conn_error(pr.s.c));
    cr_expect_not_null(
        strstr(tls_conn_error(pr.s.c), "no cipher suite in common with profile modern"), "%s",
        tls_conn_error(pr.s.c));
    cr_expect_not_null(strstr(tls_conn_error(pr.s.c), "AES128-SHA"), "%s", tls_conn_error(pr.s.c));
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.failed[TLS_FAIL_NO_CIPHER], 1);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

/* Ciphertext split at every byte: every partial-record path of the pending buffer. */
static void byte_by_byte(uint16_t max, bool cb)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, max, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, cb);
    cr_assert_eq(pair_handshake(&pr, 1), 0, "%s / %s", tls_conn_error(pr.s.c),
                 tls_conn_error(pr.c.c));
    cr_expect_eq(tls_conn_pending(pr.s.c), 0);
    const char *msg = "hello over TLS, one byte at a time";
    size_t n = strlen(msg);
    cr_assert_eq(tls_conn_write(pr.c.c, (const uint8_t *)msg, n), (long)n);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 1), 0);
    if (!cb) {
        uint8_t got[64];
        long r = tls_conn_read(pr.s.c, got, sizeof(got));
        cr_assert_eq(r, (long)n);
        buf_put(&pr.s.plain, got, (size_t)r);
    }
    cr_assert_eq(pr.s.plain.len, n);
    cr_expect_eq(memcmp(pr.s.plain.p, msg, n), 0);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, byte_by_byte_tls13)
{
    byte_by_byte(TLS_V1_3, true);
}

Test(tls_session, byte_by_byte_tls12_pull)
{
    byte_by_byte(TLS_V1_2, false);
}

/* 4 MiB client->server through the callback, 1 MiB server->client pulled in odd chunks. */
Test(tls_session, large_transfer)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    size_t big = 4u << 20;
    uint8_t *data = malloc(big);
    for (size_t i = 0; i < big; i++)
        data[i] = (uint8_t)(i * 31 + (i >> 13));
    for (size_t off = 0; off < big; off += 100000) {
        size_t k = big - off < 100000 ? big - off : 100000;
        cr_assert_eq(tls_conn_write(pr.c.c, data + off, k), (long)k);
        cr_assert_eq(pair_flush(&pr.c, &pr.s, 7001), 0); /* chunks cut records anywhere */
        /* only a partial record is ever kept: a record is at most 16 KiB + header + tag */
        cr_assert_lt(tls_conn_pending(pr.s.c), 16384 + 5 + 256);
    }
    cr_expect_eq(tls_conn_pending(pr.s.c), 0, "drained: the pending buffer is gone");
    cr_assert_eq(pr.s.plain.len, big);
    cr_expect_eq(memcmp(pr.s.plain.p, data, big), 0);
    pair_free(&pr);

    /* pull mode, server -> client */
    pair_init(&pr, s, c, false);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    size_t n = 1u << 20, got = 0;
    cr_assert_eq(tls_conn_write(pr.s.c, data, n), (long)n);
    uint8_t *rx = malloc(n);
    while (pr.s.out.len > 0 || got < n) {
        size_t k = pr.s.out.len < 20000 ? pr.s.out.len : 20000;
        cr_assert_eq(tls_conn_feed(pr.c.c, pr.s.out.p, k), 0);
        buf_drop(&pr.s.out, k);
        long r;
        while ((r = tls_conn_read(pr.c.c, rx + got, 1000)) > 0)
            got += (size_t)r;
        cr_assert_eq(r, TLS_E_AGAIN);
    }
    cr_assert_eq(got, n);
    cr_expect_eq(memcmp(rx, data, n), 0);
    free(rx);
    free(data);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, graceful_close_sends_close_notify)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    cr_assert_eq(tls_conn_write(pr.s.c, (const uint8_t *)"bye", 3), 3);
    cr_assert_eq(tls_conn_shutdown(pr.s.c), 0);
    cr_assert_eq(pair_flush(&pr.s, &pr.c, 0), TLS_E_CLOSED);
    cr_expect_eq(pr.c.plain.len, 3, "data before close_notify is delivered");
    cr_expect_eq(tls_conn_feed(pr.c.c, NULL, 0), TLS_E_CLOSED);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, abortive_free_sends_nothing)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    size_t before = pr.s.out.len;
    tls_conn_free(pr.s.c); /* the output callback would write into pr.s.out */
    cr_expect_eq(pr.s.out.len, before);
    pr.s.c = NULL;
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, garbage_fails_fast)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct end e;
    struct pair pr;
    struct tls_ctx *c = client_ctx(0, 0, NULL, false);
    pair_init(&pr, s, c, true);
    e = pr.s;
    const char *http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(tls_conn_feed(e.c, (const uint8_t *)http, 1), TLS_E_NOT_TLS, "one byte suffices");
    cr_expect_not_null(strstr(tls_conn_error(e.c), "not TLS"), "%s", tls_conn_error(e.c));
    cr_log_info("%s", tls_conn_error(e.c));
    cr_expect_eq(tls_conn_feed(e.c, (const uint8_t *)http, strlen(http)), TLS_E_NOT_TLS,
                 "a dead session stays dead");
    cr_expect_eq(pr.s.out.len, 0, "nothing is answered to garbage");

    /* a TLS-looking record header whose body is no ClientHello */
    struct tls_conn_io io = {.output = NULL};
    cr_expect_null(tls_conn_new(s, &io), "an output callback is required");
    struct pair p2;
    pair_init(&p2, s, c, true);
    static const uint8_t bad[] = {0x16, 0x03, 0x01, 0x00, 0x05, 0x02, 0x00, 0x00, 0x01, 0x00};
    cr_expect_eq(tls_conn_feed(p2.s.c, bad, sizeof(bad)), TLS_E_HELLO);
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.failed[TLS_FAIL_NOT_TLS], 1);
    cr_expect_eq(cs.failed[TLS_FAIL_HELLO], 1);
    pair_free(&p2);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, want_write_then_retry)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    /* the server's send queue is full while it answers the ClientHello */
    pr.s.refuse = true;
    cr_assert_eq(tls_conn_handshake(pr.c.c), TLS_E_AGAIN);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), TLS_E_WANT_WRITE);
    cr_expect_eq(pr.s.out.len, 0);
    pr.s.refuse = false;
    pr.s.accept_max = 100; /* then it takes 100 bytes per call */
    cr_assert_eq(tls_conn_feed(pr.s.c, NULL, 0), 0);
    cr_expect_gt(pr.s.out.len, 0);
    cr_assert_eq(pair_handshake(&pr, 0), 0);

    pr.c.refuse = true;
    const uint8_t msg[] = "queued later";
    cr_assert_eq(tls_conn_write(pr.c.c, msg, sizeof(msg)), TLS_E_WANT_WRITE);
    pr.c.refuse = false;
    cr_assert_eq(tls_conn_write(pr.c.c, msg, sizeof(msg)), (long)sizeof(msg), "same data again");
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    cr_assert_eq(pr.s.plain.len, sizeof(msg));
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_session, abandoned_handshake_is_counted)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(tls_conn_handshake(pr.c.c), TLS_E_AGAIN);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    pair_free(&pr);
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.started, 1);
    cr_expect_eq(cs.failed[TLS_FAIL_ABANDONED], 1);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}
