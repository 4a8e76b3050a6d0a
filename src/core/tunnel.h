/* A device tunnel: the glue between one ring connection, its TLS session and its APF session.
 * Lives its whole life on the worker that accepted it. The calls below the listener tables are
 * what a channel end (console.h) uses; all of them run on the tunnel's worker only. */
#ifndef MPSD_TUNNEL_H
#define MPSD_TUNNEL_H

#include "mpsd.h"

#include <sys/types.h>

struct tunnel;

/* What sits at the local side of one APF channel: a console session or a device-initiated
 * connection. Embedded in its owner; the tunnel calls ops for the channel's events. */
struct chan_end;
struct chan_end_ops {
    void (*opened)(struct chan_end *e);                           /* CHANNEL_OPEN_CONFIRMATION */
    void (*open_failed)(struct chan_end *e, uint32_t reason);     /* detached already */
    void (*data)(struct chan_end *e, const uint8_t *p, size_t n); /* report with consumed() */
    void (*writable)(struct chan_end *e);                         /* a short send may go on */
    /* the channel is gone (both CLOSEs, or the tunnel ended); detached already */
    void (*closed)(struct chan_end *e, const char *why);
};

struct chan_end {
    const struct chan_end_ops *ops;
    struct tunnel *t; /* NULL when detached */
    uint32_t id;      /* APF channel id while attached */
    struct chan_end *prev, *next;
    bool blocked; /* waits for the tunnel's send queue */
    bool console; /* counts toward max_consoles_per_device */
};

/* Listener callbacks; the listener's user pointer is the worker's struct wctx. */
extern const ring_conn_cbs tunnel_tls_cbs;
extern const ring_conn_cbs tunnel_plain_cbs;

/* Drain: send DISCONNECT to every tunnel of this worker and close it gracefully. */
void tunnel_drain_worker(struct wctx *wc);

/* Ask the worker that holds (tunnel_id, generation) to close it because the same GUID logged in
 * again elsewhere. [any thread] */
void tunnel_supersede(struct mpsd *m, const dir_entry *old, const char *new_peer);

/* The ready, open tunnel the directory names by (connection id, generation) on this worker, or
 * NULL (gone, superseded, closing). */
struct tunnel *tunnel_lookup(struct wctx *wc, uint64_t conn_id, uint64_t generation);
const guid *tunnel_guid(const struct tunnel *t);
const char *tunnel_guid_str(const struct tunnel *t);
const char *tunnel_peer(const struct tunnel *t); /* the device's address, "ip:port" */

/* Switches the APF hex dumps (docs/logging.md) of the ready tunnel (conn_id, serial) on or off,
 * in addition to those log_level = debug makes of every tunnel: hex+ASCII lines at info level
 * with guid, peer and dir=in/out. Nothing happens when the tunnel is gone. [the tunnel's worker;
 * other threads post it through the worker's mailbox] */
void tunnel_set_hexdump(struct wctx *wc, uint64_t conn_id, uint64_t serial, bool on);
const char *tunnel_hostname(const struct tunnel *t); /* "" when it named none */
const char *tunnel_group(const struct tunnel *t);    /* credential group, or NULL */
unsigned tunnel_nconsoles(const struct tunnel *t);
bool tunnel_has_port(const struct tunnel *t, uint16_t port);

/* Channel calls (apf_err results). open attaches e; send honours the tunnel's send queue: it
 * returns 0 and marks e blocked when the queue is at max_buffered (writable follows once it
 * drains), else what the channel took (< n: writable follows when the window opens). detach is
 * for an end that goes away first: its channel is closed and forgets it. */
int tunnel_channel_open(struct tunnel *t, struct chan_end *e, uint16_t port);
ssize_t tunnel_channel_send(struct tunnel *t, struct chan_end *e, const uint8_t *p, size_t n);
int tunnel_channel_consumed(struct tunnel *t, struct chan_end *e, size_t n);
int tunnel_channel_close(struct tunnel *t, struct chan_end *e);
void tunnel_detach(struct tunnel *t, struct chan_end *e);

#endif
