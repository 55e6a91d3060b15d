"""Backends for the history tests: every test taking ``store_url`` runs on SQLite and on a
real PostgreSQL server started from the installed binaries (skipped, with how to install
them, when they are absent)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.kits.postgres import HAVE_PG, PG_HINT, create_database, postgres_server

_names = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(not HAVE_PG, reason=PG_HINT))])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty history store on each backend."""
    if request.param == "sqlite":
        return str(tmp_path / "history.sqlite")
    server = request.getfixturevalue("pg_server")
    return create_database(server, f"h{next(_names)}")
