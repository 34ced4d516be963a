#!/usr/bin/env python3
"""The HTTP half of the benchmark report (standard library only).

    scripts/bench_http.py --build BUILD_DIR --out raw/http.jsonl [--duration 5] [--rounds 3]
                          [--conns 100,1000] [--workers N] [--no-peers]

Runs the HTTP hello servers of BENCH.md under `wrk -t1 -cN -dDs --latency`, every server once
per round, the order reversed every other round so a drift in the machine's speed hits all:
examples/http_hello (tide, a task per connection), examples/http_hello_threads (a thread per
connection), and the peers (benches/peers/): tokio and Go (a task / goroutine per
connection; BUILD_DIR/peers/, built by benches/peers/build.sh) and the one-thread epoll loop
(BUILD_DIR/benches/tide-peer-epoll). --no-peers runs only the first two. A peer that is not
built gets a {"server": NAME, "note": "<why>"} line and is left out, not a failure. One JSON
line per wrk run goes to --out:

    {"server":"tide","conns":100,"round":1,"requests":355000,"seconds":5.0,"rps":71000.5,
     "p99_ms":3.1,"cpu_us_per_req":11.2,"errors":0}

CPU per request is the server's user + system time (/proc/PID/stat, all its threads) over the
wrk run, divided by the requests wrk counted. When the servers or wrk are missing it writes a
single {"unavailable": "<why>"} line instead and succeeds. Exit status 1 if a server that
exists failed (did not start, answered wrongly, or crashed).
"""

import argparse
import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

# name, path under the build tree, how it takes PORT and WORKERS, peer?
SERVERS = [
    ("tide", "examples/http_hello", "port workers", False),
    ("threads", "examples/http_hello_threads", "port", False),
    ("tokio", "peers/tide-peer-tokio", "http port workers", True),
    ("go", "peers/tide-peer-go", "http port workers", True),
    ("epoll", "benches/tide-peer-epoll", "port", True),
]
BODY = b"Hello, World!"


def log(msg):
    print(f"bench_http: {msg}", file=sys.stderr, flush=True)


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
    """One server process, started on a fresh port and stopped for sure."""

    def __init__(self, path, workers, name, argv):
        self.path, self.workers, self.name, self.argv = path, workers, name, argv
        self.proc = None
        self.port = None
        self.log = tempfile.TemporaryFile(mode="w+")

    def start(self, timeout=10.0):
        self.port = free_port()
        workers = self.workers or os.cpu_count() or 1
        argv = [self.path] + [{"http": "http", "port": str(self.port),
                               "workers": str(workers)}[a] for a in self.argv.split()]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
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
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log(f"{self.name}: no exit 5 s after SIGTERM, killing it")
            self.proc.kill()
            self.proc.wait()

    def output(self):
        self.log.seek(0)
        return self.log.read()[-300:].strip()


def parse_wrk(text):
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


def run_one(name, path, argv, conns, duration, workers, rnd):
    row = {"server": name, "conns": conns, "round": rnd}
    srv = Server(path, workers, name, argv)
    try:
        srv.start()
        srv.check()
        pid = srv.proc.pid
        cpu0 = cpu_ticks(pid)
        cmd = ["wrk", "-t1", f"-c{conns}", f"-d{duration}s", "--latency",
               f"http://127.0.0.1:{srv.port}/"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
        if srv.proc.poll() is not None:
            raise RuntimeError(f"crashed under load (status {srv.proc.returncode}): "
                               + srv.output())
        cpu1 = cpu_ticks(pid)
        if r.returncode != 0:
            raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr.strip()[:200]}")
        row.update(parse_wrk(r.stdout))
        if not row.get("rps") or not row.get("requests"):
            raise RuntimeError("could not read wrk's output: " + r.stdout[:200])
        ticks = os.sysconf("SC_CLK_TCK")
        row["cpu_seconds"] = (cpu1 - cpu0) / ticks
        row["cpu_us_per_req"] = row["cpu_seconds"] / row["requests"] * 1e6
        srv.check()  # still answering correctly after the load
    except (RuntimeError, OSError, subprocess.TimeoutExpired, http.client.HTTPException) as e:
        row["error"] = f"{type(e).__name__}: {e}" if not isinstance(e, RuntimeError) else str(e)
    finally:
        srv.stop()
    return row


def main():
    ap = argparse.ArgumentParser(description="HTTP servers under wrk, for scripts/bench.sh")
    ap.add_argument("--build", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", default="100,1000")
    ap.add_argument("--workers", type=int, default=0,
                    help="server workers (0: the number of CPUs); the threaded and epoll "
                         "servers have none")
    ap.add_argument("--no-peers", action="store_true", help="only tide and threads")
    args = ap.parse_args()
    conns = [int(c) for c in args.conns.split(",") if c]

    def unavailable(why):
        log("not available: " + why)
        with open(args.out, "a") as f:
            f.write(json.dumps({"unavailable": why}) + "\n")
        return 0

    if not shutil.which("wrk"):
        return unavailable("wrk is not installed (scripts/setup-deps.sh installs it)")
    servers = []
    notes = []
    for name, rel, argv, peer in SERVERS:
        if peer and args.no_peers:
            continue
        p = os.path.join(args.build, rel)
        if os.access(p, os.X_OK):
            servers.append((name, p, argv))
        elif peer:
            notes.append({"server": name, "note": f"{rel} is not built (its toolchain is "
                          "missing; see benches/peers/build.sh)"})
            log(f"{name}: not built, left out")
        else:
            return unavailable(f"{rel} is not built ({p} missing)")
    with open(args.out, "a") as f:
        for n in notes:
            f.write(json.dumps(n) + "\n")

    # wrk and the servers need a descriptor per connection, and children inherit the limit.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(conns) * 2 + 256
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    failed = False
    total = len(conns) * args.rounds * len(servers)
    n = 0
    with open(args.out, "a") as out:
        for c in conns:
            for rnd in range(1, args.rounds + 1):
                # Alternate who goes first, so a drift in the machine's speed hits both.
                order = servers if rnd % 2 else list(reversed(servers))
                for name, path, argv in order:
                    n += 1
                    log(f"({n}/{total}) {name} under wrk -t1 -c{c} -d{args.duration}s, "
                        f"round {rnd}/{args.rounds}")
                    row = run_one(name, path, argv, c, args.duration, args.workers, rnd)
                    out.write(json.dumps(row) + "\n")
                    out.flush()
                    if "error" in row:
                        failed = True
                        log(f"  {name} FAILED: {row['error']}")
                    else:
                        log(f"  {row['rps']:,.0f} requests/s, p99 {row.get('p99_ms', 0):.2f} ms, "
                            f"{row['cpu_us_per_req']:.1f} µs CPU per request"
                            + (f", {row['errors']} errors" if row["errors"] else ""))
                    time.sleep(1)  # let the sockets of the last run go
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
