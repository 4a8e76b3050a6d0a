/* test_services.c - the channel services without an MPS: digest auth (RFC 2617 vector, the
 * WS-MAN responder's 401/200), chunked and pipelined requests, the SOL redirection protocol as
 * amtterm speaks it (message layouts of its redir.c / RedirectionConstants.h), echo, discard and
 * source with small windows, and the --service options. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apf.h"
#include "device.h"
#include "digest.h"
#include "http.h"
#include "opts.h"
#include "sol.h"

/* ---- a device fed MPS bytes (as test_amtsim.c, with bigger buffers) ---- */

struct sink {
    uint8_t buf[1 << 18];
    size_t len;
};

static struct sink S;
static struct sim_opts O;
static uint8_t COPY[1 << 18];

static int sink_send(void *user, const uint8_t *p, size_t n)
{
    struct sink *s = user;
    cr_assert(s->len + n <= sizeof(s->buf));
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static const struct dev_ops ops = {.send = sink_send};

static void setup(const char *extra)
{
    static char buf[1024];
    char *argv[64], err[256];
    int argc = 0;
    snprintf(buf, sizeof(buf),
             "amtsim --connect 127.0.0.1:4433 --password pw --ports 16992,16994,5900,7000 %s",
             extra);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    cr_assert_eq(opts_parse(&O, argc, argv, err, sizeof(err)), OPTS_OK, "%s", err);
    memset(O.digest_key, 7, sizeof(O.digest_key));
    S.len = 0;
}

static void feed(struct device *d, const apf_msg *m, int expect)
{
    size_t cap = 80 + (m->type == APF_CHANNEL_DATA ? m->u.data.data.len : 4096);
    uint8_t *b = malloc(cap);
    ssize_t n = apf_pack(m, b, cap);
    cr_assert_gt(n, 0);
    cr_assert_eq(dev_recv(d, b, (size_t)n, d->now_ms), expect);
    free(b);
}

static size_t take(apf_msg *out, size_t max)
{
    memcpy(COPY, S.buf, S.len);
    size_t off = 0, n = 0, len;
    while (off < S.len) {
        cr_assert_lt(n, max, "more than %zu messages", max);
        int r = apf_unpack(COPY + off, S.len - off, NULL, APF_UNPACK_SUCCESS_PORT, &out[n], &len);
        cr_assert_eq(r, APF_OK, "unpack at %zu: %s", off, apf_strerror(r));
        off += len;
        n++;
    }
    S.len = 0;
    return n;
}

/* Ready device 7 with ports 16992, 16994, 5900, 7000 registered. */
static void login(struct device *d)
{
    dev_init(d, &O, &ops, 7, &S);
    cr_assert_eq(dev_start(d, 0), DEV_OK);
    static const uint8_t accept_auth[] = "\x06\x00\x00\x00\x12"
                                         "auth@amt.intel.com";
    static const uint8_t accept_pfwd[] = "\x06\x00\x00\x00\x12"
                                         "pfwd@amt.intel.com";
    cr_assert_eq(dev_recv(d, accept_auth, 23, 0), DEV_OK);
    cr_assert_eq(dev_recv(d, (const uint8_t *)"\x34", 1, 0), DEV_OK);
    cr_assert_eq(dev_recv(d, accept_pfwd, 23, 0), DEV_OK);
    for (size_t i = 0; i < O.nports; i++) {
        apf_msg m = {.type = APF_REQUEST_SUCCESS};
        m.u.request_success.has_port = true;
        m.u.request_success.port = O.ports[i];
        feed(d, &m, DEV_OK);
    }
    apf_msg ko = {.type = APF_KEEPALIVE_OPTIONS_REQUEST};
    ko.u.keepalive_options.interval = 30;
    feed(d, &ko, DEV_OK);
    cr_assert(d->ready);
    S.len = 0;
}

static void open_chan(struct device *d, uint32_t peer, uint32_t window, uint32_t port)
{
    apf_msg m = {.type = APF_CHANNEL_OPEN};
    m.u.open.type = apf_str_c(APF_CHAN_FORWARDED_TCPIP);
    m.u.open.sender = peer;
    m.u.open.window = window;
    m.u.open.reserved = 0xffffffff;
    m.u.open.addr = apf_str_c("");
    m.u.open.port = port;
    m.u.open.orig_addr = apf_str_c("127.0.0.1");
    m.u.open.orig_port = 1024;
    feed(d, &m, DEV_OK);
}

static void send_bytes(struct device *d, uint32_t id, const void *p, size_t n)
{
    apf_msg m = {.type = APF_CHANNEL_DATA};
    m.u.data.recipient = id;
    m.u.data.data = (apf_str){.p = p, .len = (uint32_t)n};
    feed(d, &m, DEV_OK);
}

static void adjust(struct device *d, uint32_t id, uint32_t bytes)
{
    apf_msg m = {.type = APF_CHANNEL_WINDOW_ADJUST};
    m.u.window_adjust.recipient = id;
    m.u.window_adjust.bytes = bytes;
    feed(d, &m, DEV_OK);
}

/* Concatenate the CHANNEL_DATA payloads sent (to peer) into out; returns the length. Counts
 * WINDOW_ADJUST credit in *credit and CLOSEs in *closes when given. */
static size_t collect(uint32_t peer, uint8_t *out, size_t cap, uint32_t *credit, int *closes)
{
    static apf_msg m[256];
    size_t n = take(m, 256), len = 0;
    for (size_t i = 0; i < n; i++) {
        if (m[i].type == APF_CHANNEL_DATA) {
            cr_assert_eq(m[i].u.data.recipient, peer);
            cr_assert_leq(m[i].u.data.data.len, O.max_payload);
            cr_assert_leq(len + m[i].u.data.data.len, cap);
            memcpy(out + len, m[i].u.data.data.p, m[i].u.data.data.len);
            len += m[i].u.data.data.len;
        } else if (m[i].type == APF_CHANNEL_WINDOW_ADJUST && credit) {
            *credit += m[i].u.window_adjust.bytes;
        } else if (m[i].type == APF_CHANNEL_CLOSE && closes) {
            (*closes)++;
        }
    }
    return len;
}

/* ---- digest ---- */

Test(digest, rfc2617_vector)
{
    char r[33];
    digest_response("Mufasa", "testrealm@host.com", "Circle Of Life", "GET", "/dir/index.html",
                    "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b", "auth", r);
    cr_assert_str_eq(r, "6629fae49393a05397450978507c4ef1");
}

Test(digest, parse_header_and_nonces)
{
    struct digest_fields f;
    const char *h = "Digest username=\"admin\", realm=\"Digest:ABC\", nonce=\"n\\\"x\", "
                    "uri=\"/wsman\", cnonce=\"c1\", nc=00000001, qop=auth, "
                    "response=\"0123\", algorithm=MD5, opaque=\"ignored\"";
    cr_assert_eq(digest_parse_header(h, strlen(h), &f), 0);
    cr_assert_str_eq(f.user, "admin");
    cr_assert_str_eq(f.nonce, "n\"x");
    cr_assert_str_eq(f.uri, "/wsman");
    cr_assert_str_eq(f.nc, "00000001");
    cr_assert_str_eq(f.qop, "auth");
    cr_assert_str_eq(f.algorithm, "MD5");
    cr_assert_eq(digest_parse_header("Basic YWJjOmRlZg==", 18, &f), -1);
    cr_assert_eq(digest_parse_header("Digest realm=\"open", 18, &f), -1);

    uint8_t key[DIGEST_KEY_LEN] = {1};
    uint32_t seq = 0, seq2 = 0;
    struct digest_ctx a = {.key = key, .index = 7, .seq = &seq};
    struct digest_ctx b = {.key = key, .index = 8, .seq = &seq2};
    char n1[DIGEST_NONCE_LEN + 1], n2[DIGEST_NONCE_LEN + 1];
    digest_nonce(&a, n1);
    digest_nonce(&a, n2);
    cr_assert_str_neq(n1, n2);
    cr_assert_eq(strlen(n1), DIGEST_NONCE_LEN);
    cr_assert(digest_nonce_ok(&a, n1, strlen(n1)));
    cr_assert(!digest_nonce_ok(&b, n1, strlen(n1)), "another device's nonce");
    n1[20] = n1[20] == '0' ? '1' : '0';
    cr_assert(!digest_nonce_ok(&a, n1, strlen(n1)), "tampered");

    char realm[DIGEST_REALM_MAX];
    digest_realm("12345678-0000-4000-8000-000000000007", realm);
    cr_assert_str_eq(realm, "Digest:12345678000040008000000000000007");
}

/* ---- the WS-MAN responder with digest ---- */

struct out {
    char buf[1 << 16];
    size_t len;
    size_t room;
};

static int out_write(void *arg, const uint8_t *p, size_t n)
{
    struct out *o = arg;
    cr_assert_lt(o->len + n, sizeof(o->buf));
    cr_assert_leq(n, o->room, "wrote beyond room");
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = 0;
    return 0;
}

static size_t out_room(void *arg)
{
    return ((struct out *)arg)->room;
}

static uint8_t KEY[DIGEST_KEY_LEN] = {9, 9, 9};
static uint32_t SEQ;
static struct digest_ctx AUTH = {.user = "admin", .password = "P@ssw0rd", .key = KEY, .seq = &SEQ};
static struct http_ident ID = {.device = 7,
                               .uuid = "12345678-0000-4000-8000-000000000007",
                               .hostname = "amt-7",
                               .port = 16992};

static int hfeed(struct http_rx **st, const char *p, struct out *o)
{
    struct svc_out out = {.arg = o, .room = out_room, .write = out_write};
    struct http_cfg cfg = {.id = &ID, .auth = &AUTH};
    digest_realm(ID.uuid, AUTH.realm);
    size_t used = 0, n = strlen(p);
    int r = http_feed(st, (const uint8_t *)p, n, &cfg, &out, &used);
    if (r == SVC_KEEP)
        cr_assert_eq(used, n);
    return r;
}

/* The nonce of the last 401 in o. */
static void last_nonce(const struct out *o, char *nonce)
{
    const char *p = NULL, *q = o->buf;
    while ((q = strstr(q, "nonce=\"")))
        p = q++;
    cr_assert_not_null(p, "%s", o->buf);
    snprintf(nonce, DIGEST_NONCE_LEN + 1, "%s", p + 7);
}

static void auth_request(char *req, size_t cap, const char *method, const char *target,
                         const char *user, const char *pass, const char *uri, const char *nonce)
{
    char resp[33], realm[DIGEST_REALM_MAX];
    digest_realm(ID.uuid, realm);
    digest_response(user, realm, pass, method, uri, nonce, "00000001", "abcdef", "auth", resp);
    snprintf(req, cap,
             "%s %s HTTP/1.1\r\nHost: amt-7:16992\r\nAuthorization: Digest username=\"%s\", "
             "realm=\"%s\", nonce=\"%s\", uri=\"%s\", cnonce=\"abcdef\", nc=00000001, qop=auth, "
             "response=\"%s\"\r\nContent-Length: 0\r\n\r\n",
             method, target, user, realm, nonce, uri, resp);
}

Test(http_digest, challenge_then_200_and_wrong_password_401)
{
    struct http_rx *st = NULL;
    struct out o = {.room = 1 << 20};
    cr_assert_eq(hfeed(&st, "POST /wsman HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc", &o),
                 SVC_KEEP);
    cr_assert(strstr(o.buf, "HTTP/1.1 401 Unauthorized\r\n"), "%s", o.buf);
    cr_assert(strstr(o.buf,
                     "WWW-Authenticate: Digest realm=\"Digest:12345678000040008000000000000007"
                     "\", nonce=\""),
              "%s", o.buf);
    cr_assert(strstr(o.buf, "\", stale=\"false\", qop=\"auth\"\r\n"), "%s", o.buf);
    cr_assert(strstr(o.buf, "Connection: keep-alive"));
    cr_assert(strstr(o.buf, "\r\n\r\n401 Unauthorized\n"));
    char nonce[DIGEST_NONCE_LEN + 1], req[2048];
    last_nonce(&o, nonce);

    o.len = 0; /* the right answer on the same channel */
    auth_request(req, sizeof(req), "POST", "/wsman", "admin", "P@ssw0rd", "/wsman", nonce);
    cr_assert_eq(hfeed(&st, req, &o), SVC_KEEP);
    cr_assert(strstr(o.buf, "HTTP/1.1 200 OK\r\n"), "%s", o.buf);
    cr_assert(strstr(o.buf, "{\"device\":7,\"uuid\":\"12345678-0000-4000-8000-000000000007\","
                            "\"hostname\":\"amt-7\",\"port\":16992}\n"),
              "%s", o.buf);

    const char *bad[][4] = {
        /* method target user pass uri: each wrong in one way */
        {"POST", "/wsman", "admin", "wrong"},
        {"POST", "/wsman", "root", "P@ssw0rd"},
        {"POST", "/other", "admin", "P@ssw0rd"}, /* uri param /wsman, target /other */
    };
    for (size_t i = 0; i < 3; i++) {
        o.len = 0;
        auth_request(req, sizeof(req), bad[i][0], bad[i][1], bad[i][2], bad[i][3], "/wsman", nonce);
        cr_assert_eq(hfeed(&st, req, &o), SVC_KEEP);
        cr_assert(strstr(o.buf, "HTTP/1.1 401 Unauthorized"), "case %zu: %s", i, o.buf);
    }
    /* a nonce we never issued */
    o.len = 0;
    auth_request(req, sizeof(req), "GET", "/wsman", "admin", "P@ssw0rd", "/wsman",
                 "0000000100000000000000000000dead");
    cr_assert_eq(hfeed(&st, req, &o), SVC_KEEP);
    cr_assert(strstr(o.buf, "401"));
    /* absolute-form target (through an HTTP proxy): the path is what uri must name */
    o.len = 0;
    auth_request(req, sizeof(req), "GET", "http://amt-7:16992/wsman", "admin", "P@ssw0rd", "/wsman",
                 nonce);
    cr_assert_eq(hfeed(&st, req, &o), SVC_KEEP);
    cr_assert(strstr(o.buf, "200 OK"), "%s", o.buf);
    http_free(&st);
}

Test(http_digest, chunked_pipelined_expect_and_head)
{
    struct http_rx *st = NULL;
    struct out o = {.room = 1 << 20};
    /* chunked body with an extension and a trailer, then a pipelined GET, split byte by byte */
    const char *req = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                      "5;ext=1\r\nhello\r\n10\r\n0123456789abcdef\r\n0\r\nX-T: 1\r\n\r\n"
                      "GET /b HTTP/1.1\r\n\r\n";
    for (size_t i = 0; req[i]; i++) {
        char one[2] = {req[i], 0};
        cr_assert_eq(hfeed(&st, one, &o), SVC_KEEP, "at %zu", i);
        if (i + 1 < strlen(req) - 19) /* nothing before the chunked body is complete */
            cr_assert_eq(o.len, 0, "answered early at %zu", i);
    }
    const char *a = strstr(o.buf, "HTTP/1.1 401"), *b = a ? strstr(a + 1, "HTTP/1.1 401") : NULL;
    cr_assert(a && b && !strstr(b + 1, "HTTP/1.1"), "%s", o.buf);
    cr_assert_null(st, "idle: no state");

    o.len = 0; /* Expect: 100-continue gets 100 before the body, the answer after it */
    cr_assert_eq(
        hfeed(&st, "PUT /x HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n", &o),
        SVC_KEEP);
    cr_assert_str_eq(o.buf, "HTTP/1.1 100 Continue\r\n\r\n");
    cr_assert_eq(hfeed(&st, "data", &o), SVC_KEEP);
    cr_assert(strstr(o.buf, "401 Unauthorized"));

    o.len = 0; /* HEAD: headers only */
    cr_assert_eq(hfeed(&st, "HEAD / HTTP/1.1\r\n\r\n", &o), SVC_KEEP);
    cr_assert(strstr(o.buf, "Content-Length: 17\r\n"));
    cr_assert(o.buf[o.len - 1] == '\n' && o.buf[o.len - 2] == '\r' && o.buf[o.len - 3] == '\n');

    o.len = 0; /* smuggling shapes end the channel with a 400 */
    cr_assert_eq(hfeed(&st,
                       "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                       &o),
                 SVC_CLOSE);
    cr_assert(strstr(o.buf, "400 Bad Request"));
    http_free(&st);
    o.len = 0;
    cr_assert_eq(hfeed(&st, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", &o),
                 SVC_CLOSE);
    http_free(&st);
    o.len = 0;
    cr_assert_eq(hfeed(&st, "GET / HTTP/1.0\r\n\r\n", &o), SVC_CLOSE);
    cr_assert(strstr(o.buf, "Connection: close"));
    http_free(&st);
}

Test(http_digest, no_room_no_input)
{
    struct http_rx *st = NULL;
    struct out o = {.room = HTTP_RESP_MAX - 1};
    struct svc_out out = {.arg = &o, .room = out_room, .write = out_write};
    struct http_cfg cfg = {.id = &ID, .auth = &AUTH};
    size_t used = 99;
    const char *req = "GET / HTTP/1.1\r\n\r\n";
    cr_assert_eq(http_feed(&st, (const uint8_t *)req, strlen(req), &cfg, &out, &used), SVC_KEEP);
    cr_assert_eq(used, 0);
    cr_assert_eq(o.len, 0);
    http_free(&st);
}

/* ---- SOL ---- */

/* amtterm's messages, byte for byte as its redir.c builds them */
static size_t amtterm_auth(uint8_t *m, const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass), len = 11 + ul + pl;
    memset(m, 0, len);
    m[0] = 0x13;
    m[4] = 0x01;
    m[5] = (uint8_t)(ul + pl + 2);
    m[9] = (uint8_t)ul;
    memcpy(m + 10, user, ul);
    m[10 + ul] = (uint8_t)pl;
    memcpy(m + 11 + ul, pass, pl);
    return len;
}

static const uint8_t AMTTERM_START[8] = {0x10, 0, 0, 0, 'S', 'O', 'L', ' '};
static const uint8_t AMTTERM_SOL_START[24] = {
    0x20, 0, 0, 0, 0, 0, 0, 0, 0xe8, 0x03, 100, 0, 0, 0, 0x10, 0x27, 0, 0, 0x88, 0x13, 0, 0, 0, 0};

static size_t amtterm_data(uint8_t *m, const char *s)
{
    size_t n = strlen(s);
    memset(m, 0, 10);
    m[0] = 0x28;
    m[8] = (uint8_t)n;
    m[9] = (uint8_t)(n >> 8);
    memcpy(m + 10, s, n);
    return 10 + n;
}

Test(sol, amtterm_session_through_a_channel)
{
    struct device d;
    uint8_t m[512], got[8192];
    setup("");
    login(&d);
    open_chan(&d, 3, 65536, 16994);
    S.len = 0;
    send_bytes(&d, 0, AMTTERM_START, 8);
    size_t n = collect(3, got, sizeof(got), NULL, NULL);
    static const uint8_t reply[13] = {0x11, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    cr_assert_eq(n, 13);
    cr_assert_arr_eq(got, reply, 13);

    send_bytes(&d, 0, m, amtterm_auth(m, "admin", "nope")); /* wrong password: status 1 */
    n = collect(3, got, sizeof(got), NULL, NULL);
    cr_assert_eq(n, 9);
    cr_assert_eq(got[0], 0x14);
    cr_assert_eq(got[1], 1);
    send_bytes(&d, 0, m, amtterm_auth(m, "admin", "P@ssw0rd"));
    n = collect(3, got, sizeof(got), NULL, NULL);
    static const uint8_t ok[9] = {0x14, 0, 0, 0, 1, 0, 0, 0, 0};
    cr_assert_eq(n, 9);
    cr_assert_arr_eq(got, ok, 9);

    d.now_ms = 1000;
    send_bytes(&d, 0, AMTTERM_SOL_START, 24);
    n = collect(3, got, sizeof(got), NULL, NULL);
    cr_assert_eq(n, 23, "the 0x21 reply alone: amtterm swallows whatever follows it in a read");
    cr_assert_eq(got[0], 0x21);
    cr_assert_eq(got[1], 0);
    cr_assert_eq(dev_next_timer(&d), 1000 + SOL_BANNER_DELAY_MS);

    cr_assert_eq(dev_tick(&d, 1000 + SOL_BANNER_DELAY_MS), DEV_OK);
    n = collect(3, got, sizeof(got), NULL, NULL);
    const char *banner = "amtsim SOL amt-7 12345678-0000-4000-8000-000000000007\r\namt-7> ";
    cr_assert_eq(got[0], 0x2a);
    cr_assert_eq((size_t)(got[8] | got[9] << 8), strlen(banner));
    cr_assert_eq(n, 10 + strlen(banner));
    cr_assert_arr_eq(got + 10, banner, strlen(banner));

    /* amtterm turns the typed \n into \r */
    send_bytes(&d, 0, m, amtterm_data(m, "hello\r"));
    n = collect(3, got, sizeof(got), NULL, NULL);
    const char *echo = "hello\r\necho: hello\r\namt-7> ";
    cr_assert_eq(n, 10 + strlen(echo));
    cr_assert_eq(got[0], 0x2a);
    got[n] = 0;
    cr_assert_str_eq((char *)got + 10, echo);

    /* split across reads, with a backspace */
    size_t ml = amtterm_data(m, "ab\x7f"
                                "c\r");
    send_bytes(&d, 0, m, 3);
    send_bytes(&d, 0, m + 3, ml - 3);
    n = collect(3, got, sizeof(got), NULL, NULL);
    got[n] = 0;
    cr_assert(strstr((char *)got + 10, "ab\b \bc\r\necho: ac\r\n"), "%s", got + 10);

    /* heartbeats every 5 s (amtterm's interval), echoed back by amtterm and ignored */
    cr_assert_eq(dev_next_timer(&d), 1000 + 5000);
    cr_assert_eq(dev_tick(&d, 6000), DEV_OK);
    n = collect(3, got, sizeof(got), NULL, NULL);
    cr_assert_eq(n, 8);
    cr_assert_eq(got[0], 0x2b);
    send_bytes(&d, 0, got, 8);
    cr_assert_eq(S.len, 0);
    static const uint8_t ping[8] = {0x24, 0, 0, 0, 5, 0, 0, 0};
    send_bytes(&d, 0, ping, 8);
    n = collect(3, got, sizeof(got), NULL, NULL);
    static const uint8_t pong[8] = {0x25, 0, 0, 0, 5, 0, 0, 0};
    cr_assert_eq(n, 8);
    cr_assert_arr_eq(got, pong, 8);

    /* ^] in amtterm: EndSOL 0x22 -> 0x23, then EndRedirectionSession 0x12 and the channel ends */
    static const uint8_t end_sol[8] = {0x22};
    send_bytes(&d, 0, end_sol, 8);
    n = collect(3, got, sizeof(got), NULL, NULL);
    cr_assert_eq(n, 8);
    cr_assert_eq(got[0], 0x23);
    static const uint8_t end[4] = {0x12};
    int closes = 0;
    send_bytes(&d, 0, end, 4);
    collect(3, got, sizeof(got), NULL, &closes);
    cr_assert_eq(closes, 1);
    dev_reset(&d);
}

Test(sol, digest_method_query_and_refusals)
{
    struct sol *st = NULL;
    struct out o = {.room = 1 << 20};
    struct svc_out out = {.arg = &o, .room = out_room, .write = out_write};
    digest_realm(ID.uuid, AUTH.realm);
    struct sol_cfg cfg = {.auth = &AUTH, .hostname = "amt-7", .uuid = ID.uuid};
    size_t used;
    cr_assert_eq(sol_feed(&st, AMTTERM_START, 8, &cfg, &out, 0, &used), SVC_KEEP);
    o.len = 0;
    static const uint8_t query[9] = {0x13};
    cr_assert_eq(sol_feed(&st, query, 9, &cfg, &out, 0, &used), SVC_KEEP);
    static const uint8_t methods[11] = {0x14, 0, 0, 0, 0, 2, 0, 0, 0, 1, 4};
    cr_assert_eq(o.len, 11);
    cr_assert_arr_eq(o.buf, methods, 11);

    /* digest: the first try has no realm and nonce (as Intel's and MeshCentral's consoles do) */
    uint8_t m[600];
    const char *uri = "/RedirectionService";
    size_t k = 9;
    m[k++] = 5;
    memcpy(m + k, "admin", 5);
    k += 5;
    m[k++] = 0;
    m[k++] = 0;
    m[k++] = (uint8_t)strlen(uri);
    memcpy(m + k, uri, strlen(uri));
    k += strlen(uri);
    memset(m + k, 0, 4);
    k += 4;
    memset(m, 0, 9);
    m[0] = 0x13;
    m[4] = 4;
    m[5] = (uint8_t)(k - 9);
    o.len = 0;
    cr_assert_eq(sol_feed(&st, m, k, &cfg, &out, 0, &used), SVC_KEEP);
    cr_assert_eq((uint8_t)o.buf[0], 0x14);
    cr_assert_eq(o.buf[1], 1);
    cr_assert_eq(o.buf[4], 4);
    size_t rl = (uint8_t)o.buf[9];
    cr_assert_eq(rl, strlen(AUTH.realm));
    cr_assert_arr_eq(o.buf + 10, AUTH.realm, rl);
    char nonce[64];
    size_t nl = (uint8_t)o.buf[10 + rl];
    memcpy(nonce, o.buf + 11 + rl, nl);
    nonce[nl] = 0;
    cr_assert_eq(o.buf[11 + rl + nl], 4);
    cr_assert_arr_eq(o.buf + 12 + rl + nl, "auth", 4);

    char resp[33];
    digest_response("admin", AUTH.realm, "P@ssw0rd", "POST", uri, nonce, "1", "cn0", "auth", resp);
    const char *f[8] = {"admin", AUTH.realm, nonce, uri, "cn0", "1", resp, "auth"};
    k = 9;
    for (int i = 0; i < 8; i++) {
        m[k++] = (uint8_t)strlen(f[i]);
        memcpy(m + k, f[i], strlen(f[i]));
        k += strlen(f[i]);
    }
    memset(m, 0, 9);
    m[0] = 0x13;
    m[4] = 4;
    m[5] = (uint8_t)(k - 9);
    o.len = 0;
    cr_assert_eq(sol_feed(&st, m, k, &cfg, &out, 0, &used), SVC_KEEP);
    static const uint8_t ok[9] = {0x14, 0, 0, 0, 4, 0, 0, 0, 0};
    cr_assert_eq(o.len, 9, "status %d len %zu", o.buf[1], o.len);
    cr_assert_arr_eq(o.buf, ok, 9);
    sol_free(&st);

    /* three wrong passwords close; an unknown message type closes; IDER is unsupported */
    cr_assert_eq(sol_feed(&st, AMTTERM_START, 8, &cfg, &out, 0, &used), SVC_KEEP);
    uint8_t a[64];
    size_t al = amtterm_auth(a, "admin", "x");
    cr_assert_eq(sol_feed(&st, a, al, &cfg, &out, 0, &used), SVC_KEEP);
    cr_assert_eq(sol_feed(&st, a, al, &cfg, &out, 0, &used), SVC_KEEP);
    cr_assert_eq(sol_feed(&st, a, al, &cfg, &out, 0, &used), SVC_CLOSE);
    sol_free(&st);
    cr_assert_eq(sol_feed(&st, (const uint8_t *)"\x77", 1, &cfg, &out, 0, &used), SVC_CLOSE);
    sol_free(&st);
    o.len = 0;
    static const uint8_t ider[8] = {0x10, 0, 0, 0, 'I', 'D', 'E', 'R'};
    cr_assert_eq(sol_feed(&st, ider, 8, &cfg, &out, 0, &used), SVC_CLOSE);
    cr_assert_eq(o.buf[1], 3);
    sol_free(&st);
    /* SOL data before authentication: closed */
    cr_assert_eq(sol_feed(&st, AMTTERM_START, 8, &cfg, &out, 0, &used), SVC_KEEP);
    cr_assert_eq(sol_feed(&st, AMTTERM_SOL_START, 24, &cfg, &out, 0, &used), SVC_CLOSE);
    sol_free(&st);
}

/* ---- echo, discard, source ---- */

Test(echo, byte_exact_within_both_windows)
{
    struct device d;
    setup("--window 131072 --max-payload 16384");
    login(&d);
    open_chan(&d, 9, 1000, 5900); /* the MPS grants us 1000 bytes */
    S.len = 0;
    enum { N = 100000 };
    uint8_t *in = malloc(N), *got = malloc(N + 1);
    for (size_t i = 0; i < N; i++)
        in[i] = (uint8_t)(i * 7 + (i >> 9));
    uint32_t credit = 0;
    send_bytes(&d, 0, in, 50000);
    send_bytes(&d, 0, in + 50000, 50000);
    size_t n = collect(9, got, N, &credit, NULL);
    cr_assert_eq(n, 1000, "only the MPS' window goes out");
    cr_assert_eq(dev_chan_queued(&d, 0), DEV_TXQ_MAX, "the queue is full");
    cr_assert_eq(credit, 1000 + DEV_TXQ_MAX, "credit only for what the queue took");
    cr_assert_eq(dev_chan_rx_left(&d, 0), 131072 - N + credit);
    /* the MPS opens its window: queue and held input go out, credit follows */
    adjust(&d, 0, 10000000);
    size_t m = collect(9, got + n, N - n, &credit, NULL);
    cr_assert_eq(n + m, N);
    cr_assert_arr_eq(got, in, N, "byte-exact");
    cr_assert_eq(dev_chan_queued(&d, 0), 0);
    cr_assert_eq(dev_chan_rx_left(&d, 0), 131072 - N + credit);
    cr_assert_lt(N - credit, 131072 / 2, "what is still owed waits for half a window only");
    free(in);
    free(got);
    dev_reset(&d);
}

Test(echo, small_window_round_trips)
{
    struct device d;
    setup("--window 1024 --max-payload 100");
    login(&d);
    open_chan(&d, 9, 300, 5900);
    S.len = 0;
    uint8_t in[1024], got[4096];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i ^ 0x5a);
    uint32_t credit = 0;
    send_bytes(&d, 0, in, 1024);
    size_t n = collect(9, got, sizeof(got), &credit, NULL);
    cr_assert_eq(n, 300, "three payloads of at most 100");
    while (n < 1024) {
        adjust(&d, 0, 50);
        n += collect(9, got + n, sizeof(got) - n, &credit, NULL);
    }
    cr_assert_arr_eq(got, in, 1024);
    dev_reset(&d);
}

Test(discard_source, discard_credits_and_source_sends_the_pattern)
{
    struct device d;
    setup("--service 7000=discard --max-payload 4000");
    login(&d);
    open_chan(&d, 4, 1000, 7000);
    S.len = 0;
    uint8_t buf[20000];
    memset(buf, 1, sizeof(buf));
    uint32_t credit = 0;
    send_bytes(&d, 0, buf, 20000);
    cr_assert_eq(collect(4, buf, sizeof(buf), &credit, NULL), 0);
    cr_assert_eq(credit, 20000);
    dev_reset(&d);

    setup("--service 7000=source:12345 --max-payload 4000");
    login(&d);
    open_chan(&d, 4, 5000, 7000);
    uint8_t got[20000];
    int closes = 0;
    size_t n = 0;
    {
        /* skip the confirmation: collect wants DATA only for peer 4 */
        static apf_msg m[64];
        size_t k = take(m, 64);
        cr_assert_eq(m[0].type, APF_CHANNEL_OPEN_CONFIRMATION);
        for (size_t i = 1; i < k; i++) {
            cr_assert_eq(m[i].type, APF_CHANNEL_DATA);
            memcpy(got + n, m[i].u.data.data.p, m[i].u.data.data.len);
            n += m[i].u.data.data.len;
        }
    }
    cr_assert_eq(n, 5000);
    adjust(&d, 0, 100000);
    n += collect(4, got + n, sizeof(got) - n, NULL, &closes);
    cr_assert_eq(n, 12345);
    cr_assert_eq(closes, 1, "then CLOSE");
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(got[i], SVC_PATTERN(i), "byte %zu", i);
    dev_reset(&d);
}

/* ---- options ---- */

Test(service_opts, defaults_and_overrides)
{
    uint64_t b;
    setup("");
    cr_assert_eq(opts_service(&O, 16992, &b), SVC_HTTP);
    cr_assert_eq(opts_service(&O, 16993, &b), SVC_HTTP);
    cr_assert_eq(opts_service(&O, 16994, &b), SVC_SOL);
    cr_assert_eq(opts_service(&O, 16995, &b), SVC_SOL);
    cr_assert_eq(opts_service(&O, 5900, &b), SVC_ECHO);
    cr_assert_eq(opts_service(&O, 623, &b), SVC_HTTP);
    cr_assert_str_eq(O.amt_user, "admin");
    cr_assert_str_eq(O.amt_password, "P@ssw0rd");
    setup("--service 5900=discard --service 16992=http-open --service 7000=source:99 "
          "--service 7000=source:1048576 --http-auth none --amt-user bob --amt-password s3");
    cr_assert_eq(opts_service(&O, 5900, &b), SVC_DISCARD);
    cr_assert_eq(opts_service(&O, 16992, &b), SVC_HTTP_OPEN);
    cr_assert_eq(opts_service(&O, 16993, &b), SVC_HTTP_OPEN, "--http-auth none");
    cr_assert_eq(opts_service(&O, 7000, &b), SVC_SOURCE);
    cr_assert_eq(b, 1048576, "the last one wins");
    cr_assert_str_eq(O.amt_user, "bob");
    cr_assert_str_eq(O.amt_password, "s3");
    const char *bad[] = {
        "--service 5900",         "--service 0=echo",         "--service 5900=telnet",
        "--service 5900=source:", "--service 5900=source:-1", "--http-auth basic"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[256], err[256];
        static char buf[512];
        char *argv[16];
        int argc = 0;
        snprintf(line, sizeof(line), "amtsim --connect 127.0.0.1:1 --password x %s", bad[i]);
        strcpy(buf, line);
        for (char *t = strtok(buf, " "); t; t = strtok(NULL, " "))
            argv[argc++] = t;
        argv[argc] = NULL;
        cr_assert_eq(opts_parse(&O, argc, argv, err, sizeof(err)), OPTS_ERR, "%s accepted", bad[i]);
    }
}
