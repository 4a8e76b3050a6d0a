/* test_amtsim.c - amtsim's own pieces without an MPS: command line, identity, the sans-I/O
 * device fed MPS bytes, channels and windows, the HTTP responder. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apf.h"
#include "device.h"
#include "http.h"
#include "ident.h"
#include "opts.h"
#include "stats.h"
#include "tls.h"

/* ---- helpers ---- */

static int parse(struct sim_opts *o, const char *line, char *err, size_t errlen)
{
    static char buf[1024]; /* options keep pointers into argv */
    char *argv[64];
    int argc = 0;
    snprintf(buf, sizeof(buf), "amtsim %s", line);
    for (char *t = strtok(buf, " "); t && argc < 63; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    return opts_parse(o, argc, argv, err, errlen);
}

static size_t unhex(const char *h, uint8_t *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (uint8_t)v;
    }
    return n;
}

struct sink {
    uint8_t buf[1 << 17];
    size_t len;
    int events[DEV_EV__COUNT];
    uint32_t last_arg[DEV_EV__COUNT];
};

static int sink_send(void *user, const uint8_t *p, size_t n)
{
    struct sink *s = user;
    cr_assert(s->len + n <= sizeof(s->buf));
    memcpy(s->buf + s->len, p, n);
    s->len += n;
    return 0;
}

static void sink_event(void *user, enum dev_event ev, uint32_t arg)
{
    struct sink *s = user;
    s->events[ev]++;
    s->last_arg[ev] = arg;
}

static const struct dev_ops ops = {.send = sink_send, .event = sink_event};

/* Decode the messages the device sent (skipping `skip`), clearing the sink. */
static size_t take(struct sink *s, apf_msg *out, size_t max, uint8_t *copy)
{
    memcpy(copy, s->buf, s->len);
    size_t off = 0, n = 0, len;
    while (off < s->len && n < max) {
        int r = apf_unpack(copy + off, s->len - off, NULL, APF_UNPACK_SUCCESS_PORT, &out[n], &len);
        cr_assert_eq(r, APF_OK, "unpack of sent bytes at %zu: %s", off, apf_strerror(r));
        off += len;
        n++;
    }
    s->len = 0;
    return n;
}

static void feed(struct device *d, const apf_msg *m, int expect)
{
    uint8_t b[4096];
    ssize_t n = apf_pack(m, b, sizeof(b));
    cr_assert_gt(n, 0);
    cr_assert_eq(dev_recv(d, b, (size_t)n, 1000), expect);
}

static void feed_hex(struct device *d, const char *hex, int expect)
{
    uint8_t b[4096];
    size_t n = unhex(hex, b);
    cr_assert_eq(dev_recv(d, b, n, 1000), expect);
}

static struct sim_opts O;
static struct sink S;
static uint8_t COPY[1 << 17];

static void setup_opts(const char *extra)
{
    char err[256], line[512];
    snprintf(line, sizeof(line),
             "--connect 127.0.0.1:4433 --password secret123 --user testuser "
             "--ports 16992,16993 %s",
             extra);
    cr_assert_eq(parse(&O, line, err, sizeof(err)), OPTS_OK, "%s", err);
    memset(&S, 0, sizeof(S));
}

/* Drive a device through the whole login; returns with it ready. */
static void login(struct device *d)
{
    apf_msg m[16];
    dev_init(d, &O, &ops, 7, &S);
    cr_assert_eq(dev_start(d, 0), DEV_OK);
    cr_assert_eq(take(&S, m, 16, COPY), 2);
    cr_assert_eq(m[0].type, APF_PROTOCOLVERSION);
    cr_assert_eq(m[1].type, APF_SERVICE_REQUEST);
    feed_hex(d, "06000000126175746840616d742e696e74656c2e636f6d", DEV_OK); /* V4 */
    cr_assert_eq(take(&S, m, 16, COPY), 1);
    cr_assert_eq(m[0].type, APF_USERAUTH_REQUEST);
    feed_hex(d, "34", DEV_OK);
    cr_assert_eq(take(&S, m, 16, COPY), 1);
    cr_assert(apf_str_eq(m[0].u.service.name, APF_SERVICE_PFWD));
    feed_hex(d, "06000000127066776440616d742e696e74656c2e636f6d", DEV_OK); /* V6 */
    cr_assert_eq(take(&S, m, 16, COPY), 1);
    cr_assert_eq(m[0].u.global.port, 16992);
    feed_hex(d, "5100004260", DEV_OK);
    cr_assert_eq(take(&S, m, 16, COPY), 1);
    cr_assert_eq(m[0].u.global.port, 16993);
    feed_hex(d, "5100004261", DEV_OK);
    cr_assert_eq(S.len, 0);
    cr_assert_eq(S.events[DEV_EV_LOGGED_IN], 1);
    cr_assert_eq(S.events[DEV_EV_READY], 0, "not ready before KEEPALIVE_OPTIONS_REQUEST");
    feed_hex(d, "d20000001e00000000", DEV_OK); /* V20 */
    cr_assert_eq(take(&S, m, 16, COPY), 1);
    cr_assert_eq(S.events[DEV_EV_READY], 1);
}

