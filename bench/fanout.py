"""Fan-out benchmark: 10,000 reminders due at one instant, delivered over SMTP.

    .venv/bin/python bench/fanout.py               # 10,000 subscribers, 3 runs (~2-4 min)
    .venv/bin/python bench/fanout.py --quick       # 1,000 subscribers, 1 run (smoke test)
    .venv/bin/python bench/fanout.py --check       # exit 1 when a target is missed
    .venv/bin/python bench/fanout.py --profile     # + where one worker's time goes
    .venv/bin/python bench/fanout.py --processes 2 # delivery in 2 `summitcal worker`s
    SUMMITCAL_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/postgres \
        .venv/bin/python bench/fanout.py           # on PostgreSQL (a schema per run)

Each run: a fresh SQLite database with N confirmed subscribers who follow one session
with the same reminder offset, so one plan makes every reminder due at one instant. The
real service parts do the work in this process — ``Clock`` (APScheduler), the reminder
plan's ``INSERT … SELECT``, ``Delivery`` workers (``mail.workers``) rendering with
Jinja2 and sending with ``SmtpTransport`` — to an aiosmtpd sink in a separate process
on loopback, which records when it accepted each message. Lateness is acceptance time
minus the due instant. The baseline, against the same sink in the same run: a bare
``smtplib`` loop sending pre-rendered reminders (the same bytes the service renders)
over one connection. Figures are medians over the runs.

With ``--processes N`` delivery runs in N ``summitcal worker`` processes instead (the clock
stays here), as a deployment of several processes would; their peak RSS is reported each.
With ``SUMMITCAL_DATABASE_URL`` set to a PostgreSQL database each run gets a fresh schema
in it (dropped after), instead of a fresh SQLite file.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as ``python bench/fanout.py``, this folder comes first on sys.path and bench/feeds.py
# would shadow the ``feeds`` package. Put the project root there instead.
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse
import cProfile
import io
import multiprocessing
import os
import secrets
import signal
import subprocess
import pstats
import resource
import smtplib
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from typing import Any

import sqlalchemy as sa

SUMMIT, SESSION = "bench-2030", "plenary"
OFFSET = timedelta(hours=1)  # reminders expire at the start: far enough for a slow run
LEAD = timedelta(seconds=6)  # from the end of set-up to the due instant
BASE_URL = "https://summitcal.example"

TARGET_RATIO = 0.8
TARGET_FIRST_S = 1.0
TARGET_RSS_MB = 300.0


# --- the sink (a separate process) ----------------------------------------------------------


def _sink(pipe: Pipe) -> None:
    """aiosmtpd on a free loopback port; answers 'times' (acceptance times) and 'stop'."""
    from aiosmtpd.controller import Controller

    times: list[float] = []

    class Handler:
        async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                              responses: list[str]) -> list[str]:
            # aiosmtpd reads commands from a stream, so it takes pipelined ones, but does
            # not offer PIPELINING itself; real servers (Postfix, Exim, Gmail) do.
            session.host_name = hostname
            return [*responses[:-1], "250-PIPELINING", responses[-1]]

        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            times.append(time.time())
            return "250 2.0.0 Accepted"

    class Sink(Controller):
        def _trigger_server(self) -> None:
            self.port = self.server.sockets[0].getsockname()[1]
            super()._trigger_server()

    controller = Sink(Handler(), hostname="127.0.0.1", port=0, server_hostname="sink.bench")
    controller.start()
    pipe.send(controller.port)
    while True:
        command = pipe.recv()
        if command == "times":
            pipe.send(list(times))
        elif command == "clear":
            times.clear()
            pipe.send(True)
        elif command == "stop":
            controller.stop()
            pipe.send(True)
            return


class SinkProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=_sink, args=(child,), daemon=True)
        self.process.start()
        self.port: int = self.pipe.recv()

    def times(self) -> list[float]:
        self.pipe.send("times")
        return self.pipe.recv()

    def count(self) -> int:
        return len(self.times())

    def clear(self) -> None:
        self.pipe.send("clear")
        self.pipe.recv()

    def stop(self) -> None:
        self.pipe.send("stop")
        self.pipe.recv()
        self.process.join(10)


# --- one run --------------------------------------------------------------------------------


@dataclass
class Run:
    count: int
    worker_rss: list[float]  # MB, per worker process (empty: delivery in this process)
    rate: float  # messages per second, due instant → last acceptance
    send_rate: float  # first → last acceptance
    first_late: float
    last_late: float
    p50_late: float
    p99_late: float
    jobs: int
    fanout_s: float  # due instant → the plan's INSERT … SELECT returned (rows written)
    baseline_rate: float

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate


SECRET_KEY = "bench-secret-key-" + "x" * 16


def _config(folder: Path, port: int, workers: int | None, url: str | None = None) -> Any:
    from summitcal.config import load_config

    path = folder / "config.toml"
    path.write_text(
        f'[service]\nbase_url = "{BASE_URL}"\ndata_dir = "data"\n'
        + (f'[database]\nurl = "{url}"\n' if url else "")
        + '[schedules]\nload_on_start = false\n'
        '[mail]\ntransport = "smtp"\nfrom = "summitcal <summitcal@summitcal.example>"\n'
        + (f"workers = {workers}\n" if workers else "")
        + f'[mail.smtp]\nhost = "127.0.0.1"\nport = {port}\ntimeout = "PT30S"\n')
    return load_config(path, env={"SUMMITCAL_SECRET_KEY": SECRET_KEY})


class PostgresSchema:
    """A fresh schema in the database at ``url`` for one run; its URL; dropped on close."""

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        self.name = f"fanout_{secrets.token_hex(4)}"
        self.admin = sa.create_engine(make_url(url).set(drivername="postgresql+psycopg"))
        with self.admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{self.name}"'))
        self.url = (make_url(url).set(drivername="postgresql+psycopg")
                    .update_query_dict({"options": f"-csearch_path={self.name}"})
                    .render_as_string(hide_password=False))

    def close(self) -> None:
        with self.admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self.admin.dispose()


class WorkerProcesses:
    """``count`` ``summitcal worker`` processes on ``config``, waited for until each has
    recorded itself; ``peak_rss_mb()`` reads each one's VmHWM before ``stop``."""

    def __init__(self, config: Path, engine: Any, count: int) -> None:
        from summitcal.presence import deployment

        script = Path(sys.executable).with_name("summitcal")
        env = {**os.environ, "SUMMITCAL_SECRET_KEY": SECRET_KEY}
        env.pop("SUMMITCAL_DATABASE_URL", None)  # the run's own database is in the config
        self.log = (config.parent / "workers.log").open("ab")
        self.processes = [subprocess.Popen([str(script), "--config", str(config), "worker"],
                                           stdout=self.log, stderr=subprocess.STDOUT, env=env)
                          for _ in range(count)]
        deadline = time.monotonic() + 60
        while len(deployment(engine).with_role("worker")) < count:
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                self.stop()
                raise SystemExit("the worker processes did not start; see "
                                 f"{config.parent / 'workers.log'}")
            time.sleep(0.1)

    def peak_rss_mb(self) -> list[float]:
        peaks = []
        for process in self.processes:
            status = Path(f"/proc/{process.pid}/status").read_text()
            line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
            peaks.append(int(line.split()[1]) / 1024)
        return peaks

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)
        self.log.close()


