/* stats.c - counters, latency histograms and their JSON (see stats.h). */
#include "stats.h"

#include <errno.h>
#include <string.h>

#include "apf.h"
#include "tls.h"

static const int errnos[] = {ECONNRESET,    ECONNREFUSED, ETIMEDOUT, EPIPE,
                             EADDRNOTAVAIL, ENOMEM,       ECANCELED};
static const char *const errno_names[] = {"reset",         "refused", "timedout",  "epipe",
                                          "eaddrnotavail", "enomem",  "ecanceled", "other"};
static const char *const sim_names[] = {"timeout", "protocol_error", "send_overflow"};

unsigned stat_reason_apf(uint32_t code)
{
    return R_APF + (code >= 1 && code <= 18 ? code : 19);
}

unsigned stat_reason_tls(int err)
{
    return R_TLS + (err <= -1 && err >= -19 ? (unsigned)-err : 0);
}

unsigned stat_reason_errno(int neg)
{
    for (unsigned i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        if (errnos[i] == -neg)
            return R_ERRNO + i;
    return R_ERRNO + 7;
}

const char *stat_reason_name(unsigned r, char *buf, size_t cap)
{
    if (r < R_TLS)
        snprintf(buf, cap, "apf:%s", r - R_APF == 19 ? "other" : apf_disconnect_reason_name(r));
    else if (r < R_EOF)
        snprintf(buf, cap, "tls:%s", r == R_TLS ? "other" : tls_strerror(-(int)(r - R_TLS)));
    else if (r == R_EOF)
        snprintf(buf, cap, "eof");
    else if (r < R_SIM)
        snprintf(buf, cap, "socket:%s", errno_names[r - R_ERRNO]);
    else if (r == R_SIM + SR_REFUSED)
        snprintf(buf, cap, "apf:USERAUTH_FAILURE");
    else
        snprintf(buf, cap, "sim:%s", sim_names[r - R_SIM]);
    return buf;
}

void stats_add(struct stats *s, enum stat_counter c, int64_t v)
{
    atomic_fetch_add_explicit(&s->c[c], (uint64_t)v, memory_order_relaxed);
}

void stats_reason(struct stats *s, unsigned r)
{
    if (r < R__COUNT)
        atomic_fetch_add_explicit(&s->reasons[r], 1, memory_order_relaxed);
}

unsigned hist_index(uint64_t us)
{
    if (us < 64)
        return (unsigned)us;
    unsigned shift = 63 - (unsigned)__builtin_clzll(us) - 5;
    unsigned idx = shift * 32 + (unsigned)(us >> shift);
    return idx < HIST_BUCKETS ? idx : HIST_BUCKETS - 1;
}

uint64_t hist_value(unsigned idx)
{
    if (idx < 64)
        return idx;
    unsigned shift = idx / 32 - 1;
    return (uint64_t)(idx - shift * 32) << shift;
}

void stats_hist(_Atomic uint32_t *h, uint64_t us)
{
    atomic_fetch_add_explicit(&h[hist_index(us)], 1, memory_order_relaxed);
}

void stats_sum(struct stats *const *blocks, unsigned n, struct stats_sum *out)
{
    memset(out, 0, sizeof(*out));
    for (unsigned b = 0; b < n; b++) {
        struct stats *s = blocks[b];
        for (int i = 0; i < ST__COUNT; i++)
            out->c[i] += atomic_load_explicit(&s->c[i], memory_order_relaxed);
        for (int i = 0; i < R__COUNT; i++)
            out->reasons[i] += atomic_load_explicit(&s->reasons[i], memory_order_relaxed);
        for (int i = 0; i < HIST_BUCKETS; i++) {
            out->hs[i] += atomic_load_explicit(&s->hs_us[i], memory_order_relaxed);
            out->ready[i] += atomic_load_explicit(&s->ready_us[i], memory_order_relaxed);
            out->ka[i] += atomic_load_explicit(&s->ka_us[i], memory_order_relaxed);
        }
        uint64_t f = atomic_load_explicit(&s->first_connect_ms, memory_order_relaxed);
        uint64_t l = atomic_load_explicit(&s->last_ready_ms, memory_order_relaxed);
        uint64_t k = atomic_load_explicit(&s->ka_max_us, memory_order_relaxed);
        if (k > out->ka_max_us)
            out->ka_max_us = k;
        if (f && (!out->first_connect_ms || f < out->first_connect_ms))
            out->first_connect_ms = f;
        if (l > out->last_ready_ms)
            out->last_ready_ms = l;
    }
}

double stats_pct_ms(const uint64_t *h, double p)
{
    uint64_t total = 0;
    for (int i = 0; i < HIST_BUCKETS; i++)
        total += h[i];
    if (!total)
        return -1;
    uint64_t want = (uint64_t)((double)total * p / 100.0 + 0.5), seen = 0;
    if (want < 1)
        want = 1;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h[i];
        if (seen >= want) /* middle of the bucket */
            return (double)(hist_value(i) + hist_value(i + 1 < HIST_BUCKETS ? i + 1 : i)) / 2000.0;
    }
    return -1;
}

void stats_print_counters(FILE *f, const struct stats_sum *s)
{
    static const char *const names[ST__COUNT] = {
        "started",           "connecting",      "tls_ok",           "resumed",    "ready",
        "ready_total",       "failed",          "closed_by_server", "refused",    "keepalives_sent",
        "keepalive_replies", "channels_opened", "channels_refused", "reconnects",
    };
    for (int i = 0; i < ST__COUNT; i++)
        fprintf(f, "%s\"%s\":%llu", i ? "," : "", names[i], (unsigned long long)s->c[i]);
}

void stats_print_reasons(FILE *f, const struct stats_sum *s)
{
    char name[64];
    int n = 0;
    fputs("\"disconnect_reasons\":{", f);
    for (unsigned r = 0; r < R__COUNT; r++)
        if (s->reasons[r])
            fprintf(f, "%s\"%s\":%llu", n++ ? "," : "", stat_reason_name(r, name, sizeof(name)),
                    (unsigned long long)s->reasons[r]);
    fputc('}', f);
}

uint64_t stats_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    unsigned long long kib = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %llu kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}
