/* Console users file and ACLs (src/core/users.c): parsing and its messages, logins through the
 * shared argon2id cache, deny-by-default rules under hostile targets, and reload. */
#include "users.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define G1    "4c4c4544-004d-4d10-8050-b2c04f325133"
#define G1_UP "4C4C4544004D4D108050B2C04F325133" /* the same GUID, no dashes, upper case */
#define G2    "00000000-0000-0000-0000-000000000002"
/* A well-formed PHC string whose password nobody knows: for tests that never verify. */
#define PHC                                                                                        \
    "$argon2id$v=19$m=64,t=1,p=1$c29tZXNhbHRzYWx0$Nf8+NQdZxb1Qmn4B0gTbsJr3XyHg7iN7oYvK3ZYqP2A"

static const creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};

static char *hash(const char *pw)
{
    static char buf[4][CREDS_PHC_MAX];
    static int next;
    char *b = buf[next++ % 4];
    cr_assert_eq(creds_hash(pw, strlen(pw), &cheap, b, CREDS_PHC_MAX), 0);
    return b;
}

static users_db *parse(const char *text)
{
    creds_errors errs = {0};
    users_db *db = NULL;
    int rc = users_db_parse("users", text, strlen(text), &db, &errs);
    cr_assert_eq(rc, 0, "parse failed: %s", errs.n ? errs.msg[0] : "?");
    cr_assert_eq(errs.n, 0);
    creds_errors_free(&errs);
    return db;
}

/* Parses text that must fail; returns its messages (the caller frees). */
static creds_errors parse_bad(const char *text)
{
    creds_errors errs = {0};
    users_db *db = (users_db *)1;
    cr_assert_eq(users_db_parse("users", text, strlen(text), &db, &errs), -EINVAL, "%s", text);
    cr_assert_null(db);
    return errs;
}

static void assert_one_error(const char *text, const char *want)
{
    creds_errors e = parse_bad(text);
    cr_assert_eq(e.n, 1, "%zu messages for %s (first: %s)", e.n, text, e.n ? e.msg[0] : "");
    cr_assert_str_eq(e.msg[0], want);
    creds_errors_free(&e);
}

static users_db *one_user(const char *pw, const char *acl)
{
    char text[1024];
    snprintf(text, sizeof text, "user alice %s %s\n", hash(pw), acl);
    return parse(text);
}

static users_status check(users_db *db, const char *user, const char *pw)
{
    return users_check(db, user, strlen(user), pw, strlen(pw));
}

static users_status precheck(users_db *db, const char *user, const char *pw)
{
    return users_precheck(db, user, strlen(user), pw, strlen(pw));
}

static users_stats stats(users_db *db)
{
    users_stats s;
    users_db_stats(db, &s);
    return s;
}

static guid guid_of(const char *s)
{
    guid g;
    cr_assert_eq(guid_parse_loose(s, strlen(s), &g), 0, "%s", s);
    return g;
}

/* Whether alice may reach (device, host, group, port). */
static bool allows(const users_db *db, const char *dev, const char *host, const char *group,
                   uint16_t port)
{
    guid g = guid_of(dev);
    users_target t = {.device = &g, .hostname = host, .group = group, .port = port};
    return users_allows(db, "alice", 5, &t);
}

static users_db *acl(const char *rules)
{
    char text[8192];
    snprintf(text, sizeof text, "user alice " PHC " %s\n", rules);
    return parse(text);
}

/* --- logins --- */

Test(users, login_round_trip)
{
    users_db *db = one_user("s3cret-console", "devices=all ports=all");
    cr_assert_eq(users_db_count(db), 1);
    cr_assert_eq(check(db, "alice", "s3cret-console"), USERS_OK);
    cr_assert_eq(check(db, "alice", "s3cret-consolE"), USERS_BAD_PASSWORD);
    cr_assert_eq(check(db, "alice", ""), USERS_BAD_PASSWORD);
    cr_assert_eq(check(db, "Alice", "s3cret-console"), USERS_UNKNOWN_USER, "names are exact");
    cr_assert_eq(check(db, "alic", "s3cret-console"), USERS_UNKNOWN_USER);
    cr_assert_eq(users_check(db, "alice\0x", 7, "s3cret-console", 14), USERS_UNKNOWN_USER);
    users_stats s = stats(db);
    cr_assert_eq(s.ok, 1);
    cr_assert_eq(s.bad_password, 2);
    cr_assert_eq(s.unknown_user, 3);
    cr_assert_eq(s.argon2_runs, 1, "only the first login ran argon2; the cache decided the rest");
    cr_assert_eq(s.cache_hits, 2);
    users_db_unref(db);
}

