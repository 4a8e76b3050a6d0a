/* mpsd configuration: an INI file (parsed with inih), checked up front like `nginx -t`. */
#ifndef MPSD_CONFIG_H
#define MPSD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONFIG_MAX_LISTEN 8
#define CONFIG_PATH_MAX   512
#define CONFIG_MAX_SUFFIX 4

struct config_listen {
    char host[64]; /* numeric IPv4 or IPv6 address */
    uint16_t port;
};

enum tls_profile_kind { CONFIG_TLS_MODERN = 0, CONFIG_TLS_LEGACY = 1 };
enum log_format_kind { CONFIG_LOG_LOGFMT = 0, CONFIG_LOG_JSON = 1 };

#define CONFIG_TOKEN_HASH_MAX 256
#define CONFIG_USER_MAX       64

struct config {
    /* [mpsd] */
    char name[256];   /* the MPS name: the CN devices expect in the server certificate */
    unsigned workers; /* 0 = one per online CPU */
    char lock_file[CONFIG_PATH_MAX];
    int log_level;
    int log_format;               /* enum log_format_kind: logfmt (default) or JSON lines */
    char run_as[CONFIG_USER_MAX]; /* started as root: bind, load keys, then become this user */
    uint32_t bind_timeout_ms;     /* keep retrying a listener whose address is in use */

    /* [cira] */
    struct config_listen listen[CONFIG_MAX_LISTEN];
    unsigned n_listen;
    struct config_listen
        plain_listen[CONFIG_MAX_LISTEN]; /* TLS offload: plain APF, off by default */
    unsigned n_plain_listen;
    int tls_profile;
    char cert[CONFIG_PATH_MAX]; /* PEM chain: leaf first, then intermediates (root optional) */
    char key[CONFIG_PATH_MAX];
    char
        client_ca[CONFIG_PATH_MAX]; /* non-empty: devices must present a certificate from this CA */
    uint32_t keepalive_interval_ms;
    uint32_t keepalive_timeout_ms;
    uint32_t handshake_timeout_ms;
    uint32_t login_timeout_ms;
    uint32_t drain_timeout_ms;
    uint32_t max_tunnels;
    uint32_t max_handshakes;               /* TLS handshakes in flight, whole process */
    uint32_t max_handshakes_per_source;    /* ... of them from one source address */
    uint32_t max_handshakes_per_prefix;    /* ... from one /24 (IPv4) or /56 (IPv6) */
    uint32_t hello_timeout_ms;             /* the whole ClientHello must be in by then */
    uint32_t max_buffered;                 /* bytes queued toward one tunnel */
    char ticket_key_file[CONFIG_PATH_MAX]; /* TLS session ticket keys shared across restarts */
    uint32_t ticket_rotation_ms;           /* a fresh ticket key this often (0: never) */

    /* [devices] */
    char credentials[CONFIG_PATH_MAX];
    bool auto_enroll;
    bool group_auth;
    /* login throttling (docs/credentials.md "Login throttling"); restart-only */
    bool login_throttle;             /* off: no budgets, no pool shares (for measuring only) */
    uint32_t login_fail_burst;       /* wrong passwords (argon2) per source address */
    uint32_t login_fail_refill_ms;   /* one back per this; the /24 or /56 gets 4x, 4x as fast */
    uint32_t login_unverified_queue; /* checks of never-verified identities admitted below this */

    /* [console] the proxy side: consoles reach devices through SOCKS and HTTP proxy listeners */
    struct config_listen socks_listen[CONFIG_MAX_LISTEN]; /* SOCKS5, SOCKS4a (and SOCKS4) */
    unsigned n_socks_listen;
    struct config_listen http_listen[CONFIG_MAX_LISTEN]; /* HTTP CONNECT and absolute-URI */
    unsigned n_http_listen;
    char users[CONFIG_PATH_MAX];   /* console users and ACLs (docs/console-users.md) */
    bool allow_anonymous_loopback; /* consoles on loopback may skip authentication (development) */
    bool allow_socks4;             /* plain SOCKS4 (IPv4 target, no 4a host name) */
    char name_suffix[CONFIG_MAX_SUFFIX][128]; /* "mps.example.com": <device>.mps.example.com */
    unsigned n_name_suffix;
    uint32_t max_consoles;            /* console sessions, whole process */
    uint32_t max_consoles_per_device; /* channels one tunnel carries for consoles at once */
    uint32_t request_timeout_ms;      /* a console must have asked for a device by then */
    uint32_t open_timeout_ms;         /* the device must confirm the channel by then */
    uint32_t idle_timeout_ms;         /* a session with no byte either way is closed */
    uint32_t channel_window;          /* APF window granted to the device per channel */
    uint32_t max_head;                /* HTTP request head bytes */
    /* device-initiated channels may reach only these numeric address:port destinations */
    struct config_listen device_open_allow[CONFIG_MAX_LISTEN];
    unsigned n_device_open_allow;

    /* [admin] metrics, health, device API and events over HTTP (off unless listen is set) */
    struct config_listen admin_listen[CONFIG_MAX_LISTEN];
    unsigned n_admin_listen;
    char admin_cert[CONFIG_PATH_MAX]; /* both set: the admin listener speaks HTTPS */
    char admin_key[CONFIG_PATH_MAX];
    char admin_token_hash[CONFIG_TOKEN_HASH_MAX]; /* argon2id of the API bearer token */
    bool metrics_public; /* /metrics and health without the token (default on) */
    uint32_t admin_max_connections;
    uint32_t admin_request_timeout_ms;
    uint32_t admin_ready_deadline_ms; /* a worker must answer /readyz's ping within this */

    /* [ring] */
    uint32_t recv_buffer_size;
    uint32_t recv_buffer_count; /* per worker */
    uint32_t max_conns_per_worker;
};

/* One problem found in a config file, with where it is. */
struct config_error {
    unsigned line; /* 0 = not tied to a line (e.g. a missing required key) */
    char msg[384];
};

struct config_errors {
    struct config_error *v;
    size_t n, cap;
};

void config_defaults(struct config *cfg);

/* Parses `path` on top of the defaults. Every problem is appended to `errs` (the parse goes on
 * after an error so that one run reports all of them). Returns the number of errors, or -1 if the
 * file cannot be opened (then errs holds that message). */
int config_load(struct config *cfg, const char *path, struct config_errors *errs);

/* Prints each error as "path:line: message" to `out`. */
void config_errors_print(const struct config_errors *errs, const char *path, FILE *out);
void config_errors_free(struct config_errors *errs);

/* Value parsers, shared with the command line: return 0 or a static message. */
const char *config_parse_duration_ms(const char *s, uint32_t *out);
const char *config_parse_size(const char *s, uint32_t *out);
const char *config_parse_listen(const char *s, struct config_listen *out);

/* Writes "host:port" (IPv6 in brackets). */
void config_listen_format(const struct config_listen *l, char *buf, size_t cap);

#endif
