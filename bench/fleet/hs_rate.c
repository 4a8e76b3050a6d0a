/* bench/fleet/hs_rate.c - the bare wolfSSL handshake rate of one server certificate, any key
 * type (RSA or ECDSA), for bench/fleet/run.py's connect-storm ratio.
 *
 *   fleet_hs_rate CERT KEY [seconds] [tls12|tls13|any] [CA]
 *
 * Reuses bench/tls/bench.c's in-memory client/server pair and handshake driver (included, its main
 * renamed): one thread plays both ends, no sockets. Its own client
 * context offers what amtsim offers by default (TLS 1.2..1.3, wolfSSL's default suites and key
 * share), so the handshake is the one mpsd does in the storm. run.py starts one of these per CPU
 * at once and sums the rates: the bare rate on the same cores. Prints one JSON object. */
#define main bench_tls_main
int bench_tls_main(int argc, char **argv);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../tls/bench.c"
#pragma GCC diagnostic pop
#undef main

static WOLFSSL_CTX *fleet_client_ctx(const char *version, const char *ca)
{
    WOLFSSL_METHOD *m = !strcmp(version, "tls12")   ? wolfTLSv1_2_client_method()
                        : !strcmp(version, "tls13") ? wolfTLSv1_3_client_method()
                                                    : wolfSSLv23_client_method();
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(m);
    if (!ctx)
        die("client context");
    if (ca) {
        if (wolfSSL_CTX_load_verify_locations(ctx, ca, NULL) != WOLFSSL_SUCCESS)
            die("CA file");
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_PEER, NULL);
    } else {
        wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    }
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    return ctx;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s CERT KEY [seconds] [tls12|tls13|any] [CA]\n", argv[0]);
        return 2;
    }
    double secs = argc > 3 ? atof(argv[3]) : 2.0;
    const char *version = argc > 4 ? argv[4] : "any";
    if (wolfSSL_Init() != WOLFSSL_SUCCESS)
        die("wolfSSL_Init");
    WOLFSSL_CTX *s = server_ctx(argv[1], argv[2]),
                *c = fleet_client_ctx(version, argc > 5 ? argv[5] : NULL);
    static struct pair p;
    long n = 0;
    double t0 = now(), t;
    char negotiated[32] = "";
    do {
        pair_new(&p, s, c);
        handshake(&p);
        if (!n)
            snprintf(negotiated, sizeof(negotiated), "%s", wolfSSL_get_version(p.s));
        wolfSSL_free(p.s);
        wolfSSL_free(p.c);
        n++;
        t = now() - t0;
    } while (t < secs);
    printf("{\"handshakes\": %ld, \"seconds\": %.3f, \"handshakes_per_s\": %.1f, "
           "\"version\": \"%s\", \"verify\": %s, \"wolfssl_version\": \"%s\"}\n",
           n, t, (double)n / t, negotiated, argc > 5 ? "true" : "false", wolfSSL_lib_version());
    wolfSSL_CTX_free(s);
    wolfSSL_CTX_free(c);
    wolfSSL_Cleanup();
    return 0;
}
