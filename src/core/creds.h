/* creds.h - device credentials for APF USERAUTH: the credentials file, argon2id verification with a
 * verified-credential cache, and a reload-safe holder. docs/credentials.md explains the format, the
 * cost figures behind the default parameters and the cache's threat model.
 *
 * A creds_db is immutable once loaded (only its cache and counters change, under their own locks or
 * atomics), so any number of threads may call creds_check on it at once. It is reference counted:
 * the control thread loads a new one on reload and swaps it into a creds_slot; a check that took
 * its reference from the slot before the swap finishes on the old db, which is freed with its last
 * reference.
 */
#ifndef MPSD_CORE_CREDS_H
#define MPSD_CORE_CREDS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "guid.h"

/* --- argon2id parameters --- */
typedef struct creds_params {
    uint32_t t_cost;      /* passes */
    uint32_t m_cost_kib;  /* memory in KiB */
    uint32_t parallelism; /* lanes; 1: we parallelise across checks, not within one */
} creds_params;

/* Chosen for a reconnect storm of 100k devices on 2 cores (docs/credentials.md has the figures):
 * with Debian's libargon2 one check costs ~1.8 ms, so the first login of every device after a
 * restart (cache empty) costs ~90 s over 2 cores, about 5x their TLS handshakes; reconnects while
 * mpsd runs are decided by the cache in ~1.5 us. OWASP's 19 MiB/t=2 would take ~34 minutes. */
#define CREDS_DEFAULT_T_COST      1
#define CREDS_DEFAULT_M_COST      2048
#define CREDS_DEFAULT_PARALLELISM 1

/* What the file may ask for: a hash beyond these is refused at load, so a hostile or mistaken entry
 * cannot make every check allocate gigabytes or run for seconds. */
#define CREDS_MAX_M_COST      (256u * 1024u) /* 256 MiB */
#define CREDS_MAX_T_COST      64u
#define CREDS_MAX_PARALLELISM 16u

#define CREDS_USER_MAX  32  /* AMT allows 16 (apf.md 2.3); a little slack for other clients */
#define CREDS_GROUP_MAX 64  /* group names: [A-Za-z0-9._-] */
#define CREDS_PHC_MAX   160 /* room for any PHC string within the limits above */

/* Hashes a password into a PHC string ($argon2id$v=19$m=..,t=..,p=..$salt$hash) with a fresh random
 * 16-byte salt. p NULL: the defaults. 0, -EINVAL (parameters out of range) or -EIO. */
int creds_hash(const void *pw, size_t pwlen, const creds_params *p, char *out, size_t outlen);

/* Names the file accepts: usernames are printable ASCII without whitespace, '@', '$' (AMT refuses
 * those, apf.md 6.3) or '#', at most CREDS_USER_MAX bytes; group names are [A-Za-z0-9._-]{1,64}. */
bool creds_username_valid(const char *s, size_t len);
bool creds_group_name_valid(const char *s, size_t len);

/* --- loading --- */
typedef struct creds_db creds_db;

typedef struct creds_opts {
    bool allow_groups; /* group entries may authenticate devices that have no device entry */
    bool no_cache;     /* every check runs argon2 (for measuring; not for production) */
} creds_opts;

/* Every problem found, one message each: "<file>:<line>: <what is wrong>". */
typedef struct creds_errors {
    size_t n;
    char **msg;
} creds_errors;

void creds_errors_free(creds_errors *e);

/* Loads a credentials file. On success *out holds one reference. Returns 0, -EINVAL when the file
 * has errors (all of them are in *errs when errs is not NULL; no db is made), or a negative errno
 * when the file cannot be read (also reported in *errs). opts NULL: all false. */
int creds_db_load(const char *path, const creds_opts *opts, creds_db **out, creds_errors *errs);
/* The same from memory; name is what the messages call the file. */
int creds_db_parse(const char *name, const char *text, size_t len, const creds_opts *opts,
                   creds_db **out, creds_errors *errs);

creds_db *creds_db_ref(creds_db *db);
/* Drops a reference; the last one wipes and frees the db. NULL is ignored. */
void creds_db_unref(creds_db *db);

size_t creds_db_devices(const creds_db *db);
size_t creds_db_groups(const creds_db *db);

/* --- checking --- */
typedef enum creds_status {
    CREDS_OK = 0,
    CREDS_UNKNOWN_DEVICE, /* no device entry and no usable group entry: auto-enrolment is the
                           * caller's policy */
    CREDS_BAD_USERNAME,   /* the device entry names another user */
    CREDS_BAD_PASSWORD,
    CREDS_ERROR, /* argon2 could not run (out of memory): refuse, and log it as ours, not theirs */
    CREDS_NEED_ARGON2, /* only from creds_precheck: the answer needs argon2 (run creds_check) */
} creds_status;

typedef enum creds_match {
    CREDS_MATCH_NONE,
    CREDS_MATCH_DEVICE,
    CREDS_MATCH_GROUP,
} creds_match;

typedef struct creds_result {
    creds_status status;
    creds_match match;
    const char *group; /* the group's name when match is GROUP; valid while the db is held */
    bool cached;       /* decided by the cache, without argon2 */
} creds_result;

/* Checks an APF USERAUTH login. guid: the 16 raw PROTOCOLVERSION bytes (directory.h's guid
 * order). A device entry for the GUID decides alone; without one, a group entry whose username
 * matches decides when opts.allow_groups. Unknown devices and wrong usernames are refused without
 * running argon2: GUIDs and usernames are identifiers, not secrets (apf.md 6.1), and a flood of
 * them must not buy CPU. Usernames and digests are compared in constant time. Neither the password
 * nor anything derived from it outlives the call except the cache digest. res may be NULL. */
creds_status creds_check(creds_db *db, const guid *device, const char *user, size_t ulen,
                         const void *pw, size_t pwlen, creds_result *res);

/* The part of creds_check that needs no argon2, cheap enough for an io_uring worker: decides
 * unknown devices, wrong usernames and every check the cache can decide (a few microseconds), and
 * returns CREDS_NEED_ARGON2 for the rest, which the caller then hands to its checker pool as
 * creds_check. A reconnect storm of known devices then never leaves the workers. */
creds_status creds_precheck(creds_db *db, const guid *device, const char *user, size_t ulen,
                            const void *pw, size_t pwlen, creds_result *res);

const char *creds_status_str(creds_status s);

/* Per-db counters (they start at zero with each reload). */
typedef struct creds_stats {
    uint64_t argon2_runs; /* how many times argon2 ran: what the cache saves */
    uint64_t cache_hits;  /* checks decided by the cache, either way */
    uint64_t ok, unknown_device, bad_username, bad_password, errors;
} creds_stats;

void creds_db_stats(creds_db *db, creds_stats *out);

/* --- reload
 * --------------------------------------------------------------------------------------- A slot
 * holds the current db. creds_slot_get takes the lock only long enough to take a reference, once
 * per login (never per byte), so readers never see a freed db and never wait for argon2. */
typedef struct creds_slot {
    pthread_mutex_t mu;
    creds_db *db;
} creds_slot;

/* Takes over the caller's reference to db (may be NULL). */
void creds_slot_init(creds_slot *s, creds_db *db);
/* A new reference to the current db (the caller unrefs it), or NULL. */
creds_db *creds_slot_get(creds_slot *s);
/* Installs db (taking over the caller's reference) and drops the slot's reference to the old one.
 */
void creds_slot_set(creds_slot *s, creds_db *db);
void creds_slot_destroy(creds_slot *s);

#endif
