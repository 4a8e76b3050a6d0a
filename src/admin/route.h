/* route.h - the admin HTTP surface's request parser, sans-I/O: bytes of a request head in, a typed
 * request out (route, method, device GUID, list filters, bearer token). Every decision the admin
 * server takes is made on these parsed values, never on the rendered target. Fuzzed
 * (tests/admin/fuzz_admin_request.c). */
#ifndef MPSD_ADMIN_ROUTE_H
#define MPSD_ADMIN_ROUTE_H

#include "guid.h"
#include "http1.h"
#include "netaddr.h"

#include <stdbool.h>
#include <stdint.h>

enum admin_route {
    AR_NOT_FOUND = 0,
    AR_METRICS,        /* /metrics */
    AR_HEALTHZ,        /* /healthz */
    AR_READYZ,         /* /readyz */
    AR_DEVICES,        /* /api/v1/devices */
    AR_DEVICE,         /* /api/v1/devices/{guid} */
    AR_DEVICE_HEXDUMP, /* /api/v1/devices/{guid}/hexdump */
    AR_EVENTS,         /* /api/v1/events */
};

enum admin_method { AM_OTHER = 0, AM_GET, AM_HEAD, AM_DELETE, AM_PUT, AM_POST };

#define ADMIN_TOKEN_MAX    256
#define ADMIN_HOSTGLOB_MAX 256
#define ADMIN_LIST_MAX     1000 /* devices per page at most */
#define ADMIN_LIST_DEFAULT 100

struct admin_list_query {
    unsigned limit; /* 1..ADMIN_LIST_MAX */
    bool has_after; /* the page starts after this GUID (the previous page's next cursor) */
    guid after;
    char hostname[ADMIN_HOSTGLOB_MAX + 1]; /* "" or a case-insensitive glob ('*', '?') */
    uint16_t port;                         /* 0, or only devices that registered this port */
    bool has_peer;
    netaddr peer; /* only devices connected from this address (port ignored when 0) */
};

struct admin_request {
    enum admin_route route;
    enum admin_method method;
    bool keep_alive;
    guid guid; /* AR_DEVICE, AR_DEVICE_HEXDUMP */
    struct admin_list_query list;
    bool has_token;
    size_t token_len;
    char token[ADMIN_TOKEN_MAX + 1]; /* the bearer token (a secret: wipe after use) */
    uint64_t last_event_id;          /* Last-Event-ID of an SSE reconnect, 0 if none */
    bool has_body;                   /* Content-Length > 0 or chunked: refused (413) */
    /* on a parse failure: the status to answer and why (static text) */
    int status;
    const char *error;
};

/* Parses one request head at p[0..n). Returns its length (> 0) with *r filled, HTTP_AGAIN for an
 * incomplete head, or a negative value other than HTTP_AGAIN with r->status (400, 404, 405, 413,
 * 414, 431, 501, 505) and r->error. */
int admin_parse_request(const uint8_t *p, size_t n, const http_limits *lim,
                        struct admin_request *r);

/* Whether method is allowed on route (the Allow header's list is admin_route_allow). */
bool admin_method_allowed(enum admin_route route, enum admin_method m);
const char *admin_route_allow(enum admin_route route);
/* A list query's hostname glob against a device's host name (case-insensitive). */
bool admin_hostname_match(const char *glob, const char *host);

#endif
