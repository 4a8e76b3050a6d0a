/* digest.c - HTTP digest authentication for the simulated AMT ports (see digest.h). MD5 is
 * wolfSSL's: amtsim already links it for TLS. */
#include "digest.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/md5.h>

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[p[i] >> 4];
        out[2 * i + 1] = h[p[i] & 15];
    }
    out[2 * n] = 0;
}

static void md5(const void *p, size_t n, uint8_t out[16])
{
    wc_Md5 m;
    wc_InitMd5(&m);
    wc_Md5Update(&m, p, (word32)n);
    wc_Md5Final(&m, out);
    wc_Md5Free(&m);
}

void digest_md5_hex(const void *p, size_t n, char out[33])
{
    uint8_t d[16];
    md5(p, n, d);
    hex(d, 16, out);
}

void digest_realm(const char *uuid, char out[DIGEST_REALM_MAX])
{
    size_t o = (size_t)snprintf(out, DIGEST_REALM_MAX, "Digest:");
    for (const char *s = uuid; *s && o + 1 < DIGEST_REALM_MAX; s++)
        if (*s != '-')
            out[o++] = (char)(*s >= 'a' && *s <= 'f' ? *s - 'a' + 'A' : *s);
    out[o] = 0;
}

static void nonce_for(const struct digest_ctx *c, uint32_t seq, char out[DIGEST_NONCE_LEN + 1])
{
    uint8_t in[DIGEST_KEY_LEN + 8], d[16];
    memcpy(in, c->key, DIGEST_KEY_LEN);
    for (int i = 0; i < 4; i++) {
        in[DIGEST_KEY_LEN + i] = (uint8_t)(c->index >> (8 * i));
        in[DIGEST_KEY_LEN + 4 + i] = (uint8_t)(seq >> (8 * i));
    }
    md5(in, sizeof(in), d);
    snprintf(out, 9, "%08x", seq);
    hex(d, 12, out + 8);
}

void digest_nonce(const struct digest_ctx *c, char out[DIGEST_NONCE_LEN + 1])
{
    nonce_for(c, ++*c->seq, out);
}

bool digest_nonce_ok(const struct digest_ctx *c, const char *nonce, size_t len)
{
    if (len != DIGEST_NONCE_LEN)
        return false;
    uint32_t seq = 0;
    for (int i = 0; i < 8; i++) {
        char ch = nonce[i];
        unsigned v = ch >= '0' && ch <= '9'   ? (unsigned)(ch - '0')
                     : ch >= 'a' && ch <= 'f' ? (unsigned)(ch - 'a' + 10)
                                              : 16;
        if (v > 15)
            return false;
        seq = seq << 4 | v;
    }
    char want[DIGEST_NONCE_LEN + 1];
    nonce_for(c, seq, want);
    unsigned diff = 0;
    for (size_t i = 0; i < DIGEST_NONCE_LEN; i++)
        diff |= (unsigned)(want[i] ^ nonce[i]);
    return diff == 0;
}

void digest_response(const char *user, const char *realm, const char *password, const char *method,
                     const char *uri, const char *nonce, const char *nc, const char *cnonce,
                     const char *qop, char out[33])
{
    char buf[2200], ha1[33], ha2[33];
    int n = snprintf(buf, sizeof(buf), "%s:%s:%s", user, realm, password);
    if (n < 0 || (size_t)n >= sizeof(buf))
        goto fail;
    digest_md5_hex(buf, (size_t)n, ha1);
    n = snprintf(buf, sizeof(buf), "%s:%s", method, uri);
    if (n < 0 || (size_t)n >= sizeof(buf))
        goto fail;
    digest_md5_hex(buf, (size_t)n, ha2);
    n = snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s:%s", ha1, nonce, nc, cnonce, qop, ha2);
    if (n < 0 || (size_t)n >= sizeof(buf))
        goto fail;
    digest_md5_hex(buf, (size_t)n, out);
    memset(buf, 0, sizeof(buf));
    return;
fail:
    memset(buf, 0, sizeof(buf));
    out[0] = 0;
}

bool digest_check(const struct digest_ctx *c, const struct digest_fields *f, const char *method)
{
    if (strcmp(f->user, c->user) != 0 || strcmp(f->realm, c->realm) != 0)
        return false;
    if (!digest_nonce_ok(c, f->nonce, strlen(f->nonce)))
        return false;
    size_t ncl = strlen(f->nc); /* RFC: 8 hex digits; the redirection consoles send "1" */
    if (strcasecmp(f->qop, "auth") != 0 || ncl == 0 || ncl > 8 || !f->cnonce[0])
        return false;
    if (strspn(f->nc, "0123456789abcdefABCDEF") != ncl)
        return false;
    if (f->algorithm[0] && strcasecmp(f->algorithm, "MD5") != 0)
        return false;
    char want[33];
    digest_response(f->user, f->realm, c->password, method, f->uri, f->nonce, f->nc, f->cnonce,
                    f->qop, want);
    if (!want[0] || strlen(f->response) != 32)
        return false;
    unsigned diff = 0;
    for (size_t i = 0; i < 32; i++) {
        char a = f->response[i];
        a = (char)(a >= 'A' && a <= 'F' ? a - 'A' + 'a' : a); /* hex in either case */
        diff |= (unsigned)(a ^ want[i]);
    }
    return diff == 0;
}

/* Where a parameter's value goes, and its room. */
static char *field(struct digest_fields *f, const char *k, size_t kl, size_t *cap)
{
    static const struct {
        const char *name;
        size_t off, cap;
    } t[] = {
#define F(n, m) {n, offsetof(struct digest_fields, m), sizeof(((struct digest_fields *)0)->m)}
        F("username", user), F("realm", realm),       F("nonce", nonce),
        F("uri", uri),       F("cnonce", cnonce),     F("nc", nc),
        F("qop", qop),       F("response", response), F("algorithm", algorithm),
#undef F
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (strlen(t[i].name) == kl && strncasecmp(t[i].name, k, kl) == 0) {
            *cap = t[i].cap;
            return (char *)f + t[i].off;
        }
    return NULL; /* opaque, userhash, ...: ignored */
}

int digest_parse_header(const char *v, size_t len, struct digest_fields *f)
{
    memset(f, 0, sizeof(*f));
    const char *e = v + len;
    if (len < 7 || strncasecmp(v, "Digest", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
        return -1;
    const char *p = v + 7;
    for (;;) {
        while (p < e && (*p == ' ' || *p == '\t' || *p == ','))
            p++;
        if (p == e)
            return 0;
        const char *k = p;
        while (p < e && *p != '=' && *p != ' ' && *p != '\t' && *p != ',')
            p++;
        size_t kl = (size_t)(p - k);
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        if (p == e || *p != '=' || kl == 0)
            return -1;
        p++;
        while (p < e && (*p == ' ' || *p == '\t'))
            p++;
        size_t cap = 0, n = 0;
        char *out = field(f, k, kl, &cap);
        if (p < e && *p == '"') { /* quoted-string, backslash escapes */
            for (p++;; p++) {
                if (p == e)
                    return -1;
                if (*p == '"')
                    break;
                if (*p == '\\' && ++p == e)
                    return -1;
                if (out && n + 1 >= cap)
                    return -1;
                if (out)
                    out[n++] = *p;
            }
            p++;
        } else { /* token */
            while (p < e && *p != ',' && *p != ' ' && *p != '\t') {
                if (out && n + 1 >= cap)
                    return -1;
                if (out)
                    out[n++] = *p;
                p++;
            }
        }
        if (out)
            out[n] = 0;
    }
}
