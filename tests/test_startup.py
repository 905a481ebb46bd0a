"""Starting ``summitcal serve`` as an operator would: the port is bound before any work,
every start-up failure is one line per problem and exit status 1, and ``summitcal check``
finds every problem ``serve`` would stop on. ``serve`` and ``check`` run as real
processes (exit codes and stderr as a shell sees them)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

from summitcal.core import database
from summitcal.summits.store import Store
from tests.serving import cli, free_port

ROOT = Path(__file__).resolve().parents[1]


def write_config(folder: Path, text: str = "", database_url: str | None = None) -> Path:
    config = folder / "config.toml"
    url = f'[database]\nurl = "{database_url}"\n' if database_url else ""
    config.write_text(f'[schedules]\npaths = ["{ROOT / "schedules"}"]\n{url}{text}')
    return config


def serve(config: Path, *argv: str, timeout: float = 60):
    return cli("serve", *argv, config=config, timeout=timeout)


def error_lines(stderr: str) -> list[str]:
    lines = stderr.splitlines()
    assert "Traceback" not in stderr, stderr
    assert all(line.startswith("error: ") for line in lines), stderr
    return lines


def test_regression_a_busy_port_stops_serve_before_it_loads_anything(tmp_path, database_url):
    """``serve`` used to load the schedules (and start the clock and delivery) before
    binding, then exit with status 3; now the bind comes first."""
    config = write_config(tmp_path, database_url=database_url)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = serve(config, "--port", str(port))
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    with Store(database_url) as store:
        assert database.current_revision(store.engine) is None, "nothing may be loaded"
        assert "revisions" not in sa.inspect(store.engine).get_table_names()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "http"])
def test_regression_a_port_flag_out_of_range_is_one_line(tmp_path, port):
    done = serve(write_config(tmp_path), "--port", port)
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert line.startswith("error: Invalid value for '--port'")


def test_a_host_that_cannot_be_listened_on_is_one_line(tmp_path):
    """An address of another machine is found by ``check`` (it used to say ok) and by
    ``serve`` before it opens anything."""
    config = write_config(tmp_path, '[http]\nhost = "192.0.2.1"\n')  # TEST-NET: not ours
    expected = (f"{config}: http.host = '192.0.2.1': not an address to listen on "
                "(Cannot assign requested address)")
    done = serve(config, "--port", str(free_port()))
    assert done.returncode == 1
    assert error_lines(done.stderr) == [f"error: {expected}"]
    checked = cli("check", config=config)
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [expected, "error: 1 problem(s)"]


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


# (config text given the test folder, the words of the problem)
CASES = {
    "data-dir-is-a-file": (lambda d: f'[service]\ndata_dir = "{_file(d)}"\n',
                           "service.data_dir = {d}/a-file: this is a file, not a folder"),
    "data-dir-below-a-file": (lambda d: f'[service]\ndata_dir = "{_file(d)}/data"\n',
                              "service.data_dir = {d}/a-file/data: cannot be made: "
                              "{d}/a-file is a file, not a folder"),
    "data-dir-not-writable": (lambda d: '[service]\ndata_dir = "/sys/summitcal-data"\n',
                              "service.data_dir = /sys/summitcal-data: cannot be made in /sys"),
    "mail-file-dir-is-a-file": (lambda d: f'[mail]\nfile_dir = "{_file(d)}"\n',
                                "mail.file_dir = {d}/a-file: this is a file, not a folder"),
    "secret-key-empty": (lambda d: _key(d, ""), "the secret key is empty"),
    "secret-key-short": (lambda d: _key(d, "short"), "the secret key is too short (5 "
                         "characters)"),
    "database-from-a-newer-version": (lambda d: _newer_database(d),
                                      "is at schema revision '9999', which this version of "
                                      "summitcal does not know"),
}


def _key(folder: Path, key: str) -> str:
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "secret_key").write_text(key)
    return ""


def _newer_database(folder: Path) -> str:
    url = f"sqlite:///{folder / 'data' / 'summitcal.db'}"
    with Store(url) as store:
        store.upgrade()
        with store.engine.begin() as connection:
            connection.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    return ""


@pytest.mark.parametrize("name", CASES)
def test_regression_check_finds_what_serve_would_stop_on(tmp_path, name):
    """``check`` used to pass these and ``serve`` crashed on them with a traceback."""
    text, words = CASES[name]
    config = write_config(tmp_path, text(tmp_path))
    words = words.format(d=tmp_path)

    checked = cli("check", config=config)
    served = serve(config, "--port", str(free_port()))

    assert checked.returncode == 1, checked.stdout
    problems = checked.stderr.splitlines()
    assert problems[-1].startswith("error: ") and "Traceback" not in checked.stderr
    assert any(words in line for line in problems[:-1]), checked.stderr
    assert served.returncode == 1
    lines = error_lines(served.stderr)
    assert any(words in line for line in lines), served.stderr


def test_check_lists_every_environment_problem_at_once(tmp_path):
    config = write_config(tmp_path, f'[service]\ndata_dir = "{_file(tmp_path)}"\n'
                          f'[mail]\nfile_dir = "{tmp_path / "a-file"}"\n')
    done = cli("check", config=config)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{config}: service.data_dir = {tmp_path}/a-file: this is a file, not a folder",
        f"{config}: mail.file_dir = {tmp_path}/a-file: this is a file, not a folder",
        "error: 2 problem(s)",
    ]


def test_check_passes_and_creates_nothing_on_a_fresh_install(tmp_path):
    config = write_config(tmp_path)
    done = cli("check", config=config)
    assert (done.returncode, done.stdout) == (0, "ok: 2 summit(s), 5 session(s) in the schedule files\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def test_regression_a_deeply_nested_file_is_one_line(tmp_path):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    done = cli("check", str(deep), config=write_config(tmp_path))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{deep}: not a schedule: arrays or tables nested too deeply",
        "error: 1 problem(s)"]


def test_regression_a_deeply_nested_config_is_one_line(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("a = " + "{b = " * 1000 + "1" + "}" * 1000 + "\n")
    done = cli("check", config=config)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{config}: not a configuration: arrays or tables nested too deeply",
        "error: 1 problem(s)"]


def test_regression_os_and_migration_errors_are_one_line(tmp_path):
    _newer_database(tmp_path)
    config = write_config(tmp_path)
    for argv in (["load"], ["feed", "all"], ["attendance", "astana-2024/sco-council", "putin",
                                            "video"], ["outbox"], ["subscribers", "list"]):
        done = cli(*argv, config=config)
        assert done.returncode == 1, argv
        (line,) = error_lines(done.stderr)
        assert "schema revision '9999'" in line, argv
    below = write_config(tmp_path, f'[service]\ndata_dir = "{_file(tmp_path)}/data"\n')
    done = cli("load", config=below)
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert line.startswith("error: cannot open the database sqlite:///") and "a-file" in line


def test_web_on_a_busy_port_stops_before_it_opens_the_database(tmp_path):
    """The roles start in ``serve``'s order: ``web`` binds before any work."""
    config = write_config(tmp_path, '[service]\ndata_dir = "data"\n')
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("web", "--port", str(port), "--workers", "2", config=config)
    assert done.returncode == 1
    assert error_lines(done.stderr) == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]
    assert not (tmp_path / "data" / "summitcal.db").exists()


