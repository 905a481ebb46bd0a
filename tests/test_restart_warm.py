"""``serve`` keeps its feed pieces when it stops and restores them when it starts, so the
first feed after a restart is not a cold build; what changed while it was down still
shows (regression: every restart rendered every event again)."""

from __future__ import annotations

import re
from pathlib import Path

from tests.serving import Server, cli
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
