"""Fan-out benchmark: N reminders due at one instant, delivered over SMTP.

    .venv/bin/python bench/fanout.py                 # 10,000 subscribers, 1 worker process, 3 runs
    .venv/bin/python bench/fanout.py --quick         # 1,000 subscribers, 1 run (smoke test)
    .venv/bin/python bench/fanout.py --processes 1,2,4 --subscribers 10000,100000
    .venv/bin/python bench/fanout.py --processes 0   # delivery threads in this process
    .venv/bin/python bench/fanout.py --check         # exit 1 when a target is missed
    .venv/bin/python bench/fanout.py --profile       # + pyinstrument: one worker's loop
    SUMMITCAL_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/postgres \\
        .venv/bin/python bench/fanout.py             # on PostgreSQL (a schema per run)

Each run: a fresh database (a SQLite file, or a fresh schema in the PostgreSQL database
``SUMMITCAL_DATABASE_URL`` names, dropped after) with N confirmed subscribers who follow
one session with the same reminder offset, so one plan makes every reminder due at one
instant. The real service parts do the work: ``Clock`` (APScheduler) in this process
fires the plan (one ``INSERT … SELECT``), and ``--processes`` real ``summitcal worker``
processes deliver (``mail.workers`` threads each; 0: ``Delivery`` threads in this
process), rendering with Jinja2 and sending with ``SmtpTransport`` to an aiosmtpd sink in
a separate process on loopback, which records when it accepted each message and offers
PIPELINING (aiosmtpd takes pipelined commands but does not say so; Postfix, Exim and Gmail
do). Lateness is acceptance time minus the due instant; "queued" is the commit of the
plan's rows (seen by polling the plan's status from another connection) from the due
instant: negative, since the clock queues them ``QUEUE_AHEAD`` before it
(``scheduler.plans``); the ``INSERT … SELECT``'s own time is printed beside it. The baseline, against the same sink right after, in the same run: a bare
``smtplib`` loop over one connection sending the same bytes (reminders rendered as
delivery renders them), at most ``BASELINE_MAX`` messages. Peak RSS is each worker
process's VmHWM. Figures are medians over the runs; the load average is printed before
and after, since the machine is shared.

Targets: with one worker process, throughput ≥ ``TARGET_RATIO`` × the baseline; the rows
of any fan-out (100,000 included) committed within ``TARGET_QUEUED_S`` of the due
instant; the first message within ``TARGET_FIRST_S``; a worker's peak RSS independent
of the number of subscribers (the largest run's within ``RSS_GROWTH`` of the smallest's,
when several sizes run) and below ``TARGET_RSS_MB``; APScheduler jobs: 3 whatever N.
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
import multiprocessing
import os
import resource
import secrets
import signal
import smtplib
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection as Pipe
from typing import Any

import sqlalchemy as sa

SUMMIT, SESSION = "bench-2030", "plenary"
OFFSET = timedelta(hours=1)  # reminders expire at the start: far enough for a slow run
# From the end of set-up to the due instant: longer than QUEUE_AHEAD (scheduler.plans), so
# the plan is made pending first and its rows are queued ahead by the clock, as in service.
LEAD = timedelta(seconds=36)
BASE_URL = "https://summitcal.example"
BASELINE_MAX = 20_000  # messages in the bare loop: enough for a steady rate

TARGET_RATIO = 0.9  # with one worker process
TARGET_QUEUED_S = 2.0
TARGET_FIRST_S = 1.0
TARGET_RSS_MB = 300.0
RSS_GROWTH = (1.10, 10.0)  # largest run's peak RSS ≤ smallest's × 1.10 + 10 MB


# --- the sink (a separate process) ----------------------------------------------------------


def _sink(pipe: Pipe) -> None:
    """aiosmtpd on a free loopback port, offering PIPELINING; answers 'count', 'times'
    (acceptance times), 'clear' and 'stop'."""
    from aiosmtpd.controller import Controller

    times: list[float] = []

    class Handler:
        async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                              responses: list[str]) -> list[str]:
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
        if command == "count":
            pipe.send(len(times))
        elif command == "times":
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

    def ask(self, command: str) -> Any:
        self.pipe.send(command)
        return self.pipe.recv()

    def stop(self) -> None:
        self.ask("stop")
        self.process.join(10)


# --- one run --------------------------------------------------------------------------------


@dataclass
class Run:
    count: int
    processes: int
    worker_rss: list[float]  # MB, per worker process (empty: delivery in this process)
    rate: float  # messages per second, due instant → last acceptance
    send_rate: float  # first → last acceptance
    first_late: float
    p50_late: float
    p99_late: float
    last_late: float
    queued_s: float  # due instant → the plan's rows committed (negative: ahead of it)
    insert_s: float  # the plan fired → its rows committed (the INSERT … SELECT)
    worker_cpu_ms: float | None  # worker processes' CPU time per message sent
    jobs: int
    baseline_rate: float

    @property
    def ratio(self) -> float:
        return self.rate / self.baseline_rate


SECRET_KEY = "bench-secret-key-" + "x" * 16


def _config(folder: Path, port: int, workers: int | None, url: str | None = None) -> Any:
    from summitcal.app.config import load_config

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
        from summitcal.app.presence import deployment

        script = Path(sys.executable).with_name("summitcal")
        env = {**os.environ, "SUMMITCAL_SECRET_KEY": SECRET_KEY}
        env.pop("SUMMITCAL_DATABASE_URL", None)  # the run's own database is in the config
        self.log = (config.parent / "workers.log").open("ab")
        self.processes = [subprocess.Popen([str(script), "--config", str(config), "worker"],
                                           stdout=self.log, stderr=subprocess.STDOUT, env=env)
                          for _ in range(count)]
        deadline = time.monotonic() + 60
        while len(deployment(engine, config.parent).with_role("worker")) < count:
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

    def cpu_seconds(self) -> float:
        """User + system CPU time of all the worker processes so far."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for process in self.processes:
            fields = Path(f"/proc/{process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            process.wait(30)
        self.log.close()


def _schedule(start: datetime) -> Any:
    from zoneinfo import ZoneInfo

    from summitcal.summits.model import (
        Attendance,
        Organization,
        Participant,
        Schedule,
        Session,
        Summit,
    )

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
    directly, 10,000 at a time: no welcome mail to compete with the reminders)."""
    from summitcal.core import database
    from summitcal.subscriptions import tables as st

    zones = ("Europe/Moscow", "Asia/Almaty", "Europe/Madrid", "America/New_York",
             "Asia/Tokyo", "Asia/Kolkata")
    for first in range(0, count, 10_000):
        ids = range(first + 1, min(count, first + 10_000) + 1)
        with database.writing(engine) as connection:
            connection.execute(sa.insert(st.subscribers), [
                {"id": n, "email": f"reader{n}@bench.example", "timezone": zones[n % 6],
                 "language": "en", "status": "confirmed", "reminders": ["PT1H"],
                 "notices": [], "created_at": now, "updated_at": now,
                 "confirmed_at": now} for n in ids])
            connection.execute(sa.insert(st.subscriber_follows), [
                {"subscriber_id": n, "kind": "session", "summit": SUMMIT, "target": SESSION}
                for n in ids])
            connection.execute(sa.insert(st.subscriber_offsets), [
                {"subscriber_id": n, "offset_seconds": int(OFFSET.total_seconds())}
                for n in ids])


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


class CommitWatch:
    """Polls the plan's status from its own connection (every 10 ms) and notes when it
    reads ``fired``: the moment the plan's ``INSERT … SELECT`` was committed (± 10 ms)."""

    def __init__(self, engine: Any) -> None:
        from summitcal.scheduler.plans import reminder_plans

        self.engine, self.plans = engine, reminder_plans
        self.seen: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        p = self.plans
        with self.engine.connect() as connection:
            while not self._stop.is_set():
                status = connection.scalar(sa.select(p.c.status).limit(1))
                connection.rollback()  # a fresh snapshot each time
                if status == "fired":
                    self.seen = time.time()
                    return
                time.sleep(0.01)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)


