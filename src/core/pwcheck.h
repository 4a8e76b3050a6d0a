/* pwcheck.h - what the device credentials file (creds.c) and the console users file (users.c)
 * share, so that both are parsed, bounded and verified by one piece of code: the line reader and
 * error list, PHC string checks against the cost limits, and argon2id verification behind the
 * verified-credential cache (docs/credentials.md describes the cache and its threat model).
 *
 * Internal to src/core: the public API is creds.h and users.h.
 */
#ifndef MPSD_CORE_PWCHECK_H
#define MPSD_CORE_PWCHECK_H

#include "creds.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PWCHECK_MAX_LINE   4096 /* both files: a longer line is an error */
#define PWCHECK_MAX_ERRORS 1000 /* beyond this a file is hopeless; say so once */

/* --- error reporting and reading --- */

/* Where a parser is and what it has found. line 0 names the file (or the value) as a whole. */
typedef struct pwcheck_report {
    const char *name;
    unsigned line;
    size_t nerr;        /* every problem counts, even those not recorded */
    creds_errors *errs; /* NULL: count only */
} pwcheck_report;

/* Records "<name>:<line>: <message>" (or "<name>: <message>" on line 0). */
__attribute__((format(printf, 2, 3))) void pwcheck_err(pwcheck_report *R, const char *fmt, ...);

/* A file parsed whole, line by line, into a db (the credentials file, the users file). */
typedef struct pwcheck_format {
    size_t max_file;                 /* pwcheck_load refuses larger files */
    void *(*make)(const void *opts); /* an empty db, or NULL when out of memory */
    void (*drop)(void *db);          /* frees a db that is not handed out */
    /* one line, NUL-terminated, CR stripped, R->line set; problems go to pwcheck_err(R, ...) */
    void (*line)(pwcheck_report *R, void *db, char *line);
} pwcheck_format;

/* Parses text (name is what the messages call it): lines over PWCHECK_MAX_LINE bytes or holding a
 * NUL are reported, the others handed to f->line. *out holds the db only when no line was bad.
 * 0, -EINVAL (every problem in errs when not NULL) or -ENOMEM. */
int pwcheck_parse(const pwcheck_format *f, const void *opts, const char *name, const char *text,
                  size_t len, void **out, creds_errors *errs);
/* The same for a regular file of at most f->max_file bytes; a negative errno when it cannot be
 * read (also reported in errs, as "<path>: ..."). */
int pwcheck_load(const pwcheck_format *f, const void *opts, const char *path, void **out,
                 creds_errors *errs);

/* Splits a line in place at blanks; a field that starts with '#' starts a comment. Returns the
 * field count, or max + 1 when there are more than max fields. */
int pwcheck_split(char *s, char **f, int max);

/* --- hashes --- */

bool pwcheck_params_valid(const creds_params *p);

/* Checks a PHC string the way libargon2 will decode it, plus the cost limits of creds.h; reports
 * what is wrong and returns false. */
bool pwcheck_phc_valid(pwcheck_report *R, const char *phc);

/* --- verification and the verified-credential cache --- */

#define PWCHECK_DIGEST_LEN 32 /* HMAC-SHA256 */
#define PWCHECK_STRIPES    64

/* One entry's cache slot: the keyed digest of the one password argon2 accepted for it. */
typedef struct pwcheck_slot {
    bool cached;
    uint8_t digest[PWCHECK_DIGEST_LEN];
} pwcheck_slot;

/* One db's cache key, slot locks and argon2 counters. */
typedef struct pwcheck_cache {
    bool off;        /* every check runs argon2 (measuring only) */
    uint8_t key[32]; /* random per db: a reload starts an empty cache under a new key */
    pthread_mutex_t stripe[PWCHECK_STRIPES];
    atomic_uint_fast64_t argon2_runs, cache_hits;
} pwcheck_cache;

/* 0, or -EIO when no random key could be had. */
int pwcheck_cache_init(pwcheck_cache *c, bool off);
void pwcheck_cache_destroy(pwcheck_cache *c); /* wipes the key */

typedef enum pwcheck_verdict {
    PWCHECK_OK,
    PWCHECK_BAD,         /* wrong password */
    PWCHECK_ERROR,       /* argon2 could not run */
    PWCHECK_NEED_ARGON2, /* only when !may_argon2 and the cache could not decide */
} pwcheck_verdict;

/* Verifies pw against one entry's PHC hash: the cache decides when its slot is filled (either
 * way: the slot holds only the accepted password's digest), else argon2 runs when may_argon2 and
 * fills the slot on success. tag numbers the entry within its db, so two entries with one password
 * show different digests. *cached (may be NULL) is set true when the cache decided. Digests and
 * the HMAC state are wiped before returning; nothing else of pw is kept. */
pwcheck_verdict pwcheck_verify(pwcheck_cache *c, pwcheck_slot *slot, uint32_t tag, const char *phc,
                               const void *pw, size_t pwlen, bool may_argon2, bool *cached);

/* --- references and the reload slot ---
 * creds.h and users.h declare the same reference count and reload slot for their own types, and C
 * has no generics: this stamps the one implementation out for prefix P. P##_db needs an
 * atomic_uint refs, P##_slot a mutex mu and a P##_db *db; free_fn(P##_db *) frees a db whose last
 * reference went. docs/credentials.md explains why the slot takes a mutex to hand out a reference.
 */
#define PWCHECK_DB_REFS(P, free_fn)                                                                \
    P##_db *P##_db_ref(P##_db *db)                                                                 \
    {                                                                                              \
        if (db)                                                                                    \
            atomic_fetch_add_explicit(&db->refs, 1, memory_order_relaxed);                         \
        return db;                                                                                 \
    }                                                                                              \
    void P##_db_unref(P##_db *db)                                                                  \
    {                                                                                              \
        /* acq_rel: the freeing thread must see every write the other holders made to the cache */ \
        if (db && atomic_fetch_sub_explicit(&db->refs, 1, memory_order_acq_rel) == 1)              \
            free_fn(db);                                                                           \
    }                                                                                              \
    void P##_slot_init(P##_slot *s, P##_db *db)                                                    \
    {                                                                                              \
        pthread_mutex_init(&s->mu, NULL);                                                          \
        s->db = db;                                                                                \
    }                                                                                              \
    P##_db *P##_slot_get(P##_slot *s)                                                              \
    {                                                                                              \
        pthread_mutex_lock(&s->mu);                                                                \
        P##_db *db = P##_db_ref(s->db);                                                            \
        pthread_mutex_unlock(&s->mu);                                                              \
        return db;                                                                                 \
    }                                                                                              \
    void P##_slot_set(P##_slot *s, P##_db *db)                                                     \
    {                                                                                              \
        pthread_mutex_lock(&s->mu);                                                                \
        P##_db *old = s->db;                                                                       \
        s->db = db;                                                                                \
        pthread_mutex_unlock(&s->mu);                                                              \
        P##_db_unref(old); /* outside the lock: freeing a large db must not stall logins */        \
    }                                                                                              \
    void P##_slot_destroy(P##_slot *s)                                                             \
    {                                                                                              \
        P##_db_unref(s->db);                                                                       \
        s->db = NULL;                                                                              \
        pthread_mutex_destroy(&s->mu);                                                             \
    }

#endif
