/* Credentials: the file format, argon2id checks, the verified-credential cache and reload. Hashes
 * use cheap test parameters (m=64 KiB, t=1): these tests are about behaviour, bench/core about
 * cost. */
#include "creds.h"
#include "ct.h"
#include "directory.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};

#define GUID_A "4c4c4544-004d-4d10-8050-b2c04f325133"
#define GUID_B "12345678-9abc-def0-1234-56789abcdef0"

static char *hash(const char *pw)
{
    static char buf[8][CREDS_PHC_MAX];
    static int next;
    char *out = buf[next++ % 8];
    cr_assert_eq(creds_hash(pw, strlen(pw), &cheap, out, CREDS_PHC_MAX), 0);
    return out;
}

static guid guid_of(const char *s)
{
    guid g;
    cr_assert_eq(guid_parse(s, strlen(s), &g), 0, "%s", s);
    return g;
}

static creds_db *parse(const char *text, bool groups)
{
    creds_opts o = {.allow_groups = groups};
    creds_errors errs = {0};
    creds_db *db = NULL;
    int rc = creds_db_parse("t.creds", text, strlen(text), &o, &db, &errs);
    cr_assert_eq(rc, 0, "parse failed: %s", errs.n ? errs.msg[0] : "?");
    creds_errors_free(&errs);
    return db;
}

static creds_status check(creds_db *db, const char *g, const char *user, const char *pw,
                          creds_result *r)
{
    guid raw = guid_of(g);
    return creds_check(db, &raw, user, strlen(user), pw, strlen(pw), r);
}

static creds_stats stats(creds_db *db)
{
    creds_stats s;
    creds_db_stats(db, &s);
    return s;
}

static creds_db *one_device(const char *pw)
{
    char text[512];
    snprintf(text, sizeof text, "# a comment\n\ndevice %s admin %s\n", GUID_A, hash(pw));
    return parse(text, false);
}

Test(creds, round_trip)
{
    creds_db *db = one_device("Passw0rd!");
    cr_assert_eq(creds_db_devices(db), 1);
    creds_result r;
    cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd!", &r), CREDS_OK);
    cr_assert_eq(r.match, CREDS_MATCH_DEVICE);
    cr_assert_not(r.cached);
    cr_assert_eq(stats(db).argon2_runs, 1);
    cr_assert_eq(stats(db).ok, 1);
    creds_db_unref(db);
}

Test(creds, hash_is_argon2id_phc)
{
    char *h = hash("x");
    cr_assert(strncmp(h, "$argon2id$v=19$m=64,t=1,p=1$", 28) == 0, "%s", h);
    cr_assert_str_neq(h, hash("x"), "every hash has its own salt");
    char buf[CREDS_PHC_MAX];
    creds_params huge = {1, CREDS_MAX_M_COST + 1, 1};
    cr_assert_eq(creds_hash("x", 1, &huge, buf, sizeof buf), -EINVAL);
}

Test(creds, wrong_password)
{
    creds_db *db = one_device("Passw0rd!");
    creds_result r;
    cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd?", &r), CREDS_BAD_PASSWORD);
    cr_assert_eq(check(db, GUID_A, "admin", "", &r), CREDS_BAD_PASSWORD);
    cr_assert_eq(stats(db).bad_password, 2);
    creds_db_unref(db);
}

Test(creds, wrong_username_skips_argon2)
{
    creds_db *db = one_device("Passw0rd!");
    creds_result r;
    cr_assert_eq(check(db, GUID_A, "Admin", "Passw0rd!", &r), CREDS_BAD_USERNAME);
    cr_assert_eq(check(db, GUID_A, "admi", "Passw0rd!", &r), CREDS_BAD_USERNAME);
    cr_assert_eq(check(db, GUID_A, "admin\0", "Passw0rd!", &r), CREDS_OK, "C string: same name");
    guid g = guid_of(GUID_A);
    cr_assert_eq(creds_check(db, &g, "admin\0", 6, "Passw0rd!", 9, &r), CREDS_BAD_USERNAME);
    char longname[100];
    memset(longname, 'a', sizeof longname);
    cr_assert_eq(creds_check(db, &g, longname, sizeof longname, "x", 1, &r), CREDS_BAD_USERNAME);
    cr_assert_eq(stats(db).argon2_runs, 1, "only the good name ran argon2");
    creds_db_unref(db);
}

Test(creds, unknown_guid)
{
    creds_db *db = one_device("Passw0rd!");
    creds_result r;
    cr_assert_eq(check(db, GUID_B, "admin", "Passw0rd!", &r), CREDS_UNKNOWN_DEVICE);
    cr_assert_eq(r.match, CREDS_MATCH_NONE);
    cr_assert_eq(stats(db).argon2_runs, 0);
    cr_assert_eq(stats(db).unknown_device, 1);
    cr_assert_str_eq(creds_status_str(CREDS_UNKNOWN_DEVICE), "unknown device");
    creds_db_unref(db);
}

