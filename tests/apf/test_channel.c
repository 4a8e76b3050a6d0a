/*
 * Channels: opening (ids, errors), flow control both ways (window never
 * exceeded, adjust timing, bounded queue), closing (exactly one CLOSE per
 * side, late messages), device-initiated opens, teardown.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static h t;
static const uint32_t ports[] = {16992, 16993, 16994, 5900};

static void setup(void)
{
    h_init(&t, NULL);
    h_login(&t, ports, 4);
    cr_assert(apf_session_is_ready(t.s));
}

static void teardown(void)
{
    h_free(&t);
}

TestSuite(channel, .init = setup, .fini = teardown);

/* Payload bytes of every CHANNEL_DATA in out[from..], checking each header. */
static size_t sent_payload(size_t from, uint32_t peer, size_t max_chunk, size_t *msgs)
{
    size_t off = from, total = 0;
    *msgs = 0;
    while (off < t.out_len) {
        apf_msg m;
        size_t len;
        cr_assert_eq(apf_unpack(t.out + off, t.out_len - off, NULL, 0, &m, &len), APF_OK);
        if (m.type == APF_CHANNEL_DATA) {
            cr_assert_eq(m.u.data.recipient, peer);
            cr_assert_leq(m.u.data.data.len, max_chunk);
            total += m.u.data.data.len;
            (*msgs)++;
        }
        off += len;
    }
    return total;
}

Test(channel, open_is_byte_exact_and_ids_start_at_4)
{
    uint32_t id;
    cr_assert_eq(apf_channel_open(t.s, 16992, NULL, 0, NULL, &id), APF_OK);
    cr_assert_eq(id, 4);
    cr_assert_str_eq(h_out_hex(&t), "5a0000000f666f727761726465642d74637069700000000400008000ffffff"
                                    "ff000000000000426000000007312e322e332e3400000400"); /* V23 */
    h_feed_vec(&t, "V25");
    cr_assert(h_logged(&t, "open 4"));
    cr_assert_eq(apf_channel_send_window(t.s, 4), 32768);
}

Test(channel, open_errors_send_nothing)
{
    uint32_t id;
    cr_assert_eq(apf_channel_open(t.s, 16995, NULL, 0, NULL, &id), APF_ERR_PORT_NOT_REGISTERED);
    cr_assert_eq(t.out_len, t.out_seen);
    h u;
    h_init(&u, NULL);
    cr_assert_eq(apf_channel_open(u.s, 16992, NULL, 0, NULL, &id), APF_ERR_NOT_READY);
    cr_assert_eq(u.out_len, 0);
    h_free(&u);
    apf_session_disconnect(t.s, 11);
    cr_assert_eq(apf_channel_open(t.s, 16992, NULL, 0, NULL, &id), APF_ERR_CLOSED);
}

Test(channel, max_channels)
{
    uint32_t id;
    for (int i = 0; i < 16; i++)
        cr_assert_eq(apf_channel_open(t.s, 16992, "10.0.0.1", 4000, NULL, &id), APF_OK);
    cr_assert_eq(apf_channel_open(t.s, 16992, NULL, 0, NULL, &id), APF_ERR_TOO_MANY_CHANNELS);
    cr_assert_eq(apf_session_channel_count(t.s), 16);
}

Test(channel, ids_never_reused)
{
    uint32_t a = h_open(&t, 16992, 0, 1000);
    cr_assert_eq(apf_channel_close(t.s, a), APF_OK);
    h_dev_close(&t, a); /* recipient: our id */
    cr_assert(h_logged(&t, "closed 4"));
    uint32_t b = h_open(&t, 16992, 0, 1000); /* AMT reuses its id 0 at once */
    cr_assert_eq(b, 5);
    uint32_t c;
    apf_channel_open(t.s, 16993, NULL, 0, NULL, &c);
    h_feed_hex(&t, "5c 00000006 00000002 00000000 00000000");
    cr_assert(h_logged(&t, "open-failed 6 2"));
    cr_assert_eq(h_open(&t, 16993, 1, 10), 7);
}

