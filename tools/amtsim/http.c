/* http.c - the WS-MAN-ish HTTP responder with digest auth (see http.h). Its own small parser:
 * src/proxy/http1.h had no implementation yet when this was written. */
#include "http.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE_MAX 1024 /* a chunk-size line (with extensions) */

enum { P_HEAD = 0, P_BODY, P_CHUNK_SIZE, P_CHUNK_DATA, P_CHUNK_END, P_TRAILER };

struct http_rx {
    uint8_t phase;
    bool close, head_only, line_ext;
    int status;      /* the answer once the body is in: 200, 401 */
    uint64_t left;   /* P_BODY / P_CHUNK_DATA: bytes still to skip */
    uint32_t line;   /* P_CHUNK_SIZE / P_TRAILER: bytes of the current line */
    uint32_t digits; /* chunk-size hex digits seen */
    uint32_t trailer;
    uint32_t len; /* bytes of head in buf */
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
            size_t n = e ? (size_t)(e - v) : strlen(v);
            while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
                n--;
            *vlen = n;
            return v;
        }
    }
    return NULL;
}

static int count_headers(const char *head, const char *name)
{
    int n = 0;
    size_t nl = strlen(name);
    for (const char *l = strstr(head, "\r\n"); l && l[2]; l = strstr(l + 2, "\r\n"))
        if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':')
            n++;
    return n;
}

static bool has_token(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok);
    for (size_t i = 0; i + tl <= n; i++)
        if (strncasecmp(v + i, tok, tl) == 0)
            return true;
    return false;
}

static int put(const struct svc_out *out, const char *s, size_t n)
{
    return out->write(out->arg, (const uint8_t *)s, n) ? SVC_ERR : SVC_KEEP;
}

static int respond(const struct http_cfg *cfg, const struct http_rx *st, int status, bool close,
                   const struct svc_out *out)
{
    char body[512], hdr[256] = "", o[HTTP_RESP_MAX];
    const char *reason = "OK", *type = "application/json";
    int bl;
    if (status == 200) {
        bl = http_body(cfg->id, body, sizeof(body));
    } else if (status == 401) {
        char nonce[DIGEST_NONCE_LEN + 1];
        digest_nonce(cfg->auth, nonce);
        snprintf(hdr, sizeof(hdr),
                 "WWW-Authenticate: Digest realm=\"%s\", nonce=\"%s\", stale=\"false\", "
                 "qop=\"auth\"\r\n",
                 cfg->auth->realm, nonce);
        reason = "Unauthorized";
        type = "text/plain";
        bl = snprintf(body, sizeof(body), "401 Unauthorized\n");
    } else {
        reason = "Bad Request";
        type = "text/plain";
        bl = snprintf(body, sizeof(body), "bad request\n");
    }
    bool no_body = st && st->head_only;
    int n = snprintf(o, sizeof(o),
                     "HTTP/1.1 %d %s\r\n%sContent-Type: %s\r\nContent-Length: %d\r\n"
                     "Connection: %s\r\n\r\n%s",
                     status, reason, hdr, type, bl, close ? "close" : "keep-alive",
                     no_body ? "" : body);
    if (n < 0 || (size_t)n >= sizeof(o))
        return SVC_ERR;
    return put(out, o, (size_t)n);
}

static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The origin-form (path and query) of a request-target: absolute-form loses scheme and host. */
static const char *origin_form(const char *t, size_t tl, size_t *ol)
{
    const char *sep = tl > 3 ? strstr(t, "://") : NULL;
    if (t[0] != '/' && sep && sep < t + tl) {
        const char *path = memchr(sep + 3, '/', tl - (size_t)(sep + 3 - t));
        if (!path) {
            *ol = 1;
            return "/";
        }
        *ol = tl - (size_t)(path - t);
        return path;
    }
    *ol = tl;
    return t;
}

/* Whether the head's Authorization answers our challenge for method/target. */
static bool authorized(const struct http_cfg *cfg, const char *head, const char *method,
                       const char *target, size_t tl)
{
    size_t vl;
    const char *v = header(head, "Authorization", &vl);
    struct digest_fields f;
    if (!v || digest_parse_header(v, vl, &f) < 0)
        return false;
    size_t ol;
    const char *o = origin_form(target, tl, &ol);
    size_t ul = strlen(f.uri);
    bool uri_ok =
        (ul == ol && memcmp(f.uri, o, ol) == 0) || (ul == tl && memcmp(f.uri, target, tl) == 0);
    bool ok = uri_ok && digest_check(cfg->auth, &f, method);
    memset(&f, 0, sizeof(f));
    return ok;
}

