/* mpsd's command line as an operator uses it. */
#include "proc.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *mpsd(void)
{
    return (char *)env_or_die("MPSD_BIN");
}

/* A configuration that passes every check: the test CA's server cert, a scratch lock file. */
static void good_config(char *path, size_t cap, const char *lock)
{
    const char *certs = env_or_die("MPSD_CERTS");
    char creds[300], text[2048];
    snprintf(creds, sizeof(creds), "%s/creds", scratch_dir());
    write_file(creds, "# no devices yet\n");
    snprintf(path, cap, "%s/good.conf", scratch_dir());
    snprintf(text, sizeof(text),
             "[mpsd]\nname = 127.0.0.1\nlock_file = %s\nworkers = 1\n"
             "[cira]\nlisten = 127.0.0.1:%d\ncert = %s/server.pem\nkey = %s/server.key\n"
             "keepalive_interval = 2s\nkeepalive_timeout = 5s\n"
             "[devices]\ncredentials = %s\n",
             lock, free_port(), certs, certs, creds);
    write_file(path, text);
}

Test(cli, version_names_wolfssl_and_aesni)
{
    struct proc p;
    char *argv[] = {mpsd(), "--version", NULL};
    cr_assert_eq(proc_run(&p, argv, 5000), 0);
    cr_assert(strstr(p.out, "mpsd "), "%s", p.out);
    cr_assert(strstr(p.out, "wolfSSL 5.5.4"), "%s", p.out);
    cr_assert(strstr(p.out, "AES-NI: compiled in"), "the fast wolfSSL must be linked: %s", p.out);
    cr_assert(strstr(p.out, "legacy TLS profile: available"), "%s", p.out);
}

Test(cli, help_and_bad_usage)
{
    struct proc p;
    char *help[] = {mpsd(), "--help", NULL};
    cr_assert_eq(proc_run(&p, help, 5000), 0);
    cr_assert(strstr(p.out, "--check-config FILE"), "%s", p.out);
    char *bad[] = {mpsd(), "--no-such-flag", NULL};
    cr_assert_eq(proc_run(&p, bad, 5000), 2);
    char *none[] = {mpsd(), NULL};
    cr_assert_eq(proc_run(&p, none, 5000), 2);
    cr_assert(strstr(p.out, "no configuration given"), "%s", p.out);
}

Test(cli, check_config_reports_every_problem_with_its_line)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/bad.conf", scratch_dir());
    write_file(path, "[mpsd]\n"                    /* 1 */
                     "name = mps.example.com\n"    /* 2 */
                     "workers = many\n"            /* 3 */
                     "colour = blue\n"             /* 4 */
                     "[cira]\n"                    /* 5 */
                     "listen = 127.0.0.1:99999\n"  /* 6 */
                     "keepalive_interval = 30s\n"  /* 7 */
                     "keepalive_timeout = 45s\n"   /* 8 */
                     "tls_profile = ancient\n"     /* 9 */
                     "max_buffered = 12 parsecs\n" /* 10 */
                     "[devices]\n"                 /* 11 */
                     "auto_enroll = maybe\n"       /* 12 */
                     "[nope]\n"                    /* 13 */
                     "x = 1\n");                   /* 14 */
    struct proc p;
    char *argv[] = {mpsd(), "--check-config", path, NULL};
    cr_assert_eq(proc_run(&p, argv, 5000), 1);
    const char *want[] = {
        ":3: workers: bad value 'many': expected a number",
        ":4: unknown key 'colour' in section [mpsd]",
        ":6: listen: bad value '127.0.0.1:99999': port must be 1..65535",
        ":8: keepalive_timeout (45000ms) must be at least twice keepalive_interval (30000ms)",
        ":9: tls_profile: bad value 'ancient': expected modern or legacy",
        ":10: max_buffered: bad value '12 parsecs'",
        ":12: auto_enroll: bad value 'maybe': expected true or false",
        ":14: unknown section [nope]",
    };
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        char line[400];
        snprintf(line, sizeof(line), "%s%s", path, want[i]);
        cr_expect(strstr(p.out, line), "missing '%s' in:\n%s", line, p.out);
    }
}

Test(cli, check_config_accepts_a_good_file)
{
    char path[300], lock[300];
    snprintf(lock, sizeof(lock), "%s/lock", scratch_dir());
    good_config(path, sizeof(path), lock);
    struct proc p;
    char *argv[] = {mpsd(), "-t", path, NULL};
    cr_assert_eq(proc_run(&p, argv, 10000), 0, "%s", p.out);
    cr_assert(strstr(p.out, "configuration is valid"), "%s", p.out);
}

