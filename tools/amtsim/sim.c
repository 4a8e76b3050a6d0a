/*
 * sim.c - devices on the io_uring workers: pacing, connect, TLS, APF, timers, ends, reconnects
 * (see sim.h). The APF itself is device.c's; the relay is relay.c's.
 */
#include "sim.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEND_CAP     (4u << 20) /* per tunnel; the MPS' windows bound what we queue */
#define BACKOFF_MAX  30000u
#define PACE_TICK_MS 10u

enum end_kind { K_FAILED, K_DROPPED, K_REFUSED, K_LOCAL };

static const ring_conn_cbs conn_cbs;
static const struct dev_ops dev_ops;
static void pace(struct simw *w);
static void sd_rearm(struct simdev *sd);

static uint64_t now_ms(const struct simdev *sd)
{
    return ring_now_ms(sd->w->rw);
}

static bool fault_mode(const struct sim_opts *o)
{
    return o->mode != MODE_NORMAL && o->mode != MODE_BAD_PASSWORD && o->mode != MODE_SILENT;
}

bool sim_met(const struct sim_opts *o, uint8_t f)
{
    switch (o->mode) {
    case MODE_NORMAL:
        return f & F_UP_AT_END;
    case MODE_BAD_PASSWORD:
        return f & F_REFUSED;
    case MODE_SILENT:
        return (f & F_LOGGED_IN) && (f & F_DROPPED);
    default:
        return f & F_DROPPED;
    }
}

/* The device no longer counts against --inflight. */
static void release_inflight(struct simdev *sd)
{
    if (!sd->inflight)
        return;
    sd->inflight = false;
    sd->w->inflight--;
    if (sd->w->sim->o->rate == 0)
        pace(sd->w);
}

static void leave_connecting(struct simdev *sd)
{
    if (sd->phase == PH_CONNECTING || sd->phase == PH_TLS)
        stats_add(&sd->w->st, ST_CONNECTING, -1);
}

/* Record why the connection ends (first reason wins) and close it. */
static void sd_end(struct simdev *sd, enum end_kind k, unsigned reason)
{
    struct simw *w = sd->w;
    if (sd->end_reason == R__COUNT) {
        sd->end_reason = (uint16_t)reason;
        stats_reason(&w->st, reason);
        if (k == K_FAILED) {
            stats_add(&w->st, ST_FAILED, 1);
            sd->flags |= F_FAILED;
        } else if (k == K_DROPPED) {
            stats_add(&w->st, ST_CLOSED_BY_SERVER, 1);
            sd->flags |= F_DROPPED;
        }
        if (!w->sim->o->quiet && k == K_FAILED) {
            char name[64];
            fprintf(stderr, "amtsim: device %u: %s\n", sd->dev.index,
                    stat_reason_name(reason, name, sizeof(name)));
        }
    }
    if (!sd->conn || sd->phase == PH_CLOSING)
        return;
    leave_connecting(sd);
    sd->phase = PH_CLOSING;
    if (sd->tls && tls_conn_handshake_done(sd->tls) && k != K_DROPPED)
        tls_conn_shutdown(sd->tls); /* close_notify: a clean end */
    ring_conn_close(sd->conn, RING_CLOSE_GRACEFUL);
}

void sim_device_error(struct simdev *sd, int err)
{
    switch (err) {
    case DEV_OK:
        return;
    case DEV_ERR_REFUSED:
        sd->flags |= F_REFUSED;
        sd_end(sd, K_REFUSED, R_SIM + SR_REFUSED);
        return;
    case DEV_ERR_DISCONNECT:
        sd_end(sd, K_DROPPED, stat_reason_apf(sd->dev.disc_reason));
        return;
    case DEV_ERR_PROTOCOL:
        sd_end(sd, K_FAILED, R_SIM + SR_PROTOCOL);
        return;
    default:
        sd_end(sd, K_FAILED, R_SIM + SR_SEND);
        return;
    }
}

/* ---- starting a device ---- */

