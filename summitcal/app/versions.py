"""What ``summitcal version`` reports: our version, key libraries, the tz database."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

import tzdata

from summitcal import __version__

LIBRARIES = ("icalendar", "APScheduler", "SQLAlchemy", "alembic", "fastapi", "uvicorn",
             "Jinja2", "pytz")


def versions() -> list[tuple[str, str]]:
    rows = [("summitcal", __version__), ("python", platform.python_version())]
    for name in LIBRARIES:
        try:
            rows.append((name, version(name)))
        except PackageNotFoundError:
            rows.append((name, "not installed"))
    rows.append(
        ("tzdata", f"{tzdata.IANA_VERSION} (IANA tz database, package {version('tzdata')})")
    )
    return rows
