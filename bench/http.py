"""HTTP benchmark: the service as operators run it, measured from outside.

    .venv/bin/python bench/http.py                    # 10,000 and 50,000 sessions (~15 min)
    .venv/bin/python bench/http.py --sessions 10000   # one size
    .venv/bin/python bench/http.py --quick            # 1,000 sessions, a smoke test
    .venv/bin/python bench/http.py --check            # exit 1 when a target is missed

The synthetic schedule of ``bench/feeds.py`` is written out as schedule files
(``bench/schedule_files.py``); ``summitcal load`` and ``summitcal serve`` run as
subprocesses on a temporary SQLite database, and requests go over loopback HTTP.
Baselines are measured in the same run: the whole feed built with plain icalendar and
gzipped, and (when installed) nginx serving the same bytes, both loaded with wrk, in
turns (three 5-second runs of each side, medians compared).
Figures are medians (the run count is printed) with the load average, since the
machine is shared; CPU seconds are printed beside wall times where they apply. The cold
load is the median of three loads, each into a new database (the range is printed too),
and is also measured at 1,000 sessions. Feed builds are counted from ``/metrics``
(``summitcal_feed_build_seconds_count``): concurrent GETs after a change must make one.
Pages are measured after the start-up's background build of ``/feeds/all.ics`` (on the
first start nothing is kept, so every event is rendered; the time from the start until
that feed is answered is printed), as they are when the service runs.
Before measuring, the package's modules are compiled to bytecode (``compileall``), as an
installed package has them: an editable checkout run with PYTHONDONTWRITEBYTECODE=1
would otherwise compile them at every command's start.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import compileall  # noqa: E402
import gzip  # noqa: E402
import importlib.util  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from dataclasses import dataclass  # noqa: E402

SCRIPT = Path(sys.executable).with_name("summitcal")
GZIP = {"Accept-Encoding": "gzip"}


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class Row:
    figure: str
    value: str
    target: str
    ok: bool | None  # None: information only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(config: Path, *argv: str) -> tuple[float, float]:
    """Wall and CPU seconds of one ``summitcal`` command (exit 0 asserted)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run([str(SCRIPT), "--config", str(config), *argv],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert done.returncode == 0, done.stderr
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


class Serve:
    """``summitcal serve`` on a free loopback port."""

    def __init__(self, config: Path) -> None:
        self.config = config
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.started = 0.0  # time.perf_counter() when the process was started

    def __enter__(self) -> Serve:
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [str(SCRIPT), "--config", str(self.config), "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2):
                    return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit("serve did not answer /healthz")

    def peak_rss_mb(self) -> float:
        assert self.process is not None
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+)", text).group(1)) / 1024

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[float, bytes]:
        request = urllib.request.Request(self.base + path, headers=headers or {})
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            body = response.read()
        return time.perf_counter() - start, body


def wrk(url: str, headers: dict[str, str], seconds: int = 5) -> float | None:
    """Requests per second by wrk (2 threads, 4 connections), or None without wrk."""
    if shutil.which("wrk") is None:
        return None
    argv = ["wrk", "-t2", "-c4", f"-d{seconds}s"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    out = subprocess.run([*argv, url], capture_output=True, text=True, timeout=seconds + 30).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(found.group(1)) if found else None


#: wrk runs of each side per comparison with nginx (medians are compared).
WRK_ROUNDS = 3


def alternated(ours: tuple[str, dict[str, str]], theirs: tuple[str, dict[str, str]],
               rounds: int) -> tuple[float, float]:
    """Median requests per second of ``ours`` and ``theirs`` (url, headers), measured
    in turns (ours, theirs, ours, …), so that a neighbour's load on this shared machine
    falls on both sides rather than on whichever ran during it."""
    mine: list[float] = []
    other: list[float] = []
    for _ in range(rounds):
        for found, (url, headers) in ((mine, ours), (other, theirs)):
            rate = wrk(url, headers)
            assert rate, f"wrk measured nothing for {url}"
            found.append(rate)
    return statistics.median(mine), statistics.median(other)


class Nginx:
    """nginx serving fixed bytes on loopback (gzip file and a small feed), or nothing."""

    def __init__(self, folder: Path, files: dict[str, bytes]) -> None:
        self.folder = folder
        self.files = files
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Nginx | None:
        binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                           else None)
        if binary is None:
            return None
        root = self.folder / "www"
        root.mkdir()
        for name, body in self.files.items():
            (root / name).write_bytes(body)
        conf = self.folder / "nginx.conf"
        conf.write_text(
            f"daemon off; worker_processes 1; pid {self.folder}/nginx.pid;\n"
            f"error_log {self.folder}/error.log;\n"
            "events { worker_connections 256; }\n"
            "http { access_log off; sendfile on; etag on;\n"
            f"  client_body_temp_path {self.folder}; proxy_temp_path {self.folder};\n"
            f"  fastcgi_temp_path {self.folder}; uwsgi_temp_path {self.folder};\n"
            f"  scgi_temp_path {self.folder};\n"
            f"  server {{ listen 127.0.0.1:{self.port}; root {root};\n"
            "    default_type text/calendar; } }\n")
        self.process = subprocess.Popen([binary, "-c", str(conf), "-p", str(self.folder)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        return self

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)


def median_of(fn, runs: int) -> float:
    return statistics.median(fn() for _ in range(runs))


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


#: Targets by size: (10,000 sessions, 50,000 sessions); smaller sizes use the first.
RSS_LIMIT_MB = (300.0, 800.0)
RESTART_LIMIT_S = (1.0, 5.0)
BUILDS = re.compile(r'^summitcal_feed_build_seconds_count\{kind="all"\} ([0-9.e+]+)$', re.M)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, action="append",
                        help="a size to run (repeat for several; default 10000 and 50000)")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--quick", action="store_true", help="1,000 sessions, 3 runs")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--seed", type=int, default=20240916)
    args = parser.parse_args(argv)
    sizes = args.sessions or [10_000, 50_000]
    if args.quick:
        sizes, args.runs = [1000], 3
    for package in ("summitcal", "feeds", "scheduler"):
        compileall.compile_dir(str(ROOT / package), quiet=1)
    load_before = os.getloadavg()
    tables: list[tuple[str, list[Row]]] = []
    if not args.quick and min(sizes) > 1000:
        tables.append(("1000 sessions", [cold_load(1000, args.seed)]))
    for size in sizes:
        tables.append((f"{size} sessions", run_size(size, args.runs, args.seed)))
    print(f"\nsummitcal HTTP bench: median of {args.runs} runs; load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs)")
    rows = [row for _, found in tables for row in found]
    width = max(len(r.figure) for r in rows)
    for title, found in tables:
        print(f"{title}:")
        for r in found:
            verdict = "info" if r.ok is None else ("PASS" if r.ok else "FAIL")
            print(f"  {r.figure:<{width}}  {r.value:<44} {r.target:<16} {verdict}")
    judged = [r for r in rows if r.ok is not None]
    print(f"targets: {sum(1 for r in judged if r.ok)}/{len(judged)} met")
    return 1 if args.check and any(r.ok is False for r in rows) else 0


