#!/usr/bin/env python3
"""Console-path bench: a real mpsd, amtsim devices, and bench_console as the console; prints one JSON
document. Every figure is quoted against a plain loopback relay measured in the same run.

    bench/console/run.py [--build build-bench] [--bytes 1073741824] [--reps 3] [--devices 10000]
                         [--opens 2000] [--concurrent-threads 8] [--channel-window B]
                         [--recv-buffer-size B] [--sim-window B] [--sim-max-payload B]
                         [--perf DIR] [--skip-latency] [--skip-tput]

Phases (each repeated --reps times, mpsd and baseline alternating, medians reported):
  single_echo   1 connection: SOCKS5 (RFC 1929) -> mpsd -> APF/TLS -> amtsim echo, --bytes each
                way at once; baseline: bench_console relay -> bench_console serve echo
  single_up     1 connection, --bytes console -> device (amtsim discard), then half-close and wait
                for the EOF coming back (so every byte went through)
  single_down   1 connection, --bytes device -> console (amtsim source:N)
  multi_echo    100 connections to 100 devices (baseline: 100 connections through the relay),
                --bytes in total (--bytes / 100 each way per connection)
  open_latency  --devices tunnels up (amtsim from 127.0.0.2-127.0.0.9), --opens sequential
                SOCKS5 CONNECTs to random devices, then --opens from --concurrent-threads
                threads: CONNECT sent -> first reply byte, and -> first echoed byte
For each phase: mpsd's user and system CPU seconds (/proc/PID/stat 14, 15), its RSS after, the
client's (harness) CPU, amtsim's CPU; the baseline relay's and echo server's CPU.
With --perf DIR, one extra (unmeasured) single_echo and multi_echo run each under
`perf record -g -p mpsd` and under `perf stat -e task-clock,context-switches,
syscalls:sys_enter_io_uring_enter` (files in DIR; summaries in the JSON).
Loopback only; every process it starts is stopped when it ends.
"""
import argparse, json, os, platform, random, signal, socket, statistics, subprocess, sys
import tempfile, time

# the bench's own mpsd may run beside a dev or test instance (mpsd's host-wide lock is scoped)
os.environ.setdefault("MPSD_TEST_INSTANCE", "bench%d" % os.getpid())

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(top, "bench", "lib"))
from mpsdbench import free_port  # noqa: E402  (reserved against other runs on the host)
TCK = os.sysconf("SC_CLK_TCK")
PW = "Bench-P@ss1"
CPW = "Console-P@ss1"
ECHO, DISCARD, SOURCE = 5900, 5901, 5902


