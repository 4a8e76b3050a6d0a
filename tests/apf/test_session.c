/*
 * Session: the suggested flows of docs/apf.md section 10, every transition of
 * the login state machine, illegal messages per state, keep-alive and
 * timers, splits at every byte boundary, secrets and memory.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static h t;

static void setup(void)
{
    h_init(&t, NULL);
}

static void teardown(void)
{
    h_free(&t);
}

TestSuite(session, .init = setup, .fini = teardown);

static const char *vhex(const char *name)
{
    static char bufs[4][8192];
    static int next;
    char *out = bufs[next++ % 4]; /* several may appear in one expression */
    uint8_t b[4096];
    size_t n = vec(name, b, sizeof(b)), k = 0;
    for (size_t i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, sizeof(bufs[0]) - k, "%02x", b[i]);
    return out;
}

#define DISC(r) "01000000" r "0000"

/* ---- the suggested flows --------------------------------------------------- */

Test(session, flow_version_and_auth_service_in_one_buffer)
{
    uint8_t b[256];
    size_t n = vec("V1", b, sizeof(b));
    n += vec("V3", b + n, sizeof(b) - n);
    cr_assert_eq(h_feed(&t, b, n), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), vhex("V4"));
    cr_assert(h_logged(&t, "version 1.0 254 4c4c4544-004d-4d10-8050-b2c04f325133"));
    apf_version_info v;
    cr_assert(apf_session_version(t.s, &v));
    cr_assert_str_eq(v.uuid, "4c4c4544-004d-4d10-8050-b2c04f325133");
    cr_assert_eq(v.major, 1);
    cr_assert_eq(v.minor, 0);
    cr_assert_eq(v.trigger, 254);
}

Test(session, flow_userauth_split_at_every_byte)
{
    uint8_t v8[128];
    size_t n = vec("V8", v8, sizeof(v8));
    for (size_t k = 0; k <= n; k++) {
        h u;
        h_init(&u, NULL);
        h_feed_vec(&u, "V1");
        h_feed_vec(&u, "V3");
        cr_assert_eq(h_feed(&u, v8, k), APF_OK, "split %zu", k);
        cr_assert_eq(h_feed(&u, v8 + k, n - k), APF_OK, "split %zu", k);
        cr_assert(h_logged(&u, "auth B6367516FC563665 password P@ssw0rd "
                               "4c4c4544-004d-4d10-8050-b2c04f325133"),
                  "split %zu: %s", k, u.log);
        h_out_hex(&u);
        cr_assert_eq(u.out_len, 23 + 1, "split %zu", k); /* V4 + USERAUTH_SUCCESS */
        h_free(&u);
    }
}

Test(session, flow_none_method_then_pfwd)
{
    h_feed_vec(&t, "V1");
    h_feed_vec(&t, "V3");
    uint8_t b[256];
    size_t n = vec("V9", b, sizeof(b));
    n += vec("V5", b + n, sizeof(b) - n);
    cr_assert_eq(h_feed(&t, b, n), APF_OK);
    cr_assert(h_logged(&t, "auth B6367516FC563665 none  4c4c4544-004d-4d10-8050-b2c04f325133"));
    char want[512];
    snprintf(want, sizeof(want), "%s34%s", vhex("V4"), vhex("V6"));
    cr_assert_str_eq(h_out_hex(&t), want);
}

static void to_forwards(h *u)
{
    h_feed_vec(u, "V1");
    h_feed_vec(u, "V3");
    h_feed_vec(u, "V8");
    h_feed_vec(u, "V5");
    h_out_hex(u);
}

