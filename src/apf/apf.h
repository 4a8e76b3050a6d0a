/*
 * apf.h - Intel AMT Port Forwarding (APF) protocol engine, sans-I/O.
 *
 * Two layers, one header:
 *
 *  1. The codec (apf_unpack / apf_pack): one apf_msg per wire message, both
 *     directions, zero-copy (apf_str points into the caller's bytes).
 *     Usable by an MPS and by a device simulator alike.
 *
 *  2. The session (apf_session_*, apf_channel_*): the MPS side of one CIRA
 *     tunnel. The caller feeds decrypted bytes and the current time; the
 *     engine answers through the send callback (one whole message per call,
 *     contiguous) and reports events through the other callbacks. It owns no
 *     socket, no TLS, no thread and no clock, and holds no global state.
 *
 * Callbacks run synchronously inside the apf_* call that caused them. From a
 * callback you may call any apf_session_* / apf_channel_* function except
 * apf_session_recv() and apf_session_free().
 *
 * See docs/apf-engine.md for the design, bounds and decisions, and
 * docs/apf.md (shared) for the protocol itself.
 */
#ifndef MPSD_APF_H
#define MPSD_APF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guid.h"

/* ---- errors ------------------------------------------------------------ */

typedef enum apf_err {
    APF_OK = 0,
    APF_ERR_AGAIN = -1,                 /* codec: message incomplete, need more bytes (not fatal) */
    APF_ERR_INVALID = -2,               /* bad argument from the caller */
    APF_ERR_NOMEM = -3,                 /* allocation failed */
    APF_ERR_BUFFER = -4,                /* pack: output buffer too small */
    APF_ERR_UNKNOWN_TYPE = -5,          /* first byte is no APF message type */
    APF_ERR_NOT_APF = -6,               /* stream starts like HTTP ("GET "/"HEAD"/...): a probe */
    APF_ERR_STRING_TOO_LONG = -7,       /* a string length exceeds apf_limits.max_string */
    APF_ERR_MSG_TOO_LONG = -8,          /* a message would exceed apf_limits.max_msg */
    APF_ERR_DATA_TOO_LONG = -9,         /* CHANNEL_DATA payload above apf_limits.max_data */
    APF_ERR_MALFORMED = -10,            /* a field holds an impossible value */
    APF_ERR_UNKNOWN_METHOD = -11,       /* USERAUTH method other than password/none */
    APF_ERR_UNKNOWN_REQUEST = -12,      /* GLOBAL_REQUEST name unknown: payload cannot be framed */
    APF_ERR_UNKNOWN_CHANNEL_TYPE = -13, /* CHANNEL_OPEN type unknown: cannot be framed */
    APF_ERR_UNEXPECTED = -14,           /* message not allowed in the current state */
    APF_ERR_UNKNOWN_SERVICE = -15,      /* SERVICE_REQUEST for a service we do not offer */
    APF_ERR_VERSION = -16,              /* PROTOCOLVERSION major != 1 */
    APF_ERR_AUTH_FAILED = -17,     /* credentials refused (or USERAUTH before PROTOCOLVERSION) */
    APF_ERR_UNKNOWN_CHANNEL = -18, /* channel message for an id we never allocated */
    APF_ERR_WINDOW_EXCEEDED = -19, /* device sent more CHANNEL_DATA than the window we granted */
    APF_ERR_WINDOW_OVERFLOW = -20, /* WINDOW_ADJUST pushes the window past 2^32-1 */
    APF_ERR_RX_OVERFLOW = -21,     /* too many bytes buffered while a decision is pending */
    APF_ERR_PORT_NOT_REGISTERED = -22, /* open: device did not register that port */
    APF_ERR_TOO_MANY_CHANNELS = -23,   /* open: apf_config.max_channels reached */
    APF_ERR_NO_CHANNEL = -24,          /* channel call with an id that is not live */
    APF_ERR_CHANNEL_STATE = -25,       /* channel call not allowed now (e.g. close twice) */
    APF_ERR_NOT_READY = -26,           /* open before the pfwd service was accepted */
    APF_ERR_CLOSED = -27,              /* session already ended */
    APF_ERR_CALLBACK = -28,            /* the send callback reported failure */
    APF_ERR_PEER_DISCONNECT = -29,     /* device sent DISCONNECT (normal end, not a fault) */
    APF_ERR_TIMEOUT = -30,             /* no bytes from the device for idle_timeout_ms */
    APF_ERR_LOCAL_DISCONNECT = -31,    /* apf_session_disconnect() was called */
} apf_err;

