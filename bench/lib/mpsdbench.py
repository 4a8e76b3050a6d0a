"""Helpers the bench/*/run.py harnesses share: /proc readings, amtsim's JSON lines, free loopback
ports, and a generated mpsd (certificates, group credentials, config) started and stopped.

    sys.path.insert(0, os.path.join(top, "bench", "lib")); import mpsdbench

Loopback only. Importing it scopes mpsd's host-wide instance lock to this process
(MPSD_TEST_INSTANCE), so a bench's mpsd may run beside a dev or test instance.
"""
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

os.environ.setdefault("MPSD_TEST_INSTANCE", "bench%d" % os.getpid())

top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def status_kib(pid, key):
    """A field of /proc/PID/status in KiB (VmRSS, VmHWM, ...), 0 if absent."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes(pid):
    return status_kib(pid, "VmRSS") * 1024


def reset_hwm(pid):
    """Resets VmHWM (peak RSS) to the current RSS (clear_refs 5); False where not allowed."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def json_lines(stream):
    """A process's stdout as parsed JSON objects (other lines skipped)."""
    for out in stream:
        try:
            yield json.loads(out)
        except ValueError:
            continue


_reserved = []  # lock files held for the life of the process (see free_port)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, reserved against every other test or
    bench process on the host for the life of this one: a flock on /tmp/mpsd-test-ports/PORT, the
    same as tests/process/proc.c takes. Two runs that picked the same port would otherwise share it
    through mpsd's SO_REUSEPORT listeners."""
    d = "/tmp/mpsd-test-ports"
    try:
        os.mkdir(d, 0o1777)
        os.chmod(d, 0o1777)
    except OSError:
        pass
    for _ in range(100):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        try:
            fd = os.open(os.path.join(d, str(p)), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        except OSError:
            return p  # no reservation possible: only as free as bind said
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # another process holds it
        _reserved.append(fd)
        return p
    return p


def binaries(build):
    build = os.path.abspath(build)
    return {"mpsd": os.path.join(build, "src/core/mpsd"),
            "amtsim": os.path.join(build, "tools/amtsim/amtsim"),
            "passwd": os.path.join(build, "tools/mpsd-passwd"),
            "build": build}


def make_certs(tmp, bits, name="127.0.0.1"):
    subprocess.run([os.path.join(top, "tools/mpsd-certs"), "--dir", f"{tmp}/certs", "--name",
                    name, "--bits", str(bits)], check=True, stdout=subprocess.DEVNULL)


def make_group_credentials(passwd, tmp, pw, group="fleet", user="admin"):
    line = subprocess.run([passwd, "--group", group, "--user", user, "--password-stdin"],
                          input=pw + "\n", capture_output=True, text=True, check=True).stdout
    with open(f"{tmp}/credentials", "w") as f:
        f.write(line)
    return f"{tmp}/credentials"


# A simulated fleet dials from a few loopback addresses of one /24: a bench that measures mpsd's
# own rates lifts the per-source handshake shares (the flood bench keeps the defaults it tests).
LIFT_SOURCE_CAPS = "max_handshakes_per_source = 1000000\nmax_handshakes_per_prefix = 1000000\n"


def write_config(tmp, port, workers, max_tunnels, extra_mpsd="", extra_cira="", extra="",
                 max_conns_per_worker=19000):
    """mpsd.conf as bench/cira uses it, with room for more keys per section (and sections)."""
    with open(f"{tmp}/mpsd.conf", "w") as f:
        f.write(f"""[mpsd]
name = 127.0.0.1
lock_file = {tmp}/lock
workers = {workers}
log_level = warn
{extra_mpsd}[cira]
listen = 127.0.0.1:{port}
cert = {tmp}/certs/server.pem
key = {tmp}/certs/server.key
max_tunnels = {max_tunnels}
{extra_cira}[devices]
credentials = {tmp}/credentials
group_auth = true
[ring]
max_conns_per_worker = {max_conns_per_worker}
{extra}""")
    return f"{tmp}/mpsd.conf"


def start_mpsd(mpsd, tmp, settle=1.0):
    log = open(f"{tmp}/mpsd.log", "w")
    srv = subprocess.Popen([mpsd, "--config", f"{tmp}/mpsd.conf"], stdout=log, stderr=log)
    time.sleep(settle)
    if srv.poll() is not None:
        sys.exit("mpsd did not start: " + open(f"{tmp}/mpsd.log").read())
    return srv


def stop(proc, sig=signal.SIGTERM, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class JsonChild:
    """A child that prints JSON lines on stdout (amtsim, mpsflood), read on a thread: the last
    progress line (.last), every one of them with keep=True (.lines, each with "t" if it had
    none), and the summary (the line with "summary": true)."""

    def __init__(self, argv, name, keep=False, stderr=None):
        self.name, self.keep = name, keep
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
        self.last, self.lines, self.summary = {}, [], None
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for j in json_lines(self.p.stdout):
            if j.get("summary"):
                self.summary = j
                continue
            j.setdefault("t", time.time())
            self.last = j
            if self.keep:
                self.lines.append(j)

    def wait_for(self, key, n, timeout):
        """Until the last progress line's key reaches n: False on timeout or exit."""
        end = time.time() + timeout
        while time.time() < end:
            if self.last.get(key, 0) >= n:
                return True
            if self.p.poll() is not None:
                return False
            time.sleep(0.2)
        return False

    def end(self, sig=signal.SIGINT, timeout=120):
        """Signal it, wait (kill after timeout) and return its summary ({} if none)."""
        stop(self.p, sig, timeout)
        self.t.join(30)
        return self.summary or {}


def scratch(prefix="mpsd-bench-"):
    return tempfile.mkdtemp(prefix=prefix)


def scrape(port, timeout=10):
    """mpsd's /metrics as {'name{labels}': value} (comments skipped)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        k, _, v = line.rpartition(" ")
        try:
            out[k] = float(v)
        except ValueError:
            continue
    return out
