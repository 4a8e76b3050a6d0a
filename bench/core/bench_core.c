/* bench_core - what a credentials check and a directory lookup cost; prints JSON.
 *
 *   bench_core [--quick]
 *
 * Credentials: the cost of one creds_check through argon2id for the default parameters and for
 * alternatives, the cost of a check that the verified-credential cache decides, and what they imply
 * for a storm of 100k devices reconnecting onto 2 cores. Directory: GUID lookups/s over 100k
 * entries from 1 and 2 threads, sharded vs one mutex (the same code with one shard), measured in
 * one run.
 */
#include "creds.h"
#include "directory.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STORM 100000
#define CORES 2

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static const char *GUID = "4c4c4544-004d-4d10-8050-b2c04f325133";
static const char *PW = "Passw0rd!Amt2024";

static creds_db *db_for(const creds_params *p, bool cache)
{
    char phc[CREDS_PHC_MAX], text[512];
    if (creds_hash(PW, strlen(PW), p, phc, sizeof phc) < 0) {
        fprintf(stderr, "hash failed\n");
        exit(1);
    }
    snprintf(text, sizeof text, "device %s admin %s\n", GUID, phc);
    creds_opts o = {.no_cache = !cache};
    creds_db *db;
    if (creds_db_parse("bench", text, strlen(text), &o, &db, NULL) < 0)
        exit(1);
    return db;
}

/* A timed run: each thread calls op (one batch, returns how many operations it did) until its time
 * is up; the rate is the sum over threads. */
typedef long (*op_fn)(void *ctx, unsigned *seed);

struct run {
    op_fn op;
    void *ctx;
    double seconds;
    unsigned seed;
    long n;
};

static void *run_loop(void *arg)
{
    struct run *r = arg;
    double t0 = now();
    long n = 0;
    do
        n += r->op(r->ctx, &r->seed);
    while (now() - t0 < r->seconds);
    r->seconds = now() - t0;
    r->n = n;
    return NULL;
}

static double rate(op_fn op, void *ctx, int threads, double seconds)
{
    pthread_t t[8];
    struct run r[8];
    double total = 0;
    for (int i = 0; i < threads; i++) {
        r[i] = (struct run){op, ctx, seconds, 77u + (unsigned)i, 0};
        pthread_create(&t[i], NULL, run_loop, &r[i]);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        total += (double)r[i].n / r[i].seconds;
    }
    return total;
}

static long check_batch(void *ctx, unsigned *seed)
{
    guid g;
    guid_parse(GUID, strlen(GUID), &g);
    for (int i = 0; i < 4; i++)
        if (creds_check(ctx, &g, "admin", 5, PW, strlen(PW), NULL) != CREDS_OK)
            exit(1);
    return 4;
}

static double checks_per_s(creds_db *db, int threads, double seconds)
{
    return rate(check_batch, db, threads, seconds);
}

