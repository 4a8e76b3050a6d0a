/*
 * apf_wire.h - bounded big-endian reader and writer for the codec (internal).
 *
 * The reader never reads past its end. A short read does not fail: it records
 * how many bytes the message needs at least (need) so that the incremental
 * parser can wait for exactly that much; a bad length records an error.
 * Both are sticky, so an unpack function reads all fields straight through
 * and checks once at the end (s2n-tls stuffer style).
 */
#ifndef MPSD_APF_WIRE_H
#define MPSD_APF_WIRE_H

#include <stdint.h>
#include <string.h>

#include "apf.h"

typedef struct apf_rd {
    const uint8_t *p;
    size_t n, off;
    size_t need; /* > 0: incomplete, at least this many bytes in total */
    int err;     /* < 0: fatal */
} apf_rd;

static inline uint32_t apf_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void apf_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline int apf_rd_ok(const apf_rd *r)
{
    return r->err == 0 && r->need == 0;
}

/* Makes the next k bytes available, or records why not. */
static inline const uint8_t *apf_rd_take(apf_rd *r, size_t k)
{
    if (!apf_rd_ok(r))
        return NULL;
    if (k > r->n - r->off) {
        r->need = r->off + k;
        return NULL;
    }
    const uint8_t *q = r->p + r->off;
    r->off += k;
    return q;
}

static inline uint32_t apf_rd_u32(apf_rd *r)
{
    const uint8_t *q = apf_rd_take(r, 4);
    return q ? apf_get32(q) : 0;
}

static inline uint8_t apf_rd_u8(apf_rd *r)
{
    const uint8_t *q = apf_rd_take(r, 1);
    return q ? q[0] : 0;
}

/* A string whose length is checked against max before anything waits for it:
 * a hostile 4 GiB length fails at once instead of stalling the parser. */
static inline apf_str apf_rd_str(apf_rd *r, uint32_t max, int err)
{
    apf_str s = {NULL, 0};
    uint32_t len = apf_rd_u32(r);
    if (!apf_rd_ok(r))
        return s;
    if (len > max) {
        r->err = err;
        return s;
    }
    s.p = apf_rd_take(r, len);
    s.len = s.p ? len : 0;
    return s;
}

typedef struct apf_wr {
    uint8_t *p;
    size_t cap, off;
} apf_wr;

/* Writes past cap are counted but not stored; the caller compares off with cap. */
static inline void apf_wr_bytes(apf_wr *w, const void *src, size_t k)
{
    if (k && w->off <= w->cap && k <= w->cap - w->off)
        memcpy(w->p + w->off, src, k);
    w->off += k;
}

static inline void apf_wr_u8(apf_wr *w, uint8_t v)
{
    apf_wr_bytes(w, &v, 1);
}

static inline void apf_wr_u32(apf_wr *w, uint32_t v)
{
    uint8_t b[4];
    apf_put32(b, v);
    apf_wr_bytes(w, b, 4);
}

static inline void apf_wr_str(apf_wr *w, apf_str s)
{
    apf_wr_u32(w, s.len);
    apf_wr_bytes(w, s.p, s.len);
}

#endif
