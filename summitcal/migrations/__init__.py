"""Alembic migrations, shipped inside the package so that an installed summitcal can
upgrade its database."""
