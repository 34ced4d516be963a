#!/usr/bin/env python3
"""Turn a benchmark run into results.json, results.md and chart.svg (standard library only).

    scripts/report.py --dir RESULTS_DIR

reads, in RESULTS_DIR:
    raw/bench.jsonl  tide-bench --json lines (any order; tide, threads and pool)
    raw/http.jsonl   one line per wrk run (scripts/bench_http.py), optional
    raw/meta.json    the machine, commit and commands (scripts/bench.sh)
and writes results.json, results.md and chart.svg next to raw/.

The tokio and Go figures are BENCH.md's, measured on the reference machine (2 vCPU AMD EPYC
under KVM); they are drawn as outlined bars and never mixed up with this run's numbers.
"""

import argparse
import html
import json
import math
import os
import statistics
import sys

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
IMPLS = ["tide", "threads", "pool"]

# BENCH.md, "Where the bar is": (low, high) median ns/op on the reference machine.
REFERENCE = {
    "tokio": {
        "label": "tokio 1.24",
        "ns": {
            "spawn_many": (252, 500), "spawn_remote": (331, 462), "yield_many": (55, 83),
            "ping_pong": (158, 203), "chained_spawn": (113, 175), "channel_mpsc": (101, 190),
            "mutex": (44, 209), "sleep_many": (921, 1315),
        },
        "bytes_per_task": 200,
        "http": {100: {"rps": (68000, 75000), "cpu_us": 12, "p99_ms": (4.2, 4.6)},
                 1000: {"rps": (47000, 50000)}},
    },
    "go": {
        "label": "Go 1.19",
        "ns": {
            "spawn_many": (293, 860), "yield_many": (125, 317), "ping_pong": (219, 262),
            "chained_spawn": (307, 327), "channel_mpsc": (80, 91), "mutex": (8, 37),
            "sleep_many": (1559, 2020),
        },
        "bytes_per_task": 2709,
        "http": {100: {"rps": (42000, 45000), "cpu_us": 18}, 1000: {"rps": (37000, 39000)}},
    },
}
REFERENCE_NOTE = ("tokio and Go: BENCH.md's figures from the reference machine (2 vCPU AMD EPYC "
                  "under KVM, 2 workers), not from this run")

COLORS = {"tide": "#0f766e", "threads": "#c2410c", "pool": "#6d28d9",
          "tokio": "#2563eb", "go": "#0891b2"}


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


def index_bench(rows):
    """{workload: {impl: row}}; the last line wins if a pair was run twice."""
    out = {}
    for r in rows:
        if "workload" in r and "impl" in r:
            out.setdefault(r["workload"], {})[r["impl"]] = r
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
            row["errors"] = sum(r.get("errors", 0) for r in ok)
        else:
            row["error"] = rs[-1].get("error", "no successful run")
        out.append(row)
    return out


# ---- formatting ---------------------------------------------------------------------------

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


def fmt_range(r):
    if r is None:
        return "—"
    lo, hi = r
    return f"{lo:,}–{hi:,}" if isinstance(lo, int) and isinstance(hi, int) else \
        f"{fmt_ns(lo)}–{fmt_ns(hi)}"


def fmt_ratio(base, tide):
    if base is None or tide is None or tide <= 0:
        return "—"
    x = base / tide
    return f"{x:.2f}×" if x < 2 else f"{x:.1f}×" if x < 100 else f"{x:,.0f}×"


def cell_value(row):
    """(ns_per_op or None, text for the table)."""
    if row is None:
        return None, "not run"
    if "skipped" in row:
        return None, "skipped"
    if "error" in row:
        return None, "**FAILED**"
    return row["ns_per_op"], fmt_ns(row["ns_per_op"])


# ---- Markdown -----------------------------------------------------------------------------

