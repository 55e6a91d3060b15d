"""The engine's peer partitions (partition × class → peer group) as a table of distinct blocks.

A σ's partition gives every peer class its group; the partitions of one direction were one
dense (partitions × classes) matrix. At 100,000 pods those were 3,328 × 88,615 and 5,530 ×
88,615 bytes: 750 MiB that every command held to its end. Cut into blocks of 256 consecutive
classes, they hold one distinct block in four or five (most are all-zero, or repeat: a σ's
rules see whole namespaces alike), so a table of the distinct blocks and a block id per
(partition, block of classes) take about 185 MiB. A read is two gathers instead of one; the
block ids are also kept class-block-major, so a few classes of every partition (the streamed
control blocks' sources) are contiguous reads.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np

from auditor.reach.rowhash import unique_rows

BLOCK = 256  # classes per block: smaller blocks repeat more, but need more ids and hashing
_CHUNK_BYTES = 64 << 20  # partition bytes deduplicated at a time while building


@dataclass(frozen=True)
class BlockedParts:
    """``dense()[p, c] == table[block_of[p, c // BLOCK], c % BLOCK]`` for every partition ``p``
    and class ``c``; the values and dtype are those of the dense matrix."""

    table: np.ndarray  # (distinct blocks × BLOCK) peer groups
    block_of: np.ndarray  # (partitions × ⌈classes / BLOCK⌉) int32: a row of ``table``
    n_classes: int
    block_of_t: np.ndarray = field(init=False, repr=False, compare=False)  # the same, class-block-major

    def __post_init__(self) -> None:
        object.__setattr__(self, "block_of_t", np.ascontiguousarray(self.block_of.T))

    @classmethod
    def from_rows(cls, rows: Sequence[np.ndarray], n_classes: int) -> BlockedParts:
        """From the partitions' (classes,) rows, in the smallest dtype that holds every group
        id, without stacking them into the dense matrix first."""
        dtype = max((np.dtype(r.dtype) for r in rows), key=lambda t: t.itemsize, default=np.dtype(np.uint8))
        n_blocks = -(-n_classes // BLOCK)
        per_chunk = max(1, _CHUNK_BYTES // max(n_blocks * BLOCK * dtype.itemsize, 1))
        block_of = np.zeros((len(rows), n_blocks), dtype=np.int32)
        kept: list[np.ndarray] = []  # each chunk's distinct blocks, numbered across chunks below
        for lo in range(0, len(rows), per_chunk):
            part = rows[lo:lo + per_chunk]
            padded = np.zeros((len(part), n_blocks * BLOCK), dtype=dtype)
            for k, r in enumerate(part):
                padded[k, :n_classes] = r
            blocks = padded.reshape(-1, BLOCK)
            first, inv = unique_rows(blocks)
            block_of[lo:lo + len(part)] = (inv + sum(b.shape[0] for b in kept)).reshape(len(part), n_blocks)
            kept.append(blocks[first])
        if not kept:
            return cls(np.zeros((1, BLOCK), dtype=dtype), block_of, n_classes)
        local = np.concatenate(kept)
        first, inv = unique_rows(local)  # a block met in several chunks: one row of the table
        block_of = inv.astype(np.int32)[block_of]
        return cls(np.ascontiguousarray(local[first]), block_of, n_classes)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.block_of.shape[0], self.n_classes)

    @property
    def dtype(self) -> np.dtype:
        return self.table.dtype

    @property
    def itemsize(self) -> int:
        return int(self.table.itemsize)

    @property
    def nbytes(self) -> int:
        return int(self.table.nbytes + self.block_of.nbytes)

    def at(self, part: np.ndarray | int, cls: np.ndarray | int) -> np.ndarray:
        """The peer group of classes ``cls`` in partitions ``part`` (broadcastable); a column of
        partitions against a row of classes is read as a grid (``grid``)."""
        p, c = np.asarray(part), np.asarray(cls, dtype=np.int64)
        if p.ndim == 2 and c.ndim == 2 and p.shape[1] == 1 and c.shape[0] == 1:
            return self.grid(p[:, 0], c[0])
        return self._read(self.block_of[p, c // BLOCK], c % BLOCK)

    def _read(self, blocks: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """``table[blocks, offsets]`` (broadcastable) as one flat int64 gather."""
        flat = blocks.astype(np.int64)
        flat *= BLOCK
        flat += offsets
        return self.table.reshape(-1)[flat]

    def grid(self, parts: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """(len(parts) × len(cls)): partitions ``parts`` at classes ``cls``, a slice of partitions
        at a time so the temporaries stay small: many classes are read from partitions decoded
        whole (a decoded row sits in the cache: faster than the dense matrix's strided reads),
        a few from their blocks' ids (decoding thousands of partitions whole for a few classes
        took the 100k audit's evidence past 5 GB)."""
        p = np.asarray(parts, dtype=np.int64)
        c = np.asarray(cls, dtype=np.int64)
        out = np.empty((p.size, c.size), dtype=self.table.dtype)
        whole = c.size * 8 >= self.n_classes
        step = 64 if whole else max(1, (1 << 20) // max(1, c.size))
        cb, co = c // BLOCK, c % BLOCK
        for lo in range(0, p.size, step):
            ps = p[lo:lo + step]
            out[lo:lo + step] = self.rows(ps)[:, c] if whole else self._read(self.block_of[ps][:, cb], co)
        return out

    def rows(self, parts: np.ndarray) -> np.ndarray:
        """(len(parts) × classes): the partitions ``parts`` whole."""
        p = np.asarray(parts, dtype=np.int64)
        out = self.table[self.block_of[p]].reshape(p.size, self.block_of.shape[1] * BLOCK)
        return out[:, :self.n_classes]

    def row(self, part: int) -> np.ndarray:
        """(classes,): one partition whole."""
        return self.rows(np.array([part]))[0]

    def columns_t(self, cls: np.ndarray) -> np.ndarray:
        """(len(cls) × partitions): every partition at a few classes ``cls``, class-major (the
        block ids of a class are contiguous in ``block_of_t``)."""
        c = np.asarray(cls, dtype=np.int64)
        return self._read(self.block_of_t[c // BLOCK], (c % BLOCK)[:, None])

    def columns(self, cls: np.ndarray) -> np.ndarray:
        """(partitions × len(cls)): every partition at the classes ``cls``."""
        return self.grid(np.arange(self.block_of.shape[0]), cls)

    def class_major(self, max_bytes: int) -> Iterator[np.ndarray]:
        """The transposed matrix (classes × partitions) in slices of consecutive partitions of
        at most ``max_bytes`` each (behaviour classes group classes by these)."""
        n_parts = self.block_of.shape[0]
        step = max(1, max_bytes // max(1, self.n_classes * self.itemsize))
        for lo in range(0, n_parts, step):
            yield self.rows(np.arange(lo, min(lo + step, n_parts))).T

    def dense(self) -> np.ndarray:
        """The whole (partitions × classes) matrix (tests, small inputs)."""
        return self.rows(np.arange(self.block_of.shape[0]))
