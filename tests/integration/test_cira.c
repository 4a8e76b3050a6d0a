/* CIRA end to end: a real mpsd on loopback, driven by amtsim devices. Every bad-input case ends
 * with a fresh device that still logs in, to show nothing else was disturbed. */
#include "creds.h"
#include "fixture.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* One normal device logs in and stays up: the server is still healthy. */
static void fresh_device_connects(struct fx *f)
{
    struct proc sim;
    int rc = sim_run(
        f, &sim, "--count 1 --duration 1 --uuid-base 77777777-0000-4000-8000-000000000000", 20000);
    cr_assert_eq(rc, 0, "a fresh device must still connect:\n%s", sim.out);
    cr_assert_eq(sim_field(&sim, "ready_total"), 1, "%s", sim.out);
}

Test(cira, thousand_devices_stay_up_across_keepalive_periods, .timeout = 240)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    /* keepalive_interval is 1 s and the timeout 3 s: 10 s of holding spans several periods even
     * when logins are slow on a loaded machine. */
    int rc = sim_run(&f, &sim,
                     "--count 1000 --duration 10 --inflight 128 --workers 2 "
                     "--sources 127.0.0.2-127.0.0.5",
                     180000);
    cr_assert_eq(rc, 0, "amtsim:\n%s", sim.out);
    cr_expect_eq(sim_field(&sim, "ready_total"), 1000, "%s", sim.out);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 0, "%s", sim.out);
    /* The device honours the MPS' 1 s interval (not amtsim's 30 s default): at least 3 rounds
     * each, each answered; none of them timed out. */
    long long sent = sim_field(&sim, "keepalives_sent");
    long long replies = sim_field(&sim, "keepalive_replies");
    cr_expect_geq(sent, 3000, "keep-alives sent: %lld\n%s", sent, sim.out);
    cr_expect_geq(replies, sent - 1000, "replies %lld for %lld sent", replies, sent);
    cr_expect_eq(fx_stat(&f, "tunnels_ready"), 1000);
    cr_expect_eq(fx_stat(&f, "timeout_idle"), 0);
    cr_expect_eq(fx_stat(&f, "auth_ok"), 1000);
    cr_expect_eq(fx_count(&f, "guid=12345678-0000-4000-8000-0000000003e7 msg=\"ready"), 1,
                 "the last device's ready line names its GUID");
    fx_stop(&f, SIGTERM);
}

Test(cira, wrong_password_is_refused_and_counted, .timeout = 60)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    int rc = sim_run(&f, &sim, "--count 5 --mode bad-password", 30000);
    cr_assert_eq(rc, 0, "every device must see USERAUTH_FAILURE:\n%s", sim.out);
    cr_expect_eq(fx_count(&f, "login refused: wrong password"), 5, "%s", f.p.out);
    cr_expect(fx_count(&f, "peer=127.0.0.1:") >= 5, "log lines name the peer");
    cr_expect_eq(fx_stat(&f, "auth_bad_password"), 5);
    cr_expect_eq(fx_count(&f, "Fl33t"), 0, "the password must never be logged");
    fresh_device_connects(&f);
    fx_stop(&f, SIGTERM);
}

Test(cira, unknown_guid_is_refused_known_device_accepted, .timeout = 60)
{
    struct fx f;
    fx_start(&f,
             &(struct fx_opts){.no_group = true}); /* device entries only: no group credential */
    struct proc sim;
    int rc = sim_run(
        &f, &sim, "--count 2 --mode bad-password --uuid-base 99999999-0000-4000-8000-000000000000",
        30000);
    cr_assert_eq(rc, 0, "unknown devices must be refused:\n%s", sim.out);
    cr_expect_eq(fx_count(&f, "login refused: unknown device"), 2, "%s", f.p.out);
    cr_expect_eq(fx_stat(&f, "auth_unknown_device"), 2);
    rc = sim_run(&f, &sim, "--count 1 --duration 1 --user dev1 --uuid-base " FX_DEVICE_GUID, 30000);
    cr_assert_eq(rc, 0, "the known device logs in:\n%s\n%s", sim.out, f.p.out);
    cr_expect_eq(fx_count(&f, "guid=" FX_DEVICE_GUID " msg=\"ready"), 1);
    /* right GUID, wrong username */
    rc = sim_run(&f, &sim, "--count 1 --mode bad-password --user admin --uuid-base " FX_DEVICE_GUID,
                 30000);
    cr_assert_eq(rc, 0, "%s", sim.out);
    cr_expect_eq(fx_count(&f, "login refused: wrong username"), 1, "%s", f.p.out);
    fx_stop(&f, SIGTERM);
}

