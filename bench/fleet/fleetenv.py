"""bench/fleet: the machine, the server under test (a generated mpsd or a --target), amtsim
fleets spread over processes and source addresses, /proc and /metrics readings, a 1 Hz sampler
and the gnuplot chart. Loopback only. Shared helpers come from bench/lib/mpsdbench.py."""
import json
import math
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "bench", "lib"))
import mpsdbench  # noqa: E402  (sets MPSD_TEST_INSTANCE; /proc, ports, config, scrape)

os.environ.setdefault("MPSD_TEST_INSTANCE", "fleet%d" % os.getpid())
TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
PW = "Fleet-P@ss1"
CPW = "Console-P@ss1"
ECHO = 5900
PER_PROC = 15000  # devices per amtsim process / connections per mpsd ring: < 16k per table


def log(msg):
    print(f"[fleet {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def cpu(pid):
    """(user, system) CPU seconds of a process, all threads; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) / TCK, int(fields[12]) / TCK
    except OSError:
        return None


def rss_kib(pid):
    try:
        return mpsdbench.status_kib(pid, "VmRSS")
    except OSError:
        return None


def pct(values, q):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(q / 100 * len(v)) - 1))]


def sockstat():
    """/proc/net/sockstat's TCP line: inuse, orphan, tw, alloc, mem (pages) -> + mem_bytes."""
    out = {}
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                p = line.split()[1:]
                out = {p[i]: int(p[i + 1]) for i in range(0, len(p) - 1, 2)}
    out["mem_bytes"] = out.get("mem", 0) * PAGE
    return out


def server_socket_memory(port):
    """Kernel memory of the server's sockets on PORT (ss -tmn skmem: r rmem_alloc, t wmem_alloc,
    f fwd_alloc, w wmem_queued), summed over its established connections."""
    try:
        r = subprocess.run(["ss", "-tmnH", "state", "established", f"( sport = :{port} )"],
                           capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return None
    tot = {"sockets": 0, "rmem_alloc": 0, "wmem_alloc": 0, "fwd_alloc": 0, "wmem_queued": 0}
    for m in re.finditer(r"skmem:\(([^)]*)\)", r.stdout):
        kv = dict(re.findall(r"([a-z_]+?)(\d+)", m.group(1)))
        tot["sockets"] += 1
        tot["rmem_alloc"] += int(kv.get("r", 0))
        tot["wmem_alloc"] += int(kv.get("t", 0))
        tot["fwd_alloc"] += int(kv.get("f", 0))
        tot["wmem_queued"] += int(kv.get("w", 0))
    tot["total_bytes"] = tot["rmem_alloc"] + tot["fwd_alloc"] + tot["wmem_queued"]
    return tot


def machine(build):
    m = {"cpus": os.cpu_count(), "kernel": platform.release(),
         "cpu_model": next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                            if l.startswith("model name")), None),
         "mem_total_kib": next((int(l.split()[1]) for l in open("/proc/meminfo")
                               if l.startswith("MemTotal")), None),
         "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE),
         "ip_local_port_range": open("/proc/sys/net/ipv4/ip_local_port_range").read().split(),
         "loadavg_start": os.getloadavg()}
    mpsd = os.path.join(build, "src/core/mpsd")
    try:
        m["mpsd_version"] = subprocess.run([mpsd, "--version"], capture_output=True, text=True,
                                           timeout=10).stdout.strip().splitlines()
    except OSError:
        m["mpsd_version"] = None
    opts = os.path.join(TOP, ".deps/wolfssl/include/wolfssl/options.h")
    try:
        m["wolfssl_options"] = sorted({l.split()[1] for l in open(opts)
                                       if l.startswith("#define ")})
    except OSError:
        m["wolfssl_options"] = None
    return m


# ---- certificates --------------------------------------------------------------------------

CURVES = {"p256": ("prime256v1", "sha256"), "p384": ("secp384r1", "sha384")}


