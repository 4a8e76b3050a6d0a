/* A wrong-password storm against mpsd while genuine devices reconnect (docs/credentials.md,
 * "Login throttling"): 10,000 attempts from 500 source addresses (two /24s) at device entries
 * that never logged in (each would cost argon2), and meanwhile 1,000 genuine devices that logged
 * in before reconnect, half of them from the storm's own addresses (a NAT shared with an
 * attacker). Every genuine device gets in, every storm attempt is refused and counted, argon2
 * runs for a small part of the storm only, and mpsd stays up. Figures: bench/storm/run.py. */
#include "creds.h"
#include "fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GENUINE_BASE "12345678-0000-4000-8000-" /* amtsim's default --uuid-base */
#define STORM_BASE   "5e5e5e5e-0000-4000-8000-"
#define GENUINE      1000
#define STORM        10000
#define STORM_PW     "Wr0ng-Guess!"

/* The storm's pace and how long the genuine devices have: sanitizer builds (mpsd and amtsim both)
 * spend several times the CPU on each TLS handshake, and these 2 cores are shared. */
#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifdef SANITIZED
#define STORM_PACE   "--rate 200 --inflight 32"
#define GENUINE_HOLD "--duration 45 --inflight 32"
#define FIRST_HOLD   "--duration 30 --inflight 64"
#else
#define STORM_PACE   "--rate 400 --inflight 64"
#define GENUINE_HOLD "--duration 20 --inflight 64"
#define FIRST_HOLD   "--duration 8 --inflight 128"
#endif

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Device entries for the genuine devices (FX_PASSWORD) and for the storm's targets (a password
 * the storm does not know), with the fixture's cheap argon2 parameters; then a reload. */
static void write_creds(struct fx *f)
{
    creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};
    char good[CREDS_PHC_MAX], other[CREDS_PHC_MAX];
    cr_assert_eq(creds_hash(FX_PASSWORD, strlen(FX_PASSWORD), &cheap, good, sizeof good), 0);
    cr_assert_eq(creds_hash("Not-The-Guess1", 14, &cheap, other, sizeof other), 0);
    size_t cap = (size_t)(GENUINE + STORM) * 256, n = 0;
    char *text = malloc(cap);
    cr_assert_not_null(text);
    for (int i = 0; i < GENUINE; i++)
        n +=
            (size_t)snprintf(text + n, cap - n, "device %s%012x admin %s\n", GENUINE_BASE, i, good);
    for (int i = 0; i < STORM; i++)
        n += (size_t)snprintf(text + n, cap - n, "device %s%012x admin %s\n", STORM_BASE, i, other);
    char path[400];
    snprintf(path, sizeof path, "%s/credentials", f->dir);
    write_file(path, text);
    free(text);
    kill(f->p.pid, SIGHUP);
    cr_assert(fx_wait(f, "reload: credentials: 11000 devices", 15000), "no reload:\n%s", f->p.out);
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static long long storm_refusals(struct fx *f)
{
    return fx_stat(f, "auth_bad_password") + fx_stat(f, "auth_throttled_source") +
           fx_stat(f, "auth_throttled_prefix") + fx_stat(f, "auth_throttled_pool");
}

