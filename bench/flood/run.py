#!/usr/bin/env python3
"""Flood bench: 10,000 tunnels held with keep-alives while every device-side attack hits mpsd.

    bench/flood/run.py [--build build] [--devices 10000] [--flood 30] [--garbage 10000] ...

Phases (loopback only; every process it starts is stopped when it ends):
  1. mpsd (generated config as bench/cira, keepalive_interval 5s, an [admin] listener for
     /metrics); amtsim holds --devices tunnels; --probes probe devices (tools/mpsflood probe)
     log in and time a KEEPALIVE_REQUEST -> REPLY round trip every second each.
  2. before: --baseline seconds of probe round trips; --genuine new amtsim devices connect
     (tunnels_per_s: the unflooded connect rate).
  3. flood, all at once for --flood seconds: garbage, silent (reconnecting), slowloris
     (reconnecting), a ClientHello flood beyond max_handshakes (reconnecting), TLS-then-stall
     (half an APF message), half-open sockets (TCP_REPAIR: gone without FIN/RST) after TCP,
     after TLS and after an APF login. --genuine more new devices connect during it (with
     --reconnect, as AMT retries). mpsd's RSS is sampled (VmRSS every 0.2 s, VmHWM reset
     before).
  4. settle: the attackers stop making connections and wait for mpsd's deadlines to close what
     they hold; then /metrics is read again and every counter delta is checked against what the
     attackers saw.

Prints one JSON document on stdout and a short human summary on stderr (progress on stderr).
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "bench", "lib"))
import mpsdbench as mb  # noqa: E402

FLOOD = os.path.join(top, "tools", "mpsflood")
PW = "Bench-P@ss1"


def log(msg):
    print(f"[flood {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def pct(v, p):
    if not v:
        return None
    v = sorted(v)
    return round(v[min(len(v) - 1, int(len(v) * p / 100.0))], 3)


def Lines(argv, name):
    """amtsim or mpsflood with every progress line kept."""
    return mb.JsonChild(argv, name, keep=True)


def amtsim(b, port, ca, count, base, prefix, sources, extra=()):
    return [b["amtsim"], "--connect", f"127.0.0.1:{port}", "--count", str(count), "--ca", ca,
            "--password", PW, "--uuid-base", base, "--hostname-prefix", prefix, "--sources",
            sources, "--duration", "3600", "--progress", "--timeout", "600", "--quiet",
            *extra]


def genuine(b, port, ca, n, base, prefix, limit):
    """n new devices; returns amtsim's summary once all are ready (or after limit seconds)."""
    g = Lines(amtsim(b, port, ca, n, base, prefix, "127.0.0.10-127.0.0.13",
                     ["--workers", "1", "--inflight", "64", "--reconnect"]), prefix)
    t0 = time.time()
    g.wait_for("ready", n, limit)
    s = g.end()
    s["wall_s"] = round(time.time() - t0, 3)
    return s


def flood_cmds(a, port, ca):
    c = f"127.0.0.1:{port}"
    d = ["--duration", str(a.flood), "--linger", str(a.linger), "--early",
         str(0.8 * a.handshake_timeout)]
    return {
        "garbage": [FLOOD, "garbage", "--connect", c, "--count", str(a.garbage), "--inflight",
                    "1000", "--sources", "127.0.1.1-127.0.1.250", *d],
        "silent": [FLOOD, "silent", "--connect", c, "--count", str(a.silent), "--reconnect",
                   "--sources", "127.0.2.1-127.0.2.250", *d],
        "slowloris": [FLOOD, "slowloris", "--connect", c, "--count", str(a.slowloris),
                      "--interval", "2", "--reconnect", "--sources", "127.0.3.1-127.0.3.250",
                      *d],
        "hello_flood": [FLOOD, "hello-flood", "--connect", c, "--count", str(a.hello),
                        "--inflight", "512", "--reconnect", "--sources",
                        "127.0.4.1-127.0.4.250", *d],
        "tls_stall": [FLOOD, "tls-stall", "--connect", c, "--count", str(a.stall), "--half",
                      "--reconnect",
                      "--ca", ca, "--inflight", "32", "--sources", "127.0.5.1-127.0.5.250", *d],
        "half_open_tcp": [FLOOD, "half-open", "--after", "tcp", "--reconnect",
                          "--connect", c, "--count",
                          str(a.half_open), "--sources", "127.0.6.1-127.0.6.250", *d],
        "half_open_tls": [FLOOD, "half-open", "--after", "tls", "--reconnect",
                          "--connect", c, "--count",
                          str(a.half_open_tls), "--ca", ca, "--inflight", "16", "--sources",
                          "127.0.7.1-127.0.7.250", *d],
        "half_open_login": [FLOOD, "half-open", "--after", "login", "--reconnect",
                            "--connect", c, "--count",
                            str(a.half_open_login), "--ca", ca, "--password", PW, "--inflight",
                            "16", "--uuid-base", "87654321-0000-4000-8000-100000000000",
                            "--hostname-prefix", "gone-", "--sources", "127.0.8.1-127.0.8.250",
                            *d],
    }


