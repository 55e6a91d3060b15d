"""Canonical JSON, hashing and atomic file writes.

Every digest and every JSON output goes through :func:`canonical_json` so that the same data
always gives the same bytes (the evidence promise: re-run, get identical output), every
file the auditor writes goes through :func:`atomic_write` and every report set through
:func:`atomic_directory`, so that an interrupted run never leaves a half-written report or
snapshot behind. Temporary names carry a host tag and the writer's pid: what a killed run
(SIGKILL) left behind is recognised and removed by the next run on the same host.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import re
import secrets
import stat
from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from auditor.errors import AuditorError, OutputError

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
    if _is_stream(target):
        _write_through(target, chunks)
        return
    directory = os.path.dirname(os.path.abspath(target))
    base = os.path.basename(target)
    _make_parent(directory, target)
    clean_stale(directory, base)
    try:
        # Created with os.open(0o666) rather than mkstemp (0o600) so the final file gets the
        # same permissions as any file written normally under the user's umask.
        while True:
            tmp = _temp_name(directory, base)
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


def _is_stream(target: str) -> bool:
    """``-o /dev/null``, ``-o /dev/stdout``, a named pipe: an existing target (or what a symlink
    points at) that is not a regular file. Renaming a temporary file over it would replace the
    device or pipe (or the symlink) with a plain file; it is written in place instead, where no
    reader can see a half-written file anyway."""
    try:
        mode = os.stat(target).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _write_through(target: str, chunks: Iterable[bytes | str]) -> None:
    try:
        with open(target, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk))
    except OSError as exc:
        raise AuditorError(f"cannot write: {exc.strerror or exc}", where=target) from exc


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield an empty temporary directory beside ``path``; when the block ends without error it
    replaces ``path`` in one step, so a reader (or a run killed midway) sees the old set of files
    or the whole new one, never a mix.

    Entries of an existing ``path`` that the new set does not rewrite are carried over (hard
    links where possible), so files a user keeps there survive. Writers of the same ``path``
    exclude each other with a lock file beside it naming the holder (pid, host, start time);
    a second run refuses with that name rather than interleaving. Leftovers of killed runs are
    removed first.
    """
    target = os.path.realpath(os.fspath(path))  # a symlinked DIR: replace what it points at
    parent, base = os.path.split(target)
    if os.path.lexists(target) and not os.path.isdir(target):
        raise OutputError("not a directory (a file of that name exists)", where=os.fspath(path))
    _make_parent(parent, os.fspath(path))
    with _lock(parent, base, os.fspath(path)):
        clean_stale(parent, base, any_pid=True)  # under the lock no other writer of ``path`` runs
        tmp = _temp_name(parent, base)
        try:
            os.mkdir(tmp)
            if os.path.isdir(target):
                os.chmod(tmp, os.stat(target).st_mode & 0o7777)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", where=os.fspath(path)) from exc
        try:
            yield tmp
            if os.path.isdir(target):
                _carry_over(target, tmp)
                _swap(tmp, target)
            else:
                os.rename(tmp, target)
            _fsync_directory(parent)
        except OSError as exc:
            raise OutputError(f"cannot write: {exc.strerror or exc}", where=os.fspath(path)) from exc
        finally:
            if os.path.lexists(tmp):
                _remove_tree(tmp)


# -- temporary names, stale leftovers, the lock -------------------------------------------------

def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")


_HOST_TAG = hashlib.sha256(_host().encode("utf-8", "replace")).hexdigest()[:6]
_TEMP = re.compile(r"^\.(?P<base>.+)\.(?P<host>[0-9a-f]{6})-(?P<pid>[0-9]+)\.[0-9a-f]{12}\.tmp$")


def _temp_name(directory: str, base: str) -> str:
    return os.path.join(directory, f".{base}.{_HOST_TAG}-{os.getpid()}.{secrets.token_hex(6)}.tmp")


