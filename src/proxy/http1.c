/*
 * http1.c - HTTP/1.x heads, body framing, small replies and Basic credentials (see http1.h).
 *
 * Why re-parse from the start: a head is at most limits.max_head bytes, so the caller keeps the
 * bytes and calls again with more; the parser keeps no state between calls and cannot be confused
 * by how the head was split. It walks the head one line at a time and reports the first problem in
 * line order (so a partial head either is still HTTP_AGAIN or already has its final error). Every
 * limit is checked before a line is trusted, even for a line whose end has not arrived. The body
 * framer, by contrast, keeps a small state so a body streams through without being buffered.
 */
#include "http1.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "http1_chars.h"

/* --- slices ---------------------------------------------------------------------------------- */

bool http_slice_eq(http_slice s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && mem_ieq(s.p, lit, n);
}

bool http_list_has(http_slice value, const char *token)
{
    size_t i = 0;
    while (i <= value.len) {
        size_t j = i;
        while (j < value.len && value.p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (value.p[a] == ' ' || value.p[a] == '\t'))
            a++;
        while (b > a && (value.p[b - 1] == ' ' || value.p[b - 1] == '\t'))
            b--;
        http_slice e = {value.p + a, b - a};
        if (http_slice_eq(e, token))
            return true;
        i = j + 1;
    }
    return false;
}

const http_header *http_find_header(const http_head *h, const char *name)
{
    for (size_t i = 0; i < h->nheaders; i++)
        if (http_slice_eq(h->headers[i].name, name))
            return &h->headers[i];
    return NULL;
}

/* --- limits ------------------------------------------------------------------------------------
 */

void http_limits_default(http_limits *lim)
{
    lim->max_head = 8192;
    lim->max_line = 4096;
    lim->max_headers = 64;
}

/* Zero fields take the defaults; the head length must fit the int the parsers return. */
http_limits http1_limits_fix(const http_limits *lim)
{
    http_limits d, l;
    http_limits_default(&d);
    l = lim ? *lim : d;
    if (l.max_head == 0 || l.max_head > (1u << 30))
        l.max_head = l.max_head == 0 ? d.max_head : (1u << 30);
    if (l.max_line == 0)
        l.max_line = d.max_line;
    if (l.max_line > l.max_head)
        l.max_line = l.max_head;
    if (l.max_headers == 0)
        l.max_headers = d.max_headers;
    if (l.max_headers > HTTP_MAX_HEADERS)
        l.max_headers = HTTP_MAX_HEADERS;
    return l;
}

/* --- lines -------------------------------------------------------------------------------------
 */

typedef struct line_ctx {
    const uint8_t *p;
    size_t n, pos;
    http_limits lim;
} line_ctx;

/* The next line without its terminator: 1, HTTP_AGAIN or an error (too_long for an over-long
 * line, bad for a bare CR). */
static int next_line(line_ctx *c, int too_long, int bad, const char **line, size_t *len)
{
    size_t avail = c->n - c->pos;
    size_t bound = (size_t)c->lim.max_line + 2; /* content, CR, LF */
    size_t scan = avail < bound ? avail : bound;
    const uint8_t *start = c->p + c->pos;
    const uint8_t *lf = memchr(start, '\n', scan);
    if (!lf) {
        if (avail >= bound)
            return too_long;
        return c->n > c->lim.max_head ? HTTP_E_HEAD_TOO_LARGE : HTTP_AGAIN;
    }
    size_t l = (size_t)(lf - start);
    if (c->pos + l + 1 > c->lim.max_head)
        return HTTP_E_HEAD_TOO_LARGE;
    c->pos += l + 1;
    if (l > 0 && start[l - 1] == '\r')
        l--;
    if (l > c->lim.max_line)
        return too_long;
    if (memchr(start, '\r', l))
        return bad;
    *line = (const char *)start;
    *len = l;
    return 1;
}

/* "HTTP/1.0" or "HTTP/1.1": the minor version, HTTP_E_VERSION for another "HTTP/<digits.>",
 * else malformed. */
