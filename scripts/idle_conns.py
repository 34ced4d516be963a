#!/usr/bin/env python3
"""Memory a server holds per idle keep-alive connection: the growth of its VmRSS while N
connections, each having had one request answered, sit idle.

A server's idle connections are what it keeps between requests (tide: a parked task, the top
of its stack and the socket record; tokio: a future and its buffers; Go: a goroutine and its
bufio), the figure that bounds how many a machine can hold. It is user memory only: the
kernel's socket buffers are the same for every server and are not in VmRSS.

    scripts/idle_conns.py [-n N] [--rounds R] "LABEL=COMMAND" ["LABEL=COMMAND" ...]
    scripts/idle_conns.py [-n N] [--rounds R] --build DIR [--out FILE] [--no-peers] [--workers W]

The first form starts each COMMAND as `COMMAND PORT 2`, e.g.
    scripts/idle_conns.py -n 3000 tide=build/release/examples/http_hello \\
        "tokio=build/release/peers/tide-peer-tokio http"
The second measures the report's HTTP servers (scripts/bench_http.py's SERVERS: tide, the
tokio, epoll and Go peers, the thread per connection baseline) found built in DIR, and with
--out appends one JSON line per measurement to FILE for scripts/report.py (scripts/bench.sh
does this). The servers alternate in each round (R, default 2). Before the measured
connections, 200 are opened, answered and kept, so the runtime's first allocations (worker
caches, the first slabs of task records and stacks) are in the baseline. N (default 3000)
must stay under the open-file limit, which this script raises to its hard limit for itself
and the servers.
"""
import argparse
import json
import os
import resource
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import Server, logger  # noqa: E402
from bench_http import built_servers, server  # noqa: E402

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER_END = b"Hello, World!"
WARM = 200
log = logger("idle_conns")


def vmrss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_answered(port, count, conns):
    """Add count connections to conns, each with one request sent and its answer read."""
    first = len(conns)
    for _ in range(count):
        c = socket.create_connection(("127.0.0.1", port), timeout=10)
        conns.append(c)
        c.sendall(REQUEST)
    for c in conns[first:]:
        got = b""
        while ANSWER_END not in got:
            part = c.recv(4096)
            if not part:
                raise RuntimeError("the server closed a connection before answering")
            got += part


def measure(srv, n):
    """Bytes of VmRSS per idle connection of srv (a benchlib.Server, not yet started)."""
    conns = []
    try:
        srv.start()
        open_answered(srv.port, WARM, conns)
        time.sleep(0.3)
        before = vmrss(srv.proc.pid)
        open_answered(srv.port, n, conns)
        time.sleep(0.5)
        after = vmrss(srv.proc.pid)
        if srv.proc.poll() is not None:
            raise RuntimeError(f"exited with status {srv.proc.returncode}: " + srv.output())
        return (after - before) / n
    finally:
        for c in conns:
            c.close()
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3000, help="idle connections measured")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--build", help="measure the report's servers built in this directory")
    ap.add_argument("--out", help="with --build: append JSON lines here")
    ap.add_argument("--no-peers", action="store_true", help="with --build: tide and threads")
    ap.add_argument("--workers", type=int, default=0,
                    help="with --build: server workers (0: the number of CPUs)")
    ap.add_argument("servers", nargs="*", metavar="LABEL=COMMAND")
    args = ap.parse_args()
    if bool(args.build) == bool(args.servers):
        ap.error("give either --build DIR or LABEL=COMMAND servers")

    def emit(row):
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(row) + "\n")

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and args.n + WARM + 100 > hard:
        why = f"{args.n} connections need more open files than the limit ({hard})"
        if not args.build:
            sys.exit(f"idle_conns: {why}")
        log(f"not measured: {why}")  # the report notes it, as a missing peer
        emit({"unavailable": why})
        return 0
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    # (name, a function making a new, unstarted benchlib.Server for one measurement)
    servers = []
    if args.build:
        try:
            built, notes = built_servers(args.build, args.no_peers)
        except RuntimeError as e:  # as bench_http.py: the report says so, no failure here
            log(f"not measured: {e}")
            emit({"unavailable": str(e)})
            return 0
        for note in notes:
            log(f"{note['server']}: not built, left out")
            emit(note)
        for name, path, argv in built:
            servers.append((name, lambda name=name, path=path, argv=argv:
                            server(name, path, argv, args.workers)))
    else:
        for s in args.servers:
            label, command = s.split("=", 1)
            servers.append((label, lambda label=label, c=command.split():
                            Server(label, lambda port: c + [str(port), "2"], log=log)))
    got = {name: [] for name, _ in servers}
    failed = False
    for rnd in range(1, args.rounds + 1):
        order = servers if rnd % 2 else servers[::-1]
        for name, make in order:
            row = {"server": name, "round": rnd, "conns": args.n}
            try:
                row["bytes_per_conn"] = measure(make(), args.n)
                got[name].append(row["bytes_per_conn"])
                log(f"round {rnd} {name}: {row['bytes_per_conn']:,.0f} B per idle connection")
            except (RuntimeError, OSError) as e:
                row["error"] = f"{type(e).__name__}: {e}"
                failed = True
                log(f"round {rnd} {name}: FAILED: {row['error']}")
            emit(row)
    print(f"{args.n} idle keep-alive connections, VmRSS growth per connection, median (range)")
    for name, _ in servers:
        v = got[name]
        if v:
            print(f"{name:10} {statistics.median(v):8,.0f} B  ({min(v):,.0f}-{max(v):,.0f})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