def _pre_rendered(runtime: Any, engine: Any, count: int, at: datetime) -> list[bytes]:
    """Reminders rendered exactly as delivery would, as bytes (for the baseline)."""
    from summitcal.mail.outbox import Message
    from summitcal.mail.tables import outbox
    from summitcal.scheduler.renderers import registry
    from summitcal.scheduler.sources import Sources

    renderers = registry(Sources.of(runtime))
    with engine.connect() as connection:
        rows = connection.execute(sa.select(outbox).where(outbox.c.kind == "reminder")
                                  .order_by(outbox.c.id).limit(count)).all()
    return [renderers.render(Message.from_row(row), at).data for row in rows]


def run_once(sink: SinkProcess, count: int, workers: int | None, folder: Path,
             processes: int, profile: bool) -> Run:
    """One run on a fresh database (see the module doc)."""
    base = os.environ.get("SUMMITCAL_DATABASE_URL", "")
    schema = PostgresSchema(base) if base.startswith("postgresql") else None
    try:
        return _run(sink, count, workers, folder, processes, profile,
                    schema.url if schema else None)
    finally:
        if schema is not None:
            schema.close()


def _run(sink: SinkProcess, count: int, workers: int | None, folder: Path, processes: int,
         profile: bool, url: str | None) -> Run:
    from summitcal.app.runtime import Runtime
    from summitcal.scheduler.clock import Clock
    from summitcal.scheduler.delivery import Delivery
    from summitcal.scheduler.plans import reminder_plans
    from summitcal.scheduler.renderers import registry
    from summitcal.scheduler.sources import Sources
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
        delivery = Delivery(store.engine, config, registry(Sources.of(runtime)))
        clock = Clock(store, timedelta(minutes=2), wake=delivery.wake)
        delivery.start()
    sink.ask("clear")
    cpu_before = delivery.cpu_seconds() if processes else 0.0
    clock.start()
    watch = None
    try:
        # Set-up done; the session appears (another revision, as a `load` would make).
        due = (datetime.now(UTC) + LEAD).replace(microsecond=0)
        store.apply(_schedule(due + OFFSET), "bench", now=datetime.now(UTC))
        watch = CommitWatch(store.engine)
        jobs = clock.job_count()
        deadline = time.monotonic() + LEAD.total_seconds() + 120 + count / 5
        while sink.ask("count") < count and time.monotonic() < deadline:
            time.sleep(0.2)
        jobs = max(jobs, clock.job_count())
        worker_rss = delivery.peak_rss_mb() if processes else []
        worker_cpu = delivery.cpu_seconds() - cpu_before if processes else None
    finally:
        if watch is not None:
            watch.stop()
        clock.stop()
        delivery.stop()
    times = sorted(sink.ask("times"))
    if len(times) < count:
        raise SystemExit(f"only {len(times)} of {count} messages arrived")
    with store.engine.connect() as connection:
        fired = connection.execute(sa.select(reminder_plans)).one()
    assert fired.status == "fired" and fired.recipients == count, fired
    assert watch is not None and watch.seen is not None
    lateness = [t - due.timestamp() for t in times]

    sink.ask("clear")
    messages = _pre_rendered(runtime, store.engine, min(count, 500), due)
    baseline = _baseline(sink.port, messages, min(count, BASELINE_MAX))
    if profile:
        _profile(runtime, store, sink, due)
    store.close()
    quantiles = statistics.quantiles(lateness, n=100, method="inclusive")
    return Run(count=count, processes=processes, worker_rss=worker_rss,
               rate=count / lateness[-1], send_rate=(count - 1) / (times[-1] - times[0]),
               first_late=lateness[0], p50_late=quantiles[49], p99_late=quantiles[98],
               last_late=lateness[-1], queued_s=watch.seen - due.timestamp(),
               insert_s=watch.seen - fired.updated_at.timestamp(),
               worker_cpu_ms=None if worker_cpu is None else worker_cpu / count * 1000,
               jobs=jobs,
               baseline_rate=baseline)