Test(users, unknown_users_cost_no_argon2)
{
    users_db *db = one_user("pw", "devices=all ports=all");
    char name[200];
    memset(name, 'a', sizeof name);
    for (int i = 0; i < 100; i++) {
        snprintf(name, 40, "nobody%d", i);
        cr_assert_eq(check(db, name, "pw"), USERS_UNKNOWN_USER);
    }
    /* longer than any name, and one that starts like alice's */
    cr_assert_eq(users_check(db, name, sizeof name, "pw", 2), USERS_UNKNOWN_USER);
    cr_assert_eq(users_check(db, "alice", 0, "pw", 2), USERS_UNKNOWN_USER);
    cr_assert_eq(stats(db).argon2_runs, 0);
    cr_assert_eq(stats(db).unknown_user, 102);
    users_db_unref(db);
}

Test(users, precheck_decides_what_it_can_without_argon2)
{
    users_db *db = one_user("right", "devices=all ports=all");
    cr_assert_eq(precheck(db, "bob", "right"), USERS_UNKNOWN_USER);
    cr_assert_eq(precheck(db, "alice", "right"), USERS_NEED_ARGON2, "cache empty");
    cr_assert_eq(precheck(db, "alice", "wrong"), USERS_NEED_ARGON2);
    cr_assert_eq(stats(db).argon2_runs, 0);
    cr_assert_eq(check(db, "alice", "wrong"), USERS_BAD_PASSWORD, "a failure is not cached");
    cr_assert_eq(precheck(db, "alice", "wrong"), USERS_NEED_ARGON2);
    cr_assert_eq(check(db, "alice", "right"), USERS_OK);
    cr_assert_eq(precheck(db, "alice", "right"), USERS_OK);
    cr_assert_eq(precheck(db, "alice", "wrong"), USERS_BAD_PASSWORD, "exact once cached");
    users_stats s = stats(db);
    cr_assert_eq(s.argon2_runs, 2);
    cr_assert_eq(s.cache_hits, 2);
    cr_assert_eq(s.ok, 2);
    cr_assert_eq(s.bad_password, 2, "NEED_ARGON2 is not counted as an outcome");
    users_db_unref(db);
}

Test(users, two_users_one_password_kept_apart)
{
    char text[1024];
    snprintf(text, sizeof text,
             "# consoles\n\nuser alice %s devices=all ports=all\n"
             "user bob %s devices=all ports=16992   # bob: web UI only\n",
             hash("same"), hash("same"));
    users_db *db = parse(text);
    cr_assert_eq(users_db_count(db), 2);
    cr_assert_eq(check(db, "alice", "same"), USERS_OK);
    cr_assert_eq(precheck(db, "bob", "same"), USERS_NEED_ARGON2, "alice's cache is not bob's");
    cr_assert_eq(check(db, "bob", "same"), USERS_OK);
    cr_assert_str_eq(users_status_str(USERS_UNKNOWN_USER), "unknown user");
    cr_assert_str_eq(users_status_str(USERS_BAD_PASSWORD), "wrong password");
    users_db_unref(db);
}

/* --- the file --- */

Test(users, names)
{
    cr_assert(users_name_valid("a", 1));
    cr_assert(users_name_valid("ops@example.com", 15), "'@' is fine for consoles");
    char n[USERS_NAME_MAX + 1];
    memset(n, 'x', sizeof n);
    cr_assert(users_name_valid(n, USERS_NAME_MAX));
    cr_assert_not(users_name_valid(n, USERS_NAME_MAX + 1));
    cr_assert_not(users_name_valid("", 0));
    cr_assert_not(users_name_valid("a:b", 3), "SOCKS4 splits user:password at the first ':'");
    cr_assert_not(users_name_valid("a#b", 3));
    cr_assert_not(users_name_valid("a b", 3));
    cr_assert_not(users_name_valid("a\tb", 3));
    cr_assert_not(users_name_valid("caf\xc3\xa9", 5));
    cr_assert_not(users_name_valid("a\x7f", 2));
}

