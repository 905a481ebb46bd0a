"""A zone's offset history, read from the pinned tz database itself.

``zoneinfo`` answers "what is the offset at this instant" but does not list when the
offset changes, and what a VTIMEZONE needs is exactly that list. Libraries that rebuild it
by probing ``zoneinfo`` miss changes: icalendar 7.3's ``Timezone.from_tzinfo`` skipped
Morocco's 2023 Ramadan change, putting every parser that trusts the VTIMEZONE an hour off.
So this module reads the same compiled TZif file that ``zoneinfo`` reads (from the
``tzdata`` package, to which :mod:`summitcal` pins ``zoneinfo``), as RFC 8536 defines it:

* the version 2+ data block (64-bit transition times, local time types with UT offset,
  ``isdst`` flag and abbreviation);
* local time type 0 for instants before the first transition (RFC 8536 §3.2);
* the footer's POSIX TZ string (RFC 8536 §3.3, POSIX.1-2017 §8.3 with the RFC's
  extensions: hours from -167 to 167 in rule times) for instants after the last
  transition. ``tzdata`` is compiled "slim", so for most zones every transition after the
  current rule took effect (Madrid after 1996) comes from the footer alone.

Leap-second tables (the ``right/`` zones) are refused; ``tzdata`` has none. The test suite
checks every zone's history against ``zoneinfo`` (CPython's independent reader) instant by
instant.
"""

from __future__ import annotations

import re
import struct
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from zoneinfo import ZoneInfo

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_HEADER = struct.Struct(">4sc15x6l")


class TzifError(ValueError):
    """A TZif file or TZ string this reader cannot use (RFC 8536 says how it should be)."""


@dataclass(frozen=True, order=True)
class LocalTimeType:
    """One way a zone keeps time (RFC 8536 §3.2 "ttinfo").

    ``offset`` is the UT offset (east positive, may have seconds: Monrovia was
    -00:44:30 until 1972); ``is_dst`` the tz database's daylight-saving flag, which is
    set for *negative* DST too (Dublin's winter GMT, Casablanca's Ramadan +00);
    ``abbreviation`` the designation, such as ``CEST`` or ``+05``.
    """

    offset: timedelta
    is_dst: bool
    abbreviation: str


@dataclass(frozen=True)
class Transition:
    """The instant ``at`` (aware, UTC) when a zone goes from ``before`` to ``after``."""

    at: datetime
    before: LocalTimeType
    after: LocalTimeType


@dataclass(frozen=True)
class _Rule:
    """A footer TZ string: standard time, and optionally DST with its yearly rule."""

    standard: LocalTimeType
    daylight: LocalTimeType | None = None
    start: tuple[str, int, int, int] | None = None  # date form and fields, see _rule_day
    start_time: int = 7200  # seconds after local midnight, in standard time
    end: tuple[str, int, int, int] | None = None
    end_time: int = 7200  # seconds after local midnight, in daylight time


@dataclass(frozen=True)
class ZoneHistory:
    """Every change of one zone: explicit transitions, then the footer's rule.

    ``times`` are UTC seconds since the epoch, ascending; ``types[i]`` is in force from
    ``times[i]``; ``initial`` before ``times[0]``; ``rule`` after the last time, if the
    file has a footer.
    """

    name: str
    times: tuple[int, ...]
    types: tuple[LocalTimeType, ...]
    initial: LocalTimeType
    rule: _Rule | None

    def type_at(self, moment: datetime) -> LocalTimeType:
        """The local time type in force at the aware instant ``moment``."""
        seconds = _seconds(moment)
        index = bisect_right(self.times, seconds)
        if index == len(self.times) and self.rule is not None:
            return _rule_type_at(self.rule, seconds)
        return self.types[index - 1] if index else self.initial

    def transitions(self, start: datetime, end: datetime) -> list[Transition]:
        """Every change of offset, DST flag or abbreviation in the instants (start, end].

        ``start`` and ``end`` are aware. Changes that leave all three alike (a TZif
        artefact, e.g. a new type with the same values) are not listed.
        """
        low, high = _seconds(start), _seconds(end)
        changes: list[tuple[int, LocalTimeType]] = []
        first = bisect_right(self.times, low)
        last = bisect_right(self.times, high)
        changes += zip(self.times[first:last], self.types[first:last], strict=True)
        if self.rule is not None and self.rule.daylight is not None:
            after = max(low, self.times[-1]) if self.times else low
            changes += [c for c in _rule_changes(self.rule, after, high) if after < c[0] <= high]
        result: list[Transition] = []
        previous = self.type_at(start)
        for seconds, kind in changes:
            if kind != previous:
                result.append(Transition(_EPOCH + timedelta(seconds=seconds), previous, kind))
                previous = kind
        return result


