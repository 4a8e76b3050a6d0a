/*
 * stats.h - counters of a run: one block per worker, written by that worker only (relaxed
 * atomics), summed by the main thread for the progress lines and the summary.
 */
#ifndef AMTSIM_STATS_H
#define AMTSIM_STATS_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

enum stat_counter {
    ST_STARTED,          /* connection attempts */
    ST_CONNECTING,       /* gauge: connect started, transport (TLS) not up yet */
    ST_TLS_OK,           /* handshakes completed (--plain: TCP connects) */
    ST_RESUMED,          /* of those, resumed */
    ST_READY,            /* gauge: ready now */
    ST_READY_TOTAL,      /* times a device became ready */
    ST_FAILED,           /* could not connect / handshake / log in in time, or we ended it */
    ST_CLOSED_BY_SERVER, /* the MPS ended an established connection */
    ST_REFUSED,          /* USERAUTH_FAILURE */
    ST_KA_SENT,
    ST_KA_REPLIES,
    ST_CHAN_OPENED,
    ST_CHAN_REFUSED,
    ST_RECONNECTS,
    ST__COUNT
};

/* Why a connection ended: APF DISCONNECT reasons, TLS errors, socket errors, our own reasons. */
enum {
    R_APF = 0,           /* + reason 1..18; R_APF + 19 = other */
    R_TLS = 20,          /* + (-tls error) 1..19 */
    R_EOF = 40,          /* the MPS closed TCP without a word */
    R_ERRNO,             /* + index into the errno table */
    R_SIM = R_ERRNO + 8, /* + enum stat_sim_reason */
    R__COUNT = R_SIM + 4
};
enum stat_sim_reason { SR_TIMEOUT, SR_PROTOCOL, SR_SEND, SR_REFUSED };

unsigned stat_reason_apf(uint32_t code);
unsigned stat_reason_tls(int tls_err);
unsigned stat_reason_errno(int neg_errno);
const char *stat_reason_name(unsigned r, char *buf, size_t cap);

/* Log-linear histogram of microseconds: 32 steps per power of two (~3 % resolution). */
#define HIST_BUCKETS 1920

struct stats {
    _Atomic uint64_t c[ST__COUNT];
    _Atomic uint64_t reasons[R__COUNT];
    _Atomic uint32_t hs_us[HIST_BUCKETS];    /* connect start -> TLS up */
    _Atomic uint32_t ready_us[HIST_BUCKETS]; /* connect start -> ready */
    _Atomic uint32_t ka_us[HIST_BUCKETS];    /* keep-alive request sent -> its reply read */
    _Atomic uint64_t ka_max_us;
    _Atomic uint64_t first_connect_ms, last_ready_ms;
};

void stats_add(struct stats *s, enum stat_counter c, int64_t v);
void stats_reason(struct stats *s, unsigned r);
void stats_hist(_Atomic uint32_t *h, uint64_t us);
unsigned hist_index(uint64_t us);
uint64_t hist_value(unsigned idx); /* lower bound of the bucket */

/* Sums over n blocks. */
struct stats_sum {
    uint64_t c[ST__COUNT];
    uint64_t reasons[R__COUNT];
    uint64_t hs[HIST_BUCKETS], ready[HIST_BUCKETS], ka[HIST_BUCKETS];
    uint64_t ka_max_us;
    uint64_t first_connect_ms, last_ready_ms;
};
void stats_sum(struct stats *const *blocks, unsigned n, struct stats_sum *out);
/* Percentile p (0..100) of a summed histogram in milliseconds; -1 if empty. */
double stats_pct_ms(const uint64_t *h, double p);

/* The counters as JSON members (no braces): "connecting":..,"tls_ok":.. */
void stats_print_counters(FILE *f, const struct stats_sum *s);
/* "disconnect_reasons":{"apf:BY_APPLICATION":3,...} */
void stats_print_reasons(FILE *f, const struct stats_sum *s);

/* Resident set size of this process in KiB (VmRSS), 0 if unknown. */
uint64_t stats_rss_kib(void);

#endif