@pytest.mark.parametrize("role", ["scheduler", "worker", "web", "status"])
def test_every_role_stops_on_a_newer_schema_with_one_line(tmp_path, role):
    _newer_database(tmp_path)
    config = write_config(tmp_path)
    argv = [role, "--port", str(free_port())] if role == "web" else [role]
    done = cli(*argv, config=config)
    assert done.returncode == 1
    (line,) = error_lines(done.stderr)
    assert "schema revision '9999'" in line


def test_serve_starts_with_an_empty_calendar_in_an_empty_folder(tmp_path):
    """With no configuration and no ./schedules (an installed package run anywhere),
    ``check`` is ok, ``serve`` starts and serves an empty calendar, and ``load`` says what
    to give it (it used to fail: ./schedules: no such file or directory)."""
    folder = tmp_path / "empty"
    folder.mkdir()
    env = {**os.environ, "SUMMITCAL_SECRET_KEY": "s" * 32}
    env.pop("SUMMITCAL_CONFIG", None)
    env.pop("SUMMITCAL_DATABASE_URL", None)
    summitcal = [sys.executable, "-m", "summitcal.app.cli"]
    checked = subprocess.run([*summitcal, "check"], cwd=folder, env=env, capture_output=True,
                             text=True, timeout=60, check=False)
    assert (checked.returncode, checked.stdout) == (0, "ok: 0 summit(s), 0 session(s) in the schedule files\n")
    loaded = subprocess.run([*summitcal, "load"], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=60, check=False)
    assert loaded.returncode == 1
    assert loaded.stderr.startswith("error: nothing to load: name schedule files or folders")
    port = free_port()
    with subprocess.Popen([*summitcal, "serve", "--port", str(port)], cwd=folder, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) as server:
        try:
            body = _wait_for(f"http://127.0.0.1:{port}/healthz")
        finally:
            server.terminate()
            server.wait(30)
    assert b'"revision":0' in body


