"""Alembic environment: always run with a live connection handed in by pandawms.db.migrate."""

from __future__ import annotations

from alembic import context

from pandawms.db.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through pandawms.db.migrate.upgrade(), which passes a connection")

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
