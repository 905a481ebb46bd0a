"""Five independent iCalendar parsers behind one shape, for the interop tests.

Each parser turns feed bytes into a list of :class:`Parsed` events, with start and end as
UTC ISO instants ("2024-07-03T05:00:00Z") or dates ("2024-07-03"), and without DTEND the
end each library itself computes (RFC 5545: a timed event ends as it starts).

* ``icalendar`` — Python icalendar. It resolves an IANA TZID with zoneinfo and never
  reads the VTIMEZONE, so ``icalendar+vtimezone`` also converts each local time with the
  feed's own VTIMEZONE (``Timezone.to_tz(lookup_tzid=False)``, dateutil underneath).
* ``ical`` — Home Assistant's ``ical`` (also zoneinfo for IANA names).
* ``vobject`` — reads the VTIMEZONE through dateutil.
* ``ical.js`` — Mozilla's, under Node (``tests/js/ical_events.mjs``); reads only the
  VTIMEZONEs in the file.
* ``libical`` — the C library behind Evolution and many CalDAV servers, through Debian's
  GObject bindings (``python3-gi``, ``gir1.2-ical-3.0``) under the system Python
  (``tests/libical/ical_events.py``); reads only the VTIMEZONEs in the file.

ical.js and libical each run as one subprocess for a whole batch of feeds
(:func:`parse_icaljs_many`, :func:`parse_libical_many`), so a property test can hand them
hundreds of calendars at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

from tests.tools import missing_tool, require_module, require_tool

JS_DIR = Path(__file__).resolve().parents[1] / "js"
HARNESS = JS_DIR / "ical_events.mjs"
NPM_HINT = "needed for the ical.js interop tests; run `npm ci` in tests/js"
LIBICAL_HARNESS = Path(__file__).resolve().parents[1] / "libical" / "ical_events.py"
#: A Python that has libical's GObject bindings: Debian's own, not the virtualenv's.
GI_PYTHON = os.environ.get("SUMMITCAL_TEST_GI_PYTHON", "/usr/bin/python3")
GI_HINT = (
    "needed for the libical interop tests; install Debian's python3-gi and gir1.2-ical-3.0 "
    "(or point SUMMITCAL_TEST_GI_PYTHON at a Python that has them)"
)


@dataclass(frozen=True)
class Parsed:
    uid: str
    start: str
    end: str
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    status: str | None = None
    categories: tuple[str, ...] = field(default=())


def instant(value: date | datetime) -> str:
    """UTC ISO instant for a datetime, ISO date for a date; floating times are marked."""
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            return f"FLOATING {value.isoformat()}"
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def parse_icalendar(data: bytes) -> list[Parsed]:
    icalendar = require_module("icalendar", "the application's own dependency")
    calendar = icalendar.Calendar.from_ical(data)
    return [
        Parsed(
            uid=str(event["UID"]),
            start=instant(event.start),
            end=instant(event.end),
            summary=_text(event.get("SUMMARY")),
            description=_text(event.get("DESCRIPTION")),
            location=_text(event.get("LOCATION")),
            status=_text(event.get("STATUS")),
            categories=tuple(str(c) for c in event.categories),
        )
        for event in calendar.walk("VEVENT")
    ]


def parse_icalendar_vtimezone(data: bytes) -> list[Parsed]:
    """Like :func:`parse_icalendar`, but local times go through the feed's VTIMEZONEs."""
    icalendar = require_module("icalendar", "the application's own dependency")
    calendar = icalendar.Calendar.from_ical(data)
    zones = {str(c["TZID"]): c.to_tz(lookup_tzid=False) for c in calendar.walk("VTIMEZONE")}

    def moment(prop: Any) -> str:
        tzid = prop.params.get("TZID")
        if tzid is None:
            return instant(prop.dt)
        if tzid not in zones:
            return f"NO VTIMEZONE {tzid}"
        return instant(prop.dt.replace(tzinfo=None).replace(tzinfo=zones[tzid]))

    parsed = []
    for event in calendar.walk("VEVENT"):
        start = moment(event["DTSTART"])
        end = moment(event["DTEND"]) if "DTEND" in event else start
        summary = _text(event.get("SUMMARY"))
        parsed.append(Parsed(uid=str(event["UID"]), start=start, end=end, summary=summary))
    return parsed


def parse_ical(data: bytes) -> list[Parsed]:
    stream = require_module(
        "ical.calendar_stream", "install the test extra: pip install -e .[test]"
    )
    calendar = stream.IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    return [
        Parsed(
            uid=event.uid,
            start=instant(event.dtstart),
            end=instant(event.end),
            summary=event.summary,
            description=event.description,
            location=event.location,
            status=event.status.value if event.status is not None else None,
            categories=tuple(event.categories),
        )
        for event in calendar.events
    ]


