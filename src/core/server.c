/* The process: shared state, workers, and the control loop on the main thread.
 *
 * The control thread owns policy and process-wide events: signals (SIGHUP reload, SIGTERM drain,
 * SIGUSR1 stats), caps, the credentials and certificates in force. It never touches a worker's
 * connection: it swaps reload slots (workers pick up the new objects on their next accept or login)
 * and posts messages. Per-tunnel deadlines (handshake, login, keep-alive) are enforced by each
 * worker's O(1) timer wheel with the limits the control thread configured, so that a million idle
 * tunnels cost no periodic scan. */
#include "server.h"
#include "admin.h"
#include "admission.h"
#include "console.h"
#include "events.h"
#include "lock.h"
#include "log.h"
#include "mpsd.h"
#include "notify.h"
#include "privdrop.h"
#include "tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

static uint64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void tls_config_of(const struct config *cfg, struct tls_tickets *tickets,
                          struct tls_server_config *tc)
{
    memset(tc, 0, sizeof(*tc));
    tc->tickets = tickets;
    tc->cert_file = cfg->cert;
    tc->key_file = cfg->key;
    tc->client_ca_file = cfg->client_ca[0] ? cfg->client_ca : NULL;
    tc->profile = cfg->tls_profile == CONFIG_TLS_LEGACY ? TLS_PROFILE_LEGACY : TLS_PROFILE_MODERN;
}

static int load_creds(const struct config *cfg, creds_db **out, FILE *errout)
{
    *out = NULL;
    if (!cfg->credentials[0])
        return 0; /* auto_enroll without a file: checked by config_load */
    creds_opts opts = {.allow_groups = cfg->group_auth};
    creds_errors errs = {0};
    int rc = creds_db_load(cfg->credentials, &opts, out, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        if (errout)
            fprintf(errout, "%s\n", errs.msg[i]);
        else
            log_error("%s", errs.msg[i]);
    }
    creds_errors_free(&errs);
    return rc;
}

static int load_users(const struct config *cfg, users_db **out, FILE *errout)
{
    *out = NULL;
    if (!cfg->users[0])
        return 0; /* no console users: every console is denied (or anonymous on loopback) */
    creds_errors errs = {0};
    int rc = users_db_load(cfg->users, out, &errs);
    for (size_t i = 0; i < errs.n; i++) {
        if (errout)
            fprintf(errout, "%s\n", errs.msg[i]);
        else
            log_error("%s", errs.msg[i]);
    }
    creds_errors_free(&errs);
    return rc;
}

int server_check(const struct config *cfg)
{
    int bad = 0;
    if (cfg->n_listen) {
        if (tls_global_init() != 0) {
            fprintf(stderr, "TLS library initialisation failed\n");
            return -1;
        }
        struct tls_server_config tc;
        struct tls_ctx *ctx = NULL;
        char err[512];
        struct tls_tickets *tk = NULL;
        if (tls_tickets_new(cfg->ticket_rotation_ms,
                            cfg->ticket_key_file[0] ? cfg->ticket_key_file : NULL, unix_ms(), &tk,
                            err, sizeof(err)) != 0) {
            fprintf(stderr, "TLS tickets: %s\n", err);
            bad = 1;
        }
        tls_config_of(cfg, tk, &tc);
        if (tls_ctx_server_new(&tc, &ctx, err, sizeof(err)) != 0) {
            fprintf(stderr, "TLS: %s\n", err);
            bad = 1;
        }
        tls_ctx_unref(ctx);
        tls_tickets_unref(tk);
        tls_global_cleanup();
    }
    creds_db *db;
    if (load_creds(cfg, &db, stderr) != 0)
        bad = 1;
    creds_db_unref(db);
    users_db *udb;
    if (load_users(cfg, &udb, stderr) != 0)
        bad = 1;
    users_db_unref(udb);
    return bad ? -1 : 0;
}

/* --- workers --- */

