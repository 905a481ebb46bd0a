"""Alembic environment. ``core.database.upgrade`` passes an open connection (already in
a write transaction); the ``alembic`` command line uses ``SUMMITCAL_DATABASE_URL``."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

import summitcal.feeds.versions  # noqa: F401  (these modules add their tables to the metadata)
import summitcal.mail.tables  # noqa: F401
import summitcal.scheduler.notices  # noqa: F401
import summitcal.scheduler.plans  # noqa: F401
import summitcal.subscriptions.tables  # noqa: F401
from summitcal.summits.tables import metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )


def run() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    from summitcal.core.database import MIGRATION_LOCK, create_engine, writing

    url = os.environ.get("SUMMITCAL_DATABASE_URL")
    if not url:
        raise SystemExit("set SUMMITCAL_DATABASE_URL to the database to migrate")
    engine = create_engine(url)
    try:
        with writing(engine, lock=MIGRATION_LOCK) as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run()
