#!/usr/bin/env python3
"""Turn a benchmark run into results.json, results.md, chart.svg and chart.png.

    scripts/report.py --dir RESULTS_DIR

reads, in RESULTS_DIR:
    raw/bench.jsonl  tide-bench and peer --json lines (any order; a "round" field when
                     scripts/bench.sh ran several rounds)
    raw/http.jsonl   one line per wrk run (scripts/bench_http.py), optional
    raw/tls.jsonl    one line per TLS measurement (scripts/bench_tls.py), optional
    raw/idle.jsonl   one line per idle-connection measurement (scripts/idle_conns.py), optional
    raw/meta.json    the machine, commit, commands and peer versions (scripts/bench.sh)
and writes results.json, results.md, chart.svg and chart.png next to raw/.

Every figure shown comes from this run: tide, the threaded baselines and the peers (tokio, Go,
the one-thread epoll loop) measured side by side, never a figure from another run. A
workload's figure is the median over the rounds (each round's own figure being a median of
repetitions); hol_echo's is the worst round, as each program's is its worst repetition.
The chart is drawn with matplotlib (Debian: python3-matplotlib).
"""

import argparse
import json
import os
import statistics
import sys

try:
    import matplotlib
except ImportError:
    # A python3 earlier in PATH (pyenv, a venv) may lack Debian's matplotlib: use Debian's.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and \
            os.path.exists("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    sys.exit("report: matplotlib is missing (scripts/setup-deps.sh installs python3-matplotlib)")
matplotlib.use("Agg")
matplotlib.rcParams["svg.hashsalt"] = "tide"  # stable ids: the same run gives the same SVG
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import paired_http  # noqa: E402

WORKLOADS = [
    ("spawn_many", "100k spawns by a task"),
    ("spawn_remote", "100k spawns from outside"),
    ("yield_many", "200 tasks × 1k yields"),
    ("ping_pong", "100 pairs × 1k trips"),
    ("chained_spawn", "100 chains × 1k spawns"),
    ("channel_mpsc", "16 senders, 1M values"),
    ("mutex", "100 tasks × 1k locks"),
    ("sleep_many", "100k sleeps of 1–10 ms"),
    ("idle_many", "1M parked tasks"),
]
HOL = "hol_echo"
IMPLS = ["tide", "threads", "pool", "tokio", "go"]
PEERS = ["tokio", "go"]
SERVERS = ["tide", "threads", "tokio", "go", "epoll"]
HTTP_PEERS = ["tokio", "go"]
LABELS = {"tide": "tide", "threads": "thread per task", "pool": "thread pool",
          "tokio": "tokio", "go": "Go", "epoll": "epoll loop (1 thread)"}
SERVER_LABELS = {"tide": "tide", "threads": "thread per conn.", "tokio": "tokio", "go": "Go",
                 "epoll": "epoll loop"}
COLORS = {"tide": "#0f766e", "threads": "#c2410c", "pool": "#6d28d9",
          "tokio": "#2563eb", "go": "#0891b2", "epoll": "#6b7280"}


# ---- loading ------------------------------------------------------------------------------

def read_jsonl(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                print(f"report: {path}:{n}: not JSON ({e}): {line[:80]}", file=sys.stderr)
    return rows


def summarize_bench(rows):
    """{workload: {impl: summary}} over the rounds. A summary is the last round's line with
    the figures replaced by the median over rounds (hol_echo: the worst round), plus
    "rounds" and, for ns_per_op, the spread "lo"/"hi" over rounds. Any failed round makes it
    failed (with that error); a skip is a skip."""
    groups = {}
    for r in rows:
        if "workload" in r and "impl" in r:
            groups.setdefault(r["workload"], {}).setdefault(r["impl"], []).append(r)
    out = {}
    for w, by in groups.items():
        for impl, rs in by.items():
            bad = [r for r in rs if "error" in r]
            if bad:
                s = dict(bad[-1])
            elif any("skipped" in r for r in rs):
                s = dict(next(r for r in rs if "skipped" in r))
            elif w == HOL:
                s = dict(max(rs, key=lambda r: r.get("max_us", 0)))
            else:
                s = dict(rs[-1])
                ns = [r["ns_per_op"] for r in rs]
                s["seconds"] = statistics.median(r["seconds"] for r in rs)
                s["ns_per_op"] = statistics.median(ns)
                s["lo"], s["hi"] = min(ns), max(ns)
                if any("bytes_per_task" in r for r in rs):
                    s["bytes_per_task"] = statistics.median(
                        r["bytes_per_task"] for r in rs if "bytes_per_task" in r)
            s.pop("round", None)
            s["rounds"] = len(rs)
            out.setdefault(w, {})[impl] = s
    return out


def summarize_http(runs):
    """Median over rounds, per (server, connections)."""
    groups = {}
    for r in runs:
        groups.setdefault((r["server"], r["conns"]), []).append(r)
    out = []
    for (server, conns), rs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        ok = [r for r in rs if r.get("rps") is not None]
        row = {"server": server, "conns": conns, "rounds": len(rs), "ok_rounds": len(ok)}
        if ok:
            row["rps"] = statistics.median(r["rps"] for r in ok)
            p99 = [r["p99_ms"] for r in ok if r.get("p99_ms") is not None]
            cpu = [r["cpu_us_per_req"] for r in ok if r.get("cpu_us_per_req") is not None]
            row["p99_ms"] = statistics.median(p99) if p99 else None
            row["cpu_us_per_req"] = statistics.median(cpu) if cpu else None
            for k in ("wrk_cpu_us_per_req", "wrk_busy"):  # absent in reports before stop 16
                v = [r[k] for r in ok if r.get(k) is not None]
                row[k] = statistics.median(v) if v else None
            row["errors"] = sum(r.get("errors", 0) for r in ok)
        else:
            row["error"] = rs[-1].get("error", "no successful run")
        out.append(row)
    return out


# ---- formatting ---------------------------------------------------------------------------

def summarize_tls(runs):
    """Median over rounds of each (mode, server): rates and the server's CPU per item."""
    groups = {}
    for r in runs:
        if "mode" in r and "server" in r and "errors" in r:
            groups.setdefault((r["mode"], r["server"]), []).append(r)
    out = []
    for (mode, server), rs in sorted(groups.items()):
        rate = "rps" if mode == "keepalive" else "per_s"
        cpu = "cpu_us_per_req" if mode == "keepalive" else "cpu_us_per_conn"
        rates = [x[rate] for x in rs if x.get(rate)]
        cpus = [x[cpu] for x in rs if x.get(cpu)]
        out.append({"mode": mode, "server": server, "rounds": len(rs),
                    "rate": statistics.median(rates) if rates else None,
                    "cpu_us": statistics.median(cpus) if cpus else None,
                    "errors": sum(x.get("errors", 0) for x in rs)})
    return out


def summarize_idle(runs):
    """Median over rounds of each server's bytes per idle connection, in SERVERS order."""
    groups = {}
    for r in runs:
        if r.get("bytes_per_conn"):
            groups.setdefault(r["server"], []).append(r)
    out = []
    for server in [s for s in SERVERS if s in groups] + sorted(set(groups) - set(SERVERS)):
        rs = groups[server]
        v = [x["bytes_per_conn"] for x in rs]
        out.append({"server": server, "conns": rs[0]["conns"], "rounds": len(rs),
                    "bytes": statistics.median(v), "min": min(v), "max": max(v)})
    return out


def fmt_ns(v):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_short(v):
    """Compact label for a bar: 93, 1.2k, 45k, 1.6M."""
    if v >= 1e6:
        return f"{v / 1e6:.1f}M"
    if v >= 1e4:
        return f"{v / 1e3:.0f}k"
    if v >= 1e3:
        return f"{v / 1e3:.1f}k"
    if v >= 10:
        return f"{v:.0f}"
    return f"{v:.1f}"


def fmt_us(v):
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} ms"
    return f"{v:.0f} µs"


def fmt_times(x):
    return f"{x:.2f}×" if x < 2 else f"{x:.1f}×" if x < 100 else f"{x:,.0f}×"


def ns_of(row):
    return row.get("ns_per_op") if row and "ns_per_op" in row else None


def best_peer(rows, peers=PEERS, key=ns_of, highest=False):
    """(impl, value) of the best peer by key, or (None, None)."""
    vals = [(p, key(rows.get(p))) for p in peers if key(rows.get(p)) is not None]
    if not vals:
        return None, None
    return (max if highest else min)(vals, key=lambda pv: pv[1])


def label(meta, impl):
    return meta.get("peer_versions", {}).get(impl) or LABELS.get(impl, impl)


def cell(row):
    if row is None:
        return "not run"
    if "skipped" in row:
        return "skipped"
    if "error" in row:
        return "**FAILED**"
    return fmt_ns(row["ns_per_op"])


# ---- Markdown -----------------------------------------------------------------------------

def markdown(meta, bench, http, http_note, impls, servers, tls=None, tls_note=None,
             idle_conns=None, idle_notes=()):
    out = []
    w = out.append
    rounds = meta.get("rounds", 1)
    w("# tide benchmark results")
    w("")
    w(f"- When: {meta.get('date', '?')}; commit {meta.get('commit', '?')}")
    w(f"- Machine: {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, "
      f"Linux {meta.get('kernel', '?')}")
    w(f"- Command: `{meta.get('command', 'scripts/bench.sh')}` "
      f"({'quick sizes: a smoke test, not figures of record' if meta.get('quick') else 'full sizes'}; "
      f"{meta.get('workers', '?')} workers; {rounds} round(s), the programs alternating in "
      f"each; each program's figure the median of {meta.get('reps', 5)} runs after a "
      f"warm-up, the table's the median over the rounds)")
    peers = [p for p in impls if p in PEERS]
    if peers:
        w("- Peers, measured in this run: " + ", ".join(label(meta, p) for p in peers)
          + " (benches/peers/)")
    for n in meta.get("peer_notes", []):
        w(f"- Note: {n}")
    if not meta.get("peers", True):
        w("- Peers not run (--no-peers)")
    w("")
    w("## Workloads: median nanoseconds per operation (lower is better)")
    w("")
    w("All columns come from this run. **tide ÷ best peer** divides tide's time by the best "
      "peer's (tokio or Go): below 1, tide is faster.")
    w("")
    head = ["workload", "ops"] + [LABELS[i] for i in impls]
    if peers:
        head += ["best peer", "tide ÷ best peer"]
    head += [f"{LABELS[b]} ÷ tide" for b in ("threads", "pool") if b in impls]
    w("| " + " | ".join(head) + " |")
    w("|---|" + "---:|" * (len(head) - 1))
    notes = []
    for name, _ in WORKLOADS:
        rows = bench.get(name, {})
        cells = []
        for impl in impls:
            r = rows.get(impl)
            text = cell(r)
            if r and ("skipped" in r or "error" in r):
                notes.append(f"{name}, {impl}: {r.get('skipped') or r.get('error')}")
                text += f" [{len(notes)}]"
            cells.append(text)
        ops = next((r["ops"] for r in rows.values() if "ops" in r), None)
        line = [name, f"{ops:,}" if ops else "—"] + cells
        t = ns_of(rows.get("tide"))
        if peers:
            bp, bv = best_peer(rows)
            line += [LABELS[bp] if bp else "—",
                     (f"**{t / bv:.2f}** ({'tide faster' if t < bv else 'tide slower'})"
                      if t and bv else "—")]
        for b in ("threads", "pool"):
            if b in impls:
                bv = ns_of(rows.get(b))
                line.append(fmt_times(bv / t) if t and bv else "—")
        w("| " + " | ".join(line) + " |")
    w("")
    for i, n in enumerate(notes, 1):
        w(f"[{i}] {n}  ")
    if notes:
        w("")
    if rounds > 1:
        w("Spread over the rounds (lowest–highest ns/op), tide and peers: "
          + "; ".join(f"{name} " + ", ".join(
              f"{i} {fmt_ns(r['lo'])}–{fmt_ns(r['hi'])}"
              for i in impls if i in ("tide", *PEERS)
              for r in [bench.get(name, {}).get(i)] if r and "lo" in r)
              for name, _ in WORKLOADS if bench.get(name)))
        w("")
    w("### Memory per parked task (idle_many, growth of VmRSS, lower is better)")
    w("")
    idle = bench.get("idle_many", {})
    w("| " + " | ".join(LABELS[i] for i in impls) + " |")
    w("|" + "---:|" * len(impls))
    cells = []
    for impl in impls:
        r = idle.get(impl)
        cells.append(f"{r['bytes_per_task']:,.0f} B" if r and "bytes_per_task" in r else
                     "skipped" if r and "skipped" in r else "**FAILED**" if r and "error" in r
                     else "—")
    w("| " + " | ".join(cells) + " |")
    w("")
    w("### Head-of-line: echo round trips while one task computes (hol_echo, lower is better)")
    w("")
    w("An echo server on 2 workers, 10 clients (plain threads, blocking sockets) each doing a "
      "round trip every millisecond; one more request's task computes for the busy time "
      "without yielding. The round trips overlapping that time: their p99 and maximum, and "
      "how many completed (about 10 per client per ms of busy time when nothing stalls). "
      "Worst repetition and round, not a median: a stall one time in three is a stall. See "
      "docs/benchmarks.md.")
    w("")
    hol = bench.get(HOL, {})
    w("| implementation | busy time | round trips | p99 | max |")
    w("|---|---:|---:|---:|---:|")
    for impl in impls:
        r = hol.get(impl)
        if r is None:
            continue
        if "p99_us" in r:
            w(f"| {LABELS[impl]} | {r['seconds'] * 1e3:,.0f} ms | {r['round_trips']:,.0f} "
              f"| {fmt_us(r['p99_us'])} | {fmt_us(r['max_us'])} |")
        else:
            w(f"| {LABELS[impl]} | {'skipped: ' + r['skipped'] if 'skipped' in r else '**FAILED**: ' + r.get('error', '?')} | | | |")
    w("")
    w("## HTTP hello under wrk (higher requests/s, lower CPU per request is better)")
    w("")
    if not http:
        w(f"Not available: {http_note}")
        w("")
    else:
        w(f"`{meta.get('wrk', 'wrk -t1 -cN -d5s --latency')}`, every server once per round "
          "(the order reversed every other round), median over the rounds. CPU per request "
          "is the server's user + system time (/proc/PID/stat) over the run divided by the "
          "requests it answered; wrk's CPU per request is the load generator's own, and "
          "\"busy\" its CPU over the run's length: near 100%, wrk's one thread is the "
          "bottleneck and requests/s is about 1 ÷ wrk's CPU per request, whichever the server. "
          "The epoll loop is a hand-written single-threaded server: the limit, not a peer to "
          "beat.")
        w("")
        w("| connections | server | requests/s | p99 latency | CPU per request | wrk's CPU per "
          "request (busy) | rounds |")
        w("|---:|---|---:|---:|---:|---:|---:|")
        for conns in sorted({r["conns"] for r in http}):
            by = {r["server"]: r for r in http if r["conns"] == conns}
            for server in servers:
                r = by.get(server)
                if r is None:
                    continue
                if "rps" not in r:
                    w(f"| {conns:,} | {SERVER_LABELS[server]} | **FAILED**: {r['error']} | | "
                      f"| | 0/{r['rounds']} |")
                    continue
                p99 = f"{r['p99_ms']:.2f} ms" if r.get("p99_ms") is not None else "—"
                cpu = (f"{r['cpu_us_per_req']:.1f} µs" if r.get("cpu_us_per_req") is not None
                       else "—")
                wcpu = (f"{r['wrk_cpu_us_per_req']:.1f} µs ({r['wrk_busy']:.0%})"
                        if r.get("wrk_cpu_us_per_req") and r.get("wrk_busy") else "—")
                errs = f" ({r['errors']:,} errors)" if r.get("errors") else ""
                w(f"| {conns:,} | {SERVER_LABELS[server]} | {r['rps']:,.0f}{errs} | {p99} "
                  f"| {cpu} | {wcpu} | {r['ok_rounds']}/{r['rounds']} |")
            t = by.get("tide", {})
            for other, what in (("tokio", "tide ÷ tokio"), ("epoll", "tide ÷ epoll loop"),
                                ("threads", "tide ÷ threads")):
                o = by.get(other, {})
                if t.get("rps") and o.get("rps"):
                    cpu = ""
                    if t.get("cpu_us_per_req") and o.get("cpu_us_per_req"):
                        cpu = f"{t['cpu_us_per_req'] / o['cpu_us_per_req']:.2f}"
                    w(f"| {conns:,} | **{what}** | **{t['rps'] / o['rps']:.2f}** | "
                      f"| {cpu} | | |")
                p = t.get("round_by_round", {}).get(other)
                if p and p["rounds"] > 1:
                    m, lo, hi = p["rps"]
                    cpu = ""
                    if p["cpu"]:
                        cm, clo, chi = p["cpu"]
                        cpu = f"{cm:.2f} ({clo:.2f}–{chi:.2f})"
                    w(f"| {conns:,} | {what}, round by round | {m:.2f} ({lo:.2f}–{hi:.2f}), "
                      f"ahead in {p['ahead']} of {p['rounds']} | | {cpu} | | {p['rounds']} |")
        w("")
        w("(A requests/s ratio above 1 and a CPU ratio below 1 are in tide's favour. The bold "
          "ratios divide the medians; \"round by round\" divides each round's figures, taken "
          "back to back, and gives their median, range and the rounds tide answered more in.)")
        w("")
    if tls:
        w("## TLS: https_hello against http_hello (the same server without TLS)")
        w("")
        w("scripts/bench_tls.py, the two servers alternating round by round, medians. "
          "Keep-alive: `wrk -c100` over one TLS connection each; new connection: a full "
          "TLS 1.3 handshake (P-256, no resumption) per request, from Python clients that share "
          "the CPUs, so the server CPU per connection is the steadier figure.")
        w("")
        w("| measure | server | rate | server CPU per item | rounds |")
        w("|---|---|---:|---:|---:|")
        for r in tls:
            what = "keep-alive requests/s" if r["mode"] == "keepalive" else "new connections/s"
            rate = f"{r['rate']:,.0f}" if r["rate"] else "—"
            cpu = f"{r['cpu_us']:.1f} µs" if r["cpu_us"] else "—"
            errs = f" ({r['errors']:,} errors)" if r["errors"] else ""
            w(f"| {what} | {r['server']} | {rate}{errs} | {cpu} | {r['rounds']} |")
        w("")
    elif tls_note:
        w("## TLS")
        w("")
        w(f"Not measured: {tls_note}.")
        w("")
    if idle_conns:
        w("## Memory per idle keep-alive connection (lower is better)")
        w("")
        w(f"scripts/idle_conns.py: {idle_conns[0]['conns']:,} connections, each with one request "
          "answered, then idle; the growth of the server's resident memory divided by them "
          "(user memory: the kernel's socket buffers are the same for all and not counted), "
          "median over the rounds, the servers alternating.")
        w("")
        tide = next((r for r in idle_conns if r["server"] == "tide"), None)
        w("| server | bytes per idle connection | range | tide ÷ server |")
        w("|---|---:|---:|---:|")
        for r in idle_conns:
            ratio = (f"{tide['bytes'] / r['bytes']:.2f}" if tide and r is not tide
                     and r["bytes"] > 0 else "")
            w(f"| {r['server']} | {r['bytes']:,.0f} | {r['min']:,.0f}–{r['max']:,.0f} "
              f"| {ratio} |")
        w("")
        for n in idle_notes:
            w(f"Not measured: {n}.")
        if idle_notes:
            w("")
    w("## How to read this")
    w("")
    w("See docs/benchmarks.md. In short: the machine may be shared and noisy, so trust ratios "
      "measured side by side in one run more than any absolute figure, and rerun before "
      "concluding anything from a difference under ~20%.")
    w("")
    return "\n".join(out)


# ---- the chart ----------------------------------------------------------------------------

def ns_label(v, _pos=None):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} ns"