def markdown(meta, bench, http, http_note):
    out = []
    w = out.append
    w("# tide benchmark results")
    w("")
    w(f"- When: {meta.get('date', '?')}; commit {meta.get('commit', '?')}")
    w(f"- Machine: {meta.get('cpu', '?')}, {meta.get('cpus', '?')} CPUs, "
      f"Linux {meta.get('kernel', '?')}")
    w(f"- Command: `{meta.get('command', 'scripts/bench.sh')}` "
      f"({'quick sizes: smoke test, not figures of record' if meta.get('quick') else 'full sizes'}; "
      f"{meta.get('workers', '?')} workers; each figure the median of "
      f"{meta.get('reps', 5)} runs after a warm-up)")
    w("")
    w("## Workloads: median nanoseconds per operation (lower is better)")
    w("")
    w("The ratio columns divide a baseline's time by tide's: above 1× tide is faster. "
      + REFERENCE_NOTE + ": compare them in spirit only.")
    w("")
    w("| workload | ops | tide | threads | pool | threads / tide | pool / tide "
      "| tokio (ref.) | Go (ref.) |")
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    notes = []
    for name, desc in WORKLOADS:
        rows = bench.get(name, {})
        vals, texts = {}, {}
        for impl in IMPLS:
            vals[impl], texts[impl] = cell_value(rows.get(impl))
            r = rows.get(impl)
            if r and ("skipped" in r or "error" in r):
                notes.append(f"{name}, {impl}: {r.get('skipped') or r.get('error')}")
                texts[impl] += f" [{len(notes)}]"
        ops = next((r["ops"] for r in rows.values() if "ops" in r), None)
        w(f"| {name} | {ops:,} | {texts['tide']} | {texts['threads']} | {texts['pool']} "
          f"| {fmt_ratio(vals['threads'], vals['tide'])} | {fmt_ratio(vals['pool'], vals['tide'])} "
          f"| {fmt_range(REFERENCE['tokio']['ns'].get(name))} "
          f"| {fmt_range(REFERENCE['go']['ns'].get(name))} |"
          if ops else
          f"| {name} | — | {texts['tide']} | {texts['threads']} | {texts['pool']} | — | — "
          f"| {fmt_range(REFERENCE['tokio']['ns'].get(name))} "
          f"| {fmt_range(REFERENCE['go']['ns'].get(name))} |")
    w("")
    for i, n in enumerate(notes, 1):
        w(f"[{i}] {n}  ")
    if notes:
        w("")
    w("### Memory per parked task (idle_many, growth of VmRSS, lower is better)")
    w("")
    w("| tide | threads | tokio (ref.) | Go (ref.) |")
    w("|---:|---:|---:|---:|")
    idle = bench.get("idle_many", {})
    cells = []
    for impl in ("tide", "threads"):
        r = idle.get(impl)
        if r and "bytes_per_task" in r:
            cells.append(f"{r['bytes_per_task']:,.0f} B")
        elif r and "skipped" in r:
            cells.append("skipped")
        else:
            cells.append("—")
    w(f"| {cells[0]} | {cells[1]} | {REFERENCE['tokio']['bytes_per_task']:,} B "
      f"| {REFERENCE['go']['bytes_per_task']:,} B |")
    w("")
    w("## HTTP hello: examples/http_hello (tide) against examples/http_hello_threads")
    w("")
    if not http:
        w(f"Not available: {http_note}")
        w("")
    else:
        w(f"`{meta.get('wrk', 'wrk -t1 -cN -d5s --latency')}`, the two servers alternating, "
          "median over the rounds. CPU per request is the server's user + system time "
          "(/proc/PID/stat) over the run divided by the requests it answered.")
        w("")
        w("| connections | server | requests/s | p99 latency | CPU per request | rounds |")
        w("|---:|---|---:|---:|---:|---:|")
        for conns in sorted({r["conns"] for r in http}):
            by = {r["server"]: r for r in http if r["conns"] == conns}
            for server in ("tide", "threads"):
                r = by.get(server)
                if r is None:
                    continue
                if "rps" not in r:
                    w(f"| {conns:,} | {server} | **FAILED**: {r['error']} | | | "
                      f"0/{r['rounds']} |")
                    continue
                p99 = f"{r['p99_ms']:.2f} ms" if r.get("p99_ms") is not None else "—"
                cpu = (f"{r['cpu_us_per_req']:.1f} µs" if r.get("cpu_us_per_req") is not None
                       else "—")
                errs = f" ({r['errors']:,} errors)" if r.get("errors") else ""
                w(f"| {conns:,} | {server} | {r['rps']:,.0f}{errs} | {p99} | {cpu} "
                  f"| {r['ok_rounds']}/{r['rounds']} |")
            t, b = by.get("tide", {}), by.get("threads", {})
            if t.get("rps") and b.get("rps"):
                def better(x):
                    return f"{x:.2f}× ({'tide better' if x >= 1 else 'tide worse'})"

                cpu = p99 = ""
                if t.get("cpu_us_per_req") and b.get("cpu_us_per_req"):
                    cpu = better(b["cpu_us_per_req"] / t["cpu_us_per_req"])
                if t.get("p99_ms") and b.get("p99_ms"):
                    p99 = better(b["p99_ms"] / t["p99_ms"])
                w(f"| {conns:,} | **tide vs threads** | **{better(t['rps'] / b['rps'])}** "
                  f"| {p99} | {cpu} | |")
        w("")
        w("Reference machine (BENCH.md): with -c100 tokio 68–75k requests/s at ~12 µs CPU per "
          "request (p99 4.2–4.6 ms), Go 42–45k at ~18 µs; with -c1000 tokio 47–50k, Go 37–39k.")
        w("")
    w("## How to read this")
    w("")
    w("See docs/benchmarks.md. In short: this machine is shared and noisy, so trust ratios "
      "measured side by side in one run more than any absolute figure, and rerun before "
      "concluding anything from a difference under ~20%.")
    w("")
    return "\n".join(out)


