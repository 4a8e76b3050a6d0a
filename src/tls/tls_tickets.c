/* tls_tickets.c - session ticket keys held by mpsd rather than by each wolfSSL context.
 *
 * Without this, wolfSSL's built-in ticket callback makes random keys per WOLFSSL_CTX: a reload
 * (a new context), a restart or another instance behind the same name cannot open the tickets a
 * context issued. Here one struct tls_tickets serves every context that names it in
 * tls_server_config.tickets, and the caller rotates it on its own clock.
 *
 * Tickets are sealed with ChaCha20-Poly1305 (wolfCrypt's one-shot AEAD: no per-key state, so
 * any number of threads use a key at once); the AAD is key name || IV || length, as in wolfSSL's
 * own callback. A key is 16 bytes of name (sent in the clear in every ticket) and 32 of AEAD key.
 *
 * Keys: cur (seals new tickets), prev (the one before the last rotation: still opens, and the
 * ticket is renewed under cur), next (file mode: tolerates a peer instance whose clock crossed
 * the epoch boundary first), and retired (the cur before a load that changed the keys, until the
 * next rotation). Two modes:
 * - random (no key file): cur is random; a rotation moves it to prev and draws a new one, once
 *   rotation_ms has passed on the caller's clock;
 * - file: the file's 80 random bytes are a secret from which the key of each epoch
 *   (now / rotation_ms of Unix time) is derived with HKDF-SHA256, so every instance that shares
 *   the file and roughly the time holds the same keys, across restarts, without talking.
 *
 * Threads: one mutex, held for a key lookup (a 48-byte copy) or a swap; the cryptography runs
 * outside it on a stack copy that is wiped afterwards. Secrets are never logged: only the first
 * 4 bytes of the current key's (public) name, as a key id.
 */
#include "tls_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define NAME_SZ WOLFSSL_TICKET_NAME_SZ
#define KEY_SZ  CHACHA20_POLY1305_AEAD_KEYSIZE
#define TAG_SZ  CHACHA20_POLY1305_AEAD_AUTHTAG_SIZE

enum { K_CUR, K_PREV, K_NEXT, K_RETIRED, K__COUNT };

struct tk_key {
    uint8_t name[NAME_SZ];
    uint8_t key[KEY_SZ];
    bool set;
};

struct tls_tickets {
    pthread_mutex_t lock; /* guards keys, secret, epoch, since_ms, from_file */
    atomic_int refs;
    uint64_t rotation_ms;
    bool from_file;
    uint8_t secret[TLS_TICKET_FILE_SZ]; /* file mode */
    int64_t epoch;                      /* file mode: the epoch of keys[K_CUR] */
    uint64_t since_ms;                  /* random mode: when keys[K_CUR] was drawn */
    struct tk_key keys[K__COUNT];
    atomic_uint_fast64_t issued, resumed, renewed, unknown, bad;
};

static void wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

static int random_bytes(void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t k = getrandom(b, n, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        b += k;
        n -= (size_t)k;
    }
    return 0;
}

static int random_key(struct tk_key *k)
{
    k->set = random_bytes(k->name, NAME_SZ) == 0 && random_bytes(k->key, KEY_SZ) == 0;
    return k->set ? 0 : -1;
}

/* The key of one epoch: HKDF-SHA256(secret, salt, info = label || epoch || rotation_ms). The
 * rotation is part of the info: instances configured differently simply do not share keys. */
static int derive_key(const uint8_t *secret, int64_t epoch, uint64_t rotation_ms, struct tk_key *k)
{
    static const uint8_t salt[] = "mpsd session ticket key v1";
    uint8_t info[5 + 16], out[NAME_SZ + KEY_SZ];
    memcpy(info, "epoch", 5);
    for (int i = 0; i < 8; i++) {
        info[5 + i] = (uint8_t)((uint64_t)epoch >> (56 - 8 * i));
        info[13 + i] = (uint8_t)(rotation_ms >> (56 - 8 * i));
    }
    int r = wc_HKDF(WC_SHA256, secret, TLS_TICKET_FILE_SZ, salt, sizeof(salt) - 1, info,
                    sizeof(info), out, sizeof(out));
    memcpy(k->name, out, NAME_SZ);
    memcpy(k->key, out + NAME_SZ, KEY_SZ);
    wipe(out, sizeof(out));
    k->set = r == 0;
    return r == 0 ? 0 : -1;
}

static int64_t epoch_of(uint64_t rotation_ms, uint64_t now_ms)
{
    return rotation_ms ? (int64_t)(now_ms / rotation_ms) : 0;
}

