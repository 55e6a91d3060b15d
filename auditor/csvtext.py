"""CSV text of a DataFrame, built once per distinct cell instead of once per row.

``auditor reach`` writes millions of rows whose cells repeat: a few thousand source and
destination names and a few thousand distinct deciding-rule texts. ``DataFrame.to_csv`` formats
and quotes every cell of every row through the ``csv`` module (26 s for 3.9 M rows at 10,000
pods); here each column is factorised, each distinct value is formatted and quoted once, the
trailing columns are combined into one code per distinct tail, and a row is three pieces
(source, destination, tail) joined once for the whole frame. The bytes are those of
``to_csv(index=False, lineterminator="\\n")`` (``tests/test_csvtext.py`` compares them on random
text); frames with other column types, or fewer than three columns, are handed to pandas.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def _quoted_characters() -> frozenset[str]:
    """The characters that make this Python's ``csv`` module quote a field when the line ends
    with ``\\n`` (3.11 leaves a lone ``\\r`` bare; asked, not assumed)."""
    import csv
    import io

    found = set()
    for code in range(128):
        ch = chr(code)
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(["a", f"x{ch}y"])
        if buf.getvalue() != f"a,x{ch}y\n":
            found.add(ch)
    return frozenset(found)


_SPECIAL = _quoted_characters()
_NEEDS_QUOTES = re.compile("[" + re.escape("".join(sorted(_SPECIAL))) + "]")


def quote(text: str) -> str:
    """One CSV field as the ``csv`` module writes it (``QUOTE_MINIMAL``, ``"`` doubled)."""
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def identity_codes(values: Sequence[Any] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(code per element, position of each code's first element), grouping by object identity:
    rows share their evidence objects, so grouping by ``id`` finds the distinct ones without
    hashing or comparing them."""
    codes = dense_codes(_ids(values))
    return codes, first_positions(codes)


def _ids(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """``id`` of every element. An object array holds its elements' addresses, which are their
    ids in CPython: read them as integers (one copy) instead of calling ``id`` per element."""
    if (isinstance(values, np.ndarray) and values.dtype == object and values.ndim == 1
            and sys.implementation.name == "cpython" and np.dtype(np.intp).itemsize == 8):
        return np.frombuffer(np.ascontiguousarray(values), dtype=np.int64).copy()
    return np.fromiter(map(id, values), dtype=np.int64, count=len(values))


def _column_cells(col: pd.Series) -> tuple[np.ndarray, list[str]] | None:
    """(codes, quoted text per code) of an object or string column; None for other dtypes. The
    cells are grouped by identity (rows share their cell objects), so equal text from distinct
    objects is only formatted twice, never hashed per row."""
    import pandas as pd

    if isinstance(col.dtype, pd.CategoricalDtype):
        return None
    if col.dtype.kind in "iub":  # numpy integers and booleans: never missing, written as str()
        codes, uniques = pd.factorize(col.to_numpy())
        return codes.astype(np.int64, copy=False), [str(v) for v in uniques.tolist()]
    if not pd.api.types.is_string_dtype(col.dtype):
        return None
    values = col.to_numpy(dtype=object)
    codes, first = identity_codes(values)
    uniques = values[first]
    missing = pd.isna(uniques)
    return codes, ["" if m else quote(str(v)) for v, m in zip(uniques.tolist(), missing.tolist(), strict=True)]


def first_positions(codes: np.ndarray) -> np.ndarray:
    """Per code (0..n-1, as ``dense_codes`` numbers them), the position of its first row."""
    first = np.full(int(codes.max()) + 1 if codes.size else 0, -1, dtype=np.int64)
    first[codes[::-1]] = np.arange(codes.size - 1, -1, -1)  # the last write wins: the first position
    return first


def dense_codes(keys: np.ndarray) -> np.ndarray:
    """Codes 0..n-1 of the distinct keys, in order of first appearance (a hash table, no sort)."""
    import pandas as pd

    codes, _ = pd.factorize(keys)
    return codes.astype(np.int64, copy=False)


def frame_csv(df: pd.DataFrame, header: bool = True) -> str:
    """``df.to_csv(index=False, header=header, lineterminator="\\n")``, the same text."""
    return "".join(frame_csv_chunks(df, header))


CHUNK_ROWS = 16384  # rows per piece of ``frame_csv_chunks``: a few MB, reused by the allocator


def frame_csv_chunks(df: pd.DataFrame, header: bool = True, rows: int = CHUNK_ROWS) -> Iterator[str]:
    """``frame_csv`` in pieces of ``rows`` rows (the header with the first). Why: joining and
    encoding a block's text whole (≈ 500 MB at 10,000 pods) costs a fresh mapping of that size
    per block, whose page faults cost more than the copying; pieces of a few MB reuse memory."""
    yield from _chunks(df, header, rows, str)


def frame_csv_utf8_chunks(df: pd.DataFrame, header: bool = True, rows: int = CHUNK_ROWS) -> Iterator[bytes]:
    """``frame_csv_chunks`` encoded as UTF-8, for a file: each distinct cell is encoded once and
    the pieces are joined as bytes, so the text (2 GB at 10,000 pods with Calico tiers) is never
    built as ``str`` and copied again by ``encode`` (a second buffer of each piece's size)."""
    yield from _chunks(df, header, rows, _utf8)


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


def _chunks(df: pd.DataFrame, header: bool, rows: int, enc: Callable[[str], Any]) -> Iterator[Any]:
    """The pieces of ``frame_csv_chunks`` with every text passed through ``enc`` (``str``: as it
    is; ``_utf8``: bytes) before it is joined, so both outputs come from one formatter."""
    cells = [_column_cells(df[c]) for c in df.columns] if df.columns.is_unique else [None]
    if len(df.columns) < 3 or any(x is None for x in cells):  # one column: csv quotes an empty row
        import io

        buf = io.StringIO()
        df.to_csv(buf, index=False, header=header, lineterminator="\n")
        yield enc(buf.getvalue())
        return
    head = enc(",".join(quote(str(c)) for c in df.columns) + "\n" if header else "")
    if len(df) == 0:
        yield head
        return
    columns: list[tuple[np.ndarray, list[str]]] = [x for x in cells if x is not None]
    # the columns after the first two become one code per distinct tail, formatted once; a row
    # is then three pieces (separators included), joined a chunk of rows at a time
    lead = columns[:2]
    rest = columns[2:]
    pieces = np.empty(len(df) * 3, dtype=object)
    for k, (codes, texts) in enumerate(lead):
        pieces[k::3] = np.array([enc(t + ",") for t in texts], dtype=object)[codes]
    combined = rest[0][0]
    for codes, texts in rest[1:]:
        combined = dense_codes(combined * len(texts) + codes)
    first = first_positions(combined)
    # one distinct tail per combined code, built column by column with numpy's elementwise
    # ``+`` on object arrays (no Python step per tail); every field carries its separator
    tails: np.ndarray | None = None
    for n, (codes, texts) in enumerate(rest):
        end = "\n" if n == len(rest) - 1 else ","
        field = np.array([enc(t + end) for t in texts], dtype=object)[codes[first]]
        tails = field if tails is None else tails + field
    assert tails is not None
    pieces[2::3] = tails[combined]
    step = 3 * max(1, rows)
    join = head[:0].join  # "".join or b"".join
    for k in range(0, pieces.size, step):
        yield (head if k == 0 else head[:0]) + join(pieces[k:k + step].tolist())
