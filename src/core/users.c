/* users.c - console users and ACLs (see users.h, docs/console-users.md).
 *
 * Consoles reach devices through mpsd, so who may reach what must be as carefully kept as the
 * device credentials: the file is read, bounded and verified by the same code as the credentials
 * file (pwcheck.h), and parsed whole into an immutable db. Users sit in a short array that every
 * login scans in full with constant-time compares (the time shows the user count only); each
 * carries its device rules and port ranges, which users_allows walks for every new channel. Only
 * the cache slots (under the cache's stripe mutexes) and the counters (atomics) change after load.
 */
#include "users.h"

#include "ct.h"
#include "pwcheck.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILE   (4 << 20) /* USERS_MAX_USERS full lines */
#define MAX_FIELDS 8         /* user <name> <hash> devices=... ports=..., and room to name strays */

typedef enum rule_kind { RULE_ALL, RULE_GUID, RULE_HOST, RULE_GROUP } rule_kind;

typedef struct rule {
    rule_kind kind;
    guid id;    /* RULE_GUID */
    char *text; /* RULE_HOST: the glob, lower case; RULE_GROUP: the group name */
} rule;

typedef struct port_range {
    uint16_t lo, hi;
} port_range;

typedef struct uentry {
    uint64_t name[USERS_NAME_MAX / 8]; /* zero-padded, compared a word at a time by find() */
    size_t nlen;
    char *phc;
    unsigned line;
    rule *dev;
    size_t ndev;
    port_range *ports;
    size_t nports;
    pwcheck_slot cache; /* guarded by the cache's stripe mutex for this entry */
} uentry;

struct users_db {
    atomic_uint refs;
    uentry *v;
    size_t n, cap;
    pwcheck_cache cache;
    atomic_uint_fast64_t ok, unknown_user, bad_password, errors;
};

/* --- names --- */

bool users_name_valid(const char *s, size_t len)
{
    if (len == 0 || len > USERS_NAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= 0x20 || c >= 0x7f || c == ':' || c == '#')
            return false;
    }
    return true;
}

/* Host globs: what host names are made of, plus the two wildcards. */
static bool host_glob_valid(const char *s, size_t len)
{
    if (len == 0 || len > USERS_HOST_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '-' || c == '_' || c == '*' || c == '?'))
            return false;
    }
    return true;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* '*' any run of bytes (dots included: no path semantics), '?' one byte, anything else itself,
 * ASCII case folded; pat is lower case already. Wildcards are wildcards only in the pattern: a '*'
 * in a host name is a plain byte. Iterative with one backtrack point: O(|pat| * |s|) at worst,
 * both bounded by USERS_HOST_MAX. */
static bool glob_match(const char *pat, const char *s, size_t sl)
{
    size_t pl = strlen(pat), pi = 0, si = 0, star = SIZE_MAX, mark = 0;
    while (si < sl) {
        if (pi < pl && pat[pi] == '*') {
            star = pi++;
            mark = si;
        } else if (pi < pl && (pat[pi] == '?' || pat[pi] == lower(s[si]))) {
            pi++;
            si++;
        } else if (star != SIZE_MAX) {
            pi = star + 1;
            si = ++mark;
        } else {
            return false;
        }
    }
    while (pi < pl && pat[pi] == '*')
        pi++;
    return pi == pl;
}

/* --- the db --- */

static void entry_free(uentry *e)
{
    if (e->phc)
        ct_wipe(e->phc, strlen(e->phc));
    free(e->phc);
    for (size_t i = 0; i < e->ndev; i++)
        free(e->dev[i].text);
    free(e->dev);
    free(e->ports);
    ct_wipe(e, sizeof *e);
}

static void db_free(users_db *db)
{
    for (size_t i = 0; i < db->n; i++)
        entry_free(&db->v[i]);
    free(db->v);
    pwcheck_cache_destroy(&db->cache);
    ct_wipe(db, sizeof *db);
    free(db);
}

size_t users_db_count(const users_db *db)
{
    return db->n;
}

