/* Process counters. Each worker owns one struct and is its only writer (relaxed atomic adds on
 * its own cache lines, so no locks and no sharing on the data path); the control thread sums
 * them for the periodic stats line and, later, the metrics endpoint. */
#ifndef MPSD_STATS_H
#define MPSD_STATS_H

#include "apf.h"

#include <stdatomic.h>
#include <stdint.h>

/* Metric families of the Prometheus exposition (src/admin/metrics.c): (id, name, help). Counters
 * below name their family and one label; a family may also be filled by the exporter itself
 * (gauges, histograms, per-worker ring figures), which then lists it in its own table. */
#define STATS_FAMILIES(F)                                                                          \
    F(FAM_DEV_ACCEPTED, "mpsd_device_connections_accepted_total",                                  \
      "Connections accepted on a device listener.")                                                \
    F(FAM_DEV_REFUSED, "mpsd_device_connections_refused_total",                                    \
      "Device connections refused at accept, by reason.")                                          \
    F(FAM_TLS, "mpsd_tls_handshakes_total", "TLS handshakes with devices, by result.")             \
    F(FAM_TIMEOUTS, "mpsd_tunnel_timeouts_total",                                                  \
      "Tunnels dropped by a deadline, by phase (keepalive: silent past keepalive_timeout).")       \
    F(FAM_LOGINS, "mpsd_apf_logins_total", "APF logins, by result.")                               \
    F(FAM_TUNNEL_CONNECTS, "mpsd_tunnel_connects_total",                                           \
      "Tunnels that reached ready (logged in, ports registered).")                                 \
    F(FAM_TUNNEL_ENDS, "mpsd_tunnel_disconnects_total",                                            \
      "Tunnels ended by the device or by mpsd, by reason (timeouts: mpsd_tunnel_timeouts_total).") \
    F(FAM_DEV_CLOSED, "mpsd_device_connections_closed_total", "Device connections closed.")        \
    F(FAM_CON_ACCEPTED, "mpsd_console_connections_accepted_total",                                 \
      "Console connections accepted on a proxy listener.")                                         \
    F(FAM_CON_REQUESTS, "mpsd_console_requests_total", "Console proxy requests, by protocol.")     \
    F(FAM_CON_LOGINS, "mpsd_console_logins_total", "Console logins, by result.")                   \
    F(FAM_CHAN_OPENS, "mpsd_channel_opens_total",                                                  \
      "Console channel opens (and requests refused before one), by result.")                       \
    F(FAM_CON_CLOSED, "mpsd_console_sessions_closed_total", "Console sessions closed.")            \
    F(FAM_CON_ABORTS, "mpsd_console_session_aborts_total",                                         \
      "Console sessions ended by mpsd, by reason.")                                                \
    F(FAM_BYTES, "mpsd_relayed_bytes_total", "Bytes relayed between consoles and devices.")        \
    F(FAM_DEV_CHAN, "mpsd_device_channel_opens_total",                                             \
      "Channels devices opened toward device_open_allow destinations, by result.")                 \
    F(FAM_ARGON2, "mpsd_auth_argon2_checks_total",                                                 \
      "Password checks that ran argon2id on the auth pool, by kind of login.")

enum stats_family {
#define STATS_FAM_ENUM(id, name, help) id,
    STATS_FAMILIES(STATS_FAM_ENUM)
#undef STATS_FAM_ENUM
        STATS_FAMILY_COUNT
};

/* (field, family, label, help): field is the counter's name in the stats log line; label is the
 * series' one label as 'key="value"' ("" for none). Adding a counter is one row here. */
