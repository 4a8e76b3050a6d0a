/* mpsd started as root with `user` set: it binds and loads its keys, then runs as that user with
 * no capability left, on every thread (read from /proc/<pid>/task/<tid>/status). */
#include "proc.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void config(char *path, size_t cap, int port, const char *user)
{
    const char *certs = env_or_die("MPSD_CERTS");
    char creds[300], text[2048];
    snprintf(creds, sizeof(creds), "%s/creds", scratch_dir());
    write_file(creds, "# no devices yet\n");
    snprintf(path, cap, "%s/priv.conf", scratch_dir());
    snprintf(text, sizeof(text),
             "[mpsd]\nname = 127.0.0.1\nlock_file = %s/priv.lock\nworkers = 2\nuser = %s\n"
             "[cira]\nlisten = 127.0.0.1:%d\ncert = %s/server.pem\nkey = %s/server.key\n"
             "[devices]\ncredentials = %s\n",
             scratch_dir(), user, port, certs, certs, creds);
    write_file(path, text);
}

/* The value of a "Key:\t..." line of a status file, into out. */
static bool status_field(const char *file, const char *key, char *out, size_t cap)
{
    FILE *f = fopen(file, "r");
    if (!f)
        return false;
    char line[512];
    bool found = false;
    size_t kl = strlen(key);
    while (!found && fgets(line, sizeof(line), f)) {
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            const char *v = line + kl + 1;
            while (*v == '\t' || *v == ' ')
                v++;
            size_t n = strcspn(v, "\n");
            if (n >= cap)
                n = cap - 1;
            memcpy(out, v, n);
            out[n] = 0;
            found = true;
        }
    }
    fclose(f);
    return found;
}

Test(privileges, root_start_runs_as_the_user_on_every_thread)
{
    if (geteuid() != 0)
        cr_skip("needs root (CI runs as root)");
    struct passwd *pw = getpwnam("nobody");
    cr_assert_not_null(pw, "no user nobody");
    char conf[300];
    int port = free_port();
    config(conf, sizeof(conf), port, "nobody");
    struct proc p;
    char *argv[] = {(char *)env_or_die("MPSD_BIN"), "--config", conf, NULL};
    proc_start(&p, argv);
    cr_assert(proc_wait_output(&p, "mpsd running as pid", 10000), "%s", p.out);
    cr_assert(strstr(p.out, "running as user nobody"), "%s", p.out);
    char dir[64];
    snprintf(dir, sizeof(dir), "/proc/%ld/task", (long)p.pid);
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    int threads = 0;
    char want_uid[64];
    snprintf(want_uid, sizeof(want_uid), "%u\t%u\t%u\t%u", pw->pw_uid, pw->pw_uid, pw->pw_uid,
             pw->pw_uid);
    for (struct dirent *e; (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char file[400], v[128];
        snprintf(file, sizeof(file), "%s/%s/status", dir, e->d_name);
        cr_assert(status_field(file, "Uid", v, sizeof(v)), "%s", file);
        cr_assert_str_eq(v, want_uid, "thread %s runs as uid %s", e->d_name, v);
        cr_assert(status_field(file, "CapEff", v, sizeof(v)));
        cr_assert_str_eq(v, "0000000000000000", "thread %s keeps capabilities %s", e->d_name, v);
        cr_assert(status_field(file, "CapPrm", v, sizeof(v)));
        cr_assert_str_eq(v, "0000000000000000", "thread %s", e->d_name);
        threads++;
    }
    closedir(d);
    cr_assert_geq(threads, 3, "main and two workers at least, saw %d", threads);
    /* still serving: the listener bound as root accepts as nobody */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "listener gone");
    close(fd);
    cr_assert_eq(proc_stop(&p, SIGTERM, 10000), 0, "%s", p.out);
}

Test(privileges, unknown_user_is_refused)
{
    if (geteuid() != 0)
        cr_skip("needs root (CI runs as root)");
    char conf[300];
    config(conf, sizeof(conf), free_port(), "no-such-user-mpsd");
    struct proc p;
    char *argv[] = {(char *)env_or_die("MPSD_BIN"), "--config", conf, NULL};
    cr_assert_neq(proc_run(&p, argv, 10000), 0, "%s", p.out);
    cr_assert(strstr(p.out, "cannot drop privileges"), "%s", p.out);
    cr_assert_not(strstr(p.out, "mpsd running as pid"), "%s", p.out);
}
