"""A bool matrix of (items × classes) stored class-major and bit-packed: one bit per cell.

The engine keeps one row per policy (applicability) and one per interned rule side (which
classes it matches). At 100,000 pods that is tens of thousands of rows over ~10^5 classes:
dense ``bool`` costs a byte per cell (gigabytes), bits cost an eighth of that, and the
class-major layout is what grouping needs (a class's key = the bytes of the items in play).
"""

from __future__ import annotations

import numpy as np


class BitColumns:
    """Rows are appended one at a time (``add``); ``freeze`` packs them into a
    ``(⌈items/8⌉ × classes)`` uint8 matrix ``bits``: item ``k`` at bit ``7 - k % 8`` of byte
    row ``k // 8`` (``np.packbits`` order, so column ``c`` is ``np.packbits`` of class ``c``'s
    items). Byte rows are contiguous, so the few bytes a signature needs are copied fast."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.n_items = 0
        self._byte = np.zeros(n_classes, dtype=np.uint8)  # the byte being filled
        self._packed: list[np.ndarray] = []
        self.bits = np.zeros((0, n_classes), dtype=np.uint8)

    def add(self, row: np.ndarray) -> int:
        """Append one item's (classes,) bool row; returns its index."""
        k = self.n_items
        self._byte |= np.asarray(row, dtype=bool).view(np.uint8) << np.uint8(7 - k % 8)
        self.n_items += 1
        if self.n_items % 8 == 0:
            self._packed.append(self._byte)
            self._byte = np.zeros(self.n_classes, dtype=np.uint8)
        return k

    def freeze(self) -> BitColumns:
        if self.n_items % 8:
            self._packed.append(self._byte)
            self._byte = np.zeros(self.n_classes, dtype=np.uint8)
        if self._packed:
            self.bits = np.stack(self._packed, axis=0)
        self._packed = []
        return self

    def column(self, k: int) -> np.ndarray:
        """Item ``k``'s (classes,) bool row."""
        return ((self.bits[k >> 3] >> (7 - (k & 7))) & 1).astype(bool)

    def bit(self, k: int, cls: int) -> bool:
        return bool((int(self.bits[k >> 3, cls]) >> (7 - (k & 7))) & 1)

    def row_items(self, cls: int) -> np.ndarray:
        """Items set for class ``cls`` (ascending)."""
        return np.flatnonzero(np.unpackbits(self.bits[:, cls])[: self.n_items])

    def class_bytes(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """(classes × bytes) uint8: byte rows ``start:stop`` per class (a key for grouping)."""
        return np.ascontiguousarray(self.bits[start:stop].T)

    def take(self, items: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """(len(items) × len(classes)) bool."""
        items = np.asarray(items, dtype=np.int64)
        if items.size == 0:
            return np.zeros((0, len(classes)), dtype=bool)
        sub = self.bits[items >> 3][:, np.asarray(classes, dtype=np.int64)]
        return ((sub >> (7 - (items & 7)).astype(np.uint8)[:, None]) & 1).astype(bool)

    def keys(self, items: np.ndarray) -> np.ndarray:
        """(classes × bytes) uint8: each class's bits for ``items`` only (others masked off),
        for grouping classes by how these items see them."""
        items = np.asarray(items, dtype=np.int64)
        cols, where = np.unique(items >> 3, return_inverse=True)
        mask = np.zeros(cols.size, dtype=np.uint8)
        np.bitwise_or.at(mask, where.reshape(-1), (1 << (7 - items % 8)).astype(np.uint8))
        return (self.bits[cols] & mask[:, None]).T

    def keys_at(self, items: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """``keys(items)`` for the given classes only: (len(classes) × bytes)."""
        items = np.asarray(items, dtype=np.int64)
        cols, where = np.unique(items >> 3, return_inverse=True)
        mask = np.zeros(cols.size, dtype=np.uint8)
        np.bitwise_or.at(mask, where.reshape(-1), (1 << (7 - items % 8)).astype(np.uint8))
        return (self.bits[cols][:, classes] & mask[:, None]).T
