"""Feeds updated by the sessions that changed (``feeds.assembly``) are byte for byte the
feeds built whole from the same schedule, whatever the changes: attendance, times moved
(in a zone with a repeated hour), sessions cancelled and back, new sessions, a record
renamed (every event showing it changes), over several feed kinds, their gzip form and
ETag included (with chunks made small, so a feed has many runs); and after a change only
the changed sessions are looked at, and only the runs around them made again (counted,
not timed)."""

from __future__ import annotations

import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.feeds import gzipped
from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.gzipped import GzipJoiner
from summitcal.feeds.select import select, title
from summitcal.summits.model import Attendance

SESSIONS = 24
PEOPLE = ["ana", "ben", "cho"]
FEEDS = ["all", "summits/madrid-2025", "participants/ben", "organizations/un"]
MODES = ["in_person", "video", "absent", "unknown"]


def document(hours: dict[int, int], cancelled: set[int], extra: int,
             renamed: bool) -> str:
    first = datetime(2025, 10, 25, 9)
    sessions: list[dict[str, Any]] = []
    for n in range(SESSIONS + extra):
        start = first + timedelta(hours=hours.get(n, n * 7 % 40))
        end = start + timedelta(minutes=45)
        # The span crosses the end of summer time (26 October, 02:00–02:59 twice): a time
        # in that hour says which of the two it is, as a schedule file must.
        folds = {"fold": 0} if any(_repeated(t) for t in (start, end)) else {}
        sessions.append({
            "id": f"s{n}", "title": f"Meeting {n}", "start": start, "end": end, **folds,
            "organizations": ["un"] if n % 2 else ["eu"],
            "status": "cancelled" if n in cancelled else "confirmed",
            "attendance": [{"participant": PEOPLE[n % 3], "mode": "in_person"}]})
    return tomli_w.dumps({
        "summit": {"id": "madrid-2025", "name": "Madrid summit", "city": "Madrid",
                   "country": "Spain", "timezone": "Europe/Madrid"},
        "organizations": [{"id": "un", "name": "United Nations"},
                          {"id": "eu", "name": "European Union"}],
        "participants": [{"id": p, "name": p.title() + (" Jr" if renamed and p == "ben"
                                                        else "")} for p in PEOPLE],
        "sessions": sessions})


def _repeated(wall: datetime) -> bool:
    """Whether ``wall`` happens twice in Madrid (the clocks go back over it)."""
    zone = ZoneInfo("Europe/Madrid")
    return (wall.replace(tzinfo=zone, fold=0).utcoffset()
            != wall.replace(tzinfo=zone, fold=1).utcoffset())


