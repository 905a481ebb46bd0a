"""Schedule files and live edits together: the three-way apply (DESIGN.md §8, SPEC
"Revisions and changes").

A load compares each file with the file as it was last applied (its *base*, kept by
``summits.applied``) and carries only what the file changed onto the store's current
state, so an edit made since with ``summitcal attendance`` or the admin API (a *live
edit*) survives a restart and any file change that does not touch it. Where the file
changed a field that a live edit changed too, the file wins and the load reports an
``Override``. A file with no base (its summit's first load) is applied whole, as before.

The unit of change is a *field*: each of a summit's or record's attributes, a session's
title, organisations, venue, status, description and video link, its time (start, end,
date, end date and zone together, since they are only valid together) and each
participant's attendance entry (mode, delegate, note and announcement date together).
Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from summitcal.summits.changes import TIME_FIELDS, as_json
from summitcal.summits.content import encode
from summitcal.summits.model import Attendance, Schedule, Session

#: A session's fields as the units a file and a live edit can each change.
SESSION_FIELDS: dict[str, tuple[str, ...]] = {
    "time": TIME_FIELDS,
    "title": ("title",),
    "organizations": ("organizations",),
    "venue": ("venue",),
    "status": ("status",),
    "description": ("description",),
    "video_url": ("video_url",),
}
#: Fields no file or edit sets directly: identity, attendance (merged per participant) and
#: the store's bookkeeping.
OTHER_SESSION_FIELDS = ("summit", "id", "attendance", "sequence", "last_modified",
                        "cancelled_at")
RECORD_FIELDS: dict[str, tuple[str, ...]] = {
    "summits": ("name", "city", "country", "timezone", "sources"),
    "organizations": ("name",),
    "participants": ("name", "role"),
}
_RECORD_KIND = {"summits": "summit", "organizations": "organization",
                "participants": "participant"}


@dataclass(frozen=True, slots=True)
class Override:
    """A field a live edit had changed and the file changed too: the file's value won.

    ``where`` names the session (``summit/session``) or record (``participant putin``);
    ``field`` the field (``venue``, ``time``, ``attendance putin``); ``live`` the value the
    live edit had set, ``was`` the file's value before and ``now`` its value now (JSON
    values, None for "not there")."""

    where: str
    field: str
    live: Any
    was: Any
    now: Any

    def __str__(self) -> str:
        return (f"{self.where}: {self.field}: the file's change ({_show(self.was)} -> "
                f"{_show(self.now)}) overrides the live edit ({_show(self.live)})")


@dataclass(frozen=True, slots=True)
class FileChange:
    """One summit's file now (``content``) and as last applied (``base``; None if never)."""

    content: Schedule
    base: Schedule | None

    @property
    def summit(self) -> str:
        return next(iter(self.content.summits))


@dataclass
class Plan:
    """What to apply: ``incoming`` for ``Store``'s diff, with ``summits`` (whose sessions
    missing from ``incoming`` are cancelled), and the overrides to report."""

    incoming: Schedule = field(default_factory=Schedule)
    summits: set[str] = field(default_factory=set)
    overrides: list[Override] = field(default_factory=list)


def plan(current: Schedule, files: Sequence[FileChange]) -> Plan:
    """Three-way apply of ``files`` onto ``current`` (the store). A file equal to its base
    contributes nothing; a file without a base is applied whole."""
    out = Plan()
    for attr in RECORD_FIELDS:
        _records(out, attr, getattr(current, attr), files)
    stored_by_summit: dict[str, dict[tuple[str, str], Session]] | None = None
    for file in files:
        if file.base is not None and encode(file.base) == encode(file.content):
            continue  # compared as stored: ``==`` on datetimes would ignore a fold
        out.summits.add(file.summit)
        if file.base is None:
            out.incoming.sessions.update(file.content.sessions)
            continue
        if stored_by_summit is None:  # once per load, not once per changed file
            stored_by_summit = _by_summit(current.sessions)
        _sessions(out, stored_by_summit.get(file.summit, {}), file)
    return out


def _by_summit(sessions: Mapping[tuple[str, str], Session]
               ) -> dict[str, dict[tuple[str, str], Session]]:
    grouped: dict[str, dict[tuple[str, str], Session]] = {}
    for key, session in sessions.items():
        grouped.setdefault(session.summit, {})[key] = session
    return grouped