Test(users, every_bad_line_reported)
{
    const char *text =
        "user ok " PHC " devices=all ports=all\n"                                        /* 1 */
        "users x " PHC " devices=all ports=all\n"                                        /* 2 */
        "user a:b " PHC " devices=all ports=all\n"                                       /* 3 */
        "user b $argon2i$v=19$m=64,t=1,p=1$c29tZXNhbHRzYWx0$Nf8 devices=all ports=all\n" /* 4 */
        "user c " PHC " devices=guid:1234 ports=all\n"                                   /* 5 */
        "user d " PHC " devices=host:a/b ports=all\n"                                    /* 6 */
        "user e " PHC " devices=group:a+b ports=all\n"                                   /* 7 */
        "user f " PHC " devices=mac:00:11 ports=all\n"                                   /* 8 */
        "user g " PHC " devices=all ports=0\n"                                           /* 9 */
        "user h " PHC " devices=all ports=16995-16992\n"                                 /* 10 */
        "user i " PHC " devices=all\n"                                                   /* 11 */
        "user j " PHC " ports=all\n"                                                     /* 12 */
        "user k " PHC " devices=all ports=all color=red\n"                               /* 13 */
        "user ok " PHC " devices=all ports=all\n"                                        /* 14 */
        "user l " PHC " devices=all,guid:" G1 " ports=all\n"                             /* 15 */
        "user m " PHC " devices=all ports=all,16992\n"                                   /* 16 */
        "user n " PHC " devices=all,,host:x ports=all\n"                                 /* 17 */
        "user o " PHC " devices=all devices=all ports=all\n"                             /* 18 */
        "user p " PHC "\n"                                                               /* 19 */
        "user q\n"                                                                       /* 20 */
        "user r " PHC " devices= ports=all\n"                                            /* 21 */
        "user s " PHC " devices=all ports=65536\n"                                       /* 22 */
        "user t " PHC " devices=all ports=all a b c d # e f g\n";                        /* 23 */
    creds_errors e = parse_bad(text);
    const char *want[] = {
        "users:2: unknown keyword 'users' (expected 'user')",
        "users:3: bad user name 'a:b' (1..64 printable characters, none of whitespace : #)",
        "users:4: hash is not an argon2id PHC string (expected "
        "$argon2id$v=19$m=..,t=..,p=..$salt$hash)",
        "users:5: bad GUID in device rule 'guid:1234' (expected 8-4-4-4-12 or 32 hex digits)",
        "users:6: bad host glob in device rule 'host:a/b' (1..255 of A-Z a-z 0-9 . - _ and the "
        "wildcards * ?)",
        "users:7: bad group name in device rule 'group:a+b' (1..64 of A-Z a-z 0-9 . _ -)",
        "users:8: unknown device rule 'mac:00:11' (expected all, guid:<GUID>, host:<glob> or "
        "group:<name>)",
        "users:9: bad port '0' (expected all, 1..65535 or a range like 16992-16995)",
        "users:10: port range '16995-16992' runs backwards",
        "users:11: user 'i' has no ports=<ports>: it could reach nothing (deny by default)",
        "users:12: user 'j' has no devices=<rules>: it could reach nothing (deny by default)",
        "users:13: unknown option 'color=red' (expected devices=... or ports=...)",
        "users:14: duplicate user 'ok' (first at line 1)",
        "users:15: 'devices=all' stands alone: next to other rules it still allows every device",
        "users:16: 'ports=all' stands alone: next to other ports it still allows every port",
        "users:17: empty device rule in 'all,,host:x'",
        "users:18: devices= given twice",
        "users:19: user 'p' has no devices=<rules>: it could reach nothing (deny by default)",
        "users:20: expected user <name> <hash> devices=<rules> ports=<ports>, found 2 fields",
        "users:21: empty device rule in ''",
        "users:22: bad port '65536' (expected all, 1..65535 or a range like 16992-16995)",
        "users:23: expected user <name> <hash> devices=<rules> ports=<ports>, found more than 8 "
        "fields",
    };
    size_t nw = sizeof want / sizeof *want;
    for (size_t i = 0; i < e.n && i < nw; i++)
        cr_expect_str_eq(e.msg[i], want[i], "message %zu", i);
    cr_assert_eq(e.n, nw, "%zu messages", e.n);
    creds_errors_free(&e);
}

