/*
 * mini_mps.c - amtsim-mps: a minimal loopback MPS to exercise amtsim without mpsd (the project's
 * libraries glued the shortest way: ring + tls + the apf session). Not a product: one password for
 * every device, no directory, no console side. With --probe it opens one channel to 16992 on each
 * ready device and checks the HTTP answer names that device's UUID.
 *
 *   amtsim-mps --listen 127.0.0.1:PORT --cert F --key F --password PW [--plain] [--probe]
 *              [--workers W] [--idle-ms MS] [--drop-ms MS: disconnect each tunnel MS after ready]
 * Prints one JSON line of counters per second on stdout.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apf.h"
#include "opts.h"
#include "ring.h"
#include "tls.h"

struct mps {
    struct tls_ctx *tls;
    const char *password;
    bool plain, probe;
    uint32_t idle_ms, drop_ms;
    struct sim_addr addr;
    _Atomic uint64_t conns, ready, auth_fail, errors, probes_ok, probes_bad, chan_bytes;
};
static struct mps M;
static apf_callbacks apf_cbs;

struct tun {
    ring_conn *c;
    struct tls_conn *tls;
    apf_session *s;
    ring_timer timer;
    char uuid[37];
    char rx[512];
    size_t rx_len;
    bool was_ready;
    uint64_t ready_ms;
};

static int apf_send(apf_session *s, const uint8_t *p, size_t n, void *user)
{
    struct tun *t = user;
    (void)s;
    if (!t->tls)
        return ring_conn_send(t->c, p, n) == (ssize_t)n ? 0 : -1;
    return tls_conn_write(t->tls, p, n) == (long)n ? 0 : -1;
}

static void on_auth(apf_session *s, const apf_auth_request *r, void *user)
{
    struct tun *t = user;
    bool ok = r->password && strcmp(r->password, M.password) == 0;
    snprintf(t->uuid, sizeof(t->uuid), "%s", r->version ? r->version->uuid : "");
    if (!ok)
        atomic_fetch_add(&M.auth_fail, 1);
    apf_session_auth_result(s, ok);
}

static void on_ready(apf_session *s, void *user)
{
    struct tun *t = user;
    t->was_ready = true;
    t->ready_ms = ring_now_ms(ring_conn_worker(t->c));
    atomic_fetch_add(&M.ready, 1);
    uint32_t id;
    if (M.probe && apf_channel_open(s, 16992, NULL, 0, NULL, &id) == APF_OK) {
        static const char req[] = "GET / HTTP/1.1\r\nHost: amt\r\n\r\n";
        apf_channel_send(s, id, (const uint8_t *)req, sizeof(req) - 1);
    }
}

static void on_chan_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu,
                         void *user)
{
    struct tun *t = user;
    (void)cu;
    size_t k = n < sizeof(t->rx) - 1 - t->rx_len ? n : sizeof(t->rx) - 1 - t->rx_len;
    memcpy(t->rx + t->rx_len, p, k);
    t->rx_len += k;
    t->rx[t->rx_len] = 0;
    apf_channel_consumed(s, id, n);
    atomic_fetch_add(&M.chan_bytes, n);
    if (strstr(t->rx, "}\n") || (n >= 2 && p[n - 2] == '}' && p[n - 1] == '\n')) {
        bool good = strstr(t->rx, "200 OK") && strstr(t->rx, t->uuid) && strstr(t->rx, "16992");
        atomic_fetch_add(good ? &M.probes_ok : &M.probes_bad, 1);
        t->rx_len = 0;
        apf_channel_close(s, id);
    }
}

static size_t tls_out(void *user, const uint8_t *p, size_t n)
{
    struct tun *t = user;
    ssize_t k = ring_conn_send(t->c, p, n);
    return k > 0 ? (size_t)k : 0;
}

static void tls_plain(void *user, const uint8_t *p, size_t n)
{
    struct tun *t = user;
    if (t->s && !apf_session_is_closed(t->s)) {
        int r = apf_session_recv(t->s, p, n, ring_now_ms(ring_conn_worker(t->c)));
        if (getenv("MPS_DEBUG"))
            fprintf(stderr, "apf recv %zu -> %d %s\n", n, r, apf_strerror(r));
    }
}

static void tick(ring_timer *tm)
{
    struct tun *t = (struct tun *)((char *)tm - offsetof(struct tun, timer));
    ring_worker *w = ring_conn_worker(t->c);
    if (apf_session_tick(t->s, ring_now_ms(w)) != APF_OK || apf_session_is_closed(t->s)) {
        ring_conn_close(t->c, RING_CLOSE_GRACEFUL);
        return;
    }
    if (M.drop_ms && t->was_ready && ring_now_ms(w) >= t->ready_ms + M.drop_ms) {
        apf_session_disconnect(t->s, APF_DISC_BY_APPLICATION); /* --drop-ms: end it ourselves */
        ring_conn_close(t->c, RING_CLOSE_GRACEFUL);
        return;
    }
    ring_timer_arm(w, tm, M.drop_ms && M.drop_ms < 1000 ? M.drop_ms : 1000);
}

