"""Field-by-field checks of one parsed schedule document.

``Document`` walks the dict that ``tomllib`` produced, collects every problem with its
field path (``sessions[2].start``) instead of stopping at the first, and builds the
domain objects from what is valid. Cross-file checks live in ``schedule_file``.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from summitcal.core.errors import Problem
from summitcal.core.localtime import NOT_A_PLACE, LocalTimeError, known_zone, resolve
from summitcal.summits import text as texts
from summitcal.summits.model import (
    MODES,
    STATUSES,
    Attendance,
    AttendanceMode,
    Organization,
    Participant,
    Session,
    SessionStatus,
    Summit,
)

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
TOP_KEYS = {"summit", "organizations", "participants", "sessions"}
SUMMIT_KEYS = {"id", "name", "city", "country", "timezone", "sources"}
ORG_KEYS = {"id", "name"}
PARTICIPANT_KEYS = {"id", "name", "role"}
SESSION_KEYS = {
    "id", "title", "organizations", "start", "end", "date", "end_date", "timezone", "fold",
    "venue", "status", "description", "video_url", "attendance",
}
ATTENDANCE_KEYS = {"participant", "mode", "delegate", "note", "announced"}
_TYPE_NAMES = {
    str: "a string", int: "an integer", list: "an array", dict: "a table",
    date: "a date like 2021-09-16", datetime: "a date-time like 2021-09-16T10:00:00",
}


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, datetime):
        return "a date-time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, time):
        return "a time of day"
    for typ, name in _TYPE_NAMES.items():
        if isinstance(value, typ):
            return name
    return type(value).__name__


def _declared(kind: type[Organization] | type[Participant], raw: dict[str, Any]) -> Any:
    """The record a declaration makes when it is valid as written (only known keys, all
    strings: the checks below would neither report nor change anything), else None.

    Files declare the records their sessions name, so the same declaration comes once per
    file (at 10,000 sessions: 44,000 declarations of a thousand people); each distinct one
    is checked once (``_valid_record``, keyed by the declaration's items)."""
    key = (kind, tuple(raw.items()))
    try:
        return _records[key]
    except KeyError:
        pass
    except TypeError:  # a value that is not hashable (an array, a table): not valid as is
        return None
    record = _valid_record(kind, key[1])
    if len(_records) < _RECORDS_KEPT:
        _records[key] = record
    return record


#: Declarations seen, by (kind, items) → ``_valid_record``'s answer (a record or None):
#: the same declarations come back in every file. At most ``_RECORDS_KEPT`` are kept.
_records: dict[tuple[type, tuple[tuple[str, Any], ...]], Any] = {}
_RECORDS_KEPT = 65536


def _valid_record(kind: type[Organization] | type[Participant],
                  items: tuple[tuple[str, Any], ...]) -> Organization | Participant | None:
    """``kind`` made from a declaration's ``items`` when they are only its known keys
    with string values, its id is a slug, its name is not blank and every text is already
    one line under the text rule (``summits.text.single_line``), else None."""
    raw = dict(items)
    if not raw.keys() <= set(kind.__slots__) or not all(type(v) is str for v in raw.values()):
        return None
    ident, name, *rest = (raw.get(field, "") for field in kind.__slots__)
    if not SLUG.match(ident) or not name.strip():
        return None
    if any(texts.single_line(text) != text for text in (name, *rest)):
        return None
    return kind(ident, name, *rest)


_MODES = {mode.value: mode for mode in AttendanceMode}


def _attendance_as_written(item: object) -> Attendance | None:
    """The attendance an ``[[sessions.attendance]]`` item gives when it is valid as
    written (known keys of the right types, a known mode, a delegate exactly when
    delegated, a note the text rule leaves as it is), else None: then ``_attendance``
    checks it key by key and reports what is wrong. The usual item costs a few dict
    reads instead of a call per key."""
    if type(item) is not dict or not item.keys() <= ATTENDANCE_KEYS:
        return None
    who, named = item.get("participant"), item.get("mode")
    if type(who) is not str or not who.strip() or type(named) is not str:
        return None
    mode = _MODES.get(named)
    if mode is None:
        return None
    delegate, note, announced = item.get("delegate"), item.get("note"), item.get("announced")
    if (delegate is None) is (mode == AttendanceMode.DELEGATED):
        return None
    if delegate is not None and type(delegate) is not str:
        return None
    if note is not None and (type(note) is not str or texts.multi_line(note) != note):
        return None
    if announced is not None and type(announced) is not date:
        return None
    return Attendance(who, mode, delegate, note, announced)


class Document:
    """One schedule file's content, checked."""

    def __init__(self, data: dict[str, Any], file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        self.summit: Summit | None = None
        self.organizations: list[tuple[str, Organization]] = []
        self.participants: list[tuple[str, Participant]] = []
        self.sessions: list[tuple[str, Session]] = []
        # (path, id) of every session with a valid id, valid or not otherwise: a duplicate
        # id is reported even when the other session has problems of its own.
        self.session_ids: list[tuple[str, str]] = []
        #: The ids the sessions name, by kind ("organisation", "participant"): checked
        #: against all files' declarations (``schedule_file.combine``).
        self.referenced: dict[str, set[str]] = {"organisation": set(), "participant": set()}
        # Per session: its path, the organisations it names, and (index, participant,
        # delegate) of each attendance item that names someone. Field paths are made
        # only when a reference is unknown (``references``).
        self._sites: list[tuple[str, list[str], list[tuple[int, str | None, str | None]]]] = []
        self._check(data)

    @property
    def references(self) -> list[tuple[str, str, str]]:
        """(field path, "organisation" | "participant", id) of every reference the
        sessions make, in file order (``sessions[2].attendance[0].participant``)."""
        found: list[tuple[str, str, str]] = []
        for path, orgs, people in self._sites:
            found.extend((f"{path}.organizations[{i}]", "organisation", org)
                         for i, org in enumerate(orgs))
            for i, who, delegate in people:
                if who:
                    found.append((f"{path}.attendance[{i}].participant", "participant", who))
                if delegate:
                    found.append((f"{path}.attendance[{i}].delegate", "participant", delegate))
        return found

    # -- reporting helpers -------------------------------------------------------------
    def problem(self, path: str, message: str) -> None:
        self.problems.append(Problem(self.file, path, message))

    def _unknown_keys(self, table: dict[str, Any], allowed: set[str], path: str) -> None:
        if table.keys() <= allowed:  # the usual case, at C speed
            return
        for key in table:
            if key not in allowed:
                where = f"{path}.{key}" if path else key
                self.problem(where, f"unknown key (expected one of: {', '.join(sorted(allowed))})")

    def _get(self, table: dict[str, Any], key: str, path: str, typ: type,
             required: bool = False) -> Any:
        value = table.get(key)
        if value is None and key not in table:
            if required:
                self.problem(f"{path}.{key}" if path else key, "is required")
            return None
        # The usual case first: a string, or a value of the type (neither bool nor, for a
        # date, a date-time). The field's path is only made for a problem.
        if type(value) is typ and typ is not date:
            if typ is str and required and not str(value).strip():
                self.problem(f"{path}.{key}" if path else key, "must not be empty")
                return None
            return value
        wrong = isinstance(value, bool) or not isinstance(value, typ)
        if typ is date and isinstance(value, datetime):
            wrong = True
        where = f"{path}.{key}" if path else key
        if wrong:
            self.problem(where, f"expected {_TYPE_NAMES[typ]}, got {_kind(value)} ({value!r})")
            return None
        if typ is str and required and not str(value).strip():
            self.problem(where, "must not be empty")
            return None
        return value

    def _text(self, table: dict[str, Any], key: str, path: str, required: bool = False,
              lines: bool = False) -> str | None:
        """A text field, under the one rule for text (``summits.text``)."""
        value = self._get(table, key, path, str, required)
        if value is None:
            return None
        value = texts.optional(value, lines=lines)
        if required and not (value or "").strip():
            self.problem(f"{path}.{key}" if path else key, "must not be empty")
            return None
        return value

    def _slug(self, table: dict[str, Any], key: str, path: str) -> str | None:
        value = self._get(table, key, path, str, required=True)
        if value is not None and not SLUG.match(value):
            self.problem(f"{path}.{key}", f"{value!r} is not a valid id (lower-case letters, "
                         "digits and '-', starting with a letter or digit)")
            return None
        return value

    def _url(self, value: Any, where: str) -> str | None:
        if not isinstance(value, str):
            self.problem(where, f"expected a string, got {_kind(value)} ({value!r})")
            return None
        if any(c.isspace() or not c.isprintable() for c in value):
            self.problem(where, f"{value!r} is not a URL: it contains spaces or control "
                         "characters")
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.problem(where, f"{value!r} is not an http(s) URL")
            return None
        return value

    def _str_list(self, table: dict[str, Any], key: str, path: str) -> list[str]:
        value = self._get(table, key, path, list)
        if value is None:
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, str):
                out.append(item)
            else:
                self.problem(f"{path}.{key}[{i}]", f"expected a string, got {_kind(item)}")
        return out

    def _tables(self, data: dict[str, Any], key: str) -> list[tuple[str, dict[str, Any]]]:
        value = data.get(key, [])
        if not isinstance(value, list):
            self.problem(key, f"expected an array of tables ([[{key}]]), got {_kind(value)}")
            return []
        out = []
        for i, item in enumerate(value):
            if isinstance(item, dict):
                out.append((f"{key}[{i}]", item))
            else:
                self.problem(f"{key}[{i}]", f"expected a table, got {_kind(item)}")
        return out

    # -- the document --------------------------------------------------------------------
    def _check(self, data: dict[str, Any]) -> None:
        self._unknown_keys(data, TOP_KEYS, "")
        raw_summit = data.get("summit")
        if not isinstance(raw_summit, dict):
            self.problem("summit", "is required: a [summit] table" if raw_summit is None
                         else f"expected a table, got {_kind(raw_summit)}")
        else:
            self.summit = self._check_summit(raw_summit)
        for path, raw in self._tables(data, "organizations"):
            known = _declared(Organization, raw)
            if known is not None:
                self.organizations.append((path, known))
                continue
            self._unknown_keys(raw, ORG_KEYS, path)
            oid, name = self._slug(raw, "id", path), self._text(raw, "name", path, True)
            if oid and name:
                self.organizations.append((path, Organization(oid, name)))
        for path, raw in self._tables(data, "participants"):
            known = _declared(Participant, raw)
            if known is not None:
                self.participants.append((path, known))
                continue
            self._unknown_keys(raw, PARTICIPANT_KEYS, path)
            pid, name = self._slug(raw, "id", path), self._text(raw, "name", path, True)
            role = self._text(raw, "role", path) or ""
            if pid and name:
                self.participants.append((path, Participant(pid, name, role)))
        summit_tz = self.summit.timezone if self.summit else None
        summit_id = self.summit.id if self.summit else "?"
        for path, raw in self._tables(data, "sessions"):
            session = self._check_session(raw, path, summit_id, summit_tz)
            if session is not None:
                self.sessions.append((path, session))

    def _check_summit(self, raw: dict[str, Any]) -> Summit | None:
        self._unknown_keys(raw, SUMMIT_KEYS, "summit")
        sid = self._slug(raw, "id", "summit")
        name = self._text(raw, "name", "summit", True)
        city = self._text(raw, "city", "summit", True)
        country = self._text(raw, "country", "summit", True)
        tz = self._zone(raw, "summit", required=True)
        sources = tuple(
            url for i, item in enumerate(self._str_list(raw, "sources", "summit"))
            if (url := self._url(item, f"summit.sources[{i}]"))
        )
        if sid and name and city and country and tz:
            return Summit(sid, name, city, country, tz, sources)
        return None

    def _zone(self, raw: dict[str, Any], path: str, required: bool) -> str | None:
        name = self._get(raw, "timezone", path, str, required)
        if name in NOT_A_PLACE:
            self.problem(f"{path}.timezone", f"{name!r} is the tz database's placeholder for "
                         "an unset zone, not a place; use the venue's IANA zone")
            return None
        if name is not None and not known_zone(name):
            self.problem(f"{path}.timezone", f"unknown time zone {name!r} (expected an IANA "
                         "name such as 'Asia/Dushanbe')")
            return None
        return name

    def _check_session(self, raw: dict[str, Any], path: str, summit: str,
                       summit_tz: str | None) -> Session | None:
        self._unknown_keys(raw, SESSION_KEYS, path)
        before = len(self.problems)
        sid = self._slug(raw, "id", path)
        if sid:
            self.session_ids.append((path, sid))
        title = self._text(raw, "title", path, True)
        orgs = self._str_list(raw, "organizations", path)
        self.referenced["organisation"].update(orgs)
        people: list[tuple[int, str | None, str | None]] = []
        self._sites.append((path, orgs, people))
        tz = self._zone(raw, path, required=False) if "timezone" in raw else summit_tz
        status = self._get(raw, "status", path, str) or SessionStatus.CONFIRMED
        if status not in STATUSES:
            self.problem(f"{path}.status", f"{status!r} is not one of: {', '.join(STATUSES)}")
        video = raw.get("video_url")
        video_url = self._url(video, f"{path}.video_url") if video is not None else None
        timing = self._timing(raw, path, tz)
        attendance = self._attendance(raw, path, people)
        if len(self.problems) > before or not (sid and title and tz) or timing is None:
            return None
        start, end, day, end_day = timing
        return Session(
            summit=summit, id=sid, title=title, timezone=tz, organizations=tuple(orgs),
            start=start, end=end, date=day, end_date=end_day,
            venue=self._text(raw, "venue", path), status=SessionStatus(status),
            description=self._text(raw, "description", path, lines=True), video_url=video_url,
            attendance=tuple(attendance),
        )

    def _timing(self, raw: dict[str, Any], path: str, tz: str | None):
        has_start, has_date = "start" in raw, "date" in raw
        if has_start and has_date:
            self.problem(path, "give either start (a timed session) or date (all-day), not both")
            return None
        if not has_start and not has_date:
            self.problem(path, "needs start (a local date-time) or date (an all-day session)")
            return None
        if has_start:
            return self._timed(raw, path, tz)
        return self._all_day(raw, path)

    def _timed(self, raw: dict[str, Any], path: str, tz: str | None):
        for key in ("end_date",):
            if key in raw:
                self.problem(f"{path}.{key}", "only for all-day sessions (with date); use end")
        fold = self._get(raw, "fold", path, int)
        if fold is not None and fold not in (0, 1):
            self.problem(f"{path}.fold", f"must be 0 or 1, got {fold}")
            fold = None
        start = self._instant(raw, "start", path, tz, fold)
        end = self._instant(raw, "end", path, tz, fold) if "end" in raw else None
        if start is None or ("end" in raw and end is None):
            return None
        if end is not None and end <= start:
            self.problem(f"{path}.end", f"{raw['end'].isoformat()} is not after start "
                         f"({raw['start'].isoformat()})")
            return None
        return start, end, None, None

    def _instant(self, raw: dict[str, Any], key: str, path: str, tz: str | None,
                 fold: int | None) -> datetime | None:
        value = raw[key]
        where = f"{path}.{key}"
        if not isinstance(value, datetime):
            hint = "; for an all-day session use date = …" if isinstance(value, date) else ""
            self.problem(where, f"expected a local date-time like 2021-09-16T10:00:00, got "
                         f"{_kind(value)} ({value!r}){hint}")
            return None
        if tz is None:
            return None
        try:
            return resolve(value, tz, fold)
        except LocalTimeError as exc:
            self.problem(where, str(exc))
            return None

    def _all_day(self, raw: dict[str, Any], path: str):
        for key in ("end", "fold"):
            if key in raw:
                self.problem(f"{path}.{key}", "only for timed sessions (with start); use end_date")
        day = self._get(raw, "date", path, date, required=True)
        end_day = self._get(raw, "end_date", path, date)
        if day is None or ("end_date" in raw and end_day is None):
            return None
        if end_day is not None and end_day < day:
            self.problem(f"{path}.end_date", f"{end_day} is before date ({day})")
            return None
        if end_day == day:
            end_day = None
        return None, None, day, end_day

    def _attendance(self, raw: dict[str, Any], path: str,
                    people: list[tuple[int, str | None, str | None]]) -> list[Attendance]:
        """The valid items of ``attendance``; ``people`` gets (index, participant,
        delegate) of each item that names someone."""
        items = raw.get("attendance", [])
        if not isinstance(items, list):
            self.problem(f"{path}.attendance", f"expected an array of tables, got {_kind(items)}")
            return []
        out: list[Attendance] = []
        seen: set[str] = set()
        named = self.referenced["participant"]
        for i, item in enumerate(items):
            fast = _attendance_as_written(item)
            if fast is not None and fast.participant not in seen:
                seen.add(fast.participant)
                named.add(fast.participant)
                if fast.delegate:
                    named.add(fast.delegate)
                people.append((i, fast.participant, fast.delegate))
                out.append(fast)
                continue
            where = f"{path}.attendance[{i}]"
            if not isinstance(item, dict):
                self.problem(where, f"expected a table, got {_kind(item)}")
                continue
            self._unknown_keys(item, ATTENDANCE_KEYS, where)
            who = self._get(item, "participant", where, str, True)
            mode = self._get(item, "mode", where, str, True)
            delegate = self._get(item, "delegate", where, str)
            note = self._text(item, "note", where, lines=True)
            announced = self._get(item, "announced", where, date)
            if who in seen:  # whatever else is wrong with either item
                self.problem(f"{where}.participant", f"{who!r} is listed twice in this session")
            elif who:
                seen.add(who)
            if mode is not None and mode not in MODES:
                self.problem(f"{where}.mode", f"{mode!r} is not one of: {', '.join(MODES)}")
                continue
            if delegate is not None and mode != AttendanceMode.DELEGATED:
                self.problem(f"{where}.delegate", "only allowed with mode = \"delegated\"")
                continue
            if mode == AttendanceMode.DELEGATED and "delegate" not in item:
                self.problem(f"{where}.delegate", "is required with mode = \"delegated\" (who "
                             "attends instead: a participant id)")
                continue
            if who or delegate:
                people.append((i, who, delegate))
                named.update(name for name in (who, delegate) if name)
            if who and mode and not any(a.participant == who for a in out):
                out.append(Attendance(who, AttendanceMode(mode), delegate, note, announced))
        return out