def _schedule(start: datetime) -> Any:
    from zoneinfo import ZoneInfo

    from summitcal.summits.model import Attendance, Organization, Participant, Schedule, Session, Summit

    zone = ZoneInfo("Asia/Dushanbe")
    session = Session(
        SUMMIT, SESSION, "Plenary session of the heads of state", "Asia/Dushanbe", ("sco",),
        start=start.astimezone(zone), end=start.astimezone(zone) + timedelta(hours=3),
        venue="Palace of Nations, Dushanbe",
        description="The heads of state exchange views on regional security and adopt the "
                    "final declaration. " * 3,
        video_url="https://example.org/live/plenary",
        attendance=(Attendance("putin", "video", note="By video link from Moscow"),
                    Attendance("rahmon", "in_person")))
    return Schedule(
        summits={SUMMIT: Summit(SUMMIT, "Benchmark summit 2030", "Dushanbe", "Tajikistan",
                                "Asia/Dushanbe")},
        organizations={"sco": Organization("sco", "Shanghai Cooperation Organisation")},
        participants={"putin": Participant("putin", "Vladimir Putin", "President of Russia"),
                      "rahmon": Participant("rahmon", "Emomali Rahmon",
                                            "President of Tajikistan")},
        sessions={session.key: session})


def _subscribers(engine: Any, count: int, now: datetime) -> None:
    """``count`` confirmed subscribers following the session with the one offset (written
    directly: no welcome mail to compete with the reminders)."""
    from summitcal.summits import database
    from summitcal.summits import tables as t

    zones = ("Europe/Moscow", "Asia/Almaty", "Europe/Madrid", "America/New_York",
             "Asia/Tokyo", "Asia/Kolkata")
    with database.writing(engine) as connection:
        connection.execute(sa.insert(t.subscribers), [
            {"id": n + 1, "email": f"reader{n}@bench.example", "timezone": zones[n % len(zones)],
             "language": "en", "status": "confirmed", "reminders": ["PT1H"],
             "notices": [], "created_at": now, "updated_at": now,
             "confirmed_at": now} for n in range(count)])
        connection.execute(sa.insert(t.subscriber_follows), [
            {"subscriber_id": n + 1, "kind": "session", "summit": SUMMIT, "target": SESSION}
            for n in range(count)])
        connection.execute(sa.insert(t.subscriber_offsets), [
            {"subscriber_id": n + 1, "offset_seconds": int(OFFSET.total_seconds())}
            for n in range(count)])


