"""bench/fleet scenarios: connect-storm, idle-hold, channel-latency, throughput, churn, fleet.
Each takes the run context (ctx: args, build, scratch dir, sampler) and returns one dict."""
import statistics
import threading
import time

import consoles
import fleetenv as fe


def _server(ctx, name, devices, cert=None, keepalive=None):
    a = ctx.a
    srv = fe.Server(a, ctx.tmp)
    if srv.generated:
        cd = fe.make_certs(ctx.tmp, cert or a.cert_type[0])
        srv.start(ctx.build, cd, devices, keepalive or a.keepalive)
    ctx.sampler.attach(srv, [], name)
    return srv


def _server_cost(srv, c0, c1, t):
    if not (c0 and c1) or t <= 0:
        return None
    return {"user_s": round(c1[0] - c0[0], 3), "sys_s": round(c1[1] - c0[1], 3),
            "user_pct_of_core": round((c1[0] - c0[0]) / t * 100, 3),
            "sys_pct_of_core": round((c1[1] - c0[1]) / t * 100, 3)}


def _stop_fleet(ctx, f):
    out = f.stop()
    ctx.amtsim_cost.append({k: out[k] for k in ("cpu_user_s", "cpu_sys_s", "rss_kib_max_sum")})
    for s in out["summaries"]:
        s.pop("summary", None)
    return out


def _delta(before, after, keys):
    return {k: (after.get(k, 0) or 0) - (before.get(k, 0) or 0) for k in keys}


def connect_storm(ctx, cert):
    a, n = ctx.a, ctx.a.devices
    fe.log(f"connect-storm {cert}: {n} devices")
    bare_before = (fe.bare_handshake_rate(ctx.build, fe.make_certs(ctx.tmp, cert), a.bare_seconds)
                   if not a.target else {})
    srv = _server(ctx, f"storm {cert}", n, cert)
    try:
        m0, c0 = srv.scrape(), srv.cpu()
        t0 = time.time()
        f = fe.Fleet(ctx.build, srv, n, 1, a.keepalive, inflight=a.inflight,
                     workers=max(1, min(a.sim_workers, n)),
                     extra=["--pipeline"] if a.storm_pipeline else [])
        ctx.sampler.add_fleet(f)
        ready_s = f.wait_ready(n, a.timeout, "storm")
        t1 = time.time()
        c1, m1 = srv.cpu(), srv.scrape()
        out = _stop_fleet(ctx, f)
    finally:
        srv.stop()
    sums = out["summaries"]
    r = {"cert_type": cert, "devices": n, "ready": out["ready_total"],
         "login": "pipelined (one write)" if a.storm_pipeline else
                  "lock-step (each tcpip-forward after the previous answer, as the simulators do)",
         "server_source_caps": getattr(srv, "source_caps", None),
         "all_ready": ready_s is not None, "wall_to_all_ready_s": round(ready_s or 0, 2),
         "tunnels_per_s": round(sum(s.get("tunnels_per_s") or 0 for s in sums), 1),
         "client_handshake_ms": {"p50": sums[0].get("handshake_ms_p50"),
                                 "p99": sums[0].get("handshake_ms_p99"),
                                 "max": None, "source": "amtsim summary (max not reported)"},
         "client_ready_ms": {"p50": sums[0].get("ready_ms_p50"), "p99": sums[0].get("ready_ms_p99"),
                             "source": "amtsim: connect start -> ready (TLS + APF login)"},
         "server_handshake": fe.hist_quantiles(m0, m1, "mpsd_tls_handshake_duration_seconds"),
         "server_login": fe.hist_quantiles(m0, m1, "mpsd_apf_login_duration_seconds"),
         "failures": {"amtsim_failed": out["failed"], "amtsim_closed_by_server":
                      out["closed_by_server"], "amtsim_refused": out["refused"],
                      "amtsim_reasons": out["disconnect_reasons"],
                      "server_tls_failures": fe.metric_labels(
                          _sub(m1, m0), "mpsd_tls_handshake_failures_total", "reason"),
                      "server_refused": fe.metric_labels(
                          _sub(m1, m0), "mpsd_device_connections_refused_total", "reason")},
         "server_tls_versions": fe.metric_labels(_sub(m1, m0),
                                                 "mpsd_tls_negotiated_version_total", "version"),
         "server_cpu": _server_cost(srv, c0, c1, t1 - t0),
         "amtsim": {k: out[k] for k in ("processes", "cpu_user_s", "cpu_sys_s",
                                        "rss_kib_max_sum")}}
    if srv.generated:
        fe.log(f"connect-storm {cert}: bare wolfSSL handshake rate ({a.bare_seconds} s per CPU)")
        after = fe.bare_handshake_rate(ctx.build, fe.make_certs(ctx.tmp, cert), a.bare_seconds)
        r["bare_wolfssl"] = after
        if bare_before.get("handshakes_per_s") and after.get("handshakes_per_s"):
            # the machine is shared: the mean of the runs just before and just after the storm
            after["before_storm_hs_per_s"] = bare_before["handshakes_per_s"]
            after["after_storm_hs_per_s"] = after["handshakes_per_s"]
            after["handshakes_per_s"] = round((bare_before["handshakes_per_s"] +
                                               after["handshakes_per_s"]) / 2, 1)
        b = r["bare_wolfssl"].get("handshakes_per_s")
        r["tunnels_per_s_vs_bare"] = round(r["tunnels_per_s"] / b, 3) if b else None
        r["target_ratio"] = 0.8
    return r


