"""Alembic migrations, shipped inside the package so an installed summitcal can upgrade its database.

``HEAD`` names the newest migration in ``versions/``, so a start-up can see that the
database needs nothing without importing Alembic and reading every script (most of a
short command's start-up). A test checks that it is Alembic's head; a new migration
updates it.
"""

HEAD = "0010"
