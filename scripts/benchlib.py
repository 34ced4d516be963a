"""What the benchmark scripts share (standard library only): a server process on a fresh port,
stopped for sure; the server's CPU time from /proc; wrk run and its output parsed; HTTP
servers' figures paired round by round.

Used by scripts/bench_http.py, bench_tls.py, report.py and pair_rounds.py (imported from
their own folder).
"""

import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# What every hello server answers to GET /.
BODY = b"Hello, World!"


def logger(prefix):
    """A log function that writes `prefix: msg` lines to stderr."""
    def log(msg):
        print(f"{prefix}: {msg}", file=sys.stderr, flush=True)
    return log


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of the whole process, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


class Server:
    """One server process, started on a fresh port and stopped for sure.

    argv(port) gives the command line; stop sends stop_signal and kills the server if it has
    not exited stop_wait seconds later (saying so through log, when given)."""

    def __init__(self, name, argv, stop_signal=signal.SIGTERM, stop_wait=5, log=None):
        self.name, self.argv = name, argv
        self.stop_signal, self.stop_wait, self.logf = stop_signal, stop_wait, log
        self.proc = None
        self.port = None
        self.log = tempfile.TemporaryFile(mode="w+")

    def start(self, timeout=10.0):
        self.port = free_port()
        self.proc = subprocess.Popen(self.argv(self.port), stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with status {self.proc.returncode} before listening: "
                                   + self.output())
            self.log.seek(0)
            if "listening on" in self.log.read():
                return
            time.sleep(0.05)
        raise RuntimeError(f"no 'listening on' line after {timeout:.0f} s")

    def check(self):
        """One request by hand: the benchmark is only worth something if the answer is right."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        try:
            c.request("GET", "/")
            r = c.getresponse()
            body = r.read()
            if r.status != 200 or body != BODY:
                raise RuntimeError(f"answered {r.status} {body[:40]!r}, expected 200 {BODY!r}")
        finally:
            c.close()

    def stop(self):
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(self.stop_signal)
        try:
            self.proc.wait(timeout=self.stop_wait)
        except subprocess.TimeoutExpired:
            if self.logf:
                self.logf(f"{self.name}: no exit {self.stop_wait} s after "
                          f"{signal.Signals(self.stop_signal).name}, killing it")
            self.proc.kill()
            self.proc.wait()

    def output(self):
        self.log.seek(0)
        return self.log.read()[-300:].strip()


def parse_wrk(text):
    """wrk's summary as a dict: rps, requests, seconds, p99_ms (with --latency), errors."""
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", text)
    if m:
        out["requests"] = int(m.group(1))
        scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
        out["seconds"] = float(m.group(2)) * scale
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if m:
        out["p99_ms"] = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(g) for g in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    out["errors"] = errors
    return out


def wrk(url, conns, duration, latency=False):
    """One `wrk -t1 -cN -dDs [--latency] URL` run: the finished process."""
    cmd = ["wrk", "-t1", f"-c{conns}", f"-d{int(duration)}s"] + (["--latency"] if latency else [])
    return subprocess.run(cmd + [url], capture_output=True, text=True, timeout=duration + 60)


def paired_http(runs, conns, a, b):
    """Server a's figures over server b's, round by round at `conns` connections: in a round the
    servers run back to back, so a round's ratio is taken under one state of the machine, while
    the medians of a and b may come from different rounds (a server's requests/s swings up to
    2x between rounds on the shared 2-CPU machine). `runs` are dicts with "server", "conns",
    "round", "rps" and optionally "cpu_us_per_req" (the server's) and "wrk_cpu_us_per_req".
    Returns {"rounds", "ahead" (rounds where a answered more), "rps": (median, low, high),
    "cpu" and "wrk": (median, low, high) or None}, or None with no round both finished.
    Used by scripts/report.py and scripts/pair_rounds.py."""
    def by_round(server):
        return {r["round"]: r for r in runs if r.get("server") == server
                and r.get("conns") == conns and r.get("rps") and "round" in r}
    ra, rb = by_round(a), by_round(b)
    both = sorted(set(ra) & set(rb))
    if not both:
        return None

    def spread(xs):
        return (statistics.median(xs), min(xs), max(xs)) if xs else None

    def ratios(key):
        return [ra[n][key] / rb[n][key] for n in both if ra[n].get(key) and rb[n].get(key)]
    rps = ratios("rps")
    return {"rounds": len(both), "ahead": sum(x > 1 for x in rps), "rps": spread(rps),
            "cpu": spread(ratios("cpu_us_per_req")), "wrk": spread(ratios("wrk_cpu_us_per_req"))}
