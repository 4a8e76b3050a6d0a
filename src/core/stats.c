#include "stats.h"

#include <stdio.h>

void stats_accumulate(const struct stats *s, struct stats_snapshot *acc)
{
#define STATS_ADD(name, help) acc->name += atomic_load_explicit(&s->name, memory_order_relaxed);
    STATS_FIELDS(STATS_ADD)
#undef STATS_ADD
    for (int i = 0; i < APF_ERR_COUNT; i++)
        acc->apf_error_by_code[i] +=
            atomic_load_explicit(&s->apf_error_by_code[i], memory_order_relaxed);
    acc->tunnels += atomic_load_explicit(&s->tunnels, memory_order_relaxed);
    acc->ready += atomic_load_explicit(&s->ready, memory_order_relaxed);
    acc->handshakes += atomic_load_explicit(&s->handshakes, memory_order_relaxed);
    acc->consoles += atomic_load_explicit(&s->consoles, memory_order_relaxed);
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
#define STATS_FMT(name, help)                                                                      \
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
