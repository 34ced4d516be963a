#!/usr/bin/env python3
"""ctest driver for tide-bench and the peers: run every workload at --quick sizes on one
implementation and check what BENCH.md promises, not how fast it is.

    check_bench.py TIDE_BENCH --impl tide|threads|pool [--report SCRIPTS_DIR]
    check_bench.py --peers BUILD_DIR PEERS_DIR

The second form builds the tokio and Go peers (PEERS_DIR/build.sh BUILD_DIR) and checks each
one whose toolchain is installed the same way (tide-peer-tokio / tide-peer-go --quick --json);
with neither toolchain it exits 77, which ctest reports as skipped.

- tide-bench exits 0 (every workload verified its own result);
- stdout holds exactly one JSON line per workload, in order, and nothing else;
- each line has the fields of BENCH.md with consistent values (ns_per_op = seconds / ops),
  idle_many has bytes_per_task, and a skipped workload gives a reason;
- hol_echo has its own fields (seconds, round_trips, p99_us, max_us);
- with --report, scripts/report.py turns the lines into results.md, an SVG that parses and a
  PNG.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

WORKLOADS = ["spawn_many", "spawn_remote", "yield_many", "ping_pong", "chained_spawn",
             "channel_mpsc", "mutex", "sleep_many", "idle_many", "hol_echo"]
# Workloads each baseline must run (the others may be skipped, with a reason).
MUST_RUN = {
    "tide": set(WORKLOADS),
    "threads": set(WORKLOADS) - {"idle_many", "hol_echo"},  # a million threads may exceed the kernel's limit
    "pool": {"spawn_remote", "yield_many", "chained_spawn", "channel_mpsc", "mutex"},
    "tokio": set(WORKLOADS),
    "go": set(WORKLOADS),
}
PEERS = {"tokio": "tide-peer-tokio", "go": "tide-peer-go"}


def fail(msg):
    print(f"check_bench: FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


def check_line(impl, expected, line):
    try:
        r = json.loads(line)
    except json.JSONDecodeError as e:
        fail(f"not a JSON line ({e}): {line!r}")
    if r.get("impl") != impl or r.get("workload") != expected:
        fail(f"expected impl {impl}, workload {expected}: {line}")
    if "error" in r:
        fail(f"{expected} reported an error: {r['error']}")
    if "skipped" in r:
        if set(r) != {"impl", "workload", "skipped"} or not r["skipped"]:
            fail(f"a skipped line has exactly impl, workload and a reason: {line}")
        if expected in MUST_RUN[impl]:
            fail(f"{impl} must run {expected}, but skipped it: {r['skipped']}")
        return r
    if expected == "hol_echo":
        keys = ["impl", "workload", "workers", "seconds", "round_trips", "p99_us", "max_us"]
        if list(r) != keys:
            fail(f"fields {list(r)}, expected {keys} (in that order): {line}")
        if not (r["seconds"] > 0 and r["round_trips"] >= 1 and 0 < r["p99_us"] <= r["max_us"]):
            fail(f"hol_echo needs a busy time, round trips and 0 < p99 <= max: {line}")
        return r
    keys = ["impl", "workload", "workers", "ops", "seconds", "ns_per_op"]
    if expected == "idle_many":
        keys.append("bytes_per_task")
    if list(r) != keys:
        fail(f"fields {list(r)}, expected {keys} (in that order): {line}")
    if not (isinstance(r["ops"], int) and r["ops"] > 0 and r["seconds"] > 0):
        fail(f"ops and seconds must be positive: {line}")
    # seconds is printed to the microsecond, ns_per_op (from the exact time) to 0.1 ns
    want = r["seconds"] * 1e9 / r["ops"]
    if abs(r["ns_per_op"] - want) > 0.5e3 / r["ops"] + 0.05 + 1e-9 * want:
        fail(f"ns_per_op {r['ns_per_op']} is not seconds / ops ({want:.1f}): {line}")
    if expected == "idle_many" and not r["bytes_per_task"] > 0:
        fail(f"idle_many measured no memory per task: {line}")
    return r


def run_quick(exe, impl, timeout=300):
    """exe --quick --json (with --impl): its stdout lines, checked one per workload."""
    try:
        p = subprocess.run([exe, "--quick", "--impl", impl, "--json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{exe} --quick took more than {timeout} s")
    sys.stderr.write(p.stderr[-4000:])
    if p.returncode != 0:
        fail(f"{os.path.basename(exe)} exited with status {p.returncode}")
    lines = p.stdout.splitlines()
    if len(lines) != len(WORKLOADS):
        fail(f"{len(lines)} lines on stdout, expected one per workload ({len(WORKLOADS)}):\n"
             + p.stdout)
    for expected, line in zip(WORKLOADS, lines):
        check_line(impl, expected, line)
    return p


def check_peers(build, peers_dir):
    """Build the peers (a missing toolchain is a note), check each one that got built."""
    b = subprocess.run([os.path.join(peers_dir, "build.sh"), build], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=900)
    sys.stderr.write(b.stdout[-4000:])
    if b.returncode != 0:
        fail(f"peers/build.sh exited with status {b.returncode}")
    checked = []
    for impl, exe in PEERS.items():
        path = os.path.join(build, "peers", exe)
        if os.access(path, os.X_OK):
            run_quick(path, impl)
            checked.append(impl)
            print(f"check_bench: {impl}: {len(WORKLOADS)} workloads checked", file=sys.stderr)
    if not checked:
        print("check_bench: no peer toolchain installed: skipped", file=sys.stderr)
        return 77
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench", nargs="?")
    ap.add_argument("--impl", choices=sorted(MUST_RUN))
    ap.add_argument("--report", help="scripts/ folder: also run report.py on the output")
    ap.add_argument("--peers", nargs=2, metavar=("BUILD_DIR", "PEERS_DIR"),
                    help="build and check the tokio and Go peers instead")
    args = ap.parse_args()
    if args.peers:
        return check_peers(*args.peers)
    if not args.bench or not args.impl:
        ap.error("TIDE_BENCH and --impl are required")

    p = run_quick(args.bench, args.impl)
    lines = p.stdout.splitlines()

    if args.report:
        with tempfile.TemporaryDirectory() as d:
            os.mkdir(os.path.join(d, "raw"))
            with open(os.path.join(d, "raw", "bench.jsonl"), "w") as f:
                f.write(p.stdout)
            with open(os.path.join(d, "raw", "meta.json"), "w") as f:
                json.dump({"quick": True, "workers": 2, "date": "ctest", "commit": "ctest"}, f)
            r = subprocess.run([sys.executable, os.path.join(args.report, "report.py"),
                                "--dir", d], capture_output=True, text=True)
            if r.returncode != 0:
                fail("report.py failed:\n" + r.stderr)
            md = open(os.path.join(d, "results.md")).read()
            for w in WORKLOADS:
                if w != "hol_echo" and f"| {w} |" not in md:
                    fail(f"results.md has no row for {w}")
            if "| tide | " not in md.split("hol_echo", 1)[-1]:
                fail("results.md has no hol_echo row for tide")
            try:
                root = ET.parse(os.path.join(d, "chart.svg")).getroot()
            except ET.ParseError as e:
                fail(f"chart.svg is not well-formed XML: {e}")
            if not root.tag.endswith("svg") or len(root.findall(".//{*}path")) < 10:
                fail("chart.svg has no bars")
            with open(os.path.join(d, "chart.png"), "rb") as f:
                if f.read(8) != b"\x89PNG\r\n\x1a\n":
                    fail("chart.png is not a PNG")
            json.load(open(os.path.join(d, "results.json")))
    print(f"check_bench: {args.impl}: {len(lines)} workloads checked", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