#define APF_ERR_COUNT 32 /* number of codes, for per-error counters: index with -err */

const char *apf_strerror(int err);
/* A stable symbolic name ("msg_too_long") for metrics labels; NULL for 0 and unknown codes. */
const char *apf_err_name(int err);

/* ---- protocol constants (docs/apf.md section 1) -------------------------- */

enum apf_msg_type {
    APF_DISCONNECT = 1,
    APF_SERVICE_REQUEST = 5,
    APF_SERVICE_ACCEPT = 6,
    APF_USERAUTH_REQUEST = 50,
    APF_USERAUTH_FAILURE = 51,
    APF_USERAUTH_SUCCESS = 52,
    APF_GLOBAL_REQUEST = 80,
    APF_REQUEST_SUCCESS = 81,
    APF_REQUEST_FAILURE = 82,
    APF_CHANNEL_OPEN = 90,
    APF_CHANNEL_OPEN_CONFIRMATION = 91,
    APF_CHANNEL_OPEN_FAILURE = 92,
    APF_CHANNEL_WINDOW_ADJUST = 93,
    APF_CHANNEL_DATA = 94,
    APF_CHANNEL_CLOSE = 97,
    APF_PROTOCOLVERSION = 192,
    APF_KEEPALIVE_REQUEST = 208,
    APF_KEEPALIVE_REPLY = 209,
    APF_KEEPALIVE_OPTIONS_REQUEST = 210,
    APF_KEEPALIVE_OPTIONS_REPLY = 211,
};

enum apf_disconnect_reason {
    APF_DISC_HOST_NOT_ALLOWED_TO_CONNECT = 1,
    APF_DISC_PROTOCOL_ERROR = 2,
    APF_DISC_KEY_EXCHANGE_FAILED = 3,
    APF_DISC_RESERVED = 4,
    APF_DISC_MAC_ERROR = 5,
    APF_DISC_COMPRESSION_ERROR = 6,
    APF_DISC_SERVICE_NOT_AVAILABLE = 7,
    APF_DISC_PROTOCOL_VERSION_NOT_SUPPORTED = 8,
    APF_DISC_HOST_KEY_NOT_VERIFIABLE = 9,
    APF_DISC_CONNECTION_LOST = 10,
    APF_DISC_BY_APPLICATION = 11,
    APF_DISC_TOO_MANY_CONNECTIONS = 12,
    APF_DISC_AUTH_CANCELLED_BY_USER = 13,
    APF_DISC_NO_MORE_AUTH_METHODS_AVAILABLE = 14,
    APF_DISC_ILLEGAL_USER_NAME = 15, /* MeshCentral/Open AMT: INVALID_CREDENTIALS */
    APF_DISC_CONNECTION_TIMED_OUT = 16,
    APF_DISC_BY_POLICY = 17,
    APF_DISC_TEMPORARILY_UNAVAILABLE = 18,
};

enum apf_open_failure_reason {
    APF_OPEN_ADMINISTRATIVELY_PROHIBITED = 1,
    APF_OPEN_CONNECT_FAILED = 2,
    APF_OPEN_UNKNOWN_CHANNEL_TYPE = 3,
    APF_OPEN_RESOURCE_SHORTAGE = 4,
};

enum apf_trigger {
    APF_TRIGGER_USER_INITIATED = 1,
    APF_TRIGGER_ALERT = 2,
    APF_TRIGGER_HIT_PROVISIONING = 3,
    APF_TRIGGER_PERIODIC = 4,
    APF_TRIGGER_LME = 254,
};

#define APF_SERVICE_AUTH             "auth@amt.intel.com"
#define APF_SERVICE_PFWD             "pfwd@amt.intel.com"
#define APF_METHOD_PASSWORD          "password"
#define APF_METHOD_NONE              "none"
#define APF_REQ_TCPIP_FORWARD        "tcpip-forward"
#define APF_REQ_CANCEL_TCPIP_FORWARD "cancel-tcpip-forward"
#define APF_REQ_UDP_SEND_TO          "udp-send-to@amt.intel.com"
#define APF_CHAN_FORWARDED_TCPIP     "forwarded-tcpip"
#define APF_CHAN_DIRECT_TCPIP        "direct-tcpip"

