/* admin.h - the admin HTTP(S) surface: /metrics, /healthz, /readyz, the device API and the event
 * stream, on its own thread so that nothing it does can slow a worker. It reads the per-worker
 * counters (relaxed atomic loads, summed on scrape) and the directory (the same sharded table
 * consoles use), and asks workers about their tunnels only through their mailboxes; it never
 * walks a worker's tables. docs/admin.md describes the API. */
#ifndef MPSD_ADMIN_ADMIN_H
#define MPSD_ADMIN_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

struct mpsd;
struct admin;

/* Binds every [admin] listen address (an error names the address and the cause) and starts the
 * admin thread. With no address configured *out is NULL and 0 is returned. */
int admin_start(struct mpsd *m, struct admin **out, char *err, size_t cap);
/* Stops the thread, closes every connection (event streams get a last "shutdown" event). */
void admin_stop(struct admin *a);

/* What /readyz answers besides the worker pings: NULL = ready, else why not (static text or a
 * string the caller keeps alive until the next call). [control thread] */
void admin_set_not_ready(struct admin *a, const char *why);

#endif
