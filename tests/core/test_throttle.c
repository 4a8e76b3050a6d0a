/* Login throttling (src/core/throttle.c): budgets, backoff, refill by success, prefix aggregation
 * for IPv4 and IPv6, the eviction bound, and a hostile many-address input. Time is passed in. */
#include "throttle.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static netaddr A(const char *host)
{
    netaddr a;
    cr_assert_eq(netaddr_from_host(host, strlen(host), 4433, &a), 0, "%s", host);
    return a;
}

static netaddr V4(uint32_t x) /* host order */
{
    char s[32];
    snprintf(s, sizeof s, "%u.%u.%u.%u", x >> 24, (x >> 16) & 255, (x >> 8) & 255, x & 255);
    return A(s);
}

/* burst 5 per address, one back per second; prefix 20, one back per 250 ms */
static struct throttle_params P(void) {
    struct throttle_params p;
    throttle_params_default(&p, 5, 1000);
    return p;
}

/* Failures until the address is refused; returns how many were taken. */
static int
fail_until_refused(struct throttle *t, const struct throttle_params *p, const netaddr *a,
                   uint64_t now, int max)
{
    int n = 0;
    while (n < max && throttle_admit(t, p, a, now) == THROTTLE_PASS) {
        throttle_failure(t, p, a, now);
        n++;
    }
    return n;
}

Test(throttle, defaults)
{
    struct throttle_params p;
    throttle_params_default(&p, THROTTLE_DEFAULT_BURST, THROTTLE_DEFAULT_REFILL_MS);
    cr_assert_eq(p.burst, 20);
    cr_assert_eq(p.refill_ms, 3000);
    cr_assert_eq(p.prefix_burst, 80);
    cr_assert_eq(p.prefix_refill_ms, 750);
    cr_assert_eq(p.v4_prefix, 24);
    cr_assert_eq(p.v6_prefix, 56);
}

Test(throttle, budget_per_address)
{
    struct throttle *t = throttle_new(1024, 1);
    struct throttle_params p = P();
    netaddr a = A("192.0.2.1"), b = A("192.0.2.2");
    cr_assert_eq(throttle_admit(t, &p, &a, 1000), THROTTLE_PASS, "an unknown source passes");
    cr_assert_eq(throttle_used(t), 0, "admit makes no entry");
    cr_assert_eq(fail_until_refused(t, &p, &a, 1000, 100), 5, "burst 5");
    cr_assert_eq(throttle_admit(t, &p, &a, 1000), THROTTLE_SOURCE);
    cr_assert_eq(throttle_admit(t, &p, &b, 1000), THROTTLE_PASS, "a neighbour keeps its own");
    /* one credit back after one refill interval (first strike: the base interval) */
    cr_assert_eq(throttle_admit(t, &p, &a, 1999), THROTTLE_SOURCE);
    cr_assert_eq(throttle_admit(t, &p, &a, 2000), THROTTLE_PASS);
    throttle_free(t);
}

Test(throttle, backoff_doubles_and_is_capped)
{
    struct throttle *t = throttle_new(1024, 2);
    struct throttle_params p = P();
    p.prefix_burst = 1000000; /* only the address matters here */
    netaddr a = A("198.51.100.7");
    uint64_t now = 0;
    fail_until_refused(t, &p, &a, now, 100);
    /* each time it runs empty again the next credit takes twice as long: 1, 2, 4, ... 32, 32 s */
    uint64_t expect[] = {1000, 2000, 4000, 8000, 16000, 32000, 32000, 32000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        cr_assert_eq(throttle_admit(t, &p, &a, now + expect[i] - 1), THROTTLE_SOURCE, "step %zu",
                     i);
        now += expect[i];
        cr_assert_eq(throttle_admit(t, &p, &a, now), THROTTLE_PASS, "step %zu", i);
        throttle_failure(t, &p, &a, now);
        cr_assert_eq(throttle_admit(t, &p, &a, now), THROTTLE_SOURCE, "step %zu", i);
    }
    throttle_free(t);
}

Test(throttle, debt_from_parallel_checks)
{
    struct throttle *t = throttle_new(1024, 3);
    struct throttle_params p = P();
    p.prefix_burst = 1000000;
    netaddr a = A("203.0.113.9");
    /* 8 checks admitted at once (all in flight before any answer), all wrong: 3 in debt */
    for (int i = 0; i < 8; i++)
        cr_assert_eq(throttle_admit(t, &p, &a, 0), THROTTLE_PASS);
    for (int i = 0; i < 8; i++)
        throttle_failure(t, &p, &a, 0);
    /* from -3 to 1 credit: 4 intervals of 1 s (one strike) */
    cr_assert_eq(throttle_admit(t, &p, &a, 3999), THROTTLE_SOURCE);
    cr_assert_eq(throttle_admit(t, &p, &a, 4000), THROTTLE_PASS);
    /* the debt is floored at -burst: 100 more failures cost no more than 5 */
    for (int i = 0; i < 100; i++)
        throttle_failure(t, &p, &a, 4000);
    cr_assert_eq(throttle_admit(t, &p, &a, 4000 + 12000 - 1), THROTTLE_SOURCE);
    cr_assert_eq(throttle_admit(t, &p, &a, 4000 + 12000), THROTTLE_PASS); /* 6 x 2 s */
    throttle_free(t);
}

