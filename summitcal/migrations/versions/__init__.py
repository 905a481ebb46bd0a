"""Alembic revisions, applied in order by summitcal.core.database.upgrade."""
