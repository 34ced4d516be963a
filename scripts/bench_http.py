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
     "p99_ms":3.1,"cpu_us_per_req":11.2,"wrk_cpu_us_per_req":9.8,"wrk_busy":0.97,"errors":0}

CPU per request is the server's user + system time (/proc/PID/stat, all its threads) over the
wrk run, divided by the requests wrk counted; wrk_cpu_us_per_req is wrk's own (getrusage of
the ended child), and wrk_busy its CPU over the run's length: near 1, wrk's one thread is the
bottleneck and requests/s is about 1 / its CPU per request. When the servers or wrk are missing it writes a
single {"unavailable": "<why>"} line instead and succeeds. Exit status 1 if a server that
exists failed (did not start, answered wrongly, or crashed).
"""

import argparse
import http.client
import json
import os
import resource
import shutil
import subprocess
import sys
import time

from benchlib import Server, cpu_ticks, logger, parse_wrk, wrk

# name, path under the build tree, how it takes PORT and WORKERS, peer? In the order a round
# runs them (reversed every other round): tide beside tokio and the epoll loop, the two it is
# compared with most closely, so each round's ratio to them is taken seconds apart (the
# machine's speed drifts over tens of seconds; the report divides round by round too).
SERVERS = [
    ("tide", "examples/http_hello", "port workers", False),
    ("tokio", "peers/tide-peer-tokio", "http port workers", True),
    ("epoll", "benches/tide-peer-epoll", "port", True),
    ("go", "peers/tide-peer-go", "http port workers", True),
    ("threads", "examples/http_hello_threads", "port", False),
]
log = logger("bench_http")


def children_cpu():
    """User + system seconds of this process's ended children: around one wrk run (the server
    still runs, and its time counts only once it is waited for), wrk's CPU."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def server(name, path, argv, workers):
    """The server of SERVERS named name; argv says how it takes PORT and WORKERS."""
    workers = workers or os.cpu_count() or 1
    return Server(name, lambda port: [path] + [{"http": "http", "port": str(port),
                                                "workers": str(workers)}[a] for a in argv.split()],
                  log=log)


def built_servers(build, no_peers):
    """The SERVERS built in build, as (name, path, argv); a peer that is not built (its
    toolchain is missing) left out with a note {"server", "note"}. Raises RuntimeError when
    tide's own or the threaded server is missing: the project's build failed."""
    servers, notes = [], []
    for name, rel, argv, peer in SERVERS:
        if peer and no_peers:
            continue
        p = os.path.join(build, rel)
        if os.access(p, os.X_OK):
            servers.append((name, p, argv))
        elif peer:
            notes.append({"server": name, "note": f"{rel} is not built (its toolchain is "
                          "missing; see benches/peers/build.sh)"})
        else:
            raise RuntimeError(f"{rel} is not built ({p} missing)")
    return servers, notes


def run_one(name, path, argv, conns, duration, workers, rnd):
    row = {"server": name, "conns": conns, "round": rnd}
    srv = server(name, path, argv, workers)
    try:
        srv.start()
        srv.check()
        pid = srv.proc.pid
        cpu0 = cpu_ticks(pid)
        wrk0 = children_cpu()
        r = wrk(f"http://127.0.0.1:{srv.port}/", conns, duration, latency=True)
        wrk_cpu = children_cpu() - wrk0
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
        # wrk's own CPU: with one wrk thread busy nearly all the time, requests/s is about
        # 1 / wrk's CPU per request whatever the server, the bound this benchmark measures.
        row["wrk_cpu_us_per_req"] = wrk_cpu / row["requests"] * 1e6
        row["wrk_busy"] = wrk_cpu / row["seconds"] if row.get("seconds") else None
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
    try:
        servers, notes = built_servers(args.build, args.no_peers)
    except RuntimeError as e:
        return unavailable(str(e))
    with open(args.out, "a") as f:
        for n in notes:
            log(f"{n['server']}: not built, left out")
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
