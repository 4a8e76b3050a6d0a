#include "stats.h"

#include <stdio.h>
#include <time.h>

const uint64_t stats_hist_bounds_us[STATS_HIST_BUCKETS] = {
    100,   250,    500,    1000,   2500,    5000,    10000,   25000,
    50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

uint64_t stats_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void stats_observe(struct stats *s, enum stats_hist h, uint64_t us)
{
    unsigned b = 0;
    while (b < STATS_HIST_BUCKETS && us > stats_hist_bounds_us[b])
        b++;
    atomic_fetch_add_explicit(&s->hist[h][b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->hist_sum_us[h], us, memory_order_relaxed);
}

void stats_accumulate(const struct stats *s, struct stats_snapshot *acc)
{
#define STATS_ADD(name, fam, label, help)                                                          \
    acc->name += atomic_load_explicit(&s->name, memory_order_relaxed);
    STATS_FIELDS(STATS_ADD)
#undef STATS_ADD
    for (int i = 0; i < APF_ERR_COUNT; i++)
        acc->apf_error_by_code[i] +=
            atomic_load_explicit(&s->apf_error_by_code[i], memory_order_relaxed);
    acc->tunnels += atomic_load_explicit(&s->tunnels, memory_order_relaxed);
    acc->ready += atomic_load_explicit(&s->ready, memory_order_relaxed);
    acc->handshakes += atomic_load_explicit(&s->handshakes, memory_order_relaxed);
    acc->consoles += atomic_load_explicit(&s->consoles, memory_order_relaxed);
    for (int h = 0; h < STATS_HIST_COUNT; h++) {
        for (int b = 0; b <= STATS_HIST_BUCKETS; b++)
            acc->hist[h][b] += atomic_load_explicit(&s->hist[h][b], memory_order_relaxed);
        acc->hist_sum_us[h] += atomic_load_explicit(&s->hist_sum_us[h], memory_order_relaxed);
    }
    for (int p = 0; p < STATS_CONSOLE_PROTO_COUNT; p++)
        for (int r = 0; r < STATS_CONSOLE_RESULT_COUNT; r++)
            acc->console_sessions[p][r] +=
                atomic_load_explicit(&s->console_sessions[p][r], memory_order_relaxed);
}

void stats_format(const struct stats_snapshot *s, char *buf, size_t cap)
{
    size_t n = 0;
#define APPEND(...)                                                                                \
    do {                                                                                           \
        int w = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__);                             \
        if (w > 0)                                                                                 \
            n += (size_t)w;                                                                        \
    } while (0)
    APPEND("tunnels=%lld ready=%lld handshakes=%lld consoles=%lld", (long long)s->tunnels,
           (long long)s->ready, (long long)s->handshakes, (long long)s->consoles);
#define STATS_FMT(name, fam, label, help)                                                          \
    if (s->name)                                                                                   \
        APPEND(" " #name "=%llu", (unsigned long long)s->name);
    STATS_FIELDS(STATS_FMT)
#undef STATS_FMT
    for (int i = 1; i < APF_ERR_COUNT; i++)
        if (s->apf_error_by_code[i])
            APPEND(" apf_error{%s}=%llu", apf_strerror(-i),
                   (unsigned long long)s->apf_error_by_code[i]);
#undef APPEND
    if (n >= cap && cap)
        buf[cap - 1] = 0;
}
