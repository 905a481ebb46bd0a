"""The runtime's schedule snapshot catches up with revisions made elsewhere, reading only
what they wrote, and never serves an older schedule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.summits.model import Attendance
from summitcal.summits.schedule_file import load_paths
from summitcal.summits.store import Store

ROOT = Path(__file__).resolve().parents[2]


def open_runtime(tmp_path: Path, database_url: str) -> Runtime:
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{database_url}"\n')
    return Runtime.open(load_config(config, env={}))


def test_snapshot_catches_up_with_other_writers(tmp_path, database_url):
    runtime = open_runtime(tmp_path, database_url)
    runtime.load([ROOT / "schedules"])
    first = runtime.snapshot()
    assert runtime.snapshot() is first  # nothing changed: the same object
    with Store(database_url) as other:
        other.set_attendance("astana-2024", "sco-council", Attendance("putin", "video"), "other")
    second = runtime.snapshot()
    assert second.version == first.version + 1
    changed = second.schedule.sessions[("astana-2024", "sco-council")]
    assert changed.attendance_of("putin").mode == "video" and changed.sequence == 1
    # Untouched sessions and unchanged records are the very same objects (the feed cache
    # relies on it), and the old snapshot is left as it was.
    key = ("dushanbe-2021", "csto-council")
    assert second.schedule.sessions[key] is first.schedule.sessions[key]
    assert second.schedule.participants is first.schedule.participants
    assert first.schedule.sessions[("astana-2024", "sco-council")].attendance_of(
        "putin").mode == "in_person"
    runtime.close()


def test_record_changes_are_seen(tmp_path, database_url):
    runtime = open_runtime(tmp_path, database_url)
    runtime.load([ROOT / "schedules"])
    before = runtime.snapshot()
    renamed = load_paths([ROOT / "schedules" / "astana-2024.toml"])
    person = renamed.participants["putin"]
    renamed.participants["putin"] = replace(person, role="President of the Russian Federation")
    with Store(database_url) as other:
        other.apply(renamed, "other")
    after = runtime.snapshot()
    assert after.schedule.participants["putin"].role == "President of the Russian Federation"
    assert before.schedule.participants["putin"].role == "President of Russia"
    feed = runtime.feeds.get("participants/putin").body
    assert b"President of the Russian Federation" in feed.replace(b"\r\n ", b"")
    runtime.close()
