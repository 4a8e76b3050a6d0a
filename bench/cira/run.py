#!/usr/bin/env python3
"""CIRA bench: a real mpsd on loopback and N amtsim devices; prints one JSON object.

    bench/cira/run.py [--build build] [--devices 10000] [--hold 15] [--bits 3072]

Figures:
  tunnels_per_s        ready tunnels / time from first connect to last ready (amtsim's clock)
  mpsd_rss_per_tunnel  (mpsd RSS with every tunnel idle - RSS before any) / N, in bytes
  idle_cpu_per_10k     mpsd CPU seconds per second per 10k idle tunnels during the hold
  baseline             TLS 1.2 ECDHE-RSA handshakes/s of the same wolfSSL in memory, client and
                       server in one thread (bench_tls, same run, same key size), so tunnels_per_s
                       is also quoted as a ratio to it; memory is
                       quoted against the 12 KiB-per-idle-tunnel target of the design.
Loopback only; every process it starts is stopped when it ends.
"""
import argparse, json, os, signal, subprocess, sys, time

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "bench", "lib"))
# importing it scopes mpsd's host-wide lock: the bench's own mpsd may run beside a dev or test one
from mpsdbench import cpu_seconds, free_port, json_lines, rss_bytes  # noqa: E402
import mpsdbench  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--hold", type=int, default=15)
    ap.add_argument("--bits", type=int, default=3072)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    mpsd = os.path.join(build, "src/core/mpsd")
    amtsim = os.path.join(build, "tools/amtsim/amtsim")
    passwd = os.path.join(build, "tools/mpsd-passwd")
    tmp = mpsdbench.scratch()
    mpsdbench.make_certs(tmp, a.bits)
    pw = "Bench-P@ss1"
    mpsdbench.make_group_credentials(passwd, tmp, pw)
    port = free_port()
    mpsdbench.write_config(tmp, port, a.workers, a.devices + 1000,
                           extra_cira=mpsdbench.LIFT_SOURCE_CAPS)
    log = open(f"{tmp}/mpsd.log", "w")
    srv = subprocess.Popen([mpsd, "--config", f"{tmp}/mpsd.conf"], stdout=log, stderr=log)
    sim = None
    try:
        time.sleep(1.0)
        if srv.poll() is not None:
            sys.exit("mpsd did not start: " + open(f"{tmp}/mpsd.log").read())
        rss0 = rss_bytes(srv.pid)
        sim = subprocess.Popen(
            [amtsim, "--connect", f"127.0.0.1:{port}", "--count", str(a.devices), "--ca",
             f"{tmp}/certs/ca.pem", "--password", pw, "--workers", "2", "--inflight", "256",
             "--sources", "127.0.0.2-127.0.0.9", "--duration", str(a.hold + 600), "--progress",
             "--timeout", "600"],
            stdout=subprocess.PIPE, text=True)
        ready_at = None
        for j in json_lines(sim.stdout):
            if j.get("summary"):
                break
            if j.get("ready", 0) >= a.devices:
                ready_at = time.time()
                break
        if ready_at is None:
            sys.exit("not every device became ready")
        time.sleep(1.0)  # let the last logins settle (keep-alive options, allocator)
        rss1 = rss_bytes(srv.pid)
        c0, t0 = cpu_seconds(srv.pid), time.time()
        time.sleep(a.hold)
        c1, t1 = cpu_seconds(srv.pid), time.time()
        rss2 = rss_bytes(srv.pid)
        sim.send_signal(signal.SIGINT)
        summary = {}
        for j in json_lines(sim.stdout):
            if j.get("summary"):
                summary = j
        sim.wait(timeout=120)
    finally:
        if sim and sim.poll() is None:
            sim.kill()
        srv.send_signal(signal.SIGTERM)
        try:
            srv.wait(timeout=30)
        except subprocess.TimeoutExpired:
            srv.kill()

    base = None
    bench_tls = os.path.join(build, "bench/tls/bench_tls")
    if os.path.exists(bench_tls):
        subprocess.run(["openssl", "req", "-x509", "-newkey", f"rsa:{a.bits}", "-nodes", "-sha256",
                        "-days", "2", "-subj", "/CN=b", "-keyout", f"{tmp}/k.pem", "-out",
                        f"{tmp}/c.pem"], check=True, capture_output=True)
        r = subprocess.run([bench_tls, "mpsd", f"{tmp}/c.pem", f"{tmp}/k.pem", f"{tmp}/c.pem",
                            f"{tmp}/k.pem", "2"], capture_output=True, text=True)
        try:
            bj = json.loads(r.stdout)
            base = bj.get(f"tls12_ecdhe_rsa{a.bits}_hs_per_s") or bj.get(
                "tls12_ecdhe_rsa2048_hs_per_s")
        except ValueError:
            base = None

    n = a.devices
    per_tunnel = (max(rss1, rss2) - rss0) / n
    res = {
        "devices": n,
        "workers": a.workers,
        "server_key_bits": a.bits,
        "ready": summary.get("ready_total"),
        "tunnels_per_s": summary.get("tunnels_per_s"),
        "handshake_ms_p50": summary.get("handshake_ms_p50"),
        "handshake_ms_p99": summary.get("handshake_ms_p99"),
        "mpsd_rss_before_kib": rss0 // 1024,
        "mpsd_rss_idle_kib": max(rss1, rss2) // 1024,
        "mpsd_rss_per_tunnel_bytes": round(per_tunnel),
        "per_tunnel_vs_12KiB_target": round(per_tunnel / 12288, 3),
        "idle_cpu_per_10k": round((c1 - c0) / (t1 - t0) * 10000 / n, 4),
        "amtsim_rss_kib": summary.get("rss_kib"),
        "closed_by_server": summary.get("closed_by_server"),
        "baseline_tls_handshakes_per_s_1core_in_memory": base,
    }
    if base and res["tunnels_per_s"]:
        res["tunnels_per_s_vs_baseline"] = round(res["tunnels_per_s"] / base, 3)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
