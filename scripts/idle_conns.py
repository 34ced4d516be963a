#!/usr/bin/env python3
"""Memory a server holds per idle keep-alive connection: the growth of its VmRSS while N
connections, each having had one request answered, sit idle.

A server's idle connections are what it keeps between requests (tide: a parked task, the top
of its stack and the socket record; tokio: a future and its buffers; Go: a goroutine and its
bufio), the figure that bounds how many a machine can hold. It is user memory only: the
kernel's socket buffers are the same for every server and are not in VmRSS.

    scripts/idle_conns.py [-n N] [--rounds R] "LABEL=COMMAND" ["LABEL=COMMAND" ...]

COMMAND is started as `COMMAND PORT WORKERS` (as in srv_stat.sh, WORKERS 2), on PORT 18111
(or $PORT). The servers alternate in each round. Before the measured connections, 200 are
opened, answered and kept, so the runtime's first allocations (worker caches, the first slabs
of task records and stacks) are in the baseline. N (3000) must stay under the open-file limit
of this process and the server's. Example:
    scripts/idle_conns.py -n 3000 tide=build/release/examples/http_hello \\
        "tokio=build/release/peers/tide-peer-tokio http"
"""
import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

REQUEST = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
ANSWER_END = b"Hello, World!"


def vmrss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_answered(port, count):
    """count connections, each with one request sent and its answer read."""
    conns = []
    for _ in range(count):
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(REQUEST)
        conns.append(c)
    for c in conns:
        got = b""
        while ANSWER_END not in got:
            part = c.recv(4096)
            if not part:
                raise RuntimeError("the server closed a connection before answering")
            got += part
    return conns


def wait_listening(port, proc, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not listen in time")


def measure(command, port, n):
    proc = subprocess.Popen(command.split() + [str(port), "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    conns = []
    try:
        wait_listening(port, proc)
        conns += open_answered(port, 200)
        time.sleep(0.3)
        before = vmrss(proc.pid)
        conns += open_answered(port, n)
        time.sleep(0.5)
        return (vmrss(proc.pid) - before) / n
    finally:
        for c in conns:
            c.close()
        proc.terminate()
        proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", type=int, default=3000, help="idle connections measured")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("servers", nargs="+", metavar="LABEL=COMMAND")
    args = ap.parse_args()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # the servers inherit it
    if args.n + 300 > hard:
        sys.exit(f"-n {args.n} needs more open files than the limit ({hard})")
    port = int(os.environ.get("PORT", "18111"))
    servers = [s.split("=", 1) for s in args.servers]
    got = {label: [] for label, _ in servers}
    for r in range(args.rounds):
        for label, command in servers:
            b = measure(command, port, args.n)
            got[label].append(b)
            print(f"round {r + 1} {label}: {b:,.0f} B per idle connection", flush=True)
    print(f"--- {args.n} idle keep-alive connections, VmRSS growth per connection, median (range)")
    for label, _ in servers:
        v = got[label]
        print(f"{label:10} {statistics.median(v):8,.0f} B  ({min(v):,.0f}-{max(v):,.0f})")


if __name__ == "__main__":
    main()
