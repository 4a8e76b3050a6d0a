/* tls.h - the whole public face of mpsd's TLS layer (wolfSSL underneath).
 *
 * The layer owns wolfSSL contexts, certificate loading and reload, and a session object (tls_conn)
 * that never sees a file descriptor: the caller feeds it received ciphertext and gets ciphertext
 * to send back through an output callback. It knows nothing of APF or io_uring. See docs/tls.md.
 *
 * Threads: a tls_ctx is shared by sessions on many threads (refcounted, counters atomic); one
 * tls_conn is touched by one thread at a time. No global mutable state besides wolfSSL_Init.
 */
#ifndef MPSD_TLS_H
#define MPSD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors: negative values; tls_strerror() names them ------------------------------------ */
enum tls_error {
    TLS_E_AGAIN = -1,      /* not a failure: needs more ciphertext from the peer */
    TLS_E_WANT_WRITE = -2, /* not a failure: the output callback took nothing; retry later */
    TLS_E_CLOSED = -3,     /* peer sent close_notify */
    TLS_E_NOMEM = -4,
    TLS_E_INVAL = -5,
    TLS_E_INIT = -6,       /* wolfSSL_Init failed or tls_global_init not called */
    TLS_E_CERT = -7,       /* certificate chain file unreadable or invalid */
    TLS_E_KEY = -8,        /* private key unreadable, invalid, or not matching the certificate */
    TLS_E_CA = -9,         /* CA file unreadable or invalid */
    TLS_E_DH = -10,        /* DH parameters unreadable or weaker than 2048 bits */
    TLS_E_CONFIG = -11,    /* cipher list, version or other setting refused by wolfSSL */
    TLS_E_NOT_TLS = -12,   /* the peer's first bytes are not a TLS handshake record */
    TLS_E_HELLO = -13,     /* the ClientHello is malformed or too large */
    TLS_E_VERSION = -14,   /* no protocol version in common */
    TLS_E_NO_CIPHER = -15, /* no cipher suite in common */
    TLS_E_PEER_CERT = -16, /* peer certificate missing, expired or not trusted */
    TLS_E_ALERT = -17,     /* the peer sent a fatal alert */
    TLS_E_PROTOCOL = -18,  /* any other TLS failure (bad MAC, unexpected message, ...) */
    TLS_E_STATE = -19,     /* call not valid in the session's state */
};
const char *tls_strerror(int err);

/* Protocol versions, as on the wire. */
#define TLS_V1_0 0x0301
#define TLS_V1_1 0x0302
#define TLS_V1_2 0x0303
#define TLS_V1_3 0x0304
const char *tls_version_name(uint16_t v); /* "TLS 1.2", or "0x0305"-style for unknown (static) */

/* Call once per process before anything else (wolfSSL_Init); idempotent-unsafe: call once. */
int tls_global_init(void);
void tls_global_cleanup(void);

/* ---- contexts ------------------------------------------------------------------------------ */
enum tls_profile {
    TLS_PROFILE_MODERN = 0, /* TLS 1.2 + 1.3, ECDHE/DHE with AES-GCM or ChaCha20 only */
    TLS_PROFILE_LEGACY = 1, /* adds TLS 1.0/1.1, CBC and static-RSA suites (AMT <= 11) */
};
const char *tls_profile_name(enum tls_profile p);
int tls_profile_parse(const char *name, enum tls_profile *out); /* "modern"/"legacy" */

struct tls_tickets;
struct tls_server_config {
    const char *cert_file;      /* PEM chain served as is: leaf, intermediates, (root) */
    const char *key_file;       /* PEM private key of the leaf */
    const char *client_ca_file; /* NULL: no client certificate; else required and verified */
    const char *dh_file;        /* NULL: RFC 7919 ffdhe2048; else PEM DH params >= 2048 bits */
    enum tls_profile profile;
    /* Session ticket keys (tls_tickets_new), shared by every context built with them: tickets
     * survive reloads, restarts and (with a key file) other instances. The context takes a
     * reference. NULL: wolfSSL's built-in callback with random keys per context. */
    struct tls_tickets *tickets;
};

