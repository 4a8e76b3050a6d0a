/*
 * Codec: every vector of docs/apf.md section 10 decodes to the stated fields
 * and re-encodes byte for byte; every prefix of every message waits; bounds.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "harness.h"

static const char *const all_vectors[] = {
    "V1",  "V2",  "V3",  "V4",  "V5",  "V6",  "V7",  "V8",          "V9",        "V10a", "V10b",
    "V11", "V12", "V13", "V14", "V15", "V16", "V17", "V18-request", "V18-reply", "V19",  "V20",
    "V21", "V22", "V23", "V24", "V25", "V26", "V27", "V28",         "V29",       "V30",  "V31",
};

/* Flags a receiver needs for the two context-dependent messages. */
static unsigned flags_for(const char *name)
{
    if (!strcmp(name, "V14") || !strcmp(name, "V15"))
        return APF_UNPACK_SUCCESS_PORT;
    if (!strcmp(name, "V10a"))
        return APF_UNPACK_FAILURE_LONG;
    return 0;
}

static uint8_t vbuf[4096];

/* Decode, check it consumed all, re-encode identically. m points into vbuf. */
static size_t roundtrip(const char *name, apf_msg *m)
{
    size_t n = vec(name, vbuf, sizeof(vbuf)), len = 0;
    int rc = apf_unpack(vbuf, n, NULL, flags_for(name), m, &len);
    cr_assert_eq(rc, APF_OK, "%s: %s", name, apf_strerror(rc));
    cr_assert_eq(len, n, "%s: consumed %zu of %zu", name, len, n);
    cr_assert_eq(apf_msg_len(m), n, "%s", name);
    uint8_t out[4096];
    ssize_t w = apf_pack(m, out, sizeof(out));
    cr_assert_eq(w, (ssize_t)n, "%s: packed %zd", name, w);
    cr_assert(memcmp(out, vbuf, n) == 0, "%s: re-encoding differs", name);
    return n;
}

#define STR_EQ(s, lit) cr_assert(apf_str_eq((s), (lit)), "%s: got '%.*s'", lit, (int)(s).len, (s).p)

Test(codec, all_vectors_roundtrip)
{
    apf_msg m;
    for (size_t i = 0; i < sizeof(all_vectors) / sizeof(*all_vectors); i++)
        roundtrip(all_vectors[i], &m);
}

Test(codec, protocolversion_v1_v2)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V1", &m), 93);
    cr_assert_eq(m.type, APF_PROTOCOLVERSION);
    cr_assert_eq(m.u.version.major, 1);
    cr_assert_eq(m.u.version.minor, 0);
    cr_assert_eq(m.u.version.trigger, APF_TRIGGER_LME);
    char uuid[GUID_STRLEN + 1];
    guid g;
    memcpy(g.b, m.u.version.uuid, 16);
    guid_format(&g, uuid);
    cr_assert_str_eq(uuid, "4c4c4544-004d-4d10-8050-b2c04f325133");
    roundtrip("V2", &m);
    cr_assert_eq(m.u.version.trigger, APF_TRIGGER_PERIODIC);
}

Test(codec, service_messages)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V3", &m), 23);
    cr_assert_eq(m.type, APF_SERVICE_REQUEST);
    STR_EQ(m.u.service.name, APF_SERVICE_AUTH);
    roundtrip("V4", &m);
    cr_assert_eq(m.type, APF_SERVICE_ACCEPT);
    STR_EQ(m.u.service.name, APF_SERVICE_AUTH);
    roundtrip("V5", &m);
    STR_EQ(m.u.service.name, APF_SERVICE_PFWD);
    roundtrip("V6", &m);
    cr_assert_eq(m.type, APF_SERVICE_ACCEPT);
    STR_EQ(m.u.service.name, APF_SERVICE_PFWD);
}

