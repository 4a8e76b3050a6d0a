/* pair.c - see pair.h. */
#include "pair.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_put(struct buf *b, const uint8_t *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        cr_assert_not_null(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void buf_drop(struct buf *b, size_t n)
{
    if (n == 0)
        return; /* b->p may still be NULL */
    memmove(b->p, b->p + n, b->len - n);
    b->len -= n;
}

void buf_free(struct buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

const char *cert(const char *name)
{
    static char path[32][512]; /* a ring: several paths live at once */
    static int i;
    const char *dir = getenv("TLS_TEST_CERTS");
    cr_assert_not_null(dir, "TLS_TEST_CERTS not set");
    i = (i + 1) % 32;
    snprintf(path[i], sizeof(path[i]), "%s/%s", dir, name);
    return path[i];
}

struct tls_ctx *server_ctx(enum tls_profile p, const char *client_ca)
{
    struct tls_server_config cfg = {
        .cert_file = cert("server-chain.pem"),
        .key_file = cert("server.key"),
        .client_ca_file = client_ca,
        .profile = p,
    };
    struct tls_ctx *ctx = NULL;
    char err[256] = "";
    int r = tls_ctx_server_new(&cfg, &ctx, err, sizeof(err));
    cr_assert_eq(r, 0, "server ctx: %s", err);
    return ctx;
}

struct tls_ctx *client_ctx(uint16_t min, uint16_t max, const char *ciphers, bool with_cert)
{
    struct tls_client_config cfg = {
        .ca_file = cert("ca.pem"),
        .cert_file = with_cert ? cert("client-chain.pem") : NULL,
        .key_file = with_cert ? cert("client.key") : NULL,
        .min_version = min,
        .max_version = max,
        .cipher_list = ciphers,
        .server_name = "mps.test",
    };
    struct tls_ctx *ctx = NULL;
    char err[256] = "";
    int r = tls_ctx_client_new(&cfg, &ctx, err, sizeof(err));
    cr_assert_eq(r, 0, "client ctx: %s", err);
    return ctx;
}

static size_t on_output(void *user, const uint8_t *p, size_t n)
{
    struct end *e = user;
    if (e->refuse)
        return 0;
    if (e->accept_max && n > e->accept_max)
        n = e->accept_max;
    buf_put(&e->out, p, n);
    return n;
}

static void on_plaintext(void *user, const uint8_t *p, size_t n)
{
    buf_put(&((struct end *)user)->plain, p, n);
}

static void on_hello(void *user, const struct tls_client_hello *ch)
{
    struct end *e = user;
    e->hellos++;
    e->hello = *ch;
}

static void on_handshake(void *user, struct tls_conn *c)
{
    (void)c;
    ((struct end *)user)->handshakes++;
}

static void end_init(struct end *e, struct tls_ctx *ctx, bool cb)
{
    memset(e, 0, sizeof(*e));
    struct tls_conn_io io = {
        .output = on_output,
        .plaintext = cb ? on_plaintext : NULL,
        .hello = on_hello,
        .handshake = on_handshake,
        .user = e,
    };
    e->c = tls_conn_new(ctx, &io);
    cr_assert_not_null(e->c);
}

void pair_init(struct pair *pr, struct tls_ctx *sctx, struct tls_ctx *cctx, bool plaintext_cb)
{
    end_init(&pr->s, sctx, plaintext_cb);
    end_init(&pr->c, cctx, plaintext_cb);
}

static void end_free(struct end *e)
{
    tls_conn_free(e->c);
    buf_free(&e->out);
    buf_free(&e->plain);
}

void pair_free(struct pair *pr)
{
    end_free(&pr->s);
    end_free(&pr->c);
}

int pair_flush(struct end *from, struct end *to, size_t chunk)
{
    int r = 0;
    size_t off = 0;
    while (off < from->out.len && r >= 0) {
        size_t k = from->out.len - off;
        if (chunk && k > chunk)
            k = chunk;
        r = tls_conn_feed(to->c, from->out.p + off, k);
        off += k;
    }
    buf_drop(&from->out, off);
    return r;
}

int pair_handshake(struct pair *pr, size_t chunk)
{
    int rc = tls_conn_handshake(pr->c.c);
    if (rc < 0 && rc != TLS_E_AGAIN)
        return rc;
    for (int i = 0; i < 50; i++) {
        if (tls_conn_handshake_done(pr->s.c) && tls_conn_handshake_done(pr->c.c) &&
            pr->s.out.len == 0 && pr->c.out.len == 0)
            return 0;
        if (pr->c.out.len == 0 && pr->s.out.len == 0)
            return TLS_E_AGAIN; /* stuck */
        int r = pair_flush(&pr->c, &pr->s, chunk);
        int r2 = pair_flush(&pr->s, &pr->c, chunk);
        if (r < 0 && r != TLS_E_AGAIN) {
            pair_flush(&pr->s, &pr->c, 0); /* let the client see the server's alert */
            return r;
        }
        if (r2 < 0 && r2 != TLS_E_AGAIN)
            return r2;
    }
    return TLS_E_AGAIN;
}
