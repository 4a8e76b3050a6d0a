/* tls_census.c - per-context handshake counters: what clients offer, what they get, why they fail.
 * Shared by a context and those reloaded from it, so a reload does not reset the figures. */
#include "tls_internal.h"

#include <stdlib.h>

struct tls_census_atomic *tls_census_new(void)
{
    struct tls_census_atomic *c = calloc(1, sizeof(*c)); /* all-zero is a valid atomic state */
    if (c)
        atomic_init(&c->refs, 1);
    return c;
}

void tls_census_unref(struct tls_census_atomic *c)
{
    if (c && atomic_fetch_sub_explicit(&c->refs, 1, memory_order_acq_rel) == 1)
        free(c);
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void tls_ctx_census(const struct tls_ctx *ctx, struct tls_census *out)
{
    struct tls_census_atomic *c = ctx->census;
    out->started = LOAD(c->started);
    out->ok = LOAD(c->ok);
    out->resumed = LOAD(c->resumed);
    for (size_t i = 0; i < TLS_FAIL__COUNT; i++)
        out->failed[i] = LOAD(c->failed[i]);
    for (size_t i = 0; i < TLS_VIDX__COUNT; i++) {
        out->version[i] = LOAD(c->version[i]);
        out->offered_max[i] = LOAD(c->offered_max[i]);
    }
    for (size_t i = 0; i < TLS_SUITE_SLOTS; i++)
        out->suite[i] = LOAD(c->suite[i]);
    for (size_t i = 0; i < TLS_GIDX__COUNT; i++)
        out->group[i] = LOAD(c->group[i]);
    out->hello_retry = LOAD(c->hello_retry);
}

const char *tls_group_label(int gidx)
{
    static const char *const names[TLS_GIDX__COUNT] = {"x25519",    "secp256r1", "secp384r1",
                                                       "secp521r1", "ffdhe",     "none"};
    return gidx >= 0 && gidx < TLS_GIDX__COUNT ? names[gidx] : "none";
}