static int derive_epoch(const uint8_t *secret, uint64_t rotation_ms, int64_t e,
                        struct tk_key out[K__COUNT])
{
    memset(out, 0, sizeof(struct tk_key) * K__COUNT);
    int r = derive_key(secret, e, rotation_ms, &out[K_CUR]);
    if (r == 0 && rotation_ms) {
        r = derive_key(secret, e - 1, rotation_ms, &out[K_PREV]);
        if (r == 0)
            r = derive_key(secret, e + 1, rotation_ms, &out[K_NEXT]);
    }
    return r;
}

/* Reads and checks a key file: a regular file of exactly TLS_TICKET_FILE_SZ bytes that neither
 * group nor others may read or write. */
static int read_key_file(const char *path, uint8_t out[TLS_TICKET_FILE_SZ], char *err,
                         size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return tls_errf(err, errlen, TLS_E_KEY, "ticket_key_file '%s': cannot open: %s", path,
                        strerror(errno));
    struct stat st;
    int r = 0;
    uint8_t buf[TLS_TICKET_FILE_SZ + 1];
    ssize_t n = 0;
    if (fstat(fd, &st) != 0) {
        r = tls_errf(err, errlen, TLS_E_KEY, "ticket_key_file '%s': cannot stat: %s", path,
                     strerror(errno));
    } else if (!S_ISREG(st.st_mode)) {
        r = tls_errf(err, errlen, TLS_E_KEY, "ticket_key_file '%s': not a regular file", path);
    } else if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        r = tls_errf(err, errlen, TLS_E_KEY,
                     "ticket_key_file '%s': mode %04o lets group or others read or write it "
                     "(chmod 600 it)",
                     path, (unsigned)(st.st_mode & 07777));
    } else {
        size_t got = 0;
        while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                break;
            got += (size_t)n;
        }
        if (n < 0)
            r = tls_errf(err, errlen, TLS_E_KEY, "ticket_key_file '%s': cannot read: %s", path,
                         strerror(errno));
        else if (got != TLS_TICKET_FILE_SZ)
            r = tls_errf(err, errlen, TLS_E_KEY,
                         "ticket_key_file '%s': %s%zu bytes; it must hold exactly %d random bytes "
                         "(head -c %d /dev/urandom > FILE)",
                         path, got > TLS_TICKET_FILE_SZ ? "more than " : "",
                         got > TLS_TICKET_FILE_SZ ? (size_t)TLS_TICKET_FILE_SZ : got,
                         TLS_TICKET_FILE_SZ, TLS_TICKET_FILE_SZ);
    }
    close(fd);
    if (r == 0) {
        size_t same = 1;
        for (size_t i = 1; i < TLS_TICKET_FILE_SZ; i++)
            same += buf[i] == buf[0];
        if (same == TLS_TICKET_FILE_SZ)
            r = tls_errf(err, errlen, TLS_E_KEY,
                         "ticket_key_file '%s': every byte is the same: not random bytes", path);
        else
            memcpy(out, buf, TLS_TICKET_FILE_SZ);
    }
    wipe(buf, sizeof(buf));
    return r;
}

int tls_tickets_new(uint64_t rotation_ms, const char *key_file, uint64_t now_ms,
                    struct tls_tickets **out, char *err, size_t errlen)
{
    struct tls_tickets *tk = calloc(1, sizeof(*tk));
    if (!tk)
        return tls_errf(err, errlen, TLS_E_NOMEM, "out of memory");
    pthread_mutex_init(&tk->lock, NULL);
    atomic_init(&tk->refs, 1);
    tk->rotation_ms = rotation_ms;
    int r = tls_tickets_load(tk, key_file, now_ms, err, errlen);
    if (r != 0) {
        tls_tickets_unref(tk);
        return r;
    }
    *out = tk;
    return 0;
}

