/* tls_verdict.c - why a handshake failed, in words an operator can act on, and who the peer is.
 *
 * wolfSSL reports "VERSION_ERROR"; the operator needs "client offered at most TLS 1.1; profile
 * modern requires >= TLS 1.2". The ClientHello parsed before wolfSSL saw it supplies the words.
 */
#include "tls_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/error-ssl.h>
#include <wolfssl/wolfcrypt/asn.h>
#include <wolfssl/wolfcrypt/error-crypt.h>
#include <wolfssl/wolfcrypt/sha256.h>

int tls_conn_fail(struct tls_conn *c, int code, enum tls_fail_reason why, const char *fmt, ...)
{
    if (c->state == ST_FAILED)
        return c->err;
    bool in_handshake = c->state == ST_HELLO || c->state == ST_HANDSHAKE;
    c->state = ST_FAILED;
    c->err = code;
    if (in_handshake)
        census_inc(c->ctx->census->failed[why]);
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    free(c->error);
    c->error = strdup(buf); /* NULL on OOM: tls_conn_error falls back to tls_strerror */
    return code;
}

static const char *alert_name(int code)
{
    switch (code) {
    case 0:
        return "close_notify";
    case 10:
        return "unexpected_message";
    case 20:
        return "bad_record_mac";
    case 40:
        return "handshake_failure";
    case 42:
        return "bad_certificate";
    case 43:
        return "unsupported_certificate";
    case 44:
        return "certificate_revoked";
    case 45:
        return "certificate_expired";
    case 46:
        return "certificate_unknown";
    case 47:
        return "illegal_parameter";
    case 48:
        return "unknown_ca";
    case 50:
        return "decode_error";
    case 51:
        return "decrypt_error";
    case 70:
        return "protocol_version";
    case 71:
        return "insufficient_security";
    case 80:
        return "internal_error";
    case 86:
        return "inappropriate_fallback";
    case 109:
        return "missing_extension";
    case 112:
        return "unrecognized_name";
    case 116:
        return "certificate_required";
    default:
        return "unknown alert";
    }
}

static bool is_cert_error(int e)
{
    switch (e) {
    case NO_PEER_CERT:
    case NO_PEER_VERIFY:
    case VERIFY_CERT_ERROR:
    case ASN_NO_SIGNER_E:
    case ASN_AFTER_DATE_E:
    case ASN_BEFORE_DATE_E:
    case ASN_SIG_CONFIRM_E:
    case ASN_PATHLEN_INV_E:
    case ASN_SELF_SIGNED_E:
        return true;
    default:
        return false;
    }
}

/* "TLS 1.1", "TLS 1.0-TLS 1.1" or "at most TLS 1.1 (no supported_versions)". */
static void offered(const struct tls_client_hello *ch, char *buf, size_t len)
{
    uint16_t lo, hi;
    tls_client_hello_range(ch, &lo, &hi);
    if (!ch->has_supported_versions)
        snprintf(buf, len, "at most %s (legacy_version, no supported_versions)",
                 tls_version_name(hi));
    else if (lo == hi)
        snprintf(buf, len, "only %s", tls_version_name(hi));
    else
        snprintf(buf, len, "%s-%s", tls_version_name(lo), tls_version_name(hi));
}

static int fail_version(struct tls_conn *c, int e)
{
    const char *prof = tls_profile_name(c->ctx->profile);
    if (c->ctx->server && c->hello) {
        uint16_t lo, hi;
        char what[96];
        tls_client_hello_range(c->hello, &lo, &hi);
        offered(c->hello, what, sizeof(what));
        uint16_t floor = c->ctx->profile == TLS_PROFILE_LEGACY ? TLS_V1_0 : TLS_V1_2;
        if (hi < floor)
            return tls_conn_fail(c, TLS_E_VERSION, TLS_FAIL_VERSION,
                                 "client offered %s; profile %s requires >= %s", what, prof,
                                 tls_version_name(floor));
        return tls_conn_fail(c, TLS_E_VERSION, TLS_FAIL_VERSION,
                             "no TLS version in common: client offered %s; profile %s", what, prof);
    }
    return tls_conn_fail(c, TLS_E_VERSION, TLS_FAIL_VERSION,
                         "server chose a TLS version this client does not allow (wolfSSL %d)", e);
}

static int fail_cipher(struct tls_conn *c)
{
    if (c->ctx->server && c->hello) {
        char list[400];
        tls_client_hello_format(c->hello, list, sizeof(list));
        return tls_conn_fail(c, TLS_E_NO_CIPHER, TLS_FAIL_NO_CIPHER,
                             "no cipher suite in common with profile %s: client %s",
                             tls_profile_name(c->ctx->profile), list);
    }
    return tls_conn_fail(c, TLS_E_NO_CIPHER, TLS_FAIL_NO_CIPHER,
                         "no cipher suite in common with the server");
}