Test(creds, group_entries)
{
    char text[1024];
    snprintf(text, sizeof text,
             "group lab labuser %s\ngroup office officeuser %s   # trailing comment\n"
             "device %s labuser %s\n",
             hash("LabPass1!"), hash("OfficePass1!"), GUID_A, hash("DevicePass1!"));
    creds_db *db = parse(text, true);
    cr_assert_eq(creds_db_groups(db), 2);
    creds_result r;
    cr_assert_eq(check(db, GUID_B, "labuser", "LabPass1!", &r), CREDS_OK);
    cr_assert_eq(r.match, CREDS_MATCH_GROUP);
    cr_assert_str_eq(r.group, "lab");
    cr_assert_eq(check(db, GUID_B, "officeuser", "OfficePass1!", &r), CREDS_OK);
    cr_assert_str_eq(r.group, "office");
    cr_assert_eq(check(db, GUID_B, "officeuser", "LabPass1!", &r), CREDS_BAD_PASSWORD);
    cr_assert_eq(check(db, GUID_B, "nobody", "LabPass1!", &r), CREDS_UNKNOWN_DEVICE);
    /* A device entry decides alone, even when its username is a group's. */
    cr_assert_eq(check(db, GUID_A, "labuser", "LabPass1!", &r), CREDS_BAD_PASSWORD);
    cr_assert_eq(r.match, CREDS_MATCH_DEVICE);
    cr_assert_eq(check(db, GUID_A, "labuser", "DevicePass1!", &r), CREDS_OK);
    creds_db_unref(db);

    db = parse(text, false); /* group auth not allowed by the config */
    cr_assert_eq(check(db, GUID_B, "labuser", "LabPass1!", &r), CREDS_UNKNOWN_DEVICE);
    creds_db_unref(db);
}

Test(creds, guids_case_insensitive)
{
    char text[512];
    snprintf(text, sizeof text, "device 4C4C4544-004D-4D10-8050-B2C04F325133 admin %s\n",
             hash("Passw0rd!"));
    creds_db *db = parse(text, false);
    cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd!", NULL), CREDS_OK);
    cr_assert_eq(check(db, "4c4c4544-004D-4d10-8050-B2c04f325133", "admin", "Passw0rd!", NULL),
                 CREDS_OK);
    /* the raw bytes are PROTOCOLVERSION's (apf.md 2.14 vector V1) */
    const guid raw = {{0x44, 0x45, 0x4c, 0x4c, 0x4d, 0x00, 0x10, 0x4d, 0x80, 0x50, 0xb2, 0xc0, 0x4f,
                       0x32, 0x51, 0x33}};
    cr_assert_eq(creds_check(db, &raw, "admin", 5, "Passw0rd!", 9, NULL), CREDS_OK);
    creds_db_unref(db);
}

Test(creds, bad_lines_all_reported)
{
    char text[4096];
    const char *h = hash("x");
    snprintf(
        text, sizeof text,
        "device %s admin %s\n"                                                            /* 1 ok */
        "device 4c4c4544-004d-4d10-8050 admin %s\n"                                       /* 2 */
        "devices %s admin %s\n"                                                           /* 3 */
        "device %s admin\n"                                                               /* 4 */
        "device %s ad@min %s\n"                                                           /* 5 */
        "device %s admin $argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n" /* 6 */
        "device %s admin $argon2id$v=19$m=9999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA\n"
        "DEVICE %s admin %s\n"    /* 8: duplicate of 1 */
        "group bad/name u1 %s\n"  /* 9 */
        "group g1 u1 %s\n"        /* 10 ok */
        "group g2 u1 %s\n"        /* 11 */
        "group g1 u2 %s extra\n", /* 12 */
        GUID_A, h, h, GUID_B, h, GUID_B, GUID_B, h, GUID_B, GUID_B,
        "4C4C4544-004D-4D10-8050-B2C04F325133", h, h, h, h, h);
    /* "DEVICE" is not a keyword: keywords are lower case */
    creds_errors errs = {0};
    creds_db *db = (creds_db *)1;
    cr_assert_eq(creds_db_parse("devs.creds", text, strlen(text), NULL, &db, &errs), -EINVAL);
    cr_assert_null(db);
    const char *want[] = {
        "devs.creds:2: bad GUID '4c4c4544-004d-4d10-8050' (expected 8-4-4-4-12 hex digits)",
        "devs.creds:3: unknown keyword 'devices' (expected 'device' or 'group')",
        "devs.creds:4: expected 4 fields (device <GUID> <username> <hash>), found 3",
        "devs.creds:5: bad username 'ad@min' (1..32 printable characters, none of whitespace @ $ "
        "#)",
        "devs.creds:6: hash is not an argon2id PHC string (expected "
        "$argon2id$v=19$m=..,t=..,p=..$salt$hash)",
        "devs.creds:7: hash parameters m=9999999,t=1,p=1 are outside the accepted range "
        "(m 8*p..262144 KiB, t 1..64, p 1..16)",
        "devs.creds:8: unknown keyword 'DEVICE' (expected 'device' or 'group')",
        "devs.creds:9: bad group name 'bad/name' (1..64 of A-Z a-z 0-9 . _ -)",
        "devs.creds:11: group 'g2' uses username 'u1' of group 'g1' (line 10): ambiguous",
        "devs.creds:12: expected 4 fields (group <name> <username> <hash>), found more",
    };
    size_t nwant = sizeof want / sizeof *want;
    for (size_t i = 0; i < errs.n && i < nwant; i++)
        cr_expect_str_eq(errs.msg[i], want[i]);
    cr_assert_eq(errs.n, nwant);
    creds_errors_free(&errs);
}