# ---- SVG ----------------------------------------------------------------------------------

class Svg:
    def __init__(self, width, height):
        self.w, self.h = width, height
        self.parts = []

    def add(self, s):
        self.parts.append(s)

    def text(self, x, y, s, size=12, anchor="start", weight="normal", fill="#1f2937",
             rotate=None, style=""):
        tr = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
        st = f' font-style="{style}"' if style else ""
        self.add(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                 f'font-weight="{weight}" fill="{fill}"{st}{tr}>{html.escape(str(s))}</text>')

    def rect(self, x, y, w, h, fill="none", stroke="none", sw=1, dash=None, title=None, rx=0):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        t = f"<title>{html.escape(title)}</title>" if title else ""
        self.add(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                 f'rx="{rx}" fill="{fill}" stroke="{stroke}" stroke-width="{sw}"{d}>{t}</rect>')

    def line(self, x1, y1, x2, y2, stroke="#9ca3af", sw=1, dash=None):
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.add(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                 f'stroke="{stroke}" stroke-width="{sw}"{d}/>')

    def render(self):
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
                f'viewBox="0 0 {self.w} {self.h}" font-family="system-ui, -apple-system, '
                f'Segoe UI, Helvetica, Arial, sans-serif">')
        bg = f'<rect x="0" y="0" width="{self.w}" height="{self.h}" fill="#ffffff"/>'
        return "\n".join([head, bg] + self.parts + ["</svg>", ""])


def ns_label(v):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} ns"


def bytes_label(v):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if v >= scale:
            return f"{v / scale:g} {unit}"
    return f"{v:g} B"


class LogAxis:
    """Maps values to y pixels on a log scale spanning whole decades."""

    def __init__(self, values, top, bottom):
        vals = [v for v in values if v and v > 0]
        lo = min(vals) if vals else 1
        hi = max(vals) if vals else 10
        self.lo = 10 ** math.floor(math.log10(lo))
        self.hi = 10 ** math.ceil(math.log10(hi))
        if self.hi <= self.lo:
            self.hi = self.lo * 10
        self.top, self.bottom = top, bottom

    def y(self, v):
        v = min(max(v, self.lo), self.hi)
        f = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        return self.bottom - f * (self.bottom - self.top)

    def decades(self):
        d = self.lo
        while d <= self.hi * 1.0001:
            yield d
            d *= 10


def draw_axis(svg, axis, x0, x1, label, fmt):
    for d in axis.decades():
        y = axis.y(d)
        svg.line(x0, y, x1, y, stroke="#e5e7eb")
        svg.text(x0 - 8, y + 4, fmt(d), size=11, anchor="end", fill="#4b5563")
        for k in range(2, 10):
            v = d * k
            if v < axis.hi:
                yy = axis.y(v)
                svg.line(x0 - 3, yy, x0, yy, stroke="#9ca3af")
    svg.line(x0, axis.top, x0, axis.bottom, stroke="#6b7280")
    svg.line(x0, axis.bottom, x1, axis.bottom, stroke="#6b7280")
    mid = (axis.top + axis.bottom) / 2
    svg.text(x0 - 62, mid, label, size=12, anchor="middle", fill="#374151", rotate=-90)


