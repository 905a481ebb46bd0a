"""Broken schedule files: each a small edit of tests/data/valid-madrid.toml, with the field
path and the words the error must carry. Shared by the loader tests and the CLI tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

BASE = (Path(__file__).parent.parent / "data" / "valid-madrid.toml").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Case:
    name: str
    edits: tuple[tuple[str, str], ...]
    path: str
    words: str
    raw: bytes | None = None  # whole file, instead of edits

    def text(self) -> bytes:
        if self.raw is not None:
            return self.raw
        text = BASE
        for old, new in self.edits:
            assert old in text, (self.name, old)
            text = text.replace(old, new, 1)
        return text.encode("utf-8")


def case(name: str, path: str, words: str, *edits: tuple[str, str]) -> Case:
    return Case(name, tuple(edits), path, words)


START = "start = 2024-03-30T10:00:00"
END = "end = 2024-03-30T12:00:00"
CASES = [
    case("dst-gap", "sessions[0].start", "does not exist in Europe/Madrid",
         (START, "start = 2024-03-31T02:30:00"), (END, "end = 2024-03-31T05:00:00")),
    case("repeated-hour-without-fold", "sessions[0].start", "happens twice",
         (START, "start = 2024-10-27T02:30:00"), (END, "end = 2024-10-27T05:00:00")),
    case("fold-out-of-range", "sessions[0].fold", "must be 0 or 1", (START, START + "\nfold = 2")),
    case("offset-disagrees-with-zone", "sessions[0].start", "is at UTC+1",
         (START, "start = 2024-03-30T10:00:00+03:00")),
    case("unknown-summit-zone", "summit.timezone", "unknown time zone 'Europe/Madird'",
         ('timezone = "Europe/Madrid"', 'timezone = "Europe/Madird"')),
    case("unknown-session-zone", "sessions[1].timezone", "unknown time zone 'Mars/Olympus'",
         ("date = 2024-04-01", 'date = 2024-04-01\ntimezone = "Mars/Olympus"')),
    case("factory-zone", "sessions[1].timezone", "placeholder for an unset zone",
         ("date = 2024-04-01", 'date = 2024-04-01\ntimezone = "Factory"')),
    case("end-before-start", "sessions[0].end", "is not after start",
         (END, "end = 2024-03-30T09:00:00")),
    case("end-equals-start", "sessions[0].end", "is not after start",
         (END, "end = 2024-03-30T10:00:00")),
    case("end-date-before-date", "sessions[1].end_date", "is before date",
         ("date = 2024-04-01", "date = 2024-04-01\nend_date = 2024-03-31")),
    case("unknown-participant", "sessions[0].attendance[0].participant",
         "unknown participant 'xi'", ('participant = "putin"', 'participant = "xi"')),
    case("unknown-delegate", "sessions[0].attendance[0].delegate", "unknown participant 'shoigu'",
         ('delegate = "lavrov"', 'delegate = "shoigu"')),
    case("unknown-organisation", "sessions[0].organizations[0]", "unknown organisation 'nato'",
         ('organizations = ["sco"]', 'organizations = ["nato"]')),
    case("duplicate-session-id", "sessions[1].id", "duplicate session id 'opening'",
         ('id = "closing"', 'id = "opening"')),
    case("duplicate-participant-id", "participants[1].id", "duplicate id 'putin'",
         ('id = "lavrov"', 'id = "putin"'), ('delegate = "lavrov"', 'delegate = "putin"')),
    case("unknown-top-key", "sesions", "unknown key", ("[[sessions]]\nid = \"closing\"",
                                                       "[[sesions]]\nid = \"closing\"")),
    case("unknown-session-key", "sessions[0].room", "unknown key", (START, START + '\nroom = "A"')),
    case("unknown-attendance-key", "sessions[0].attendance[0].reason", "unknown key",
         ('mode = "delegated"', 'mode = "delegated"\nreason = "busy"')),
    case("title-wrong-type", "sessions[0].title", "expected a string, got an integer",
         ('title = "Opening"', "title = 42")),
    case("start-is-a-date", "sessions[0].start", "for an all-day session use date",
         (START, "start = 2024-03-30"), (END, "")),
    case("start-is-a-time", "sessions[0].start", "got a time of day",
         (START, "start = 10:00:00"), (END, "")),
    case("date-is-a-string", "sessions[1].date", "expected a date", ("date = 2024-04-01",
                                                                   'date = "1 April"')),
    case("bad-mode", "sessions[0].attendance[0].mode", "'hologram' is not one of",
         ('mode = "delegated"', 'mode = "hologram"'), ('delegate = "lavrov"', "")),
    case("bad-status", "sessions[1].status", "'maybe' is not one of",
         ("date = 2024-04-01", 'date = 2024-04-01\nstatus = "maybe"')),
    case("delegate-without-delegated", "sessions[0].attendance[0].delegate",
         'only allowed with mode = "delegated"', ('mode = "delegated"', 'mode = "video"')),
    case("bad-slug", "sessions[0].id", "is not a valid id", ('id = "opening"', 'id = "Opening!"')),
    case("missing-title", "sessions[1].title", "is required", ('title = "Closing"\n', "")),
    case("no-start-or-date", "sessions[1]", "needs start", ("date = 2024-04-01", "")),
    case("start-and-date", "sessions[1]", "not both",
         ("date = 2024-04-01", "date = 2024-04-01\nstart = 2024-04-01T10:00:00")),
    case("missing-summit", "summit", "is required", ("[summit]\n", "[summitt]\n")),
    case("bad-video-url", "sessions[0].video_url", "is not an http(s) URL",
         (START, START + '\nvideo_url = "javascript:alert(1)"')),
    case("attendance-listed-twice", "sessions[0].attendance[1].participant", "listed twice",
         ('delegate = "lavrov"', 'delegate = "lavrov"\n\n[[sessions.attendance]]\n'
          'participant = "putin"\nmode = "video"')),
    case("bool-as-fold", "sessions[0].fold", "got a boolean", (START, START + "\nfold = true")),
    case("end-with-all-day", "sessions[1].end", "only for timed sessions",
         ("date = 2024-04-01", "date = 2024-04-01\nend = 2024-04-01T12:00:00")),
    Case("toml-syntax", (), "", "not valid TOML", raw=b'[summit]\nid = "x\n'),
    Case("not-utf8", (), "", "not UTF-8", raw=b'[summit]\nname = "\xff\xfe"\n'),
]
