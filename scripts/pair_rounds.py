#!/usr/bin/env python3
"""Paired ratios of the rounds of one srv_machine.sh / srv_stat.sh run.

Each round of those scripts runs every server once, back to back, so the servers of one round
met the same state of the machine; the medians of two servers may come from different rounds.
This pairs the k-th run of each server with the k-th run of the reference server at the same
connection count and prints, per server, the median of the per-round ratios of requests/s
(and of server CPU per request where the log has it), the middle half and range of those
ratios, and in how many rounds the server served more than the reference.

    scripts/pair_rounds.py LOG REF

LOG holds the script's output (lines `LABEL CONNS rps=... srv_us=... ...`; other lines are
skipped), REF is the label to divide by (e.g. tokio).
"""
import statistics
import sys
from collections import defaultdict


def quartiles(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 4], xs[(3 * n) // 4] if n > 1 else xs[0]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    path, ref = sys.argv[1], sys.argv[2]
    runs = defaultdict(list)  # (label, conns) -> [fields of each round, in order]
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 3 or "=" not in parts[2] or not parts[2].startswith("rps="):
                continue
            fields = dict(p.split("=", 1) for p in parts[2:] if "=" in p)
            runs[(parts[0], parts[1])].append({k: float(v) for k, v in fields.items()})
    conns = sorted({c for _, c in runs}, key=int)
    labels = []
    for label, _ in runs:
        if label not in labels:
            labels.append(label)
    for c in conns:
        base = runs.get((ref, c))
        if not base:
            print(f"-c{c}: no runs of {ref}")
            continue
        print(f"-c{c}, each server's round divided by {ref}'s round ({len(base)} rounds):")
        for label in labels:
            if label == ref or (label, c) not in runs:
                continue
            mine = runs[(label, c)]
            n = min(len(mine), len(base))
            rps = [mine[i]["rps"] / base[i]["rps"] for i in range(n)]
            q1, q3 = quartiles(rps)
            ahead = sum(r > 1 for r in rps)
            line = (f"  {label:>8} / {ref}: req/s {statistics.median(rps):.3f} "
                    f"(middle half {q1:.3f}-{q3:.3f}, range {min(rps):.3f}-{max(rps):.3f}), "
                    f"ahead in {ahead} of {n}")
            if all("srv_us" in r for r in mine[:n] + base[:n]):
                cpu = [mine[i]["srv_us"] / base[i]["srv_us"] for i in range(n)]
                line += f"; server CPU per request {statistics.median(cpu):.3f}"
            if all("wrk_us" in r for r in mine[:n] + base[:n]):
                wrk = [mine[i]["wrk_us"] / base[i]["wrk_us"] for i in range(n)]
                line += f"; wrk CPU per request {statistics.median(wrk):.3f}"
            print(line)


if __name__ == "__main__":
    main()