def draw_bars(svg, axis, x, bw, bars):
    """bars: list of (kind, value or None, range or None, title, skipped_text)."""
    for i, (kind, value, rng, title, skipped) in enumerate(bars):
        bx = x + i * bw
        ref = kind in REFERENCE
        color = COLORS[kind]
        if value is None:
            if skipped:
                svg.text(bx + bw / 2, axis.bottom - 6, skipped, size=9, anchor="start",
                         fill="#9ca3af", rotate=-90, style="italic")
            continue
        y = axis.y(value)
        if ref:
            svg.rect(bx + 1, y, bw - 2, axis.bottom - y, fill="none", stroke=color, sw=1.5,
                     dash="4 2", title=title)
            if rng and rng[1] > rng[0]:
                yh = axis.y(rng[1])
                cx = bx + bw / 2
                svg.line(cx, y, cx, yh, stroke=color, sw=1.5)
                svg.line(cx - 3, yh, cx + 3, yh, stroke=color, sw=1.5)
        else:
            svg.rect(bx + 1, y, bw - 2, axis.bottom - y, fill=color, title=title)
        top = axis.y(rng[1]) if ref and rng else y
        svg.text(bx + bw / 2, top - 4, fmt_short(value), size=9, anchor="middle",
                 fill=color if ref else "#111827")


def legend(svg, x, y, with_refs=True):
    items = [("tide", "tide (this run)", False), ("threads", "thread per task (this run)", False),
             ("pool", f"thread pool (this run)", False)]
    if with_refs:
        items += [("tokio", "tokio 1.24 — reference machine", True),
                  ("go", "Go 1.19 — reference machine", True)]
    cx = x
    for kind, label, ref in items:
        if ref:
            svg.rect(cx, y - 10, 14, 12, stroke=COLORS[kind], sw=1.5, dash="4 2")
        else:
            svg.rect(cx, y - 10, 14, 12, fill=COLORS[kind])
        svg.text(cx + 19, y, label, size=12, fill="#1f2937")
        cx += 24 + 7.0 * len(label)


