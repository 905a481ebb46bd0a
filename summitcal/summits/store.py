"""The store: the current schedule in the database, changed one revision at a time.

    store = Store("sqlite:///data/summitcal.sqlite3")
    store.upgrade()                          # at start-up: migrate to the latest schema
    result = store.apply_files(load_files(["schedules/"]), source="load schedules/")
    result.revision, result.changes          # None and [] when the files changed nothing
    result.overrides                         # live edits a file change overrode

``apply_files`` applies what each file changed since it was last applied (three-way, see
``summits.merge``); ``apply`` makes the store look like a schedule (a live edit, and the
first load of a file).

Every change goes through one write transaction that diffs against what is stored at
that moment (see ``core.database``), so concurrent writers in several processes
never lose or duplicate a revision.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Self

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from summitcal.core import database
from summitcal.core.errors import InvalidInput, NotFound, Problem, ScheduleError, UidClash
from summitcal.core.wal import WalWatch
from summitcal.summits import applied, merge, rows, schedule_file
from summitcal.summits import tables as t
from summitcal.summits import text as texts
from summitcal.summits.changes import Change, Revision, revise, summarize
from summitcal.summits.model import MODES, Attendance, AttendanceMode, Schedule, Session, event_key
from summitcal.summits.schedule_file import Loaded, SourceFile, uid_clash


@dataclass(frozen=True, slots=True)
class Result:
    """What an apply did: the new revision's id (None when nothing was written, because
    nothing changed or it was a dry run), the changes, in order, and the live edits that
    file changes overrode (``apply_files`` only)."""

    revision: int | None
    changes: tuple[Change, ...]
    dry_run: bool = False
    overrides: tuple[merge.Override, ...] = ()


class Store:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = database.create_engine(url)
        self._version_lock = threading.Lock()
        self._version_connection: Any = None  # a driver connection kept for version()
        self._version_cursor: Any = None  # and its cursor
        self._wal: WalWatch | None = None  # SQLite in WAL mode: its wal-index header
        self._wal_tried = False  # whether the version connection's watch was looked for
        self._seen: tuple[bytes, int] | None = None  # header before the last query, answer

    def close(self) -> None:
        with self._version_lock:
            self._drop_version_connection()
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def upgrade(self) -> None:
        """Migrate the database to the latest schema (safe to call from several processes)."""
        database.upgrade(self.engine)

    def version(self) -> int:
        """The latest revision id (0 before the first): one index lookup, cheap per request.

        Every feed request asks, so it runs on a driver connection kept for it (in
        autocommit: each query sees the latest commit), without SQLAlchemy's per-query
        work, which cost ten times the query. On SQLite in WAL mode the query is made only
        when the wal-index header has changed since the one read before the last query
        (``core.wal``): no commit, by any process, leaves it as it was. A connection that
        fails is dropped and the query made once more through SQLAlchemy, which raises its
        usual errors when the database is gone."""
        with self._version_lock:
            try:
                if self._version_connection is None:
                    self._version_connection = self._autocommit_connection()
                header = self._wal.header() if self._wal is not None else None
                if self._seen is not None and self._seen[0] == header:  # never None there
                    return self._seen[1]
                cursor = self._version_cursor
                if cursor is None:
                    cursor = self._version_cursor = self._version_connection.cursor()
                cursor.execute(_VERSION_SQL)
                found = cursor.fetchone()
                version: int = (found[0] if found else None) or 0
                if not self._wal_tried and self.engine.dialect.name == "sqlite":
                    # After a query, so that the connection has opened the wal-index.
                    self._wal_tried = True
                    self._wal = WalWatch.of(self._version_connection.driver_connection)
                self._seen = None if header is None else (header, version)
                return version
            except self.engine.dialect.loaded_dbapi.Error:
                self._drop_version_connection()
        with self.engine.connect() as connection:
            return connection.scalar(sa.select(sa.func.max(t.revisions.c.id))) or 0

    def revision(self) -> tuple[int, str] | None:
        """The latest revision as (id, creation instant in ISO form), or None before the
        first: names the schedule's state more surely than the id alone (a database
        replaced by another one with as many revisions has other instants)."""
        query = sa.select(t.revisions.c.id, t.revisions.c.created_at).order_by(
            t.revisions.c.id.desc()).limit(1)
        with self.engine.connect() as connection:
            found = connection.execute(query).first()
        return (found.id, found.created_at.isoformat()) if found else None

    def _autocommit_connection(self) -> Any:
        raw = self.engine.raw_connection()
        if self.engine.dialect.name == "postgresql":
            assert raw.driver_connection is not None
            raw.driver_connection.autocommit = True
        return raw

    def _drop_version_connection(self) -> None:
        wal, self._wal, self._seen, self._wal_tried = self._wal, None, None, False
        if wal is not None:
            wal.close()
        cursor, self._version_cursor = self._version_cursor, None
        if cursor is not None:
            try:
                cursor.close()
            except Exception:  # already broken
                pass
        raw, self._version_connection = self._version_connection, None
        if raw is None:
            return
        try:
            if self.engine.dialect.name == "postgresql":
                raw.driver_connection.autocommit = False
            raw.close()
        except Exception:  # already broken: nothing to give back
            pass

    def schedule(self) -> Schedule:
        """Everything stored, cancelled sessions included."""
        with database.reading(self.engine) as connection:
            return rows.read_schedule(connection)

    def schedule_since(self, version: int) -> tuple[int, Schedule, bool]:
        """What a reader holding the schedule as of ``version`` needs to catch up, read
        in one transaction: (current version, a schedule with only the sessions written
        after ``version``, whether any record changed). Records (summits, organisations,
        participants) come whole when one changed, else the returned ones are empty."""
        with database.reading(self.engine) as connection:
            current = connection.scalar(sa.select(sa.func.max(t.revisions.c.id))) or 0
            records = version < 0 or bool(connection.scalar(sa.select(sa.exists().where(
                t.changes.c.revision_id > version, t.changes.c.session.is_(None)))))
            if records:
                return current, rows.read_schedule(connection, since=version), True
            return current, Schedule(sessions=rows.read_sessions(connection, since=version)), False

    def session(self, summit: str, session: str) -> Session:
        with database.reading(self.engine) as connection:
            found = rows.read_sessions(connection, (summit, session))
        if not found:
            raise NotFound("session", f"{summit}/{session}")
        return found[summit, session]

    def apply(
        self,
        incoming: Schedule,
        source: str,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> Result:
        """Make the summits in ``incoming`` look like it: one revision if anything changed.

        Sessions of those summits missing from ``incoming`` are cancelled (and kept);
        other summits are untouched. Records (summits, organisations, participants)
        are added or updated, never deleted.
        """
        now = _utc(now)
        transaction = database.reading if dry_run else database.writing
        with transaction(self.engine) as connection:
            current = rows.read_schedule(connection)
            _check_references(current, incoming)
            _check_event_keys(_stored_keys(connection), incoming)
            return self._commit(
                connection, current, incoming, set(incoming.summits), source, now, dry_run
            )

    def apply_files(
        self,
        loaded: Loaded,
        source: str,
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> Result:
        """Apply what each file in ``loaded`` changed since it was last applied (three-way,
        ``summits.merge``): a file unchanged since changes nothing, a live edit survives
        unless the file changed the same field (then the file wins and the result lists
        an ``Override``), a file applied for the first time is applied whole (as
        ``apply``). Records each file as applied, in the same transaction."""
        now = _utc(now)
        transaction = database.reading if dry_run else database.writing
        with transaction(self.engine) as connection:
            summits = [f.summit for f in loaded.files]
            # The records, and the sessions of the files' summits: a change to one file
            # reads one summit's sessions (all of them only when a record changed, since
            # a record's new name changes every session that shows it).
            current = rows.read_schedule(connection, summits=summits)
            known = applied.read(connection, summits)
            files = [merge.FileChange(f.content, _base(known.get(f.summit), f))
                     for f in loaded.files]
            wanted = merge.plan(current, files)
            if any(getattr(wanted.incoming, attr) for attr in merge.RECORD_FIELDS):
                current = rows.read_schedule(connection)
            _check_references(current, wanted.incoming)
            clashes = _event_key_clashes(_stored_keys(connection), wanted.incoming)
            if clashes:
                raise ScheduleError(_file_problems(loaded, clashes))
            result = self._commit(connection, current, wanted.incoming, wanted.summits, source,
                                  now, dry_run)
            if not dry_run:
                applied.write(connection, loaded.files, known, now, result.revision)
            return replace(result, overrides=tuple(wanted.overrides))

    def applied_files(self) -> schedule_file.Applied:
        """The schedule files as last applied, for ``load_files(paths, applied=...)``:
        files whose path and bytes are unchanged are then not parsed again."""
        with database.reading(self.engine) as connection:
            return applied.as_loaded(connection)

    def set_attendance(
        self,
        summit: str,
        session: str,
        attendance: Attendance,
        source: str,
        now: datetime | None = None,
    ) -> Result:
        """Record one participant's attendance of one session (a CLI or admin edit).

        The note passes the one rule for text (``summits.text``), as in schedule files.
        """
        _check_attendance(attendance)
        attendance = replace(attendance, note=texts.optional(attendance.note, lines=True))
        now = _utc(now)
        with database.writing(self.engine) as connection:
            # Only the records and the one session: an edit must not read every session.
            current = rows.read_schedule(connection, since=_NO_SESSIONS)
            current.sessions.update(rows.read_sessions(connection, (summit, session)))
            if summit not in current.summits:
                raise NotFound("summit", summit)
            stored = current.sessions.get((summit, session))
            if stored is None:
                raise NotFound("session", f"{summit}/{session}")
            for person in (attendance.participant, attendance.delegate):
                if person is not None and person not in current.participants:
                    raise NotFound("participant", person)
            wanted = replace(stored, attendance=_with(stored.attendance, attendance))
            incoming = Schedule(sessions={stored.key: wanted})
            return self._commit(connection, current, incoming, set(), source, now)

    def revisions(
        self, limit: int = 50, summit: str | None = None
    ) -> list[tuple[Revision, list[Change]]]:
        """The latest revisions, newest first; with ``summit``, those that changed it
        (and only their changes about it)."""
        query = sa.select(t.revisions).order_by(t.revisions.c.id.desc()).limit(limit)
        if summit is not None:
            about = sa.select(t.changes.c.revision_id).where(t.changes.c.summit == summit)
            query = query.where(t.revisions.c.id.in_(about))
        with database.reading(self.engine) as connection:
            return rows.read_revisions(connection, query, summit)

    def uid_problems(self, loaded: Loaded) -> list[Problem]:
        """What ``apply_files`` would refuse for calendar UIDs, as the file problems it
        would raise: each new session of ``loaded`` whose event key a stored session (or
        another new one) has. A database without the schedule's tables yet has none.
        Reads only."""
        if not sa.inspect(self.engine).has_table(t.sessions.name):
            return []
        with database.reading(self.engine) as connection:
            clashes = _event_key_clashes(_stored_keys(connection), loaded.schedule)
        return _file_problems(loaded, clashes)

    def _commit(
        self,
        connection: Connection,
        current: Schedule,
        incoming: Schedule,
        summits: set[str],
        source: str,
        now: datetime,
        dry_run: bool = False,
    ) -> Result:
        changes, sessions = revise(current, incoming, summits, now)
        if dry_run or not changes:
            return Result(None, tuple(changes), dry_run)
        revision = rows.write_revision(
            connection,
            current,
            incoming,
            changes,
            sessions,
            source=source,
            summary=summarize(changes),
            now=now,
        )
        return Result(revision, tuple(changes))


def _base(known: applied.Applied | None, file: SourceFile) -> Schedule | None:
    """The file as last applied; the file itself when its bytes have not changed since."""
    if known is None:
        return None
    return file.content if known.sha256 == file.sha256 else known.content


_VERSION_SQL = "SELECT max(id) FROM revisions"
_NO_SESSIONS = 2**31 - 1  # a revision id no session was written by (fits an INTEGER)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if now.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {now!r}")
    return now.astimezone(UTC)


def _with(entries: tuple[Attendance, ...], entry: Attendance) -> tuple[Attendance, ...]:
    """``entries`` with ``entry`` replacing the participant's one, or appended."""
    if any(e.participant == entry.participant for e in entries):
        return tuple(entry if e.participant == entry.participant else e for e in entries)
    return (*entries, entry)