/* ---- command line ---- */

Test(opts, refuses_non_loopback)
{
    struct sim_opts o;
    char err[256];
    const char *bad[] = {"--connect 10.0.0.1:4433",
                         "--connect 8.8.8.8:4433",
                         "--connect example.com:4433",
                         "--connect [2001:db8::1]:4433",
                         "--connect 0.0.0.0:4433",
                         "--connect 127.0.0.1:4433 --relay 192.168.1.1:80",
                         "--connect 127.0.0.1:4433 --sources 10.0.0.1-10.0.0.3"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "%s --password x", bad[i]);
        cr_assert_eq(parse(&o, line, err, sizeof(err)), OPTS_ERR, "%s accepted", bad[i]);
        cr_assert(strstr(err, "loopback"), "%s: message '%s' does not say loopback", bad[i], err);
        opts_free(&o);
    }
}

Test(opts, accepts_loopback_forms)
{
    struct sim_opts o;
    char err[256];
    const char *good[] = {"--connect 127.0.0.1:4433", "--connect 127.3.4.5:1",
                          "--connect [::1]:4433", "--connect localhost:4433"};
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "%s --password x", good[i]);
        cr_assert_eq(parse(&o, line, err, sizeof(err)), OPTS_OK, "%s: %s", good[i], err);
        opts_free(&o);
    }
}

Test(opts, ranges_and_lists)
{
    struct sim_opts o;
    char err[256];
    cr_assert_eq(parse(&o,
                       "--connect 127.0.0.1:4433 --password x --count 10000 --sources "
                       "127.0.0.2-127.0.0.20,127.0.1.1 --ports 16993,16995,664",
                       err, sizeof(err)),
                 OPTS_OK, "%s", err);
    cr_assert_eq(o.nsources, 20);
    cr_assert_eq(o.count, 10000);
    cr_assert_eq(o.nports, 3);
    cr_assert_eq(o.ports[2], 664);
    opts_free(&o);
    const char *bad[] = {
        "--count 0",
        "--count 2000000",
        "--sources 127.0.0.9-127.0.0.2",
        "--ports 0",
        "--ports 16992,16992",
        "--ports 70000",
        "--tls-max 1.4",
        "--mode nonsense",
        "--workers 0",
        "--rate -1",
        "--cert /x",
        "--plain --ca /x",
        "--keepalive 0",
        "--window 10",
        "--uuid-base 1234",
        "--tls-min 1.1 --tls-max 1.2",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[256];
        snprintf(line, sizeof(line), "--connect 127.0.0.1:4433 --password x %s", bad[i]);
        cr_assert_eq(parse(&o, line, err, sizeof(err)), OPTS_ERR, "'%s' accepted", bad[i]);
        opts_free(&o);
    }
}

Test(opts, mode_needs_password_and_tls_max_alone)
{
    struct sim_opts o;
    char err[256];
    cr_assert_eq(parse(&o, "--connect 127.0.0.1:4433", err, sizeof(err)), OPTS_ERR);
    cr_assert(strstr(err, "password"));
    cr_assert_eq(parse(&o, "--connect 127.0.0.1:4433 --mode garbage", err, sizeof(err)), OPTS_OK,
                 "%s", err);
    cr_assert_eq(parse(&o,
                       "--connect 127.0.0.1:4433 --password x --tls-max 1.1 --ciphers "
                       "AES128-SHA",
                       err, sizeof(err)),
                 OPTS_OK, "%s", err);
    cr_assert_eq(o.tls_min, TLS_V1_1);
    cr_assert_eq(o.tls_max, TLS_V1_1);
    cr_assert_eq(parse(&o, "--help", err, sizeof(err)), OPTS_HELP);
    cr_assert_eq(parse(&o, "--connect", err, sizeof(err)), OPTS_ERR);
}

