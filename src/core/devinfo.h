/* devinfo.h - what the admin surface may learn about the tunnels a worker holds, and what it may
 * ask a worker to do to one. Every function here runs on the worker that owns the tunnels (the
 * admin thread posts them through the worker's mailbox); none walks another thread's tables. */
#ifndef MPSD_CORE_DEVINFO_H
#define MPSD_CORE_DEVINFO_H

#include "guid.h"
#include "netaddr.h"
#include "route.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wctx;

#define DEVINFO_PORTS 16

struct dev_info {
    guid guid;
    char hostname[256]; /* as the device registered it, sanitised for output; "" if none */
    uint32_t ports[DEVINFO_PORTS];
    unsigned nports;
    netaddr peer;
    int64_t connected_since; /* Unix seconds of the login */
    uint16_t tls_version;    /* 0: plain APF (TLS offloaded) */
    uint16_t tls_suite;
    bool tls_resumed;
    unsigned channels; /* channels open on the tunnel (console sessions, device-initiated) */
    uint64_t bytes_from_device, bytes_to_device; /* APF bytes on the tunnel (after TLS) */
    bool hexdump;
    uint32_t worker;
    uint64_t conn_id, serial;
};

/* Fills out[0..cap) with this worker's ready tunnels that match q and whose GUID sorts after
 * q->after (when set), keeping the cap smallest GUIDs in GUID byte order. Returns how many. */
size_t devinfo_list(struct wctx *wc, const struct admin_list_query *q, struct dev_info *out,
                    size_t cap);
/* One tunnel by (conn_id, serial): 0, or -ENOENT when it is gone or no longer that tunnel. */
int devinfo_get(struct wctx *wc, uint64_t conn_id, uint64_t serial, struct dev_info *out);
/* Sends DISCONNECT (reason: by application) and closes the tunnel. 0 or -ENOENT. */
int devinfo_disconnect(struct wctx *wc, uint64_t conn_id, uint64_t serial);
/* Switches the tunnel's APF hex dumps on or off. 0 or -ENOENT. */
int devinfo_hexdump(struct wctx *wc, uint64_t conn_id, uint64_t serial, bool on);
/* Order of GUIDs in listings and cursors. */
int devinfo_guid_cmp(const guid *a, const guid *b);

#endif
