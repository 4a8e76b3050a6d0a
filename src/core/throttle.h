/* throttle.h - login throttling without a clock or locks of its own (docs/credentials.md, "Login
 * throttling"): failure budgets per source address and per source prefix (/24 IPv4, /56 IPv6),
 * with backoff, in a table of fixed size; and a fixed-size set of the identities (GUIDs, console
 * user names) that have logged in since mpsd started, which keeps their argon2 checks first in
 * line for the auth pool.
 *
 * Budgets are token buckets of failure credits. Only checks that need argon2 are gated; a check
 * the verified-credential cache decides is never refused here. A source with less than one
 * credit is refused before argon2 runs; each argon2-verified wrong password takes one credit;
 * credits come back one per refill interval, which doubles every time the bucket runs empty
 * again without a success in between (THROTTLE_MAX_STRIKES doublings at most); every success
 * from the source gives one credit back and forgets the backoff. A bucket may go into debt (down
 * to -burst) when more checks were in flight than it had credits, so a burst of parallel
 * attempts is paid for afterwards. A bucket that refilled completely is forgotten.
 *
 * The table is set-associative (THROTTLE_WAYS entries per set, the set chosen by a keyed hash of
 * the address or prefix): an attacker with many addresses cannot grow it, only make it forget,
 * and it forgets the least throttled entries first (a full bucket before a blocked one).
 *
 * A struct throttle is not thread-safe: its user locks it (auth.c keeps several behind striped
 * mutexes). The known set is: its bits are atomics. */
#ifndef MPSD_CORE_THROTTLE_H
#define MPSD_CORE_THROTTLE_H

#include "netaddr.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define THROTTLE_WAYS        8
#define THROTTLE_MAX_STRIKES 6 /* the refill interval doubles at most 6 times: 64x */

struct throttle_params {
    uint32_t burst;            /* failure credits of one source address */
    uint32_t refill_ms;        /* one credit back per refill_ms (x2 per strike) */
    uint32_t prefix_burst;     /* the same for the source's prefix */
    uint32_t prefix_refill_ms; /* ... */
    uint8_t v4_prefix;         /* bits: 24 */
    uint8_t v6_prefix;         /* bits: 56 */
};

/* The defaults of the [devices] keys: 20 failures per address, one back every 3 s (20 a minute);
 * the /24 or /56 gets 4x the credits, refilled 4x as fast. docs/credentials.md explains them. */
#define THROTTLE_DEFAULT_BURST     20
#define THROTTLE_DEFAULT_REFILL_MS 3000
void throttle_params_default(struct throttle_params *p, uint32_t burst, uint32_t refill_ms);

enum throttle_verdict {
    THROTTLE_PASS,   /* argon2 may run */
    THROTTLE_SOURCE, /* the source address has no credit left */
    THROTTLE_PREFIX, /* the source's prefix has no credit left */
};

struct throttle;

/* A table of at least `entries` entries (rounded up to whole sets of THROTTLE_WAYS, a power of
 * two of them), hashed with `seed`. NULL when out of memory. */
struct throttle *throttle_new(size_t entries, uint64_t seed);
void throttle_free(struct throttle *t);

/* Whether a check from addr may run argon2 now. Changes nothing but refills; an address the
 * table does not hold passes. An address that is not IPv4 or IPv6 always passes. */
enum throttle_verdict throttle_admit(struct throttle *t, const struct throttle_params *p,
                                     const netaddr *addr, uint64_t now_ms);
/* argon2 said "wrong password" for a check from addr: one credit off the address and the prefix
 * (entries are made here, and only here). */
void throttle_failure(struct throttle *t, const struct throttle_params *p, const netaddr *addr,
                      uint64_t now_ms);
/* A login from addr succeeded (by argon2 or by the cache): one credit back, backoff forgotten. */
void throttle_success(struct throttle *t, const struct throttle_params *p, const netaddr *addr,
                      uint64_t now_ms);

size_t throttle_capacity(const struct throttle *t); /* entries */
size_t throttle_used(const struct throttle *t);     /* entries in use (a scan: tests, stats) */

/* A stable hash of addr's prefix (unkeyed), for picking a lock stripe: the address and its prefix
 * always get the same one. */
uint32_t throttle_prefix_hash(const struct throttle_params *p, const netaddr *addr);
/* Keyed hashes of addr and of its prefix (the same address/prefix rules as the budgets): false
 * when addr is neither IPv4 nor IPv6. The handshake shares (admission.c) use them. */
bool throttle_source_hashes(const struct throttle_params *p, const netaddr *addr, uint64_t seed,
                            uint64_t *addr_hash, uint64_t *prefix_hash);

/* --- the known set: identities that logged in since start (a Bloom filter, 3 probes) --- */
struct throttle_known;

/* 2^log2_bits bits (8..30). NULL when out of memory. */
struct throttle_known *throttle_known_new(unsigned log2_bits, uint64_t seed);
void throttle_known_free(struct throttle_known *k);
void throttle_known_add(struct throttle_known *k, const void *id, size_t len);
/* True when id was added (and, rarely, when it was not: a false positive only moves a check to
 * the first-in-line share of the pool, it never admits a login). */
bool throttle_known_has(const struct throttle_known *k, const void *id, size_t len);

#endif
