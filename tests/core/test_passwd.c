/* mpsd-passwd end to end: run the built tool, load the line it printed, verify the password. */
#include "creds.h"
#include "directory.h"
#include "users.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define GUID_UC "4C4C4544-004D-4D10-8050-B2C04F325133"
#define GUID_LC "4c4c4544-004d-4d10-8050-b2c04f325133"

struct run {
    int status;
    char out[2048], err[2048];
};

static void slurp(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    lseek(fd, 0, SEEK_SET);
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd);
}

/* Runs mpsd-passwd with argv[1..] and `input` on stdin (cheap argon2 parameters added). */
static void run(struct run *R, const char *input, const char *const *args)
{
    const char *tool = getenv("MPSD_PASSWD");
    cr_assert_not_null(tool, "MPSD_PASSWD is not set (run through meson test)");
    char *argv[16];
    int n = 0;
    argv[n++] = (char *)tool;
    for (; *args; args++)
        argv[n++] = (char *)*args;
    argv[n++] = "--m-cost";
    argv[n++] = "64";
    argv[n++] = "--t-cost";
    argv[n++] = "1";
    argv[n] = NULL;

    char in_path[] = "/tmp/mpsd-pw-in-XXXXXX", out_path[] = "/tmp/mpsd-pw-out-XXXXXX",
         err_path[] = "/tmp/mpsd-pw-err-XXXXXX";
    int in = mkstemp(in_path), out = mkstemp(out_path), err = mkstemp(err_path);
    cr_assert(in >= 0 && out >= 0 && err >= 0);
    unlink(in_path);
    unlink(out_path);
    unlink(err_path);
    cr_assert_eq(write(in, input, strlen(input)), (ssize_t)strlen(input));
    lseek(in, 0, SEEK_SET);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execv(tool, argv);
        _exit(127);
    }
    int st;
    waitpid(pid, &st, 0);
    R->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    close(in);
    slurp(out, R->out, sizeof R->out);
    slurp(err, R->err, sizeof R->err);
}

static creds_db *load_text(const char *text, bool groups)
{
    creds_opts o = {.allow_groups = groups};
    creds_errors errs = {0};
    creds_db *db = NULL;
    int rc = creds_db_parse("out", text, strlen(text), &o, &db, &errs);
    cr_assert_eq(rc, 0, "the tool's line does not load: %s", errs.n ? errs.msg[0] : text);
    return db;
}

static creds_status check(creds_db *db, const char *user, const char *pw)
{
    guid g;
    cr_assert_eq(guid_parse(GUID_LC, 36, &g), 0);
    return creds_check(db, &g, user, strlen(user), pw, strlen(pw), NULL);
}

Test(mpsd_passwd, device_line_from_stdin)
{
    struct run R;
    run(&R, "Secr3t!Pass\n",
        (const char *[]){"--device", GUID_UC, "--user", "admin", "--password-stdin", NULL});
    cr_assert_eq(R.status, 0, "%s", R.err);
    cr_assert(strncmp(R.out, "device " GUID_LC " admin $argon2id$v=19$m=64,t=1,p=1$", 58) == 0,
              "%s", R.out);
    cr_assert_str_empty(R.err, "a good password draws no warning: %s", R.err);
    creds_db *db = load_text(R.out, false);
    cr_assert_eq(check(db, "admin", "Secr3t!Pass"), CREDS_OK);
    cr_assert_eq(check(db, "admin", "Secr3t!Pass\n"), CREDS_BAD_PASSWORD, "newline stripped");
    creds_db_unref(db);
}

Test(mpsd_passwd, group_line_and_bare_hash)
{
    struct run R;
    run(&R, "Group1!pass\r\n",
        (const char *[]){"--group", "lab", "--user", "labuser", "--password-stdin", NULL});
    cr_assert_eq(R.status, 0, "%s", R.err);
    creds_db *db = load_text(R.out, true);
    cr_assert_eq(creds_db_groups(db), 1);
    cr_assert_eq(check(db, "labuser", "Group1!pass"), CREDS_OK);
    creds_db_unref(db);

    run(&R, "short\n", (const char *[]){"--password-stdin", NULL});
    cr_assert_eq(R.status, 0);
    cr_assert(strncmp(R.out, "$argon2id$", 10) == 0, "%s", R.out);
    cr_assert(strstr(R.err, "outside 8..16"), "AMT's limits are warned about: %s", R.err);
}

Test(mpsd_passwd, generate_prints_password_once)
{
    struct run R;
    run(&R, "", (const char *[]){"--device", GUID_LC, "--user", "admin", "--generate", NULL});
    cr_assert_eq(R.status, 0, "%s", R.err);
    char pw[64];
    cr_assert_eq(sscanf(R.err, "password: %63s", pw), 1, "%s", R.err);
    cr_assert_eq(strlen(pw), 16);
    int up = 0, lo = 0, dig = 0, sym = 0;
    for (const char *p = pw; *p; p++) {
        up |= *p >= 'A' && *p <= 'Z';
        lo |= *p >= 'a' && *p <= 'z';
        dig |= *p >= '0' && *p <= '9';
        sym |= strchr("!%*+-.=?^_~", *p) != NULL;
    }
    cr_assert(up && lo && dig && sym, "%s", pw);
    cr_assert_null(strstr(R.out, pw), "the password stays off stdout");
    creds_db *db = load_text(R.out, false);
    cr_assert_eq(check(db, "admin", pw), CREDS_OK);
    creds_db_unref(db);
}

