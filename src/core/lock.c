#include "lock.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static pid_t read_pid(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n <= 0)
        return 0;
    long pid = strtol(buf, NULL, 10);
    return pid > 0 ? (pid_t)pid : 0;
}

int instance_lock(const char *path, char *err, size_t errcap)
{
    /* O_NOFOLLOW + a regular-file check: root must not truncate what a planted symlink names */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        snprintf(err, errcap, "cannot open lock file %s: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errcap, "lock file %s is not a regular file", path);
        close(fd);
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        if (e == EWOULDBLOCK) {
            pid_t holder = read_pid(fd);
            if (holder > 0)
                snprintf(err, errcap,
                         "another mpsd (pid %ld) already runs on this host: it holds %s; only one "
                         "MPS instance may run per server",
                         (long)holder, path);
            else
                snprintf(err, errcap, "another mpsd already holds %s (pid not yet written)", path);
        } else {
            snprintf(err, errcap, "cannot lock %s: %s", path, strerror(e));
        }
        close(fd);
        return -1;
    }
    char buf[32];
    int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, (size_t)len, 0) != len) {
        snprintf(err, errcap, "cannot write pid to %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

pid_t instance_lock_holder(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    pid_t holder = 0;
    if (flock(fd, LOCK_SH | LOCK_NB) != 0)
        holder = errno == EWOULDBLOCK ? read_pid(fd) : -1;
    else
        flock(fd, LOCK_UN);
    close(fd);
    return holder;
}

/* --- host-wide: one abstract socket --- */

int instance_lock_host(char *err, size_t errcap)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *scope = getenv("MPSD_TEST_INSTANCE");
    /* sun_path[0] = 0: the abstract namespace; the name is the bytes after it */
    int n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "mpsd.instance%s%s",
                     scope && *scope ? "." : "", scope && *scope ? scope : "");
    if (n < 0 || (size_t)n >= sizeof(sa.sun_path) - 1) {
        snprintf(err, errcap, "MPSD_TEST_INSTANCE is too long");
        return -1;
    }
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sa, len) == 0 && listen(fd, 4) == 0)
        return fd;
    int e = errno;
    close(fd);
    if (e != EADDRINUSE) {
        snprintf(err, errcap, "cannot take the host-wide instance lock @%s: %s", sa.sun_path + 1,
                 strerror(e));
        return -1;
    }
    pid_t holder = 0;
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c >= 0 && connect(c, (struct sockaddr *)&sa, len) == 0) {
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            holder = cred.pid;
    }
    if (c >= 0)
        close(c);
    if (holder > 0)
        snprintf(err, errcap,
                 "another mpsd (pid %ld) already runs on this host: it holds the host-wide "
                 "instance lock @%s; only one MPS instance may run per server, whatever its "
                 "configuration",
                 (long)holder, sa.sun_path + 1);
    else
        snprintf(err, errcap,
                 "another mpsd already runs on this host (it holds the host-wide instance lock "
                 "@%s); only one MPS instance may run per server",
                 sa.sun_path + 1);
    return -1;
}

/* --- who holds a port --- */

static bool own_inode(unsigned long inode)
{
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *fds = opendir("/proc/self/fd");
    if (!fds)
        return false;
    bool found = false;
    for (struct dirent *d; !found && (d = readdir(fds));) {
        char path[300], target[64];
        snprintf(path, sizeof(path), "/proc/self/fd/%s", d->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = 0;
            found = strcmp(target, want) == 0;
        }
    }
    closedir(fds);
    return found;
}

/* The inode of a LISTEN socket not in our own descriptor table, on port, whose address matches
 * want (len 4 or 16; a wildcard on either side matches), from one /proc/net file; 0 if none. */
