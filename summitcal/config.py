"""The one configuration schema: defaults, types and help in one place.

The file overrides the defaults, the environment overrides the file, and everything is
checked at start-up: a bad value raises ``ConfigError`` naming the file, the key, the
value and what was expected. The shipped ``config.toml`` shows every key at its default
(a test checks that it agrees with ``SCHEMA``).
"""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from summitcal.durations import parse_duration
from summitcal.errors import ConfigError


@dataclass(frozen=True)
class Key:
    default: Any
    help: str
    kind: str  # str | int | bool | duration | durations | path | paths | url | choice
    choices: tuple[str, ...] = ()


SCHEMA: dict[str, dict[str, Key]] = {
    "service": {
        "base_url": Key("http://127.0.0.1:8080", "Public URL of the service: links in emails "
                        "and pages, and the host part of every event UID.", "url"),
        "data_dir": Key("data", "Where the SQLite database, the generated secret key and "
                        "mail files live.", "path"),
    },
    "http": {
        "host": Key("127.0.0.1", "Address `serve` listens on (also `serve --host`).", "str"),
        "port": Key(8080, "Port `serve` listens on (also `serve --port`).", "int"),
    },
    "database": {
        "url": Key("", "SQLAlchemy URL; empty means SQLite at <data_dir>/summitcal.db. "
                   "SUMMITCAL_DATABASE_URL overrides it.", "str"),
    },
    "schedules": {
        "paths": Key(["schedules"], "Schedule files or directories that `load` and start-up "
                     "read.", "paths"),
        "load_on_start": Key(True, "Load `paths` when `serve` starts.", "bool"),
    },
    "feeds": {
        "refresh_interval": Key("PT1H", "How often calendar apps should refresh "
                                "(REFRESH-INTERVAL, X-PUBLISHED-TTL).", "duration"),
        "cancelled_retention": Key("P30D", "How long a cancelled session stays in feeds "
                                   "with STATUS:CANCELLED.", "duration"),
        "max_age": Key("PT5M", "Cache-Control max-age of public feed responses.", "duration"),
    },
    "reminders": {
        "default_offsets": Key(["P1D", "PT1H"], "Reminder offsets before a session's start "
                               "for new subscribers.", "durations"),
    },
    "notices": {
        "delay": Key("PT2M", "Merge window: changes to one session within this delay go "
                     "out as one notice.", "duration"),
    },
    "mail": {
        "transport": Key("file", "`file` (one .eml per message in file_dir) or `smtp`.",
                         "choice", ("file", "smtp")),
        "from": Key("summitcal <summitcal@localhost>", "From address of every message.", "str"),
        "file_dir": Key("data/mail", "Folder for the file transport.", "path"),
        "workers": Key(4, "Delivery threads, each with its own SMTP connection.", "int"),
        "bounce_threshold": Key(3, "Permanent refusals (5xx) of an address in a row after "
                                "which its subscriber is marked bouncing and mailed no more "
                                "until the address confirms again.", "int"),
        "signup_limit_window": Key("P1D", "The window the sign-up mail limits below count "
                                   "in.", "duration"),
        "signup_limit_mailbox": Key(5, "Sign-up mails (confirmation, or the links again) "
                                    "per mailbox per window; sub-addresses (name+tag@) count "
                                    "as their mailbox.", "int"),
        "signup_limit_client": Key(20, "Sign-up mails per client IP address per window.",
                                   "int"),
        "signup_limit_total": Key(1000, "Sign-up mails in all per window.", "int"),
    },
    "mail.smtp": {
        "host": Key("127.0.0.1", "SMTP server.", "str"),
        "port": Key(25, "SMTP port.", "int"),
        "security": Key("none", "`none`, `starttls` or `tls`.", "choice",
                        ("none", "starttls", "tls")),
        "username": Key("", "Login name; the password comes only from "
                        "SUMMITCAL_SMTP_PASSWORD.", "str"),
        "timeout": Key("PT30S", "Connection and command timeout.", "duration"),
    },
}


class Section:
    """Attribute access to one section's checked values."""

    def __init__(self, values: Mapping[str, Any]) -> None:
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"Section({self.__dict__!r})"


@dataclass(frozen=True)
class Config:
    path: Path | None
    root: Path
    service: Section
    http: Section
    database: Section
    schedules: Section
    feeds: Section
    reminders: Section
    notices: Section
    mail: Section
    smtp: Section
    admin_token: str | None
    smtp_password: str | None
    secret_key_env: str | None

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.service.data_dir / 'summitcal.db'}"

    def secret_key(self) -> str:
        """SUMMITCAL_SECRET_KEY, or a key generated into the data directory on first use."""
        if self.secret_key_env:
            return self.secret_key_env
        path = self.service.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(32))
        return path.read_text().strip()


