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
    target = os.fspath(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
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
            handle.write(payload)
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


def repeated_json_key(text: bytes | str, data: Any) -> str | None:
    """A key that some mapping of the JSON ``text`` repeats (``data`` is its parse), or None.

    orjson, like most JSON readers, silently keeps the last of two equal keys, so a document can
    show a reviewer one value and mean another; the API machinery and our YAML reader refuse it.
    Cheap test first: outside strings a ``:`` of valid JSON only separates a key from its value
    and orjson's output escapes no colon, so ``text`` has at least as many colons (counting a
    ``\\u003a`` escape as one) as ``data`` re-encoded, and more when a repeated key was dropped.
    Only on a difference is the text decoded again with a check on every mapping.
    """
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    written = raw.count(b":") + raw.count(b"\\u003a") + raw.count(b"\\u003A")
    if written == orjson.dumps(data).count(b":"):
        return None
    import json

    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(items)
        if len(out) != len(items) and not repeated:
            seen: set[str] = set()
            repeated.extend(k for k, _ in items if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        return out

    json.loads(raw, object_pairs_hook=pairs)
    return repeated[0] if repeated else None