def _profile(runtime: Any, store: Any, sink: SinkProcess, at: datetime) -> None:
    """One worker's loop (claim, prepare, render, send, record) in this thread under
    pyinstrument, over up to 3,000 of the rows just sent, made pending again."""
    from pyinstrument import Profiler

    from summitcal.core import database
    from summitcal.mail.smtp import SmtpTransport
    from summitcal.mail.tables import outbox
    from summitcal.scheduler.delivery import Delivery
    from summitcal.scheduler.renderers import registry
    from summitcal.scheduler.sources import Sources

    with database.writing(store.engine) as connection:
        connection.execute(sa.update(outbox).where(
            outbox.c.id.in_(sa.select(outbox.c.id).order_by(outbox.c.id).limit(3000)))
            .values(status="pending", next_attempt_at=at, attempts=0))
    delivery = Delivery(store.engine, runtime.config, registry(Sources.of(runtime)), workers=1)
    transport = SmtpTransport("127.0.0.1", sink.port, timeout=30)
    profiler = Profiler(interval=0.0005)
    handled, started, cpu = 0, time.perf_counter(), time.process_time()
    profiler.start()
    while (done := delivery.run_once(transport)):
        handled += done
    profiler.stop()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    transport.close()
    print(f"\nprofile: one worker thread, {handled} messages in {elapsed:.2f} s "
          f"({handled / elapsed:.0f}/s under the profiler), "
          f"{cpu / handled * 1000:.2f} ms CPU each")
    print(profiler.output_text(unicode=True, color=False))


