/* users.h - console users and their access rules (the users file), checked with the same argon2id
 * machinery, verified-credential cache and reload slot as the device credentials (creds.h).
 * docs/console-users.md describes the file, the rules and the threat model.
 *
 * A console authenticates with a username and password (SOCKS5 RFC 1929, SOCKS4 "user:password"
 * user id, HTTP Proxy-Authorization: Basic). Each user carries an ACL: which devices (by GUID, by
 * host name glob, by device credential group, or all) and which ports. Deny by default: a user
 * without a devices rule reaches nothing, a rule without ports reaches no port.
 *
 * Like a creds_db, a users_db is immutable once loaded (its cache and counters aside), reference
 * counted, and swapped on SIGHUP through a users_slot, so sessions already open are never
 * dropped; a session remembers its user's name and every new channel is checked against the db
 * in force at that moment.
 */
#ifndef MPSD_CORE_USERS_H
#define MPSD_CORE_USERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"
#include "guid.h"

#define USERS_NAME_MAX 64 /* console user names: printable ASCII, no whitespace, ':' or '#' */

/* Bounds of the file (docs/console-users.md); lines are at most PWCHECK_MAX_LINE (4096) bytes. */
#define USERS_MAX_USERS        1024 /* a login compares the name with every user */
#define USERS_MAX_DEVICE_RULES 128  /* per user */
#define USERS_MAX_PORT_RULES   64   /* per user: ports and ranges */
#define USERS_HOST_MAX         255  /* host: globs, and device host names a host rule can match */

typedef struct users_db users_db;

/* Loads / parses a users file; errors as creds_db_load (every problem, "<file>:<line>: ..."). */
int users_db_load(const char *path, users_db **out, creds_errors *errs);
int users_db_parse(const char *name, const char *text, size_t len, users_db **out,
                   creds_errors *errs);
users_db *users_db_ref(users_db *db);
void users_db_unref(users_db *db); /* NULL is ignored */
size_t users_db_count(const users_db *db);

/* Whether the file would accept s as a user name (USERS_NAME_MAX above). */
bool users_name_valid(const char *s, size_t len);
/* Checks a devices= and a ports= value (without the "devices=" / "ports=") as the file would, for
 * tools that write lines (mpsd-passwd --console); every problem goes to errs as
 * "--devices: ..." / "--ports: ...". 0, or -EINVAL. */
int users_acl_check(const char *devices, const char *ports, creds_errors *errs);

typedef enum users_status {
    USERS_OK = 0,
    USERS_UNKNOWN_USER, /* decided without argon2 */
    USERS_BAD_PASSWORD,
    USERS_ERROR,       /* argon2 could not run */
    USERS_NEED_ARGON2, /* only from users_precheck */
} users_status;

const char *users_status_str(users_status s);

/* Per-db counters (they start at zero with each reload), as creds_stats. */
typedef struct users_stats {
    uint64_t argon2_runs, cache_hits;
    uint64_t ok, unknown_user, bad_password, errors;
} users_stats;

void users_db_stats(users_db *db, users_stats *out);

/* Checks a console login; usernames compared in constant time, unknown users cost no argon2.
 * users_precheck is the part cheap enough for an io_uring worker (unknown users, and what the
 * verified-credential cache can decide); it returns USERS_NEED_ARGON2 for the rest, which the
 * caller hands to its checker pool as users_check. */
users_status users_check(users_db *db, const char *user, size_t ulen, const void *pw, size_t pwlen);
users_status users_precheck(users_db *db, const char *user, size_t ulen, const void *pw,
                            size_t pwlen);

/* What a console asks to reach, as the tunnel knows it. */
typedef struct users_target {
    const guid *device;
    const char *hostname; /* as the device registered it; "" or NULL when it named none */
    const char *group;    /* the credential group that authenticated the device, or NULL */
    uint16_t port;
} users_target;

/* Whether user (by name) may reach t under db's rules. An unknown user is denied. */
bool users_allows(const users_db *db, const char *user, size_t ulen, const users_target *t);

/* The reload holder (the same pattern as creds_slot). */
typedef struct users_slot {
    pthread_mutex_t mu;
    users_db *db;
} users_slot;

void users_slot_init(users_slot *s, users_db *db);
users_db *users_slot_get(users_slot *s);
void users_slot_set(users_slot *s, users_db *db);
void users_slot_destroy(users_slot *s);

#endif
