/* admission.h - shares of max_handshakes per source address and per source prefix (/24, /56).
 *
 * A flood of connections that hold a TLS handshake slot (silent, slowloris, ClientHello floods)
 * would otherwise take every one of max_handshakes and leave genuine new devices a trickle (the
 * flood bench measured 0.6-2.4% of the unflooded connect rate). Each source address and each
 * prefix may hold at most its share of handshakes at once; beyond it, its new connections are
 * refused at accept (a RST, counted, logged). Shared by every worker without locks: two arrays
 * of atomic counters indexed by a keyed hash of the address and of the prefix. Two sources that
 * collide in a bucket share its count, which can only refuse early (never admit beyond a share);
 * with 65,536 buckets per array that takes thousands of concurrently handshaking sources. */
#ifndef MPSD_CORE_ADMISSION_H
#define MPSD_CORE_ADMISSION_H

#include "netaddr.h"

#include <stdint.h>

#define ADMISSION_BUCKETS 65536

struct admission;

struct admission *admission_new(void);
void admission_free(struct admission *a);

/* A handshake slot for src. 0 (taken: *slot names it for admission_put), 1 (the address' share
 * is full) or 2 (the prefix's share is full). A source that is neither IPv4 nor IPv6 always
 * gets one (slot 0). */
int admission_take(struct admission *a, const netaddr *src, uint32_t per_addr, uint32_t per_prefix,
                   uint64_t *slot);
void admission_put(struct admission *a, uint64_t slot);

#endif