def delta(m0, m1, k):
    return m1.get(k, 0) - m0.get(k, 0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--probes", type=int, default=100)
    ap.add_argument("--genuine", type=int, default=1000)
    ap.add_argument("--baseline", type=int, default=15)
    ap.add_argument("--flood", type=int, default=30)
    ap.add_argument("--garbage", type=int, default=10000)
    ap.add_argument("--silent", type=int, default=2000)
    ap.add_argument("--slowloris", type=int, default=300)
    ap.add_argument("--hello", type=int, default=3000)
    ap.add_argument("--stall", type=int, default=300)
    ap.add_argument("--half-open", type=int, default=500)
    ap.add_argument("--half-open-tls", type=int, default=100)
    ap.add_argument("--half-open-login", type=int, default=100)
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--max-handshakes", type=int, default=1024)
    ap.add_argument("--handshake-timeout", type=int, default=5)
    ap.add_argument("--login-timeout", type=int, default=10)
    ap.add_argument("--keepalive", type=int, default=5)
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("flood: terminated"))  # children stopped
    a.keepalive_timeout = 3 * a.keepalive
    # attackers stop making connections at --flood, then wait this long for mpsd to close theirs
    a.linger = a.handshake_timeout + a.login_timeout + 5
    b = mb.binaries(a.build)
    tmp = mb.scratch("mpsd-flood-")
    mb.make_certs(tmp, a.bits)
    mb.make_group_credentials(b["passwd"], tmp, PW)
    ca = f"{tmp}/certs/ca.pem"
    port, aport = mb.free_port(), mb.free_port()
    mb.write_config(tmp, port, a.workers, 60000,
                    extra_cira=f"keepalive_interval = {a.keepalive}s\n"
                    f"keepalive_timeout = {a.keepalive_timeout}s\n"
                    f"handshake_timeout = {a.handshake_timeout}s\n"
                    f"login_timeout = {a.login_timeout}s\nmax_handshakes = {a.max_handshakes}\n",
                    extra=f"[admin]\nlisten = 127.0.0.1:{aport}\n")
    log(f"scratch {tmp}; ulimit -n {os.sysconf('SC_OPEN_MAX')}")
    srv = mb.start_mpsd(b["mpsd"], tmp)
    pid = srv.pid
    kids = []
    try:
        res = run(a, b, port, aport, ca, pid, kids)
    finally:
        for k in kids:
            if k.p.poll() is None:
                k.p.kill()
        mb.stop(srv)
    res["mpsd_log_tail"] = open(f"{tmp}/mpsd.log").read()[-2000:].splitlines()[-8:]
    print(json.dumps(res, indent=1))
    human(res)