@lru_cache(maxsize=1024)
def zone_history(name: str) -> ZoneHistory:
    """The history of the IANA zone ``name`` from the pinned tz database.

    Raises ``zoneinfo.ZoneInfoNotFoundError`` for an unknown name (checked by
    ``zoneinfo`` itself, which also refuses path tricks) and :class:`TzifError` for a
    file this reader cannot use.
    """
    ZoneInfo(name)
    data = resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).read_bytes()
    return parse_tzif(name, data)


def parse_tzif(name: str, data: bytes) -> ZoneHistory:
    """Parse TZif ``data`` (version 2 or later, RFC 8536 §3) for the zone ``name``."""
    magic, version, *counts = _header(data, 0)
    if version < b"2":
        raise TzifError(f"{name}: TZif version {version!r} has no 64-bit data (RFC 8536 §3.1)")
    offset = _HEADER.size + _v1_size(*counts)
    _, _, isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt = _header(data, offset)
    if leapcnt:
        raise TzifError(f"{name}: leap-second tables are not supported")
    offset += _HEADER.size
    times = struct.unpack_from(f">{timecnt}q", data, offset)
    offset += 8 * timecnt
    indices = data[offset : offset + timecnt]
    offset += timecnt
    raw_types = [struct.unpack_from(">lBB", data, offset + 6 * i) for i in range(typecnt)]
    offset += 6 * typecnt
    chars = data[offset : offset + charcnt]
    offset += charcnt + isstdcnt + isutcnt
    kinds = [
        LocalTimeType(timedelta(seconds=utoff), bool(isdst), _abbreviation(chars, index))
        for utoff, isdst, index in raw_types
    ]
    footer = data[offset:].strip(b"\n").decode("ascii")
    return ZoneHistory(
        name=name,
        times=tuple(times),
        types=tuple(kinds[i] for i in indices),
        initial=kinds[0],
        rule=parse_tz_string(footer) if footer else None,
    )


def _header(data: bytes, offset: int) -> tuple:
    magic, version, *counts = _HEADER.unpack_from(data, offset)
    if magic != b"TZif":
        raise TzifError("not a TZif file (RFC 8536 §3.1: it starts with 'TZif')")
    return (magic, version, *counts)


def _v1_size(isutcnt: int, isstdcnt: int, leapcnt: int, timecnt: int, typecnt: int,
             charcnt: int) -> int:
    return timecnt * 5 + typecnt * 6 + charcnt + leapcnt * 8 + isstdcnt + isutcnt


def _abbreviation(chars: bytes, index: int) -> str:
    return chars[index : chars.index(b"\0", index)].decode("ascii")


# -- the footer's POSIX TZ string ------------------------------------------------------

_NAME = r"(?:[A-Za-z]{3,}|<[A-Za-z0-9+-]{3,}>)"
_TIME = r"[+-]?\d{1,3}(?::\d{1,2}(?::\d{1,2})?)?"
_DATE = r"(?:J\d{1,3}|\d{1,3}|M\d{1,2}\.\d\.\d)"
_TZ_STRING = re.compile(
    rf"(?P<std>{_NAME})(?P<stdoff>{_TIME})"
    rf"(?:(?P<dst>{_NAME})(?P<dstoff>{_TIME})?"
    rf",(?P<start>{_DATE})(?:/(?P<start_time>{_TIME}))?"
    rf",(?P<end>{_DATE})(?:/(?P<end_time>{_TIME}))?)?"
)


