/* One MPS per server, for real: a second mpsd is refused whatever its configuration says (another
 * lock_file, other ports), and a listener port another process holds is an error naming it (with
 * SO_REUSEPORT the kernel would otherwise split the devices between the two). */
#include "proc.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char *mpsd(void)
{
    return (char *)env_or_die("MPSD_BIN");
}

/* A valid config of its own: lock file `tag`.lock, CIRA on `port`. */
static void config(char *path, size_t cap, const char *tag, int port)
{
    const char *certs = env_or_die("MPSD_CERTS");
    char creds[300], text[2048];
    snprintf(creds, sizeof(creds), "%s/creds", scratch_dir());
    write_file(creds, "# no devices yet\n");
    snprintf(path, cap, "%s/%s.conf", scratch_dir(), tag);
    snprintf(text, sizeof(text),
             "[mpsd]\nname = 127.0.0.1\nlock_file = %s/%s.lock\nworkers = 1\n"
             "[cira]\nlisten = 127.0.0.1:%d\ncert = %s/server.pem\nkey = %s/server.key\n"
             "keepalive_interval = 2s\nkeepalive_timeout = 5s\n"
             "[devices]\ncredentials = %s\n",
             scratch_dir(), tag, port, certs, certs, creds);
    write_file(path, text);
}

static void start(struct proc *p, const char *conf)
{
    char *argv[] = {mpsd(), "--config", (char *)conf, NULL};
    proc_start(p, argv);
    cr_assert(proc_wait_output(p, "mpsd running as pid", 10000), "mpsd did not start:\n%s", p->out);
}

static void scope(const char *s)
{
    char v[64];
    snprintf(v, sizeof(v), "%s.%ld", s, (long)getpid());
    setenv("MPSD_TEST_INSTANCE", v, 1);
}

Test(instance, second_mpsd_with_another_config_is_refused_naming_the_first)
{
    scope("same-host");
    char a[300], b[300];
    config(a, sizeof(a), "a", free_port());
    config(b, sizeof(b), "b", free_port()); /* another lock file and another port */
    struct proc first, second;
    start(&first, a);
    char *argv[] = {mpsd(), "--config", b, NULL};
    cr_assert_eq(proc_run(&second, argv, 10000), 1, "the second mpsd must refuse:\n%s", second.out);
    char want[64];
    snprintf(want, sizeof(want), "another mpsd (pid %ld) already runs on this host",
             (long)first.pid);
    cr_assert(strstr(second.out, want), "expected '%s' in:\n%s", want, second.out);
    cr_assert_not(strstr(second.out, "listening on"), "it must not listen at all:\n%s", second.out);
    /* once the first is gone, the lock is free again (the kernel drops it) */
    cr_assert_eq(proc_stop(&first, SIGTERM, 10000), 0);
    start(&second, b);
    cr_assert_eq(proc_stop(&second, SIGTERM, 10000), 0);
    unsetenv("MPSD_TEST_INSTANCE");
}

static int hold_port(int port, bool reuseport)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not inherited by mpsd */
    int one = 1;
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

Test(instance, port_held_through_reuseport_is_an_error_naming_the_holder)
{
    int port = free_port();
    int fd = hold_port(port, true); /* SO_REUSEPORT: mpsd's own bind would succeed */
    char a[300];
    config(a, sizeof(a), "held", port);
    struct proc p;
    char *argv[] = {mpsd(), "--config", a, NULL};
    cr_assert_eq(proc_run(&p, argv, 10000), 1, "mpsd must refuse a held port:\n%s", p.out);
    char want[128];
    snprintf(want, sizeof(want), "127.0.0.1:%d for AMT devices (TLS): already in use by pid %ld",
             port, (long)getpid());
    cr_assert(strstr(p.out, want), "expected '%s' in:\n%s", want, p.out);
    close(fd);
}

Test(instance, port_held_by_another_mpsd_in_another_scope_is_refused)
{
    /* what a second instance would look like if it got past the host lock (another network
     * namespace view, an old binary): the port check alone still refuses it */
    int port = free_port();
    char a[300], b[300];
    config(a, sizeof(a), "first", port);
    config(b, sizeof(b), "second", port);
    struct proc first, second;
    scope("one");
    start(&first, a);
    scope("two");
    char *argv[] = {mpsd(), "--config", b, NULL};
    cr_assert_eq(proc_run(&second, argv, 10000), 1, "%s", second.out);
    char want[96];
    snprintf(want, sizeof(want), "already in use by pid %ld (mpsd)", (long)first.pid);
    cr_assert(strstr(second.out, want), "expected '%s' in:\n%s", want, second.out);
    cr_assert_eq(proc_stop(&first, SIGTERM, 10000), 0);
    unsetenv("MPSD_TEST_INSTANCE");
}

Test(instance, bind_timeout_waits_for_the_port_then_serves)
{
    int port = free_port();
    int fd = hold_port(port, false);
    char a[300];
    config(a, sizeof(a), "wait", port);
    char text[2600];
    FILE *f = fopen(a, "r");
    size_t n = fread(text, 1, sizeof(text) - 64, f);
    fclose(f);
    text[n] = 0;
    /* bind_timeout goes in [mpsd]: rewrite the file with it */
    char with[2700];
    const char *rest = strstr(text, "[cira]");
    snprintf(with, sizeof(with), "%.*sbind_timeout = 20s\n%s", (int)(rest - text), text, rest);
    write_file(a, with);
    struct proc p;
    char *argv[] = {mpsd(), "--config", a, NULL};
    proc_start(&p, argv);
    cr_assert(proc_wait_output(&p, "waiting up to 20000ms (bind_timeout)", 10000), "%s", p.out);
    cr_assert_not(strstr(p.out, "mpsd running as pid"), "%s", p.out);
    close(fd);
    cr_assert(proc_wait_output(&p, "mpsd running as pid", 10000),
              "it must start once the port is "
              "free:\n%s",
              p.out);
    cr_assert_eq(proc_stop(&p, SIGTERM, 10000), 0);
}
