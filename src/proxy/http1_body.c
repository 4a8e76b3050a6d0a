/*
 * http1_body.c - the streaming body framer, the small canned responses and the Basic credentials
 * decoder of http1.h.
 *
 * Why a state machine here (unlike the heads): a body is unbounded and streams through the proxy
 * without being buffered, so the chunked parser remembers where it stands between calls and takes
 * chunk-size lines, extensions and trailers split at any byte. Chunk lines need CRLF (a bare LF is
 * a classic smuggling lever) and are bounded by max_line; trailers by max_head.
 */
#include "http1.h"
#include "http1_chars.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* --- body framing ------------------------------------------------------------------------------
 */

enum {
    BS_SIZE0 = 0, /* the first hex digit of a chunk size */
    BS_SIZE,      /* more hex digits */
    BS_WS,        /* BWS after the size: only ";" may follow */
    BS_EXT,       /* chunk extensions up to CR */
    BS_SIZE_LF,   /* the LF ending the chunk-size line */
    BS_DATA,
    BS_DATA_CR, /* CRLF after chunk data */
    BS_DATA_LF,
    BS_TR_START, /* a trailer line or the final empty line */
    BS_TR_NAME,
    BS_TR_VALUE,
    BS_TR_LF,
    BS_END_LF, /* the LF of the final CRLF */
    BS_DONE,
    BS_ERROR,
};

void http_body_init(http_body *b, http_body_kind kind, uint64_t content_length,
                    const http_limits *lim)
{
    http_limits l = http1_limits_fix(lim);
    memset(b, 0, sizeof *b);
    b->kind = kind;
    b->max_line = l.max_line;
    b->max_trailer = l.max_head;
    b->state = BS_SIZE0;
    if (kind == HTTP_BODY_LENGTH)
        b->left = content_length;
    b->done = kind == HTTP_BODY_NONE || (kind == HTTP_BODY_LENGTH && content_length == 0);
}

/* One byte of a chunk-size line: the next state, or BS_ERROR. */
static uint8_t size_byte(http_body *b, uint8_t c)
{
    if (++b->line > b->max_line)
        return BS_ERROR;
    int v = http_hexval(c);
    switch (b->state) {
    case BS_SIZE0:
    case BS_SIZE:
        if (v >= 0) {
            if (b->left >> 60) /* another digit would overflow 64 bits */
                return BS_ERROR;
            b->left = b->left << 4 | (uint64_t)v;
            return BS_SIZE;
        }
        if (b->state == BS_SIZE0)
            return BS_ERROR;
        if (c == '\r')
            return BS_SIZE_LF;
        if (c == ';')
            return BS_EXT;
        return (c == ' ' || c == '\t') ? BS_WS : BS_ERROR;
    case BS_WS:
        if (c == ';')
            return BS_EXT;
        return (c == ' ' || c == '\t') ? BS_WS : BS_ERROR;
    default: /* BS_EXT: names, values, quoted strings; no CTL but HTAB */
        if (c == '\r')
            return BS_SIZE_LF;
        return is_field_char(c) ? BS_EXT : BS_ERROR;
    }
}

/* One byte of the trailer section (after the last chunk). */
static uint8_t trailer_byte(http_body *b, uint8_t c)
{
    if (++b->trailer > b->max_trailer || ++b->line > b->max_line + 2)
        return BS_ERROR;
    switch (b->state) {
    case BS_TR_START:
        if (c == '\r')
            return BS_END_LF;
        return is_tchar(c) ? BS_TR_NAME : BS_ERROR; /* SP/HTAB here would be obs-fold */
    case BS_TR_NAME:
        if (c == ':')
            return BS_TR_VALUE;
        return is_tchar(c) ? BS_TR_NAME : BS_ERROR;
    case BS_TR_VALUE:
        if (c == '\r')
            return BS_TR_LF;
        return is_field_char(c) ? BS_TR_VALUE : BS_ERROR;
    case BS_TR_LF:
        b->line = 0;
        return c == '\n' ? BS_TR_START : BS_ERROR;
    default: /* BS_END_LF */
        return c == '\n' ? BS_DONE : BS_ERROR;
    }
}

static uint8_t chunk_byte(http_body *b, uint8_t c)
{
    switch (b->state) {
    case BS_SIZE0:
    case BS_SIZE:
    case BS_WS:
    case BS_EXT:
        return size_byte(b, c);
    case BS_SIZE_LF:
        if (c != '\n')
            return BS_ERROR;
        b->line = 0;
        return b->left == 0 ? BS_TR_START : BS_DATA;
    case BS_DATA_CR:
        return c == '\r' ? BS_DATA_LF : BS_ERROR;
    case BS_DATA_LF:
        return c == '\n' ? BS_SIZE0 : BS_ERROR;
    default:
        return trailer_byte(b, c);
    }
}

static ssize_t scan_chunked(http_body *b, const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n && b->state != BS_DONE) {
        if (b->state == BS_DATA) {
            size_t take = n - i;
            if (take > b->left)
                take = (size_t)b->left;
            i += take;
            b->left -= take;
            if (b->left == 0)
                b->state = BS_DATA_CR;
            continue;
        }
        b->state = chunk_byte(b, p[i++]);
        if (b->state == BS_ERROR)
            return HTTP_E_CHUNK;
    }
    b->done = b->state == BS_DONE;
    return (ssize_t)i;
}