/* ---- identity ---- */

#define P(s, g) guid_parse_loose(s, strlen(s), g)

Test(ident, guid_parse_is_the_inverse_of_guid_format)
{
    guid raw;
    uint8_t want[16];
    char s[37];
    unhex("44454c4c4d00104d8050b2c04f325133", want); /* docs/apf.md V1 */
    cr_assert_eq(P("4c4c4544-004d-4d10-8050-b2c04f325133", &raw), 0);
    cr_assert_arr_eq(raw.b, want, 16);
    cr_assert_eq(P("4C4C4544-004D-4D10-8050-B2C04F325133", &raw), 0);
    guid_format(&raw, s);
    cr_assert_str_eq(s, "4c4c4544-004d-4d10-8050-b2c04f325133");
    cr_assert_eq(P("4c4c4544004d4d108050b2c04f325133", &raw), 0, "32 digits without dashes");
    cr_assert_arr_eq(raw.b, want, 16);
    cr_assert_eq(P("4c4c4544-004d-4d10-8050-b2c04f32513", &raw), -EINVAL);
    cr_assert_eq(P("4c4c4544x004d-4d10-8050-b2c04f325133", &raw), -EINVAL);
    cr_assert_eq(P("zc4c4544-004d-4d10-8050-b2c04f325133", &raw), -EINVAL);
    cr_assert_eq(P("4c4c4544004d4d108050b2c04f32513z", &raw), -EINVAL);
    cr_assert_eq(P("4c4c4544-004d4d10-8050-b2c04f3251334", &raw), -EINVAL);
}

Test(ident, device_i_is_base_plus_i_in_the_last_group)
{
    guid base;
    char s[37], host[32];
    P("12345678-0000-4000-8000-000000000000", &base);
    ident_uuid_str(&base, 0, s);
    cr_assert_str_eq(s, "12345678-0000-4000-8000-000000000000");
    ident_uuid_str(&base, 9999, s);
    cr_assert_str_eq(s, "12345678-0000-4000-8000-00000000270f");
    P("12345678-0000-4000-8000-0000ffffffff", &base);
    ident_uuid_str(&base, 1, s);
    cr_assert_str_eq(s, "12345678-0000-4000-8000-000100000000", "carry within the node group");
    P("12345678-0000-4000-8000-ffffffffffff", &base);
    ident_uuid_str(&base, 1, s);
    cr_assert_str_eq(s, "12345678-0000-4000-8000-000000000000", "wraps in 48 bits");
    ident_hostname("amt-", 42, host, sizeof(host));
    cr_assert_str_eq(host, "amt-42");
}

/* ---- the device fed MPS bytes ---- */

Test(device, login_step_by_step_as_real_amt)
{
    struct device d;
    apf_msg m[16];
    setup_opts("--hostname-prefix LIB-PC- --uuid-base 4c4c4544-004d-4d10-8050-b2c04f325133");
    dev_init(&d, &O, &ops, 2, &S);
    cr_assert_eq(dev_start(&d, 0), DEV_OK);
    cr_assert_eq(take(&S, m, 16, COPY), 2);
    char uuid[37];
    guid g0;
    memcpy(g0.b, m[0].u.version.uuid, 16);
    guid_format(&g0, uuid);
    cr_assert_str_eq(uuid, "4c4c4544-004d-4d10-8050-b2c04f325135");
    cr_assert_eq(m[0].u.version.major, 1);
    cr_assert_eq(m[0].u.version.trigger, 4);
    feed_hex(&d, "06000000126175746840616d742e696e74656c2e636f6d", DEV_OK);
    /* the USERAUTH_REQUEST is byte for byte V7 of docs/apf.md */
    uint8_t v7[128];
    size_t n7 = unhex("32000000087465737475736572000000127066776440616d742e696e74656c2e636f6d"
                      "0000000870617373776f72640000000009736563726574313233",
                      v7);
    cr_assert_eq(S.len, n7);
    cr_assert_arr_eq(S.buf, v7, n7);
    S.len = 0;
    feed_hex(&d, "34", DEV_OK);
    feed_hex(&d, "06000000127066776440616d742e696e74656c2e636f6d", DEV_OK);
    cr_assert_eq(take(&S, m, 16, COPY), 2);
    cr_assert_eq(m[1].type, APF_GLOBAL_REQUEST);
    cr_assert(apf_str_eq(m[1].u.global.addr, "LIB-PC-2"));
    cr_assert(m[1].u.global.want_reply);
    cr_assert_eq(m[1].u.global.port, 16992);
}