static void sd_connect(struct simdev *sd)
{
    struct simw *w = sd->w;
    const struct sim_opts *o = w->sim->o;
    dev_init(&sd->dev, o, &dev_ops, sd->dev.index, sd);
    sd->t0_ms = ring_now_ms(w->rw);
    sd->ka_sent_us = 0;
    sd->deadline_ms = sd->t0_ms + o->timeout_s * 1000ull;
    sd->end_reason = R__COUNT;
    sd->dev_err = 0;
    sd->stall_sent = false;
    sd->phase = PH_CONNECTING;
    sd->inflight = true;
    w->inflight++;
    stats_add(&w->st, ST_STARTED, 1);
    stats_add(&w->st, ST_CONNECTING, 1);
    uint64_t first = 0;
    atomic_compare_exchange_strong(&w->st.first_connect_ms, &first, sd->t0_ms);
    const struct sim_addr *src = o->nsources ? &o->sources[sd->dev.index % o->nsources] : NULL;
    int r = ring_connect(w->rw, (const struct sockaddr *)&o->connect.ss, o->connect.len,
                         src ? (const struct sockaddr *)&src->ss : NULL, src ? src->len : 0,
                         &conn_cbs, sd);
    if (r < 0) {
        conn_cbs.on_connect_fail(w->rw, sd, r);
        return;
    }
    sd_rearm(sd);
}

static void pacer_fire(ring_timer *t)
{
    struct simw *w = (struct simw *)((char *)t - offsetof(struct simw, pacer));
    pace(w);
}

/* Start as many devices as --rate's credit and --inflight allow; re-arm while some are left. */
static void pace(struct simw *w)
{
    if (w->stopping || w->next >= w->ndev || w->pacing)
        return; /* pacing: a connect that failed at once came back here; the loop goes on */
    w->pacing = true;
    uint64_t now = ring_now_ms(w->rw);
    if (w->rate > 0) {
        w->credit += w->rate * (double)(now - w->last_pace_ms) / 1000.0;
        double cap = w->rate * 0.1 > 1 ? w->rate * 0.1 : 1; /* no burst after a stall */
        if (w->credit > cap)
            w->credit = cap;
    }
    w->last_pace_ms = now;
    while (w->next < w->ndev && w->inflight < w->inflight_max && !w->stopping &&
           (w->rate == 0 || w->credit >= 1)) {
        struct simdev *sd = &w->sim->devs[w->index + (size_t)w->next * w->sim->nw];
        w->next++;
        w->credit -= w->rate > 0 ? 1 : 0;
        sd_connect(sd);
    }
    w->pacing = false;
    if (w->next < w->ndev && !ring_timer_armed(&w->pacer))
        ring_timer_arm(w->rw, &w->pacer, PACE_TICK_MS);
}

/* ---- timers: deadline, keep-alive, reconnect ---- */

static void sd_timer(ring_timer *t)
{
    struct simdev *sd = (struct simdev *)((char *)t - offsetof(struct simdev, timer));
    uint64_t now = now_ms(sd);
    if (sd->w->stopping)
        return;
    if (sd->phase == PH_BACKOFF) {
        stats_add(&sd->w->st, ST_RECONNECTS, 1);
        sd_connect(sd);
        return;
    }
    if (sd->phase == PH_CLOSING || sd->phase == PH_DONE || sd->phase == PH_IDLE)
        return;
    if (now >= sd->deadline_ms) {
        sd_end(sd, K_FAILED, R_SIM + SR_TIMEOUT);
        return;
    }
    if (sd->phase == PH_APF) {
        int r = dev_tick(&sd->dev, now);
        if (r != DEV_OK && r != DEV_ERR_CLOSED) {
            sim_device_error(sd, r);
            return;
        }
    }
    sd_rearm(sd);
}

static void sd_rearm(struct simdev *sd)
{
    uint64_t now = now_ms(sd), due = sd->deadline_ms;
    if (sd->phase == PH_APF) {
        uint64_t k = dev_next_timer(&sd->dev);
        if (k < due)
            due = k;
    }
    if (due == UINT64_MAX) {
        ring_timer_cancel(sd->w->rw, &sd->timer);
        return;
    }
    ring_timer_arm(sd->w->rw, &sd->timer, due > now ? due - now : 0);
}

