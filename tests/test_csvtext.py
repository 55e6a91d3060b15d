"""``csvtext.frame_csv`` writes exactly the bytes of ``DataFrame.to_csv``: random text (quotes,
commas, line breaks, unicode, empty and missing cells), shared and distinct objects, integer and
boolean columns, with and without the header; and ``frame_csv_chunks`` gives that text in
pieces of whole rows (the header with the first piece) whatever the piece size, and
``frame_csv_utf8_chunks`` the same pieces encoded (what ``reach -o FILE`` writes)."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.csvtext import (
    frame_csv,
    frame_csv_chunks,
    frame_csv_utf8_chunks,
    identity_codes,
    quote,
)

CELL = st.one_of(st.text(alphabet=st.sampled_from(list('ab ,"\r\n;|é\t')), max_size=6), st.none())


def pandas_csv(df: pd.DataFrame, header: bool = True) -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, header=header, lineterminator="\n")
    return buf.getvalue()


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=6).flatmap(
    lambda n_cols: st.lists(st.lists(CELL, min_size=n_cols, max_size=n_cols), max_size=30).map(
        lambda rows: (n_cols, rows))), st.booleans(), st.booleans())
def test_text_columns_as_pandas_writes_them(shape: tuple[int, list[list[str | None]]], header: bool,
                                            shared: bool) -> None:
    n_cols, rows = shape
    cols = {f"c{k}": np.array([r[k] for r in rows], dtype=object) for k in range(n_cols)}
    if shared and rows:  # rows that share one object, as the reach rows share their evidence
        for k in cols:
            cols[k] = cols[k][np.zeros(len(rows), dtype=np.int64)]
    df = pd.DataFrame(cols) if rows else pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    assert frame_csv(df, header=header) == pandas_csv(df, header=header)
    for rows in (1, 2, 7):
        chunks = list(frame_csv_chunks(df, header=header, rows=rows))
        assert "".join(chunks) == pandas_csv(df, header=header)
        if n_cols >= 3 and len(df) > rows:  # the formatted path: pieces of ``rows`` rows each
            assert len(chunks) == -(-len(df) // rows)
        encoded = list(frame_csv_utf8_chunks(df, header=header, rows=rows))  # the file's bytes, piece by piece
        assert all(isinstance(c, bytes) for c in encoded)
        assert [c.encode("utf-8") for c in chunks] == encoded


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=4), st.integers(-5, 10**12), st.booleans(), st.text(max_size=4)),
                min_size=1, max_size=25))
def test_mixed_integer_and_boolean_columns(rows: list[tuple[str, int, bool, str]]) -> None:
    df = pd.DataFrame(rows, columns=["name", "count", "ok", "note"])
    assert df["count"].dtype.kind == "i" and df["ok"].dtype.kind == "b"
    assert frame_csv(df) == pandas_csv(df)


def test_other_dtypes_are_left_to_pandas() -> None:
    df = pd.DataFrame({"a": ["x", "y"], "b": [1.5, float("nan")], "c": ["p,q", 'say "hi"']})
    assert frame_csv(df) == pandas_csv(df) == 'a,b,c\nx,1.5,"p,q"\ny,,"say ""hi"""\n'


def test_objects_grouped_by_identity() -> None:
    a, b = ["x"], ["x"]  # equal, distinct
    codes, first = identity_codes([a, b, a, a, b])
    assert codes.tolist() == [0, 1, 0, 0, 1] and first.tolist() == [0, 1]
    assert quote('a"b') == '"a""b"' and quote("plain") == "plain" and quote("a\nb") == '"a\nb"'
