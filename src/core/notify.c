/* sd_notify's wire format, without libsystemd: a datagram to $NOTIFY_SOCKET. See notify.h. */
#include "notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int notify_send(const char *msg)
{
    const char *name = getenv("NOTIFY_SOCKET");
    if (!name || !*name)
        return 0;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n = strlen(name);
    /* an absolute path, or '@' for the abstract namespace (a leading NUL byte, no terminator);
     * anything else (relative paths, vsock:) is not a socket this process can use */
    if (name[0] != '/' && name[0] != '@')
        return -EAFNOSUPPORT;
    if (n < 2 || n >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, name, n);
    if (name[0] == '@')
        sa.sun_path[0] = 0;
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);

    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    size_t mlen = strlen(msg);
    ssize_t w = sendto(fd, msg, mlen, MSG_NOSIGNAL | MSG_DONTWAIT, (struct sockaddr *)&sa, len);
    int rc = w < 0 ? -errno : (size_t)w == mlen ? 1 : -EMSGSIZE;
    close(fd);
    return rc;
}

int notify_ready(void)
{
    return notify_send("READY=1");
}

int notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000);
    return notify_send(msg);
}

int notify_stopping(void)
{
    return notify_send("STOPPING=1");
}

int notify_status(const char *fmt, ...)
{
    if (!getenv("NOTIFY_SOCKET"))
        return 0;
    char msg[7 + 480 + 1] = "STATUS=";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + 7, sizeof(msg) - 7, fmt, ap);
    va_end(ap);
    for (char *p = msg + 7; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = ' ';
    return notify_send(msg);
}

/* A decimal without sign, spaces or trailing bytes; 0 when it is anything else. */
static unsigned long long parse_env_u64(const char *s)
{
    if (!s || *s < '0' || *s > '9')
        return 0;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end)
        return 0;
    return v;
}

uint64_t notify_watchdog_interval_ms(void)
{
    const char *pid = getenv("WATCHDOG_PID");
    if (pid && parse_env_u64(pid) != (unsigned long long)getpid())
        return 0; /* meant for another process (e.g. our parent) */
    unsigned long long usec = parse_env_u64(getenv("WATCHDOG_USEC"));
    return usec ? (usec + 999) / 1000 : 0;
}

int notify_watchdog(void)
{
    return notify_send("WATCHDOG=1");
}

int notify_extend_timeout_ms(uint64_t ms)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "EXTEND_TIMEOUT_USEC=%llu", (unsigned long long)ms * 1000ull);
    return notify_send(msg);
}
