"""Alembic migrations of the task buffer; run by db.migrate.upgrade()."""
