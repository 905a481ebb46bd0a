"""The project's exceptions. Messages are built from the bad value; the edges (CLI, HTTP)
turn them into one line / one JSON shape."""

from __future__ import annotations

from dataclasses import dataclass


class SummitcalError(Exception):
    """Base of every error we expect to show a user."""


class ConfigError(SummitcalError, ValueError):
    """A bad configuration value: names the key, the value and what was expected."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with one field of one schedule file."""

    file: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}" if self.path else self.file
        return f"{where}: {self.message}" if where else self.message


class ScheduleError(SummitcalError, ValueError):
    """One or more problems with schedule files; nothing was applied. ``applying`` is
    False where nothing was to be applied anyway (``check``), so messages do not say
    "nothing applied"."""

    def __init__(self, problems: list[Problem], *, applying: bool = True) -> None:
        self.problems = list(problems)
        self.applying = applying
        super().__init__("\n".join(str(p) for p in self.problems))


class NotFound(SummitcalError, LookupError):
    """A summit, session, participant, organisation or feed that does not exist."""

    def __init__(self, kind: str, ident: str) -> None:
        self.kind = kind
        self.ident = ident
        super().__init__(f"unknown {kind}: {ident!r}")


class InvalidInput(SummitcalError, ValueError):
    """Bad input to a command or API call that is not a schedule file."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        super().__init__(message)


class UidClash(InvalidInput):
    """A session that would share its calendar UID with another (see
    ``summits.model.event_key``): the message names both sessions."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "id")