def chart(meta, bench, http, http_note):
    W = 1200
    svg = Svg(W, 935)
    quick = bool(meta.get("quick"))
    svg.text(40, 34, "tide against threaded baselines: time per operation", size=20,
             weight="bold", fill="#111827")
    if quick:
        svg.text(W - 30, 34, "QUICK SIZES: a smoke test, not figures of record", size=14,
                 anchor="end", weight="bold", fill="#b91c1c")
    svg.text(40, 56, f"median ns per operation, log scale, lower is better · "
             f"{meta.get('workers', '?')} workers · {meta.get('cpu', '?')} × "
             f"{meta.get('cpus', '?')} CPUs · {meta.get('date', '')} · commit "
             f"{meta.get('commit', '?')}", size=12, fill="#4b5563")
    legend(svg, 40, 84)

    # Panel 1: every workload's ns/op.
    x0, x1, top, bottom = 110, W - 30, 110, 470
    vals = []
    groups = []
    for name, desc in WORKLOADS:
        rows = bench.get(name, {})
        bars = []
        for impl in IMPLS:
            r = rows.get(impl)
            if r and "ns_per_op" in r:
                v = r["ns_per_op"]
                vals.append(v)
                bars.append((impl, v, None, f"{name}, {impl}: {fmt_ns(v)} ns/op", None))
            else:
                why = ("skipped" if r and "skipped" in r else
                       "FAILED" if r and "error" in r else "not run")
                bars.append((impl, None, None, None, why))
        for ref in ("tokio", "go"):
            rng = REFERENCE[ref]["ns"].get(name)
            if rng:
                vals.extend(rng)
                bars.append((ref, rng[0], rng, f"{name}, {REFERENCE[ref]['label']} on the "
                             f"reference machine: {fmt_range(rng)} ns/op", None))
            else:
                bars.append((ref, None, None, None, None))
        groups.append((name, desc, bars, rows))
    axis = LogAxis(vals, top, bottom)
    draw_axis(svg, axis, x0, x1, "time per operation (log scale)", ns_label)
    gw = (x1 - x0) / len(groups)
    bw = (gw - 18) / 5
    for gi, (name, desc, bars, rows) in enumerate(groups):
        gx = x0 + gi * gw + 9
        draw_bars(svg, axis, gx, bw, bars)
        cx = x0 + gi * gw + gw / 2
        svg.text(cx, bottom + 18, name, size=12, anchor="middle", weight="bold")
        ops = next((r["ops"] for r in rows.values() if "ops" in r), None)
        if quick and ops:
            desc = f"quick: {ops:,} ops"
        svg.text(cx, bottom + 32, desc, size=9, anchor="middle", fill="#6b7280")
        t = rows.get("tide", {}).get("ns_per_op")
        for k, impl in enumerate(("threads", "pool")):
            b = rows.get(impl, {}).get("ns_per_op")
            if t and b:
                ratio = b / t
                color = "#15803d" if ratio >= 1 else "#b91c1c"
                arrow = "▲" if ratio >= 1 else "▼"
                shown = ratio if ratio >= 1 else 1 / ratio
                num = (f"{shown:.2f}" if shown < 2 else f"{shown:.1f}" if shown < 100
                       else f"{shown:,.0f}")
                svg.text(cx, bottom + 48 + 14 * k, f"{arrow} {num}× vs {impl}",
                         size=10.5, anchor="middle", fill=color, weight="bold")

    # Panel 2: memory per parked task.
    py = 590
    svg.text(40, py - 22, "Memory per parked task (idle_many, log scale, lower is better)",
             size=15, weight="bold", fill="#111827")
    idle = bench.get("idle_many", {})
    mem = []
    for impl in ("tide", "threads"):
        r = idle.get(impl)
        if r and "bytes_per_task" in r:
            mem.append((impl, r["bytes_per_task"], None))
        else:
            mem.append((impl, None, "skipped" if r and "skipped" in r else "not run"))
    for ref in ("tokio", "go"):
        mem.append((ref, REFERENCE[ref]["bytes_per_task"], None))
    maxis = LogAxis([m[1] for m in mem if m[1]] + [100], py, py + 220)
    mx0, mx1 = 110, 560
    draw_axis(svg, maxis, mx0, mx1, "bytes per task", bytes_label)
    mbw = (mx1 - mx0 - 40) / len(mem)
    for i, (kind, v, why) in enumerate(mem):
        bx = mx0 + 20 + i * mbw
        label = {"tide": "tide", "threads": "threads", "tokio": "tokio (ref.)",
                 "go": "Go (ref.)"}[kind]
        svg.text(bx + mbw / 2, maxis.bottom + 16, label, size=11, anchor="middle")
        rng = (v, v) if v else None
        draw_bars(svg, maxis, bx + mbw * 0.2, mbw * 0.6,
                  [(kind, v, rng if kind in REFERENCE else None,
                    f"{label}: {v:,.0f} bytes per task" if v else None, why)])

    # Panel 3: HTTP requests per second.
    hx0, hx1 = 700, W - 30
    svg.text(640, py - 22, "HTTP hello under wrk (requests/s, higher is better)", size=15,
             weight="bold", fill="#111827")
    if not http:
        svg.text(hx0, py + 40, "not available: " + http_note[:70], size=12, fill="#6b7280",
                 style="italic")
    else:
        conns = sorted({r["conns"] for r in http})
        hvals = [r["rps"] for r in http if r.get("rps")]
        for c in conns:
            for ref in ("tokio", "go"):
                h = REFERENCE[ref]["http"].get(c)
                if h:
                    hvals.append(h["rps"][1])
        hmax = max(hvals) if hvals else 1
        step = 10 ** math.floor(math.log10(hmax))
        hmax = math.ceil(hmax / step) * step
        ytop, ybot = py, py + 220

        def hy(v):
            return ybot - v / hmax * (ybot - ytop)

        for k in range(0, int(hmax / step) + 1):
            v = k * step
            svg.line(hx0, hy(v), hx1, hy(v), stroke="#e5e7eb")
            svg.text(hx0 - 8, hy(v) + 4, f"{v / 1000:g}k", size=11, anchor="end",
                     fill="#4b5563")
        svg.line(hx0, ytop, hx0, ybot, stroke="#6b7280")
        svg.line(hx0, ybot, hx1, ybot, stroke="#6b7280")
        hgw = (hx1 - hx0) / len(conns)
        hbw = (hgw - 30) / 4
        for gi, c in enumerate(conns):
            gx = hx0 + gi * hgw + 15
            bars = []
            for server in ("tide", "threads"):
                r = next((r for r in http if r["conns"] == c and r["server"] == server), None)
                bars.append((server, r.get("rps") if r else None, None,
                             f"{server}, -c{c}: {r['rps']:,.0f} req/s" if r and r.get("rps")
                             else None, "failed" if r else "not run"))
            for ref in ("tokio", "go"):
                h = REFERENCE[ref]["http"].get(c)
                bars.append((ref, h["rps"][0] if h else None, h["rps"] if h else None,
                             f"{REFERENCE[ref]['label']} on the reference machine" if h else None,
                             None))
            for i, (kind, v, rng, title, why) in enumerate(bars):
                bx = gx + i * hbw
                color = COLORS[kind]
                if v is None:
                    if why:
                        svg.text(bx + hbw / 2, ybot - 6, why, size=9, fill="#9ca3af",
                                 rotate=-90, style="italic")
                    continue
                if kind in REFERENCE:
                    svg.rect(bx + 1, hy(v), hbw - 2, ybot - hy(v), stroke=color, sw=1.5,
                             dash="4 2", title=title)
                    if rng:
                        svg.line(bx + hbw / 2, hy(rng[0]), bx + hbw / 2, hy(rng[1]),
                                 stroke=color, sw=1.5)
                    top = hy(rng[1]) if rng else hy(v)
                else:
                    svg.rect(bx + 1, hy(v), hbw - 2, ybot - hy(v), fill=color, title=title)
                    top = hy(v)
                svg.text(bx + hbw / 2, top - 4, fmt_short(v), size=9, anchor="middle",
                         fill=color if kind in REFERENCE else "#111827")
            svg.text(gx + 2 * hbw, ybot + 16, f"wrk -c{c}", size=12, anchor="middle",
                     weight="bold")
            t = next((r for r in http if r["conns"] == c and r["server"] == "tide"), {})
            if t.get("cpu_us_per_req") is not None:
                b = next((r for r in http if r["conns"] == c and r["server"] == "threads"), {})
                line = f"CPU/request: tide {t['cpu_us_per_req']:.1f} µs"
                if b.get("cpu_us_per_req") is not None:
                    line += f", threads {b['cpu_us_per_req']:.1f} µs"
                svg.text(gx + 2 * hbw, ybot + 31, line, size=10, anchor="middle",
                         fill="#4b5563")

    for i, line in enumerate([
            "▲ n× vs threads: tide takes n times less time than the baseline on that workload "
            "(▼: more). Filled bars: this run, median of the repetitions.",
            "Dashed outlines: " + REFERENCE_NOTE + "; the bar is the best figure, the whisker "
            "the range.",
            "A shared 2-CPU VM is noisy: compare bars measured side by side in this run, and "
            "rerun before trusting a difference under ~20%."]):
        svg.text(40, svg.h - 54 + 18 * i, line, size=11.5, fill="#4b5563")
    return svg.render()


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
    bench = index_bench(bench_rows)
    http_runs = read_jsonl(os.path.join(raw, "http.jsonl"))
    unavailable = [r["unavailable"] for r in http_runs if "unavailable" in r]
    http_note = (unavailable[-1] if unavailable
                 else meta.get("http_note", "the HTTP benchmark was not run"))
    http = summarize_http([r for r in http_runs if "server" in r])

    results = {
        "meta": meta,
        "bench": bench_rows,
        "http": {"runs": http_runs, "summary": http, "note": None if http else http_note},
        "reference": {k: {"label": v["label"], "ns_per_op": v["ns"],
                          "bytes_per_task": v["bytes_per_task"],
                          "http": {str(c): h for c, h in v["http"].items()}}
                      for k, v in REFERENCE.items()},
        "reference_note": REFERENCE_NOTE,
    }
    with open(os.path.join(args.dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, ensure_ascii=False)
        f.write("\n")
    with open(os.path.join(args.dir, "results.md"), "w") as f:
        f.write(markdown(meta, bench, http, http_note))
    with open(os.path.join(args.dir, "chart.svg"), "w") as f:
        f.write(chart(meta, bench, http, http_note))
    failed = [r for r in bench_rows if "error" in r]
    print(f"report: wrote results.json, results.md, chart.svg in {args.dir}"
          + (f" ({len(failed)} workload(s) FAILED)" if failed else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
