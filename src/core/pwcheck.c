/* pwcheck.c - the parsing, bounding and argon2id verification that the device credentials file and
 * the console users file share (see pwcheck.h), written once so that a fix to the cache, the cost
 * limits or the line reader reaches both.
 */
#include "pwcheck.h"

#include "ct.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

/* --- error reporting and reading --- */

void pwcheck_err(pwcheck_report *R, const char *fmt, ...)
{
    R->nerr++;
    if (!R->errs || R->nerr > PWCHECK_MAX_ERRORS + 1)
        return;
    char body[512], *m = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (R->nerr == PWCHECK_MAX_ERRORS + 1)
        snprintf(body, sizeof body, "too many errors; stopped reporting");
    else
        vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    /* Line 0: the file as a whole (cannot open, cannot read). */
    int rc = R->line ? asprintf(&m, "%s:%u: %s", R->name, R->line, body)
                     : asprintf(&m, "%s: %s", R->name, body);
    if (rc < 0)
        return;
    char **nv = realloc(R->errs->msg, (R->errs->n + 1) * sizeof *nv);
    if (!nv) {
        free(m);
        return;
    }
    nv[R->errs->n++] = m;
    R->errs->msg = nv;
}

/* Reads a whole regular file of at most max bytes into *text (malloc'd). 0, or a negative errno
 * after reporting why. */
static int read_file(pwcheck_report *R, const char *path, size_t max, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        pwcheck_err(R, "cannot open: %s", strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max) {
        close(fd);
        pwcheck_err(R, "not a regular file of at most %zu bytes", max);
        return -EINVAL;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *buf = malloc(n + 1);
    if (!buf) {
        close(fd);
        pwcheck_err(R, "out of memory");
        return -ENOMEM;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int rerr = errno;
    close(fd);
    if (got < n) {
        free(buf);
        pwcheck_err(R, "read failed: %s", strerror(rerr));
        return -EIO;
    }
    *text = buf;
    *len = n;
    return 0;
}

/* Calls f->line for every line of text. 0, or -ENOMEM. */
static int each_line(const pwcheck_format *f, pwcheck_report *R, void *db, const char *text,
                     size_t len)
{
    char *line = malloc(PWCHECK_MAX_LINE + 1);
    if (!line) {
        pwcheck_err(R, "out of memory");
        return -ENOMEM;
    }
    size_t pos = 0;
    while (pos < len) {
        R->line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, ll = end - pos;
        if (ll && text[end - 1] == '\r')
            ll--;
        if (ll > PWCHECK_MAX_LINE)
            pwcheck_err(R, "line longer than %d bytes", PWCHECK_MAX_LINE);
        else if (memchr(text + pos, '\0', ll))
            pwcheck_err(R, "NUL byte in line");
        else {
            memcpy(line, text + pos, ll);
            line[ll] = '\0';
            f->line(R, db, line);
        }
        pos = end + 1;
    }
    /* a line may hold a hash: wipe what the last one left */
    ct_wipe(line, PWCHECK_MAX_LINE + 1);
    free(line);
    return 0;
}

int pwcheck_parse(const pwcheck_format *f, const void *opts, const char *name, const char *text,
                  size_t len, void **out, creds_errors *errs)
{
    pwcheck_report R = {.name = name, .errs = errs};
    *out = NULL;
    void *db = f->make(opts);
    if (!db) {
        pwcheck_err(&R, "out of memory");
        return -ENOMEM;
    }
    int rc = each_line(f, &R, db, text, len);
    if (rc == 0 && R.nerr)
        rc = -EINVAL;
    if (rc < 0)
        f->drop(db);
    else
        *out = db;
    return rc;
}

int pwcheck_load(const pwcheck_format *f, const void *opts, const char *path, void **out,
                 creds_errors *errs)
{
    pwcheck_report R = {.name = path, .errs = errs};
    *out = NULL;
    char *text;
    size_t len;
    int rc = read_file(&R, path, f->max_file, &text, &len);
    if (rc < 0)
        return rc;
    rc = pwcheck_parse(f, opts, path, text, len, out, errs);
    free(text);
    return rc;
}

int pwcheck_split(char *s, char **f, int max)
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == max)
            return n + 1;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

/* --- hashes --- */

bool pwcheck_params_valid(const creds_params *p)
{
    return p->t_cost >= 1 && p->t_cost <= CREDS_MAX_T_COST && p->parallelism >= 1 &&
           p->parallelism <= CREDS_MAX_PARALLELISM && p->m_cost_kib >= 8 * p->parallelism &&
           p->m_cost_kib <= CREDS_MAX_M_COST;
}

/* Base64 without padding, as the PHC format writes salts and hashes; returns the decoded length. */
static long b64_len(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return -1;
    }
    if (len % 4 == 1)
        return -1;
    return (long)(len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0));
}

static bool parse_u32(const char **p, const char *key, uint32_t *out)
{
    size_t kl = strlen(key);
    if (strncmp(*p, key, kl) != 0)
        return false;
    const char *s = *p + kl;
    uint64_t v = 0;
    if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
        return false;
    while (*s >= '0' && *s <= '9' && v <= UINT32_MAX)
        v = v * 10 + (uint64_t)(*s++ - '0');
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    *p = s;
    return true;
}

