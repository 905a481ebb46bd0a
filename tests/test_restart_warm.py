"""``serve`` keeps its feed pieces when it stops and restores them when it starts, so the
first feed after a restart is not a cold build; what changed while it was down still
shows (regression: every restart rendered every event again)."""

from __future__ import annotations

import gc
import re
import time
from pathlib import Path

from tests.serving import Server, cli, free_port
from tests.test_serve import write_config


def test_restart_restores_pieces_and_shows_changes_made_while_down(tmp_path: Path) -> None:
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}")
    with Server(config) as server:
        _, _, before = server.get("/feeds/all.ics")
    kept = tmp_path / "data" / "feed-pieces.bin"
    assert kept.exists()
    done = cli("attendance", "astana-2024/sco-council", "putin", "video", config=config)
    assert done.returncode == 0, done.stderr
    with Server(config) as server:
        _, _, after = server.get("/feeds/all.ics")
        log = server.log.read_text()
    restored = re.search(r"feed pieces restored: (\d+)", log)
    assert restored and int(restored.group(1)) == before.count(b"BEGIN:VEVENT")
    assert after != before and after.count(b"BEGIN:VEVENT") == before.count(b"BEGIN:VEVENT")
    assert b"video link" in after


def etag(headers: dict[str, str]) -> str:
    return next(v for k, v in headers.items() if k.lower() == "etag")


def test_restart_without_changes_serves_the_kept_feed_at_once(tmp_path: Path) -> None:
    """The feeds kept at the last stop are served as they were (same bytes, ETag and gzip)
    while the database is still at the revision they show; a change made while the
    service was down makes them stale, and they are built again."""
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'db.sqlite3'}")
    gzip = {"Accept-Encoding": "gzip"}
    with Server(config) as server:
        _, headers, before = server.get("/feeds/all.ics")
        _, _, zipped = server.get("/feeds/all.ics", headers=gzip)
    with Server(config) as server:
        _, again_headers, again = server.get("/feeds/all.ics")
        _, _, again_zipped = server.get("/feeds/all.ics", headers=gzip)
        log = server.log.read_text()
    assert "feeds current: all" in log
    assert again == before and etag(again_headers) == etag(headers)
    assert again_zipped == zipped
    done = cli("attendance", "astana-2024/sco-council", "putin", "video", config=config)
    assert done.returncode == 0, done.stderr
    with Server(config) as server:
        _, after_headers, after = server.get("/feeds/all.ics")
        log = server.log.read_text()
    assert "feeds current: none" in log
    assert etag(after_headers) != etag(headers) and b"video link" in after


def test_regression_the_feed_build_slowed_the_schedulers_first_run(tmp_path: Path,
                                                                    monkeypatch) -> None:
    """The background build of /feeds/all.ics starts only once the scheduler has started:
    at 50,000 sessions the scheduler's first run on a database (every session remembered,
    in one write transaction) took over 30 s beside the build instead of 7 s, and the
    delivery workers and the heartbeat, waiting to write, failed with "database is
    locked"."""
    from summitcal.app import server
    from summitcal.app.config import load_config
    from summitcal.app.scheduling import Scheduling
    from summitcal.feeds.service import FeedService

    events: list[str] = []
    real_start = Scheduling.start

    def start(self: Scheduling) -> None:
        events.append("scheduler starting")
        real_start(self)
        events.append("scheduler started")

    monkeypatch.setattr(Scheduling, "start", start)
    monkeypatch.setattr(FeedService, "warm", lambda self: events.append("feed warm-up"))
    monkeypatch.setattr(server, "_serve_http", lambda *args: events.append("serving"))
    monkeypatch.chdir(tmp_path)
    config = load_config(write_config(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    server.serve(config, "127.0.0.1", free_port())
    deadline = time.monotonic() + 10
    while "feed warm-up" not in events and time.monotonic() < deadline:
        time.sleep(0.01)  # the warm-up runs on a thread of its own
    gc.unfreeze()  # the warm-up froze this test process's objects
    assert events.index("scheduler started") < events.index("feed warm-up")
    assert events[0] == "scheduler starting"
