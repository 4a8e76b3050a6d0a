#!/usr/bin/env python3
"""Fleet-scale load harness: a whole MPS driven by amtsim devices and console clients; one JSON
document on stdout, a short summary and progress lines on stderr.

    bench/fleet/run.py --build build-fleet --scenario connect-storm --cert-type rsa2048,p256
    bench/fleet/run.py --build build-fleet --scenario idle-hold --devices 100000 --keepalive 30
    bench/fleet/run.py --build build-fleet --scenario all --devices 20 --keepalive 1 --periods 2
    bench/fleet/run.py --target 127.0.0.1:4433 --ca ca.pem --user admin --password-file pw \\
        --target-pid 1234 --target-socks 127.0.0.1:1080 --target-http 127.0.0.1:8080 ...

Scenarios (--scenario, comma-separated or `all`): connect-storm, idle-hold, channel-latency,
throughput, churn, fleet. Without --target it starts its own mpsd (generated config, certificates
of --cert-type, mpsd's /metrics on a loopback admin port) for each scenario. With --target the
server's figures come only from --target-pid (and --target-metrics HOST:PORT if it has
mpsd-compatible /metrics). Loopback only; every process it starts is stopped at the end.
Results are never asserted (bench/fleet/smoke.py checks only the document's shape).
"""
import argparse
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fleetenv as fe  # noqa: E402
import scenarios as sc  # noqa: E402

os.environ.setdefault("MPSD_TEST_INSTANCE", "fleet%d" % os.getpid())
ALL = ["connect-storm", "idle-hold", "channel-latency", "throughput", "churn", "fleet"]


def parse():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(fe.TOP, "build-fleet"))
    ap.add_argument("--scenario", default="all", help="comma-separated, or all: " + ",".join(ALL))
    ap.add_argument("--devices", type=int, default=2000, help="N (storm, idle, latency, fleet)")
    ap.add_argument("--idle-devices", default=None,
                    help="idle-hold N list (e.g. 10000,100000); default --devices")
    ap.add_argument("--latency-devices", type=int, default=None,
                    help="channel-latency N; default --devices")
    ap.add_argument("--cert-type", default="rsa2048",
                    help="connect-storm: rsa2048,rsa3072,p256,p384 (other scenarios: the first)")
    ap.add_argument("--keepalive", type=int, default=30, help="keep-alive interval, s")
    ap.add_argument("--periods", type=int, default=3, help="keep-alive periods held")
    ap.add_argument("--workers", type=int, default=2,
                    help="mpsd workers at least (raised so each ring holds < 15k)")
    ap.add_argument("--sim-workers", type=int, default=2, help="amtsim rings in connect-storm")
    ap.add_argument("--storm-pipeline", action="store_true",
                    help="connect-storm: amtsim sends its whole APF login in one write (whether "
                         "real firmware pipelines its tcpip-forwards is undocumented; the default "
                         "lock-step login costs ~9 more round trips per tunnel)")
    ap.add_argument("--inflight", type=int, default=512, help="amtsim --inflight per process")
    ap.add_argument("--timeout", type=float, default=900, help="wait for devices ready, s")
    ap.add_argument("--bare-seconds", type=float, default=3.0, help="bare handshake run per CPU")
    ap.add_argument("--opens", type=int, default=2000, help="channel opens per latency run")
    ap.add_argument("--console-threads", type=int, default=8)
    ap.add_argument("--bytes", type=int, default=1 << 30, help="throughput: bytes each way")
    ap.add_argument("--conns", type=int, default=100, help="throughput: concurrent channels")
    ap.add_argument("--device-window", type=int, default=1 << 20,
                    help="throughput: APF receive window each amtsim device grants per channel "
                         "(amtsim's own default is 32768; real AMT's is undocumented)")
    ap.add_argument("--reps", type=int, default=3, help="throughput repetitions")
    ap.add_argument("--max-seconds", type=float, default=30, help="cap per transfer")
    ap.add_argument("--churn-devices", type=int, default=1000, help="devices per churn process")
    ap.add_argument("--churn-seconds", type=float, default=30, help="per churn phase")
    ap.add_argument("--churn-reconnect-delay", type=int, default=20,
                    help="churn: amtsim's first reconnect backoff, ms (its own default is 500: with "
                         "that the ping-pong is bound by the wait, not by the MPS)")
    ap.add_argument("--churn-tls-max", default=None,
                    help="churn: highest TLS version the devices offer (1.2: AMT before 16 - an "
                         "abbreviated handshake without key exchange on resumption)")
    ap.add_argument("--settle", type=float, default=30, help="churn: RSS watched after leave")
    ap.add_argument("--fleet-bytes-per-conn", type=int, default=64 << 20,
                    help="fleet: bytes each console channel moves each way")
    ap.add_argument("--default-source-caps", action="store_true",
                    help="keep mpsd's max_handshakes_per_source/prefix (default: lifted to 2048)")
    ap.add_argument("--plot", default=None, help="PNG chart of tunnels, RSS, CPU over time")
    ap.add_argument("--out", default=None, help="also write the JSON here")
    g = ap.add_argument_group("another MPS")
    g.add_argument("--target", help="HOST:PORT of the MPS' CIRA listener (loopback)")
    g.add_argument("--ca", help="CA file to verify it")
    g.add_argument("--user", default="admin", help="device APF user")
    g.add_argument("--password")
    g.add_argument("--password-file")
    g.add_argument("--target-pid", type=int, help="its PID, for RSS and CPU")
    g.add_argument("--target-socks", help="its SOCKS5 console listener")
    g.add_argument("--target-http", help="its HTTP CONNECT console listener")
    g.add_argument("--target-metrics", help="HOST:PORT of mpsd-compatible /metrics")
    g.add_argument("--console-user")
    g.add_argument("--console-password")
    a = ap.parse_args()
    a.scenario = ALL if a.scenario == "all" else a.scenario.split(",")
    for s in a.scenario:
        if s not in ALL:
            ap.error(f"unknown scenario {s}: one of {', '.join(ALL)}")
    a.cert_type = a.cert_type.split(",")
    for c in a.cert_type:
        if c not in ("rsa2048", "rsa3072", "p256", "p384"):
            ap.error(f"unknown --cert-type {c}")
    a.idle_devices = [int(x) for x in a.idle_devices.split(",")] if a.idle_devices else None
    if a.target and not (a.password or a.password_file):
        ap.error("--target needs --password or --password-file")
    return a


