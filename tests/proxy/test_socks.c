/* src/proxy/socks.c: the SOCKS4/4a/5 server state machine, byte-exact replies, any split of the
 * input, hostile messages. */
#include <criterion/criterion.h>
#include <string.h>

#include "socks.h"

static const socks_conf CONF_DEFAULT = {.allow_socks4 = false, .allow_anonymous = false};
static const socks_conf CONF_ALL = {.allow_socks4 = true, .allow_anonymous = true};

/* Feeds p[0..n) in pieces of at most step bytes until an event; returns the event and sets *used
 * to the bytes consumed in all. */
static socks_event feed_split(socks_session *s, const uint8_t *p, size_t n, size_t step,
                              size_t *used)
{
    size_t pos = 0;
    socks_event ev = SOCKS_EV_NONE;
    while (pos < n) {
        size_t k = n - pos < step ? n - pos : step;
        size_t c = socks_feed(s, p + pos, k, &ev);
        cr_assert_leq(c, k);
        pos += c;
        if (ev != SOCKS_EV_NONE)
            break;
        cr_assert_eq(c, k, "EV_NONE consumes everything");
    }
    *used = pos;
    return ev;
}

static socks_event feed_all(socks_session *s, const uint8_t *p, size_t n, size_t *used)
{
    return feed_split(s, p, n, n ? n : 1, used);
}

static void expect_out(socks_session *s, const uint8_t *want, size_t n)
{
    const uint8_t *o;
    size_t len = socks_output(s, &o);
    cr_assert_eq(len, n, "output length %zu, want %zu", len, n);
    if (n > 0)
        cr_assert_arr_eq(o, want, n);
    socks_output_clear(s);
    cr_assert_eq(socks_output(s, &o), 0);
}

#define OUT(s, ...)                                                                                \
    do {                                                                                           \
        const uint8_t w_[] = {__VA_ARGS__};                                                        \
        expect_out(s, w_, sizeof w_);                                                              \
    } while (0)

/* --- SOCKS5 ----------------------------------------------------------------------------------- */

static const uint8_t GREET_UP[] = {5, 1, 2};
static const uint8_t AUTH_AB[] = {1, 5, 'a', 'd', 'm', 'i', 'n', 3, 'p', 'w', '!'};

static void socks5_authed(socks_session *s)
{
    size_t used;
    socks_init(s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(s, GREET_UP, sizeof GREET_UP, &used), SOCKS_EV_NONE);
    OUT(s, 5, 2);
    cr_assert_eq(feed_all(s, AUTH_AB, sizeof AUTH_AB, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, sizeof AUTH_AB);
    socks_auth_result(s, true);
    OUT(s, 1, 0);
}

Test(socks5, userpass_connect_by_name_with_payload_left)
{
    socks_session s;
    size_t used;
    socks5_authed(&s);
    cr_assert_eq(s.version, 5);
    cr_assert_str_eq(s.user, "admin");
    cr_assert_eq(s.user_len, 5);
    cr_assert(s.has_password);
    cr_assert_eq(s.pass_len, 0, "wiped by socks_auth_result");
    cr_assert_eq(s.pass[0], 0);
    const uint8_t req[] = {5,   1,   0,   3,   8,    'a',  'm', 't', '-',
                           'h', 'o', 's', 't', 0x42, 0x60, 'G', 'E', 'T'};
    cr_assert_eq(feed_all(&s, req, sizeof req, &used), SOCKS_EV_REQUEST);
    cr_assert_eq(used, sizeof req - 3, "payload stays the caller's");
    cr_assert_eq(s.target.atyp, SOCKS_ADDR_NAME);
    cr_assert_str_eq(s.target.host, "amt-host");
    cr_assert_eq(s.target.host_len, 8);
    cr_assert_eq(s.target.port, 16992);
    const uint8_t b4[4] = {10, 1, 2, 3};
    socks_reply(&s, SOCKS_REP_SUCCEEDED, b4, 0x1234);
    OUT(&s, 5, 0, 0, 1, 10, 1, 2, 3, 0x12, 0x34);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, req + used, 3, &ev), 0, "after the reply: nothing consumed");
    cr_assert_eq(ev, SOCKS_EV_NONE);
}