Test(session, flow_two_forwards_in_one_record)
{
    to_forwards(&t);
    uint8_t b[256];
    size_t n = vec("V13", b, sizeof(b));
    n += vec("V12", b + n, sizeof(b) - n);
    cr_assert_eq(h_feed(&t, b, n), APF_OK);
    char want[64];
    snprintf(want, sizeof(want), "%s%s", vhex("V14"), vhex("V15"));
    cr_assert_str_eq(h_out_hex(&t), want);
    cr_assert(apf_session_has_port(t.s, 16992) && apf_session_has_port(t.s, 16993));
    cr_assert_str_eq(apf_session_hostname(t.s), "LIB-PC-MSD-05");
}

Test(session, flow_keepalive_echo)
{
    h_feed_vec(&t, "V18-request");
    cr_assert_str_eq(h_out_hex(&t), vhex("V18-reply"));
    to_forwards(&t);
    h_feed_vec(&t, "V19");
    cr_assert_str_eq(h_out_hex(&t), "d1000000ff");
}

/* ---- login transitions ---------------------------------------------------- */

Test(session, full_login_reaches_ready_on_5900)
{
    uint32_t ports[] = {16993, 16992, 664, 623, 16995, 16994, 5900};
    h_free(&t); /* replaces the fixture's: ready_after_forwards off */
    apf_config cfg;
    apf_config_default(&cfg);
    cfg.ready_after_forwards = 0;
    h_init(&t, &cfg);
    h_login(&t, ports, 7);
    cr_assert(apf_session_is_ready(t.s));
    cr_assert(h_logged(&t, "ready"));
    uint32_t got[16];
    cr_assert_eq(apf_session_ports(t.s, got, 16), 7);
    cr_assert_eq(got[6], 5900);
    cr_assert_str_eq(apf_session_hostname(t.s), "amt-host");
    /* the KEEPALIVE_OPTIONS_REQUEST went out right after the 5900 reply */
    cr_assert_eq(memcmp(t.out + t.out_len - 14,
                        "\x51\x00\x00\x17\x0c\xd2\x00\x00\x00\x1e\x00\x00\x00\x00", 14),
                 0);
}

Test(session, ready_after_fourth_forward)
{
    to_forwards(&t);
    uint32_t ports[] = {16993, 16992, 664, 623};
    for (int i = 0; i < 4; i++) {
        cr_assert_not(apf_session_is_ready(t.s));
        apf_msg m = {.type = APF_GLOBAL_REQUEST};
        m.u.global.name = apf_str_c(APF_REQ_TCPIP_FORWARD);
        m.u.global.port = ports[i];
        h_feed_msg(&t, &m);
    }
    cr_assert(apf_session_is_ready(t.s));
    const char *out = h_out_hex(&t);
    cr_assert_str_eq(out + strlen(out) - 18, "d20000001e00000000");
    /* later forwards are still answered, with no second KEEPALIVE_OPTIONS */
    h_feed_vec(&t, "V12");
    cr_assert_str_eq(h_out_hex(&t), "5100004260");
    cr_assert(h_logged(&t, "forward +16992"));
}

Test(session, ready_after_settle_time_without_5900)
{
    apf_config cfg;
    apf_config_default(&cfg);
    cfg.keepalive_timeout = 90;
    h_free(&t);
    h_init(&t, &cfg);
    to_forwards(&t);
    t.now = 5000;
    h_feed_vec(&t, "V13");
    h_out_hex(&t);
    cr_assert_eq(apf_session_next_timeout(t.s), 6000);
    cr_assert_eq(apf_session_tick(t.s, 5999), APF_OK);
    cr_assert_not(apf_session_is_ready(t.s));
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_eq(apf_session_tick(t.s, 6000), APF_OK);
    cr_assert(apf_session_is_ready(t.s));
    cr_assert_str_eq(h_out_hex(&t), vhex("V21"));
    cr_assert_eq(apf_session_next_timeout(t.s), 5000 + 90000);
}

Test(session, keepalive_options_reply_is_reported)
{
    to_forwards(&t);
    h_feed_vec(&t, "V22");
    cr_assert(h_logged(&t, "keepalive-options 30 10"));
    cr_assert_str_eq(h_out_hex(&t), "");
}

