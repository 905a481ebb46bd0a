"""Alembic revisions, applied in order by summitcal.summits.database.upgrade."""