static unsigned long listen_inode(const char *file, bool v6, const uint8_t *want, size_t wlen,
                                  unsigned port)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return 0;
    char line[512];
    unsigned long found = 0;
    if (!fgets(line, sizeof(line), f)) { /* header */
        fclose(f);
        return 0;
    }
    while (!found && fgets(line, sizeof(line), f)) {
        char local[64];
        unsigned lport, st;
        unsigned long inode;
        if (sscanf(line, " %*d: %63[0-9A-Fa-f]:%x %*s %x %*s %*s %*s %*d %*d %lu", local, &lport,
                   &st, &inode) != 4)
            continue;
        if (st != 0x0A || lport != port)
            continue;
        /* the address: 32-bit words in host (little-endian here) order */
        uint8_t addr[16] = {0};
        size_t alen = v6 ? 16 : 4;
        if (strlen(local) != alen * 2)
            continue;
        for (size_t w = 0; w < alen / 4; w++) {
            char word[9];
            memcpy(word, local + w * 8, 8);
            word[8] = 0;
            uint32_t v = (uint32_t)strtoul(word, NULL, 16);
            memcpy(addr + w * 4, &v, 4); /* the kernel prints each word in host order */
        }
        static const uint8_t zero[16];
        bool wild = memcmp(addr, zero, alen) == 0;
        bool want_wild = memcmp(want, zero, wlen) == 0;
        bool same = alen == wlen && memcmp(addr, want, alen) == 0;
        /* a v4-mapped v6 listener ::ffff:a.b.c.d matches the v4 address */
        bool mapped = v6 && wlen == 4 && memcmp(addr, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0 &&
                      memcmp(addr + 12, want, 4) == 0;
        /* our own sockets (each worker's, with SO_REUSEPORT) are skipped: another process' may
         * follow them in the file */
        if ((wild || want_wild || same || mapped) && !own_inode(inode))
            found = inode;
    }
    fclose(f);
    return found;
}

static pid_t inode_owner(unsigned long inode, char *comm, size_t cap)
{
    char want[64];
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *proc = opendir("/proc");
    if (!proc)
        return 0;
    pid_t owner = 0;
    for (struct dirent *p; !owner && (p = readdir(proc));) {
        char *end;
        long pid = strtol(p->d_name, &end, 10);
        if (*end || pid <= 0 || pid == (long)getpid()) /* ours: inherited, or our own */
            continue;
        char dir[64];
        snprintf(dir, sizeof(dir), "/proc/%ld/fd", pid);
        DIR *fds = opendir(dir);
        if (!fds)
            continue;
        for (struct dirent *d; (d = readdir(fds));) {
            char path[320], target[64];
            snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
            ssize_t n = readlink(path, target, sizeof(target) - 1);
            if (n > 0) {
                target[n] = 0;
                if (strcmp(target, want) == 0) {
                    owner = (pid_t)pid;
                    break;
                }
            }
        }
        closedir(fds);
    }
    closedir(proc);
    if (owner && comm && cap) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/comm", (long)owner);
        FILE *f = fopen(path, "r");
        comm[0] = 0;
        if (f) {
            if (fgets(comm, (int)cap, f))
                comm[strcspn(comm, "\n")] = 0;
            fclose(f);
        }
    }
    return owner;
}

int port_holder(const char *host, unsigned port, pid_t *pid, char *comm, size_t commcap)
{
    uint8_t want[16];
    size_t wlen;
    if (inet_pton(AF_INET, host, want) == 1)
        wlen = 4;
    else if (inet_pton(AF_INET6, host, want) == 1)
        wlen = 16;
    else
        return 0;
    *pid = 0;
    if (comm && commcap)
        comm[0] = 0;
    unsigned long inode = 0;
    /* a v6 wildcard [::] also takes v4 connections (unless V6ONLY): both files are read for any
     * address */
    inode = listen_inode("/proc/net/tcp", false, want, wlen, port);
    if (!inode)
        inode = listen_inode("/proc/net/tcp6", true, want, wlen, port);
    if (!inode && wlen == 4) {
        /* a v4 address against v6 listeners: compare as v4-mapped, or the v6 wildcard */
        inode = listen_inode("/proc/net/tcp6", true, want, 4, port);
    }
    if (!inode)
        return 0;
    /* not ours (those were skipped): its holder, or 0 when not visible to us (held all the
     * same) */
    *pid = inode_owner(inode, comm, commcap);
    return 1;
}
