"""Continuous compliance: a history of audit runs and period-of-review evidence (issue #16).

``store`` (SQLAlchemy 2 models, opening SQLite or PostgreSQL, Alembic migrations in
``migrations/``), ``adapter`` (the facts of an audit result document that a run records),
``record`` (one run, atomically and idempotently), ``period`` (failure windows, coverage,
scope over time) and ``report`` (the period PDF and CSVs).
"""
