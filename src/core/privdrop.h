/* privdrop: an mpsd started as root becomes the configured user (`user` in [mpsd]) once its
 * listeners are bound and its keys loaded, with no capability left.
 *
 * Credentials are per thread in Linux. glibc's setgroups/setresgid/setresuid change every
 * thread of the process (its setxid broadcast), and the kernel clears each thread's permitted,
 * effective and ambient capabilities when that thread's uids all leave 0. What stays per thread:
 * the inheritable set, the bounding set, keep-caps and no_new_privs; privdrop_to settles them for
 * the calling thread, privdrop_thread for another thread (run it on each io_uring worker).
 * privdrop_to then checks every thread in /proc/self/task: all uids the user's, CapPrm, CapEff
 * and CapAmb zero. See docs/security.md "Dropping privileges" (or the report of the change).
 */
#ifndef MPSD_PRIVDROP_H
#define MPSD_PRIVDROP_H

#include <stddef.h>

/* user NULL or "": nothing to do (returns 0). As root: supplementary groups of user (initgroups),
 * setresgid, setresuid to user's, then keep-caps off, no_new_privs on, every capability set of
 * this thread cleared, and checks that regaining root fails and that no thread kept a uid 0 or a
 * capability. Not root: 0 if already running as user (this thread is still hardened), else an
 * error. An unknown user is an error (never "stay root"). On error err holds one line; as root
 * the process may be half-changed: exit. */
int privdrop_to(const char *user, char *err, size_t cap);

/* For a thread other than privdrop_to's, after it: keep-caps off, no_new_privs on, this thread's
 * capability sets cleared, and a check that setuid(0) fails here. 0 or -1 with err. */
int privdrop_thread(char *err, size_t cap);

#endif