def parse_tz_string(text: str) -> _Rule:
    """A TZ string such as ``CET-1CEST,M3.5.0,M10.5.0/3`` (RFC 8536 §3.3).

    POSIX offsets count west of Greenwich, so ``CET-1`` is UTC+1. DST without a rule is
    refused: RFC 8536 requires the rule in a TZif footer.
    """
    match = _TZ_STRING.fullmatch(text)
    if match is None:
        raise TzifError(f"unsupported TZ string {text!r} (RFC 8536 §3.3)")
    standard = LocalTimeType(-_duration(match["stdoff"]), False, match["std"].strip("<>"))
    if match["dst"] is None:
        return _Rule(standard)
    dst_offset = (
        -_duration(match["dstoff"]) if match["dstoff"] else standard.offset + timedelta(hours=1)
    )
    return _Rule(
        standard=standard,
        daylight=LocalTimeType(dst_offset, True, match["dst"].strip("<>")),
        start=_date_form(match["start"]),
        start_time=int(_duration(match["start_time"] or "2").total_seconds()),
        end=_date_form(match["end"]),
        end_time=int(_duration(match["end_time"] or "2").total_seconds()),
    )


def _duration(text: str) -> timedelta:
    sign = -1 if text.startswith("-") else 1
    parts = [int(p) for p in text.lstrip("+-").split(":")] + [0, 0]
    return sign * timedelta(hours=parts[0], minutes=parts[1], seconds=parts[2])


def _date_form(text: str) -> tuple[str, int, int, int]:
    if text.startswith("J"):
        return ("J", int(text[1:]), 0, 0)
    if text.startswith("M"):
        month, week, weekday = (int(p) for p in text[1:].split("."))
        return ("M", month, week, weekday)
    return ("n", int(text), 0, 0)


def _rule_day(form: tuple[str, int, int, int], year: int) -> date:
    """The day a rule's date form names in ``year`` (POSIX.1-2017 §8.3).

    ``Jn``: day n of 1..365, never counting 29 February; ``n``: day n of 0..365, counting
    it; ``Mm.w.d``: weekday d (0 = Sunday) of week w (5 = the last) of month m.
    """
    kind, a, week, weekday = form
    if kind == "J":
        day = date(year, 1, 1) + timedelta(days=a - 1)
        leap = date(year, 3, 1) - date(year, 2, 28) == timedelta(days=2)
        return day + timedelta(days=1) if leap and a >= 60 else day
    if kind == "n":
        return date(year, 1, 1) + timedelta(days=a)
    first = date(year, a, 1)
    day = first + timedelta(days=(weekday - (first.isoweekday() % 7)) % 7 + 7 * (week - 1))
    while day.month != a:
        day -= timedelta(days=7)
    return day


def _rule_changes(rule: _Rule, low: int, high: int) -> list[tuple[int, LocalTimeType]]:
    """The rule's changes from the year before ``low`` to the year after ``high``, in order.

    Each year gives the start of DST (its time in standard local time) and its end (in
    daylight local time). When one year's end and the next one's start fall on the same
    instant (DST all year, e.g. ``EST5EDT,0/0,J365/25``), the later one wins.
    """
    assert rule.daylight is not None and rule.start is not None and rule.end is not None
    first_year = (_EPOCH + timedelta(seconds=low)).year - 1
    last_year = (_EPOCH + timedelta(seconds=high)).year + 1
    changes: list[tuple[int, LocalTimeType]] = []
    for year in range(first_year, last_year + 1):
        for form, time, kind, local_offset in (
            (rule.start, rule.start_time, rule.daylight, rule.standard.offset),
            (rule.end, rule.end_time, rule.standard, rule.daylight.offset),
        ):
            midnight = datetime.combine(_rule_day(form, year), datetime.min.time(), UTC)
            moment = midnight + timedelta(seconds=time) - local_offset
            changes.append((_seconds(moment), kind))
    changes.sort(key=lambda change: change[0])  # stable: same instant keeps year order
    merged: dict[int, LocalTimeType] = {}
    for seconds, kind in changes:
        merged[seconds] = kind
    return sorted(merged.items())


def _rule_type_at(rule: _Rule, seconds: int) -> LocalTimeType:
    if rule.daylight is None:
        return rule.standard
    current = rule.standard
    for moment, kind in _rule_changes(rule, seconds, seconds):
        if moment > seconds:
            break
        current = kind
    return current


def _seconds(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: an aware instant is required")
    return int((moment - _EPOCH) // timedelta(seconds=1))