def _sub(m1, m0):
    return {k: v - m0.get(k, 0) for k, v in m1.items()}


def _hold(ctx, srv, fleets, seconds, what):
    """Sleeps `seconds`, logging every 10 s; returns drops (closed/failed deltas) seen."""
    def tot(k):
        return sum(f.total(k) for f in fleets)
    b0 = tot("closed_by_server") + tot("failed")
    t0, last = time.time(), time.time()
    while time.time() - t0 < seconds:
        time.sleep(min(1.0, seconds - (time.time() - t0)) if seconds > 0 else 0)
        if time.time() - last >= 10:
            fe.log(f"{what}: {time.time() - t0:.0f}/{seconds:.0f} s, "
                   f"{sum(f.ready() for f in fleets)} up, rss {srv.rss_kib()} KiB")
            last = time.time()
    return tot("closed_by_server") + tot("failed") - b0


def _memory(srv, rss0, ss0, n):
    rss1, ss1 = srv.rss_kib(), fe.sockstat()
    r = {"server_rss_before_kib": rss0, "server_rss_kib": rss1}
    if rss0 is not None and rss1 is not None:
        r["server_rss_per_tunnel_bytes"] = round((rss1 - rss0) * 1024 / n)
        r["server_rss_per_tunnel_target_bytes"] = 6144 if n <= 20000 else 5120
    r["sockstat_before"], r["sockstat"] = ss0, ss1
    r["kernel_tcp_mem_per_tunnel_bytes_both_ends"] = round(
        (ss1["mem_bytes"] - ss0["mem_bytes"]) / n)
    if srv.generated or srv.pid:
        sm = fe.server_socket_memory(srv.port)
        r["server_socket_buffers"] = sm
        if sm and sm["sockets"]:
            r["server_socket_mem_per_tunnel_bytes"] = round(sm["total_bytes"] / sm["sockets"])
    return r


