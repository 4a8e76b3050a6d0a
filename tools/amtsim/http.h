/*
 * http.h - the built-in HTTP responder behind a channel, sans-I/O.
 *
 * Answers every HTTP request with 200 and a small JSON body naming the device (index, UUID, host
 * name) and the AMT port the channel was opened to, so that a console test through the MPS can
 * check it reached the right device and port. Bounded: a request head above HTTP_HEAD_MAX gets a
 * 400 and the channel closes. State is allocated only while a request is partly received.
 */
#ifndef AMTSIM_HTTP_H
#define AMTSIM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_HEAD_MAX 8192

struct http_rx;

struct http_ident {
    uint32_t device;
    const char *uuid;
    const char *hostname;
    uint32_t port;
};

/* Response bytes out; returns 0, or non-zero to stop (the channel is going away). */
typedef int (*http_emit_fn)(void *arg, const uint8_t *p, size_t n);

enum { HTTP_KEEP = 0, HTTP_CLOSE = 1 };

/* Feed request bytes; a response is emitted for each complete request. Returns HTTP_KEEP,
 * HTTP_CLOSE (responses emitted, close the channel: "Connection: close", HTTP/1.0, a chunked body
 * it cannot frame, or a bad request), or -1 (out of memory / emit failed). */
int http_feed(struct http_rx **st, const uint8_t *p, size_t n, const struct http_ident *id,
              http_emit_fn emit, void *arg);
void http_free(struct http_rx **st);

/* The body a request to (device, port) gets, for tests: returns snprintf's length. */
int http_body(const struct http_ident *id, char *out, size_t cap);

#endif
