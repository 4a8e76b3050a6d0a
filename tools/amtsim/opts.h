/*
 * opts.h - amtsim's command line: parsed and checked up front, one message per mistake.
 *
 * Every address (the MPS, the source addresses, the relay target) must be loopback: 127.0.0.0/8
 * or ::1. This workplace forbids any other traffic, so anything else is refused before a socket
 * exists.
 */
#ifndef AMTSIM_OPTS_H
#define AMTSIM_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"
#include <stdio.h>
#include <sys/socket.h>

#define OPTS_MAX_PORTS   16
#define OPTS_MAX_SOURCES 1024
#define OPTS_MAX_COUNT   1000000
#define OPTS_MAX_WORKERS 64
#define OPTS_MAX_CRED    256

enum sim_mode {
    MODE_NORMAL = 0,
    MODE_BAD_PASSWORD,    /* wrong password: expect USERAUTH_FAILURE */
    MODE_SILENT,          /* log in, then never send a byte again: expect the MPS to drop us */
    MODE_GARBAGE,         /* random bytes once TLS is up */
    MODE_OVERLONG,        /* USERAUTH_REQUEST whose user name claims 2^31 bytes */
    MODE_STALL_HANDSHAKE, /* half a ClientHello, then nothing */
    MODE_NO_TLS_GARBAGE,  /* plain random bytes where the ClientHello belongs */
    MODE__COUNT
};
const char *mode_name(enum sim_mode m);

/* What serves a channel the MPS opens to a port (--service PORT=KIND; without --relay). */
enum svc_kind {
    SVC_HTTP = 0,  /* WS-MAN-ish responder, digest auth (unless --http-auth none) */
    SVC_HTTP_OPEN, /* the same responder without auth */
    SVC_SOL,       /* AMT redirection protocol: SOL with a line-echo terminal (sol.h) */
    SVC_ECHO,      /* every byte back, within both windows */
    SVC_DISCARD,   /* read and drop */
    SVC_SOURCE,    /* N bytes of a deterministic pattern, then close */
    SVC__COUNT
};
const char *svc_name(enum svc_kind k);

struct svc_spec {
    uint32_t port;
    uint8_t kind;   /* enum svc_kind */
    uint64_t bytes; /* SVC_SOURCE: how many */
};

struct sim_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct sim_opts {
    struct sim_addr connect; /* --connect, required */
    uint32_t count;          /* devices */
    double rate;             /* new connections per second, 0 = as fast as inflight allows */
    uint32_t inflight;       /* devices between connect start and ready, at most */
    uint32_t workers;
    struct sim_addr *sources; /* round-robin source addresses (malloc'd), nsources 0 = kernel's */
    size_t nsources;

    const char *ca, *cert, *key, *ciphers, *sni;
    uint16_t tls_min, tls_max; /* TLS_V1_x; 0 = the TLS layer's default */
    bool resume, plain;

    guid uuid_base;
    char user[OPTS_MAX_CRED + 1];
    char password[OPTS_MAX_CRED + 1];
    bool has_password;
    bool auth_none; /* USERAUTH method none: identity from the client certificate (apf.md 6.2) */
    const char *hostname_prefix;
    uint32_t ports[OPTS_MAX_PORTS];
    size_t nports;
    uint32_t trigger; /* PROTOCOLVERSION trigger reason */
    bool pipeline;    /* whole login in one write instead of step by step */

    uint32_t keepalive_s;
    uint32_t duration_s;
    uint32_t timeout_s; /* a device must reach its expected state within this */
    bool reconnect;
    uint32_t reconnect_delay_ms; /* first backoff step */
    enum sim_mode mode;

    bool relay;
    struct sim_addr relay_addr;
    uint32_t window;       /* receive window granted per channel */
    uint32_t max_payload;  /* largest CHANNEL_DATA payload sent */
    uint32_t max_channels; /* per device */

    struct svc_spec services[OPTS_MAX_PORTS]; /* --service, explicit choices */
    size_t nservices;
    bool http_digest;                     /* --http-auth digest (default) */
    char amt_user[OPTS_MAX_CRED + 1];     /* the AMT ports' account (default admin) */
    char amt_password[OPTS_MAX_CRED + 1]; /* default P@ssw0rd */
    uint8_t digest_key[16];               /* per process: the MAC key of our digest nonces */

    bool progress;
    bool quiet; /* no per-failure lines on stderr */
};

enum { OPTS_OK = 0, OPTS_HELP = 1, OPTS_ERR = -1 };

/* Parse argv into o (defaults first). OPTS_HELP: --help was given (nothing else is checked).
 * OPTS_ERR: err holds one line naming the option and the problem. Free with opts_free. */
int opts_parse(struct sim_opts *o, int argc, char **argv, char *err, size_t errlen);
void opts_free(struct sim_opts *o);
void opts_usage(FILE *f);

/* "127.0.0.1:4433", "[::1]:4433", "localhost:4433": loopback only. Returns 0 or -1 + err. */
int opts_parse_hostport(const char *s, struct sim_addr *out, char *err, size_t errlen);
/* "127.0.0.2-127.0.0.20,127.0.1.1": appends to o->sources. Returns 0 or -1 + err. */
int opts_parse_sources(struct sim_opts *o, const char *s, char *err, size_t errlen);
/* "16992,16993,623": fills o->ports. Returns 0 or -1 + err. */
int opts_parse_ports(struct sim_opts *o, const char *s, char *err, size_t errlen);
/* "16994=sol", "5900=echo", "7000=source:1048576": adds or replaces the entry for PORT. */
int opts_parse_service(struct sim_opts *o, const char *s, char *err, size_t errlen);
/* The service of a port: --service, else 16992/16993 http, 16994/16995 sol, 5900 echo, others
 * http; http is http-open under --http-auth none. *bytes: SVC_SOURCE's count. */
enum svc_kind opts_service(const struct sim_opts *o, uint32_t port, uint64_t *bytes);
/* The SVC_SOURCE pattern: byte at offset i is (i % 251). */
#define SVC_PATTERN(i) ((uint8_t)((i) % 251u))
/* "1.0" .. "1.3" -> TLS_V1_x; 0 on a bad value. */
uint16_t opts_parse_tls_version(const char *s);

#endif
