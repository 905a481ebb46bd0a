"""The ``summitcal`` command line. Errors become one line each on stderr and exit 1."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click
from sqlalchemy.exc import SQLAlchemyError

from summitcal.app.cli_base import Obj, check_before_metrics, cli
from summitcal.app.config import SECRET_KEY_ENV, Config
from summitcal.app.preflight import StartupError
from summitcal.core.errors import ConfigError, Problem, ScheduleError, SummitcalError
from summitcal.summits.model import MODES, Attendance, AttendanceMode
from summitcal.summits.schedule_file import Loaded

if TYPE_CHECKING:
    from summitcal.summits.store import Result


@cli.command()
@click.option("--host", default=None, help="Listen address (default: http.host).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Listen port, 1–65535 (default: http.port).")
@click.pass_obj
def serve(obj: Obj, host: str | None, port: int | None) -> None:
    """Run the web app, feeds, scheduler and delivery in one process (the roles `web`,
    `scheduler` and `worker` together).

    Checks what `check` checks, binds the port, and only then opens the database, loads
    schedules.paths (when schedules.load_on_start) and starts sending."""
    check_before_metrics(obj.config)
    from summitcal.app.server import serve as run_server

    run_server(obj.config, host=host, port=port)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check and show the changes; apply nothing.")
@click.pass_obj
def load(obj: Obj, paths: tuple[Path, ...], dry_run: bool) -> None:
    """Check schedule files or directories and apply them (default: schedules.paths).

    Applies only what each file changed since it was last applied, so live edits
    (`attendance`, the admin API) survive; where a file changed a field a live edit
    changed too, the file wins and a line says so."""
    chosen = list(paths) or obj.config.schedules.paths
    if not chosen:
        raise click.UsageError("nothing to load: name schedule files or folders (or set "
                               "schedules.paths; the default folder ./schedules is not there)")
    result = _load(obj, chosen, dry_run)
    # One write for all lines: a cold load of 50,000 sessions lists ~60,000 changes.
    lines = [str(change) for change in result.changes]
    lines += [f"overridden: {override}" for override in result.overrides]
    if lines:
        click.echo("\n".join(lines))
    overridden = f", {len(result.overrides)} live edit(s) overridden" if result.overrides else ""
    if not result.changes:
        click.echo("no changes")
    elif dry_run:
        click.echo(f"dry run: {len(result.changes)} change(s){overridden}, nothing applied")
    else:
        click.echo(f"revision {result.revision}: {len(result.changes)} change(s){overridden}")


def _load(obj: Obj, chosen: list[Path], dry_run: bool) -> Result:
    """``Runtime.load``, with the files checked before the database is opened when its
    SQLite file does not exist yet: a load that fails does not leave a new, empty
    database behind."""
    from summitcal.app.preflight import database_exists
    from summitcal.app.runtime import collector_paused
    from summitcal.summits.schedule_file import load_files

    source = _source("load", chosen)
    if database_exists(obj.config.database_url, obj.config.database_url_key):
        return obj.runtime.load(chosen, dry_run=dry_run, source=source)
    with collector_paused():  # as in Runtime.load, until the parsed files are freed
        loaded = load_files(chosen)  # first: obj.runtime opens (and makes) the database
        result = obj.runtime.load(chosen, dry_run=dry_run, source=source, loaded=loaded)
        del loaded
    return result


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.pass_obj
def check(obj: Obj, paths: tuple[Path, ...]) -> None:
    """Check the configuration, what it names (folders, database, secret key, listen
    address), the email templates and the schedule files; list every problem `serve`
    would stop on."""
    from summitcal.app.preflight import problems as environment_problems
    from summitcal.app.preflight import unconfigured_problems
    from summitcal.scheduler.compose import TemplateProblem, check_templates
    from summitcal.summits.schedule_file import load_files

    try:
        config: Config | None = obj.config
    except ConfigError as error:
        # What needs no configuration is still checked: the environment's own variables
        # and the files named on the command line.
        config = None
        found = [Problem("", "", line) for line in str(error).splitlines()]
        key = os.environ.get(SECRET_KEY_ENV) or None
        found += [Problem("", "", line) for line in unconfigured_problems(key)]
    if config is not None:
        found = [Problem("", "", line) for line in environment_problems(config)]
        try:
            check_templates(config.service.base_url)
        except TemplateProblem as problem:
            found.append(Problem("email templates", "",
                                 str(problem).removeprefix("email template ")))
    chosen = list(paths) or (config.schedules.paths if config is not None else [])
    try:
        loaded = load_files(chosen)
    except ScheduleError as error:
        found.extend(error.problems)
    if not found and config is not None:
        found += _stored_uid_clashes(config, loaded)
    if found:
        raise ScheduleError(found, applying=False)
    schedule = loaded.schedule
    click.echo(f"ok: {len(schedule.summits)} summit(s), {len(schedule.sessions)} session(s) "
               "in the schedule files")


@cli.command()
@click.argument("where", metavar="SUMMIT/SESSION")
@click.argument("participant")
@click.argument("mode", type=click.Choice(MODES))
@click.option("--note", default=None, help="Why, as announced.")
@click.option("--delegate", default=None, help="Participant id (mode delegated only).")
@click.option("--announced", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Date of the announcement (YYYY-MM-DD).")
@click.pass_obj
def attendance(obj: Obj, where: str, participant: str, mode: str, note: str | None,
               delegate: str | None, announced) -> None:
    """Record how PARTICIPANT attends a session: in_person, video, delegated, absent, unknown."""
    summit, _, session = where.partition("/")
    if not summit or not session:
        raise click.UsageError(
            f"{where!r}: expected SUMMIT/SESSION, e.g. dushanbe-2021/sco-council"
        )
    day: date | None = announced.date() if announced else None
    item = Attendance(participant, AttendanceMode(mode), delegate, note, day)
    result = obj.runtime.set_attendance(summit, session, item, source="cli attendance")
    for change in result.changes:
        click.echo(str(change))
    click.echo(
        f"revision {result.revision}: {len(result.changes)} change(s)"
        if result.changes
        else "no changes"
    )


@cli.command()
@click.argument("name")
@click.pass_obj
def feed(obj: Obj, name: str) -> None:
    """Print a feed: all, summits/ID, organizations/ID, participants/ID or
    sessions/SUMMIT/SESSION (one session, as "Add this session" serves it)."""
    body = obj.runtime.feeds.get(name.removesuffix(".ics")).body
    sys.stdout.buffer.write(body)


@cli.command()
@click.pass_obj
def version(obj: Obj) -> None:
    """Versions of summitcal, its key libraries and the tz database."""
    from summitcal.app.versions import versions

    for name, value in versions():
        click.echo(f"{name} {value}")


def _stored_uid_clashes(config: Config, loaded: Loaded) -> list[Problem]:
    """The sessions of ``loaded`` that ``load`` would refuse because a session already in
    the configured database has their calendar UID (a database not made yet has none)."""
    from summitcal.app.preflight import database_exists
    from summitcal.summits.store import Store

    if not database_exists(config.database_url, config.database_url_key):
        return []
    with Store(config.database_url) as store:
        return store.uid_problems(loaded)


def _source(command: str, paths: list[Path]) -> str:
    return f"cli {command} " + " ".join(str(p) for p in paths)


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every expected error into lines on stderr."""
    try:
        # Without standalone mode, click returns a command's ``Exit`` code (or None).
        outcome = cli.main(args=argv, prog_name="summitcal", standalone_mode=False)
    except click.exceptions.Exit as done:
        return done.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return 1
    except ScheduleError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        applied = "; nothing applied" if exc.applying else ""
        click.echo(f"error: {len(exc.problems)} problem(s){applied}", err=True)
        return 1
    except StartupError as exc:
        for line in exc.problems:
            click.echo(f"error: {line}", err=True)
        return 1
    except SummitcalError as exc:  # a ConfigError may list several problems, one a line
        for line in str(exc).splitlines() or [""]:
            click.echo(f"error: {line}", err=True)
        return 1
    except OSError as exc:  # a file or folder the command needed
        where = f": {exc.filename}" if exc.filename else ""
        click.echo(f"error: {exc.strerror or exc}{where}", err=True)
        return 1
    except SQLAlchemyError as exc:  # the database went away during the command
        click.echo(f"error: database error: {_first_line(exc)}", err=True)
        return 1
    return outcome if isinstance(outcome, int) else 0


def run() -> None:
    """The ``summitcal`` command: ``main`` with the process's arguments, then exit.

    Everything still alive is frozen first (``gc.freeze``): the interpreter then skips
    collecting it at exit, a tenth of a short command's time (``load`` after one
    change) spent on memory the process is about to give back anyway."""
    import gc

    code = main()
    gc.freeze()
    sys.exit(code)


def _first_line(exc: SQLAlchemyError) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


if __name__ == "__main__":  # pragma: no cover
    run()
