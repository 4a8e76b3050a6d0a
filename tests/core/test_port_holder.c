/* port_holder (src/core/lock.c): who else listens on a port. With SO_REUSEPORT each mpsd worker
 * has its own listener, so /proc/net/tcp lists several of ours on the port; another process' that
 * follows them must still be found (mpsd checks again after binding, for two instances that
 * started together), and ours alone must not count. */
#include "lock.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    cr_assert_geq(fd, 0);
    cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind %d: %s", port,
                 strerror(errno));
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    return ntohs(sa.sin_port);
}

/* A child that listens on a fresh port (SO_REUSEPORT) until killed; returns once it listens, with
 * the port in *port. */
static pid_t foreign_listener(int *port)
{
    int p[2];
    cr_assert_eq(pipe(p), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(p[0]);
        int fd = listen_on(0), bound = bound_port(fd);
        (void)!write(p[1], &bound, sizeof(bound));
        pause();
        _exit(0);
    }
    close(p[1]);
    cr_assert_eq(read(p[0], port, sizeof(*port)), (ssize_t)sizeof(*port),
                 "the child did not listen");
    close(p[0]);
    return pid;
}

Test(port_holder, our_own_reuseport_listeners_do_not_count)
{
    int a = listen_on(0);
    int port = bound_port(a);
    int b = listen_on(port);
    pid_t pid = -1;
    char comm[64];
    cr_expect_eq(port_holder("127.0.0.1", (unsigned)port, &pid, comm, sizeof(comm)), 0);
    cr_expect_eq(port_holder("0.0.0.0", (unsigned)port, &pid, comm, sizeof(comm)), 0,
                 "a wildcard asks for every address: still only ours");
    close(a);
    close(b);
}

Test(port_holder, another_process_behind_ours_is_found_and_named)
{
    int port;
    pid_t child = foreign_listener(&port);
    /* ours bound after it: the kernel lists the newest first, so the child's comes last */
    int a = listen_on(port), b = listen_on(port);
    pid_t pid = -1;
    char comm[64] = "";
    int r = port_holder("127.0.0.1", (unsigned)port, &pid, comm, sizeof(comm));
    cr_expect_eq(r, 1, "the child's listener must be found behind our two");
    cr_expect_eq(pid, child, "holder pid %ld, child %ld", (long)pid, (long)child);
    cr_expect(comm[0], "the holder's command is named");
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    cr_expect_eq(port_holder("127.0.0.1", (unsigned)port, &pid, comm, sizeof(comm)), 0,
                 "the child is gone: only ours are left");
    close(a);
    close(b);
}
