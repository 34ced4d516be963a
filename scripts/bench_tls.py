#!/usr/bin/env python3
"""TLS figures for the benchmark report (standard library only).

    scripts/bench_tls.py --build BUILD_DIR [--duration 4] [--rounds 3] [--conns 100]
                         [--workers N] [--clients 2] [--out FILE]

Runs examples/https_hello and examples/http_hello (the same server without TLS), alternating
them round by round, and prints one JSON line per measurement (to stdout, and appended to
--out if given):

  keep-alive requests/s, `wrk -t1 -cN -dDs` (wrk speaks TLS for https:// URLs):
    {"bench":"tls","mode":"keepalive","server":"https_hello","conns":100,"round":1,
     "seconds":4.0,"requests":150000,"rps":37500.0,"cpu_us_per_req":20.1,"errors":0}
  new connection per request (the full TLS 1.3 handshake each time, no resumption), from
  --clients processes of this script, each a loop of connect, handshake, GET, read, close:
    {"bench":"tls","mode":"handshake","server":"https_hello","clients":2,"round":1,
     "seconds":4.0,"connections":5200,"per_s":1300.0,"cpu_us_per_conn":610.0,"errors":0}
  (for http_hello the same loop without TLS: TCP connections/s, the baseline).

cpu_us_* is the server's own CPU time (user + system, all threads, /proc/PID/stat) per request
or connection: steadier than the rates on a shared machine. The handshake rate is bounded by
the client too: a Python client's handshake costs about
what the server's does, and both share the machine's CPUs. The server uses a certificate made
at start (P-256). Figures from a shared machine are noisy: compare within one run only.
When a server or wrk is missing it prints one {"bench":"tls","unavailable":"<why>"} line.
"""

import argparse
import json
import multiprocessing
import os
import shutil
import signal
import socket
import ssl
import sys
import time

from benchlib import BODY, Server, cpu_ticks, logger, parse_wrk
from benchlib import wrk as run_wrk

REQUEST = b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
log = logger("bench_tls")


def server(path, workers):
    """path on a fresh port, with WORKERS only when asked; SIGINT stops it cleanly."""
    return Server(os.path.basename(path),
                  lambda port: [path, str(port)] + ([str(workers)] if workers else []),
                  stop_signal=signal.SIGINT, stop_wait=10)


def cpu_us_per(pid, t0, n):
    """The server's CPU time since t0 (ticks) per operation, in microseconds."""
    ticks = cpu_ticks(pid) - t0
    return round(ticks * 1e6 / os.sysconf("SC_CLK_TCK") / n, 1) if n else None


def client_loop(args):
    """One client process: new connections until the deadline; (count, errors)."""
    port, tls, deadline = args
    ctx = None
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
    count = errors = 0
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                s = ctx.wrap_socket(raw, server_hostname="localhost") if ctx else raw
                s.sendall(REQUEST)
                got = b""
                while True:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    got += chunk
                if not got.endswith(BODY):
                    raise RuntimeError("bad answer")
                if ctx:
                    s.close()
            count += 1
        except (OSError, RuntimeError, ssl.SSLError):
            errors += 1
    return count, errors


def connections(port, tls, clients, duration):
    deadline = time.monotonic() + duration
    start = time.monotonic()
    with multiprocessing.Pool(clients) as pool:
        results = pool.map(client_loop, [(port, tls, deadline)] * clients)
    seconds = time.monotonic() - start
    return sum(r[0] for r in results), sum(r[1] for r in results), seconds


def wrk(url, conns, duration):
    r = run_wrk(url, conns, duration)
    w = parse_wrk(r.stdout)
    if "requests" not in w:
        raise RuntimeError("cannot parse wrk's output: " + r.stdout)
    return w["requests"], w["seconds"], w["errors"]


def emit(rec, out):
    line = json.dumps(rec)
    print(line, flush=True)
    if out:
        with open(out, "a") as f:
            f.write(line + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/rel")
    ap.add_argument("--duration", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--clients", type=int, default=2)
    ap.add_argument("--out")
    a = ap.parse_args()

    paths = {n: os.path.join(a.build, "examples", n) for n in ("https_hello", "http_hello")}
    missing = [p for p in paths.values() if not os.access(p, os.X_OK)]
    if missing or not shutil.which("wrk"):
        emit({"bench": "tls", "unavailable": f"missing: {missing or 'wrk'}"}, a.out)
        return 0
    failed = False
    for rnd in range(1, a.rounds + 1):
        for name in ("https_hello", "http_hello"):
            tls = name == "https_hello"
            srv = server(paths[name], a.workers)
            try:
                srv.start()
                url = f"{'https' if tls else 'http'}://127.0.0.1:{srv.port}/"
                t0 = cpu_ticks(srv.proc.pid)
                n, secs, errs = wrk(url, a.conns, a.duration)
                emit({"bench": "tls", "mode": "keepalive", "server": name, "conns": a.conns,
                      "round": rnd, "seconds": round(secs, 3), "requests": n,
                      "rps": round(n / secs, 1), "cpu_us_per_req": cpu_us_per(srv.proc.pid, t0, n),
                      "errors": errs}, a.out)
                t0 = cpu_ticks(srv.proc.pid)
                n, errs, secs = connections(srv.port, tls, a.clients, a.duration)
                emit({"bench": "tls", "mode": "handshake" if tls else "connect", "server": name,
                      "clients": a.clients, "round": rnd, "seconds": round(secs, 3),
                      "connections": n, "per_s": round(n / secs, 1),
                      "cpu_us_per_conn": cpu_us_per(srv.proc.pid, t0, n), "errors": errs}, a.out)
            except Exception as e:  # report and go on with the other server
                log(f"{name}: {e}")
                failed = True
            finally:
                srv.stop()
                if srv.proc and srv.proc.returncode not in (0, None):
                    log(f"{name} exited with status {srv.proc.returncode}")
                    failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
