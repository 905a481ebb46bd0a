"""What a subscriber follows, and which sessions that covers — in Python and in SQL.

A follow is written as a spec string (what the API, the pages and the CLI take and show)::

    all                           every session
    summit:ID                     the sessions of one summit
    session:SUMMIT/ID             one session
    organization:ID               the sessions one organisation takes part in
    participant:ID                the sessions one participant has an attendance entry in
                                  (any mode, "absent" included)

and stored as a ``subscriber_follows`` row (``kind``, ``summit``, ``target``: see
``summits.tables``). ``Follow.parse`` and ``str(follow)`` go between the two spellings
(``str(Follow.parse(text)) == text`` for every valid spec).

Which sessions a follow covers is written once, in ``RULES``: for each kind a Python
predicate over a ``Scope`` (a session's key, organisations and participants) and an SQL
predicate over a follow's columns and a ``SessionSide`` — the stored session tables
(``Stored``: ``EXISTS`` on ``session_organizations`` and ``attendance``) or a set of
scopes given as values (``AnyOf``: ``IN`` lists). Adding a kind means one more entry
there (and a migration for the ``kind`` CHECK). ``tests/summits/test_follow.py`` checks
with Hypothesis that the Python and SQL forms agree on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, Self

import sqlalchemy as sa

from summitcal.summits import tables as t
from summitcal.summits.model import FollowKind, Session

__all__ = ["RULES", "AnyOf", "Follow", "FollowColumns", "FollowKind", "Scope", "SessionSide",
           "Stored", "covers_any", "follow_sql"]

Condition = sa.ColumnElement[bool]


@dataclass(frozen=True, slots=True)
class Follow:
    """One follow. ``summit`` is set for kinds summit and session (the summit it is scoped
    to), ``target`` is the followed id (the summit id for kind summit, the session id for
    kind session, else the organisation or participant id); both are None for ``all``.
    The fields are the ``subscriber_follows`` columns."""

    kind: FollowKind
    summit: str | None = None
    target: str | None = None

    @classmethod
    def parse(cls, text: object) -> Follow:
        """``"session:astana-2024/sco-council"`` → ``Follow(SESSION, "astana-2024",
        "sco-council")``. Raises ``ValueError`` naming the text for anything else than the
        five spec forms (module docstring); ids are not checked against a schedule."""
        if text == FollowKind.ALL:
            return cls(FollowKind.ALL)
        kind, colon, ident = text.partition(":") if isinstance(text, str) else ("", "", "")
        if not colon or kind not in _NAMED or not ident:
            raise ValueError(f"{text!r} is not one of all, summit:ID, session:SUMMIT/SESSION, "
                             "organization:ID, participant:ID")
        if kind == FollowKind.SESSION:
            summit, slash, session = ident.partition("/")
            if not slash or not summit or not session:
                raise ValueError(f"{text!r}: expected session:SUMMIT/SESSION")
            return cls(FollowKind.SESSION, summit, session)
        return cls(FollowKind(kind), ident if kind == FollowKind.SUMMIT else None, ident)

    @classmethod
    def of_row(cls, row: Any) -> Follow:
        """The follow of a ``subscriber_follows`` row (anything with kind, summit, target)."""
        return cls(FollowKind(row.kind), row.summit, row.target)

    def __str__(self) -> str:
        if self.kind == FollowKind.ALL:
            return "all"
        if self.kind == FollowKind.SESSION:
            return f"session:{self.summit}/{self.target}"
        return f"{self.kind}:{self.target}"

    def as_row(self) -> dict[str, str | None]:
        """The ``subscriber_follows`` columns (kind, summit, target)."""
        return {"kind": str(self.kind), "summit": self.summit, "target": self.target}

    def covers(self, session: Session) -> bool:
        """Whether the follow covers ``session`` (module docstring)."""
        return self.covers_scope(Scope.of(session))

    def covers_scope(self, scope: Scope) -> bool:
        """Whether the follow covers a session with this key, organisations and
        participants."""
        return RULES[self.kind].python(self, scope)


_NAMED = {kind.value for kind in FollowKind} - {FollowKind.ALL.value}


@dataclass(frozen=True, slots=True)
class Scope:
    """What a follow looks at in a session: its key, its organisations and the
    participants with an attendance entry. (Change notices pass the union of a session's
    organisations before and after a change, and the participants a notice is about.)"""

    summit: str
    session: str
    organizations: Collection[str] = ()
    participants: Collection[str] = ()

    @classmethod
    def of(cls, session: Session) -> Self:
        return cls(session.summit, session.id, session.organizations,
                   {a.participant for a in session.attendance})


def covers_any(follows: Iterable[Follow], scope: Scope) -> bool:
    """Whether any of ``follows`` covers the session ``scope`` describes."""
    return any(follow.covers_scope(scope) for follow in follows)


# --- SQL ---------------------------------------------------------------------------------


class FollowColumns(NamedTuple):
    """A follow's columns in a query: ``subscriber_follows`` or a subquery of it."""

    kind: sa.ColumnElement[str]
    summit: sa.ColumnElement[str | None]
    target: sa.ColumnElement[str | None]

    @classmethod
    def of(cls, table: Any) -> FollowColumns:
        """The ``kind``, ``summit`` and ``target`` columns of a table or subquery."""
        return cls(table.c.kind, table.c.summit, table.c.target)


