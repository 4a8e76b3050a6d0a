/* libFuzzer: the SOCKS4/4a/5 state machine on arbitrary console bytes. The first two input bytes
 * pick the configuration, the split and the answers (ok/fail alternating from a seed bit); the rest
 * is the console's stream. The same stream fed whole and fed in random pieces must give the same
 * events at the same offsets and the same reply bytes, and every count and length stays in bounds.
 */
#include "socks.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

typedef struct trace {
    socks_event ev[8];
    size_t at[8], nev;
    uint8_t out[128];
    size_t out_len;
    socks_error err;
} trace;

static uint32_t rng(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void drain(socks_session *s, trace *t)
{
    const uint8_t *o;
    size_t n = socks_output(s, &o);
    CHECK(n <= sizeof s->out);
    CHECK(t->out_len + n <= sizeof t->out);
    memcpy(t->out + t->out_len, o, n);
    t->out_len += n;
    socks_output_clear(s);
}

static void check_event(const socks_session *s, socks_event ev)
{
    if (ev == SOCKS_EV_AUTH) {
        CHECK(s->user_len <= 255 && strlen(s->user) == s->user_len);
        CHECK(s->pass_len <= 255 && strlen(s->pass) == s->pass_len);
        CHECK(s->version == 4 || s->version == 5);
        CHECK(s->version == 4 || s->user_len > 0);
    } else if (ev == SOCKS_EV_REQUEST) {
        CHECK(s->target.port != 0);
        CHECK(s->target.host_len >= 1 && s->target.host_len <= 255);
        CHECK(strlen(s->target.host) == s->target.host_len);
        CHECK(s->pass_len == 0);
    } else if (ev == SOCKS_EV_FAILED) {
        CHECK(s->pass_len == 0);
    }
}

/* step 0: feed everything at once; else random pieces of 1..step bytes */
static void run(const socks_conf *conf, uint8_t answers, const uint8_t *p, size_t n, uint32_t seed,
                size_t step, trace *t)
{
    socks_session s;
    size_t pos = 0;
    unsigned nanswer = 0;
    memset(t, 0, sizeof *t);
    socks_init(&s, conf);
    for (size_t guard = 0; guard < n + 16 && t->nev < 8; guard++) {
        size_t k = n - pos;
        if (step && k > 0) {
            size_t r = 1 + rng(&seed) % step;
            k = k < r ? k : r;
        }
        socks_event ev;
        size_t used = socks_feed(&s, pos < n ? p + pos : NULL, k, &ev);
        CHECK(used <= k);
        CHECK(ev != SOCKS_EV_NONE || used == k || used == 0);
        pos += used;
        check_event(&s, ev);
        drain(&s, t);
        if (ev != SOCKS_EV_NONE) {
            t->ev[t->nev] = ev;
            t->at[t->nev++] = pos;
        }
        bool ok = (answers >> (nanswer % 8)) & 1; /* the n-th answer, however split */
        nanswer += ev == SOCKS_EV_AUTH || ev == SOCKS_EV_REQUEST;
        if (ev == SOCKS_EV_AUTH) {
            socks_auth_result(&s, ok);
            CHECK(s.pass_len == 0);
        } else if (ev == SOCKS_EV_REQUEST) {
            const uint8_t b4[4] = {10, 0, 0, 1};
            socks_reply(&s, ok ? SOCKS_REP_SUCCEEDED : SOCKS_REP_HOST_UNREACHABLE, b4, 1234);
            drain(&s, t);
            /* the rest is payload: nothing more is consumed */
            CHECK(socks_feed(&s, p + pos, n - pos, &ev) == 0);
            CHECK(ev == (ok ? SOCKS_EV_NONE : SOCKS_EV_FAILED));
            break;
        } else if (ev == SOCKS_EV_FAILED) {
            CHECK(socks_feed(&s, p, n, &ev) == 0 && ev == SOCKS_EV_FAILED);
            break;
        } else if (pos == n) {
            break;
        }
        drain(&s, t);
    }
    t->err = s.error;
    socks_wipe(&s);
    CHECK(s.pass_len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    socks_conf conf = {.allow_socks4 = data[0] & 1, .allow_anonymous = data[0] & 2};
    uint8_t answers = data[1];
    uint32_t seed = (uint32_t)data[0] << 8 | data[2] | 1u;
    size_t step = 1 + (data[0] >> 2); /* pieces of 1..64 bytes */
    trace whole, split;
    run(&conf, answers, data + 3, size - 3, seed, 0, &whole);
    run(&conf, answers, data + 3, size - 3, seed, step, &split);
    CHECK(whole.nev == split.nev);
    CHECK(memcmp(whole.ev, split.ev, sizeof whole.ev) == 0);
    CHECK(memcmp(whole.at, split.at, sizeof whole.at) == 0);
    CHECK(whole.out_len == split.out_len && memcmp(whole.out, split.out, whole.out_len) == 0);
    CHECK(whole.err == split.err);
    return 0;
}