/* ---- device callbacks ---- */

static int dev_send(void *user, const uint8_t *p, size_t n)
{
    struct simdev *sd = user;
    if (!sd->conn || sd->phase == PH_CLOSING)
        return -1;
    if (!sd->tls)
        return ring_conn_send(sd->conn, p, n) == (ssize_t)n ? 0 : -1;
    return tls_conn_write(sd->tls, p, n) == (long)n ? 0 : -1;
}

static uint64_t clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void settle(struct simdev *sd)
{
    sd->deadline_ms = UINT64_MAX; /* the expected state is here: no deadline any more */
    sd_rearm(sd);
}

static void dev_event_cb(void *user, enum dev_event ev, uint32_t arg)
{
    struct simdev *sd = user;
    struct simw *w = sd->w;
    uint64_t now = now_ms(sd);
    switch (ev) {
    case DEV_EV_AUTH_OK:
        sd->flags |= F_AUTH_OK;
        break;
    case DEV_EV_REFUSED:
        stats_add(&w->st, ST_REFUSED, 1);
        break;
    case DEV_EV_LOGGED_IN:
        sd->flags |= F_LOGGED_IN;
        if (w->sim->o->mode == MODE_SILENT)
            release_inflight(sd);
        break;
    case DEV_EV_READY:
        sd->flags |= F_READY;
        sd->backoff = 0;
        stats_add(&w->st, ST_READY, 1);
        stats_add(&w->st, ST_READY_TOTAL, 1);
        stats_hist(w->st.ready_us, (now - sd->t0_ms) * 1000);
        atomic_store_explicit(&w->st.last_ready_ms, now, memory_order_relaxed);
        release_inflight(sd);
        if (w->sim->o->mode == MODE_NORMAL)
            settle(sd);
        break;
    case DEV_EV_KEEPALIVE_SENT:
        stats_add(&w->st, ST_KA_SENT, 1);
        if (!sd->ka_sent_us) { /* time the oldest unanswered one: a slow MPS is not hidden */
            sd->ka_sent_us = clock_us();
            sd->ka_sent_cookie = arg;
        }
        break;
    case DEV_EV_KEEPALIVE_REPLY:
        stats_add(&w->st, ST_KA_REPLIES, 1);
        if (sd->ka_sent_us && arg > sd->ka_sent_cookie) {
            sd->ka_sent_us = 0; /* the timed request got no reply of its own: no sample */
        } else if (sd->ka_sent_us && arg == sd->ka_sent_cookie) {
            uint64_t rtt = clock_us() - sd->ka_sent_us;
            stats_hist(w->st.ka_us, rtt);
            if (rtt > atomic_load_explicit(&w->st.ka_max_us, memory_order_relaxed))
                atomic_store_explicit(&w->st.ka_max_us, rtt, memory_order_relaxed);
            sd->ka_sent_us = 0;
        }
        break;
    case DEV_EV_CHANNEL_OPEN:
        stats_add(&w->st, ST_CHAN_OPENED, 1);
        break;
    case DEV_EV_CHANNEL_REFUSED:
        stats_add(&w->st, ST_CHAN_REFUSED, 1);
        break;
    default:
        break;
    }
}

static int chan_open_cb(void *user, uint32_t id, uint32_t port)
{
    return relay_open(user, id, port);
}

static void chan_data_cb(void *user, uint32_t id, const uint8_t *p, size_t n)
{
    relay_data(user, id, p, n);
}

static void chan_writable_cb(void *user, uint32_t id)
{
    relay_writable(user, id);
}

static void chan_closed_cb(void *user, uint32_t id)
{
    relay_closed(user, id);
}

static const struct dev_ops dev_ops = {
    .send = dev_send,
    .event = dev_event_cb,
    .chan_open = chan_open_cb,
    .chan_data = chan_data_cb,
    .chan_writable = chan_writable_cb,
    .chan_closed = chan_closed_cb,
};