Test(cli, check_config_missing_cert_names_the_key_line)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/nocert.conf", scratch_dir());
    write_file(path, "[cira]\ncert = /nonexistent/server.pem\nkey = /nonexistent/k\n"
                     "[devices]\nauto_enroll = true\n");
    struct proc p;
    char *argv[] = {mpsd(), "-t", path, NULL};
    cr_assert_eq(proc_run(&p, argv, 5000), 1);
    char want[400];
    snprintf(want, sizeof(want), "%s:2: cert: cannot read '/nonexistent/server.pem'", path);
    cr_assert(strstr(p.out, want), "%s", p.out);
}

Test(cli, one_instance_per_host_and_stale_lock_does_not_block)
{
    char path[300], lock[300];
    snprintf(lock, sizeof(lock), "%s/instance.lock", scratch_dir());
    good_config(path, sizeof(path), lock);
    char *argv[] = {mpsd(), "--config", path, NULL};

    struct proc first, second, third;
    proc_start(&first, argv);
    cr_assert(proc_wait_output(&first, "running as pid", 10000), "first mpsd: %s", first.out);

    cr_assert_eq(proc_run(&second, argv, 10000), 1, "second mpsd must refuse: %s", second.out);
    char want[128];
    snprintf(want, sizeof(want), "another mpsd (pid %d) already runs", (int)first.pid);
    cr_assert(strstr(second.out, want), "refusal must name the holder: %s", second.out);

    /* A killed mpsd leaves its pid in the file; the kernel released the lock. */
    cr_assert_eq(proc_stop(&first, SIGKILL, 5000), 128 + SIGKILL);
    proc_start(&third, argv);
    cr_assert(proc_wait_output(&third, "running as pid", 10000), "restart after kill: %s",
              third.out);
    cr_assert_eq(proc_stop(&third, SIGTERM, 15000), 0, "%s", third.out);
}

Test(cli, check_config_long_lines_and_hash_comments)
{
    char path[300], text[1024], longval[400];
    memset(longval, 'x', sizeof(longval) - 1);
    longval[sizeof(longval) - 1] = 0;
    snprintf(path, sizeof(path), "%s/comments.conf", scratch_dir());
    snprintf(
        text, sizeof(text),
        "[mpsd]\n"
        "name = mps.example.com   # what devices dial\n" /* 2: a comment, not part of the name */
        "log_level = warn ; inih comment\n"              /* 3 */
        "lock_file = /%s\n"                              /* 4: too long */
        "workers = 3x\n",                                /* 5: still numbered right */
        longval);
    write_file(path, text);
    struct proc p;
    char *argv[] = {mpsd(), "-t", path, NULL};
    cr_assert_eq(proc_run(&p, argv, 5000), 1);
    char want[400];
    snprintf(want, sizeof(want), "%s:4: line longer than", path);
    cr_expect(strstr(p.out, want), "%s", p.out);
    snprintf(want, sizeof(want), "%s:5: workers: bad value '3x'", path);
    cr_expect(strstr(p.out, want), "line numbers stay right after a long line:\n%s", p.out);
    cr_expect(!strstr(p.out, ":2:"), "a # comment is not an error:\n%s", p.out);
    cr_expect(!strstr(p.out, ":3:"), "%s", p.out);
}

Test(cli, lock_file_symlink_is_refused)
{
    char path[300], lock[300], target[300];
    snprintf(target, sizeof(target), "%s/precious", scratch_dir());
    write_file(target, "keep me\n");
    snprintf(lock, sizeof(lock), "%s/evil.lock", scratch_dir());
    cr_assert_eq(symlink(target, lock), 0);
    good_config(path, sizeof(path), lock);
    struct proc p;
    char *argv[] = {mpsd(), "--config", path, NULL};
    cr_assert_eq(proc_run(&p, argv, 10000), 1, "%s", p.out);
    cr_expect(strstr(p.out, "cannot open lock file"), "%s", p.out);
    FILE *f = fopen(target, "r");
    char buf[32] = "";
    cr_assert_not_null(f);
    cr_assert_not_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    cr_expect_str_eq(buf, "keep me\n", "the symlink's target is untouched");
}
