"""The configuration schema, the shipped config.toml and bad values."""

from __future__ import annotations

import threading
import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from summitcal.app.config import SCHEMA, load_config
from summitcal.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_shows_every_key_at_its_default_with_a_comment():
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    lines = text.splitlines()
    for section, keys in SCHEMA.items():
        table = data
        for part in section.split("."):
            table = table[part]
        assert set(k for k in table if not isinstance(table[k], dict)) == set(keys), section
        for name, key in keys.items():
            assert table[name] == key.default, f"{section}.{name}"
            at = next(i for i, line in enumerate(lines)
                      if line.startswith(f"{name} = ") and _section_of(lines, i) == section)
            assert lines[at - 1].startswith("# "), f"{section}.{name} has no comment"


def _section_of(lines: list[str], index: int) -> str:
    for line in reversed(lines[:index]):
        if line.startswith("["):
            return line.strip("[]")
    return ""


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config.path is None
    assert config.database_url == f"sqlite:///{tmp_path / 'data' / 'summitcal.db'}"
    assert config.notices.delay == timedelta(minutes=2)
    assert config.reminders.default_offsets == [timedelta(days=1), timedelta(hours=1)]
    assert config.schedules.paths == []  # no ./schedules here: no schedule files
    (tmp_path / "schedules").mkdir()
    assert load_config(env={}).schedules.paths == [tmp_path / "schedules"]


