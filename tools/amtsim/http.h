/*
 * http.h - the WS-MAN-ish HTTP responder behind a channel (ports 16992/16993), sans-I/O.
 *
 * Like AMT it wants HTTP digest auth (digest.h): a request without a valid Authorization: Digest
 * gets 401 with a fresh challenge, a valid one gets 200 and a small JSON body naming the device
 * (index, UUID, host name) and the AMT port, so a console test through the MPS can check it
 * reached the right device and port. With no auth configured (http-open) every request gets 200.
 *
 * HTTP/1.1 keep-alive, pipelined requests answered in order, Content-Length and chunked request
 * bodies (answered once the body is in; "Expect: 100-continue" gets 100 first), HEAD without a
 * body. Bounded: a head above HTTP_HEAD_MAX, a malformed head or chunk gets a 400 and the channel
 * closes. State is allocated only while a request is partly received.
 */
#ifndef AMTSIM_HTTP_H
#define AMTSIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "digest.h"
#include "svc.h"

#define HTTP_HEAD_MAX 8192
#define HTTP_RESP_MAX 1024 /* the largest answer we write (room needed before each request) */

struct http_rx;

struct http_ident {
    uint32_t device;
    const char *uuid;
    const char *hostname;
    uint32_t port;
};

struct http_cfg {
    const struct http_ident *id;
    const struct digest_ctx *auth; /* NULL: no authentication (http-open) */
};

/* Compatibility names for the answers: HTTP_KEEP / HTTP_CLOSE are SVC_KEEP / SVC_CLOSE. */
enum { HTTP_KEEP = SVC_KEEP, HTTP_CLOSE = SVC_CLOSE };

/* Feed request bytes; an answer is written for each complete request. *used: the bytes taken
 * (fewer than n only when out->room() is below HTTP_RESP_MAX: feed the rest later). Returns
 * SVC_KEEP, SVC_CLOSE (answers written, close the channel: "Connection: close", HTTP/1.0, or a bad
 * request), or SVC_ERR (out of memory / write failed). */
int http_feed(struct http_rx **st, const uint8_t *p, size_t n, const struct http_cfg *cfg,
              const struct svc_out *out, size_t *used);
void http_free(struct http_rx **st);

/* The body a request to (device, port) gets, for tests: returns snprintf's length. */
int http_body(const struct http_ident *id, char *out, size_t cap);

#endif