struct tls_client_config {
    const char *ca_file;     /* verify the server against it; NULL: no verification (tests) */
    const char *cert_file;   /* optional client certificate (PEM chain) ... */
    const char *key_file;    /* ... and its key */
    uint16_t min_version;    /* 0: TLS 1.2 */
    uint16_t max_version;    /* 0: TLS 1.3 */
    const char *cipher_list; /* NULL: wolfSSL's defaults; else a wolfSSL cipher list */
    const char *server_name; /* SNI; NULL: none */
};

struct tls_ctx;
/* On failure *out is untouched and err (if given) holds a precise message naming file and cause. */
int tls_ctx_server_new(const struct tls_server_config *cfg, struct tls_ctx **out, char *err,
                       size_t errlen);
int tls_ctx_client_new(const struct tls_client_config *cfg, struct tls_ctx **out, char *err,
                       size_t errlen);
/* Reload: a new server context from cfg that continues old's census counters. old is untouched;
 * sessions created from it keep it alive through their reference. */
int tls_ctx_reload(struct tls_ctx *old, const struct tls_server_config *cfg, struct tls_ctx **out,
                   char *err, size_t errlen);
struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx);
void tls_ctx_unref(struct tls_ctx *ctx);
enum tls_profile tls_ctx_profile(const struct tls_ctx *ctx);

/* A shared "current server context" slot for several workers: get() returns a new reference
 * (one mutex hop per accepted connection, never per byte); reload() swaps only on success. */
struct tls_ctx_slot;
int tls_ctx_slot_new(const struct tls_server_config *cfg, struct tls_ctx_slot **out, char *err,
                     size_t errlen);
struct tls_ctx *tls_ctx_slot_get(struct tls_ctx_slot *s);
int tls_ctx_slot_reload(struct tls_ctx_slot *s, const struct tls_server_config *cfg, char *err,
                        size_t errlen);
void tls_ctx_slot_free(struct tls_ctx_slot *s);

/* ---- session ticket keys (docs/tls.md "Session ticket keys") -------------------------------
 * Held by mpsd, not by wolfSSL: a current key that seals new tickets, the previous one (its
 * tickets still resume and are renewed under the current key) and, with a key file, the next
 * one (a peer instance whose clock crossed the epoch first). Sealed with ChaCha20-Poly1305.
 * Without a key file the keys are random and live in this process only. With one, the file's 80
 * random bytes are a secret from which the key of each epoch (Unix time / rotation) is derived
 * (HKDF-SHA256): every instance sharing the file has the same keys, across restarts. The file must
 * be a regular file of exactly 80 bytes that group and others can neither read nor write.
 * No timers in here: the caller drives rotation with its clock. Thread-safe: rotate and load
 * (control thread) against handshakes on any number of workers (a mutex held for a key lookup).
 * Secrets are never logged; tls_tickets_key_id names the current key by 4 bytes of its public
 * name. now_ms is always Unix time in milliseconds (CLOCK_REALTIME): instances must agree on
 * the epoch. */
#define TLS_TICKET_FILE_SZ 80
#define TLS_TICKET_ID_LEN  9 /* 8 hex digits + NUL */
/* rotation_ms 0: never rotate. key_file NULL or "": random keys. err names file and cause. */
int tls_tickets_new(uint64_t rotation_ms, const char *key_file, uint64_t now_ms,
                    struct tls_tickets **out, char *err, size_t errlen);
/* Start / SIGHUP: (re)read key_file (NULL or "": random keys). On failure nothing changes. On a
 * change the keys in use until now still open their tickets until the next rotation; an
 * unchanged file keeps everything. */
int tls_tickets_load(struct tls_tickets *tk, const char *key_file, uint64_t now_ms, char *err,
                     size_t errlen);
/* Call on a timer (every few seconds is fine): rotates when due (random keys: rotation_ms after
 * the last one on this clock, or when the clock went back; key file: when now_ms enters a new
 * epoch). Returns whether the keys changed. */