static int parse_version(const char *s, size_t len, int malformed)
{
    if (len == 8 && memcmp(s, "HTTP/1.", 7) == 0 && (s[7] == '0' || s[7] == '1'))
        return s[7] - '0';
    if (len < 6 || memcmp(s, "HTTP/", 5) != 0)
        return malformed;
    for (size_t i = 5; i < len; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
            return malformed;
    return HTTP_E_VERSION;
}

static int parse_request_line(const char *s, size_t len, http_head *h)
{
    const char *sp1 = memchr(s, ' ', len);
    if (!sp1 || sp1 == s)
        return HTTP_E_REQUEST_LINE;
    for (const char *q = s; q < sp1; q++)
        if (!is_tchar((uint8_t)*q))
            return HTTP_E_METHOD;
    const char *t = sp1 + 1, *end = s + len;
    const char *sp2 = memchr(t, ' ', (size_t)(end - t));
    if (!sp2 || sp2 == t)
        return HTTP_E_REQUEST_LINE;
    for (const char *q = t; q < sp2; q++)
        if ((uint8_t)*q < 0x21 || (uint8_t)*q > 0x7e)
            return HTTP_E_REQUEST_LINE;
    int minor = parse_version(sp2 + 1, (size_t)(end - sp2 - 1), HTTP_E_REQUEST_LINE);
    if (minor < 0)
        return minor;
    h->method = (http_slice){s, (size_t)(sp1 - s)};
    h->target = (http_slice){t, (size_t)(sp2 - t)};
    h->minor = minor;
    return 0;
}

static int parse_status_line(const char *s, size_t len, http_head *h)
{
    const char *sp = memchr(s, ' ', len);
    if (!sp) {
        int v = parse_version(s, len, HTTP_E_STATUS_LINE);
        return v < 0 ? v : HTTP_E_STATUS_LINE;
    }
    int minor = parse_version(s, (size_t)(sp - s), HTTP_E_STATUS_LINE);
    if (minor < 0)
        return minor;
    const char *c = sp + 1, *end = s + len;
    if (end - c < 3 || c[0] < '1' || c[0] > '9' || c[1] < '0' || c[1] > '9' || c[2] < '0' ||
        c[2] > '9')
        return HTTP_E_STATUS_LINE;
    const char *r = c + 3;
    if (r < end && *r++ != ' ')
        return HTTP_E_STATUS_LINE;
    for (const char *q = r; q < end; q++)
        if (!is_field_char((uint8_t)*q))
            return HTTP_E_STATUS_LINE;
    h->minor = minor;
    h->status = (c[0] - '0') * 100 + (c[1] - '0') * 10 + (c[2] - '0');
    h->reason = (http_slice){r, (size_t)(end - r)};
    return 0;
}

static int parse_header_line(const char *s, size_t len, http_header *hd)
{
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s) /* also a line starting with SP/HTAB: obs-fold */
        return HTTP_E_HEADER;
    for (const char *q = s; q < colon; q++)
        if (!is_tchar((uint8_t)*q))
            return HTTP_E_HEADER;
    const char *v = colon + 1, *end = s + len;
    for (const char *q = v; q < end; q++)
        if (!is_field_char((uint8_t)*q))
            return HTTP_E_HEADER;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    hd->name = (http_slice){s, (size_t)(colon - s)};
    hd->value = (http_slice){v, (size_t)(end - v)};
    return 0;
}

/* --- framing -----------------------------------------------------------------------------------
 */

static int parse_length(http_slice v, uint64_t *out)
{
    uint64_t x = 0;
    if (v.len == 0)
        return -1;
    for (size_t i = 0; i < v.len; i++) {
        uint8_t c = (uint8_t)v.p[i];
        if (c < '0' || c > '9' || x > (UINT64_MAX - (c - '0')) / 10)
            return -1;
        x = x * 10 + (c - '0');
    }
    *out = x;
    return 0;
}

typedef struct framing {
    bool have_cl, have_te, conn_close, conn_ka;
    uint64_t cl;
    unsigned hosts;
} framing;

static int frame_header(const http_header *hd, framing *f, http_head *h)
{
    if (http_slice_eq(hd->name, "Content-Length")) {
        uint64_t v;
        if (parse_length(hd->value, &v) < 0 || (f->have_cl && v != f->cl))
            return HTTP_E_CONTENT_LENGTH;
        f->have_cl = true;
        f->cl = v;
    } else if (http_slice_eq(hd->name, "Transfer-Encoding")) {
        /* only a single "chunked": a second header would apply chunked twice */
        if (f->have_te || !http_slice_eq(hd->value, "chunked"))
            return HTTP_E_TRANSFER_ENCODING;
        f->have_te = true;
    } else if (http_slice_eq(hd->name, "Connection")) {
        f->conn_close |= http_list_has(hd->value, "close");
        f->conn_ka |= http_list_has(hd->value, "keep-alive");
    } else if (http_slice_eq(hd->name, "Expect")) {
        h->expect_continue |= http_slice_eq(hd->value, "100-continue");
    } else if (http_slice_eq(hd->name, "Host")) {
        f->hosts++;
    }
    return 0;
}

static int frame(http_head *h, bool head_request)
{
    framing f = {0};
    for (size_t i = 0; i < h->nheaders; i++) {
        int r = frame_header(&h->headers[i], &f, h);
        if (r < 0)
            return r;
    }
    if (f.have_te && f.have_cl)
        return HTTP_E_TRANSFER_ENCODING;
    if (h->is_request && f.have_te && h->minor == 0)
        return HTTP_E_TRANSFER_ENCODING;
    if (h->is_request && f.hosts > 1)
        return HTTP_E_HEADER;
    h->keep_alive = h->minor == 1 ? !f.conn_close : (f.conn_ka && !f.conn_close);
    bool bodyless =
        !h->is_request && (head_request || h->status < 200 || h->status == 204 || h->status == 304);
    if (bodyless) {
        h->body = HTTP_BODY_NONE;
    } else if (f.have_te) {
        h->body = HTTP_BODY_CHUNKED;
    } else if (f.have_cl) {
        h->body = HTTP_BODY_LENGTH;
        h->content_length = f.cl;
    } else if (h->is_request) {
        h->body = HTTP_BODY_NONE;
    } else {
        h->body = HTTP_BODY_UNTIL_CLOSE;
        h->keep_alive = false;
    }
    return 0;
}

