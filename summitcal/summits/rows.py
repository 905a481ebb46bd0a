"""Reading the domain from the tables and writing a revision into them.

Every function takes an open connection; the caller owns the transaction.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from summitcal.summits import tables as t
from summitcal.summits.changes import Change, Revision
from summitcal.summits.model import (
    Attendance,
    AttendanceMode,
    Organization,
    Participant,
    Schedule,
    Session,
    SessionStatus,
    Summit,
)

SessionKey = tuple[str, str]


def read_schedule(connection: Connection, since: int | None = None,
                  summits: Sequence[str] | None = None) -> Schedule:
    """Everything stored; with ``since``, only the sessions written by later revisions,
    with ``summits``, only the sessions of those summits (records always whole: they are
    few)."""
    return Schedule(
        summits={
            r.id: Summit(r.id, r.name, r.city, r.country, r.timezone, tuple(r.sources))
            for r in connection.execute(sa.select(t.summits).order_by(t.summits.c.id))
        },
        organizations={
            r.id: Organization(r.id, r.name)
            for r in connection.execute(sa.select(t.organizations).order_by(t.organizations.c.id))
        },
        participants={
            r.id: Participant(r.id, r.name, r.role)
            for r in connection.execute(sa.select(t.participants).order_by(t.participants.c.id))
        },
        sessions=read_sessions(connection, since=since, summits=summits),
    )


def read_sessions(
    connection: Connection, key: SessionKey | None = None, since: int | None = None,
    summits: Sequence[str] | None = None,
) -> dict[SessionKey, Session]:
    """All sessions (ordered by start, summit, id), the one with ``key``, those written
    by revisions after ``since``, or those of ``summits``.

    Rows are fetched all at once and unpacked by position (``Result.all()``), not one
    ``fetchone`` and one attribute lookup by name at a time: reading 50,000 sessions
    with their 214,000 attendance rows took 4.1 s that way, of which 3.2 s was not the
    database's work."""
    newer = sa.select(t.sessions.c.summit, t.sessions.c.id).where(
        t.sessions.c.revision_id > since) if since is not None else None

    def only(table: sa.Table, id_column: str, *columns: str) -> sa.Select[Any]:
        query = sa.select(*(table.c[name] for name in columns))
        if key is not None:
            query = query.where(table.c.summit == key[0], table.c[id_column] == key[1])
        if newer is not None:
            query = query.where(sa.tuple_(table.c.summit, table.c[id_column]).in_(newer))
        if summits is not None:
            query = query.where(table.c.summit.in_(list(summits)))
        return query

    organizations: dict[SessionKey, list[str]] = defaultdict(list)
    links = t.session_organizations
    for summit, session, organization in connection.execute(
            only(links, "session", "summit", "session", "organization")
            .order_by(links.c.position)).all():
        organizations[summit, session].append(organization)
    attendance: dict[SessionKey, list[Attendance]] = defaultdict(list)
    mode_of = _MODES.__getitem__
    for summit, session, participant, mode, delegate, note, announced in connection.execute(
            only(t.attendance, "session", *_ATTENDANCE_COLUMNS)
            .order_by(t.attendance.c.position)).all():
        attendance[summit, session].append(
            Attendance(participant, mode_of(mode), delegate, note, announced))
    order = (t.sessions.c.starts_at, t.sessions.c.summit, t.sessions.c.id)
    no_items: list[Any] = []
    return {
        (row[0], row[1]): _session(row, organizations.get((row[0], row[1]), no_items),
                                   attendance.get((row[0], row[1]), no_items))
        for row in connection.execute(
            only(t.sessions, "id", *_SESSION_READ).order_by(*order)).all()
    }


_MODES = {mode.value: mode for mode in AttendanceMode}
_STATUSES = {status.value: status for status in SessionStatus}
_ATTENDANCE_COLUMNS = ("summit", "session", "participant", "mode", "delegate", "note",
                       "announced")
#: The columns ``_session`` reads, in its order.
_SESSION_READ = ("summit", "id", "title", "timezone", "start_local", "start_fold",
                 "end_local", "end_fold", "date", "end_date", "venue", "status",
                 "description", "video_url", "sequence", "last_modified", "cancelled_at")