class Ctx:
    pass


def summary_lines(res):
    out = []
    for name, r in res["scenarios"].items():
        rs = r if isinstance(r, list) else [r]
        for x in rs:
            if "skipped" in x or "error" in x:
                out.append(f"{name}: {x.get('skipped') or x.get('error')}")
            elif name == "connect-storm":
                out.append(f"connect-storm {x['cert_type']}: {x['ready']}/{x['devices']} ready, "
                           f"{x['tunnels_per_s']} tunnels/s, bare {x.get('bare_wolfssl', {}).get('handshakes_per_s')}"
                           f" hs/s, ratio {x.get('tunnels_per_s_vs_bare')}")
            elif name == "idle-hold":
                c = x.get("server_cpu_hold") or {}
                out.append(f"idle-hold {x['devices']}: {x['ready']} up, drops {x['drops_during_hold']}"
                           f", {x['memory'].get('server_rss_per_tunnel_bytes')} B RSS/tunnel, "
                           f"CPU/10k user {c.get('user_pct_of_core_per_10k')}% sys "
                           f"{c.get('sys_pct_of_core_per_10k')}%, keep-alive RTT p99 "
                           f"{(x.get('keepalive_rtt_ms') or {}).get('p99')} ms")
            elif name == "channel-latency":
                out.append("channel-latency: p99 reply us socks5 seq %s conc %s, http seq %s conc %s" % tuple(
                    (x[k].get("connect_to_reply_us") or {}).get("p99") for k in (
                        "socks5_sequential", "socks5_concurrent", "http_connect_sequential",
                        "http_connect_concurrent")))
            elif name == "throughput":
                out.append(f"throughput: single {x['single']['mpsd']['total_MBps_median']} MB/s "
                           f"(ratio {x['single']['ratio']}), {x['multi']['channels']} channels "
                           f"{x['multi']['mpsd']['total_MBps_median']} MB/s (ratio {x['multi']['ratio']})")
            elif name == "churn":
                out.append(f"churn: full {x['full_handshake']['reconnects_per_s']}/s, resumed "
                           f"{x['resumed']['reconnects_per_s']}/s (x{x['resumed_vs_full_reconnects']}), "
                           f"errors {x['errors_total']}, RSS returned "
                           f"{x['rss_after_leave']['returned_fraction']}")
            elif name == "fleet":
                out.append(f"fleet: {x['ready']}/{x['devices']} idle up, drops {x['drops_idle']}, "
                           f"{x['trickle_reconnects_per_s']} reconnects/s, data "
                           f"{(x.get('data') or {}).get('total_MBps')} MB/s")
    return out


