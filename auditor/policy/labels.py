"""Column store of label maps, so selectors evaluate on all endpoint classes at once (numpy)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class LabelTable:
    """Label maps of ``n`` rows stored per key: ``columns[key][row]`` is a value code, -1 = key absent.

    ``vocab[key][code]`` is the value string. Building it is linear in the number of labels;
    every selector term then costs one vectorised comparison over all rows.
    """

    n: int
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    vocab: dict[str, list[str]] = field(default_factory=dict)
    _index: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_maps(cls, maps: Sequence[Mapping[str, str]]) -> LabelTable:
        n = len(maps)
        codes: dict[str, dict[str, int]] = {}
        columns: dict[str, np.ndarray] = {}
        for row, labels in enumerate(maps):
            for key, value in labels.items():
                col = columns.get(key)
                if col is None:
                    col = columns[key] = np.full(n, -1, dtype=np.int32)
                    codes[key] = {}
                table = codes[key]
                code = table.get(value)
                if code is None:
                    code = table[value] = len(table)
                col[row] = code
        vocab = {key: list(table) for key, table in codes.items()}
        return cls(n=n, columns=columns, vocab=vocab)

    def has(self, key: str) -> np.ndarray:
        """Rows that carry ``key`` (any value)."""
        col = self.columns.get(key)
        if col is None:
            return np.zeros(self.n, dtype=bool)
        return col >= 0

    def value_mask(self, key: str, predicate: Callable[[str], bool]) -> np.ndarray:
        """Rows that carry ``key`` with a value for which ``predicate`` is true."""
        col = self.columns.get(key)
        if col is None:
            return np.zeros(self.n, dtype=bool)
        good = np.fromiter((predicate(v) for v in self.vocab[key]), dtype=bool, count=len(self.vocab[key]))
        if not good.any():
            return np.zeros(self.n, dtype=bool)
        lookup = np.concatenate([good, [False]])  # code -1 indexes the trailing False
        return lookup[col]

    def values_mask(self, key: str, values: Iterable[str]) -> np.ndarray:
        """Rows whose ``key`` has one of ``values`` (``value_mask`` of an equality or ``in`` test,
        by lookup: namespace-name keys have a value per namespace, thousands at scale)."""
        col = self.columns.get(key)
        if col is None:
            return np.zeros(self.n, dtype=bool)
        index = self._index.get(key)
        if index is None:
            index = self._index[key] = {v: k for k, v in enumerate(self.vocab[key])}
        if len(index) != len(self.vocab[key]):  # a value under two codes (hand-built table)
            wanted = set(values)
            return self.value_mask(key, lambda v: v in wanted)
        codes = [index[v] for v in values if v in index]
        if not codes:
            return np.zeros(self.n, dtype=bool)
        if len(codes) == 1:
            return col == codes[0]
        lookup = np.zeros(len(self.vocab[key]) + 1, dtype=bool)  # code -1 indexes the trailing False
        lookup[codes] = True
        return lookup[col]

    def row(self, i: int) -> dict[str, str]:
        """The label map of one row (for explanations and tests)."""
        out = {}
        for key, col in self.columns.items():
            code = int(col[i])
            if code >= 0:
                out[key] = self.vocab[key][code]
        return out