Test(users, bounds)
{
    /* rules per user */
    char *text = malloc(256 << 10); /* 1025 user lines */
    char *p = text + sprintf(text, "user alice " PHC " ports=all devices=");
    for (int i = 0; i < USERS_MAX_DEVICE_RULES; i++)
        p += sprintf(p, "%sgroup:g%d", i ? "," : "", i);
    strcpy(p, "\n");
    users_db *db = parse(text);
    users_db_unref(db);
    strcpy(p, ",group:one-more\n");
    assert_one_error(text, "users:1: more than 128 device rules");

    p = text + sprintf(text, "user alice " PHC " devices=all ports=");
    for (int i = 0; i < USERS_MAX_PORT_RULES + 1; i++)
        p += sprintf(p, "%s%d", i ? "," : "", 1000 + i);
    strcpy(p, "\n");
    assert_one_error(text, "users:1: more than 64 ports");

    /* users */
    p = text;
    for (int i = 0; i <= USERS_MAX_USERS; i++)
        p += sprintf(p, "user u%d " PHC " devices=all ports=all\n", i);
    assert_one_error(text, "users:1025: more than 1024 users");

    /* line length (the shared reader's limit) */
    memset(text, ' ', 5000);
    strcpy(text + 5000, "\n");
    assert_one_error(text, "users:1: line longer than 4096 bytes");
    free(text);
}

Test(users, nul_and_crlf)
{
    const char text[] = "user a " PHC " devices=all ports=all\r\nuser b\0 x\n";
    creds_errors e = {0};
    users_db *db = NULL;
    cr_assert_eq(users_db_parse("users", text, sizeof text - 1, &db, &e), -EINVAL);
    cr_assert_eq(e.n, 1);
    cr_assert_str_eq(e.msg[0], "users:2: NUL byte in line");
    creds_errors_free(&e);
    db = parse("user a " PHC " devices=all ports=all\r\n\r\n   # only a comment\r\n");
    cr_assert_eq(users_db_count(db), 1);
    users_db_unref(db);
    db = parse("");
    cr_assert_eq(users_db_count(db), 0, "an empty file: nobody may log in");
    cr_assert_eq(check(db, "a", "x"), USERS_UNKNOWN_USER);
    users_db_unref(db);
}

Test(users, load_from_file)
{
    char path[] = "/tmp/mpsd-users-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    char line[512];
    int n = snprintf(line, sizeof line, "user alice %s devices=host:*.lab ports=16992-16993\n",
                     hash("pw"));
    cr_assert_eq(write(fd, line, (size_t)n), n);
    close(fd);
    users_db *db = NULL;
    creds_errors e = {0};
    cr_assert_eq(users_db_load(path, &db, &e), 0);
    cr_assert_eq(check(db, "alice", "pw"), USERS_OK);
    cr_assert(allows(db, G1, "amt1.LAB", NULL, 16993));
    users_db_unref(db);
    unlink(path);
    cr_assert_eq(users_db_load(path, &db, &e), -ENOENT);
    cr_assert_eq(e.n, 1);
    char want[128];
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(e.msg[0], want);
    creds_errors_free(&e);
    cr_assert_eq(users_db_load("/tmp", &db, &e), -EINVAL, "a directory");
    creds_errors_free(&e);
}

Test(users, acl_check_for_tools)
{
    creds_errors e = {0};
    cr_assert_eq(users_acl_check("all", "all", &e), 0);
    cr_assert_eq(users_acl_check("guid:" G1_UP ",host:*.lab,group:lab", "16992,16994-16995", &e),
                 0);
    cr_assert_eq(e.n, 0);
    cr_assert_eq(users_acl_check("host:", "0", &e), -EINVAL);
    cr_assert_eq(e.n, 2);
    cr_assert_str_eq(e.msg[0], "--devices: bad host glob in device rule 'host:' (1..255 of A-Z "
                               "a-z 0-9 . - _ and the wildcards * ?)");
    cr_assert_str_eq(e.msg[1],
                     "--ports: bad port '0' (expected all, 1..65535 or a range like 16992-16995)");
    creds_errors_free(&e);
}

/* --- access rules --- */