def make_certs(tmp, cert_type):
    """DIR with ca.pem, server.pem (leaf + CA), server.key for one type. RSA by tools/mpsd-certs
    (RSA only); ECDSA by openssl here: an EC CA and an EC leaf on the same curve, CN and SAN
    127.0.0.1, serverAuth."""
    d = os.path.join(tmp, f"certs-{cert_type}")
    if os.path.exists(f"{d}/server.pem"):
        return d
    if cert_type.startswith("rsa"):
        subprocess.run([os.path.join(TOP, "tools/mpsd-certs"), "--dir", d, "--name", "127.0.0.1",
                        "--bits", cert_type[3:]], check=True, stdout=subprocess.DEVNULL)
        return d
    curve, md = CURVES[cert_type]
    os.makedirs(d, exist_ok=True)

    def ossl(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)
    ossl("ecparam", "-name", curve, "-genkey", "-noout", "-out", f"{d}/ca.key")
    ossl("req", "-new", "-x509", f"-{md}", "-key", f"{d}/ca.key", "-days", "30", "-subj",
         "/O=mpsd fleet bench/CN=fleet bench CA", "-out", f"{d}/ca.pem")
    ossl("ecparam", "-name", curve, "-genkey", "-noout", "-out", f"{d}/server.key")
    ossl("req", "-new", "-key", f"{d}/server.key", "-subj", "/CN=127.0.0.1", "-out",
         f"{d}/server.csr")
    with open(f"{d}/ext.cnf", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\n")
    ossl("x509", "-req", "-in", f"{d}/server.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
         "-CAcreateserial", "-days", "30", f"-{md}", "-extfile", f"{d}/ext.cnf", "-out",
         f"{d}/leaf.pem")
    with open(f"{d}/server.pem", "w") as f:
        f.write(open(f"{d}/leaf.pem").read() + open(f"{d}/ca.pem").read())
    return d


def bare_handshake_rate(build, certdir, seconds):
    """bench/fleet/fleet_hs_rate (bench/tls's in-memory pair) once per CPU at once: the bare
    wolfSSL handshake rate of this certificate on the same cores."""
    exe = os.path.join(build, "bench/fleet/fleet_hs_rate")
    n = os.cpu_count() or 1
    ps = [subprocess.Popen([exe, f"{certdir}/server.pem", f"{certdir}/server.key", str(seconds),
                            "any", f"{certdir}/ca.pem"],
                           stdout=subprocess.PIPE, text=True) for _ in range(n)]
    per = []
    for p in ps:
        out, _ = p.communicate(timeout=seconds * 10 + 30)
        try:
            per.append(json.loads(out))
        except ValueError:
            return {"error": f"fleet_hs_rate exit {p.returncode}"}
    return {"processes": n, "seconds": seconds, "version": per[0].get("version"),
            "client_verifies_chain": per[0].get("verify"),
            "per_process_hs_per_s": [j["handshakes_per_s"] for j in per],
            "handshakes_per_s": round(sum(j["handshakes_per_s"] for j in per), 1)}


# ---- the server under test -----------------------------------------------------------------

class Server:
    """A generated mpsd (start()) or a --target (pid optional). Everything a scenario needs:
    the CIRA address, CA, device and console credentials, console proxies, metrics."""

    def __init__(self, a, tmp):
        self.a, self.tmp = a, tmp
        self.proc = None
        self.pid = a.target_pid
        self.metrics_port = None
        self.socks = self.http = None
        self.cpw = a.console_password or CPW
        self.cuser = a.console_user or "bench"
        if a.target:
            self.host, self.port = a.target.rsplit(":", 1)
            self.ca = a.ca
            self.user = a.user
            self.password = a.password
            if a.password_file:
                self.password = open(a.password_file).readline().rstrip("\n")
            self.socks = a.target_socks
            self.http = a.target_http
            if a.target_metrics:
                self.metrics_port = int(a.target_metrics.rsplit(":", 1)[1])

    @property
    def generated(self):
        return not self.a.target

    def start(self, build, certdir, devices, keepalive, workers=None):
        b = mpsdbench.binaries(build)
        self.workers = workers or max(self.a.workers, math.ceil((devices + 1000) / PER_PROC))
        self.user, self.password, self.ca = "admin", PW, f"{certdir}/ca.pem"
        tmp = self.tmp
        if not os.path.exists(f"{tmp}/credentials"):
            mpsdbench.make_group_credentials(b["passwd"], tmp, PW)
            line = subprocess.run([b["passwd"], "--console", "bench", "--devices", "all",
                                   "--ports", "all", "--password-stdin"], input=CPW + "\n",
                                  capture_output=True, text=True, check=True).stdout
            with open(f"{tmp}/users", "w") as f:
                f.write(line)
            os.chmod(f"{tmp}/users", 0o600)
        for attempt in range(4):
            try:
                return self._start(b, tmp, certdir, devices, keepalive)
            except SystemExit as e:  # a port taken between free_port() and mpsd's bind
                if attempt == 3:
                    raise
                log(f"mpsd did not start ({str(e)[-160:].strip()}); again with other ports")

    def _start(self, b, tmp, certdir, devices, keepalive):
        self.port = str(mpsdbench.free_port())
        self.host = "127.0.0.1"
        sp, hp, self.metrics_port = (mpsdbench.free_port() for _ in range(3))
        self.socks, self.http = f"127.0.0.1:{sp}", f"127.0.0.1:{hp}"
        extra = f"""[console]
socks_listen = {self.socks}
http_listen = {self.http}
users = {tmp}/users
max_consoles = 20000
[admin]
listen = 127.0.0.1:{self.metrics_port}
"""
        caps = ""
        with open(b["mpsd"], "rb") as f:
            knows_caps = b"max_handshakes_per_source" in f.read()
        if knows_caps and not self.a.default_source_caps:
            # a capacity bench, not a flood: amtsim's 4 sources per process in one /24 would hit
            # the flood defence's per-source/prefix handshake caps (64/256) first
            caps = "max_handshakes_per_source = 2048\nmax_handshakes_per_prefix = 2048\n"
        self.source_caps = "default" if (knows_caps and not caps) else (
            "lifted to 2048" if caps else "not in this mpsd")
        mpsdbench.write_config(tmp, self.port, self.workers, devices + 2000,
                               extra_cira=f"keepalive_interval = {keepalive}s\n"
                               f"keepalive_timeout = {keepalive * 3}s\nmax_handshakes = 2048\n"
                               + caps,
                               extra=extra, max_conns_per_worker=19000)
        # certificates of this run's type
        conf = open(f"{tmp}/mpsd.conf").read().replace(f"{tmp}/certs/", f"{certdir}/")
        open(f"{tmp}/mpsd.conf", "w").write(conf)
        self.proc = mpsdbench.start_mpsd(b["mpsd"], tmp, settle=0.3)
        end = time.time() + 15
        while time.time() < end:
            try:
                if self.scrape().get("mpsd_workers"):
                    socket.create_connection(("127.0.0.1", int(self.port)), 1).close()
                    break
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit("mpsd exited: " + open(f"{tmp}/mpsd.log").read()[-2000:])
            time.sleep(0.1)
        self.pid = self.proc.pid
        return self

    def stop(self):
        if self.proc:
            mpsdbench.stop(self.proc)
            self.proc = None

    def scrape(self):
        if not self.metrics_port:
            return {}
        try:
            return mpsdbench.scrape(self.metrics_port, timeout=10)
        except OSError:
            return {}

    def cpu(self):
        return cpu(self.pid) if self.pid else None

    def rss_kib(self):
        return rss_kib(self.pid) if self.pid else None


def metric_sum(m, name, **labels):
    """Sum of a family's series matching labels (a dict from mpsdbench.scrape)."""
    tot = 0.0
    for k, v in m.items():
        base, _, lab = k.partition("{")
        if base != name:
            continue
        if all(f'{lk}="{lv}"' in lab for lk, lv in labels.items()):
            tot += v
    return tot


def metric_labels(m, name, label):
    out = {}
    for k, v in m.items():
        base, _, lab = k.partition("{")
        mm = re.search(label + r'="([^"]*)"', lab)
        if base == name and mm and v:
            out[mm.group(1)] = out.get(mm.group(1), 0) + v
    return out


def hist_quantiles(before, after, name):
    """p50/p99/max (bucket upper bounds, seconds -> ms) of a histogram's growth between two
    scrapes; count and mean from _count/_sum."""
    b = {}
    for m, sign in ((after, 1), (before, -1)):
        for k, v in m.items():
            if k.startswith(name + "_bucket{"):
                le = re.search(r'le="([^"]*)"', k).group(1)
                le = math.inf if le == "+Inf" else float(le)
                b[le] = b.get(le, 0) + sign * v
    n = metric_sum(after, name + "_count") - metric_sum(before, name + "_count")
    if not b or n <= 0:
        return None
    s = metric_sum(after, name + "_sum") - metric_sum(before, name + "_sum")
    les = sorted(b)

    def q(f):
        for le in les:
            if b[le] >= f * n - 1e-9:
                return None if le == math.inf else round(le * 1000, 3)
        return None
    top = next((le for i, le in enumerate(les) if b[le] >= n - 1e-9), None)
    return {"count": int(n), "mean_ms": round(s / n * 1000, 3), "p50_le_ms": q(0.5),
            "p99_le_ms": q(0.99), "max_le_ms": None if top in (None, math.inf) else
            round(top * 1000, 3), "source": "mpsd /metrics histogram (bucket upper bounds)"}


# ---- amtsim fleets -------------------------------------------------------------------------

def uuid_base(role, offset):
    return "12345678-%04x-4000-8000-%012x" % (role, offset)


LIVE = []  # every amtsim started; run.py stops what is left on any exit (also Ctrl-C)


def stop_all():
    for s in LIVE:
        if s.p.poll() is None:
            mpsdbench.stop(s.p, signal.SIGINT, 60)


class Sim(mpsdbench.JsonChild):
    """One amtsim process; a thread keeps its last progress line and its summary."""

    def __init__(self, args, name):
        LIVE.append(self)
        self.args = args
        self.cpu_last, self.rss_max = (0, 0), 0
        super().__init__(args, name, stderr=subprocess.DEVNULL)

    def sample(self):
        c = cpu(self.p.pid)
        if c:
            self.cpu_last = c
            self.rss_max = max(self.rss_max, rss_kib(self.p.pid) or 0)

    def mark(self):
        """amtsim's summary then also reports keep-alive round trips since now (SIGUSR1)."""
        try:
            self.p.send_signal(signal.SIGUSR1)
        except OSError:
            pass

    def stop(self, timeout=300):
        self.sample()
        return self.end(signal.SIGINT, timeout)


class Fleet:
    """N devices of one role over ceil(N / PER_PROC) amtsim processes, each with its own source
    addresses (127.<role>.<k>.1-4, ~28k ports each toward the MPS) and host-name prefix
    d<role>p<k>-, so process k's device i is d<role>p<k>-<i> and GUID base(role) + k*PER_PROC + i."""

    def __init__(self, build, srv, n, role, keepalive, extra=(), per_proc=PER_PROC, inflight=512,
                 workers=1, ports=None, same_uuid_as=None):
        self.n, self.role, self.sims = n, role, []
        amtsim = os.path.join(build, "tools/amtsim/amtsim")
        nproc = max(1, math.ceil(n / per_proc))
        inflight = max(16, min(inflight, 1536 // nproc))  # under mpsd's max_handshakes (2048)
        self.counts = [n // nproc + (1 if k < n % nproc else 0) for k in range(nproc)]
        off = 0
        for k, c in enumerate(self.counts):
            urole = role if same_uuid_as is None else same_uuid_as
            args = [amtsim, "--connect", f"{srv.host}:{srv.port}", "--count", str(c),
                    "--password", srv.password, "--inflight", str(inflight), "--sources",
                    f"127.{role + 10}.{k}.1-127.{role + 10}.{k}.4", "--workers", str(workers),
                    "--duration", "0", "--progress", "--quiet", "--timeout", "900",
                    "--keepalive", str(keepalive), "--uuid-base", uuid_base(urole, off),
                    "--hostname-prefix", f"d{role}p{k}-"]
            if srv.user:
                args += ["--user", srv.user]
            if srv.ca:
                args += ["--ca", srv.ca]
            if ports:
                args += ["--ports", ports]
            args += list(extra)
            self.sims.append(Sim(args, f"r{role}p{k}"))
            off += c

    def mark(self):
        for s in self.sims:
            s.mark()

    def total(self, key):
        return sum(s.last.get(key, 0) or 0 for s in self.sims)

    def ready(self):
        return self.total("ready")

    def alive(self):
        return all(s.p.poll() is None for s in self.sims)

    def wait_ready(self, want, timeout, what="devices"):
        t0, last = time.time(), 0
        while time.time() - t0 < timeout:
            r = self.ready()
            if r >= want:
                return time.time() - t0
            if r + self.total("failed") >= want and r:  # every device settled, some failed
                log(f"{what}: {r}/{want} ready, {self.total('failed')} failed (not retried)")
                return None
            if not self.alive():
                log(f"amtsim ended early ({what}: {r}/{want} ready)")
                return None
            if time.time() - last >= 5:
                log(f"{what}: {r}/{want} ready, {self.total('failed')} failed, "
                    f"{time.time() - t0:.0f} s")
                last = time.time()
            time.sleep(0.2)
        log(f"{what}: timed out at {self.ready()}/{want} ready")
        return None

    def sample(self):
        for s in self.sims:
            s.sample()

    def pids(self):
        return [s.p.pid for s in self.sims]

    def stop(self):
        sums = [s.stop() for s in self.sims]
        out = {"processes": len(self.sims), "counts": self.counts,
               "cpu_user_s": round(sum(s.cpu_last[0] for s in self.sims), 2),
               "cpu_sys_s": round(sum(s.cpu_last[1] for s in self.sims), 2),
               "rss_kib_max_sum": sum(s.rss_max for s in self.sims), "summaries": sums}
        for k in ("ready_total", "failed", "closed_by_server", "refused", "keepalives_sent",
                  "keepalive_replies", "reconnects", "resumed", "tls_ok", "met",
                  "channels_opened", "channels_refused"):
            out[k] = sum(s.get(k, 0) or 0 for s in sums)
        reasons = {}
        for s in sums:
            for r, v in (s.get("disconnect_reasons") or {}).items():
                reasons[r] = reasons.get(r, 0) + v
        out["disconnect_reasons"] = reasons
        return out


# ---- 1 Hz sampler and the chart ------------------------------------------------------------

class Sampler:
    """Every second: tunnels (amtsim's ready gauges, and mpsd_tunnels_connected when scraped),
    server RSS and CPU (% of one core, user/system), for the chart and the RSS-over-time
    figures. One Sampler across all scenarios of a run (t from the run's start)."""

    def __init__(self, interval=1.0):
        self.t0 = time.time()
        self.rows, self.marks = [], []
        self.srv, self.fleets = None, []
        self.interval = interval
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.prev = None
        threading.Thread(target=self._run, daemon=True).start()

    def attach(self, srv, fleets, scenario):
        with self.lock:
            self.srv, self.fleets, self.prev = srv, list(fleets), None
            self.marks.append((round(time.time() - self.t0, 1), scenario))

    def add_fleet(self, f):
        with self.lock:
            self.fleets.append(f)

    def _run(self):
        while not self.stop_ev.wait(self.interval):
            with self.lock:
                srv, fleets = self.srv, list(self.fleets)
            t = time.time() - self.t0
            row = {"t": round(t, 1), "tunnels": sum(f.ready() for f in fleets)}
            for f in fleets:
                f.sample()
            if srv and srv.pid:
                c, r = srv.cpu(), srv.rss_kib()
                if c and r:
                    row["rss_kib"] = r
                    if self.prev:
                        dt = t - self.prev[0]
                        row["cpu_user_pct"] = round((c[0] - self.prev[1][0]) / dt * 100, 2)
                        row["cpu_sys_pct"] = round((c[1] - self.prev[1][1]) / dt * 100, 2)
                    self.prev = (t, c)
            self.rows.append(row)

    def since(self, t_abs):
        t = t_abs - self.t0
        return [r for r in self.rows if r["t"] >= t]

    def close(self):
        self.stop_ev.set()


def plot(sampler, path, tmp, title):
    dat = os.path.join(tmp, "samples.dat")
    with open(dat, "w") as f:
        for r in sampler.rows:
            f.write("%s %s %s %s %s\n" % (r["t"], r["tunnels"],
                                          round(r.get("rss_kib", 0) / 1024, 2) if "rss_kib" in r
                                          else "?", r.get("cpu_user_pct", "?"),
                                          r.get("cpu_sys_pct", "?")))
    labels = "".join(f'set arrow from {t},graph 0 to {t},graph 1 nohead dt 3 lc rgb "gray"\n'
                     f'set label "{s}" at {t},graph 0.97 rotate by -90 offset 0.7,0 font ",8"\n'
                     for t, s in sampler.marks)
    script = f"""set terminal pngcairo size 1200,800 noenhanced
set output '{path}'
set datafile missing '?'
set multiplot layout 2,1 title "{title}"
set xlabel 'seconds'
set ylabel 'tunnels'
set y2label 'server RSS (MiB)'
set ytics nomirror
set y2tics
set key below
set offsets 0, 0, graph 0.08, 0
set yrange [0:*]
set y2range [0:*]
{labels}plot '{dat}' using 1:2 with lines lw 2 title 'tunnels (devices ready)', \\
     '' using 1:3 axes x1y2 with lines lw 2 title 'server RSS MiB'
unset y2label
unset y2tics
set ylabel 'server CPU, % of one core'
plot '{dat}' using 1:4 with lines title 'user', '' using 1:5 with lines title 'system'
unset multiplot
"""
    with open(os.path.join(tmp, "plot.gp"), "w") as f:
        f.write(script)
    try:
        r = subprocess.run(["gnuplot", os.path.join(tmp, "plot.gp")], capture_output=True,
                           text=True, timeout=60)
    except OSError as e:
        return f"gnuplot not found ({e}): apt-get install gnuplot-nox (tools/setup.sh)"
    return None if r.returncode == 0 else r.stderr.strip()[:500]
