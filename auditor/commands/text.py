"""Rendering tables for people (aligned text) and machines (CSV, JSON), written atomically."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import pandas as pd

from auditor.canonical import atomic_write, atomic_write_chunks, canonical_json

FORMATS = ("table", "csv", "json")


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


def csv_chunks(frames: Iterable[pd.DataFrame]) -> Iterator[str]:
    """``to_csv`` of the concatenated frames, one frame at a time (the header once)."""
    first = True
    for df in frames:
        buf = io.StringIO()
        df.to_csv(buf, index=False, header=first, lineterminator="\n")
        first = False
        yield buf.getvalue()


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


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def to_json(meta: Mapping[str, Any], df: pd.DataFrame) -> bytes:
    body = dict(meta)
    body["rows"] = df.to_dict(orient="records")
    return canonical_json(body) + b"\n"


_ROWS = b'"rows":[]'


def json_chunks(meta: Mapping[str, Any], frames: Iterable[pd.DataFrame]) -> Iterator[bytes]:
    """``to_json`` of the concatenated frames, one frame at a time: the same bytes (sorted
    keys, so ``rows`` sits between the meta keys around it)."""
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
    yield head[at:] + b"\n"


def emit_chunks(chunks: Iterable[str | bytes], output: str | None) -> None:
    """``emit`` for output produced piece by piece (written atomically as it comes)."""
    if output and output != "-":
        atomic_write_chunks(output, chunks)
        return
    for chunk in chunks:
        if isinstance(chunk, bytes):
            sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        else:
            sys.stdout.write(chunk)
            sys.stdout.flush()


def emit(text: str | bytes, output: str | None) -> None:
    """Write to ``output`` atomically, or to stdout."""
    if output and output != "-":
        atomic_write(output, text)
        return
    if isinstance(text, bytes):
        sys.stdout.buffer.write(text)
        sys.stdout.flush()
    else:
        sys.stdout.write(text)