Test(device, keepalive_options_reply_and_interval)
{
    struct device d;
    apf_msg m[4];
    setup_opts("--keepalive 10");
    login(&d);
    /* the reply to V20 echoes (30, 0) */
    cr_assert_eq(dev_next_timer(&d), 1000 + 30000, "the MPS' 30 s replaces --keepalive 10");
    feed_hex(&d, "d20000001e00000000", DEV_OK);
    uint8_t want[9];
    unhex("d30000001e00000000", want);
    cr_assert_eq(S.len, 9);
    cr_assert_arr_eq(S.buf, want, 9);
    S.len = 0;
    cr_assert_eq(dev_tick(&d, 30999), DEV_OK);
    cr_assert_eq(S.len, 0);
    cr_assert_eq(dev_tick(&d, 31000), DEV_OK);
    cr_assert_eq(take(&S, m, 4, COPY), 1);
    cr_assert_eq(m[0].type, APF_KEEPALIVE_REQUEST);
    cr_assert_eq(m[0].u.keepalive.cookie, 1);
    feed_hex(&d, "d100000001", DEV_OK);
    cr_assert_eq(S.events[DEV_EV_KEEPALIVE_REPLY], 1);
    /* an MPS keep-alive request is answered with its cookie (V18) */
    feed_hex(&d, "d000000042", DEV_OK);
    unhex("d100000042", want);
    cr_assert_arr_eq(S.buf, want, 5);
}

Test(device, keepalive_without_options_uses_own_interval)
{
    struct device d;
    setup_opts("--keepalive 10");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    feed_hex(&d, "06000000126175746840616d742e696e74656c2e636f6d", DEV_OK);
    feed_hex(&d, "34", DEV_OK);
    feed_hex(&d, "06000000127066776440616d742e696e74656c2e636f6d", DEV_OK);
    feed_hex(&d, "51000042605100004261", DEV_OK); /* both answers in one record */
    cr_assert_eq(dev_next_timer(&d), 1000 + 10000);
}

