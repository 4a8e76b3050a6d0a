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
    X(closed, "device connections closed")                                                         \
    X(console_accepted, "console connections accepted")                                            \
    X(console_refused_cap, "console connections refused: max_consoles reached")                    \
    X(console_socks5, "console requests over SOCKS5")                                              \
    X(console_socks4, "console requests over SOCKS4/4a")                                           \
    X(console_http_connect, "console requests over HTTP CONNECT")                                  \
    X(console_http_forward, "console requests as absolute-URI HTTP proxy requests")                \
    X(console_bad_request, "console requests refused: malformed proxy request")                    \
    X(console_request_timeout, "console connections dropped: no request within request_timeout")   \
    X(console_auth_ok, "console logins accepted")                                                  \
    X(console_auth_failed, "console logins refused: unknown user or wrong password")               \
    X(console_auth_missing, "console requests refused: no credentials")                            \
    X(console_auth_busy, "console logins refused: credential checks queue full")                   \
    X(console_denied, "console channels refused by the user's ACL")                                \
    X(console_unknown_device, "console channels refused: unknown or offline device")               \
    X(console_ambiguous, "console channels refused: host name claimed by several devices")         \
    X(console_port_unregistered, "console channels refused: port not registered by the device")    \
    X(console_open_refused, "console channels the device refused (CHANNEL_OPEN_FAILURE)")          \
    X(console_open_timeout, "console channels not confirmed within open_timeout")                  \
    X(console_cap, "console channels refused: max_consoles_per_device or channel table full")      \
    X(console_channels, "console channels opened")                                                 \
    X(console_idle_timeout, "console sessions closed: idle for longer than idle_timeout")          \
    X(console_closed, "console sessions closed")                                                   \
    X(console_device_framing, "console sessions closed: the device broke HTTP response framing")   \
    X(console_relay_aborted, "console sessions aborted: channel send failed or a bound exceeded")  \
    X(console_bytes_up, "bytes relayed from consoles to devices")                                  \
    X(console_bytes_down, "bytes relayed from devices to consoles")                                \
    X(device_open_allowed,                                                                         \
      "device-initiated channels accepted (destination in device_open_allow)")                     \
    X(device_open_refused, "device-initiated channels refused: destination not allowed")           \
    X(device_open_failed, "device-initiated channels whose destination could not be reached")

struct stats {
#define STATS_DECL(name, help) _Atomic uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    _Atomic uint64_t apf_error_by_code[APF_ERR_COUNT];
    _Atomic int64_t tunnels;    /* gauge: device connections held */
    _Atomic int64_t ready;      /* gauge: tunnels registered in the directory */
    _Atomic int64_t handshakes; /* gauge: TLS handshakes in flight on this worker */
    _Atomic int64_t consoles;   /* gauge: console sessions on this worker */
} __attribute__((aligned(64)));

/* A plain copy for reading and summing. */
struct stats_snapshot {
#define STATS_DECL(name, help) uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    uint64_t apf_error_by_code[APF_ERR_COUNT];
    int64_t tunnels, ready, handshakes, consoles;
};

#define STAT_INC(st, field)    atomic_fetch_add_explicit(&(st)->field, 1, memory_order_relaxed)
#define STAT_ADD(st, field, n) atomic_fetch_add_explicit(&(st)->field, (n), memory_order_relaxed)

/* Adds s's current values into acc. */
void stats_accumulate(const struct stats *s, struct stats_snapshot *acc);
/* One line "tunnels=.. ready=.. accepted=.. ..." with every non-zero counter. */
void stats_format(const struct stats_snapshot *s, char *buf, size_t cap);

#endif