def _baseline(port: int, messages: list[bytes], count: int) -> float:
    """A bare smtplib loop over one connection: messages per second."""
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="bench.local")
    try:
        started = time.perf_counter()
        for n in range(count):
            smtp.sendmail("summitcal@summitcal.example", [f"reader{n}@bench.example"],
                          messages[n % len(messages)])
        return count / (time.perf_counter() - started)
    finally:
        smtp.quit()


def _time_fanout() -> list[float]:
    """Record (time.time()) when each ``plans.fire`` returns, as the clock calls it."""
    from summitcal.scheduler import plans

    returned: list[float] = []
    fire = getattr(plans.fire, "__wrapped__", plans.fire)

    def timed(*args: Any, **kwargs: Any) -> Any:
        result = fire(*args, **kwargs)
        returned.append(time.time())
        return result

    timed.__wrapped__ = fire  # type: ignore[attr-defined]
    plans.fire = timed
    return returned


def _pre_rendered(runtime: Any, engine: Any, count: int, at: datetime) -> list[bytes]:
    """Reminders rendered exactly as delivery would, as bytes (for the baseline)."""
    from summitcal.scheduler.outbox import Message
    from summitcal.scheduler.tables import outbox
    from summitcal.scheduler.renderers import registry

    renderers = registry(runtime)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox).where(outbox.c.kind == "reminder")
                                  .order_by(outbox.c.id).limit(count)).all()
    return [renderers.render(Message.from_row(row), at).data for row in rows]


def run_once(sink: SinkProcess, count: int, workers: int | None, folder: Path,
             profile: bool, processes: int = 0) -> Run:
    """One run on a fresh database (see the module doc)."""
    base = os.environ.get("SUMMITCAL_DATABASE_URL", "")
    schema = PostgresSchema(base) if base.startswith("postgresql") else None
    try:
        return _run(sink, count, workers, folder, profile, processes,
                    schema.url if schema else None)
    finally:
        if schema is not None:
            schema.close()


def _run(sink: SinkProcess, count: int, workers: int | None, folder: Path, profile: bool,
         processes: int, url: str | None) -> Run:
    from summitcal.scheduler.clock import Clock
    from summitcal.scheduler.delivery import Delivery
    from summitcal.scheduler.plans import reminder_plans
    from summitcal.runtime import Runtime
    from summitcal.scheduler.renderers import registry
    from summitcal.summits.store import Store

    config = _config(folder, sink.port, workers, url)
    store = Store(config.database_url)
    store.upgrade()
    runtime = Runtime(config, store)
    _subscribers(store.engine, count, datetime.now(UTC))

    delivery: Any
    if processes:
        delivery = WorkerProcesses(folder / "config.toml", store.engine, processes)
        clock = Clock(store, timedelta(minutes=2))
    else:
        delivery = Delivery(store.engine, config, registry(runtime))
        clock = Clock(store, timedelta(minutes=2), wake=delivery.wake)
        delivery.start()
    fired_at = _time_fanout()
    sink.clear()
    clock.start()
    try:
        # Set-up done; the session appears (another revision, as a `load` would make).
        due = (datetime.now(UTC) + LEAD).replace(microsecond=0)
        store.apply(_schedule(due + OFFSET), "bench", now=datetime.now(UTC))
        jobs = clock.job_count()
        deadline = time.monotonic() + LEAD.total_seconds() + 120 + count / 5
        while sink.count() < count and time.monotonic() < deadline:
            time.sleep(0.2)
        jobs = max(jobs, clock.job_count())
        worker_rss = delivery.peak_rss_mb() if processes else []
    finally:
        clock.stop()
        delivery.stop()
    times = sorted(sink.times())
    if len(times) < count:
        raise SystemExit(f"only {len(times)} of {count} messages arrived")
    with store.engine.connect() as connection:
        fired = connection.execute(sa.select(reminder_plans)).one()
    assert fired.status == "fired" and fired.recipients == count, fired
    lateness = [t - due.timestamp() for t in times]
    fanout = fired_at[-1] - due.timestamp()

    sink.clear()
    messages = _pre_rendered(runtime, store.engine, min(count, 500), due)
    baseline = _baseline(sink.port, messages, count)
    if profile:
        _profile(runtime, store, sink, due)
    store.close()
    quantiles = statistics.quantiles(lateness, n=100, method="inclusive")
    return Run(count=count, worker_rss=worker_rss, rate=count / lateness[-1], send_rate=(count - 1) / (
        times[-1] - times[0]), first_late=lateness[0], last_late=lateness[-1],
        p50_late=quantiles[49], p99_late=quantiles[98], jobs=jobs, fanout_s=fanout,
        baseline_rate=baseline)


