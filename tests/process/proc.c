#include "proc.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Output buffers live until the test process exits (tests read them after the child is gone);
 * freed at exit so LeakSanitizer sees no leak. */
static char *buffers[256];
static unsigned nbuffers;

static void free_buffers(void)
{
    for (unsigned i = 0; i < nbuffers; i++)
        free(buffers[i]);
    nbuffers = 0;
}

/* Records p->out in slot p->buf_slot (a new slot when -1). */
static void track(struct proc *p)
{
    if (p->buf_slot >= 0) {
        buffers[p->buf_slot] = p->out;
        return;
    }
    if (nbuffers == 0)
        atexit(free_buffers);
    if (nbuffers < 256) {
        p->buf_slot = (int)nbuffers;
        buffers[nbuffers++] = p->out;
    }
}

static void start(struct proc *p, char *const argv[], const char *log)
{
    int fds[2];
    memset(p, 0, sizeof(*p));
    p->out_cap = 1 << 20;
    p->out = calloc(1, p->out_cap);
    cr_assert_not_null(p->out);
    p->buf_slot = -1;
    track(p);
    if (log) {
        fds[1] = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
        fds[0] = open(log, O_RDONLY | O_CLOEXEC);
        cr_assert(fds[0] >= 0 && fds[1] >= 0, "cannot open %s", log);
        p->to_file = true;
    } else {
        cr_assert_eq(pipe2(fds, O_CLOEXEC), 0);
    }
    pid_t parent = getpid();
    p->pid = fork();
    cr_assert_geq(p->pid, 0);
    if (p->pid == 0) {
        /* whatever a failed assertion leaves running dies with the test's process (criterion
         * runs each test in its own): no mpsd outlives its test holding ports and CPU. A
         * privilege drop in the child clears it; such tests stop their processes themselves. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127); /* the test ended before the line above */
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        /* mpsd's host-wide one-instance rule, scoped per started process unless the test set a
         * scope itself (tests of that rule share one on purpose) */
        if (!getenv("MPSD_TEST_INSTANCE")) {
            char scope[32];
            snprintf(scope, sizeof(scope), "t%ld", (long)getpid());
            setenv("MPSD_TEST_INSTANCE", scope, 1);
        }
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    close(fds[1]);
    p->err_fd = fds[0];
    fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
}

void proc_start(struct proc *p, char *const argv[])
{
    start(p, argv, NULL);
}

void proc_start_logged(struct proc *p, char *const argv[], const char *log)
{
    start(p, argv, log);
}

static void drain(struct proc *p, int wait_ms)
{
    struct pollfd pfd = {.fd = p->err_fd, .events = POLLIN};
    if (p->err_fd < 0)
        return;
    if (p->to_file)
        usleep((useconds_t)(wait_ms > 20 ? 20 : wait_ms) * 1000); /* a file is always "readable" */
    else if (poll(&pfd, 1, wait_ms) <= 0)
        return;
    for (;;) {
        /* Keep reading whatever happens: a child blocked on a full pipe would look hung. */
        if (p->out_cap - 1 - p->out_len < 65536) {
            if (p->out_cap < (32u << 20)) {
                p->out_cap *= 2;
                p->out = realloc(p->out, p->out_cap);
                cr_assert_not_null(p->out);
                track(p);
            } else {
                size_t half = p->out_len / 2;
                memmove(p->out, p->out + half, p->out_len - half);
                p->out_len -= half;
            }
        }
        size_t room = p->out_cap - 1 - p->out_len;
        ssize_t n = read(p->err_fd, p->out + p->out_len, room);
        if (n <= 0) {
            if (n == 0 && !p->to_file) {
                close(p->err_fd);
                p->err_fd = -1;
            }
            return;
        }
        p->out_len += (size_t)n;
        p->out[p->out_len] = 0;
    }
}

const char *proc_tail(const struct proc *p, int lines)
{
    const char *s = p->out + p->out_len;
    if (s > p->out && s[-1] == '\n')
        s--; /* the last line's own newline */
    while (s > p->out && lines > 0)
        if (*--s == '\n')
            lines--;
    return lines > 0 ? p->out : s + 1;
}

bool proc_wait_output(struct proc *p, const char *needle, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        if (strstr(p->out, needle))
            return true;
        long long left = end - now_ms();
        if (left <= 0 || p->err_fd < 0)
            return strstr(p->out, needle) != NULL;
        drain(p, (int)(left < 50 ? left : 50));
    }
}

int proc_wait_exit(struct proc *p, int timeout_ms)
{
    long long end = now_ms() + timeout_ms;
    for (;;) {
        int st;
        drain(p, 10);
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) {
            if (p->to_file) {
                drain(p, 0);
                close(p->err_fd);
                p->err_fd = -1;
            }
            while (p->err_fd >= 0)
                drain(p, 50);
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        if (now_ms() > end)
            return -1;
    }
}

int proc_stop(struct proc *p, int sig, int timeout_ms)
{
    kill(p->pid, sig);
    int rc = proc_wait_exit(p, timeout_ms);
    if (rc < 0) {
        kill(p->pid, SIGKILL);
        proc_wait_exit(p, 5000);
    }
    return rc;
}

int proc_run(struct proc *p, char *const argv[], int timeout_ms)
{
    proc_start(p, argv);
    int rc = proc_wait_exit(p, timeout_ms);
    if (rc < 0)
        proc_stop(p, SIGKILL, 1000);
    return rc;
}

void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

const char *scratch_dir(void)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof(dir), "/tmp/mpsd-test-XXXXXX");
        cr_assert_not_null(mkdtemp(dir));
    }
    return dir;
}

const char *env_or_die(const char *name)
{
    const char *v = getenv(name);
    cr_assert_not_null(v, "environment variable %s is not set (run through meson test)", name);
    return v;
}

/* Held for the life of the test process: a port one test chose is skipped by every other test
 * process on the host until this one exits (the kernel drops the flock). Without it two suites run
 * in parallel could pick the same port, and with SO_REUSEPORT their listeners would share it. */
static bool reserve_port(int port)
{
    static const char dir[] = "/tmp/mpsd-test-ports";
    if (mkdir(dir, 01777) == 0)
        chmod(dir, 01777); /* whatever the umask: every user's tests share it */
    char path[64];
    snprintf(path, sizeof(path), "%s/%d", dir, port);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0)
        return true; /* no reservation possible here: the port is only as free as bind said */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return false; /* another test process holds it */
    }
    return true; /* fd stays open: the reservation lasts until exit */
}

int free_port(void)
{
    for (int tries = 0;; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        cr_assert_geq(fd, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        socklen_t len = sizeof(a);
        cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        int port = ntohs(a.sin_port);
        if (reserve_port(port) || tries >= 100)
            return port;
    }
}