def write_data(folder: Path, sessions: int, seed: int) -> tuple[Path, list[Path]]:
    """The synthetic schedule as files under ``folder``, and a configuration using them."""
    schedules = folder / "schedules"
    written = _module("schedule_files").write(schedules, sessions, seed)
    config = folder / "config.toml"
    config.write_text(
        f'[service]\nbase_url = "https://summitcal.example"\ndata_dir = "{folder}/data"\n'
        f'[schedules]\npaths = ["{schedules}"]\nload_on_start = false\n'
        f'[database]\nurl = "sqlite:///{folder}/data/bench.sqlite3"\n', encoding="utf-8")
    print(f"data: {sessions} sessions in {len(written)} files under {schedules}",
          file=sys.stderr)
    return config, written


COLD_RUNS = 3  # cold loads per size, each into a new database


def cold_loads(folder: Path, config: Path) -> tuple[float, float, str]:
    """``summitcal load`` into a new database ``COLD_RUNS`` times (the last one's database
    is kept): the median wall and CPU seconds, and the range of the walls as text."""
    walls, cpus = [], []
    for _ in range(COLD_RUNS):
        shutil.rmtree(folder / "data", ignore_errors=True)
        wall, cpu = run_cli(config, "load")
        walls.append(wall)
        cpus.append(cpu)
    spread = f"{fmt(min(walls))}–{fmt(max(walls))}"
    return statistics.median(walls), statistics.median(cpus), spread