static void c_open(ring_conn *c)
{
    struct tun *t = calloc(1, sizeof(*t));
    t->c = c;
    ring_conn_set_user(c, t);
    atomic_fetch_add(&M.conns, 1);
    apf_config cfg;
    apf_config_default(&cfg);
    cfg.idle_timeout_ms = M.idle_ms;
    t->s = apf_session_new(&cfg, &apf_cbs, t);
    if (!M.plain) {
        struct tls_conn_io io = {.output = tls_out, .plaintext = tls_plain, .user = t};
        t->tls = tls_conn_new(M.tls, &io);
    }
    ring_timer_init(&t->timer, tick);
    ring_timer_arm(ring_conn_worker(c), &t->timer, 1000);
}

static void c_data(ring_conn *c, const uint8_t *p, size_t n)
{
    struct tun *t = ring_conn_user(c);
    int r = 0;
    if (getenv("MPS_DEBUG"))
        fprintf(stderr, "data %zu tls=%p\n", n, (void *)t->tls);
    if (t->tls)
        r = tls_conn_feed(t->tls, p, n);
    else
        tls_plain(t, p, n);
    if (r != 0 || apf_session_is_closed(t->s)) {
        if (r != 0 && r != TLS_E_CLOSED)
            atomic_fetch_add(&M.errors, 1);
        ring_conn_close(c, RING_CLOSE_GRACEFUL);
    }
}

static void c_close(ring_conn *c, int err)
{
    struct tun *t = ring_conn_user(c);
    (void)err;
    ring_timer_cancel(ring_conn_worker(c), &t->timer);
    if (t->was_ready)
        atomic_fetch_sub(&M.ready, 1);
    apf_session_free(t->s);
    tls_conn_free(t->tls);
    free(t);
}

static const ring_conn_cbs cbs = {.on_open = c_open, .on_data = c_data, .on_close = c_close};

static void on_start(ring_worker *w, void *arg)
{
    (void)arg;
    ring_listener *l;
    if (ring_listen(w, (struct sockaddr *)&M.addr.ss, M.addr.len, 4096, &cbs, NULL, &l) < 0)
        fprintf(stderr, "amtsim-mps: listen failed\n");
}

static volatile sig_atomic_t stop;
static void on_sig(int s)
{
    stop = s;
}

int main(int argc, char **argv)
{
    const char *cert = NULL, *key = NULL, *listen = "127.0.0.1:4433";
    unsigned workers = 1;
    M.idle_ms = 90000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--listen"))
            listen = v, i++;
        else if (!strcmp(a, "--cert"))
            cert = v, i++;
        else if (!strcmp(a, "--key"))
            key = v, i++;
        else if (!strcmp(a, "--password"))
            M.password = v, i++;
        else if (!strcmp(a, "--workers"))
            workers = (unsigned)atoi(v), i++;
        else if (!strcmp(a, "--idle-ms"))
            M.idle_ms = (uint32_t)atoi(v), i++;
        else if (!strcmp(a, "--drop-ms"))
            M.drop_ms = (uint32_t)atoi(v), i++;
        else if (!strcmp(a, "--plain"))
            M.plain = true;
        else if (!strcmp(a, "--probe"))
            M.probe = true;
        else {
            fprintf(stderr, "amtsim-mps: unknown argument %s\n", a);
            return 2;
        }
    }
    char err[256];
    if (!M.password || opts_parse_hostport(listen, &M.addr, err, sizeof(err)) < 0) {
        fprintf(stderr, "amtsim-mps: --password and a loopback --listen are needed\n");
        return 2;
    }
    if (!M.plain) {
        struct tls_server_config sc = {
            .cert_file = cert, .key_file = key, .profile = TLS_PROFILE_LEGACY};
        if (tls_global_init() != 0 || tls_ctx_server_new(&sc, &M.tls, err, sizeof(err)) != 0) {
            fprintf(stderr, "amtsim-mps: %s\n", err);
            return 2;
        }
    }
    apf_cbs = (apf_callbacks){.send = apf_send,
                              .on_auth = on_auth,
                              .on_ready = on_ready,
                              .on_channel_data = on_chan_data};
    ring_config rc = {.workers = workers, .rx_buf_count = 256, .on_start = on_start};
    ring_t *r;
    if (ring_create(&rc, &r) < 0 || ring_start(r) < 0) {
        fprintf(stderr, "amtsim-mps: ring start failed\n");
        return 2;
    }
    signal(SIGINT, on_sig);
    signal(SIGTERM, on_sig);
    while (!stop) {
        sleep(1);
        printf("{\"conns\":%llu,\"ready\":%llu,\"auth_fail\":%llu,\"errors\":%llu,"
               "\"probes_ok\":%llu,\"probes_bad\":%llu,\"chan_bytes\":%llu}\n",
               (unsigned long long)M.conns, (unsigned long long)M.ready,
               (unsigned long long)M.auth_fail, (unsigned long long)M.errors,
               (unsigned long long)M.probes_ok, (unsigned long long)M.probes_bad,
               (unsigned long long)M.chan_bytes);
        fflush(stdout);
    }
    ring_stop(r);
    ring_destroy(r);
    return 0;
}
