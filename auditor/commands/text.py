"""Terminal and file rendering: aligned tables for people, CSV and JSON for machines, and the
one place that writes standard output (so a full disk or a closed pipe is noticed, not lost)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from auditor.canonical import atomic_write, atomic_write_chunks, canonical_json
from auditor.errors import OutputClosed, OutputError

if TYPE_CHECKING:  # pandas loads inside the commands that build tables, not at start-up
    import pandas as pd

FORMATS = ("table", "csv", "json")


def to_csv(df: pd.DataFrame) -> str:
    """``df.to_csv(index=False)`` with ``\n`` line ends (``csvtext``: formatted per distinct cell)."""
    from auditor.csvtext import frame_csv

    return frame_csv(df)


def csv_chunks(frames: Iterable[pd.DataFrame], *, utf8: bool = False) -> Iterator[str | bytes]:
    """``to_csv`` of the concatenated frames, one frame at a time (the header once); ``utf8``:
    as UTF-8 bytes (for a file: never built as text and encoded again)."""
    from auditor.csvtext import frame_csv_chunks, frame_csv_utf8_chunks

    pieces = frame_csv_utf8_chunks if utf8 else frame_csv_chunks
    first = True
    for df in frames:
        yield from pieces(df, header=first)
        first = False


def to_table(df: pd.DataFrame, *, max_width: int = 80) -> str:
    """Aligned columns; long cells are shortened with an ellipsis so rows stay on one line."""
    if df.empty:
        return "(no rows)\n"
    cols = list(df.columns)
    cells = [[_cut(str(v), max_width) for v in df[c].tolist()] for c in cols]
    widths = [max(len(c), *(len(x) for x in col)) for c, col in zip(cols, cells, strict=True)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    for r in range(len(df)):
        lines.append("  ".join(cells[k][r].ljust(widths[k]) for k in range(len(cols))).rstrip())
    return "\n".join(lines) + "\n"


def ignored_line(ignored: Mapping[str, int]) -> str:
    """§3 of issue 13: the kinds present in the input that the analysis does not read (data-driven:
    every kind outside ``auditor.kinds.KNOWN_KINDS`` is counted by the snapshot), with counts."""
    return "ignored kinds (present in the input, not analysed): " + ", ".join(
        f"{k} {v}" for k, v in sorted(ignored.items()))


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_json(meta: Mapping[str, Any], df: pd.DataFrame) -> bytes:
    body = dict(meta)
    body["rows"] = df.to_dict(orient="records")
    return canonical_json(body) + b"\n"


_ROWS = b'"rows":[]'


def json_chunks(meta: Mapping[str, Any], frames: Iterable[pd.DataFrame],
                late: Callable[[], Mapping[str, Any]] | None = None) -> Iterator[bytes]:
    """``to_json`` of the concatenated frames, one frame at a time: the same bytes (sorted
    keys, so ``rows`` sits between the meta keys around it). ``late`` gives meta keys known
    only once every frame has passed (counts over the rows); they must sort after ``rows``."""
    head = canonical_json({**meta, "rows": []})
    assert head.count(_ROWS) == 1
    at = head.index(_ROWS) + len(_ROWS) - 1
    yield head[:at]
    first = True
    for df in frames:
        records = df.to_dict(orient="records")
        if records:
            yield (b"" if first else b",") + b",".join(canonical_json(r) for r in records)
            first = False
    if late is not None:
        extra = late()
        assert all(k > "rows" for k in extra), "late meta keys must sort after rows"
        whole = canonical_json({**meta, **extra, "rows": []})
        assert whole[:at] == head[:at]
        head = whole
    yield head[at:] + b"\n"


def emit_chunks(chunks: Iterable[str | bytes], output: str | None) -> None:
    """``emit`` for output produced piece by piece (written atomically as it comes)."""
    if output and output != "-":
        atomic_write_chunks(output, chunks)
        return
    for chunk in chunks:
        out(chunk)


def emit(text: str | bytes, output: str | None) -> None:
    """Write to ``output`` atomically, or to stdout."""
    if output and output != "-":
        atomic_write(output, text)
        return
    out(text)


def out(text: str | bytes) -> None:
    """Write to standard output so that a failed write is reported by this run.

    The process's own stdout is written with ``os.write`` until every byte is taken: Python's
    buffered writer drops the error of a write that was cut short (a file-size limit takes the
    first 4 KiB, then the rest vanishes without an exception).
    """
    try:
        if sys.stdout is not sys.__stdout__:  # captured (tests, embedding): its own writer
            if isinstance(text, bytes):
                sys.stdout.flush()
                sys.stdout.buffer.write(text)
            else:
                sys.stdout.write(text)
            sys.stdout.flush()
            return
        sys.stdout.flush()
        data = text if isinstance(text, bytes) else text.encode(sys.stdout.encoding or "utf-8",
                                                                sys.stdout.errors or "strict")
        fd = sys.stdout.fileno()
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except OSError as exc:
        raise stdout_error(exc) from exc


def finish_stdout() -> None:
    """Flush standard output and, when it is the process's own, close it: a write that fails only
    now (a file-size limit, a full disk, a network file system) still fails the run."""
    try:
        sys.stdout.flush()
        if sys.stdout is sys.__stdout__ and not sys.stdout.closed:
            sys.stdout.close()
    except OSError as exc:
        raise stdout_error(exc) from exc


def stdout_error(exc: OSError) -> Exception:
    """A closed pipe is the reader's choice (quiet); anything else is a failed output (exit 2)."""
    if isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE:
        return OutputClosed()
    return OutputError(f"cannot write to standard output: {exc.strerror or exc}")


def silence_stdout() -> None:
    """After the reader went away: point stdout at /dev/null so the interpreter's final flush
    does not print a second error."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass
