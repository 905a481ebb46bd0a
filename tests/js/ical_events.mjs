// Read an .ics file with Mozilla's ical.js (Thunderbird's parser) and print its events.
//
//   node tests/js/ical_events.mjs FILE.ics [FILE.ics …]
//
// Prints one JSON array with an array per file, in order, and in it one object per VEVENT: uid, summary, description, location,
// status, url, sequence, categories, conference, alarms (triggers), start, end and
// startZone/endZone. Timed start/end are UTC ISO instants ("2024-07-03T05:00:00Z"),
// all-day ones dates ("2024-07-03").
// Times are resolved only through the VTIMEZONEs inside the file (ical.js's own lookup
// in the component tree; nothing is registered), so this checks what the feed says.
// A zone that ical.js could not resolve shows as "floating" and fails the Python tests.
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

function instant(time) {
  if (time === null) {
    return null;
  }
  if (time.isDate) {
    const pad = (n, width = 2) => String(n).padStart(width, "0");
    return `${pad(time.year, 4)}-${pad(time.month)}-${pad(time.day)}`;
  }
  return time.toJSDate().toISOString().replace(".000Z", "Z");
}

function zoneOf(time) {
  if (time === null || time.isDate) {
    return null;
  }
  return time.zone ? time.zone.tzid : "floating";
}

function text(component, name) {
  const value = component.getFirstPropertyValue(name);
  return value === null ? null : String(value);
}

function describe(vevent) {
  const event = new ICAL.Event(vevent);
  // Without DTEND, ical.js applies RFC 5545: a timed event ends when it starts, an
  // all-day one after its day.
  const end = event.endDate;
  return {
    uid: event.uid,
    summary: text(vevent, "summary"),
    description: text(vevent, "description"),
    location: text(vevent, "location"),
    status: text(vevent, "status"),
    url: text(vevent, "url"),
    sequence: vevent.getFirstPropertyValue("sequence"),
    categories: vevent
      .getAllProperties("categories")
      .flatMap((prop) => prop.getValues().map(String)),
    conference: text(vevent, "conference"),
    alarms: vevent
      .getAllSubcomponents("valarm")
      .map((alarm) => String(alarm.getFirstPropertyValue("trigger"))),
    start: instant(event.startDate),
    end: instant(end),
    startZone: zoneOf(event.startDate),
    endZone: zoneOf(end),
  };
}

const paths = process.argv.slice(2);
if (paths.length === 0) {
  console.error("usage: node ical_events.mjs FILE.ics [FILE.ics …]");
  process.exit(2);
}
const files = paths.map((path) => {
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  return root.getAllSubcomponents("vevent").map(describe);
});
process.stdout.write(JSON.stringify(files) + "\n");