static int to_sockaddr(const struct config_listen *l, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (strchr(l->host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(l->port);
        if (inet_pton(AF_INET6, l->host, &a->sin6_addr) != 1)
            return -EINVAL;
        *len = sizeof(*a);
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(l->port);
        if (inet_pton(AF_INET, l->host, &a->sin_addr) != 1)
            return -EINVAL;
        *len = sizeof(*a);
    }
    return 0;
}

/* Every listener kind: where its addresses are in the config and whose callbacks serve it. */
static const struct listener_kind {
    const char *what;
    size_t list, count; /* offsets in struct config */
    const ring_conn_cbs *cbs;
} listener_kinds[] = {
    {"AMT devices (TLS)", offsetof(struct config, listen), offsetof(struct config, n_listen),
     &tunnel_tls_cbs},
    {"AMT devices (plain APF, TLS offloaded)", offsetof(struct config, plain_listen),
     offsetof(struct config, n_plain_listen), &tunnel_plain_cbs},
    {"consoles (SOCKS5/SOCKS4a)", offsetof(struct config, socks_listen),
     offsetof(struct config, n_socks_listen), &console_socks_cbs},
    {"consoles (HTTP proxy: CONNECT and absolute URIs)", offsetof(struct config, http_listen),
     offsetof(struct config, n_http_listen), &console_http_cbs},
};

static const struct config_listen *kind_list(const struct config *cfg,
                                             const struct listener_kind *k, unsigned *n)
{
    *n = *(const unsigned *)((const char *)cfg + k->count);
    return (const struct config_listen *)((const char *)cfg + k->list);
}

/* Runs on each worker (ring_call): one SO_REUSEPORT listener per configured address. */
static int add_listeners(ring_worker *w, void *arg)
{
    struct mpsd *m = arg;
    struct wctx *wc = &m->workers[ring_worker_index(w)];
    for (size_t k = 0; k < sizeof(listener_kinds) / sizeof(listener_kinds[0]); k++) {
        unsigned n;
        const struct config_listen *ls = kind_list(&m->cfg, &listener_kinds[k], &n);
        for (unsigned i = 0; i < n; i++) {
            struct sockaddr_storage ss;
            socklen_t len;
            char name[80];
            config_listen_format(&ls[i], name, sizeof(name));
            int rc = to_sockaddr(&ls[i], &ss, &len);
            if (rc == 0)
                rc = ring_listen(w, (struct sockaddr *)&ss, len, 4096, listener_kinds[k].cbs, wc,
                                 NULL);
            if (rc != 0) {
                log_error("cannot listen on %s for %s: %s", name, listener_kinds[k].what,
                          strerror(-rc));
                return rc;
            }
        }
    }
    return 0;
}

/* The first configured listener that a TCP listener of another process holds: its kind (NULL
 * when none), with its address and holder named into name[80] and holder[128]. */
static const char *foreign_listener(const struct mpsd *m, char *name, char *holder)
{
    char comm[64] = "";
    pid_t pid = 0;
    for (size_t k = 0; k < sizeof(listener_kinds) / sizeof(listener_kinds[0]); k++) {
        unsigned n;
        const struct config_listen *ls = kind_list(&m->cfg, &listener_kinds[k], &n);
        for (unsigned i = 0; i < n; i++) {
            if (port_holder(ls[i].host, ls[i].port, &pid, comm, sizeof(comm)) == 1) {
                config_listen_format(&ls[i], name, 80);
                if (pid > 0)
                    snprintf(holder, 128, "pid %ld (%s)", (long)pid, comm);
                else
                    snprintf(holder, 128, "another process (not visible to this user)");
                return listener_kinds[k].what;
            }
        }
    }
    return NULL;
}

/* Before binding: a configured address that another process listens on is an error naming it
 * (with SO_REUSEPORT two mpsd would otherwise split the devices between them without a word).
 * With bind_timeout the wait goes on that long (an old instance still draining, a port freed by
 * an operator) while /readyz says which listener waits for whom; SIGTERM ends the wait. */
static int wait_for_ports(struct mpsd *m, int sfd)
{
    static char why[512]; /* read by the admin thread through admin_set_not_ready */
    uint64_t deadline = ring_clock_ms() + m->cfg.bind_timeout_ms;
    bool said = false;
    for (;;) {
        char name[80], holder[128];
        const char *busy = foreign_listener(m, name, holder);
        if (!busy)
            return 0;
        snprintf(why, sizeof(why), "listener %s (%s) not bound: the port is in use by %s", name,
                 busy, holder);
        admin_set_not_ready(m->admin, why);
        if (ring_clock_ms() >= deadline) {
            log_error("cannot listen on %s for %s: already in use by %s; only one MPS instance "
                      "may run per server",
                      name, busy, holder);
            return -1;
        }
        if (!said) {
            log_warn("%s; waiting up to %ums (bind_timeout)", why, m->cfg.bind_timeout_ms);
            said = true;
        }
        /* under systemd: say why, and keep the start timeout from killing the wait */
        notify_status("%s", why);
        notify_extend_timeout_ms(1000);
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        if (poll(&p, 1, 250) > 0) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof(si)) == sizeof(si) &&
                (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)) {
                log_info("%s while waiting for %s: stopping", strsignal((int)si.ssi_signo), name);
                return -1;
            }
        }
    }
}