def cpu(pid):
    """(user, system) CPU seconds of a process (all threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TCK, int(fields[12]) / TCK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def wait_port(port, proc, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def json_lines(stream):
    for out in stream:
        try:
            yield json.loads(out)
        except ValueError:
            continue


def stop(p, sig=signal.SIGTERM, timeout=30):
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


class Watch:
    """CPU (user/sys) of some processes over an interval."""

    def __init__(self, pids):
        self.pids = pids
        self.c0 = {k: cpu(v) for k, v in pids.items()}
        self.t0 = time.time()

    def done(self):
        out = {"wall_s": round(time.time() - self.t0, 3)}
        for k, v in self.pids.items():
            u, s = cpu(v)
            out[f"{k}_user_s"] = round(u - self.c0[k][0], 3)
            out[f"{k}_sys_s"] = round(s - self.c0[k][1], 3)
        return out


def med(runs, key):
    v = [r[key] for r in runs if r.get(key) is not None]
    return round(statistics.median(v), 3) if v else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--build", default=os.path.join(top, "build-bench"))
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--devices", type=int, default=10000)
    ap.add_argument("--opens", type=int, default=2000)
    ap.add_argument("--concurrent-threads", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--channel-window", type=int, default=None, help="[console] channel_window")
    ap.add_argument("--recv-buffer-size", type=int, default=None, help="[ring] recv_buffer_size")
    ap.add_argument("--max-buffered", type=int, default=None, help="[cira] max_buffered")
    ap.add_argument("--sim-window", type=int, default=None, help="amtsim --window")
    ap.add_argument("--sim-max-payload", type=int, default=None, help="amtsim --max-payload")
    ap.add_argument("--relay-buf", type=int, default=131072, help="baseline relay buffer")
    ap.add_argument("--client", default=None,
                    help="bench_console binary (default: BUILD/bench/console/bench_console)")
    ap.add_argument("--bits", type=int, default=2048)
    ap.add_argument("--max-seconds", type=float, default=30,
                    help="cap per transfer run; a capped run reports what moved (timed_out)")
    ap.add_argument("--perf", default=None, help="directory for perf record/stat output")
    ap.add_argument("--skip-latency", action="store_true")
    ap.add_argument("--skip-tput", action="store_true")
    a = ap.parse_args()
    build = os.path.abspath(a.build)
    mpsd = os.path.join(build, "src/core/mpsd")
    amtsim = os.path.join(build, "tools/amtsim/amtsim")
    passwd = os.path.join(build, "tools/mpsd-passwd")
    bc = os.path.abspath(a.client) if a.client else os.path.join(build,
                                                                  "bench/console/bench_console")
    for p in (mpsd, amtsim, passwd, bc):
        if not os.path.exists(p):
            sys.exit(f"missing {p}: build first (ninja -C {a.build})")
    tmp = tempfile.mkdtemp(prefix="mpsd-console-bench-")
    subprocess.run([os.path.join(top, "tools/mpsd-certs"), "--dir", f"{tmp}/certs", "--name",
                    "127.0.0.1", "--bits", str(a.bits)], check=True, stdout=subprocess.DEVNULL)
    line = subprocess.run([passwd, "--group", "fleet", "--user", "admin", "--password-stdin"],
                          input=PW + "\n", capture_output=True, text=True, check=True).stdout
    with open(f"{tmp}/credentials", "w") as f:
        f.write(line)
    line = subprocess.run([passwd, "--console", "bench", "--devices", "all", "--ports", "all",
                           "--password-stdin"], input=CPW + "\n", capture_output=True, text=True,
                          check=True).stdout
    with open(f"{tmp}/users", "w") as f:
        f.write(line)
    os.chmod(f"{tmp}/users", 0o600)
    cira_port, socks_port = free_port(), free_port()
    extra_console = f"channel_window = {a.channel_window}\n" if a.channel_window else ""
    extra_ring = f"recv_buffer_size = {a.recv_buffer_size}\n" if a.recv_buffer_size else ""
    extra_cira = f"max_buffered = {a.max_buffered}\n" if a.max_buffered else ""
    conf = f"""[mpsd]
