"""Smoke test of the fan-out benchmark: a small run completes and prints every figure
(timings are not asserted: they are not tests)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "fanout.py"
ROWS = ("throughput, due instant → last accepted", "queued: rows committed, from the due instant",
        "first message late", "last message late", "p50 lateness", "p99 lateness",
        "APScheduler jobs", "peak RSS per worker process (1)", "baseline: bare smtplib loop",
        "ratio throughput / baseline", "load average at the end")


def test_a_small_run_prints_every_figure(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--subscribers", "60"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    for row in ROWS:
        assert row in run.stdout, f"{row!r} missing from:\n{run.stdout}"
    assert re.search(r"APScheduler jobs \(any number of subscribers\) +3  PASS", run.stdout)
    assert re.search(r"queued: rows committed, from the due instant .* -\d+ ms \(INSERT … "
                     r"SELECT \d+ ms\) +PASS", run.stdout), "rows are queued ahead of the instant"