def idle_hold(ctx, n=None):
    a = ctx.a
    n = n or a.devices
    fe.log(f"idle-hold: {n} devices, {a.periods} x {a.keepalive} s keep-alives")
    srv = _server(ctx, f"idle {n}", n)
    try:
        time.sleep(1.0)
        rss0, ss0, t_start = srv.rss_kib(), fe.sockstat(), time.time()
        f = fe.Fleet(ctx.build, srv, n, 2, a.keepalive, inflight=a.inflight)
        ctx.sampler.add_fleet(f)
        ready_s = f.wait_ready(n, a.timeout, "idle-hold connect")
        time.sleep(2.0)
        mem = _memory(srv, rss0, ss0, n)
        k0 = (f.total("keepalives_sent"), f.total("keepalive_replies"))
        f.mark()  # keep-alive round trips of the hold alone, apart from the connect phase
        m0, c0, t0 = srv.scrape(), srv.cpu(), time.time()
        drops = _hold(ctx, srv, [f], a.keepalive * a.periods, "idle-hold")
        c1, t1, m1 = srv.cpu(), time.time(), srv.scrape()
        k1 = (f.total("keepalives_sent"), f.total("keepalive_replies"))
        mem_end = srv.rss_kib()
        ready_end = f.ready()
        cl0, tl0 = srv.cpu(), time.time()
        out = _stop_fleet(ctx, f)
        leave = _wait_tunnels_gone(srv, 60)
        cl1, tl1 = srv.cpu(), time.time()
        time.sleep(1.0)
        rss_after = srv.rss_kib()
    finally:
        srv.stop()
    cost = _server_cost(srv, c0, c1, t1 - t0)
    if cost:
        for k in ("user", "sys"):
            cost[f"{k}_pct_of_core_per_10k"] = round(cost[f"{k}_pct_of_core"] * 10000 / n, 4)
        cost["total_pct_of_core_per_10k"] = round(cost["user_pct_of_core_per_10k"] +
                                                  cost["sys_pct_of_core_per_10k"], 4)
        cost["targets_per_10k"] = {"user_pct": 0.1, "total_pct": 0.5}
    return {"devices": n, "ready": ready_end, "all_ready": ready_s is not None,
            "connect_s": round(ready_s or 0, 1), "keepalive_s": a.keepalive,
            "periods": a.periods, "hold_s": round(t1 - t0, 1),
            "drops_during_hold": drops,
            "keepalives_sent_during_hold": k1[0] - k0[0],
            "keepalive_replies_during_hold": k1[1] - k0[1],
            "keepalive_rtt_ms": _ka_rtt(out["summaries"]),
            "server_disconnects_during_hold": fe.metric_labels(
                _sub(m1, m0), "mpsd_tunnel_disconnects_total", "reason"),
            "server_rss_end_of_hold_kib": mem_end, "server_rss_1s_after_leave_kib": rss_after,
            "leave": _leave_cost(cl0, cl1, tl1 - tl0, leave, n),
            "memory": mem, "server_cpu_hold": cost,
            "amtsim": {k: out[k] for k in ("processes", "counts", "cpu_user_s", "cpu_sys_s",
                                           "rss_kib_max_sum", "failed", "closed_by_server")},
            "elapsed_s": round(time.time() - t_start, 1)}


def _wait_tunnels_gone(srv, timeout):
    """Waits until the server's tunnel gauge is 0 (mpsd's /metrics); True if it got there."""
    end = time.time() + timeout
    while time.time() < end:
        m = srv.scrape()
        if not m:
            return None  # no metrics (another MPS): the leave cost is the stop's span only
        if fe.metric_sum(m, "mpsd_tunnels_connected") == 0:
            return True
        time.sleep(0.05)
    return False


def _leave_cost(c0, c1, t, gone, n):
    """The server's CPU while every device leaves at once (amtsim stopped: APF DISCONNECT, then
    TCP close), until its tunnel gauge reads 0."""
    if not (c0 and c1):
        return None
    cpu_s = (c1[0] - c0[0]) + (c1[1] - c0[1])
    return {"seconds": round(t, 2), "all_gone": gone, "server_user_s": round(c1[0] - c0[0], 3),
            "server_sys_s": round(c1[1] - c0[1], 3),
            "server_cpu_us_per_tunnel": round(cpu_s * 1e6 / n, 1)}


