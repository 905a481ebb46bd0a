"""The one configuration schema: defaults, types and help in one place.

The file overrides the defaults, the environment overrides the file, and everything is
checked at start-up: a bad value raises ``ConfigError`` naming the file, the key, the
value and what was expected. The shipped ``config.toml`` shows every key at its default
(a test checks that it agrees with ``SCHEMA``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from summitcal import secret
from summitcal.durations import format_duration, parse_duration
from summitcal.errors import ConfigError


@dataclass(frozen=True)
class Key:
    default: Any
    help: str
    kind: str  # str | int | bool | duration | offsets | path | paths | url | choice | address
    choices: tuple[str, ...] = ()
    limits: tuple[int, int] = (1, 65535)  # kind int: the smallest and largest value


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
        "header_timeout": Key("PT10S", "How long a client may take to send a request's "
                              "headers; slower connections are closed.", "duration"),
        "access_log": Key(False, "Log a line per HTTP request (uvicorn's access log); a "
                          "reverse proxy in front usually logs them already.", "bool"),
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
                               "for new subscribers (as many and as long as a subscriber may "
                               "choose: at most 5, each up to P30D).", "offsets"),
    },
    "notices": {
        "delay": Key("PT2M", "Merge window: changes to one session within this delay go "
                     "out as one notice.", "duration"),
    },
    "mail": {
        "transport": Key("file", "`file` (one .eml per message in file_dir) or `smtp`.",
                         "choice", ("file", "smtp")),
        "from": Key("summitcal <summitcal@localhost>", "From address of every message: "
                    "an address, optionally with a name (`Desk <desk@example.org>`).",
                    "address"),
        "file_dir": Key("data/mail", "Folder for the file transport.", "path"),
        "workers": Key(4, "Delivery threads, each with its own SMTP connection (1–32).",
                       "int", limits=(1, 32)),
        "bounce_threshold": Key(3, "Permanent refusals (5xx) of an address in a row after "
                                "which its subscriber is marked bouncing and mailed no more "
                                "until the address confirms again (1–100).", "int",
                                limits=(1, 100)),
        "signup_limit_window": Key("P1D", "The window the sign-up mail limits below count "
                                   "in.", "duration"),
        "signup_limit_mailbox": Key(5, "Sign-up mails (confirmation, or the links again) "
                                    "per mailbox per window; sub-addresses (name+tag@) count "
                                    "as their mailbox.", "int", limits=(1, 1_000_000)),
        "signup_limit_client": Key(20, "Sign-up mails per client IP address per window.",
                                   "int", limits=(1, 1_000_000)),
        "signup_limit_total": Key(1000, "Sign-up mails in all per window.", "int",
                                  limits=(1, 100_000_000)),
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

    @property
    def secret_key_path(self) -> Path:
        return self.service.data_dir / "secret_key"

    def secret_key(self) -> str:
        """SUMMITCAL_SECRET_KEY, or the key generated into the data directory on first use
        (``summitcal.secret``: atomic, never empty or short). ``ConfigError`` when the key
        file cannot be made or read, or holds a short key."""
        if self.secret_key_env:
            return self.secret_key_env
        key = self.__dict__.get("_secret_key")
        if key is None:
            key = secret.read_or_create(self.secret_key_path)
            object.__setattr__(self, "_secret_key", key)  # read once per process
        return key


def _check(kind: str, value: Any, key: Key, root: Path) -> Any:
    low, high = key.limits
    checkers: dict[str, Callable[[Any], Any]] = {
        "str": lambda v: v if isinstance(v, str) else _fail("a string"),
        "int": lambda v: v if type(v) is int and low <= v <= high
        else _fail(f"an integer {low}–{high}"),
        "bool": lambda v: v if isinstance(v, bool) else _fail("true or false"),
        "duration": _duration,
        "offsets": _offsets,
        "address": _address,
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


def _offsets(value: Any) -> list[timedelta]:
    """Reminder offsets: what a subscriber may choose (``summits.subscribers``' limits)."""
    from summitcal.summits.subscribers import MAX_OFFSET, MAX_REMINDERS

    limit = format_duration(MAX_OFFSET)
    expected = (f"an array of 1–{MAX_REMINDERS} different ISO 8601 durations, each up to "
                f"{limit}, such as [\"P1D\", \"PT1H\"]")
    if not isinstance(value, list) or not 0 < len(value) <= MAX_REMINDERS:
        _fail(expected)
    offsets = [_duration(v) for v in value]
    if max(offsets) > MAX_OFFSET or len(set(offsets)) != len(offsets):
        _fail(expected)
    return offsets


def _url(value: Any) -> str:
    """An http(s) URL with a host and no query, fragment or credentials: links are made
    by appending paths to it."""
    try:
        parts = urlsplit(value) if isinstance(value, str) else None
        port_ok = parts is not None and (parts.port or 1) > 0
    except ValueError:  # a port that is not a number or out of range
        parts, port_ok = None, False
    if (parts is None or not port_ok or parts.scheme not in ("http", "https")
            or not parts.hostname or parts.query or parts.fragment or "?" in value
            or "#" in value or parts.username is not None):
        _fail("an http(s) URL without query, fragment or user name, such as "
              "\"https://summitcal.example\"")
    return value.rstrip("/")


_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDR_SPEC = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")
_MAILBOX = re.compile(r'(?:(?P<name>[^<>"\r\n,;:@]*|"[^"\r\n\\]*")\s*<(?P<spec>[^<>]*)>'
                      r'|(?P<bare>\S+))')


def _address(value: Any) -> str:
    """One mailbox (RFC 5322 §3.4): ``desk@example.org`` or ``Desk <desk@example.org>``,
    ASCII, on one line; a name with commas or other specials must be quoted."""
    found = _MAILBOX.fullmatch(value.strip()) if isinstance(value, str) else None
    spec = (found.group("spec") or found.group("bare")) if found else None
    if spec is None or not _ADDR_SPEC.fullmatch(spec):
        _fail("one email address such as \"desk@example.org\" or "
              "\"Events desk <desk@example.org>\"")
    return value.strip()


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
        except RecursionError:
            raise ConfigError(f"{file}: not a configuration: arrays or tables nested too "
                              "deeply") from None
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
        secret_key_env=_secret_from(env),
    )


