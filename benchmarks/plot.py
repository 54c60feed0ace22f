#!/usr/bin/env python3
"""Draws docs/benchmarks.md's plots from Google Benchmark JSON (Debian python3-matplotlib).

Usage:
  plot.py RESULT.json [RESULT.json ...] --out docs/img --command "how the JSON was made"

Each plot is drawn when its benchmarks are in the input, and skipped (with a line saying so)
otherwise:
  queue_throughput.png     queue/<P>p<C>c/<impl>: items per second against producers x consumers
  route_lookup.png         route/lookup_<N>/<router>: CPU ns per lookup against the node count
                           (CPU time: on a shared machine it counts what the lookup costs)
  sched_lateness.png       sched/lateness/<impl>: p50 and p99 firing lateness (ms)
  journal_callers.png      journal/enqueue_t<N>/<store>: jobs per second against concurrent callers
  dispatch_throughput.png  dispatch/throughput/<impl>/submitters:<N>: tasks per second
Every plot states the machine (host, CPUs, load average when recorded, date) and the command.
Values are medians over repetitions, read the same way as benchmarks/report.py reads them.
"""
import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import load  # noqa: E402  (one reader of Google Benchmark JSON: medians, units)


def series(results, pattern, metric):
    """{label: [(x, value), ...]} from the run names matching pattern (groups: x, label)."""
    out = defaultdict(list)
    for name, values in results.items():
        m = re.match(pattern, name)
        if m and metric in values:
            out[m.group("label")].append((m.group("x"), values[metric]))
    return {label: sorted(points, key=lambda p: _x_key(p[0])) for label, points in sorted(out.items())}


def _x_key(x):
    nums = [int(n) for n in re.findall(r"\d+", x)]
    return (sum(nums), nums) if nums else (0, [x])


def machine_line(context):
    cpus = context.get("num_cpus", "?")
    parts = [f"{context.get('host_name', 'unknown host')} ({cpus} CPUs"]
    load = context.get("load_avg")
    if load:
        parts.append(f", load average {' '.join(f'{v:.1f}' for v in load)}")
    parts.append(f", {context.get('date', 'date unknown')})")
    line = "".join(parts)
    if isinstance(cpus, int) and cpus <= 2:
        line += ": what 2 cores can do; more threads than cores share them"
    return line


def footer(fig, context, command):
    text = f"Measured on {machine_line(context)}\n$ {command}"
    fig.text(0.01, 0.01, text, fontsize=6.5, family="monospace", va="bottom", wrap=True)


# (file, title, pattern, metric, y label, x is numeric, log y, kind)
PLOTS = [
    ("queue_throughput.png", "Queue throughput against producers x consumers",
     r"^queue/(?P<x>\d+p\d+c)/(?P<label>[^/]+)", "items_per_second", "items per second",
     False, True, "line"),
    ("route_lookup.png", "Router lookup time against node count",
     r"^route/lookup_(?P<x>\d+)/(?P<label>[^/]+)", "cpu_time", "CPU ns per lookup", True, True, "line"),
    ("journal_callers.png", "Durable enqueue: journal_store against SQLite by concurrent callers",
     r"^journal/enqueue_t(?P<x>\d+)/(?P<label>[^/]+)", "items_per_second", "jobs per second",
     True, True, "line"),
    ("dispatch_throughput.png", "Dispatcher against thread pools by submitting threads",
     r"^dispatch/throughput/(?P<label>[^/]+)/submitters:(?P<x>\d+)", "items_per_second",
     "tasks per second", True, True, "line"),
]


def draw_line(plt, results, context, command, out, spec):
    filename, title, pattern, metric, ylabel, numeric_x, log_y, _ = spec
    data = series(results, pattern, metric)
    if not data:
        return None
    fig, ax = plt.subplots(figsize=(8, 5))
    fig.subplots_adjust(bottom=0.24)
    categories = sorted({x for pts in data.values() for x, _ in pts}, key=_x_key)
    for label, points in data.items():
        xs = [int(x) if numeric_x else categories.index(x) for x, _ in points]
        ax.plot(xs, [v for _, v in points], marker="o", label=label)
    if numeric_x:
        ax.set_xscale("log", base=2 if all(int(c) & (int(c) - 1) == 0 for c in categories) else 10)
        ax.set_xticks([int(c) for c in categories], categories)
    else:
        ax.set_xticks(range(len(categories)), categories)
    if log_y:
        ax.set_yscale("log")
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    footer(fig, context, command)
    fig.savefig(out / filename, dpi=110)
    plt.close(fig)
    return filename


def draw_lateness(plt, results, context, command, out):
    rows = {}
    for name, values in results.items():
        m = re.match(r"^sched/lateness/(?P<label>[^/]+)", name)
        if m and "p50_ms" in values and "p99_ms" in values:
            rows[m.group("label")] = (values["p50_ms"], values["p99_ms"])
    if not rows:
        return None
    labels = sorted(rows)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    fig.subplots_adjust(bottom=0.26)
    width = 0.38
    for i, (pct, idx) in enumerate((("p50", 0), ("p99", 1))):
        xs = [j + (i - 0.5) * width for j in range(len(labels))]
        bars = ax.bar(xs, [rows[lbl][idx] for lbl in labels], width, label=pct)
        ax.bar_label(bars, fmt="%.2f", fontsize=7)
    ax.set_xticks(range(len(labels)), labels)
    ax.set_ylabel("firing lateness (ms)")
    ax.set_title("Scheduler lateness percentiles (100k timers due over 1 s, 1M pending)")
    ax.legend()
    ax.grid(True, axis="y", alpha=0.3)
    footer(fig, context, command)
    fig.savefig(out / "sched_lateness.png", dpi=110)
    plt.close(fig)
    return "sched_lateness.png"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", help="Google Benchmark JSON files")
    parser.add_argument("--out", default="docs/img", help="folder for the PNG files")
    parser.add_argument("--command", required=True, help="the command that made the JSON, shown on every plot")
    args = parser.parse_args(argv)

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results, context = load(args.results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made, skipped = [], []
    for spec in PLOTS:
        (made if draw_line(plt, results, context, args.command, out, spec) else skipped).append(spec[0])
    (made if draw_lateness(plt, results, context, args.command, out) else skipped).append("sched_lateness.png")
    for name in made:
        print(f"wrote {out / name}")
    for name in skipped:
        print(f"skipped {name}: its benchmarks are not in the input")
    return 0 if made else 1


if __name__ == "__main__":
    sys.exit(main())
