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

#include <stdatomic.h>
#include <stdbool.h>

struct mpsd;

/* A worker's own state (index = ring_worker_index). Touched only on its thread, except the stats,
 * which the control thread reads. */
struct wctx {
    struct mpsd *m;
    ring_worker *w;
    unsigned index;
    uint64_t serial;     /* tunnel generations handed out by this worker */
    struct tunnel *head; /* every device tunnel this worker holds */
    uint64_t plog_sec, plog_count, plog_suppressed; /* peer_log_ok's budget (tunnel.c) */
    struct stats stats;
};

struct mpsd {
    struct config cfg;
    const char *config_path;
    struct tls_ctx_slot *tls; /* NULL when no TLS listener is configured */
    bool tls_inited;
    creds_slot creds;
    dir *directory;
    struct jobpool *auth_pool;
    ring_t *ring;
    struct wctx *workers;
    unsigned nworkers;
    /* Caps over the whole process: tunnels held and TLS handshakes in flight. */
    _Atomic int64_t tunnels;
    _Atomic int64_t handshakes;
    _Atomic bool draining;
    _Atomic bool auto_enroll; /* reloadable: read by workers at each unknown-GUID login */
};

#endif