/* A bad-input case: three devices misbehave in `mode`; each must be dropped (amtsim exits 0), each
 * drop must leave a log line with `line` and count in `counter`, and afterwards a fresh device
 * still connects. Returns how long the three took, in ms. */
static long long bad_devices_are_dropped(const char *mode, const char *line, const char *counter)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    char args[128];
    snprintf(args, sizeof(args), "--count 3 --timeout 20 --mode %s", mode);
    long long t0 = now_ms();
    int rc = sim_run(&f, &sim, args, 30000);
    long long took = now_ms() - t0;
    cr_assert_eq(rc, 0, "%s devices must be dropped:\n%s\n%s", mode, sim.out, f.p.out);
    cr_expect_eq(fx_count(&f, line), 3, "'%s' three times:\n%s", line, f.p.out);
    cr_expect_eq(fx_stat(&f, counter), 3, "counter %s", counter);
    cr_expect_eq(fx_stat(&f, "handshakes"), 0, "no handshake slot may leak");
    cr_expect_eq(fx_stat(&f, "tunnels"), 0, "no tunnel may be left behind");
    fresh_device_connects(&f);
    fx_stop(&f, SIGTERM);
    return took;
}

Test(cira, garbage_after_tls_gets_protocol_error, .timeout = 60)
{
    bad_devices_are_dropped("garbage", "APF protocol error", "apf_errors");
}

Test(cira, overlong_length_is_refused_without_allocating, .timeout = 60)
{
    bad_devices_are_dropped("overlong", "APF protocol error", "apf_errors");
}

Test(cira, silent_device_is_dropped_within_the_timeout, .timeout = 60)
{
    /* keepalive_timeout is 3 s: dropped after it, and well before 3 s + a few ticks more */
    long long took =
        bad_devices_are_dropped("silent", "silent for more than 3000ms", "timeout_idle");
    cr_expect_lt(took, 9000, "dropped after %lld ms", took);
}

Test(cira, stalled_handshake_times_out, .timeout = 60)
{
    bad_devices_are_dropped("stall-handshake", "TLS handshake not done within 2000ms",
                            "timeout_handshake");
}

Test(cira, plain_garbage_instead_of_tls_fails_fast, .timeout = 60)
{
    bad_devices_are_dropped("no-tls-garbage", "TLS handshake failed", "tls_failed");
}

Test(cira, duplicate_guid_supersedes_the_old_tunnel, .timeout = 60)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc first, second;
    const char *uuid = "--uuid-base 5a5a5a5a-0000-4000-8000-000000000000";
    char args[256];
    snprintf(args, sizeof(args), "--count 1 --duration 6 %s", uuid);
    sim_start(&f, &first, args);
    cr_assert(fx_wait(&f, "guid=5a5a5a5a-0000-4000-8000-000000000000 msg=\"ready", 10000), "%s",
              f.p.out);
    snprintf(args, sizeof(args), "--count 1 --duration 2 %s", uuid);
    int rc = sim_run(&f, &second, args, 20000);
    cr_assert_eq(rc, 0, "the second login wins:\n%s", second.out);
    cr_expect(fx_wait(&f, "superseded by a new login", 5000), "%s", f.p.out);
    rc = proc_wait_exit(&first, 20000);
    cr_expect_neq(rc, 0, "the first tunnel must have been closed by the server:\n%s", first.out);
    cr_expect_eq(sim_field(&first, "closed_by_server"), 1, "%s", first.out);
    cr_expect_eq(fx_stat(&f, "superseded"), 1);
    fx_stop(&f, SIGTERM);
}