def test_schedule_paths_a_configuration_names_must_exist(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[schedules]\npaths = ["schedules"]\n')
    assert load_config(path, env={}).schedules.paths == [tmp_path / "schedules"]


def test_relative_paths_are_relative_to_the_config_file(tmp_path):
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "c.toml"
    path.write_text('[service]\ndata_dir = "var"\n')
    assert load_config(path, env={}).service.data_dir == tmp_path / "etc" / "var"


def test_environment_overrides_the_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[database]\nurl = "sqlite:///x.db"\n')
    env = {"SUMMITCAL_DATABASE_URL": "postgresql+psycopg://u@h/db", "SUMMITCAL_ADMIN_TOKEN": "t"}
    config = load_config(path, env=env)
    assert config.database_url == "postgresql+psycopg://u@h/db"
    assert config.admin_token == "t"


@pytest.mark.parametrize("text, words", [
    ('[notices]\ndelay = "2 minutes"', "notices.delay = '2 minutes': expected a positive ISO 8601"),
    ('[http]\nport = "8080"', "http.port = '8080': expected an integer"),
    ('[mail]\ntransport = "pigeon"', "mail.transport = 'pigeon': expected one of file, smtp"),
    ('[mail.smtp]\nsecurity = "ssl"', "mail.smtp.security = 'ssl': expected one of none"),
    ('[service]\nbase_url = "localhost"', "service.base_url = 'localhost': expected an http(s)"),
    ('[reminders]\ndefault_offsets = []', "reminders.default_offsets = []: expected an array of "
     "1–5 different ISO 8601 durations, each up to P30D"),
    ('[feeds]\nrefresh = "PT1H"', "unknown key feeds.refresh"),
    ('[feed]\nrefresh_interval = "PT1H"', "unknown section [feed]"),
    ('[schedules]\nload_on_start = "yes"', "schedules.load_on_start = 'yes': expected true or false"),
    ("[service\n", "not valid TOML"),
    # Regressions: values that used to be accepted.
    ('[mail]\nfrom = "not an address"', "mail.from = 'not an address': expected one email "
     "address"),
    ('[mail]\nfrom = "a@example.org, b@example.org"', "mail.from = 'a@example.org, "
     "b@example.org': expected one email address"),
    ('[mail]\nfrom = "Desk <desk@example.org>\\r\\nBcc: x@example.org"', "mail.from = "),
    ('[mail]\nworkers = 5000', "mail.workers = 5000: expected an integer 1–32"),
    ('[mail]\nworkers = 0', "mail.workers = 0: expected an integer 1–32"),
    ('[reminders]\ndefault_offsets = ["P31D"]', "reminders.default_offsets = ['P31D']: expected"
     " an array of 1–5 different ISO 8601 durations, each up to P30D"),
    ('[reminders]\ndefault_offsets = ["P1D", "PT24H"]', "each up to P30D"),
    ('[reminders]\ndefault_offsets = ["PT1H", "PT2H", "PT3H", "PT4H", "PT5H", "PT6H"]',
     "1–5 different"),
    ('[service]\nbase_url = "https://example.org/?x=1"', "service.base_url = "
     "'https://example.org/?x=1': expected an http(s) URL without query, fragment"),
    ('[service]\nbase_url = "https://example.org/#top"', "without query, fragment"),
    ('[service]\nbase_url = "https://user@example.org"', "without query, fragment or user"),
    ('[service]\nbase_url = "https://example.org:99999"', "expected an http(s) URL"),
    ('[http]\nheader_timeout = "PT0S"', "http.header_timeout = 'PT0S': expected a positive"),
])
def test_bad_value_names_file_key_value_and_expectation(tmp_path, text, words):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: ") and words in message
    assert "\n" not in message


@pytest.mark.parametrize("value", ["desk@example.org", "Events desk <desk@example.org>",
                                   '"Desk, events" <desk@example.org>',
                                   "summitcal <summitcal@localhost>"])
def test_from_addresses_that_are_accepted(tmp_path, value):
    path = tmp_path / "c.toml"
    path.write_text(f"[mail]\nfrom = '{value}'\n")
    assert load_config(path, env={}).mail.sender == value


def test_named_config_that_does_not_exist(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml", env={})


def test_secret_key_is_generated_once_into_the_data_dir(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    config = load_config(path, env={})
    key = config.secret_key()
    assert len(key) >= 32 and config.secret_key() == key
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0
    assert load_config(path, env={"SUMMITCAL_SECRET_KEY": "k" * 40}).secret_key() == "k" * 40


def test_regression_a_short_secret_key_is_refused(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("")
    config = load_config(path, env={"SUMMITCAL_SECRET_KEY": "k" * 31})
    with pytest.raises(ConfigError) as info:
        config.secret_key()  # where it is used; preflight lists it with the rest
    assert str(info.value) == ("SUMMITCAL_SECRET_KEY: the secret key is too short (31 "
                               "characters); it needs at least 32 characters")
    for stored in ("", "\n", "k" * 31):
        (tmp_path / "data").mkdir(exist_ok=True)
        (tmp_path / "data" / "secret_key").write_text(stored)
        with pytest.raises(ConfigError, match="secret key is (empty|too short)"):
            load_config(path, env={}).secret_key()


def test_regression_the_secret_key_made_by_many_threads_at_once_is_one_whole_key(tmp_path):
    """On a fresh install delivery workers render their first links at the same moment:
    one used to fail with FileExistsError, another could read an empty key."""
    path = tmp_path / "c.toml"
    path.write_text("")
    for attempt in range(20):
        (tmp_path / f"run{attempt}").mkdir()
        path.write_text(f'[service]\ndata_dir = "run{attempt}"\n')
        configs = [load_config(path, env={}) for _ in range(16)]
        start = threading.Barrier(len(configs))
        keys: list[str] = []
        errors: list[BaseException] = []

        def read(config, start=start, keys=keys, errors=errors) -> None:
            start.wait()
            try:
                keys.append(config.secret_key())
            except BaseException as error:  # noqa: BLE001 (collected for the assertion)
                errors.append(error)

        threads = [threading.Thread(target=read, args=(c,)) for c in configs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == [] and len(set(keys)) == 1, (attempt, errors, set(keys))
        (key,) = set(keys)
        assert len(key) >= 32
        assert sorted(p.name for p in (tmp_path / f"run{attempt}").iterdir()) == ["secret_key"]


def test_check_reported_only_the_first_config_problem(tmp_path):
    """Every problem in the file, one a line: a fix-one-rerun loop is what this spares."""
    config = tmp_path / "config.toml"
    config.write_text('port = 99999\n[http]\nport = 99999\nheader_timeout = "bogus"\n'
                      '[mail.smtp]\nport = 0\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config, env={})
    lines = str(caught.value).splitlines()
    assert len(lines) == 4, lines
    assert "port = 99999 is outside any section" in lines[0]
    assert any("http.port = 99999: expected an integer 1–65535" in line for line in lines)
    assert any("http.header_timeout = 'bogus'" in line for line in lines)
    assert any("mail.smtp.port = 0" in line for line in lines)