const char *apf_msg_type_name(unsigned type);          /* "CHANNEL_DATA", "?" if unknown */
const char *apf_disconnect_reason_name(uint32_t code); /* "BY_APPLICATION", "?" */
const char *apf_open_failure_name(uint32_t code);      /* "CONNECT_FAILED", "?" */

/* ---- codec ------------------------------------------------------------- */

/* A length-delimited byte string; points into the buffer it was unpacked
 * from (or the caller's memory when packing). Not NUL-terminated. */
typedef struct apf_str {
    const uint8_t *p;
    uint32_t len;
} apf_str;

/* Compare an apf_str with a C string literal. */
bool apf_str_eq(apf_str s, const char *lit);
/* Make an apf_str from a C string (NULL gives the empty string). */
apf_str apf_str_c(const char *s);

/* One decoded (or to-be-encoded) message. Only the member named after the
 * type is meaningful. */
typedef struct apf_msg {
    uint8_t type; /* enum apf_msg_type */
    union {
        struct {
            uint32_t reason;
        } disconnect;
        struct {
            apf_str name;
        } service; /* SERVICE_REQUEST and SERVICE_ACCEPT */
        struct {
            apf_str user, service, method;
            bool has_password; /* method "password": the FALSE flag + password follow */
            apf_str password;
        } userauth;
        struct {
            apf_str methods;
            bool partial;
            bool long_form; /* 15-byte MeshCentral/Open AMT form (extra 0 byte) */
        } userauth_failure;
        struct {
            apf_str name; /* tcpip-forward / cancel-tcpip-forward / udp-send-to@amt.intel.com */
            bool want_reply;
            apf_str addr; /* bind address, or udp destination */
            uint32_t port;
            apf_str orig_addr; /* udp-send-to only */
            uint32_t orig_port;
            apf_str data;
        } global;
        struct {
            bool has_port; /* 5-byte reply to tcpip-forward */
            uint32_t port;
        } request_success;
        struct {
            apf_str type; /* forwarded-tcpip / direct-tcpip */
            uint32_t sender, window, reserved;
            apf_str addr; /* connected (target) address */
            uint32_t port;
            apf_str orig_addr;
            uint32_t orig_port;
        } open;
        struct {
            uint32_t recipient, sender, window, reserved;
        } open_confirm;
        struct {
            uint32_t recipient, reason, reserved1, reserved2;
        } open_failure;
        struct {
            uint32_t recipient, bytes;
        } window_adjust;
        struct {
            uint32_t recipient;
            apf_str data; /* with APF_UNPACK_DATA_HEADER: p == NULL, len = payload length */
        } data;
        struct {
            uint32_t recipient;
        } close;
        struct {
            uint32_t major, minor, trigger;
            uint8_t uuid[16];
            uint8_t reserved[64];
        } version;
        struct {
            uint32_t cookie;
        } keepalive; /* KEEPALIVE_REQUEST and KEEPALIVE_REPLY */
        struct {
            uint32_t interval, timeout;
        } keepalive_options; /* KEEPALIVE_OPTIONS_REQUEST and _REPLY */
    } u;
} apf_msg;

/* Bounds the codec enforces before it trusts any length field. */
typedef struct apf_limits {
    uint32_t max_string; /* any name/address/user/password string (default 2048) */
    uint32_t max_msg;    /* whole message except CHANNEL_DATA (default 16384) */
    uint32_t max_data;   /* CHANNEL_DATA payload (default 1 MiB, as Open AMT) */
} apf_limits;

void apf_limits_default(apf_limits *lim);

/* apf_unpack flags: the two messages whose size depends on what they answer,
 * and header-only framing of CHANNEL_DATA for streaming receivers. */
#define APF_UNPACK_SUCCESS_PORT 0x1 /* REQUEST_SUCCESS carries a port (answers tcpip-forward) */
#define APF_UNPACK_FAILURE_LONG 0x2 /* USERAUTH_FAILURE is the 15-byte form */
#define APF_UNPACK_DATA_HEADER  0x4 /* CHANNEL_DATA: stop after the 9-byte header */

