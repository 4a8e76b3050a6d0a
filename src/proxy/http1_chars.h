/*
 * http1_chars.h - private to src/proxy: the RFC 9110 character classes and the limits fix-up
 * shared by http1.c (heads) and http1_body.c (bodies, replies, Basic credentials), so both halves
 * judge a byte the same way.
 */
#ifndef MPSD_PROXY_HTTP1_CHARS_H
#define MPSD_PROXY_HTTP1_CHARS_H

#include "http1.h"

#include <string.h>

/* --- characters and slices ---------------------------------------------------------------------
 */

static inline bool is_tchar(uint8_t c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* field-value bytes: HTAB, SP, VCHAR, obs-text */
static inline bool is_field_char(uint8_t c)
{
    return c == '\t' || c == ' ' || (c >= 0x21 && c != 0x7f);
}

static inline uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/* A hex digit's value, either case; -1 for anything else (chunk sizes, percent-escapes). */
static inline int http_hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

static inline bool mem_ieq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((uint8_t)a[i]) != lower((uint8_t)b[i]))
            return false;
    return true;
}

/* Zero fields take the defaults; the head length must fit the int the parsers return. */
http_limits http1_limits_fix(const http_limits *lim);

/* --- a bounded output buffer: writes stop (and remember it) at the first that does not fit --- */

typedef struct http_writer {
    uint8_t *out;
    size_t cap, len;
    bool full;
} http_writer;

static inline void http_put(http_writer *w, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (w->full || n > w->cap - w->len) {
        w->full = true;
        return;
    }
    memcpy(w->out + w->len, p, n);
    w->len += n;
}

static inline void http_puts(http_writer *w, const char *s)
{
    http_put(w, s, strlen(s));
}

#endif