Test(socks5, the_password_was_seen_before_the_wipe)
{
    socks_session s;
    size_t used;
    socks_init(&s, &CONF_DEFAULT);
    feed_all(&s, GREET_UP, sizeof GREET_UP, &used);
    cr_assert_eq(feed_all(&s, AUTH_AB, sizeof AUTH_AB, &used), SOCKS_EV_AUTH);
    cr_assert_str_eq(s.pass, "pw!");
    cr_assert_eq(s.pass_len, 3);
    socks_wipe(&s);
    cr_assert_eq(s.pass_len, 0);
    cr_assert_eq(s.pass[0], 0);
}

Test(socks5, ipv4_and_ipv6_targets_are_rendered)
{
    socks_session s;
    size_t used;
    socks5_authed(&s);
    const uint8_t r4[] = {5, 1, 0, 1, 192, 168, 0, 10, 0x42, 0x61};
    cr_assert_eq(feed_all(&s, r4, sizeof r4, &used), SOCKS_EV_REQUEST);
    cr_assert_eq(used, sizeof r4);
    cr_assert_eq(s.target.atyp, SOCKS_ADDR_IPV4);
    cr_assert_str_eq(s.target.host, "192.168.0.10");
    cr_assert_eq(s.target.host_len, 12);
    cr_assert_arr_eq(s.target.ip, ((uint8_t[]){192, 168, 0, 10}), 4);
    cr_assert_eq(s.target.port, 16993);
    socks_reply(&s, SOCKS_REP_SUCCEEDED, NULL, 9);
    OUT(&s, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0);

    socks5_authed(&s);
    const uint8_t r6[] = {5, 1, 0, 4, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0,
                          0, 0, 0, 0, 0,    0,    0,    0,    1, 0, 80};
    cr_assert_eq(feed_all(&s, r6, sizeof r6, &used), SOCKS_EV_REQUEST);
    cr_assert_eq(used, sizeof r6);
    cr_assert_eq(s.target.atyp, SOCKS_ADDR_IPV6);
    cr_assert_str_eq(s.target.host, "2001:db8::1");
    cr_assert_arr_eq(s.target.ip, r6 + 4, 16);
    cr_assert_eq(s.target.port, 80);
}

Test(socks5, anonymous_only_when_allowed_and_offered_and_skips_auth)
{
    socks_session s;
    size_t used;
    const uint8_t g[] = {5, 1, 0};
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(&s, g, sizeof g, &used), SOCKS_EV_FAILED);
    cr_assert_eq(s.error, SOCKS_E_NO_METHOD);
    OUT(&s, 5, 0xFF);

    socks_init(&s, &CONF_ALL);
    const uint8_t all[] = {5, 1, 0, 5, 1, 0, 1, 127, 0, 0, 1, 0x42, 0x60};
    cr_assert_eq(feed_all(&s, all, sizeof all, &used), SOCKS_EV_REQUEST, "no EV_AUTH");
    cr_assert_eq(used, sizeof all);
    cr_assert(s.anonymous);
    cr_assert_eq(s.user_len, 0);
    cr_assert(!s.has_password);
    socks_reply(&s, SOCKS_REP_SUCCEEDED, NULL, 0);
    OUT(&s, 5, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0);

    /* offered both: username/password is preferred */
    socks_init(&s, &CONF_ALL);
    const uint8_t both[] = {5, 2, 0, 2};
    cr_assert_eq(feed_all(&s, both, sizeof both, &used), SOCKS_EV_NONE);
    cr_assert(!s.anonymous);
    OUT(&s, 5, 2);
}