#define STATS_FIELDS(X)                                                                            \
    X(accepted, FAM_DEV_ACCEPTED, "", "connections accepted on a device listener")                 \
    X(refused_tunnel_cap, FAM_DEV_REFUSED, "reason=\"max_tunnels\"",                               \
      "connections refused: max_tunnels reached")                                                  \
    X(refused_handshake_cap, FAM_DEV_REFUSED, "reason=\"max_handshakes\"",                         \
      "connections refused: max_handshakes in flight")                                             \
    X(refused_handshake_source, FAM_DEV_REFUSED, "reason=\"max_handshakes_per_source\"",           \
      "connections refused: the source address holds max_handshakes_per_source handshakes")        \
    X(refused_handshake_prefix, FAM_DEV_REFUSED, "reason=\"max_handshakes_per_prefix\"",           \
      "connections refused: the source's /24 or /56 holds max_handshakes_per_prefix handshakes")   \
    X(timeout_hello, FAM_TIMEOUTS, "phase=\"hello\"",                                              \
      "connections dropped: no complete ClientHello within hello_timeout")                         \
    X(refused_draining, FAM_DEV_REFUSED, "reason=\"draining\"",                                    \
      "connections refused while draining")                                                        \
    X(tls_ok, FAM_TLS, "result=\"ok\"", "TLS handshakes completed")                                \
    X(tls_failed, FAM_TLS, "result=\"failed\"", "TLS handshakes failed")                           \
    X(timeout_handshake, FAM_TIMEOUTS, "phase=\"handshake\"",                                      \
      "tunnels dropped: TLS handshake not done within handshake_timeout")                          \
    X(timeout_login, FAM_TIMEOUTS, "phase=\"login\"",                                              \
      "tunnels dropped: APF login not done within login_timeout")                                  \
    X(timeout_idle, FAM_TIMEOUTS, "phase=\"keepalive\"",                                           \
      "tunnels dropped: silent for longer than keepalive_timeout")                                 \
    X(auth_ok, FAM_LOGINS, "result=\"ok\"", "APF logins accepted")                                 \
    X(auth_enrolled, FAM_LOGINS, "result=\"enrolled\"",                                            \
      "APF logins of unknown devices accepted by auto_enroll")                                     \
    X(auth_bad_password, FAM_LOGINS, "result=\"bad_password\"",                                    \
      "APF logins refused: wrong password")                                                        \
    X(auth_bad_username, FAM_LOGINS, "result=\"bad_username\"",                                    \
      "APF logins refused: wrong username for the device")                                         \
    X(auth_unknown_device, FAM_LOGINS, "result=\"unknown_device\"",                                \
      "APF logins refused: unknown GUID")                                                          \
    X(auth_busy, FAM_LOGINS, "result=\"busy\"",                                                    \
      "APF logins refused: credential checks queue full")                                          \
    X(auth_error, FAM_LOGINS, "result=\"error\"",                                                  \
      "APF logins refused: credential check failed internally")                                    \
    X(auth_throttled_source, FAM_LOGINS, "result=\"throttled_source\"",                            \
      "APF logins refused before argon2: the source address has no failure credit left")           \
    X(auth_throttled_prefix, FAM_LOGINS, "result=\"throttled_prefix\"",                            \
      "APF logins refused before argon2: the source's /24 or /56 has no failure credit left")      \
    X(auth_throttled_pool, FAM_LOGINS, "result=\"throttled_pool\"",                                \
      "APF logins refused: never-verified checks filled their share of the auth pool")             \
    X(auth_argon2_device, FAM_ARGON2, "kind=\"device\"", "APF password checks that ran argon2id")  \
    X(auth_argon2_console, FAM_ARGON2, "kind=\"console\"",                                         \
      "console password checks that ran argon2id")                                                 \
    X(apf_errors, FAM_TUNNEL_ENDS, "reason=\"apf_error\"",                                         \
      "tunnels ended by an APF protocol error")                                                    \
    X(peer_disconnects, FAM_TUNNEL_ENDS, "reason=\"device_disconnect\"",                           \
      "tunnels ended by the device's DISCONNECT")                                                  \
    X(superseded, FAM_TUNNEL_ENDS, "reason=\"superseded\"",                                        \
      "tunnels closed because the same GUID logged in again")                                      \
    X(admin_disconnects, FAM_TUNNEL_ENDS, "reason=\"admin\"",                                      \
      "tunnels disconnected through the admin API")                                                \
    X(send_overflow, FAM_TUNNEL_ENDS, "reason=\"send_overflow\"",                                  \
      "tunnels dropped: more than max_buffered bytes queued toward the device")                    \
    X(tunnels_ready, FAM_TUNNEL_CONNECTS, "",                                                      \
      "tunnels that reached ready (forwards registered, keep-alive set)")                          \
    X(closed, FAM_DEV_CLOSED, "", "device connections closed")                                     \
    X(console_accepted, FAM_CON_ACCEPTED, "", "console connections accepted")                      \
    X(console_refused_cap, FAM_CHAN_OPENS, "result=\"max_consoles\"",                              \
      "console connections refused: max_consoles reached")                                         \
    X(console_socks5, FAM_CON_REQUESTS, "protocol=\"socks5\"", "console requests over SOCKS5")     \
    X(console_socks4, FAM_CON_REQUESTS, "protocol=\"socks4\"", "console requests over SOCKS4/4a")  \
    X(console_http_connect, FAM_CON_REQUESTS, "protocol=\"http_connect\"",                         \
      "console requests over HTTP CONNECT")                                                        \
    X(console_http_forward, FAM_CON_REQUESTS, "protocol=\"http_forward\"",                         \
      "console requests as absolute-URI HTTP proxy requests")                                      \
    X(console_bad_request, FAM_CHAN_OPENS, "result=\"bad_request\"",                               \
      "console requests refused: malformed proxy request")                                         \
    X(console_request_timeout, FAM_CHAN_OPENS, "result=\"request_timeout\"",                       \
      "console connections dropped: no request within request_timeout")                            \
    X(console_auth_ok, FAM_CON_LOGINS, "result=\"ok\"", "console logins accepted")                 \
    X(console_auth_failed, FAM_CON_LOGINS, "result=\"failed\"",                                    \
      "console logins refused: unknown user or wrong password")                                    \
    X(console_auth_missing, FAM_CON_LOGINS, "result=\"missing\"",                                  \
      "console requests refused: no credentials")                                                  \
    X(console_auth_busy, FAM_CON_LOGINS, "result=\"busy\"",                                        \
      "console logins refused: credential checks queue full")                                      \
    X(console_throttled_source, FAM_CON_LOGINS, "result=\"throttled_source\"",                     \
      "console logins refused before argon2: the source address has no failure credit left")       \
    X(console_throttled_prefix, FAM_CON_LOGINS, "result=\"throttled_prefix\"",                     \
      "console logins refused before argon2: the source's /24 or /56 has no credit left")          \
    X(console_throttled_pool, FAM_CON_LOGINS, "result=\"throttled_pool\"",                         \
      "console logins refused: never-verified checks filled their share of the auth pool")         \
    X(console_denied, FAM_CHAN_OPENS, "result=\"denied\"",                                         \
      "console channels refused by the user's ACL")                                                \
    X(console_unknown_device, FAM_CHAN_OPENS, "result=\"unknown_device\"",                         \
      "console channels refused: unknown or offline device")                                       \
    X(console_ambiguous, FAM_CHAN_OPENS, "result=\"ambiguous\"",                                   \
      "console channels refused: host name claimed by several devices")                            \
    X(console_port_unregistered, FAM_CHAN_OPENS, "result=\"port_unregistered\"",                   \
      "console channels refused: port not registered by the device")                               \
    X(console_open_refused, FAM_CHAN_OPENS, "result=\"device_refused\"",                           \
      "console channels the device refused (CHANNEL_OPEN_FAILURE)")                                \
    X(console_open_timeout, FAM_CHAN_OPENS, "result=\"timeout\"",                                  \
      "console channels not confirmed within open_timeout")                                        \
    X(console_cap, FAM_CHAN_OPENS, "result=\"max_consoles_per_device\"",                           \
      "console channels refused: max_consoles_per_device or channel table full")                   \
    X(console_channels, FAM_CHAN_OPENS, "result=\"ok\"", "console channels opened")                \
    X(console_idle_timeout, FAM_CON_ABORTS, "reason=\"idle_timeout\"",                             \
      "console sessions closed: idle for longer than idle_timeout")                                \
    X(console_closed, FAM_CON_CLOSED, "", "console sessions closed")                               \
    X(console_device_framing, FAM_CON_ABORTS, "reason=\"device_framing\"",                         \
      "console sessions closed: the device broke HTTP response framing")                           \
    X(console_relay_aborted, FAM_CON_ABORTS, "reason=\"relay_aborted\"",                           \
      "console sessions aborted: channel send failed or a bound exceeded")                         \
    X(console_bytes_up, FAM_BYTES, "direction=\"to_device\"",                                      \
      "bytes relayed from consoles to devices")                                                    \
    X(console_bytes_down, FAM_BYTES, "direction=\"to_console\"",                                   \
      "bytes relayed from devices to consoles")                                                    \
    X(device_open_allowed, FAM_DEV_CHAN, "result=\"allowed\"",                                     \
      "device-initiated channels accepted (destination in device_open_allow)")                     \
    X(device_open_refused, FAM_DEV_CHAN, "result=\"refused\"",                                     \
      "device-initiated channels refused: destination not allowed")                                \
    X(device_open_failed, FAM_DEV_CHAN, "result=\"unreachable\"",                                  \
      "device-initiated channels whose destination could not be reached")