Test(device, byte_by_byte_gives_the_same_bytes)
{
    struct device a, b;
    struct sink s2;
    setup_opts("");
    memset(&s2, 0, sizeof(s2));
    const char *mps = "0600000012617574684061"
                      "6d742e696e74656c2e636f6d"
                      "34"
                      "06000000127066776440616d742e696e74656c2e636f6d"
                      "5100004260"
                      "5100004261"
                      "d20000001e00000000";
    uint8_t in[256];
    size_t n = unhex(mps, in);
    dev_init(&a, &O, &ops, 1, &S);
    dev_init(&b, &O, &ops, 1, &s2);
    dev_start(&a, 0);
    dev_start(&b, 0);
    cr_assert_eq(dev_recv(&a, in, n, 5), DEV_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(dev_recv(&b, in + i, 1, 5), DEV_OK);
    cr_assert_eq(S.len, s2.len);
    cr_assert_arr_eq(S.buf, s2.buf, S.len);
    cr_assert(a.ready && b.ready);
    cr_assert_null(b.rx, "no receive buffer held once idle");
    dev_reset(&a);
    dev_reset(&b);
}

Test(device, pipelined_login_is_apf_device_login_pack)
{
    struct device d;
    setup_opts("--pipeline");
    dev_init(&d, &O, &ops, 0, &S);
    cr_assert_eq(dev_start(&d, 0), DEV_OK);
    apf_msg m[16];
    cr_assert_eq(take(&S, m, 16, COPY), 6);
    feed_hex(&d,
             "06000000126175746840616d742e696e74656c2e636f6d3406000000127066776440616d742e696"
             "e74656c2e636f6d51000042605100004261d20000001e00000000",
             DEV_OK);
    cr_assert(d.ready);
}

Test(device, bad_password_is_refused_either_failure_form)
{
    struct device d;
    apf_msg m[4];
    setup_opts("--mode bad-password");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    S.len = 0;
    feed_hex(&d, "06000000126175746840616d742e696e74656c2e636f6d", DEV_OK);
    cr_assert_eq(take(&S, m, 4, COPY), 1);
    cr_assert(!apf_str_eq(m[0].u.userauth.password, "secret123"));
    /* 15-byte MeshCentral form followed by DISCONNECT */
    feed_hex(&d, "330000000870617373776f72640000010000000b0000", DEV_ERR_REFUSED);
    cr_assert_eq(S.events[DEV_EV_REFUSED], 1);
    cr_assert(dev_ended(&d));
}

Test(device, disconnect_reason_is_kept)
{
    struct device d;
    setup_opts("");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    feed_hex(&d, "010000000c0000", DEV_ERR_DISCONNECT);
    cr_assert_eq(d.disc_reason, APF_DISC_TOO_MANY_CONNECTIONS);
}

Test(device, protocol_violation_sends_disconnect_2)
{
    struct device d;
    apf_msg m[4];
    setup_opts("");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    S.len = 0;
    feed_hex(&d, "34", DEV_ERR_PROTOCOL); /* USERAUTH_SUCCESS before any SERVICE_ACCEPT */
    cr_assert_eq(take(&S, m, 4, COPY), 1);
    cr_assert_eq(m[0].type, APF_DISCONNECT);
    cr_assert_eq(m[0].u.disconnect.reason, APF_DISC_PROTOCOL_ERROR);
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    S.len = 0;
    feed_hex(&d, "ff00000000", DEV_ERR_PROTOCOL); /* unknown type */
}

Test(device, silent_sends_nothing_after_login)
{
    struct device d;
    setup_opts("--mode silent");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    feed_hex(&d, "06000000126175746840616d742e696e74656c2e636f6d", DEV_OK);
    feed_hex(&d, "34", DEV_OK);
    feed_hex(&d, "06000000127066776440616d742e696e74656c2e636f6d", DEV_OK);
    feed_hex(&d, "5100004260", DEV_OK);
    S.len = 0;
    feed_hex(&d, "5100004261d20000001e00000000d000000042", DEV_OK);
    cr_assert_eq(S.len, 0, "silent answered something");
    cr_assert_eq(dev_tick(&d, 1000000), DEV_OK);
    cr_assert_eq(S.len, 0);
    cr_assert_eq(S.events[DEV_EV_LOGGED_IN], 1);
}

Test(device, overlong_claims_2_pow_31)
{
    struct device d;
    setup_opts("--mode overlong");
    dev_init(&d, &O, &ops, 0, &S);
    dev_start(&d, 0);
    cr_assert_eq(S.len, 93 + 23 + 5 + 64);
    uint8_t hdr[] = {0x32, 0x80, 0, 0, 0};
    cr_assert_arr_eq(S.buf + 93 + 23, hdr, 5);
    size_t len;
    apf_msg m;
    cr_assert_eq(apf_unpack(S.buf + 116, S.len - 116, NULL, 0, &m, &len), APF_ERR_STRING_TOO_LONG);
}

/* ---- channels ---- */

static void open_chan(struct device *d, uint32_t peer, uint32_t window, uint32_t port)
{
    apf_msg m = {.type = APF_CHANNEL_OPEN};
    m.u.open.type = apf_str_c(APF_CHAN_FORWARDED_TCPIP);
    m.u.open.sender = peer;
    m.u.open.window = window;
    m.u.open.reserved = 0xffffffff;
    m.u.open.addr = apf_str_c("");
    m.u.open.port = port;
    m.u.open.orig_addr = apf_str_c("1.2.3.4");
    m.u.open.orig_port = 1024;
    feed(d, &m, DEV_OK);
}

static void send_data(struct device *d, uint32_t id, const char *s, int expect)
{
    apf_msg m = {.type = APF_CHANNEL_DATA};
    m.u.data.recipient = id;
    m.u.data.data = apf_str_c(s);
    feed(d, &m, expect);
}

Test(channel, open_confirm_and_http_answer)
{
    struct device d;
    apf_msg m[8];
    setup_opts("--http-auth none");
    login(&d);
    /* V23: CHANNEL_OPEN forwarded-tcpip id 4 window 32768 to :16992 */
    feed_hex(&d,
             "5a0000000f666f727761726465642d74637069700000000400008000ffffffff000000000000426000"
             "000007312e322e332e3400000400",
             DEV_OK);
    uint8_t want[17];
    unhex("5b000000040000000000008000ffffffff", want); /* our id 0, as AMT may use */
    cr_assert_eq(S.len, 17);
    cr_assert_arr_eq(S.buf, want, 17);
    S.len = 0;
    send_data(&d, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", DEV_OK);
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].type, APF_CHANNEL_DATA);
    cr_assert_eq(m[0].u.data.recipient, 4);
    char body[512];
    snprintf(body, sizeof(body), "%.*s", (int)m[0].u.data.data.len, m[0].u.data.data.p);
    cr_assert(strstr(body, "HTTP/1.1 200 OK"), "%s", body);
    cr_assert(strstr(body, "\"uuid\":\"12345678-0000-4000-8000-000000000007\""), "%s", body);
    cr_assert(strstr(body, "\"port\":16992"), "%s", body);
    cr_assert(strstr(body, "\"hostname\":\"amt-7\""), "%s", body);
    /* the MPS closes: we answer once, and id 0 is free again */
    feed_hex(&d, "6100000000", DEV_OK);
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].type, APF_CHANNEL_CLOSE);
    cr_assert_eq(m[0].u.close.recipient, 4);
    cr_assert(!dev_chan_live(&d, 0));
    cr_assert_null(d.chans, "no channel table without channels");
    open_chan(&d, 5, 32768, 16993);
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].u.open_confirm.sender, 0, "AMT reuses an id once closed");
    cr_assert_eq(m[0].u.open_confirm.recipient, 5);
    dev_reset(&d);
}