Test(socks5, greeting_errors)
{
    socks_session s;
    size_t used;
    const uint8_t zero[] = {5, 0, 1, 2};
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, zero, sizeof zero, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, 2);
    cr_assert_eq(s.error, SOCKS_E_NO_METHOD);
    OUT(&s, 5, 0xFF);

    const uint8_t gssapi[] = {5, 3, 1, 0x80, 0xFE};
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, gssapi, sizeof gssapi, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, 5);
    OUT(&s, 5, 0xFF);

    const uint8_t bad[] = {6, 1, 0};
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, bad, sizeof bad, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, 1);
    cr_assert_eq(s.error, SOCKS_E_VERSION);
    cr_assert_eq(s.version, 0);
    expect_out(&s, NULL, 0);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, bad, 3, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_FAILED, "FAILED is sticky");

    /* an HTTP request sent to the SOCKS port */
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, (const uint8_t *)"GET / HTTP/1.1", 14, &used), SOCKS_EV_FAILED);
    cr_assert_eq(s.error, SOCKS_E_VERSION);
}

Test(socks5, greeting_with_all_255_methods)
{
    socks_session s;
    size_t used;
    uint8_t g[257];
    g[0] = 5;
    g[1] = 255;
    for (int i = 0; i < 255; i++)
        g[2 + i] = (uint8_t)(i + 3);
    g[256] = 2;
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(&s, g, sizeof g, &used), SOCKS_EV_NONE);
    cr_assert_eq(used, sizeof g);
    OUT(&s, 5, 2);
}