/* Latency histograms (Prometheus buckets, in seconds on the wire, microseconds here). */
#define STATS_HISTS(H)                                                                             \
    H(HIST_HANDSHAKE, "mpsd_tls_handshake_duration_seconds",                                       \
      "Device TLS handshakes, from accept to handshake done.")                                     \
    H(HIST_LOGIN, "mpsd_apf_login_duration_seconds",                                               \
      "APF logins, from TLS up to the login answer (credential check included).")                  \
    H(HIST_CHANNEL_OPEN, "mpsd_channel_open_duration_seconds",                                     \
      "Console channel opens, from CHANNEL_OPEN sent to the device's confirmation.")

enum stats_hist {
#define STATS_HIST_ENUM(id, name, help) id,
    STATS_HISTS(STATS_HIST_ENUM)
#undef STATS_HIST_ENUM
        STATS_HIST_COUNT
};

/* Console sessions by protocol and result (mpsd_console_sessions_total{protocol,result}): the
 * result of a session's request phase, ok or the error its console was answered with. The order
 * of results after ok is console_int.h's enum cerr. */
#define STATS_CONSOLE_PROTOS(P) P(socks5) P(socks4) P(http_connect) P(http_forward)
#define STATS_CONSOLE_RESULTS(R)                                                                   \
    R(ok)                                                                                          \
    R(auth_failed)                                                                                 \
    R(no_credentials)                                                                              \
    R(denied)                                                                                      \
    R(unknown_device) R(ambiguous) R(port_unregistered) R(device_refused) R(timeout) R(cap)        \
        R(busy) R(bad_request) R(internal)
