"""A real, throw-away PostgreSQL server for the history tests, started from the installed
binaries (``initdb`` / ``pg_ctl``; Debian: ``apt-get install postgresql``) on a temporary
directory, listening on 127.0.0.1 only, with trust authentication.

``initdb`` refuses to run as root (CI runs as root): the server then runs as the ``postgres``
user (or ``nobody``) that owns its temporary directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

PG_HINT = "PostgreSQL server binaries not found: apt-get install postgresql (initdb and pg_ctl) to run these tests"


def pg_bin() -> str | None:
    """The directory holding initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return os.path.dirname(os.path.realpath(found)) if os.path.exists(
            os.path.join(os.path.dirname(os.path.realpath(found)), "pg_ctl")) else os.path.dirname(found)
    for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(d, "initdb")) and os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
    raise RuntimeError("running as root and no postgres/nobody user to run PostgreSQL as")


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server; yield the base URL ``postgresql+psycopg://postgres@127.0.0.1:PORT``."""
    bindir = pg_bin()
    assert bindir is not None, PG_HINT
    base = tempfile.mkdtemp(prefix="auditor-pg-")
    data, log = os.path.join(base, "data"), os.path.join(base, "server.log")
    who = _run_as()
    extra: dict[str, int] = {}
    if who is not None:
        os.chown(base, *who)
        extra = {"user": who[0], "group": who[1]}
    port = _free_port()
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
    try:
        subprocess.run([os.path.join(bindir, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, env=env, cwd=base, **extra)
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {base} -c fsync=off -c full_page_writes=off"
        subprocess.run([os.path.join(bindir, "pg_ctl"), "-D", data, "-l", log, "-o", opts, "-w", "-t", "60",
                        "start"], check=True, capture_output=True, env=env, cwd=base, **extra)
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
        finally:
            subprocess.run([os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "-w", "stop"],
                           capture_output=True, env=env, cwd=base, **extra)
    finally:
        shutil.rmtree(base, ignore_errors=True)


HAVE_PG = pg_bin() is not None


def create_database(base_url: str, name: str) -> str:
    """A fresh database on the server; its URL."""
    import psycopg

    dsn = base_url.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{base_url}/{name}"
