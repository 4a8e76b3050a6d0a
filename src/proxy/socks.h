/*
 * socks.h - the server side of SOCKS5 (RFC 1928) with username/password authentication
 * (RFC 1929), SOCKS4 and SOCKS4a, sans-I/O: bytes in, events out, reply bytes to send.
 *
 * A socks_session is a fixed-size struct the caller embeds (no allocation). The caller feeds the
 * console's bytes; the session stops at each event and reports how many bytes it consumed, so
 * that bytes after the CONNECT request (a console's optimistic payload) stay the caller's. Reply
 * bytes accumulate in the session's output, which the caller sends and then clears.
 *
 * Flow (SOCKS5): greeting -> method choice (0x02 username/password; 0x00 only when
 * conf.allow_anonymous and the console offers it; else 0xFF and FAILED) -> RFC 1929 sub-negotiation
 * -> SOCKS_EV_AUTH (the caller checks, maybe asynchronously, then socks_auth_result) -> CONNECT
 * request -> SOCKS_EV_REQUEST (the caller opens the channel, then socks_reply).
 * SOCKS4/4a: one message carries the request and the user id. The user id is read as
 * "user:password" (split at the first ':'); SOCKS_EV_AUTH comes first, SOCKS_EV_REQUEST on the
 * next socks_feed after socks_auth_result(true) (with n == 0 if no new bytes). Plain SOCKS4 (an
 * IPv4 destination, no host name) is refused with SOCKS_E_SOCKS4_DISABLED unless
 * conf.allow_socks4.
 *
 * Nothing here resolves names, opens sockets or knows APF. Passwords are wiped by
 * socks_auth_result and socks_wipe.
 *
 * Details the caller relies on:
 * - SOCKS5 method choice prefers 0x02 whenever offered; 0x00 (s->anonymous) skips the
 *   sub-negotiation and SOCKS_EV_AUTH entirely: the next event is SOCKS_EV_REQUEST.
 * - A console may pipeline greeting, sub-negotiation and request; socks_feed keeps going past the
 *   greeting (no event) and stops at SOCKS_EV_AUTH and SOCKS_EV_REQUEST.
 * - RFC 1929 failures (version, empty user, NUL in user or password) queue the status 0x01 0x01;
 *   SOCKS5 request failures queue VER REP RSV ATYP(1) 0.0.0.0:0 with REP 0x07 (command), 0x08
 *   (ATYP) or 0x01 (malformed); SOCKS4 failures queue VN=0 CD=91 with a zero port and address.
 *   SOCKS_E_VERSION queues nothing. An error is reported at the byte that causes it.
 * - SOCKS4 with an empty user id still reports SOCKS_EV_AUTH (user_len 0): the caller refuses.
 * - socks_feed while SOCKS_EV_AUTH or SOCKS_EV_REQUEST is unanswered is SOCKS_E_STATE (FAILED);
 *   after a successful socks_reply it consumes nothing and reports SOCKS_EV_NONE.
 * - socks_reply with a failure code leaves the session FAILED with error SOCKS_OK (the caller
 *   knows why); an out-of-order socks_auth_result/socks_reply fails it with SOCKS_E_STATE.
 */
#ifndef MPSD_PROXY_SOCKS_H
#define MPSD_PROXY_SOCKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct socks_conf {
    bool allow_socks4;    /* plain SOCKS4 (IPv4 destination without a 4a host name) */
    bool allow_anonymous; /* SOCKS5 method 0x00 (no authentication) may be chosen */
} socks_conf;

typedef enum socks_atyp {
    SOCKS_ADDR_IPV4 = 1,
    SOCKS_ADDR_NAME = 3,
    SOCKS_ADDR_IPV6 = 4,
} socks_atyp;

typedef struct socks_target {
    socks_atyp atyp;
    /* NUL-terminated: the domain name as sent (1..255 bytes, no NUL inside), or for IPV4/IPV6 the
     * address rendered as text ("10.0.0.1", "2001:db8::1", RFC 5952 form) */
    char host[256];
    size_t host_len;
    uint8_t ip[16]; /* IPV4: the first 4 bytes; IPV6: all 16 */
    uint16_t port;
} socks_target;

typedef enum socks_event {
    SOCKS_EV_NONE = 0, /* everything given was consumed; feed more */
    SOCKS_EV_AUTH,     /* s->user / s->pass are known: call socks_auth_result */
    SOCKS_EV_REQUEST,  /* s->target is known: call socks_reply */
    SOCKS_EV_FAILED, /* s->error says why; the output holds the reply (may be empty): send, close */
} socks_event;