Test(throttle, success_refills_and_forgets_backoff)
{
    struct throttle *t = throttle_new(1024, 4);
    struct throttle_params p = P();
    netaddr nat = A("192.0.2.50");
    /* a NATed fleet: one misprovisioned device fails now and then, the others log in */
    for (int round = 0; round < 1000; round++) {
        cr_assert_eq(throttle_admit(t, &p, &nat, 0), THROTTLE_PASS, "round %d", round);
        throttle_failure(t, &p, &nat, 0);
        throttle_success(t, &p, &nat, 0);
    }
    /* success gives back what failure took, and no more than the burst */
    cr_assert_eq(throttle_used(t), 0, "full buckets are forgotten");
    cr_assert_eq(fail_until_refused(t, &p, &nat, 0, 100), 5);
    /* a success from a blocked source (a cache hit) unblocks it by one credit */
    throttle_success(t, &p, &nat, 0);
    cr_assert_eq(throttle_admit(t, &p, &nat, 0), THROTTLE_PASS);
    throttle_failure(t, &p, &nat, 0);
    cr_assert_eq(throttle_admit(t, &p, &nat, 0), THROTTLE_SOURCE);
    /* and resets the backoff: run empty three more times (intervals 1, 2, 4 s: the next is 8 s) */
    uint64_t now = 0;
    for (uint64_t wait = 1000; wait <= 4000; wait *= 2) {
        now += wait;
        cr_assert_eq(throttle_admit(t, &p, &nat, now), THROTTLE_PASS);
        throttle_failure(t, &p, &nat, now);
    }
    cr_assert_eq(throttle_admit(t, &p, &nat, now + 7999), THROTTLE_SOURCE);
    throttle_success(t, &p, &nat, now); /* one credit, backoff forgotten */
    cr_assert_eq(throttle_admit(t, &p, &nat, now), THROTTLE_PASS);
    throttle_failure(t, &p, &nat, now);
    cr_assert_eq(throttle_admit(t, &p, &nat, now + 999), THROTTLE_SOURCE);
    cr_assert_eq(throttle_admit(t, &p, &nat, now + 1000), THROTTLE_PASS, "base interval again");
    throttle_free(t);
}

Test(throttle, full_refill_forgets_entry)
{
    struct throttle *t = throttle_new(1024, 5);
    struct throttle_params p = P();
    netaddr a = A("192.0.2.77");
    throttle_failure(t, &p, &a, 0);
    cr_assert_eq(throttle_used(t), 2, "the address and its /24");
    cr_assert_eq(throttle_admit(t, &p, &a, 1000), THROTTLE_PASS);
    cr_assert_eq(throttle_used(t), 0, "refilled: both forgotten");
    throttle_free(t);
}

Test(throttle, ipv4_prefix_aggregates_a_slash24)
{
    struct throttle *t = throttle_new(4096, 6);
    struct throttle_params p = P(); /* prefix burst 20 */
    /* 40 addresses of one /24, 1 failure each: the /24 runs out after 20 */
    int refused = 0, admitted = 0;
    for (uint32_t i = 1; i <= 40; i++) {
        netaddr a = V4(0xc0000200u + i); /* 192.0.2.i */
        enum throttle_verdict v = throttle_admit(t, &p, &a, 0);
        if (v == THROTTLE_PASS) {
            admitted++;
            throttle_failure(t, &p, &a, 0);
        } else {
            cr_assert_eq(v, THROTTLE_PREFIX);
            refused++;
        }
    }
    cr_assert_eq(admitted, 20);
    cr_assert_eq(refused, 20);
    netaddr other = A("192.0.3.1"); /* the next /24 is another prefix */
    cr_assert_eq(throttle_admit(t, &p, &other, 0), THROTTLE_PASS);
    /* the prefix refills 4x as fast as an address: one back after 250 ms */
    netaddr fresh = A("192.0.2.200");
    cr_assert_eq(throttle_admit(t, &p, &fresh, 249), THROTTLE_PREFIX);
    cr_assert_eq(throttle_admit(t, &p, &fresh, 250), THROTTLE_PASS);
    /* an IPv4-mapped IPv6 peer is the same IPv4 source */
    netaddr mapped = A("::ffff:192.0.2.201");
    cr_assert_eq(throttle_admit(t, &p, &mapped, 0), THROTTLE_PREFIX);
    throttle_free(t);
}