Test(creds, duplicates_name_first_line)
{
    char text[1024];
    const char *h = hash("x");
    snprintf(text, sizeof text, "device %s a %s\n#\ndevice %s b %s\ngroup g u %s\ngroup g v %s\n",
             GUID_A, h, "4C4C4544-004D-4D10-8050-B2C04F325133", h, h, h);
    creds_errors errs = {0};
    creds_db *db;
    cr_assert_eq(creds_db_parse("d", text, strlen(text), NULL, &db, &errs), -EINVAL);
    cr_assert_eq(errs.n, 2);
    cr_expect_str_eq(
        errs.msg[0],
        "d:3: duplicate device 4C4C4544-004D-4D10-8050-B2C04F325133 (first at line 1)");
    cr_expect_str_eq(errs.msg[1], "d:5: duplicate group 'g' (first at line 4)");
    creds_errors_free(&errs);
}

Test(creds, missing_file)
{
    creds_errors errs = {0};
    creds_db *db;
    cr_assert_eq(creds_db_load("/nonexistent/creds", NULL, &db, &errs), -ENOENT);
    cr_assert_eq(errs.n, 1);
    cr_assert_str_eq(errs.msg[0], "/nonexistent/creds: cannot open: No such file or directory");
    creds_errors_free(&errs);
}

Test(creds, cache_hit_skips_argon2)
{
    creds_db *db = one_device("Passw0rd!");
    creds_result r;
    cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd!", &r), CREDS_OK);
    cr_assert_not(r.cached);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd!", &r), CREDS_OK);
        cr_assert(r.cached);
    }
    /* a wrong password against a cached entry is refused by the cache too */
    cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd", &r), CREDS_BAD_PASSWORD);
    cr_assert(r.cached);
    creds_stats s = stats(db);
    cr_assert_eq(s.argon2_runs, 1);
    cr_assert_eq(s.cache_hits, 6);
    creds_db_unref(db);
}

Test(creds, precheck_decides_without_argon2)
{
    creds_db *db = one_device("Passw0rd!");
    guid a = guid_of(GUID_A), b = guid_of(GUID_B);
    creds_result r;
    cr_assert_eq(creds_precheck(db, &b, "admin", 5, "Passw0rd!", 9, &r), CREDS_UNKNOWN_DEVICE);
    cr_assert_eq(creds_precheck(db, &a, "root", 4, "Passw0rd!", 9, &r), CREDS_BAD_USERNAME);
    cr_assert_eq(creds_precheck(db, &a, "admin", 5, "Passw0rd!", 9, &r), CREDS_NEED_ARGON2);
    cr_assert_eq(stats(db).argon2_runs, 0);
    cr_assert_eq(stats(db).ok + stats(db).bad_password, 0, "NEED_ARGON2 is not an outcome");
    cr_assert_eq(creds_check(db, &a, "admin", 5, "Passw0rd!", 9, &r), CREDS_OK);
    cr_assert_eq(creds_precheck(db, &a, "admin", 5, "Passw0rd!", 9, &r), CREDS_OK);
    cr_assert(r.cached);
    cr_assert_eq(creds_precheck(db, &a, "admin", 5, "wrong", 5, &r), CREDS_BAD_PASSWORD);
    cr_assert_eq(stats(db).argon2_runs, 1);
    creds_db_unref(db);
}

