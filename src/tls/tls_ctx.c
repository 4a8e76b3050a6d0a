/* tls_ctx.c - wolfSSL contexts: profiles, certificates, DH, resumption, reload.
 *
 * A context is immutable once built. Reload builds a new one from the files and hands it out;
 * sessions hold a reference to the context they started with, so old sessions keep their
 * certificates and ticket keys until they end, and a failed reload changes nothing.
 */
#include "tls_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <wolfssl/wolfcrypt/dh.h>

/* Server preference (apf.md 7.4): ECDHE-GCM > DHE-GCM (> ECDHE-CBC > DHE-CBC > static RSA in
 * legacy). AES-256 first: AMT 22 drops AES-128 and AES-NI makes the difference negligible. */
#define SUITES_TLS13                                                                               \
    "TLS13-AES256-GCM-SHA384:TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256"
#define SUITES_MODERN                                                                              \
    SUITES_TLS13 ":ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"                      \
                 ":ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"                      \
                 ":ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"                      \
                 ":DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305"
/* What AMT <= 11 needs: CBC with ECDHE/DHE, and static RSA (AMT 10 works with AES128-SHA /
 * AES256-SHA only; AMT 11/12 servers need AES128-GCM-SHA256 - apf.md 7.3). */
#define SUITES_LEGACY                                                                              \
    SUITES_MODERN ":ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:ECDHE-ECDSA-AES128-SHA"            \
                  ":ECDHE-RSA-AES128-SHA:ECDHE-RSA-AES256-SHA384:ECDHE-RSA-AES128-SHA256"          \
                  ":DHE-RSA-AES256-SHA:DHE-RSA-AES128-SHA:DHE-RSA-AES256-SHA256"                   \
                  ":DHE-RSA-AES128-SHA256:AES256-GCM-SHA384:AES128-GCM-SHA256:AES256-SHA256"       \
                  ":AES128-SHA256:AES256-SHA:AES128-SHA"

#define DH_MIN_BITS 2048

int tls_global_init(void)
{
    return wolfSSL_Init() == WOLFSSL_SUCCESS ? 0 : TLS_E_INIT;
}

void tls_global_cleanup(void)
{
    wolfSSL_Cleanup();
}

