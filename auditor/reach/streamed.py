"""The pair matrix of one-class entities (the controls' units) produced in row blocks.

At 100,000 pods a control judges every workload against the CDE: 88,616 × 22,572 units,
2 G cells, ≈ 80 GB if held whole. Its consumers (``controls/assertions/scan.py``) read it
block by block instead. A cell's verdict row is a function of its class pair alone, and the
blocks are consecutive source rows, so numbering the distinct rows by first appearance across
the blocks gives exactly the row ids ``Analysis.pairs`` gives the whole matrix: the verdict,
network and identity tables grow as blocks bring new rows, and are the whole matrix's once
every block has been read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from auditor.reach.analysis import Analysis, Entity, PairMatrix, _bits, _flatten, _pack, _unpack
from auditor.reach.engine import ALLOW
from auditor.reach.firstseen import first_seen
from auditor.reach.groupcodes import GroupCodes
from auditor.reach.rowhash import unique_rows


class StreamedPairs:
    """``Analysis.pairs(by, src, dst)`` of one-class entities, ``rows`` sources at a time."""

    def __init__(self, analysis: Analysis, by: str, src: Sequence[Entity], dst: Sequence[Entity],
                 s_cls: np.ndarray, t_cls: np.ndarray, rows: int) -> None:
        self.analysis, self.by = analysis, by
        self.src, self.dst = list(src), list(dst)
        self._s_cls, self._t_cls = s_cls, t_cls
        self.rows = max(1, rows)
        n_atoms = len(analysis.ports)
        self._n_words = analysis.group_bits()[0].shape[1]
        self._ids: dict[bytes, int] = {}
        self.verdict = np.zeros((0, n_atoms), dtype=np.int8)
        self.network = np.zeros((0, n_atoms), dtype=bool)
        self.identity = np.zeros((0, n_atoms), dtype=bool)

    @classmethod
    def of(cls, analysis: Analysis, by: str, src: Sequence[Entity], dst: Sequence[Entity],
           rows: int) -> StreamedPairs | None:
        """None when some entity has not exactly one behaviour class (or the combination codes
        would not fit): those matrices take ``Analysis.pairs``."""
        behaviour, rep = analysis.behaviour_classes()
        s_ent, s_cls = _flatten(src, behaviour, rep)
        t_ent, t_cls = _flatten(dst, behaviour, rep)
        if s_cls.size != len(src) or t_cls.size != len(dst) or not len(src) or not len(dst):
            return None
        if not (np.array_equal(s_ent, np.arange(len(src))) and np.array_equal(t_ent, np.arange(len(dst)))):
            return None
        if not analysis.single_class_codes_fit(analysis.l7_bits(None), analysis.hbone_bits()):
            return None
        return cls(analysis, by, src, dst, s_cls, t_cls, rows)

    @property
    def n_blocks(self) -> int:
        return -(-len(self.src) // self.rows)

    def blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first source row, row ids of the block's cells (rows × destinations, int32)).

        A cell's row is a function of its group combination (``Analysis.combo_codes``): each
        distinct combination of the block is keyed (``combo_key_rows``) once. Combinations are
        not remembered across blocks: at 30k pods 1.92 M of the 2.04 M met are met in one block
        only, and a table of them cost more (memory, and time to keep it sorted) than keying
        them again."""
        a = self.analysis
        l7 = a.l7_bits(None)
        hbone = a.hbone_bits()
        valid_words = _pack(np.ones((1, len(a.ports)), dtype=bool))[0]
        codes = GroupCodes(a.egress, a.ingress, self._t_cls) if l7 is None and hbone is None else None
        n_s, n_t = len(self.src), len(self.dst)
        for lo in range(0, n_s, self.rows):
            hi = min(n_s, lo + self.rows)
            s_cls = self._s_cls[lo:hi]
            if codes is not None:
                first, inv, combos = codes.distinct(s_cls)
            else:
                code = a.combo_codes(s_cls[:, None], self._t_cls[None, :], l7, hbone).reshape(-1)
                first, inv = first_seen(code)
                combos = code[first]
                del code
            ids = self._global_ids(a.combo_key_rows(combos, l7, hbone, valid_words))
            yield lo, ids[inv].reshape(hi - lo, n_t)

    def _global_ids(self, keys: np.ndarray) -> np.ndarray:
        """Global ids of a block's combinations' key rows (given in first-appearance order): rows
        not met before are numbered next and decoded into the verdict/network/identity tables.
        Millions of combinations share a few thousand key rows: each distinct row is looked up once."""
        first, inv = unique_rows(keys)
        order = np.argsort(first, kind="stable")  # distinct rows in order of first appearance
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        ids = np.empty(order.size, dtype=np.int32)
        new: list[int] = []
        for k, f in enumerate(first[order].tolist()):
            b = keys[f].tobytes()
            hit = self._ids.get(b)
            if hit is None:
                hit = self._ids[b] = len(self._ids)
                new.append(f)
            ids[k] = hit
        out = ids[rank[inv]]
        if new:
            fresh = keys[np.array(new, dtype=np.int64)]
            w, n_atoms = self._n_words, self.verdict.shape[1]
            verdict = _unpack(fresh[:, : 2 * w], w, n_atoms)
            allowed = verdict == ALLOW
            self.verdict = np.concatenate([self.verdict, verdict])
            self.network = np.concatenate([self.network, allowed & ~_bits(fresh[:, 2 * w : 3 * w], n_atoms)])
            self.identity = np.concatenate([self.identity, allowed & ~_bits(fresh[:, 3 * w :], n_atoms)])
        return out

    def sub_matrix(self, si: np.ndarray, ti: np.ndarray) -> PairMatrix:
        """The whole matrix of the sources at ``si`` × destinations at ``ti`` (small: for the
        deciding rules of the cells a report lists, which depend on their class pair alone)."""
        return self.analysis.pairs(self.by, [self.src[k] for k in si.tolist()], [self.dst[k] for k in ti.tolist()])