static int privdrop_worker(ring_worker *w, void *arg)
{
    char *err = arg;
    (void)w;
    return privdrop_thread(err, 256);
}

/* Started as root: the listeners are bound and the keys loaded; from here on mpsd runs as `user`
 * with no capability left, on every thread (glibc changes the ids of all threads; the bounding
 * set and no_new_privs are per thread, so each worker drops its own). */
static int drop_privileges(struct mpsd *m)
{
    if (!m->cfg.run_as[0]) {
        if (geteuid() == 0)
            log_warn("running as root: set 'user' in [mpsd] to run as an unprivileged user after "
                     "binding");
        return 0;
    }
    char err[256];
    if (privdrop_to(m->cfg.run_as, err, sizeof(err)) != 0) {
        log_error("cannot drop privileges: %s", err);
        return -1;
    }
    for (unsigned i = 0; i < m->nworkers; i++) {
        if (ring_call(ring_worker_at(m->ring, i), privdrop_worker, err) != 0) {
            log_error("cannot drop privileges on worker %u: %s", i, err);
            return -1;
        }
    }
    log_info("running as user %s (uid %ld) with no capabilities", m->cfg.run_as, (long)getuid());
    return 0;
}

static void worker_start(ring_worker *w, void *arg)
{
    struct mpsd *m = arg;
    struct wctx *wc = &m->workers[ring_worker_index(w)];
    wc->m = m;
    wc->w = w;
    wc->index = ring_worker_index(w);
}

static void worker_stop(ring_worker *w, void *arg)
{
    struct mpsd *m = arg;
    console_drain_worker(&m->workers[ring_worker_index(w)]);
    tunnel_drain_worker(&m->workers[ring_worker_index(w)]);
}

/* --- control loop --- */

/* The fleet's TLS census: negotiated versions and suites, and the highest version each device
 * offered (what an operator needs before turning the legacy profile off). */
static void format_census(struct mpsd *m, char *buf, size_t cap)
{
    static const char *const vnames[TLS_VIDX__COUNT] = {"1.0", "1.1", "1.2", "1.3", "other"};
    struct tls_census c;
    struct tls_ctx *ctx = tls_ctx_slot_get(m->tls);
    tls_ctx_census(ctx, &c);
    tls_ctx_unref(ctx);
    size_t n = (size_t)snprintf(buf, cap, "tls_resumed=%llu", (unsigned long long)c.resumed);
    for (int i = 0; i < TLS_VIDX__COUNT && n < cap; i++)
        if (c.version[i])
            n += (size_t)snprintf(buf + n, cap - n, " tls_version{%s}=%llu", vnames[i],
                                  (unsigned long long)c.version[i]);
    for (int i = 0; i < TLS_VIDX__COUNT && n < cap; i++)
        if (c.offered_max[i])
            n += (size_t)snprintf(buf + n, cap - n, " tls_offered_max{%s}=%llu", vnames[i],
                                  (unsigned long long)c.offered_max[i]);
    for (size_t i = 0; i <= tls_suite_count() && i < TLS_SUITE_SLOTS && n < cap; i++) {
        if (!c.suite[i])
            continue;
        const char *name = i < tls_suite_count() ? tls_suite_name(tls_suite_id_at(i)) : NULL;
        n += (size_t)snprintf(buf + n, cap - n, " tls_suite{%s}=%llu", name ? name : "other",
                              (unsigned long long)c.suite[i]);
    }
}

