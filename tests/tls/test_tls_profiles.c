/* Profiles (legacy AMT clients) and mutual TLS. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void setup(void)
{
    cr_assert_eq(tls_global_init(), 0);
}

TestSuite(tls_profiles, .init = setup);

/* An AMT 10/11-like client: one old version, one static-RSA CBC suite. */
static int old_client(enum tls_profile p, uint16_t v, const char *suite, struct pair *pr,
                      struct tls_ctx **s, struct tls_ctx **c)
{
    *s = server_ctx(p, NULL);
    *c = client_ctx(v, v, suite, false);
    pair_init(pr, *s, *c, true);
    return pair_handshake(pr, 0);
}

static void done(struct pair *pr, struct tls_ctx *s, struct tls_ctx *c)
{
    pair_free(pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_profiles, legacy_accepts_tls11_static_rsa_aes128_sha)
{
    struct pair pr;
    struct tls_ctx *s, *c;
    cr_assert_eq(old_client(TLS_PROFILE_LEGACY, TLS_V1_1, "AES128-SHA", &pr, &s, &c), 0, "%s",
                 tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.version, TLS_V1_1);
    cr_expect_eq(si.suite, 0x002F, "%s", si.cipher);
    cr_assert_eq(tls_conn_write(pr.c.c, (const uint8_t *)"apf", 3), 3);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    cr_expect_eq(pr.s.plain.len, 3);
    cr_expect_not(pr.s.hello.has_supported_versions);
    cr_expect_eq(pr.s.hello.legacy_version, TLS_V1_1);
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.version[TLS_VIDX_1_1], 1);
    cr_expect_eq(cs.offered_max[TLS_VIDX_1_1], 1);
    cr_expect_eq(cs.suite[tls_suite_index(0x002F)], 1);
    done(&pr, s, c);
}

Test(tls_profiles, legacy_accepts_tls10_static_rsa_aes256_sha)
{
    struct pair pr;
    struct tls_ctx *s, *c;
    cr_assert_eq(old_client(TLS_PROFILE_LEGACY, TLS_V1_0, "AES256-SHA", &pr, &s, &c), 0, "%s",
                 tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.version, TLS_V1_0);
    cr_expect_eq(si.suite, 0x0035, "%s", si.cipher);
    done(&pr, s, c);
}

Test(tls_profiles, legacy_accepts_tls12_static_rsa_gcm)
{
    struct pair pr;
    struct tls_ctx *s, *c;
    cr_assert_eq(old_client(TLS_PROFILE_LEGACY, TLS_V1_2, "AES128-GCM-SHA256", &pr, &s, &c), 0,
                 "%s", tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.suite, 0x009C, "%s", si.cipher);
    done(&pr, s, c);
}

Test(tls_profiles, legacy_still_prefers_ecdhe_gcm)
{
    struct pair pr;
    struct tls_ctx *s, *c;
    cr_assert_eq(old_client(TLS_PROFILE_LEGACY, TLS_V1_2,
                            "AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256", &pr, &s,
                            &c),
                 0);
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_expect_eq(si.suite, 0xC02F, "%s", si.cipher);
    done(&pr, s, c);
}

static void modern_refuses(uint16_t v, const char *suite)
{
    struct pair pr;
    struct tls_ctx *s, *c;
    cr_assert_eq(old_client(TLS_PROFILE_MODERN, v, suite, &pr, &s, &c), TLS_E_VERSION);
    const char *why = tls_conn_error(pr.s.c);
    char want[160];
    snprintf(want, sizeof(want),
             "client offered at most %s (legacy_version, no supported_versions); profile modern "
             "requires >= TLS 1.2",
             tls_version_name(v));
    cr_expect_str_eq(why, want);
    /* and the client learns why through the alert */
    cr_expect_eq(tls_conn_feed(pr.c.c, NULL, 0), TLS_E_ALERT);
    cr_expect_not_null(strstr(tls_conn_error(pr.c.c), "protocol_version (70)"), "%s",
                       tls_conn_error(pr.c.c));
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.failed[TLS_FAIL_VERSION], 1);
    cr_expect_eq(cs.ok, 0);
    done(&pr, s, c);
}

Test(tls_profiles, modern_refuses_tls11_with_precise_error)
{
    modern_refuses(TLS_V1_1, "AES128-SHA");
}

Test(tls_profiles, modern_refuses_tls10_with_precise_error)
{
    modern_refuses(TLS_V1_0, "AES256-SHA");
}

Test(tls_profiles, profile_names)
{
    enum tls_profile p;
    cr_expect_eq(tls_profile_parse("legacy", &p), 0);
    cr_expect_eq(p, TLS_PROFILE_LEGACY);
    cr_expect_eq(tls_profile_parse("modern", &p), 0);
    cr_expect_eq(p, TLS_PROFILE_MODERN);
    cr_expect_eq(tls_profile_parse("LEGACY", &p), TLS_E_INVAL);
}

/* ---- mutual TLS ---------------------------------------------------------------------------- */
Test(tls_profiles, mutual_tls_accepts_device_cert)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, cert("ca.pem"));
    for (int v = 0; v < 2; v++) { /* TLS 1.3 and 1.2 */
        struct tls_ctx *c = client_ctx(v ? TLS_V1_2 : 0, v ? TLS_V1_2 : 0, NULL, true);
        struct pair pr;
        pair_init(&pr, s, c, true);
        cr_assert_eq(pair_handshake(&pr, 0), 0, "%s", tls_conn_error(pr.s.c));
        struct tls_conn_info si;
        tls_conn_info(pr.s.c, &si);
        cr_expect(si.has_peer);
        cr_expect_str_eq(si.peer_subject, "/O=mpsd test devices/CN=amt-device-1");
        static const uint8_t zero[32];
        cr_expect_neq(memcmp(si.peer_sha256, zero, 32), 0);
        pair_free(&pr);
        tls_ctx_unref(c);
    }
    tls_ctx_unref(s);
}

Test(tls_profiles, mutual_tls_refuses_missing_cert)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, cert("ca.pem"));
    struct tls_ctx *c = client_ctx(TLS_V1_2, TLS_V1_2, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), TLS_E_PEER_CERT);
    cr_expect_str_eq(tls_conn_error(pr.s.c), "peer sent no certificate; mutual TLS requires one");
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.failed[TLS_FAIL_PEER_CERT], 1);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_profiles, mutual_tls_refuses_untrusted_cert)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, cert("ca.pem"));
    struct tls_client_config cfg = {
        .ca_file = cert("ca.pem"),
        .cert_file = cert("rogue-client-chain.pem"),
        .key_file = cert("rogue-client.key"),
    };
    struct tls_ctx *c = NULL;
    cr_assert_eq(tls_ctx_client_new(&cfg, &c, NULL, 0), 0);
    struct pair pr;
    pair_init(&pr, s, c, true);
    int r = pair_handshake(&pr, 0);
    cr_assert_eq(r, TLS_E_PEER_CERT, "%s", tls_strerror(r));
    cr_expect_not_null(strstr(tls_conn_error(pr.s.c), "peer certificate refused"), "%s",
                       tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    cr_expect_eq(tls_conn_info(pr.s.c, &si), TLS_E_STATE);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_profiles, client_refuses_untrusted_server)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL);
    struct tls_client_config cfg = {.ca_file = cert("rogue-ca.pem")};
    struct tls_ctx *c = NULL;
    cr_assert_eq(tls_ctx_client_new(&cfg, &c, NULL, 0), 0);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), TLS_E_PEER_CERT);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}