/* --- heads -------------------------------------------------------------------------------------
 */

static void head_reset(http_head *h, bool request)
{
    h->is_request = request;
    h->method = h->target = h->reason = (http_slice){NULL, 0};
    h->status = 0;
    h->minor = 0;
    h->nheaders = 0;
    h->head_len = 0;
    h->body = HTTP_BODY_NONE;
    h->content_length = 0;
    h->keep_alive = false;
    h->expect_continue = false;
}

static int parse_first_line(line_ctx *c, http_head *h)
{
    const char *line;
    size_t len;
    int r;
    if (!h->is_request) {
        r = next_line(c, HTTP_E_LINE_TOO_LONG, HTTP_E_STATUS_LINE, &line, &len);
        return r < 0 ? r : parse_status_line(line, len, h);
    }
    do { /* RFC 9112 2.2: empty lines before a request line are ignored */
        r = next_line(c, HTTP_E_URI_TOO_LONG, HTTP_E_REQUEST_LINE, &line, &len);
        if (r < 0)
            return r;
    } while (len == 0);
    return parse_request_line(line, len, h);
}

static int parse_head(const uint8_t *p, size_t n, const http_limits *lim, bool request,
                      bool head_request, http_head *h)
{
    line_ctx c = {p, n, 0, http1_limits_fix(lim)};
    head_reset(h, request);
    if (!p)
        return n == 0 ? HTTP_AGAIN : HTTP_E_REQUEST_LINE;
    int r = parse_first_line(&c, h);
    if (r < 0)
        return r;
    for (;;) {
        const char *line;
        size_t len;
        r = next_line(&c, HTTP_E_LINE_TOO_LONG, HTTP_E_HEADER, &line, &len);
        if (r < 0)
            return r;
        if (len == 0)
            break;
        if (h->nheaders >= c.lim.max_headers)
            return HTTP_E_TOO_MANY_HEADERS;
        r = parse_header_line(line, len, &h->headers[h->nheaders]);
        if (r < 0)
            return r;
        h->nheaders++;
    }
    h->head_len = c.pos;
    r = frame(h, head_request);
    return r < 0 ? r : (int)c.pos;
}

int http_parse_request(const uint8_t *p, size_t n, const http_limits *lim, http_head *h)
{
    return parse_head(p, n, lim, true, false, h);
}

int http_parse_response(const uint8_t *p, size_t n, const http_limits *lim, bool head_request,
                        http_head *h)
{
    return parse_head(p, n, lim, false, head_request, h);
}

/* --- errors ------------------------------------------------------------------------------------
 */

const char *http_strerror(int err)
{
    switch (err) {
    case HTTP_AGAIN:
        return "incomplete message head";
    case HTTP_E_HEAD_TOO_LARGE:
        return "message head too large";
    case HTTP_E_LINE_TOO_LONG:
        return "header line too long";
    case HTTP_E_URI_TOO_LONG:
        return "request line too long";
    case HTTP_E_TOO_MANY_HEADERS:
        return "too many header lines";
    case HTTP_E_REQUEST_LINE:
        return "malformed request line";
    case HTTP_E_STATUS_LINE:
        return "malformed status line";
    case HTTP_E_VERSION:
        return "HTTP version not supported";
    case HTTP_E_HEADER:
        return "malformed header line";
    case HTTP_E_CONTENT_LENGTH:
        return "bad or conflicting Content-Length";
    case HTTP_E_TRANSFER_ENCODING:
        return "unsupported Transfer-Encoding (or with Content-Length)";
    case HTTP_E_CHUNK:
        return "malformed chunked body";
    case HTTP_E_METHOD:
        return "method is not a token";
    default:
        return err >= 0 ? "ok" : "unknown HTTP error";
    }
}

int http_err_status(int err)
{
    switch (err) {
    case HTTP_E_HEAD_TOO_LARGE:
    case HTTP_E_LINE_TOO_LONG:
    case HTTP_E_TOO_MANY_HEADERS:
        return 431;
    case HTTP_E_URI_TOO_LONG:
        return 414;
    case HTTP_E_STATUS_LINE:
        return 502;
    case HTTP_E_VERSION:
        return 505;
    case HTTP_E_TRANSFER_ENCODING:
        return 501;
    default:
        return err < HTTP_AGAIN ? 400 : 0;
    }
}