static void log_stats(struct mpsd *m, const char *when)
{
    struct stats_snapshot s = {0};
    for (unsigned i = 0; i < m->nworkers; i++)
        stats_accumulate(&m->workers[i].stats, &s);
    char buf[4096], census[1024] = "";
    stats_format(&s, buf, sizeof(buf));
    if (m->tls)
        format_census(m, census, sizeof(census));
    char rings[1024] = "";
    size_t rn = 0;
    for (unsigned i = 0; i < m->nworkers && rn < sizeof(rings); i++) {
        ring_stats rs;
        ring_stats_read(m->workers[i].w, &rs);
        rn += (size_t)snprintf(rings + rn, sizeof(rings) - rn,
                               " ring%u{conns=%llu recvs=%llu sends=%llu enobufs=%llu "
                               "send_cap_hits=%llu stale=%llu}",
                               i, (unsigned long long)rs.conns, (unsigned long long)rs.recvs,
                               (unsigned long long)rs.sends, (unsigned long long)rs.enobufs,
                               (unsigned long long)rs.send_cap_hits,
                               (unsigned long long)rs.stale_cqes);
    }
    log_info("stats%s: %s directory=%zu log_lines_dropped=%llu %s%s", when, buf,
             dir_count(m->directory), log_dropped(), census, rings);
}

/* What a reload applies: certificate, key, client CA, TLS profile, credentials file, group_auth,
 * auto_enroll. Everything else sizes or times what is already running: say so rather than
 * silently keep the old value. */
static void warn_restart_only(const struct config *old, const struct config *fresh)
{
    static const struct {
        const char *name;
        size_t off, len;
    } keys[] = {
#define K(field) {#field, offsetof(struct config, field), sizeof(((struct config *)0)->field)}
        K(name),
        K(workers),
        K(lock_file),
        K(log_level),
        K(listen),
        K(n_listen),
        K(plain_listen),
        K(n_plain_listen),
        K(keepalive_interval_ms),
        K(keepalive_timeout_ms),
        K(handshake_timeout_ms),
        K(login_timeout_ms),
        K(drain_timeout_ms),
        K(max_tunnels),
        K(max_handshakes),
        K(max_buffered),
        K(ticket_rotation_ms),
        K(run_as),
        K(admin_listen),
        K(n_admin_listen),
        K(admin_cert),
        K(admin_key),
        K(admin_token_hash),
        K(log_format),
        K(recv_buffer_size),
        K(recv_buffer_count),
        K(max_conns_per_worker),
        K(socks_listen),
        K(n_socks_listen),
        K(http_listen),
        K(n_http_listen),
        K(max_consoles),
        K(max_consoles_per_device),
        K(request_timeout_ms),
        K(open_timeout_ms),
        K(idle_timeout_ms),
        K(channel_window),
        K(max_head),
#undef K
    };
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (memcmp((const char *)old + keys[i].off, (const char *)fresh + keys[i].off,
                   keys[i].len) != 0)
            log_warn("reload: '%s' changed in the file; it takes effect only after a restart",
                     keys[i].name);
}

