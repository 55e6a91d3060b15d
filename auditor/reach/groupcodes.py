"""A cell's (egress group, ingress group) code for one-class entities, gathered cache-friendly.

Shared by the whole pair matrix of the controls' units (``Analysis.pairs``) and its streamed
row blocks (``reach/streamed.py``): both number the distinct codes of millions of cells, so the
code is built with in-place, contiguous operations, in int32 when every code fits (half the
memory traffic of int64, and a faster hash table in ``pd.factorize``).
"""

from __future__ import annotations

import numpy as np

from auditor.reach.engine import DirectionResult
from auditor.reach.firstseen import compact, first_seen

GATHERED_BYTES = 256 << 20  # the egress partitions read at the destinations, held per matrix


class GroupCodes:
    """``Analysis.combo_codes`` without an Istio layer or ambient pods, gathered cache-friendly:
    the egress partitions are read at the destinations once per matrix (whole rows per source
    after that), the ingress partitions at the block's sources once per block (a few columns),
    instead of one random read per cell in partitions of 88,615 classes."""

    def __init__(self, e: DirectionResult, i: DirectionResult, t_cls: np.ndarray) -> None:
        self.e, self.i, self.t_cls = e, i, t_cls
        self.n_gi = int(i.verdict.shape[0])
        self.n_ge = int(e.verdict.shape[0])
        # the largest code is below n_ge × n_gi: int32 when that fits
        self.dtype = np.int32 if int(e.verdict.shape[0]) * self.n_gi < 1 << 31 else np.int64
        sig_t = i.sigma_of[t_cls]
        self.off_i = i.offset[sig_t].astype(self.dtype)
        self.part_i = i.part_of[sig_t]
        held = e.parts.shape[0] * t_cls.size * e.parts.itemsize
        self.e_at_t = e.parts.columns(t_cls) if held <= GATHERED_BYTES else None

    def _egress(self, s_cls: np.ndarray, dtype: type) -> np.ndarray:
        """(sources, destinations): each destination's egress group in its source's σ, global ids."""
        e = self.e
        sig_s = e.sigma_of[s_cls]
        part_e = e.part_of[sig_s]
        ge = self.e_at_t[part_e] if self.e_at_t is not None else e.parts.at(part_e[:, None], self.t_cls[None, :])
        ge = ge.astype(dtype)
        ge += e.offset[sig_s].astype(dtype)[:, None]
        return ge

    def _ingress(self, s_cls: np.ndarray) -> np.ndarray:
        """(sources, destinations): each source's group in its destination's σ, σ-local ids."""
        return self.i.parts.columns_t(s_cls)[:, self.part_i]

    def of(self, s_cls: np.ndarray) -> np.ndarray:
        """(sources, destinations) codes, equal to ``combo_codes`` (int32 or int64, see above)."""
        code = self._egress(s_cls, self.dtype)
        code *= self.n_gi
        code += self._ingress(s_cls)
        code += self.off_i[None, :]
        return code

    def parts(self, s_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(egress group, ingress group) of every cell of the sources ``s_cls``, global ids (int64)."""
        gi = self._ingress(s_cls).astype(np.int64)
        gi += self.off_i.astype(np.int64)[None, :]
        return self._egress(s_cls, np.int64), gi

    def distinct(self, s_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(first cell, inverse, combination code) of the cells' distinct combinations in order of
        first appearance, as ``first_seen`` of ``of`` numbers them: a block of the streamed
        matrices meets a few hundred groups on each side, so the pairs of their local numbers
        are addressed directly instead of hashing every cell."""
        ge, gi = self.parts(s_cls)
        ge, gi = ge.reshape(-1), gi.reshape(-1)
        le, n_le = compact(ge, self.n_ge)
        li, n_li = compact(gi, self.n_gi)
        le *= n_li
        le += li
        del li
        first, inv = first_seen(le, n_le * n_li)
        return first, inv, ge[first] * self.n_gi + gi[first]
