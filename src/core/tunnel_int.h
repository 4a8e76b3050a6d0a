/* tunnel_int.h - what tunnel.c (TLS, login, directory, ring callbacks) and tunnel_chan.c (the
 * tunnel's channels) share. Not a public header: tunnel.h is the tunnel's face. */
#ifndef MPSD_TUNNEL_INT_H
#define MPSD_TUNNEL_INT_H

#include "tunnel.h"
#include "events.h"
#include "log.h"
#include "netaddr.h"

enum tstate { T_HANDSHAKE, T_LOGIN, T_READY };

/* One per device connection, alive for its whole life: at 100k tunnels every 64 bytes here is
 * 6 MB. Kept in jemalloc's 384-byte class (tests/core/test_tunnel_size.c): the peer's socket
 * address lives in its ring connection (tunnel_peer_addr), the certificate's identity as a parsed
 * GUID, the credential group as its own small string. */
struct tunnel {
    struct tunnel *prev, *next; /* wctx list */
    struct wctx *wc;
    ring_conn *conn;
    uint64_t conn_id;
    uint64_t serial;
    struct tls_conn *tls; /* NULL on a plain (TLS offload) listener */
    apf_session *apf;     /* made once TLS is up */
    ring_timer timer;
    uint64_t opened_ms;
    uint64_t deadline_ms; /* handshake or login deadline; 0 once ready */
    enum tstate state;
    int close_how; /* -1: stay open */
    const char *why;
    bool counted_handshake; /* holds one of max_handshakes */
    bool registered;        /* in the directory under guid */
    bool auth_pending;
    bool has_guid;
    bool peer_cert;    /* a verified client certificate is bound to the connection */
    bool cert_named;   /* ... and its identity names the device cert_guid */
    bool authed;       /* the login was accepted */
    bool ends_blocked; /* some end waits for the send queue to fall below max_buffered */
    bool hexdump;      /* APF hex dumps of this tunnel at info level (switched by the API) */
    bool hello_seen;   /* a whole ClientHello arrived: the deadline is handshake_timeout */
    guid guid;
    guid cert_guid; /* the GUID the client certificate names (cert_named) */
    char guid_str[GUID_STRLEN + 1];
    char peer[NETADDR_STRLEN]; /* rendered once at accept: every log line carries it */
    const char *group; /* the credential group that authenticated it, or "" (tunnel_set_group) */
    /* channel ends (console sessions, device-initiated connections) on this tunnel */
    struct chan_end *ends;
    unsigned nends, nconsoles;
    /* for the admin surface (devinfo.h) and the metrics */
    int64_t since_unix;     /* when it logged in (registered) */
    uint64_t accept_us;     /* stats_now_us() at accept: the handshake histogram */
    uint64_t tls_up_us;     /* at TLS up (or accept on a plain listener): the login histogram */
    uint64_t bytes_in;      /* APF bytes from the device (after TLS) */
    uint64_t bytes_out;     /* APF bytes to the device (before TLS) */
    const char *end_reason; /* symbolic, for the disconnect event ("admin", "superseded", ..) */
    uint64_t adm_slot;      /* the source's handshake share held (admission.h), 0 if none */
};

/* tunnel.c: the peer's address (kept by the ring connection): 0, or -ENOTCONN (unknown). */
int tunnel_peer_addr(const struct tunnel *t, netaddr *out);
/* tunnel_login.c: sets (a copy of) the credential group; "" or NULL clears it. */
void tunnel_set_group(struct tunnel *t, const char *group);

static inline struct mpsd *M(const struct tunnel *t)
{
    return t->wc->m;
}

/* The fields of every line about t: its peer address and, once known, its GUID. */
#define TF(t) LF(.peer = (t)->peer, .guid = (t)->has_guid ? (t)->guid_str : NULL)

/* A line about a refused or failing peer: rate-limited per worker (wctx_peer_log_ok). */
#define peer_warn(t, ...)                                                                          \
    do {                                                                                           \
        if (wctx_peer_log_ok((t)->wc))                                                             \
            log_kv(LOG_WARN, TF(t), __VA_ARGS__);                                                  \
    } while (0)

/* tunnel.c: marks the tunnel for closing (the first reason given is the one logged; a why that
 * is one of tunnel.c's named texts also sets the symbolic end reason). */
void tunnel_want_close(struct tunnel *t, int how, const char *why);
extern const char tunnel_why_superseded[];
/* tunnel.c: (re)arms the tunnel's one timer for its nearest deadline. */
void tunnel_arm_timer(struct tunnel *t);
/* tunnel_login.c: the APF login and ready callbacks; an admin event (built only when wanted). */
void tunnel_apf_on_auth(apf_session *s, const apf_auth_request *req, void *user);
void tunnel_apf_on_ready(apf_session *s, void *user);
void tunnel_event(struct tunnel *t, enum admin_event_kind kind, const char *reason);

/* Performs the close a callback chain asked for (want_close), once it unwinds. */
void tunnel_apply_close(struct tunnel *t);
/* tunnel_chan.c: APF channel callbacks, the tunnel's on_writable, and the end of its channels. */
void tunnel_apf_on_channel_open(apf_session *s, uint32_t id, void *cu, void *user);
void tunnel_apf_on_channel_open_failed(apf_session *s, uint32_t id, uint32_t reason, void *cu,
                                       void *user);
void tunnel_apf_on_channel_data(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu,
                                void *user);
void tunnel_apf_on_channel_writable(apf_session *s, uint32_t id, void *cu, void *user);
void tunnel_apf_on_channel_closed(apf_session *s, uint32_t id, void *cu, void *user);
uint32_t tunnel_apf_on_open_request(apf_session *s, const apf_open_request *req, void **cu,
                                    void *user);
void tunnel_on_writable(ring_conn *c);
void tunnel_ends_gone(struct tunnel *t);

#endif
