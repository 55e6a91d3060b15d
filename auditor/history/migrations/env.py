"""Alembic environment of the history store: runs on the connection ``store.migrate`` passes
(``config.attributes["connection"]``), never on a URL of its own; no logging configuration."""

from __future__ import annotations

from alembic import context

from auditor.history.store import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes one
    raise RuntimeError("run the history migrations through auditor.history.store.migrate")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