/* A whole head is in st->buf (NUL-terminated): decide the answer and the body's framing.
 * Returns SVC_KEEP, or SVC_CLOSE / SVC_ERR after a 400. */
static int on_head(struct http_rx *st, const struct http_cfg *cfg, const struct svc_out *out)
{
    char *b = st->buf;
    while (b[0] == '\r' && b[1] == '\n') /* empty lines before a request are ignored */
        b += 2;
    const char *sp1 = strchr(b, ' ');
    const char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    const char *eol = strstr(b, "\r\n");
    bool bad = !sp1 || !sp2 || !eol || sp2 > eol || sp1 == b || sp2 == sp1 + 1 || eol != sp2 + 9 ||
               strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || (sp2[8] != '0' && sp2[8] != '1');
    for (const char *c = b; !bad && c < sp1; c++)
        bad = !tchar(*c);
    for (const char *c = sp1 ? sp1 + 1 : b; !bad && c < sp2; c++)
        bad = (unsigned char)*c <= ' ' || *c == 0x7f;
    size_t vl;
    const char *te = header(b, "Transfer-Encoding", &vl);
    size_t tel = vl;
    const char *cl = header(b, "Content-Length", &vl);
    size_t cll = vl;
    if (!bad && te && (cl || tel != 7 || strncasecmp(te, "chunked", 7) != 0))
        bad = true; /* only exactly "chunked", never with Content-Length (smuggling) */
    uint64_t length = 0;
    if (!bad && cl) {
        bad = cll == 0 || cll > 18 || strspn(cl, "0123456789") != cll ||
              count_headers(b, "Content-Length") != 1;
        length = bad ? 0 : strtoull(cl, NULL, 10);
    }
    if (bad)
        return respond(cfg, NULL, 400, true, out) ? SVC_ERR : SVC_CLOSE;

    bool close = sp2[8] == '0'; /* HTTP/1.0 closes unless it asks otherwise */
    const char *v = header(b, "Connection", &vl);
    if (v && has_token(v, vl, "close"))
        close = true;
    else if (v && has_token(v, vl, "keep-alive"))
        close = false;
    char method[32];
    size_t ml = (size_t)(sp1 - b);
    if (ml >= sizeof(method))
        return respond(cfg, NULL, 400, true, out) ? SVC_ERR : SVC_CLOSE;
    memcpy(method, b, ml);
    method[ml] = 0;
    st->close = close;
    st->head_only = strcmp(method, "HEAD") == 0;
    st->status = 200;
    if (cfg->auth && !authorized(cfg, b, method, sp1 + 1, (size_t)(sp2 - sp1 - 1)))
        st->status = 401;
    bool body = te || length > 0;
    if (body && (v = header(b, "Expect", &vl)) && vl == 12 &&
        strncasecmp(v, "100-continue", 12) == 0)
        if (put(out, "HTTP/1.1 100 Continue\r\n\r\n", 25))
            return SVC_ERR;
    st->left = length;
    st->phase = te ? P_CHUNK_SIZE : length ? P_BODY : P_HEAD;
    st->line = st->digits = st->trailer = 0;
    st->line_ext = false;
    return SVC_KEEP;
}

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Chunked framing, byte-wise for the size and trailer lines (small), in bulk for the data.
 * Returns bytes used, or -1 for a malformed chunk. Sets st->phase = P_HEAD at the end. */
