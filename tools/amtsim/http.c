/* http.c - the built-in HTTP responder (see http.h). */
#include "http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct http_rx {
    uint64_t body_left; /* bytes of the current request's body still to skip */
    uint32_t len;       /* bytes of head in buf */
    char buf[HTTP_HEAD_MAX];
};

int http_body(const struct http_ident *id, char *out, size_t cap)
{
    return snprintf(out, cap, "{\"device\":%u,\"uuid\":\"%s\",\"hostname\":\"%s\",\"port\":%u}\n",
                    id->device, id->uuid, id->hostname, id->port);
}

/* The value of header `name` in the head (NUL-terminated), or NULL. */
static const char *header(const char *head, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n")) {
        const char *h = l + 2;
        if (strncasecmp(h, name, nl) == 0 && h[nl] == ':') {
            const char *v = h + nl + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            const char *e = strstr(v, "\r\n");
            *vlen = e ? (size_t)(e - v) : strlen(v);
            return v;
        }
    }
    return NULL;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    return false;
}

static int respond(const struct http_ident *id, int status, bool close, http_emit_fn emit,
                   void *arg)
{
    char body[512], out[1024];
    int bl = status == 200 ? http_body(id, body, sizeof(body))
                           : snprintf(body, sizeof(body), "bad request\n");
    int n = snprintf(out, sizeof(out),
                     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                     "Connection: %s\r\n\r\n%s",
                     status, status == 200 ? "OK" : "Bad Request",
                     status == 200 ? "application/json" : "text/plain", bl,
                     close ? "close" : "keep-alive", body);
    return emit(arg, (const uint8_t *)out, (size_t)n) ? -1 : 0;
}

/* A whole head is in st->buf[0..st->len) (NUL-terminated): answer it. Returns HTTP_KEEP,
 * HTTP_CLOSE or -1. */
static int answer(struct http_rx *st, const struct http_ident *id, http_emit_fn emit, void *arg)
{
    const char *sp1 = strchr(st->buf, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    const char *eol = strstr(st->buf, "\r\n");
    if (!sp1 || !sp2 || !eol || sp2 > eol || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
        return respond(id, 400, true, emit, arg) ? -1 : HTTP_CLOSE;
    bool close = sp2[8] == '0'; /* HTTP/1.0 closes unless it asks otherwise */
    size_t vl;
    const char *v = header(st->buf, "Connection", &vl);
    if (v && has_token(v, vl, "close"))
        close = true;
    else if (v && has_token(v, vl, "keep-alive"))
        close = false;
    if ((v = header(st->buf, "Transfer-Encoding", &vl)) && has_token(v, vl, "chunked"))
        close = true; /* no chunk parser: answer, then end the channel rather than desync */
    if ((v = header(st->buf, "Content-Length", &vl)))
        st->body_left = strtoull(v, NULL, 10);
    if (respond(id, 200, close, emit, arg))
        return -1;
    return close ? HTTP_CLOSE : HTTP_KEEP;
}

int http_feed(struct http_rx **stp, const uint8_t *p, size_t n, const struct http_ident *id,
              http_emit_fn emit, void *arg)
{
    struct http_rx *st = *stp;
    while (n > 0) {
        if (!st) {
            if (!(st = *stp = calloc(1, sizeof(*st))))
                return -1;
        }
        if (st->body_left) {
            size_t k = n < st->body_left ? n : (size_t)st->body_left;
            st->body_left -= k;
            p += k;
            n -= k;
            continue;
        }
        /* look for the blank line, starting a little before the new bytes */
        size_t from = st->len > 3 ? st->len - 3 : 0;
        size_t room = sizeof(st->buf) - 1 - st->len;
        size_t k = n < room ? n : room;
        memcpy(st->buf + st->len, p, k);
        st->len += (uint32_t)k;
        st->buf[st->len] = 0;
        char *end = NULL;
        for (size_t i = from; i + 4 <= st->len; i++)
            if (memcmp(st->buf + i, "\r\n\r\n", 4) == 0) {
                end = st->buf + i + 4;
                break;
            }
        if (!end) {
            if (st->len >= sizeof(st->buf) - 1) /* head too large (or not HTTP at all) */
                return respond(id, 400, true, emit, arg) ? -1 : HTTP_CLOSE;
            p += k;
            n -= k;
            continue;
        }
        size_t used = (size_t)(end - st->buf) - (st->len - k); /* of the new bytes */
        *end = 0;
        int r = answer(st, id, emit, arg);
        if (r != HTTP_KEEP)
            return r;
        st->len = 0;
        p += used;
        n -= used;
    }
    if (st && st->len == 0 && st->body_left == 0)
        http_free(stp); /* idle channel: no buffer */
    return HTTP_KEEP;
}

void http_free(struct http_rx **st)
{
    free(*st);
    *st = NULL;
}
