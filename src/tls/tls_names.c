/* tls_names.c - names for errors, versions, profiles and cipher suites (logs and the census). */
#include "tls.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *tls_strerror(int err)
{
    switch (err) {
    case 0:
        return "ok";
    case TLS_E_AGAIN:
        return "needs more data from the peer";
    case TLS_E_WANT_WRITE:
        return "send queue full";
    case TLS_E_CLOSED:
        return "peer closed the TLS session (close_notify)";
    case TLS_E_NOMEM:
        return "out of memory";
    case TLS_E_INVAL:
        return "invalid argument";
    case TLS_E_INIT:
        return "TLS library initialisation failed";
    case TLS_E_CERT:
        return "cannot load the certificate chain";
    case TLS_E_KEY:
        return "cannot load the private key";
    case TLS_E_CA:
        return "cannot load the CA certificates";
    case TLS_E_DH:
        return "cannot load DH parameters";
    case TLS_E_CONFIG:
        return "TLS setting refused";
    case TLS_E_NOT_TLS:
        return "peer did not start a TLS handshake";
    case TLS_E_HELLO:
        return "malformed ClientHello";
    case TLS_E_VERSION:
        return "no TLS version in common";
    case TLS_E_NO_CIPHER:
        return "no cipher suite in common";
    case TLS_E_PEER_CERT:
        return "peer certificate missing or not trusted";
    case TLS_E_ALERT:
        return "peer sent a fatal alert";
    case TLS_E_PROTOCOL:
        return "TLS protocol error";
    case TLS_E_STATE:
        return "call not valid in this session state";
    default:
        return "unknown TLS error";
    }
}

const char *tls_version_name(uint16_t v)
{
    switch (v) {
    case 0x0300:
        return "SSL 3.0";
    case TLS_V1_0:
        return "TLS 1.0";
    case TLS_V1_1:
        return "TLS 1.1";
    case TLS_V1_2:
        return "TLS 1.2";
    case TLS_V1_3:
        return "TLS 1.3";
    default:
        return "unknown version";
    }
}

int tls_version_index(uint16_t v)
{
    switch (v) {
    case TLS_V1_0:
        return TLS_VIDX_1_0;
    case TLS_V1_1:
        return TLS_VIDX_1_1;
    case TLS_V1_2:
        return TLS_VIDX_1_2;
    case TLS_V1_3:
        return TLS_VIDX_1_3;
    default:
        return TLS_VIDX_OTHER;
    }
}

const char *tls_profile_name(enum tls_profile p)
{
    return p == TLS_PROFILE_LEGACY ? "legacy" : "modern";
}

int tls_profile_parse(const char *name, enum tls_profile *out)
{
    if (name && strcmp(name, "modern") == 0)
        *out = TLS_PROFILE_MODERN;
    else if (name && strcmp(name, "legacy") == 0)
        *out = TLS_PROFILE_LEGACY;
    else
        return TLS_E_INVAL;
    return 0;
}

const char *tls_fail_reason_name(enum tls_fail_reason r)
{
    static const char *const names[TLS_FAIL__COUNT] = {
        "not_tls", "bad_hello", "version", "no_cipher", "peer_cert", "alert", "other", "abandoned",
    };
    return (unsigned)r < TLS_FAIL__COUNT ? names[r] : "?";
}