bool tls_tickets_rotate(struct tls_tickets *tk, uint64_t now_ms);
void tls_tickets_key_id(struct tls_tickets *tk, char out[TLS_TICKET_ID_LEN]);
bool tls_tickets_from_file(struct tls_tickets *tk);
struct tls_ticket_stats {
    uint64_t issued;      /* tickets sealed */
    uint64_t resumed;     /* opened with the current key */
    uint64_t renewed;     /* opened with the previous (or next, retired) key: re-issued */
    uint64_t unknown_key; /* key name not held (older than two rotations, another file) */
    uint64_t bad;         /* known key name, but the ticket did not authenticate */
};
void tls_tickets_stats(const struct tls_tickets *tk, struct tls_ticket_stats *out);
struct tls_tickets *tls_tickets_ref(struct tls_tickets *tk);
void tls_tickets_unref(struct tls_tickets *tk); /* the keys are wiped when the last ref goes */

/* ---- census: per-context counters (summed over reloads) ---------------------------------- */
enum tls_fail_reason {
    TLS_FAIL_NOT_TLS,
    TLS_FAIL_HELLO,
    TLS_FAIL_VERSION,
    TLS_FAIL_NO_CIPHER,
    TLS_FAIL_PEER_CERT,
    TLS_FAIL_ALERT,
    TLS_FAIL_OTHER,
    TLS_FAIL_ABANDONED, /* session freed before the handshake ended (timeout, peer gone) */
    TLS_FAIL__COUNT
};
const char *tls_fail_reason_name(enum tls_fail_reason r);

enum { TLS_VIDX_1_0, TLS_VIDX_1_1, TLS_VIDX_1_2, TLS_VIDX_1_3, TLS_VIDX_OTHER, TLS_VIDX__COUNT };
int tls_version_index(uint16_t v); /* TLS_VIDX_* */

/* Suites with a name: tls_suite_count() entries, index i <-> tls_suite_id_at(i); the last census
 * slot (index tls_suite_count()) counts everything else. */
#define TLS_SUITE_SLOTS 48
size_t tls_suite_count(void);
uint16_t tls_suite_id_at(size_t i);
int tls_suite_index(uint16_t id);        /* index in the table, or tls_suite_count() */
const char *tls_suite_name(uint16_t id); /* OpenSSL-style name, "GREASE", or NULL */

/* Key exchange groups of completed handshakes (TLS_GIDX_NONE: no ephemeral exchange, i.e. static
 * RSA of the legacy profile, or one wolfSSL does not name). */
enum {
    TLS_GIDX_X25519,
    TLS_GIDX_P256,
    TLS_GIDX_P384,
    TLS_GIDX_P521,
    TLS_GIDX_FFDHE,
    TLS_GIDX_NONE,
    TLS_GIDX__COUNT
};
const char *tls_group_label(int gidx); /* "x25519", "secp256r1", ..., "none" */

struct tls_census {
    uint64_t started; /* sessions that received their first bytes */
    uint64_t ok;      /* handshakes completed */
    uint64_t resumed; /* of those, resumed (ticket) */
    uint64_t failed[TLS_FAIL__COUNT];
    uint64_t version[TLS_VIDX__COUNT];     /* negotiated */
    uint64_t offered_max[TLS_VIDX__COUNT]; /* highest version each ClientHello offered */
    uint64_t suite[TLS_SUITE_SLOTS];       /* negotiated, by tls_suite_index() */
    uint64_t group[TLS_GIDX__COUNT];       /* key exchange group, by TLS_GIDX_* */
    uint64_t hello_retry;                  /* HelloRetryRequests sent (an extra round trip) */
};
void tls_ctx_census(const struct tls_ctx *ctx, struct tls_census *out);

/* ---- ClientHello census parser (sans-I/O) -------------------------------------------------- */
#define TLS_CH_MAX_SUITES   96
#define TLS_CH_MAX_VERSIONS 16
#define TLS_CH_MAX_BODY     16384 /* refuse larger hellos */
#define TLS_CH_NEED_MORE    1     /* tls_client_hello_parse: give more bytes */

