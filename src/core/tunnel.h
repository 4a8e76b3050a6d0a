/* A device tunnel: the glue between one ring connection, its TLS session and its APF session.
 * Lives its whole life on the worker that accepted it. */
#ifndef MPSD_TUNNEL_H
#define MPSD_TUNNEL_H

#include "mpsd.h"

/* Listener callbacks; the listener's user pointer is the worker's struct wctx. */
extern const ring_conn_cbs tunnel_tls_cbs;
extern const ring_conn_cbs tunnel_plain_cbs;

/* Drain: send DISCONNECT to every tunnel of this worker and close it gracefully. */
void tunnel_drain_worker(struct wctx *wc);

/* Ask the worker that holds (tunnel_id, generation) to close it because the same GUID logged in
 * again elsewhere. [any thread] */
void tunnel_supersede(struct mpsd *m, const dir_entry *old, const char *new_peer);

#endif
