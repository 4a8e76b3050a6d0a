/*
 * fuzz_apf_struct.h - the structure-aware APF fuzzer's shared parts: the input
 * read as a data provider, the fuzzer's model of the tunnel, and the calls
 * between the checker (fuzz_apf_struct.c) and the generator (fuzz_apf_gen.c).
 */
#ifndef MPSD_TESTS_APF_FUZZ_APF_STRUCT_H
#define MPSD_TESTS_APF_FUZZ_APF_STRUCT_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "apf.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            abort();                                                                               \
    } while (0)

/* ---- the input as a data provider ------------------------------------------ */

typedef struct fdp {
    const uint8_t *p;
    size_t n;
} fdp;

static inline uint8_t u8(fdp *f)
{
    if (!f->n)
        return 0;
    f->n--;
    return *f->p++;
}

static inline uint32_t u32(fdp *f)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v = v << 8 | u8(f);
    return v;
}

static inline uint32_t pick(fdp *f, const uint32_t *set, size_t n)
{
    return set[u8(f) % n];
}
#define PICK(f, set) pick(f, set, sizeof(set) / sizeof(set[0]))

/* A string: one of a few known ones, or fuzz bytes of a fuzzed length. */
static inline apf_str str(fdp *f, const char *const *known, size_t nknown)
{
    uint8_t b = u8(f);
    if (b < 0xe0 && nknown)
        return apf_str_c(known[b % nknown]);
    uint32_t len = u8(f) % 64;
    if (len > f->n)
        len = (uint32_t)f->n;
    apf_str s = {f->p, len};
    f->p += len;
    f->n -= len;
    return s;
}
#define STR(f, known) str(f, known, sizeof(known) / sizeof(known[0]))

/* ---- the fuzzer's model of the tunnel --------------------------------------- */

#define MAXCH    64 /* our ids 4..4+MAXCH-1 are tracked; later ones are only checked loosely */
#define MAXDEV   256
#define DEV_BASE 0x1000u /* device-side ids are unique: DEV_BASE + k */

typedef struct ch {
    bool known;      /* CHANNEL_OPEN or OPEN_CONFIRMATION went out for it */
    bool ours;       /* we opened it */
    bool opened;     /* on_channel_open */
    bool ended;      /* on_channel_closed / on_channel_open_failed: no event after this */
    bool close_req;  /* the console called apf_channel_close (the CLOSE may wait) */
    bool close_out;  /* our CLOSE went out */
    bool dev_close;  /* the device was made to send CLOSE */
    bool has_dev;    /* dev is the device's id for it */
    uint32_t dev;    /* device's id */
    uint64_t tx_win; /* what the device lets us send (its window - our data) */
    uint32_t tx_cap; /* queue bound: min(tx_queue, device's initial window) */
    uint64_t granted, delivered, consumed;
} ch;

typedef struct st {
    apf_config cfg;
    apf_session *s;
    uint8_t mode;         /* callback behaviour bits, see below */
    bool tainted;         /* a corrupted message went in: no window accounting */
    bool disc_out;        /* DISCONNECT went out: nothing may follow */
    bool auth_wait;       /* on_auth called, no answer yet */
    bool auth_ok;         /* USERAUTH_SUCCESS went out */
    bool ka_opts;         /* KEEPALIVE_OPTIONS_REQUEST went out */
    bool ready;           /* on_ready */
    bool in_data;         /* inside on_channel_data (bounds re-entrant work) */
    uint32_t expect_open; /* sender id of the CHANNEL_OPEN that just went out */
    ch c[MAXCH];
    uint32_t devwin[MAXDEV]; /* window of each device-initiated CHANNEL_OPEN */
    /* the first OPEN_CONFIRMATION made for each of our ids (it may be made before the
     * CHANNEL_OPEN goes out, when bytes are held during a pending login) and the device's
     * WINDOW_ADJUSTs made after it: applied when the engine shows it took the confirmation */
    bool conf_set[MAXCH];
    uint32_t conf_dev[MAXCH], conf_win[MAXCH];
    uint64_t conf_adj[MAXCH];
    uint64_t pre_adj[MAXCH]; /* adjusts made for an id before any channel had it */
    uint32_t ndev;
    uint32_t ports[8];
    uint32_t nports;
    uint64_t now;
    size_t sends;
    unsigned reached; /* R_* bits: the deep states this input got to */
    fdp *f;
} st;

/* Deep states, counted per input when APF_FUZZ_STATS is set (printed at exit; docs/fuzzing.md). */
enum {
    R_LOGGED_IN = 1 << 0,     /* USERAUTH_SUCCESS went out */
    R_READY = 1 << 1,         /* forwards settled, on_ready */
    R_OUR_OPEN = 1 << 2,      /* a channel we opened was confirmed */
    R_DEV_OPEN = 1 << 3,      /* a device-initiated channel was accepted */
    R_DATA_IN = 1 << 4,       /* payload delivered to the console */
    R_WIN_EXHAUSTED = 1 << 5, /* device window 0 with bytes queued */
    R_WRITABLE = 1 << 6,      /* on_channel_writable after a short send */
    R_ADJUST_OUT = 1 << 7,    /* window returned to the device */
    R_AUTH_PENDING = 1 << 8,  /* login pending between steps (bytes held) */
    R_AUTH_LATE = 1 << 9,     /* pending login answered from a later step */
    R_SUPERSEDE = 1 << 10,    /* superseded (disconnect) with channels live */
    R_HALF_CLOSE = 1 << 11,   /* both CLOSEs exchanged and the id freed */
    R_COUNT = 12,
};

/* mode bits (first input byte) */
#define M_AUTH_DEFER  0x01 /* on_auth leaves the answer to a later step */
#define M_AUTH_REFUSE 0x02 /* ... and the immediate answer is refuse */
#define M_OPEN_ON_FWD 0x04 /* on_forward opens a channel at once */
#define M_ACCEPT_DEV  0x08 /* on_open_request accepts */
#define M_CONSUME     0x10 /* on_channel_data drains at once */
#define M_CB_CLOSE    0x20 /* on_channel_data closes the channel */
#define M_CB_SUPER    0x40 /* on_channel_data supersedes the tunnel (disconnect) */
#define M_WRITABLE    0x80 /* on_channel_writable sends again */

/* fuzz_apf_struct.c: the model and its checks */
ch *chan(st *t, uint32_t id);
void close_ch(st *t, uint32_t id);          /* apf_channel_close, remembered */
void consume(st *t, uint32_t id, size_t n); /* apf_channel_consumed, counted */
void quiet_checks(st *t);                   /* invariants between steps */
void supersede(st *t);                      /* apf_session_disconnect, as a new login does */

/* fuzz_apf_gen.c: the device's messages and the console's calls */
void login(st *t);
void step(st *t);

#endif
