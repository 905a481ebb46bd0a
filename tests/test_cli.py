"""The command line: exit codes, messages, bad input that changes nothing, the replay.

Most tests call ``summitcal.app.cli.main`` in-process (fast); a few run the installed
``summitcal`` script as a subprocess to check real exit codes and stderr.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from summitcal.app.cli import main
from tests.summits.broken_cases import CASES, Case

ROOT = Path(__file__).resolve().parents[1]
BEFORE = ROOT / "history" / "dushanbe-2021-before-announcement.toml"
SCHEDULES = ROOT / "schedules"


@pytest.fixture
def workdir(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a config.toml pointing at a fresh database (SQLite, then PostgreSQL)."""
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                      f'[database]\nurl = "{database_url}"\n'
                      f'[schedules]\npaths = ["{SCHEDULES}"]\n')
    monkeypatch.setenv("SUMMITCAL_CONFIG", str(config))
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_load_prints_changes_and_loading_again_changes_nothing(workdir, capsys):
    code, out, _ = run(capsys, "load")
    assert code == 0
    assert "dushanbe-2021/csto-council: added" in out
    assert out.splitlines()[-1].startswith("revision 1: ")
    assert run(capsys, "load") == (0, "no changes\n", "")


def test_dry_run_applies_nothing(workdir, capsys):
    code, out, _ = run(capsys, "load", "--dry-run", str(SCHEDULES))
    assert code == 0 and "astana-2024/sco-council: added" in out
    assert out.splitlines()[-1].startswith("dry run: ")
    code, out, err = run(capsys, "feed", "all")
    assert code == 0 and b"BEGIN:VEVENT" not in out.encode()


def test_replay_through_the_cli(workdir, capsys):
    assert run(capsys, "load", str(BEFORE))[0] == 0
    before = feed_bytes(capsys, "participants/putin")
    assert b"(Putin: in person)" in before
    code, out, _ = run(capsys, "load", str(SCHEDULES))
    assert code == 0
    changed = [line for line in out.splitlines() if "attendance changed" in line]
    assert sorted(changed) == sorted(
        f"dushanbe-2021/{s}: attendance changed putin in_person -> video "
        "(Self-isolation after cases of coronavirus were detected in his entourage; "
        "he told Emomali Rahmon by telephone (Kremlin press service))"
        for s in ("csto-council", "sco-council", "csto-sco-joint"))
    after = feed_bytes(capsys, "participants/putin")
    assert b"(Putin: video link)" in after and b"SEQUENCE:1\r\n" in after
    assert run(capsys, "load", str(SCHEDULES))[1] == "no changes\n"
    assert feed_bytes(capsys, "participants/putin") == after


def feed_bytes(capsys, name: str) -> bytes:
    code, out, err = run(capsys, "feed", name)
    assert code == 0, err
    return out.encode("utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_broken_file_exits_1_and_changes_nothing(workdir, capsys, case: Case):
    assert run(capsys, "load")[0] == 0
    feed = feed_bytes(capsys, "all")
    version = _revision(capsys)
    broken = workdir / f"{case.name}.toml"
    broken.write_bytes(case.text())
    code, out, err = run(capsys, "load", str(SCHEDULES), str(broken))
    prefix = f"{broken}: {case.path}: " if case.path else f"{broken}: "
    assert code == 1
    assert any(line.startswith(prefix) and case.words in line for line in err.splitlines()), err
    assert err.splitlines()[-1].endswith("nothing applied")
    assert "Traceback" not in err and out == ""
    assert feed_bytes(capsys, "all") == feed
    assert _revision(capsys) == version


def _revision(capsys) -> int:
    from summitcal.app.config import load_config
    from summitcal.summits.store import Store

    with Store(load_config().database_url) as store:
        return store.version()


def test_directory_with_one_broken_file_applies_nothing(workdir, capsys):
    folder = workdir / "mixed"
    folder.mkdir()
    (folder / "astana-2024.toml").write_bytes((SCHEDULES / "astana-2024.toml").read_bytes())
    (folder / "zz-broken.toml").write_text("[summit]\nid = 'x'\n")
    code, _, err = run(capsys, "load", str(folder))
    assert code == 1 and "summit.name: is required" in err
    code, out, _ = run(capsys, "load", "--dry-run", str(SCHEDULES))
    assert "astana-2024/sco-council: added" in out  # nothing of it was applied


def test_regression_a_failed_first_load_left_an_empty_database(tmp_path, capsys, monkeypatch):
    """A first load that fails on its files (a missing path, a broken file) used to
    make and migrate the SQLite file first, and left it behind, empty."""
    database = tmp_path / "data" / "summitcal.sqlite3"
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                      f'[database]\nurl = "sqlite:///{database}"\n')
    monkeypatch.setenv("SUMMITCAL_CONFIG", str(config))
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    broken = tmp_path / "broken.toml"
    broken.write_text("[summit]\nid = 'x'\n")
    for argv, words in ((["load", str(tmp_path / "missing")], "missing"),
                        (["load", str(SCHEDULES), str(broken)], "summit.name: is required"),
                        (["load", "--dry-run", str(broken)], "summit.name: is required")):
        code, out, err = run(capsys, *argv)
        assert code == 1 and words in err and "Traceback" not in err and out == "", err
        assert not database.exists(), argv
    code, out, _ = run(capsys, "load", str(SCHEDULES))
    assert code == 0 and out.splitlines()[-1].startswith("revision 1: ") and database.exists()


