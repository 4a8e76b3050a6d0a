/* throttle.c - failure budgets per source address and prefix, and the known set (throttle.h). */
#include "hash.h"
#include "throttle.h"

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MILLI 1000 /* credits are kept in thousandths, so refills need no remainder */

enum kind { K_EMPTY, K_V4, K_V4_PREFIX, K_V6, K_V6_PREFIX };

struct entry {
    uint8_t key[16]; /* the address or prefix, zero-padded */
    uint8_t kind;    /* enum kind */
    uint8_t strikes; /* times the bucket ran empty since the last success */
    int32_t credit;  /* thousandths of a credit; -burst*MILLI .. burst*MILLI */
    uint64_t last_ms;
};

struct throttle {
    size_t nsets; /* a power of two */
    uint64_t seed;
    struct entry *e; /* nsets * THROTTLE_WAYS */
};

struct tkey {
    uint8_t kind;
    uint8_t key[16];
};

void throttle_params_default(struct throttle_params *p, uint32_t burst, uint32_t refill_ms)
{
    p->burst = burst;
    p->refill_ms = refill_ms;
    p->prefix_burst = burst * 4;
    p->prefix_refill_ms = refill_ms / 4 ? refill_ms / 4 : 1;
    p->v4_prefix = 24;
    p->v6_prefix = 56;
}

static uint64_t hash_bytes(uint64_t seed, const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = hash_fmix64(seed ^ (0x9e3779b97f4a7c15ULL * (n + 1)));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, b, 8);
        h = hash_fmix64(h ^ w) + 0x9e3779b97f4a7c15ULL;
        b += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, b, n);
    return hash_fmix64(h ^ w ^ ((uint64_t)n << 56));
}

static void mask_bits(uint8_t *key, unsigned len, unsigned bits)
{
    for (unsigned i = 0; i < len; i++) {
        unsigned keep = bits >= 8 * (i + 1) ? 8 : bits > 8 * i ? bits - 8 * i : 0;
        key[i] &= (uint8_t)(0xff00u >> keep);
    }
}

/* The address key and the prefix key of addr; false when it is neither IPv4 nor IPv6. An IPv4
 * address mapped into IPv6 (::ffff:a.b.c.d) is taken as IPv4. */
static bool keys_of(const struct throttle_params *p, const netaddr *addr, struct tkey *a,
                    struct tkey *pfx)
{
    memset(a, 0, sizeof(*a));
    if (!addr || addr->len == 0)
        return false;
    if (addr->ss.ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)&addr->ss;
        a->kind = K_V4;
        memcpy(a->key, &s->sin_addr, 4);
    } else if (addr->ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&addr->ss;
        if (IN6_IS_ADDR_V4MAPPED(&s->sin6_addr)) {
            a->kind = K_V4;
            memcpy(a->key, s->sin6_addr.s6_addr + 12, 4);
        } else {
            a->kind = K_V6;
            memcpy(a->key, s->sin6_addr.s6_addr, 16);
        }
    } else {
        return false;
    }
    *pfx = *a;
    if (a->kind == K_V4) {
        pfx->kind = K_V4_PREFIX;
        mask_bits(pfx->key, 4, p->v4_prefix > 32 ? 32 : p->v4_prefix);
    } else {
        pfx->kind = K_V6_PREFIX;
        mask_bits(pfx->key, 16, p->v6_prefix > 128 ? 128 : p->v6_prefix);
    }
    return true;
}

uint32_t throttle_prefix_hash(const struct throttle_params *p, const netaddr *addr)
{
    struct tkey a, pfx;
    if (!keys_of(p, addr, &a, &pfx))
        return 0;
    return (uint32_t)hash_bytes(0, &pfx, sizeof pfx);
}

bool throttle_source_hashes(const struct throttle_params *p, const netaddr *addr, uint64_t seed,
                            uint64_t *addr_hash, uint64_t *prefix_hash)
{
    struct tkey a, pfx;
    if (!keys_of(p, addr, &a, &pfx))
        return false;
    *addr_hash = hash_bytes(seed, &a, sizeof a);
    *prefix_hash = hash_bytes(seed, &pfx, sizeof pfx);
    return true;
}

struct throttle *throttle_new(size_t entries, uint64_t seed)
{
    size_t nsets = 1;
    while (nsets * THROTTLE_WAYS < entries && nsets < ((size_t)1 << 40))
        nsets <<= 1;
    struct throttle *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->e = calloc(nsets * THROTTLE_WAYS, sizeof(*t->e));
    if (!t->e) {
        free(t);
        return NULL;
    }
    t->nsets = nsets;
    t->seed = seed;
    return t;
}

