#include "admission.h"
#include "throttle.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/random.h>

struct admission {
    uint64_t seed;
    struct throttle_params p; /* only its prefix lengths are used */
    _Atomic uint32_t addr[ADMISSION_BUCKETS];
    _Atomic uint32_t prefix[ADMISSION_BUCKETS];
};

struct admission *admission_new(void)
{
    struct admission *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    if (getrandom(&a->seed, sizeof(a->seed), 0) != (ssize_t)sizeof(a->seed))
        a->seed = (uint64_t)(uintptr_t)a ^ 0x9e3779b97f4a7c15ULL;
    a->p.v4_prefix = 24;
    a->p.v6_prefix = 56;
    return a;
}

void admission_free(struct admission *a)
{
    free(a);
}

/* slot: address bucket + 1 in the low 32 bits, prefix bucket + 1 in the high ones (0: none) */
int admission_take(struct admission *a, const netaddr *src, uint32_t per_addr, uint32_t per_prefix,
                   uint64_t *slot)
{
    *slot = 0;
    uint64_t ha, hp;
    if (!a || !throttle_source_hashes(&a->p, src, a->seed, &ha, &hp))
        return 0;
    uint32_t ia = (uint32_t)(ha % ADMISSION_BUCKETS), ip = (uint32_t)(hp % ADMISSION_BUCKETS);
    if (atomic_fetch_add_explicit(&a->addr[ia], 1, memory_order_relaxed) >= per_addr) {
        atomic_fetch_sub_explicit(&a->addr[ia], 1, memory_order_relaxed);
        return 1;
    }
    if (atomic_fetch_add_explicit(&a->prefix[ip], 1, memory_order_relaxed) >= per_prefix) {
        atomic_fetch_sub_explicit(&a->prefix[ip], 1, memory_order_relaxed);
        atomic_fetch_sub_explicit(&a->addr[ia], 1, memory_order_relaxed);
        return 2;
    }
    *slot = (uint64_t)(ia + 1) | (uint64_t)(ip + 1) << 32;
    return 0;
}

void admission_put(struct admission *a, uint64_t slot)
{
    if (!a || !slot)
        return;
    uint32_t ia = (uint32_t)slot - 1, ip = (uint32_t)(slot >> 32) - 1;
    atomic_fetch_sub_explicit(&a->addr[ia], 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&a->prefix[ip], 1, memory_order_relaxed);
}