Test(channel, refusals)
{
    struct device d;
    apf_msg m[8];
    setup_opts("--max-channels 1");
    login(&d);
    open_chan(&d, 4, 1000, 5900); /* not registered */
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].type, APF_CHANNEL_OPEN_FAILURE);
    cr_assert_eq(m[0].u.open_failure.recipient, 4);
    cr_assert_eq(m[0].u.open_failure.reason, APF_OPEN_ADMINISTRATIVELY_PROHIBITED);
    open_chan(&d, 5, 1000, 16992);
    open_chan(&d, 6, 1000, 16992); /* beyond --max-channels */
    cr_assert_eq(take(&S, m, 8, COPY), 2);
    cr_assert_eq(m[1].type, APF_CHANNEL_OPEN_FAILURE);
    cr_assert_eq(m[1].u.open_failure.reason, APF_OPEN_RESOURCE_SHORTAGE);
    /* direct-tcpip is no type AMT accepts from the MPS */
    apf_msg o = {.type = APF_CHANNEL_OPEN};
    o.u.open.type = apf_str_c(APF_CHAN_DIRECT_TCPIP);
    o.u.open.sender = 9;
    o.u.open.port = 16992;
    feed(&d, &o, DEV_OK);
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].u.open_failure.reason, APF_OPEN_UNKNOWN_CHANNEL_TYPE);
    dev_reset(&d);
}

Test(channel, never_beyond_the_mps_window)
{
    struct device d;
    apf_msg m[8];
    setup_opts("--max-payload 50");
    login(&d);
    open_chan(&d, 4, 100, 16992); /* the MPS grants us only 100 bytes */
    S.len = 0;
    send_data(&d, 0, "GET / HTTP/1.1\r\n\r\n", DEV_OK);
    size_t n = take(&S, m, 8, COPY);
    cr_assert_eq(n, 2, "100 bytes in payloads of at most 50");
    cr_assert_eq(m[0].u.data.data.len + m[1].u.data.data.len, 100);
    cr_assert_eq(dev_chan_tx_window(&d, 0), 0);
    uint32_t queued = dev_chan_queued(&d, 0);
    cr_assert_gt(queued, 0);
    apf_msg adj = {.type = APF_CHANNEL_WINDOW_ADJUST};
    adj.u.window_adjust.recipient = 0;
    adj.u.window_adjust.bytes = 30;
    feed(&d, &adj, DEV_OK);
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].u.data.data.len, 30);
    adj.u.window_adjust.bytes = 100000;
    feed(&d, &adj, DEV_OK);
    n = take(&S, m, 8, COPY);
    uint32_t rest = 0;
    for (size_t i = 0; i < n; i++)
        rest += m[i].u.data.data.len;
    cr_assert_eq(rest, queued - 30);
    cr_assert_eq(dev_chan_queued(&d, 0), 0);
    dev_reset(&d);
}