Test(codec, userauth_password_and_none)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V7", &m), 61);
    STR_EQ(m.u.userauth.user, "testuser");
    STR_EQ(m.u.userauth.service, APF_SERVICE_PFWD);
    STR_EQ(m.u.userauth.method, "password");
    cr_assert(m.u.userauth.has_password);
    STR_EQ(m.u.userauth.password, "secret123");
    cr_assert_eq(roundtrip("V8", &m), 68);
    STR_EQ(m.u.userauth.user, "B6367516FC563665");
    STR_EQ(m.u.userauth.password, "P@ssw0rd");
    cr_assert_eq(roundtrip("V9", &m), 51); /* 13+u+s+m, not 18+... (MeshCentral bug) */
    STR_EQ(m.u.userauth.method, "none");
    cr_assert_not(m.u.userauth.has_password);
}

Test(codec, userauth_failure_both_forms)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V10a", &m), 15);
    cr_assert(m.u.userauth_failure.long_form);
    STR_EQ(m.u.userauth_failure.methods, "password");
    cr_assert_eq(roundtrip("V10b", &m), 14);
    cr_assert_not(m.u.userauth_failure.partial);
    cr_assert_not(m.u.userauth_failure.long_form);
    /* Without the flag, the 15-byte form reads as 14 bytes plus a stray 0. */
    size_t n = vec("V10a", vbuf, sizeof(vbuf)), len;
    cr_assert_eq(apf_unpack(vbuf, n, NULL, 0, &m, &len), APF_OK);
    cr_assert_eq(len, 14);
    cr_assert_eq(roundtrip("V11", &m), 1);
    cr_assert_eq(m.type, APF_USERAUTH_SUCCESS);
}

Test(codec, global_requests)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V12", &m), 27);
    STR_EQ(m.u.global.name, APF_REQ_TCPIP_FORWARD);
    cr_assert_not(m.u.global.want_reply);
    cr_assert_eq(m.u.global.addr.len, 0);
    cr_assert_eq(m.u.global.port, 16992);
    cr_assert_eq(roundtrip("V13", &m), 40);
    cr_assert(m.u.global.want_reply);
    STR_EQ(m.u.global.addr, "LIB-PC-MSD-05");
    cr_assert_eq(m.u.global.port, 16993);
    cr_assert_eq(roundtrip("V16", &m), 34);
    STR_EQ(m.u.global.name, APF_REQ_CANCEL_TCPIP_FORWARD);
    cr_assert_eq(m.u.global.port, 16992);
    cr_assert_eq(roundtrip("V17", &m), 72);
    STR_EQ(m.u.global.name, APF_REQ_UDP_SEND_TO);
    STR_EQ(m.u.global.addr, "192.168.1.10");
    cr_assert_eq(m.u.global.port, 162);
    STR_EQ(m.u.global.orig_addr, "0.0.0.0"); /* at 18+r+a, not 18+r (MeshCentral bug) */
    cr_assert_eq(m.u.global.orig_port, 0);
    cr_assert_eq(m.u.global.data.len, 2);
    cr_assert_eq(m.u.global.data.p[0], 0xaa);
}

Test(codec, request_success_port_echo)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V14", &m), 5);
    cr_assert(m.u.request_success.has_port);
    cr_assert_eq(m.u.request_success.port, 16993);
    roundtrip("V15", &m);
    cr_assert_eq(m.u.request_success.port, 16992);
    /* the 1-byte form answers cancel-tcpip-forward */
    uint8_t one[1] = {0x51}, out[8];
    size_t len;
    cr_assert_eq(apf_unpack(one, 1, NULL, 0, &m, &len), APF_OK);
    cr_assert_eq(len, 1);
    cr_assert_eq(apf_pack(&m, out, sizeof(out)), 1);
}