int tls_tickets_load(struct tls_tickets *tk, const char *key_file, uint64_t now_ms, char *err,
                     size_t errlen)
{
    struct tk_key fresh[K__COUNT];
    uint8_t secret[TLS_TICKET_FILE_SZ];
    bool file = key_file && *key_file;
    int r = 0;
    memset(fresh, 0, sizeof(fresh));
    if (file) {
        if ((r = read_key_file(key_file, secret, err, errlen)) != 0)
            return r;
        pthread_mutex_lock(&tk->lock);
        bool same = tk->from_file && memcmp(secret, tk->secret, sizeof(secret)) == 0;
        pthread_mutex_unlock(&tk->lock);
        if (same) { /* a reload of an unchanged file keeps the keys (and the retired one) */
            wipe(secret, sizeof(secret));
            return 0;
        }
        if (derive_epoch(secret, tk->rotation_ms, epoch_of(tk->rotation_ms, now_ms), fresh) != 0)
            r = tls_errf(err, errlen, TLS_E_INIT, "ticket_key_file '%s': key derivation failed",
                         key_file);
    } else {
        pthread_mutex_lock(&tk->lock);
        bool keep = !tk->from_file && tk->keys[K_CUR].set;
        pthread_mutex_unlock(&tk->lock);
        if (keep) /* random keys stay random keys: nothing to reload */
            return 0;
        if (random_key(&fresh[K_CUR]) != 0)
            r = tls_errf(err, errlen, TLS_E_INIT, "no randomness for a ticket key: %s",
                         strerror(errno));
    }
    if (r == 0) {
        pthread_mutex_lock(&tk->lock);
        fresh[K_RETIRED] = tk->keys[K_CUR]; /* tickets of the keys in use until now still open */
        memcpy(tk->keys, fresh, sizeof(fresh));
        tk->from_file = file;
        if (file)
            memcpy(tk->secret, secret, sizeof(secret));
        else
            wipe(tk->secret, sizeof(tk->secret));
        tk->epoch = epoch_of(tk->rotation_ms, now_ms);
        tk->since_ms = now_ms;
        pthread_mutex_unlock(&tk->lock);
    }
    wipe(secret, sizeof(secret));
    wipe(fresh, sizeof(fresh));
    return r;
}

bool tls_tickets_rotate(struct tls_tickets *tk, uint64_t now_ms)
{
    struct tk_key fresh[K__COUNT];
    uint8_t secret[TLS_TICKET_FILE_SZ];
    bool changed = false;
    if (!tk->rotation_ms)
        return false;
    pthread_mutex_lock(&tk->lock);
    bool file = tk->from_file;
    int64_t e = epoch_of(tk->rotation_ms, now_ms), cur_epoch = tk->epoch;
    uint64_t since = tk->since_ms;
    memcpy(secret, tk->secret, sizeof(secret));
    struct tk_key old_cur = tk->keys[K_CUR];
    pthread_mutex_unlock(&tk->lock);
    if (file) {
        changed = e != cur_epoch && derive_epoch(secret, tk->rotation_ms, e, fresh) == 0;
    } else if (now_ms < since || now_ms - since >= tk->rotation_ms) { /* due, or clock went back */
        memset(fresh, 0, sizeof(fresh));
        fresh[K_PREV] = old_cur;
        changed = random_key(&fresh[K_CUR]) == 0;
    }
    if (changed) {
        pthread_mutex_lock(&tk->lock);
        memcpy(tk->keys, fresh, sizeof(fresh));
        tk->epoch = e;
        tk->since_ms = now_ms;
        pthread_mutex_unlock(&tk->lock);
    }
    wipe(secret, sizeof(secret));
    wipe(fresh, sizeof(fresh));
    wipe(&old_cur, sizeof(old_cur));
    return changed;
}

void tls_tickets_key_id(struct tls_tickets *tk, char out[TLS_TICKET_ID_LEN])
{
    pthread_mutex_lock(&tk->lock);
    const uint8_t *n = tk->keys[K_CUR].name;
    snprintf(out, TLS_TICKET_ID_LEN, "%02x%02x%02x%02x", n[0], n[1], n[2], n[3]);
    pthread_mutex_unlock(&tk->lock);
}

bool tls_tickets_from_file(struct tls_tickets *tk)
{
    pthread_mutex_lock(&tk->lock);
    bool f = tk->from_file;
    pthread_mutex_unlock(&tk->lock);
    return f;
}

void tls_tickets_stats(const struct tls_tickets *tk, struct tls_ticket_stats *out)
{
    out->issued = atomic_load_explicit(&tk->issued, memory_order_relaxed);
    out->resumed = atomic_load_explicit(&tk->resumed, memory_order_relaxed);
    out->renewed = atomic_load_explicit(&tk->renewed, memory_order_relaxed);
    out->unknown_key = atomic_load_explicit(&tk->unknown, memory_order_relaxed);
    out->bad = atomic_load_explicit(&tk->bad, memory_order_relaxed);
}

struct tls_tickets *tls_tickets_ref(struct tls_tickets *tk)
{
    atomic_fetch_add_explicit(&tk->refs, 1, memory_order_relaxed);
    return tk;
}

