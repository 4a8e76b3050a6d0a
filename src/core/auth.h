/* auth.h - credential checks for device logins (APF USERAUTH, creds.h) and console logins
 * (SOCKS/HTTP proxy credentials, users.h), decided on the worker when no argon2 is needed and on
 * the bounded auth pool otherwise. The answer of a queued check comes back on the worker that
 * asked, for the connection that asked (by ring connection id): a connection gone meanwhile
 * simply gets no answer. Both connection handlers use this one path. */
#ifndef MPSD_CORE_AUTH_H
#define MPSD_CORE_AUTH_H

#include "mpsd.h"
#include "netaddr.h"

enum auth_kind { AUTH_DEVICE, AUTH_CONSOLE };

/* Why a check was refused before argon2 (docs/credentials.md, "Login throttling"). */
enum auth_throttle {
    AUTH_THROTTLE_NONE,
    AUTH_THROTTLE_SOURCE, /* the source address has no failure credit left */
    AUTH_THROTTLE_PREFIX, /* the source's /24 (IPv4) or /56 (IPv6) has none left */
    AUTH_THROTTLE_POOL,   /* a never-verified identity, and the pool's queue is past its share */
};

#define AUTH_PW_MAX 128 /* no stored password is longer; longer ones are refused unchecked */

struct auth_req {
    enum auth_kind kind;
    guid device; /* AUTH_DEVICE: the GUID from PROTOCOLVERSION */
    const char *user;
    size_t ulen;
    const char *pw;
    size_t pwlen;
    uint64_t conn_id;     /* who gets the answer */
    uint64_t deadline_ms; /* a check still queued at this time is dropped unrun (0: none) */
    const netaddr *peer;  /* the source, for its failure budget (NULL: not throttled) */
};

struct auth_res {
    int status;                      /* creds_status (devices) or users_status (consoles) */
    bool cached;                     /* decided by the verified-credential cache */
    enum auth_throttle throttled;    /* not NONE: refused unchecked (status says a failure) */
    char group[CREDS_GROUP_MAX + 1]; /* devices: the credential group that matched, or "" */
};

typedef void (*auth_done_fn)(struct wctx *wc, uint64_t conn_id, const struct auth_res *res);

/* Returns 1 with *res filled when decided now (unknown ids, wrong usernames, cache hits, and
 * checks throttled before argon2: res->throttled), 0 when the check was queued (done runs later
 * on this worker), -EAGAIN when the pool's queue is full, -ENOMEM. The password is copied for the
 * trip and wiped after it. Successes and argon2-verified wrong passwords update rq->peer's
 * failure budget; a check the cache decides is never throttled. */
int auth_check(struct wctx *wc, const struct auth_req *rq, auth_done_fn done, struct auth_res *res);

#endif