/* --- parsing --- */

/* Calls item(ctx, s, len) for each comma-separated item of v; an empty item is an error. Returns
 * the item count, or -1 once an item failed or there were more than max. */
static int each_item(pwcheck_report *R, const char *v, const char *what, int max,
                     bool (*item)(pwcheck_report *R, void *ctx, const char *s, size_t len),
                     void *ctx)
{
    int n = 0;
    bool ok = true;
    for (const char *s = v;; s++) {
        const char *c = strchr(s, ',');
        size_t len = c ? (size_t)(c - s) : strlen(s);
        if (len == 0) {
            pwcheck_err(R, "empty %s in '%.64s'", what, v);
            return -1;
        }
        if (++n > max) {
            pwcheck_err(R, "more than %d %ss", max, what);
            return -1;
        }
        ok = item(R, ctx, s, len) && ok;
        if (!c)
            break;
        s = c;
    }
    return ok ? n : -1;
}

static bool has_prefix(const char *s, size_t len, const char *pre, size_t *plen)
{
    *plen = strlen(pre);
    return len >= *plen && memcmp(s, pre, *plen) == 0;
}

/* What one devices= or ports= value is parsed into. */
typedef struct acl_ctx {
    uentry *e; /* its arrays NULL: check the syntax only */
    bool all;  /* 'all' was among the items */
} acl_ctx;

static bool is_all(acl_ctx *a, const char *s, size_t len)
{
    bool all = len == 3 && memcmp(s, "all", 3) == 0;
    a->all |= all;
    return all;
}

/* Device rules land in e->dev (sized for USERS_MAX_DEVICE_RULES by the caller). */
static bool device_item(pwcheck_report *R, void *ctx, const char *s, size_t len)
{
    uentry *e = ((acl_ctx *)ctx)->e;
    rule r = {.kind = RULE_ALL};
    size_t pl;
    if (is_all(ctx, s, len)) {
        r.kind = RULE_ALL;
    } else if (has_prefix(s, len, "guid:", &pl)) {
        r.kind = RULE_GUID;
        if (guid_parse_loose(s + pl, len - pl, &r.id) < 0) {
            pwcheck_err(R, "bad GUID in device rule '%.*s' (expected 8-4-4-4-12 or 32 hex digits)",
                        (int)(len > 64 ? 64 : len), s);
            return false;
        }
    } else if (has_prefix(s, len, "host:", &pl)) {
        r.kind = RULE_HOST;
        if (!host_glob_valid(s + pl, len - pl)) {
            pwcheck_err(R,
                        "bad host glob in device rule '%.*s' (1..%d of A-Z a-z 0-9 . - _ and the "
                        "wildcards * ?)",
                        (int)(len > 64 ? 64 : len), s, USERS_HOST_MAX);
            return false;
        }
        r.text = strndup(s + pl, len - pl);
        for (char *p = r.text; p && *p; p++)
            *p = lower(*p);
    } else if (has_prefix(s, len, "group:", &pl)) {
        r.kind = RULE_GROUP;
        if (!creds_group_name_valid(s + pl, len - pl)) {
            pwcheck_err(R, "bad group name in device rule '%.*s' (1..%d of A-Z a-z 0-9 . _ -)",
                        (int)(len > 64 ? 64 : len), s, CREDS_GROUP_MAX);
            return false;
        }
        r.text = strndup(s + pl, len - pl);
    } else {
        pwcheck_err(R,
                    "unknown device rule '%.*s' (expected all, guid:<GUID>, host:<glob> or "
                    "group:<name>)",
                    (int)(len > 64 ? 64 : len), s);
        return false;
    }
    if (r.kind != RULE_ALL && r.kind != RULE_GUID && !r.text) {
        pwcheck_err(R, "out of memory");
        return false;
    }
    if (e->dev)
        e->dev[e->ndev++] = r;
    else
        free(r.text);
    return true;
}

