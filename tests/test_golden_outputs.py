"""Golden outputs: what users observe, byte for byte, from the shipped data.

A refactor must leave every feed, page and email exactly as it was. This test loads
``history/`` and then ``schedules/`` (as the README's tour does) into a fresh SQLite store
at fixed instants, and compares against the files under ``tests/data/golden/``:

- ``feeds/``: the body of ``/feeds/all.ics``, of every summit, organisation and
  participant feed, and of every one-session calendar (``/feeds/sessions/…``), as served
  over HTTP (in-process, ``TestClient``);
- ``pages/``: the HTML of ``/``, of each summit's page and of the change log (``/changes``,
  ``/changes.atom``);
- ``email/``: every kind of email (confirm, welcome, reminder, attendance_change,
  schedule_change, changes, test) for one recipient at one instant, both as
  ``scheduler.compose.compose`` builds it (``NAME.eml``) and as the fan-out's fast path
  ``scheduler.rawmail.compose_bytes`` writes it for SMTP (``NAME.wire.eml``). The contexts
  come from ``scheduler.samples`` (every template branch) and from the shipped data
  (``shipped-*``: the changes between ``history/`` and ``schedules/``, reminders).

What is normalised, and why: only MIME boundaries, which both ``email.generator`` and
``rawmail`` draw at random per message; each is replaced by ``BOUNDARY-n`` in order of
appearance. Nothing else varies: the loads run at fixed instants (so DTSTAMP and
LAST-MODIFIED, taken from when a session last changed, are fixed), the secret key is
fixed, and every shipped session is in the past, so what the pages call upcoming does not
move with the clock. A difference is therefore a change in what users see.

After an intended change of output, rewrite the files and review the diff::

    SUMMITCAL_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_golden_outputs.py
    git diff tests/data/golden/
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.scheduler import samples
from summitcal.scheduler.compose import compose
from summitcal.scheduler.messages import (
    AttendanceItem,
    AttendanceNotice,
    ChangesNotice,
    Confirm,
    Context,
    Reminder,
    ScheduleNotice,
    SessionChange,
    Welcome,
)
from summitcal.scheduler.renderers import make_test_message
from summitcal.summits.model import Schedule
from summitcal.summits.schedule_file import load_files
from summitcal.web.app import create_app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
UPDATE = os.environ.get("SUMMITCAL_UPDATE_GOLDEN") == "1"

BASE_URL = "https://summitcal.test"
HISTORY = ROOT / "history" / "dushanbe-2021-before-announcement.toml"
HISTORY_AT = datetime(2021, 9, 1, 6, 0, tzinfo=UTC)
SCHEDULES_AT = datetime(2021, 9, 14, 12, 0, tzinfo=UTC)
# Every email: this recipient, this sender, this Date (the instant "your time" is shown for).
SENDER = "summitcal <summitcal@summitcal.test>"
RECIPIENT = "reader@example.org"
MAIL_AT = datetime(2021, 9, 15, 9, 0, tzinfo=UTC)
UNSUBSCRIBE = f"{BASE_URL}/subscriptions/unsubscribe/golden-token"
MANAGE = f"{BASE_URL}/manage/golden-token"
_BOUNDARY = re.compile(rb"={15}[0-9A-Za-z]+={2}")


# --- the site: shipped data loaded at fixed instants -------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, tuple]]:
    """The runtime with history/ then schedules/ applied, and the second load's changes."""
    folder = tmp_path_factory.mktemp("golden")
    config = folder / "config.toml"
    config.write_text(f'[service]\nbase_url = "{BASE_URL}"\ndata_dir = "{folder / "data"}"\n'
                      f'[database]\nurl = "sqlite:///{folder / "summitcal.sqlite3"}"\n')
    runtime = Runtime.open(load_config(config, env={"SUMMITCAL_SECRET_KEY": "g" * 32}))
    store = runtime.store
    store.apply_files(load_files([HISTORY]), "load", now=HISTORY_AT)
    result = store.apply_files(load_files([ROOT / "schedules"], applied=store.applied_files()),
                               "load", now=SCHEDULES_AT)
    assert result.changes, "schedules/ should change what history/ said"
    yield runtime, result.changes
    runtime.close()


@pytest.fixture(scope="module")
def client(site: tuple[Runtime, tuple]) -> Iterator[TestClient]:
    with TestClient(create_app(site[0])) as client:
        yield client


def get(client: TestClient, path: str) -> bytes:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return response.content


