/* The device directory: GUID text, register/lookup/unregister, supersede, stale unregisters,
 * hostnames, iteration, and a 4-thread consistency run. */
#include "directory.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static guid guid_n(uint32_t n)
{
    guid g = {{0x44, 0x45, 0x4c, 0x4c}};
    memcpy(g.b + 12, &n, 4);
    return g;
}

static dir_entry entry(uint32_t n, uint32_t worker, uint64_t id, uint64_t gen, const char *host)
{
    dir_entry e;
    memset(&e, 0, sizeof e);
    e.guid = guid_n(n);
    e.worker = worker;
    e.tunnel_id = id;
    e.generation = gen;
    e.connected_since = 1700000000 + (int64_t)n;
    struct sockaddr_in *sin = (struct sockaddr_in *)&e.peer;
    sin->sin_family = AF_INET;
    sin->sin_port = htons(50000);
    sin->sin_addr.s_addr = htonl(0x7f000001);
    snprintf(e.hostname, sizeof e.hostname, "%s", host);
    return e;
}

static int host_lookup(dir *d, const char *h, dir_entry *out)
{
    return dir_lookup_host(d, h, strlen(h), out);
}

Test(guid, apf_vector_and_case)
{
    const uint8_t raw[16] = {0x44, 0x45, 0x4c, 0x4c, 0x4d, 0x00, 0x10, 0x4d,
                             0x80, 0x50, 0xb2, 0xc0, 0x4f, 0x32, 0x51, 0x33};
    guid g;
    memcpy(g.b, raw, 16);
    char s[GUID_STRLEN + 1];
    guid_format(&g, s);
    cr_assert_str_eq(s, "4c4c4544-004d-4d10-8050-b2c04f325133");
    guid back;
    cr_assert_eq(guid_parse("4C4C4544-004D-4D10-8050-B2C04F325133", 36, &back), 0);
    cr_assert_arr_eq(back.b, raw, 16);
    const char *bad[] = {
        "4c4c4544-004d-4d10-8050-b2c04f32513", "4c4c4544x004d-4d10-8050-b2c04f325133",
        "4c4c4544-004d-4d10-8050-b2c04f32513g", "{4c4c4544-004d-4d10-8050-b2c04f3251}",
        "4c4c4544004d4d108050b2c04f325133"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        cr_assert_eq(guid_parse(bad[i], strlen(bad[i]), &back), -EINVAL, "%s", bad[i]);
}

Test(dir, register_lookup_unregister)
{
    dir *d = dir_local_new(0);
    dir_entry e = entry(1, 0, 10, 1, "amt-1.example.com"), got;
    cr_assert_eq(dir_register(d, &e, NULL), 0);
    cr_assert_eq(dir_count(d), 1);
    cr_assert_eq(dir_lookup_guid(d, &e.guid, &got), 0);
    cr_assert_eq(got.tunnel_id, 10);
    cr_assert_eq(got.connected_since, e.connected_since);
    cr_assert_eq(((struct sockaddr_in *)&got.peer)->sin_port, htons(50000));
    cr_assert_eq(host_lookup(d, "AMT-1.Example.COM", &got), 0);
    cr_assert_eq(got.tunnel_id, 10);
    char s[GUID_STRLEN + 1];
    guid_format(&e.guid, s);
    cr_assert_eq(dir_lookup_guid_str(d, s, strlen(s), &got), 0);
    cr_assert_eq(dir_lookup_name(d, s, strlen(s), &got), 0);
    cr_assert_eq(dir_lookup_name(d, "amt-1.example.com", 17, &got), 0);
    cr_assert_eq(dir_lookup_guid_str(d, "nope", 4, &got), -EINVAL);
    cr_assert_eq(host_lookup(d, "amt-1", &got), -ENOENT, "no domain search");

    cr_assert_eq(dir_unregister(d, &e.guid, 0, 10, 1), 0);
    cr_assert_eq(dir_count(d), 0);
    cr_assert_eq(dir_lookup_guid(d, &e.guid, &got), -ENOENT);
    cr_assert_eq(host_lookup(d, "amt-1.example.com", &got), -ENOENT);
    cr_assert_eq(dir_unregister(d, &e.guid, 0, 10, 1), -ENOENT);
    dir_free(d);
}

Test(dir, supersede_returns_old_and_stale_unregister_is_ignored)
{
    dir *d = dir_local_new(8);
    dir_entry a = entry(7, 0, 100, 1, "dev7"), b = entry(7, 1, 200, 5, "dev7"), old, got;
    cr_assert_eq(dir_register(d, &a, &old), 0);
    cr_assert_eq(dir_register(d, &b, &old), 1);
    cr_assert_eq(old.worker, 0);
    cr_assert_eq(old.tunnel_id, 100);
    cr_assert_eq(old.generation, 1);
    cr_assert_eq(dir_count(d), 1);
    /* the old tunnel's late disconnect */
    cr_assert_eq(dir_unregister(d, &a.guid, 0, 100, 1), -ESTALE);
    cr_assert_eq(dir_unregister(d, &a.guid, 1, 200, 4), -ESTALE, "generation guards reuse");
    cr_assert_eq(dir_set_hostname(d, &a.guid, 0, 100, 1, "hijack", 6), -ESTALE);
    cr_assert_eq(dir_lookup_guid(d, &a.guid, &got), 0);
    cr_assert_eq(got.tunnel_id, 200);
    cr_assert_eq(host_lookup(d, "dev7", &got), 0);
    cr_assert_eq(got.tunnel_id, 200);
    cr_assert_eq(host_lookup(d, "hijack", &got), -ENOENT);
    cr_assert_eq(dir_unregister(d, &a.guid, 1, 200, 5), 0);
    cr_assert_eq(dir_count(d), 0);
    dir_free(d);
}

Test(dir, hostname_changes)
{
    dir *d = dir_local_new(4);
    dir_entry a = entry(1, 0, 1, 1, ""), got;
    cr_assert_eq(dir_register(d, &a, NULL), 0);
    cr_assert_eq(host_lookup(d, "", &got), -ENOENT);
    cr_assert_eq(dir_set_hostname(d, &a.guid, 0, 1, 1, "first.lan", 9), 0);
    cr_assert_eq(host_lookup(d, "FIRST.lan", &got), 0);
    cr_assert_eq(dir_set_hostname(d, &a.guid, 0, 1, 1, "second", 6), 0);
    cr_assert_eq(host_lookup(d, "first.lan", &got), -ENOENT);
    cr_assert_eq(host_lookup(d, "second", &got), 0);
    cr_assert_str_eq(got.hostname, "second");

    /* the device reconnects under a new name: the old name goes */
    dir_entry a2 = entry(1, 1, 2, 1, "third");
    cr_assert_eq(dir_register(d, &a2, NULL), 1);
    cr_assert_eq(host_lookup(d, "second", &got), -ENOENT);
    cr_assert_eq(host_lookup(d, "third", &got), 0);
    cr_assert_eq(got.tunnel_id, 2);

    /* two live devices claim one name: ambiguous, never a guess; both stay reachable by GUID;
     * once one leaves, the name is the other's */
    dir_entry b = entry(2, 0, 3, 1, "Third");
    cr_assert_eq(dir_register(d, &b, NULL), 0);
    cr_assert_eq(host_lookup(d, "third", &got), -ENOTUNIQ);
    cr_assert_eq(host_lookup(d, "THIRD", &got), -ENOTUNIQ);
    cr_assert_eq(dir_lookup_guid(d, &b.guid, &got), 0);
    cr_assert_eq(dir_lookup_guid(d, &a2.guid, &got), 0);
    cr_assert_eq(dir_unregister(d, &a2.guid, 1, 2, 1), 0);
    cr_assert_eq(host_lookup(d, "third", &got), 0);
    cr_assert_eq(got.tunnel_id, 3);
    /* a third claimant and a rename out of the clash */
    dir_entry c = entry(3, 0, 4, 1, "third");
    cr_assert_eq(dir_register(d, &c, NULL), 0);
    cr_assert_eq(host_lookup(d, "third", &got), -ENOTUNIQ);
    cr_assert_eq(dir_set_hostname(d, &c.guid, 0, 4, 1, "fourth", 6), 0);
    cr_assert_eq(host_lookup(d, "third", &got), 0);
    cr_assert_eq(got.tunnel_id, 3);
    cr_assert_eq(host_lookup(d, "fourth", &got), 0);
    cr_assert_eq(got.tunnel_id, 4);
    /* the same device re-asserting its name is not a second claim */
    cr_assert_eq(dir_set_hostname(d, &c.guid, 0, 4, 1, "FOURTH", 6), 0);
    cr_assert_eq(host_lookup(d, "fourth", &got), 0);
    cr_assert_eq(dir_unregister(d, &c.guid, 0, 4, 1), 0);

    /* bad names */
    cr_assert_eq(dir_set_hostname(d, &b.guid, 0, 3, 1, "has space", 9), -EINVAL);
    char longname[300];
    memset(longname, 'a', sizeof longname);
    cr_assert_eq(dir_set_hostname(d, &b.guid, 0, 3, 1, longname, 256), -EINVAL);
    cr_assert_eq(dir_set_hostname(d, &b.guid, 0, 3, 1, longname, 255), 0);
    cr_assert_eq(dir_lookup_host(d, longname, 255, &got), 0);
    cr_assert_eq(dir_set_hostname(d, &b.guid, 0, 3, 1, "", 0), 0, "clearing a name");
    cr_assert_eq(dir_lookup_host(d, longname, 255, &got), -ENOENT);
    dir_free(d);
}

/* The entry comes back as registered: every field, an IPv4 and an IPv6 peer (port, scope and flow
 * label included), a name's case as last set, and no name at all after clearing it. */
Test(dir, entry_values_round_trip)
{
    dir *d = dir_local_new(4);
    dir_entry a = entry(5, 2, 77, 9, "Mixed.Case"), b = entry(6, 1, 78, 3, ""), got, ref;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&b.peer;
    memset(&b.peer, 0, sizeof b.peer);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(16993);
    s6->sin6_flowinfo = htonl(0x12345);
    s6->sin6_scope_id = 3;
    s6->sin6_addr.s6_addr[15] = 1;
    cr_assert_eq(dir_register(d, &a, NULL), 0);
    cr_assert_eq(dir_register(d, &b, NULL), 0);
    cr_assert_eq(dir_lookup_guid(d, &a.guid, &got), 0);
    cr_assert_eq(memcmp(&got, &a, sizeof got), 0, "the whole IPv4 entry, zero padding included");
    cr_assert_eq(dir_lookup_guid(d, &b.guid, &got), 0);
    cr_assert_eq(memcmp(&got, &b, sizeof got), 0, "the whole IPv6 entry");
    cr_assert_eq(dir_set_hostname(d, &a.guid, 2, 77, 9, "MIXED.case", 10), 0);
    cr_assert_eq(host_lookup(d, "mixed.CASE", &got), 0);
    cr_assert_str_eq(got.hostname, "MIXED.case");
    /* a supersede hands back the old entry as it was */
    dir_entry a2 = entry(5, 0, 90, 1, "next"), old;
    ref = a;
    snprintf(ref.hostname, sizeof ref.hostname, "MIXED.case");
    cr_assert_eq(dir_register(d, &a2, &old), 1);
    cr_assert_eq(memcmp(&old, &ref, sizeof old), 0);
    cr_assert_eq(dir_set_hostname(d, &a2.guid, 0, 90, 1, "", 0), 0);
    cr_assert_eq(dir_lookup_guid(d, &a2.guid, &got), 0);
    cr_assert_str_eq(got.hostname, "");
    cr_assert_eq(host_lookup(d, "next", &got), -ENOENT);
    dir_entry *v;
    size_t n;
    cr_assert_eq(dir_snapshot(d, &v, &n), 0);
    cr_assert_eq(n, 2);
    for (size_t i = 0; i < n; i++)
        if (guid_eq(&v[i].guid, &b.guid))
            cr_assert_eq(memcmp(&v[i], &b, sizeof b), 0, "snapshot copy");
    free(v);
    dir_free(d);
}

Test(dir, snapshot_iterates_all)
{
    dir *d = dir_local_new(16);
    for (uint32_t i = 0; i < 500; i++) {
        dir_entry e = entry(i, i % 3, i, 1, "");
        cr_assert_eq(dir_register(d, &e, NULL), 0);
    }
    dir_entry *v;
    size_t n;
    cr_assert_eq(dir_snapshot(d, &v, &n), 0);
    cr_assert_eq(n, 500);
    static bool seen[500];
    for (size_t i = 0; i < n; i++) {
        uint32_t k;
        memcpy(&k, v[i].guid.b + 12, 4);
        cr_assert_lt(k, 500);
        cr_assert_not(seen[k], "entry %u twice", k);
        seen[k] = true;
        cr_assert_eq(v[i].tunnel_id, k);
    }
    free(v);
    dir_free(d);
}

/* Four threads register, re-register (supersede), rename and look up the same 512 devices. Every
 * answer must be self-consistent: the entry found is for the GUID or name asked, and its fields
 * belong together (tunnel id encodes device and thread, hostname encodes device). */
#define NDEV   512
#define ROUNDS 20000

struct worker_arg {
    dir *d;
    uint32_t t;
    unsigned seed;
    int errors;
};

static void *hammer(void *p)
{
    struct worker_arg *w = p;
    for (uint32_t r = 0; r < ROUNDS; r++) {
        uint32_t n = (uint32_t)rand_r(&w->seed) % NDEV;
        dir_entry got, old;
        char host[32];
        snprintf(host, sizeof host, "Dev-%u.lan", n);
        switch (rand_r(&w->seed) % 4) {
        case 0: {
            dir_entry e = entry(n, w->t, (uint64_t)n << 8 | w->t, r, host);
            if (dir_register(w->d, &e, &old) == 1 && memcmp(&old.guid, &e.guid, 16) != 0)
                w->errors++;
            break;
        }
        case 1: {
            guid g = guid_n(n);
            if (dir_lookup_guid(w->d, &g, &got) == 0 &&
                (memcmp(&got.guid, &g, 16) != 0 || got.tunnel_id >> 8 != n ||
                 strcasecmp(got.hostname, host) != 0))
                w->errors++;
            break;
        }
        case 2:
            if (host_lookup(w->d, host, &got) == 0 &&
                (got.tunnel_id >> 8 != n || memcmp(got.guid.b + 12, &n, 4) != 0 ||
                 strcasecmp(got.hostname, host) != 0))
                w->errors++;
            break;
        case 3: {
            /* disconnect only our own tunnel: a superseded one must be refused */
            guid g = guid_n(n);
            if (dir_lookup_guid(w->d, &g, &got) == 0 && got.worker == w->t) {
                int rc = dir_unregister(w->d, &g, w->t, got.tunnel_id, got.generation);
                if (rc != 0 && rc != -ESTALE && rc != -ENOENT)
                    w->errors++;
            }
            break;
        }
        }
    }
    return NULL;
}

Test(dir, four_threads_consistent)
{
    dir *d = dir_local_new(0);
    pthread_t th[4];
    struct worker_arg w[4];
    for (uint32_t t = 0; t < 4; t++) {
        w[t] = (struct worker_arg){d, t, 1234 + t, 0};
        pthread_create(&th[t], NULL, hammer, &w[t]);
    }
    for (int t = 0; t < 4; t++) {
        pthread_join(th[t], NULL);
        cr_assert_eq(w[t].errors, 0, "thread %d saw %d inconsistent answers", t, w[t].errors);
    }
    /* afterwards: count, snapshot and both indexes agree */
    dir_entry *v;
    size_t n;
    cr_assert_eq(dir_snapshot(d, &v, &n), 0);
    cr_assert_eq(n, dir_count(d));
    for (size_t i = 0; i < n; i++) {
        dir_entry got;
        cr_assert_eq(dir_lookup_host(d, v[i].hostname, strlen(v[i].hostname), &got), 0);
        cr_assert_eq(got.tunnel_id, v[i].tunnel_id);
        cr_assert_eq(dir_unregister(d, &v[i].guid, v[i].worker, v[i].tunnel_id, v[i].generation),
                     0);
    }
    cr_assert_eq(dir_count(d), 0);
    free(v);
    dir_free(d);
}
