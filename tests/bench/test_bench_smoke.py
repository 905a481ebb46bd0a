"""Smoke test of the feed benchmark: ``bench/feeds.py --quick`` runs and prints every figure.

No timing is asserted (timings are not tests); only that the run completes, that each
figure is there with a value, and that every target row says PASS or FAIL.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "feeds.py"

# (row label start, unit of its value)
FIGURES = [
    ("1  cold build /feeds/all.ics", "ms"),
    ("2  re-assembly after 1 attendance change: service.get", "ms"),
    ("2b   builder assembly alone after 1 change", "ms"),
    ("2c   store re-read", "ms"),
    ("3  baseline: plain icalendar", "ms"),
    ("3  ratio baseline / re-assembly", "x"),
    ("4  cached GET 200", "ms"),
    ("4  GET 304 If-None-Match", "ms"),
    ("4b   cached GET 200 via httpx.ASGITransport", "ms"),
    ("4c   cached GET 200 via starlette TestClient", "ms"),
    ("5  peak RSS", "MB"),
]
TARGETS = ("2  re-assembly", "3  ratio", "4  cached GET 200", "4  GET 304", "5  peak RSS")
VALUE = {"ms": r"[0-9.]+ (?:ms|µs)", "x": r"[0-9]+x", "MB": r"[0-9]+ MB"}


def test_quick_run_prints_every_figure(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        cwd=tmp_path,  # the script must not depend on the working directory
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Traceback" not in run.stderr, run.stderr
    out = run.stdout
    for header in ("machine :", "python  :", "tz db   : tzdata ", "data    :", "feed    :",
                   "cpu time:", "memory  :"):
        assert header in out, f"missing {header!r} in:\n{out}"
    assert "bytes identical to the assembled feed: yes" in out, out
    lines = out.splitlines()
    for label, unit in FIGURES:
        found = [line for line in lines if line.startswith(label)]
        assert found, f"no row {label!r} in:\n{out}"
        assert re.search(rf"\s{VALUE[unit]}\s", found[0] + " "), found[0]
    for label in TARGETS:
        row = next(line for line in lines if line.startswith(label))
        assert re.search(r"\s(PASS|FAIL)$", row), row
    assert re.search(r"^targets: \d/5 met", out, re.MULTILINE), out


def test_check_exit_status_follows_the_targets(tmp_path: Path) -> None:
    """``--check`` exits 1 exactly when the run reports a failed target."""
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--check", "--repeat", "1",
         "--requests", "5", "--sessions", "150"],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        text=True,
        timeout=600,
    )
    assert run.returncode in (0, 1), run.stdout + run.stderr
    failed = "FAILED" in run.stdout
    assert run.returncode == (1 if failed else 0), run.stdout


HTTP_FIGURES = ["cold `summitcal load`", "reload after one change", "`/` (cached by revision",
                "`/summits/bench-http`", "first gzip GET /feeds/all.ics after a change",
                "plain icalendar + gzip", "4 concurrent gzip GETs right after a change",
                "peak RSS of serve", "first /feeds/all.ics after a restart"]


def test_http_quick_run_prints_every_figure(tmp_path: Path) -> None:
    """``bench/http.py --quick``: every figure of the table, each judged or marked info,
    and the builds of the concurrent GETs counted."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "http.py"), "--quick"],
                         cwd=tmp_path, capture_output=True, check=False, text=True,
                         timeout=900)
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert re.search(r"load average [0-9.]+ before, [0-9.]+ after", out), out
    for figure in HTTP_FIGURES:
        row = next((line for line in out.splitlines() if figure in line), None)
        assert row is not None, f"no row {figure!r} in:\n{out}"
        assert re.search(r"\s(PASS|FAIL|info)$", row), row
    assert re.search(r"4 concurrent gzip GETs right after a change\s+\d+ build\(s\)", out), out
    assert re.search(r"^targets: \d+/\d+ met", out, re.MULTILINE), out