def _ka_rtt(summaries):
    """Keep-alive round trips as amtsim's devices saw them (request sent -> reply read) during the
    hold (since the SIGUSR1 mark); one histogram per amtsim process, so the worst process'
    quantiles are given, and the whole run's (connect phase included) beside them."""
    def worst(k):
        v = [x[k] for x in summaries if x.get(k) is not None]
        return max(v) if v else None
    return {"p50": worst("keepalive_rtt_since_mark_ms_p50"),
            "p99": worst("keepalive_rtt_since_mark_ms_p99"),
            "max": worst("keepalive_rtt_since_mark_ms_max"),
            "per_process_p99": [x.get("keepalive_rtt_since_mark_ms_p99") for x in summaries],
            "whole_run": {"p50": worst("keepalive_rtt_ms_p50"), "p99": worst("keepalive_rtt_ms_p99"),
                          "max": worst("keepalive_rtt_ms_max")},
            "source": "amtsim: request sent -> reply read, during the hold, worst process"}


def _console_fleet(ctx, srv, n, role, window=None):
    extra = ["--service", f"{fe.ECHO}=echo"] + (["--window", str(window)] if window else [])
    f = fe.Fleet(ctx.build, srv, n, role, ctx.a.keepalive, inflight=ctx.a.inflight,
                 ports=f"16992,{fe.ECHO}", extra=extra)
    ctx.sampler.add_fleet(f)
    return f


def channel_latency(ctx):
    a = ctx.a
    n = a.latency_devices or a.devices
    fe.log(f"channel-latency: {n} devices, {a.opens} opens per run")
    srv = _server(ctx, f"latency {n}", n)
    if not (srv.socks and srv.http):
        srv.stop()
        return {"skipped": "--target-socks and --target-http are needed with --target"}
    try:
        f = _console_fleet(ctx, srv, n, 3)
        ready_s = f.wait_ready(n, a.timeout, "channel-latency connect")
        fmt, dn = "d3p0-%u", f.counts[0]
        pids = {"server": srv.pid} if srv.pid else {}
        consoles.socks_opens(ctx.build, srv, fmt, dn, 5, 1, 99)  # warm the credential cache
        m0 = srv.scrape()
        r = {"devices": n, "ready": f.ready(), "all_ready": ready_s is not None,
             "target_devices": f"{fmt} for 0..{dn - 1} (amtsim process 0)"}
        fe.log("channel-latency: SOCKS5 sequential / concurrent")
        r["socks5_sequential"] = consoles.socks_opens(ctx.build, srv, fmt, dn, a.opens, 1, 1, pids)
        r["socks5_concurrent"] = consoles.socks_opens(ctx.build, srv, fmt, dn, a.opens,
                                                      a.console_threads, 2, pids)
        fe.log("channel-latency: HTTP CONNECT sequential / concurrent")
        r["http_connect_sequential"] = consoles.http_opens(srv, fmt, dn, a.opens, 1, 3)
        r["http_connect_concurrent"] = consoles.http_opens(srv, fmt, dn, a.opens,
                                                           a.console_threads, 4)
        r["server_channel_open"] = fe.hist_quantiles(m0, srv.scrape(),
                                                     "mpsd_channel_open_duration_seconds")
        for k in ("socks5_sequential", "socks5_concurrent", "http_connect_sequential",
                  "http_connect_concurrent"):
            e = r[k].get("connect_to_reply_us") or {}
            r[k]["reply_p99_under_1ms"] = e.get("p99") is not None and e["p99"] < 1000
        out = _stop_fleet(ctx, f)
        r["amtsim"] = {k: out[k] for k in ("cpu_user_s", "cpu_sys_s", "rss_kib_max_sum",
                                           "channels_opened", "channels_refused")}
    finally:
        srv.stop()
    return r


