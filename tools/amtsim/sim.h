/*
 * sim.h - the glue: N devices on io_uring workers, each device a ring connection, a TLS client
 * session (unless --plain) and the sans-I/O device of device.h.
 *
 * Device i lives on worker i % W for its whole life (every callback of it runs on that thread);
 * each worker starts its own devices in index order, paced by --rate and --inflight.
 */
#ifndef AMTSIM_SIM_H
#define AMTSIM_SIM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "apf.h"
#include "device.h"
#include "opts.h"
#include "ring.h"
#include "stats.h"
#include "tls.h"

#define R_LOCAL (R__COUNT + 1) /* we ended it on purpose (exit): not a reason to count */

enum sd_phase {
    PH_IDLE = 0,
    PH_CONNECTING, /* TCP connect in progress */
    PH_TLS,        /* TLS handshake */
    PH_APF,        /* transport up, APF running */
    PH_CLOSING,    /* close requested, waiting for on_close */
    PH_BACKOFF,    /* waiting to reconnect */
    PH_DONE,       /* nothing more will happen */
};

/* Outcome flags, kept across reconnects. */
enum {
    F_AUTH_OK = 1,
    F_LOGGED_IN = 2,
    F_READY = 4,
    F_REFUSED = 8,
    F_DROPPED = 16, /* the MPS ended an established connection */
    F_FAILED = 32,
    F_UP_AT_END = 64,
};

struct simw;
struct relay;

struct simdev {
    struct device dev;
    struct simw *w;
    ring_conn *conn;
    struct tls_conn *tls;
    void *session;         /* --resume: the last session of this device */
    struct relay **relays; /* per channel id, only with --relay and while one lives */
    ring_timer timer;
    uint64_t t0_ms;       /* connect start */
    uint64_t deadline_ms; /* the expected state must come by then (UINT64_MAX: reached) */
    uint64_t ka_sent_us;  /* the oldest unanswered keep-alive request's send time, 0 if none */
    uint32_t ka_sent_cookie;
    int dev_err;         /* a device error raised inside a callback, handled after it */
    uint16_t end_reason; /* R_* of the first end, R__COUNT = none yet */
    uint8_t phase;
    uint8_t flags;
    uint8_t backoff; /* reconnect attempts since the last ready */
    bool inflight, stall_sent;
};

struct sim;

struct simw {
    struct sim *sim;
    ring_worker *rw;
    struct stats st;
    uint32_t index, ndev, next; /* devices index + k * nw, k < ndev; next k to start */
    uint32_t inflight, inflight_max;
    double rate, credit;
    uint64_t last_pace_ms;
    ring_timer pacer;
    _Atomic uint32_t done;
    bool stopping, pacing;
};

struct sim {
    const struct sim_opts *o;
    struct tls_ctx *tls;
    ring_t *ring;
    struct simdev *devs;
    struct simw *w;
    unsigned nw;
};

/* Create the TLS context, the ring and the devices; start the workers (they begin connecting at
 * once). Returns 0 or -1 with a message in err. */
int sim_start(struct sim *s, const struct sim_opts *o, char *err, size_t errlen);
/* Every device is done (no more activity possible). */
bool sim_all_done(struct sim *s);
/* Mark who is up, disconnect everyone cleanly, join the workers. */
void sim_stop(struct sim *s);
void sim_free(struct sim *s);
/* After sim_stop: devices that reached what the mode expects. */
uint32_t sim_count_met(const struct sim *s);
bool sim_met(const struct sim_opts *o, uint8_t flags);
/* After sim_stop: devices that were ready and connected when the run ended. */
uint32_t sim_count_up(const struct sim *s);

/* relay.c */
int relay_open(struct simdev *sd, uint32_t id, uint32_t port);
void relay_data(struct simdev *sd, uint32_t id, const uint8_t *p, size_t n);
void relay_writable(struct simdev *sd, uint32_t id);
void relay_closed(struct simdev *sd, uint32_t id);
/* A device error raised outside dev_recv (relay callbacks): end the device accordingly. */
void sim_device_error(struct simdev *sd, int err);

#endif