def _check(kind: str, value: Any, key: Key, root: Path) -> Any:
    checkers: dict[str, Callable[[Any], Any]] = {
        "str": lambda v: v if isinstance(v, str) else _fail("a string"),
        "int": lambda v: v if type(v) is int and 0 < v < 65536 else _fail("an integer 1–65535"),
        "bool": lambda v: v if isinstance(v, bool) else _fail("true or false"),
        "duration": _duration,
        "durations": _durations,
        "path": lambda v: (root / v) if isinstance(v, str) and v else _fail("a path"),
        "url": _url,
        "paths": lambda v: [root / i for i in v]
        if isinstance(v, list) and all(isinstance(i, str) and i for i in v)
        else _fail("an array of paths"),
        "choice": lambda v: v if v in key.choices else _fail("one of " + ", ".join(key.choices)),
    }
    return checkers[kind](value)


class _Bad(Exception):
    pass


def _fail(expected: str) -> Any:
    raise _Bad(expected)


def _duration(value: Any) -> timedelta:
    try:
        result = parse_duration(value)
    except ValueError:
        result = None
    if result is None or result <= timedelta(0):
        _fail("a positive ISO 8601 duration such as \"PT2M\" or \"P1D\"")
    return result


def _durations(value: Any) -> list[timedelta]:
    if not isinstance(value, list) or not value:
        _fail("a non-empty array of ISO 8601 durations such as [\"P1D\", \"PT1H\"]")
    return [_duration(v) for v in value]


def _url(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        _fail("an http(s) URL such as \"https://summitcal.example\"")
    return value.rstrip("/")


def default_path() -> Path:
    return Path(os.environ.get("SUMMITCAL_CONFIG") or "config.toml")


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, check and return the configuration. ``path=None``: $SUMMITCAL_CONFIG or
    ./config.toml, which may be missing (then every default applies)."""
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("SUMMITCAL_CONFIG"))
    file = Path(path) if path is not None else Path(env.get("SUMMITCAL_CONFIG") or "config.toml")
    data: dict[str, Any] = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{file}: cannot read: {exc.strerror}") from None
    elif explicit:
        raise ConfigError(f"{file}: config file not found")
    root = file.resolve().parent
    sections = _sections(data, file, root, env)
    return Config(
        path=file if file.exists() else None, root=root, **sections,
        admin_token=env.get("SUMMITCAL_ADMIN_TOKEN") or None,
        smtp_password=env.get("SUMMITCAL_SMTP_PASSWORD") or None,
        secret_key_env=env.get("SUMMITCAL_SECRET_KEY") or None,
    )


def _sections(data: dict[str, Any], file: Path, root: Path,
              env: Mapping[str, str]) -> dict[str, Section]:
    mail_table = data.get("mail", {})
    tables = {name: _table(data, name) for name in SCHEMA if "." not in name}
    tables["mail.smtp"] = mail_table.get("smtp", {}) if isinstance(mail_table, dict) else {}
    for name in data:
        if name not in SCHEMA:
            raise ConfigError(f"{file}: unknown section [{name}] (expected one of: "
                              f"{', '.join(s for s in SCHEMA if '.' not in s)})")
    if env.get("SUMMITCAL_DATABASE_URL"):
        tables["database"] = {**tables["database"], "url": env["SUMMITCAL_DATABASE_URL"]}
    out: dict[str, Section] = {}
    for name, keys in SCHEMA.items():
        table = tables[name]
        if not isinstance(table, dict):
            raise ConfigError(f"{file}: [{name}] must be a table")
        values = {}
        for key_name, value in table.items():
            if key_name not in keys and not (name == "mail" and key_name == "smtp"):
                raise ConfigError(f"{file}: unknown key {name}.{key_name} (expected one of: "
                                  f"{', '.join(keys)})")
        for key_name, key in keys.items():
            value = table.get(key_name, key.default)
            try:
                values[key_name] = _check(key.kind, value, key, root)
            except _Bad as bad:
                raise ConfigError(f"{file}: {name}.{key_name} = {value!r}: expected {bad}") from None
        out["smtp" if name == "mail.smtp" else name] = Section(values)
    return out


def _table(data: dict[str, Any], name: str) -> Any:
    return data.get(name, {})
