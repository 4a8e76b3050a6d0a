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

#endif