int tls_errf(char *err, size_t errlen, int code, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Checks readability first: "cannot open: No such file" beats wolfSSL's generic BAD_FILE. */
static int check_file(const char *what, const char *path, int code, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return tls_errf(err, errlen, code, "%s '%s': cannot open: %s", what, path, strerror(errno));
    fclose(f);
    return 0;
}

static int wolf_fail(char *err, size_t errlen, int code, const char *what, const char *path,
                     const char *why, int wret)
{
    char buf[80];
    if (wret >= 0) /* plain WOLFSSL_FAILURE: no more detail to give */
        return tls_errf(err, errlen, code, "%s '%s': %s", what, path, why);
    wolfSSL_ERR_error_string_n((unsigned long)wret, buf, sizeof(buf));
    return tls_errf(err, errlen, code, "%s '%s': %s (wolfSSL %d: %s)", what, path, why, wret, buf);
}

static struct tls_ctx *ctx_alloc(bool server)
{
    struct tls_ctx *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return NULL;
    WOLFSSL_METHOD *m = server ? wolfSSLv23_server_method() : wolfSSLv23_client_method();
    ctx->wctx = m ? wolfSSL_CTX_new(m) : NULL;
    if (!ctx->wctx) {
        free(ctx);
        return NULL;
    }
    atomic_init(&ctx->refs, 1);
    ctx->server = server;
    return ctx;
}

static void ctx_destroy(struct tls_ctx *ctx)
{
    if (ctx->wctx)
        wolfSSL_CTX_free(ctx->wctx);
    if (ctx->census)
        tls_census_unref(ctx->census);
    free(ctx->server_name);
    tls_tickets_unref(ctx->tickets);
    free(ctx);
}

static int load_chain_and_key(WOLFSSL_CTX *w, const char *cert, const char *key, char *err,
                              size_t errlen)
{
    int r;
    if ((r = check_file("certificate", cert, TLS_E_CERT, err, errlen)) != 0)
        return r;
    if ((r = check_file("key", key, TLS_E_KEY, err, errlen)) != 0)
        return r;
    r = wolfSSL_CTX_use_certificate_chain_file(w, cert);
    if (r != WOLFSSL_SUCCESS)
        return wolf_fail(err, errlen, TLS_E_CERT, "certificate", cert, "not a PEM chain", r);
    r = wolfSSL_CTX_use_PrivateKey_file(w, key, WOLFSSL_FILETYPE_PEM);
    if (r != WOLFSSL_SUCCESS)
        return wolf_fail(err, errlen, TLS_E_KEY, "key", key, "not a PEM private key", r);
    if (wolfSSL_CTX_check_private_key(w) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_KEY, "key '%s' does not match the certificate in '%s'",
                        key, cert);
    return 0;
}

static int load_ca(WOLFSSL_CTX *w, const char *what, const char *ca, char *err, size_t errlen)
{
    int r = check_file(what, ca, TLS_E_CA, err, errlen);
    if (r != 0)
        return r;
    r = wolfSSL_CTX_load_verify_locations(w, ca, NULL);
    if (r != WOLFSSL_SUCCESS)
        return wolf_fail(err, errlen, TLS_E_CA, what, ca, "no usable PEM certificate", r);
    return 0;
}

static int load_dh(WOLFSSL_CTX *w, const char *file, char *err, size_t errlen)
{
    /* Set the floor first so that a weak file is refused by the load itself. */
    if (wolfSSL_CTX_SetMinDhKey_Sz(w, DH_MIN_BITS) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_DH, "cannot set the DH minimum of %d bits", DH_MIN_BITS);
    if (!file) {
        /* RFC 7919 ffdhe2048: a well-known safe group; AMT clients cannot negotiate FFDHE
         * groups, so without explicit params wolfSSL would offer no DHE suites at all. */
        const DhParams *d = wc_Dh_ffdhe2048_Get();
        if (!d ||
            wolfSSL_CTX_SetTmpDH(w, d->p, (int)d->p_len, d->g, (int)d->g_len) != WOLFSSL_SUCCESS)
            return tls_errf(err, errlen, TLS_E_DH, "cannot install the built-in ffdhe2048 group");
        return 0;
    }
    int r = check_file("DH parameters", file, TLS_E_DH, err, errlen);
    if (r != 0)
        return r;
    r = wolfSSL_CTX_SetTmpDH_file(w, file, WOLFSSL_FILETYPE_PEM);
    if (r != WOLFSSL_SUCCESS)
        return wolf_fail(err, errlen, TLS_E_DH, "DH parameters", file,
                         "not PEM DH parameters of at least 2048 bits", r);
    return 0;
}

static int server_setup(struct tls_ctx *ctx, const void *vcfg, char *err, size_t errlen)
{
    const struct tls_server_config *cfg = vcfg;
    WOLFSSL_CTX *w = ctx->wctx;
    int r;
    if (!cfg->cert_file || !cfg->key_file)
        return tls_errf(err, errlen, TLS_E_INVAL, "server TLS needs a certificate and a key file");
    if (cfg->profile != TLS_PROFILE_MODERN && cfg->profile != TLS_PROFILE_LEGACY)
        return tls_errf(err, errlen, TLS_E_INVAL, "unknown TLS profile %d", (int)cfg->profile);
    ctx->profile = cfg->profile;
    bool legacy = cfg->profile == TLS_PROFILE_LEGACY;
#if !defined(WOLFSSL_ALLOW_TLSV10) || !defined(WOLFSSL_STATIC_RSA)
    /* a wolfSSL without TLS 1.0 or static RSA (Debian's binary, -Dallow_slow_wolfssl) */
    if (legacy)
        return tls_errf(err, errlen, TLS_E_CONFIG,
                        "tls_profile legacy needs a wolfSSL with TLS 1.0 and static RSA (this one "
                        "lacks them: build it with tools/setup.sh)");
#endif
    if (wolfSSL_CTX_SetMinVersion(w, legacy ? WOLFSSL_TLSV1 : WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_CONFIG, "wolfSSL refused the minimum version");
    if (wolfSSL_CTX_set_cipher_list(w, legacy ? SUITES_LEGACY : SUITES_MODERN) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_CONFIG,
                        "wolfSSL refused the %s cipher list (built without static RSA or TLS 1.0?)",
                        tls_profile_name(cfg->profile));
    if ((r = load_chain_and_key(w, cfg->cert_file, cfg->key_file, err, errlen)) != 0)
        return r;
    if ((r = load_dh(w, cfg->dh_file, err, errlen)) != 0)
        return r;
    if (cfg->client_ca_file) {
        if ((r = load_ca(w, "client CA", cfg->client_ca_file, err, errlen)) != 0)
            return r;
        wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
        ctx->verify_peer = true;
    } else {
        wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_NONE, NULL);
    }
    /* Resumption by tickets only: with cfg->tickets under mpsd's keys (tls_tickets.c), else
     * wolfSSL's built-in callback with random keys per context. The session cache of 5.5.4 is one
     * global table behind one global mutex: keep it off the handshake path of a multi-threaded
     * server. */
    wolfSSL_CTX_set_session_cache_mode(w, WOLFSSL_SESS_CACHE_OFF);
    if (cfg->tickets) {
        ctx->tickets = tls_tickets_ref(cfg->tickets);
        if (tls_tickets_install(ctx->tickets, w) != 0)
            return tls_errf(err, errlen, TLS_E_CONFIG,
                            "wolfSSL refused the session ticket callback");
    }
    return 0;
}

static int client_setup(struct tls_ctx *ctx, const void *vcfg, char *err, size_t errlen);

/* Builds a context of either role: setup() applies the role's configuration. */
static int ctx_build(bool server, const void *cfg,
                     int (*setup)(struct tls_ctx *, const void *, char *, size_t),
                     struct tls_ctx **out, char *err, size_t errlen)
{
    if (!cfg || !out)
        return tls_errf(err, errlen, TLS_E_INVAL, "no configuration");
    struct tls_ctx *ctx = ctx_alloc(server);
    if (!ctx)
        return tls_errf(err, errlen, TLS_E_NOMEM, "cannot create a wolfSSL context");
    ctx->census = tls_census_new();
    int r = ctx->census ? setup(ctx, cfg, err, errlen)
                        : tls_errf(err, errlen, TLS_E_NOMEM, "out of memory");
    if (r != 0) {
        ctx_destroy(ctx);
        return r;
    }
    /* One send per handshake flight instead of one per message. */
    wolfSSL_CTX_set_group_messages(ctx->wctx);
    tls_conn_install_hooks(ctx->wctx);
    *out = ctx;
    return 0;
}

int tls_ctx_server_new(const struct tls_server_config *cfg, struct tls_ctx **out, char *err,
                       size_t errlen)
{
    return ctx_build(true, cfg, server_setup, out, err, errlen);
}

/* wolfSSL (without OPENSSL_EXTRA) cannot cap the maximum of a version range: a range must end at
 * TLS 1.3 (downgrading method); an older maximum means exactly that version. */
static int client_method(struct tls_ctx *ctx, uint16_t lo, uint16_t hi, char *err, size_t errlen)
{
    WOLFSSL_METHOD *m = NULL;
    if (hi == TLS_V1_3) {
        static const int wolf_min[] = {WOLFSSL_TLSV1, WOLFSSL_TLSV1_1, WOLFSSL_TLSV1_2,
                                       WOLFSSL_TLSV1_3};
        if (lo < TLS_V1_0 || lo > TLS_V1_3 ||
            wolfSSL_CTX_SetMinVersion(ctx->wctx, wolf_min[lo - TLS_V1_0]) != WOLFSSL_SUCCESS)
            return tls_errf(err, errlen, TLS_E_CONFIG, "bad minimum version 0x%04x", lo);
        return 0;
    }
    if (lo != hi)
        return tls_errf(err, errlen, TLS_E_CONFIG,
                        "a client version range must end at TLS 1.3 (asked %s..%s)",
                        tls_version_name(lo), tls_version_name(hi));
    switch (hi) {
#ifdef WOLFSSL_ALLOW_TLSV10
    case TLS_V1_0:
        m = wolfTLSv1_client_method();
        break;
#endif
    case TLS_V1_1:
        m = wolfTLSv1_1_client_method();
        break;
    case TLS_V1_2:
        m = wolfTLSv1_2_client_method();
        break;
    default:
        return tls_errf(err, errlen, TLS_E_CONFIG, "bad maximum version 0x%04x", hi);
    }
    WOLFSSL_CTX *w = m ? wolfSSL_CTX_new(m) : NULL;
    if (!w)
        return tls_errf(err, errlen, TLS_E_NOMEM, "cannot create a wolfSSL context");
    wolfSSL_CTX_free(ctx->wctx);
    ctx->wctx = w;
    return 0;
}

static int client_setup(struct tls_ctx *ctx, const void *vcfg, char *err, size_t errlen)
{
    const struct tls_client_config *cfg = vcfg;
    uint16_t lo = cfg->min_version ? cfg->min_version : TLS_V1_2;
    uint16_t hi = cfg->max_version ? cfg->max_version : TLS_V1_3;
    int r = client_method(ctx, lo, hi, err, errlen);
    if (r != 0)
        return r;
    WOLFSSL_CTX *w = ctx->wctx;
    if (cfg->cipher_list && wolfSSL_CTX_set_cipher_list(w, cfg->cipher_list) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_CONFIG, "wolfSSL refused the cipher list '%s'",
                        cfg->cipher_list);
    if (cfg->ca_file) {
        if ((r = load_ca(w, "CA", cfg->ca_file, err, errlen)) != 0)
            return r;
        wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_PEER, NULL);
        ctx->verify_peer = true;
    } else {
        wolfSSL_CTX_set_verify(w, WOLFSSL_VERIFY_NONE, NULL);
    }
    if (cfg->cert_file || cfg->key_file) {
        if (!cfg->cert_file || !cfg->key_file)
            return tls_errf(err, errlen, TLS_E_INVAL,
                            "a client certificate needs both cert and key");
        if ((r = load_chain_and_key(w, cfg->cert_file, cfg->key_file, err, errlen)) != 0)
            return r;
    }
    if (wolfSSL_CTX_UseSessionTicket(w) != WOLFSSL_SUCCESS)
        return tls_errf(err, errlen, TLS_E_CONFIG, "wolfSSL refused session tickets");
    if (cfg->server_name && !(ctx->server_name = strdup(cfg->server_name)))
        return tls_errf(err, errlen, TLS_E_NOMEM, "out of memory");
    return 0;
}