def test_check_lists_every_problem(workdir, capsys):
    assert run(capsys, "check")[1].startswith("ok: 2 summit(s), 5 session(s) in the schedule files")
    bad = workdir / "bad.toml"
    bad.write_text((SCHEDULES / "astana-2024.toml").read_text()
                   .replace('mode = "in_person"', 'mode = "teleport"')
                   .replace("date = 2024-07-03", 'date = "3 July"', 1))
    code, _, err = run(capsys, "check", str(bad))
    lines = err.splitlines()
    assert code == 1 and len(lines) == 4 and "2 problem(s)" not in lines[-1]
    assert lines[-1] == "error: 3 problem(s)"  # check applies nothing, so says nothing of it


def test_attendance_command(workdir, capsys):
    run(capsys, "load")
    code, out, _ = run(capsys, "attendance", "astana-2024/sco-council", "putin", "video",
                       "--note", "Changed plans", "--announced", "2024-07-02")
    assert code == 0 and "attendance changed putin in_person -> video (Changed plans)" in out
    assert "(Putin: video link)" in run(capsys, "feed", "participants/putin")[1]
    assert run(capsys, "attendance", "astana-2024/sco-council", "putin", "video",
               "--note", "Changed plans", "--announced", "2024-07-02")[1] == "no changes\n"


@pytest.mark.parametrize("argv, words", [
    (["attendance", "astana-2024/nope", "putin", "video"], "unknown session"),
    (["attendance", "astana-2024/sco-council", "xi", "video"], "unknown participant: 'xi'"),
    (["attendance", "astana-2024", "putin", "video"], "expected SUMMIT/SESSION"),
    (["attendance", "astana-2024/sco-council", "putin", "hologram"], "'hologram' is not one of"),
    (["attendance", "astana-2024/sco-council", "putin", "video", "--delegate", "putin"],
     "only allowed with mode 'delegated'"),
    (["attendance", "astana-2024/sco-council", "putin", "delegated"],
     "mode 'delegated' needs a delegate"),
    (["feed", "summits/nope"], "unknown summit: 'nope'"),
    (["feed", "nonsense"], "unknown feed: 'nonsense'"),
    (["load", "no/such/dir"], "no/such/dir: no such file or directory"),
    (["frobnicate"], "No such command 'frobnicate'"),
])
def test_errors_are_one_line_and_exit_1(workdir, capsys, argv, words):
    run(capsys, "load")
    code, out, err = run(capsys, *argv)
    assert code == 1 and words in err and "Traceback" not in err, err


