#!/usr/bin/env python3
"""Paired ratios of the rounds of one srv_machine.sh / srv_stat.sh run, as the report prints them.

Each round of those scripts runs every server once, back to back, so the servers of one round
met the same state of the machine; the medians of two servers may come from different rounds.
This pairs the k-th run of each server with the k-th run of the reference server at the same
connection count (benchlib.paired_http, the report's own pairing) and prints, per server, the
median and range of the per-round ratios of requests/s, the rounds it served more than the
reference, and the median ratios of server CPU and wrk CPU per request where the log has them.

    scripts/pair_rounds.py LOG REF

LOG holds the script's output (lines `LABEL CONNS rps=... srv_us=... wrk_us=...`; other lines
are skipped), REF is the label to divide by (e.g. tokio).
"""
import os
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import paired_http  # noqa: E402

# srv_machine.sh's per-request keys, as benchlib.paired_http names them.
KEYS = {"rps": "rps", "srv_us": "cpu_us_per_req", "wrk_us": "wrk_cpu_us_per_req"}


def read_runs(path):
    runs, seen = [], Counter()
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or not parts[2].startswith("rps="):
                continue
            label, conns = parts[0], int(parts[1])
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            seen[(label, conns)] += 1
            run = {"server": label, "conns": conns, "round": seen[(label, conns)]}
            run.update({KEYS[k]: float(v) for k, v in fields.items() if k in KEYS})
            runs.append(run)
    return runs


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    runs, ref = read_runs(sys.argv[1]), sys.argv[2]
    labels = list(dict.fromkeys(r["server"] for r in runs))
    for conns in sorted({r["conns"] for r in runs}):
        print(f"-c{conns}, each server's round divided by {ref}'s round:")
        for label in labels:
            p = None if label == ref else paired_http(runs, conns, label, ref)
            if not p:
                continue
            m, lo, hi = p["rps"]
            line = (f"  {label:>8} / {ref}: req/s {m:.3f} ({lo:.3f}-{hi:.3f}), "
                    f"ahead in {p['ahead']} of {p['rounds']}")
            if p["cpu"]:
                line += f"; server CPU per request {p['cpu'][0]:.3f}"
            if p["wrk"]:
                line += f"; wrk CPU per request {p['wrk'][0]:.3f}"
            print(line)


if __name__ == "__main__":
    main()