def _wait_for(url: str, timeout: float = 30) -> bytes:
    """The body of ``url`` once the server answers."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://reader:s3cret@db.example:notaport/summitcal",
     "'postgresql://reader:***@db.example:notaport/summitcal' is not a database URL"),
    ("postgresql://reader:s3/cret@db.example:5432x/summitcal",
     "'postgresql://reader:***@db.example:5432x/summitcal' is not a database URL"),
    ("mysql://reader:s3cret@db.example/summitcal",
     "'mysql://reader:***@db.example/summitcal' is not supported"),
], ids=["port-not-a-number", "slash-in-password", "unsupported"])
def test_regression_a_bad_database_url_is_one_line_without_its_password(tmp_path, url, shown):
    """A port that is not a number made SQLAlchemy raise ValueError, not ArgumentError:
    every command ended in a traceback. Messages showed the URL whole, password too."""
    config = write_config(tmp_path, f'[database]\nurl = "{url}"\n')
    for command in (["check"], ["load", str(Path(__file__).parents[1] / "schedules")]):
        done = cli(*command, config=config)
        assert done.returncode == 1, done.stderr
        assert "Traceback" not in done.stderr and "s3" not in done.stderr, done.stderr
        assert shown in done.stderr.splitlines()[0], done.stderr
    done = serve(config)
    assert done.returncode == 1 and "s3" not in done.stderr, done.stderr
    (line,) = error_lines(done.stderr)
    assert line.startswith(f"error: {config}: database.url: {shown}"), line


@pytest.mark.parametrize("url, shown", [
    ("postgresql://reader:s3cret@db.example:notaport/summitcal",
     "SUMMITCAL_DATABASE_URL: 'postgresql://reader:***@db.example:notaport/summitcal' is not "
     "a database URL"),
    ("mysql://reader:s3cret@db.example/summitcal",
     "SUMMITCAL_DATABASE_URL: 'mysql://reader:***@db.example/summitcal' is not supported"),
    ("sqlite:////", "SUMMITCAL_DATABASE_URL: / is a folder, not a database file"),
], ids=["not-a-url", "unsupported", "a-folder"])
def test_regression_a_bad_database_url_from_the_environment_names_the_variable(
        tmp_path, monkeypatch, url, shown):
    """A URL given by SUMMITCAL_DATABASE_URL was reported as the file's ``database.url``,
    sending the operator to a file that does not hold it (or holds another URL)."""
    config = write_config(tmp_path, database_url="sqlite:///file-url.sqlite3")
    monkeypatch.setenv("SUMMITCAL_DATABASE_URL", url)
    done = cli("check", config=config)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.splitlines()[0].startswith(shown), done.stderr
    done = cli("load", str(ROOT / "schedules"), config=config)
    (line,) = error_lines(done.stderr)
    assert done.returncode == 1 and "s3" not in line and "database.url" not in line, line
    if "folder" not in shown:  # SQLite's own words for a folder: "unable to open"
        assert line.startswith(f"error: {shown}"), line
    done = serve(config)
    (line,) = error_lines(done.stderr)
    assert line.startswith(f"error: {shown}"), line
    assert "database.url" not in line and str(config) not in line, line


@contextlib.contextmanager
def not_writable(path: Path):
    """``path`` made unwritable for this process: read-only permissions, or for root
    (whom permissions do not stop) the immutable attribute (``chattr +i``)."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True,
                          check=False) if shutil.which("chattr") else None
    if made is None or made.returncode != 0:
        reason = made.stderr.strip() if made is not None else "chattr is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"cannot make {path} unwritable for root: {reason}")
        pytest.skip(f"cannot make {path} unwritable for root: {reason}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("which", ["database", "lock"])
def test_regression_check_finds_an_sqlite_file_serve_cannot_write(tmp_path, which):
    """A database (or scheduler lock) file owned by another user: ``check`` said ok, and
    ``serve`` failed with "attempt to write a readonly database" (or a bare "Permission
    denied" on the lock file)."""
    database = tmp_path / "data" / "summitcal.sqlite3"
    config = write_config(tmp_path, database_url=f"sqlite:///{database}")
    assert cli("load", str(ROOT / "schedules"), config=config).returncode == 0
    target = database if which == "database" else Path(f"{database}.scheduler-lock")
    target.touch()
    words = ("the database file" if which == "database" else "the scheduler's lock file")
    with not_writable(target):
        checked = cli("check", config=config)
        served = serve(config, "--port", str(free_port()))
    assert checked.returncode == 1, checked.stdout
    assert checked.stderr.splitlines()[0] == (
        f"{config}: database.url: {words} {target} is not writable by this user"), checked.stderr
    (line,) = error_lines(served.stderr)
    assert f"{words} {target} is not writable" in line, line


def test_regression_a_missing_metrics_folder_is_named_by_its_variable(tmp_path, monkeypatch):
    """``PROMETHEUS_MULTIPROC_DIR`` naming no folder: ``check`` said ok, then ``serve``,
    ``web`` and ``worker`` stopped with "No such file or directory:
    …/histogram_26110.db", which does not say which setting is wrong."""
    config = write_config(tmp_path)
    missing = tmp_path / "no" / "such"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(missing))
    checked = cli("check", config=config)
    assert checked.returncode == 1
    assert checked.stderr.splitlines()[0] == (
        f"PROMETHEUS_MULTIPROC_DIR = {missing}: no such folder (make it, empty, before "
        "starting)"), checked.stderr
    for role in ("serve", "worker"):
        done = cli(role, config=config) if role == "worker" else serve(config, "--port", str(free_port()))
        (line,) = error_lines(done.stderr)
        assert line.startswith(f"error: PROMETHEUS_MULTIPROC_DIR = {missing}: no such folder"), line