OPS = st.one_of(
    st.tuples(st.just("attend"), st.integers(0, SESSIONS - 1), st.sampled_from(PEOPLE),
              st.sampled_from(MODES)),
    st.tuples(st.just("move"), st.integers(0, SESSIONS - 1), st.integers(0, 60)),
    st.tuples(st.just("cancel"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("reinstate"), st.integers(0, SESSIONS - 1)),
    st.tuples(st.just("add"), st.integers(1, 3)),
    st.tuples(st.just("rename"), st.booleans()),
)


def reference(runtime: Runtime, name: str) -> bytes:
    snapshot = runtime.snapshot()
    service = runtime.feeds
    kind, _, ident = name.partition("/")
    sessions = select(snapshot.schedule, kind, ident or None, service.clock(),
                      service.settings.cancelled_retention)
    return feed_bytes(title(snapshot.schedule, kind, ident or None), sessions,
                      snapshot.schedule, service.settings,
                      participant=ident if kind == "participants" else None)


@settings(max_examples=20, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=8))
def test_updated_feeds_equal_feeds_built_whole(ops: list[tuple]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = open_runtime(Path(tmp))
        try:
            hours: dict[int, int] = {}
            cancelled: set[int] = set()
            state = {"extra": 0, "renamed": False}
            runtime.load_text(document(hours, cancelled, 0, False), source="test")
            for name in FEEDS:
                runtime.feeds.get(name)
            for op in ops:
                if op[0] == "attend":
                    runtime.set_attendance("madrid-2025", f"s{op[1]}",
                                           Attendance(op[2], op[3]), source="test")
                else:
                    if op[0] == "move":
                        hours[op[1]] = op[2]
                    elif op[0] == "cancel":
                        cancelled.add(op[1])
                    elif op[0] == "reinstate":
                        cancelled.discard(op[1])
                    elif op[0] == "add":
                        state["extra"] += op[1]
                    else:
                        state["renamed"] = op[1]
                    runtime.load_text(document(hours, cancelled, state["extra"],
                                               state["renamed"]), source="test")
                for name in FEEDS:
                    assert runtime.feeds.get(name).body == reference(runtime, name), (op, name)
                    check_gzip_and_etag(runtime, name)
        finally:
            runtime.close()


def check_gzip_and_etag(runtime: Runtime, name: str) -> None:
    """The served gzip member and ETag are those of the feed built whole by a new builder
    and compressed by a new joiner."""
    snapshot = runtime.snapshot()
    service = runtime.feeds
    kind, _, ident = name.partition("/")
    sessions = select(snapshot.schedule, kind, ident or None, service.clock(),
                      service.settings.cancelled_retention)
    whole = FeedBuilder(service.settings).assemble(
        title(snapshot.schedule, kind, ident or None), sessions, snapshot.schedule,
        participant=ident if kind == "participants" else None)
    served = service.get(name)
    assert served.gzipped == GzipJoiner().gzip(whole.parts, whole.cuts), name
    assert served.etag == f'"{whole.digest[:32]}"', name
    assert list(served.parts) == whole.parts and list(served.cuts or []) == whole.cuts


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of about 1 kB (an event or two), and runs cut again past 4 kB."""
    monkeypatch.setattr(gzipped, "TARGET_BYTES", 1024)
    monkeypatch.setattr(gzipped, "MAX_BYTES", 4096)
    monkeypatch.setattr(gzipped, "LONG_RUN", 2)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(OPS, min_size=1, max_size=6))
def test_updated_feeds_in_many_runs_equal_feeds_built_whole(small_chunks: None,
                                                            ops: list[tuple]) -> None:
    test_updated_feeds_equal_feeds_built_whole.hypothesis.inner_test(ops)


def test_a_change_makes_again_only_the_runs_around_it(tmp_path: Path,
                                                      small_chunks: None) -> None:
    runtime = open_runtime(tmp_path)
    try:
        runtime.load_text(document({}, set(), 0, False), source="test")
        _ = runtime.feeds.get("all").gzipped
        assembly = runtime.feeds.assembly("all")
        assert assembly is not None
        runs = len(assembly.runs)
        assert runs >= 8  # the feed is many runs
        made, compressed = assembly.runs_made, runtime.feeds.joiner.compressed
        runtime.set_attendance("madrid-2025", "s3", Attendance("ana", "video"), source="t")
        check_gzip_and_etag(runtime, "all")
        assert assembly.runs_made - made <= 2  # the run of s3 (and, at most, its neighbour)
        assert runtime.feeds.joiner.compressed - compressed <= 4
    finally:
        runtime.close()


def open_runtime(folder: Path) -> Runtime:
    """A runtime on a new SQLite database in ``folder``."""
    config = folder / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                      f'[database]\nurl = "sqlite:///{folder}/db.sqlite3"\n')
    return Runtime.open(load_config(config, env={}))


def test_after_a_change_only_the_changed_sessions_are_looked_at(tmp_path: Path) -> None:
    runtime = open_runtime(tmp_path)
    try:
        runtime.load_text(document({}, set(), 0, False), source="test")
        runtime.feeds.get("all")
        builds = runtime.feeds.builds["all"]
        runtime.set_attendance("madrid-2025", "s3", Attendance("ana", "video"), source="t")
        assert b"video link" in runtime.feeds.get("all").body
        assert runtime.feeds.builds["all"] == builds + 1
        assert runtime.feeds.assembly("all").looked_at == 1  # one session, not all
    finally:
        runtime.close()