Test(session, idle_timeout_and_last_rx)
{
    t.now = 100;
    h_feed_vec(&t, "V1");
    cr_assert_eq(apf_session_last_rx_ms(t.s), 100);
    cr_assert_eq(apf_session_tick(t.s, 90099), APF_OK);
    cr_assert_eq(apf_session_tick(t.s, 90100), APF_ERR_TIMEOUT);
    cr_assert_str_eq(h_out_hex(&t), DISC("0a"));
    cr_assert(apf_session_is_closed(t.s));
    cr_assert_eq(apf_session_next_timeout(t.s), UINT64_MAX);
}

Test(session, deferred_auth_holds_pipelined_input)
{
    t.auth = H_AUTH_DEFER;
    h_feed_vec(&t, "V1");
    h_feed_vec(&t, "V3");
    uint8_t b[256];
    size_t n = vec("V8", b, sizeof(b));
    n += vec("V5", b + n, sizeof(b) - n);
    n += vec("V12", b + n, sizeof(b) - n);
    cr_assert_eq(h_feed(&t, b, n - 3), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), vhex("V4"));
    cr_assert(h_logged(&t, "auth B6367516FC563665 password P@ssw0rd "
                           "4c4c4544-004d-4d10-8050-b2c04f325133"));
    cr_assert_eq(apf_session_auth_result(t.s, true), APF_OK);
    char want[256];
    snprintf(want, sizeof(want), "34%s", vhex("V6"));
    cr_assert_str_eq(h_out_hex(&t), want);
    cr_assert_eq(h_feed(&t, b + n - 3, 3), APF_OK); /* the held tail completes */
    cr_assert_str_eq(h_out_hex(&t), "5100004260");
    cr_assert_eq(apf_session_auth_result(t.s, true), APF_ERR_INVALID); /* once */
}

Test(session, auth_rejected)
{
    t.auth = H_AUTH_REJECT;
    h_feed_vec(&t, "V1");
    h_feed_vec(&t, "V3");
    h_out_hex(&t);
    cr_assert_eq(h_feed_vec(&t, "V8"), APF_ERR_AUTH_FAILED);
    cr_assert_str_eq(h_out_hex(&t), "330000000870617373776f726400" /* V10b */ DISC("0e"));
}

Test(session, auth_before_version_fails_without_asking)
{
    h_feed_vec(&t, "V3");
    h_out_hex(&t);
    cr_assert_eq(h_feed_vec(&t, "V8"), APF_ERR_AUTH_FAILED);
    cr_assert_not(strstr(t.log, "auth "));
    cr_assert_str_eq(h_out_hex(&t), "330000000870617373776f726400" DISC("0e"));
}

Test(session, unknown_service_is_service_not_available)
{
    cr_assert_eq(h_feed_hex(&t, "05 00000004 666f6f40"), APF_ERR_UNKNOWN_SERVICE);
    cr_assert_str_eq(h_out_hex(&t), DISC("07"));
}

Test(session, wrong_major_version)
{
    uint8_t b[128];
    size_t n = vec("V1", b, sizeof(b));
    b[4] = 2;
    cr_assert_eq(h_feed(&t, b, n), APF_ERR_VERSION);
    cr_assert_str_eq(h_out_hex(&t), DISC("08"));
}

Test(session, http_probe_is_not_apf)
{
    cr_assert_eq(h_feed_hex(&t, "474554202f20"), APF_ERR_NOT_APF); /* "GET / " */
    cr_assert_eq(t.out_len, 0);
}

Test(session, unknown_type_is_protocol_error)
{
    cr_assert_eq(h_feed_hex(&t, "60"), APF_ERR_UNKNOWN_TYPE);
    cr_assert_str_eq(h_out_hex(&t), DISC("02"));
    cr_assert(h_logged(&t, "error unknown APF message type ?"));
    /* a dead session stays dead */
    cr_assert_eq(h_feed_vec(&t, "V1"), APF_ERR_UNKNOWN_TYPE);
    cr_assert_eq(t.out_len, 7);
}