# --- comparing -------------------------------------------------------------------------

def normalise(data: bytes) -> bytes:
    """MIME boundaries (random per message) become BOUNDARY-1, BOUNDARY-2, …"""
    seen: dict[bytes, bytes] = {}

    def name(match: re.Match[bytes]) -> bytes:
        return seen.setdefault(match.group(0), b"BOUNDARY-%d" % (len(seen) + 1))

    return _BOUNDARY.sub(name, data)


def check(folder: str, outputs: dict[str, bytes], also: set[str] = frozenset()) -> None:
    """Compare ``outputs`` (relative name → bytes) with ``GOLDEN/folder``, every file;
    with SUMMITCAL_UPDATE_GOLDEN=1 write them instead (and remove files no longer made).
    ``also``: other files of the folder, compared elsewhere."""
    base = GOLDEN / folder
    stored = {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} \
        if base.exists() else set()
    if UPDATE:
        for name, data in outputs.items():
            (base / name).parent.mkdir(parents=True, exist_ok=True)
            (base / name).write_bytes(data)
        for name in stored - set(outputs) - also:
            (base / name).unlink()
        return
    problems = [f"missing golden file {folder}/{name} (SUMMITCAL_UPDATE_GOLDEN=1 writes it)"
                for name in sorted(set(outputs) - stored)]
    problems += [f"{folder}/{name} is no longer produced"
                 for name in sorted(stored - set(outputs) - also)]
    for name in sorted(set(outputs) & stored):
        want, got = (base / name).read_bytes(), outputs[name]
        if want != got:
            diff = difflib.unified_diff(
                want.decode("utf-8", "replace").splitlines(keepends=True),
                got.decode("utf-8", "replace").splitlines(keepends=True),
                f"golden/{folder}/{name}", "now", n=2)
            problems.append("".join(list(diff)[:60]) or f"{folder}/{name}: line endings differ")
    assert not problems, "\n".join(problems)


# --- feeds and pages -------------------------------------------------------------------

def feed_paths(schedule: Schedule) -> list[str]:
    """Every public feed of the schedule, and every one-session calendar."""
    names = ["all"]
    names += [f"summits/{ident}" for ident in sorted(schedule.summits)]
    names += [f"organizations/{ident}" for ident in sorted(schedule.organizations)]
    names += [f"participants/{ident}" for ident in sorted(schedule.participants)]
    names += [f"sessions/{summit}/{session}" for summit, session in sorted(schedule.sessions)]
    return names


def test_feeds_are_unchanged(site, client):
    schedule = site[0].snapshot().schedule
    check("feeds", {f"{name}.ics": get(client, f"/feeds/{name}.ics")
                    for name in feed_paths(schedule)})


def test_pages_are_unchanged(site, client):
    schedule = site[0].snapshot().schedule
    pages = {"index.html": get(client, "/"), "changes.html": get(client, "/changes"),
             "changes.atom": get(client, "/changes.atom")}
    pages |= {f"summits/{ident}.html": get(client, f"/summits/{ident}")
              for ident in sorted(schedule.summits)}
    check("pages", pages)


# --- emails ----------------------------------------------------------------------------

def shipped_contexts(schedule: Schedule, changes: tuple) -> dict[str, Context]:
    """Emails about the shipped data: the history → schedules changes as notices, and
    reminders in two zones, on time and late."""
    sessions = schedule.sessions
    attendance = tuple(AttendanceItem.from_change(c, sessions[c.summit, c.session])
                       for c in changes if c.kind == "attendance_changed")
    added = tuple(SessionChange(None, sessions[c.summit, c.session])
                  for c in changes if c.kind == "added" and c.session is not None)
    assert attendance and added, [c.kind for c in changes]
    # Every shipped session is all-day (the reports give no times of day); the samples
    # above cover timed sessions.
    dushanbe, astana = sessions["dushanbe-2021", "csto-council"], sessions["astana-2024",
                                                                          "sco-council"]
    zone = "Europe/Moscow"
    notice = AttendanceNotice(attendance, schedule, zone, MANAGE)
    moved = replace(astana, date=astana.date + timedelta(days=1),
                    end_date=astana.last_day + timedelta(days=1))
    return {
        "shipped-confirm": Confirm(f"{BASE_URL}/subscriptions/confirm/golden-token"),
        "shipped-welcome": Welcome(f"{BASE_URL}/feeds/private/golden-token.ics", MANAGE, zone,
                                   ("participant:putin", "summit:astana-2024"),
                                   (timedelta(days=1), timedelta(hours=1)),
                                   ("attendance", "schedule"), schedule),
        "shipped-reminder-dushanbe": Reminder(dushanbe, schedule, zone, timedelta(days=1),
                                              MANAGE),
        "shipped-reminder-astana": Reminder(astana, schedule, "America/New_York",
                                            timedelta(days=1), MANAGE),
        "shipped-reminder-late": Reminder(astana, schedule, zone, timedelta(hours=1), MANAGE,
                                          late=True),
        "shipped-attendance_change": notice,
        "shipped-schedule_change": ScheduleNotice(added + (SessionChange(astana, moved),),
                                                  schedule, zone, MANAGE),
        "shipped-changes": ChangesNotice(notice, ScheduleNotice(added, schedule, zone, MANAGE)),
    }