Test(socks5, auth_subnegotiation_errors)
{
    socks_session s;
    size_t used;
    struct {
        uint8_t msg[8];
        size_t len, used;
        socks_error err;
    } cases[] = {
        {{2, 1, 'a', 1, 'b'}, 5, 1, SOCKS_E_AUTH_VERSION},
        {{5, 1, 'a', 1, 'b'}, 5, 1, SOCKS_E_AUTH_VERSION},
        {{1, 0, 1, 'b'}, 4, 2, SOCKS_E_AUTH_EMPTY},
        {{1, 2, 'a', 0, 1, 'b'}, 6, 4, SOCKS_E_MALFORMED},
        {{1, 1, 0, 1, 'b'}, 5, 3, SOCKS_E_MALFORMED},
        {{1, 1, 'a', 2, 'b', 0}, 6, 6, SOCKS_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        socks_init(&s, &CONF_DEFAULT);
        feed_all(&s, GREET_UP, sizeof GREET_UP, &used);
        socks_output_clear(&s);
        cr_assert_eq(feed_all(&s, cases[i].msg, cases[i].len, &used), SOCKS_EV_FAILED, "%zu", i);
        cr_assert_eq(used, cases[i].used, "case %zu used %zu", i, used);
        cr_assert_eq(s.error, cases[i].err, "case %zu", i);
        OUT(&s, 1, 1);
    }
}

Test(socks5, empty_password_is_a_password)
{
    socks_session s;
    size_t used;
    socks_init(&s, &CONF_DEFAULT);
    feed_all(&s, GREET_UP, sizeof GREET_UP, &used);
    const uint8_t a[] = {1, 1, 'u', 0, 5};
    cr_assert_eq(feed_all(&s, a, sizeof a, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, 4, "the next byte is the request's");
    cr_assert(s.has_password);
    cr_assert_eq(s.pass_len, 0);
    socks_auth_result(&s, false);
    cr_assert_eq(s.error, SOCKS_E_AUTH_FAILED);
    OUT(&s, 5, 2, 1, 1);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, a + 4, 1, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_FAILED);
}

Test(socks5, longest_credentials)
{
    socks_session s;
    size_t used;
    uint8_t a[513];
    a[0] = 1;
    a[1] = 255;
    memset(a + 2, 'u', 255);
    a[257] = 255;
    memset(a + 258, 'p', 255);
    socks_init(&s, &CONF_DEFAULT);
    feed_all(&s, GREET_UP, sizeof GREET_UP, &used);
    cr_assert_eq(feed_split(&s, a, sizeof a, 7, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, sizeof a);
    cr_assert_eq(s.user_len, 255);
    cr_assert_eq(s.pass_len, 255);
    cr_assert_eq(strlen(s.user), 255);
    cr_assert_eq(strlen(s.pass), 255);
}

static void request_fails(const uint8_t *req, size_t n, size_t want_used, socks_error err,
                          uint8_t rep)
{
    socks_session s;
    size_t used;
    socks5_authed(&s);
    cr_assert_eq(feed_all(&s, req, n, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, want_used, "used %zu want %zu", used, want_used);
    cr_assert_eq(s.error, err, "error %d want %d", s.error, err);
    OUT(&s, 5, rep, 0, 1, 0, 0, 0, 0, 0, 0);
}

Test(socks5, request_errors_have_rfc1928_replies)
{
    request_fails((uint8_t[]){5, 2, 0, 1, 1, 2, 3, 4, 0, 80}, 10, 2, SOCKS_E_COMMAND, 0x07);
    request_fails((uint8_t[]){5, 3, 0, 1, 1, 2, 3, 4, 0, 80}, 10, 2, SOCKS_E_COMMAND, 0x07);
    request_fails((uint8_t[]){5, 9, 0, 1}, 4, 2, SOCKS_E_COMMAND, 0x07);
    request_fails((uint8_t[]){5, 1, 0, 2, 1, 2, 3, 4, 0, 80}, 10, 4, SOCKS_E_ATYP, 0x08);
    request_fails((uint8_t[]){5, 1, 0, 0}, 4, 4, SOCKS_E_ATYP, 0x08);
    request_fails((uint8_t[]){5, 1, 1, 1, 1, 2, 3, 4, 0, 80}, 10, 3, SOCKS_E_MALFORMED, 0x01);
    request_fails((uint8_t[]){4, 1, 0, 1, 1, 2, 3, 4, 0, 80}, 10, 1, SOCKS_E_MALFORMED, 0x01);
    request_fails((uint8_t[]){5, 1, 0, 1, 1, 2, 3, 4, 0, 0}, 10, 10, SOCKS_E_MALFORMED, 0x01);
    request_fails((uint8_t[]){5, 1, 0, 3, 0, 0, 80}, 7, 5, SOCKS_E_MALFORMED, 0x01);
    request_fails((uint8_t[]){5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80}, 10, 7, SOCKS_E_MALFORMED, 0x01);
    request_fails((uint8_t[]){5, 1, 0, 3, 1, 'a', 0, 0}, 8, 8, SOCKS_E_MALFORMED, 0x01);
}

Test(socks5, a_255_byte_name_and_failure_replies)
{
    socks_session s;
    size_t used;
    uint8_t r[5 + 255 + 2];
    memcpy(r, (uint8_t[]){5, 1, 0, 3, 255}, 5);
    memset(r + 5, 'h', 255);
    r[260] = 0x42;
    r[261] = 0x60;
    socks5_authed(&s);
    cr_assert_eq(feed_all(&s, r, sizeof r, &used), SOCKS_EV_REQUEST);
    cr_assert_eq(s.target.host_len, 255);
    cr_assert_eq(strlen(s.target.host), 255);
    socks_reply(&s, SOCKS_REP_HOST_UNREACHABLE, NULL, 0);
    OUT(&s, 5, 4, 0, 1, 0, 0, 0, 0, 0, 0);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, r, 1, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_FAILED);
}

Test(socks5, calls_out_of_order_fail_with_state)
{
    socks_session s;
    size_t used;
    socks_event ev;
    socks_init(&s, &CONF_DEFAULT);
    socks_reply(&s, SOCKS_REP_SUCCEEDED, NULL, 0);
    cr_assert_eq(s.error, SOCKS_E_STATE);

    socks_init(&s, &CONF_DEFAULT);
    socks_auth_result(&s, true);
    cr_assert_eq(s.error, SOCKS_E_STATE);

    socks_init(&s, &CONF_DEFAULT);
    feed_all(&s, GREET_UP, sizeof GREET_UP, &used);
    cr_assert_eq(feed_all(&s, AUTH_AB, sizeof AUTH_AB, &used), SOCKS_EV_AUTH);
    cr_assert_eq(socks_feed(&s, GREET_UP, 1, &ev), 0, "feeding before answering EV_AUTH");
    cr_assert_eq(ev, SOCKS_EV_FAILED);
    cr_assert_eq(s.error, SOCKS_E_STATE);
    cr_assert_eq(s.pass_len, 0);

    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(socks_feed(&s, NULL, 0, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_NONE);
}

/* --- SOCKS4 / 4a -------------------------------------------------------------------------------
 */

Test(socks4, socks4a_with_user_and_password)
{
    socks_session s;
    size_t used;
    const uint8_t m[] = {4,   1,   0x42, 0x60, 0, 0,   0,   7,   'b', 'o', 'b',
                         ':', 's', ':',  'x',  0, 'd', 'e', 'v', '1', 0,   'X'};
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(&s, m, sizeof m, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, sizeof m - 1);
    cr_assert_eq(s.version, 4);
    cr_assert(s.socks4a);
    cr_assert_str_eq(s.user, "bob");
    cr_assert_str_eq(s.pass, "s:x", "split at the first ':'");
    cr_assert(s.has_password);
    cr_assert_eq(s.target.atyp, SOCKS_ADDR_NAME);
    cr_assert_str_eq(s.target.host, "dev1");
    cr_assert_eq(s.target.port, 16992);
    expect_out(&s, NULL, 0);
    socks_auth_result(&s, true);
    expect_out(&s, NULL, 0);
    cr_assert_eq(s.pass_len, 0);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, NULL, 0, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_REQUEST);
    socks_reply(&s, SOCKS_REP_SUCCEEDED, (uint8_t[]){1, 2, 3, 4}, 0x0102);
    OUT(&s, 0, 90, 1, 2, 1, 2, 3, 4);
}

Test(socks4, plain_socks4_only_when_allowed)
{
    socks_session s;
    size_t used;
    const uint8_t m[] = {4, 1, 0, 80, 10, 0, 0, 5, 'u', 0};
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(&s, m, sizeof m, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, 8);
    cr_assert_eq(s.error, SOCKS_E_SOCKS4_DISABLED);
    OUT(&s, 0, 91, 0, 0, 0, 0, 0, 0);

    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, m, sizeof m, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, sizeof m);
    cr_assert(!s.socks4a);
    cr_assert_str_eq(s.user, "u");
    cr_assert(!s.has_password);
    cr_assert_eq(s.target.atyp, SOCKS_ADDR_IPV4);
    cr_assert_str_eq(s.target.host, "10.0.0.5");
    cr_assert_arr_eq(s.target.ip, ((uint8_t[]){10, 0, 0, 5}), 4);
    socks_auth_result(&s, false);
    cr_assert_eq(s.error, SOCKS_E_AUTH_FAILED);
    OUT(&s, 0, 91, 0, 0, 0, 0, 0, 0);
}

Test(socks4, empty_user_id_still_asks_the_caller)
{
    socks_session s;
    size_t used;
    const uint8_t m[] = {4, 1, 0, 80, 0, 0, 0, 1, 0, 'h', 0};
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_all(&s, m, sizeof m, &used), SOCKS_EV_AUTH);
    cr_assert_eq(s.user_len, 0);
    cr_assert_str_eq(s.target.host, "h");
    socks_auth_result(&s, true);
    socks_event ev;
    cr_assert_eq(socks_feed(&s, m, 0, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_REQUEST);
    socks_reply(&s, SOCKS_REP_CONNECTION_REFUSED, NULL, 0);
    OUT(&s, 0, 91, 0, 0, 0, 0, 0, 0);
    cr_assert_eq(socks_feed(&s, m, 1, &ev), 0);
    cr_assert_eq(ev, SOCKS_EV_FAILED);
}

static void socks4_fails(const uint8_t *m, size_t n, size_t want_used, socks_error err)
{
    socks_session s;
    size_t used;
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, m, n, &used), SOCKS_EV_FAILED);
    cr_assert_eq(used, want_used, "used %zu want %zu", used, want_used);
    cr_assert_eq(s.error, err, "error %d want %d", s.error, err);
    OUT(&s, 0, 91, 0, 0, 0, 0, 0, 0);
}

