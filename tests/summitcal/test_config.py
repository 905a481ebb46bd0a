"""The configuration schema, the shipped config.toml and bad values."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from pathlib import Path

import pytest

from summitcal.config import SCHEMA, load_config
from summitcal.errors import ConfigError

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
    assert config.schedules.paths == [tmp_path / "schedules"]


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
])
def test_bad_value_names_file_key_value_and_expectation(tmp_path, text, words):
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.startswith(f"{path}: ") and words in message
    assert "\n" not in message


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