Test(channel, window_adjust_as_it_consumes_and_overrun_is_an_error)
{
    struct device d;
    apf_msg m[8];
    setup_opts("--window 1024");
    login(&d);
    open_chan(&d, 4, 65536, 16992);
    S.len = 0;
    char chunk[401];
    memset(chunk, 'x', 400);
    chunk[400] = 0;
    send_data(&d, 0, chunk, DEV_OK); /* not a request yet: 400 consumed, below half */
    cr_assert_eq(S.len, 0);
    cr_assert_eq(dev_chan_rx_left(&d, 0), 624);
    send_data(&d, 0, chunk, DEV_OK); /* 800 >= 512: credit returns */
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].type, APF_CHANNEL_WINDOW_ADJUST);
    cr_assert_eq(m[0].u.window_adjust.recipient, 4);
    cr_assert_eq(m[0].u.window_adjust.bytes, 800);
    cr_assert_eq(dev_chan_rx_left(&d, 0), 1024);
    char big[1100];
    memset(big, 'y', 1099);
    big[1099] = 0;
    send_data(&d, 0, big, DEV_ERR_PROTOCOL); /* 1099 > the 1024 we granted */
    cr_assert_eq(take(&S, m, 8, COPY), 1);
    cr_assert_eq(m[0].u.disconnect.reason, APF_DISC_PROTOCOL_ERROR);
}

/* ---- HTTP responder ---- */

struct out {
    char buf[8192];
    size_t len;
};

static int out_emit(void *arg, const uint8_t *p, size_t n)
{
    struct out *o = arg;
    cr_assert_lt(o->len + n, sizeof(o->buf));
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    o->buf[o->len] = 0;
    return 0;
}

static size_t out_room(void *arg)
{
    (void)arg;
    return 1u << 20;
}

/* The open responder (no auth) fed p; returns SVC_*, asserting every byte was taken. */
static int feed_open(struct http_rx **st, const char *p, size_t n, const struct http_ident *id,
                     struct out *o)
{
    struct svc_out out = {.arg = o, .room = out_room, .write = out_emit};
    struct http_cfg cfg = {.id = id};
    size_t used = 0;
    int r = http_feed(st, (const uint8_t *)p, n, &cfg, &out, &used);
    if (r == SVC_KEEP)
        cr_assert_eq(used, n);
    return r;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

Test(http, pipelined_bodies_and_close)
{
    struct http_rx *st = NULL;
    struct out o = {0};
    struct http_ident id = {.device = 3, .uuid = "u", .hostname = "amt-3", .port = 16993};
    const char *req =
        "POST /wsman HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n";
    cr_assert_eq(feed_open(&st, req, strlen(req), &id, &o), HTTP_KEEP);
    cr_assert_eq(count(o.buf, "HTTP/1.1 200 OK"), 2);
    cr_assert_null(st);
    o.len = 0;
    const char *split = "GET / HTTP/1.0\r\n\r";
    cr_assert_eq(feed_open(&st, split, strlen(split), &id, &o), HTTP_KEEP);
    cr_assert_eq(o.len, 0);
    cr_assert_eq(feed_open(&st, "\n", 1, &id, &o), HTTP_CLOSE);
    cr_assert(strstr(o.buf, "Connection: close"));
    cr_assert(strstr(o.buf, "\"port\":16993"));
    http_free(&st);
}

Test(http, oversized_head_is_a_400)
{
    struct http_rx *st = NULL;
    struct out o = {0};
    struct http_ident id = {.device = 0, .uuid = "u", .hostname = "h", .port = 1};
    static uint8_t junk[HTTP_HEAD_MAX + 10];
    memset(junk, 'a', sizeof(junk));
    cr_assert_eq(feed_open(&st, (const char *)junk, sizeof(junk), &id, &o), HTTP_CLOSE);
    cr_assert(strstr(o.buf, "400"));
    http_free(&st);
}

/* ---- stats ---- */

Test(stats, histogram_buckets_are_monotonic)
{
    for (uint64_t v = 0; v < 100000000; v = v * 3 / 2 + 1) {
        unsigned i = hist_index(v);
        cr_assert_leq(hist_value(i), v);
        cr_assert_gt(hist_value(i + 1), v, "v=%llu", (unsigned long long)v);
    }
    char name[64];
    cr_assert_str_eq(stat_reason_name(stat_reason_apf(11), name, sizeof(name)),
                     "apf:BY_APPLICATION");
}
