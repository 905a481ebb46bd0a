"""A schedule file's sessions as last applied are stored compressed beside its other content
(regression: at 50,000 sessions they were 60 MB of JSON in a 160 MB database, written and
then copied again out of SQLite's write-ahead log by every cold load), on SQLite and
PostgreSQL, and migration 0011 moves rows written before it."""

from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from summitcal.core import database
from summitcal.summits import applied
from summitcal.summits import tables as t
from summitcal.summits.content import REFERENCES, encode, referenced
from summitcal.summits.model import Attendance, AttendanceMode
from summitcal.summits.schedule_file import load_files
from summitcal.summits.store import Store

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


def test_regression_applied_sessions_are_stored_compressed(store: Store) -> None:
    loaded = load_files([ROOT / "schedules"])
    store.apply_files(loaded, "load")
    with store.engine.connect() as connection:
        rows = connection.execute(sa.select(t.schedule_files)).all()
    assert len(rows) == len(loaded.files) == 2
    for row in rows:
        assert "sessions" not in row.content
        [file] = [f for f in loaded.files if f.summit == row.summit]
        sessions = json.loads(zlib.decompress(row.sessions))  # any zlib reads it
        assert sessions == json.loads(json.dumps(encode(file.content)["sessions"]))
        assert len(row.sessions) * 3 < len(json.dumps(sessions).encode("utf-8")) * 2
    with database.reading(store.engine) as connection:
        back = applied.read(connection)
    assert {s: a.content for s, a in back.items()} == {f.summit: f.content
                                                        for f in loaded.files}


def test_migration_0011_moves_the_sessions_of_rows_written_before(database_url: str) -> None:
    loaded = load_files([ROOT / "schedules"])
    with Store(database_url) as store:
        database.upgrade(store.engine, "0010")
        old_files = sa.table("schedule_files", *(sa.column(c) for c in (
            "summit", "path", "sha256", "applied_at", "revision_id")),
            sa.column("content", sa.JSON()))
        revision = store.apply(loaded.schedule, "load", now=NOW).revision
        with database.writing(store.engine) as connection:
            for file in loaded.files:  # as applied.write stored them before 0011
                content = encode(file.content) | {
                    REFERENCES: referenced(file.content)}
                connection.execute(sa.insert(old_files).values(
                    summit=file.summit, path=file.path, sha256=file.sha256, content=content,
                    applied_at=NOW, revision_id=revision))
        store.upgrade()
        with database.reading(store.engine) as connection:
            back = applied.read(connection)
            packed = connection.execute(sa.select(t.schedule_files.c.content,
                                                  t.schedule_files.c.sessions)).all()
        assert {s: a.content for s, a in back.items()} == {f.summit: f.content
                                                            for f in loaded.files}
        assert all("sessions" not in row.content and row.sessions for row in packed)

        # A live edit, then the files loaded again unchanged: the edit survives, which
        # takes the migrated rows as the base of the three-way apply.
        store.set_attendance("astana-2024", "sco-council",
                             Attendance("putin", AttendanceMode.VIDEO), "cli")
        again = store.apply_files(load_files([ROOT / "schedules"],
                                             applied=store.applied_files()), "load")
        assert again.changes == ()
        assert store.session("astana-2024", "sco-council").attendance_of("putin").mode == \
            AttendanceMode.VIDEO

        with database.writing(store.engine) as connection:
            from alembic import command

            command.downgrade(database.alembic_config(connection), "0010")
        with store.engine.connect() as connection:
            contents = [row.content for row in connection.execute(sa.select(old_files))]
        assert {c["summits"][0]["id"]: c["sessions"] for c in contents} == {
            f.summit: json.loads(json.dumps(encode(f.content)["sessions"]))
            for f in loaded.files}