# ``_session`` passes the fields by position: the columns with organizations and
# attendance put back in their places are the fields of ``Session``, in order.
assert tuple(f.name for f in fields(Session)) == (
    *_SESSION_READ[:4], "organizations", "start", "end", *_SESSION_READ[8:14], "attendance",
    *_SESSION_READ[14:])


def write_revision(
    connection: Connection,
    current: Schedule,
    incoming: Schedule,
    changes: Sequence[Change],
    sessions: Sequence[Session],
    *,
    source: str,
    summary: str,
    now: datetime,
) -> int:
    """Insert one revision with its records, sessions and changes; returns its id."""
    revision: int = connection.execute(
        sa.insert(t.revisions)
        .values(created_at=now, source=source, summary=summary)
        .returning(t.revisions.c.id)
    ).scalar_one()
    for table in (t.summits, t.organizations, t.participants):
        _save_records(
            connection, table, getattr(current, table.name), getattr(incoming, table.name)
        )
    _save_sessions(connection, sessions, current.sessions.keys(), revision)
    fields = Change.__slots__
    values = operator.attrgetter(*fields)
    insert_many(connection, t.changes, [(revision, *values(c)) for c in changes],
                ("revision_id", *fields))
    return revision


def read_revisions(
    connection: Connection, query: sa.Select[Any], summit: str | None = None
) -> list[tuple[Revision, list[Change]]]:
    """The revisions ``query`` selects (from ``revisions``), each with its changes
    (only those about ``summit`` when given), in the query's order."""
    revisions = [
        Revision(r.id, r.created_at, r.source, r.summary) for r in connection.execute(query)
    ]
    found: dict[int, list[Change]] = {r.id: [] for r in revisions}
    changes = sa.select(t.changes).where(t.changes.c.revision_id.in_(found))
    if summit is not None:
        changes = changes.where(t.changes.c.summit == summit)
    for r in connection.execute(changes.order_by(t.changes.c.id)):
        found[r.revision_id].append(
            Change(
                r.kind,
                r.summit,
                r.session,
                r.participant,
                r.organization,
                r.field,
                r.old,
                r.new,
                r.note,
            )
        )
    return [(revision, found[revision.id]) for revision in revisions]


def insert_many(connection: Connection, table: sa.Table, rows: Sequence[Any],
                columns: Sequence[str] | None = None) -> None:
    """Insert ``rows`` in one ``executemany`` of the database driver: dicts with the same
    keys (column names), or, with ``columns``, tuples of those columns' values in that
    order (no dict is made per row: a cold load of 50,000 sessions writes 420,000 rows).

    The same statement and the same stored values as ``connection.execute(sa.insert(table),
    rows)``: the statement is compiled once and each value goes through its column type's
    bind processor, as SQLAlchemy does; what is skipped is SQLAlchemy's per-row
    bookkeeping, which was most of a cold load's database time (10,000 sessions write
    about 90,000 rows)."""
    if not rows:
        return
    names = list(rows[0]) if columns is None else list(columns)
    compiled = sa.insert(table).compile(dialect=connection.dialect, column_keys=names)
    order = list(compiled.positiontup) if compiled.positional and compiled.positiontup \
        else names
    dialect = connection.dialect
    processors = [(i, process) for i, name in enumerate(order)
                  if (process := table.c[name].type.dialect_impl(dialect)
                      .bind_processor(dialect)) is not None]
    # The row's values in the statement's order, read in C; only the columns whose type
    # has a bind processor (dates, times) then go through Python.
    parameters: list[Any]
    if columns is not None and order == names:
        parameters = list(rows)
    else:
        keys = order if columns is None else [names.index(name) for name in order]
        get = operator.itemgetter(*keys) if len(keys) > 1 else (lambda row: (row[keys[0]],))
        parameters = [get(row) for row in rows]
    if processors:
        for n, values in enumerate(parameters):
            values = list(values)
            for i, process in processors:
                values[i] = process(values[i])
            parameters[n] = tuple(values)
    if not compiled.positional:
        parameters = [dict(zip(order, values, strict=True)) for values in parameters]
    connection.exec_driver_sql(str(compiled), parameters)