#define STATS_COUNT_ONE(x)         +1
#define STATS_CONSOLE_PROTO_COUNT  (0 STATS_CONSOLE_PROTOS(STATS_COUNT_ONE))
#define STATS_CONSOLE_RESULT_COUNT (0 STATS_CONSOLE_RESULTS(STATS_COUNT_ONE))

#define STATS_HIST_BUCKETS 16
/* Upper bounds in microseconds: 100us .. 10s. */
extern const uint64_t stats_hist_bounds_us[STATS_HIST_BUCKETS];

struct stats {
#define STATS_DECL(name, fam, label, help) _Atomic uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    _Atomic uint64_t apf_error_by_code[APF_ERR_COUNT];
    _Atomic int64_t tunnels;    /* gauge: device connections held */
    _Atomic int64_t ready;      /* gauge: tunnels registered in the directory */
    _Atomic int64_t handshakes; /* gauge: TLS handshakes in flight on this worker */
    _Atomic int64_t consoles;   /* gauge: console sessions on this worker */
    /* per bucket (not cumulative; the last is +Inf), and the sum of observations */
    _Atomic uint64_t hist[STATS_HIST_COUNT][STATS_HIST_BUCKETS + 1];
    _Atomic uint64_t hist_sum_us[STATS_HIST_COUNT];
    _Atomic uint64_t console_sessions[STATS_CONSOLE_PROTO_COUNT][STATS_CONSOLE_RESULT_COUNT];
} __attribute__((aligned(64)));

/* A plain copy for reading and summing. */
struct stats_snapshot {
#define STATS_DECL(name, fam, label, help) uint64_t name;
    STATS_FIELDS(STATS_DECL)
#undef STATS_DECL
    uint64_t apf_error_by_code[APF_ERR_COUNT];
    int64_t tunnels, ready, handshakes, consoles;
    uint64_t hist[STATS_HIST_COUNT][STATS_HIST_BUCKETS + 1];
    uint64_t hist_sum_us[STATS_HIST_COUNT];
    uint64_t console_sessions[STATS_CONSOLE_PROTO_COUNT][STATS_CONSOLE_RESULT_COUNT];
};

#define STAT_INC(st, field)    atomic_fetch_add_explicit(&(st)->field, 1, memory_order_relaxed)
#define STAT_ADD(st, field, n) atomic_fetch_add_explicit(&(st)->field, (n), memory_order_relaxed)

/* Records one observation of us microseconds (the owning worker only). */
void stats_observe(struct stats *s, enum stats_hist h, uint64_t us);
/* CLOCK_MONOTONIC in microseconds (for durations). */
uint64_t stats_now_us(void);

/* Adds s's current values into acc. */
void stats_accumulate(const struct stats *s, struct stats_snapshot *acc);
/* One line "tunnels=.. ready=.. accepted=.. ..." with every non-zero counter. */
void stats_format(const struct stats_snapshot *s, char *buf, size_t cap);

#endif