name = 127.0.0.1
lock_file = {tmp}/lock
workers = {a.workers}
log_level = warn
[cira]
listen = 127.0.0.1:{cira_port}
cert = {tmp}/certs/server.pem
key = {tmp}/certs/server.key
max_tunnels = {a.devices + 1000}
max_handshakes_per_source = 1000000
max_handshakes_per_prefix = 1000000
{extra_cira}[devices]
credentials = {tmp}/credentials
group_auth = true
[console]
socks_listen = 127.0.0.1:{socks_port}
users = {tmp}/users
max_consoles = 20000
{extra_console}[ring]
max_conns_per_worker = 19000
{extra_ring}"""
    with open(f"{tmp}/mpsd.conf", "w") as f:
        f.write(conf)

    procs = []

    def spawn(args, **kw):
        p = subprocess.Popen(args, **kw)
        procs.append(p)
        return p

    def sim_start(count, prefix, uuid_base, sources, size):
        args = [amtsim, "--connect", f"127.0.0.1:{cira_port}", "--count", str(count), "--ca",
                f"{tmp}/certs/ca.pem", "--password", PW, "--inflight", "256", "--sources",
                sources, "--duration", "0", "--progress", "--quiet", "--timeout", "600",
                "--hostname-prefix", prefix, "--uuid-base", uuid_base, "--ports",
                f"16992,{ECHO},{DISCARD},{SOURCE}", "--service", f"{ECHO}=echo", "--service",
                f"{DISCARD}=discard", "--service", f"{SOURCE}=source:{size}",
                "--keepalive", "30"]
        if a.sim_window:
            args += ["--window", str(a.sim_window)]
        if a.sim_max_payload:
            args += ["--max-payload", str(a.sim_max_payload)]
        p = spawn(args, stdout=subprocess.PIPE, text=True)
        t0 = time.time()
        for j in json_lines(p.stdout):
            if j.get("summary"):
                sys.exit("amtsim ended early: " + json.dumps(j))
            if j.get("ready", 0) >= count:
                break
        else:
            sys.exit("amtsim ended before every device was ready")
        return p, round(time.time() - t0, 2)

    def sim_stop(p):
        stop(p, signal.SIGINT, 120)
        for _ in json_lines(p.stdout):
            pass

    def client(args, pids):
        w = Watch(pids)
        if args[0] == "tput":
            args = args + ["--max-seconds", str(a.max_seconds)]
        r = subprocess.run([bc] + args, capture_output=True, text=True)
        out = w.done()
        try:
            j = json.loads(r.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            j = {"error": f"bench_console exit {r.returncode}: {r.stderr.strip()[:300]}"}
        if r.returncode:
            j["exit"] = r.returncode
            j["stderr"] = r.stderr.strip()[:300]
        j.update(out)
        return j

    res = {
        "machine": {"cpus": os.cpu_count(), "kernel": platform.release(),
                    "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                                       if l.startswith("model name")), None)},
        "params": {"bytes": a.bytes, "reps": a.reps, "conns": a.conns, "devices": a.devices,
                   "opens": a.opens, "concurrent_threads": a.concurrent_threads,
                   "mpsd_workers": a.workers, "channel_window": a.channel_window or "default",
                   "recv_buffer_size": a.recv_buffer_size or "default",
                   "max_buffered": a.max_buffered or "default",
                   "sim_window": a.sim_window or "default",
                   "sim_max_payload": a.sim_max_payload or "default",
                   "baseline_relay_buf": a.relay_buf, "max_seconds": a.max_seconds, "server_key_bits": a.bits,
                   "tls": "amtsim default (1.2-1.3)", "auth": "SOCKS5 RFC 1929, users file"},
    }
    log = open(f"{tmp}/mpsd.log", "w")
    srv = spawn([mpsd, "--config", f"{tmp}/mpsd.conf"], stdout=log, stderr=log)
    base = []
    sim = None
    try:
        if not wait_port(socks_port, srv):
            sys.exit("mpsd did not start: " + open(f"{tmp}/mpsd.log").read())
        res["mpsd_rss_start_kib"] = rss_kib(srv.pid)
        socks = ["--socks", f"bench:{CPW}"]
        mp = f"127.0.0.1:{socks_port}"
        if not a.skip_tput:
            # baseline: plain relay -> plain services, one per kind
            bp = {}
            for kind, name in (("echo", "echo"), ("discard", "discard"),
                               (f"source:{a.bytes}", "source")):
                sp, rp = free_port(), free_port()
                s = spawn([bc, "serve", "--listen", f"127.0.0.1:{sp}", "--kind", kind])
                r = spawn([bc, "relay", "--listen", f"127.0.0.1:{rp}", "--to", f"127.0.0.1:{sp}",
                           "--buf", str(a.relay_buf)])
                if not wait_port(rp, r) or not wait_port(sp, s):
                    sys.exit("baseline did not start")
                base += [s, r]
                bp[name] = (rp, {"relay": r.pid, "server": s.pid})
            ntp = max(a.conns, 1)
            sim, t_ready = sim_start(ntp, "amt-", "12345678-0000-4000-8000-000000000000",
                                     "127.0.0.2-127.0.0.5", a.bytes)
            res["tput_devices_ready_s"] = t_ready
            mpids = {"mpsd": srv.pid, "amtsim": sim.pid}
            per = a.bytes // ntp
            phases = {
                "single_echo": (["--mode", "echo", "--conns", "1", "--bytes", str(a.bytes)],
                                ECHO, "echo"),
                "single_up": (["--mode", "up", "--conns", "1", "--bytes", str(a.bytes)],
                              DISCARD, "discard"),
                "single_down": (["--mode", "down", "--conns", "1", "--bytes", str(a.bytes)],
                                SOURCE, "source"),
                "multi_echo": (["--mode", "echo", "--conns", str(ntp), "--bytes", str(per)],
                               ECHO, "echo"),
            }
            runs = {k: {"mpsd": [], "plain": []} for k in phases}
            for rep in range(a.reps):
                for k, (args, port, bk) in phases.items():
                    order = ["mpsd", "plain"] if rep % 2 == 0 else ["plain", "mpsd"]
                    for who in order:
                        if who == "mpsd":
                            j = client(["tput", "--connect", mp] + socks +
                                       ["--port", str(port)] + args, mpids)
                            j["mpsd_rss_kib"] = rss_kib(srv.pid)
                        else:
                            j = client(["tput", "--connect", f"127.0.0.1:{bp[bk][0]}"] + args,
                                       bp[bk][1])
                        runs[k][who].append(j)
            keys = ("up_MBps", "down_MBps", "total_MBps", "elapsed_s", "client_user_s",
                    "client_sys_s")
            for k in phases:
                ph = {}
                for who in ("mpsd", "plain"):
                    # a run that ended early (EOF before all bytes, an error) gives no rate
                    rr = [r for r in runs[k][who] if not r.get("exit") and not r.get("error")]
                    bad = [r for r in runs[k][who] if r.get("exit") or r.get("error")]
                    ks = set().union(*[set(r) for r in rr]) if rr else set()
                    cpu_keys = sorted(x for x in ks if x.endswith("_user_s") or x.endswith("_sys_s"))
                    m = {x: med(rr, x) for x in keys}
                    m.update({x: med(rr, x) for x in cpu_keys})
                    if who == "mpsd":
                        m["mpsd_rss_kib_max"] = max(r.get("mpsd_rss_kib", 0) for r in runs[k][who])
                        el = m["elapsed_s"] or 1
                        m["mpsd_cpu_per_s"] = round(
                            ((m.get("mpsd_user_s") or 0) + (m.get("mpsd_sys_s") or 0)) / el, 3)
                    m["all_total_MBps"] = [r.get("total_MBps") for r in runs[k][who]]
                    m["valid_runs"] = len(rr)
                    m["failed_runs"] = len(bad)
                    m["errors"] = [(r.get("error") or r.get("stderr") or
                                    f"early EOF after {r.get('up_bytes')} B up, "
                                    f"{r.get('down_bytes')} B down") for r in bad]
                    m["timed_out"] = sum(1 for r in runs[k][who] if r.get("timed_out"))
                    ph[who] = m
                mt, pt = ph["mpsd"]["total_MBps"], ph["plain"]["total_MBps"]
                ph["ratio_total"] = round(mt / pt, 3) if mt and pt else None
                # per-rep ratios (each mpsd run against the baseline run next to it)
                ph["ratio_per_rep"] = [
                    round(x["total_MBps"] / y["total_MBps"], 3)
                    if x.get("total_MBps") and y.get("total_MBps") and not x.get("exit") and
                    not y.get("exit") else None
                    for x, y in zip(runs[k]["mpsd"], runs[k]["plain"])]
                ph["target_ratio"] = 0.5
                res[k] = ph
            if a.perf:
                os.makedirs(a.perf, exist_ok=True)
                res["perf"] = {}
                for k in ("single_echo", "multi_echo"):
                    args, port, bk = phases[k]
                    cmd = ["tput", "--connect", mp] + socks + ["--port", str(port)] + args
                    pr = subprocess.Popen(["perf", "record", "-g", "-p", str(srv.pid), "-o",
                                           f"{a.perf}/{k}.data"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
                    time.sleep(0.5)
                    client(cmd, mpids)
                    stop(pr, signal.SIGINT)
                    for who, pid, pcmd in (("mpsd", srv.pid, cmd),
                                           ("plain_relay", bp[bk][1]["relay"],
                                            ["tput", "--connect", f"127.0.0.1:{bp[bk][0]}"] +
                                            args)):
                        ev = "task-clock,context-switches"
                        if who == "mpsd":
                            ev += ",syscalls:sys_enter_io_uring_enter"
                        ps = subprocess.Popen(["perf", "stat", "-x", ",", "-e", ev, "-p",
                                               str(pid), "-o", f"{a.perf}/{k}.{who}.stat"],
                                              stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL)
                        time.sleep(0.5)
                        j = client(pcmd, {})
                        time.sleep(0.2)
                        stop(ps, signal.SIGINT)
                        st = {}
                        try:
                            for l in open(f"{a.perf}/{k}.{who}.stat"):
                                f = l.strip().split(",")
                                if len(f) > 3 and f[0] and not l.startswith("#"):
                                    try:
                                        st[f[2]] = float(f[0])
                                    except ValueError:
                                        pass
                        except OSError:
                            pass
                        moved = (j.get("up_bytes", 0) or 0) + (j.get("down_bytes", 0) or 0)
                        if moved:
                            st["bytes_moved"] = moved
                            for ek in list(st):
                                if ek != "bytes_moved":
                                    st[ek + "_per_MB"] = round(st[ek] / (moved / 1e6), 3)
                        res["perf"][f"{k}.{who}"] = st
            sim_stop(sim)
            sim = None
            for p in base:
                stop(p)
        if not a.skip_latency:
            time.sleep(1.0)
            rss0 = rss_kib(srv.pid)
            c0 = cpu(srv.pid)
            sim, t_ready = sim_start(a.devices, "lat-", "12345678-0000-4000-8000-100000000000",
                                     "127.0.0.2-127.0.0.9", 1024)
            time.sleep(2.0)
            c1 = cpu(srv.pid)
            lat = {"tunnels": a.devices, "ready_s": t_ready,
                   "mpsd_rss_before_kib": rss0, "mpsd_rss_tunnels_up_kib": rss_kib(srv.pid),
                   "mpsd_connect_user_s": round(c1[0] - c0[0], 3),
                   "mpsd_connect_sys_s": round(c1[1] - c0[1], 3)}
            mpids = {"mpsd": srv.pid, "amtsim": sim.pid}
            common = ["open", "--connect", mp] + socks + ["--host-fmt", "lat-%u", "--devices",
                                                         str(a.devices), "--port", str(ECHO)]
            # warm the credential cache (the first login runs argon2id on the auth pool)
            client(common + ["--count", "5", "--threads", "1", "--seed", "99"], {})
            lat["sequential"] = client(common + ["--count", str(a.opens), "--threads", "1",
                                                 "--seed", "1"], mpids)
            lat["concurrent"] = client(common + ["--count", str(a.opens), "--threads",
                                                 str(a.concurrent_threads), "--seed", "2"], mpids)
            lat["mpsd_rss_after_kib"] = rss_kib(srv.pid)
            for k in ("sequential", "concurrent"):
                e = lat[k].get("connect_to_first_echo_us") or {}
                lat[k]["p99_under_1ms"] = e.get("p99") is not None and e["p99"] < 1000
            res["open_latency"] = lat
            sim_stop(sim)
            sim = None
        res["mpsd_rss_end_kib"] = rss_kib(srv.pid)
        res["mpsd_cpu_total"] = dict(zip(("user_s", "sys_s"), cpu(srv.pid)))
    finally:
        for p in reversed(procs):
            stop(p, signal.SIGINT if p is sim else signal.SIGTERM)
    res["summary"] = {k: res[k]["ratio_total"] for k in ("single_echo", "single_up",
                                                          "single_down", "multi_echo")
                      if k in res}
    if "open_latency" in res:
        for k in ("sequential", "concurrent"):
            res["summary"][f"open_{k}_first_echo_us"] = res["open_latency"][k].get(
                "connect_to_first_echo_us")
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
