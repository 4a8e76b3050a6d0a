/* creds.c - the credentials file, argon2id checks and the verified-credential cache.
 *
 * The file is parsed whole into an immutable db: devices in an open-addressing index by raw GUID,
 * groups in a short array scanned in full on each group check (constant time over the set). The
 * only state that changes after load is the per-entry cache slot (under one of CACHE_STRIPES
 * mutexes) and the counters (atomics), so concurrent checks need no other locking.
 */
#include "creds.h"

#include "ct.h"
#include "directory.h"

#include <argon2.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

#define CACHE_STRIPES 64
#define DIGEST_LEN    32         /* HMAC-SHA256 */
#define MAX_FILE      (64 << 20) /* a 100k-device file is ~15 MB */
#define MAX_LINE      4096
#define MAX_ERRORS    1000 /* beyond this the file is hopeless; say so once */

typedef struct centry {
    guid id; /* devices only */
    uint8_t user[CREDS_USER_MAX];
    size_t ulen;
    char *phc;
    char *name; /* groups only */
    unsigned line;
    /* cache slot: guarded by the stripe mutex for this entry */
    bool cached;
    uint8_t digest[DIGEST_LEN];
} centry;

typedef struct vec {
    centry *v;
    size_t n, cap;
} vec;

struct creds_db {
    atomic_uint refs;
    creds_opts opts;
    vec dev, grp;
    uint32_t *index; /* device slot + 1, 0 = empty; power-of-two size, at most half full */
    size_t icap;
    uint8_t key[32]; /* per-db HMAC key: a reload starts an empty cache under a new key */
    pthread_mutex_t stripe[CACHE_STRIPES];
    atomic_uint_fast64_t argon2_runs, cache_hits, ok, unknown_device, bad_username, bad_password,
        errors;
};

/* --- names and hashes --- */

bool creds_username_valid(const char *s, size_t len)
{
    if (len == 0 || len > CREDS_USER_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == '@' || c == '$' || c == '#')
            return false;
    }
    return true;
}

bool creds_group_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > CREDS_GROUP_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool params_valid(const creds_params *p)
{
    return p->t_cost >= 1 && p->t_cost <= CREDS_MAX_T_COST && p->parallelism >= 1 &&
           p->parallelism <= CREDS_MAX_PARALLELISM && p->m_cost_kib >= 8 * p->parallelism &&
           p->m_cost_kib <= CREDS_MAX_M_COST;
}

int creds_hash(const void *pw, size_t pwlen, const creds_params *p, char *out, size_t outlen)
{
    static const creds_params def = {CREDS_DEFAULT_T_COST, CREDS_DEFAULT_M_COST,
                                     CREDS_DEFAULT_PARALLELISM};
    if (!p)
        p = &def;
    if (!params_valid(p) || pwlen > UINT32_MAX)
        return -EINVAL;
    uint8_t salt[16];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return -EIO;
    int rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, pw, pwlen, salt,
                                   sizeof salt, DIGEST_LEN, out, outlen);
    ct_wipe(salt, sizeof salt);
    return rc == ARGON2_OK ? 0 : rc == ARGON2_ENCODING_FAIL ? -EINVAL : -EIO;
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

