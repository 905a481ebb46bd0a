"""Wall-clock times in IANA zones: resolving them to instants, refusing the impossible.

A wall time can be missing (a daylight-saving gap), repeated (the hour after clocks go
back) or plain. ``resolve`` turns a TOML date-time into an aware datetime in the zone,
or raises ``LocalTimeError`` saying which of those went wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones


class LocalTimeError(ValueError):
    """A wall time that cannot be placed on the time line as written."""


#: In the tz database but not a place: "Factory" is its placeholder for a machine whose
#: zone was never set (abbreviation "-00", "local time unspecified"), so no session can be
#: there, and calendar parsers do not read it alike (vobject takes a VTIMEZONE that equals
#: UTC for no zone at all and leaves the time floating).
NOT_A_PLACE = frozenset({"Factory"})


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_A_PLACE


def known_zone(name: object) -> bool:
    return isinstance(name, str) and name in _zone_names()


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    if not known_zone(name):
        raise LocalTimeError(
            f"unknown time zone {name!r} (expected an IANA name such as 'Asia/Dushanbe')"
        )
    return ZoneInfo(name)


def format_offset(delta: timedelta | None) -> str:
    """UTC+5, UTC-4, UTC+5:30."""
    minutes = int((delta or timedelta(0)).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours}" + (f":{rest:02d}" if rest else "")


def is_missing(wall: datetime, tz: ZoneInfo) -> bool:
    local = wall.replace(tzinfo=tz)
    return local.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall


def is_repeated(wall: datetime, tz: ZoneInfo) -> bool:
    early = wall.replace(tzinfo=tz, fold=0)
    late = wall.replace(tzinfo=tz, fold=1)
    return early.utcoffset() != late.utcoffset() and not is_missing(wall, tz)


def resolve(value: datetime, zone_name: str, fold: int | None = None) -> datetime:
    """Place ``value`` (naive wall time, or with an explicit offset) in ``zone_name``.

    Returns an aware datetime whose tzinfo is the zone, with ``fold`` set so that
    repeated hours keep their instant. ``fold`` is required for a repeated wall time
    and ignored (normalised to 0) otherwise.
    """
    tz = zone(zone_name)
    if value.tzinfo is not None:
        return _with_offset(value, tz, zone_name)
    wall = value.replace(fold=0)
    early = wall.replace(tzinfo=tz)
    late = wall.replace(tzinfo=tz, fold=1)
    if early.utcoffset() == late.utcoffset():
        # PEP 495: both folds give one offset unless the wall time is in a gap (fold=0
        # reads the offset before it, fold=1 the one after) or repeated. Almost every
        # time is neither, and needs no round trip through UTC.
        return early
    if is_missing(wall, tz):
        raise LocalTimeError(
            f"{wall.isoformat()} does not exist in {zone_name} (the clocks skip it: "
            "a daylight-saving gap)"
        )
    # Repeated (two offsets, and not missing: checked above).
    if fold not in (0, 1):
        raise LocalTimeError(
            f"{wall.isoformat()} happens twice in {zone_name} "
            f"({format_offset(early.utcoffset())} and {format_offset(late.utcoffset())}); "
            "add fold = 0 for the first or fold = 1 for the second"
        )
    return late if fold else early


def _with_offset(value: datetime, tz: ZoneInfo, zone_name: str) -> datetime:
    instant = value.astimezone(UTC)
    local = instant.astimezone(tz)
    if local.utcoffset() != value.utcoffset():
        raise LocalTimeError(
            f"{value.isoformat()} has offset {format_offset(value.utcoffset())} but {zone_name} "
            f"is at {format_offset(local.utcoffset())} at that instant"
        )
    # astimezone() sets fold correctly for the second occurrence of a repeated hour.
    return local
