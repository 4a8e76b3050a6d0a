#!/usr/bin/env python3
"""CI smoke run of bench/fleet/run.py (meson test 'fleet-smoke', suite bench): every scenario with
tiny N; checks that the JSON parses and has the expected keys with sane values (non-negative,
counts equal to N where they must be). Never checks a speed.

    bench/fleet/smoke.py --build BUILD
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
N = 20
fails = []


def check(cond, what):
    if not cond:
        fails.append(what)


def nonneg(x, what):
    check(isinstance(x, (int, float)) and x >= 0, f"{what} = {x!r}: want a number >= 0")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    a = ap.parse_args()
    cmd = [sys.executable, os.path.join(HERE, "run.py"), "--build", a.build, "--scenario", "all",
           "--devices", str(N), "--cert-type", "rsa2048,p256", "--bare-seconds", "0.3",
           "--keepalive", "1", "--periods", "2", "--opens", "30", "--bytes", "2000000",
           "--conns", "4", "--reps", "1", "--max-seconds", "10", "--churn-devices", "10",
           "--churn-seconds", "2", "--settle", "1", "--fleet-bytes-per-conn", "100000",
           "--timeout", "30"]
    env = dict(os.environ, MPSD_TEST_INSTANCE="fleetsmoke%d" % os.getpid())
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=110, env=env)
    sys.stderr.write(r.stderr[-4000:])
    check(r.returncode == 0, f"run.py exit {r.returncode}")
    try:
        d = json.loads(r.stdout)
    except ValueError as e:
        print(f"FAIL: stdout is not JSON: {e}: {r.stdout[:500]!r}")
        return 1
    for k in ("machine", "params", "scenarios", "harness_cost", "samples"):
        check(k in d, f"top-level key {k}")
    m = d.get("machine", {})
    check(m.get("cpus", 0) >= 1 and m.get("kernel"), "machine cpus/kernel")
    check(m.get("mpsd_version") and any("wolfSSL" in l for l in m["mpsd_version"]),
          "machine mpsd_version with wolfSSL")
    check(m.get("wolfssl_options"), "machine wolfssl_options (options.h)")
    for k in ("python_user_s", "python_sys_s", "amtsim_user_s", "amtsim_sys_s"):
        nonneg(d.get("harness_cost", {}).get(k), f"harness_cost.{k}")
    s = d.get("scenarios", {})
    for name in ("connect-storm", "idle-hold", "channel-latency", "throughput", "churn", "fleet"):
        check(name in s, f"scenario {name} present")
        x = s.get(name)
        for y in (x if isinstance(x, list) else [x or {}]):
            check("error" not in y, f"{name}: error {y.get('error')}")
    for x in s.get("connect-storm", []):
        check(x.get("ready") == N, f"connect-storm {x.get('cert_type')} ready == {N}")
        nonneg(x.get("tunnels_per_s"), "connect-storm tunnels_per_s")
        nonneg((x.get("bare_wolfssl") or {}).get("handshakes_per_s"), "bare handshakes_per_s")
        nonneg(x.get("tunnels_per_s_vs_bare"), "tunnels_per_s_vs_bare")
        check((x.get("server_handshake") or {}).get("count") == N, "server_handshake count == N")
        check((x.get("server_login") or {}).get("count") == N, "server_login count == N")
        check(x.get("failures", {}).get("amtsim_failed") == 0, "storm failures 0")
    check([x.get("cert_type") for x in s.get("connect-storm", [])] == ["rsa2048", "p256"],
          "connect-storm per cert type")
    for x in s.get("idle-hold", []):
        check(x.get("ready") == N, f"idle-hold ready == {N}")
        nonneg(x.get("drops_during_hold"), "idle drops")
        rtt = x.get("keepalive_rtt_ms") or {}
        check(isinstance(rtt.get("p99"), (int, float)) and 0 < rtt["p99"] <= rtt["max"],
              "idle-hold keep-alive RTT p99 measured, <= max")
        mem = x.get("memory", {})
        for k in ("server_rss_kib", "server_rss_per_tunnel_bytes",
                  "kernel_tcp_mem_per_tunnel_bytes_both_ends"):
            check(k in mem, f"idle-hold memory.{k}")
        check((mem.get("server_socket_buffers") or {}).get("sockets") == N,
              "idle-hold server sockets == N")
        c = x.get("server_cpu_hold") or {}
        for k in ("user_pct_of_core_per_10k", "sys_pct_of_core_per_10k"):
            nonneg(c.get(k), f"idle-hold {k}")
        nonneg(x.get("keepalive_replies_during_hold"), "keepalive replies")
    lat = s.get("channel-latency", {})
    for k in ("socks5_sequential", "socks5_concurrent", "http_connect_sequential",
              "http_connect_concurrent"):
        y = lat.get(k, {})
        check(y.get("errors", 1) == 0, f"channel-latency {k} errors == 0")
        nonneg((y.get("connect_to_reply_us") or {}).get("p99"), f"channel-latency {k} p99")
    check(lat.get("ready") == N, "channel-latency ready == N")
    tp = s.get("throughput", {})
    for k in ("single", "multi"):
        for who in ("mpsd", "plain"):
            nonneg((tp.get(k, {}).get(who) or {}).get("total_MBps_median"), f"tput {k} {who}")
        nonneg(tp.get(k, {}).get("ratio"), f"tput {k} ratio")
    ch = s.get("churn", {})
    for k in ("full_handshake", "resumed"):
        nonneg(ch.get(k, {}).get("reconnects_per_s"), f"churn {k} reconnects_per_s")
    check(ch.get("errors_total") == 0, f"churn errors_total == 0 ({ch.get('errors_total')})")
    check(len((ch.get("rss_after_leave") or {}).get("series_kib", [])) >= 1, "churn RSS series")
    fl = s.get("fleet", {})
    check(fl.get("ready") == N, "fleet ready == N")
    nonneg(fl.get("drops_idle"), "fleet drops")
    nonneg((fl.get("data") or {}).get("total_MBps"), "fleet data MB/s")
    check(len(d.get("samples", [])) >= 5, "samples over time")
    for f in fails:
        print("FAIL: " + f)
    print("fleet smoke: %s (%d checks failed)" % ("ok" if not fails else "FAILED", len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