Test(session, unknown_global_request_answered_then_closed)
{
    to_forwards(&t);
    cr_assert_eq(h_feed_hex(&t, "50 00000003 666f6f 01 00"), APF_ERR_UNKNOWN_REQUEST);
    cr_assert_str_eq(h_out_hex(&t), "52" DISC("02"));
}

Test(session, peer_disconnect)
{
    to_forwards(&t);
    cr_assert_eq(h_feed_vec(&t, "V31"), APF_ERR_PEER_DISCONNECT);
    cr_assert(h_logged(&t, "disconnect 11"));
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_not(strstr(t.log, "error"));
}

Test(session, local_disconnect)
{
    to_forwards(&t);
    cr_assert_eq(apf_session_disconnect(t.s, APF_DISC_BY_APPLICATION), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), vhex("V31"));
    cr_assert_eq(apf_session_status(t.s), APF_ERR_LOCAL_DISCONNECT);
    cr_assert_eq(apf_session_disconnect(t.s, 2), APF_ERR_LOCAL_DISCONNECT);
    cr_assert_eq(t.out_len, 7 + t.out_seen - 7);
}

Test(session, cancel_forward)
{
    to_forwards(&t);
    h_feed_vec(&t, "V12");
    h_out_hex(&t);
    h_feed_vec(&t, "V16");
    cr_assert_str_eq(h_out_hex(&t), "51");
    cr_assert(h_logged(&t, "forward -16992"));
    cr_assert_not(apf_session_has_port(t.s, 16992));
    h_feed_vec(&t, "V16"); /* no longer registered */
    cr_assert_str_eq(h_out_hex(&t), "52");
}

Test(session, forward_port_out_of_range_refused)
{
    to_forwards(&t);
    h_feed_hex(&t, "50 0000000d 74637069702d666f7277617264 01 00000000 00010000");
    cr_assert_str_eq(h_out_hex(&t), "52");
    cr_assert_eq(apf_session_status(t.s), APF_OK);
}

Test(session, udp_send_to_refused_by_default)
{
    to_forwards(&t);
    h_feed_vec(&t, "V17"); /* want_reply 0: no answer */
    cr_assert(h_logged(&t, "udp 192.168.1.10:162 2 bytes"));
    cr_assert_str_eq(h_out_hex(&t), "");
    uint8_t b[128];
    size_t n = vec("V17", b, sizeof(b));
    b[30] = 1; /* want_reply */
    h_feed(&t, b, n);
    cr_assert_str_eq(h_out_hex(&t), "52");
}

/* ---- illegal messages per state -------------------------------------------- */

enum { ST_AUTH_SVC, ST_USERAUTH, ST_PFWD_SVC, ST_FORWARDS, ST_READY, ST_N };

static void reach(h *u, int st)
{
    const char *steps[] = {"V1", "V3", "V8", "V5"};
    int k = st == ST_AUTH_SVC ? 0 : st == ST_USERAUTH ? 2 : st == ST_PFWD_SVC ? 3 : 4;
    for (int i = 0; i < k; i++)
        h_feed_vec(u, steps[i]);
    if (st == ST_READY) {
        h_feed_hex(u, "50 0000000d 74637069702d666f7277617264 01 00000000 0000170c"); /* 5900 */
        cr_assert(apf_session_is_ready(u->s));
    }
    h_out_hex(u);
}