typedef enum socks_error {
    SOCKS_OK = 0,
    SOCKS_E_VERSION,         /* first byte neither 4 nor 5 */
    SOCKS_E_NO_METHOD,       /* SOCKS5: no acceptable authentication method offered (0xFF sent) */
    SOCKS_E_AUTH_VERSION,    /* RFC 1929 sub-negotiation version is not 1 */
    SOCKS_E_AUTH_EMPTY,      /* empty username (RFC 1929 needs 1..255) */
    SOCKS_E_AUTH_FAILED,     /* socks_auth_result(false) */
    SOCKS_E_COMMAND,         /* BIND or UDP ASSOCIATE (or unknown): reply 0x07 / SOCKS4 91 */
    SOCKS_E_ATYP,            /* unknown address type: reply 0x08 */
    SOCKS_E_MALFORMED,       /* zero-length name, NUL in a name, reserved byte not 0, port 0 */
    SOCKS_E_TOO_LONG,        /* SOCKS4 user id or 4a host name longer than 255 bytes */
    SOCKS_E_SOCKS4_DISABLED, /* plain SOCKS4 without conf.allow_socks4 */
    SOCKS_E_STATE,           /* a call out of order (caller bug) */
} socks_error;

const char *socks_strerror(socks_error e);

/* SOCKS5 reply codes (RFC 1928 section 6). */
typedef enum socks_rep {
    SOCKS_REP_SUCCEEDED = 0x00,
    SOCKS_REP_GENERAL_FAILURE = 0x01,
    SOCKS_REP_NOT_ALLOWED = 0x02, /* connection not allowed by ruleset */
    SOCKS_REP_NETWORK_UNREACHABLE = 0x03,
    SOCKS_REP_HOST_UNREACHABLE = 0x04,
    SOCKS_REP_CONNECTION_REFUSED = 0x05,
    SOCKS_REP_TTL_EXPIRED = 0x06,
    SOCKS_REP_COMMAND_NOT_SUPPORTED = 0x07,
    SOCKS_REP_ATYP_NOT_SUPPORTED = 0x08,
} socks_rep;

typedef struct socks_session {
    /* private: parser state and the partial message being assembled */
    uint8_t state;
    uint8_t buf[2 + 255 + 255 + 8]; /* the longest message a stage may need to hold */
    uint16_t buf_len;
    uint16_t mark;   /* SOCKS4: index of the user id's NUL in buf once seen, else 0 */
    uint8_t out[32]; /* replies to send (the longest is SOCKS5's with an IPv6 address: 22) */
    uint8_t out_len;
    socks_conf conf;
    /* public, read-only for the caller */
    uint8_t version;   /* 4 or 5 once known, else 0 */
    bool socks4a;      /* version 4 with a host name */
    bool anonymous;    /* SOCKS5 method 0x00 was chosen: no credentials */
    socks_error error; /* why FAILED */
    char user[256];    /* NUL-terminated, user_len bytes (may hold any byte but NUL) */
    size_t user_len;
    char pass[256]; /* wiped by socks_auth_result / socks_wipe */
    size_t pass_len;
    bool has_password; /* SOCKS5 RFC 1929, or a SOCKS4 user id with a ':' */
    socks_target target;
} socks_session;

void socks_init(socks_session *s, const socks_conf *conf);

/* Feeds p[0..n) (p may be NULL when n is 0). Returns the bytes consumed (<= n) and sets *ev.
 * It stops right after an event: call again with the rest once the event is answered. After
 * SOCKS_EV_REQUEST nothing more is consumed (the rest is payload); after FAILED, nothing. */
size_t socks_feed(socks_session *s, const uint8_t *p, size_t n, socks_event *ev);

/* Answer SOCKS_EV_AUTH. SOCKS5: queues the RFC 1929 status (0x01 0x00 / 0x01 0x01); false moves
 * the session to FAILED (SOCKS_E_AUTH_FAILED). SOCKS4: false queues reply 91 and fails; true
 * lets the next socks_feed report SOCKS_EV_REQUEST. Wipes the password either way. */
void socks_auth_result(socks_session *s, bool ok);

/* Answer SOCKS_EV_REQUEST: queues the reply in the session's version (SOCKS5: VER REP RSV ATYP
 * BND.ADDR BND.PORT with the IPv4 address bound4/port given, 0.0.0.0:0 when NULL; SOCKS4: 90 for
 * SUCCEEDED, else 91). After a failure code the session is FAILED. */
void socks_reply(socks_session *s, socks_rep rep, const uint8_t bound4[4], uint16_t bound_port);

/* The reply bytes queued so far; socks_output_clear once they are sent (or copied). */
size_t socks_output(const socks_session *s, const uint8_t **p);
void socks_output_clear(socks_session *s);

/* Wipes the password and any partial message (call before freeing). */
void socks_wipe(socks_session *s);

#endif
