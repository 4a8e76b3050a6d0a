/*
 * libFuzzer target: the MPS session fed hostile device bytes, plus a codec
 * round trip on the same input.
 *
 * Input byte 0 picks how the rest is cut into recv() calls and how the
 * fake caller behaves (defer auth, close channels); the rest is the device's
 * byte stream. The caller logs in, opens a channel as soon as a port is
 * registered, sends into it, and drains what arrives, so the flow-control
 * and close paths are reachable from the corpus (see mkcorpus.py).
 */
#include <stdlib.h>
#include <string.h>

#include "apf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fz {
    uint8_t mode;
    size_t out;
} fz;

static int f_send(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    fz *f = u;
    f->out += n;
    return 0;
}

static void f_auth(apf_session *s, const apf_auth_request *r, void *u)
{
    fz *f = u;
    if (!(f->mode & 0x10))
        apf_session_auth_result(s, !(f->mode & 0x20));
}

static void f_forward(apf_session *s, uint32_t port, bool added, void *u)
{
    uint32_t id;
    if (added)
        apf_channel_open(s, port, NULL, 0, NULL, &id);
}

static void f_open(apf_session *s, uint32_t id, void *cu, void *u)
{
    static uint8_t junk[40000];
    apf_channel_send(s, id, junk, ((fz *)u)->mode & 0x40 ? sizeof(junk) : 100);
}

static void f_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu, void *u)
{
    fz *f = u;
    apf_channel_consumed(s, id, n);
    if (f->mode & 0x80)
        apf_channel_close(s, id);
}

static void f_writable(apf_session *s, uint32_t id, void *cu, void *u)
{
    static uint8_t junk[1000];
    apf_channel_send(s, id, junk, sizeof(junk));
}

static uint32_t f_open_req(apf_session *s, const apf_open_request *r, void **cu, void *u)
{
    return (((fz *)u)->mode & 0x08) ? 0 : APF_OPEN_ADMINISTRATIVELY_PROHIBITED;
}

static const apf_callbacks cb = {
    .send = f_send,
    .on_auth = f_auth,
    .on_forward = f_forward,
    .on_channel_open = f_open,
    .on_channel_data = f_data,
    .on_channel_writable = f_writable,
    .on_open_request = f_open_req,
};

static void codec_roundtrip(const uint8_t *p, size_t n, unsigned flags)
{
    apf_msg m;
    size_t len;
    if (apf_unpack(p, n, NULL, flags, &m, &len) != APF_OK)
        return;
    uint8_t *out = malloc(len);
    if (!out)
        return;
    /* Booleans and reserved bytes normalise; the length must not change. */
    if (apf_pack(&m, out, len) != (ssize_t)len || apf_msg_len(&m) != len)
        abort();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fz f = {.mode = data[0]};
    codec_roundtrip(data + 1, size - 1, data[0] & 3);

    apf_config cfg;
    apf_config_default(&cfg);
    cfg.rx_window = 4096; /* small windows make the adjust paths reachable */
    cfg.max_payload = 512;
    cfg.tx_queue = 2048;
    apf_session *s = apf_session_new(&cfg, &cb, &f);
    if (!s)
        return 0;
    static const size_t chunks[8] = {1, 2, 3, 7, 64, 1000, 1 << 20, 5};
    size_t step = chunks[data[0] & 7];
    uint64_t now = 1;
    for (size_t off = 1; off < size && !apf_session_is_closed(s); off += step) {
        size_t n = size - off < step ? size - off : step;
        apf_session_recv(s, data + off, n, now);
        now += 100;
        if (f.mode & 0x10)
            apf_session_auth_result(s, true);
        apf_session_tick(s, now);
    }
    apf_session_tick(s, now + 2000);
    apf_session_free(s);
    return 0;
}