Test(cira, tunnel_cap_refuses_the_excess, .timeout = 60)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.cira = "max_tunnels = 5\n"});
    struct proc sim;
    sim_run(&f, &sim, "--count 8 --duration 2 --timeout 10", 30000);
    cr_expect_eq(sim_field(&sim, "ready_total"), 5, "%s", sim.out);
    /* at most one line per worker per second, naming the peer; every refusal counted */
    int lines = fx_count(&f, "connection refused: max_tunnels reached");
    cr_expect(lines >= 1 && lines <= 3, "%d lines:\n%s", lines, f.p.out);
    cr_expect(fx_count(&f, "peer=127.0.0.1:") >= 1);
    cr_expect_eq(fx_stat(&f, "refused_tunnel_cap"), 3);
    fx_stop(&f, SIGTERM);
}

Test(cira, sighup_new_certificate_keeps_every_tunnel, .timeout = 120)
{
    struct fx f;
    fx_start(&f, NULL);
    char cmd[4096];
    struct proc old;
    sim_start(&f, &old, "--count 100 --duration 10");
    cr_assert(fx_wait(&f, "guid=12345678-0000-4000-8000-000000000063 msg=\"ready", 20000), "%s",
              f.p.out);

    /* A new CA and server certificate, written over the files the config names. */
    snprintf(cmd, sizeof(cmd),
             "%s --dir %s/new --name 127.0.0.1 --bits 2048 >/dev/null && cp %s/new/server.pem "
             "%s/new/server.key %s/ && cp %s/new/ca.pem %s/newca.pem",
             env_or_die("MPSD_CERTS_TOOL"), f.dir, f.dir, f.dir, f.certs, f.dir, f.dir);
    cr_assert_eq(system(cmd), 0);
    kill(f.p.pid, SIGHUP);
    cr_assert(fx_wait(&f, "reload: TLS certificate", 10000), "%s", f.p.out);

    /* New devices must trust the new CA; the old CA no longer verifies the server. */
    struct proc fresh;
    snprintf(
        cmd, sizeof(cmd),
        "--count 3 --duration 1 --ca %s/newca.pem --uuid-base 66666666-0000-4000-8000-000000000000",
        f.dir);
    int rc = sim_run(&f, &fresh, cmd, 30000);
    cr_expect_eq(rc, 0, "devices trusting the new CA connect:\n%s", fresh.out);

    rc = proc_wait_exit(&old, 30000);
    cr_expect_eq(rc, 0, "every old tunnel survived the reload:\n%s", old.out);
    cr_expect_eq(sim_field(&old, "closed_by_server"), 0, "%s", old.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, sigterm_drains_with_disconnect_and_exits, .timeout = 60)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    sim_start(&f, &sim, "--count 50 --duration 20");
    cr_assert(fx_wait(&f, "guid=12345678-0000-4000-8000-000000000031 msg=\"ready", 20000), "%s",
              f.p.out);
    long long t0 = now_ms();
    int rc = proc_stop(&f.p, SIGTERM, 10000);
    long long took = now_ms() - t0;
    cr_expect_eq(rc, 0, "mpsd exits cleanly:\n%s", f.p.out);
    cr_expect_lt(took, 5000, "drain took %lld ms (drain_timeout 3 s)", took);
    cr_expect(strstr(f.p.out, "draining 50 tunnels"), "%s", f.p.out);
    proc_wait_exit(&sim, 30000);
    cr_expect_eq(sim_field(&sim, "closed_by_server"), 50, "%s", sim.out);
    cr_expect(strstr(sim.out, "BY_APPLICATION"), "devices get DISCONNECT BY_APPLICATION:\n%s",
              sim.out);
}

Test(cira, legacy_profile_accepts_tls11_static_rsa, .timeout = 60)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.cira = "tls_profile = legacy\n", .debug = true});
    struct proc sim;
    int rc = sim_run(&f, &sim, "--count 2 --duration 1 --tls-max 1.1 --ciphers AES128-SHA", 30000);
    cr_assert_eq(rc, 0, "an AMT 11 style client logs in on the legacy profile:\n%s\n%s", sim.out,
                 f.p.out);
    cr_expect_eq(fx_count(&f, "(TLS 1.1 AES128-SHA)"), 2, "%s", f.p.out);
    /* the census: what the devices offered and what was negotiated */
    cr_expect_eq(fx_stat(&f, "tls_version{1.1}"), 2);
    cr_expect_eq(fx_stat(&f, "tls_offered_max{1.1}"), 2);
    cr_expect_eq(fx_stat(&f, "tls_suite{AES128-SHA}"), 2);
    cr_expect_geq(fx_count(&f, "ClientHello versions=TLS 1.0-TLS 1.1"), 2,
                  "debug ClientHello record:\n%s", f.p.out);
    fresh_device_connects(&f); /* and a modern device still gets TLS 1.2+ */
    fx_stop(&f, SIGTERM);
}