void throttle_free(struct throttle *t)
{
    if (!t)
        return;
    free(t->e);
    free(t);
}

size_t throttle_capacity(const struct throttle *t)
{
    return t->nsets * THROTTLE_WAYS;
}

size_t throttle_used(const struct throttle *t)
{
    size_t n = 0;
    for (size_t i = 0; i < t->nsets * THROTTLE_WAYS; i++)
        n += t->e[i].kind != K_EMPTY;
    return n;
}

static bool is_prefix(const struct entry *e)
{
    return e->kind == K_V4_PREFIX || e->kind == K_V6_PREFIX;
}

/* The bucket's credit at now (not stored). */
static int64_t credit_at(const struct throttle_params *p, const struct entry *e, uint64_t now)
{
    uint32_t burst = is_prefix(e) ? p->prefix_burst : p->burst;
    uint64_t base = is_prefix(e) ? p->prefix_refill_ms : p->refill_ms;
    uint64_t interval = (base ? base : 1) << (e->strikes ? e->strikes - 1 : 0);
    int64_t c = e->credit;
    if (now > e->last_ms) {
        uint64_t dt = now - e->last_ms;
        /* no overflow: dt is capped at what refills any bucket from its floor */
        uint64_t cap = interval * 2 * ((uint64_t)burst + 1);
        c += (int64_t)((dt > cap ? cap : dt) * MILLI / interval);
    }
    return c > (int64_t)burst * MILLI ? (int64_t)burst * MILLI : c;
}

/* Brings e up to now; a bucket that refilled completely is forgotten (it is the same as none). */
static void refill(const struct throttle_params *p, struct entry *e, uint64_t now)
{
    uint32_t burst = is_prefix(e) ? p->prefix_burst : p->burst;
    int64_t c = credit_at(p, e, now);
    e->credit = (int32_t)c;
    if (now > e->last_ms)
        e->last_ms = now;
    if (c >= (int64_t)burst * MILLI)
        e->kind = K_EMPTY;
}

/* The entry for k in its set, or NULL. Full buckets count as absent. Reading changes nothing, so
 * that checking often does not lose the fractions of credit a write would round away. */
static struct entry *lookup(struct throttle *t, const struct throttle_params *p,
                            const struct tkey *k, uint64_t now, struct entry **set_out)
{
    struct entry *set =
        &t->e[(hash_bytes(t->seed, k, sizeof(*k)) & (t->nsets - 1)) * THROTTLE_WAYS];
    *set_out = set;
    for (int i = 0; i < THROTTLE_WAYS; i++) {
        struct entry *e = &set[i];
        if (e->kind == k->kind && !memcmp(e->key, k->key, sizeof e->key)) {
            uint32_t burst = is_prefix(e) ? p->prefix_burst : p->burst;
            if (credit_at(p, e, now) >= (int64_t)burst * MILLI) {
                e->kind = K_EMPTY; /* refilled completely: the same as none */
                return NULL;
            }
            return e;
        }
    }
    return NULL;
}

/* The entry for k brought up to now, made when make (evicting if the set is full), or NULL. */
static struct entry *find(struct throttle *t, const struct throttle_params *p, const struct tkey *k,
                          bool make, uint64_t now)
{
    struct entry *set, *e = lookup(t, p, k, now, &set);
    if (e) {
        refill(p, e, now);
        if (e->kind != K_EMPTY)
            return e;
    }
    if (!make)
        return NULL;
    /* Room: an empty way, else the way whose bucket holds the most credit (the least throttled
     * source loses least by being forgotten), the oldest among equals. */
    struct entry *victim = NULL;
    int64_t best = 0;
    for (int i = 0; i < THROTTLE_WAYS; i++) {
        struct entry *w = &set[i];
        if (w->kind == K_EMPTY) {
            victim = w;
            break;
        }
        int64_t c = credit_at(p, w, now);
        if (!victim || c > best || (c == best && w->last_ms < victim->last_ms)) {
            victim = w;
            best = c;
        }
    }
    uint32_t burst = k->kind == K_V4_PREFIX || k->kind == K_V6_PREFIX ? p->prefix_burst : p->burst;
    memcpy(victim->key, k->key, sizeof victim->key);
    victim->kind = k->kind;
    victim->strikes = 0;
    victim->credit = (int32_t)((int64_t)burst * MILLI);
    victim->last_ms = now;
    return victim;
}

