"""What the assertions of one pack share: the analysis, zone membership, cached pair matrices.

Flows are evaluated per (workload, endpoint class) *unit*: a class is the grain the engine
decides at and zone membership is a class property, so a workload whose pods fall in
different zones is judged per part. Evidence is reported per workload pair.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from auditor.controls.model import Assertion, Pack
from auditor.controls.result import Violation, ViolationTable
from auditor.controls.zones import Unit, ZoneIndex
from auditor.portset import PortSet, universe
from auditor.reach.analysis import Analysis, Entity, PairMatrix
from auditor.reach.engine import ALLOW, UNKNOWN, ProgressFn
from auditor.reach.streamed import StreamedPairs
from auditor.reach.subpairs import sub_pairs

if TYPE_CHECKING:
    from auditor.policy.routes import Routing

STREAM_CELL_BYTES = 320  # peak bytes per cell of a streamed block (codes, row ids, live cells, key columns: measured at 100k)
WHYS_CHUNK = 256  # cells explained per small pair matrix when the flow matrix streams
forced_block_cells: int | None = None  # tests: stream every flow matrix, about this many cells a block

MEMBERSHIP_UNKNOWN = "zone membership unknown: the namespace or service account is not in the input"
FLOW_UNKNOWN = "flow verdict unknown: it depends on something not modelled or not read (see decided_by)"


def entity_of(u: Unit) -> Entity:
    """The unit as an engine entity (one class of one workload)."""
    return Entity(name=u.entity, kind=u.kind, namespace=u.namespace, classes=(u.cls,), endpoints=u.endpoints)


def _positions(have: Sequence[tuple[str, int]], want: Sequence[tuple[str, int]]) -> np.ndarray | None:
    """Positions of the units ``want`` among ``have`` (None: some are not there)."""
    if len(want) > len(have):
        return None
    pos = {k: n for n, k in enumerate(have)}
    out = [pos.get(k, -1) for k in want]
    return None if -1 in out else np.array(out, dtype=np.int64)


@dataclass
class Context:
    """Everything the assertions of one pack share."""

    analysis: Analysis
    pack: Pack
    zones: ZoneIndex = field(init=False)
    max_evidence: int = 0  # violations (and unknown flows) listed per control; 0 = all
    # (phase, done, total) as streamed matrices advance (``auditor audit`` shows a bar with an
    # ETA on a terminal); ``phase`` names the control being judged
    progress: ProgressFn | None = field(default=None, repr=False)
    phase: str = ""

    def __post_init__(self) -> None:
        self.zones = ZoneIndex(self.analysis, self.pack)
        self.space = self.analysis.ports
        self.universe = universe(self.analysis.ports)
        self.tcp = PortSet.everything(["TCP"])
        self._masks: dict[PortSet, np.ndarray] = {}
        self._routing: dict[bool, Routing] = {}
        self._pairs: dict[tuple[tuple[tuple[str, int], ...], ...], PairMatrix] = {}
        # (id of a whole pair matrix, first row) → (the matrix, its live cells): scan.py's _Cells
        self.live_cells: dict[tuple[int, int], tuple[PairMatrix, Any]] = {}
        self.l7_present = bool(self.analysis.snapshot.of_kind("istio/AuthorizationPolicy")) or any(
            getattr(rule, "http", None) for pol in self.analysis.policies.policies for rule in (*pol.ingress, *pol.egress)
        )

    def pairs(self, src: Sequence[Unit], dst: Sequence[Unit]) -> PairMatrix:
        """The pair matrix over units (shared by the controls judging the same units: computing
        one is the costliest step of a large audit)."""
        key = (tuple((u.entity, u.cls) for u in src), tuple((u.entity, u.cls) for u in dst))
        hit = self._pairs.get(key)
        if hit is None:
            hit = self._within_cached(*key)
            if hit is None:
                hit = self.analysis.pairs("workload", [entity_of(u) for u in src], [entity_of(u) for u in dst])
            self._pairs[key] = hit
        return hit

    def routing(self, lenient: bool) -> Routing:
        """``load_routing`` of the snapshot, once for the pack (egress-only-to and the exposure
        controls both read it). A lenient load that skipped nothing is also the strict load
        (no parser failed), and a strict load that succeeded is also the lenient one."""
        hit = self._routing.get(lenient)
        if hit is None:
            other = self._routing.get(not lenient)
            if other is not None and not other.skipped:
                hit = other
            else:
                from auditor.policy.routes import load_routing

                hit = load_routing(self.analysis.snapshot, lenient=lenient)
            self._routing[lenient] = hit
        return hit

    def stream_rows(self, n_s: int, n_t: int) -> int | None:
        """Source rows per block when an ``n_s`` × ``n_t`` unit matrix is to stream (None: it
        fits, computed whole and cached for the controls judging the same or fewer units)."""
        if forced_block_cells is not None:
            return max(1, forced_block_cells // max(1, n_t))
        from auditor.reach.budget import DENSE_PAIR_BYTES, room_left

        room = room_left(self.analysis.memory_budget)
        if room is None:
            room = 2 << 30
        if n_s * n_t * DENSE_PAIR_BYTES <= room // 2:
            return None
        return max(1, room // 2 // (STREAM_CELL_BYTES * max(1, n_t)))

    def _within_cached(self, src: tuple[tuple[str, int], ...], dst: tuple[tuple[str, int], ...]) -> PairMatrix | None:
        """The matrix of ``src`` × ``dst`` read off a cached one that holds both (``sub_pairs``:
        the same matrix ``pairs`` would compute), or None."""
        for (c_src, c_dst), pm in self._pairs.items():
            si, ti = _positions(c_src, src), _positions(c_dst, dst)
            if si is not None and ti is not None:
                found = sub_pairs(pm, si, ti)
                if found is not None:
                    return found
        return None

    def release(self) -> None:
        """Drop the cached pair matrices (once every control of the pack has been evaluated)."""
        self._pairs.clear()
        self.live_cells.clear()

    @cached_property
    def names(self) -> tuple[str, ...]:
        """Workload (and external network) names by entity id, as flow tables reference them."""
        return tuple(e.name for e in self.zones.entities)

    @cached_property
    def name_zones(self) -> tuple[tuple[str, ...], ...]:
        return tuple(self.zones.zones_of(n) for n in self.names)

    @cached_property
    def name_rank(self) -> np.ndarray:
        rank = np.empty(len(self.names), dtype=np.int64)
        rank[np.argsort(np.array(self.names, dtype=object), kind="stable")] = np.arange(len(self.names))
        return rank

    def atom_mask(self, ports: PortSet) -> np.ndarray:
        hit = self._masks.get(ports)
        if hit is None:
            hit = self._masks[ports] = ports.atom_mask(self.space)
        return hit

    def collection_reasons(self, kinds: Sequence[str]) -> list[str]:
        out = []
        for kind in kinds:
            status = self.analysis.snapshot.collection.get(kind)
            if status not in (None, "ok", "not-installed"):
                out.append(f"{kind} could not be read (collection status {status}): the answer depends on it")
        return out

    def empty_zone_reasons(self, a: Assertion) -> list[str]:
        """A workload zone the control names that selects nothing makes it unknown (unless the
        pack marks the zone ``optional``): an empty CDE would otherwise pass every control."""
        out = []
        for name in a.referenced_zones():
            zone = self.pack.zones.get(name)
            if zone is None or zone.external or zone.optional:
                continue
            definite, possible = self.zones.members(name)
            if not definite and not possible:
                out.append(
                    f"zone {name!r} selects no workload in the input: its scope is unknown, so the control "
                    "cannot be evidenced (label the workloads, map the zone with --zones, or mark it optional)"
                )
        return out

    def protocol_reasons(self, sets: Sequence[PortSet | None]) -> list[str]:
        known = {a.protocol for a in self.space.atoms}
        out = []
        for s in sets:
            for proto in (s.protocols() if s is not None else []):
                if proto not in known:
                    out.append(f"protocol {proto} is not distinguished by any policy in the input, so its verdict is not modelled")
        return list(dict.fromkeys(out))

    def zone_tuple(self, entity: str) -> tuple[str, ...]:
        return self.zones.zones_of(entity)


@dataclass
class Outcome:
    """What a kind found, before the verdict: violations, unknown items, blocking reasons."""

    violations: list[Violation] | ViolationTable = field(default_factory=list)
    unknown: list[Violation] | ViolationTable = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)


class FlowMatrix:
    """The verdicts between units, whole (``pm``, cached on the context) or streamed in row
    blocks when the whole matrix would not fit (``stream``); ``row_blocks`` reads either, and
    the allowed/unknown port sets of its verdict rows are cached."""

    def __init__(self, ctx: Context, src: Sequence[Unit], dst: Sequence[Unit], *, whole: bool = False) -> None:
        self.ctx = ctx
        self.src = list(src)
        self.dst = list(dst)
        self.pm: PairMatrix | None = None
        self.stream: StreamedPairs | None = None
        if self.src and self.dst:
            rows = None if whole else ctx.stream_rows(len(self.src), len(self.dst))
            if rows is not None:
                self.stream = StreamedPairs.of(ctx.analysis, "workload", [entity_of(u) for u in self.src],
                                               [entity_of(u) for u in self.dst], rows)
            if self.stream is None:
                self.pm = ctx.pairs(self.src, self.dst)
        self._sets: dict[int, tuple[PortSet, PortSet]] = {}

    @property
    def empty(self) -> bool:
        return self.pm is None and self.stream is None

    @property
    def verdict(self) -> np.ndarray:
        """(rows, atoms) verdicts of the rows met so far (all of them once the blocks are read)."""
        return self.pm.verdict if self.pm is not None else self._streamed().verdict

    @property
    def network(self) -> np.ndarray | None:
        return self.pm.network if self.pm is not None else self._streamed().network

    @property
    def identity(self) -> np.ndarray | None:
        return self.pm.identity if self.pm is not None else self._streamed().identity

    def _streamed(self) -> StreamedPairs:
        assert self.stream is not None
        return self.stream

    def row_blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(first source row, row ids of its block of cells), in source order."""
        if self.pm is not None:
            yield 0, self.pm.row
        elif self.stream is not None:
            yield from self.stream.blocks()

    def sets(self, row: int) -> tuple[PortSet, PortSet]:
        hit = self._sets.get(row)
        if hit is None:
            v = self.verdict[row]
            space = self.ctx.space
            hit = self._sets[row] = (PortSet.from_atoms(space, v == ALLOW), PortSet.from_atoms(space, v == UNKNOWN))
        return hit

    def entity_ids(self) -> tuple[np.ndarray, np.ndarray]:
        ids = self.ctx.zones.entity_id
        return (np.array([ids[u.entity] for u in self.src], dtype=np.int64),
                np.array([ids[u.entity] for u in self.dst], dtype=np.int64))

    def why(self, cell: tuple[int, int], ports: PortSet, verdicts: tuple[int, ...]) -> str:
        """The deciding rules of the pair ``cell`` = (i, j) over the atoms of ``ports``."""
        return self.whys([(cell, ports, verdicts)])[0]

    def whys(self, items: Sequence[tuple[tuple[int, int], PortSet, tuple[int, ...]]]) -> list[str]:
        """``why`` for many cells at once (one pass over the class pairs). A streamed matrix
        explains its cells from small matrices of just their units, a chunk at a time: the
        deciding rules of a cell depend on its class pair alone."""
        if not items:
            return []
        if self.pm is not None:
            return self._whys_on(self.pm, items)
        stream = self._streamed()
        out: list[str] = []
        for lo in range(0, len(items), WHYS_CHUNK):
            chunk = items[lo:lo + WHYS_CHUNK]
            si, i_at = np.unique(np.array([c[0] for c, _, _ in chunk], dtype=np.int64), return_inverse=True)
            ti, j_at = np.unique(np.array([c[1] for c, _, _ in chunk], dtype=np.int64), return_inverse=True)
            small = stream.sub_matrix(si, ti)
            out += self._whys_on(small, [((int(i), int(j)), ports, verdicts) for (_, ports, verdicts), i, j
                                         in zip(chunk, i_at.reshape(-1), j_at.reshape(-1), strict=True)])
        return out

    def _whys_on(self, pm: PairMatrix, items: Sequence[tuple[tuple[int, int], PortSet, tuple[int, ...]]]) -> list[str]:
        ii = np.array([c[0] for c, _, _ in items], dtype=np.int64)
        jj = np.array([c[1] for c, _, _ in items], dtype=np.int64)
        atoms = []
        for (i, j), ports, verdicts in items:
            v = pm.verdict[pm.row[i, j]]
            m = np.zeros(v.shape[0], dtype=bool)
            for x in verdicts:
                m |= v == x
            m &= self.ctx.atom_mask(ports)
            atoms.append(np.flatnonzero(m) if m.any() else None)
        if any(a is None for a in atoms):  # decided_by_many wants all or none
            return [self.ctx.analysis.decided_by(pm, int(i), int(j), a) for i, j, a in zip(ii, jj, atoms, strict=True)]
        return self.ctx.analysis.decided_by_many(pm, ii, jj, atoms)