int tls_ctx_client_new(const struct tls_client_config *cfg, struct tls_ctx **out, char *err,
                       size_t errlen)
{
    return ctx_build(false, cfg, client_setup, out, err, errlen);
}

int tls_ctx_reload(struct tls_ctx *old, const struct tls_server_config *cfg, struct tls_ctx **out,
                   char *err, size_t errlen)
{
    if (!old || !old->server)
        return tls_errf(err, errlen, TLS_E_INVAL, "reload needs a server context");
    struct tls_ctx *ctx = NULL;
    int r = tls_ctx_server_new(cfg, &ctx, err, errlen);
    if (r != 0)
        return r;
    /* Continue the old context's counters: the census describes the listener, not a file set. */
    tls_census_unref(ctx->census);
    ctx->census = old->census;
    atomic_fetch_add(&ctx->census->refs, 1);
    *out = ctx;
    return 0;
}

struct tls_ctx *tls_ctx_ref(struct tls_ctx *ctx)
{
    atomic_fetch_add_explicit(&ctx->refs, 1, memory_order_relaxed);
    return ctx;
}

void tls_ctx_unref(struct tls_ctx *ctx)
{
    if (ctx && atomic_fetch_sub_explicit(&ctx->refs, 1, memory_order_acq_rel) == 1)
        ctx_destroy(ctx);
}