static void bench_creds(double secs)
{
    static const struct {
        const char *name;
        creds_params p;
    } sets[] = {
        {"default", {CREDS_DEFAULT_T_COST, CREDS_DEFAULT_M_COST, CREDS_DEFAULT_PARALLELISM}},
        {"light_m1024_t1", {1, 1024, 1}},
        {"m4096_t1", {1, 4096, 1}},
        {"owasp_m19456_t2", {2, 19456, 1}},
        {"rfc9106_m65536_t3", {3, 65536, 1}},
    };
    size_t nsets = sizeof sets / sizeof *sets;

    /* The cached path: one argon2 run fills the cache, then every check is an HMAC. */
    creds_db *cdb = db_for(&sets[0].p, true);
    double cached = checks_per_s(cdb, 1, secs);
    creds_db_unref(cdb);
    double cached_us = 1e6 / cached;
    double cached_storm = STORM / cached / CORES;

    printf("{\n  \"machine_cores_assumed\": %d,\n  \"storm_devices\": %d,\n", CORES, STORM);
    printf("  \"cached_check\": {\"us\": %.2f, \"checks_per_s_per_core\": %.0f, "
           "\"storm_s_on_2_cores\": %.3f},\n",
           cached_us, cached, cached_storm);
    printf("  \"argon2id\": [\n");
    for (size_t i = 0; i < nsets; i++) {
        const creds_params *p = &sets[i].p;
        creds_db *db = db_for(p, false);
        double one = checks_per_s(db, 1, secs);
        double two = i == 0 ? checks_per_s(db, 2, secs) : 0;
        creds_db_unref(db);
        double storm = STORM / one / CORES;
        printf("    {\"name\": \"%s\", \"m_kib\": %u, \"t\": %u, \"p\": %u, \"ms\": %.3f, "
               "\"checks_per_s_per_core\": %.1f, ",
               sets[i].name, p->m_cost_kib, p->t_cost, p->parallelism, 1e3 / one, one);
        if (i == 0)
            printf("\"checks_per_s_2_threads_measured\": %.1f, ", two);
        printf("\"storm_s_on_2_cores_no_cache\": %.1f, \"storm_s_on_2_cores_cached\": %.3f, "
               "\"cache_speedup\": %.0f}%s\n",
               storm, cached_storm, storm / cached_storm, i + 1 < nsets ? "," : "");
    }
    printf("  ],\n");
}

/* --- directory -----------------------------------------------------------------------------------
 */

#define NDIR 100000

static guid guid_n(uint32_t n)
{
    guid g = {{0x44, 0x45, 0x4c, 0x4c, 0x4d, 0x00, 0x10, 0x4d}};
    memcpy(g.b + 8, &n, 4);
    return g;
}

static long lookup_batch(void *ctx, unsigned *seed)
{
    dir_entry e;
    for (int i = 0; i < 1024; i++) {
        guid g = guid_n((uint32_t)rand_r(seed) % NDIR);
        if (dir_lookup_guid(ctx, &g, &e) != 0)
            exit(1);
    }
    return 1024;
}

static double lookups_per_s(dir *d, int threads, double secs)
{
    return rate(lookup_batch, d, threads, secs);
}

static dir *filled(unsigned shards, double *reg_per_s)
{
    dir *d = dir_local_new(shards);
    double t0 = now();
    for (uint32_t i = 0; i < NDIR; i++) {
        dir_entry e;
        memset(&e, 0, sizeof e);
        e.guid = guid_n(i);
        e.tunnel_id = i;
        snprintf(e.hostname, sizeof e.hostname, "amt-%u.example.com", i);
        dir_register(d, &e, NULL);
    }
    *reg_per_s = NDIR / (now() - t0);
    return d;
}

static void bench_dir(double secs)
{
    double reg64, reg1;
    dir *sharded = filled(64, &reg64), *single = filled(1, &reg1);
    double s1 = lookups_per_s(sharded, 1, secs), s2 = lookups_per_s(sharded, 2, secs);
    double m1 = lookups_per_s(single, 1, secs), m2 = lookups_per_s(single, 2, secs);
    printf("  \"directory\": {\"entries\": %d,\n", NDIR);
    printf("    \"sharded_64\": {\"register_per_s\": %.0f, \"lookups_per_s_1_thread\": %.0f, "
           "\"lookups_per_s_2_threads\": %.0f},\n",
           reg64, s1, s2);
    printf("    \"single_mutex\": {\"register_per_s\": %.0f, \"lookups_per_s_1_thread\": %.0f, "
           "\"lookups_per_s_2_threads\": %.0f},\n",
           reg1, m1, m2);
    printf("    \"sharded_vs_single_2_threads\": %.2f}\n}\n", s2 / m2);
    dir_free(sharded);
    dir_free(single);
}

int main(int argc, char **argv)
{
    double secs = (argc > 1 && strcmp(argv[1], "--quick") == 0) ? 0.3 : 2.0;
    bench_creds(secs);
    bench_dir(secs);
    return 0;
}
