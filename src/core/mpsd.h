/* The process' shared state: what the control thread sets up and every worker reads. Written only
 * before the workers start and through the reload slots (tls_ctx_slot, creds_slot), which hand out
 * references, so workers never see a half-built or freed object. */
#ifndef MPSD_MPSD_H
#define MPSD_MPSD_H

#include "config.h"
#include "creds.h"
#include "directory.h"
#include "jobpool.h"
#include "ring.h"
#include "stats.h"
#include "tls.h"
#include "users.h"

#include <stdatomic.h>
#include <stdbool.h>

struct mpsd;
struct admin;
struct event_bus;

/* Bytes per bounded receive (consoles): the ring's second buffer group (ring_config.rx_big_size).
 */
#define MPSD_CONSOLE_RECV_SIZE 65536

/* A worker's own state (index = ring_worker_index). Touched only on its thread, except the stats,
 * which the control thread reads. */
struct wctx {
    struct mpsd *m;
    ring_worker *w;
    unsigned index;
    uint64_t serial;       /* tunnel generations handed out by this worker */
    struct tunnel *head;   /* every device tunnel this worker holds */
    struct console *chead; /* every console session (and device-initiated connection) here */
    uint64_t plog_sec, plog_count, plog_suppressed; /* peer_log_ok's budget (tunnel.c) */
    struct stats stats;
};

struct mpsd {
    struct config cfg;
    const char *config_path;
    struct tls_ctx_slot *tls;    /* NULL when no TLS listener is configured */
    struct tls_tickets *tickets; /* session ticket keys of every device TLS context */
    bool tls_inited;
    creds_slot creds;
    users_slot users; /* console users and ACLs (reloadable) */
    dir *directory;
    struct jobpool *auth_pool;
    struct admission *admission; /* handshake shares per source address and prefix */
    ring_t *ring;
    struct wctx *workers;
    unsigned nworkers;
    struct admin *admin;      /* the admin HTTP surface, NULL when [admin] listen is unset */
    struct event_bus *events; /* device events for /api/v1/events (workers produce) */
    /* Caps over the whole process: tunnels held and TLS handshakes in flight. */
    _Atomic int64_t tunnels;
    _Atomic int64_t handshakes;
    _Atomic int64_t consoles; /* console sessions held, for max_consoles */
    _Atomic bool draining;
    _Atomic bool auto_enroll; /* reloadable: read by workers at each unknown-GUID login */
};

/* Lines about refused or failing peers are what an attacker controls: each worker writes at most
 * 100 of them a second and then says how many it held back (tunnel.c). The counters stay exact. */
bool wctx_peer_log_ok(struct wctx *wc);

#endif
