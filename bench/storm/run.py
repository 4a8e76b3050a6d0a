#!/usr/bin/env python3
"""Login-storm bench: a wrong-password storm against never-verified device entries while genuine
devices (logged in before: the cache knows them) reconnect, with login throttling on and off.
Prints one JSON object.

    bench/storm/run.py [--build build] [--storm 10000] [--genuine 1000] [--modes on,off]
                       [--rate 0] [--inflight 256]

Per mode:
  mpsd_cpu_s          mpsd user+sys CPU seconds (/proc/PID/stat) from storm start to storm end
  storm_s             wall time of the storm
  argon2_runs         argon2id checks run during the storm (mpsd's auth_argon2_device counter)
  refused             the storm's refusals by counter (bad_password: argon2 ran; throttled_*: not)
  genuine_ready       genuine devices that reached ready during the storm (of --genuine)
  genuine_ready_ms    their time to ready (amtsim: connect to ready), p50 and p99
Credentials use mpsd's default argon2id parameters (m=2048 KiB, t=1, p=1). Loopback only; every
process it starts is stopped when it ends.
"""
import argparse, json, os, re, signal, subprocess, sys, time

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "bench", "lib"))
from mpsdbench import cpu_seconds, free_port, json_lines  # noqa: E402
import mpsdbench  # noqa: E402

GENUINE_BASE = "12345678-0000-4000-8000-"
STORM_BASE = "5e5e5e5e-0000-4000-8000-"
PW = "Bench-P@ss1"


def phc(passwd, pw):
    out = subprocess.run([passwd, "--password-stdin"], input=pw + "\n", capture_output=True,
                         text=True, check=True).stdout
    return out.strip().split()[-1]


def stat(srv, logpath, name):
    """The named counter of the stats line mpsd prints on SIGUSR1 (0 when absent)."""
    before = open(logpath).read().count('msg="stats: ')
    srv.send_signal(signal.SIGUSR1)
    for _ in range(100):
        text = open(logpath).read()
        if text.count('msg="stats: ') > before:
            break
        time.sleep(0.05)
    last = text[text.rfind('msg="stats: '):].split("\n", 1)[0]
    m = re.search(r" %s=(\d+)" % re.escape(name), last)
    return int(m.group(1)) if m else 0


def run_mode(a, build, tmp, throttle):
    mpsd, amtsim = os.path.join(build, "src/core/mpsd"), os.path.join(build, "tools/amtsim/amtsim")
    port = free_port()
    with open(f"{tmp}/mpsd.conf", "w") as f:
        f.write(f"""[mpsd]
name = 127.0.0.1
lock_file = {tmp}/lock
workers = {a.workers}
log_level = info
[cira]
listen = 127.0.0.1:{port}
cert = {tmp}/certs/server.pem
key = {tmp}/certs/server.key
max_handshakes_per_source = 1000000
max_handshakes_per_prefix = 1000000
[devices]
credentials = {tmp}/credentials
login_throttle = {"true" if throttle else "false"}
""")
    srv = mpsdbench.start_mpsd(mpsd, tmp)
    logpath = f"{tmp}/mpsd.log"
    common = ["--connect", f"127.0.0.1:{port}", "--ca", f"{tmp}/certs/ca.pem", "--quiet"]
    try:
        # the genuine fleet logs in once (cold cache: argon2 each), from elsewhere
        first = subprocess.run([amtsim] + common + [
            "--password", PW, "--count", str(a.genuine), "--duration", "8", "--inflight", "128",
            "--sources", "127.0.3.1-127.0.3.10"], capture_output=True, text=True)
        s = [json.loads(l) for l in first.stdout.splitlines() if l.startswith("{")][-1]
        if s.get("ready_total") != a.genuine:
            sys.exit("first logins failed: " + first.stdout)
        argon2_0 = stat(srv, logpath, "auth_argon2_device")
        cpu0, t0 = cpu_seconds(srv.pid), time.monotonic()
        storm = subprocess.Popen([amtsim] + common + [
            "--mode", "bad-password", "--password", "Wr0ng-Guess!", "--count", str(a.storm),
            "--rate", str(a.rate), "--inflight", str(a.inflight), "--timeout", "300",
            "--uuid-base", STORM_BASE + "000000000000", "--workers", "2",
            "--sources", "127.0.1.1-127.0.2.244"], stdout=subprocess.PIPE, text=True)
        time.sleep(2)
        genuine = subprocess.run([amtsim] + common + [
            "--password", PW, "--count", str(a.genuine), "--duration", "15", "--inflight", "64",
            "--sources", "127.0.1.1-127.0.1.50,127.0.3.1-127.0.3.50"],
            capture_output=True, text=True)
        g = [json.loads(l) for l in genuine.stdout.splitlines() if l.startswith("{")][-1]
        st = None
        for j in json_lines(storm.stdout):
            if j.get("summary"):
                st = j
        storm.wait()
        cpu1, t1 = cpu_seconds(srv.pid), time.monotonic()
        refused = {k: stat(srv, logpath, "auth_" + k) for k in
                   ("bad_password", "throttled_source", "throttled_prefix", "throttled_pool",
                    "busy")}
        return {
            "mpsd_cpu_s": round(cpu1 - cpu0, 2), "storm_s": round(t1 - t0, 2),
            "argon2_runs": stat(srv, logpath, "auth_argon2_device") - argon2_0,
            "refused": refused, "storm_attempts": a.storm,
            "storm_refused_by_amtsim": st.get("met") if st else None,
            "genuine_ready": g.get("ready_total"), "genuine": a.genuine,
            "genuine_ready_ms": {"p50": g.get("ready_ms_p50"), "p99": g.get("ready_ms_p99")},
        }
    finally:
        mpsdbench.stop(srv)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--storm", type=int, default=10000)
    ap.add_argument("--genuine", type=int, default=1000)
    ap.add_argument("--modes", default="on,off")
    ap.add_argument("--rate", type=int, default=0)
    ap.add_argument("--inflight", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--bits", type=int, default=2048)
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    tmp = mpsdbench.scratch()
    mpsdbench.make_certs(tmp, a.bits)
    good, other = phc(os.path.join(build, "tools/mpsd-passwd"), PW), \
        phc(os.path.join(build, "tools/mpsd-passwd"), "Not-The-Guess1")
    with open(f"{tmp}/credentials", "w") as f:
        for i in range(a.genuine):
            f.write(f"device {GENUINE_BASE}{i:012x} admin {good}\n")
        for i in range(a.storm):
            f.write(f"device {STORM_BASE}{i:012x} admin {other}\n")
    out = {"bench": "storm", "argon2": good.split("$")[3], "workers": a.workers,
           "rate": a.rate, "inflight": a.inflight, "nproc": os.cpu_count(),
           "loadavg_before": os.getloadavg()[0]}
    for m in a.modes.split(","):
        out["throttle_" + m] = run_mode(a, build, tmp, m == "on")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