/* 1..65535, decimal, no sign or leading zero. */
static bool parse_port(const char *s, size_t len, uint16_t *out)
{
    if (len == 0 || len > 5 || s[0] == '0')
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return false;
    *out = (uint16_t)v;
    return true;
}

static bool port_item(pwcheck_report *R, void *ctx, const char *s, size_t len)
{
    uentry *e = ((acl_ctx *)ctx)->e;
    port_range r;
    const char *dash = memchr(s, '-', len);
    if (is_all(ctx, s, len)) {
        r = (port_range){1, 65535};
    } else if (dash ? !parse_port(s, (size_t)(dash - s), &r.lo) ||
                          !parse_port(dash + 1, len - (size_t)(dash - s) - 1, &r.hi)
                    : !parse_port(s, len, &r.lo)) {
        pwcheck_err(R, "bad port '%.*s' (expected all, 1..65535 or a range like 16992-16995)",
                    (int)(len > 32 ? 32 : len), s);
        return false;
    } else if (!dash) {
        r.hi = r.lo;
    } else if (r.lo > r.hi) {
        pwcheck_err(R, "port range '%.*s' runs backwards", (int)len, s);
        return false;
    }
    if (e->ports)
        e->ports[e->nports++] = r;
    return true;
}

/* Parses one devices= / ports= value into e (whose arrays may be NULL: syntax only). 'all' must
 * stand alone: next to a narrower rule it is most likely a mistake that widens the entry. */
static bool parse_acl(pwcheck_report *R, uentry *e, const char *v, bool devices)
{
    acl_ctx a = {.e = e};
    int n = devices ? each_item(R, v, "device rule", USERS_MAX_DEVICE_RULES, device_item, &a)
                    : each_item(R, v, "port", USERS_MAX_PORT_RULES, port_item, &a);
    if (n > 1 && a.all) {
        pwcheck_err(R, "'%s=all' stands alone: next to other %s it still allows every %s",
                    devices ? "devices" : "ports", devices ? "rules" : "ports",
                    devices ? "device" : "port");
        return false;
    }
    return n > 0;
}

static void parse_line(pwcheck_report *R, void *vdb, char *s)
{
    users_db *db = vdb;
    bool oom = false;
    char *f[MAX_FIELDS];
    int nf = pwcheck_split(s, f, MAX_FIELDS);
    if (nf == 0)
        return;
    if (strcmp(f[0], "user") != 0) {
        pwcheck_err(R, "unknown keyword '%.32s' (expected 'user')", f[0]);
        return;
    }
    static const char what[] = "user <name> <hash> devices=<rules> ports=<ports>";
    bool bad = false;
    if (nf < 3) {
        pwcheck_err(R, "expected %s, found %d fields", what, nf);
        return;
    }
    if (nf > MAX_FIELDS) {
        pwcheck_err(R, "expected %s, found more than %d fields", what, MAX_FIELDS);
        return;
    }
    size_t nlen = strlen(f[1]);
    if (!users_name_valid(f[1], nlen)) {
        pwcheck_err(R, "bad user name '%.64s' (1..%d printable characters, none of whitespace : #)",
                    f[1], USERS_NAME_MAX);
        bad = true;
    }
    if (!pwcheck_phc_valid(R, f[2]))
        bad = true;

    uentry e = {0};
    e.dev = calloc(USERS_MAX_DEVICE_RULES, sizeof *e.dev);
    e.ports = calloc(USERS_MAX_PORT_RULES, sizeof *e.ports);
    if (!e.dev || !e.ports) {
        oom = true;
        goto out;
    }
    const char *devices = NULL, *ports = NULL;
    for (int i = 3; i < nf; i++) {
        const char **slot = strncmp(f[i], "devices=", 8) == 0 ? &devices
                            : strncmp(f[i], "ports=", 6) == 0 ? &ports
                                                              : NULL;
        if (!slot) {
            pwcheck_err(R, "unknown option '%.32s' (expected devices=... or ports=...)", f[i]);
            bad = true;
        } else if (*slot) {
            pwcheck_err(R, "%s given twice", slot == &devices ? "devices=" : "ports=");
            bad = true;
        } else {
            *slot = strchr(f[i], '=') + 1;
            bad = !parse_acl(R, &e, *slot, slot == &devices) || bad;
        }
    }
    /* Deny by default would make such an entry reach nothing: refuse it as the mistake it is. */
    if (!devices || !ports) {
        pwcheck_err(R, "user '%.64s' has no %s: it could reach nothing (deny by default)", f[1],
                    !devices ? "devices=<rules>" : "ports=<ports>");
        bad = true;
    }
    if (bad)
        goto out;
    for (size_t i = 0; i < db->n; i++) {
        if (db->v[i].nlen == nlen && memcmp(db->v[i].name, f[1], nlen) == 0) {
            pwcheck_err(R, "duplicate user '%s' (first at line %u)", f[1], db->v[i].line);
            goto out;
        }
    }
    if (db->n == USERS_MAX_USERS) {
        pwcheck_err(R, "more than %d users", USERS_MAX_USERS);
        goto out;
    }
    if (db->n == db->cap) {
        size_t ncap = db->cap ? db->cap * 2 : 16;
        uentry *nv = realloc(db->v, ncap * sizeof *nv);
        if (!nv) {
            oom = true;
            goto out;
        }
        db->v = nv;
        db->cap = ncap;
    }
    e.phc = strdup(f[2]);
    if (!e.phc) {
        oom = true;
        goto out;
    }
    /* Trim the arrays from their bound to what the line used (both hold at least one item). */
    rule *dv = realloc(e.dev, e.ndev * sizeof *dv);
    port_range *pv = realloc(e.ports, e.nports * sizeof *pv);
    e.dev = dv ? dv : e.dev;
    e.ports = pv ? pv : e.ports;
    e.line = R->line;
    e.nlen = nlen;
    memcpy(e.name, f[1], nlen);
    db->v[db->n++] = e;
    return;
out:
    if (oom)
        pwcheck_err(R, "out of memory");
    entry_free(&e);
}

