"""A pair matrix of some sources × some destinations read off a larger one instead of recomputed.

The controls of a pack judge overlapping unit sets (everything → the CDE, then the
out-of-scope workloads → the CDE, ...): each ``Analysis.pairs`` over millions of cells costs a
second at 10,000 pods. When every entity has one behaviour class (the controls' units do), a
cell's verdict row is a function of its class pair alone, so the cells of a sub-matrix hold
the same keys as in the full one; ``pairs`` numbers distinct rows by first appearance in
row-major cell order, and renumbering the sliced cells the same way gives exactly what ``pairs``
of the subsets returns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from auditor.reach.analysis import PairMatrix, _Blocks


def sub_pairs(pm: PairMatrix, si: np.ndarray, ti: np.ndarray) -> PairMatrix | None:
    """``pairs`` of ``pm``'s sources at positions ``si`` × destinations at ``ti`` (each in
    ``pm``'s order); None when ``pm`` is not a single-class matrix or a side is empty."""
    b = pm.blocks
    if b is None or pm.paths is not None or not si.size or not ti.size:
        return None
    if not (bool((b.s_cnt == 1).all()) and bool((b.t_cnt == 1).all())):
        return None
    inv, rows = pd.factorize(pm.row[np.ix_(si, ti)].reshape(-1))  # ids in order of first appearance
    rows = np.asarray(rows, dtype=np.int64)
    n_s, n_t = int(si.size), int(ti.size)
    blocks = _Blocks((np.arange(n_s, dtype=np.int64), b.s_cls[si]), n_s,
                     (np.arange(n_t, dtype=np.int64), b.t_cls[ti]), n_t)
    return PairMatrix(src=[pm.src[k] for k in si.tolist()], dst=[pm.dst[k] for k in ti.tolist()],
                      row=inv.reshape(n_s, n_t).astype(np.int32), verdict=pm.verdict[rows],
                      excluded_self=pm.excluded_self, blocks=blocks,
                      network=None if pm.network is None else pm.network[rows],
                      identity=None if pm.identity is None else pm.identity[rows],
                      request=pm.request, l7=pm.l7, paths=None)