Test(socks4, errors)
{
    socks4_fails((uint8_t[]){4, 2, 0, 80, 1, 2, 3, 4, 0}, 9, 2, SOCKS_E_COMMAND);
    socks4_fails((uint8_t[]){4, 0, 0, 80, 1, 2, 3, 4, 0}, 9, 2, SOCKS_E_COMMAND);
    socks4_fails((uint8_t[]){4, 1, 0, 0, 1, 2, 3, 4, 0}, 9, 8, SOCKS_E_MALFORMED);
    socks4_fails((uint8_t[]){4, 1, 0, 80, 0, 0, 0, 1, 'u', 0, 0}, 11, 11, SOCKS_E_MALFORMED);

    uint8_t longid[8 + 300];
    memcpy(longid, (uint8_t[]){4, 1, 0, 80, 1, 2, 3, 4}, 8);
    memset(longid + 8, 'u', 300);
    socks4_fails(longid, sizeof longid, 8 + 256, SOCKS_E_TOO_LONG);

    uint8_t longhost[8 + 2 + 300];
    memcpy(longhost, (uint8_t[]){4, 1, 0, 80, 0, 0, 0, 9, 'u', 0}, 10);
    memset(longhost + 10, 'h', 300);
    socks4_fails(longhost, sizeof longhost, 10 + 256, SOCKS_E_TOO_LONG);
}