class SessionSide(Protocol):
    """The session half of the SQL predicate: conditions on a follow's id columns."""

    def is_summit(self, summit: Any) -> Condition: ...

    def is_session(self, summit: Any, session: Any) -> Condition: ...

    def has_organization(self, organization: Any) -> Condition: ...

    def has_participant(self, participant: Any) -> Condition: ...


@dataclass(frozen=True, slots=True)
class Stored:
    """A stored session, by its key as columns (``sessions.c.summit``, ``sessions.c.id``)
    or values: organisations and participants are looked up in ``session_organizations``
    and ``attendance`` (``EXISTS``, on their primary keys)."""

    summit: Any
    session: Any

    def is_summit(self, summit: Any) -> Condition:
        return summit == self.summit

    def is_session(self, summit: Any, session: Any) -> Condition:
        return sa.and_(summit == self.summit, session == self.session)

    def has_organization(self, organization: Any) -> Condition:
        so = t.session_organizations
        return sa.exists().where(so.c.summit == self.summit, so.c.session == self.session,
                                 so.c.organization == organization)

    def has_participant(self, participant: Any) -> Condition:
        a = t.attendance
        return sa.exists().where(a.c.summit == self.summit, a.c.session == self.session,
                                 a.c.participant == participant)


@dataclass(frozen=True, slots=True)
class AnyOf:
    """Any of several sessions given as ``Scope`` values (``IN`` lists): a follow matches
    when it covers at least one of them under a looser reading — organisations and
    participants are pooled across the scopes, so this is a pre-filter to check each
    scope with ``Follow.covers_scope`` afterwards."""

    scopes: tuple[Scope, ...]

    def is_summit(self, summit: Any) -> Condition:
        return summit.in_(sorted({s.summit for s in self.scopes}))

    def is_session(self, summit: Any, session: Any) -> Condition:
        return sa.tuple_(summit, session).in_(sorted({(s.summit, s.session)
                                                      for s in self.scopes}))

    def has_organization(self, organization: Any) -> Condition:
        return organization.in_(sorted({o for s in self.scopes for o in s.organizations}))

    def has_participant(self, participant: Any) -> Condition:
        return participant.in_(sorted({p for s in self.scopes for p in s.participants}))


# --- the one definition ----------------------------------------------------------------


class Rule(NamedTuple):
    """Which sessions one kind of follow covers, in Python and in SQL."""

    python: Callable[[Follow, Scope], bool]
    sql: Callable[[FollowColumns, SessionSide], Condition]


RULES: dict[FollowKind, Rule] = {
    FollowKind.ALL: Rule(
        lambda follow, scope: True,
        lambda follow, side: sa.true()),
    FollowKind.SUMMIT: Rule(
        lambda follow, scope: follow.target == scope.summit,
        lambda follow, side: side.is_summit(follow.target)),
    FollowKind.SESSION: Rule(
        lambda follow, scope: (follow.summit, follow.target) == (scope.summit, scope.session),
        lambda follow, side: side.is_session(follow.summit, follow.target)),
    FollowKind.ORGANIZATION: Rule(
        lambda follow, scope: follow.target in scope.organizations,
        lambda follow, side: side.has_organization(follow.target)),
    FollowKind.PARTICIPANT: Rule(
        lambda follow, scope: follow.target in scope.participants,
        lambda follow, side: side.has_participant(follow.target)),
}
assert set(RULES) == set(FollowKind), "every kind of follow needs its rule"


def follow_sql(follow: FollowColumns, side: SessionSide,
               kinds: Iterable[FollowKind] = FollowKind) -> Condition:
    """SQL: the follow in ``follow``'s columns (of one of ``kinds``) covers ``side``'s
    session — ``Follow.covers_scope`` as a condition for a WHERE or a JOIN."""
    return sa.or_(*(sa.and_(follow.kind == kind.value, RULES[kind].sql(follow, side))
                    for kind in kinds))
