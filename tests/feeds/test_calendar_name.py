"""NAME and X-WR-CALNAME read as the calendar's name in every parser we know.

"SCO summit, Astana 2024" showed as "SCO summit\\, Astana 2024" in icalendar and ical.js:
they do not know NAME's type (RFC 7986: TEXT) and keep its escapes. We write
``NAME;VALUE=TEXT`` escaped and ``X-WR-CALNAME`` as is (see ``feeds.calendar.header_bytes``
and the README for what each parser showed). Here each parser reads NAME, and those that
read X-WR-CALNAME plainly read it too: icalendar, ical (Home Assistant), vobject, ical.js
and libical (Debian's python3-gi with gir1.2-ical-3.0; see ``tests.feeds.parsers``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest
import vobject
from ical.calendar_stream import IcsCalendarStream
from icalendar import Calendar

from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.select import title
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.schedule_file import load_paths
from tests.feeds.parsers import JS_DIR, require_icaljs, require_libical

ROOT = Path(__file__).resolve().parents[2]
NAMES = ["SCO summit, Astana 2024", "Sessions of A; B, and C", "Talks: Astana (3–4 July)",
         "Заседание Совета, Астана", "Back\\slash \\n and \\, stay"]
LIBICAL = """
import json, sys
import gi
gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib
root = ICalGLib.Component.new_from_string(open(sys.argv[1]).read())
name = root.get_first_property(ICalGLib.PropertyKind.NAME_PROPERTY)
x = root.get_first_property(ICalGLib.PropertyKind.X_PROPERTY)
print(json.dumps({"name": name.get_name(), "x-wr-calname": x.get_x()}))
"""


def feed(name: str) -> bytes:
    schedule = load_paths([ROOT / "schedules"])
    sessions = [s for s in schedule.sessions.values() if s.summit == "astana-2024"]
    return feed_bytes(name, sessions, schedule, FeedSettings("https://cal.example.org"))


def raw_line(data: bytes, name: str) -> str:
    unfolded = data.decode("utf-8").replace("\r\n ", "")
    [line] = [line for line in unfolded.split("\r\n") if line.split(":")[0].split(";")[0] == name]
    return line.split(":", 1)[1]


def read_icalendar(data: bytes) -> dict[str, str]:
    calendar = Calendar.from_ical(data)
    return {"name": str(calendar["NAME"]), "x-wr-calname": str(calendar["X-WR-CALNAME"]),
            "calendar_name": str(calendar.calendar_name)}


def read_ical(data: bytes) -> dict[str, str]:
    calendar = IcsCalendarStream.calendar_from_ics(data.decode("utf-8"))
    [extra] = [e for e in calendar.extras if e.name == "x-wr-calname"]
    return {"name": calendar.name[0], "x-wr-calname": extra.value}


def read_vobject(data: bytes) -> dict[str, str]:
    calendar = vobject.readOne(data.decode("utf-8"))
    return {"name": calendar.contents["name"][0].value}


def read_icaljs(data: bytes) -> dict[str, str]:
    node = require_icaljs()
    return json.loads(_run([node, str(JS_DIR / "calendar_name.mjs")], data, JS_DIR))


def read_libical(data: bytes) -> dict[str, str]:
    return json.loads(_run([require_libical(), "-c", LIBICAL], data, None))


def _run(command: list[str], data: bytes, cwd: Path | None) -> str:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "feed.ics"
        path.write_bytes(data)
        done = subprocess.run([*command, str(path)], cwd=cwd, capture_output=True, text=True,
                              timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


READERS = {"icalendar": read_icalendar, "ical": read_ical, "vobject": read_vobject,
           "ical.js": read_icaljs, "libical": read_libical}


def test_calendar_name_of_the_astana_feed_is_its_summit_name():
    schedule = load_paths([ROOT / "schedules"])
    assert title(schedule, "summits", "astana-2024") == "SCO summit, Astana 2024"


@pytest.mark.parametrize("reader", READERS)
def test_calendar_name_with_commas_reads_right(reader):
    for name in NAMES:
        data = feed(name)
        assert raw_line(data, "X-WR-CALNAME") == name  # as clients show it: verbatim
        read = READERS[reader](data)
        assert read["name"] == name, (reader, read)
        if "\\" not in name or reader != "libical":
            assert set(read.values()) == {name}, (reader, read)


def test_calendar_name_backslash_is_the_one_x_wr_calname_cannot_carry_for_all():
    """libical reads X-WR-CALNAME as TEXT and unescapes it; clients that show it as
    written would show an escaped backslash doubled. No spelling suits both: we write it
    as written, and NAME carries the name right for libical."""
    name = NAMES[-1]
    read = read_libical(feed(name))
    assert read["name"] == name and read["x-wr-calname"] != name
