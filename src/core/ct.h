/* ct.h - constant-time helpers for comparing and wiping secrets.
 *
 * Header-only so that every user inlines them; the compiler barrier keeps the optimiser from
 * turning the accumulate-then-test loops back into early-exit comparisons.
 */
#ifndef MPSD_CORE_CT_H
#define MPSD_CORE_CT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Hides a value from the optimiser so that it cannot reason about the loop that produced it. */
static inline uint32_t ct_barrier(uint32_t v)
{
    __asm__ volatile("" : "+r"(v));
    return v;
}

/* true when a[0..n) == b[0..n); the time depends on n only, never on where the bytes differ. */
static inline bool ct_memeq(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint32_t diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (uint32_t)(x[i] ^ y[i]);
    return ct_barrier(diff) == 0;
}

/* Compares a presented byte string with a stored one of at most cap bytes (stored is padded with
 * zeros to cap). The time depends on cap only: neither the stored length nor the first differing
 * byte shows. A presented string longer than cap never matches (and is still scanned up to cap). */
static inline bool ct_bufeq(const uint8_t *stored, size_t stored_len, size_t cap, const void *given,
                            size_t given_len)
{
    const volatile uint8_t *g = given;
    uint32_t diff = (uint32_t)(stored_len != given_len) | (uint32_t)(given_len > cap);
    for (size_t i = 0; i < cap; i++) {
        uint8_t gb = i < given_len ? g[i] : 0;
        diff |= (uint32_t)(stored[i] ^ gb);
    }
    return ct_barrier(diff) == 0;
}

/* Wipes a secret; explicit_bzero is not elided even when the buffer is freed right after. */
static inline void ct_wipe(void *p, size_t n)
{
    if (p && n)
        explicit_bzero(p, n);
}

#endif