static const char *phc_check(const char *phc, char *buf, size_t buflen)
{
    static const char pre[] = "$argon2id$";
    if (strncmp(phc, pre, sizeof pre - 1) != 0)
        return "hash is not an argon2id PHC string (expected "
               "$argon2id$v=19$m=..,t=..,p=..$salt$hash)";
    const char *p = phc + sizeof pre - 1;
    uint32_t v, m, t, par;
    if (!parse_u32(&p, "v=", &v) || v != 19 || *p++ != '$')
        return "hash has an unsupported argon2 version (expected v=19)";
    if (!parse_u32(&p, "m=", &m) || *p++ != ',' || !parse_u32(&p, "t=", &t) || *p++ != ',' ||
        !parse_u32(&p, "p=", &par) || *p++ != '$')
        return "hash has malformed parameters (expected m=<KiB>,t=<passes>,p=<lanes>)";
    creds_params cp = {t, m, par};
    if (!pwcheck_params_valid(&cp)) {
        snprintf(buf, buflen,
                 "hash parameters m=%u,t=%u,p=%u are outside the accepted range "
                 "(m 8*p..%u KiB, t 1..%u, p 1..%u)",
                 m, t, par, CREDS_MAX_M_COST, CREDS_MAX_T_COST, CREDS_MAX_PARALLELISM);
        return buf;
    }
    const char *salt = p, *dollar = strchr(p, '$');
    if (!dollar)
        return "hash lacks its salt or digest part";
    long sl = b64_len(salt, (size_t)(dollar - salt));
    long hl = b64_len(dollar + 1, strlen(dollar + 1));
    if (sl < 0 || hl < 0)
        return "hash has bad base64 in its salt or digest";
    if (sl < 8)
        return "hash salt is shorter than 8 bytes";
    if (hl < 16 || hl > 64)
        return "hash digest must be 16..64 bytes";
    return NULL;
}

bool pwcheck_phc_valid(pwcheck_report *R, const char *phc)
{
    char buf[200];
    const char *why = phc_check(phc, buf, sizeof buf);
    if (why)
        pwcheck_err(R, "%s", why);
    return !why;
}

/* --- verification and the cache --- */

int pwcheck_cache_init(pwcheck_cache *c, bool off)
{
    if (getrandom(c->key, sizeof c->key, 0) != (ssize_t)sizeof c->key)
        return -EIO;
    c->off = off;
    atomic_init(&c->argon2_runs, 0);
    atomic_init(&c->cache_hits, 0);
    for (int i = 0; i < PWCHECK_STRIPES; i++)
        pthread_mutex_init(&c->stripe[i], NULL);
    return 0;
}

void pwcheck_cache_destroy(pwcheck_cache *c)
{
    for (int i = 0; i < PWCHECK_STRIPES; i++)
        pthread_mutex_destroy(&c->stripe[i]);
    ct_wipe(c->key, sizeof c->key);
}

/* HMAC-SHA256(key, tag || pw): the tag keeps two entries with one password apart. */
static int cache_digest(const pwcheck_cache *c, uint32_t tag, const void *pw, size_t pwlen,
                        uint8_t out[PWCHECK_DIGEST_LEN])
{
    Hmac h;
    uint8_t t[4] = {(uint8_t)(tag >> 24), (uint8_t)(tag >> 16), (uint8_t)(tag >> 8), (uint8_t)tag};
    int rc = wc_HmacInit(&h, NULL, INVALID_DEVID);
    if (rc == 0) {
        rc = wc_HmacSetKey(&h, WC_SHA256, c->key, sizeof c->key);
        if (rc == 0)
            rc = wc_HmacUpdate(&h, t, sizeof t);
        if (rc == 0)
            rc = wc_HmacUpdate(&h, pw, (word32)pwlen);
        if (rc == 0)
            rc = wc_HmacFinal(&h, out);
        wc_HmacFree(&h);
    }
    ct_wipe(&h, sizeof h);
    return rc;
}

pwcheck_verdict pwcheck_verify(pwcheck_cache *c, pwcheck_slot *slot, uint32_t tag, const char *phc,
                               const void *pw, size_t pwlen, bool may_argon2, bool *cached_out)
{
    if (pwlen > UINT32_MAX)
        return PWCHECK_BAD;
    uint8_t d[PWCHECK_DIGEST_LEN], have[PWCHECK_DIGEST_LEN];
    bool cache = !c->off && cache_digest(c, tag, pw, pwlen, d) == 0;
    bool cached = false;
    pthread_mutex_t *mu = &c->stripe[tag % PWCHECK_STRIPES];
    pwcheck_verdict v;
    if (cache) {
        pthread_mutex_lock(mu);
        cached = slot->cached;
        memcpy(have, slot->digest, sizeof have);
        pthread_mutex_unlock(mu);
    }
    if (cached) {
        /* The slot only ever holds the digest of the password argon2 accepted for this entry, and
         * the entry cannot change within a db: a mismatch is a wrong password, no argon2 needed. */
        atomic_fetch_add_explicit(&c->cache_hits, 1, memory_order_relaxed);
        if (cached_out)
            *cached_out = true;
        v = ct_memeq(d, have, PWCHECK_DIGEST_LEN) ? PWCHECK_OK : PWCHECK_BAD;
    } else if (!may_argon2) {
        v = PWCHECK_NEED_ARGON2;
    } else {
        atomic_fetch_add_explicit(&c->argon2_runs, 1, memory_order_relaxed);
        int rc = argon2_verify(phc, pw, pwlen, Argon2_id);
        /* Anything but a verdict (no memory, a hash libargon2 will not decode) is our failure. */
        v = rc == ARGON2_OK                ? PWCHECK_OK
            : rc == ARGON2_VERIFY_MISMATCH ? PWCHECK_BAD
                                           : PWCHECK_ERROR;
        if (v == PWCHECK_OK && cache) {
            pthread_mutex_lock(mu);
            memcpy(slot->digest, d, sizeof d);
            slot->cached = true;
            pthread_mutex_unlock(mu);
        }
    }
    ct_wipe(d, sizeof d);
    ct_wipe(have, sizeof have);
    return v;
}