void tls_tickets_unref(struct tls_tickets *tk)
{
    if (!tk || atomic_fetch_sub_explicit(&tk->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_destroy(&tk->lock);
    wipe(tk, sizeof(*tk));
    free(tk);
}

/* ---- the wolfSSL callback ------------------------------------------------------------------ */

static void make_aad(uint8_t aad[NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2], const uint8_t *name,
                     const uint8_t *iv, int len)
{
    memcpy(aad, name, NAME_SZ);
    memcpy(aad + NAME_SZ, iv, WOLFSSL_TICKET_IV_SZ);
    aad[NAME_SZ + WOLFSSL_TICKET_IV_SZ] = (uint8_t)(len >> 8);
    aad[NAME_SZ + WOLFSSL_TICKET_IV_SZ + 1] = (uint8_t)len;
}

/* wolfSSL's SessionTicketEncCb. enc: fill key_name, iv and mac, seal ticket[0..inLen) in place.
 * Decrypt: open it in place; OK for the current key, CREATE (resume and issue a new ticket under
 * the current key) for the others, REJECT (a full handshake, not an error) for an unknown key or
 * a ticket that does not authenticate. The MAC field is 32 bytes: the Poly1305 tag, then zeros. */
static int ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                     unsigned char iv[WOLFSSL_TICKET_IV_SZ],
                     unsigned char mac[WOLFSSL_TICKET_MAC_SZ], int enc, unsigned char *ticket,
                     int inLen, int *outLen, void *userCtx)
{
    (void)ssl;
    struct tls_tickets *tk = userCtx;
    uint8_t key[KEY_SZ], aad[NAME_SZ + WOLFSSL_TICKET_IV_SZ + 2];
    int which = -1, ret;
    if (!tk || inLen < 0 || inLen > 0xffff)
        return WOLFSSL_TICKET_RET_REJECT;
    pthread_mutex_lock(&tk->lock);
    if (enc) {
        if (tk->keys[K_CUR].set) {
            which = K_CUR;
            memcpy(key_name, tk->keys[K_CUR].name, NAME_SZ);
        }
    } else {
        for (int i = 0; i < K__COUNT && which < 0; i++)
            if (tk->keys[i].set && memcmp(tk->keys[i].name, key_name, NAME_SZ) == 0)
                which = i;
    }
    if (which >= 0)
        memcpy(key, tk->keys[which].key, KEY_SZ);
    pthread_mutex_unlock(&tk->lock);
    if (which < 0) {
        if (enc)
            return WOLFSSL_TICKET_RET_FATAL; /* cannot happen: a key is always set */
        atomic_fetch_add_explicit(&tk->unknown, 1, memory_order_relaxed);
        return WOLFSSL_TICKET_RET_REJECT;
    }
    if (enc) {
        ret = WOLFSSL_TICKET_RET_FATAL;
        if (random_bytes(iv, WOLFSSL_TICKET_IV_SZ) == 0) {
            make_aad(aad, key_name, iv, inLen);
            memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
            if (wc_ChaCha20Poly1305_Encrypt(key, iv, aad, sizeof(aad), ticket, (word32)inLen,
                                            ticket, mac) == 0) {
                *outLen = inLen;
                ret = WOLFSSL_TICKET_RET_OK;
                atomic_fetch_add_explicit(&tk->issued, 1, memory_order_relaxed);
            }
        }
    } else {
        static const uint8_t zeros[WOLFSSL_TICKET_MAC_SZ - TAG_SZ];
        ret = WOLFSSL_TICKET_RET_REJECT;
        make_aad(aad, key_name, iv, inLen);
        if (memcmp(mac + TAG_SZ, zeros, sizeof(zeros)) == 0 &&
            wc_ChaCha20Poly1305_Decrypt(key, iv, aad, sizeof(aad), ticket, (word32)inLen, mac,
                                        ticket) == 0) {
            *outLen = inLen;
            ret = which == K_CUR ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
            atomic_fetch_add_explicit(which == K_CUR ? &tk->resumed : &tk->renewed, 1,
                                      memory_order_relaxed);
        } else {
            atomic_fetch_add_explicit(&tk->bad, 1, memory_order_relaxed);
        }
    }
    wipe(key, sizeof(key));
    return ret;
}

int tls_tickets_install(struct tls_tickets *tk, WOLFSSL_CTX *w)
{
    /* A ticket is worth keeping between one and two rotations (prev still opens it); without
     * rotation, a day. TLS 1.3 caps a ticket's lifetime at 7 days. */
    uint64_t life_s = tk->rotation_ms ? tk->rotation_ms / 1000 : 86400;
    if (life_s < 60)
        life_s = 60;
    if (life_s > 604800)
        life_s = 604800;
    if (wolfSSL_CTX_set_TicketEncCb(w, ticket_cb) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_TicketEncCtx(w, tk) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_TicketHint(w, (int)life_s) != WOLFSSL_SUCCESS ||
        wolfSSL_CTX_set_timeout(w, (unsigned)life_s) != WOLFSSL_SUCCESS)
        return -1;
    return 0;
}