enum tls_profile tls_ctx_profile(const struct tls_ctx *ctx)
{
    return ctx->profile;
}

/* ---- slot ---------------------------------------------------------------------------------- */
struct tls_ctx_slot {
    pthread_mutex_t lock; /* guards cur against a concurrent swap; held for a pointer copy */
    struct tls_ctx *cur;
};

int tls_ctx_slot_new(const struct tls_server_config *cfg, struct tls_ctx_slot **out, char *err,
                     size_t errlen)
{
    struct tls_ctx_slot *s = calloc(1, sizeof(*s));
    if (!s)
        return tls_errf(err, errlen, TLS_E_NOMEM, "out of memory");
    int r = tls_ctx_server_new(cfg, &s->cur, err, errlen);
    if (r != 0) {
        free(s);
        return r;
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return 0;
}

struct tls_ctx *tls_ctx_slot_get(struct tls_ctx_slot *s)
{
    pthread_mutex_lock(&s->lock);
    struct tls_ctx *ctx = tls_ctx_ref(s->cur);
    pthread_mutex_unlock(&s->lock);
    return ctx;
}

int tls_ctx_slot_reload(struct tls_ctx_slot *s, const struct tls_server_config *cfg, char *err,
                        size_t errlen)
{
    struct tls_ctx *old = tls_ctx_slot_get(s), *fresh = NULL;
    int r = tls_ctx_reload(old, cfg, &fresh, err, errlen); /* slow part outside the lock */
    if (r == 0) {
        pthread_mutex_lock(&s->lock);
        struct tls_ctx *prev = s->cur;
        s->cur = fresh;
        pthread_mutex_unlock(&s->lock);
        tls_ctx_unref(prev);
    }
    tls_ctx_unref(old);
    return r;
}

void tls_ctx_slot_free(struct tls_ctx_slot *s)
{
    if (!s)
        return;
    tls_ctx_unref(s->cur);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
