#!/usr/bin/env python3
"""Tests of benchmarks/report.py: ratios print the way their target reads, verdicts follow the
bounds, and a docs block says what the JSON's library_build_type is. Standard library only:
  python3 .ci/test_report.py
"""
import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import report  # noqa: E402


def verdict(target, bench, base):
    metric = target.get("metric", "real_time")
    t = dict(target, benchmark="b", baseline="a")
    return report.evaluate(t, {"b": {metric: bench}, "a": {metric: base}})


class RatioWording(unittest.TestCase):
    def test_cost_bound_reads_as_a_multiple_of_the_baseline(self):
        status, text = verdict({"metric": "cpu_time", "min_ratio": 0.3333}, 121.7, 3.1)
        self.assertEqual(status, "FAIL")
        self.assertTrue(text.startswith("39x the baseline's time (target <= 3x)"), text)
        self.assertNotIn("0.03", text)

    def test_max_cost_ratio_is_the_same_bound(self):
        self.assertEqual(verdict({"metric": "cpu_time", "max_cost_ratio": 3}, 121.7, 3.1)[1],
                         verdict({"metric": "cpu_time", "min_ratio": 1 / 3}, 121.7, 3.1)[1])
        self.assertEqual(verdict({"metric": "cpu_time", "max_cost_ratio": 3}, 6.0, 3.0)[0], "PASS")

    def test_speed_up_reads_as_times_better(self):
        status, text = verdict({"metric": "real_time", "min_ratio": 2.0}, 2.1, 8.6)
        self.assertEqual(status, "PASS")
        self.assertTrue(text.startswith("4.1x better than the baseline (target >= 2x)"), text)

    def test_throughput_bounds_on_both_sides(self):
        t = {"metric": "items_per_second", "min_ratio": 8.0, "max_ratio": 100.0}
        self.assertEqual(verdict(t, 9.0e6, 1.0e6)[0], "PASS")
        self.assertEqual(verdict(t, 7.0e6, 1.0e6)[0], "FAIL")
        self.assertEqual(verdict(t, 200.0e6, 1.0e6)[0], "FAIL")
        self.assertIn("(target >= 8x and <= 100x)", verdict(t, 9.0e6, 1.0e6)[1])

    def test_slower_throughput_against_a_cost_bound(self):
        status, text = verdict({"metric": "items_per_second", "min_ratio": 0.5}, 1.0e6, 4.0e6)
        self.assertEqual(status, "FAIL")
        self.assertTrue(text.startswith("4x slower than the baseline (target <= 2x)"), text)


class DocsBlock(unittest.TestCase):
    def test_header_line_explains_the_library_build_type(self):
        with tempfile.TemporaryDirectory() as d:
            res = Path(d, "r.json")
            res.write_text(json.dumps({
                "context": {"host_name": "h", "num_cpus": 2, "date": "d", "library_build_type": "debug"},
                "benchmarks": [{"name": "x/a", "run_type": "iteration", "real_time": 3.0, "cpu_time": 3.0,
                                "time_unit": "ns"},
                               {"name": "x/b", "run_type": "iteration", "real_time": 9.0, "cpu_time": 9.0,
                                "time_unit": "ns"}]}))
            targets = Path(d, "t.json")
            targets.write_text(json.dumps({"x": [{"id": "b <= 2x a", "benchmark": "x/b", "baseline": "x/a",
                                                  "metric": "real_time", "max_cost_ratio": 2}]}))
            docs = Path(d, "bench.md")
            docs.write_text("# B\n\n<!-- report:x -->\nold\n<!-- /report:x -->\n")
            r = subprocess.run([sys.executable, str(ROOT / "benchmarks/report.py"), str(res), "--targets",
                                str(targets), "--section", "x", "--docs", str(docs)],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)  # 3x against a 2x bound
            self.assertIn("FAIL    [x] b <= 2x a: 3x the baseline's time (target <= 2x)", r.stdout)
            text = docs.read_text()
            self.assertIn("Google Benchmark as Debian ships it, reports its own build type as debug", text)
            self.assertIn("Release", text)
            self.assertNotIn("old", text)


if __name__ == "__main__":
    unittest.main(verbosity=1)
