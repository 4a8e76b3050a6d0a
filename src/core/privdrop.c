/* privdrop.c - become the configured user after binding, with no capability left. See privdrop.h
 * for what is per process and what is per thread. */
#include "privdrop.h"

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static int errf(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* capset(2) of this thread: effective, permitted and inheritable all empty. */
static int caps_clear(void)
{
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
    memset(d, 0, sizeof(d));
    return (int)syscall(SYS_capset, &h, d);
}

/* Per-thread part: no keep-caps, no new privileges through execve, empty capability sets, and
 * root out of reach. */
static int harden_thread(const char *who, char *err, size_t cap)
{
    if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0)
        return errf(err, cap, "%s: prctl(PR_SET_KEEPCAPS, 0): %s", who, strerror(errno));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L) != 0 && errno != EINVAL)
        return errf(err, cap, "%s: clearing ambient capabilities: %s", who, strerror(errno));
    if (caps_clear() != 0)
        return errf(err, cap, "%s: capset to nothing: %s", who, strerror(errno));
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
        return errf(err, cap, "%s: prctl(PR_SET_NO_NEW_PRIVS): %s", who, strerror(errno));
    if (getuid() != 0 && geteuid() != 0 && (setuid(0) == 0 || seteuid(0) == 0))
        return errf(err, cap, "%s: setuid(0) still succeeds after dropping privileges", who);
    return 0;
}

int privdrop_thread(char *err, size_t cap)
{
    return harden_thread("thread", err, cap);
}

/* Every thread of the process: all four uids == uid, CapPrm/CapEff/CapAmb zero. */
static int check_all_threads(uid_t uid, char *err, size_t cap)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return errf(err, cap, "cannot list /proc/self/task to check the threads: %s",
                    strerror(errno));
    int rc = 0, nthreads = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[64], line[256];
        snprintf(path, sizeof(path), "/proc/self/task/%.20s/status", e->d_name);
        FILE *f = fopen(path, "r");
        if (!f)
            continue; /* the thread ended meanwhile */
        nthreads++;
        while (rc == 0 && fgets(line, sizeof(line), f)) {
            unsigned long r, ef, s, fs;
            unsigned long long v;
            if (sscanf(line, "Uid: %lu %lu %lu %lu", &r, &ef, &s, &fs) == 4 &&
                (r != uid || ef != uid || s != uid || fs != uid))
                rc = errf(err, cap, "thread %s still has uids %lu/%lu/%lu/%lu after the drop",
                          e->d_name, r, ef, s, fs);
            else if ((sscanf(line, "CapPrm: %llx", &v) == 1 ||
                      sscanf(line, "CapEff: %llx", &v) == 1 ||
                      sscanf(line, "CapAmb: %llx", &v) == 1) &&
                     v != 0)
                rc = errf(err, cap, "thread %s kept capabilities (%.6s %llx) after the drop",
                          e->d_name, line, v);
        }
        fclose(f);
    }
    closedir(d);
    if (rc == 0 && nthreads == 0)
        return errf(err, cap, "no thread found in /proc/self/task");
    return rc;
}

int privdrop_to(const char *user, char *err, size_t cap)
{
    if (!user || !*user)
        return 0;
    char buf[4096];
    struct passwd pw, *p = NULL;
    int r = getpwnam_r(user, &pw, buf, sizeof(buf), &p);
    bool root = geteuid() == 0 || getuid() == 0;
    if (!p)
        return errf(err, cap, "user '%s' %s%s", user,
                    r ? "cannot be looked up: " : "does not exist",
                    r ? strerror(r) : (root ? ": refusing to run as root" : ""));
    if (!root) {
        if (getuid() == p->pw_uid && geteuid() == p->pw_uid)
            return harden_thread("privdrop", err, cap);
        return errf(err, cap,
                    "user is '%s' (uid %u) but mpsd runs as uid %u, not root: start it as "
                    "root (it drops to '%s' after binding) or as '%s' with the user setting "
                    "removed",
                    user, (unsigned)p->pw_uid, (unsigned)getuid(), user, user);
    }
    if (p->pw_uid == 0)
        return errf(err, cap, "user '%s' is uid 0: that drops nothing; name an unprivileged user",
                    user);
    uid_t uid = p->pw_uid;
    gid_t gid = p->pw_gid;
    /* The bounding set can be emptied only while this thread holds CAP_SETPCAP: before setuid.
     * (Other threads keep theirs; without any capability and with no_new_privs it grants
     * nothing.) */
    for (int c = 0; c <= CAP_LAST_CAP; c++)
        if (prctl(PR_CAPBSET_DROP, (unsigned long)c, 0L, 0L, 0L) != 0 && errno != EINVAL)
            return errf(err, cap, "prctl(PR_CAPBSET_DROP, %d): %s", c, strerror(errno));
    if (prctl(PR_SET_KEEPCAPS, 0L, 0L, 0L, 0L) != 0)
        return errf(err, cap, "prctl(PR_SET_KEEPCAPS, 0): %s", strerror(errno));
    /* glibc applies each of these to every thread of the process (setxid broadcast). */
    if (initgroups(user, gid) != 0)
        return errf(err, cap, "initgroups('%s', %u): %s", user, (unsigned)gid, strerror(errno));
    if (setresgid(gid, gid, gid) != 0)
        return errf(err, cap, "setresgid(%u): %s", (unsigned)gid, strerror(errno));
    if (setresuid(uid, uid, uid) != 0)
        return errf(err, cap, "setresuid(%u): %s", (unsigned)uid, strerror(errno));
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (getresuid(&ru, &eu, &su) != 0 || ru != uid || eu != uid || su != uid ||
        getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
        return errf(err, cap, "after the drop to '%s' the ids are not %u/%u", user, (unsigned)uid,
                    (unsigned)gid);
    if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0 || setegid(0) == 0)
        return errf(err, cap, "regaining root still succeeds after dropping to '%s'", user);
    int rc = harden_thread("privdrop", err, cap);
    if (rc == 0)
        rc = check_all_threads(uid, err, cap);
    return rc;
}