/* Checks a PHC string the way libargon2 will decode it, plus our cost limits. NULL when fine, else
 * the complaint (with the parameter values in buf). */
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
    if (!params_valid(&cp)) {
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

/* --- error list --- */

void creds_errors_free(creds_errors *e)
{
    if (!e)
        return;
    for (size_t i = 0; i < e->n; i++)
        free(e->msg[i]);
    free(e->msg);
    e->msg = NULL;
    e->n = 0;
}

typedef struct parser {
    const char *name;
    unsigned line;
    size_t nerr;
    creds_errors *errs;
    creds_db *db;
} parser;

__attribute__((format(printf, 2, 3))) static void perr(parser *P, const char *fmt, ...)
{
    P->nerr++;
    if (!P->errs || P->nerr > MAX_ERRORS + 1)
        return;
    char body[512], *m = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (P->nerr == MAX_ERRORS + 1)
        snprintf(body, sizeof body, "too many errors; stopped reporting");
    else
        vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    /* Line 0: the file as a whole (cannot open, cannot read). */
    int rc = P->line ? asprintf(&m, "%s:%u: %s", P->name, P->line, body)
                     : asprintf(&m, "%s: %s", P->name, body);
    if (rc < 0)
        return;
    char **nv = realloc(P->errs->msg, (P->errs->n + 1) * sizeof *nv);
    if (!nv) {
        free(m);
        return;
    }
    nv[P->errs->n++] = m;
    P->errs->msg = nv;
}

/* --- the db --- */

static uint64_t guid_hash(const guid *g)
{
    uint64_t a, b;
    memcpy(&a, g->b, 8);
    memcpy(&b, g->b + 8, 8);
    uint64_t k = (a ^ (b * 0x9e3779b97f4a7c15ULL)) * 0xff51afd7ed558ccdULL;
    return k ^ (k >> 29);
}

static centry *dev_find(const creds_db *db, const guid *g)
{
    if (!db->icap)
        return NULL;
    for (size_t i = guid_hash(g) & (db->icap - 1);; i = (i + 1) & (db->icap - 1)) {
        uint32_t s = db->index[i];
        if (!s)
            return NULL;
        if (guid_eq(&db->dev.v[s - 1].id, g))
            return &db->dev.v[s - 1];
    }
}

static int index_grow(creds_db *db)
{
    size_t ncap = db->icap ? db->icap * 2 : 64;
    uint32_t *ni = calloc(ncap, sizeof *ni);
    if (!ni)
        return -ENOMEM;
    for (size_t k = 0; k < db->dev.n; k++) {
        size_t i = guid_hash(&db->dev.v[k].id) & (ncap - 1);
        while (ni[i])
            i = (i + 1) & (ncap - 1);
        ni[i] = (uint32_t)k + 1;
    }
    free(db->index);
    db->index = ni;
    db->icap = ncap;
    return 0;
}

static centry *vec_push(vec *v)
{
    if (v->n == v->cap) {
        size_t ncap = v->cap ? v->cap * 2 : 16;
        centry *nv = realloc(v->v, ncap * sizeof *nv);
        if (!nv)
            return NULL;
        v->v = nv;
        v->cap = ncap;
    }
    centry *e = &v->v[v->n++];
    memset(e, 0, sizeof *e);
    return e;
}

static void entry_free(centry *e)
{
    if (e->phc)
        ct_wipe(e->phc, strlen(e->phc));
    free(e->phc);
    free(e->name);
    ct_wipe(e, sizeof *e);
}

static void db_free(creds_db *db)
{
    for (size_t i = 0; i < db->dev.n; i++)
        entry_free(&db->dev.v[i]);
    for (size_t i = 0; i < db->grp.n; i++)
        entry_free(&db->grp.v[i]);
    free(db->dev.v);
    free(db->grp.v);
    free(db->index);
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_destroy(&db->stripe[i]);
    ct_wipe(db, sizeof *db);
    free(db);
}

static creds_db *db_new(const creds_opts *opts)
{
    creds_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    if (getrandom(db->key, sizeof db->key, 0) != (ssize_t)sizeof db->key) {
        free(db);
        return NULL;
    }
    atomic_init(&db->refs, 1);
    if (opts)
        db->opts = *opts;
    for (int i = 0; i < CACHE_STRIPES; i++)
        pthread_mutex_init(&db->stripe[i], NULL);
    return db;
}

creds_db *creds_db_ref(creds_db *db)
{
    if (db)
        atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);
    return db;
}

void creds_db_unref(creds_db *db)
{
    /* acq_rel: the freeing thread must see every write the other holders made to the cache. */
    if (db && atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) == 1)
        db_free(db);
}

size_t creds_db_devices(const creds_db *db)
{
    return db->dev.n;
}

size_t creds_db_groups(const creds_db *db)
{
    return db->grp.n;
}

/* --- parsing --- */

#define MAX_FIELDS 5

/* Splits at blanks; a field that starts with '#' starts a comment. Returns the field count (one
 * past MAX_FIELDS means "more"). */
static int split(char *s, char *f[MAX_FIELDS])
{
    int n = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s || *s == '#')
            return n;
        if (n == MAX_FIELDS)
            return n + 1;
        f[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        if (*s)
            *s++ = '\0';
    }
}

