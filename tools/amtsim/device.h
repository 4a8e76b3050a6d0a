/*
 * device.h - one simulated AMT device's side of APF, sans-I/O.
 *
 * The glue feeds it the MPS' plaintext (dev_recv) and the time; it answers through ops->send (one
 * whole APF message, or a login burst, per call) and reports what happened through ops->event.
 * It owns no socket, TLS session or clock, so a test drives it with byte vectors.
 *
 * What it sends is what docs/apf.md 3.1 says a real AMT sends: PROTOCOLVERSION and
 * SERVICE_REQUEST auth back to back, USERAUTH_REQUEST after SERVICE_ACCEPT, SERVICE_REQUEST pfwd
 * after USERAUTH_SUCCESS, one tcpip-forward per port each after the previous REQUEST_SUCCESS
 * (--pipeline: the whole login at once), KEEPALIVE_OPTIONS_REPLY to the MPS' request,
 * KEEPALIVE_REQUEST every interval, CHANNEL_OPEN_CONFIRMATION for forwarded-tcpip opens on a
 * registered port, data within the MPS' window, WINDOW_ADJUST as it consumes, CHANNEL_CLOSE.
 *
 * Channels are served by the built-in services (--service: digest HTTP, SOL, echo, discard,
 * source; chan.c), or, with --relay, by the glue through the chan_* hooks. Channel ids are the
 * lowest free slot, 0 included, reused once both CLOSEs are exchanged: as AMT does
 * (docs/apf.md 4.1), which is a case an MPS must get right.
 */
#ifndef AMTSIM_DEVICE_H
#define AMTSIM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "opts.h"

enum dev_err {
    DEV_OK = 0,
    DEV_ERR_REFUSED = -1,    /* USERAUTH_FAILURE */
    DEV_ERR_DISCONNECT = -2, /* the MPS sent DISCONNECT (reason in dev->disc_reason) */
    DEV_ERR_PROTOCOL = -3,   /* the MPS broke the protocol; a DISCONNECT 2 went out */
    DEV_ERR_SEND = -4,       /* ops->send failed */
    DEV_ERR_NOMEM = -5,
    DEV_ERR_CLOSED = -6, /* the session already ended */
};
const char *dev_strerror(int err);

enum dev_event {
    DEV_EV_AUTH_OK,         /* USERAUTH_SUCCESS */
    DEV_EV_REFUSED,         /* USERAUTH_FAILURE */
    DEV_EV_FORWARD_REFUSED, /* REQUEST_FAILURE to a tcpip-forward; arg = port */
    DEV_EV_LOGGED_IN,       /* every forward answered */
    DEV_EV_READY,           /* logged in, every forward accepted, keep-alive options answered */
    DEV_EV_KEEPALIVE_SENT,  /* arg = cookie */
    DEV_EV_KEEPALIVE_REPLY, /* arg = cookie */
    DEV_EV_CHANNEL_OPEN,    /* confirmed; arg = port */
    DEV_EV_CHANNEL_REFUSED, /* arg = CHANNEL_OPEN_FAILURE reason */
    DEV_EV_CHANNEL_CLOSED,  /* arg = our id */
    DEV_EV_PROTOCOL_ERROR,  /* arg = offending message type (0: framing) */
    DEV_EV__COUNT
};

struct dev_ops {
    /* Bytes to the MPS; non-zero = failure (the device ends with DEV_ERR_SEND). */
    int (*send)(void *user, const uint8_t *p, size_t n);
    void (*event)(void *user, enum dev_event ev, uint32_t arg); /* optional */
    /* --relay only. chan_open: start serving channel id (port); return 0 and answer later with
     * dev_chan_open_result, or an APF open-failure reason to refuse now. chan_data: payload from
     * the MPS; report it drained with dev_chan_consumed. chan_writable: dev_chan_send may take
     * more. chan_closed: the channel is gone (last call for id). */
    int (*chan_open)(void *user, uint32_t id, uint32_t port);
    void (*chan_data)(void *user, uint32_t id, const uint8_t *p, size_t n);
    void (*chan_writable)(void *user, uint32_t id);
    void (*chan_closed)(void *user, uint32_t id);
};