static void *db_make(const void *opts)
{
    users_db *db = calloc(1, sizeof *db);
    if (!db || pwcheck_cache_init(&db->cache, false) < 0) {
        free(db);
        return NULL;
    }
    atomic_init(&db->refs, 1);
    return db;
}

static void db_drop(void *db)
{
    db_free(db);
}

static const pwcheck_format users_format = {MAX_FILE, db_make, db_drop, parse_line};

int users_db_parse(const char *name, const char *text, size_t len, users_db **out,
                   creds_errors *errs)
{
    void *db;
    int rc = pwcheck_parse(&users_format, NULL, name, text, len, &db, errs);
    *out = db;
    return rc;
}

int users_db_load(const char *path, users_db **out, creds_errors *errs)
{
    void *db;
    int rc = pwcheck_load(&users_format, NULL, path, &db, errs);
    *out = db;
    return rc;
}

int users_acl_check(const char *devices, const char *ports, creds_errors *errs)
{
    uentry e = {0}; /* no arrays: the items are checked, not kept */
    pwcheck_report R = {.name = "--devices", .errs = errs};
    parse_acl(&R, &e, devices, true);
    size_t nerr = R.nerr;
    R.name = "--ports";
    parse_acl(&R, &e, ports, false);
    return nerr + R.nerr ? -EINVAL : 0;
}

/* --- checking --- */

const char *users_status_str(users_status s)
{
    switch (s) {
    case USERS_OK:
        return "ok";
    case USERS_UNKNOWN_USER:
        return "unknown user";
    case USERS_BAD_PASSWORD:
        return "wrong password";
    case USERS_ERROR:
        return "internal error";
    case USERS_NEED_ARGON2:
        return "needs argon2";
    }
    return "?";
}

/* Every user is compared, so the time tells the user count and nothing about which one matched or
 * where a name differs: ct_bufeq's property, a word at a time (1024 users: ~85 us bytewise, a few
 * us this way; this runs for every login and every new channel). A name longer than any stored
 * one is refused at once: its length is no secret. */