Test(throttle, ipv6_prefix_is_slash56)
{
    struct throttle *t = throttle_new(4096, 7);
    struct throttle_params p = P();
    char s[64];
    /* 20 addresses spread over the /64s inside one /56 exhaust it */
    for (int i = 0; i < 20; i++) {
        snprintf(s, sizeof s, "2001:db8:0:ab%02x::%x", i, i + 1);
        netaddr a = A(s);
        cr_assert_eq(throttle_admit(t, &p, &a, 0), THROTTLE_PASS, "%s", s);
        throttle_failure(t, &p, &a, 0);
    }
    netaddr same56 = A("2001:db8:0:abff::1234"), next56 = A("2001:db8:0:ac00::1");
    cr_assert_eq(throttle_admit(t, &p, &same56, 0), THROTTLE_PREFIX);
    cr_assert_eq(throttle_admit(t, &p, &next56, 0), THROTTLE_PASS);
    /* and an IPv6 address on its own has the address budget */
    netaddr one = A("2001:db8:1::1");
    cr_assert_eq(fail_until_refused(t, &p, &one, 0, 100), 5);
    cr_assert_eq(throttle_admit(t, &p, &one, 0), THROTTLE_SOURCE);
    throttle_free(t);
}

Test(throttle, no_address_passes)
{
    struct throttle *t = throttle_new(64, 8);
    struct throttle_params p = P();
    netaddr none = {0};
    throttle_failure(t, &p, &none, 0);
    cr_assert_eq(throttle_admit(t, &p, &none, 0), THROTTLE_PASS);
    cr_assert_eq(throttle_admit(t, &p, NULL, 0), THROTTLE_PASS);
    cr_assert_eq(throttle_used(t), 0);
    throttle_free(t);
}

Test(throttle, hostile_many_addresses_keep_memory_fixed)
{
    struct throttle *t = throttle_new(1000, 9);
    size_t cap = throttle_capacity(t);
    cr_assert_eq(cap, 1024, "rounded up to a power of two of 8-way sets");
    struct throttle_params p = P();
    /* a blocked source first */
    netaddr victim = A("198.51.100.1");
    fail_until_refused(t, &p, &victim, 0, 100);
    cr_assert_eq(throttle_admit(t, &p, &victim, 0), THROTTLE_SOURCE);
    /* then 1,000,000 failures from the 16,384 addresses of 64 /24s (the /24s run dry) and from
     * 1,000,000 IPv6 addresses of one /64 */
    for (uint32_t i = 0; i < 1000000; i++) {
        netaddr a = V4(0x0a000000u + (i % 16384));
        throttle_failure(t, &p, &a, 0);
        if (i % 65536 == 0)
            cr_assert_leq(throttle_used(t), cap);
    }
    cr_assert_leq(throttle_used(t), cap, "the table never grows");
    char s[64];
    for (uint32_t i = 0; i < 1000000; i++) {
        snprintf(s, sizeof s, "2001:db8:0:1::%x:%x", i >> 16, i & 0xffff);
        netaddr a = A(s);
        throttle_failure(t, &p, &a, 0);
    }
    cr_assert_leq(throttle_used(t), cap);
    /* the blocked source is not what gets forgotten: fresh single failures go first */
    cr_assert_eq(throttle_admit(t, &p, &victim, 0), THROTTLE_SOURCE,
                 "a flood of new addresses must not wash out a blocked one");
    netaddr in64 = A("2001:db8:0:1::abcd:1");
    cr_assert_eq(throttle_admit(t, &p, &in64, 0), THROTTLE_PREFIX, "the /56 is dry");
    /* 200,000 /56s with one failure each: still bounded, and the dry entries stay */
    for (uint32_t i = 0; i < 200000; i++) {
        snprintf(s, sizeof s, "2001:db8:%x:%x00::1", (i >> 8) & 0xffff, i & 0xff);
        netaddr a = A(s);
        throttle_failure(t, &p, &a, 0);
    }
    cr_assert_leq(throttle_used(t), cap);
    cr_assert_eq(throttle_admit(t, &p, &victim, 0), THROTTLE_SOURCE);
    throttle_free(t);
}

Test(throttle, known_set)
{
    struct throttle_known *k = throttle_known_new(20, 42);
    cr_assert_not_null(k);
    uint8_t id[17] = {0};
    for (uint32_t i = 0; i < 10000; i++) {
        memcpy(id + 1, &i, sizeof i);
        throttle_known_add(k, id, sizeof id);
    }
    for (uint32_t i = 0; i < 10000; i++) {
        memcpy(id + 1, &i, sizeof i);
        cr_assert(throttle_known_has(k, id, sizeof id), "%u", i);
    }
    int fp = 0;
    for (uint32_t i = 10000; i < 110000; i++) {
        memcpy(id + 1, &i, sizeof i);
        fp += throttle_known_has(k, id, sizeof id);
    }
    /* 3 probes, 10k in 1 Mi bits: ~2e-5 expected */
    cr_assert_lt(fp, 50, "false positives: %d of 100000", fp);
    id[0] = 1; /* another kind, same bytes */
    uint32_t zero = 0;
    memcpy(id + 1, &zero, sizeof zero);
    cr_assert_not(throttle_known_has(k, id, sizeof id));
    cr_assert_null(throttle_known_new(7, 1));
    throttle_known_free(k);
}
