/*
 * digest.h - HTTP digest authentication (RFC 7616/2617, MD5, qop=auth) as an AMT device checks
 * it, shared by the WS-MAN responder (http.c) and the redirection port's digest method (sol.c).
 *
 * Nonces are stateless: 8 hex digits of a per-device sequence number followed by 24 hex digits of
 * MD5(key || device index || sequence), so a device with 10k siblings keeps no nonce table, and a
 * nonce one device issued is refused by every other. The key is per process (opts.c draws it).
 * The nonce count is not tracked (no replay detection): a simulator, not a security boundary.
 */
#ifndef AMTSIM_DIGEST_H
#define AMTSIM_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_KEY_LEN   16
#define DIGEST_NONCE_LEN 32 /* hex digits, without the NUL */
#define DIGEST_REALM_MAX 48 /* "Digest:" + 32 hex digits + NUL fits */

/* What a device needs to challenge and check. */
struct digest_ctx {
    const char *user, *password;
    char realm[DIGEST_REALM_MAX];
    const uint8_t *key; /* DIGEST_KEY_LEN bytes */
    uint32_t index;     /* the device: part of every nonce's MAC */
    uint32_t *seq;      /* the device's nonce sequence (advanced by digest_nonce) */
};

/* MD5 of p[0..n) as 32 lower-case hex digits and a NUL. */
void digest_md5_hex(const void *p, size_t n, char out[33]);

/* "Digest:" followed by the UUID's 32 hex digits upper-case, as AMT's realms look. */
void digest_realm(const char *uuid, char out[DIGEST_REALM_MAX]);

/* A fresh nonce (DIGEST_NONCE_LEN hex digits + NUL). */
void digest_nonce(const struct digest_ctx *c, char out[DIGEST_NONCE_LEN + 1]);
/* Whether nonce (len bytes) is one this device issued. */
bool digest_nonce_ok(const struct digest_ctx *c, const char *nonce, size_t len);

/* The RFC 2617 qop=auth response: MD5(HA1:nonce:nc:cnonce:qop:HA2), HA1 = MD5(user:realm:pw),
 * HA2 = MD5(method:uri); 32 lower-case hex digits + NUL. Fields longer than 1 KiB together give
 * an empty string (never a match). */
void digest_response(const char *user, const char *realm, const char *password, const char *method,
                     const char *uri, const char *nonce, const char *nc, const char *cnonce,
                     const char *qop, char out[33]);

/* The fields a client sent (NUL-terminated, bounded copies). */
struct digest_fields {
    char user[257], realm[DIGEST_REALM_MAX + 16], nonce[80], uri[1025], cnonce[257], nc[16],
        qop[16], response[40], algorithm[16];
};

/* Checks a client's answer for method: username, realm, a nonce we issued, qop auth, an nc of 1..8
 * hex digits, a cnonce, algorithm absent or MD5, and the response. uri must already have been
 * matched against the request by the caller. */
bool digest_check(const struct digest_ctx *c, const struct digest_fields *f, const char *method);

/* Parses the parameters of an "Authorization: Digest k=v, k="v"" header value (len bytes).
 * Returns 0, or -1 for another scheme, a malformed list or an over-long field. */
int digest_parse_header(const char *v, size_t len, struct digest_fields *f);

#endif