struct tls_client_hello {
    uint16_t record_version; /* of the first record */
    uint16_t legacy_version; /* client_version field */
    uint16_t n_suites;       /* stored (<= TLS_CH_MAX_SUITES) */
    uint16_t n_suites_offered;
    uint16_t suites[TLS_CH_MAX_SUITES];
    uint8_t n_versions; /* supported_versions extension entries stored */
    bool has_supported_versions;
    uint16_t versions[TLS_CH_MAX_VERSIONS];
    char sni[256];   /* first host_name, "" if none; non-printable bytes replaced by '?' */
    size_t consumed; /* input bytes up to the end of the hello (record headers included) */
};
/* Parses the first record(s) a client sends. Returns 0 (out filled), TLS_CH_NEED_MORE,
 * TLS_E_NOT_TLS (not a TLS handshake record: decided from the first bytes) or TLS_E_HELLO. */
int tls_client_hello_parse(const uint8_t *p, size_t n, struct tls_client_hello *out);
/* Lowest and highest real (non-GREASE) version offered; without supported_versions the lowest is
 * reported as TLS 1.0. */
void tls_client_hello_range(const struct tls_client_hello *ch, uint16_t *lo, uint16_t *hi);
/* "versions=TLS 1.0-TLS 1.1 suites=AES128-SHA,0x1234,... sni=host" (truncated to fit). */
size_t tls_client_hello_format(const struct tls_client_hello *ch, char *buf, size_t len);

/* ---- sessions ------------------------------------------------------------------------------ */
/* Ciphertext out: copy p[0..n) into the send queue and return how many bytes were taken
 * (0..n); 0 means the queue is full (the call in progress returns TLS_E_WANT_WRITE). */
typedef size_t (*tls_output_fn)(void *user, const uint8_t *p, size_t n);
/* Plaintext in (optional): when set, tls_conn_feed delivers all decrypted data here. */
typedef void (*tls_plaintext_fn)(void *user, const uint8_t *p, size_t n);
struct tls_conn;
struct tls_client_hello;
typedef void (*tls_hello_fn)(void *user, const struct tls_client_hello *ch);
typedef void (*tls_handshake_fn)(void *user, struct tls_conn *c);

struct tls_conn_io {
    tls_output_fn output; /* required */
    tls_plaintext_fn plaintext;
    tls_hello_fn hello;         /* server: the parsed ClientHello, before wolfSSL sees it */
    tls_handshake_fn handshake; /* the handshake has just completed */
    void *user;
};

/* The session takes a reference on ctx; its role (server/client) is the context's. */
struct tls_conn *tls_conn_new(struct tls_ctx *ctx, const struct tls_conn_io *io);
/* Abortive: nothing is sent (quiet shutdown). A session mid-handshake counts as abandoned. */
void tls_conn_free(struct tls_conn *c);

/* Received ciphertext. cipher is read only during the call: bytes wolfSSL has not consumed are
 * copied into a small pending buffer (normally a partial record; freed once empty). Drives the
 * handshake and, with io.plaintext set, decrypts everything into it. Returns 0, TLS_E_CLOSED
 * (close_notify; plaintext before it was delivered), TLS_E_WANT_WRITE (call again, n = 0, when
 * the send queue drains) or a failure; after a failure the session is dead: free it.
 * feed(c, NULL, 0) just makes progress with what is pending. */
int tls_conn_feed(struct tls_conn *c, const uint8_t *cipher, size_t n);
/* Client: starts (and continues) the handshake. Server: same as feed(c, NULL, 0).
 * Returns 0 once done, TLS_E_AGAIN while waiting for the peer, or an error. */
int tls_conn_handshake(struct tls_conn *c);
bool tls_conn_handshake_done(const struct tls_conn *c);
/* Ciphertext bytes held in the pending buffer (0 on an idle session in plaintext-callback mode). */
size_t tls_conn_pending(const struct tls_conn *c);
/* Pull plaintext (when io.plaintext is not set): bytes > 0, TLS_E_AGAIN, TLS_E_CLOSED, error. */
long tls_conn_read(struct tls_conn *c, uint8_t *buf, size_t cap);
/* Plaintext out: returns n (all of it encrypted and handed to output) or an error. On
 * TLS_E_WANT_WRITE call again with the same data once the send queue has room. */