/* The suites AMT firmware and our clients are known to offer, plus the signalling ones. */
static const struct {
    uint16_t id;
    const char *name;
} suites[] = {
    {0x1301, "TLS13-AES128-GCM-SHA256"},
    {0x1302, "TLS13-AES256-GCM-SHA384"},
    {0x1303, "TLS13-CHACHA20-POLY1305-SHA256"},
    {0xC02B, "ECDHE-ECDSA-AES128-GCM-SHA256"},
    {0xC02C, "ECDHE-ECDSA-AES256-GCM-SHA384"},
    {0xC02F, "ECDHE-RSA-AES128-GCM-SHA256"},
    {0xC030, "ECDHE-RSA-AES256-GCM-SHA384"},
    {0xCCA8, "ECDHE-RSA-CHACHA20-POLY1305"},
    {0xCCA9, "ECDHE-ECDSA-CHACHA20-POLY1305"},
    {0xCCAA, "DHE-RSA-CHACHA20-POLY1305"},
    {0x009E, "DHE-RSA-AES128-GCM-SHA256"},
    {0x009F, "DHE-RSA-AES256-GCM-SHA384"},
    {0xC009, "ECDHE-ECDSA-AES128-SHA"},
    {0xC00A, "ECDHE-ECDSA-AES256-SHA"},
    {0xC013, "ECDHE-RSA-AES128-SHA"},
    {0xC014, "ECDHE-RSA-AES256-SHA"},
    {0xC023, "ECDHE-ECDSA-AES128-SHA256"},
    {0xC024, "ECDHE-ECDSA-AES256-SHA384"},
    {0xC027, "ECDHE-RSA-AES128-SHA256"},
    {0xC028, "ECDHE-RSA-AES256-SHA384"},
    {0x0033, "DHE-RSA-AES128-SHA"},
    {0x0039, "DHE-RSA-AES256-SHA"},
    {0x0067, "DHE-RSA-AES128-SHA256"},
    {0x006B, "DHE-RSA-AES256-SHA256"},
    {0x002F, "AES128-SHA"},
    {0x0035, "AES256-SHA"},
    {0x003C, "AES128-SHA256"},
    {0x003D, "AES256-SHA256"},
    {0x009C, "AES128-GCM-SHA256"},
    {0x009D, "AES256-GCM-SHA384"},
    {0x000A, "DES-CBC3-SHA"},
    {0x0016, "EDH-RSA-DES-CBC3-SHA"},
    {0xC012, "ECDHE-RSA-DES-CBC3-SHA"},
    {0x0004, "RC4-MD5"},
    {0x0005, "RC4-SHA"},
    {0x00FF, "EMPTY-RENEGOTIATION-INFO-SCSV"},
    {0x5600, "FALLBACK-SCSV"},
};
#define N_SUITES (sizeof(suites) / sizeof(suites[0]))
_Static_assert(N_SUITES < TLS_SUITE_SLOTS, "census has a slot per named suite plus 'other'");

size_t tls_suite_count(void)
{
    return N_SUITES;
}

uint16_t tls_suite_id_at(size_t i)
{
    return i < N_SUITES ? suites[i].id : 0;
}

int tls_suite_index(uint16_t id)
{
    for (size_t i = 0; i < N_SUITES; i++)
        if (suites[i].id == id)
            return (int)i;
    return (int)N_SUITES;
}

const char *tls_suite_name(uint16_t id)
{
    if ((id & 0x0f0f) == 0x0a0a && (id >> 8) == (id & 0xff))
        return "GREASE";
    int i = tls_suite_index(id);
    return i < (int)N_SUITES ? suites[i].name : NULL;
}

/* Appends to buf at *off, never past len (snprintf semantics, always terminated). */
/* Appends (truncating) one formatted value; a string and a number version, so that the compiler
 * can check each format against its argument. */
static void advance(size_t len, size_t *off, int k)
{
    if (k > 0)
        *off += (size_t)k < len - *off ? (size_t)k : len - *off - 1;
}

__attribute__((format(printf, 4, 5))) static void put(char *buf, size_t len, size_t *off,
                                                      const char *fmt, ...)
{
    if (*off + 1 >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    advance(len, off, vsnprintf(buf + *off, len - *off, fmt, ap));
    va_end(ap);
}

size_t tls_client_hello_format(const struct tls_client_hello *ch, char *buf, size_t len)
{
    size_t off = 0;
    uint16_t lo, hi;
    if (len == 0)
        return 0;
    buf[0] = '\0';
    tls_client_hello_range(ch, &lo, &hi);
    put(buf, len, &off, "versions=%s", tls_version_name(lo));
    if (hi != lo)
        put(buf, len, &off, "-%s", tls_version_name(hi));
    put(buf, len, &off, "%s", ch->has_supported_versions ? "" : " (no supported_versions)");
    put(buf, len, &off, " suites(%u)=", (unsigned)ch->n_suites_offered);
    for (size_t i = 0; i < ch->n_suites; i++) {
        const char *name = tls_suite_name(ch->suites[i]);
        if (i)
            put(buf, len, &off, "%s", ",");
        if (name)
            put(buf, len, &off, "%s", name);
        else
            put(buf, len, &off, "0x%04x", (unsigned)ch->suites[i]);
    }
    if (ch->sni[0])
        put(buf, len, &off, " sni=%s", ch->sni);
    return off;
}