/* ---- transport ---- */

/* TLS (or TCP with --plain) is up: APF starts. */
static void transport_up(struct simdev *sd)
{
    struct simw *w = sd->w;
    uint64_t now = now_ms(sd);
    leave_connecting(sd);
    sd->phase = PH_APF;
    stats_add(&w->st, ST_TLS_OK, 1);
    stats_hist(w->st.hs_us, (now - sd->t0_ms) * 1000);
    sd->dev_err = dev_start(&sd->dev, now);
    if (fault_mode(w->sim->o))
        release_inflight(sd); /* the fault is out; the MPS' answer may take long */
    sd_rearm(sd);
}

static size_t tls_out(void *user, const uint8_t *p, size_t n)
{
    struct simdev *sd = user;
    if (sd->dev.o->mode == MODE_STALL_HANDSHAKE) {
        /* half of the first flight (the ClientHello), then silence */
        if (!sd->stall_sent) {
            sd->stall_sent = true;
            ring_conn_send(sd->conn, p, n / 2);
            release_inflight(sd);
        }
        return n;
    }
    ssize_t k = ring_conn_send(sd->conn, p, n);
    return k > 0 ? (size_t)k : 0;
}

static void tls_plain(void *user, const uint8_t *p, size_t n)
{
    struct simdev *sd = user;
    if (sd->dev_err == DEV_OK && sd->phase == PH_APF)
        sd->dev_err = dev_recv(&sd->dev, p, n, now_ms(sd));
}

static void tls_done(void *user, struct tls_conn *c)
{
    struct simdev *sd = user;
    struct tls_conn_info info;
    if (tls_conn_info(c, &info) == 0 && info.resumed)
        stats_add(&sd->w->st, ST_RESUMED, 1);
    transport_up(sd);
}

static void on_open(ring_conn *c)
{
    struct simdev *sd = ring_conn_user(c);
    const struct sim_opts *o = sd->w->sim->o;
    sd->conn = c;
    if (sd->w->stopping) {
        sd->phase = PH_CLOSING;
        leave_connecting(sd);
        ring_conn_close(c, RING_CLOSE_ABORT);
        return;
    }
    ring_conn_set_send_cap(c, SEND_CAP, SEND_CAP / 4);
    if (o->plain || o->mode == MODE_NO_TLS_GARBAGE) {
        transport_up(sd);
    } else {
        struct tls_conn_io io = {
            .output = tls_out, .plaintext = tls_plain, .handshake = tls_done, .user = sd};
        sd->tls = tls_conn_new(sd->w->sim->tls, &io);
        if (!sd->tls) {
            sd_end(sd, K_FAILED, stat_reason_tls(TLS_E_NOMEM));
            return;
        }
        if (sd->session)
            tls_conn_set_session(sd->tls, sd->session);
        sd->phase = PH_TLS;
        int r = tls_conn_handshake(sd->tls);
        if (r != 0 && r != TLS_E_AGAIN) {
            sd_end(sd, K_FAILED, stat_reason_tls(r));
            return;
        }
    }
    if (sd->dev_err)
        sim_device_error(sd, sd->dev_err);
}

static void on_data(ring_conn *c, const uint8_t *p, size_t n)
{
    struct simdev *sd = ring_conn_user(c);
    if (sd->phase == PH_CLOSING || sd->dev.o->mode == MODE_STALL_HANDSHAKE)
        return; /* stalling: whatever the MPS says goes unanswered */
    if (!sd->tls) {
        if (sd->dev_err == DEV_OK)
            sd->dev_err = dev_recv(&sd->dev, p, n, now_ms(sd));
    } else {
        bool was_up = tls_conn_handshake_done(sd->tls);
        int r = tls_conn_feed(sd->tls, p, n);
        if (r != 0 && sd->dev_err == DEV_OK) {
            /* the MPS' alert or close_notify ends it from its side; anything else is ours */
            bool theirs = r == TLS_E_ALERT || r == TLS_E_CLOSED || was_up;
            sd_end(sd, theirs ? K_DROPPED : K_FAILED, stat_reason_tls(r));
            return;
        }
    }
    if (sd->dev_err)
        sim_device_error(sd, sd->dev_err);
    else if (sd->phase == PH_APF)
        sd_rearm(sd);
}