def parse_vobject(data: bytes) -> list[Parsed]:
    vobject = require_module("vobject", "install the test extra: pip install -e .[test]")
    # vobject keeps one process-wide TZID → tzinfo registry in which the first VTIMEZONE
    # seen for a TZID wins; a later feed's VTIMEZONE (another span) would be ignored.
    # Forget earlier feeds so that each parse reads its own VTIMEZONEs.
    registry = vars(vobject.icalendar)["__tzidMap"]
    for tzid in [key for key in registry if key != "UTC"]:
        del registry[tzid]
    calendar = vobject.readOne(data.decode("utf-8"))
    parsed = []
    for event in calendar.contents.get("vevent", []):
        start = event.dtstart.value
        end = event.dtend.value if "dtend" in event.contents else start
        parsed.append(
            Parsed(
                uid=event.uid.value,
                start=instant(start),
                end=instant(end),
                summary=_value(event, "summary"),
                description=_value(event, "description"),
                location=_value(event, "location"),
                status=_value(event, "status"),
                categories=tuple(
                    str(v) for line in event.contents.get("categories", []) for v in line.value
                ),
            )
        )
    return parsed


def _value(event: Any, name: str) -> str | None:
    lines = event.contents.get(name)
    return str(lines[0].value) if lines else None


def require_icaljs() -> str:
    """The ``node`` executable, once tests/js has ical.js installed; else skip/fail."""
    node = require_tool("node", NPM_HINT)
    if not (JS_DIR / "node_modules" / "ical.js").is_dir():
        missing_tool("ical.js in tests/js/node_modules", NPM_HINT)
    return node


def parse_icaljs(data: bytes) -> list[Parsed]:
    return parse_icaljs_many([data])[0]


def parse_icaljs_many(feeds: Sequence[bytes]) -> list[list[Parsed]]:
    """Each feed read by ical.js, all in one Node process."""
    node = require_icaljs()
    return [[_from_js(item) for item in events] for events in _run_batch([node, str(HARNESS)], feeds, JS_DIR)]


@cache
def _gi_python_works() -> bool:
    probe = "import gi; gi.require_version('ICalGLib', '3.0'); from gi.repository import ICalGLib"
    try:
        done = subprocess.run([GI_PYTHON, "-c", probe], capture_output=True, timeout=60, check=False)
    except OSError:
        return False
    return done.returncode == 0


def require_libical() -> str:
    """The Python that runs the libical harness; else skip/fail (tests.tools policy)."""
    if not _gi_python_works():
        missing_tool(f"libical's GObject bindings under {GI_PYTHON}", GI_HINT)
    return GI_PYTHON


def parse_libical(data: bytes) -> list[Parsed]:
    return parse_libical_many([data])[0]


def parse_libical_many(feeds: Sequence[bytes]) -> list[list[Parsed]]:
    """Each feed read by libical, all in one process."""
    python = require_libical()
    return [[_from_js(item) for item in events] for events in _run_batch([python, str(LIBICAL_HARNESS)], feeds, None)]


def _run_batch(command: list[str], feeds: Sequence[bytes], cwd: Path | None) -> list[Any]:
    """Write ``feeds`` to files, run ``command FILE…``, and return its JSON per file."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index, data in enumerate(feeds):
            path = Path(folder) / f"feed-{index}.ics"
            path.write_bytes(data)
            paths.append(str(path))
        done = subprocess.run(
            [*command, *paths],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    if done.returncode != 0:
        raise AssertionError(f"{Path(command[1]).name} failed:\n{done.stderr}")
    result = json.loads(done.stdout)
    assert len(result) == len(feeds)
    return result


def _from_js(item: dict[str, Any]) -> Parsed:
    def mark(value: str, zone: str | None) -> str:
        return f"FLOATING {value}" if zone == "floating" else value

    return Parsed(
        uid=item["uid"],
        start=mark(item["start"], item["startZone"]),
        end=mark(item["end"], item["endZone"]),
        summary=item["summary"],
        description=item.get("description"),
        location=item.get("location"),
        status=item.get("status"),
        categories=tuple(item.get("categories", ())),
    )


PARSERS: dict[str, Callable[[bytes], list[Parsed]]] = {
    "icalendar": parse_icalendar,
    "icalendar+vtimezone": parse_icalendar_vtimezone,
    "ical": parse_ical,
    "vobject": parse_vobject,
    "ical.js": parse_icaljs,
    "libical": parse_libical,
}