def _check_attendance(attendance: Attendance) -> None:
    if attendance.mode not in MODES:
        raise InvalidInput(
            f"unknown mode {attendance.mode!r} (expected one of {', '.join(MODES)})", "mode"
        )
    if attendance.delegate is not None and attendance.mode != AttendanceMode.DELEGATED:
        raise InvalidInput(
            f"a delegate is only allowed with mode 'delegated', not {str(attendance.mode)!r}",
            "delegate",
        )
    if attendance.mode == AttendanceMode.DELEGATED and not attendance.delegate:
        raise InvalidInput("mode 'delegated' needs a delegate (the participant id of who "
                           "attends instead)", "delegate")


def _stored_keys(connection: Connection) -> set[tuple[str, str]]:
    """(summit, session) of every stored session, cancelled ones too: one narrow query, so
    the UID check does not need every stored session read."""
    return {(row.summit, row.id) for row in connection.execute(
        sa.select(t.sessions.c.summit, t.sessions.c.id))}


def _check_event_keys(stored: set[tuple[str, str]], incoming: Schedule) -> None:
    """A new session must not take the event key (the calendar UID) of a stored one.

    Stored sessions keep theirs whatever happens (a UID never changes), cancelled ones
    too: they stay in feeds, and in subscribers' calendars. ``stored`` is every stored
    (summit, session). Raises ``UidClash`` for the first clash.
    """
    for _, message in _event_key_clashes(stored, incoming)[:1]:
        raise UidClash(message)


