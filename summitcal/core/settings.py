"""The configuration's one schema, as typed sections: every key's type, default and help.

Each section is a frozen dataclass whose fields are the keys of one TOML table of
``config.toml`` (``[service]``, ``[mail.smtp]`` …). A field's metadata holds its ``Key``:
the default as written in the file, the help text and the kind of check
``summitcal.app.config`` applies (which reads the file and the environment, checks every
value and builds these objects). Lower layers take the one section they need, typed, never
the whole configuration. A field whose TOML name is a Python keyword (``mail.from``) says
its name in ``Key.name``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import timedelta
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Key:
    """One key: its default as the file writes it, its help, and its kind — ``str``,
    ``int`` (between ``limits``), ``bool``, ``duration`` (ISO 8601), ``offsets``,
    ``path``, ``paths``, ``url``, ``choice`` (one of ``choices``) or ``address``."""

    default: Any
    help: str
    kind: str
    choices: tuple[str, ...] = ()
    limits: tuple[int, int] = (1, 65535)
    name: str | None = None  # the TOML name, when it differs from the field's


def key(default: Any, help: str, kind: str, **more: Any) -> Any:
    """A dataclass field carrying its ``Key``; it has no default of its own, since every
    value is checked and converted by ``summitcal.app.config``."""
    return field(metadata={"key": Key(default, help, kind, **more)})


@dataclass(frozen=True)
class ServiceSection:
    base_url: str = key("http://127.0.0.1:8080", "Public URL of the service: links in emails "
                        "and pages, and the host part of every event UID.", "url")
    data_dir: Path = key("data", "Where the SQLite database, the generated secret key and "
                         "mail files live.", "path")


@dataclass(frozen=True)
class HttpSection:
    host: str = key("127.0.0.1", "Address `serve` listens on (also `serve --host`).", "str")
    port: int = key(8080, "Port `serve` listens on (also `serve --port`).", "int")
    header_timeout: timedelta = key("PT10S", "How long a client may take to send a "
                                    "request's headers; slower connections are closed.",
                                    "duration")
    access_log: bool = key(False, "Log a line per HTTP request (uvicorn's access log); a "
                           "reverse proxy in front usually logs them already.", "bool")


@dataclass(frozen=True)
class DatabaseSection:
    url: str = key("", "SQLAlchemy URL; empty means SQLite at <data_dir>/summitcal.db. "
                   "SUMMITCAL_DATABASE_URL overrides it.", "str")


@dataclass(frozen=True)
class SchedulesSection:
    paths: list[Path] = key(["schedules"], "Schedule files or directories that `load` and "
                            "start-up read. Unset, ./schedules when that folder exists "
                            "(else none: `serve` starts with an empty calendar).", "paths")
    load_on_start: bool = key(True, "Load `paths` when `serve` starts.", "bool")


@dataclass(frozen=True)
class FeedsSection:
    refresh_interval: timedelta = key("PT1H", "How often calendar apps should refresh "
                                      "(REFRESH-INTERVAL, X-PUBLISHED-TTL).", "duration")
    cancelled_retention: timedelta = key("P30D", "How long a cancelled session stays in "
                                         "feeds with STATUS:CANCELLED.", "duration")
    max_age: timedelta = key("PT5M", "Cache-Control max-age of public feed responses.",
                             "duration")


@dataclass(frozen=True)
class RemindersSection:
    default_offsets: list[timedelta] = key(
        ["P1D", "PT1H"], "Reminder offsets before a session's start for new subscribers (as "
        "many and as long as a subscriber may choose: at most 5, each up to P30D).", "offsets")


@dataclass(frozen=True)
class NoticesSection:
    delay: timedelta = key("PT2M", "Merge window: changes to one session within this delay "
                           "go out as one notice.", "duration")


@dataclass(frozen=True)
class MailSection:
    transport: str = key("file", "`file` (one .eml per message in file_dir) or `smtp`.",
                         "choice", choices=("file", "smtp"))
    sender: str = key("summitcal <summitcal@localhost>", "From address of every message: "
                      "an address, optionally with a name (`Desk <desk@example.org>`).",
                      "address", name="from")
    file_dir: Path = key("data/mail", "Folder for the file transport.", "path")
    workers: int = key(4, "Delivery threads, each with its own SMTP connection (1–32).",
                       "int", limits=(1, 32))
    bounce_threshold: int = key(3, "Permanent refusals (5xx) of an address in a row after "
                                "which its subscriber is marked bouncing and mailed no more "
                                "until the address confirms again (1–100).", "int",
                                limits=(1, 100))
    signup_limit_window: timedelta = key("P1D", "The window the sign-up mail limits below "
                                         "count in.", "duration")
    signup_limit_mailbox: int = key(5, "Sign-up mails (confirmation, or the links again) per "
                                    "mailbox per window; sub-addresses (name+tag@) count as "
                                    "their mailbox.", "int", limits=(1, 1_000_000))
    signup_limit_client: int = key(20, "Sign-up mails per client IP address per window.",
                                   "int", limits=(1, 1_000_000))
    signup_limit_total: int = key(1000, "Sign-up mails in all per window.", "int",
                                  limits=(1, 100_000_000))


@dataclass(frozen=True)
class SmtpSection:
    host: str = key("127.0.0.1", "SMTP server.", "str")
    port: int = key(25, "SMTP port.", "int")
    security: str = key("none", "`none`, `starttls` or `tls`.", "choice",
                        choices=("none", "starttls", "tls"))
    username: str = key("", "Login name; the password comes only from "
                        "SUMMITCAL_SMTP_PASSWORD.", "str")
    timeout: timedelta = key("PT30S", "Connection and command timeout.", "duration")


#: Each TOML table and its section type, in the order ``config.toml`` shows them.
SECTIONS: dict[str, type] = {
    "service": ServiceSection,
    "http": HttpSection,
    "database": DatabaseSection,
    "schedules": SchedulesSection,
    "feeds": FeedsSection,
    "reminders": RemindersSection,
    "notices": NoticesSection,
    "mail": MailSection,
    "mail.smtp": SmtpSection,
}


def keys_of(section: type) -> dict[str, tuple[str, Key]]:
    """``{toml name: (field name, Key)}`` for one section type."""
    out = {}
    for f in fields(section):
        k: Key = f.metadata["key"]
        out[k.name or f.name] = (f.name, k)
    return out
