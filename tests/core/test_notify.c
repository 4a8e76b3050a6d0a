/* The systemd notification protocol (src/core/notify.c): a datagram socket of our own stands in
 * for systemd's, and each message is checked byte for byte. */
#include "notify.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static char dir[64];
static int rx = -1;

static void clear_env(void)
{
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* Binds a datagram socket at a path (abstract=false) or an abstract name and points
 * $NOTIFY_SOCKET at it. */
static void listen_at(bool abstract)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char name[100];
    socklen_t len;
    if (abstract) {
        snprintf(name, sizeof(name), "@mpsd-test-notify-%d-%ld", (int)getpid(), (long)time(NULL));
        memcpy(sa.sun_path, name, strlen(name));
        sa.sun_path[0] = 0;
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
    } else {
        snprintf(dir, sizeof(dir), "/tmp/mpsd-notify-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
        snprintf(name, sizeof(name), "%s/notify", dir);
        snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", name);
        len = sizeof(sa);
    }
    rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    cr_assert_geq(rx, 0);
    cr_assert_eq(bind(rx, (struct sockaddr *)&sa, len), 0, "bind %s: %s", name, strerror(errno));
    cr_assert_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
}

static void fini(void)
{
    if (rx >= 0)
        close(rx);
    rx = -1;
    if (dir[0]) {
        char p[128];
        snprintf(p, sizeof(p), "%s/notify", dir);
        unlink(p);
        rmdir(dir);
        dir[0] = 0;
    }
    clear_env();
}

/* The next datagram, NUL-terminated; fails the test if none arrives within a second. */
static const char *next_msg(void)
{
    static char buf[1024];
    struct pollfd p = {.fd = rx, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 1000), 1, "no notification arrived");
    ssize_t n = recv(rx, buf, sizeof(buf) - 1, 0);
    cr_assert_gt(n, 0);
    buf[n] = 0;
    return buf;
}

static void no_more_msgs(void)
{
    struct pollfd p = {.fd = rx, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 0), 0, "an unexpected notification arrived");
}

static void init_clean(void)
{
    clear_env();
}

TestSuite(notify, .init = init_clean, .fini = fini, .timeout = 20);

static void exact_messages(void)
{
    cr_assert_eq(notify_ready(), 1);
    cr_assert_str_eq(next_msg(), "READY=1");
    cr_assert_eq(notify_stopping(), 1);
    cr_assert_str_eq(next_msg(), "STOPPING=1");
    cr_assert_eq(notify_watchdog(), 1);
    cr_assert_str_eq(next_msg(), "WATCHDOG=1");
    cr_assert_eq(notify_status("%u tunnels, %s", 42u, "draining"), 1);
    cr_assert_str_eq(next_msg(), "STATUS=42 tunnels, draining");
    cr_assert_eq(notify_extend_timeout_ms(1500), 1);
    cr_assert_str_eq(next_msg(), "EXTEND_TIMEOUT_USEC=1500000");
    no_more_msgs();
}

Test(notify, path_socket_gets_exact_messages)
{
    listen_at(false);
    exact_messages();
}

Test(notify, abstract_socket_gets_exact_messages)
{
    listen_at(true);
    exact_messages();
}

Test(notify, reloading_carries_the_monotonic_clock)
{
    listen_at(true);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    cr_assert_eq(notify_reloading(), 1);
    clock_gettime(CLOCK_MONOTONIC, &b);
    unsigned long long usec;
    char tail;
    const char *m = next_msg();
    cr_assert_eq(sscanf(m, "RELOADING=1\nMONOTONIC_USEC=%llu%c", &usec, &tail), 1, "got '%s'", m);
    cr_assert_eq(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27), 0, "got '%s'", m);
    unsigned long long lo = (unsigned long long)a.tv_sec * 1000000 + a.tv_nsec / 1000;
    unsigned long long hi = (unsigned long long)b.tv_sec * 1000000 + b.tv_nsec / 1000;
    cr_assert(usec >= lo && usec <= hi, "MONOTONIC_USEC %llu not in [%llu, %llu]", usec, lo, hi);
}

Test(notify, status_cannot_inject_assignments)
{
    listen_at(false);
    cr_assert_eq(notify_status("device %s", "x\nREADY=1\r\t"), 1);
    cr_assert_str_eq(next_msg(), "STATUS=device x READY=1  ");
    char big[2000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    cr_assert_eq(notify_status("%s", big), 1);
    const char *m = next_msg();
    cr_assert_eq(strlen(m), 7 + 480, "a long status is truncated to 480 bytes, got %zu", strlen(m));
}

Test(notify, without_notify_socket_everything_is_a_noop)
{
    cr_assert_eq(notify_ready(), 0);
    cr_assert_eq(notify_reloading(), 0);
    cr_assert_eq(notify_stopping(), 0);
    cr_assert_eq(notify_status("x"), 0);
    cr_assert_eq(notify_watchdog(), 0);
    cr_assert_eq(notify_extend_timeout_ms(1000), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    cr_assert_eq(notify_ready(), 0);
}

Test(notify, bad_socket_names_are_errors_not_crashes)
{
    setenv("NOTIFY_SOCKET", "relative/notify", 1);
    cr_assert_lt(notify_ready(), 0);
    setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
    cr_assert_lt(notify_ready(), 0);
    setenv("NOTIFY_SOCKET", "@", 1);
    cr_assert_eq(notify_ready(), -EINVAL);
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = 0;
    setenv("NOTIFY_SOCKET", longname, 1);
    cr_assert_eq(notify_ready(), -EINVAL);
    setenv("NOTIFY_SOCKET", "/nonexistent/mpsd-notify", 1);
    cr_assert_eq(notify_ready(), -ENOENT);
}

Test(notify, a_full_receiver_never_blocks_the_sender)
{
    listen_at(false);
    /* nobody reads: the receive queue fills and the sender must get EAGAIN, not wait */
    int rc = 1, i;
    for (i = 0; i < 100000 && rc == 1; i++)
        rc = notify_watchdog();
    cr_assert_eq(rc, -EAGAIN, "after %d messages: %d", i, rc);
    cr_assert_str_eq(next_msg(), "WATCHDOG=1");
}

Test(notify, watchdog_interval_from_the_environment)
{
    cr_assert_eq(notify_watchdog_interval_ms(), 0, "off without WATCHDOG_USEC");
    setenv("WATCHDOG_USEC", "30000000", 1);
    cr_assert_eq(notify_watchdog_interval_ms(), 30000);
    setenv("WATCHDOG_USEC", "1500", 1);
    cr_assert_eq(notify_watchdog_interval_ms(), 2, "rounded up");
    char pid[32];
    snprintf(pid, sizeof(pid), "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    setenv("WATCHDOG_USEC", "30000000", 1);
    cr_assert_eq(notify_watchdog_interval_ms(), 30000, "our own pid");
    snprintf(pid, sizeof(pid), "%d", (int)getpid() + 1);
    setenv("WATCHDOG_PID", pid, 1);
    cr_assert_eq(notify_watchdog_interval_ms(), 0, "WATCHDOG_PID of another process means off");
    setenv("WATCHDOG_PID", "garbage", 1);
    cr_assert_eq(notify_watchdog_interval_ms(), 0);
    unsetenv("WATCHDOG_PID");
    const char *bad[] = {"0", "", "-5", "30s", " 30000000", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        cr_assert_eq(notify_watchdog_interval_ms(), 0, "WATCHDOG_USEC='%s' means off", bad[i]);
    }
}
