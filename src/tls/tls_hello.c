/* tls_hello.c - sans-I/O ClientHello parser for the census (what do AMT devices offer?).
 *
 * Reads the handshake message across as many records as the client split it into, without
 * allocating: a small cursor walks record payloads as one stream. Every length is checked against
 * the enclosing one (record, handshake body, extension block, extension) before it is used.
 */
#include "tls.h"

#include <string.h>

enum { REC_HANDSHAKE = 22, HS_CLIENT_HELLO = 1, EXT_SNI = 0, EXT_SUPPORTED_VERSIONS = 43 };
#define REC_MAX 16384 /* RFC 8446 5.1: plaintext records are at most 2^14 bytes */

/* A cursor over handshake bytes spread over consecutive handshake records. */
struct hs_cursor {
    const uint8_t *p;
    size_t n, pos;    /* input and read position (record headers included) */
    size_t rec_left;  /* payload bytes left in the current record */
    size_t body_left; /* bytes left in the ClientHello body (the bound for every read) */
};

/* 0 ok, TLS_CH_NEED_MORE, TLS_E_HELLO. dst may be NULL to skip. */
static int cur_take(struct hs_cursor *c, uint8_t *dst, size_t len)
{
    while (len > 0) {
        if (c->rec_left == 0) {
            if (c->n - c->pos < 5)
                return TLS_CH_NEED_MORE;
            const uint8_t *h = c->p + c->pos;
            size_t rlen = (size_t)h[3] << 8 | h[4];
            /* a hello split over records continues in handshake records only */
            if (h[0] != REC_HANDSHAKE || h[1] != 3 || rlen == 0 || rlen > REC_MAX)
                return TLS_E_HELLO;
            c->rec_left = rlen;
            c->pos += 5;
        }
        size_t k = len < c->rec_left ? len : c->rec_left;
        if (k > c->n - c->pos)
            k = c->n - c->pos;
        if (k == 0)
            return TLS_CH_NEED_MORE;
        if (dst) {
            memcpy(dst, c->p + c->pos, k);
            dst += k;
        }
        c->pos += k;
        c->rec_left -= k;
        len -= k;
    }
    return 0;
}

/* Reads len bytes of the hello body; fails if the body has fewer left. */
static int body_take(struct hs_cursor *c, uint8_t *dst, size_t len)
{
    if (len > c->body_left)
        return TLS_E_HELLO;
    int r = cur_take(c, dst, len);
    if (r == 0)
        c->body_left -= len;
    return r;
}

static int body_u8(struct hs_cursor *c, size_t *v)
{
    uint8_t b[1];
    int r = body_take(c, b, 1);
    *v = b[0];
    return r;
}

static int body_u16(struct hs_cursor *c, size_t *v)
{
    uint8_t b[2] = {0, 0};
    int r = body_take(c, b, 2);
    *v = (size_t)b[0] << 8 | b[1];
    return r;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        int r_ = (x);                                                                              \
        if (r_ != 0)                                                                               \
            return r_;                                                                             \
    } while (0)

/* server_name: list<2> of {type<1>, name<2>}; keep the first host_name. */
static int parse_sni(struct hs_cursor *c, size_t ext_len, struct tls_client_hello *out)
{
    size_t list_len, left = ext_len;
    if (left < 2)
        return TLS_E_HELLO;
    TRY(body_u16(c, &list_len));
    left -= 2;
    if (list_len != left)
        return TLS_E_HELLO;
    while (left > 0) {
        size_t type, nlen;
        if (left < 3)
            return TLS_E_HELLO;
        TRY(body_u8(c, &type));
        TRY(body_u16(c, &nlen));
        left -= 3;
        if (nlen > left)
            return TLS_E_HELLO;
        left -= nlen;
        if (type != 0 || out->sni[0] != '\0') {
            TRY(body_take(c, NULL, nlen));
            continue;
        }
        size_t keep = nlen < sizeof(out->sni) - 1 ? nlen : sizeof(out->sni) - 1;
        TRY(body_take(c, (uint8_t *)out->sni, keep));
        TRY(body_take(c, NULL, nlen - keep));
        for (size_t i = 0; i < keep; i++)
            if (out->sni[i] < 0x21 || out->sni[i] > 0x7e)
                out->sni[i] = '?';
        out->sni[keep] = '\0';
    }
    return 0;
}