Test(channel, send_within_window_and_max_payload)
{
    apf_config cfg;
    apf_config_default(&cfg);
    cfg.max_payload = 100;
    h_free(&t);
    h_init(&t, &cfg);
    h_login(&t, ports, 4);
    uint32_t id = h_open(&t, 16992, 9, 1000);
    uint8_t buf[350];
    memset(buf, 'x', sizeof(buf));
    size_t from = t.out_len, msgs;
    cr_assert_eq(apf_channel_send(t.s, id, buf, sizeof(buf)), 350);
    cr_assert_eq(sent_payload(from, 9, 100, &msgs), 350);
    cr_assert_eq(msgs, 4);
    cr_assert_eq(apf_channel_send_window(t.s, id), 650);
}

Test(channel, window_never_exceeded_and_queue_bounded)
{
    uint32_t id = h_open(&t, 16992, 3, 1000);
    static uint8_t buf[5000];
    memset(buf, 'y', sizeof(buf));
    size_t from = t.out_len, msgs;
    /* window 1000 goes out, queue holds min(tx_queue, device window) = 1000 */
    cr_assert_eq(apf_channel_send(t.s, id, buf, sizeof(buf)), 2000);
    cr_assert_eq(sent_payload(from, 3, 16384, &msgs), 1000);
    cr_assert_eq(apf_channel_queued(t.s, id), 1000);
    cr_assert_eq(apf_channel_send(t.s, id, buf, 10), 0);
    cr_assert_eq(t.writable, 0);
    h_dev_adjust(&t, id, 400);
    cr_assert_eq(sent_payload(from, 3, 16384, &msgs), 1400);
    cr_assert_eq(apf_channel_queued(t.s, id), 600);
    cr_assert_eq(t.writable, 1); /* room again */
    h_dev_adjust(&t, id, 5000);
    cr_assert_eq(sent_payload(from, 3, 16384, &msgs), 2000);
    cr_assert_eq(apf_channel_queued(t.s, id), 0);
    cr_assert_eq(apf_channel_send_window(t.s, id), 4400);
}

Test(channel, data_before_confirmation_is_queued)
{
    uint32_t id;
    apf_channel_open(t.s, 16992, NULL, 0, NULL, &id);
    h_out_hex(&t);
    cr_assert_eq(apf_channel_send(t.s, id, (const uint8_t *)"GET / HTTP/1.1\r\n\r\n", 18), 18);
    cr_assert_str_eq(h_out_hex(&t), "");
    h_feed_hex(&t, "5b 00000004 00000002 00000010 ffffffff"); /* window 16 */
    cr_assert_str_eq(h_out_hex(&t), "5e0000000200000010474554202f20485454502f312e310d0a");
    cr_assert_eq(apf_channel_queued(t.s, id), 2);
}

Test(channel, receive_and_adjust_after_half_window)
{
    uint32_t id = h_open(&t, 16992, 7, 1000);
    static uint8_t buf[16384];
    memset(buf, 'z', sizeof(buf));
    h_dev_data(&t, id, buf, 10000);
    cr_assert_eq(t.data_len, 10000);
    cr_assert_eq(apf_channel_consumed(t.s, id, 10000), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), ""); /* 10000 < 16384 owed: no adjust yet */
    h_dev_data(&t, id, buf, 6384);
    cr_assert_eq(apf_channel_consumed(t.s, id, 6383), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_eq(apf_channel_consumed(t.s, id, 1), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "5d0000000700004000");           /* +16384 */
    cr_assert_eq(apf_channel_consumed(t.s, id, 1), APF_ERR_INVALID); /* nothing undrained */
}