Test(users, deny_unless_device_and_port)
{
    users_db *db = acl("devices=guid:" G1 " ports=16992,16994-16995");
    cr_assert(allows(db, G1, "h", NULL, 16992));
    cr_assert_not(allows(db, G1, "h", NULL, 16993));
    cr_assert(allows(db, G1, "h", NULL, 16994));
    cr_assert(allows(db, G1, "h", NULL, 16995));
    cr_assert_not(allows(db, G1, "h", NULL, 16996));
    cr_assert_not(allows(db, G1, "h", NULL, 0));
    cr_assert_not(allows(db, G2, "h", NULL, 16992), "another device");
    guid g = guid_of(G1);
    users_target t = {.device = &g, .port = 16992};
    cr_assert_not(users_allows(db, "bob", 3, &t), "unknown user");
    cr_assert_not(users_allows(db, "Alice", 5, &t), "names are exact");
    cr_assert_not(users_allows(db, "alice", 4, &t));
    cr_assert_not(users_allows(db, "alice\0", 6, &t));
    cr_assert_not(users_allows(NULL, "alice", 5, &t));
    cr_assert_not(users_allows(db, "alice", 5, NULL));
    t.device = NULL;
    cr_assert_not(users_allows(db, "alice", 5, &t), "no GUID matches no GUID rule");
    users_db_unref(db);

    db = acl("devices=all ports=all");
    cr_assert(allows(db, G2, NULL, NULL, 1));
    cr_assert(allows(db, G2, NULL, NULL, 65535));
    cr_assert_not(allows(db, G2, NULL, NULL, 0), "port 0 is never a port");
    users_db_unref(db);
}

Test(users, guid_forms)
{
    const char *forms[] = {"guid:" G1, "guid:" G1_UP, "guid:4C4C4544-004D-4D10-8050-B2C04F325133",
                           "guid:4c4c4544004d4d108050b2c04f325133"};
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        char rules[128];
        snprintf(rules, sizeof rules, "devices=%s ports=all", forms[i]);
        users_db *db = acl(rules);
        cr_assert(allows(db, G1, NULL, NULL, 16992), "%s", forms[i]);
        cr_assert(allows(db, G1_UP, NULL, NULL, 16992), "%s", forms[i]);
        cr_assert_not(allows(db, G2, NULL, NULL, 16992), "%s", forms[i]);
        users_db_unref(db);
    }
    creds_errors e = {0};
    const char *bad[] = {"guid:4c4c4544-004d4d10-8050-b2c04f325133", "guid:" G1 "0",
                         "guid:{" G1 "}", "guid:", "guid:4c4c4544004d4d108050b2c04f32513g"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(users_acl_check(bad[i], "all", &e), -EINVAL, "%s", bad[i]);
    creds_errors_free(&e);
}

Test(users, host_globs)
{
    users_db *db = acl("devices=host:amt-??.Lab.Example ports=all");
    cr_assert(allows(db, G1, "amt-01.lab.example", NULL, 1));
    cr_assert(allows(db, G1, "AMT-01.LAB.EXAMPLE", NULL, 1), "case-insensitive both ways");
    cr_assert_not(allows(db, G1, "amt-1.lab.example", NULL, 1), "'?' is exactly one");
    cr_assert_not(allows(db, G1, "amt-001.lab.example", NULL, 1));
    cr_assert_not(allows(db, G1, "amt-01.lab.example.evil", NULL, 1), "anchored at the end");
    cr_assert_not(allows(db, G1, "xamt-01.lab.example", NULL, 1), "anchored at the start");
    users_db_unref(db);

    db = acl("devices=host:*.lab ports=all");
    cr_assert(allows(db, G1, "a.lab", NULL, 1));
    cr_assert(allows(db, G1, "a.b.c.lab", NULL, 1), "'*' crosses dots: no path semantics");
    cr_assert(allows(db, G1, ".lab", NULL, 1), "'*' may be empty");
    cr_assert_not(allows(db, G1, "lab", NULL, 1));
    cr_assert_not(allows(db, G1, "a.lab.", NULL, 1), "a trailing dot is a different name");
    cr_assert_not(allows(db, G1, "a.lab\n", NULL, 1));
    users_db_unref(db);
}