Test(storm, genuine_devices_get_in_during_a_wrong_password_storm, .timeout = 300)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.no_group = true});
    write_creds(&f);

    /* The genuine fleet has logged in before (from elsewhere): the cache knows it. */
    struct proc sim;
    int rc = sim_run(&f, &sim,
                     "--count 1000 " FIRST_HOLD " --quiet "
                     "--sources 127.0.3.1-127.0.3.10",
                     120000);
    cr_assert_eq(rc, 0, "first logins:\n%s", sim.out);
    cr_assert_eq(sim_field(&sim, "ready_total"), GENUINE);
    long long argon2_before = fx_stat(&f, "auth_argon2_device");
    long long dropped0 = fx_stat(&f, "timeout_handshake") + fx_stat(&f, "timeout_login");
    cr_assert_geq(argon2_before, GENUINE, "every first login ran argon2");
    cr_assert_eq(storm_refusals(&f), 0);

    /* The storm: 20 attempts from each of 500 addresses, each at a GUID that has an entry but
     * never logged in, with a wrong password. */
    struct proc storm;
    long long t0 = now_ms();
    sim_start(&f, &storm,
              "--mode bad-password --password " STORM_PW " --count 10000 " STORM_PACE " --quiet "
              "--timeout 120 --uuid-base " STORM_BASE "000000000000 "
              "--sources 127.0.1.1-127.0.2.244");
    for (int i = 0;
         i < 300 &&
         fx_stat(&f, "auth_throttled_prefix") + fx_stat(&f, "auth_throttled_source") == 0;
         i++)
        sleep_ms(100);
    cr_assert_gt(fx_stat(&f, "auth_throttled_prefix") + fx_stat(&f, "auth_throttled_source"), 0,
                 "the storm was never throttled");

    /* The genuine devices reconnect while it goes on, half of them from the storm's addresses. */
    struct proc genuine;
    rc = sim_run(&f, &genuine,
                 "--count 1000 " GENUINE_HOLD " --quiet "
                 "--sources 127.0.1.1-127.0.1.50,127.0.3.1-127.0.3.50",
                 120000);
    cr_assert_eq(rc, 0, "genuine reconnects:\n%s", genuine.out);
    cr_expect_eq(sim_field(&genuine, "ready_total"), GENUINE, "%s", genuine.out);
    cr_log_info("genuine during the storm: ready_ms_p50=%lld ready_ms_p99=%lld",
                sim_field(&genuine, "ready_ms_p50"), sim_field(&genuine, "ready_ms_p99"));

    rc = proc_wait_exit(&storm, 180000);
    if (rc < 0)
        proc_stop(&storm, SIGKILL, 2000);
    long long storm_ms = now_ms() - t0;
    cr_expect_eq(sim_field(&storm, "ready_total"), 0, "%s", storm.out);

    /* Every attempt refused and counted: wrong password (argon2 ran) or throttled (it did not).
     * On a saturated machine (sanitizers) a few storm connections may instead hit the fixture's
     * 2 s handshake or 3 s login deadline before their login was answered: counted there. */
    long long bad = fx_stat(&f, "auth_bad_password"), src = fx_stat(&f, "auth_throttled_source"),
              pfx = fx_stat(&f, "auth_throttled_prefix"), pool = fx_stat(&f, "auth_throttled_pool");
    long long dropped = fx_stat(&f, "timeout_handshake") + fx_stat(&f, "timeout_login") - dropped0;
    long long argon2 = fx_stat(&f, "auth_argon2_device") - argon2_before;
    cr_log_info("storm: rc=%d bad_password=%lld throttled_source=%lld throttled_prefix=%lld "
                "throttled_pool=%lld deadline_drops=%lld argon2=%lld",
                rc, bad, src, pfx, pool, dropped, argon2);
    cr_expect_eq(bad + src + pfx + pool + dropped, STORM,
                 "bad %lld + source %lld + prefix %lld + pool %lld + dropped %lld", bad, src, pfx,
                 pool, dropped);
    cr_expect_eq(sim_field(&storm, "refused"), bad + src + pfx + pool,
                 "each refusal reached the device as USERAUTH_FAILURE:\n%s", storm.out);
    cr_expect_leq(dropped, STORM / 100, "%lld storm connections hit a deadline", dropped);
    cr_expect_eq(bad, argon2, "a wrong password is known only by argon2 (the cache knows none)");
    /* What the budgets allow: the storm's two /24s have 80 credits each (the default burst 20 x
     * 4), get one back per 750 ms at most (slower while they keep running dry), and one back per
     * successful login from them: the 500 genuine reconnects from 127.0.1.x. Everything else the
     * storm sent was refused before argon2. */
    long long allowed = 2 * 80 + GENUINE / 2 + 2 * (storm_ms / 750 + 1);
    cr_log_info("storm took %lld ms; argon2 allowed at most %lld", storm_ms, allowed);
    cr_expect_leq(argon2, allowed, "argon2 ran %lld times for %d attempts", argon2, STORM);
    cr_expect_lt(argon2, STORM / 5);
    cr_expect_eq(fx_stat(&f, "auth_error") + fx_stat(&f, "auth_busy"), 0);
    cr_expect_gt(fx_count(&f, "login refused: throttled"), 0, "throttled attempts are logged");
    cr_expect_eq(fx_count(&f, STORM_PW), 0, "the password is never logged");

    /* mpsd is up and a device from the storm's network still gets in (the cache decides). */
    cr_assert_eq(kill(f.p.pid, 0), 0, "mpsd died");
    rc = sim_run(&f, &sim, "--count 1 --duration 1 --sources 127.0.2.7", 30000);
    cr_expect_eq(rc, 0, "%s", sim.out);
    cr_expect_eq(sim_field(&sim, "ready_total"), 1);
    fx_stop(&f, SIGTERM);
}
