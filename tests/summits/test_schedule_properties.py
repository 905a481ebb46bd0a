"""Property tests: any wall time in any of these zones either loads to the instant pytz
(an independent implementation with its own copy of the tz database) gives, or is
refused for exactly the reason pytz gives (a gap, or a repeated hour without fold)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import pytz
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.core.errors import ScheduleError
from summitcal.summits.schedule_file import load_text

ZONES = ["Europe/Madrid", "America/New_York", "Asia/Almaty", "Asia/Dushanbe",
         "Australia/Lord_Howe", "America/Havana", "Europe/London"]

# Transitions happen on the hour or half hour: bias the minutes towards them.
wall_times = st.builds(
    lambda day, hour, minute: datetime(2020, 1, 1) + timedelta(days=day, hours=hour, minutes=minute),
    st.integers(0, 365 * 6), st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59]))

# Text the one rule for text (summits.text) keeps as it is: no controls but LF, no
# surrogates, byte-order marks or noncharacters. Other text: tests/summits/test_text.py.
TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"), include_characters="\n",
                             exclude_characters="\ufeff\ufffe\uffff"),
               min_size=1, max_size=80).filter(str.strip)
LINE = TEXT.map(lambda text: text.replace("\n", " ")).filter(str.strip)


def document(zone: str, start: datetime, fold: int | None = None, **extra) -> str:
    session = {"id": "s", "title": "T", "start": start, **extra}
    if fold is not None:
        session["fold"] = fold
    return tomli_w.dumps({"summit": {"id": "p", "name": "P", "city": "C", "country": "X",
                                     "timezone": zone}, "sessions": [session]})


@settings(max_examples=400, deadline=None)
@given(zone=st.sampled_from(ZONES), wall=wall_times, fold=st.sampled_from([None, 0, 1]))
def test_wall_times_agree_with_pytz(zone, wall, fold):
    tz = pytz.timezone(zone)
    try:
        expected = tz.localize(wall, is_dst=None).astimezone(UTC)
        kind = "plain"
    except pytz.NonExistentTimeError:
        kind = "gap"
    except pytz.AmbiguousTimeError:
        kind = "repeated"
        # fold=0 is the first occurrence: the one pytz calls is_dst=True for a DST end.
        first = tz.localize(wall, is_dst=True).astimezone(UTC)
        second = tz.localize(wall, is_dst=False).astimezone(UTC)
        expected = min(first, second) if fold == 0 else max(first, second)
    text = document(zone, wall, fold)
    if kind == "gap" or (kind == "repeated" and fold is None):
        with pytest.raises(ScheduleError) as info:
            load_text(text)
        words = "does not exist" if kind == "gap" else "happens twice"
        assert words in str(info.value) and "sessions[0].start" in str(info.value)
        return
    session = load_text(text).sessions[("p", "s")]
    assert session.starts_at == expected


@settings(max_examples=200, deadline=None)
@given(title=LINE, description=TEXT, venue=LINE, note=TEXT)
def test_text_fields_come_back_exactly(title, description, venue, note):
    text = tomli_w.dumps({
        "summit": {"id": "p", "name": "P", "city": "C", "country": "X", "timezone": "UTC"},
        "participants": [{"id": "a", "name": "A"}],
        "sessions": [{"id": "s", "title": title, "date": datetime(2024, 1, 1).date(),
                      "description": description, "venue": venue,
                      "attendance": [{"participant": "a", "mode": "video", "note": note}]}]})
    session = load_text(text).sessions[("p", "s")]
    assert (session.title, session.description, session.venue, session.attendance[0].note) == (
        title, description, venue, note)
