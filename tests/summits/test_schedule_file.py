"""Loading and checking schedule files (SPEC "Schedule files")."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from summitcal.core.errors import ScheduleError
from summitcal.summits.schedule_file import load_paths, load_text
from tests.summits.broken_cases import BASE, CASES, Case

ROOT = Path(__file__).resolve().parents[2]


def load_one(tmp_path: Path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_paths([path])


def test_base_case_is_valid(tmp_path):
    schedule = load_one(tmp_path, BASE)
    opening = schedule.sessions[("madrid-test", "opening")]
    assert opening.starts_at == datetime(2024, 3, 30, 9, 0, tzinfo=UTC)
    assert opening.attendance[0].delegate == "lavrov"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_file_is_rejected_with_its_field_path(tmp_path, case: Case):
    path = tmp_path / f"{case.name}.toml"
    path.write_bytes(case.text())
    with pytest.raises(ScheduleError) as info:
        load_paths([path])
    expected_prefix = f"{path}: {case.path}: " if case.path else f"{path}: "
    lines = str(info.value).splitlines()
    assert any(line.startswith(expected_prefix) and case.words in line for line in lines), lines


def test_every_problem_is_reported_at_once(tmp_path):
    text = BASE.replace('title = "Opening"', "title = 1").replace(
        'participant = "putin"', 'participant = "xi"').replace("date = 2024-04-01", "")
    with pytest.raises(ScheduleError) as info:
        load_one(tmp_path, text)
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["sessions[0].attendance[0].participant", "sessions[0].title", "sessions[1]"]


def test_repeated_hour_with_fold_keeps_its_instant(tmp_path):
    for fold, utc_hour in ((0, 0), (1, 1)):
        text = BASE.replace("start = 2024-03-30T10:00:00", f"start = 2024-10-27T02:30:00\nfold = {fold}")
        text = text.replace("end = 2024-03-30T12:00:00", "end = 2024-10-27T04:00:00")
        session = load_one(tmp_path, text).sessions[("madrid-test", "opening")]
        assert session.starts_at == datetime(2024, 10, 27, utc_hour, 30, tzinfo=UTC)
        assert session.start.fold == fold


def test_offset_matching_the_zone_is_accepted(tmp_path):
    text = BASE.replace("start = 2024-03-30T10:00:00", "start = 2024-10-27T02:30:00+01:00")
    text = text.replace("end = 2024-03-30T12:00:00", "end = 2024-10-27T04:00:00")
    session = load_one(tmp_path, text).sessions[("madrid-test", "opening")]
    assert session.starts_at == datetime(2024, 10, 27, 1, 30, tzinfo=UTC)
    assert session.start.fold == 1  # the second 02:30, at UTC+1


def test_shared_records_must_agree_across_files(tmp_path):
    (tmp_path / "a.toml").write_text(BASE)
    other = BASE.replace('id = "madrid-test"', 'id = "other"').replace(
        'role = "President of Russia"', 'role = "Someone else"')
    (tmp_path / "b.toml").write_text(other)
    with pytest.raises(ScheduleError) as info:
        load_paths([tmp_path])
    assert "'putin' differs from its declaration in" in str(info.value)


def test_same_summit_in_two_files_is_an_error(tmp_path):
    (tmp_path / "a.toml").write_text(BASE)
    (tmp_path / "b.toml").write_text(BASE)
    with pytest.raises(ScheduleError, match="summit 'madrid-test' is also defined in"):
        load_paths([tmp_path])


def test_regression_a_duplicate_summit_does_not_hide_the_files_other_problems(tmp_path):
    (tmp_path / "a.toml").write_text(BASE)
    broken = (BASE.replace('participant = "putin"', 'participant = "xi"')
              .replace('organizations = ["sco"]', 'organizations = ["brics"]')
              .replace('delegate = "lavrov"', 'delegate = "wang"')
              .replace('id = "closing"', 'id = "opening"'))
    (tmp_path / "b.toml").write_text(broken)
    with pytest.raises(ScheduleError) as info:
        load_paths([tmp_path])
    b = str(tmp_path / "b.toml")
    assert [(p.file, p.path, p.message) for p in info.value.problems] == [
        (b, "sessions[0].organizations[0]", "unknown organisation 'brics'"),
        (b, "sessions[0].attendance[0].participant", "unknown participant 'xi'"),
        (b, "sessions[0].attendance[0].delegate", "unknown participant 'wang'"),
        (b, "sessions[1].id", "duplicate session id 'opening' (also sessions[0])"),
        (b, "summit.id", f"summit 'madrid-test' is also defined in {tmp_path / 'a.toml'}"),
    ]


def test_regression_a_duplicate_session_id_is_reported_when_the_other_is_broken_too(tmp_path):
    text = (BASE.replace('id = "closing"', 'id = "opening"')
            .replace("end = 2024-03-30T12:00:00", "end = 2024-03-30T09:00:00"))
    with pytest.raises(ScheduleError) as info:
        load_text(text, "madrid.toml")
    assert [(p.path, p.message.split(" (")[0]) for p in info.value.problems] == [
        ("sessions[0].end", "2024-03-30T09:00:00 is not after start"),
        ("sessions[1].id", "duplicate session id 'opening'"),
    ]


def test_missing_path_and_empty_directory(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ScheduleError) as info:
        load_paths([tmp_path / "nope.toml", tmp_path / "empty"])
    assert [p.message for p in info.value.problems] == [
        "no such file or directory", "directory has no .toml schedule files"]


def test_regression_a_dangling_link_or_a_folder_named_toml_is_a_problem(tmp_path):
    """A ``*.toml`` symbolic link to a missing file, or a directory so named, in a
    schedules folder was skipped without a word: its summit stayed as it was."""
    folder = tmp_path / "schedules"
    folder.mkdir()
    (folder / "madrid.toml").write_text(BASE, encoding="utf-8")
    (folder / "gone.toml").symlink_to(tmp_path / "moved-away.toml")
    (folder / "odd.toml").mkdir()
    with pytest.raises(ScheduleError) as info:
        load_paths([folder])
    assert [(Path(p.file).name, p.message) for p in info.value.problems] == [
        ("gone.toml", f"a symbolic link to nothing (it points to {tmp_path}/moved-away.toml)"),
        ("odd.toml", "not a file")]


def test_load_text_reports_the_given_name():
    with pytest.raises(ScheduleError, match=r"^<request>: not valid TOML"):
        load_text("[summit")


def test_shipped_schedules_follow_the_seeds():
    schedule = load_paths([ROOT / "schedules"])
    assert set(schedule.summits) == {"dushanbe-2021", "astana-2024"}
    csto = schedule.sessions[("dushanbe-2021", "csto-council")]
    assert (csto.date, csto.status, csto.all_day) == (date(2021, 9, 16), "confirmed", True)
    putin = csto.attendance_of("putin")
    assert (putin.mode, putin.announced) == ("video", date(2021, 9, 14))
    assert "Self-isolation" in putin.note
    joint = schedule.sessions[("dushanbe-2021", "csto-sco-joint")]
    assert joint.status == "tentative" and "not been announced" in joint.description
    astana = schedule.sessions[("astana-2024", "sco-council")]
    assert astana.attendance_of("putin").mode == "in_person"
    assert (astana.first_day, astana.last_day) == (date(2024, 7, 3), date(2024, 7, 4))
    # Astana keeps Asia/Almaty time, UTC+5 since 2024-03-01: local midnight is 19:00 UTC.
    assert astana.starts_at == datetime(2024, 7, 2, 19, 0, tzinfo=UTC)


def test_history_file_has_putin_in_person_everywhere():
    before = load_paths([ROOT / "history" / "dushanbe-2021-before-announcement.toml"])
    modes = {s.id: s.attendance_of("putin").mode for s in before.sessions.values()}
    assert modes == {"csto-council": "in_person", "sco-council": "in_person",
                     "csto-sco-joint": "in_person"}


@pytest.mark.parametrize("first, second", [
    ('mode = "teleport"', 'mode = "video"'), ('mode = "video"', 'mode = "teleport"')],
    ids=["bad-first", "bad-second"])
def test_regression_a_participant_listed_twice_is_reported_with_a_bad_mode(tmp_path, first,
                                                                            second):
    """An attendance item with a wrong mode hid that its participant was listed twice in
    the session: the operator fixed the mode, loaded again, and only then heard of it."""
    text = BASE.replace('mode = "delegated"\ndelegate = "lavrov"',
                        f'{first}\n\n[[sessions.attendance]]\nparticipant = "putin"\n{second}')
    with pytest.raises(ScheduleError) as info:
        load_one(tmp_path, text)
    found = {(p.path, "twice" in p.message) for p in info.value.problems}
    bad = 0 if "teleport" in first else 1
    assert found == {(f"sessions[0].attendance[{bad}].mode", False),
                     ("sessions[0].attendance[1].participant", True)}
