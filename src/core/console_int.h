/* console_int.h - what console.c (accept, request, authentication, hand-off) and relay.c (channel,
 * relay, HTTP framing, device-initiated channels) share. Not a public header. */
#ifndef MPSD_CONSOLE_INT_H
#define MPSD_CONSOLE_INT_H

#include "auth.h"
#include "console.h"
#include "http1.h"
#include "httpproxy.h"
#include "log.h"
#include "netaddr.h"
#include "socks.h"
#include "tunnel.h"

enum cproto { CP_SOCKS, CP_HTTP, CP_DEVICE };

enum cstate {
    ST_REQUEST,    /* reading the proxy request */
    ST_AUTH,       /* a credential check is out */
    ST_MOVING,     /* going to the tunnel's worker */
    ST_OPENING,    /* CHANNEL_OPEN sent, waiting for the device */
    ST_CONNECTING, /* device-initiated: connecting to the destination */
    ST_RELAY,      /* bytes flow */
};

enum cerr {
    CE_AUTH,
    CE_NO_AUTH,
    CE_DENIED,
    CE_UNKNOWN,
    CE_AMBIGUOUS,
    CE_PORT,
    CE_REFUSED,
    CE_TIMEOUT,
    CE_CAP,
    CE_BUSY,
    CE_BAD_REQUEST,
    CE_INTERNAL,
};

/* Request-phase state, freed once the channel is open (a relaying session does not carry it). */
struct creq {
    socks_session socks;
    bool socks_auth_pending; /* SOCKS_EV_AUTH not answered yet */
    httpproxy_req http;
    bool authing; /* HTTP: the head was parsed, its credentials are being checked */
    char pending_host[256];
    size_t pending_host_len;
    uint16_t pending_port;
};

/* HTTP absolute-URI forwarding: requests are framed on the way up (heads rewritten to origin
 * form, bodies passed through), responses on the way down, so that the console connection can
 * carry several requests (keep-alive, pipelining) and move to another device between them. */
struct hfwd {
    http_body req;        /* the body being forwarded up */
    bool in_req_body;     /* else the next byte up starts a request head */
    uint32_t pass;        /* bytes at the front of c->in framed and free to go up */
    bool switching;       /* the next request names another device: wait for the responses */
    bool last;            /* the console asked to close after this request */
    unsigned outstanding; /* requests sent whose responses are not complete */
    uint64_t head_mask;   /* bit i: the i-th outstanding request is a HEAD */
    http_body resp;       /* the response body coming down */
    bool in_resp_body;
    uint8_t *rh; /* a response head being assembled */
    uint32_t rh_len, rh_cap;
};

struct console {
    struct chan_end end; /* the tunnel's view */
    struct console *prev, *next;
    struct wctx *wc;   /* the worker it is on */
    struct mpsd *mref; /* valid while it travels between workers */
    ring_conn *conn;   /* NULL while travelling, or before a device-initiated connect */
    uint64_t conn_id;
    uint8_t proto, state;
    bool listed, closing, moving, anonymous, loopback, eof_in, close_sent, chan_was_open, http_seen,
        http_forward, paused;
    const char *why;
    struct creq *rq;
    struct hfwd *hf;
    /* console -> device bytes that could not go yet */
    uint8_t *in;
    uint32_t in_len, in_cap;
    /* device -> console accounting: bytes queued to the console in all (enq) and not device data
     * (enq_other); what left the queue beyond enq_other is device data the console took */
    uint64_t enq, enq_other, acked;
    uint64_t up, down;
    /* the target */
    guid device;
    uint32_t dworker;
    uint64_t dtunnel, dgen;
    uint16_t port;
    char name[96];                  /* as the console named it, sanitized for logs */
    char guid_str[GUID_STRLEN + 1]; /* the device's GUID once resolved (logs), else "" */
    char user[USERS_NAME_MAX + 1];
    uint8_t ulen;
    char peer[NETADDR_STRLEN];
    uint64_t opened_ms, last_ms;
    uint64_t req_ms; /* when the current request phase began (its deadline counts from here) */
    uint64_t open_sent_us;   /* stats_now_us() at CHANNEL_OPEN: the channel-open histogram */
    uint8_t ev_proto;        /* the admin event's protocol (events.h), set when the channel opens */
    bool throttled;          /* its login was refused by the throttle (counted as such) */
    unsigned depth;          /* nesting of relay entry points: a switch waits until it is 0 */
    bool want_switch;        /* the next request needs another channel, once nothing is nested */
    uint8_t cred_digest[32]; /* SHA-256 of the credentials that authenticated the session */
    bool has_cred_digest;
    ring_timer timer;
};