def _profile(runtime: Any, store: Any, sink: SinkProcess, at: datetime) -> None:
    """One worker's loop in this thread under cProfile, over the rows already sent
    (made pending again): where the time of claim, render, send and record goes."""
    from summitcal.scheduler.delivery import Delivery
    from summitcal.scheduler.smtp import SmtpTransport
    from summitcal.scheduler.tables import outbox
    from summitcal.scheduler.renderers import registry
    from summitcal.summits import database

    with database.writing(store.engine) as connection:
        connection.execute(sa.update(outbox).where(
            outbox.c.id.in_(sa.select(outbox.c.id).order_by(outbox.c.id).limit(2000)))
            .values(status="pending", next_attempt_at=at, attempts=0))
    delivery = Delivery(store.engine, runtime.config, registry(runtime), workers=1)
    transport = SmtpTransport("127.0.0.1", sink.port, timeout=30)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    handled = 0
    profiler.enable()
    while (done := delivery.run_once(transport)):
        handled += done
    profiler.disable()
    elapsed = time.perf_counter() - started
    transport.close()
    stats = pstats.Stats(profiler)
    print(f"\nprofile: one worker, {handled} messages in {elapsed:.2f} s "
          f"({handled / elapsed:.0f}/s, {elapsed / handled * 1000:.2f} ms each)")
    print(f"{'where':<54} {'ms/msg':>7} {'share':>6}")
    total = stats.total_tt  # type: ignore[attr-defined]
    for label, match in _STAGES:
        spent = _cumulative(stats, match)
        print(f"  {label:<52} {spent / handled * 1000:7.3f} {spent / total:6.0%}")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print("\ntop functions by own time:")
    print("\n".join(line for line in text.getvalue().splitlines()[6:] if line.strip()))


# (label, (file suffix, function name)) — cumulative time of that function.
_STAGES = (
    ("claim (outbox.claim: UPDATE … RETURNING)", ("scheduler/outbox.py", "claim")),
    ("prepare: the batch's subscribers + snapshot", ("scheduler/plans.py", "prepare")),
    ("render: whole renderer", ("scheduler/plans.py", "_render")),
    ("  subscriber row + links (subs.get, tokens)", ("summits/subscribers.py", "get")),
    ("  current schedule (runtime.snapshot)", ("summitcal/runtime.py", "snapshot")),
    ("  compose: template variables (views)", ("scheduler/compose.py", "variables")),
    ("  compose: Jinja2 render (text + html)", ("scheduler/compose.py", "render")),
    ("  compose: .ics attachment", ("scheduler/compose.py", "session_ics")),
    ("  rawmail: headers, bodies, MIME (the writer)", ("scheduler/rawmail.py", "write")),
    ("send: SmtpTransport", ("scheduler/smtp.py", "send")),
    ("record: outbox.mark_sent (a write transaction)", ("scheduler/outbox.py", "mark_sent")),
    ("record: outbox.mark_sent_many (one per batch)", ("scheduler/outbox.py",
                                                       "mark_sent_many")),
)