def main():
    a = parse()
    ctx = Ctx()
    ctx.a, ctx.build = a, os.path.abspath(a.build)
    ctx.tmp = fe.mpsdbench.scratch("mpsd-fleet-")
    ctx.amtsim_cost = []
    ctx.sampler = fe.Sampler()
    for p in ("src/core/mpsd", "tools/amtsim/amtsim", "tools/mpsd-passwd",
              "bench/console/bench_console", "bench/fleet/fleet_hs_rate"):
        if not os.path.exists(os.path.join(ctx.build, p)):
            sys.exit(f"missing {ctx.build}/{p}: build first (ninja -C {a.build})")
    res = {"harness": "bench/fleet/run.py", "command": " ".join(sys.argv),
           "machine": fe.machine(ctx.build), "params": {k: v for k, v in vars(a).items()
                                                        if k not in ("password", "console_password")},
           "target": a.target or "generated mpsd", "scratch": ctx.tmp, "scenarios": {}}
    t_run = time.time()
    for name in a.scenario:
        ctx.scenario_t0 = time.time()
        try:
            if name == "connect-storm":
                certs = a.cert_type if not a.target else ["target"]
                res["scenarios"][name] = [sc.connect_storm(ctx, c) for c in certs]
            elif name == "idle-hold":
                ns = a.idle_devices or [a.devices]
                res["scenarios"][name] = [sc.idle_hold(ctx, n) for n in ns]
            elif name == "channel-latency":
                res["scenarios"][name] = sc.channel_latency(ctx)
            elif name == "throughput":
                res["scenarios"][name] = sc.throughput(ctx)
            elif name == "churn":
                res["scenarios"][name] = sc.churn(ctx)
            elif name == "fleet":
                res["scenarios"][name] = sc.fleet_day(ctx)
        except (Exception, SystemExit) as e:  # one failure must not lose the others' figures
            import traceback
            traceback.print_exc()
            res["scenarios"][name] = {"error": f"{type(e).__name__}: {e}"}
        res["scenarios"].setdefault(name, {})
        if isinstance(res["scenarios"][name], dict):
            res["scenarios"][name]["scenario_wall_s"] = round(time.time() - ctx.scenario_t0, 1)
    ctx.sampler.close()
    me = resource.getrusage(resource.RUSAGE_SELF)
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    res["harness_cost"] = {
        "python_user_s": round(me.ru_utime, 2), "python_sys_s": round(me.ru_stime, 2),
        "python_rss_max_kib": me.ru_maxrss,
        "amtsim_user_s": round(sum(x["cpu_user_s"] for x in ctx.amtsim_cost), 2),
        "amtsim_sys_s": round(sum(x["cpu_sys_s"] for x in ctx.amtsim_cost), 2),
        "amtsim_rss_max_kib": max([x["rss_kib_max_sum"] for x in ctx.amtsim_cost] or [0]),
        "all_children_user_s": round(ch.ru_utime, 2), "all_children_sys_s": round(ch.ru_stime, 2),
        "note": "all_children includes mpsd, amtsim, bench_console, fleet_hs_rate (waited)",
        "wall_s": round(time.time() - t_run, 1)}
    res["samples"] = ctx.sampler.rows
    res["sample_marks"] = ctx.sampler.marks
    if a.plot:
        err = fe.plot(ctx.sampler, os.path.abspath(a.plot), ctx.tmp,
                      f"bench/fleet: {','.join(a.scenario)} ({res['machine']['cpus']} CPUs)")
        res["plot"] = {"file": a.plot, "error": err}
    text = json.dumps(res, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    print(text)
    for line in summary_lines(res):
        print("summary: " + line, file=sys.stderr)


if __name__ == "__main__":
    try:
        main()
    finally:
        fe.stop_all()