static long chunked(struct http_rx *st, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && st->phase != P_HEAD) {
        uint8_t c = p[i];
        switch (st->phase) {
        case P_CHUNK_SIZE:
            i++;
            if (++st->line > CHUNK_LINE_MAX)
                return -1;
            if (c == '\n') { /* CRLF or a bare LF ends the size line */
                if (st->digits == 0)
                    return -1;
                st->line = 0;
                st->phase = st->left ? P_CHUNK_DATA : P_TRAILER;
                st->line_ext = false;
                break;
            }
            if (st->line_ext || c == '\r')
                break;
            if (c == ';' || c == ' ' || c == '\t') {
                st->line_ext = true;
                break;
            }
            int h = hexval(c);
            if (h < 0 || st->left >> 56)
                return -1;
            st->left = st->left << 4 | (uint64_t)h;
            st->digits++;
            break;
        case P_CHUNK_DATA: {
            size_t k = n - i < st->left ? n - i : (size_t)st->left;
            st->left -= k;
            i += k;
            if (st->left == 0) {
                st->phase = P_CHUNK_END;
                st->line = 0;
            }
            break;
        }
        case P_CHUNK_END: /* CRLF after the data */
            i++;
            if (c == '\r' && st->line == 0) {
                st->line = 1;
                break;
            }
            if (c != '\n')
                return -1;
            st->phase = P_CHUNK_SIZE;
            st->line = st->digits = 0;
            st->left = 0;
            break;
        case P_TRAILER: /* header lines until an empty one */
            i++;
            if (++st->trailer > HTTP_HEAD_MAX)
                return -1;
            if (c == '\n') {
                if (st->line == 0)
                    st->phase = P_HEAD; /* the empty line: the body is complete */
                st->line = 0;
            } else if (c != '\r') {
                st->line++;
            }
            break;
        }
    }
    return (long)i;
}

int http_feed(struct http_rx **stp, const uint8_t *p, size_t n, const struct http_cfg *cfg,
              const struct svc_out *out, size_t *used)
{
    struct http_rx *st = *stp;
    size_t done = 0;
    int r = SVC_KEEP;
    while (done < n) {
        if (out->room(out->arg) < HTTP_RESP_MAX)
            break; /* the answer could not go out: the rest waits (and so does its credit) */
        if (!st && !(st = *stp = calloc(1, sizeof(*st)))) {
            r = SVC_ERR;
            break;
        }
        const uint8_t *q = p + done;
        size_t m = n - done;
        if (st->phase != P_HEAD) {
            if (st->phase == P_BODY) {
                size_t k = m < st->left ? m : (size_t)st->left;
                st->left -= k;
                done += k;
                if (st->left == 0)
                    st->phase = P_HEAD;
            } else {
                long k = chunked(st, q, m);
                if (k < 0) {
                    r = respond(cfg, NULL, 400, true, out) ? SVC_ERR : SVC_CLOSE;
                    break;
                }
                done += (size_t)k;
            }
            if (st->phase == P_HEAD) { /* the body is in: answer */
                if (respond(cfg, st, st->status, st->close, out)) {
                    r = SVC_ERR;
                    break;
                }
                if (st->close) {
                    r = SVC_CLOSE;
                    break;
                }
                st->len = 0;
            }
            continue;
        }
        /* look for the blank line, starting a little before the new bytes */
        size_t from = st->len > 3 ? st->len - 3 : 0;
        size_t room = sizeof(st->buf) - 1 - st->len;
        size_t k = m < room ? m : room;
        memcpy(st->buf + st->len, q, k);
        st->len += (uint32_t)k;
        st->buf[st->len] = 0;
        char *end = NULL;
        for (size_t i = from; i + 4 <= st->len; i++)
            if (memcmp(st->buf + i, "\r\n\r\n", 4) == 0) {
                end = st->buf + i + 4;
                break;
            }
        if (!end) {
            done += k;
            if (st->len >= sizeof(st->buf) - 1) { /* head too large (or not HTTP at all) */
                r = respond(cfg, NULL, 400, true, out) ? SVC_ERR : SVC_CLOSE;
                break;
            }
            continue;
        }
        done += (size_t)(end - st->buf) - (st->len - k); /* of the new bytes */
        *end = 0;
        if ((r = on_head(st, cfg, out)) != SVC_KEEP)
            break;
        if (st->phase == P_HEAD) { /* no body: answer now */
            if (respond(cfg, st, st->status, st->close, out)) {
                r = SVC_ERR;
                break;
            }
            if (st->close) {
                r = SVC_CLOSE;
                break;
            }
        }
        st->len = 0;
    }
    *used = done;
    if (r == SVC_KEEP && st && st->len == 0 && st->phase == P_HEAD)
        http_free(stp); /* idle channel: no buffer */
    return r;
}

void http_free(struct http_rx **st)
{
    free(*st);
    *st = NULL;
}
