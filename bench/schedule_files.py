"""The benchmarks' synthetic schedule written out as schedule files (one TOML file per
summit), so ``summitcal load`` and ``summitcal serve`` can read it as an operator's would.

    .venv/bin/python bench/schedule_files.py OUT_DIR --sessions 10000

Each file declares its summit, the organisations and participants its sessions name
(the same record in every file that names it, as ``summits.schedule_file`` requires),
and its sessions with local wall times in the summit's zone (``fold = 1`` for the
second of a repeated hour). The schedule is ``bench/feeds.py``'s ``build_schedule``,
deterministic for a seed.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(ROOT))

import argparse  # noqa: E402
import importlib.util  # noqa: E402
from typing import Any  # noqa: E402

import tomli_w  # noqa: E402

DEFAULT_SEED = 20240916


def _session_table(session: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"id": session.id, "title": session.title,
                             "organizations": list(session.organizations)}
    if session.start is not None:
        table["start"] = session.start.replace(tzinfo=None, fold=0)
        table["end"] = session.end.replace(tzinfo=None, fold=0)
        if session.start.fold:
            table["fold"] = 1
    else:
        table["date"] = session.date
        if session.end_date is not None:
            table["end_date"] = session.end_date
    for name in ("venue", "description", "video_url"):
        if getattr(session, name) is not None:
            table[name] = getattr(session, name)
    table["status"] = session.status
    if session.attendance:
        table["attendance"] = [
            {k: v for k, v in (("participant", a.participant), ("mode", a.mode),
                               ("delegate", a.delegate), ("note", a.note),
                               ("announced", a.announced)) if v is not None}
            for a in session.attendance]
    return table


def summit_document(schedule: Any, summit: str) -> dict[str, Any]:
    """One summit of ``schedule`` (a ``summits.model.Schedule``) as a schedule file's data."""
    record = schedule.summits[summit]
    sessions = schedule.sessions_of(summit)
    orgs = sorted({o for s in sessions for o in s.organizations})
    people = sorted({p for s in sessions for a in s.attendance
                     for p in (a.participant, a.delegate) if p is not None})
    head = {"id": record.id, "name": record.name, "city": record.city,
            "country": record.country, "timezone": record.timezone}
    if record.sources:
        head["sources"] = list(record.sources)
    return {
        "summit": head,
        "organizations": [{"id": o, "name": schedule.organizations[o].name} for o in orgs],
        "participants": [{"id": p, "name": schedule.participants[p].name,
                          **({"role": schedule.participants[p].role}
                             if schedule.participants[p].role else {})} for p in people],
        "sessions": [_session_table(s) for s in sessions],
    }


def _bench_feeds() -> Any:
    """bench/feeds.py as a module (by path: its name would clash with the feeds package)."""
    spec = importlib.util.spec_from_file_location("bench_feeds", HERE / "feeds.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def write(folder: Path, sessions: int, seed: int = DEFAULT_SEED) -> list[Path]:
    """Write ``sessions`` synthetic sessions under ``folder``; returns the files written."""
    schedule = _bench_feeds().build_schedule(sessions, seed).schedule
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for summit in schedule.summits:
        path = folder / f"{summit}.toml"
        path.write_text(tomli_w.dumps(summit_document(schedule, summit)), encoding="utf-8")
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    files = write(args.folder, args.sessions, args.seed)
    print(f"{len(files)} files, {args.sessions} sessions in {args.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