static void on_eof(ring_conn *c)
{
    struct simdev *sd = ring_conn_user(c);
    sd_end(sd, K_DROPPED, R_EOF);
}

static void sd_finish(struct simdev *sd)
{
    struct simw *w = sd->w;
    const struct sim_opts *o = w->sim->o;
    release_inflight(sd);
    if (sd->flags & F_READY && sd->dev.ready)
        stats_add(&w->st, ST_READY, -1);
    bool again =
        o->reconnect && !w->stopping && sd->end_reason != R__COUNT && !(sd->flags & F_REFUSED);
    if (again) {
        unsigned ms = o->reconnect_delay_ms << (sd->backoff < 6 ? sd->backoff : 6);
        ms = ms > BACKOFF_MAX ? BACKOFF_MAX : ms;
        ms += (unsigned)(sd->dev.index * 7919u) % (ms / 2 + 1); /* spread the herd */
        sd->backoff++;
        sd->phase = PH_BACKOFF;
        ring_timer_arm(w->rw, &sd->timer, ms);
        return;
    }
    ring_timer_cancel(w->rw, &sd->timer);
    sd->phase = PH_DONE;
    atomic_fetch_add(&w->done, 1);
}

static void on_close(ring_conn *c, int err)
{
    struct simdev *sd = ring_conn_user(c);
    sd->conn = NULL;                /* c is gone after this call: sd_end below only records */
    if (sd->end_reason == R__COUNT) /* nobody asked: the socket broke */
        sd_end(sd, sd->phase == PH_CONNECTING ? K_FAILED : K_DROPPED,
               err ? stat_reason_errno(err) : R_EOF);
    leave_connecting(sd);
    sd->phase = PH_CLOSING;
    if (sd->tls) {
        if (sd->w->sim->o->resume && tls_conn_handshake_done(sd->tls)) {
            void *s = tls_conn_get_session(sd->tls);
            if (s) {
                tls_session_free(sd->session);
                sd->session = s;
            }
        }
        tls_conn_free(sd->tls);
        sd->tls = NULL;
    }
    dev_reset(&sd->dev);
    sd_finish(sd);
}

static void on_connect_fail(ring_worker *rw, void *user, int err)
{
    struct simdev *sd = user;
    (void)rw;
    sd_end(sd, K_FAILED, stat_reason_errno(err));
    leave_connecting(sd);
    sd->phase = PH_CLOSING;
    sd_finish(sd);
}

static const ring_conn_cbs conn_cbs = {
    .on_open = on_open,
    .on_data = on_data,
    .on_eof = on_eof,
    .on_close = on_close,
    .on_connect_fail = on_connect_fail,
};

/* ---- workers ---- */

static void on_start(ring_worker *rw, void *arg)
{
    struct sim *s = arg;
    struct simw *w = &s->w[ring_worker_index(rw)];
    w->rw = rw;
    w->last_pace_ms = ring_now_ms(rw);
    ring_timer_init(&w->pacer, pacer_fire);
    for (uint32_t k = 0; k < w->ndev; k++)
        ring_timer_init(&s->devs[w->index + (size_t)k * s->nw].timer, sd_timer);
    pace(w);
}

/* Mark who is up, then end every connection cleanly: DISCONNECT BY_APPLICATION, close_notify,
 * FIN. The worker exits once the last one is closed. */