def throughput(ctx):
    a = ctx.a
    fe.log(f"throughput: 1 and {a.conns} channels, {a.bytes} B each way, {a.reps} reps")
    srv = _server(ctx, "throughput", a.conns)
    if not srv.socks:
        srv.stop()
        return {"skipped": "--target-socks is needed with --target"}
    base = consoles.Baseline(ctx.build)
    try:
        f = _console_fleet(ctx, srv, a.conns, 4, a.device_window)
        f.wait_ready(a.conns, a.timeout, "throughput devices")
        socks = f"{srv.cuser}:{srv.cpw}"
        runs = {k: {"mpsd": [], "plain": []} for k in ("single", "multi")}
        for rep in range(a.reps):
            for k, conns, nb in (("single", 1, a.bytes), ("multi", a.conns, a.bytes // a.conns)):
                for who in (["mpsd", "plain"] if rep % 2 == 0 else ["plain", "mpsd"]):
                    if who == "mpsd":
                        j = consoles.tput(ctx.build, srv.socks, conns, nb, a.max_seconds, socks,
                                          "d4p0-%u", {"server": srv.pid} if srv.pid else {})
                    else:
                        j = consoles.tput(ctx.build, base.addr, conns, nb, a.max_seconds,
                                          pids=base.pids)
                    runs[k][who].append(j)
        _stop_fleet(ctx, f)
    finally:
        base.stop()
        srv.stop()
    r = {"bytes_each_way": a.bytes, "reps": a.reps, "baseline": "bench_console relay -> serve echo",
         "device_window": a.device_window}
    for k in runs:
        ph = {}
        for who in ("mpsd", "plain"):
            ok = [j for j in runs[k][who] if not j.get("exit") and not j.get("error")]
            ph[who] = {"total_MBps_median": _med([j.get("total_MBps") for j in ok]),
                       "all_total_MBps": [j.get("total_MBps") for j in runs[k][who]],
                       "failed_runs": len(runs[k][who]) - len(ok),
                       "errors": [j.get("error") for j in runs[k][who] if j.get("error")],
                       "timed_out": sum(1 for j in runs[k][who] if j.get("timed_out")),
                       "runs": runs[k][who]}
        m, p = ph["mpsd"]["total_MBps_median"], ph["plain"]["total_MBps_median"]
        ph["ratio"] = round(m / p, 3) if m and p else None
        ph["target_ratio"] = 0.5 if k == "single" else None
        ph["channels"] = 1 if k == "single" else a.conns
        r[k] = ph
    return r


def _med(v):
    v = [x for x in v if x is not None]
    return round(statistics.median(v), 2) if v else None


class _ConsoleLoad:
    """SOCKS5 opens in a loop (batches of 50, one thread) until stopped: consoles at work."""

    def __init__(self, ctx, srv, fmt, devices):
        self.runs, self.ev = [], threading.Event()
        self.t = threading.Thread(target=self._run, args=(ctx, srv, fmt, devices), daemon=True)
        self.t.start()

    def _run(self, ctx, srv, fmt, devices):
        seed = 10
        while not self.ev.is_set():
            self.runs.append(consoles.socks_opens(ctx.build, srv, fmt, devices, 50, 1, seed))
            seed += 1

    def stop(self):
        self.ev.set()
        self.t.join()
        lat = [r.get("connect_to_first_echo_us", {}).get("p99") for r in self.runs]
        return {"batches": len(self.runs), "opens": sum(r.get("opens", 50) for r in self.runs),
                "errors": sum(r["errors"] for r in self.runs),
                "first_echo_us_p99_per_batch_max": max([x for x in lat if x] or [0])}


def _churn_phase(ctx, srv, resume, stable):
    a, c = ctx.a, ctx.a.churn_devices
    extra = ["--reconnect", "--reconnect-delay", str(a.churn_reconnect_delay)] + (
        ["--resume"] if resume else []) + (
        ["--tls-max", a.churn_tls_max] if a.churn_tls_max else [])
    fa = fe.Fleet(ctx.build, srv, c, 6, a.keepalive, extra=extra, inflight=a.inflight)
    ctx.sampler.add_fleet(fa)
    fa.wait_ready(c, a.timeout, "churn A")
    fb = fe.Fleet(ctx.build, srv, c, 7, a.keepalive, extra=extra, inflight=a.inflight,
                  same_uuid_as=6)
    ctx.sampler.add_fleet(fb)
    time.sleep(min(3.0, a.churn_seconds / 3))  # the ping-pong gets going

    def tot(k):
        return fa.total(k) + fb.total(k)
    load = _ConsoleLoad(ctx, srv, "d5p0-%u", stable.counts[0])
    m0, c0, t0 = srv.scrape(), srv.cpu(), time.time()
    r0, h0, s0 = tot("reconnects"), tot("tls_ok"), tot("resumed")
    _hold(ctx, srv, [fa, fb], a.churn_seconds, "churn " + ("resume" if resume else "full"))
    r1, h1, s1 = tot("reconnects"), tot("tls_ok"), tot("resumed")
    t1, c1, m1 = time.time(), srv.cpu(), srv.scrape()
    cl = load.stop()
    oa, ob = _stop_fleet(ctx, fa), _stop_fleet(ctx, fb)
    dt = t1 - t0
    return {"resume": resume, "devices": c, "seconds": round(dt, 1),
            "reconnect_delay_ms": a.churn_reconnect_delay,
            "device_tls_max": a.churn_tls_max or "1.3",
            "reconnects_per_s": round((r1 - r0) / dt, 1),
            "handshakes_per_s": round((h1 - h0) / dt, 1),
            "resumed_per_s": round((s1 - s0) / dt, 1),
            "server_resumed": fe.metric_sum(_sub(m1, m0), "mpsd_tls_resumed_total"),
            "server_supersedes_or_disconnects": fe.metric_labels(
                _sub(m1, m0), "mpsd_tunnel_disconnects_total", "reason"),
            "errors": {"amtsim_failed": oa["failed"] + ob["failed"],
                       "console_errors": cl["errors"],
                       "amtsim_reasons": {k: v for k, v in (
                           list(oa["disconnect_reasons"].items()) +
                           list(ob["disconnect_reasons"].items()))}},
            "consoles": cl, "server_cpu": _server_cost(srv, c0, c1, dt)}


def churn(ctx):
    a = ctx.a
    stable_n = max(10, a.devices // 10)
    fe.log(f"churn: {a.churn_devices} devices ping-ponging (two amtsim with the same GUIDs, "
           f"--reconnect), {stable_n} stable devices for consoles, {a.churn_seconds} s per phase")
    srv = _server(ctx, "churn", 2 * a.churn_devices + stable_n)
    if not srv.socks:
        srv.stop()
        return {"skipped": "--target-socks is needed with --target"}
    try:
        time.sleep(1.0)
        rss0 = srv.rss_kib()
        stable = _console_fleet(ctx, srv, stable_n, 5)
        stable.wait_ready(stable_n, a.timeout, "churn stable devices")
        r = {"model": "supersede ping-pong: process A and B log in the same GUIDs; each login "
                      "replaces the other's tunnel, whose device reconnects after amtsim's "
                      f"backoff ({a.churn_reconnect_delay}-{a.churn_reconnect_delay * 3 // 2} ms)",
             "stable_devices": stable_n,
             "server_rss_before_kib": rss0}
        r["full_handshake"] = _churn_phase(ctx, srv, False, stable)
        r["resumed"] = _churn_phase(ctx, srv, True, stable)
        f, s = r["full_handshake"]["reconnects_per_s"], r["resumed"]["reconnects_per_s"]
        r["resumed_vs_full_reconnects"] = round(s / f, 2) if f else None
        r["target_resumed_vs_full"] = 3.0
        r["errors_total"] = sum(r[k]["errors"]["amtsim_failed"] + r[k]["errors"]["console_errors"]
                                for k in ("full_handshake", "resumed"))
        _stop_fleet(ctx, stable)
        peak = max([x.get("rss_kib", 0) for x in ctx.sampler.since(ctx.scenario_t0)] or [0])
        fe.log(f"churn: devices gone, RSS over {a.settle} s")
        series, t0 = [], time.time()
        while time.time() - t0 < a.settle:
            series.append((round(time.time() - t0, 1), srv.rss_kib()))
            time.sleep(1.0)
        series.append((round(time.time() - t0, 1), srv.rss_kib()))
        end = series[-1][1]
        r["rss_after_leave"] = {"peak_kib": peak, "end_kib": end, "series_kib": series,
                                "returned_fraction": round((peak - end) / (peak - rss0), 3)
                                if rss0 and peak > rss0 else None}
    finally:
        srv.stop()
    return r


def fleet_day(ctx):
    a, n = ctx.a, ctx.a.devices
    nc = max(1, n // 100)
    trickle = max(2, n // 1000)
    hold = a.keepalive * a.periods
    fe.log(f"fleet: {n} idle devices, {trickle} reconnecting, {nc} consoles moving data, "
           f"{hold} s")
    srv = _server(ctx, f"fleet {n}", n + 2 * trickle)
    if not srv.socks:
        srv.stop()
        return {"skipped": "--target-socks is needed with --target"}
    try:
        time.sleep(1.0)
        rss0, ss0 = srv.rss_kib(), fe.sockstat()
        f = fe.Fleet(ctx.build, srv, n, 8, a.keepalive, inflight=a.inflight,
                     ports=f"16992,16993,623,664,16994,16995,{fe.ECHO}",
                     extra=["--service", f"{fe.ECHO}=echo"])
        ctx.sampler.add_fleet(f)
        f.wait_ready(n, a.timeout, "fleet connect")
        time.sleep(1.0)
        mem = _memory(srv, rss0, ss0, n)
        extra = ["--reconnect", "--resume"]
        ta = fe.Fleet(ctx.build, srv, trickle, 9, a.keepalive, extra=extra)
        ctx.sampler.add_fleet(ta)
        ta.wait_ready(trickle, a.timeout, "fleet trickle")
        # B logs in the same GUIDs only now: from here on each login supersedes the other's
        tb = fe.Fleet(ctx.build, srv, trickle, 10, a.keepalive, extra=extra, same_uuid_as=9)
        ctx.sampler.add_fleet(tb)
        res = {}
        nbytes = a.fleet_bytes_per_conn * nc

        def data():
            res["tput"] = consoles.tput(ctx.build, srv.socks, min(nc, f.counts[0]), nbytes // nc,
                                        hold, f"{srv.cuser}:{srv.cpw}", "d8p0-%u")
        th = threading.Thread(target=data, daemon=True)
        m0, c0, t0 = srv.scrape(), srv.cpu(), time.time()
        r0 = ta.total("reconnects") + tb.total("reconnects")
        th.start()
        time.sleep(1.0)
        lat = consoles.socks_opens(ctx.build, srv, "d8p0-%u", f.counts[0], a.opens, 1, 5)
        drops = _hold(ctx, srv, [f], max(0.0, hold - (time.time() - t0)), "fleet")
        r1 = ta.total("reconnects") + tb.total("reconnects")
        c1, t1, m1 = srv.cpu(), time.time(), srv.scrape()
        th.join(timeout=a.max_seconds + hold + 60)
        oi, oa, ob = _stop_fleet(ctx, f), _stop_fleet(ctx, ta), _stop_fleet(ctx, tb)
    finally:
        srv.stop()
    cost = _server_cost(srv, c0, c1, t1 - t0)
    return {"devices": n, "ready": oi["ready_total"], "trickle_devices": 2 * trickle,
            "console_channels": nc, "hold_s": round(t1 - t0, 1), "drops_idle": drops,
            "trickle_reconnects_per_s": round((r1 - r0) / (t1 - t0), 1),
            "errors": {"idle_failed": oi["failed"], "trickle_failed": oa["failed"] + ob["failed"],
                       "console_open_errors": lat.get("errors"),
                       "data_error": res.get("tput", {}).get("error")},
            "memory": mem, "server_cpu": cost, "channel_latency": lat,
            "data": res.get("tput"),
            "server_disconnects": fe.metric_labels(_sub(m1, m0), "mpsd_tunnel_disconnects_total",
                                                   "reason"),
            "keepalives": {"sent": oi["keepalives_sent"], "replies": oi["keepalive_replies"]}}
