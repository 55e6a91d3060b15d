"""The history store: SQLAlchemy 2 models, opening a database, and its Alembic migrations.

``--history`` (or ``AUDITOR_HISTORY``) names either a SQLite file (the default,
``auditor-history.sqlite`` in the working directory) or a URL: ``sqlite:///path`` or
``postgresql+psycopg://user@host/db`` (``postgresql://`` is taken to mean psycopg 3). The
schema is created and upgraded only by the Alembic revisions shipped in ``migrations/``; a
database whose revision this version does not know (written by a newer auditor) is refused.

Every database problem (corrupt or locked file, unreachable server, wrong URL) becomes one
``AuditorError`` line naming the store, with the password hidden (exit 2).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from auditor.errors import AuditorError

ENV_VAR = "AUDITOR_HISTORY"
DEFAULT_PATH = "auditor-history.sqlite"
LOCK_TIMEOUT_ENV = "AUDITOR_HISTORY_LOCK_TIMEOUT"  # seconds a locked SQLite file is waited for
DEFAULT_LOCK_TIMEOUT = 10.0
CONNECT_TIMEOUT = 10  # seconds, PostgreSQL
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
TIME = 20  # "2026-01-31T02:00:00Z"
DIGEST = 64


class Base(DeclarativeBase):
    pass


class Run(Base):
    """One recorded audit: the cluster at one capture time, under one set of control packs.

    ``(snapshot_digest, packs_digest)`` is unique: recording the same snapshot audited with
    the same packs again is the same run (idempotent). Times are UTC text, which sorts as time
    on every backend.
    """

    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("snapshot_digest", "packs_digest", name="uq_runs_snapshot_packs"),
        Index("ix_runs_cluster_captured", "cluster", "captured_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str] = mapped_column(String(253))
    captured_at: Mapped[str] = mapped_column(String(TIME))
    captured_at_declared: Mapped[bool] = mapped_column(Boolean, default=False)  # revision 0002
    snapshot_digest: Mapped[str] = mapped_column(String(DIGEST))
    packs_digest: Mapped[str] = mapped_column(String(DIGEST))
    tool_version: Mapped[str] = mapped_column(String(64))
    verdict: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[str] = mapped_column(String(TIME))
    # revision 0003: the signed in-toto statement naming this run's result (None: unsigned)
    attestation_digest: Mapped[str | None] = mapped_column(String(DIGEST), nullable=True, default=None)
    attestation_key_id: Mapped[str | None] = mapped_column(String(128), nullable=True, default=None)
    attestation_algorithm: Mapped[str | None] = mapped_column(String(32), nullable=True, default=None)


class RunPack(Base):
    __tablename__ = "run_packs"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    pack: Mapped[str] = mapped_column(String(253), primary_key=True)
    digest: Mapped[str] = mapped_column(String(DIGEST))
    framework: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(String(64))


class ControlResult(Base):
    """The verdict of one control in one run, with its counts (open, waived, unknown)."""

    __tablename__ = "control_results"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    pack: Mapped[str] = mapped_column(String(253), primary_key=True)
    control: Mapped[str] = mapped_column(String(253), primary_key=True)
    verdict: Mapped[str] = mapped_column(String(16))
    violations: Mapped[int] = mapped_column(Integer)
    waived: Mapped[int] = mapped_column(Integer)
    unknown: Mapped[int] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(Text)
    refs: Mapped[str] = mapped_column(Text)  # framework references, one per line


class ZoneCount(Base):
    """Zone membership in one run: counts, and the member list (zlib JSON) for scope changes."""

    __tablename__ = "zone_counts"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    pack: Mapped[str] = mapped_column(String(253), primary_key=True)
    zone: Mapped[str] = mapped_column(String(253), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    protected: Mapped[bool] = mapped_column(Boolean)
    members: Mapped[int] = mapped_column(Integer)
    possible: Mapped[int] = mapped_column(Integer)
    members_digest: Mapped[str] = mapped_column(String(DIGEST))
    member_list: Mapped[bytes] = mapped_column(LargeBinary)


class EntryPoint(Base):
    """An entry point into the cluster seen by a run (revision 0002; filled once the audit
    result carries exposure)."""

    __tablename__ = "entry_points"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str] = mapped_column(Text)


class Document(Base):
    """The full audit result document of a run, canonical JSON compressed with zlib: re-renders
    the run's reports byte for byte."""

    __tablename__ = "documents"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    codec: Mapped[str] = mapped_column(String(16))
    size: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(DIGEST))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class PeriodReport(Base):
    """A period report written from the store. While ``hold`` is true its range is an **open
    period report**: ``history prune`` keeps every run of its cluster (all clusters for
    ``--all``) captured in [since, until] unless ``--force``."""

    __tablename__ = "period_reports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    cluster: Mapped[str | None] = mapped_column(String(253), nullable=True)  # None: --all
    since: Mapped[str] = mapped_column(String(TIME))
    until: Mapped[str] = mapped_column(String(TIME))
    written_at: Mapped[str] = mapped_column(String(TIME))
    hold: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str] = mapped_column(Text)


RUN_TABLES = (RunPack, ControlResult, ZoneCount, EntryPoint, Document)


# -- locating and opening ------------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    url: URL
    label: str  # what error messages name: the file, or the URL without password
    path: Path | None  # SQLite file, None for in-memory or a server