static uentry *find(const users_db *db, const char *user, size_t ulen)
{
    if (ulen > USERS_NAME_MAX)
        return NULL;
    uint64_t want[USERS_NAME_MAX / 8] = {0};
    memcpy(want, user, ulen);
    uentry *m = NULL;
    for (size_t i = 0; i < db->n; i++) {
        uentry *e = &db->v[i];
        uint64_t d = (uint64_t)(e->nlen ^ ulen);
        for (size_t k = 0; k < USERS_NAME_MAX / 8; k++)
            d |= e->name[k] ^ want[k];
        if (ct_barrier((uint32_t)(d | d >> 32)) == 0)
            m = e;
    }
    ct_wipe(want, sizeof want);
    return m;
}

static users_status check(users_db *db, const char *user, size_t ulen, const void *pw, size_t pwlen,
                          bool may_argon2)
{
    uentry *e = find(db, user, ulen);
    users_status st = USERS_UNKNOWN_USER;
    if (e) {
        switch (pwcheck_verify(&db->cache, &e->cache, (uint32_t)(e - db->v), e->phc, pw, pwlen,
                               may_argon2, NULL)) {
        case PWCHECK_OK:
            st = USERS_OK;
            break;
        case PWCHECK_BAD:
            st = USERS_BAD_PASSWORD;
            break;
        case PWCHECK_NEED_ARGON2:
            return USERS_NEED_ARGON2; /* not an outcome yet: users_check will count it */
        case PWCHECK_ERROR:
            st = USERS_ERROR;
            break;
        }
    }
    atomic_uint_fast64_t *c = st == USERS_OK             ? &db->ok
                              : st == USERS_UNKNOWN_USER ? &db->unknown_user
                              : st == USERS_BAD_PASSWORD ? &db->bad_password
                                                         : &db->errors;
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
    return st;
}

users_status users_check(users_db *db, const char *user, size_t ulen, const void *pw, size_t pwlen)
{
    return check(db, user, ulen, pw, pwlen, true);
}

users_status users_precheck(users_db *db, const char *user, size_t ulen, const void *pw,
                            size_t pwlen)
{
    return check(db, user, ulen, pw, pwlen, false);
}

void users_db_stats(users_db *db, users_stats *o)
{
    o->argon2_runs = atomic_load(&db->cache.argon2_runs);
    o->cache_hits = atomic_load(&db->cache.cache_hits);
    o->ok = atomic_load(&db->ok);
    o->unknown_user = atomic_load(&db->unknown_user);
    o->bad_password = atomic_load(&db->bad_password);
    o->errors = atomic_load(&db->errors);
}

/* --- access rules --- */

static bool rule_matches(const rule *r, const users_target *t)
{
    switch (r->kind) {
    case RULE_ALL:
        return true;
    case RULE_GUID:
        return t->device && guid_eq(&r->id, t->device);
    case RULE_HOST: {
        /* No host name, or one longer than any real one, matches no host rule (not even '*'). */
        size_t hl = t->hostname ? strnlen(t->hostname, USERS_HOST_MAX + 1) : 0;
        return hl > 0 && hl <= USERS_HOST_MAX && glob_match(r->text, t->hostname, hl);
    }
    case RULE_GROUP:
        return t->group && strcmp(r->text, t->group) == 0;
    }
    return false;
}

bool users_allows(const users_db *db, const char *user, size_t ulen, const users_target *t)
{
    if (!db || !t || !user)
        return false;
    const uentry *e = find(db, user, ulen);
    if (!e)
        return false;
    bool port_ok = false;
    for (size_t i = 0; i < e->nports; i++)
        port_ok |= t->port >= e->ports[i].lo && t->port <= e->ports[i].hi;
    if (!port_ok)
        return false;
    for (size_t i = 0; i < e->ndev; i++)
        if (rule_matches(&e->dev[i], t))
            return true;
    return false;
}

/* --- references and the reload slot --- */

PWCHECK_DB_REFS(users, db_free)
