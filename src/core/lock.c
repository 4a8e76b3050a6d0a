#include "lock.h"

#include <errno.h>
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