/*
 * Decode the message at p[0..n). Returns
 *   APF_OK         *len = message length; m filled (strings point into p);
 *   APF_ERR_AGAIN  incomplete; *len = the smallest total length now known to
 *                  be needed (> n). Nothing is consumed; call again with more;
 *   < 0            a fatal apf_err (the stream cannot be resynchronised).
 *                  For APF_ERR_UNKNOWN_REQUEST, m->u.global.name/want_reply
 *                  are filled so that a REQUEST_FAILURE can be sent first.
 * lim may be NULL (defaults). Never reads past p + n.
 */
int apf_unpack(const uint8_t *p, size_t n, const apf_limits *lim, unsigned flags, apf_msg *m,
               size_t *len);

/* Encoded size of m (0 if the type is unknown). */
size_t apf_msg_len(const apf_msg *m);
/* Encode m into out; returns the length written, APF_ERR_BUFFER if cap is too
 * small, APF_ERR_UNKNOWN_TYPE / APF_ERR_INVALID for a bad message. */
ssize_t apf_pack(const apf_msg *m, uint8_t *out, size_t cap);

/* One-line human description of m for logs, e.g.
 * "CHANNEL_OPEN forwarded-tcpip 4 32768 :16992 1.2.3.4:1024". Passwords are
 * never printed. Returns the length snprintf would have written. */
int apf_msg_describe(const apf_msg *m, char *out, size_t cap);

/* Hex-dump p[0..n) into out as "c0 00 00 00 01 ..."; returns the length
 * snprintf would have written. */
int apf_hex(const uint8_t *p, size_t n, char *out, size_t cap);

/* ---- session: the MPS side of one tunnel ---------------------------------- */

typedef struct apf_session apf_session;

typedef struct apf_config {
    apf_limits limits;             /* max_data is replaced by rx_window for the session */
    uint32_t rx_window;            /* window granted to the device per channel (32768) */
    uint32_t max_payload;          /* largest CHANNEL_DATA payload we send (16384) */
    uint32_t tx_queue;             /* per-channel bytes queued beyond the device window (16384) */
    uint32_t max_channels;         /* live channels per tunnel (16) */
    uint32_t keepalive_interval;   /* seconds, sent in KEEPALIVE_OPTIONS_REQUEST (30) */
    uint32_t keepalive_timeout;    /* seconds, second field of it (0, as MeshCentral/Open AMT) */
    uint32_t ready_after_forwards; /* forwards settled after this many (4; 0 = off) */
    uint32_t settle_ms;            /* ... or this long after the last forward (1000) */
    uint32_t idle_timeout_ms;      /* apf_session_tick() ends a silent tunnel (90000; 0 = off) */
} apf_config;

void apf_config_default(apf_config *cfg);

typedef struct apf_version_info {
    uint32_t major, minor, trigger;
    guid id;                    /* the raw PROTOCOLVERSION bytes (base/guid.h) */
    char uuid[GUID_STRLEN + 1]; /* its canonical lower-case form */
} apf_version_info;

typedef struct apf_auth_request {
    const char *user; /* NUL-terminated copies, valid during the callback only */
    size_t user_len;
    const char *method;   /* "password" or "none" */
    const char *password; /* "" for method none; wiped after the callback */
    size_t password_len;
    const apf_version_info *version;
} apf_auth_request;

typedef struct apf_open_request {
    apf_str type;      /* forwarded-tcpip or direct-tcpip */
    apf_str addr;      /* connected address */
    uint32_t port;     /* connected port */
    apf_str orig_addr; /* originator */
    uint32_t orig_port;
    uint32_t channel; /* the id this channel will have if accepted */
} apf_open_request;

typedef struct apf_udp_request {
    apf_str addr;
    uint32_t port;
    apf_str orig_addr;
    uint32_t orig_port;
    apf_str data;
} apf_udp_request;

enum apf_debug_dir {
    APF_DEBUG_IN = 0,  /* a whole message from the device (CHANNEL_DATA: its header) */
    APF_DEBUG_IN_DATA, /* a piece of an inbound CHANNEL_DATA payload */
    APF_DEBUG_OUT,     /* a whole message to the device */
};

/*
 * All callbacks but send are optional. "user" is the session's user pointer,
 * "cu" the channel's user pointer given to apf_channel_open().
 */