Test(codec, keepalive_messages)
{
    apf_msg m;
    roundtrip("V18-request", &m);
    cr_assert_eq(m.type, APF_KEEPALIVE_REQUEST);
    cr_assert_eq(m.u.keepalive.cookie, 0x42);
    roundtrip("V18-reply", &m);
    cr_assert_eq(m.type, APF_KEEPALIVE_REPLY);
    roundtrip("V19", &m);
    cr_assert_eq(m.u.keepalive.cookie, 255);
    roundtrip("V20", &m);
    cr_assert_eq(m.u.keepalive_options.interval, 30);
    cr_assert_eq(m.u.keepalive_options.timeout, 0);
    roundtrip("V21", &m);
    cr_assert_eq(m.u.keepalive_options.timeout, 90);
    roundtrip("V22", &m);
    cr_assert_eq(m.type, APF_KEEPALIVE_OPTIONS_REPLY);
    cr_assert_eq(m.u.keepalive_options.timeout, 10);
}

Test(codec, channel_messages)
{
    apf_msg m;
    cr_assert_eq(roundtrip("V23", &m), 55);
    STR_EQ(m.u.open.type, APF_CHAN_FORWARDED_TCPIP);
    cr_assert_eq(m.u.open.sender, 4);
    cr_assert_eq(m.u.open.window, 32768);
    cr_assert_eq(m.u.open.reserved, 0xFFFFFFFF);
    cr_assert_eq(m.u.open.addr.len, 0);
    cr_assert_eq(m.u.open.port, 16992);
    STR_EQ(m.u.open.orig_addr, "1.2.3.4");
    cr_assert_eq(m.u.open.orig_port, 1024);
    cr_assert_eq(roundtrip("V24", &m), 54);
    STR_EQ(m.u.open.addr, "::1");
    cr_assert_eq(m.u.open.orig_port, 123);
    roundtrip("V25", &m);
    cr_assert_eq(m.u.open_confirm.recipient, 4);
    cr_assert_eq(m.u.open_confirm.sender, 4);
    cr_assert_eq(m.u.open_confirm.window, 32768);
    roundtrip("V26", &m);
    cr_assert_eq(m.u.open_failure.recipient, 7);
    cr_assert_eq(m.u.open_failure.reason, APF_OPEN_UNKNOWN_CHANNEL_TYPE);
    roundtrip("V27", &m);
    cr_assert_eq(m.u.window_adjust.recipient, 6);
    cr_assert_eq(m.u.window_adjust.bytes, 499);
    cr_assert_eq(roundtrip("V28", &m), 14);
    cr_assert_eq(m.u.data.recipient, 1);
    cr_assert_eq(m.u.data.data.len, 5);
    cr_assert_eq(m.u.data.data.p[4], 5);
    roundtrip("V29", &m);
    cr_assert_eq(m.u.data.data.p[0], 0xab);
    roundtrip("V30", &m);
    cr_assert_eq(m.u.close.recipient, 4);
    cr_assert_eq(roundtrip("V31", &m), 7);
    cr_assert_eq(m.u.disconnect.reason, APF_DISC_BY_APPLICATION);
}

Test(codec, direct_tcpip_open)
{
    apf_msg m = {.type = APF_CHANNEL_OPEN}, d;
    m.u.open.type = apf_str_c(APF_CHAN_DIRECT_TCPIP);
    m.u.open.sender = 9;
    m.u.open.addr = apf_str_c("10.0.0.1");
    m.u.open.port = 80;
    uint8_t b[128];
    size_t len;
    ssize_t n = apf_pack(&m, b, sizeof(b));
    cr_assert_eq(n, 33 + 12 + 8);
    cr_assert_eq(apf_unpack(b, (size_t)n, NULL, 0, &d, &len), APF_OK);
    STR_EQ(d.u.open.type, APF_CHAN_DIRECT_TCPIP);
    cr_assert_eq(d.u.open.port, 80);
}

Test(codec, every_prefix_waits)
{
    for (size_t i = 0; i < sizeof(all_vectors) / sizeof(*all_vectors); i++) {
        size_t n = vec(all_vectors[i], vbuf, sizeof(vbuf));
        for (size_t k = 0; k < n; k++) {
            apf_msg m;
            size_t need = 0;
            int rc = apf_unpack(vbuf, k, NULL, flags_for(all_vectors[i]), &m, &need);
            cr_assert_eq(rc, APF_ERR_AGAIN, "%s prefix %zu: %s", all_vectors[i], k,
                         apf_strerror(rc));
            cr_assert(need > k && need <= n, "%s prefix %zu: need %zu", all_vectors[i], k, need);
        }
    }
}

