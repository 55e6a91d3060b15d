"""The allowed-flows table of a pair matrix: which entity pairs have an allowed or undecided port.

The audit's evidence (``controls/evidence.py``), ``auditor diff`` (``compare/drift.py``) and the
gate's flows into protected zones (``compare/baseline.py``) all read the same table from a
``PairMatrix``; it is built here once, with the same exclusions everywhere: external network to
external network is not a cluster flow, and a single pod to itself never leaves the pod (K8S-15).
Ports are ``PortSet``s computed from the port atoms (never via their text), one per verdict row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.portset import PortSet, universe
from auditor.reach.analysis import Analysis, Entity, PairMatrix
from auditor.reach.engine import ALLOW, UNKNOWN

NO_PORTS = PortSet()


def single_pods(analysis: Analysis, ents: Sequence[Entity]) -> np.ndarray:
    """Per entity: one pod of the cluster (not a template, not external), whose flows to itself
    never reach the network (K8S-15)."""
    eps = analysis.inventory.endpoints
    return np.array([e.kind != "external" and len(e.endpoints) == 1 and not eps[e.endpoints[0]].template
                     for e in ents], dtype=bool)


@dataclass(frozen=True, slots=True)
class Flow:
    """One live pair: positions in the matrix's sources and destinations, its verdict row, and
    the ports allowed and undecided on it."""

    src: int
    dst: int
    row: int
    allowed: PortSet
    unknown: PortSet


class AllowedFlows:
    """The live pairs of ``pm`` (sources × destinations): some port allowed or undecided, minus
    external→external and a single pod to itself; ``keep`` narrows them further (a bool matrix).

    ``ii``/``jj``/``rows`` are the pairs' positions and verdict rows in source-major order;
    ``ports(row, verdict)`` the port set of a verdict row (computed once per row)."""

    def __init__(self, analysis: Analysis, pm: PairMatrix, sources: Sequence[Entity],
                 destinations: Sequence[Entity], keep: np.ndarray | None = None) -> None:
        self.analysis, self.pm = analysis, pm
        self.sources, self.destinations = sources, destinations
        self.allow_rows = pm.verdict == ALLOW
        self.unknown_rows = pm.verdict == UNKNOWN
        self.row_allows = self.allow_rows.any(axis=1)
        self.row_unknown = self.unknown_rows.any(axis=1)
        live = (self.row_allows | self.row_unknown)[pm.row]
        s_ext = np.array([e.kind == "external" for e in sources], dtype=bool)
        d_ext = np.array([e.kind == "external" for e in destinations], dtype=bool)
        live &= ~(s_ext[:, None] & d_ext[None, :])
        single = single_pods(analysis, sources)
        d_pos = {id(e): j for j, e in enumerate(destinations)}
        for i in np.flatnonzero(single).tolist():
            j = d_pos.get(id(sources[i]))
            if j is not None:
                live[i, j] = False
        if keep is not None:
            live &= keep
        self.live = live
        self.ii, self.jj = np.nonzero(live)
        self.rows = pm.row[self.ii, self.jj]
        self._ports: dict[tuple[int, int], PortSet] = {}
        self._universe: PortSet | None = None

    def __len__(self) -> int:
        return int(self.ii.size)

    def has_allowed(self) -> np.ndarray:
        return self.row_allows[self.rows]

    def has_unknown(self) -> np.ndarray:
        return self.row_unknown[self.rows]

    def ports(self, row: int, verdict: int) -> PortSet:
        """The ports of verdict row ``row`` whose verdict is ``verdict`` (ALLOW or UNKNOWN)."""
        key = (row, verdict)
        hit = self._ports.get(key)
        if hit is None:
            mask = self.allow_rows[row] if verdict == ALLOW else self.unknown_rows[row]
            hit = self._ports[key] = PortSet.from_atoms(self.analysis.ports, mask) if mask.any() else NO_PORTS
        return hit

    @property
    def universe(self) -> PortSet:
        """Every port the analysis distinguishes."""
        if self._universe is None:
            self._universe = universe(self.analysis.ports)
        return self._universe

    def text(self, ports: PortSet) -> str:
        """A port set as the result's flow and matrix tables write it: ``all`` for every atom of
        the analysis (``PortSpace.summary``'s form)."""
        return ports.text(self.universe)

    def flows(self) -> list[Flow]:
        out = []
        for i, j, r in zip(self.ii.tolist(), self.jj.tolist(), self.rows.tolist(), strict=True):
            out.append(Flow(i, j, r, self.ports(r, ALLOW), self.ports(r, UNKNOWN)))
        return out

    def decided_by(self, ii: np.ndarray, jj: np.ndarray, unknown: bool = False) -> list[str]:
        """The deciding rules of pairs (positions), at their allowed ports or, with ``unknown``,
        at their undecided ones."""
        if not ii.size:
            return []
        if not unknown:
            return self.analysis.decided_by_many(self.pm, ii, jj)
        rows = self.pm.row[ii, jj]
        return self.analysis.decided_by_many(self.pm, ii, jj, [np.flatnonzero(self.unknown_rows[r]) for r in rows])
