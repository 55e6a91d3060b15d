"""Pair matrix → the rows of ``auditor reach`` (a pandas DataFrame, deterministic order)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from auditor.reach.analysis import Analysis, PairMatrix
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, VERDICT_WORDS
from auditor.reach.ports import PortQuery


def _pair_index(pm: PairMatrix) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) of every reported pair: no external→external, no pod→itself (K8S-15)."""
    n_s, n_t = pm.row.shape
    ii, jj = np.meshgrid(np.arange(n_s), np.arange(n_t), indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    s_ext = np.array([e.kind == "external" for e in pm.src], dtype=bool)
    t_ext = np.array([e.kind == "external" for e in pm.dst], dtype=bool)
    keep = ~(s_ext[ii] & t_ext[jj])
    if pm.excluded_self:
        s_names = np.array([e.name for e in pm.src], dtype=object)
        t_names = np.array([e.name for e in pm.dst], dtype=object)
        keep &= s_names[ii] != t_names[jj]
    return ii[keep], jj[keep]


def summary_rows(analysis: Analysis, pm: PairMatrix) -> pd.DataFrame:
    """One row per pair: allowed (any port), the allowed and unknown port summaries, why."""
    ii, jj = _pair_index(pm)
    rows = pm.row[ii, jj]
    uniq, inv = np.unique(rows, return_inverse=True)
    allowed_w, ports_w, unknown_w = [], [], []
    for r in uniq:
        v = pm.verdict[r]
        word = ALLOW if (v == ALLOW).any() else (UNKNOWN if (v == UNKNOWN).any() else DENY)
        allowed_w.append(VERDICT_WORDS[word])
        ports_w.append(analysis.ports.summary(v == ALLOW))
        unknown_w.append(analysis.ports.summary(v == UNKNOWN) if (v == UNKNOWN).any() else "")
    src = np.array([e.name for e in pm.src], dtype=object)[ii]
    dst = np.array([e.name for e in pm.dst], dtype=object)[jj]
    return pd.DataFrame(
        {
            "src": src,
            "dst": dst,
            "allowed": np.array(allowed_w, dtype=object)[inv],
            "ports": np.array(ports_w, dtype=object)[inv],
            "unknown_ports": np.array(unknown_w, dtype=object)[inv],
            "decided_by": np.array(analysis.decided_by_many(pm, ii, jj), dtype=object),
        }
    )


def port_rows(analysis: Analysis, pm: PairMatrix, queries: Sequence[PortQuery]) -> pd.DataFrame:
    """One row per (pair, port): ``src,dst,port,protocol,allowed,decided_by``."""
    ii, jj = _pair_index(pm)
    rows = pm.row[ii, jj]
    frames = []
    for order, q in enumerate(queries):
        atom = analysis.ports.index_of(q.protocol, q.port)
        if atom is None:
            raise ValueError(f"--port {q}: protocol {q.protocol} is not modelled")
        words = np.array([VERDICT_WORDS[int(x)] for x in range(3)], dtype=object)[pm.verdict[rows, atom]]
        whys = analysis.decided_by_many(pm, ii, jj, [np.array([atom])] * len(ii))
        frames.append(
            pd.DataFrame(
                {
                    "src": np.array([e.name for e in pm.src], dtype=object)[ii],
                    "dst": np.array([e.name for e in pm.dst], dtype=object)[jj],
                    "port": "" if q.port is None else str(q.port),
                    "protocol": q.protocol,
                    "allowed": words,
                    "decided_by": np.array(whys, dtype=object),
                    "_order": order,
                }
            )
        )
    df = pd.concat(frames, ignore_index=True)
    df = df.sort_values(["src", "dst", "_order"], kind="stable").drop(columns="_order")
    return df.reset_index(drop=True)
