"""bench/fleet consoles: channel opens through SOCKS5 (bench/console's bench_console `open`, C)
and HTTP CONNECT (here, Python threads), and throughput with bench_console `tput` against the
plain loopback relay (bench_console `relay` + `serve`) measured in the same run, as
bench/console/run.py does (its Watch and wait_port are imported from it)."""
import base64
import importlib.util
import json
import os
import random
import resource
import socket
import subprocess
import threading
import time

import fleetenv as fe

_spec = importlib.util.spec_from_file_location(
    "console_run", os.path.join(fe.TOP, "bench", "console", "run.py"))
console_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(console_run)


# bench_console's tput frees nothing at exit (bench/console/bench_console.c cmd_tput: cs, rbuf):
# in a sanitizer build LeakSanitizer would turn every run into exit 1. A client's exit-time leak
# says nothing about the MPS under test; mpsd keeps its own ASAN_OPTIONS.
CLIENT_ENV = dict(os.environ, ASAN_OPTIONS=(os.environ.get("ASAN_OPTIONS", "") +
                                            ":detect_leaks=0").lstrip(":"))


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime, r.ru_stime


def bench_console(build, args, pids=None):
    """One bench_console run; its JSON plus the CPU of pids over it and the client's own CPU."""
    exe = os.path.join(build, "bench/console/bench_console")
    w = console_run.Watch(pids or {})
    c0 = children_cpu()
    r = subprocess.run([exe] + args, capture_output=True, text=True, env=CLIENT_ENV)
    c1 = children_cpu()
    try:
        j = json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        j = {"error": f"bench_console exit {r.returncode}: {r.stderr.strip()[:300]}"}
    if r.returncode:
        j["exit"] = r.returncode
    j.update(w.done())
    j["client_cpu_user_s"] = round(c1[0] - c0[0], 3)
    j["client_cpu_sys_s"] = round(c1[1] - c0[1], 3)
    return j


def socks_opens(build, srv, host_fmt, devices, count, threads, seed, pids=None):
    j = _socks_opens(build, srv, host_fmt, devices, count, threads, seed, pids)
    j["errors"] = (j.get("failed") or 0) + (1 if j.get("error") or j.get("exit") else 0)
    return j


def _socks_opens(build, srv, host_fmt, devices, count, threads, seed, pids=None):
    return bench_console(build, ["open", "--connect", srv.socks, "--socks",
                                 f"{srv.cuser}:{srv.cpw}", "--host-fmt", host_fmt, "--devices",
                                 str(devices), "--port", str(fe.ECHO), "--count", str(count),
                                 "--threads", str(threads), "--seed", str(seed)], pids)


def _http_open(addr, auth, host, port):
    """TCP connect, then the timed part: CONNECT sent -> first response byte, then one byte
    through the channel -> its echo. Returns (reply_us, echo_us, error)."""
    h, p = addr.rsplit(":", 1)
    s = socket.create_connection((h, int(p)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        req = (f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n"
               f"Proxy-Authorization: Basic {auth}\r\n\r\n").encode()
        t0 = time.perf_counter()
        s.sendall(req)
        first = s.recv(1)
        t1 = time.perf_counter()
        head = first
        while b"\r\n\r\n" not in head:
            b = s.recv(4096)
            if not b:
                break
            head += b
        if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
            return (t1 - t0) * 1e6, None, head.split(b"\r\n")[0].decode(errors="replace")
        s.sendall(b"x")
        e = s.recv(1)
        t2 = time.perf_counter()
        if e != b"x":
            return (t1 - t0) * 1e6, None, "no echo"
        return (t1 - t0) * 1e6, (t2 - t0) * 1e6, None
    finally:
        s.close()


def http_opens(srv, host_fmt, devices, count, threads, seed):
    """count HTTP CONNECTs to random devices from `threads` threads (Python: ~20-50 us of the
    figures are the interpreter's own)."""
    auth = base64.b64encode(f"{srv.cuser}:{srv.cpw}".encode()).decode()
    rng = random.Random(seed)
    targets = [host_fmt % rng.randrange(devices) for _ in range(count)]
    lock = threading.Lock()
    reply, echo, errors = [], [], {}
    c0 = os.times()
    t0 = time.time()

    def worker(k):
        for host in targets[k::threads]:
            try:
                r, e, err = _http_open(srv.http, auth, host, fe.ECHO)
            except OSError as ex:
                r, e, err = None, None, type(ex).__name__
            with lock:
                if r is not None:
                    reply.append(r)
                if e is not None:
                    echo.append(e)
                if err:
                    errors[err] = errors.get(err, 0) + 1
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    c1 = os.times()

    def q(v):
        return {"p50": round(fe.pct(v, 50), 1), "p90": round(fe.pct(v, 90), 1),
                "p99": round(fe.pct(v, 99), 1), "max": round(max(v), 1)} if v else None
    return {"opens": count, "threads": threads, "ok": len(echo),
            "errors": sum(errors.values()), "errors_by_reason": errors,
            "connect_to_reply_us": q(reply), "connect_to_first_echo_us": q(echo),
            "wall_s": round(time.time() - t0, 3),
            "client_cpu_user_s": round(c1[0] - c0[0], 3),
            "client_cpu_sys_s": round(c1[1] - c0[1], 3), "client": "python http.client-free"}


class Baseline:
    """bench_console serve echo behind bench_console relay: the plain loopback TCP relay."""

    def __init__(self, build, relay_buf=131072):
        exe = os.path.join(build, "bench/console/bench_console")
        sp, rp = fe.mpsdbench.free_port(), fe.mpsdbench.free_port()
        self.s = subprocess.Popen([exe, "serve", "--listen", f"127.0.0.1:{sp}", "--kind",
                                   "echo"], env=CLIENT_ENV)
        self.r = subprocess.Popen([exe, "relay", "--listen", f"127.0.0.1:{rp}", "--to",
                                   f"127.0.0.1:{sp}", "--buf", str(relay_buf)], env=CLIENT_ENV)
        if not console_run.wait_port(rp, self.r) or not console_run.wait_port(sp, self.s):
            raise RuntimeError("baseline relay did not start")
        self.addr = f"127.0.0.1:{rp}"
        self.pids = {"relay": self.r.pid, "server": self.s.pid}

    def stop(self):
        for p in (self.r, self.s):
            fe.mpsdbench.stop(p)


def tput(build, addr, conns, nbytes, max_seconds, socks=None, host_fmt=None, pids=None):
    args = ["tput", "--connect", addr, "--conns", str(conns), "--bytes", str(nbytes), "--mode",
            "echo", "--max-seconds", str(max_seconds)]
    if socks:
        args += ["--socks", socks, "--host-fmt", host_fmt, "--port", str(fe.ECHO)]
    return bench_console(build, args, pids)