static void parse_entry(parser *P, char **f, int nf)
{
    bool is_dev = strcmp(f[0], "device") == 0;
    const char *what =
        is_dev ? "device <GUID> <username> <hash>" : "group <name> <username> <hash>";
    if (nf != 4) {
        if (nf < 4)
            perr(P, "expected 4 fields (%s), found %d", what, nf);
        else
            perr(P, "expected 4 fields (%s), found more", what);
        if (nf < 4)
            return;
    }
    bool bad = nf != 4;
    guid g;
    if (is_dev && guid_parse(f[1], strlen(f[1]), &g) < 0) {
        perr(P, "bad GUID '%.64s' (expected 8-4-4-4-12 hex digits)", f[1]);
        bad = true;
    }
    if (!is_dev && !creds_group_name_valid(f[1], strlen(f[1]))) {
        perr(P, "bad group name '%.64s' (1..%d of A-Z a-z 0-9 . _ -)", f[1], CREDS_GROUP_MAX);
        bad = true;
    }
    if (!creds_username_valid(f[2], strlen(f[2]))) {
        perr(P, "bad username '%.64s' (1..%d printable characters, none of whitespace @ $ #)", f[2],
             CREDS_USER_MAX);
        bad = true;
    }
    char buf[200];
    const char *why = phc_check(f[3], buf, sizeof buf);
    if (why) {
        perr(P, "%s", why);
        bad = true;
    }
    if (bad || !P->db)
        return;

    creds_db *db = P->db;
    if (is_dev) {
        centry *dup = dev_find(db, &g);
        if (dup) {
            perr(P, "duplicate device %.36s (first at line %u)", f[1], dup->line);
            return;
        }
    } else {
        for (size_t i = 0; i < db->grp.n; i++) {
            centry *o = &db->grp.v[i];
            if (strcmp(o->name, f[1]) == 0) {
                perr(P, "duplicate group '%s' (first at line %u)", f[1], o->line);
                return;
            }
            if (o->ulen == strlen(f[2]) && memcmp(o->user, f[2], o->ulen) == 0) {
                perr(P, "group '%s' uses username '%s' of group '%s' (line %u): ambiguous", f[1],
                     f[2], o->name, o->line);
                return;
            }
        }
    }
    if (is_dev && (db->dev.n + 1) * 2 > db->icap && index_grow(db) < 0)
        goto oom;
    centry *e = vec_push(is_dev ? &db->dev : &db->grp);
    if (!e)
        goto oom;
    e->line = P->line;
    e->ulen = strlen(f[2]);
    memcpy(e->user, f[2], e->ulen);
    e->phc = strdup(f[3]);
    e->name = is_dev ? NULL : strdup(f[1]);
    if (!e->phc || (!is_dev && !e->name))
        goto oom;
    if (is_dev) {
        e->id = g;
        size_t i = guid_hash(&g) & (db->icap - 1);
        while (db->index[i])
            i = (i + 1) & (db->icap - 1);
        db->index[i] = (uint32_t)db->dev.n;
    }
    return;
oom:
    perr(P, "out of memory");
    P->db = NULL; /* keep checking the syntax; the caller frees the partial db */
}

static void parse_line(parser *P, char *s)
{
    char *f[MAX_FIELDS];
    int nf = split(s, f);
    if (nf == 0)
        return;
    if (strcmp(f[0], "device") == 0 || strcmp(f[0], "group") == 0)
        parse_entry(P, f, nf);
    else
        perr(P, "unknown keyword '%.32s' (expected 'device' or 'group')", f[0]);
}

int creds_db_parse(const char *name, const char *text, size_t len, const creds_opts *opts,
                   creds_db **out, creds_errors *errs)
{
    *out = NULL;
    creds_db *db = db_new(opts);
    parser P = {.name = name, .errs = errs, .db = db};
    if (!db) {
        perr(&P, "out of memory");
        return -ENOMEM;
    }
    char *line = malloc(MAX_LINE + 1);
    if (!line) {
        db_free(db);
        perr(&P, "out of memory");
        return -ENOMEM;
    }
    size_t pos = 0;
    while (pos < len) {
        P.line++;
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len, ll = end - pos;
        if (ll && text[end - 1] == '\r')
            ll--;
        if (ll > MAX_LINE)
            perr(&P, "line longer than %d bytes", MAX_LINE);
        else if (memchr(text + pos, '\0', ll))
            perr(&P, "NUL byte in line");
        else {
            memcpy(line, text + pos, ll);
            line[ll] = '\0';
            parse_line(&P, line);
        }
        pos = end + 1;
    }
    free(line);
    if (P.nerr) {
        db_free(db);
        return -EINVAL;
    }
    *out = db;
    return 0;
}

