/* Ticket resumption and context reload. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static void setup(void)
{
    cr_assert_eq(tls_global_init(), 0);
}

TestSuite(tls_reload, .init = setup);

/* Full handshake, then a second connection offering the first one's ticket. */
static void resume(uint16_t max)
{
    struct tls_ctx *s = server_ctx(TLS_PROFILE_MODERN, NULL), *c = client_ctx(0, max, NULL, false);
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    struct tls_conn_info ci;
    tls_conn_info(pr.c.c, &ci);
    cr_expect_not(ci.resumed);
    void *sess = tls_conn_get_session(pr.c.c); /* TLS 1.3: the ticket came after Finished */
    cr_assert_not_null(sess);
    pair_free(&pr);

    pair_init(&pr, s, c, true);
    cr_assert_eq(tls_conn_set_session(pr.c.c, sess), 0);
    cr_assert_eq(pair_handshake(&pr, 0), 0, "%s", tls_conn_error(pr.s.c));
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    tls_conn_info(pr.c.c, &ci);
    cr_expect(si.resumed, "server resumed (%s)", tls_version_name(si.version));
    cr_expect(ci.resumed);
    cr_expect_eq(si.version, max ? max : TLS_V1_3);
    cr_assert_eq(tls_conn_write(pr.c.c, (const uint8_t *)"again", 5), 5);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    cr_expect_eq(pr.s.plain.len, 5);
    struct tls_census cs;
    tls_ctx_census(s, &cs);
    cr_expect_eq(cs.ok, 2);
    cr_expect_eq(cs.resumed, 1);
    tls_session_free(sess);
    pair_free(&pr);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
}

Test(tls_reload, ticket_resumption_tls13)
{
    resume(0);
}

Test(tls_reload, ticket_resumption_tls12)
{
    resume(TLS_V1_2);
}

static struct tls_server_config cfg_for(const char *leaf)
{
    static char chain[256], key[256];
    snprintf(chain, sizeof(chain), "%s-chain.pem", leaf);
    snprintf(key, sizeof(key), "%s.key", leaf);
    struct tls_server_config cfg = {
        .cert_file = cert(chain), .key_file = cert(key), .profile = TLS_PROFILE_MODERN};
    return cfg;
}

static void peer_subject(struct pair *pr, char *out, size_t len)
{
    struct tls_conn_info ci;
    cr_assert_eq(tls_conn_info(pr->c.c, &ci), 0);
    snprintf(out, len, "%s", ci.peer_subject);
}

Test(tls_reload, new_cert_for_new_sessions_old_sessions_keep_working)
{
    struct tls_server_config cfg = cfg_for("server");
    struct tls_ctx_slot *slot = NULL;
    char err[256];
    cr_assert_eq(tls_ctx_slot_new(&cfg, &slot, err, sizeof(err)), 0, "%s", err);
    struct tls_ctx *c = client_ctx(0, 0, NULL, false);

    struct tls_ctx *s1 = tls_ctx_slot_get(slot);
    struct pair old;
    pair_init(&old, s1, c, true);
    tls_ctx_unref(s1); /* the session holds its own reference */
    cr_assert_eq(pair_handshake(&old, 0), 0);
    char subj[256];
    peer_subject(&old, subj, sizeof(subj));
    cr_expect_str_eq(subj, "/O=mpsd test/CN=mps.test");

    struct tls_server_config cfg2 = cfg_for("server2");
    cr_assert_eq(tls_ctx_slot_reload(slot, &cfg2, err, sizeof(err)), 0, "%s", err);

    struct tls_ctx *s2 = tls_ctx_slot_get(slot);
    struct pair fresh;
    pair_init(&fresh, s2, c, true);
    cr_assert_eq(pair_handshake(&fresh, 0), 0);
    peer_subject(&fresh, subj, sizeof(subj));
    cr_expect_str_eq(subj, "/O=mpsd test/CN=mps2.test");

    /* the old session still talks, on the old context */
    cr_assert_eq(tls_conn_write(old.c.c, (const uint8_t *)"still here", 10), 10);
    cr_assert_eq(pair_flush(&old.c, &old.s, 0), 0);
    cr_expect_eq(old.s.plain.len, 10);
    cr_assert_eq(tls_conn_write(old.s.c, (const uint8_t *)"ack", 3), 3);
    cr_assert_eq(pair_flush(&old.s, &old.c, 0), 0);
    cr_expect_eq(old.c.plain.len, 3);

    /* census continues across the reload */
    struct tls_census cs;
    tls_ctx_census(s2, &cs);
    cr_expect_eq(cs.ok, 2);
    pair_free(&old); /* drops the last reference to the old context */
    pair_free(&fresh);
    tls_ctx_unref(s2);
    tls_ctx_unref(c);
    tls_ctx_slot_free(slot);
}

static void failed_reload(struct tls_server_config bad, int code, const char *needle)
{
    struct tls_server_config cfg = cfg_for("server");
    struct tls_ctx_slot *slot = NULL;
    char err[256] = "";
    cr_assert_eq(tls_ctx_slot_new(&cfg, &slot, err, sizeof(err)), 0, "%s", err);
    struct tls_ctx *before = tls_ctx_slot_get(slot);
    cr_assert_eq(tls_ctx_slot_reload(slot, &bad, err, sizeof(err)), code, "%s", err);
    cr_expect_not_null(strstr(err, needle), "error '%s' lacks '%s'", err, needle);
    struct tls_ctx *after = tls_ctx_slot_get(slot);
    cr_expect_eq(before, after, "a failed reload leaves the old context in place");
    struct tls_ctx *c = client_ctx(0, 0, NULL, false);
    struct pair pr;
    pair_init(&pr, after, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    pair_free(&pr);
    tls_ctx_unref(c);
    tls_ctx_unref(before);
    tls_ctx_unref(after);
    tls_ctx_slot_free(slot);
}

Test(tls_reload, failed_reload_missing_file_keeps_old)
{
    struct tls_server_config bad = cfg_for("server");
    bad.cert_file = "/nonexistent/mps.pem";
    failed_reload(bad, TLS_E_CERT, "certificate '/nonexistent/mps.pem': cannot open: No such file");
}

Test(tls_reload, failed_reload_key_mismatch_keeps_old)
{
    struct tls_server_config bad = cfg_for("server");
    bad.key_file = cert("server2.key");
    failed_reload(bad, TLS_E_KEY, "does not match the certificate");
}

Test(tls_reload, failed_reload_not_pem_keeps_old)
{
    struct tls_server_config bad = cfg_for("server");
    bad.cert_file = cert("server.key"); /* a key where the chain should be */
    failed_reload(bad, TLS_E_CERT, "not a PEM chain");
}

Test(tls_reload, failed_reload_bad_client_ca_keeps_old)
{
    struct tls_server_config bad = cfg_for("server");
    bad.client_ca_file = "/nonexistent/ca.pem";
    failed_reload(bad, TLS_E_CA, "client CA '/nonexistent/ca.pem': cannot open");
}