static void reload(struct mpsd *m)
{
    struct config fresh;
    struct config_errors errs = {0};
    config_defaults(&fresh);
    if (config_load(&fresh, m->config_path, &errs) != 0) {
        for (size_t i = 0; i < errs.n; i++)
            log_error("reload: %s:%u: %s", m->config_path, errs.v[i].line, errs.v[i].msg);
        config_errors_free(&errs);
        log_error("reload: %s has errors; keeping the running certificates and credentials",
                  m->config_path);
        return;
    }
    config_errors_free(&errs);
    /* Certificates, key, CA and credentials change on reload; listeners, workers and caps need a
     * restart (they are sized at start). */
    if (m->tls) {
        struct tls_server_config tc;
        char err[512];
        if (m->tickets &&
            tls_tickets_load(m->tickets, fresh.ticket_key_file[0] ? fresh.ticket_key_file : NULL,
                             unix_ms(), err, sizeof(err)) != 0)
            log_error("reload: TLS tickets: %s; keeping the running ticket keys", err);
        tls_config_of(&fresh, m->tickets, &tc);
        if (tls_ctx_slot_reload(m->tls, &tc, err, sizeof(err)) != 0)
            log_error("reload: TLS: %s; keeping the running certificate", err);
        else
            log_info("reload: TLS certificate %s loaded; new handshakes use it", fresh.cert);
    }
    creds_db *db;
    if (load_creds(&fresh, &db, NULL) != 0) {
        log_error("reload: credentials file %s has errors; keeping the running credentials",
                  fresh.credentials);
    } else {
        size_t nd = db ? creds_db_devices(db) : 0, ng = db ? creds_db_groups(db) : 0;
        creds_slot_set(&m->creds, db);
        log_info("reload: credentials: %zu devices, %zu groups", nd, ng);
    }
    users_db *udb;
    if (load_users(&fresh, &udb, NULL) != 0) {
        log_error("reload: users file %s has errors; keeping the running console users",
                  fresh.users);
    } else {
        size_t nu = udb ? users_db_count(udb) : 0;
        users_slot_set(&m->users, udb);
        log_info("reload: console users: %zu (sessions already open stay; new channels are "
                 "checked against the new rules)",
                 nu);
    }
    if (fresh.auto_enroll != atomic_load(&m->auto_enroll)) {
        atomic_store(&m->auto_enroll, fresh.auto_enroll);
        log_warn("reload: auto_enroll is now %s", fresh.auto_enroll ? "on" : "off");
    }
    warn_restart_only(&m->cfg, &fresh);
    snprintf(m->cfg.cert, sizeof(m->cfg.cert), "%s", fresh.cert);
    snprintf(m->cfg.key, sizeof(m->cfg.key), "%s", fresh.key);
    snprintf(m->cfg.client_ca, sizeof(m->cfg.client_ca), "%s", fresh.client_ca);
    snprintf(m->cfg.credentials, sizeof(m->cfg.credentials), "%s", fresh.credentials);
    snprintf(m->cfg.users, sizeof(m->cfg.users), "%s", fresh.users);
    m->cfg.tls_profile = fresh.tls_profile;
    m->cfg.group_auth = fresh.group_auth;
    m->cfg.auto_enroll = fresh.auto_enroll;
}

static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    /* Blocked before any thread starts, so every thread inherits the mask and only the control
     * loop sees these signals, through its signalfd. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static void wait_for_exit(struct mpsd *m, int sfd)
{
    /* systemd's watchdog (WatchdogSec): pinged at half its interval from this loop, so a stuck
     * control thread is restarted */
    uint64_t wd = notify_watchdog_interval_ms();
    int every = wd ? (int)(wd / 2) : -1;
    if (m->tickets && (every < 0 || every > 10000))
        every = 10000; /* ticket key rotation is checked this often */
    for (;;) {
        struct pollfd p = {.fd = sfd, .events = POLLIN};
        int pr = poll(&p, 1, every);
        if (pr < 0 && errno == EINTR)
            continue;
        if (wd)
            notify_watchdog();
        if (m->tickets && tls_tickets_rotate(m->tickets, unix_ms())) {
            char kid[TLS_TICKET_ID_LEN];
            tls_tickets_key_id(m->tickets, kid);
            log_info("TLS session ticket key rotated: current key id %s", kid);
        }
        if (pr == 0)
            continue;
        struct signalfd_siginfo si;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n != sizeof(si))
            return;
        switch (si.ssi_signo) {
        case SIGHUP:
            log_info("SIGHUP: reloading certificates and credentials");
            notify_reloading();
            reload(m);
            notify_ready();
            break;
        case SIGUSR1:
            log_stats(m, "");
            break;
        default:
            notify_stopping();
            log_info("%s: draining %lld tunnels (at most %ums)", strsignal((int)si.ssi_signo),
                     (long long)atomic_load(&m->tunnels), m->cfg.drain_timeout_ms);
            return;
        }
    }
}