Test(channel, backpressure_then_window_exceeded)
{
    uint32_t id = h_open(&t, 16992, 7, 1000);
    static uint8_t buf[32769];
    /* a consumer that never drains: the device may fill the window, not more */
    cr_assert_eq(h_dev_data(&t, id, buf, 32768), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_eq(h_dev_data(&t, id, buf, 1), APF_ERR_WINDOW_EXCEEDED);
    cr_assert_str_eq(h_out_hex(&t), "010000000200"
                                    "00");
}

Test(channel, window_adjust_overflow)
{
    uint32_t id = h_open(&t, 16992, 7, 10);
    cr_assert_eq(h_dev_adjust(&t, id, 0xFFFFFFF5u), APF_OK);
    cr_assert_eq(h_dev_adjust(&t, id, 1), APF_ERR_WINDOW_OVERFLOW);
}

Test(channel, local_close_once_and_late_messages)
{
    uint32_t id = h_open(&t, 16992, 0, 1000);
    cr_assert_eq(apf_channel_close(t.s, id), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "6100000000");
    cr_assert_eq(apf_channel_close(t.s, id), APF_ERR_CHANNEL_STATE);
    cr_assert_eq(apf_channel_send(t.s, id, (const uint8_t *)"x", 1), APF_ERR_CHANNEL_STATE);
    /* data in flight before the device saw our CLOSE still arrives (a half-close) */
    cr_assert_eq(h_dev_data(&t, id, (const uint8_t *)"late", 4), APF_OK);
    cr_assert_eq(t.data_len, 4);
    h_dev_close(&t, id);
    cr_assert(h_logged(&t, "closed 4"));
    cr_assert_str_eq(h_out_hex(&t), ""); /* no second CLOSE */
    /* late messages for the freed id are harmless */
    cr_assert_eq(h_dev_close(&t, id), APF_OK);
    cr_assert_eq(h_dev_adjust(&t, id, 100), APF_OK);
    cr_assert_eq(h_dev_data(&t, id, (const uint8_t *)"late", 4), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_eq(apf_channel_close(t.s, id), APF_ERR_NO_CHANNEL);
    cr_assert_eq(apf_session_status(t.s), APF_OK);
}

Test(channel, device_close_answered_exactly_once)
{
    uint32_t id = h_open(&t, 16992, 12, 1000);
    h_dev_close(&t, id);
    cr_assert_str_eq(h_out_hex(&t), "610000000c");
    cr_assert(h_logged(&t, "closed 4"));
    h_dev_close(&t, id); /* the device repeats itself */
    cr_assert_str_eq(h_out_hex(&t), "");
    cr_assert_eq(apf_session_status(t.s), APF_OK);
}

Test(channel, close_before_confirmation)
{
    uint32_t id;
    apf_channel_open(t.s, 16992, NULL, 0, NULL, &id);
    h_out_hex(&t);
    cr_assert_eq(apf_channel_close(t.s, id), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "");
    h_feed_vec(&t, "V25");
    cr_assert_str_eq(h_out_hex(&t), "6100000004");
    cr_assert_not(h_logged(&t, "open 4"));
    h_dev_close(&t, id);
    cr_assert(h_logged(&t, "closed 4"));
}

Test(channel, close_flushes_queue_first)
{
    uint32_t id = h_open(&t, 16992, 2, 4);
    cr_assert_eq(apf_channel_send(t.s, id, (const uint8_t *)"abcdefgh", 8), 8);
    cr_assert_eq(apf_channel_close(t.s, id), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "5e000000020000000461626364");
    h_dev_adjust(&t, id, 100);
    cr_assert_str_eq(h_out_hex(&t), "5e0000000200000004656667686100000002");
}

Test(channel, unknown_channel_and_bad_sequence)
{
    cr_assert_eq(h_dev_data(&t, 99, (const uint8_t *)"x", 1), APF_ERR_UNKNOWN_CHANNEL);
    h u;
    h_init(&u, NULL);
    h_login(&u, ports, 4);
    uint32_t id;
    apf_channel_open(u.s, 16992, NULL, 0, NULL, &id);
    cr_assert_eq(h_dev_data(&u, id, (const uint8_t *)"x", 1), APF_ERR_UNEXPECTED); /* unconfirmed */
    h_free(&u);
    h_init(&u, NULL);
    h_login(&u, ports, 4);
    h_open(&u, 16992, 1, 10);
    cr_assert_eq(h_feed_vec(&u, "V25"), APF_ERR_UNEXPECTED); /* confirmed twice */
    h_free(&u);
}

Test(channel, device_open_refused_by_default)
{
    h_feed_vec(&t, "V24");
    cr_assert(h_logged(&t, "open-request forwarded-tcpip ::1:16992 4"));
    cr_assert_str_eq(h_out_hex(&t), "5c00000001000000010000000000000000");
    cr_assert_eq(apf_session_channel_count(t.s), 0);
}

Test(channel, device_open_accepted)
{
    t.open_reply = 0;
    h_feed_vec(&t, "V24"); /* device id 1, window 4096 */
    cr_assert_str_eq(h_out_hex(&t), "5b00000001000000040000800"
                                    "0ffffffff");
    cr_assert(h_logged(&t, "open 4"));
    cr_assert_eq(apf_channel_send_window(t.s, 4), 4096);
    cr_assert_eq(apf_channel_send(t.s, 4, (const uint8_t *)"hi", 2), 2);
    cr_assert_str_eq(h_out_hex(&t), "5e00000001000000026869");
}

Test(channel, data_split_at_every_byte)
{
    uint8_t b[4096];
    size_t n = 0;
    apf_msg m = {.type = APF_CHANNEL_DATA};
    static uint8_t payload[1500];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (uint8_t)(i * 7);
    m.u.data.recipient = 4;
    m.u.data.data.p = payload;
    m.u.data.data.len = sizeof(payload);
    n += (size_t)apf_pack(&m, b + n, sizeof(b) - n);
    n += unhex("5d 00000004 00000100  5e 00000004 00000003 616263  d0 00000007  61 00000004", b + n,
               sizeof(b) - n);
    for (size_t k = 0; k <= n; k += (k < 20 || k > n - 40) ? 1 : 13) {
        h u;
        h_init(&u, NULL);
        h_login(&u, ports, 4);
        h_open(&u, 16992, 4, 10);
        h_feed(&u, b, k);
        h_feed(&u, b + k, n - k);
        cr_assert_eq(u.data_len, 1503, "split %zu", k);
        cr_assert(memcmp(u.data, payload, 1500) == 0 && memcmp(u.data + 1500, "abc", 3) == 0);
        cr_assert_str_eq(h_out_hex(&u),
                         "d100000007"
                         "6100000004",
                         "split %zu", k);
        cr_assert(h_logged(&u, "closed 4"));
        cr_assert_eq(apf_session_status(u.s), APF_OK);
        h_free(&u);
    }
}

Test(channel, session_end_closes_channels_and_frees_memory)
{
    size_t idle = apf_session_memory(t.s);
    h_open(&t, 16992, 1, 100);
    h_open(&t, 16993, 2, 100);
    apf_channel_send(t.s, 4, (const uint8_t *)"0123456789", 10);
    cr_assert_gt(apf_session_memory(t.s), idle);
    h_dev_close(&t, 5);
    apf_session_disconnect(t.s, APF_DISC_BY_APPLICATION);
    cr_assert(h_logged(&t, "closed 4") && h_logged(&t, "closed 5"));
    cr_assert_eq(apf_session_memory(t.s), idle);
}

Test(channel, consumer_can_close_inside_data_callback)
{
    t.auto_consume = true;
    uint32_t id = h_open(&t, 16992, 1, 100);
    static uint8_t buf[20000];
    h_dev_data(&t, id, buf, 20000); /* auto consume: adjust inside the callback */
    cr_assert_str_eq(h_out_hex(&t), "5d0000000100004e20");
    cr_assert_eq(apf_channel_close(t.s, id), APF_OK);
    cr_assert_str_eq(h_out_hex(&t), "6100000001");
}