long tls_conn_write(struct tls_conn *c, const uint8_t *data, size_t n);
/* Graceful close: sends close_notify through output. */
int tls_conn_shutdown(struct tls_conn *c);

/* ---- certificate identity ------------------------------------------------------------------
 * What a certificate says it is, decoded from its DER (the subject's RDN attributes and the
 * subjectAltName extension), never from a rendered subject string: in "/O=../CN=.." a '/' inside
 * a value is not escaped, so "O=x/CN=<someone>" would read as naming someone. The layer keeps
 * strings only where they cannot be ambiguous; what an identity *means* (a device GUID) is the
 * caller's business. Rules: docs/tls.md "Peer identity". */
#define TLS_ID_MAX  36 /* longest identity string kept: a canonical GUID */
#define TLS_ID_SANS 4  /* SAN identity candidates kept; more make san_ids_bad */

enum tls_san_kind {
    TLS_SAN_DNS = 1,      /* dNSName of 1..TLS_ID_MAX printable ASCII bytes */
    TLS_SAN_URN_UUID = 2, /* URI "urn:uuid:<value>" (prefix case-insensitive): the value */
};

struct tls_cert_id {
    bool decoded;     /* the DER was walked (subject and extensions); false: all else empty */
    uint8_t cn_count; /* commonName attributes in the subject, every RDN counted (max 255) */
    /* The subject CN, only when usable: exactly one CN in the whole subject, encoded as
     * UTF8String, PrintableString or IA5String, 1..TLS_ID_MAX bytes, every byte printable ASCII
     * (0x20..0x7e: no NUL, no control). Otherwise "" (a certificate that names no one). */
    char cn[TLS_ID_MAX + 1];
    uint8_t san_dns_count; /* dNSName entries in subjectAltName (max 255) */
    uint8_t san_uri_count; /* uniformResourceIdentifier entries (max 255) */
    /* SAN entries that could carry an identity: every usable urn:uuid value and every short
     * dNSName (see enum tls_san_kind), in certificate order. */
    uint8_t n_san_ids;
    struct {
        uint8_t kind; /* enum tls_san_kind */
        char value[TLS_ID_MAX + 1];
    } san_ids[TLS_ID_SANS];
    /* A urn:uuid URI whose value is empty, longer than TLS_ID_MAX or not printable ASCII, or
     * more than TLS_ID_SANS candidates: the SANs cannot be checked, so trust none of it. */
    bool san_ids_bad;
};
/* Decodes a DER certificate's identity fields. 0, or TLS_E_CERT when the DER cannot be walked
 * (then *out is all zero: no identity). Signature and validity are not checked here. */
int tls_cert_identity(const uint8_t *der, size_t len, struct tls_cert_id *out);

struct tls_conn_info {
    uint16_t version;   /* TLS_V1_x */
    uint16_t suite;     /* IANA id */
    const char *cipher; /* wolfSSL's name, static */
    bool resumed;
    bool has_peer; /* a peer certificate was received and verified */
    /* "/C=../O=../CN=.." of the peer leaf, for logs only: bytes outside printable ASCII become
     * '?', and a '/' inside a value is not escaped, so it is ambiguous. Never parse it: decide
     * on peer_id. */
    char peer_subject[256];
    uint8_t peer_sha256[32];    /* fingerprint of the peer leaf (DER) */
    struct tls_cert_id peer_id; /* decoded from the peer leaf (all zero without has_peer) */
};
int tls_conn_info(const struct tls_conn *c, struct tls_conn_info *out);
/* Precise text for the last failure ("client offered TLS <= 1.1 ...; profile modern requires
 * >= TLS 1.2"), or tls_strerror of it; "" when none. Valid until tls_conn_free. */
const char *tls_conn_error(const struct tls_conn *c);
/* Client sessions: resumption. get returns an opaque ticket/session (NULL if none) to pass to
 * set on a later session of the same context; free it with tls_session_free. */
void *tls_conn_get_session(struct tls_conn *c);
int tls_conn_set_session(struct tls_conn *c, void *session);
void tls_session_free(void *session);

#endif
