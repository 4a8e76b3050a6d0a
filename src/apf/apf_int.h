/*
 * apf_int.h - the session and channel structs, shared by apf_session.c and
 * apf_channel.c only. Nothing here is public.
 */
#ifndef MPSD_APF_INT_H
#define MPSD_APF_INT_H

#include "apf.h"

#define APF_MAX_PORTS       16  /* AMT registers at most 7 ports */
#define APF_MAX_HOSTNAME    255 /* longer bind addresses are not kept (informational) */
#define APF_FIRST_CHANNEL   4   /* MeshCentral and Open AMT start at 4 too */
#define APF_TX_SCRATCH(cfg) ((size_t)(cfg)->max_payload + 9)

enum apf_state {
    APF_S_AUTH_SVC,  /* waiting for SERVICE_REQUEST auth@ (PROTOCOLVERSION may come) */
    APF_S_USERAUTH,  /* waiting for USERAUTH_REQUEST */
    APF_S_AUTH_WAIT, /* the caller decides; input is held back */
    APF_S_PFWD_SVC,  /* waiting for SERVICE_REQUEST pfwd@ */
    APF_S_FORWARDS,  /* tcpip-forward registrations; channels allowed */
    APF_S_READY,     /* forwards settled, KEEPALIVE_OPTIONS_REQUEST sent */
    APF_S_CLOSED,
};

enum apf_ch_state {
    APF_CH_OPENING, /* our CHANNEL_OPEN sent, no answer yet */
    APF_CH_OPEN,
    APF_CH_CLOSING, /* our CLOSE sent, waiting for the device's */
};

typedef struct apf_channel {
    uint32_t id, peer_id, port;
    uint8_t state;
    bool close_wanted;  /* local close asked: CLOSE goes out once confirmed and flushed */
    bool want_writable; /* a send was cut short: tell the caller when room frees */
    /* Receive side; invariant rx_window + rx_unconsumed + rx_owed == cfg.rx_window. */
    uint32_t rx_window;     /* bytes the device may still send */
    uint32_t rx_unconsumed; /* delivered, not yet drained by the caller */
    uint32_t rx_owed;       /* drained, not yet returned by WINDOW_ADJUST */
    /* Send side. */
    uint32_t tx_window; /* bytes the device lets us send now */
    uint32_t q_cap;     /* queue bound: min(tx_queue, device's initial window) */
    uint32_t q_head, q_len;
    uint8_t *q; /* allocated only while bytes wait */
    void *user;
} apf_channel;

struct apf_session {
    const apf_callbacks *cb;
    void *user;
    apf_config cfg; /* its limits with max_data lifted are what the parser enforces (rx_lim) */
    uint8_t state;
    bool have_version;
    bool paused;  /* auth decision pending: bytes are held in rx */
    bool in_recv; /* a parse loop is running: no re-entrant recv */
    bool rx_seen; /* any byte received yet (HTTP probe check, idle baseline) */
    bool dying;   /* fail() in progress */
    int status;   /* APF_OK or the error that ended the session */
    uint32_t nforwards;
    uint64_t last_rx, settle_at;
    uint32_t v_major, v_minor, v_trigger; /* PROTOCOLVERSION (apf_version_info, but no text: */
    guid v_id;                            /* the callbacks get that built on the stack) */
    uint16_t ports[APF_MAX_PORTS];
    uint8_t nports;
    char *hostname;
    /* Partial message (or, while paused, the held-back bytes). */
    uint8_t *rx;
    uint32_t rx_len, rx_cap, rx_need;
    /* Inbound CHANNEL_DATA payload still streaming to channel data_chan. */
    uint32_t data_left, data_chan;
    apf_channel **ch; /* live channels, allocated while there are any */
    uint32_t nch, ch_cap;
    uint32_t next_id;
    uint8_t *tx; /* CHANNEL_DATA scratch, allocated while channels exist */
    apf_debug_fn dbg;
    void *dbg_user;
};

/* apf_session.c */
int apf_emit(apf_session *s, const uint8_t *p, size_t n);
int apf_emit_msg(apf_session *s, const apf_msg *m);
void apf_fail(apf_session *s, int err, unsigned msg_type);
bool apf_session_has_port16(const apf_session *s, uint32_t port);

/* apf_channel.c: the device's channel messages and the session's teardown. */
apf_channel *apf_ch_find(const apf_session *s, uint32_t id);
void apf_ch_on_msg(apf_session *s, const apf_msg *m);
void apf_ch_on_data_piece(apf_session *s, const uint8_t *p, size_t n);
void apf_ch_on_open_request(apf_session *s, const apf_msg *m);
void apf_ch_close_all(apf_session *s);
size_t apf_ch_memory(const apf_session *s);

#endif