def clean_stale(directory: str, base: str, *, any_pid: bool = False) -> None:
    """Remove temporary files or directories for ``base`` that a killed run left in ``directory``:
    those of this host whose writer is gone (or, with ``any_pid``, every one: the caller holds
    the lock that every writer of ``base`` takes)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMP.match(name)
        if match is None or match["base"] != base:
            continue
        if not any_pid and (match["host"] != _HOST_TAG or _alive(int(match["pid"]))):
            continue
        leftover = os.path.join(directory, name)
        if os.path.isdir(leftover) and not os.path.islink(leftover):
            _remove_tree(leftover)
        else:
            with contextlib.suppress(OSError):
                os.unlink(leftover)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


@contextlib.contextmanager
def _lock(parent: str, base: str, shown: str) -> Iterator[None]:
    path = os.path.join(parent, f".{base}.lock")
    holder = {"pid": os.getpid(), "host": _host(),
              "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    for _ in range(3):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            other = _read_lock(path)
            if other.get("host") == holder["host"] and isinstance(other.get("pid"), int) \
                    and not _alive(other["pid"]):
                with contextlib.suppress(OSError):
                    os.unlink(path)  # its holder was killed: the lock is stale
                continue
            who = (f"pid {other.get('pid', '?')} on {other.get('host', '?')} since {other.get('started', '?')}"
                   if other else "a run that is starting")
            raise OutputError(f"being written by another auditor run ({who}); wait for it to finish, or "
                              f"remove {path} if that run is gone", where=shown) from None
        except OSError as exc:
            raise OutputError(f"cannot lock: {exc.strerror or exc}", where=path) from exc
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps(holder) + b"\n")
        break
    else:
        raise OutputError("cannot take the lock: other runs keep replacing it", where=path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _read_lock(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            data = orjson.loads(handle.read())
    except (OSError, orjson.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _make_parent(directory: str, shown: str) -> None:
    """``os.makedirs`` with the message a user can act on when part of the path is a file."""
    try:
        os.makedirs(directory, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        blocker = _file_in_path(directory)
        if blocker is None:
            raise OutputError(f"cannot write: {exc.strerror or exc}", where=shown) from exc
        raise OutputError(f"cannot write: {blocker} is not a directory", where=shown) from exc
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", where=shown) from exc


def _file_in_path(directory: str) -> str | None:
    """The first existing component of ``directory`` that is not a directory."""
    path = os.path.abspath(directory)
    parts = []
    while True:
        parts.append(path)
        head = os.path.dirname(path)
        if head == path:
            break
        path = head
    for candidate in reversed(parts):
        if not os.path.exists(candidate):
            return None
        if not os.path.isdir(candidate):
            return candidate
    return None


def _carry_over(old: str, new: str) -> None:
    """Entries of ``old`` that ``new`` does not have, linked (or copied) into ``new``."""
    for name in os.listdir(old):
        src, dst = os.path.join(old, name), os.path.join(new, name)
        if os.path.lexists(dst):
            continue
        if os.path.islink(src):
            os.symlink(os.readlink(src), dst)
        elif os.path.isdir(src):
            import shutil

            shutil.copytree(src, dst, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(src, dst)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        import shutil

        shutil.copy2(src, dst)


def _remove_tree(path: str) -> None:
    import shutil  # only when there is a directory to remove: start-up stays light

    shutil.rmtree(path, ignore_errors=True)


def _swap(new: str, target: str) -> None:
    """Put ``new`` at ``target``; the old directory ends at ``new``'s name (removed by the caller).

    On Linux one ``renameat2(RENAME_EXCHANGE)`` does it atomically. Elsewhere two renames: a kill
    between them leaves ``target`` absent (never mixed) and the old set under a temporary name,
    which the next run removes.
    """
    if _exchange(new, target):
        return
    aside = _temp_name(os.path.dirname(target), os.path.basename(target))
    os.rename(target, aside)
    os.rename(new, target)
    os.rename(aside, new)


def _exchange(a: str, b: str) -> bool:
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


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


# -- line-oriented canonical JSON --------------------------------------------------------------------

_COMPACT = 120  # a record whose compact form fits stays on one line


def _compact(obj: Any) -> str:
    return orjson.dumps(obj, option=_OPTIONS).decode()


def _fmt(obj: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        text = _compact(obj)
        if len(text) <= _COMPACT:
            return text
        items = [f"{inner}{_compact(str(k))}: {_fmt(obj[k], depth + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(isinstance(x, (list, tuple)) for x in obj):  # rows: one per line
            return "[\n" + ",\n".join(inner + _compact(list(x)) for x in obj) + "\n" + pad + "]"
        text = _compact(list(obj))
        if len(text) <= _COMPACT:
            return text
        return "[\n" + ",\n".join(inner + _fmt(x, depth + 1) for x in obj) + "\n" + pad + "]"
    return _compact(obj)


def dumps_lines(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, no insignificant differences) laid out one record per line,
    so that ``git diff`` of two baselines shows what was accepted or fixed."""
    return (_fmt(obj, 0) + "\n").encode()


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
