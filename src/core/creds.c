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
#include "pwcheck.h"

#include <argon2.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define HASH_LEN 32         /* argon2id digest written by creds_hash */
#define MAX_FILE (64 << 20) /* a 100k-device file is ~15 MB */

typedef struct centry {
    guid id; /* devices only */
    uint8_t user[CREDS_USER_MAX];
    size_t ulen;
    char *phc;
    char *name; /* groups only */
    unsigned line;
    pwcheck_slot cache; /* guarded by the cache's stripe mutex for this entry */
} centry;

typedef struct vec {
    centry *v;
    size_t n, cap;
} vec;

struct creds_db {
    atomic_uint refs;
    creds_opts opts;
    vec dev, grp;
    bool oom; /* while parsing: an allocation failed, so only the syntax is checked further */
    uint32_t *index; /* device slot + 1, 0 = empty; power-of-two size, at most half full */
    size_t icap;
    pwcheck_cache cache; /* per-db key: a reload starts an empty cache under a new key */
    atomic_uint_fast64_t ok, unknown_device, bad_username, bad_password, errors;
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

int creds_hash(const void *pw, size_t pwlen, const creds_params *p, char *out, size_t outlen)
{
    static const creds_params def = {CREDS_DEFAULT_T_COST, CREDS_DEFAULT_M_COST,
                                     CREDS_DEFAULT_PARALLELISM};
    if (!p)
        p = &def;
    if (!pwcheck_params_valid(p) || pwlen > UINT32_MAX)
        return -EINVAL;
    uint8_t salt[16];
    if (getrandom(salt, sizeof salt, 0) != (ssize_t)sizeof salt)
        return -EIO;
    int rc = argon2id_hash_encoded(p->t_cost, p->m_cost_kib, p->parallelism, pw, pwlen, salt,
                                   sizeof salt, HASH_LEN, out, outlen);
    ct_wipe(salt, sizeof salt);
    return rc == ARGON2_OK ? 0 : rc == ARGON2_ENCODING_FAIL ? -EINVAL : -EIO;
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
    pwcheck_cache_destroy(&db->cache);
    ct_wipe(db, sizeof *db);
    free(db);
}

static creds_db *db_new(const creds_opts *opts)
{
    creds_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    if (opts)
        db->opts = *opts;
    if (pwcheck_cache_init(&db->cache, db->opts.no_cache) < 0) {
        free(db);
        return NULL;
    }
    atomic_init(&db->refs, 1);
    return db;
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

static void parse_entry(pwcheck_report *R, creds_db *db, char **f, int nf)
{
    bool is_dev = strcmp(f[0], "device") == 0;
    const char *what =
        is_dev ? "device <GUID> <username> <hash>" : "group <name> <username> <hash>";
    if (nf != 4) {
        if (nf < 4)
            pwcheck_err(R, "expected 4 fields (%s), found %d", what, nf);
        else
            pwcheck_err(R, "expected 4 fields (%s), found more", what);
        if (nf < 4)
            return;
    }
    bool bad = nf != 4;
    guid g;
    if (is_dev && guid_parse(f[1], strlen(f[1]), &g) < 0) {
        pwcheck_err(R, "bad GUID '%.64s' (expected 8-4-4-4-12 hex digits)", f[1]);
        bad = true;
    }
    if (!is_dev && !creds_group_name_valid(f[1], strlen(f[1]))) {
        pwcheck_err(R, "bad group name '%.64s' (1..%d of A-Z a-z 0-9 . _ -)", f[1],
                    CREDS_GROUP_MAX);
        bad = true;
    }
    if (!creds_username_valid(f[2], strlen(f[2]))) {
        pwcheck_err(R,
                    "bad username '%.64s' (1..%d printable characters, none of whitespace @ $ #)",
                    f[2], CREDS_USER_MAX);
        bad = true;
    }
    if (!pwcheck_phc_valid(R, f[3]))
        bad = true;
    if (bad || db->oom)
        return;

    if (is_dev) {
        centry *dup = dev_find(db, &g);
        if (dup) {
            pwcheck_err(R, "duplicate device %.36s (first at line %u)", f[1], dup->line);
            return;
        }
    } else {
        for (size_t i = 0; i < db->grp.n; i++) {
            centry *o = &db->grp.v[i];
            if (strcmp(o->name, f[1]) == 0) {
                pwcheck_err(R, "duplicate group '%s' (first at line %u)", f[1], o->line);
                return;
            }
            if (o->ulen == strlen(f[2]) && memcmp(o->user, f[2], o->ulen) == 0) {
                pwcheck_err(R, "group '%s' uses username '%s' of group '%s' (line %u): ambiguous",
                            f[1], f[2], o->name, o->line);
                return;
            }
        }
    }
    if (is_dev && (db->dev.n + 1) * 2 > db->icap && index_grow(db) < 0)
        goto oom;
    centry *e = vec_push(is_dev ? &db->dev : &db->grp);
    if (!e)
        goto oom;
    e->line = R->line;
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
    pwcheck_err(R, "out of memory");
    db->oom = true; /* keep checking the syntax; the db is not handed out */
}

static void parse_line(pwcheck_report *R, void *vdb, char *s)
{
    char *f[MAX_FIELDS];
    int nf = pwcheck_split(s, f, MAX_FIELDS);
    if (nf == 0)
        return;
    if (strcmp(f[0], "device") == 0 || strcmp(f[0], "group") == 0)
        parse_entry(R, vdb, f, nf);
    else
        pwcheck_err(R, "unknown keyword '%.32s' (expected 'device' or 'group')", f[0]);
}

static void *db_make(const void *opts)
{
    return db_new(opts);
}

static void db_drop(void *db)
{
    db_free(db);
}

static const pwcheck_format creds_format = {MAX_FILE, db_make, db_drop, parse_line};

int creds_db_parse(const char *name, const char *text, size_t len, const creds_opts *opts,
                   creds_db **out, creds_errors *errs)
{
    void *db;
    int rc = pwcheck_parse(&creds_format, opts, name, text, len, &db, errs);
    *out = db;
    return rc;
}

int creds_db_load(const char *path, const creds_opts *opts, creds_db **out, creds_errors *errs)
{
    void *db;
    int rc = pwcheck_load(&creds_format, opts, path, &db, errs);
    *out = db;
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

static creds_status verify(creds_db *db, centry *e, uint32_t tag, const void *pw, size_t pwlen,
                           bool may_argon2, creds_result *res)
{
    switch (
        pwcheck_verify(&db->cache, &e->cache, tag, e->phc, pw, pwlen, may_argon2, &res->cached)) {
    case PWCHECK_OK:
        return CREDS_OK;
    case PWCHECK_BAD:
        return CREDS_BAD_PASSWORD;
    case PWCHECK_NEED_ARGON2:
        return CREDS_NEED_ARGON2;
    case PWCHECK_ERROR:
        break;
    }
    return CREDS_ERROR;
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
    o->argon2_runs = atomic_load(&db->cache.argon2_runs);
    o->cache_hits = atomic_load(&db->cache.cache_hits);
    o->ok = atomic_load(&db->ok);
    o->unknown_device = atomic_load(&db->unknown_device);
    o->bad_username = atomic_load(&db->bad_username);
    o->bad_password = atomic_load(&db->bad_password);
    o->errors = atomic_load(&db->errors);
}

/* --- references and the reload slot --- */

PWCHECK_DB_REFS(creds, db_free)
