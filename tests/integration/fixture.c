#include "fixture.h"
#include "creds.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void hash_line(char *out, size_t cap, const char *prefix, const char *pw)
{
    /* Cheap argon2 parameters: these tests are about the server, not the KDF's cost. */
    creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};
    char phc[CREDS_PHC_MAX];
    cr_assert_eq(creds_hash(pw, strlen(pw), &cheap, phc, sizeof(phc)), 0);
    snprintf(out, cap, "%s %s\n", prefix, phc);
}

void fx_user_line(char *out, size_t cap, const char *name, const char *pw, const char *rules)
{
    char prefix[128];
    snprintf(prefix, sizeof(prefix), "user %s", name);
    hash_line(out, cap, prefix, pw);
    size_t n = strlen(out);
    if (n && out[n - 1] == '\n')
        snprintf(out + n - 1, cap - (n - 1), " %s\n", rules);
}

void fx_start(struct fx *f, const struct fx_opts *o)
{
    static const struct fx_opts none;
    if (!o)
        o = &none;
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/mpsd-it-XXXXXX");
    cr_assert_not_null(mkdtemp(f->dir));
    /* The server's certificate files are copies, so a test may rewrite them (reload). */
    snprintf(f->certs, sizeof(f->certs), "%s/certs", f->dir);
    char cmd[2048];
    const char *src = env_or_die("MPSD_CERTS");
    snprintf(cmd, sizeof(cmd),
             "mkdir -p '%s' && cp '%s/server.pem' '%s/server.key' '%s/ca.pem' '%s/'", f->certs, src,
             src, src, f->certs);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    f->port = free_port();
    f->plain_port = free_port();

    char creds[4096] = "", line[512], path[400];
    if (!o->no_group) {
        hash_line(line, sizeof(line), "group fleet admin", FX_PASSWORD);
        strcat(creds, line);
    }
    hash_line(line, sizeof(line), "device " FX_DEVICE_GUID " dev1", FX_PASSWORD);
    strcat(creds, line);
    snprintf(path, sizeof(path), "%s/credentials", f->dir);
    write_file(path, creds);

    char console[2048] = "", plain[64] = "";
    if (o->plain)
        snprintf(plain, sizeof(plain), "plain_listen = 127.0.0.1:%d\n", f->plain_port);
    if (o->console) {
        f->socks_port = free_port();
        f->http_port = free_port();
        snprintf(f->users, sizeof(f->users), "%s/users", f->dir);
        write_file(f->users, o->users ? o->users : "");
        snprintf(console, sizeof(console),
                 "[console]\nsocks_listen = 127.0.0.1:%d\nhttp_listen = 127.0.0.1:%d\n"
                 "users = %s\n%s",
                 f->socks_port, f->http_port, f->users, o->console_extra ? o->console_extra : "");
    }

    char admin[1024] = "";
    if (o->admin) {
        f->admin_port = free_port();
        snprintf(admin, sizeof(admin), "[admin]\nlisten = 127.0.0.1:%d\n%s", f->admin_port,
                 o->admin_extra ? o->admin_extra : "");
    }

    char text[8192];
    snprintf(text, sizeof(text),
             "[mpsd]\nname = 127.0.0.1\nlock_file = %s/lock\nworkers = %d\nlog_level = %s\n%s"
             "[cira]\nlisten = 127.0.0.1:%d\ncert = %s/server.pem\nkey = %s/server.key\n"
             "keepalive_interval = 1s\nkeepalive_timeout = 3s\nhandshake_timeout = 2s\n"
             "login_timeout = 3s\ndrain_timeout = 3s\n"
             "max_handshakes_per_source = %u\nmax_handshakes_per_prefix = %u\n%s%s"
             "[devices]\ncredentials = %s\ngroup_auth = %s\n%s%s%s",
             f->dir, o->workers > 0 ? o->workers : 2, o->debug ? "debug" : "info",
             o->mpsd ? o->mpsd : "", f->port, f->certs, f->certs,
             o->hs_per_source ? o->hs_per_source : 1000000u,
             o->hs_per_prefix ? o->hs_per_prefix : 1000000u, plain, o->cira ? o->cira : "", path,
             o->no_group ? "false" : "true", o->devices ? o->devices : "", console, admin);
    snprintf(f->conf, sizeof(f->conf), "%s/mpsd.conf", f->dir);
    write_file(f->conf, text);

    char *argv[] = {(char *)env_or_die("MPSD_BIN"), "--config", f->conf, NULL};
    char log[400];
    snprintf(log, sizeof(log), "%s/mpsd.log", f->dir);
    proc_start_logged(&f->p, argv, log);
    cr_assert(proc_wait_output(&f->p, "mpsd running as pid", 15000), "mpsd did not start:\n%s",
              f->p.out);
}

void fx_stop(struct fx *f, int sig)
{
    proc_stop(&f->p, sig, 15000);
}