static void on_stop(ring_worker *rw, void *arg)
{
    struct sim *s = arg;
    struct simw *w = &s->w[ring_worker_index(rw)];
    w->stopping = true;
    ring_timer_cancel(rw, &w->pacer);
    for (uint32_t k = 0; k < w->ndev; k++) {
        struct simdev *sd = &s->devs[w->index + (size_t)k * s->nw];
        if (sd->phase == PH_APF && sd->dev.ready)
            sd->flags |= F_UP_AT_END;
    }
    for (uint32_t k = 0; k < w->ndev; k++) {
        struct simdev *sd = &s->devs[w->index + (size_t)k * s->nw];
        ring_timer_cancel(rw, &sd->timer);
        if (sd->phase == PH_APF)
            dev_disconnect(&sd->dev, APF_DISC_BY_APPLICATION);
        if (sd->conn && sd->phase != PH_CLOSING)
            sd_end(sd, K_LOCAL, R_LOCAL); /* our end at exit: no failure, not counted */
    }
}

int sim_start(struct sim *s, const struct sim_opts *o, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->o = o;
    if (!o->plain && o->mode != MODE_NO_TLS_GARBAGE) {
        if (tls_global_init() != 0) {
            snprintf(err, errlen, "wolfSSL initialisation failed");
            return -1;
        }
        struct tls_client_config tc = {.ca_file = o->ca,
                                       .cert_file = o->cert,
                                       .key_file = o->key,
                                       .min_version = o->tls_min,
                                       .max_version = o->tls_max,
                                       .cipher_list = o->ciphers,
                                       .server_name = o->sni};
        if (tls_ctx_client_new(&tc, &s->tls, err, errlen) != 0)
            return -1;
    }
    s->nw = o->workers;
    s->devs = calloc(o->count, sizeof(*s->devs));
    s->w = calloc(s->nw, sizeof(*s->w));
    if (!s->devs || !s->w) {
        snprintf(err, errlen, "out of memory for %u devices", o->count);
        return -1;
    }
    for (uint32_t i = 0; i < o->count; i++) {
        s->devs[i].dev.index = i;
        s->devs[i].w = &s->w[i % s->nw];
        s->devs[i].end_reason = R__COUNT;
    }
    uint32_t per_inflight = (o->inflight + s->nw - 1) / s->nw;
    for (unsigned i = 0; i < s->nw; i++) {
        struct simw *w = &s->w[i];
        w->sim = s;
        w->index = i;
        w->ndev = o->count / s->nw + (i < o->count % s->nw ? 1 : 0);
        w->inflight_max = per_inflight ? per_inflight : 1;
        w->rate = o->rate / s->nw;
    }
    /* the sockets are direct descriptors: they do not count against RLIMIT_NOFILE, but each
     * ring's table is capped by it when registered */
    ring_config rc = {.workers = s->nw,
                      .rx_buf_count = 256, /* 4 MiB per worker: the simulator's RSS stays its own */
                      .tick_ms = PACE_TICK_MS,
                      .linger_ms = 2000,
                      .on_start = on_start,
                      .on_stop = on_stop,
                      .arg = s};
    int r = ring_create(&rc, &s->ring);
    if (r < 0) {
        snprintf(err, errlen, "ring_create: %s", strerror(-r));
        return -1;
    }
    if ((r = ring_start(s->ring)) < 0) {
        snprintf(err, errlen, "ring_start: %s", ring_error(s->ring));
        return -1;
    }
    return 0;
}

bool sim_all_done(struct sim *s)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < s->nw; i++)
        done += atomic_load(&s->w[i].done);
    return done >= s->o->count;
}

void sim_stop(struct sim *s)
{
    if (s->ring)
        ring_stop(s->ring);
}

uint32_t sim_count_met(const struct sim *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->o->count; i++)
        n += sim_met(s->o, s->devs[i].flags);
    return n;
}

uint32_t sim_count_up(const struct sim *s)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < s->o->count; i++)
        n += (s->devs[i].flags & F_UP_AT_END) != 0;
    return n;
}

void sim_free(struct sim *s)
{
    if (s->ring)
        ring_destroy(s->ring);
    for (uint32_t i = 0; s->devs && i < s->o->count; i++) {
        tls_session_free(s->devs[i].session);
        free(s->devs[i].relays);
    }
    free(s->devs);
    free(s->w);
    if (s->tls)
        tls_ctx_unref(s->tls);
}