def run(a, b, port, aport, ca, pid, kids):
    rss0 = mb.rss_bytes(pid)
    log(f"holding {a.devices} tunnels")
    main_sim = Lines(amtsim(b, port, ca, a.devices, "12345678-0000-4000-8000-000000000000",
                            "amt-", "127.0.0.2-127.0.0.9",
                            ["--workers", "2", "--inflight",
                             str(max(8, min(256, a.max_handshakes // 2))), "--keepalive",
                             str(a.keepalive)]), "amtsim")
    kids.append(main_sim)
    if not main_sim.wait_for("ready", a.devices, 900) or main_sim.last.get("failed"):
        sys.exit(f"not every device became ready: {main_sim.last}")
    probe = Lines([FLOOD, "probe", "--connect", f"127.0.0.1:{port}", "--count", str(a.probes),
                   "--ca", ca, "--password", PW, "--interval", "1", "--inflight", "16",
                   "--sources", "127.0.9.1-127.0.9.20", "--progress"], "probe")
    kids.append(probe)
    if not probe.wait_for("logged_in", a.probes, 120):
        sys.exit(f"probes did not log in: {probe.last}")
    time.sleep(2)
    rss_held = mb.rss_bytes(pid)
    log(f"{a.devices} tunnels + {a.probes} probes up; baseline {a.baseline}s")
    t_base = time.time()
    g_before = genuine(b, port, ca, a.genuine, "12345678-0000-4000-8000-100000000000", "gb-", 120)
    time.sleep(max(0, a.baseline - (time.time() - t_base)))
    t_base_end = time.time()

    m0 = mb.scrape(aport)
    rss_pre = mb.rss_bytes(pid)
    hwm_reset = mb.reset_hwm(pid)
    samples, stop_sampling = [], threading.Event()

    def sampler():
        while not stop_sampling.is_set():
            try:
                samples.append((time.time(), mb.rss_bytes(pid)))
            except OSError:
                return
            stop_sampling.wait(0.2)

    gauges = []

    def gauge_sampler():
        while not stop_sampling.is_set():
            try:
                m = mb.scrape(aport, timeout=5)
                gauges.append((time.time(), m.get("mpsd_tunnels", 0),
                               m.get("mpsd_tunnels_connected", 0),
                               m.get("mpsd_tls_handshakes_in_flight", 0)))
            except Exception:
                pass
            stop_sampling.wait(1.0)

    th = [threading.Thread(target=sampler, daemon=True),
          threading.Thread(target=gauge_sampler, daemon=True)]
    for t in th:
        t.start()
    log(f"flood for {a.flood}s (then up to {a.linger}s for mpsd's deadlines)")
    t_flood = time.time()
    attackers = {k: Lines(v, k) for k, v in flood_cmds(a, port, ca).items()}
    kids.extend(attackers.values())
    time.sleep(min(5, a.flood / 4))
    g_during = genuine(b, port, ca, a.genuine, "12345678-0000-4000-8000-200000000000", "gd-",
                       max(10, a.flood - 5))
    t_flood_end = max(time.time(), t_flood + a.flood)
    sums = {}
    for k, p in attackers.items():
        p.p.wait(timeout=a.flood + a.linger + 120)
        sums[k] = p.end()
        log(f"{k}: {json.dumps({x: sums[k].get(x) for x in ('connected', 'refused', 'admitted', 'closed_by_server', 'open_at_end')})}")
    # half-open logins end at keepalive_timeout; the others at the deadlines the linger covered
    time.sleep(a.keepalive_timeout + 3)
    stop_sampling.set()
    m1 = mb.scrape(aport)
    hwm = mb.status_kib(pid, "VmHWM") * 1024
    rss_end = mb.rss_bytes(pid)
    probe_lines = list(probe.lines)
    psum = probe.end()
    msum = main_sim.end()

    def rtts(t0, t1):
        return [x for j in probe_lines if t0 <= j["t"] <= t1 for x in j.get("rtt_ms", [])]

    r_before, r_during = rtts(t_base, t_base_end), rtts(t_flood, t_flood_end)
    peak = max([r for _, r in samples] + [rss_pre])
    prelogin = max([t - c for _, t, c, _ in gauges] or [0])
    return evaluate(a, locals())


def evaluate(a, v):
    m0, m1, sums = v["m0"], v["m1"], v["sums"]

    def d(k):
        return delta(m0, m1, k)

    s = {k: sums[k] for k in sums}
    g = lambda k, f: s[k].get(f, 0) or 0  # noqa: E731
    gd, gb = v["g_during"], v["g_before"]
    # amtsim reads a reset at accept as a close ("socket:reset") and reconnects
    genuine_refused = (gd.get("disconnect_reasons") or {}).get("socket:reset", 0)
    # what the clients could see
    observed_refused = (g("silent", "refused") + g("slowloris", "refused") +
                        g("hello_flood", "connected") - g("hello_flood", "server_hello") +
                        g("tls_stall", "refused") + g("half_open_tls", "refused") +
                        g("half_open_login", "refused") + genuine_refused)
    hs_admitted = (g("silent", "admitted") + g("slowloris", "admitted") +
                   g("hello_flood", "server_hello"))
    refused_cap = d('mpsd_device_connections_refused_total{reason="max_handshakes"}')
    refused_src = d('mpsd_device_connections_refused_total{reason="max_handshakes_per_source"}')
    refused_pfx = d('mpsd_device_connections_refused_total{reason="max_handshakes_per_prefix"}')
    refused = refused_cap + refused_src + refused_pfx
    # hello_timeout ends a slot holder that never sent a whole ClientHello: a handshake timeout
    # that came early
    t_hello = d('mpsd_tunnel_timeouts_total{phase="hello"}')
    t_hs = d('mpsd_tunnel_timeouts_total{phase="handshake"}') + t_hello
    t_login = d('mpsd_tunnel_timeouts_total{phase="login"}')
    t_ka = d('mpsd_tunnel_timeouts_total{phase="keepalive"}')
    not_tls = d('mpsd_tls_handshake_failures_total{reason="not_tls"}')
    G, P = g("garbage", "connected"), g("half_open_tcp", "connected")
    attack_conns = sum(g(k, "connected") for k in s)
    genuine_conns = gd.get("started") or 0
    acc = d("mpsd_device_connections_accepted_total")
    tls_ok, tls_failed = d('mpsd_tls_handshakes_total{result="ok"}'), d(
        'mpsd_tls_handshakes_total{result="failed"}')
    holders = sum(g(k, "connected") for k in ("silent", "slowloris", "hello_flood")) + P
    stall_ok, hot_gone = g("tls_stall", "tls_ok"), g("half_open_tls", "vanished")
    # Which connections mpsd refused at accept and which it admitted is exact on the client side
    # only where the server answers something (hello: ServerHello; tls-stall: TLS up); a silent
    # socket is reset in both cases, and under the flood accept latency can exceed --early, so
    # the per-class "refused"/"admitted" of silent and slowloris are estimates.
    checks = {
        "accepted": {"mpsd": acc, "attack connections": attack_conns,
                     "genuine connections (amtsim started)": genuine_conns,
                     "ok": acc == attack_conns + genuine_conns},
        "every_accept_accounted": {"refused_max_handshakes": refused_cap,
                                   "refused_per_source": refused_src,
                                   "refused_per_prefix": refused_pfx, "tls_ok": tls_ok,
                                   "tls_failed": tls_failed,
                                   "ok": acc == refused + tls_ok + tls_failed},
        "tls_failed_split": {"not_tls": not_tls, "handshake_and_hello_timeouts": t_hs,
                             "of which hello_timeout": t_hello,
                             "other (resets during handshake)": tls_failed - not_tls - t_hs,
                             "ok": tls_failed >= not_tls + t_hs},
        "handshake_timeouts": {"mpsd": t_hs, "hello admitted (ServerHello seen)":
                               g("hello_flood", "server_hello"),
                               "slot holders sent (silent+slowloris+hello+half-open tcp)": holders,
                               "silent+slowloris+hello admitted (estimate)": hs_admitted,
                               "ok": g("hello_flood", "server_hello") <= t_hs <= holders},
        "login_timeouts": {"mpsd": t_login, "tls_stall.tls_ok": stall_ok,
                           "half_open_tls.vanished (a ticket sent after it vanished gets a "
                           "RST back: reset, not timeout)": hot_gone,
                           "ok": stall_ok <= t_login <= stall_ok + hot_gone},
        "keepalive_timeouts": {"mpsd": t_ka, "half_open_login.vanished":
                               g("half_open_login", "vanished"),
                               "half_open_login.login_failed (mpsd may have seen the login "
                               "done while the starved client gave up)":
                               g("half_open_login", "login_failed"),
                               "ok": g("half_open_login", "vanished") <= t_ka <=
                               g("half_open_login", "vanished") +
                               g("half_open_login", "login_failed")},
        "not_tls": {"mpsd": not_tls, "garbage sent": G, "ok": 0 < not_tls <= G},
        "refused_max_handshakes": {"mpsd (cap + per source + per prefix)": refused,
                                   "observed resets by clients (estimate)":
                                   observed_refused, "ok": refused > 0},
    }
    held = a.devices + a.probes
    lost = {
        "amtsim_closed_by_server": v["msum"].get("closed_by_server"),
        "amtsim_failed": v["msum"].get("failed"),
        "amtsim_reconnects": v["msum"].get("reconnects"),
        "probe_lost": v["psum"].get("lost"),
        "mpsd_connected_gauge_short": held - m1.get("mpsd_tunnels_connected", 0),
    }
    lost["total"] = sum(x or 0 for k, x in lost.items() if k != "amtsim_reconnects")
    rb, rd = v["r_before"], v["r_during"]
    ratio = None
    if gb.get("tunnels_per_s") and gd.get("tunnels_per_s") is not None:
        ratio = round((gd.get("tunnels_per_s") or 0) / gb["tunnels_per_s"], 3)
    res = {
        "params": {k: getattr(a, k) for k in vars(a)},
        "tunnels_held": a.devices + a.probes,
        "tunnels_lost": lost,
        "keepalive_rtt_ms": {"before_p50": pct(rb, 50), "before_p99": pct(rb, 99),
                             "during_p50": pct(rd, 50), "during_p99": pct(rd, 99),
                             "during_max": pct(rd, 100), "samples_before": len(rb),
                             "samples_during": len(rd),
                             "p99_ratio": round(pct(rd, 99) / pct(rb, 99), 2) if rb and rd
                             else None},
        "genuine_connect": {"before_per_s": gb.get("tunnels_per_s"),
                            "during_per_s": gd.get("tunnels_per_s"),
                            "during_fraction_of_before": ratio,
                            "before_ready": gb.get("ready_total"),
                            "during_ready": gd.get("ready_total"),
                            "during_refused": genuine_refused,
                            "during_reconnects": gd.get("reconnects"),
                            "during_wall_s": gd.get("wall_s"), "count": a.genuine},
        "mpsd_rss": {"before_any_kib": v["rss0"] // 1024, "held_kib": v["rss_held"] // 1024,
                     "pre_flood_kib": v["rss_pre"] // 1024, "peak_sampled_kib": v["peak"] // 1024,
                     "vmhwm_kib": v["hwm"] // 1024, "hwm_reset": v["hwm_reset"],
                     "after_kib": v["rss_end"] // 1024,
                     "peak_prelogin_connections": int(v["prelogin"]),
                     "peak_over_pre_flood_per_prelogin_conn_bytes":
                         round((v["peak"] - v["rss_pre"]) / v["prelogin"]) if v["prelogin"]
                         else None},
        "counters": checks,
        "counters_match": all(c.get("ok", True) for c in checks.values()),
        "metric_deltas": {k: d(k) for k in sorted(m1) if k.startswith(
            ("mpsd_device_connections", "mpsd_tunnel_", "mpsd_tls_handshake", "mpsd_apf_logins"))
            and d(k)},
        "attackers": s,
        "genuine_before": gb,
        "genuine_during": gd,
        "probe_summary": v["psum"],
        "amtsim_summary": v["msum"],
    }
    return res


def human(r):
    k, g, m = r["keepalive_rtt_ms"], r["genuine_connect"], r["mpsd_rss"]
    lines = [
        f"tunnels held {r['tunnels_held']}, lost {r['tunnels_lost']['total']}",
        f"keep-alive RTT p99 {k['before_p99']} ms before, {k['during_p99']} ms during "
        f"(x{k['p99_ratio']}; max {k['during_max']} ms)",
        f"genuine connects {g['before_per_s']}/s before, {g['during_per_s']}/s during "
        f"(fraction {g['during_fraction_of_before']}; {g['during_ready']}/{g['count']} ready, "
        f"{g['during_refused']} refused)",
        f"mpsd RSS {m['pre_flood_kib']} KiB before the flood, peak {m['peak_sampled_kib']} KiB "
        f"(VmHWM {m['vmhwm_kib']}), {m['peak_prelogin_connections']} pre-login connections "
        f"at most",
        f"counters match: {r['counters_match']}",
    ]
    for c, x in r["counters"].items():
        lines.append(f"  {c}: {x}")
    print("\n".join(lines), file=sys.stderr)


if __name__ == "__main__":
    main()
