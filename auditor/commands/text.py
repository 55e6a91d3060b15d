"""Rendering tables for people (aligned text) and machines (CSV, JSON), written atomically."""

from __future__ import annotations

import io
import sys
from collections.abc import Mapping
from typing import Any

import pandas as pd

from auditor.canonical import atomic_write, canonical_json

FORMATS = ("table", "csv", "json")


def to_csv(df: pd.DataFrame) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue()


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