Test(session, illegal_messages_per_state)
{
    struct {
        const char *vec;
        int want[ST_N];
    } table[] = {
        {"V1",
         {APF_OK, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED}},
        {"V3",
         {APF_OK, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED}},
        {"V5",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_OK, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED}},
        {"V8",
         {APF_ERR_UNEXPECTED, APF_OK, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED}},
        {"V12", {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_OK, APF_OK}},
        {"V23", {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_OK, APF_OK}},
        {"V25",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNKNOWN_CHANNEL,
          APF_ERR_UNKNOWN_CHANNEL}},
        {"V28",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNKNOWN_CHANNEL,
          APF_ERR_UNKNOWN_CHANNEL}},
        {"V30",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNKNOWN_CHANNEL,
          APF_ERR_UNKNOWN_CHANNEL}},
        {"V18-request", {APF_OK, APF_OK, APF_OK, APF_OK, APF_OK}},
        {"V18-reply", {APF_OK, APF_OK, APF_OK, APF_OK, APF_OK}},
        {"V22", {APF_OK, APF_OK, APF_OK, APF_OK, APF_OK}},
        /* MPS-to-device messages are never legal from a device */
        {"V4",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED,
          APF_ERR_UNEXPECTED}},
        {"V10b",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED,
          APF_ERR_UNEXPECTED}},
        {"V11",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED,
          APF_ERR_UNEXPECTED}},
        {"V14",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED,
          APF_ERR_UNEXPECTED}},
        {"V20",
         {APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED, APF_ERR_UNEXPECTED,
          APF_ERR_UNEXPECTED}},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(*table); i++) {
        for (int st = 0; st < ST_N; st++) {
            h u;
            h_init(&u, NULL);
            reach(&u, st);
            int rc = h_feed_vec(&u, table[i].vec);
            cr_assert_eq(rc, table[i].want[st], "%s in state %d: %s", table[i].vec, st,
                         apf_strerror(rc));
            if (rc == APF_ERR_UNEXPECTED || rc == APF_ERR_UNKNOWN_CHANNEL) {
                const char *out = h_out_hex(&u);
                size_t n = strlen(out);
                cr_assert(n >= 14 && !strcmp(out + n - 14, DISC("02")), "%s/%d: %s", table[i].vec,
                          st, out);
            }
            h_free(&u);
        }
    }
}

/* ---- split everywhere --------------------------------------------------------- */

/* A whole device transcript with no caller action needed mid-way. */
static size_t transcript(uint8_t *b, size_t cap)
{
    const char *seq[] = {"V1",  "V3",  "V8",  "V5",  "V13",         "V12", "V22",
                         "V19", "V17", "V16", "V24", "V18-request", "V31"};
    size_t n = 0;
    for (size_t i = 0; i < sizeof(seq) / sizeof(*seq); i++)
        n += vec(seq[i], b + n, cap - n);
    n += unhex("50 0000000d 74637069702d666f7277617264 01 00000000 0000170c", b + n, cap - n);
    return n;
}

Test(session, transcript_split_at_every_byte)
{
    uint8_t b[2048];
    size_t n = transcript(b, sizeof(b));
    /* V31 (DISCONNECT) is not last: the trailing forward must not be parsed */
    h ref;
    h_init(&ref, NULL);
    cr_assert_eq(h_feed(&ref, b, n), APF_ERR_PEER_DISCONNECT);
    cr_assert(h_logged(&ref, "open-request forwarded-tcpip ::1:16992 4"));
    cr_assert_not(h_logged(&ref, "forward +5900"));
    for (size_t k = 1; k < n; k++) {
        h u;
        h_init(&u, NULL);
        h_feed(&u, b, k);
        h_feed(&u, b + k, n - k);
        cr_assert_eq(u.out_len, ref.out_len, "split %zu", k);
        cr_assert(memcmp(u.out, ref.out, ref.out_len) == 0, "split %zu", k);
        cr_assert_str_eq(u.log, ref.log, "split %zu", k);
        h_free(&u);
    }
    /* and one byte at a time */
    h u;
    h_init(&u, NULL);
    for (size_t k = 0; k < n; k++)
        h_feed(&u, b + k, 1);
    cr_assert_str_eq(u.log, ref.log);
    cr_assert(u.out_len == ref.out_len && memcmp(u.out, ref.out, ref.out_len) == 0);
    h_free(&u);
    h_free(&ref);
}

