/* A real mpsd on loopback with generated certificates and credentials, and the amtsim device
 * simulator to drive it. Each test gets its own scratch dir, ports and lock file. */
#ifndef MPSD_TEST_FIXTURE_H
#define MPSD_TEST_FIXTURE_H

#include "../process/proc.h"

#include <stdbool.h>
#include <stddef.h>

#define FX_PASSWORD    "Fl33t-P@ss!"
#define FX_DEVICE_GUID "0aa8f7c2-1111-4e2f-9a3b-5c6d7e8f9a0b"

struct fx {
    struct proc p;
    char dir[256];
    char conf[320];
    char certs[300]; /* the server's cert dir (copies): server.pem, server.key, ca.pem */
    int port, plain_port;
    int socks_port, http_port; /* console listeners (fx_opts.console) */
    char users[320];           /* the console users file (fx_opts.console) */
    int admin_port;            /* the admin HTTP listener (fx_opts.admin) */
};

struct fx_opts {
    const char *cira;          /* extra [cira] lines (keys the defaults do not set) */
    const char *devices;       /* extra [devices] lines */
    bool no_group;             /* no group credential: only device entries log in */
    bool debug;                /* log_level = debug */
    bool plain;                /* plain_listen = 127.0.0.1:<plain_port> (TLS offload, plain APF) */
    bool console;              /* a [console] section: SOCKS5/4a and HTTP listeners, users file */
    const char *console_extra; /* extra [console] lines */
    const char *users;         /* the users file's text (fx_user_line makes lines) */
    int workers;               /* [mpsd] workers (0: 2) */
    const char *mpsd;          /* extra [mpsd] lines */
    bool admin;                /* an [admin] section: listen = 127.0.0.1:<admin_port> */
    const char *admin_extra;   /* extra [admin] lines */
    /* [cira] max_handshakes_per_source / _per_prefix (0: 1,000,000: tests connect hundreds of
     * devices from one address at once) */
    unsigned hs_per_source, hs_per_prefix;
};

/* Every mpsd a test starts (tests/process/proc.c) runs with its own MPSD_TEST_INSTANCE scope unless
 * the test set one, so that tests on one host may run several mpsd at once (the host-wide
 * one-instance rule is scoped by it). */

/* Writes the config and starts mpsd; waits until it runs. [cira] defaults: keepalive 1s/3s,
 * handshake 2s, login 3s. [devices]: group 'fleet' user admin/FX_PASSWORD (group_auth on) unless
 * no_group; device FX_DEVICE_GUID user dev1 always. o may be NULL. */
void fx_start(struct fx *f, const struct fx_opts *o);
void fx_stop(struct fx *f, int sig);
/* A console users file line "user <name> <cheap argon2id of pw> <rules>\n" into out. */
void fx_user_line(char *out, size_t cap, const char *name, const char *pw, const char *rules);
/* Counts occurrences of needle in mpsd's output so far (after draining what is pending). */
int fx_count(struct fx *f, const char *needle);
bool fx_wait(struct fx *f, const char *needle, int timeout_ms);
/* For a failure message: mpsd's warn and error lines (the first 40) and its last stats line, not
 * the whole output (a thousand tunnels log a megabyte). Static storage: one call per message. */
const char *fx_brief(struct fx *f);
/* Asks for a stats line (SIGUSR1) and returns the named counter (0 if not printed). */
long long fx_stat(struct fx *f, const char *name);

/* Runs amtsim against the fixture with `args` (space separated) plus --connect/--ca/--password
 * defaults; returns its exit status; the output stays in sim->out. */
int sim_run(struct fx *f, struct proc *sim, const char *args, int timeout_ms);
void sim_start(struct fx *f, struct proc *sim, const char *args);
/* A field of amtsim's final JSON summary ("ready_total" -> its number), -1 if absent. */
long long sim_field(const struct proc *sim, const char *name);

#endif
