"""A bool matrix of (items × classes) stored class-major and bit-packed: one bit per cell.

The engine keeps one row per policy (applicability) and one per interned rule side (which
classes it matches). At 100,000 pods that is tens of thousands of rows over ~10^5 classes:
dense ``bool`` costs a byte per cell (gigabytes), bits cost an eighth of that, and the
class-major layout is what grouping needs (a class's key = the bytes of the items in play).
"""

from __future__ import annotations

import numpy as np


class BitColumns:
    """Rows are appended one at a time (``add``), then ``freeze``; ``bits`` is the
    ``(⌈items/8⌉ × classes)`` uint8 matrix: item ``k`` at bit ``7 - k % 8`` of byte row
    ``k // 8`` (``np.packbits`` order, so column ``c`` is ``np.packbits`` of class ``c``'s
    items). Byte rows are contiguous, so the few bytes a signature needs are copied fast.

    A row may be given as the ascending class indices it sets (``sparse``, kept): most rule
    sides and policies select a few classes of ~10^5, and OR-ing a dense row per item was the
    engine's set-up cost. ``bits`` is packed in one pass (``freeze``, or when first read after
    ``freeze(lazy=True)``): a store of sparse rows only answers ``row_items`` from its cells and
    may never need it (applicability)."""

    def __init__(self, n_classes: int) -> None:
        self.n_classes = n_classes
        self.n_items = 0
        self._dense: dict[int, np.ndarray] = {}  # byte row → its dense items' bits
        self.sparse: dict[int, np.ndarray] = {}  # item → its classes (int32, ascending)
        self._bits: np.ndarray | None = None
        self._by_class: tuple[np.ndarray, np.ndarray] | None = None  # sparse cells by class

    def add(self, row: np.ndarray) -> int:
        """Append one item: a (classes,) bool row, or its class indices (an integer array,
        ascending, no repeats). Returns its index. Not after ``bits`` has been read."""
        k = self.n_items
        self.n_items += 1
        row = np.asarray(row)
        if row.dtype != bool:
            self.sparse[k] = row.astype(np.int32)
            return k
        byte = self._dense.get(k >> 3)
        if byte is None:
            byte = self._dense[k >> 3] = np.zeros(self.n_classes, dtype=np.uint8)
        byte |= row.view(np.uint8) << np.uint8(7 - k % 8)
        return k

    def row(self, k: int) -> np.ndarray:
        """Item ``k`` as it was added: its class indices, or its bool row (to add it again)."""
        hit = self.sparse.get(k)
        if hit is not None:
            return hit
        if self._bits is None:
            return ((self._dense[k >> 3] >> np.uint8(7 - k % 8)) & 1).astype(bool)
        return self.column(k)

    def freeze(self, *, lazy: bool = False) -> BitColumns:
        """The rows are all added: pack ``bits`` now (before the engine forks its workers, which
        would each pack a copy), or, ``lazy``, when first read."""
        if not lazy:
            _ = self.bits
        return self

    @property
    def bits(self) -> np.ndarray:
        if self._bits is None:
            self._bits = self._pack()
        return self._bits

    def _pack(self) -> np.ndarray:
        """Dense rows' byte rows copied, sparse rows' cells set one bit plane at a time (the
        cells of one plane are distinct, so a fancy ``|=`` sets each once)."""
        bits = np.zeros(((self.n_items + 7) // 8, self.n_classes), dtype=np.uint8)
        for r in sorted(self._dense):
            bits[r] = self._dense.pop(r)
        flat = bits.reshape(-1)
        items, classes = self.sparse_cells()
        for b in range(8):
            on = (items & 7) == b
            if on.any():
                flat[(items[on] >> 3) * self.n_classes + classes[on]] |= np.uint8(1 << (7 - b))
        return bits

    def support(self, k: int) -> np.ndarray:
        """Item ``k``'s classes (ascending int32), from its sparse row when it has one."""
        hit = self.sparse.get(k)
        return hit if hit is not None else np.flatnonzero(self.column(k)).astype(np.int32)

    def sparse_cells(self, items: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(item, class) of every cell that a sparse row sets (of ``items`` only, when given)."""
        keys = np.fromiter(self.sparse, dtype=np.int64, count=len(self.sparse))
        if items is not None:
            keys = keys[np.isin(keys, items)]
        if keys.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        rows = [self.sparse[int(k)] for k in keys]
        return np.repeat(keys, [r.size for r in rows]), np.concatenate(rows)

    def dense_items(self, items: np.ndarray) -> np.ndarray:
        """The ``items`` not added as sparse rows (their bits are only in ``bits``)."""
        return np.array([k for k in np.asarray(items).tolist() if k not in self.sparse], dtype=np.int64)

    def column(self, k: int) -> np.ndarray:
        """Item ``k``'s (classes,) bool row."""
        return ((self.bits[k >> 3] >> (7 - (k & 7))) & 1).astype(bool)

    def bit(self, k: int, cls: int) -> bool:
        return bool((int(self.bits[k >> 3, cls]) >> (7 - (k & 7))) & 1)

    def row_items(self, cls: int) -> np.ndarray:
        """Items set for class ``cls`` (ascending); from the cells by class when every row is
        sparse (a strided column of ``bits`` read per signature was seconds at scale)."""
        if len(self.sparse) < self.n_items:
            return np.flatnonzero(np.unpackbits(self.bits[:, cls])[: self.n_items])
        if self._by_class is None:
            items, classes = self.sparse_cells()
            order = np.argsort(classes, kind="stable")  # items stay ascending within a class
            self._by_class = items[order], np.searchsorted(classes[order], np.arange(self.n_classes + 1))
        items, bounds = self._by_class
        return items[bounds[cls]:bounds[cls + 1]]

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