int creds_db_load(const char *path, const creds_opts *opts, creds_db **out, creds_errors *errs)
{
    parser P = {.name = path, .errs = errs};
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        int e = errno;
        perr(&P, "cannot open: %s", strerror(e));
        if (fd >= 0)
            close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode) || st.st_size > MAX_FILE) {
        close(fd);
        perr(&P, "not a regular file of at most %d bytes", MAX_FILE);
        return -EINVAL;
    }
    size_t len = (size_t)st.st_size, got = 0;
    char *text = malloc(len + 1);
    if (!text) {
        close(fd);
        perr(&P, "out of memory");
        return -ENOMEM;
    }
    while (got < len) {
        ssize_t r = read(fd, text + got, len - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    int rerr = errno;
    close(fd);
    if (got < len) {
        free(text);
        perr(&P, "read failed: %s", strerror(rerr));
        return -EIO;
    }
    int rc = creds_db_parse(path, text, len, opts, out, errs);
    free(text);
    return rc;
}

/* --- checking --- */

const char *creds_status_str(creds_status s)
{
    switch (s) {
    case CREDS_OK:
        return "ok";
    case CREDS_UNKNOWN_DEVICE:
        return "unknown device";
    case CREDS_BAD_USERNAME:
        return "wrong username";
    case CREDS_BAD_PASSWORD:
        return "wrong password";
    case CREDS_ERROR:
        return "internal error";
    case CREDS_NEED_ARGON2:
        return "needs argon2";
    }
    return "?";
}

/* The cache key for one (entry, password): the entry's slot number is mixed in so that two devices
 * with one password do not show equal digests in memory. */
static int cache_digest(const creds_db *db, uint32_t tag, const void *pw, size_t pwlen,
                        uint8_t out[DIGEST_LEN])
{
    Hmac h;
    uint8_t t[4] = {(uint8_t)(tag >> 24), (uint8_t)(tag >> 16), (uint8_t)(tag >> 8), (uint8_t)tag};
    int rc = wc_HmacInit(&h, NULL, INVALID_DEVID);
    if (rc == 0) {
        rc = wc_HmacSetKey(&h, WC_SHA256, db->key, sizeof db->key);
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

static pthread_mutex_t *stripe_of(creds_db *db, const centry *e)
{
    return &db->stripe[((uintptr_t)e / sizeof *e) % CACHE_STRIPES];
}

static creds_status verify(creds_db *db, centry *e, uint32_t tag, const void *pw, size_t pwlen,
                           bool may_argon2, creds_result *res)
{
    if (pwlen > UINT32_MAX)
        return CREDS_BAD_PASSWORD;
    uint8_t d[DIGEST_LEN], have[DIGEST_LEN];
    bool cache = !db->opts.no_cache && cache_digest(db, tag, pw, pwlen, d) == 0;
    bool cached = false;
    creds_status st;
    if (cache) {
        pthread_mutex_t *mu = stripe_of(db, e);
        pthread_mutex_lock(mu);
        cached = e->cached;
        memcpy(have, e->digest, sizeof have);
        pthread_mutex_unlock(mu);
    }
    if (cached) {
        /* The slot only ever holds the digest of the password argon2 accepted for this entry, and
         * the entry cannot change within a db: a mismatch is a wrong password, no argon2 needed. */
        atomic_fetch_add_explicit(&db->cache_hits, 1, memory_order_relaxed);
        res->cached = true;
        st = ct_memeq(d, have, DIGEST_LEN) ? CREDS_OK : CREDS_BAD_PASSWORD;
    } else if (!may_argon2) {
        st = CREDS_NEED_ARGON2;
    } else {
        atomic_fetch_add_explicit(&db->argon2_runs, 1, memory_order_relaxed);
        int rc = argon2_verify(e->phc, pw, pwlen, Argon2_id);
        /* Anything but a verdict (no memory, a hash libargon2 will not decode) is our failure. */
        st = rc == ARGON2_OK                ? CREDS_OK
             : rc == ARGON2_VERIFY_MISMATCH ? CREDS_BAD_PASSWORD
                                            : CREDS_ERROR;
        if (st == CREDS_OK && cache) {
            pthread_mutex_t *mu = stripe_of(db, e);
            pthread_mutex_lock(mu);
            memcpy(e->digest, d, sizeof d);
            e->cached = true;
            pthread_mutex_unlock(mu);
        }
    }
    ct_wipe(d, sizeof d);
    ct_wipe(have, sizeof have);
    return st;
}

static creds_status check(creds_db *db, const guid *device, const char *user, size_t ulen,
                          const void *pw, size_t pwlen, bool may_argon2, creds_result *res)
{
    creds_result local;
    if (!res)
        res = &local;
    *res = (creds_result){.status = CREDS_UNKNOWN_DEVICE, .match = CREDS_MATCH_NONE};
    centry *e = dev_find(db, device);
    if (e) {
        res->match = CREDS_MATCH_DEVICE;
        if (!ct_bufeq(e->user, e->ulen, CREDS_USER_MAX, user, ulen))
            res->status = CREDS_BAD_USERNAME;
        else
            res->status = verify(db, e, (uint32_t)(e - db->dev.v), pw, pwlen, may_argon2, res);
    } else if (db->opts.allow_groups) {
        /* Every group is compared, so the time tells nothing about which one matched. */
        centry *m = NULL;
        for (size_t i = 0; i < db->grp.n; i++) {
            centry *g = &db->grp.v[i];
            if (ct_bufeq(g->user, g->ulen, CREDS_USER_MAX, user, ulen))
                m = g;
        }
        if (m) {
            res->match = CREDS_MATCH_GROUP;
            res->group = m->name;
            uint32_t tag = 0x80000000u | (uint32_t)(m - db->grp.v);
            res->status = verify(db, m, tag, pw, pwlen, may_argon2, res);
        }
    }
    if (res->status == CREDS_NEED_ARGON2)
        return res->status; /* not an outcome yet: creds_check will count it */
    atomic_uint_fast64_t *c = res->status == CREDS_OK               ? &db->ok
                              : res->status == CREDS_UNKNOWN_DEVICE ? &db->unknown_device
                              : res->status == CREDS_BAD_USERNAME   ? &db->bad_username
                              : res->status == CREDS_BAD_PASSWORD   ? &db->bad_password
                                                                    : &db->errors;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    return res->status;
}

creds_status creds_check(creds_db *db, const guid *device, const char *user, size_t ulen,
                         const void *pw, size_t pwlen, creds_result *res)
{
    return check(db, device, user, ulen, pw, pwlen, true, res);
}

creds_status creds_precheck(creds_db *db, const guid *device, const char *user, size_t ulen,
                            const void *pw, size_t pwlen, creds_result *res)
{
    return check(db, device, user, ulen, pw, pwlen, false, res);
}

void creds_db_stats(creds_db *db, creds_stats *o)
{
    o->argon2_runs = atomic_load(&db->argon2_runs);
    o->cache_hits = atomic_load(&db->cache_hits);
    o->ok = atomic_load(&db->ok);
    o->unknown_device = atomic_load(&db->unknown_device);
    o->bad_username = atomic_load(&db->bad_username);
    o->bad_password = atomic_load(&db->bad_password);
    o->errors = atomic_load(&db->errors);
}

/* --- reload slot --- */

void creds_slot_init(creds_slot *s, creds_db *db)
{
    pthread_mutex_init(&s->mu, NULL);
    s->db = db;
}

creds_db *creds_slot_get(creds_slot *s)
{
    pthread_mutex_lock(&s->mu);
    creds_db *db = creds_db_ref(s->db);
    pthread_mutex_unlock(&s->mu);
    return db;
}

void creds_slot_set(creds_slot *s, creds_db *db)
{
    pthread_mutex_lock(&s->mu);
    creds_db *old = s->db;
    s->db = db;
    pthread_mutex_unlock(&s->mu);
    creds_db_unref(old); /* outside the lock: freeing 100k entries must not stall logins */
}

void creds_slot_destroy(creds_slot *s)
{
    creds_db_unref(s->db);
    s->db = NULL;
    pthread_mutex_destroy(&s->mu);
}
