// Read an .ics file with Mozilla's ical.js and print what it reads as the calendar's
// name: {"name": NAME, "x-wr-calname": X-WR-CALNAME} (null when absent).
//
//   node tests/js/calendar_name.mjs FILE.ics
import { readFileSync } from "node:fs";
import ICAL from "ical.js";

const root = new ICAL.Component(ICAL.parse(readFileSync(process.argv[2], "utf8")));
const value = (name) => {
  const found = root.getFirstPropertyValue(name);
  return found === null ? null : String(found);
};
process.stdout.write(JSON.stringify({ name: value("name"), "x-wr-calname": value("x-wr-calname") }) + "\n");