typedef struct apf_callbacks {
    /* A whole message to send to the device, contiguous. Non-zero return
     * ends the session with APF_ERR_CALLBACK. */
    int (*send)(apf_session *s, const uint8_t *msg, size_t len, void *user);

    void (*on_version)(apf_session *s, const apf_version_info *v, void *user);
    /* Decide now or later with apf_session_auth_result(). Not set: refuse. */
    void (*on_auth)(apf_session *s, const apf_auth_request *req, void *user);
    void (*on_forward)(apf_session *s, uint32_t port, bool added, void *user);
    /* Forwards settled and KEEPALIVE_OPTIONS_REQUEST sent: announce the device. */
    void (*on_ready)(apf_session *s, void *user);
    void (*on_keepalive_options)(apf_session *s, uint32_t interval, uint32_t timeout, void *user);

    void (*on_channel_open)(apf_session *s, uint32_t id, void *cu, void *user);
    void (*on_channel_open_failed)(apf_session *s, uint32_t id, uint32_t reason, void *cu,
                                   void *user);
    /* Inbound payload; p valid during the call only. Report it drained with
     * apf_channel_consumed() to return window to the device. */
    void (*on_channel_data)(apf_session *s, uint32_t id, const uint8_t *p, size_t n, void *cu,
                            void *user);
    /* A send that was cut short can now take more bytes. */
    void (*on_channel_writable)(apf_session *s, uint32_t id, void *cu, void *user);
    /* The id is free: both CLOSEs exchanged, or the session ended. Last call
     * for this channel. */
    void (*on_channel_closed)(apf_session *s, uint32_t id, void *cu, void *user);

    /* Device-initiated CHANNEL_OPEN. Return 0 to accept (set *cu), or an
     * enum apf_open_failure_reason to refuse. Not set: refuse with
     * ADMINISTRATIVELY_PROHIBITED. */
    uint32_t (*on_open_request)(apf_session *s, const apf_open_request *req, void **cu, void *user);
    /* udp-send-to@amt.intel.com. Return true to accept (REQUEST_SUCCESS if the
     * device wants a reply). Not set: refuse. */
    bool (*on_udp_send_to)(apf_session *s, const apf_udp_request *req, void *user);

    /* The device sent DISCONNECT. */
    void (*on_disconnect)(apf_session *s, uint32_t reason, void *user);
    /* The session ended for a reason other than a device DISCONNECT: a
     * protocol violation (msg_type = the offending type, 0 if none), a
     * timeout, a refused login, a failed send callback. err is an apf_err.
     * Not called for apf_session_disconnect(). */
    void (*on_error)(apf_session *s, int err, unsigned msg_type, void *user);
} apf_callbacks;

/* cb must outlive the session (it is not copied); cfg is copied, NULL gives
 * defaults. Returns NULL on allocation failure or a bad config. */
apf_session *apf_session_new(const apf_config *cfg, const apf_callbacks *cb, void *user);
void apf_session_free(apf_session *s);

/*
 * Feed n plaintext bytes from the device, received at now_ms (any monotonic
 * clock). Any split of the stream gives the same result. Returns APF_OK, or
 * the negative apf_err that ended the session (the DISCONNECT, if any, has
 * already gone out through send); the caller then closes the TLS connection.
 * APF_ERR_NOT_APF: the first bytes look like an HTTP request; nothing sent.
 */
int apf_session_recv(apf_session *s, const uint8_t *p, size_t n, uint64_t now_ms);

/* Answer a pending on_auth: USERAUTH_SUCCESS, or USERAUTH_FAILURE +
 * DISCONNECT. May be called inside on_auth. Returns the session status. */
int apf_session_auth_result(apf_session *s, bool ok);

/* Timers: settle of the forwards and the idle timeout. Call at
 * apf_session_next_timeout() (UINT64_MAX: nothing pending). */
int apf_session_tick(apf_session *s, uint64_t now_ms);
uint64_t apf_session_next_timeout(const apf_session *s);
uint64_t apf_session_last_rx_ms(const apf_session *s);

/* Send DISCONNECT(reason) and end the session (live channels get
 * on_channel_closed). */
int apf_session_disconnect(apf_session *s, uint32_t reason);

