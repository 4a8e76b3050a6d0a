/*
 * bench_apf - APF engine throughput, printed as one JSON object:
 *   parse_msgs_per_s    apf_unpack over a mix of small device messages
 *   session_msgs_per_s  the same kind of traffic through a ready session
 *                       (keep-alives answered, window adjusts applied)
 *   data_bytes_per_s    CHANNEL_DATA through encode (apf_channel_send on one
 *                       session) and decode (apf_session_recv on a second one
 *                       whose WINDOW_ADJUSTs flow back), payload max_payload
 *   memcpy_bytes_per_s  memcpy of the same bytes in the same chunks, same run:
 *                       the base of data_vs_memcpy
 * Usage: bench_apf [MiB of channel data, default 512]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "apf.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Each session's output lands in a buffer that is then fed to the other. */
typedef struct pipe_ {
    uint8_t *buf;
    size_t len, cap;
    size_t data_bytes;
} pipe_;

static int to_pipe(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    pipe_ *q = u;
    if (q->len + n > q->cap)
        return -1;
    memcpy(q->buf + q->len, p, n);
    q->len += n;
    return 0;
}

static int discard(apf_session *s, const uint8_t *p, size_t n, void *u)
{
    return 0;
}

static void accept_auth(apf_session *s, const apf_auth_request *r, void *u)
{
    apf_session_auth_result(s, true);
}

static void drain(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu, void *u)
{
    ((pipe_ *)u)->data_bytes += n;
    apf_channel_consumed(s, id, n);
}

static const uint32_t ports[] = {16992, 16993, 16994, 5900};

/* A session logged in and holding channel 4, confirmed by "the device" with id 4. */
static apf_session *ready_session(const apf_callbacks *cb, void *user, uint32_t window)
{
    apf_config cfg;
    apf_config_default(&cfg);
    apf_session *s = apf_session_new(&cfg, cb, user);
    uint8_t b[1024];
    apf_device_login l = {.user = "bench", .password = "secret", .ports = ports, .nports = 4};
    ssize_t n = apf_device_login_pack(&l, b, sizeof(b));
    if (!s || n < 0 || apf_session_recv(s, b, (size_t)n, 1) != APF_OK || !apf_session_is_ready(s))
        abort();
    uint32_t id;
    if (apf_channel_open(s, 16992, NULL, 0, NULL, &id) != APF_OK || id != 4)
        abort();
    apf_msg m = {.type = APF_CHANNEL_OPEN_CONFIRMATION};
    m.u.open_confirm.recipient = 4;
    m.u.open_confirm.sender = 4;
    m.u.open_confirm.window = window;
    n = apf_pack(&m, b, sizeof(b));
    if (apf_session_recv(s, b, (size_t)n, 1) != APF_OK)
        abort();
    return s;
}