extern const struct chan_end_ops console_end_ops;

/* The console user a line names: the authenticated one, "(anonymous)", or none yet. */
static inline const char *console_log_user(const struct console *c)
{
    return c->ulen ? c->user : (c->anonymous ? "(anonymous)" : NULL);
}

/* The fields of every line about console c: its address, the device's GUID once resolved, its
 * user, the device and port it asked for (docs/logging.md). */
#define CF(c)                                                                                      \
    LF(.peer = (c)->peer, .guid = (c)->guid_str[0] ? (c)->guid_str : NULL,                         \
       .user = console_log_user(c), .device = (c)->name[0] ? (c)->name : NULL, .port = (c)->port)
/* A device-initiated channel: the device's GUID (the destination stays in the text). */
#define DF(c) LF(.guid = (c)->guid_str[0] ? (c)->guid_str : NULL)

struct console *console_new(struct wctx *wc, enum cproto proto);
void console_free(struct console *c);
void console_free_request(struct console *c);
/* The length of name without a configured name_suffix (case-insensitive, at a label boundary). */
size_t console_strip_suffix(const struct config *cfg, const char *name, size_t len);
void console_fail(struct console *c, enum cerr e, const char *detail);
/* The session's protocol as stats.h's STATS_CONSOLE_PROTOS index (a request not parsed yet counts
 * as its listener's first protocol: socks5 or http_connect). */
static inline unsigned console_proto_index(const struct console *c)
{
    if (c->proto == CP_SOCKS)
        return c->rq && c->rq->socks.version == 4 ? 1 : 0;
    return c->http_forward ? 3 : 2;
}
/* Counts the session's request result (0: ok, else 1 + enum cerr). */
static inline void console_count_result(struct console *c, unsigned result)
{
    if (c->proto != CP_DEVICE && result < STATS_CONSOLE_RESULT_COUNT)
        STAT_INC(&c->wc->stats, console_sessions[console_proto_index(c)][result]);
}
/* An event for /api/v1/events (EV_CONSOLE_OPEN / EV_CONSOLE_CLOSE), built only when wanted. */
void console_event(struct console *c, int kind);
void console_fail_http(struct console *c, int status, const char *detail);
void console_fail_http_or_bad(struct console *c);
void console_close(struct console *c, int how, const char *why);
void console_queue(struct console *c, const uint8_t *p, size_t n);
void console_send_socks_output(struct console *c);
void console_arm(struct console *c, uint32_t ms);
void console_set_caps(struct console *c);
int console_in_append(struct console *c, const uint8_t *p, size_t n, size_t cap);
void console_in_consume(struct console *c, size_t n);
size_t console_in_limit(const struct console *c);
void console_request(struct console *c);
void console_move(struct console *c);
/* SHA-256 over user, a 0 byte and password: how a session recognises the credentials later
 * requests carry without keeping the password. */
void console_cred_digest(const char *user, size_t ulen, const char *pw, size_t pwlen,
                         uint8_t out[32]);
struct mpsd *console_m(const struct console *c);

/* relay.c */
void console_attach(struct console *c);
void console_relay_up(struct console *c, const uint8_t *p, size_t n);
void console_relay_drained(struct console *c);
void console_relay_free(struct console *c);
/* Stops or restarts reading the console (flow control toward it). */
void console_pause_in(struct console *c, bool pause);
void console_dev_connected(ring_conn *conn);
void console_dev_connect_failed(ring_worker *w, void *user, int err);
extern const ring_conn_cbs console_device_cbs; /* console.c */

#endif