Test(mpsd_passwd, refuses_bad_input)
{
    struct run R;
    run(&R, "x\n",
        (const char *[]){"--device", "not-a-guid", "--user", "a", "--password-stdin", NULL});
    cr_assert_eq(R.status, 2);
    cr_assert(strstr(R.err, "bad GUID 'not-a-guid'"), "%s", R.err);
    run(&R, "x\n",
        (const char *[]){"--device", GUID_LC, "--user", "a@b", "--password-stdin", NULL});
    cr_assert_eq(R.status, 2);
    run(&R, "x\n", (const char *[]){"--device", GUID_LC, "--password-stdin", NULL});
    cr_assert_eq(R.status, 2, "a line needs a user");
    run(&R, "\n", (const char *[]){"--password-stdin", NULL});
    cr_assert_eq(R.status, 1);
    cr_assert(strstr(R.err, "empty password"), "%s", R.err);
    run(&R, "x\n", (const char *[]){NULL});
    cr_assert_eq(R.status, 1, "stdin is no terminal and --password-stdin was not given");
}

static users_db *load_users(const char *text)
{
    creds_errors errs = {0};
    users_db *db = NULL;
    int rc = users_db_parse("out", text, strlen(text), &db, &errs);
    cr_assert_eq(rc, 0, "the tool's line does not load: %s", errs.n ? errs.msg[0] : text);
    return db;
}

Test(mpsd_passwd, console_line_from_stdin)
{
    struct run R;
    run(&R, "short\n",
        (const char *[]){"--console", "ops@example.com", "--devices", "guid:" GUID_UC ",host:*.lab",
                         "--ports", "16992,16994-16995", "--password-stdin", NULL});
    cr_assert_eq(R.status, 0, "%s", R.err);
    cr_assert(strncmp(R.out, "user ops@example.com $argon2id$v=19$m=64,t=1,p=1$", 49) == 0, "%s",
              R.out);
    cr_assert(strstr(R.out, " devices=guid:" GUID_UC ",host:*.lab ports=16992,16994-16995\n"), "%s",
              R.out);
    cr_assert_str_empty(R.err, "AMT's password rules are not a console's: %s", R.err);
    users_db *db = load_users(R.out);
    cr_assert_eq(users_check(db, "ops@example.com", 15, "short", 5), USERS_OK);
    guid g;
    cr_assert_eq(guid_parse(GUID_LC, 36, &g), 0);
    users_target t = {.device = &g, .port = 16995};
    cr_assert(users_allows(db, "ops@example.com", 15, &t));
    t.port = 16993;
    cr_assert_not(users_allows(db, "ops@example.com", 15, &t));
    users_db_unref(db);
}

Test(mpsd_passwd, console_generate)
{
    struct run R;
    run(&R, "",
        (const char *[]){"--console", "alice", "--devices", "all", "--ports", "all", "--generate",
                         NULL});
    cr_assert_eq(R.status, 0, "%s", R.err);
    char pw[64];
    cr_assert_eq(sscanf(R.err, "password: %63s", pw), 1, "%s", R.err);
    cr_assert_null(strstr(R.out, pw), "the password stays off stdout");
    users_db *db = load_users(R.out);
    cr_assert_eq(users_check(db, "alice", 5, pw, strlen(pw)), USERS_OK);
    users_db_unref(db);
}

Test(mpsd_passwd, console_refuses_bad_input)
{
    struct run R;
    run(&R, "x\n",
        (const char *[]){"--console", "alice", "--devices", "host:a/b,all", "--ports", "0",
                         "--password-stdin", NULL});
    cr_assert_eq(R.status, 2);
    cr_assert(strstr(R.err, "mpsd-passwd: --devices: bad host glob in device rule 'host:a/b'"),
              "%s", R.err);
    cr_assert(strstr(R.err, "mpsd-passwd: --ports: bad port '0'"), "%s", R.err);
    cr_assert_str_empty(R.out);
    run(&R, "x\n",
        (const char *[]){"--console", "a:b", "--devices", "all", "--ports", "all",
                         "--password-stdin", NULL});
    cr_assert_eq(R.status, 2);
    cr_assert(strstr(R.err, "bad console user name 'a:b'"), "%s", R.err);
    run(&R, "x\n",
        (const char *[]){"--console", "alice", "--devices", "all", "--password-stdin", NULL});
    cr_assert_eq(R.status, 2, "no --ports: deny by default is not guessed at");
    run(&R, "x\n",
        (const char *[]){"--devices", "all", "--ports", "all", "--password-stdin", NULL});
    cr_assert_eq(R.status, 2, "--devices without --console");
    run(&R, "x\n",
        (const char *[]){"--console", "alice", "--user", "alice", "--devices", "all", "--ports",
                         "all", "--password-stdin", NULL});
    cr_assert_eq(R.status, 2, "--console names the user itself");
}
