"""Requests that arrive together right after a change share one build of the feed and
one gzip of it (regression guard for the after-change path: each waiting request used to
be able to start its own). Not a timing test: builds and compressions are counted."""

from __future__ import annotations

import gzip
import threading
from pathlib import Path

from summitcal.summits.model import Attendance
from tests.web.test_http import ROOT, make_runtime

ASKING = 8


def _ask_together(runtime, name: str) -> list[bytes]:
    start = threading.Barrier(ASKING)
    results: list[bytes] = []

    def ask() -> None:
        start.wait()
        results.append(runtime.feeds.get(name).gzipped)

    threads = [threading.Thread(target=ask) for _ in range(ASKING)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_gets_after_a_change_make_one_build_and_one_gzip(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        _ = runtime.feeds.get("all").gzipped
        service = runtime.feeds
        for mode in ("video", "in_person", "absent"):
            runtime.set_attendance("astana-2024", "sco-council", Attendance("putin", mode),
                                   source="test")
            builds, compressed = service.builds["all"], service.joiner.compressed
            results = _ask_together(runtime, "all")
            assert service.builds["all"] == builds + 1  # one build for this version
            assert len({id(r) for r in results}) == 1  # one gzip, shared
            body = runtime.feeds.get("all").body
            assert gzip.decompress(results[0]) == body
            # Only the chunk(s) around the changed event were compressed again.
            assert service.joiner.compressed - compressed <= 3
    finally:
        runtime.close()


def test_an_unchanged_feed_is_not_built_again(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        _ask_together(runtime, "summits/astana-2024")
        _ask_together(runtime, "summits/astana-2024")
        assert runtime.feeds.builds["summits/astana-2024"] == 1
    finally:
        runtime.close()
