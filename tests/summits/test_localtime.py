"""``core.localtime.resolve`` against pytz, an independent implementation with its own
copy of the tz database, at the wall times where the answer changes: on both sides of
every kind of clock change (gaps, repeated hours, changes of name or DST flag alone).
``resolve`` takes its fast path whenever both folds give one UTC offset, so a wrong
fast path shows here as a gap accepted or a repeated hour taken without its fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytz
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from summitcal.core.localtime import LocalTimeError, resolve

# Zones whose pytz data has transitions after 1970 (pytz keeps UTC instants of each).
ZONES = sorted(z for z in pytz.common_timezones
               if any(t.year >= 1970 for t in getattr(pytz.timezone(z), "_utc_transition_times", [])))


@st.composite
def near_a_change(draw):
    """(zone, naive wall time) within 3 hours of one of the zone's clock changes."""
    name = draw(st.sampled_from(ZONES))
    tz = pytz.timezone(name)
    changes = [(i, t) for i, t in enumerate(tz._utc_transition_times)
               if 1970 <= t.year <= 2037]
    index, instant = draw(st.sampled_from(changes))
    before = tz._transition_info[index - 1][0]  # the offset until the change
    wall = instant + before + timedelta(minutes=draw(st.integers(-180, 180)))
    return name, wall


def expected(name: str, wall: datetime, fold: int | None) -> datetime | str:
    """The UTC instant pytz gives, or "gap" / "repeated" when it refuses."""
    tz = pytz.timezone(name)
    try:
        return tz.localize(wall, is_dst=None).astimezone(UTC)
    except pytz.NonExistentTimeError:
        return "gap"
    except pytz.AmbiguousTimeError:
        if fold is None:
            return "repeated"
        one = tz.localize(wall, is_dst=True).astimezone(UTC)
        other = tz.localize(wall, is_dst=False).astimezone(UTC)
        return min(one, other) if fold == 0 else max(one, other)


@settings(max_examples=1500, deadline=None)
@given(case=near_a_change(), fold=st.sampled_from([None, 0, 1]))
def test_resolve_agrees_with_pytz_around_every_kind_of_change(case, fold):
    name, wall = case
    # pytz rounds UTC offsets to whole minutes (Africa/Monrovia was UTC−0:44:30 until
    # 1972); tests/summits/test_tzif.py checks such offsets against zoneinfo instead.
    assume(all(wall.replace(tzinfo=ZoneInfo(name), fold=f).utcoffset() % timedelta(minutes=1)
               == timedelta(0) for f in (0, 1)))
    want = expected(name, wall, fold)
    if isinstance(want, str):
        with pytest.raises(LocalTimeError) as refused:
            resolve(wall, name, fold)
        assert ("does not exist" if want == "gap" else "happens twice") in str(refused.value)
        return
    got = resolve(wall, name, fold)
    assert got.astimezone(UTC) == want
    assert got.replace(tzinfo=None) == wall  # the wall time as written, in its zone
    assert str(got.tzinfo) == name


def test_a_change_of_name_and_dst_flag_alone_is_neither_a_gap_nor_a_repeat():
    """Europe/Moscow, 31 March 1991 at 02:00: MSK (UTC+3, standard time) became EEST
    (UTC+3, daylight time) when the USSR's clocks stayed put that spring, so every wall
    time that night exists once. The changes around it: 27 March 2011 (UTC+3 to +4, a
    gap from 02:00) and 26 October 2014 (+4 to +3, 01:00–02:00 twice)."""
    kept = resolve(datetime(1991, 3, 31, 2, 30), "Europe/Moscow")
    assert (kept.utcoffset(), kept.dst(), kept.tzname()) == (
        timedelta(hours=3), timedelta(hours=1), "EEST")
    with pytest.raises(LocalTimeError, match="does not exist"):
        resolve(datetime(2011, 3, 27, 2, 30), "Europe/Moscow")
    with pytest.raises(LocalTimeError, match="happens twice"):
        resolve(datetime(2014, 10, 26, 1, 30), "Europe/Moscow")