Test(codec, many_messages_in_one_buffer)
{
    uint8_t b[4096];
    size_t n = 0;
    const char *seq[] = {"V1", "V3", "V8", "V5", "V13", "V12", "V18-request", "V28"};
    for (size_t i = 0; i < 8; i++)
        n += vec(seq[i], b + n, sizeof(b) - n);
    size_t off = 0, count = 0;
    while (off < n) {
        apf_msg m;
        size_t len;
        cr_assert_eq(apf_unpack(b + off, n - off, NULL, 0, &m, &len), APF_OK);
        off += len;
        count++;
    }
    cr_assert_eq(count, 8);
    cr_assert_eq(off, n);
}

Test(codec, long_string_fails_before_its_bytes_arrive)
{
    /* SERVICE_REQUEST claiming 4 GiB: the header alone must be enough to refuse. */
    uint8_t b[5] = {0x05, 0xff, 0xff, 0xff, 0xff};
    apf_msg m;
    size_t len;
    cr_assert_eq(apf_unpack(b, 5, NULL, 0, &m, &len), APF_ERR_STRING_TOO_LONG);
    apf_limits lim;
    apf_limits_default(&lim);
    {
        uint8_t c[5] = {0x05, 0, 0, 0x08, 0x01}; /* 2049 */
        cr_assert_eq(apf_unpack(c, 5, &lim, 0, &m, &len), APF_ERR_STRING_TOO_LONG);
        uint8_t d[5] = {0x05, 0, 0, 0x08, 0x00}; /* 2048: allowed, waits */
        cr_assert_eq(apf_unpack(d, 5, &lim, 0, &m, &len), APF_ERR_AGAIN);
        cr_assert_eq(len, 5 + 2048);
    }
}

Test(codec, message_and_data_limits)
{
    apf_limits lim = {.max_string = 2048, .max_msg = 128, .max_data = 100};
    apf_msg m;
    size_t len;
    /* USERAUTH whose strings are each fine but whose total is not */
    uint8_t u[9] = {0x32, 0, 0, 0, 200, 0, 0, 0, 0};
    cr_assert_eq(apf_unpack(u, 5, &lim, 0, &m, &len), APF_ERR_MSG_TOO_LONG);
    uint8_t d[9] = {0x5e, 0, 0, 0, 1, 0, 0, 0, 101};
    cr_assert_eq(apf_unpack(d, 9, &lim, 0, &m, &len), APF_ERR_DATA_TOO_LONG);
    d[8] = 100;
    cr_assert_eq(apf_unpack(d, 9, &lim, 0, &m, &len), APF_ERR_AGAIN);
    cr_assert_eq(len, 109);
    cr_assert_eq(apf_unpack(d, 9, &lim, APF_UNPACK_DATA_HEADER, &m, &len), APF_OK);
    cr_assert_eq(len, 9);
    cr_assert_eq(m.u.data.data.len, 100);
}

