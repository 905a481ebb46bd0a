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
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from summitcal.app import secret
from summitcal.core.durations import format_duration, parse_duration
from summitcal.core.errors import ConfigError
from summitcal.core.settings import (
    SECTIONS,
    DatabaseSection,
    FeedsSection,
    HttpSection,
    Key,
    MailSection,
    NoticesSection,
    RemindersSection,
    SchedulesSection,
    ServiceSection,
    SmtpSection,
    keys_of,
)

#: ``{table: {key: Key}}``, from the typed sections (``summitcal.core.settings``), which
#: are the one place for every key's type, default and help.
SCHEMA: dict[str, dict[str, Key]] = {
    table: {name: k for name, (_, k) in keys_of(section).items()}
    for table, section in SECTIONS.items()
}


@dataclass(frozen=True)
class Config:
    """The checked configuration: one typed section per table (``summitcal.core.settings``),
    the file it came from, and what only the environment gives (secrets, the admin
    token)."""

    path: Path | None
    root: Path
    service: ServiceSection
    http: HttpSection
    database: DatabaseSection
    schedules: SchedulesSection
    feeds: FeedsSection
    reminders: RemindersSection
    notices: NoticesSection
    mail: MailSection
    smtp: SmtpSection
    admin_token: str | None
    smtp_password: str | None
    secret_key_env: str | None
    #: Where the database URL came from, as messages about it name it: the key
    #: ``database.url`` of the file, or the environment variable that overrides it.
    database_url_key: str = "database.url"

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{self.service.data_dir / 'summitcal.db'}"

    @property
    def secret_key_path(self) -> Path:
        return self.service.data_dir / "secret_key"

    def secret_key(self) -> str:
        """SUMMITCAL_SECRET_KEY, or the key generated into the data directory on first use
        (``summitcal.app.secret``: atomic, never empty or short). ``ConfigError`` when the key
        file cannot be made or read, or holds a short key."""
        if self.secret_key_env is not None:
            return secret.check(self.secret_key_env, SECRET_KEY_ENV)
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
        return _fail("a positive ISO 8601 duration such as \"PT2M\" or \"P1D\"")
    return result


def _offsets(value: Any) -> list[timedelta]:
    """Reminder offsets: what a subscriber may choose (``subscriptions.subscribers``' limits)."""
    from summitcal.subscriptions.subscribers import MAX_OFFSET, MAX_REMINDERS

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


#: The environment variable that gives the secret key (else one is generated in data_dir).
SECRET_KEY_ENV = "SUMMITCAL_SECRET_KEY"

#: The environment variable that overrides ``database.url`` (a deployment's secret URL).
DATABASE_URL_ENV = "SUMMITCAL_DATABASE_URL"


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
    schedules = data.get("schedules")
    if ((not isinstance(schedules, dict) or "paths" not in schedules)
            and not any(path.exists() for path in sections["schedules"].paths)):
        # The default folder (./schedules) is not there: no schedule files, so `serve`
        # starts with an empty calendar anywhere (`load PATH` adds some). Paths set in the
        # configuration must exist.
        sections["schedules"] = replace(sections["schedules"], paths=[])
    return Config(
        path=file if file.exists() else None, root=root, **sections,
        admin_token=env.get("SUMMITCAL_ADMIN_TOKEN") or None,
        smtp_password=env.get("SUMMITCAL_SMTP_PASSWORD") or None,
        # Checked where it is used and by preflight (with the environment's other
        # problems), not here: a short key must not hide every other problem.
        secret_key_env=env.get(SECRET_KEY_ENV) or None,
        database_url_key=DATABASE_URL_ENV if env.get(DATABASE_URL_ENV) else "database.url",
    )


def _sections(data: dict[str, Any], file: Path, root: Path,
              env: Mapping[str, str]) -> dict[str, Any]:
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
    from_env = bool(env.get(DATABASE_URL_ENV))
    if from_env:
        tables["database"] = {**tables["database"], "url": env[DATABASE_URL_ENV]}
    out: dict[str, Any] = {}
    for name, keys in SCHEMA.items():
        table = tables[name]
        if not isinstance(table, dict):
            problems.append(f"{file}: [{name}] must be a table")
            continue
        values = {}
        names = keys_of(SECTIONS[name])
        for key_name in table:
            if key_name not in keys and not (name == "mail" and key_name == "smtp"):
                problems.append(f"{file}: unknown key {name}.{key_name} (expected one of: "
                                f"{', '.join(keys)})")
        for key_name, (field_name, key) in names.items():
            value = table.get(key_name, key.default)
            try:
                values[field_name] = _check(key.kind, value, key, root)
            except _Bad as bad:
                where = (DATABASE_URL_ENV if from_env and (name, key_name) == ("database", "url")
                         else f"{file}: {name}.{key_name}")
                problems.append(f"{where} = {value!r}: expected {bad}")
        if len(values) == len(names):
            out["smtp" if name == "mail.smtp" else name] = SECTIONS[name](**values)
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def _table(data: dict[str, Any], name: str) -> Any:
    return data.get(name, {})