def bytes_label(v, _pos=None):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} B"


def us_label(v, _pos=None):
    for unit, scale in (("s", 1e6), ("ms", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} µs"


def log_axis(ax, fmt):
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10))
    ax.yaxis.set_major_formatter(FuncFormatter(fmt))
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.grid(axis="y", which="major", color="#e5e7eb")
    ax.set_axisbelow(True)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)


def bar_group(ax, x0, width, kinds, values, whys, fontsize=7, extra=None):
    """Bars side by side from x0; a missing value gets its reason written instead. extra: a
    second line for each bar's label (or None)."""
    n = len(kinds)
    bw = width / n
    for i, (k, v, why) in enumerate(zip(kinds, values, whys)):
        cx = x0 + (i + 0.5) * bw
        if v is None:
            if why:
                ax.text(cx, 0.02, why, rotation=90, ha="center", va="bottom", fontsize=6.5,
                        color="#9ca3af", style="italic", transform=ax.get_xaxis_transform())
            continue
        ax.bar(cx, v, bw * 0.9, color=COLORS[k], zorder=2)
        text = fmt_short(v) + (f"\n{extra[i]}" if extra and extra[i] else "")
        ax.text(cx, v * 1.08 if ax.get_yscale() == "log" else v * 1.02, text, ha="center",
                va="bottom", fontsize=fontsize, color="#111827")


