/* Process counters. Each worker owns one struct and is its only writer (relaxed atomic adds on
 * its own cache lines, so no locks and no sharing on the data path); the control thread sums
 * them for the periodic stats line and, later, the metrics endpoint. */
#ifndef MPSD_STATS_H
#define MPSD_STATS_H

#include "apf.h"

#include <stdatomic.h>
#include <stdint.h>

#define STATS_FIELDS(X)                                                                            \
    X(accepted, "connections accepted on a device listener")                                       \
    X(refused_tunnel_cap, "connections refused: max_tunnels reached")                              \
    X(refused_handshake_cap, "connections refused: max_handshakes in flight")                      \
    X(refused_draining, "connections refused while draining")                                      \
    X(tls_ok, "TLS handshakes completed")                                                          \
    X(tls_failed, "TLS handshakes failed")                                                         \
    X(timeout_handshake, "tunnels dropped: TLS handshake not done within handshake_timeout")       \
    X(timeout_login, "tunnels dropped: APF login not done within login_timeout")                   \
    X(timeout_idle, "tunnels dropped: silent for longer than keepalive_timeout")                   \
    X(auth_ok, "APF logins accepted")                                                              \
    X(auth_enrolled, "APF logins of unknown devices accepted by auto_enroll")                      \
    X(auth_bad_password, "APF logins refused: wrong password")                                     \
    X(auth_bad_username, "APF logins refused: wrong username for the device")                      \
    X(auth_unknown_device, "APF logins refused: unknown GUID")                                     \
    X(auth_busy, "APF logins refused: credential checks queue full")                               \
    X(auth_error, "APF logins refused: credential check failed internally")                        \
    X(apf_errors, "tunnels ended by an APF protocol error")                                        \
    X(peer_disconnects, "tunnels ended by the device's DISCONNECT")                                \
    X(superseded, "tunnels closed because the same GUID logged in again")                          \
    X(send_overflow, "tunnels dropped: more than max_buffered bytes queued toward the device")     \
    X(tunnels_ready, "tunnels that reached ready (forwards registered, keep-alive set)")           \
    X(closed, "device connections closed")

struct stats {
#define STATS_DECL(name, help) _Atomic uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    _Atomic uint64_t apf_error_by_code[APF_ERR_COUNT];
    _Atomic int64_t tunnels;    /* gauge: device connections held */
    _Atomic int64_t ready;      /* gauge: tunnels registered in the directory */
    _Atomic int64_t handshakes; /* gauge: TLS handshakes in flight on this worker */
} __attribute__((aligned(64)));

/* A plain copy for reading and summing. */
struct stats_snapshot {
#define STATS_DECL(name, help) uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    uint64_t apf_error_by_code[APF_ERR_COUNT];
    int64_t tunnels, ready, handshakes;
};

#define STAT_INC(st, field)    atomic_fetch_add_explicit(&(st)->field, 1, memory_order_relaxed)
#define STAT_ADD(st, field, n) atomic_fetch_add_explicit(&(st)->field, (n), memory_order_relaxed)

/* Adds s's current values into acc. */
void stats_accumulate(const struct stats *s, struct stats_snapshot *acc);
/* One line "tunnels=.. ready=.. accepted=.. ..." with every non-zero counter. */
void stats_format(const struct stats_snapshot *s, char *buf, size_t cap);

#endif