/* A buffer of n small messages a device sends in steady state. */
static size_t mix(uint8_t *b, size_t cap, size_t *count)
{
    static const char *const hex[] = {
        "d0000000ff",                                             /* keep-alive */
        "5d00000004000001f3",                                     /* adjust +499 */
        "d30000001e0000000a",                                     /* keep-alive options reply */
        "5d0000000400000010",                                     /* adjust +16 */
        "500000000d74637069702d666f7277617264010000000000004260", /* forward (again) */
    };
    size_t n = 0;
    *count = 0;
    while (1) {
        for (size_t i = 0; i < 5; i++) {
            size_t k = strlen(hex[i]) / 2;
            if (n + k > cap)
                return n;
            for (size_t j = 0; j < k; j++) {
                unsigned v;
                sscanf(hex[i] + 2 * j, "%2x", &v);
                b[n + j] = (uint8_t)v;
            }
            n += k;
            (*count)++;
        }
    }
}

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512;
    /* ---- parse ---- */
    size_t cap = 1 << 20, count;
    uint8_t *buf = malloc(cap);
    size_t len = mix(buf, cap, &count);
    size_t parsed = 0;
    double t0 = now_s();
    for (int rep = 0; rep < 20; rep++) {
        for (size_t off = 0; off < len;) {
            apf_msg m;
            size_t k;
            if (apf_unpack(buf + off, len - off, NULL, 0, &m, &k) != APF_OK)
                break;
            off += k;
            parsed++;
        }
    }
    double parse_s = now_s() - t0;

    /* ---- session ---- */
    apf_callbacks quiet = {.send = discard, .on_auth = accept_auth};
    apf_session *s = ready_session(&quiet, NULL, 1);
    size_t fed = 0;
    t0 = now_s();
    for (int rep = 0; rep < 20; rep++) {
        /* 4 KiB records, as TLS would hand them over; messages straddle them */
        for (size_t off = 0; off < len; off += 4096) {
            size_t k = len - off < 4096 ? len - off : 4096;
            if (apf_session_recv(s, buf + off, k, 2) != APF_OK)
                abort();
        }
        fed += count;
    }
    double session_s = now_s() - t0;
    apf_session_free(s);

    /* ---- channel data: encode on A, decode on B, adjusts back to A ---- */
    pipe_ ab = {.buf = malloc(1 << 20), .cap = 1 << 20};
    pipe_ ba = {.buf = malloc(1 << 16), .cap = 1 << 16};
    apf_callbacks cb_a = {.send = to_pipe, .on_auth = accept_auth};
    apf_callbacks cb_b = {.send = to_pipe, .on_auth = accept_auth, .on_channel_data = drain};
    apf_session *a = ready_session(&cb_a, &ab, 32768);
    apf_session *b = ready_session(&cb_b, &ba, 32768);
    ab.len = ba.len = 0;
    size_t chunk = 16384, total = mib << 20, sent = 0;
    /* Page-aligned, the copy lands 2 KiB + 9 into its page: a source and a
     * destination a few bytes apart modulo 4 KiB hit 4K-aliasing stalls that
     * made a naive base 30x slower than the engine's own copies. */
    uint8_t *src = aligned_alloc(4096, chunk), *dst = aligned_alloc(4096, chunk + 4096);
    memset(src, 0x5a, chunk);
    t0 = now_s();
    while (sent < total) {
        ssize_t k = apf_channel_send(a, 4, src, chunk);
        if (k < 0)
            abort();
        sent += (size_t)k;
        if (ab.len) {
            if (apf_session_recv(b, ab.buf, ab.len, 3) != APF_OK)
                abort();
            ab.len = 0;
        }
        if (ba.len) {
            if (apf_session_recv(a, ba.buf, ba.len, 3) != APF_OK)
                abort();
            ba.len = 0;
        }
    }
    double data_s = now_s() - t0;
    if (ba.data_bytes + apf_channel_queued(a, 4) < sent - 65536)
        abort();
    /* same bytes, same chunks, plain memcpy */
    /* through a volatile pointer: glibc's memcpy, as the engine calls it,
     * not an inlined copy the compiler could shortcut */
    void *(*volatile copy)(void *, const void *, size_t) = memcpy;
    volatile uint8_t sink = 0;
    t0 = now_s();
    for (size_t done = 0; done < sent; done += chunk) {
        copy(dst + 2048 + 9, src, chunk);
        sink ^= dst[done & (chunk - 1)];
        src[0] = (uint8_t)done; /* keep the copy from being hoisted */
    }
    double memcpy_s = now_s() - t0;
    (void)sink;

    apf_session *idle = apf_session_new(NULL, &quiet, NULL);
    size_t idle_bytes = apf_session_memory(idle);
    apf_session_free(idle);
    double data_bps = (double)sent / data_s, memcpy_bps = (double)sent / memcpy_s;
    printf("{\"bench\":\"apf\",\"parse_msgs\":%zu,\"parse_msgs_per_s\":%.0f,"
           "\"session_msgs\":%zu,\"session_msgs_per_s\":%.0f,"
           "\"data_payload\":%zu,\"data_bytes\":%zu,\"data_bytes_per_s\":%.0f,"
           "\"memcpy_bytes_per_s\":%.0f,\"data_vs_memcpy\":%.3f,"
           "\"idle_session_bytes\":%zu}\n",
           parsed, (double)parsed / parse_s, fed, (double)fed / session_s, chunk, sent, data_bps,
           memcpy_bps, data_bps / memcpy_bps, idle_bytes);
    apf_session_free(a);
    apf_session_free(b);
    free(buf);
    free(src);
    free(dst);
    free(ab.buf);
    free(ba.buf);
    return 0;
}
