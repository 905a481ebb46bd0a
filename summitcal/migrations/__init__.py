"""Alembic migrations, shipped inside the package so an installed summitcal can upgrade its database."""