Test(codec, unframeable_messages)
{
    apf_msg m;
    size_t len;
    uint8_t unknown[1] = {96}; /* SSH CHANNEL_EOF is not APF */
    cr_assert_eq(apf_unpack(unknown, 1, NULL, 0, &m, &len), APF_ERR_UNKNOWN_TYPE);
    uint8_t method[] = {0x32, 0, 0, 0,   1,   'u', 0,   0,   0,   1,   's', 0,
                        0,    0, 9, 'p', 'u', 'b', 'l', 'i', 'c', 'k', 'e', 'y'};
    cr_assert_eq(apf_unpack(method, sizeof(method), NULL, 0, &m, &len), APF_ERR_UNKNOWN_METHOD);
    uint8_t change[] = {0x32, 0, 0, 0,   1,   'u', 0,   0,   0,   1,   's', 0,
                        0,    0, 8, 'p', 'a', 's', 's', 'w', 'o', 'r', 'd', 1};
    cr_assert_eq(apf_unpack(change, sizeof(change), NULL, 0, &m, &len), APF_ERR_MALFORMED);
    uint8_t req[] = {0x50, 0, 0, 0, 3, 'f', 'o', 'o', 1, 0xde, 0xad};
    cr_assert_eq(apf_unpack(req, sizeof(req), NULL, 0, &m, &len), APF_ERR_UNKNOWN_REQUEST);
    STR_EQ(m.u.global.name, "foo");
    cr_assert(m.u.global.want_reply);
    uint8_t chan[] = {0x5a, 0, 0, 0, 3, 'x', '1', '1', 0, 0, 0, 1};
    cr_assert_eq(apf_unpack(chan, sizeof(chan), NULL, 0, &m, &len), APF_ERR_UNKNOWN_CHANNEL_TYPE);
}

Test(codec, pack_errors)
{
    apf_msg m = {.type = 96};
    uint8_t b[4];
    cr_assert_eq(apf_pack(&m, b, sizeof(b)), APF_ERR_UNKNOWN_TYPE);
    cr_assert_eq(apf_msg_len(&m), 0);
    m = (apf_msg){.type = APF_CHANNEL_CLOSE};
    cr_assert_eq(apf_pack(&m, b, sizeof(b)), APF_ERR_BUFFER);
    cr_assert_eq(apf_msg_len(&m), 5);
    m = (apf_msg){.type = APF_USERAUTH_REQUEST};
    m.u.userauth.method = apf_str_c("publickey");
    cr_assert_eq(apf_pack(&m, b, sizeof(b)), APF_ERR_INVALID);
}

Test(codec, disconnect_all_reasons)
{
    for (uint32_t r = 1; r <= 18; r++) {
        apf_msg m = {.type = APF_DISCONNECT, .u.disconnect.reason = r}, d;
        uint8_t b[7];
        size_t len;
        cr_assert_eq(apf_pack(&m, b, sizeof(b)), 7);
        cr_assert_eq(b[5], 0);
        cr_assert_eq(b[6], 0);
        cr_assert_eq(apf_unpack(b, 7, NULL, 0, &d, &len), APF_OK);
        cr_assert_eq(d.u.disconnect.reason, r);
        cr_assert_str_neq(apf_disconnect_reason_name(r), "?");
    }
    cr_assert_str_eq(apf_disconnect_reason_name(15), "ILLEGAL_USER_NAME");
    cr_assert_str_eq(apf_disconnect_reason_name(99), "?");
}

Test(codec, names_and_strings)
{
    for (int e = 0; e > -APF_ERR_COUNT; e--)
        cr_assert_str_neq(apf_strerror(e), "unknown error", "code %d", e);
    cr_assert_str_eq(apf_strerror(-APF_ERR_COUNT), "unknown error");
    cr_assert_str_eq(apf_strerror(5), "unknown error");
    cr_assert_str_eq(apf_msg_type_name(APF_KEEPALIVE_OPTIONS_REPLY), "KEEPALIVE_OPTIONS_REPLY");
    cr_assert_str_eq(apf_open_failure_name(2), "CONNECT_FAILED");
    apf_msg m;
    roundtrip("V23", &m);
    char d[256];
    apf_msg_describe(&m, d, sizeof(d));
    cr_assert_str_eq(d, "CHANNEL_OPEN forwarded-tcpip 4 32768 :16992 1.2.3.4:1024");
    roundtrip("V8", &m);
    apf_msg_describe(&m, d, sizeof(d));
    cr_assert_null(strstr(d, "P@ss"), "password leaked into a log line: %s", d);
    char hex[32];
    uint8_t bytes[3] = {0xc0, 0x00, 0x7f};
    cr_assert_eq(apf_hex(bytes, 3, hex, sizeof(hex)), 8);
    cr_assert_str_eq(hex, "c0 00 7f");
}