enum throttle_verdict throttle_admit(struct throttle *t, const struct throttle_params *p,
                                     const netaddr *addr, uint64_t now_ms)
{
    struct tkey a, pfx;
    if (!keys_of(p, addr, &a, &pfx))
        return THROTTLE_PASS;
    struct entry *set, *e = lookup(t, p, &a, now_ms, &set);
    if (e && credit_at(p, e, now_ms) < MILLI)
        return THROTTLE_SOURCE;
    e = lookup(t, p, &pfx, now_ms, &set);
    if (e && credit_at(p, e, now_ms) < MILLI)
        return THROTTLE_PREFIX;
    return THROTTLE_PASS;
}

static void take(const struct throttle_params *p, struct entry *e)
{
    int64_t burst = is_prefix(e) ? p->prefix_burst : p->burst;
    int64_t was = e->credit, c = was - MILLI;
    if (c < -burst * MILLI)
        c = -burst * MILLI;
    e->credit = (int32_t)c;
    if (was >= MILLI && c < MILLI && e->strikes < THROTTLE_MAX_STRIKES)
        e->strikes++; /* ran empty: the next credits come back more slowly */
}

void throttle_failure(struct throttle *t, const struct throttle_params *p, const netaddr *addr,
                      uint64_t now_ms)
{
    struct tkey a, pfx;
    if (!keys_of(p, addr, &a, &pfx) || p->burst == 0 || p->prefix_burst == 0)
        return;
    take(p, find(t, p, &a, true, now_ms));
    take(p, find(t, p, &pfx, true, now_ms));
}

static void give(const struct throttle_params *p, struct entry *e, uint64_t now)
{
    if (!e)
        return;
    e->strikes = 0;
    e->credit += MILLI;
    refill(p, e, now); /* caps it, and forgets a full bucket */
}

void throttle_success(struct throttle *t, const struct throttle_params *p, const netaddr *addr,
                      uint64_t now_ms)
{
    struct tkey a, pfx;
    if (!keys_of(p, addr, &a, &pfx))
        return;
    give(p, find(t, p, &a, false, now_ms), now_ms);
    give(p, find(t, p, &pfx, false, now_ms), now_ms);
}

/* --- the known set --- */

struct throttle_known {
    uint64_t seed;
    unsigned log2_bits;
    _Atomic uint64_t *w;
};

struct throttle_known *throttle_known_new(unsigned log2_bits, uint64_t seed)
{
    if (log2_bits < 8 || log2_bits > 30)
        return NULL;
    struct throttle_known *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    size_t words = ((size_t)1 << log2_bits) / 64;
    k->w = calloc(words, sizeof(*k->w));
    if (!k->w) {
        free(k);
        return NULL;
    }
    for (size_t i = 0; i < words; i++)
        atomic_init(&k->w[i], 0);
    k->seed = seed;
    k->log2_bits = log2_bits;
    return k;
}

void throttle_known_free(struct throttle_known *k)
{
    if (!k)
        return;
    free((void *)k->w);
    free(k);
}

/* Probe i of id: double hashing over one 64-bit hash pair. */
static size_t probe(const struct throttle_known *k, uint64_t h1, uint64_t h2, unsigned i)
{
    return (size_t)((h1 + i * (h2 | 1)) & (((uint64_t)1 << k->log2_bits) - 1));
}

void throttle_known_add(struct throttle_known *k, const void *id, size_t len)
{
    uint64_t h1 = hash_bytes(k->seed, id, len), h2 = hash_fmix64(h1 ^ k->seed);
    for (unsigned i = 0; i < 3; i++) {
        size_t b = probe(k, h1, h2, i);
        atomic_fetch_or_explicit(&k->w[b / 64], (uint64_t)1 << (b % 64), memory_order_relaxed);
    }
}

bool throttle_known_has(const struct throttle_known *k, const void *id, size_t len)
{
    uint64_t h1 = hash_bytes(k->seed, id, len), h2 = hash_fmix64(h1 ^ k->seed);
    for (unsigned i = 0; i < 3; i++) {
        size_t b = probe(k, h1, h2, i);
        if (!(atomic_load_explicit(&k->w[b / 64], memory_order_relaxed) >> (b % 64) & 1))
            return false;
    }
    return true;
}
