/* Session ticket keys held by mpsd (src/tls/tls_tickets.c): shared across contexts and
 * instances through a key file, rotation with a previous key, refused key files. */
#include "pair.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HOUR 3600000ull
#define T0   (1700000000000ull / HOUR * HOUR + 1000) /* a Unix time just past an epoch start */

static char dir[64];

static void setup(void)
{
    cr_assert_eq(tls_global_init(), 0);
    snprintf(dir, sizeof(dir), "/tmp/mpsd-tickets-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    (void)system(cmd);
}

TestSuite(tls_tickets, .init = setup, .fini = teardown);

/* Writes n bytes (random unless fill >= 0) to dir/name with the given mode. */
static const char *key_file(const char *name, size_t n, int fill, mode_t mode)
{
    static char path[4][128];
    static int k;
    char *p = path[k++ % 4];
    snprintf(p, 128, "%s/%s", dir, name);
    uint8_t buf[256];
    cr_assert_leq(n, sizeof(buf));
    FILE *u = fopen("/dev/urandom", "rb");
    cr_assert_eq(fread(buf, 1, n, u), n);
    fclose(u);
    if (fill >= 0)
        memset(buf, fill, n);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    cr_assert_eq(write(fd, buf, n), (ssize_t)n);
    close(fd);
    cr_assert_eq(chmod(p, mode), 0);
    return p;
}

static struct tls_tickets *tickets(const char *file, uint64_t now)
{
    struct tls_tickets *tk = NULL;
    char err[256] = "";
    int r = tls_tickets_new(HOUR, file, now, &tk, err, sizeof(err));
    cr_assert_eq(r, 0, "tls_tickets_new: %s", err);
    return tk;
}

static struct tls_ctx *server_with(struct tls_tickets *tk)
{
    struct tls_server_config cfg = {
        .cert_file = cert("server-chain.pem"),
        .key_file = cert("server.key"),
        .profile = TLS_PROFILE_MODERN,
        .tickets = tk,
    };
    struct tls_ctx *ctx = NULL;
    char err[256] = "";
    cr_assert_eq(tls_ctx_server_new(&cfg, &ctx, err, sizeof(err)), 0, "server ctx: %s", err);
    return ctx;
}

/* Full handshake with s; returns the client's session (its ticket). */
static void *first_session(struct tls_ctx *s, struct tls_ctx *c)
{
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(pair_handshake(&pr, 0), 0);
    struct tls_conn_info si;
    tls_conn_info(pr.s.c, &si);
    cr_assert_not(si.resumed);
    void *sess = tls_conn_get_session(pr.c.c);
    cr_assert_not_null(sess);
    pair_free(&pr);
    return sess;
}

/* A second connection to s offering sess: the handshake must succeed either way; returns whether
 * the server resumed it. */
static bool resumes(struct tls_ctx *s, struct tls_ctx *c, void *sess)
{
    struct pair pr;
    pair_init(&pr, s, c, true);
    cr_assert_eq(tls_conn_set_session(pr.c.c, sess), 0);
    int hr = pair_handshake(&pr, 0);
    cr_assert_eq(hr, 0, "%s / client %s", tls_conn_error(pr.s.c), tls_conn_error(pr.c.c));
    struct tls_conn_info si, ci;
    tls_conn_info(pr.s.c, &si);
    tls_conn_info(pr.c.c, &ci);
    cr_assert_eq(si.resumed, ci.resumed);
    cr_assert_eq(tls_conn_write(pr.c.c, (const uint8_t *)"ping", 4), 4);
    cr_assert_eq(pair_flush(&pr.c, &pr.s, 0), 0);
    cr_assert_eq(pr.s.plain.len, 4);
    pair_free(&pr);
    return si.resumed;
}

static void across_instances(uint16_t max)
{
    const char *f = key_file("shared.key", TLS_TICKET_FILE_SZ, -1, 0600);
    /* two instances: their own key objects and contexts, one file; the second starts later in
     * the same epoch (a restart, another host behind the same name) */
    struct tls_tickets *tk1 = tickets(f, T0), *tk2 = tickets(f, T0 + 600000);
    char id1[TLS_TICKET_ID_LEN], id2[TLS_TICKET_ID_LEN];
    tls_tickets_key_id(tk1, id1);
    tls_tickets_key_id(tk2, id2);
    cr_assert_str_eq(id1, id2);
    cr_assert(tls_tickets_from_file(tk1));
    struct tls_ctx *a = server_with(tk1), *b = server_with(tk2);
    struct tls_ctx *c = client_ctx(0, max, NULL, false);
    void *sess = first_session(a, c);
    cr_assert(resumes(b, c, sess), "instance B did not resume instance A's ticket");
    struct tls_ticket_stats st;
    tls_tickets_stats(tk1, &st);
    cr_assert_geq(st.issued, 1);
    tls_tickets_stats(tk2, &st);
    cr_assert_eq(st.resumed, 1);
    cr_assert_eq(st.unknown_key + st.bad, 0);

    /* control: an instance with random keys cannot open it (and says so in its counters); TLS
     * 1.3 only (a refused TLS 1.2 ticket fails the handshake in wolfSSL 5.5.4, docs/tls.md) */
    struct tls_tickets *tk3 = tickets(NULL, T0);
    struct tls_ctx *other = server_with(tk3);
    if (max != TLS_V1_2) {
        cr_assert_not(resumes(other, c, sess));
        tls_tickets_stats(tk3, &st);
        cr_assert_geq(st.unknown_key, 1); /* wolfSSL tries the identity once per suite */
    }

    tls_session_free(sess);
    tls_ctx_unref(a);
    tls_ctx_unref(b);
    tls_ctx_unref(other);
    tls_ctx_unref(c);
    tls_tickets_unref(tk1);
    tls_tickets_unref(tk2);
    tls_tickets_unref(tk3);
}

Test(tls_tickets, key_file_shared_by_two_instances_tls13)
{
    across_instances(0);
}

Test(tls_tickets, key_file_shared_by_two_instances_tls12)
{
    across_instances(TLS_V1_2);
}

/* A ticket sealed under the current key resumes after one rotation (previous key, renewed) and no
 * longer after a second one. TLS 1.2 only on the accepting side: wolfSSL 5.5.4 cannot fall back
 * from a TLS 1.2 ticket it refuses (docs/tls.md), so the last step runs for TLS 1.3. */
static void rotation(const char *file, uint16_t max)
{
    struct tls_tickets *tk = tickets(file, T0);
    struct tls_ctx *s = server_with(tk), *c = client_ctx(0, max, NULL, false);
    char id0[TLS_TICKET_ID_LEN], id1[TLS_TICKET_ID_LEN];
    tls_tickets_key_id(tk, id0);
    void *sess = first_session(s, c);
    cr_assert(resumes(s, c, sess), "no resumption before any rotation");

    cr_assert_not(tls_tickets_rotate(tk, T0 + HOUR / 2), "rotated before it was due");
    cr_assert(tls_tickets_rotate(tk, T0 + HOUR), "not rotated after rotation_ms");
    tls_tickets_key_id(tk, id1);
    cr_assert_str_neq(id0, id1);
    struct tls_ticket_stats st;
    tls_tickets_stats(tk, &st);
    uint64_t issued = st.issued;
    cr_assert(resumes(s, c, sess), "previous key's ticket did not resume after one rotation");
    tls_tickets_stats(tk, &st);
    cr_assert_eq(st.renewed, 1);
    /* TLS 1.3 issues a fresh ticket (under the current key) after every handshake; wolfSSL
     * 5.5.4 does not act on RET_CREATE in a resumed TLS 1.2 handshake (docs/tls.md) */
    if (max != TLS_V1_2)
        cr_assert_gt(st.issued, issued, "the ticket was not renewed under the current key");

    cr_assert(tls_tickets_rotate(tk, T0 + 2 * HOUR));
    if (max == TLS_V1_2) {
        char fresh[TLS_TICKET_ID_LEN];
        tls_tickets_key_id(tk, fresh);
        cr_assert_str_neq(fresh, id0);
        goto out;
    }
    cr_assert_not(resumes(s, c, sess), "a ticket two rotations old still resumed");
    tls_tickets_stats(tk, &st);
    cr_assert_geq(st.unknown_key, 1);
out:
    tls_session_free(sess);
    tls_ctx_unref(s);
    tls_ctx_unref(c);
    tls_tickets_unref(tk);
}

Test(tls_tickets, previous_key_resumes_once_random_keys)
{
    rotation(NULL, 0);
}

Test(tls_tickets, previous_key_resumes_once_key_file)
{
    rotation(key_file("rot.key", TLS_TICKET_FILE_SZ, -1, 0600), 0);
}

Test(tls_tickets, previous_key_resumes_once_tls12)
{
    rotation(NULL, TLS_V1_2);
}

/* Keys survive a context reload (a new context with the same tickets object), and a reload of
 * the key file with new contents keeps the old keys' tickets usable until the next rotation. */
Test(tls_tickets, reload_keeps_tickets)
{
    const char *f = key_file("reload.key", TLS_TICKET_FILE_SZ, -1, 0600);
    struct tls_tickets *tk = tickets(f, T0);
    struct tls_ctx *s = server_with(tk), *c = client_ctx(0, 0, NULL, false);
    void *sess = first_session(s, c);
    struct tls_ctx *s2 = server_with(tk); /* SIGHUP's new context */
    cr_assert(resumes(s2, c, sess));
    char err[256] = "", id0[TLS_TICKET_ID_LEN], id1[TLS_TICKET_ID_LEN];
    tls_tickets_key_id(tk, id0);
    cr_assert_eq(tls_tickets_load(tk, f, T0 + 1000, err, sizeof(err)), 0, "%s", err);
    tls_tickets_key_id(tk, id1);
    cr_assert_str_eq(id0, id1, "an unchanged file changed the keys");
    key_file("reload.key", TLS_TICKET_FILE_SZ, -1, 0600); /* the operator replaced it */
    cr_assert_eq(tls_tickets_load(tk, f, T0 + 2000, err, sizeof(err)), 0, "%s", err);
    tls_tickets_key_id(tk, id1);
    cr_assert_str_neq(id0, id1);
    cr_assert(resumes(s2, c, sess), "old file's ticket did not resume right after the change");
    tls_session_free(sess);
    tls_ctx_unref(s);
    tls_ctx_unref(s2);
    tls_ctx_unref(c);
    tls_tickets_unref(tk);
}

static void refused(const char *file, const char *want)
{
    struct tls_tickets *tk = NULL;
    char err[256] = "";
    int r = tls_tickets_new(HOUR, file, T0, &tk, err, sizeof(err));
    cr_assert_eq(r, TLS_E_KEY, "'%s' was accepted (%d)", file, r);
    cr_assert_null(tk);
    cr_assert(strstr(err, want), "error '%s' lacks '%s'", err, want);
    cr_assert(strstr(err, "ticket_key_file"), "error '%s' does not name the setting", err);
}

Test(tls_tickets, bad_key_file_refused)
{
    refused(key_file("short.key", 79, -1, 0600), "79 bytes; it must hold exactly 80");
    refused(key_file("long.key", 81, -1, 0600), "more than 80 bytes");
    refused(key_file("zero.key", 80, 0, 0600), "not random");
    refused(key_file("empty.key", 0, -1, 0600), "0 bytes");
    char missing[128];
    snprintf(missing, sizeof(missing), "%s/missing.key", dir);
    refused(missing, "cannot open: No such file");
    refused(dir, "not a regular file");
    /* a SIGHUP with a bad file keeps the running keys */
    struct tls_tickets *tk = tickets(key_file("good.key", 80, -1, 0600), T0);
    char id0[TLS_TICKET_ID_LEN], id1[TLS_TICKET_ID_LEN], err[256];
    tls_tickets_key_id(tk, id0);
    cr_assert_eq(tls_tickets_load(tk, key_file("bad.key", 12, -1, 0600), T0, err, sizeof(err)),
                 TLS_E_KEY);
    tls_tickets_key_id(tk, id1);
    cr_assert_str_eq(id0, id1);
    tls_tickets_unref(tk);
}

Test(tls_tickets, readable_key_file_refused)
{
    refused(key_file("world.key", 80, -1, 0644), "mode 0644 lets group or others read");
    refused(key_file("group.key", 80, -1, 0640), "mode 0640");
    refused(key_file("gw.key", 80, -1, 0620), "chmod 600");
    struct tls_tickets *tk = tickets(key_file("owner.key", 80, -1, 0400), T0);
    tls_tickets_unref(tk);
}
