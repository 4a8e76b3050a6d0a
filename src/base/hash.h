/* hash.h - the one integer mixer mpsd's tables use (MurmurHash3's 64-bit finaliser): the
 * directory's shards and buckets, the login throttle's table. Keys an attacker chooses are mixed
 * with a per-table random seed by the caller. */
#ifndef MPSD_BASE_HASH_H
#define MPSD_BASE_HASH_H

#include <stdint.h>

static inline uint64_t hash_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

#endif
