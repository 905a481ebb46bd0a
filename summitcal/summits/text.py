"""What a text field may hold: one rule, applied where text comes in.

Every text field (titles, names, roles, places, descriptions, attendance notes) passes
through :func:`multi_line` or :func:`single_line` when it enters summitcal: a schedule
file (``load``, ``check``, the admin API's TOML body), a live attendance edit (CLI
``attendance --note``, the admin API's JSON), and — by migration 0008 — what was stored
before this rule. So every output (iCalendar, Atom, HTML, email) is handed text it can
carry, and none of them needs its own rule.

The rule, and where it comes from:

* CR LF and a lone CR become LF: RFC 5545 TEXT (3.3.11) has only "\\n"; XML 1.0 (2.11)
  and email (RFC 5322) normalise line ends anyway. The control characters that separate
  lines (vertical tab, form feed and the information separators U+001C–U+001E: Python's
  ``str.splitlines`` breaks at each, and Unicode's UAX #14 gives VT and FF mandatory
  breaks) become LF too, so "tab\\vform" reads as two words, not
  "tabform" (../shared/cases/control-characters.toml). U+2028 and U+2029 are text, not
  controls, and are kept.
* Other C0 controls but TAB and LF, DEL and the C1 controls (U+0080–U+009F) are
  removed. XML 1.0 (2.2, ``Char``) forbids C0 controls outright, so one vertical tab made
  ``/changes.atom`` unreadable; RFC 5545 TSAFE-CHAR excludes CONTROL; the HTML parsing
  spec (13.2.3.5) reports every control as a parse error. None of them shows anything.
* U+FEFF (a byte-order mark, not text) is removed: icalendar 7.3 drops it at the start
  of a value on reading (it decodes as "utf-8-sig"), so it would not round-trip.
* Lone surrogates (what undecodable bytes on a command line become) and the
  noncharacters U+FFFE and U+FFFF cannot be written as UTF-8 or are not XML ``Char``;
  each becomes U+FFFD, the replacement character, so the reader sees that something was
  there.
* Single-line fields (everything but descriptions and notes) also turn TAB and each line
  break, with the spaces and TABs around it, into one space: a name or title is one line
  in an email subject, an Atom title, a calendar name.

Nothing is refused: these characters arrive by copy and paste, never on purpose, and no
output can show them.
"""

from __future__ import annotations

import re

_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e]")
_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
_REPLACED = re.compile(r"[\ud800-\udfff\ufffe\uffff]")
_BREAKS = re.compile(r"[ \t]*\n[ \t]*|\t")
_SUSPECT = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufeff\ufffe\uffff]")
REPLACEMENT = "\ufffd"


def multi_line(text: str) -> str:
    """``text`` as a multi-line field keeps it: LF line breaks and TABs, no other controls
    (see the module's rule). Idempotent; text without such characters comes back as is."""
    if _SUSPECT.search(text) is None:
        return text
    text = _NEWLINES.sub("\n", text)
    return _REPLACED.sub(REPLACEMENT, _DROPPED.sub("", text))


def single_line(text: str) -> str:
    """``text`` as a one-line field keeps it: like :func:`multi_line`, with each line break
    and TAB turned into a space (no other spacing changes). Idempotent."""
    if _SUSPECT.search(text) is None:
        return text
    return _BREAKS.sub(" ", multi_line(text))


def optional(text: str | None, *, lines: bool = False) -> str | None:
    """:func:`multi_line` (``lines=True``) or :func:`single_line` of ``text``; None stays."""
    if text is None:
        return None
    return multi_line(text) if lines else single_line(text)