/* ---- secrets, debug, memory ---------------------------------------------------- */

static char dumped[8192];

static void dbg(apf_session *s, int dir, const uint8_t *p, size_t n, void *u)
{
    size_t k = strlen(dumped);
    snprintf(dumped + k, sizeof(dumped) - k, "%s ", dir == APF_DEBUG_OUT ? ">" : "<");
    k = strlen(dumped);
    apf_hex(p, n, dumped + k, sizeof(dumped) - k);
    k = strlen(dumped);
    snprintf(dumped + k, sizeof(dumped) - k, "\n");
}

Test(session, debug_hook_dumps_both_ways_without_password)
{
    dumped[0] = '\0';
    apf_session_set_debug(t.s, dbg, NULL);
    uint8_t b[256];
    size_t n = vec("V1", b, sizeof(b));
    n += vec("V3", b + n, sizeof(b) - n);
    n += vec("V8", b + n, sizeof(b) - n);
    h_feed(&t, b, 50); /* V8 straddles: its prefix goes through the engine's buffer */
    h_feed(&t, b + 50, n - 50);
    cr_assert_not_null(strstr(dumped, "< 05 00 00 00 12 61 75 74 68"));
    cr_assert_not_null(strstr(dumped, "> 06 00 00 00 12 61 75 74 68"));
    cr_assert_not_null(strstr(dumped, "> 34\n"));
    cr_assert_null(strstr(dumped, "50 40 73 73 77 30 72 64"), "password dumped"); /* P@ssw0rd */
    cr_assert_not_null(strstr(dumped, "00 00 00 08 2a 2a 2a 2a 2a 2a 2a 2a"));
    cr_assert_str_eq(t.auth_pw, "P@ssw0rd"); /* the caller did get it */
}

Test(session, idle_session_is_small)
{
    size_t fresh = apf_session_memory(t.s);
    cr_assert_leq(fresh, 512, "idle session holds %zu bytes", fresh);
    uint32_t ports[] = {16992, 16993, 5900};
    h_login(&t, ports, 3);
    cr_assert(apf_session_is_ready(t.s));
    size_t ready = apf_session_memory(t.s);
    cr_assert_leq(ready, fresh + 16, "ready tunnel holds %zu bytes", ready);
    /* a partial message costs its own length, and is released once whole */
    uint8_t v13[64];
    size_t n = vec("V13", v13, sizeof(v13));
    h_feed(&t, v13, 20);
    cr_assert_leq(apf_session_memory(t.s), ready + 40);
    h_feed(&t, v13 + 20, n - 20);
    cr_assert_eq(apf_session_memory(t.s), ready);
}

Test(session, buffer_limit_while_auth_pending)
{
    t.auth = H_AUTH_DEFER;
    h_feed_vec(&t, "V1");
    h_feed_vec(&t, "V3");
    h_feed_vec(&t, "V8");
    uint8_t ka[5] = {0xd0, 0, 0, 0, 1};
    int rc = APF_OK;
    for (int i = 0; i < 4000 && rc == APF_OK; i++)
        rc = h_feed(&t, ka, sizeof(ka));
    cr_assert_eq(rc, APF_ERR_RX_OVERFLOW);
}

static int failing_send(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    return -1;
}

Test(session, send_callback_failure_ends_session)
{
    static const apf_callbacks cb = {.send = failing_send};
    apf_session *s = apf_session_new(NULL, &cb, NULL);
    uint8_t b[128];
    size_t n = vec("V3", b, sizeof(b));
    cr_assert_eq(apf_session_recv(s, b, n, 1), APF_ERR_CALLBACK);
    cr_assert(apf_session_is_closed(s));
    apf_session_free(s);
    cr_assert_null(apf_session_new(NULL, &(apf_callbacks){0}, NULL));
}