def test_regression_a_short_secret_key_no_longer_hides_the_other_problems(tmp_path, monkeypatch):
    """A short SUMMITCAL_SECRET_KEY stopped the configuration from loading, so ``check``
    printed that one line and none of the environment's or the files' other problems."""
    config = write_config(tmp_path, f'[service]\ndata_dir = "{_file(tmp_path)}"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text("[summit]\nid = 1\n")
    monkeypatch.setenv("SUMMITCAL_SECRET_KEY", "short")
    done = cli("check", str(broken), config=config)
    lines = done.stderr.splitlines()
    assert done.returncode == 1
    assert lines[0] == f"{config}: service.data_dir = {tmp_path}/a-file: this is a file, not a folder"
    assert lines[1] == ("SUMMITCAL_SECRET_KEY: the secret key is too short (5 characters); it "
                        "needs at least 32 characters")
    assert any(line.startswith(f"{broken}: ") for line in lines[2:-1]), lines
    assert lines[-1].startswith("error: ")


def test_regression_check_with_a_bad_configuration_still_checks_the_rest(tmp_path, monkeypatch):
    """A configuration value out of range made ``check`` print that line alone (as
    ``error: …``, with no count): the short secret key, the metrics folder and the broken
    file named on the command line were heard of only one fix later."""
    config = write_config(tmp_path, "[http]\nport = 0\n")
    broken = tmp_path / "broken.toml"
    broken.write_text("[summit]\nid = 1\n")
    monkeypatch.setenv("SUMMITCAL_SECRET_KEY", "short")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    done = cli("check", str(broken), config=config)
    lines = done.stderr.splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert lines[:3] == [
        f"{config}: http.port = 0: expected an integer 1–65535",
        "SUMMITCAL_SECRET_KEY: the secret key is too short (5 characters); it needs at least "
        "32 characters",
        f"PROMETHEUS_MULTIPROC_DIR = {tmp_path / 'missing'}: no such folder (make it, empty, "
        "before starting)"]
    assert any(line.startswith(f"{broken}: summit.id") for line in lines[3:-1])
    assert lines[-1] == f"error: {len(lines) - 1} problem(s)"


@pytest.mark.parametrize("role", ["serve", "worker"])
def test_regression_a_missing_metrics_folder_does_not_hide_other_problems(tmp_path, monkeypatch,
                                                                          role):
    """The metrics library fails while the service's modules load, before the start-up
    checks ran: ``serve`` printed that one line and none of the others."""
    config = write_config(tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "missing"))
    monkeypatch.setenv("SUMMITCAL_SECRET_KEY", "short")
    done = serve(config, "--port", str(free_port())) if role == "serve" else cli(role, config=config)
    lines = error_lines(done.stderr)
    assert done.returncode == 1
    assert any("SUMMITCAL_SECRET_KEY: the secret key is too short" in line for line in lines)
    assert any("PROMETHEUS_MULTIPROC_DIR" in line for line in lines)