def test_regression_loading_again_keeps_a_live_attendance_edit(workdir, capsys):
    """A reload (what every ``serve`` start does) used to re-apply the files whole,
    undoing ``summitcal attendance`` and sending a notice about it."""
    assert run(capsys, "load")[0] == 0
    assert run(capsys, "attendance", "astana-2024/sco-council", "putin", "video",
               "--note", "Plans changed")[0] == 0
    assert run(capsys, "load") == (0, "no changes\n", "")
    assert "(Putin: video link)" in run(capsys, "feed", "participants/putin")[1]


def test_a_file_change_over_a_live_edit_says_so_and_dry_run_shows_the_same(workdir, capsys):
    folder = workdir / "schedules"
    shutil.copytree(SCHEDULES, folder)
    run(capsys, "load", str(folder))
    run(capsys, "attendance", "astana-2024/sco-council", "putin", "video", "--note", "Live")
    astana = folder / "astana-2024.toml"
    astana.write_text(astana.read_text().replace('status = "tentative"', 'status = "confirmed"',
                                                 1).replace('mode = "in_person"',
                                                            'mode = "absent"', 1))

    code, dry, _ = run(capsys, "load", "--dry-run", str(folder))
    code, out, _ = run(capsys, "load", str(folder))

    lines = out.splitlines()
    assert lines == [
        "astana-2024/sco-council: details changed status 'tentative' -> 'confirmed'",
        "astana-2024/sco-council: attendance changed putin video -> absent (Arrived in Astana "
        "on Wednesday 3 July (Kremlin statement))",
        "overridden: astana-2024/sco-council: attendance putin: the file's change (in_person "
        "\"Arrived in Astana on Wednesday 3 July (Kremlin statement)\" -> absent \"Arrived in "
        "Astana on Wednesday 3 July (Kremlin statement)\") overrides the live edit (video "
        "\"Live\")",
        "revision 3: 2 change(s), 1 live edit(s) overridden",
    ]
    assert dry.splitlines() == lines[:-1] + [
        "dry run: 2 change(s), 1 live edit(s) overridden, nothing applied"]


def test_regression_a_note_only_change_says_the_note_changed(workdir, capsys):
    run(capsys, "load")
    run(capsys, "attendance", "astana-2024/sco-council", "putin", "video", "--note", "First")
    code, out, _ = run(capsys, "attendance", "astana-2024/sco-council", "putin", "video",
                       "--note", "Second")
    assert out.splitlines()[0] == ("astana-2024/sco-council: attendance changed putin video: "
                                   "note changed (Second)")


def test_bad_config_stops_with_one_line(tmp_path, capsys, monkeypatch):
    config = tmp_path / "config.toml"
    config.write_text('[notices]\ndelay = "soon"\n')
    monkeypatch.setenv("SUMMITCAL_CONFIG", str(config))
    code, _, err = run(capsys, "load", str(SCHEDULES))
    assert code == 1
    assert err == (f"error: {config}: notices.delay = 'soon': expected a positive ISO 8601 "
                   "duration such as \"PT2M\" or \"P1D\"\n")
    code, _, err = run(capsys, "check")  # check lists it among its problems
    assert code == 1
    assert err == (f"{config}: notices.delay = 'soon': expected a positive ISO 8601 "
                   "duration such as \"PT2M\" or \"P1D\"\nerror: 1 problem(s)\n")


def test_unreachable_database_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUMMITCAL_DATABASE_URL",
                       "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "load", str(SCHEDULES))
    assert code == 1 and err.startswith("error: cannot open the database postgresql+psycopg://")
    assert len(err.splitlines()) == 1


def _script(*argv: str, cwd: Path, env: dict[str, str] | None = None):
    exe = Path(sys.executable).with_name("summitcal")
    return subprocess.run([str(exe), *argv], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=60)


def test_installed_script_exit_codes_and_version(tmp_path):
    version = _script("version", cwd=tmp_path)
    assert version.returncode == 0
    assert "tzdata 20" in version.stdout and "icalendar " in version.stdout
    bad = _script("load", "nope.toml", cwd=tmp_path)
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[0] == "nope.toml: no such file or directory"
    helped = _script("--help", cwd=tmp_path)
    for command in ("serve", "load", "check", "attendance", "feed", "version"):
        assert command in helped.stdout
