#!/usr/bin/env python3
"""Unit tests of benchmarks/plot.py: which numbers go on which plot, and the machine line.

The series are read from synthetic Google Benchmark JSON with known medians, so a plot that
picked the mean, the wrong metric, the wrong x or an unsorted axis fails here. Drawing is
checked where matplotlib is installed (Debian python3-matplotlib) and skipped, saying so,
elsewhere.
"""
import importlib.util
import json
import os
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("plot", ROOT / "benchmarks" / "plot.py")
plot = importlib.util.module_from_spec(spec)
spec.loader.exec_module(plot)


def run(name, real_time, unit="ns", **counters):
    return {"name": name, "run_name": name, "run_type": "iteration", "real_time": real_time,
            "cpu_time": real_time, "time_unit": unit, **counters}


CONTEXT = {"host_name": "vm", "num_cpus": 2, "date": "2026-12-08T02:00:00+00:00",
           "load_avg": [7.9, 7.5, 7.2]}
BENCHMARKS = [
    # Three repetitions: the median (20M), not the mean (40M), must be plotted.
    run("queue/2p2c/mpmc_queue", 1.0, items_per_second=10e6),
    run("queue/2p2c/mpmc_queue", 1.0, items_per_second=20e6),
    run("queue/2p2c/mpmc_queue", 1.0, items_per_second=90e6),
    run("queue/1p1c/mpmc_queue", 1.0, items_per_second=50e6),
    run("queue/1p2c/mpmc_queue", 1.0, items_per_second=30e6),
    run("route/lookup_1000/jump", 0.2, unit="us"),   # 200 ns
    run("route/lookup_10/jump", 100.0),
    run("route/lookup_100/jump", 150.0),
    run("sched/lateness/millrace", 10.0, unit="ms", p50_ms=0.5, p99_ms=2.0),
    run("sched/lateness/std_mutex", 10.0, unit="ms", p50_ms=1.5, p99_ms=9.0),
]


def write_json(folder):
    path = Path(folder) / "results.json"
    path.write_text(json.dumps({"context": CONTEXT, "benchmarks": BENCHMARKS}))
    return path


class Series(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.results, self.context = plot.load([write_json(self.tmp.name)])

    def tearDown(self):
        self.tmp.cleanup()

    def test_queue_points_are_medians_sorted_by_thread_count(self):
        got = plot.series(self.results, plot.PLOTS[0][2], "items_per_second")
        self.assertEqual(got, {"mpmc_queue": [("1p1c", 50e6), ("1p2c", 30e6), ("2p2c", 20e6)]})

    def test_route_times_in_ns_sorted_numerically(self):
        got = plot.series(self.results, plot.PLOTS[1][2], plot.PLOTS[1][3])
        self.assertEqual(got, {"jump": [("10", 100.0), ("100", 150.0), ("1000", 200.0)]})

    def test_missing_benchmarks_give_no_series(self):
        self.assertEqual(plot.series(self.results, plot.PLOTS[3][2], "items_per_second"), {})

    def test_machine_line_states_cpus_load_and_the_two_core_limit(self):
        line = plot.machine_line(self.context)
        self.assertIn("vm (2 CPUs, load average 7.9 7.5 7.2, 2026-12-08", line)
        self.assertIn("what 2 cores can do", line)
        self.assertNotIn("2 cores", plot.machine_line(dict(self.context, num_cpus=16)))


@unittest.skipUnless(importlib.util.find_spec("matplotlib"), "matplotlib not installed (python3-matplotlib)")
class Drawing(unittest.TestCase):
    def test_draws_the_plots_whose_benchmarks_are_present(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "img"
            status = plot.main([str(write_json(tmp)), "--out", str(out), "--command", "bench --x"])
            self.assertEqual(status, 0)
            self.assertEqual(sorted(os.listdir(out)),
                             ["queue_throughput.png", "route_lookup.png", "sched_lateness.png"])
            for name in os.listdir(out):
                self.assertEqual((out / name).read_bytes()[:8], b"\x89PNG\r\n\x1a\n", name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
