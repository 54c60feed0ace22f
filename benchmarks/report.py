#!/usr/bin/env python3
"""Turns Google Benchmark JSON into medians, ratios and PASS/FAIL lines.

Usage:
  report.py RESULT.json [RESULT.json ...] [--targets benchmarks/targets.json]
            [--section NAME] [--docs docs/benchmarks.md] [--command "how it was run"]

Each target in targets.json (grouped by component section) names a benchmark and either a
baseline measured in the same run (min_ratio / max_ratio / max_cost_ratio) or an absolute bound
(min / max):

  {"id": "...", "benchmark": "queue/1p1c/millrace_mpmc", "baseline": "queue/1p1c/std_mutex",
   "metric": "items_per_second", "min_ratio": 8.0}

metric is "real_time" or "cpu_time" (nanoseconds, lower is better) or a user counter
(higher is better unless the target says "better": "lower"). The ratio is always "how many
times better the benchmark is than its baseline": baseline/benchmark for lower-is-better
metrics, benchmark/baseline otherwise; min_ratio/max_ratio bound that ratio. A target that
allows the benchmark to cost more than its baseline ("<= 3x a single bucket's cost") is written
max_cost_ratio 3 (or min_ratio 0.3333) and is printed the way it reads: "39x the baseline's time
(target <= 3x)", never as an inverted fraction. Medians are taken over repetitions (the "median"
aggregate when present, else the median of the iterations). Exit status: 1 when any target
of the selected sections FAILs or is MISSING, 0 otherwise.
"""
import argparse
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
NOT_COUNTERS = {"name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
                "iterations", "real_time", "cpu_time", "time_unit", "family_index",
                "per_family_instance_index", "aggregate_name", "aggregate_unit", "label",
                "error_occurred", "error_message"}


def load(paths):
    """Returns {run_name: {metric: median}} over every file, plus the context of the first."""
    samples = defaultdict(lambda: defaultdict(list))
    medians = defaultdict(dict)
    context = {}
    for path in paths:
        data = json.loads(Path(path).read_text())
        context = context or data.get("context", {})
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            name = b.get("run_name", b["name"])
            scale = TIME_UNIT_NS.get(b.get("time_unit", "ns"), 1.0)
            values = {}
            for k, v in b.items():
                if k in ("real_time", "cpu_time"):
                    values[k] = float(v) * scale
                elif k not in NOT_COUNTERS and isinstance(v, (int, float)):
                    values[k] = float(v)
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    medians[name].update(values)
            else:
                for k, v in values.items():
                    samples[name][k].append(v)
    result = {}
    for name in set(samples) | set(medians):
        m = {k: statistics.median(v) for k, v in samples[name].items()}
        m.update(medians.get(name, {}))  # the library's own median wins when reported
        m["_repetitions"] = max((len(v) for v in samples[name].values()), default=0)
        result[name] = m
    return result, context


def lower_is_better(target):
    if "better" in target:
        return target["better"] == "lower"
    return target.get("metric", "real_time") in ("real_time", "cpu_time")


def evaluate(target, results):
    metric = target.get("metric", "real_time")
    bench = results.get(target["benchmark"], {}).get(metric)
    if bench is None:
        return "MISSING", f"no '{metric}' for {target['benchmark']}"
    if "baseline" in target:
        base = results.get(target["baseline"], {}).get(metric)
        if base is None:
            return "MISSING", f"no '{metric}' for baseline {target['baseline']}"
        if bench == 0 or base == 0:
            return "FAIL", "zero measurement"
        ratio = base / bench if lower_is_better(target) else bench / base
        ok = all((ratio >= b) if op == ">=" else (ratio <= b) for op, b in ratio_bounds(target))
        return ("PASS" if ok else "FAIL"), (f"{describe_ratio(target, ratio)}; "
                                            f"{fmt(bench, metric)} vs {fmt(base, metric)}")
    ok = bench >= target.get("min", float("-inf")) and bench <= target.get("max", float("inf"))
    bound = []
    if "min" in target:
        bound.append(f">= {target['min']}")
    if "max" in target:
        bound.append(f"<= {target['max']}")
    return ("PASS" if ok else "FAIL"), f"{fmt(bench, metric)} (target {' and '.join(bound)})"


def times(x):
    """A factor as a reader says it: 39x, 3.99x, 1.1x (no trailing zeros)."""
    if x >= 10:
        return f"{x:.0f}x"
    return f"{x:.2f}".rstrip("0").rstrip(".") + "x"