# --- the report -------------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def report(runs: list[Run]) -> list[tuple[str, str, bool | None]]:
    """The figures of one configuration (medians), with a verdict where there is a target."""
    def median(name: str) -> float:
        return statistics.median(getattr(r, name) for r in runs)

    jobs = max(r.jobs for r in runs)
    ratio = statistics.median(r.ratio for r in runs)
    queued = median("queued_s")
    rows: list[tuple[str, str, bool | None]] = [
        ("messages", f"{runs[0].count}", None),
        ("throughput, due instant → last accepted", f"{median('rate'):.0f} msg/s", None),
        ("  steady sending rate, first → last accepted", f"{median('send_rate'):.0f} msg/s",
         None),
        (f"queued: rows committed, from the due instant (≤ {TARGET_QUEUED_S:.0f} s)",
         f"{queued * 1000:+.0f} ms (INSERT … SELECT {median('insert_s') * 1000:.0f} ms)",
         queued <= TARGET_QUEUED_S),
        ("first message late", f"{median('first_late') * 1000:.0f} ms",
         median("first_late") <= TARGET_FIRST_S),
        ("p50 lateness", f"{median('p50_late'):.2f} s", None),
        ("p99 lateness", f"{median('p99_late'):.2f} s", None),
        ("last message late", f"{median('last_late'):.2f} s", None),
        ("APScheduler jobs (any number of subscribers)", f"{jobs}", jobs == 3),
        ("baseline: bare smtplib loop, one connection", f"{median('baseline_rate'):.0f} msg/s",
         None),
        (f"ratio throughput / baseline (≥ {TARGET_RATIO} with 1 process)", f"{ratio:.2f}x",
         ratio >= TARGET_RATIO if runs[0].processes == 1 else None),
    ]
    if runs[0].worker_rss:
        rows.append(("worker CPU per message (all worker processes)",
                     f"{median('worker_cpu_ms'):.2f} ms", None))
        peaks = [max(r.worker_rss[i] for r in runs) for i in range(len(runs[0].worker_rss))]
        rows.append((f"peak RSS per worker process ({len(peaks)})",
                     " ".join(f"{p:.0f}" for p in peaks) + " MB",
                     max(peaks) <= TARGET_RSS_MB))
    else:
        rss = _peak_rss_mb()
        rows.append(("peak RSS (this process: clock, delivery, set-up)", f"{rss:.0f} MB",
                     rss <= TARGET_RSS_MB))
    return rows