def _secret_from(env: Mapping[str, str]) -> str | None:
    key = env.get("SUMMITCAL_SECRET_KEY") or None
    return secret.check(key, "SUMMITCAL_SECRET_KEY") if key is not None else None


def _sections(data: dict[str, Any], file: Path, root: Path,
              env: Mapping[str, str]) -> dict[str, Section]:
    """Every section checked against the schema. Raises one ``ConfigError`` listing every
    problem, one per line, so an operator fixes them in one go."""
    mail_table = data.get("mail", {})
    tables = {name: _table(data, name) for name in SCHEMA if "." not in name}
    tables["mail.smtp"] = mail_table.get("smtp", {}) if isinstance(mail_table, dict) else {}
    problems: list[str] = []
    for name in data:
        if name not in SCHEMA:
            sections = ", ".join(s for s in SCHEMA if "." not in s)
            if isinstance(data[name], dict):
                problems.append(f"{file}: unknown section [{name}] (expected one of: {sections})")
            else:
                problems.append(f"{file}: {name} = {data[name]!r} is outside any section "
                                f"(keys belong in one of: {sections})")
    if env.get("SUMMITCAL_DATABASE_URL"):
        tables["database"] = {**tables["database"], "url": env["SUMMITCAL_DATABASE_URL"]}
    out: dict[str, Section] = {}
    for name, keys in SCHEMA.items():
        table = tables[name]
        if not isinstance(table, dict):
            problems.append(f"{file}: [{name}] must be a table")
            continue
        values = {}
        for key_name, value in table.items():
            if key_name not in keys and not (name == "mail" and key_name == "smtp"):
                problems.append(f"{file}: unknown key {name}.{key_name} (expected one of: "
                                f"{', '.join(keys)})")
        for key_name, key in keys.items():
            value = table.get(key_name, key.default)
            try:
                values[key_name] = _check(key.kind, value, key, root)
            except _Bad as bad:
                problems.append(f"{file}: {name}.{key_name} = {value!r}: expected {bad}")
        out["smtp" if name == "mail.smtp" else name] = Section(values)
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def _table(data: dict[str, Any], name: str) -> Any:
    return data.get(name, {})
