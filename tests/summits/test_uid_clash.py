"""Two sessions, one UID: ``{summit}-{session}`` is ambiguous because both ids may contain
"-" (tests/data/cases/uid-collision: "sco-2025"/"council" and "sco"/"2025-council" both
give "sco-2025-council@host"), and calendar apps merge events that share a UID. Loading
refuses the second session, naming both; no two sessions in any feed share a UID."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from summitcal.app.cli import main
from summitcal.core.errors import ScheduleError, UidClash
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.schedule_file import load_paths, load_text

CASE = Path(__file__).resolve().parents[1] / "data" / "cases" / "uid-collision"
SCO, SCO_2025 = CASE / "sco.toml", CASE / "sco-2025.toml"


def test_uid_collision_refused_naming_both_files():
    with pytest.raises(ScheduleError) as info:
        load_paths([CASE])
    [problem] = info.value.problems
    assert problem.path == "sessions[0].id"
    assert problem.file == str(SCO) and str(SCO_2025) in problem.message
    assert "sco-2025-council@" in problem.message and "same calendar UID" in problem.message


def test_uid_collision_with_a_stored_session_refused_and_nothing_applied(store):
    store.apply(load_paths([SCO]), "first")
    version, before = store.version(), store.schedule()
    with pytest.raises(UidClash) as info:
        store.apply(load_paths([SCO_2025]), "second")
    assert "sco-2025/council" in str(info.value) and "sco/2025-council" in str(info.value)
    assert store.version() == version and store.schedule() == before


def test_uid_collision_stored_sessions_keep_loading(store):
    """The refusal is for new sessions only: reloading what is stored still works, and
    cancelling (dropping a session from its file) does not free its UID."""
    store.apply(load_paths([SCO]), "first")
    assert store.apply(load_paths([SCO]), "again").changes == ()
    renamed = SCO.read_text().replace('id = "2025-council"', 'id = "foreign-ministers"')
    result = store.apply(load_text(renamed), "rename")
    assert {c.kind for c in result.changes} == {"added", "cancelled"}
    with pytest.raises(UidClash):
        store.apply(load_paths([SCO_2025]), "cancelled sessions keep their UID")


def test_uid_collision_cli_one_line_per_problem_exit_1(tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite3"}"\n')
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    assert main(["--config", str(config), "load", str(CASE)]) == 1
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == "" and len(lines) == 2 and "Traceback" not in err
    assert str(SCO) in lines[0] and str(SCO_2025) in lines[0]
    assert lines[1] == "error: 1 problem(s); nothing applied"
    assert main(["--config", str(config), "load", str(SCO)]) == 0
    assert main(["--config", str(config), "load", str(SCO_2025)]) == 1
    err = capsys.readouterr().err
    # Like every other problem of a file: the file and the field, then the summary line.
    lines = err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{SCO_2025}: session council: session "
                                                   "sco-2025/council ")
    assert "(already stored)" in lines[0] and lines[1] == "error: 1 problem(s); nothing applied"


def test_regression_check_finds_a_uid_clash_with_a_stored_session(tmp_path, capsys,
                                                                   monkeypatch):
    """``check`` lists every problem that would stop ``load`` or ``serve``: a new session
    taking the calendar UID of one already in the database too (it used to say ok)."""
    database = tmp_path / "db.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{database}"\n'
                      f'[service]\ndata_dir = "{tmp_path / "data"}"\n')
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    assert main(["--config", str(config), "check", str(SCO_2025)]) == 0
    assert not database.exists()  # check makes no database
    assert main(["--config", str(config), "load", str(SCO)]) == 0
    capsys.readouterr()
    assert main(["--config", str(config), "check", str(SCO_2025)]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{SCO_2025}: session council: ")
    assert "(already stored)" in lines[0] and lines[1] == "error: 1 problem(s)"
    assert main(["--config", str(config), "check", str(SCO)]) == 0  # stored ones are fine


IDS = st.from_regex(r"[a-z0-9]{1,2}(-[a-z0-9]{1,2}){0,2}", fullmatch=True)


def _document(summit: str, sessions: list[str]) -> str:
    return tomli_w.dumps({
        "summit": {"id": summit, "name": summit, "city": "C", "country": "X", "timezone": "UTC"},
        "sessions": [{"id": ident, "title": ident, "date": date(2025, 1, 1)}
                     for ident in sessions]})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(summits=st.dictionaries(IDS, st.lists(IDS, min_size=1, max_size=3, unique=True),
                               min_size=1, max_size=3))
def test_uid_collision_never_two_sessions_with_one_uid(tmp_path_factory, summits):
    """Whatever the ids: either the files are refused for a UID clash, or every event of
    the feed has its own UID."""
    folder = tmp_path_factory.mktemp("files")
    for summit, sessions in summits.items():
        (folder / f"{summit}.toml").write_text(_document(summit, sessions))
    keys = [f"{summit}-{session}" for summit, sessions in summits.items() for session in sessions]
    try:
        schedule = load_paths([folder])
    except ScheduleError as error:
        assert len(set(keys)) < len(keys)
        assert all("same calendar UID" in p.message for p in error.problems)
        return
    body = feed_bytes("all", schedule.sessions.values(), schedule,
                      FeedSettings("https://cal.example.org"))
    uids = [str(e["UID"]) for e in Calendar.from_ical(body).walk("VEVENT")]
    assert len(uids) == len(set(uids)) == len(keys)