def _rss_growth(groups: dict[tuple[int, int], list[Run]]) -> list[tuple[str, str, bool]]:
    """Per number of worker processes run at several sizes: the largest size's peak RSS
    per worker against the smallest's."""
    rows = []
    for processes in sorted({p for p, _ in groups if p}):
        sizes = sorted(count for p, count in groups if p == processes)
        if len(sizes) < 2:
            continue
        small, large = (max(max(r.worker_rss) for r in groups[(processes, n)])
                        for n in (sizes[0], sizes[-1]))
        ok = large <= small * RSS_GROWTH[0] + RSS_GROWTH[1]
        rows.append((f"worker RSS, {processes} process(es): {sizes[0]} → {sizes[-1]} "
                     "subscribers", f"{small:.0f} → {large:.0f} MB", ok))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", default=None,
                        help="comma-separated sizes (default 10000; --quick: 1000)")
    parser.add_argument("--processes", default="1",
                        help="comma-separated numbers of `summitcal worker` processes; 0: "
                             "delivery threads in this process (default 1)")
    parser.add_argument("--runs", type=int, default=None, help="default 3 (medians)")
    parser.add_argument("--workers", type=int, default=None,
                        help="delivery threads per process (default: mail.workers)")
    parser.add_argument("--quick", action="store_true", help="1,000 subscribers, one run")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--profile", action="store_true",
                        help="after the last run, one worker's loop under pyinstrument")
    args = parser.parse_args(argv)
    sizes = [int(n) for n in (args.subscribers or ("1000" if args.quick else "10000"))
             .split(",")]
    counts = [int(n) for n in args.processes.split(",")]
    runs_wanted = args.runs or (1 if args.quick else 3)
    engine = os.environ.get("SUMMITCAL_DATABASE_URL", "").split(":")[0] or "sqlite"
    print(f"fan-out benchmark on {engine}, {os.cpu_count()} CPUs, load average {_load()}",
          flush=True)

    sink = SinkProcess()
    groups: dict[tuple[int, int], list[Run]] = {}
    try:
        for count in sizes:
            for processes in counts:
                for number in range(runs_wanted):
                    last = (count, processes, number) == (sizes[-1], counts[-1],
                                                          runs_wanted - 1)
                    with tempfile.TemporaryDirectory(prefix="summitcal-fanout-") as folder:
                        run = run_once(sink, count, args.workers, Path(folder), processes,
                                       args.profile and last)
                    groups.setdefault((processes, count), []).append(run)
                    print(f"{count} subscribers, {processes or 'in-process'} worker(s), run "
                          f"{number + 1}/{runs_wanted}: {run.rate:.0f} msg/s, first "
                          f"{run.first_late * 1000:.0f} ms, p99 {run.p99_late:.2f} s late, "
                          f"queued at {run.queued_s * 1000:+.0f} ms (insert "
                          f"{run.insert_s * 1000:.0f} ms); baseline "
                          f"{run.baseline_rate:.0f} msg/s; load {_load()}", flush=True)
    finally:
        sink.stop()
    verdicts: list[bool | None] = []
    for (processes, count), runs in groups.items():
        where = (f"in {processes} worker process(es)" if processes
                 else "in this process")
        print(f"\n{count} reminders due at one instant, delivered {where}, median of "
              f"{len(runs)} run(s), on {engine}")
        for label, value, ok in report(runs):
            print(f"  {label:<58} {value:>12}  {_verdict(ok)}")
            verdicts.append(ok)
    growth = _rss_growth(groups)
    if growth:
        print("\nRSS independent of the number of subscribers")
        for label, value, ok in growth:
            print(f"  {label:<58} {value:>12}  {_verdict(ok)}")
            verdicts.append(ok)
    print(f"\nload average at the end: {_load()}")
    return 1 if args.check and False in verdicts else 0


if __name__ == "__main__":
    sys.exit(main())
