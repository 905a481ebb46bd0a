"""ISO 8601 durations (``PT2M``, ``P1D``, ``P1W``) as used in config, reminders and feeds."""

from __future__ import annotations

import re
from datetime import timedelta

# The calendar subset of ISO 8601: weeks, days, hours, minutes, seconds. Years and
# months have no fixed length, so they are refused rather than guessed.
_FORM = re.compile(r"^P(?:(?P<weeks>\d+)W|(?:(?P<days>\d+)D)?(?:T(?=\d)"
                   r"(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?)$")


def parse_duration(text: object) -> timedelta:
    """Parse a positive ISO 8601 duration; ValueError for anything else."""
    found = _FORM.match(text) if isinstance(text, str) and text != "P" else None
    if found is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as 'PT1H' or 'P1D'")
    # The pattern took the numbers apart already (no icalendar import at start-up).
    try:
        return timedelta(**{unit: int(n) for unit, n in found.groupdict().items() if n})
    except OverflowError:
        raise ValueError(f"{text!r} is longer than a duration can be") from None


def format_duration(delta: timedelta) -> str:
    """The canonical ISO 8601 form of ``delta`` (``PT1H``, ``P1D``, ``P1DT2H``)."""
    from icalendar.prop import vDuration  # here: the configuration's start-up needs no more

    return vDuration(delta).to_ical().decode("ascii")