bool apf_session_is_closed(const apf_session *s);
bool apf_session_is_ready(const apf_session *s);
/* APF_OK while alive, else the apf_err that ended it. */
int apf_session_status(const apf_session *s);
/* The device's PROTOCOLVERSION into *out: true, or false before it came. */
bool apf_session_version(const apf_session *s, apf_version_info *out);
/* The address field of the first tcpip-forward that carried one (AMT's host
 * name on CIRA, informational only), or NULL. NUL-terminated. */
const char *apf_session_hostname(const apf_session *s);
bool apf_session_has_port(const apf_session *s, uint32_t port);
/* Copies up to max registered ports into out; returns how many there are. */
size_t apf_session_ports(const apf_session *s, uint32_t *out, size_t max);
size_t apf_session_channel_count(const apf_session *s);
/* Bytes of heap the session holds now (struct + buffers + channels). */
size_t apf_session_memory(const apf_session *s);
void *apf_session_user(const apf_session *s);

/* Hex-dump hook (MeshCentral's mpsdebug): every message in and out, whole.
 * The password of a USERAUTH_REQUEST is replaced by '*' bytes. NULL: off. */
typedef void (*apf_debug_fn)(apf_session *s, int dir, const uint8_t *p, size_t n, void *user);
void apf_session_set_debug(apf_session *s, apf_debug_fn fn, void *user);

/* ---- channels ------------------------------------------------------------ */

/*
 * Open a forwarded-tcpip channel to the device's port. orig_addr/orig_port
 * describe the console (NULL: "1.2.3.4":1024 as MeshCentral/Open AMT send).
 * Returns APF_OK and the new id in *id (ids start at 4 and are never reused
 * in a tunnel), or APF_ERR_PORT_NOT_REGISTERED / _TOO_MANY_CHANNELS /
 * _NOT_READY / _CLOSED without sending anything. Data may be sent at once: it
 * is queued (up to tx_queue bytes) until the device confirms.
 */
int apf_channel_open(apf_session *s, uint32_t port, const char *orig_addr, uint32_t orig_port,
                     void *cu, uint32_t *id);

/* Send up to n bytes. Returns how many were accepted (0..n): they go out at
 * once within the device's window, in CHANNEL_DATA of at most max_payload,
 * and the rest up to the queue bound waits for WINDOW_ADJUST. When fewer than
 * n were accepted, on_channel_writable follows once space frees. Negative
 * apf_err on a dead channel or session. */
ssize_t apf_channel_send(apf_session *s, uint32_t id, const uint8_t *p, size_t n);

/* The consumer drained n bytes delivered by on_channel_data: the engine
 * returns window (WINDOW_ADJUST) once half the window is owed. */
int apf_channel_consumed(apf_session *s, uint32_t id, size_t n);

/* Close our side (once). Queued bytes are flushed first; on_channel_closed
 * follows when the device's CLOSE arrives. Data the device sent before it saw
 * our CLOSE is still delivered (APF has no EOF: this is a half-close). */
int apf_channel_close(apf_session *s, uint32_t id);

/* Bytes the device still lets us send now / bytes waiting in our queue. */
uint32_t apf_channel_send_window(const apf_session *s, uint32_t id);
size_t apf_channel_queued(const apf_session *s, uint32_t id);
void *apf_channel_user(const apf_session *s, uint32_t id);
/* Replace the channel's user pointer (e.g. NULL when the consumer is gone but the channel still
 * waits for the device's CLOSE or CONFIRMATION). APF_OK or APF_ERR_NO_CHANNEL. */
int apf_channel_set_user(apf_session *s, uint32_t id, void *cu);

/* ---- device side (for simulators and tests) ------------------------------- */

typedef struct apf_device_login {
    const guid *uuid; /* NULL: zeros */
    uint32_t trigger;
    const char *user, *password; /* password NULL: method "none" */
    const uint32_t *ports;       /* tcpip-forward for each, want_reply 1 */
    size_t nports;
    const char *hostname; /* bind address in the forwards, NULL: "" */
} apf_device_login;

/* The whole login a device sends, in order: PROTOCOLVERSION, SERVICE_REQUEST
 * auth, USERAUTH_REQUEST, SERVICE_REQUEST pfwd, one tcpip-forward per port.
 * Returns the length written, or APF_ERR_BUFFER (with out NULL/cap 0: the
 * length needed). */
ssize_t apf_device_login_pack(const apf_device_login *l, uint8_t *out, size_t cap);

#endif
