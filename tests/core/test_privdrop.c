/* privdrop_to / privdrop_thread (src/core/privdrop.c). The drops run in forked children (a
 * process cannot come back from them); the root cases are skipped when the tests do not run as
 * root. A second thread stands in for an io_uring worker: glibc must change its ids too, and the
 * kernel must clear its capabilities. */
#include "privdrop.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* The value of a "Name:\t<hex>" or the first number of a "Name:\t<n> ..." line of a status file. */
static unsigned long long status_field(const char *path, const char *name, int base)
{
    FILE *f = fopen(path, "r");
    char line[256];
    unsigned long long v = ~0ull;
    size_t n = strlen(name);
    while (f && fgets(line, sizeof(line), f))
        if (!strncmp(line, name, n) && line[n] == ':')
            v = strtoull(line + n + 1, NULL, base);
    if (f)
        fclose(f);
    return v;
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int phase; /* 1: worker started; 2: main dropped; 3: worker checked */
static pid_t worker_tid;
static char worker_err[256];
static int worker_rc = -2;

static void *worker(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&mu);
    worker_tid = (pid_t)syscall(SYS_gettid);
    phase = 1;
    pthread_cond_broadcast(&cv);
    while (phase < 2)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    worker_rc = privdrop_thread(worker_err, sizeof(worker_err));
    if (worker_rc == 0 && prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
        worker_rc = -3;
    if (worker_rc == 0 && setuid(0) == 0)
        worker_rc = -4;
    pthread_mutex_lock(&mu);
    phase = 3;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&mu);
    return NULL;
}

/* Child: start a "worker" thread, drop to nobody, check everything; exit code = the first failed
 * check (0 = all good), with a line on stderr. */
#define CHECK(n, cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "check %d: " #cond ": ", n);                                           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            _exit(n);                                                                              \
        }                                                                                          \
    } while (0)

static void child_drop_to_nobody(void)
{
    struct passwd *pw = getpwnam("nobody");
    CHECK(1, pw != NULL, "no user nobody");
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    pthread_t t;
    CHECK(2, pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    pthread_mutex_lock(&mu);
    while (phase < 1)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)worker_tid);
    CHECK(3, status_field(path, "CapEff", 16) != 0, "the worker had no capability to lose");

    char err[256] = "";
    int rc = privdrop_to("nobody", err, sizeof(err));
    CHECK(4, rc == 0, "privdrop_to: %s", err);
    CHECK(5, getuid() == uid && geteuid() == uid, "uid %u euid %u", getuid(), geteuid());
    CHECK(6, getgid() == gid && getegid() == gid, "gid %u egid %u", getgid(), getegid());
    CHECK(7, status_field("/proc/self/status", "CapEff", 16) == 0, "CapEff not 0");
    CHECK(8, status_field("/proc/self/status", "CapPrm", 16) == 0, "CapPrm not 0");
    CHECK(9, status_field("/proc/self/status", "CapInh", 16) == 0, "CapInh not 0");
    CHECK(10, status_field("/proc/self/status", "CapBnd", 16) == 0, "CapBnd not 0");
    CHECK(11, setuid(0) != 0 && errno == EPERM, "setuid(0) did not fail with EPERM");
    CHECK(12, seteuid(0) != 0, "seteuid(0) succeeded");
    CHECK(13, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs off");
    gid_t groups[64];
    int ng = getgroups(64, groups);
    for (int i = 0; i < ng; i++)
        CHECK(14, groups[i] != 0, "supplementary group 0 kept");
    /* the other thread: ids changed by glibc's broadcast, capabilities cleared by the kernel */
    CHECK(15, status_field(path, "Uid", 10) == uid, "worker uid not nobody's");
    CHECK(16, status_field(path, "CapEff", 16) == 0, "worker CapEff not 0");
    CHECK(17, status_field(path, "CapPrm", 16) == 0, "worker CapPrm not 0");
    pthread_mutex_lock(&mu);
    phase = 2;
    pthread_cond_broadcast(&cv);
    while (phase < 3)
        pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL);
    CHECK(18, worker_rc == 0, "privdrop_thread: %d %s", worker_rc, worker_err);
    _exit(0);
}

static int run_child(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0)
        fn();
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st), "child died (signal %d)", WTERMSIG(st));
    return WEXITSTATUS(st);
}

static void need_root(void)
{
    if (geteuid() != 0)
        cr_skip_test("not running as root: the drop itself cannot be tested");
}

Test(privdrop, root_drops_to_nobody_in_every_thread)
{
    need_root();
    int rc = run_child(child_drop_to_nobody);
    cr_assert_eq(rc, 0, "child check %d failed (its stderr names it)", rc);
}

static void child_unknown_user(void)
{
    char err[256] = "";
    int rc = privdrop_to("no-such-user-mpsd", err, sizeof(err));
    CHECK(1, rc != 0, "an unknown user was accepted");
    CHECK(2, strstr(err, "'no-such-user-mpsd' does not exist: refusing to run as root"), "%s", err);
    CHECK(3, geteuid() == 0, "ids changed although the user is unknown");
    _exit(0);
}

Test(privdrop, unknown_user_refused_as_root)
{
    need_root();
    int rc = run_child(child_unknown_user);
    cr_assert_eq(rc, 0, "child check %d failed", rc);
}

static void child_not_root(void)
{
    struct passwd *pw = getpwnam("nobody");
    CHECK(1, pw != NULL, "no user nobody");
    if (geteuid() == 0) /* become an ordinary user first */
        CHECK(2, setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 && setuid(pw->pw_uid) == 0,
              "setuid(nobody)");
    char err[256] = "";
    CHECK(3, privdrop_to("root", err, sizeof(err)) != 0, "non-root became root?");
    CHECK(4, strstr(err, "not root") && strstr(err, "'root'"), "%s", err);
    /* already the configured user: fine, and this thread is hardened */
    const char *me = getpwuid(getuid())->pw_name;
    CHECK(5, privdrop_to(me, err, sizeof(err)) == 0, "%s", err);
    CHECK(6, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, "no_new_privs off");
    _exit(0);
}

Test(privdrop, not_root_cannot_become_someone_else)
{
    int rc = run_child(child_not_root);
    cr_assert_eq(rc, 0, "child check %d failed", rc);
}

Test(privdrop, no_user_is_a_no_op)
{
    char err[64] = "";
    uid_t before = geteuid();
    cr_assert_eq(privdrop_to(NULL, err, sizeof(err)), 0);
    cr_assert_eq(privdrop_to("", err, sizeof(err)), 0);
    cr_assert_eq(geteuid(), before);
}