def cold_load(sessions: int, seed: int) -> Row:
    with tempfile.TemporaryDirectory(prefix="summitcal-http-") as tmp:
        folder = Path(tmp)
        config, _ = write_data(folder, sessions, seed)
        wall, cpu, spread = cold_loads(folder, config)
    return Row(f"cold `summitcal load`, {sessions} sessions",
               f"{fmt(wall)} (CPU {cpu:.1f} s; {spread})", "linear", None)


def feed_builds(server: Serve) -> float:
    """Builds of /feeds/all.ics so far, from the service's /metrics."""
    found = BUILDS.search(server.get("/metrics")[1].decode())
    return float(found.group(1)) if found else 0.0


def run_size(sessions: int, runs: int, seed: int) -> list[Row]:
    """Every figure of the table at one size, with its baselines."""
    large = sessions >= 50_000
    bench_feeds = _module("feeds")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="summitcal-http-") as tmp:
        folder = Path(tmp)
        config, written = write_data(folder, sessions, seed)
        wall, cpu, spread = cold_loads(folder, config)
        target = 10.0 if large else None
        rows.append(Row(f"cold `summitcal load`, {sessions} sessions",
                        f"{fmt(wall)} (CPU {cpu:.1f} s; {spread})",
                        "≤ 10 s at 50k" if large else "linear",
                        wall <= target if target else None))

        def one_edit(n: int) -> tuple[float, float]:
            path = written[n % len(written)]
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace('title = "', f'title = "Edit {n} ', 1), encoding="utf-8")
            return run_cli(config, "load")

        edits = [one_edit(n) for n in range(runs)]
        reload = statistics.median(wall for wall, _ in edits)
        startup = statistics.median(run_cli(config, "--version")[0] for _ in range(runs))
        rows.append(Row("reload after one change (`summitcal load`)",
                        f"{fmt(reload)} (CPU {statistics.median(c for _, c in edits):.1f} s; "
                        f"`--version` {fmt(startup)})", "≤ 1 s at 10k" if large else "≤ 1 s",
                        None if large else reload <= 1.0))

        summit = bench_feeds.HTTP_SUMMIT
        with Serve(config) as server:
            # Pages are measured once the start-up's background build of /feeds/all.ics
            # is done (this GET waits for it), as they are when the service runs. Nothing
            # is kept yet: every event is rendered, after the scheduler's first run.
            server.get("/feeds/all.ics", GZIP)
            rows.append(Row("first start: /feeds/all.ics answered, from the start",
                            fmt(time.perf_counter() - server.started), "info", None))
            first_index, page = server.get("/")
            index = median_of(lambda: server.get("/")[0], runs)
            rows.append(Row("`/` (cached by revision; first render)",
                            f"{fmt(index)} ({fmt(first_index)}), {len(page) / 1e6:.2f} MB",
                            "≤ 50 ms", index <= 0.05))
            server.get(f"/summits/{summit}")
            one = median_of(lambda: server.get(f"/summits/{summit}")[0], runs)
            rows.append(Row(f"`/summits/{summit}`", fmt(one), "≤ 20 ms", one <= 0.02))

            server.get("/feeds/all.ics", GZIP)  # warm: pieces built, chunks compressed
            gzip_times = []
            for n in range(runs):
                run_cli(config, "attendance", f"{summit}/s{n:04d}", "p00000",
                        ("video", "in_person")[n % 2])
                took, member = server.get("/feeds/all.ics", GZIP)
                gzip_times.append(took)
            ours = statistics.median(gzip_times)
            plain = server.get("/feeds/all.ics")[1]
            assert gzip.decompress(member) == plain, "gzip body differs from the plain body"

            # Four at once right after a change: one build shared (counted by /metrics).
            run_cli(config, "attendance", f"{summit}/s0000", "p00000", "absent")
            builds = feed_builds(server)
            times: list[float] = []
            threads = [threading.Thread(target=lambda: times.append(
                server.get("/feeds/all.ics", GZIP)[0])) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            built = feed_builds(server) - builds

            baseline = baseline_gzip(bench_feeds, folder, runs)
            ratio = baseline / ours
            rows.append(Row("first gzip GET /feeds/all.ics after a change", fmt(ours),
                            "≤ 50 ms", ours <= 0.05))
            rows.append(Row("  plain icalendar + gzip, same run (ratio)",
                            f"{fmt(baseline)} ({ratio:.0f}×)", "≥ 50×", ratio >= 50))
            rows.append(Row("4 concurrent gzip GETs right after a change",
                            f"{built:.0f} build(s), slowest {fmt(max(times))}",
                            "one build", built == 1))
            small = f"/feeds/summits/{summit}.ics"
            _, small_body = server.get(small)
            etag = urllib.request.urlopen(server.base + small).headers["ETag"]
            rss = server.peak_rss_mb()
            with Nginx(folder, {"all.ics.gz": member, "small.ics": small_body}) as nginx:
                if nginx is not None and shutil.which("wrk") is not None:
                    nginx_etag = urllib.request.urlopen(nginx.url("small.ics")).headers["ETag"]
                    pairs = {
                        "gzip": ((server.base + "/feeds/all.ics", GZIP),
                                 (nginx.url("all.ics.gz"), {})),
                        "304": ((server.base + small, {"If-None-Match": etag}),
                                (nginx.url("small.ics"), {"If-None-Match": nginx_etag}))}
                    ours_rps, theirs = alternated(*pairs["gzip"], rounds=WRK_ROUNDS)
                    ours_304, theirs_304 = alternated(*pairs["304"], rounds=WRK_ROUNDS)
                    rows.append(Row("wrk gzip /feeds/all.ics vs nginx, same bytes",
                                    f"{ours_rps:.0f} vs {theirs:.0f} req/s "
                                    f"({ours_rps / theirs:.2f}×)", "≥ 0.8×",
                                    ours_rps / theirs >= 0.8))
                    rows.append(Row("wrk 304 on a 100-session feed vs nginx",
                                    f"{ours_304:.0f} vs {theirs_304:.0f} req/s "
                                    f"({ours_304 / theirs_304:.2f}×)", "≥ 0.3×",
                                    ours_304 / theirs_304 >= 0.3))
                else:
                    rows.append(Row("wrk vs nginx", "skipped: wrk or nginx not installed",
                                    "≥ 0.8× / ≥ 0.3×", None))
            rss = max(rss, server.peak_rss_mb())
        limit = RSS_LIMIT_MB[large]
        rows.append(Row("peak RSS of serve under HTTP load", f"{rss:.0f} MB",
                        f"≤ {limit:.0f} MB", rss <= limit))

        restarts = []
        for _ in range(max(1, min(runs, 3))):
            with Serve(config) as server:
                restarts.append(server.get("/feeds/all.ics")[0])
        took = statistics.median(restarts)
        limit = RESTART_LIMIT_S[large]
        rows.append(Row("first /feeds/all.ics after a restart", fmt(took),
                        f"≤ {limit:.0f} s", took <= limit))
    return rows


def baseline_gzip(bench_feeds, folder: Path, runs: int) -> float:
    """Seconds to build /feeds/all.ics with plain icalendar and gzip it (median)."""
    from summitcal.app.config import load_config
    from summitcal.app.runtime import Runtime
    from summitcal.feeds.select import select, title

    runtime = Runtime.open(load_config(folder / "config.toml", env={}))
    try:
        schedule = runtime.store.schedule()
        settings = runtime.feeds.settings
        from datetime import UTC, datetime

        sessions = select(schedule, "all", None, datetime.now(UTC), settings.cancelled_retention)
        name = title(schedule, "all", None)

        def once() -> float:
            start = time.perf_counter()
            _, _, body = bench_feeds.baseline_once(name, sessions, schedule, settings)
            gzip.compress(body, 6)
            return time.perf_counter() - start

        return median_of(once, max(1, min(runs, 3)))
    finally:
        runtime.close()


if __name__ == "__main__":
    raise SystemExit(main())