Test(users, hostile_host_names)
{
    /* Wildcards in the device's own host name are plain bytes: they widen nothing. */
    users_db *db = acl("devices=host:amt1.lab ports=all");
    cr_assert_not(allows(db, G1, "*", NULL, 1));
    cr_assert_not(allows(db, G1, "amt?.lab", NULL, 1));
    cr_assert_not(allows(db, G1, "amt1.la*", NULL, 1));
    cr_assert_not(allows(db, G1, "[a]mt1.lab", NULL, 1));
    cr_assert(allows(db, G1, "AMT1.Lab", NULL, 1));
    users_db_unref(db);

    db = acl("devices=host:*x ports=all");
    cr_assert(allows(db, G1, "*ax", NULL, 1), "backtracks past a literal '*' in the name");
    cr_assert(allows(db, G1, "**x", NULL, 1));
    cr_assert(allows(db, G1, "x", NULL, 1));
    cr_assert_not(allows(db, G1, "x*", NULL, 1));
    users_db_unref(db);

    db = acl("devices=host:* ports=all");
    cr_assert(allows(db, G1, "anything", NULL, 1));
    cr_assert(allows(db, G1, "\x01\xff weird", NULL, 1), "'*' matches any bytes");
    cr_assert_not(allows(db, G1, "", NULL, 1), "no host name never matches, not even '*'");
    cr_assert_not(allows(db, G1, NULL, NULL, 1));
    char *longname = malloc(100000);
    memset(longname, 'a', 99999);
    longname[99999] = '\0';
    cr_assert_not(allows(db, G1, longname, NULL, 1), "longer than any host name");
    longname[USERS_HOST_MAX] = '\0';
    cr_assert(allows(db, G1, longname, NULL, 1), "255 bytes is still a name");
    longname[USERS_HOST_MAX] = 'a';
    users_db_unref(db);

    /* A pattern made to backtrack hard still answers at once (bounded by 255 x 255). */
    db = acl("devices=host:*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b ports=all");
    longname[USERS_HOST_MAX] = '\0';
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < 100; i++)
        cr_assert_not(allows(db, G1, longname, NULL, 1));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_assert_lt(ms, 500.0, "100 hostile matches took %.1f ms", ms);
    longname[USERS_HOST_MAX - 1] = 'b';
    cr_assert(allows(db, G1, longname, NULL, 1));
    users_db_unref(db);
    free(longname);
}

Test(users, groups_and_mixed_rules)
{
    users_db *db = acl("devices=group:lab-floor2,guid:" G2 ",host:kiosk-* ports=16992-16995");
    cr_assert(allows(db, G1, NULL, "lab-floor2", 16992));
    cr_assert_not(allows(db, G1, NULL, "Lab-Floor2", 16992), "group names are exact");
    cr_assert_not(allows(db, G1, NULL, "lab-floor", 16992));
    cr_assert_not(allows(db, G1, NULL, "lab-floor22", 16992));
    cr_assert_not(allows(db, G1, NULL, NULL, 16992), "a device entry, not a group");
    cr_assert(allows(db, G2, NULL, NULL, 16993), "any rule will do");
    cr_assert(allows(db, G1, "Kiosk-7", NULL, 16994));
    cr_assert_not(allows(db, G1, "kiosk-7", "lab-floor2", 16996), "ports still apply");
    users_db_unref(db);
}

/* --- reload --- */

Test(users, reload_slot)
{
    users_db *a = one_user("old", "devices=all ports=all");
    users_slot slot;
    users_slot_init(&slot, a);
    users_db *held = users_slot_get(&slot); /* a session's check in flight */
    cr_assert_eq(held, a);
    cr_assert_eq(check(held, "alice", "old"), USERS_OK);

    users_db *b = one_user("new", "devices=guid:" G2 " ports=16992");
    users_slot_set(&slot, b);
    /* the old db stays whole for whoever holds it */
    cr_assert_eq(precheck(held, "alice", "old"), USERS_OK);
    cr_assert(allows(held, G1, NULL, NULL, 1));
    users_db_unref(held);

    users_db *cur = users_slot_get(&slot);
    cr_assert_eq(cur, b);
    cr_assert_eq(precheck(cur, "alice", "new"), USERS_NEED_ARGON2, "a new db starts cold");
    cr_assert_eq(check(cur, "alice", "old"), USERS_BAD_PASSWORD);
    cr_assert_eq(check(cur, "alice", "new"), USERS_OK);
    cr_assert_not(allows(cur, G1, NULL, NULL, 16992), "new channels meet the new rules");
    cr_assert(allows(cur, G2, NULL, NULL, 16992));
    users_db_unref(cur);
    users_slot_set(&slot, NULL);
    cr_assert_null(users_slot_get(&slot));
    users_slot_destroy(&slot);
    users_db_unref(NULL);
}
