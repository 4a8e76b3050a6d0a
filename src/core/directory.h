/* directory.h - the device directory: GUID and AMT hostname -> the live tunnel.
 *
 * Touched on tunnel connect, disconnect and console lookup only, never per byte. The interface is a
 * small vtable so that a Redis-backed directory (several mpsd instances, leases) can serve the same
 * calls later; dir_local_new() is the in-process implementation: N shards, each a hash table under
 * its own mutex, keyed by GUID, plus a second sharded table from lower-cased hostname to GUID.
 *
 * Identity rules:
 * - One live tunnel per GUID. Registering a GUID that is present supersedes the old tunnel: the old
 *   entry is handed back so the caller can tell its worker to close it.
 * - A tunnel is named by (worker, tunnel id, generation). Unregister and hostname changes carry
 * that triple and are ignored (-ESTALE) when it no longer names the registered tunnel, so the late
 *   disconnect of a superseded tunnel cannot remove its successor.
 * - Hostnames are case-insensitive and may be FQDN or short (looked up as given, no domain search).
 *   If two live GUIDs claim one hostname, the name is ambiguous: a lookup by it fails with
 *   -ENOTUNIQ (a console gets a clear error rather than a guess) until one of them leaves or
 *   renames itself; both stay reachable by GUID.
 */
#ifndef MPSD_CORE_DIRECTORY_H
#define MPSD_CORE_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "guid.h"

/* GUIDs are base/guid.h's one type (the raw PROTOCOLVERSION bytes). */

/* --- entries --- */
#define DIR_HOSTNAME_MAX 255 /* DNS names are at most 253; longer ones are refused */

typedef struct dir_entry {
    guid guid;
    uint32_t worker;         /* index of the worker that owns the tunnel */
    uint64_t tunnel_id;      /* the worker's id of the tunnel */
    uint64_t generation;     /* distinguishes reuse of a tunnel id */
    int64_t connected_since; /* caller's clock (e.g. CLOCK_REALTIME seconds); kept as given */
    struct sockaddr_storage peer;
    char hostname[DIR_HOSTNAME_MAX + 1]; /* "" when the device has not named itself */
} dir_entry;

/* --- the interface --- */
typedef struct dir dir;

typedef struct dir_ops {
    int (*reg)(dir *d, const dir_entry *e, dir_entry *superseded);
    int (*unreg)(dir *d, const guid *g, uint32_t worker, uint64_t tunnel_id, uint64_t gen);
    int (*set_hostname)(dir *d, const guid *g, uint32_t worker, uint64_t tunnel_id, uint64_t gen,
                        const char *host, size_t len);
    int (*lookup_guid)(dir *d, const guid *g, dir_entry *out);
    int (*lookup_host)(dir *d, const char *host, size_t len, dir_entry *out);
    size_t (*count)(dir *d);
    int (*snapshot)(dir *d, dir_entry **out, size_t *n);
    void (*destroy)(dir *d);
} dir_ops;

/* Every implementation starts with this header. */
struct dir {
    const dir_ops *ops;
};

/* The in-process directory with `shards` shards (rounded up to a power of two; 0 -> 64). One shard
 * is a single-mutex table (the bench's baseline). NULL on allocation failure. */
dir *dir_local_new(unsigned shards);

/* Registers e (its hostname may be ""). Returns 1 and fills *superseded (if not NULL) when the GUID
 * had a live tunnel that this one replaces, 0 when it is new, -EINVAL for a bad hostname, -ENOMEM.
 */
static inline int dir_register(dir *d, const dir_entry *e, dir_entry *superseded)
{
    return d->ops->reg(d, e, superseded);
}

/* Removes the GUID's entry if (worker, tunnel_id, gen) still names it: 0, -ENOENT (no entry) or
 * -ESTALE (another tunnel has superseded this one: nothing removed). */
static inline int dir_unregister(dir *d, const guid *g, uint32_t worker, uint64_t tunnel_id,
                                 uint64_t gen)
{
    return d->ops->unreg(d, g, worker, tunnel_id, gen);
}

/* Sets or changes (len 0: clears) the hostname of the GUID's tunnel, same guard and results as
 * dir_unregister, -EINVAL for a name that is too long or has bytes outside printable ASCII. */
static inline int dir_set_hostname(dir *d, const guid *g, uint32_t worker, uint64_t tunnel_id,
                                   uint64_t gen, const char *host, size_t len)
{
    return d->ops->set_hostname(d, g, worker, tunnel_id, gen, host, len);
}

/* Copies the live entry into *out: 0 or -ENOENT. */
static inline int dir_lookup_guid(dir *d, const guid *g, dir_entry *out)
{
    return d->ops->lookup_guid(d, g, out);
}

/* By host name (case-insensitive): 0, -ENOENT, or -ENOTUNIQ when several live devices claim it. */
static inline int dir_lookup_host(dir *d, const char *host, size_t len, dir_entry *out)
{
    return d->ops->lookup_host(d, host, len, out);
}

/* Looks up by canonical GUID string (what a console names): 0, -ENOENT, or -EINVAL. */
int dir_lookup_guid_str(dir *d, const char *s, size_t len, dir_entry *out);

/* A console names a device either way: a canonical GUID string is looked up as a GUID, anything
 * else as a hostname. */
int dir_lookup_name(dir *d, const char *name, size_t len, dir_entry *out);

static inline size_t dir_count(dir *d)
{
    return d->ops->count(d);
}

/* A copy of all entries, shard by shard (each shard is consistent in itself; the whole is not one
 * instant). *out is malloc'd, the caller frees it. 0 or -ENOMEM. */
static inline int dir_snapshot(dir *d, dir_entry **out, size_t *n)
{
    return d->ops->snapshot(d, out, n);
}

static inline void dir_free(dir *d)
{
    if (d)
        d->ops->destroy(d);
}

#endif