Test(socks4, longest_user_id_and_host_fit)
{
    socks_session s;
    size_t used;
    uint8_t m[8 + 256 + 256];
    memcpy(m, (uint8_t[]){4, 1, 0, 80, 0, 0, 0, 9}, 8);
    memset(m + 8, 'u', 255);
    m[8 + 255] = 0;
    memset(m + 8 + 256, 'h', 255);
    m[sizeof m - 1] = 0;
    socks_init(&s, &CONF_DEFAULT);
    cr_assert_eq(feed_split(&s, m, sizeof m, 3, &used), SOCKS_EV_AUTH);
    cr_assert_eq(used, sizeof m);
    cr_assert_eq(s.user_len, 255);
    cr_assert_eq(s.target.host_len, 255);
}

/* --- any split gives the same events -----------------------------------------------------------
 */

typedef struct trace {
    socks_event ev[8];
    size_t at[8];
    uint8_t out[64];
    size_t out_len, nev;
    socks_error err;
} trace;

/* Runs a whole conversation, answering AUTH with true and REQUEST with SUCCEEDED. */
static void run_conversation(const socks_conf *conf, const uint8_t *p, size_t n, size_t step,
                             trace *t)
{
    socks_session s;
    size_t pos = 0;
    memset(t, 0, sizeof *t);
    socks_init(&s, conf);
    while (t->nev < 8) {
        size_t k = n - pos < step ? n - pos : step;
        socks_event ev;
        pos += socks_feed(&s, p + pos, k, &ev);
        const uint8_t *o;
        size_t ol = socks_output(&s, &o);
        memcpy(t->out + t->out_len, o, ol);
        t->out_len += ol;
        socks_output_clear(&s);
        if (ev != SOCKS_EV_NONE) {
            t->ev[t->nev] = ev;
            t->at[t->nev++] = pos;
        }
        if (ev == SOCKS_EV_AUTH)
            socks_auth_result(&s, true);
        else if (ev == SOCKS_EV_REQUEST)
            socks_reply(&s, SOCKS_REP_SUCCEEDED, NULL, 0);
        else if (ev == SOCKS_EV_FAILED || (ev == SOCKS_EV_NONE && pos == n))
            break;
        ol = socks_output(&s, &o);
        memcpy(t->out + t->out_len, o, ol);
        t->out_len += ol;
        socks_output_clear(&s);
        if (ev == SOCKS_EV_REQUEST)
            break;
    }
    t->err = s.error;
}