int tls_conn_fail_wolf(struct tls_conn *c, int e)
{
    char why[80];
    wolfSSL_ERR_error_string_n((unsigned long)e, why, sizeof(why));
    if (e == VERSION_ERROR)
        return fail_version(c, e);
    if (e == MATCH_SUITE_ERROR)
        return fail_cipher(c);
    if (e == FATAL_ERROR) {
        WOLFSSL_ALERT_HISTORY h;
        memset(&h, 0, sizeof(h));
        wolfSSL_get_alert_history(c->ssl, &h);
        return tls_conn_fail(c, TLS_E_ALERT, TLS_FAIL_ALERT, "peer sent fatal alert %s (%d)",
                             alert_name(h.last_rx.code), h.last_rx.code);
    }
    if (e == NO_PEER_CERT)
        return tls_conn_fail(c, TLS_E_PEER_CERT, TLS_FAIL_PEER_CERT,
                             "peer sent no certificate; mutual TLS requires one");
    if (is_cert_error(e))
        return tls_conn_fail(c, TLS_E_PEER_CERT, TLS_FAIL_PEER_CERT,
                             "peer certificate refused: %s (wolfSSL %d)", why, e);
    if (e == SOCKET_PEER_CLOSED_E || e == ZERO_RETURN)
        return tls_conn_fail(c, TLS_E_CLOSED, TLS_FAIL_OTHER, "peer closed during the handshake");
    return tls_conn_fail(c, TLS_E_PROTOCOL, TLS_FAIL_OTHER, "TLS failure: %s (wolfSSL %d)", why, e);
}

/* ---- peer certificate ------------------------------------------------------------------------
 * This wolfSSL has neither OPENSSL_EXTRA nor KEEP_PEER_CERT/SESSION_CERTS, so the peer chain is
 * not kept and the verify callback gets no pointer back to its session. A certificate-manager
 * verify callback does run for every certificate of the chain, synchronously inside
 * wolfSSL_accept/connect on the thread that drives the session; a thread-local names that
 * session for the duration of the call. (KEEP_PEER_CERT would cost every session a WOLFSSL_X509.)
 */
static _Thread_local struct tls_conn *current;

void tls_verdict_set_current(struct tls_conn *c)
{
    current = c;
}

/* For logs only: wolfSSL's rendering, truncated, bytes outside printable ASCII made '?'. */
static void render_subject(const struct DecodedCert *dc, char *out, size_t cap)
{
    size_t n = strnlen(dc->subject, sizeof(dc->subject));
    n = n < cap - 1 ? n : cap - 1; /* long names: truncate */
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)dc->subject[i];
        out[i] = ch >= 0x20 && ch <= 0x7e ? (char)ch : '?';
    }
    out[n] = '\0';
}

/* The leaf, decoded once: fingerprint, subject for logs, identity fields (tls_ident.c). Any
 * earlier record of this session is replaced whole; a failure leaves no identity. */
static void record_peer(struct tls_conn *c, const uint8_t *der, unsigned len)
{
    struct tls_peer *p = c->peer ? c->peer : calloc(1, sizeof(*p));
    struct DecodedCert *dc = malloc(sizeof(*dc)); /* a few KiB: not on a worker's stack */
    if (!p || !dc) { /* keep nothing stale: no peer rather than another certificate's */
        free(p);
        free(dc);
        c->peer = NULL;
        return;
    }
    c->peer = p;
    memset(p, 0, sizeof(*p));
    wc_Sha256Hash(der, len, p->sha256);
    tls_cert_identity(der, len, &p->id); /* on failure p->id stays all zero: no identity */
    wc_InitDecodedCert(dc, der, len, NULL);
    if (wc_ParseCert(dc, CERT_TYPE, NO_VERIFY, NULL) == 0)
        render_subject(dc, p->subject, sizeof(p->subject));
    wc_FreeDecodedCert(dc);
    free(dc);
}

int tls_verdict_verify_hook(int preverify, WOLFSSL_X509_STORE_CTX *store)
{
    struct tls_conn *c = current;
    if (!c)
        return preverify;
    if (store->error_depth == 0 && store->certs && store->totalCerts > 0)
        record_peer(c, store->certs[0].buffer, store->certs[0].length);
    /* This hook runs even when no verification was asked (a client without a CA file):
     * then it must not turn "unverified" into a failure. */
    return c->ctx->verify_peer ? preverify : 1;
}
