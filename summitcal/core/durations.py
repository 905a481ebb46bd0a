"""ISO 8601 durations (``PT2M``, ``P1D``, ``P1W``) as used in config, reminders and feeds."""

from __future__ import annotations

import re
from datetime import timedelta

from icalendar.prop import vDuration

# The calendar subset of ISO 8601: weeks, days, hours, minutes, seconds. Years and
# months have no fixed length, so they are refused rather than guessed.
_FORM = re.compile(r"^P(?:\d+W|(?:\d+D)?(?:T(?=\d)(?:\d+H)?(?:\d+M)?(?:\d+S)?)?)$")


def parse_duration(text: object) -> timedelta:
    """Parse a positive ISO 8601 duration; ValueError for anything else."""
    if not isinstance(text, str) or text == "P" or not _FORM.match(text):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as 'PT1H' or 'P1D'")
    return vDuration.from_ical(text)


def format_duration(delta: timedelta) -> str:
    """The canonical ISO 8601 form of ``delta`` (``PT1H``, ``P1D``, ``P1DT2H``)."""
    return vDuration(delta).to_ical().decode("ascii")