static void split_invariant(const socks_conf *conf, const uint8_t *p, size_t n)
{
    trace whole, piece;
    run_conversation(conf, p, n, n, &whole);
    cr_assert_gt(whole.nev, 0);
    for (size_t step = 1; step < n; step++) {
        run_conversation(conf, p, n, step, &piece);
        cr_assert_eq(piece.nev, whole.nev, "step %zu", step);
        cr_assert_arr_eq(piece.ev, whole.ev, whole.nev * sizeof whole.ev[0], "step %zu", step);
        cr_assert_arr_eq(piece.at, whole.at, whole.nev * sizeof whole.at[0], "step %zu", step);
        cr_assert_eq(piece.out_len, whole.out_len, "step %zu", step);
        cr_assert_arr_eq(piece.out, whole.out, whole.out_len, "step %zu", step);
        cr_assert_eq(piece.err, whole.err);
    }
}

Test(split, socks5_pipelined_conversation)
{
    const uint8_t all[] = {5, 2, 0, 2, 1,   2,   'u', 'v', 2,  'p', 'q', 5,
                           1, 0, 3, 3, 'a', 'b', 'c', 0,   80, 'P', 'A', 'Y'};
    trace t;
    run_conversation(&CONF_DEFAULT, all, sizeof all, sizeof all, &t);
    cr_assert_eq(t.nev, 2);
    cr_assert_eq(t.ev[0], SOCKS_EV_AUTH);
    cr_assert_eq(t.at[0], 11);
    cr_assert_eq(t.ev[1], SOCKS_EV_REQUEST);
    cr_assert_eq(t.at[1], 21);
    const uint8_t out[] = {5, 2, 1, 0, 5, 0, 0, 1, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(t.out_len, sizeof out);
    cr_assert_arr_eq(t.out, out, sizeof out);
    split_invariant(&CONF_DEFAULT, all, sizeof all);
}

Test(split, socks4a_and_errors)
{
    const uint8_t m4a[] = {4, 1, 0, 80, 0, 0, 0, 1, 'u', ':', 'p', 0, 'h', 'o', 's', 't', 0, 'x'};
    split_invariant(&CONF_DEFAULT, m4a, sizeof m4a);
    const uint8_t m4[] = {4, 1, 0, 80, 1, 2, 3, 4, 'u', 0, 'x'};
    split_invariant(&CONF_DEFAULT, m4, sizeof m4);
    split_invariant(&CONF_ALL, m4, sizeof m4);
    const uint8_t badcmd[] = {5, 1, 2, 1, 1, 'u', 0, 5, 3, 0, 1, 1, 2, 3, 4, 0, 80};
    split_invariant(&CONF_DEFAULT, badcmd, sizeof badcmd);
    const uint8_t nul[] = {5, 1, 2, 1, 1, 'u', 0, 5, 1, 0, 3, 2, 'a', 0, 0, 80};
    split_invariant(&CONF_DEFAULT, nul, sizeof nul);
    const uint8_t v6[] = {5, 1, 0, 5, 1,    0,    4,  0, 0, 0, 0, 0, 0,
                          0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1, 1, 1};
    split_invariant(&CONF_ALL, v6, sizeof v6);
}

Test(split, ipv4_mapped_ipv6_renders_in_rfc5952_form)
{
    socks_session s;
    size_t used;
    const uint8_t v6[] = {5, 1, 0, 5, 1,    0,    4,  0, 0, 0, 0, 0, 0,
                          0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1, 1, 1};
    socks_init(&s, &CONF_ALL);
    cr_assert_eq(feed_all(&s, v6, sizeof v6, &used), SOCKS_EV_REQUEST);
    cr_assert_str_eq(s.target.host, "::ffff:10.0.0.1");
    cr_assert_eq(s.target.port, 257);
}

Test(strerror, every_error_has_a_message)
{
    for (int e = SOCKS_OK; e <= SOCKS_E_STATE; e++)
        cr_assert_neq(strcmp(socks_strerror((socks_error)e), "unknown SOCKS error"), 0);
    cr_assert_str_eq(socks_strerror((socks_error)99), "unknown SOCKS error");
}
