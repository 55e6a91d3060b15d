"""Column store of label maps, so selectors evaluate on all endpoint classes at once (numpy)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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

    def row(self, i: int) -> dict[str, str]:
        """The label map of one row (for explanations and tests)."""
        out = {}
        for key, col in self.columns.items():
            code = int(col[i])
            if code >= 0:
                out[key] = self.vocab[key][code]
        return out