def _cumulative(stats: pstats.Stats, match: tuple[str, str]) -> float:
    suffix, name = match
    total = 0.0
    for (path, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if function == name and path.endswith(suffix):
            total += row[3]
    return total


def _memoise_vtimezones() -> None:
    import functools

    from summitcal.scheduler import compose

    compose.vtimezone_bytes = functools.lru_cache(maxsize=256)(compose.vtimezone_bytes)
    print("EXPERIMENT: compose's VTIMEZONE bytes memoised per (zone, first, last day)")


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=None, help="default 10,000")
    parser.add_argument("--runs", type=int, default=None, help="default 3 (medians)")
    parser.add_argument("--workers", type=int, default=None,
                        help="delivery threads (default: mail.workers)")
    parser.add_argument("--processes", type=int, default=0,
                        help="deliver in this many `summitcal worker` processes (default: "
                             "in this process)")
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, one run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true", help="profile one worker after")
    parser.add_argument("--what-if-cached-ics", action="store_true",
                        help="experiment, not the product: memoise compose's VTIMEZONE "
                             "bytes per (zone, span) in this process, to show what the fix "
                             "in scheduler.compose would buy")
    args = parser.parse_args(argv)
    if args.what_if_cached_ics:
        _memoise_vtimezones()
    count = args.subscribers or (1000 if args.quick else 10_000)
    runs_wanted = args.runs or (1 if args.quick else 3)

    sink = SinkProcess()
    runs: list[Run] = []
    try:
        for number in range(runs_wanted):
            with tempfile.TemporaryDirectory(prefix="summitcal-fanout-") as folder:
                last = number == runs_wanted - 1
                runs.append(run_once(sink, count, args.workers, Path(folder),
                                     args.profile and last, args.processes))
            print(f"run {number + 1}/{runs_wanted}: {runs[-1].rate:.0f} msg/s, "
                  f"first {runs[-1].first_late * 1000:.0f} ms, last "
                  f"{runs[-1].last_late:.2f} s late; baseline {runs[-1].baseline_rate:.0f} "
                  "msg/s", flush=True)
    finally:
        sink.stop()
    return report(runs, args.check)


def report(runs: list[Run], check: bool) -> int:
    def median(name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    rss = _peak_rss_mb()
    jobs = max(r.jobs for r in runs)
    ratio = statistics.median(r.ratio for r in runs)
    rows = [
        ("messages", f"{runs[0].count}", None),
        ("throughput, due instant → last accepted", f"{median('rate'):.0f} msg/s", None),
        ("  steady sending rate, first → last accepted", f"{median('send_rate'):.0f} msg/s",
         None),
        ("  plan fired (INSERT … SELECT of all rows done) after due",
         f"{median('fanout_s') * 1000:.0f} ms", None),
        ("first message late", f"{median('first_late') * 1000:.0f} ms",
         median("first_late") <= TARGET_FIRST_S),
        ("last message late", f"{median('last_late'):.2f} s", None),
        ("p50 lateness", f"{median('p50_late'):.2f} s", None),
        ("p99 lateness", f"{median('p99_late'):.2f} s", None),
        ("APScheduler jobs (any number of subscribers)", f"{jobs}", jobs == 3),
        ("peak RSS (this process: clock, delivery, baseline)", f"{rss:.0f} MB",
         rss <= TARGET_RSS_MB),
        ("baseline: bare smtplib loop, one connection", f"{median('baseline_rate'):.0f} msg/s",
         None),
        ("ratio throughput / baseline", f"{ratio:.2f}x", ratio >= TARGET_RATIO),
    ]
    if runs[0].worker_rss:
        peaks = [max(r.worker_rss[i] for r in runs) for i in range(len(runs[0].worker_rss))]
        rows.append((f"peak RSS per worker process ({len(peaks)})",
                     " ".join(f"{p:.0f}" for p in peaks) + " MB",
                     max(peaks) <= TARGET_RSS_MB))
    engine = os.environ.get("SUMMITCAL_DATABASE_URL", "").split(":")[0] or "sqlite"
    print(f"\nfan-out benchmark: {runs[0].count} reminders due at one instant, "
          f"median of {len(runs)} run(s), on {engine}, delivery "
          + (f"in {len(runs[0].worker_rss)} worker process(es)" if runs[0].worker_rss
             else "in this process"))
    for label, value, ok in rows:
        verdict = "" if ok is None else ("PASS" if ok else "FAIL")
        print(f"  {label:<52} {value:>12}  {verdict}")
    failed = [label for label, _, ok in rows if ok is False]
    return 1 if check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