def _records(out: Plan, attr: str, current: Mapping[str, Any],
             files: Sequence[FileChange]) -> None:
    """Each record the files declare: the store's value with the fields a file changed since
    its base (a record new to a file's base comes whole from that file)."""
    names = RECORD_FIELDS[attr]
    wanted: dict[str, Any] = {}
    for file in files:
        base = getattr(file.base, attr) if file.base is not None else {}
        for ident, new in getattr(file.content, attr).items():
            stored = wanted.get(ident, current.get(ident))
            old = base.get(ident)
            if stored is None or old is None:
                wanted[ident] = new
                continue
            where = f"{_RECORD_KIND[attr]} {ident}"
            values = _three_way(where, {n: (n,) for n in names}, old, new, stored, out.overrides)
            wanted[ident] = replace(stored, **values)
    target: dict[str, Any] = getattr(out.incoming, attr)
    target.update({i: r for i, r in wanted.items() if current.get(i) != r})


def _sessions(out: Plan, current: Mapping[tuple[str, str], Session], file: FileChange) -> None:
    """Every stored session of the file's summit (``current``): merged where the file has
    it, left out where the file dropped it (the store then cancels it), kept where neither
    version of the file had it."""
    assert file.base is not None
    base, new = file.base.sessions, file.content.sessions
    wanted = out.incoming.sessions
    for key, stored in current.items():
        if key in new:
            wanted[key] = (_session(base[key], new[key], stored, out.overrides)
                           if key in base else new[key])
        elif key not in base:
            wanted[key] = stored.content()
    for key, session in new.items():
        wanted.setdefault(key, session)


def _session(base: Session, new: Session, stored: Session, overrides: list[Override]) -> Session:
    where = f"{stored.summit}/{stored.id}"
    values = _three_way(where, SESSION_FIELDS, base, new, stored, overrides)
    attendance = _attendance(where, base.attendance, new.attendance, stored.attendance,
                             overrides)
    return replace(stored.content(), **values, attendance=attendance)


def _three_way(where: str, groups: Mapping[str, tuple[str, ...]], base: Any, new: Any,
               stored: Any, overrides: list[Override]) -> dict[str, Any]:
    """The fields to take from ``new``: those of every group the file changed."""
    values: dict[str, Any] = {}
    for name, members in groups.items():
        was, now, live = (_group(x, members) for x in (base, new, stored))
        if was == now:
            continue
        values.update({m: getattr(new, m) for m in members})
        if live not in (was, now):
            overrides.append(Override(where, name, live, was, now))
    return values


def _group(record: Any, members: tuple[str, ...]) -> Any:
    if len(members) == 1:
        return as_json(getattr(record, members[0]))
    return {m: as_json(getattr(record, m)) for m in members if getattr(record, m) is not None}


def _attendance(where: str, base: Iterable[Attendance], new: Iterable[Attendance],
                stored: Iterable[Attendance], overrides: list[Override]
                ) -> tuple[Attendance, ...]:
    """The stored entries with each participant's entry the file changed taken from it."""
    was = {a.participant: a for a in base}
    now = {a.participant: a for a in new}
    live = {a.participant: a for a in stored}
    result = dict(live)
    for person in [*was, *(p for p in now if p not in was)]:
        if was.get(person) == now.get(person):
            continue
        if person in now:
            result[person] = now[person]
        else:
            result.pop(person, None)
        if live.get(person) not in (was.get(person), now.get(person)):
            overrides.append(Override(where, f"attendance {person}", _entry(live.get(person)),
                                      _entry(was.get(person)), _entry(now.get(person))))
    if list(was) == list(now):  # the file kept its order: keep the store's
        order = [*live, *(p for p in now if p not in live)]
    else:
        order = [*now, *(p for p in live if p not in now)]
    return tuple(result[p] for p in order if p in result)


def _entry(entry: Attendance | None) -> Any:
    if entry is None:
        return None
    text = entry.mode + (f" by {entry.delegate}" if entry.delegate else "")
    return text + (f' "{entry.note}"' if entry.note else "")


def _show(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)

