#include "abuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABUF_DEFAULT_LIMIT (64u << 20)

void abuf_init(struct abuf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit ? limit : ABUF_DEFAULT_LIMIT;
}

void abuf_free(struct abuf *b)
{
    free(b->p);
    size_t limit = b->limit;
    abuf_init(b, limit);
}

void abuf_reset(struct abuf *b)
{
    b->len = 0;
    b->failed = false;
}

static bool reserve(struct abuf *b, size_t n)
{
    if (b->failed)
        return false;
    if (n > b->limit || b->len > b->limit - n) {
        b->failed = true;
        return false;
    }
    if (b->len + n + 1 <= b->cap)
        return true;
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
        cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
        b->failed = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

bool abuf_append(struct abuf *b, const void *p, size_t n)
{
    if (!reserve(b, n))
        return false;
    memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return true;
}

bool abuf_puts(struct abuf *b, const char *s)
{
    return abuf_append(b, s, strlen(s));
}

bool abuf_printf(struct abuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return false;
    if ((size_t)n < sizeof(small))
        return abuf_append(b, small, (size_t)n);
    if (!reserve(b, (size_t)n))
        return false;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return true;
}

void abuf_consume(struct abuf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
    b->p[b->len] = 0;
}