int fx_count(struct fx *f, const char *needle)
{
    proc_wait_output(&f->p, "\x01never\x01", 50); /* drain what is there */
    int n = 0;
    for (const char *s = f->p.out; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

const char *fx_brief(struct fx *f)
{
    static char buf[24576];
    size_t n = 0;
    int kept = 0, skipped = 0;
    proc_wait_output(&f->p, "\x01never\x01", 50);
    const char *stats = NULL;
    for (const char *s = f->p.out; *s;) {
        const char *eol = strchr(s, '\n');
        size_t len = eol ? (size_t)(eol - s) : strlen(s);
        /* logfmt "level=warn" or JSON "level":"warn" (and error) */
        bool bad = false;
        for (const char *l = s; l < s + len && (l = strstr(l, "level")) && l < s + len; l++)
            if (!strncmp(l, "level=warn", 10) || !strncmp(l, "level=error", 11) ||
                !strncmp(l, "level\":\"warn", 13) || !strncmp(l, "level\":\"error", 14)) {
                bad = true;
                break;
            }
        if (memmem(s, len, "stats: ", 7))
            stats = s;
        if (bad && kept < 40 && n + len + 2 < sizeof(buf)) {
            memcpy(buf + n, s, len);
            n += len;
            buf[n++] = '\n';
            kept++;
        } else if (bad) {
            skipped++;
        }
        s = eol ? eol + 1 : s + len;
    }
    n += (size_t)snprintf(buf + n, sizeof(buf) - n,
                          "(%d more warn/error lines)\nlast stats: ", skipped);
    if (n >= sizeof(buf))
        n = sizeof(buf) - 1;
    if (!stats)
        stats = "none (the test asked for no stats line)\n";
    {
        const char *eol = strchr(stats, '\n');
        size_t len = eol ? (size_t)(eol - stats) : strlen(stats);
        if (len > sizeof(buf) - n - 1)
            len = sizeof(buf) - n - 1;
        memcpy(buf + n, stats, len);
        n += len;
    }
    buf[n] = 0;
    return buf;
}

bool fx_wait(struct fx *f, const char *needle, int timeout_ms)
{
    return proc_wait_output(&f->p, needle, timeout_ms);
}

long long fx_stat(struct fx *f, const char *name)
{
    /* the stats line's message starts "stats: " (logfmt msg="stats: ..., JSON "msg":"stats: ...) */
    static const char *const stats_needles[] = {"msg=\"stats: ", "\"msg\":\"stats: "};
#define COUNT_STATS() (fx_count(f, stats_needles[0]) + fx_count(f, stats_needles[1]))
    int before = COUNT_STATS();
    kill(f->p.pid, SIGUSR1);
    for (int i = 0; i < 100 && COUNT_STATS() == before; i++)
        ;
#undef COUNT_STATS
    /* the last stats line */
    const char *last = NULL;
    for (int k = 0; k < 2; k++)
        for (const char *s = f->p.out; (s = strstr(s, stats_needles[k])); s++)
            if (s > last)
                last = s;
    cr_assert_not_null(last, "no stats line:\n%s", f->p.out);
    char key[128];
    snprintf(key, sizeof(key), " %s=", name);
    const char *eol = strchr(last, '\n');
    const char *k = strstr(last, key);
    if (!k || (eol && k > eol))
        return 0;
    return atoll(k + strlen(key));
}

static void build_argv(struct fx *f, const char *args, char **argv, char *buf, size_t cap)
{
    static char connect[64], ca[400];
    snprintf(connect, sizeof(connect), "127.0.0.1:%d", f->port);
    snprintf(ca, sizeof(ca), "%s/ca.pem", f->certs);
    int n = 0;
    argv[n++] = (char *)env_or_die("AMTSIM_BIN");
    bool has_connect = strstr(args, "--connect") != NULL, plain = strstr(args, "--plain") != NULL;
    if (!has_connect) {
        argv[n++] = "--connect";
        argv[n++] = connect;
    }
    if (!plain && !strstr(args, "--ca ")) {
        argv[n++] = "--ca";
        argv[n++] = ca;
    }
    if (!strstr(args, "--password")) {
        argv[n++] = "--password";
        argv[n++] = FX_PASSWORD;
    }
    snprintf(buf, cap, "%s", args);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && n < 62;
         tok = strtok_r(NULL, " ", &save))
        argv[n++] = tok;
    argv[n] = NULL;
}

void sim_start(struct fx *f, struct proc *sim, const char *args)
{
    static _Thread_local char buf[2048];
    char *argv[64];
    build_argv(f, args, argv, buf, sizeof(buf));
    proc_start(sim, argv);
}

int sim_run(struct fx *f, struct proc *sim, const char *args, int timeout_ms)
{
    sim_start(f, sim, args);
    int rc = proc_wait_exit(sim, timeout_ms);
    if (rc < 0)
        proc_stop(sim, SIGKILL, 2000);
    return rc;
}

long long sim_field(const struct proc *sim, const char *name)
{
    const char *sum = strstr(sim->out, "{\"summary\":true");
    if (!sum)
        return -1;
    char key[128];
    snprintf(key, sizeof(key), "\"%s\":", name);
    const char *k = strstr(sum, key);
    return k ? atoll(k + strlen(key)) : -1;
}