def ratio_bounds(target):
    """[(op, bound)] on the "times better" ratio. max_cost_ratio k (the benchmark costs at most k
    times its baseline) is the same bound as min_ratio 1/k, written the way the target reads."""
    bounds = []
    if "min_ratio" in target:
        bounds.append((">=", float(target["min_ratio"])))
    if "max_ratio" in target:
        bounds.append(("<=", float(target["max_ratio"])))
    if "max_cost_ratio" in target:
        bounds.append((">=", 1.0 / float(target["max_cost_ratio"])))
    return bounds


def describe_ratio(target, ratio):
    """The measured ratio and its bound, in the direction the target is written.

    `ratio` is how many times better the benchmark is than its baseline. A bound below 1
    (min_ratio 0.3333: "costs at most 3x the baseline") is a cost bound, so it is shown as the
    cost factor 1/ratio against 1/bound: "39x the baseline's time (target <= 3x)", never as an
    inverted fraction "0.03x (target >= 0.3333x)". Bounds of 1 or more read as "N x better".
    """
    bounds = ratio_bounds(target)
    as_cost = any(0 < b < 1 for _, b in bounds)
    if as_cost:
        flip = {">=": "<=", "<=": ">="}
        shown = " and ".join(f"{flip[op]} {times(1 / b)}" for op, b in bounds if b > 0)
        what = "the baseline's cost" if lower_is_better(target) else "slower than the baseline"
        if target.get("metric", "real_time") in ("real_time", "cpu_time"):
            what = "the baseline's time"
        return f"{times(1 / ratio)} {what} (target {shown})"
    shown = " and ".join(f"{op} {times(b)}" for op, b in bounds)
    return f"{times(ratio)} better than the baseline (target {shown})"


def fmt(value, metric):
    if metric in ("real_time", "cpu_time"):
        return f"{value:.1f} ns" if value < 1e5 else f"{value / 1e6:.2f} ms"
    if value >= 1e6:
        return f"{value / 1e6:.2f}M {metric}"
    if value >= 1e3:
        return f"{value / 1e3:.1f}k {metric}"
    return f"{value:.3g} {metric}"


def table(results, names):
    counters = sorted({k for n in names for k in results[n] if not k.startswith("_")
                       and k not in ("real_time", "cpu_time")})
    head = ["benchmark", "real time (median)", "reps"] + counters
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for n in names:
        r = results[n]
        row = [f"`{n}`", fmt(r.get("real_time", 0.0), "real_time"), str(r.get("_repetitions", 0))]
        for c in counters:
            v = r.get(c)
            row.append("" if v is None else fmt(v, "").strip())
        lines.append("| " + " | ".join(row) + " |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", help="Google Benchmark JSON files")
    ap.add_argument("--targets", default=str(Path(__file__).with_name("targets.json")))
    ap.add_argument("--section", action="append", help="targets.json section(s) to check (default: all)")
    ap.add_argument("--docs", help="markdown file whose <!-- report:SECTION --> block is rewritten")
    ap.add_argument("--command", default="", help="the command that produced the results, for the docs")
    args = ap.parse_args()

    results, context = load(args.results)
    targets = json.loads(Path(args.targets).read_text())
    sections = args.section or list(targets)
    lines = []
    failed = False
    for section in sections:
        for t in targets.get(section, []):
            status, detail = evaluate(t, results)
            failed |= status != "PASS"
            line = f"{status:7} [{section}] {t['id']}: {detail}"
            print(line)
            lines.append(line)
    if not lines:
        print("no targets for the selected sections")

    if args.docs:
        if not args.section or len(args.section) != 1:
            sys.exit("--docs needs exactly one --section")
        section = args.section[0]
        names = sorted(results)
        host = context.get("host_name", "?")
        cpus = context.get("num_cpus", "?")
        # library_build_type is how the Google Benchmark library itself was compiled (Debian's
        # libbenchmark package reports "debug"); it says nothing of the code being measured.
        block = [f"<!-- report:{section} -->",
                 f"Measured on {host} ({cpus} CPUs, {context.get('date', '?')}); millrace and the "
                 f"peers built Release by the bench preset (the harness library, Google Benchmark as "
                 f"Debian ships it, reports its own build type as "
                 f"{context.get('library_build_type', '?')}: that is not the measured code).", ""]
        if args.command:
            block += ["```", args.command, "```", ""]
        block += table(results, names) + ["", "Targets (`benchmarks/targets.json`):", "", "```"] + lines + ["```",
                 f"<!-- /report:{section} -->"]
        doc = Path(args.docs)
        text = doc.read_text() if doc.exists() else ""
        pattern = re.compile(rf"<!-- report:{re.escape(section)} -->.*?<!-- /report:{re.escape(section)} -->", re.S)
        if pattern.search(text):
            text = pattern.sub(lambda _: "\n".join(block), text)
        else:
            text += f"\n## {section}\n\n" + "\n".join(block) + "\n"
        doc.write_text(text)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