def vars_of(record: Any) -> dict[str, Any]:
    """A slotted dataclass as a dict, shallow (values are kept as they are)."""
    return {name: getattr(record, name) for name in record.__slots__}


def _save_records(
    connection: Connection, table: sa.Table, stored: dict[str, Any], wanted: dict[str, Any]
) -> None:
    """Insert the new records, update the changed ones; records are never deleted."""
    insert_many(connection, table,
                [vars_of(record) for ident, record in wanted.items() if ident not in stored])
    for ident, record in wanted.items():
        if ident in stored and stored[ident] != record:
            connection.execute(sa.update(table).where(table.c.id == ident).values(vars_of(record)))


def _save_sessions(
    connection: Connection, sessions: Sequence[Session], stored: Iterable[SessionKey], revision: int
) -> None:
    stored = set(stored)
    for session in (s for s in sessions if s.key in stored):
        for table in (t.attendance, t.session_organizations):
            connection.execute(
                sa.delete(table).where(
                    table.c.summit == session.summit, table.c.session == session.id
                )
            )
        connection.execute(
            sa.update(t.sessions)
            .where(t.sessions.c.summit == session.summit, t.sessions.c.id == session.id)
            .values(dict(zip(SESSION_COLUMNS, _session_row(session, revision), strict=True)))
        )
    insert_many(connection, t.sessions,
                [_session_row(s, revision) for s in sessions if s.key not in stored],
                SESSION_COLUMNS)
    insert_many(connection, t.session_organizations,
                [(s.summit, s.id, o, i) for s in sessions for i, o in enumerate(s.organizations)],
                ("summit", "session", "organization", "position"))
    insert_many(connection, t.attendance,
                [(s.summit, s.id, a.participant, i, a.mode, a.delegate, a.note, a.announced)
                 for s in sessions for i, a in enumerate(s.attendance)],
                ("summit", "session", "participant", "position", "mode", "delegate", "note",
                 "announced"))


#: The columns of ``sessions`` in the order of ``_session_row``'s values.
SESSION_COLUMNS = ("summit", "id", "title", "timezone", "start_local", "start_fold",
                   "end_local", "end_fold", "date", "end_date", "starts_at", "ends_at",
                   "venue", "status", "description", "video_url", "sequence",
                   "last_modified", "cancelled_at", "revision_id")


def _session_row(session: Session, revision: int) -> tuple[Any, ...]:
    """The session's row of ``sessions`` (``SESSION_COLUMNS``): its wall times as naive ISO
    text with their fold, in its own zone."""
    zone = ZoneInfo(session.timezone)
    start, end = session.start, session.end
    # Sessions hold their times in their zone already (``Session``); others move.
    if start is not None and start.tzinfo is not zone:
        start = start.astimezone(zone)
    if end is not None and end.tzinfo is not zone:
        end = end.astimezone(zone)
    return (
        session.summit, session.id, session.title, session.timezone,
        start.replace(tzinfo=None, fold=0).isoformat() if start is not None else None,
        start.fold if start is not None else 0,
        end.replace(tzinfo=None, fold=0).isoformat() if end is not None else None,
        end.fold if end is not None else 0,
        session.date, session.end_date, session.starts_at, session.ends_at, session.venue,
        session.status, session.description, session.video_url, session.sequence,
        session.last_modified, session.cancelled_at, revision,
    )


def _session(row: Any, organizations: list[str], attendance: list[Attendance]) -> Session:
    """A session from its ``_SESSION_READ`` columns, in that order."""
    (summit, ident, title, timezone, start_local, start_fold, end_local, end_fold, day,
     end_date, venue, status, description, video_url, sequence, last_modified,
     cancelled_at) = row
    zone = ZoneInfo(timezone)
    return Session(
        summit, ident, title, timezone, tuple(organizations),
        None if start_local is None else
        datetime.fromisoformat(start_local).replace(tzinfo=zone, fold=start_fold),
        None if end_local is None else
        datetime.fromisoformat(end_local).replace(tzinfo=zone, fold=end_fold),
        day, end_date, venue, _STATUSES[status], description, video_url, tuple(attendance),
        sequence, last_modified, cancelled_at,
    )
