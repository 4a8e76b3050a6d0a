/* abuf.h - a growable byte buffer for admin responses (exposition text, JSON, SSE frames). Bounded
 * by a cap so that no request can make the admin thread allocate without limit. */
#ifndef MPSD_ADMIN_ABUF_H
#define MPSD_ADMIN_ABUF_H

#include <stdbool.h>
#include <stddef.h>

struct abuf {
    char *p;
    size_t len, cap;
    size_t limit; /* 0: 64 MiB */
    bool failed;  /* an append did not fit (allocation or limit): the content is incomplete */
};

void abuf_init(struct abuf *b, size_t limit);
void abuf_free(struct abuf *b);
void abuf_reset(struct abuf *b);
bool abuf_append(struct abuf *b, const void *p, size_t n);
bool abuf_puts(struct abuf *b, const char *s);
bool abuf_printf(struct abuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (what was written out). */
void abuf_consume(struct abuf *b, size_t n);

#endif