def _file_problems(loaded: Loaded,
                   clashes: list[tuple[tuple[str, str], str]]) -> list[Problem]:
    """Each clash as a problem of the file that declares the session."""
    origin = {key: f.path for f in loaded.files for key in f.content.sessions}
    return [Problem(origin.get(key, ""), f"session {key[1]}", message)
            for key, message in clashes]


def _event_key_clashes(stored: set[tuple[str, str]],
                       incoming: Schedule) -> list[tuple[tuple[str, str], str]]:
    """Every new session of ``incoming`` whose event key is taken: its (summit, session)
    and the message naming the other session, in key order."""
    taken = {event_key(*key): key for key in stored}
    found = []
    for key, session in sorted(incoming.sessions.items()):
        if key in stored:
            continue
        other = taken.setdefault(session.event_key, key)
        if other != key:
            where = "(already stored)" if other in stored else "(also new)"
            stand_in = replace(session, summit=other[0], id=other[1])
            found.append((key, uid_clash(session, stand_in, where)))
    return found


def _check_references(current: Schedule, incoming: Schedule) -> None:
    """Every summit, organisation and participant a session names must exist."""
    summits = current.summits.keys() | incoming.summits.keys()
    organizations = current.organizations.keys() | incoming.organizations.keys()
    participants = current.participants.keys() | incoming.participants.keys()
    for session in incoming.sessions.values():
        if session.summit not in summits:
            raise NotFound("summit", session.summit)
        for organization in session.organizations:
            if organization not in organizations:
                raise NotFound("organization", organization)
        for entry in session.attendance:
            for person in (entry.participant, entry.delegate):
                if person is not None and person not in participants:
                    raise NotFound("participant", person)
