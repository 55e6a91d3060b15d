"""Canonical JSON, hashing and atomic file writes.

Every digest and every JSON output goes through :func:`canonical_json` so that the same data
always gives the same bytes (the evidence promise: re-run, get identical output), and every
file the auditor writes goes through :func:`atomic_write` so that an interrupted run never
leaves a half-written report or snapshot behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import Iterable
from typing import Any

import orjson

from auditor.errors import AuditorError

_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY


def canonical_json(obj: Any) -> bytes:
    """Compact JSON with sorted keys: one byte sequence per value, so it can be hashed.

    Raises ``TypeError`` (``orjson.JSONEncodeError``) for values JSON cannot represent
    (non-string keys, bytes, sets, integers beyond 64 bits).
    """
    return orjson.dumps(obj, option=_OPTIONS)


def sha256_hex(data: bytes) -> str:
    """Lower-case hex SHA-256, the digest format used in every report."""
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one.

    The bytes go to a temporary file in the same directory (same file system, so the final
    ``os.replace`` is atomic), are fsynced, then renamed over ``path``. On any failure the
    temporary file is removed and an existing ``path`` is left untouched. Missing parent
    directories are created. OS errors become one-line :class:`AuditorError`\\ s.
    """
    atomic_write_chunks(path, [data])


def atomic_write_chunks(path: str | os.PathLike[str], chunks: Iterable[bytes | str]) -> None:
    """``atomic_write`` of the concatenation of ``chunks``, consumed one at a time (a large
    report is streamed to the temporary file, never held whole in memory)."""
    target = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(target))
    base = os.path.basename(target)
    try:
        os.makedirs(directory, exist_ok=True)
        # Created with os.open(0o666) rather than mkstemp (0o600) so the final file gets the
        # same permissions as any file written normally under the user's umask.
        while True:
            tmp = os.path.join(directory, f".{base}.{secrets.token_hex(6)}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
                break
            except FileExistsError:
                continue
    except OSError as exc:
        raise AuditorError(f"cannot write: {exc.strerror or exc}", where=target) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise AuditorError(f"cannot write: {exc.strerror or exc}", where=target) from exc
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (best effort: not every platform can open a directory)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