def why_missing(r):
    return ("skipped" if r and "skipped" in r else "FAILED" if r and "error" in r
            else "not run")


def ratio_text(t, b):
    """'▲ 1.3×' if tide (time t) beats b, '▼ 1.3×' if not, with its colour."""
    x = b / t
    return (f"▲ {fmt_times(x)}" if x >= 1 else f"▼ {fmt_times(1 / x)}",
            "#15803d" if x >= 1 else "#b91c1c")


def chart(meta, bench, http, http_note, impls, servers, path_svg, path_png):
    quick = bool(meta.get("quick"))
    fig = plt.figure(figsize=(16, 11.5))
    gs = fig.add_gridspec(2, 3, height_ratios=[1.25, 1], hspace=0.55, wspace=0.28,
                          left=0.06, right=0.985, top=0.86, bottom=0.12)
    peers = [p for p in impls if p in PEERS]
    title = ("tide, its threaded baselines and its peers, measured in the same run"
             if peers else "tide against threaded baselines (peers not run)")
    fig.text(0.03, 0.965, title, fontsize=17, weight="bold", color="#111827")
    if quick:
        fig.text(0.985, 0.965, "QUICK SIZES: a smoke test, not figures of record",
                 fontsize=12, weight="bold", color="#b91c1c", ha="right")
    fig.text(0.03, 0.94,
             f"{meta.get('workers', '?')} workers · {meta.get('cpu', '?')} × "
             f"{meta.get('cpus', '?')} CPUs · {meta.get('date', '')} · commit "
             f"{meta.get('commit', '?')} · {meta.get('rounds', 1)} round(s) alternating the "
             f"programs · peers: " + (", ".join(label(meta, p) for p in peers) or "none"),
             fontsize=9.5, color="#4b5563")
    handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[i]) for i in impls]
    fig.legend(handles, [LABELS[i] for i in impls], loc="upper left", ncol=len(impls),
               bbox_to_anchor=(0.03, 0.93), frameon=False, fontsize=10)

    # Panel 1: every workload's ns/op.
    ax = fig.add_subplot(gs[0, :])
    log_axis(ax, ns_label)
    ax.set_ylabel("time per operation (median, log scale; lower is better)", fontsize=9)
    gw = 0.8
    for gi, (name, desc) in enumerate(WORKLOADS):
        rows = bench.get(name, {})
        vals = [ns_of(rows.get(i)) for i in impls]
        bar_group(ax, gi - gw / 2, gw, impls, vals, [why_missing(rows.get(i)) for i in impls])
    ax.set_xticks(range(len(WORKLOADS)))
    labels = []
    for name, desc in WORKLOADS:
        rows = bench.get(name, {})
        ops = next((r["ops"] for r in rows.values() if "ops" in r), None)
        labels.append(f"{name}\n{f'quick: {ops:,} ops' if quick and ops else desc}")
    ax.set_xticklabels(labels, fontsize=8.5)
    ax.set_xlim(-0.5, len(WORKLOADS) - 0.5)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 3)
    # Ratios under each group: against the best peer, and against the thread per task.
    for gi, (name, _) in enumerate(WORKLOADS):
        rows = bench.get(name, {})
        t = ns_of(rows.get("tide"))
        if not t:
            continue
        lines = []
        bp, bv = best_peer(rows)
        if bp:
            lines.append((f"vs {LABELS[bp]}",) + ratio_text(t, bv))
        b = ns_of(rows.get("threads"))
        if b:
            lines.append(("vs threads",) + ratio_text(t, b))
        for k, (what, txt, color) in enumerate(lines):
            ax.text(gi, -0.25 - 0.085 * k, f"{txt} {what}", transform=ax.get_xaxis_transform(),
                    ha="center", va="top", fontsize=8.5, color=color, weight="bold")

    # Panel 2: memory per parked task.
    ax = fig.add_subplot(gs[1, 0])
    log_axis(ax, bytes_label)
    ax.set_title("Memory per parked task (idle_many; lower is better)", fontsize=11,
                 weight="bold", loc="left")
    idle = bench.get("idle_many", {})
    for i, impl in enumerate(impls):
        r = idle.get(impl)
        v = r.get("bytes_per_task") if r else None
        bar_group(ax, i - 0.4, 0.8, [impl], [v], [why_missing(r)], fontsize=8)
    ax.set_xticks(range(len(impls)))
    ax.set_xticklabels([LABELS[i] for i in impls], fontsize=8, rotation=15)
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 100), hi * 3)

    # Panel 3: head-of-line figure.
    ax = fig.add_subplot(gs[1, 1])
    log_axis(ax, us_label)
    busy = next((r["seconds"] for r in bench.get(HOL, {}).values() if "seconds" in r), None)
    ax.set_title("Echo round trips while a task computes" +
                 (f" {busy * 1e3:.0f} ms" if busy else "") + "\n(hol_echo, worst run; lower "
                 "is better)", fontsize=11, weight="bold", loc="left")
    hol = bench.get(HOL, {})
    runners = [i for i in impls if i in hol and "p99_us" in hol[i]]
    if not runners:
        ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes, color="#6b7280")
    for i, impl in enumerate(runners):
        r = hol[impl]
        ax.bar(i - 0.2, r["p99_us"], 0.38, color=COLORS[impl], zorder=2)
        ax.bar(i + 0.2, r["max_us"], 0.38, color=COLORS[impl], alpha=0.45, zorder=2,
               hatch="//", edgecolor="white")
        ax.text(i - 0.2, r["p99_us"] * 1.1, "p99\n" + fmt_us(r["p99_us"]), ha="center",
                va="bottom", fontsize=7)
        ax.text(i + 0.2, r["max_us"] * 1.1, "max\n" + fmt_us(r["max_us"]), ha="center",
                va="bottom", fontsize=7)
    if runners:
        ax.set_xticks(range(len(runners)))
        ax.set_xticklabels([f"{LABELS[i]}\n{hol[i]['round_trips']:,.0f} trips" for i in runners],
                           fontsize=8)
        ax.set_xlim(-0.6, max(len(runners), 3) - 0.4)
        lo, hi = ax.get_ylim()
        ax.set_ylim(min(lo, 10), hi * 4)

    # Panel 4: HTTP requests per second.
    ax = fig.add_subplot(gs[1, 2])
    ax.set_title("HTTP hello under wrk (req/s, higher is better;\nunder each figure: server "
                 "CPU µs per request)", fontsize=11, weight="bold", loc="left")
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)
    if not http:
        ax.text(0.5, 0.5, "not available:\n" + http_note[:80], ha="center", va="center",
                transform=ax.transAxes, color="#6b7280", style="italic", fontsize=9, wrap=True)
        ax.set_xticks([])
        ax.set_yticks([])
    else:
        conns = sorted({r["conns"] for r in http})
        present = [s for s in servers if any(r["server"] == s for r in http)]
        for gi, c in enumerate(conns):
            by = {r["server"]: r for r in http if r["conns"] == c}
            cpu = [by.get(s, {}).get("cpu_us_per_req") for s in present]
            bar_group(ax, gi - 0.42, 0.84, present, [by.get(s, {}).get("rps") for s in present],
                      ["failed" if s in by else "not run" for s in present], fontsize=7,
                      extra=[f"{c:.1f}" if c is not None else None for c in cpu])
        ax.set_xticks(range(len(conns)))
        ax.set_xticklabels([f"wrk -c{c}" for c in conns], fontsize=9, weight="bold")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v / 1e3:g}k"))
        ax.grid(axis="y", color="#e5e7eb")
        ax.set_axisbelow(True)
        handles = [plt.Rectangle((0, 0), 1, 1, color=COLORS[s]) for s in present]
        ax.legend(handles, [SERVER_LABELS[s] for s in present], fontsize=7.5, ncol=3,
                  loc="upper right", frameon=False)
        lo, hi = ax.get_ylim()
        ax.set_ylim(0, hi * 1.35)

    foot = ["▲ n× vs X: tide takes n times less time than X on that workload (▼: more). Every "
            "bar is from this run: the programs alternate within each round; figures are "
            "medians (hol_echo: the worst run).",
            "A shared 2-CPU machine is noisy: compare bars measured side by side, and rerun "
            "before trusting a difference under ~20%."]
    foot += [f"Note: {n}" for n in meta.get("peer_notes", [])][:2]
    for i, line in enumerate(foot):
        fig.text(0.03, 0.055 - 0.018 * i, line, fontsize=8.5, color="#4b5563")
    fig.savefig(path_svg, metadata={"Date": None})
    fig.savefig(path_png, dpi=100)
    plt.close(fig)