def locate(value: str | None) -> Location:
    """``--history`` / ``AUDITOR_HISTORY`` / the default file → where the store is."""
    raw = (value or os.environ.get(ENV_VAR) or DEFAULT_PATH).strip()
    if not raw:
        raw = DEFAULT_PATH
    if "://" not in raw:
        path = Path(raw).expanduser()
        return Location(URL.create("sqlite", database=str(path)), str(path), path)
    try:
        url = make_url(raw)
    except ArgumentError:
        raise AuditorError(f"--history {_hide(raw)!r}: not a database URL (expected a SQLite path, "
                           "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB)") from None
    driver = url.drivername
    if driver in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    elif driver not in ("sqlite", "postgresql+psycopg", "sqlite+pysqlite"):
        raise AuditorError(f"--history {url.render_as_string(hide_password=True)!r}: unsupported database "
                           f"{driver!r} (use a SQLite path, sqlite:///PATH or postgresql+psycopg://…)")
    label = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        db = url.database or ""
        path = Path(db).expanduser() if db and db != ":memory:" else None
        return Location(url, str(path) if path else label, path)
    if not url.database:
        raise AuditorError(f"--history {label!r}: the URL names no database (…/DBNAME)")
    return Location(url, label, None)


def _hide(raw: str) -> str:
    head, sep, tail = raw.partition("://")
    if sep and "@" in tail:
        cred, _, rest = tail.rpartition("@")
        return f"{head}://{cred.partition(':')[0]}:***@{rest}" if ":" in cred else raw
    return raw


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


class Store:
    """An open, migrated history store. Use ``session()`` for one transaction."""

    def __init__(self, location: Location, engine: Engine) -> None:
        self.location = location
        self.engine = engine

    @property
    def label(self) -> str:
        return self.location.label

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def guard(self, doing: str) -> Iterator[None]:
        """Database errors → one ``error:`` line naming the store and what was being done."""
        try:
            yield
        except AuditorError:
            raise
        except SQLAlchemyError as exc:
            raise AuditorError(f"{doing}: {describe_error(exc)}", where=self.label) from None

    @contextlib.contextmanager
    def session(self, doing: str) -> Iterator[Session]:
        """One transaction: committed at the end, rolled back entirely on any error."""
        with self.guard(doing), Session(self.engine) as s, s.begin():
            yield s

    def close(self) -> None:
        self.engine.dispose()


def describe_error(exc: BaseException) -> str:
    line = _first_line(exc)
    low = line.lower()
    if "file is not a database" in low or "malformed" in low:
        return f"not a usable SQLite history ({line})"
    if "database is locked" in low:
        return "the SQLite history is locked by another process (try again when it is done)"
    if "connection refused" in low or "could not connect" in low or "connection failed" in low \
            or ("no such file or directory" in low and "socket" in low):
        return f"cannot connect to the database server ({line})"
    return line


def open_store(value: str | None, *, create: bool = False) -> Store:
    """Open (and migrate to this version's schema) the store ``value`` names.

    ``create``: a SQLite file that does not exist yet is created (recording); otherwise its
    absence is an error (reading commands must not invent an empty history).
    """
    location = locate(value)
    if location.path is not None:
        if location.path.is_dir():
            raise AuditorError("is a directory, not a history file", where=location.label)
        if not location.path.exists():
            if not create:
                raise AuditorError("no history here yet (record a run first: auditor history record "
                                   "RESULT.json, or auditor audit … --record)", where=location.label)
            try:
                location.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise AuditorError(f"cannot create: {exc.strerror or exc}", where=location.label) from None
    engine = _engine(location)
    store = Store(location, engine)
    try:
        with store.guard("cannot open the history"):
            migrate(engine, location.label)
    except BaseException:
        engine.dispose()
        raise
    return store


def _engine(location: Location) -> Engine:
    url = location.url
    if url.get_backend_name() == "sqlite":
        try:
            timeout = float(os.environ.get(LOCK_TIMEOUT_ENV) or DEFAULT_LOCK_TIMEOUT)
        except ValueError:
            raise AuditorError(f"{LOCK_TIMEOUT_ENV} must be a number of seconds") from None
        engine = create_engine(url, connect_args={"timeout": timeout})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    try:
        return create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT}, pool_pre_ping=True)
    except (ArgumentError, ImportError) as exc:
        raise AuditorError(f"cannot use this database URL: {exc}", where=location.label) from None


# -- migrations ------------------------------------------------------------------------------------


def alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def known_revisions() -> tuple[str, ...]:
    """Every revision this version ships, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    return tuple(reversed([r.revision for r in script.walk_revisions()]))


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def migrate(engine: Engine, label: str, target: str = "head") -> None:
    """Upgrade the store to ``target`` (this version's head); refuse a newer schema."""
    from alembic import command

    known = known_revisions()
    with engine.begin() as conn:
        from alembic.runtime.migration import MigrationContext

        current = MigrationContext.configure(conn).get_current_revision()
        if current is not None and current not in known:
            raise AuditorError(f"history schema revision {current!r} is newer than this auditor understands "
                               f"(it knows up to {known[-1]!r}): upgrade the auditor", where=label)
        wanted = known[-1] if target == "head" else target
        if current == wanted:
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)
