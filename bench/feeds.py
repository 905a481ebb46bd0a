"""Feed benchmark: cold build, re-assembly after one change, plain-icalendar baseline,
HTTP latency of a cached feed and of a 304, peak memory.

    .venv/bin/python bench/feeds.py              # full size: 10,000 sessions (~1-2 min)
    .venv/bin/python bench/feeds.py --quick      # small and fast (smoke test)
    .venv/bin/python bench/feeds.py --check      # exit 1 when a target is missed
    .venv/bin/python bench/feeds.py --profile    # + cProfile of one re-assembly

A synthetic schedule (5 zones over two years, timed and all-day sessions, organisations,
participants, attendance, descriptions of a few hundred characters, one summit of
exactly 100 sessions) is built as ``summits.model`` objects and applied to a real
``Store`` on a temporary SQLite database; the service parts are the real ones
(``Runtime``, ``FeedService``, ``web.app.create_app``). Every figure is the median of
several runs (the run count is printed): machines are shared and noisy.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/feeds.py`` the script's folder comes first on sys.path, and this
# file (feeds.py) would shadow the ``feeds`` package. Put the project root there instead.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse
import asyncio
import cProfile
import gc
import io
import os
import platform
import pstats
import random
import resource
import statistics
import tempfile
import time
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from functools import partial
from importlib.metadata import version as pkg_version
from zoneinfo import ZoneInfo

ZONES = ("Asia/Dushanbe", "Asia/Almaty", "Europe/Madrid", "America/New_York", "Asia/Tokyo")
HTTP_SUMMIT = "bench-http"
HTTP_SESSIONS = 100
FIRST_DAY = date(2024, 1, 8)
SPAN_DAYS = 720  # two years: several DST changes for Madrid and New York, Almaty's 2024 change
BASE_URL = "https://summitcal.example"

TARGET_REASSEMBLY_MS = 50.0
TARGET_RATIO = 50.0
TARGET_HTTP_MS = 2.0
TARGET_RSS_MB = 300.0


# --------------------------------------------------------------------------------------
# The synthetic schedule
# --------------------------------------------------------------------------------------

_FIRST = ("Amina", "Bakhtiyor", "Carmen", "Daniel", "Elena", "Farrukh", "Gulnara", "Hiroshi",
          "Isabel", "Javier", "Kairat", "Lucía", "Marat", "Nodira", "Olga", "Pablo", "Rustam",
          "Sakura", "Timur", "Ulugbek", "Valentina", "William", "Yuki", "Zarina", "Aigerim",
          "Emomali", "Kenji", "María", "Nursultan", "Sherzod")
_LAST = ("Abdullaev", "Bekov", "García", "Hernández", "Ishikawa", "Jumaev", "Kassymov",
         "López", "Martínez", "Nazarbayeva", "Ospanov", "Pérez", "Rahimov", "Sánchez",
         "Tanaka", "Umarov", "Valdés", "Watanabe", "Yamamoto", "Zhakupov", "Smith", "Johnson",
         "Brown", "Karimova", "Saidov", "Fernández", "Suzuki", "Tokayev", "Mirzoev", "Ruiz")
_ROLES = ("Minister of Foreign Affairs", "President", "Prime Minister",
          "Deputy Minister of Economy", "Secretary General", "Ambassador", "Head of Delegation",
          "Minister of Energy", "Special Envoy", "Adviser to the President", "Minister of Trade",
          "")
_COUNTRIES = ("Tajikistan", "Kazakhstan", "Spain", "the United States", "Japan",
              "Uzbekistan", "Kyrgyzstan", "Mongolia", "Portugal", "Canada", "Korea")
_ORGS = ("Shanghai Cooperation Organisation", "Collective Security Treaty Organization",
         "Conference on Interaction and Confidence-Building Measures in Asia",
         "Organization of Turkic States", "Eurasian Economic Union",
         "Union for the Mediterranean", "Organization of American States",
         "Asia-Pacific Economic Cooperation", "Association of Southeast Asian Nations", "G20",
         "OSCE", "UNESCO", "World Trade Organization", "Council of Europe",
         "Asian Development Bank", "European Bank for Reconstruction and Development",
         "Commonwealth of Independent States", "Central Asia + Japan Dialogue",
         "Ibero-American Summit", "OECD")
_TOPICS = ("energy security", "regional connectivity", "water resources", "transport corridors",
           "digital economy", "climate adaptation", "trade facilitation", "counter-terrorism",
           "food security", "public health", "cultural heritage", "youth employment",
           "critical minerals", "green hydrogen", "border management", "tourism")
_KINDS = ("Plenary session on", "Ministerial round table on", "Bilateral meeting on",
          "Working breakfast on", "Expert panel on", "Signing ceremony for the agreement on",
          "Press conference on", "Heads of delegation meeting on", "Business forum on")
_WORDS = ("the", "delegations", "will", "discuss", "cooperation", "in", "framework", "of",
          "joint", "declaration", "ministers", "review", "progress", "on", "implementation",
          "agreed", "roadmap", "and", "adopt", "communiqué", "experts", "present", "report",
          "regional", "initiatives", "financing", "partners", "observers", "invited",
          "interpretation", "provided", "into", "English", "Russian", "Spanish", "Japanese",
          "accreditation", "required", "for", "media", "closed", "session", "open", "press")
_VENUES = ("Palace of Nations", "Congress Centre, Hall A", "Congress Centre, Hall B",
           "Hotel Serena, Ballroom", "Ministry of Foreign Affairs, Room 3",
           "Independence Palace", "IFEMA, Pavilion 9", "United Nations Plaza, Room 2",
           "Kyoto International Conference Center, Annex")


def _sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(_WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def _description(rng: random.Random) -> str:
    parts: list[str] = []
    target = rng.randint(200, 500)
    while sum(len(p) + 1 for p in parts) < target:
        parts.append(_sentence(rng, rng.randint(8, 16)))
    text = " ".join(parts)
    if rng.random() < 0.3:  # some have paragraphs, commas and semicolons (escaping)
        text = text.replace(". ", ".\n\n", 1).replace(" and ", ", and; ", 1)
    return text


@dataclass
class Synthetic:
    schedule: object  # summits.model.Schedule
    summit_count: int
    timed: int
    all_day: int
    attendance_rows: int
    changeable: list[tuple[str, str]] = field(default_factory=list)


def build_schedule(total: int, seed: int) -> Synthetic:
    """``total`` sessions (at least ``HTTP_SESSIONS``), deterministic for a seed."""
    from summitcal.summits.model import (
        Attendance,
        Organization,
        Participant,
        Schedule,
        Session,
        Summit,
    )

    if total < HTTP_SESSIONS:
        raise SystemExit(f"--sessions must be at least {HTTP_SESSIONS}")
    rng = random.Random(seed)
    organizations = {f"org-{i:02d}": Organization(f"org-{i:02d}", name)
                     for i, name in enumerate(_ORGS)}
    org_ids = list(organizations)
    n_people = max(60, total // 6)
    participants = {}
    for i in range(n_people):
        role = rng.choice(_ROLES)
        if role:
            role = f"{role} of {rng.choice(_COUNTRIES)}"
        pid = f"p{i:05d}"
        participants[pid] = Participant(pid, f"{rng.choice(_FIRST)} {rng.choice(_LAST)}", role)
    people = list(participants)

    # Summit sizes: the HTTP summit has exactly HTTP_SESSIONS, the rest 40..160 each.
    sizes = [HTTP_SESSIONS]
    left = total - HTTP_SESSIONS
    while left > 0:
        size = min(left, rng.randint(40, 160))
        sizes.append(size)
        left -= size
    order = list(range(len(sizes)))
    rng.shuffle(order)  # the HTTP summit somewhere in the middle of the two years
    summits, sessions = {}, {}
    timed = all_day = rows = 0
    changeable: list[tuple[str, str]] = []
    for slot, index in enumerate(order):
        size = sizes[index]
        zone_name = ZONES[index % len(ZONES)]
        zone = ZoneInfo(zone_name)
        sid = HTTP_SUMMIT if index == 0 else f"summit-{index:03d}"
        country = rng.choice(_COUNTRIES)
        city = zone_name.split("/")[1].replace("_", " ")
        summits[sid] = Summit(
            sid, f"{rng.choice(_ORGS)} summit, {city} {2024 + slot * 2 // len(order)}",
            city, country, zone_name,
            tuple(f"https://news.example/{sid}/{k}" for k in range(rng.randint(0, 2))),
        )
        first = FIRST_DAY + timedelta(days=slot * SPAN_DAYS // len(order) + rng.randint(0, 3))
        days = rng.randint(3, 5)
        for n in range(size):
            ident = f"s{n:04d}"
            day = first + timedelta(days=rng.randrange(days))
            title = f"{rng.choice(_KINDS)} {rng.choice(_TOPICS)}"
            if rng.random() < 0.3:
                title += f" ({rng.choice(_COUNTRIES)}–{rng.choice(_COUNTRIES)})"
            attendance = []
            for pid in rng.sample(people, rng.choice((0, 1, 2, 3, 4, 4, 5, 6, 8, 10))):
                mode = rng.choices(("in_person", "video", "delegated", "absent", "unknown"),
                                   (70, 12, 8, 5, 5))[0]
                delegate = None
                if mode == "delegated":
                    delegate = rng.choice([p for p in people[:50] if p != pid])
                attendance.append(Attendance(
                    pid, mode, delegate,
                    note=_sentence(rng, rng.randint(4, 9)) if rng.random() < 0.15 else None,
                    announced=(day - timedelta(days=rng.randint(1, 40))
                               if rng.random() < 0.3 else None),
                ))
            rows += len(attendance)
            common = {
                "organizations": tuple(rng.sample(org_ids, rng.randint(1, 3))),
                "venue": rng.choice(_VENUES) if rng.random() < 0.7 else None,
                "status": rng.choices(("confirmed", "tentative", "cancelled"), (90, 8, 2))[0],
                "description": _description(rng),
                "video_url": (f"https://video.example/{sid}/{ident}" if rng.random() < 0.2
                              else None),
                "attendance": tuple(attendance),
            }
            if rng.random() < 0.15:
                session = Session(sid, ident, title, zone_name, date=day,
                                  end_date=day + timedelta(days=rng.choice((0, 0, 1, 2))),
                                  **common)
                all_day += 1
            else:
                start = datetime.combine(day, dtime(rng.randint(8, 19), rng.choice((0, 15, 30, 45))),
                                         tzinfo=zone)
                session = Session(sid, ident, title, zone_name, start=start,
                                  end=start + timedelta(minutes=rng.choice((30, 45, 60, 90, 120, 180))),
                                  **common)
                timed += 1
            sessions[session.key] = session
            if attendance:
                changeable.append(session.key)
    schedule = Schedule(summits=summits, organizations=organizations,
                        participants=participants, sessions=sessions)
    return Synthetic(schedule, len(summits), timed, all_day, rows, changeable)


# --------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------


def ms(seconds: float) -> float:
    return seconds * 1000.0


def timed(fn: Callable[[], object], cpu: list[float] | None = None) -> tuple[float, object]:
    """Wall seconds of ``fn()`` and its result; with ``cpu``, also appends the process CPU
    seconds it took (less sensitive than wall time to other load on a shared machine)."""
    cpu_start = time.process_time()
    start = time.perf_counter()
    result = fn()
    took = time.perf_counter() - start
    if cpu is not None:
        cpu.append(time.process_time() - cpu_start)
    return took, result


def median(values: list[float]) -> float:
    return statistics.median(values)


def rss_mb() -> float:
    # ru_maxrss: kilobytes on Linux, bytes on macOS.
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def say(message: str) -> None:
    print(f"  .. {message}", file=sys.stderr, flush=True)


def next_mode(current: str) -> str:
    cycle = ("in_person", "video", "absent")
    return cycle[(cycle.index(current) + 1) % len(cycle)] if current in cycle else "in_person"


class Changer:
    """Changes one attendance row of one session per call, through the store."""

    def __init__(self, runtime, keys: list[tuple[str, str]], seed: int) -> None:
        self.runtime = runtime
        self.keys = list(keys)
        random.Random(seed).shuffle(self.keys)
        self.position = 0
        self.times: list[float] = []

    def change(self) -> tuple[str, str]:
        from summitcal.summits.model import Attendance

        summit, session = self.keys[self.position % len(self.keys)]
        self.position += 1
        stored = self.runtime.snapshot().schedule.sessions[summit, session]
        entry = stored.attendance[0]
        wanted = Attendance(entry.participant, next_mode(entry.mode), None, entry.note,
                            entry.announced)
        took, result = timed(lambda: self.runtime.set_attendance(
            summit, session, wanted, source="bench"))
        assert result.revision is not None, "the change wrote no revision"
        self.times.append(took)
        return summit, session


def header_calendar(name: str, settings):
    """The calendar with the same properties as ``feeds.calendar.header_bytes``."""
    from summitcal.feeds.calendar import header_calendar as feed_header

    return feed_header(name, settings)


def baseline_once(name: str, sessions, schedule, settings) -> tuple[float, float, bytes]:
    """The whole feed as one icalendar.Calendar, serialised in one go.

    Same components as the service (``build_event``/``build_vtimezone``), no caches.
    Returns (build seconds, to_ical seconds, bytes).
    """
    from summitcal.feeds.calendar import ordered, zone_spans
    from summitcal.feeds.event import build_event
    from summitcal.feeds.vtimezone import build_vtimezone

    start = time.perf_counter()
    calendar = header_calendar(name, settings)
    chosen = ordered(sessions)
    for zone, (first, last) in zone_spans(chosen).items():
        calendar.add_component(build_vtimezone(zone, first, last))
    for session in chosen:
        calendar.add_component(build_event(session, schedule, settings.base_url))
    built = time.perf_counter()
    body = calendar.to_ical()
    done = time.perf_counter()
    return built - start, done - built, body


_BASELINE_ARGS: tuple | None = None  # set before forking the baseline's child process


def _baseline_child() -> tuple[float, float, bytes, float, float]:
    assert _BASELINE_ARGS is not None
    cpu = time.process_time()
    built, serialised, body = baseline_once(*_BASELINE_ARGS)
    return built, serialised, body, time.process_time() - cpu, rss_mb()


def baseline_forked(name: str, sessions, schedule, settings):
    """``baseline_once`` in a forked child process: (build s, to_ical s, bytes, CPU s,
    the child's peak RSS MB). The child shares the schedule already in memory and keeps
    icalendar's 10,000-component tree out of the service's own peak RSS."""
    global _BASELINE_ARGS
    import multiprocessing

    _BASELINE_ARGS = (name, sessions, schedule, settings)
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            return pool.apply(_baseline_child)
    finally:
        _BASELINE_ARGS = None


# --- HTTP, in process -------------------------------------------------------------------


def http_scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench.local"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("bench.local", 80),
    }


async def asgi_request(app, scope: dict) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request straight into the ASGI app; returns status, headers, body."""
    received = False
    status = 0
    headers: dict[bytes, bytes] = {}
    chunks: list[bytes] = []

    async def receive():
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            headers.update((k.lower(), v) for k, v in message.get("headers", ()))
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, headers, b"".join(chunks)


async def http_direct(app, path: str, n: int) -> dict[str, object]:
    status, headers, body = await asgi_request(app, http_scope(path, []))  # warm
    assert status == 200 and body, f"GET {path}: {status}"
    etag = headers[b"etag"]
    get_times, not_modified_times = [], []
    for _ in range(n):
        scope = http_scope(path, [])
        start = time.perf_counter()
        status, _, body = await asgi_request(app, scope)
        get_times.append(time.perf_counter() - start)
        assert status == 200 and body
    for _ in range(n):
        scope = http_scope(path, [(b"if-none-match", etag)])
        start = time.perf_counter()
        status, _, body = await asgi_request(app, scope)
        not_modified_times.append(time.perf_counter() - start)
        assert status == 304 and not body, status
    return {"get": get_times, "304": not_modified_times, "etag": etag.decode()}


async def http_httpx(app, path: str, n: int) -> dict[str, list[float]]:
    import httpx

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench.local") as client:
        first = await client.get(path)
        assert first.status_code == 200
        etag = first.headers["etag"]
        get_times, not_modified_times = [], []
        for _ in range(n):
            start = time.perf_counter()
            response = await client.get(path)
            get_times.append(time.perf_counter() - start)
            assert response.status_code == 200
        for _ in range(n):
            start = time.perf_counter()
            response = await client.get(path, headers={"If-None-Match": etag})
            not_modified_times.append(time.perf_counter() - start)
            assert response.status_code == 304
    return {"get": get_times, "304": not_modified_times}


def http_testclient(app, path: str, n: int) -> dict[str, list[float]]:
    from starlette.testclient import TestClient

    with TestClient(app, base_url="http://bench.local") as client:
        first = client.get(path)
        assert first.status_code == 200
        etag = first.headers["etag"]
        get_times, not_modified_times = [], []
        for _ in range(n):
            start = time.perf_counter()
            response = client.get(path)
            get_times.append(time.perf_counter() - start)
            assert response.status_code == 200
        for _ in range(n):
            start = time.perf_counter()
            response = client.get(path, headers={"If-None-Match": etag})
            not_modified_times.append(time.perf_counter() - start)
            assert response.status_code == 304
    return {"get": get_times, "304": not_modified_times}


# --- Reporting --------------------------------------------------------------------------


@dataclass
class Row:
    label: str
    value: str
    runs: str = ""
    target: str = ""
    result: str = ""  # PASS / FAIL for a target that counts, "" for information


def fmt_ms(seconds: float) -> str:
    value = ms(seconds)
    if value < 1:
        return f"{value * 1000:.0f} µs"
    if value < 100:
        return f"{value:.2f} ms"
    return f"{value:.0f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def print_table(rows: list[Row]) -> None:
    widths = [max(len(getattr(r, name)) for r in rows) for name in ("label", "value", "runs",
                                                                     "target", "result")]
    heads = ("figure", "median", "runs", "target", "result")
    widths = [max(w, len(h)) for w, h in zip(widths, heads)]
    line = "  ".join(h.ljust(w) for h, w in zip(heads, widths))
    print(line)
    print("-" * len(line))
    for r in rows:
        cells = (r.label, r.value, r.runs, r.target, r.result)
        print("  ".join(c.ljust(w) if i != 1 else c.rjust(w)
                        for i, (c, w) in enumerate(zip(cells, widths))).rstrip())


def machine_info() -> list[str]:
    import tzdata

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    libs = ", ".join(f"{name} {pkg_version(name)}" for name in
                     ("icalendar", "SQLAlchemy", "fastapi", "starlette", "httpx"))
    return [
        f"machine : {platform.platform()}; {cpu}; {os.cpu_count()} CPUs; load {load}",
        (f"python  : {platform.python_implementation()} {platform.python_version()} "
         f"({sys.executable})"),
        f"libs    : {libs}",
        (f"tz db   : tzdata {tzdata.IANA_VERSION} (package {pkg_version('tzdata')}); "
         f"zoneinfo.TZPATH={zoneinfo.TZPATH!r} (empty: the tzdata package is used)"),
    ]


def profile(label: str, fn: Callable[[], object], top: int = 18) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative")
    stats.print_stats(top)
    print(f"\n--- cProfile: {label} (top {top} by cumulative time) ---")
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    print("\n".join(line for line in lines[max(0, start - 2):] if line.strip()))


def breakdown(service, schedule, chosen, name: str, runs: int = 5) -> None:
    """Where a warm assembly's time goes, step by step (uses the builder's internals)."""
    try:
        from summitcal.feeds.cache import event_version
        from summitcal.feeds.calendar import header_bytes, ordered, zone_spans
        from summitcal.feeds.select import select

        settings = service.settings
        order = ordered(chosen)
        versions = [event_version(s, schedule) for s in order]
        keys = [(s.summit, s.id, None, ()) for s in order]
        body = service.builder.build(name, chosen, schedule)
        steps = {
            "select()": lambda: select(schedule, "all", None, service.clock(),
                                       settings.cancelled_retention),
            "header_bytes()": lambda: header_bytes(name, settings),
            "ordered() (sort by starts_at)": lambda: ordered(chosen),
            "zone_spans()": lambda: zone_spans(order),
            "event_version() x n": lambda: [event_version(s, schedule) for s in order],
            "LRU.get() x n (lock + version ==)": lambda: [
                service.builder.events.get(k, v) for k, v in zip(keys, versions)],
            "b''.join + sha256 of the body": lambda: __import__("hashlib").sha256(
                b"".join([body])).hexdigest(),
            "whole FeedBuilder.build (nothing changed)": lambda: service.builder.build(
                name, chosen, schedule),
        }
        print(f"\n--- warm assembly of {len(order)} sessions, step by step (median of {runs}) ---")
        for label, step in steps.items():
            took = median([timed(step)[0] for _ in range(runs)])
            print(f"  {label:<45} {fmt_ms(took):>10}")
    except Exception as error:  # noqa: BLE001  (internals moved: only a diagnostic)
        print(f"(assembly breakdown unavailable: {error!r})")


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=10_000,
                        help="sessions in the schedule (default 10000; --quick: 400)")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs per re-assembly figure (default 5; cold build and "
                             "baseline use min(repeat, 3); --quick: 3)")
    parser.add_argument("--requests", type=int, default=None,
                        help="timed HTTP requests per kind and client (default 400; "
                             "--quick: 40)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true",
                        help="also print a cProfile of one re-assembly (get and builder)")
    parser.add_argument("--seed", type=int, default=20240916)
    args = parser.parse_args(argv)
    if args.quick:
        if args.sessions == 10_000:
            args.sessions = 400
        args.repeat = args.repeat or 3
        args.requests = args.requests or 40
    args.repeat = max(1, args.repeat or 5)
    args.requests = max(2, args.requests or 400)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.perf_counter()
    began_cpu = time.process_time()
    load_before = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")

    from summitcal.app.config import load_config
    from summitcal.app.runtime import Runtime
    from summitcal.feeds.calendar import assemble  # noqa: F401  (import cost outside the timings)
    from summitcal.feeds.select import select, title
    from summitcal.feeds.service import FeedService
    from summitcal.web.app import create_app

    info: list[str] = []
    rows: list[Row] = []
    stage_rss: dict[str, float] = {}  # ru_maxrss after each stage
    cpu: dict[str, list[float]] = {"cold": [], "get": [], "builder": [], "baseline": []}
    counted: list[bool] = []

    with tempfile.TemporaryDirectory(prefix="summitcal-bench-") as tmp:
        folder = Path(tmp)
        config_file = folder / "config.toml"
        config_file.write_text(
            "[service]\n"
            f'base_url = "{BASE_URL}"\n'
            'data_dir = "data"\n'
            "[schedules]\n"
            "load_on_start = false\n"
            "[database]\n"
            f'url = "sqlite:///{folder / "data" / "bench.sqlite3"}"\n',
            encoding="utf-8",
        )
        config = load_config(config_file, env={})  # env={}: no SUMMITCAL_* from outside

        say(f"building a schedule of {args.sessions} sessions")
        took_build, synthetic = timed(lambda: build_schedule(args.sessions, args.seed))
        schedule = synthetic.schedule
        info.append(
            f"data    : {args.sessions} sessions ({synthetic.timed} timed, "
            f"{synthetic.all_day} all-day) in {synthetic.summit_count} summits over "
            f"{len(ZONES)} zones, {FIRST_DAY}..{FIRST_DAY + timedelta(days=SPAN_DAYS)}; "
            f"{len(schedule.organizations)} organisations, {len(schedule.participants)} "
            f"participants, {synthetic.attendance_rows} attendance rows; "
            f"summit {HTTP_SUMMIT!r}: {len(schedule.sessions_of(HTTP_SUMMIT))} sessions")
        runtime = Runtime.open(config)
        try:
            say("applying it to the store (SQLite)")
            took_apply, result = timed(partial(runtime.store.apply, schedule, source="bench"))
            assert result.revision is not None
            # From here on the bench holds no schedule of its own: memory is the service's.
            del schedule, result
            synthetic.schedule = None
            gc.collect()
            stage_rss["Store.apply"] = rss_mb()
            took_read, snapshot = timed(runtime.snapshot)
            assert len(snapshot.schedule.sessions) == args.sessions
            del snapshot
            info.append(
                f"setup   : model objects {ms(took_build):.0f} ms; Store.apply "
                f"{ms(took_apply):.0f} ms (1 revision, SQLite at {folder}); first "
                f"Runtime.snapshot() (whole schedule read) {ms(took_read):.0f} ms")

            settings = runtime.feeds.settings

            # 1. Cold build: a fresh FeedService (fresh FeedBuilder, empty caches), on the
            # schedule already in memory (the store read is figure 2c). The last run is the
            # runtime's own service (never used before), which then stays warm for the
            # re-assembly and HTTP parts; the runs before it use throw-away services.
            cold_runs = min(args.repeat, 3)
            say(f"cold builds of /feeds/all.ics ({cold_runs} runs)")
            cold_times: list[float] = []
            for run in range(cold_runs):
                service = (runtime.feeds if run == cold_runs - 1
                           else FeedService(runtime.snapshots, settings))
                assert len(service.builder.events) == 0
                gc.collect()
                took, cold = timed(partial(service.get, "all"), cpu["cold"])
                cold_times.append(took)
                del service
            events = cold.body.count(b"BEGIN:VEVENT")
            zones = cold.body.count(b"BEGIN:VTIMEZONE")
            assert events == args.sessions, (events, args.sessions)
            rows.append(Row("1  cold build /feeds/all.ics (fresh FeedService, empty caches)",
                            fmt_ms(median(cold_times)), str(cold_runs), "info"))
            info.append(f"feed    : /feeds/all.ics = {len(cold.body) / 1e6:.2f} MB, {events} "
                        f"VEVENTs, {zones} VTIMEZONEs; cold build runs: "
                        + ", ".join(f"{ms(t):.0f}" for t in cold_times) + " ms")
            previous = (cold.version, cold.etag)
            del cold
            stage_rss["cold builds"] = rss_mb()

            # 2. Re-assembly after one attendance change, with the service's warm caches.
            service = runtime.feeds
            changer = Changer(runtime, synthetic.changeable, args.seed)
            get_times: list[float] = []
            assembly_times: list[float] = []
            reread_times: list[float] = []
            say(f"re-assembly after one change ({args.repeat} runs each)")
            for _ in range(args.repeat):
                # a) through the service: snapshot (store re-read) + select + assembly + ETag
                changer.change()
                gc.collect()
                took, response = timed(partial(service.get, "all"), cpu["get"])
                get_times.append(took)
                assert response.version != previous[0] and response.etag != previous[1]
                previous = (response.version, response.etag)
                del response
                # b) the builder alone, on an already read schedule (another change)
                changer.change()
                took, snap = timed(runtime.snapshot)
                reread_times.append(took)
                chosen = select(snap.schedule, "all", None, service.clock(),
                                settings.cancelled_retention)
                name = title(snap.schedule, "all", None)
                gc.collect()
                took, body = timed(partial(service.builder.build, name, chosen, snap.schedule),
                                   cpu["builder"])
                assembly_times.append(took)
                assert body.count(b"BEGIN:VEVENT") == args.sessions
                del body
            took_nochange, _ = timed(partial(service.builder.build, name, chosen, snap.schedule))
            del snap, chosen, _

            reassembly = median(get_times)
            assembly = median(assembly_times)
            rows.append(Row("2  re-assembly after 1 attendance change: service.get",
                            fmt_ms(reassembly), str(args.repeat),
                            f"<= {TARGET_REASSEMBLY_MS:.0f} ms",
                            verdict(ms(reassembly) <= TARGET_REASSEMBLY_MS)))
            counted.append(ms(reassembly) <= TARGET_REASSEMBLY_MS)
            rows.append(Row("2b   builder assembly alone after 1 change (no store read)",
                            fmt_ms(assembly), str(args.repeat),
                            f"(<= {TARGET_REASSEMBLY_MS:.0f} ms)",
                            f"({verdict(ms(assembly) <= TARGET_REASSEMBLY_MS).lower()})"))
            rows.append(Row("2c   store re-read: Runtime.snapshot() after a change",
                            fmt_ms(median(reread_times)), str(args.repeat), "info"))
            rows.append(Row("2d   Store.set_attendance (the change itself)",
                            fmt_ms(median(changer.times)), str(len(changer.times)), "info"))
            info.append("re-asm  : service.get runs: "
                        + ", ".join(f"{ms(t):.1f}" for t in get_times) + " ms; builder runs: "
                        + ", ".join(f"{ms(t):.1f}" for t in assembly_times)
                        + f" ms; builder with nothing changed: {ms(took_nochange):.1f} ms")
            # The response the service now holds is current: the baseline is compared to it
            # (the service keeps these bytes anyway, holding them costs nothing extra).
            final_body = service.get("all").body
            gc.collect()
            stage_rss["re-assembly"] = rss_mb()

            # 4. HTTP (before the baseline so the service's own peak RSS is seen separately).
            app = create_app(runtime)
            path = f"/feeds/summits/{HTTP_SUMMIT}.ics"
            n = args.requests
            say(f"HTTP: {n} requests per kind and client")
            direct = asyncio.run(http_direct(app, path, n))
            via_httpx = asyncio.run(http_httpx(app, path, n))
            via_testclient = http_testclient(app, path, n)
            feed_100 = service.get(f"summits/{HTTP_SUMMIT}")
            assert feed_100.body.count(b"BEGIN:VEVENT") == HTTP_SESSIONS
            took_version = median([timed(runtime.store.version)[0] for _ in range(n)])
            took_cached = median([timed(lambda: service.get(f"summits/{HTTP_SUMMIT}"))[0]
                                  for _ in range(n)])
            for kind, label in (("get", "cached GET 200"), ("304", "GET 304 If-None-Match")):
                value = median(direct[kind])
                rows.append(Row(f"4  {label}, 100-session summit (raw ASGI call)",
                                fmt_ms(value), str(n), f"<= {TARGET_HTTP_MS:.0f} ms",
                                verdict(ms(value) <= TARGET_HTTP_MS)))
                counted.append(ms(value) <= TARGET_HTTP_MS)
            for kind, label in (("get", "cached GET 200"), ("304", "GET 304")):
                rows.append(Row(f"4b   {label} via httpx.ASGITransport",
                                fmt_ms(median(via_httpx[kind])), str(n), "info"))
            for kind, label in (("get", "cached GET 200"), ("304", "GET 304")):
                rows.append(Row(f"4c   {label} via starlette TestClient",
                                fmt_ms(median(via_testclient[kind])), str(n), "info"))
            rows.append(Row("4d   of which FeedService.get (cached, no HTTP)",
                            fmt_ms(took_cached), str(n), "info"))
            rows.append(Row("4e   of which Store.version() (1 query per request)",
                            fmt_ms(took_version), str(n), "info"))
            info.append(f"http    : GET {path}: {len(feed_100.body)} bytes, ETag "
                        f"{direct['etag']}; p90 raw GET "
                        f"{fmt_ms(statistics.quantiles(direct['get'], n=10)[-1])}, p90 raw 304 "
                        f"{fmt_ms(statistics.quantiles(direct['304'], n=10)[-1])}")
            stage_rss["HTTP"] = rss_mb()

            # 3. Baseline: plain icalendar, one Calendar, one to_ical().
            base_runs = min(args.repeat, 3)
            say(f"baseline: one icalendar.Calendar ({base_runs} runs)")
            snap = runtime.snapshot()
            chosen = select(snap.schedule, "all", None, service.clock(),
                            settings.cancelled_retention)
            name = title(snap.schedule, "all", None)
            base_times, base_build, base_ical, base_rss = [], [], [], []
            base_body = b""
            for _ in range(base_runs):
                base_body = b""
                gc.collect()
                built, serialised, base_body, child_cpu, child_rss = baseline_forked(
                    name, chosen, snap.schedule, settings)
                cpu["baseline"].append(child_cpu)
                base_rss.append(child_rss)
                base_times.append(built + serialised)
                base_build.append(built)
                base_ical.append(serialised)
            baseline = median(base_times)
            ratio = baseline / reassembly
            ratio_assembly = baseline / assembly
            rows.append(Row("3  baseline: plain icalendar, one Calendar + to_ical()",
                            fmt_ms(baseline), str(base_runs), "info"))
            rows.append(Row("3  ratio baseline / re-assembly (service.get)", f"{ratio:.0f}x",
                            "", f">= {TARGET_RATIO:.0f}x", verdict(ratio >= TARGET_RATIO)))
            counted.append(ratio >= TARGET_RATIO)
            rows.append(Row("3b   ratio baseline / builder assembly only",
                            f"{ratio_assembly:.0f}x", "", f"(>= {TARGET_RATIO:.0f}x)",
                            f"({verdict(ratio_assembly >= TARGET_RATIO).lower()})"))
            cpu_medians = {k: median(v) for k, v in cpu.items()}
            info.append(
                "cpu time: medians of process CPU time (steadier under other load): cold "
                f"{fmt_ms(cpu_medians['cold'])}, re-assembly {fmt_ms(cpu_medians['get'])}, "
                f"builder {fmt_ms(cpu_medians['builder'])}, baseline "
                f"{fmt_ms(cpu_medians['baseline'])}; ratio baseline / re-assembly "
                f"{cpu_medians['baseline'] / cpu_medians['get']:.0f}x, baseline / builder "
                f"{cpu_medians['baseline'] / cpu_medians['builder']:.0f}x")
            same = base_body == final_body
            info.append(f"baseline: building components {fmt_ms(median(base_build))} + "
                        f"to_ical {fmt_ms(median(base_ical))}; bytes identical to the "
                        f"assembled feed: {'yes' if same else 'NO'}")
            del base_body

            # 5. Peak RSS of the whole run.
            peak = stage_rss["baseline"] = rss_mb()
            info.append("memory  : peak RSS after each stage: " + ", ".join(
                f"{stage} {value:.0f} MB" for stage, value in stage_rss.items()))
            rows.append(Row("5  peak RSS (ru_maxrss) of the service's whole run", f"{peak:.0f} MB", "",
                            f"<= {TARGET_RSS_MB:.0f} MB", verdict(peak <= TARGET_RSS_MB)))
            counted.append(peak <= TARGET_RSS_MB)
            rows.append(Row("5b   peak RSS of the baseline's own process (info)",
                            f"{max(base_rss):.0f} MB", "", "info"))

            if args.profile:
                changer.change()
                profile("service.get('all') after one change", lambda: service.get("all"))
                changer.change()
                snap = runtime.snapshot()
                chosen = select(snap.schedule, "all", None, service.clock(),
                                settings.cancelled_retention)
                profile("FeedBuilder.build after one change (no store read)",
                        lambda: service.builder.build(name, chosen, snap.schedule))
                breakdown(service, snap.schedule, chosen, name)
        finally:
            runtime.close()

    print()
    print(f"summitcal feed benchmark  ({'quick' if args.quick else 'full'}: "
          f"{args.sessions} sessions, seed {args.seed})")
    for line in machine_info():
        print(line)
    for line in info:
        print(line)
    print()
    print_table(rows)
    print()
    failed = counted.count(False)
    print(f"targets: {len(counted) - failed}/{len(counted)} met"
          f"{'' if not failed else ' — ' + str(failed) + ' FAILED'}; "
          f"values in parentheses are for reference only")
    load_after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"run: {time.perf_counter() - began:.0f} s wall, {time.process_time() - began_cpu:.0f} s "
          f"CPU; 1-min load average {load_before:.2f} at start, {load_after:.2f} at end "
          f"({os.cpu_count()} CPUs: a load above that means the figures are inflated)")
    return 1 if (args.check and failed) else 0


if __name__ == "__main__":
    sys.exit(main())