ssize_t http_body_scan(http_body *b, const uint8_t *p, size_t n)
{
    if (n > SSIZE_MAX)
        n = SSIZE_MAX;
    if (b->kind == HTTP_BODY_CHUNKED && b->state == BS_ERROR)
        return HTTP_E_CHUNK;
    if (b->done || !p)
        return 0;
    switch (b->kind) {
    case HTTP_BODY_LENGTH: {
        size_t take = n < b->left ? n : (size_t)b->left;
        b->left -= take;
        b->done = b->left == 0;
        return (ssize_t)take;
    }
    case HTTP_BODY_CHUNKED:
        return scan_chunked(b, p, n);
    case HTTP_BODY_UNTIL_CLOSE:
        return (ssize_t)n;
    default:
        return 0;
    }
}

bool http_body_done(const http_body *b)
{
    return b->done;
}

bool http_body_eof(http_body *b)
{
    if (b->kind == HTTP_BODY_UNTIL_CLOSE)
        b->done = true;
    return b->done;
}

/* --- replies -----------------------------------------------------------------------------------
 */

ssize_t http_pack_response(uint8_t *out, size_t cap, int status, const char *extra_headers,
                           const char *body, bool keep_alive)
{
    char num[48];
    http_writer w = {out, cap, 0, false};
    if (status < 100 || status > 999 || !out)
        return -1;
    size_t blen = body ? strlen(body) : 0;
    snprintf(num, sizeof num, "%d ", status);
    http_puts(&w, "HTTP/1.1 ");
    http_puts(&w, num);
    http_puts(&w, http_reason(status));
    http_puts(&w, "\r\n");
    if (extra_headers)
        http_puts(&w, extra_headers);
    snprintf(num, sizeof num, "%zu", blen);
    http_puts(&w, "Content-Type: text/plain\r\nContent-Length: ");
    http_puts(&w, num);
    http_puts(&w, keep_alive ? "\r\n\r\n" : "\r\nConnection: close\r\n\r\n");
    http_put(&w, body, blen);
    return w.full ? -1 : (ssize_t)w.len;
}

const char *http_reason(int status)
{
    static const struct {
        int code;
        const char *text;
    } t[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {204, "No Content"},
        {206, "Partial Content"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {411, "Length Required"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {417, "Expectation Failed"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].code == status)
            return t[i].text;
    return "Unknown";
}

/* --- Basic credentials -------------------------------------------------------------------------
 */

static int b64val(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    return c == '/' ? 63 : -1;
}

/* The base64 text of a "Basic <token68>" value, without padding; -1 if it is not one. */
static int basic_token(http_slice v, const uint8_t **b, size_t *m)
{
    if (v.len < 6 || !mem_ieq(v.p, "basic", 5) || v.p[5] != ' ')
        return -1;
    size_t i = 5;
    while (i < v.len && v.p[i] == ' ')
        i++;
    const uint8_t *s = (const uint8_t *)v.p + i;
    size_t n = v.len - i, pad = 0;
    while (n > 0 && s[n - 1] == '=' && pad < 2) {
        n--;
        pad++;
    }
    if (n == 0 || n % 4 == 1 || (pad && (n + pad) % 4 != 0))
        return -1;
    *b = s;
    *m = n;
    return 0;
}

typedef struct cred_out {
    char *buf[2];
    size_t cap[2], len[2];
    int field; /* 0: user, 1: password */
} cred_out;

static int cred_byte(cred_out *o, uint8_t c)
{
    if (c == 0)
        return -1;
    if (c == ':' && o->field == 0) {
        o->field = 1;
        return 0;
    }
    int f = o->field;
    if (o->len[f] + 1 >= o->cap[f])
        return -1;
    o->buf[f][o->len[f]++] = (char)c;
    return 0;
}

static int basic_decode(const uint8_t *s, size_t n, cred_out *o)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val(s[i]);
        if (v < 0)
            return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (cred_byte(o, (uint8_t)(acc >> bits)) < 0)
                return -1;
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) /* non-canonical: leftover bits must be zero */
        return -1;
    return (o->field == 1 && o->len[0] > 0) ? 0 : -1;
}

int http_basic_decode(http_slice value, char *user, size_t ucap, size_t *ulen, char *pass,
                      size_t pcap, size_t *plen)
{
    const uint8_t *s;
    size_t n;
    if (!user || !pass || ucap == 0 || pcap == 0 || !value.p)
        return -1;
    cred_out o = {{user, pass}, {ucap, pcap}, {0, 0}, 0};
    int r = basic_token(value, &s, &n) < 0 ? -1 : basic_decode(s, n, &o);
    if (r < 0) {
        volatile char *v = pass;
        for (size_t i = 0; i < o.len[1]; i++)
            v[i] = 0;
        o.len[0] = o.len[1] = 0;
    }
    user[o.len[0]] = '\0';
    pass[o.len[1]] = '\0';
    if (ulen)
        *ulen = o.len[0];
    if (plen)
        *plen = o.len[1];
    return r;
}