Test(cira, modern_profile_refuses_tls11_with_a_clear_line, .timeout = 60)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    sim_run(&f, &sim, "--count 1 --duration 1 --timeout 5 --tls-max 1.1 --ciphers AES128-SHA",
            30000);
    cr_expect_eq(sim_field(&sim, "ready_total"), 0, "%s", sim.out);
    cr_expect(fx_wait(&f, "profile modern requires >= TLS 1.2", 5000), "%s", f.p.out);
    cr_expect_eq(fx_stat(&f, "tls_failed"), 1);
    fresh_device_connects(&f);
    fx_stop(&f, SIGTERM);
}

Test(cira, plain_listener_for_tls_offload, .timeout = 60)
{
    struct fx f;
    char extra[128];
    /* plain_listen is set, so the port is known only after fx_start picked it: pick our own */
    int port = free_port();
    snprintf(extra, sizeof(extra), "plain_listen = 127.0.0.1:%d\n", port);
    fx_start(&f, &(struct fx_opts){.cira = extra});
    cr_assert(fx_wait(&f, "(plain APF, TLS offloaded)", 5000), "%s", f.p.out);
    struct proc sim;
    char args[128];
    snprintf(args, sizeof(args), "--plain --connect 127.0.0.1:%d --count 3 --duration 1", port);
    int rc = sim_run(&f, &sim, args, 30000);
    cr_assert_eq(rc, 0, "%s\n%s", sim.out, f.p.out);
    cr_expect_eq(fx_count(&f, "(plain)"), 3, "%s", f.p.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, sighup_reloads_credentials_without_dropping_tunnels, .timeout = 60)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.no_group = true});
    const char *newdev = "--uuid-base 31313131-0000-4000-8000-000000000000 --user dev2";
    char args[256];
    struct proc held, sim;
    snprintf(args, sizeof(args), "--count 1 --duration 8 --user dev1 --uuid-base %s",
             FX_DEVICE_GUID);
    sim_start(&f, &held, args);
    cr_assert(fx_wait(&f, "guid=" FX_DEVICE_GUID " msg=\"ready", 10000), "%s", f.p.out);
    snprintf(args, sizeof(args), "--count 1 --mode bad-password %s", newdev);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "unknown before the reload:\n%s", sim.out);

    /* add the device to the file mpsd reads, then SIGHUP */
    char path[400], line[512], phc[CREDS_PHC_MAX];
    creds_params cheap = {.t_cost = 1, .m_cost_kib = 64, .parallelism = 1};
    cr_assert_eq(creds_hash(FX_PASSWORD, strlen(FX_PASSWORD), &cheap, phc, sizeof(phc)), 0);
    snprintf(path, sizeof(path), "%s/credentials", f.dir);
    snprintf(line, sizeof(line), "device 31313131-0000-4000-8000-000000000000 dev2 %s\n", phc);
    FILE *cf = fopen(path, "a");
    cr_assert_not_null(cf);
    fputs(line, cf);
    fclose(cf);
    kill(f.p.pid, SIGHUP);
    cr_assert(fx_wait(&f, "reload: credentials: 2 devices", 10000), "%s", f.p.out);

    snprintf(args, sizeof(args), "--count 1 --duration 1 %s", newdev);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "known after the reload:\n%s\n%s", sim.out,
                 f.p.out);
    cr_assert_eq(proc_wait_exit(&held, 20000), 0, "the held tunnel survived:\n%s", held.out);

    /* a broken file is refused and the running credentials stay */
    write_file(path, "device not-a-guid dev3 nohash\n");
    kill(f.p.pid, SIGHUP);
    cr_assert(fx_wait(&f, "keeping the running credentials", 10000), "%s", f.p.out);
    cr_expect(strstr(f.p.out, "credentials:1: bad GUID"), "the bad line is named:\n%s", f.p.out);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "still known:\n%s", sim.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, mutual_tls_requires_a_device_certificate, .timeout = 60)
{
    char extra[512];
    const char *certs = env_or_die("MPSD_CERTS");
    snprintf(extra, sizeof(extra), "client_ca = %s/ca.pem\n", certs);
    struct fx f;
    fx_start(&f, &(struct fx_opts){.cira = extra});
    struct proc sim;
    char args[1024];
    snprintf(args, sizeof(args),
             "--count 2 --duration 1 --cert %s/client-dev1.pem --key %s/client-dev1.key", certs,
             certs);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "a device with a certificate logs in:\n%s\n%s",
                 sim.out, f.p.out);
    sim_run(&f, &sim, "--count 1 --duration 1 --timeout 5", 20000);
    cr_expect_eq(sim_field(&sim, "ready_total"), 0, "no certificate, no tunnel:\n%s", sim.out);
    cr_expect(fx_wait(&f, "TLS handshake failed", 5000), "%s", f.p.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, auto_enroll_accepts_unknown_devices_and_says_so, .timeout = 60)
{
    struct fx f;
    fx_start(&f, &(struct fx_opts){.no_group = true, .devices = "auto_enroll = true\n"});
    cr_expect(fx_wait(&f, "auto_enroll is on", 2000), "a warning at start:\n%s", f.p.out);
    struct proc sim;
    int rc = sim_run(
        &f, &sim, "--count 2 --duration 1 --uuid-base 42424242-0000-4000-8000-000000000000", 20000);
    cr_assert_eq(rc, 0, "%s\n%s", sim.out, f.p.out);
    cr_expect_eq(fx_count(&f, "unknown GUID accepted by auto_enroll"), 2, "%s", f.p.out);
    cr_expect_eq(fx_stat(&f, "auth_enrolled"), 2);
    /* a known device still needs its own password */
    char args[256];
    snprintf(args, sizeof(args), "--count 1 --mode bad-password --user dev1 --uuid-base %s",
             FX_DEVICE_GUID);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "%s", sim.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, method_none_only_for_the_device_its_certificate_names, .timeout = 60)
{
    char extra[512], args[1024];
    const char *certs = env_or_die("MPSD_CERTS");
    snprintf(extra, sizeof(extra), "client_ca = %s/ca.pem\n", certs);
    struct fx f;
    fx_start(&f, &(struct fx_opts){.cira = extra});
    struct proc sim;
    /* a certificate with CN = the GUID: that device logs in without a password */
    snprintf(args, sizeof(args),
             "--count 1 --duration 1 --auth-none --uuid-base %s --cert %s/client-%s.pem "
             "--key %s/client-%s.key",
             FX_DEVICE_GUID, certs, FX_DEVICE_GUID, certs, FX_DEVICE_GUID);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "%s\n%s", sim.out, f.p.out);
    /* another CA-signed certificate cannot claim that GUID */
    snprintf(args, sizeof(args),
             "--count 1 --mode bad-password --auth-none --uuid-base %s --cert %s/client-dev1.pem "
             "--key %s/client-dev1.key",
             FX_DEVICE_GUID, certs, certs);
    cr_assert_eq(sim_run(&f, &sim, args, 20000), 0, "must be refused:\n%s", sim.out);
    cr_expect_eq(fx_count(&f, "method none needs a client certificate whose CN is the device GUID"),
                 1, "%s", f.p.out);
    fx_stop(&f, SIGTERM);
}

Test(cira, pipelined_login_reaches_ready_before_the_login_deadline, .timeout = 60)
{
    struct fx f;
    fx_start(&f, NULL);
    struct proc sim;
    /* the whole login in one write, two ports (no early settle), first login (argon2 in the pool:
     * the answer comes back later and must re-arm the settle timer) */
    int rc = sim_run(&f, &sim, "--count 3 --duration 4 --pipeline --ports 16992,16993", 20000);
    cr_assert_eq(rc, 0, "%s\n%s", sim.out, f.p.out);
    cr_expect_eq(fx_stat(&f, "timeout_login"), 0);
    fx_stop(&f, SIGTERM);
}