enum dev_state {
    DS_IDLE = 0,
    DS_WAIT_AUTH_SVC, /* PROTOCOLVERSION + SERVICE_REQUEST auth sent */
    DS_WAIT_AUTH,     /* USERAUTH_REQUEST sent */
    DS_WAIT_PFWD_SVC, /* SERVICE_REQUEST pfwd sent */
    DS_FORWARDS,      /* tcpip-forwards in flight (or all answered) */
    DS_FAULT,         /* a fault payload went out; only listening now */
    DS_ENDED,
};

struct dev_chan;

struct device {
    const struct sim_opts *o;
    const struct dev_ops *ops;
    void *user;
    uint32_t index;
    uint8_t state;
    uint8_t fwd_sent, fwd_acked, fwd_ok;
    bool auth_ok, got_options, ready, logged_in;
    bool mute;      /* mode silent after its login: nothing leaves, not even replies */
    bool skip_zero; /* a USERAUTH_FAILURE came: a 0 byte next is its 15-byte form's tail */
    uint8_t nchans;
    uint32_t ka_interval_ms;
    uint32_t ka_cookie;
    uint32_t disc_reason; /* the MPS' DISCONNECT reason, 0 = none */
    uint64_t ka_due;      /* UINT64_MAX: no keep-alive scheduled */
    uint64_t svc_due;     /* a channel service's timer (SOL), UINT64_MAX: none */
    uint64_t now_ms;      /* the caller's clock at the last call */
    uint32_t nonce_seq;   /* digest nonces issued (digest.h) */
    uint8_t *rx;          /* partial message, only while one is pending */
    uint32_t rx_len;
    struct dev_chan **chans; /* o->max_channels slots, only while a channel lives */
};

/* Ready to start; no allocation. */
void dev_init(struct device *d, const struct sim_opts *o, const struct dev_ops *ops, uint32_t index,
              void *user);
/* The transport is up (TLS done, or TCP with --plain): send the login, or the mode's fault
 * payload. Returns DEV_OK or a dev_err. */
int dev_start(struct device *d, uint64_t now_ms);
/* Plaintext from the MPS, any split. DEV_OK, or the dev_err that ended the session (close the
 * transport then). */
int dev_recv(struct device *d, const uint8_t *p, size_t n, uint64_t now_ms);
/* Keep-alives: call at dev_next_timer() (UINT64_MAX: nothing scheduled). */
int dev_tick(struct device *d, uint64_t now_ms);
uint64_t dev_next_timer(const struct device *d);
/* Clean end: DISCONNECT(reason) unless muted, then every channel goes (chan_closed for relayed
 * ones). */
int dev_disconnect(struct device *d, uint32_t reason);
/* Free everything (channels: chan_closed for relayed ones); the device can be dev_init'ed again. */
void dev_reset(struct device *d);
bool dev_ended(const struct device *d);

/* The PROTOCOLVERSION UUID and host name of this device. */
void dev_uuid(const struct device *d, char out[37]);
void dev_hostname(const struct device *d, char *out, size_t cap);

/* ---- channels (relay side) ---- */
/* Answer a pending chan_open: ok sends the confirmation, else CHANNEL_OPEN_FAILURE(reason). */
int dev_chan_open_result(struct device *d, uint32_t id, bool ok, uint32_t reason);
/* Bytes toward the MPS. Returns how many were taken (0..n): they go out within the MPS' window,
 * the rest of what was taken waits in a bounded queue; fewer than n: chan_writable follows. */
ssize_t dev_chan_send(struct device *d, uint32_t id, const uint8_t *p, size_t n);
/* n bytes delivered by chan_data were drained: window returns to the MPS. */
int dev_chan_consumed(struct device *d, uint32_t id, size_t n);
/* Close our side once the queue is flushed. */
int dev_chan_close(struct device *d, uint32_t id);
/* For tests: the MPS' remaining credit / our queued bytes / credit we still grant. */
uint32_t dev_chan_tx_window(const struct device *d, uint32_t id);
uint32_t dev_chan_queued(const struct device *d, uint32_t id);
uint32_t dev_chan_rx_left(const struct device *d, uint32_t id);
bool dev_chan_live(const struct device *d, uint32_t id);

#define DEV_TXQ_MAX 65536u /* bytes a channel queues beyond the MPS' window */

#endif