# ---- main -------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True, help="the results folder (with raw/ inside)")
    args = ap.parse_args()
    raw = os.path.join(args.dir, "raw")
    meta = {}
    if os.path.exists(os.path.join(raw, "meta.json")):
        with open(os.path.join(raw, "meta.json")) as f:
            meta = json.load(f)
    bench_rows = read_jsonl(os.path.join(raw, "bench.jsonl"))
    bench = summarize_bench(bench_rows)
    http_runs = read_jsonl(os.path.join(raw, "http.jsonl"))
    unavailable = [r["unavailable"] for r in http_runs if "unavailable" in r]
    http_note = (unavailable[-1] if unavailable
                 else meta.get("http_note", "the HTTP benchmark was not run"))
    http = summarize_http([r for r in http_runs if "server" in r and "note" not in r])
    for row in http:
        if row["server"] != "tide":
            continue
        row["round_by_round"] = {o: p for o in SERVERS if o != "tide"
                                 for p in [paired_http(http_runs, row["conns"], "tide", o)] if p}
    notes = meta.setdefault("peer_notes", [])
    for r in http_runs:
        if "note" in r and f"{r['server']} server: {r['note']}" not in notes:
            notes.append(f"{r['server']} server: {r['note']}")
    seen = {r["impl"] for r in bench_rows if "impl" in r}
    impls = [i for i in IMPLS if i in seen]
    servers = [s for s in SERVERS if any(r["server"] == s for r in http)]

    tls_runs = read_jsonl(os.path.join(raw, "tls.jsonl"))
    tls = summarize_tls(tls_runs)
    tls_note = next((r["unavailable"] for r in tls_runs if "unavailable" in r), None)
    idle_runs = read_jsonl(os.path.join(raw, "idle.jsonl"))
    idle = summarize_idle(idle_runs)
    idle_notes = [r["unavailable"] for r in idle_runs if "unavailable" in r]
    idle_notes += [f"{r['server']}: {r['note']}" for r in idle_runs if "note" in r]
    idle_notes += [f"{r['server']}, round {r['round']}: {r['error']}" for r in idle_runs
                   if "error" in r]
    results = {"meta": meta, "bench": bench_rows, "summary": bench,
               "http": {"runs": http_runs, "summary": http, "note": None if http else http_note},
               "tls": {"runs": tls_runs, "summary": tls, "note": tls_note},
               "idle": {"runs": idle_runs, "summary": idle, "notes": idle_notes}}
    with open(os.path.join(args.dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(args.dir, "results.md"), "w") as f:
        f.write(markdown(meta, bench, http, http_note, impls, servers, tls, tls_note, idle,
                         idle_notes))
    chart(meta, bench, http, http_note, impls, servers, os.path.join(args.dir, "chart.svg"),
          os.path.join(args.dir, "chart.png"))
    failed = [r for r in bench_rows if "error" in r]
    print(f"report: wrote results.json, results.md, chart.svg, chart.png in {args.dir}"
          + (f" ({len(failed)} workload(s) FAILED)" if failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