Test(creds, no_cache_option_runs_argon2_each_time)
{
    char text[512];
    snprintf(text, sizeof text, "device %s admin %s\n", GUID_A, hash("Passw0rd!"));
    creds_opts o = {.no_cache = true};
    creds_db *db;
    cr_assert_eq(creds_db_parse("t", text, strlen(text), &o, &db, NULL), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(check(db, GUID_A, "admin", "Passw0rd!", NULL), CREDS_OK);
    cr_assert_eq(stats(db).argon2_runs, 3);
    creds_db_unref(db);
}

Test(creds, reload_invalidates_cache)
{
    char path[] = "/tmp/mpsd-creds-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    dprintf(fd, "device %s admin %s\n", GUID_A, hash("OldPass1!"));
    close(fd);

    creds_db *db;
    cr_assert_eq(creds_db_load(path, NULL, &db, NULL), 0);
    creds_slot slot;
    creds_slot_init(&slot, db);

    creds_db *held = creds_slot_get(&slot);
    cr_assert_eq(check(held, GUID_A, "admin", "OldPass1!", NULL), CREDS_OK);
    cr_assert_eq(check(held, GUID_A, "admin", "OldPass1!", NULL), CREDS_OK);
    cr_assert_eq(stats(held).argon2_runs, 1);

    /* SIGHUP: the same file again -> a new db with an empty cache */
    cr_assert_eq(creds_db_load(path, NULL, &db, NULL), 0);
    creds_slot_set(&slot, db);
    creds_db *now = creds_slot_get(&slot);
    cr_assert_neq(now, held);
    cr_assert_eq(check(now, GUID_A, "admin", "OldPass1!", NULL), CREDS_OK);
    cr_assert_eq(stats(now).argon2_runs, 1, "a reload starts with an empty cache");
    creds_db_unref(now);

    /* the password changes: the old one no longer works once the new db is in */
    fd = open(path, O_WRONLY | O_TRUNC);
    dprintf(fd, "device %s admin %s\n", GUID_A, hash("NewPass1!"));
    close(fd);
    cr_assert_eq(creds_db_load(path, NULL, &db, NULL), 0);
    creds_slot_set(&slot, db);
    now = creds_slot_get(&slot);
    cr_assert_eq(check(now, GUID_A, "admin", "OldPass1!", NULL), CREDS_BAD_PASSWORD);
    cr_assert_eq(check(now, GUID_A, "admin", "NewPass1!", NULL), CREDS_OK);
    creds_db_unref(now);

    /* a check that took its reference before both swaps still finishes on its db (ASan would
     * catch a use after free) */
    cr_assert_eq(check(held, GUID_A, "admin", "OldPass1!", NULL), CREDS_OK);
    creds_db_unref(held);
    creds_slot_destroy(&slot);
    unlink(path);
}

struct par {
    creds_db *db;
    int ok;
};

static void *par_check(void *arg)
{
    struct par *p = arg;
    for (int i = 0; i < 50; i++)
        p->ok += check(p->db, GUID_A, "admin", "Passw0rd!", NULL) == CREDS_OK;
    return NULL;
}

Test(creds, concurrent_checks)
{
    creds_db *db = one_device("Passw0rd!");
    pthread_t t[4];
    struct par p[4];
    for (int i = 0; i < 4; i++) {
        p[i] = (struct par){db, 0};
        pthread_create(&t[i], NULL, par_check, &p[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        cr_assert_eq(p[i].ok, 50);
    }
    creds_stats s = stats(db);
    cr_assert_eq(s.argon2_runs + s.cache_hits, 200);
    cr_assert_leq(s.argon2_runs, 4, "at most one argon2 per thread before the cache fills");
    creds_db_unref(db);
}

Test(creds, wipe_and_constant_time_helpers)
{
    char secret[32];
    memcpy(secret, "Passw0rd!Passw0rd!Passw0rd!12345", sizeof secret);
    ct_wipe(secret, sizeof secret);
    for (size_t i = 0; i < sizeof secret; i++)
        cr_assert_eq(secret[i], 0);
    cr_assert(ct_memeq("abc", "abc", 3));
    cr_assert_not(ct_memeq("abc", "abd", 3));
    uint8_t stored[8] = "admin";
    cr_assert(ct_bufeq(stored, 5, 8, "admin", 5));
    cr_assert_not(ct_bufeq(stored, 5, 8, "admin\0", 6));
    cr_assert_not(ct_bufeq(stored, 5, 8, "admi", 4));
    cr_assert_not(ct_bufeq(stored, 5, 8, "adminadminadmin", 15));
    /* creds_check leaves the caller's password as it was: wiping it is the caller's job */
    char pw[] = "Passw0rd!";
    creds_db *db = one_device("Passw0rd!");
    guid g = guid_of(GUID_A);
    cr_assert_eq(creds_check(db, &g, "admin", 5, pw, strlen(pw), NULL), CREDS_OK);
    cr_assert_str_eq(pw, "Passw0rd!");
    creds_db_unref(db);
}