static void teardown(struct mpsd *m)
{
    /* The auth pool first: its jobs post answers to workers, which must still exist (stopped
     * workers refuse the post and the job frees itself). */
    jobpool_free(m->auth_pool);
    admin_stop(m->admin); /* before the ring: it may still ask workers (they refuse, stopped) */
    if (m->ring)
        ring_destroy(m->ring);
    event_bus_free(m->events);
    dir_free(m->directory);
    admission_free(m->admission);
    creds_slot_destroy(&m->creds);
    users_slot_destroy(&m->users);
    if (m->tls)
        tls_ctx_slot_free(m->tls);
    tls_tickets_unref(m->tickets);
    if (m->tls_inited)
        tls_global_cleanup();
    free(m->workers);
    free(m);
}

int server_run(const struct config *cfg, const char *config_path)
{
    int sfd = block_signals();
    if (sfd < 0) {
        log_error("signalfd: %s", strerror(errno));
        return -1;
    }
    struct mpsd *m = calloc(1, sizeof(*m));
    if (!m)
        return -1;
    m->cfg = *cfg;
    m->config_path = config_path;
    atomic_store(&m->auto_enroll, cfg->auto_enroll);
    creds_slot_init(&m->creds, NULL); /* so teardown finds them whatever fails below */
    users_slot_init(&m->users, NULL);
    log_nonblocking();
    int rc = -1;
    if (tls_global_init() != 0) {
        log_error("TLS library initialisation failed");
        goto out;
    }
    m->tls_inited = true;
    if (cfg->n_listen) {
        struct tls_server_config tc;
        char err[512];
        if (tls_tickets_new(cfg->ticket_rotation_ms,
                            cfg->ticket_key_file[0] ? cfg->ticket_key_file : NULL, unix_ms(),
                            &m->tickets, err, sizeof(err)) != 0) {
            log_error("TLS tickets: %s", err);
            goto out;
        }
        char kid[TLS_TICKET_ID_LEN];
        tls_tickets_key_id(m->tickets, kid);
        log_info("TLS session tickets: %s keys, rotated every %ums, current key id %s",
                 cfg->ticket_key_file[0] ? "key-file" : "random", cfg->ticket_rotation_ms, kid);
        tls_config_of(cfg, m->tickets, &tc);
        if (tls_ctx_slot_new(&tc, &m->tls, err, sizeof(err)) != 0) {
            log_error("TLS: %s", err);
            goto out;
        }
    }
    creds_db *db;
    if (load_creds(cfg, &db, NULL) != 0)
        goto out;
    creds_slot_set(&m->creds, db);
    users_db *udb;
    if (load_users(cfg, &udb, NULL) != 0)
        goto out;
    users_slot_set(&m->users, udb);
    m->directory = dir_local_new(64);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    m->auth_pool = jobpool_new(ncpu > 0 ? (unsigned)ncpu : 1, 65536);
    m->admission = admission_new();
    if (!m->directory || !m->auth_pool || !m->admission) {
        log_error("out of memory at start");
        goto out;
    }

    /* connection ids carry the worker index in 8 bits (ring_conn_id) */
    unsigned workers = cfg->workers ? cfg->workers : (ncpu > 0 ? (unsigned)ncpu : 1);
    if (workers > 256)
        workers = 256;
    ring_config rc_cfg = {
        .workers = workers,
        .files = cfg->max_conns_per_worker,
        .rx_buf_size = cfg->recv_buffer_size,
        .rx_buf_count = cfg->recv_buffer_count,
        .rx_big_size = MPSD_CONSOLE_RECV_SIZE,
        .rx_big_count = 64,
        .send_cap = cfg->max_buffered,
        .linger_ms = cfg->drain_timeout_ms ? cfg->drain_timeout_ms : 1,
        .tick_ms = 250, /* every mpsd deadline is seconds long; each tick is a wake-up */
        .on_start = worker_start,
        .on_stop = worker_stop,
        .arg = m,
    };
    if (ring_create(&rc_cfg, &m->ring) != 0) {
        log_error("cannot create the io_uring workers");
        goto out;
    }
    m->nworkers = ring_nworkers(m->ring);
    m->workers = calloc(m->nworkers, sizeof(*m->workers));
    if (!m->workers)
        goto out;
    m->events = event_bus_new(m->nworkers, 4096);
    if (!m->events) {
        log_error("out of memory at start");
        goto out;
    }
    if (ring_start(m->ring) != 0) {
        log_error("io_uring: %s", ring_error(m->ring));
        goto out;
    }
    if (*ring_notice(m->ring))
        log_warn("io_uring: %s", ring_notice(m->ring));
    {
        char err[512];
        if (admin_start(m, &m->admin, err, sizeof(err)) != 0) {
            log_error("%s", err);
            ring_stop(m->ring);
            goto out;
        }
    }
    if (wait_for_ports(m, sfd) != 0) {
        ring_stop(m->ring);
        goto out;
    }
    for (unsigned i = 0; i < m->nworkers; i++) {
        if (ring_call(ring_worker_at(m->ring, i), add_listeners, m) != 0) {
            ring_stop(m->ring);
            goto out;
        }
    }
    {
        /* After binding, once more: two instances that started together both found the ports
         * free, and SO_REUSEPORT let both bind; each now sees the other and stops, rather than
         * splitting the devices between them without a word. */
        char name[80], holder[128];
        const char *busy = foreign_listener(m, name, holder);
        if (busy) {
            log_error("cannot listen on %s for %s: %s bound it at the same time; only one MPS "
                      "instance may run per server",
                      name, busy, holder);
            ring_stop(m->ring);
            goto out;
        }
    }
    for (size_t k = 0; k < sizeof(listener_kinds) / sizeof(listener_kinds[0]); k++) {
        unsigned n;
        const struct config_listen *ls = kind_list(cfg, &listener_kinds[k], &n);
        for (unsigned i = 0; i < n; i++) {
            char name[80];
            config_listen_format(&ls[i], name, sizeof(name));
            log_info("listening on %s for %s%s", name, listener_kinds[k].what,
                     k == 0 && cfg->tls_profile == CONFIG_TLS_LEGACY ? ", legacy TLS profile" : "");
        }
    }
    if (drop_privileges(m) != 0) {
        ring_stop(m->ring);
        goto out;
    }
    if (cfg->allow_anonymous_loopback && cfg->n_socks_listen + cfg->n_http_listen)
        log_warn("allow_anonymous_loopback is on: consoles connecting from loopback may use "
                 "every device without credentials (for development only)");
    if (cfg->auto_enroll)
        log_warn("auto_enroll is on: devices whose GUID has no credentials entry are accepted "
                 "with any username and password (for labs and first roll-outs only)");
    log_info("mpsd running as pid %d with %s: %u workers, name %s", (int)getpid(), config_path,
             m->nworkers, cfg->name);
    admin_set_not_ready(m->admin, NULL);
    notify_status("%u workers; devices on %u listeners", m->nworkers, cfg->n_listen);
    notify_ready();

    wait_for_exit(m, sfd);
    atomic_store(&m->draining, true);
    ring_stop(m->ring);
    log_stats(m, " at exit");
    log_info("mpsd stopped");
    rc = 0;
out:
    close(sfd);
    teardown(m);
    return rc;
}
