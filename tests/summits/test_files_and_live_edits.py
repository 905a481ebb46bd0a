"""Schedule files and live edits together (DESIGN.md §8), on SQLite and PostgreSQL: a load
applies what a file changed since it was last applied, so live edits (``set_attendance``,
an uploaded schedule) survive restarts and file changes that do not touch them; where
both changed a field, the file wins and the result says so."""

from __future__ import annotations

import shutil
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from summitcal.summits import tables as t
from summitcal.summits.changes import REMOVED_NOTE
from summitcal.summits.merge import OTHER_SESSION_FIELDS, SESSION_FIELDS, Override
from summitcal.summits.model import Attendance, Session
from summitcal.summits.schedule_file import load_files, load_text

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
ASTANA = "astana-2024"
COUNCIL = (ASTANA, "sco-council")
ARRIVED = "Arrived in Astana on Wednesday 3 July (Kremlin statement)"
LIVE = Attendance("putin", "video", note="Plans changed")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the shipped schedules, for the test to edit."""
    target = tmp_path / "schedules"
    shutil.copytree(ROOT / "schedules", target)
    return target


def edit(folder: Path, old: str, new: str, name: str = "astana-2024.toml") -> None:
    path = folder / name
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def load(store, folder: Path, hours: int = 0, dry_run: bool = False):
    return store.apply_files(load_files([folder]), "load", dry_run=dry_run,
                             now=T0 + timedelta(hours=hours))


def attendance(store, key=COUNCIL) -> tuple[Attendance, ...]:
    return store.session(*key).attendance


def applied_rows(store) -> list[tuple]:
    table = t.schedule_files
    with store.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(
            sa.select(table.c.summit, table.c.sha256, table.c.applied_at, table.c.revision_id)
            .order_by(table.c.summit))]


def test_regression_a_restart_with_unchanged_files_keeps_live_edits(store, folder):
    assert load(store, folder).revision == 1
    store.set_attendance(*COUNCIL, LIVE, "cli attendance", now=T0 + timedelta(hours=1))
    rows = applied_rows(store)

    again = load(store, folder, hours=2)

    assert (again.revision, again.changes, again.overrides) == (None, (), ())
    assert attendance(store) == (LIVE,)
    assert store.version() == 2
    assert applied_rows(store) == rows, "an unchanged file writes nothing"


def test_a_file_change_applies_only_itself_and_unrelated_live_edits_survive(store, folder):
    load(store, folder)
    store.set_attendance(*COUNCIL, LIVE, "api attendance")
    edit(folder, 'status = "tentative"', 'status = "confirmed"')

    result = load(store, folder, hours=1)

    assert [(c.session, c.field, c.old, c.new) for c in result.changes] == [
        ("sco-council", "status", "tentative", "confirmed")]
    assert result.overrides == ()
    session = store.session(*COUNCIL)
    assert (session.status, session.attendance) == ("confirmed", (LIVE,))


def test_where_both_changed_a_field_the_file_wins_and_says_so(store, folder):
    load(store, folder)
    store.set_attendance(*COUNCIL, LIVE, "cli attendance")
    edit(folder, f'mode = "in_person"\nnote = "{ARRIVED}"', 'mode = "absent"')

    dry = load(store, folder, hours=1, dry_run=True)
    assert attendance(store) == (LIVE,), "a dry run applies nothing"
    result = load(store, folder, hours=1)

    assert [str(c) for c in result.changes] == [
        "astana-2024/sco-council: attendance changed putin video -> absent"]
    assert result.overrides == (Override(
        "astana-2024/sco-council", "attendance putin", 'video "Plans changed"',
        f'in_person "{ARRIVED}"', "absent"),)
    assert str(result.overrides[0]) == (
        f'astana-2024/sco-council: attendance putin: the file\'s change (in_person "{ARRIVED}"'
        ' -> absent) overrides the live edit (video "Plans changed")')
    assert (dry.changes, dry.overrides) == (result.changes, result.overrides)
    assert attendance(store) == (Attendance("putin", "absent"),)


def test_the_first_load_of_a_file_is_applied_whole(store, folder):
    """No record of the file yet (e.g. a database from before the records): as before,
    the store is made to look like the file."""
    store.apply(load_files([folder]).schedule, "an earlier version", now=T0)
    store.set_attendance(*COUNCIL, LIVE, "cli attendance")

    result = load(store, folder, hours=1)

    assert [(c.participant, c.old, c.new) for c in result.changes] == [
        ("putin", "video", "in_person")]
    assert result.overrides == ()
    assert [r[0] for r in applied_rows(store)] == [ASTANA, "dushanbe-2021"]


def test_a_session_dropped_from_its_file_is_cancelled_with_its_live_edits(store, folder):
    load(store, folder)
    store.set_attendance(*COUNCIL, LIVE, "cli attendance")
    text = (folder / "astana-2024.toml").read_text(encoding="utf-8")
    start = text.index("[[sessions]]\nid = \"sco-council\"")
    end = text.index("[[sessions]]\nid = \"putin-bilaterals\"")
    (folder / "astana-2024.toml").write_text(text[:start] + text[end:], encoding="utf-8")

    result = load(store, folder, hours=1)

    assert [(c.kind, c.session, c.note) for c in result.changes] == [
        ("cancelled", "sco-council", REMOVED_NOTE)]
    session = store.session(*COUNCIL)
    assert (session.status, session.attendance) == ("cancelled", (LIVE,))


def test_an_uploaded_schedule_is_a_live_edit_that_file_changes_respect(store, folder):
    """The admin API's upload (``load_text``) changes the store, not the file's record: a
    session it added and a venue it set stay when the file changes something else."""
    load(store, folder)
    text = (folder / "astana-2024.toml").read_text(encoding="utf-8")
    uploaded = text.replace('status = "tentative"', 'status = "tentative"\n'
                            'venue = "Palace of Independence, Astana"', 1) + (
        '\n[[sessions]]\nid = "press"\ntitle = "Press conference"\ndate = 2024-07-04\n')
    assert store.apply(load_text(uploaded), "api schedules", now=T0).revision == 2
    edit(folder, "Several bilateral meetings", "Bilateral meetings")

    result = load(store, folder, hours=1)

    assert [(c.session, c.field) for c in result.changes] == [
        ("putin-bilaterals", "description")]
    assert store.session(*COUNCIL).venue == "Palace of Independence, Astana"
    assert store.session(ASTANA, "press").status == "confirmed"


def test_records_merge_field_by_field(store, folder):
    load(store, folder)
    text = (folder / "astana-2024.toml").read_text(encoding="utf-8")
    store.apply(load_text(text.replace('role = "President of Russia"',
                                       'role = "President of the Russian Federation"')),
                "api schedules", now=T0)
    for name in ("astana-2024.toml", "dushanbe-2021.toml"):
        edit(folder, 'name = "Vladimir Putin"', 'name = "Vladimir V. Putin"', name)

    result = load(store, folder, hours=1)

    assert [(c.participant, c.field) for c in result.changes] == [("putin", "name")]
    person = store.schedule().participants["putin"]
    assert (person.name, person.role) == (
        "Vladimir V. Putin", "President of the Russian Federation")


def test_formatting_and_comments_are_not_changes(store, folder):
    load(store, folder)
    before = applied_rows(store)
    edit(folder, "[summit]", "# Edited by the desk.\n\n[summit]")

    result = load(store, folder, hours=1)

    assert (result.revision, result.changes) == (None, ())
    after = applied_rows(store)
    assert after[0][1] != before[0][1] and after[0][2] == T0 + timedelta(hours=1)
    assert after[1] == before[1]


def test_the_merge_names_every_session_field():
    named = [n for group in SESSION_FIELDS.values() for n in group] + list(OTHER_SESSION_FIELDS)
    assert sorted(named) == sorted(f.name for f in fields(Session))
