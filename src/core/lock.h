/* One mpsd per host: an flock(2)ed pid file. The kernel drops the lock when the holder dies, so a
 * killed mpsd never blocks a restart (the stale pid in the file is just overwritten). */
#ifndef MPSD_LOCK_H
#define MPSD_LOCK_H

#include <stddef.h>
#include <sys/types.h>

/* Takes the lock at `path` and writes our pid into it. Returns an fd to keep open for the life of
 * the process, or -1 with a precise message in `err` (naming the holder's pid when another mpsd
 * holds it). */
int instance_lock(const char *path, char *err, size_t errcap);

/* Returns the pid written in the lock file if a live process holds the lock, 0 if free, -1 on
 * error. */
pid_t instance_lock_holder(const char *path);

/* The host-wide rule, whatever the config says: a listening abstract Unix socket named
 * "@mpsd.instance" (one per host network namespace; no file, so no configurable path can split
 * it; the kernel drops it when the holder dies). A second mpsd that finds it bound connects to it
 * and names the holder by SO_PEERCRED. MPSD_TEST_INSTANCE=<scope> in the environment appends a
 * scope to the name, so that a test suite may run several mpsd on one host; nothing else does.
 * Returns the socket to keep open, or -1 with the message in err. */
int instance_lock_host(char *err, size_t errcap);

/* Whether a TCP listener of another process holds host:port (a wildcard listener on the port
 * counts; so does one that shares the port through SO_REUSEPORT, which bind would not report).
 * Read from /proc/net/tcp{,6}; the holder's pid and command are found through /proc/<pid>/fd when
 * visible (else *pid = 0). 1 when held, 0 when free. Our own sockets are skipped. */
int port_holder(const char *host, unsigned port, pid_t *pid, char *comm, size_t commcap);

#endif