/* supported_versions (client): list<1> of uint16. */
static int parse_versions(struct hs_cursor *c, size_t ext_len, struct tls_client_hello *out)
{
    size_t list_len;
    if (ext_len < 1)
        return TLS_E_HELLO;
    TRY(body_u8(c, &list_len));
    if (list_len != ext_len - 1 || list_len < 2 || list_len % 2 != 0)
        return TLS_E_HELLO;
    out->has_supported_versions = true;
    for (size_t i = 0; i < list_len / 2; i++) {
        size_t v;
        TRY(body_u16(c, &v));
        if (out->n_versions < TLS_CH_MAX_VERSIONS)
            out->versions[out->n_versions++] = (uint16_t)v;
    }
    return 0;
}

static int parse_extensions(struct hs_cursor *c, struct tls_client_hello *out)
{
    size_t block;
    if (c->body_left == 0)
        return 0; /* extensions are optional before TLS 1.3 */
    TRY(body_u16(c, &block));
    if (block != c->body_left)
        return TLS_E_HELLO;
    while (c->body_left > 0) {
        size_t type, len;
        if (c->body_left < 4)
            return TLS_E_HELLO;
        TRY(body_u16(c, &type));
        TRY(body_u16(c, &len));
        if (len > c->body_left)
            return TLS_E_HELLO;
        if (type == EXT_SNI)
            TRY(parse_sni(c, len, out));
        else if (type == EXT_SUPPORTED_VERSIONS && !out->has_supported_versions)
            TRY(parse_versions(c, len, out));
        else
            TRY(body_take(c, NULL, len));
    }
    return 0;
}

static int parse_body(struct hs_cursor *c, struct tls_client_hello *out)
{
    size_t v, len;
    TRY(body_u16(c, &v));
    out->legacy_version = (uint16_t)v;
    if ((v >> 8) != 3)
        return TLS_E_HELLO;
    TRY(body_take(c, NULL, 32)); /* random */
    TRY(body_u8(c, &len));       /* legacy_session_id */
    if (len > 32)
        return TLS_E_HELLO;
    TRY(body_take(c, NULL, len));
    TRY(body_u16(c, &len)); /* cipher_suites */
    if (len < 2 || len % 2 != 0)
        return TLS_E_HELLO;
    for (size_t i = 0; i < len / 2; i++) {
        TRY(body_u16(c, &v));
        if (out->n_suites < TLS_CH_MAX_SUITES)
            out->suites[out->n_suites++] = (uint16_t)v;
    }
    out->n_suites_offered = (uint16_t)(len / 2);
    TRY(body_u8(c, &len)); /* legacy_compression_methods */
    if (len < 1)
        return TLS_E_HELLO;
    TRY(body_take(c, NULL, len));
    return parse_extensions(c, out);
}

int tls_client_hello_parse(const uint8_t *p, size_t n, struct tls_client_hello *out)
{
    memset(out, 0, sizeof(*out));
    if (p == NULL && n > 0)
        return TLS_E_HELLO;
    /* Decide "not TLS" from as few bytes as possible, so garbage fails at once. */
    if (n >= 1 && p[0] != REC_HANDSHAKE)
        return TLS_E_NOT_TLS;
    if (n >= 2 && p[1] != 3)
        return TLS_E_NOT_TLS;
    if (n >= 3 && p[2] > 4)
        return TLS_E_NOT_TLS;
    if (n < 5)
        return TLS_CH_NEED_MORE;
    out->record_version = (uint16_t)(p[1] << 8 | p[2]);

    struct hs_cursor c = {.p = p, .n = n, .body_left = 4};
    uint8_t hdr[4];
    TRY(body_take(&c, hdr, 4));
    if (hdr[0] != HS_CLIENT_HELLO)
        return TLS_E_HELLO;
    c.body_left = (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
    if (c.body_left > TLS_CH_MAX_BODY || c.body_left < 38)
        return TLS_E_HELLO;
    TRY(parse_body(&c, out));
    out->consumed = c.pos;
    return 0;
}

static bool is_grease(uint16_t v)
{
    return (v & 0x0f0f) == 0x0a0a && (v >> 8) == (v & 0xff);
}

void tls_client_hello_range(const struct tls_client_hello *ch, uint16_t *lo, uint16_t *hi)
{
    uint16_t l = 0xffff, h = 0;
    if (ch->has_supported_versions) {
        for (size_t i = 0; i < ch->n_versions; i++) {
            uint16_t v = ch->versions[i];
            if (is_grease(v))
                continue;
            l = v < l ? v : l;
            h = v > h ? v : h;
        }
    }
    if (h == 0) { /* no (usable) supported_versions: legacy_version is the maximum */
        h = ch->legacy_version;
        l = h < TLS_V1_0 ? h : TLS_V1_0;
    }
    *lo = l;
    *hi = h;
}