def email_contexts(schedule: Schedule, changes: tuple) -> dict[str, Context]:
    """Every sample of ``scheduler.samples`` (named by kind and position), then the shipped."""
    found: dict[str, Context] = {}
    for number, context in enumerate(samples.contexts(BASE_URL)):
        found[f"sample-{number:02d}-{context.kind}"] = context
    return found | shipped_contexts(schedule, changes)


def test_emails_are_unchanged(site):
    runtime, changes = site
    contexts = email_contexts(runtime.snapshot().schedule, changes)
    assert {c.kind for c in contexts.values()} == {
        "confirm", "welcome", "reminder", "attendance_change", "schedule_change", "changes"}
    outputs: dict[str, bytes] = {}
    readable: dict[str, bytes] = {}
    for name, context in contexts.items():
        arguments = {"sender": SENDER, "recipient": RECIPIENT, "key": f"golden:{name}",
                     "date": MAIL_AT, "base_url": BASE_URL, "unsubscribe_url": UNSUBSCRIBE}
        data = normalise(compose(context, **arguments).data)
        outputs[f"{name}.wire.eml"] = data
        readable[f"{name}.eml"] = data
    test = make_test_message(sender=SENDER, recipient=RECIPIENT, key="golden:test",
                             date=MAIL_AT, base_url=BASE_URL)
    readable["test.eml"] = normalise(test.data)
    check("email", outputs, also=set(readable))
    check_readable("email", readable)


def check_readable(folder: str, outputs: dict[str, bytes]) -> None:
    """Each message reads the same as its golden ``.eml`` (once written by the ``email``
    package, before there was one writer): the same headers with the same values, the
    same MIME tree, the same decoded text and attachments. Only the encoding may differ
    (where quoted-printable breaks a line). With SUMMITCAL_UPDATE_GOLDEN=1 the files are
    written as the writer makes them."""
    base = GOLDEN / folder
    if UPDATE:
        for name, data in outputs.items():
            (base / name).write_bytes(data)
        return
    problems = []
    for name, data in sorted(outputs.items()):
        want, got = _reading((base / name).read_bytes()), _reading(data)
        if want != got:
            diff = difflib.unified_diff([f"{line}\n" for line in want],
                                        [f"{line}\n" for line in got],
                                        f"golden/{folder}/{name}", "now", n=2)
            problems.append("".join(list(diff)[:60]))
    assert not problems, "\n".join(problems)


def _reading(data: bytes) -> list[str]:
    """What a mail client shows of a message: headers as decoded values, then each part's
    type and decoded content (text with its line ends made LF), boundaries left out."""
    message = message_from_bytes(data, policy=email_policy.default)
    lines = [f"{key}: {value}" for key, value in message.items()
             if key.lower() not in ("content-type", "content-transfer-encoding")]
    for part in message.walk():
        lines.append(f"part {part.get_content_type()} {part.get_filename() or ''}".rstrip())
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        lines += content.replace("\r\n", "\n").split("\n")
    return lines


def test_normalise_replaces_only_boundaries():
    """The normalisation is as narrow as it says: boundaries, numbered by first sighting."""
    data = (b'Content-Type: multipart/alternative; boundary="===============123456789=="\n'
            b"--===============123456789==\nDTSTAMP:20210914T120000Z\n"
            b"--===============abcdef012345abcdef012345==--\n")
    assert normalise(data) == (b'Content-Type: multipart/alternative; boundary="BOUNDARY-1"\n'
                               b"--BOUNDARY-1\nDTSTAMP:20210914T120000Z\n--BOUNDARY-2--\n")
