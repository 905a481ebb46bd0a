"""Read .ics files with libical (through Debian's GObject bindings) and print their events.

    /usr/bin/python3 tests/libical/ical_events.py FILE.ics [FILE.ics …]

Runs under the system Python that has ``python3-gi`` and ``gir1.2-ical-3.0``, not the
project's virtualenv. Prints one JSON array per file, in order, on one line: one object
per VEVENT with uid, summary, description, location, status, categories, the calendar's
X-WR-CALNAME, start and end, and startZone/endZone. Timed start/end are UTC ISO instants ("2024-07-03T05:00:00Z"), all-day
ones dates ("2024-07-03"). A TZID is resolved through the VTIMEZONE components in the
same file (libical's ``icalcomponent_get_timezone`` on the VCALENDAR); a TZID without one
shows as "NO VTIMEZONE …" so the Python tests fail on it.
"""

import json
import sys

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

UTC = ICalGLib.Timezone.get_utc_timezone()
KIND = ICalGLib.ComponentKind


def instant(time, calendar, prop):
    if time is None or time.is_null_time():
        return None, None
    if time.is_date():
        return f"{time.get_year():04d}-{time.get_month():02d}-{time.get_day():02d}", None
    zone = None
    tzid = prop.get_parameter_as_string("TZID") if prop is not None else None
    if tzid is not None:
        zone = calendar.get_timezone(tzid)
        if zone is None:
            return f"NO VTIMEZONE {tzid}", tzid
        time.set_timezone(zone)
    elif not time.is_utc():
        return "FLOATING", "floating"
    seconds = time.as_timet_with_zone(zone or UTC)
    moment = ICalGLib.Time.new_from_timet_with_zone(seconds, False, UTC)
    text = (
        f"{moment.get_year():04d}-{moment.get_month():02d}-{moment.get_day():02d}T"
        f"{moment.get_hour():02d}:{moment.get_minute():02d}:{moment.get_second():02d}Z"
    )
    return text, tzid or "UTC"


def status(event):
    if event.get_first_property(ICalGLib.PropertyKind.STATUS_PROPERTY) is None:
        return None
    return ICalGLib.Property.status_to_string(event.get_status())


def categories(event):
    values = []
    prop = event.get_first_property(ICalGLib.PropertyKind.CATEGORIES_PROPERTY)
    while prop is not None:
        values.append(prop.get_categories())
        prop = event.get_next_property(ICalGLib.PropertyKind.CATEGORIES_PROPERTY)
    return values


def calendar_name(calendar, name):
    prop = calendar.get_first_property(ICalGLib.PropertyKind.X_PROPERTY)
    while prop is not None:
        if prop.get_x_name() == name:
            return prop.get_x()
        prop = calendar.get_next_property(ICalGLib.PropertyKind.X_PROPERTY)
    return None


def describe(event, calendar):
    dtstart = event.get_first_property(ICalGLib.PropertyKind.DTSTART_PROPERTY)
    dtend = event.get_first_property(ICalGLib.PropertyKind.DTEND_PROPERTY)
    start, start_zone = instant(dtstart.get_dtstart() if dtstart else None, calendar, dtstart)
    if dtend is not None:
        end, end_zone = instant(dtend.get_dtend(), calendar, dtend)
    else:
        end, end_zone = instant(event.get_dtend(), calendar, dtstart)
    return {
        "uid": event.get_uid(),
        "summary": event.get_summary(),
        "description": event.get_description(),
        "location": event.get_location(),
        "status": status(event),
        "categories": categories(event),
        "start": start,
        "end": end,
        "startZone": start_zone,
        "endZone": end_zone,
        "x_wr_calname": calendar_name(calendar, "X-WR-CALNAME"),
    }


def events(path):
    with open(path, encoding="utf-8") as handle:
        calendar = ICalGLib.Component.new_from_string(handle.read())
    found = []
    event = calendar.get_first_component(KIND.VEVENT_COMPONENT)
    while event is not None:
        found.append(describe(event, calendar))
        event = calendar.get_next_component(KIND.VEVENT_COMPONENT)
    return found


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: ical_events.py FILE.ics [FILE.ics …]")
    print(json.dumps([events(path) for path in sys.argv[1:]]))
