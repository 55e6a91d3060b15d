"""One function per assertion kind: (context, control) → ``Finding`` (before waivers).

Flows are evaluated per (workload, endpoint class) *unit*: a class is the grain the engine
decides at and zone membership is a class property, so a workload whose pods fall in
different zones is judged per part. Evidence is reported per workload pair.

Soundness rules (a control is ``pass`` only if everything it depends on is modelled and known):

- a flow verdict ``unknown`` in a relevant cell, or a unit whose zone membership is only
  possible, gives an *unknown flow*: the control is ``unknown`` unless a definite violation
  makes it ``fail``;
- a kind the control depends on that was not collected (``forbidden``/``error``), a protected
  zone that selects nothing, or a layer this version does not model makes it ``unknown``
  whatever else was found (*blocking* reasons).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from auditor.controls.mesh import MESH_KINDS, NOT_MODELLED, MeshFacts
from auditor.controls.pack import Assertion, Control, FlowSpec, Pack
from auditor.controls.result import Finding, Violation, ViolationTable, decide_counts
from auditor.controls.zones import Unit, ZoneIndex
from auditor.kinds import WORKLOAD_KINDS
from auditor.policy.ir import Action
from auditor.portset import PortSet, universe
from auditor.reach.analysis import Analysis, Entity, PairMatrix
from auditor.reach.engine import ALLOW, DENY, UNKNOWN

_POD_KINDS = ("Namespace", "Pod", "ServiceAccount", *WORKLOAD_KINDS)
NETWORK_KINDS = (
    *_POD_KINDS,
    "NetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "calico/NetworkPolicy",
    "calico/GlobalNetworkPolicy",
    "calico/Tier",
    "calico/NetworkSet",
    "calico/GlobalNetworkSet",
    "calico/HostEndpoint",
)
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "no-flow": NETWORK_KINDS,
    "allow-only": NETWORK_KINDS,
    "egress-restricted": NETWORK_KINDS,
    "isolated": NETWORK_KINDS,
    "must-allow": (*NETWORK_KINDS, *MESH_KINDS),
    "identity-required": (*NETWORK_KINDS, *MESH_KINDS),
    "mtls-required": (*_POD_KINDS, *MESH_KINDS),
    "zone-coverage": _POD_KINDS,
}
MEMBERSHIP_UNKNOWN = "zone membership unknown: the namespace or service account is not in the input"
FLOW_UNKNOWN = "flow verdict unknown: it depends on something not modelled or not read (see decided_by)"


# -- the context -------------------------------------------------------------------------------


class FlowMatrix:
    """A pair matrix over units, with the allowed/unknown port sets of its verdict rows cached."""

    def __init__(self, ctx: Context, src: Sequence[Unit], dst: Sequence[Unit]) -> None:
        self.ctx = ctx
        self.src = list(src)
        self.dst = list(dst)
        self.pm: PairMatrix | None = None
        if self.src and self.dst:
            self.pm = ctx.pairs(self.src, self.dst)
        self._sets: dict[int, tuple[PortSet, PortSet]] = {}

    def sets(self, row: int) -> tuple[PortSet, PortSet]:
        hit = self._sets.get(row)
        if hit is None:
            assert self.pm is not None
            v = self.pm.verdict[row]
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
        """``why`` for many cells at once (one pass over the class pairs)."""
        if not items:
            return []
        assert self.pm is not None
        ii = np.array([c[0] for c, _, _ in items], dtype=np.int64)
        jj = np.array([c[1] for c, _, _ in items], dtype=np.int64)
        atoms = []
        for (i, j), ports, verdicts in items:
            v = self.pm.verdict[self.pm.row[i, j]]
            m = np.zeros(v.shape[0], dtype=bool)
            for x in verdicts:
                m |= v == x
            m &= self.ctx.atom_mask(ports)
            atoms.append(np.flatnonzero(m) if m.any() else None)
        if any(a is None for a in atoms):  # decided_by_many wants all or none
            return [self.ctx.analysis.decided_by(self.pm, int(i), int(j), a) for i, j, a in zip(ii, jj, atoms, strict=True)]
        return self.ctx.analysis.decided_by_many(self.pm, ii, jj, atoms)


def _entity(u: Unit) -> Entity:
    return Entity(name=u.entity, kind=u.kind, namespace=u.namespace, classes=(u.cls,), endpoints=u.endpoints)


@dataclass
class Context:
    """Everything the assertions of one pack share."""

    analysis: Analysis
    pack: Pack
    zones: ZoneIndex = field(init=False)
    mesh: MeshFacts = field(init=False)
    max_evidence: int = 0  # violations (and unknown flows) listed per control; 0 = all

    def __post_init__(self) -> None:
        self.zones = ZoneIndex(self.analysis, self.pack)
        self.mesh = MeshFacts(self.analysis)
        self.space = self.analysis.ports
        self.universe = universe(self.analysis.ports)
        self.tcp = PortSet.everything(["TCP"])
        self._masks: dict[PortSet, np.ndarray] = {}
        self._pairs: dict[tuple[tuple[tuple[str, int], ...], ...], PairMatrix] = {}
        self.l7_present = bool(self.mesh.authorization_policies) or any(
            getattr(rule, "http", None) for pol in self.analysis.policies.policies for rule in (*pol.ingress, *pol.egress)
        )

    def pairs(self, src: Sequence[Unit], dst: Sequence[Unit]) -> PairMatrix:
        """The pair matrix over units (shared by the controls judging the same units: computing
        one is the costliest step of a large audit)."""
        key = (tuple((u.entity, u.cls) for u in src), tuple((u.entity, u.cls) for u in dst))
        hit = self._pairs.get(key)
        if hit is None:
            hit = self._pairs[key] = self.analysis.pairs("workload", [_entity(u) for u in src],
                                                         [_entity(u) for u in dst])
        return hit

    def release(self) -> None:
        """Drop the cached pair matrices (once every control of the pack has been evaluated)."""
        self._pairs.clear()

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
        if a.kind == "zone-coverage":
            return []
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
    violations: list[Violation] | ViolationTable = field(default_factory=list)
    unknown: list[Violation] | ViolationTable = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)


# -- scanning flows --------------------------------------------------------------------------------

# judge(row, i, j) → (violating ports, why they violate, unknown ports, why unknown)
Judge = Callable[[int, int, int], tuple[PortSet, str, PortSet, str]]


def _factorize(code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first index, inverse) of the distinct values of an int64 array, numbered in order of
    first appearance (a hash table: no sort of the millions of cells)."""
    inv, uniques = pd.factorize(code)
    inv = inv.astype(np.int64)
    first = np.empty(len(uniques), dtype=np.int64)
    first[inv[::-1]] = np.arange(inv.size - 1, -1, -1, dtype=np.int64)
    return first, inv


def _distinct(cols: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(first index, inverse) of the distinct rows of non-negative int64 columns: one mixed-radix
    code per row when it fits in 62 bits, else ``np.unique(axis=0)``."""
    code = np.zeros(cols[0].size, dtype=np.int64)
    span = 1
    for c in cols:
        hi = int(c.max(initial=0)) + 1
        if (c.size and int(c.min()) < 0) or span * hi >= 1 << 62:
            _, first, inv = np.unique(np.stack(cols, axis=1), axis=0, return_index=True, return_inverse=True)
            return first, inv.reshape(-1)
        code = code * hi + c
        span *= hi
    return _factorize(code)


def _first_where(has: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Per group (``starts``: first position of each group in a grouped array), the first position
    where ``has`` holds (-1: none)."""
    out = np.full(starts.size, -1, dtype=np.int64)
    pos = np.flatnonzero(has)
    if pos.size:
        group = np.searchsorted(starts, pos, side="right") - 1  # non-decreasing
        at = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])
        out[group[at]] = pos[at]
    return out


def scan(ctx: Context, fm: FlowMatrix, judge: Judge,
         key: Callable[[np.ndarray, np.ndarray], list[np.ndarray]] | None = None) -> tuple[ViolationTable, ViolationTable]:
    """Judge every live cell, aggregate per workload pair, return (violations, unknown flows).

    ``judge(row, i, j)`` must depend only on the verdict row and on what ``key(ii, jj)`` returns
    (extra int64 columns per cell): it runs once per distinct key, not once per cell. A workload
    pair's evidence is the union of its cells' (ports, reasons in cell order), a function of the
    sequence of distinct judgements met in its cells: it is computed once per such sequence, and
    the pairs are kept as rows of a ``ViolationTable`` (``decided_by`` is worked out only for the
    rows listed, from the first cell of the pair that violates).
    """
    empty = ViolationTable(names=ctx.names, zones=ctx.name_zones)
    if fm.pm is None:
        return empty, empty
    pm = fm.pm
    live = (pm.verdict != DENY).any(axis=1)
    ii, jj = np.nonzero(live[pm.row])
    s_eid, d_eid = fm.entity_ids()
    s_single = np.array([u.single_pod for u in fm.src], dtype=bool)
    s_ext = np.array([u.kind == "external" for u in fm.src], dtype=bool)
    d_ext = np.array([u.kind == "external" for u in fm.dst], dtype=bool)
    s_def = np.array([u.definite for u in fm.src], dtype=bool)
    d_def = np.array([u.definite for u in fm.dst], dtype=bool)
    # a pod to itself never leaves the pod (K8S-15); external to external is not ours to judge
    keep = ~((s_eid[ii] == d_eid[jj]) & s_single[ii]) & ~(s_ext[ii] & d_ext[jj])
    ii, jj = ii[keep], jj[keep]
    if not ii.size:
        return empty, empty
    rows = pm.row[ii, jj].astype(np.int64)
    definite = s_def[ii] & d_def[jj]
    first, inv = _distinct([rows, definite.astype(np.int64), *(key(ii, jj) if key is not None else [])])
    results: list[tuple[PortSet, str, PortSet, str]] = []
    for f in first.tolist():
        viol, why, unk, unk_why = judge(int(rows[f]), int(ii[f]), int(jj[f]))
        if viol and not definite[f]:
            unk, unk_why, viol = unk.union(viol), MEMBERSHIP_UNKNOWN, PortSet()
        results.append((viol, why, unk, unk_why))
    n_res = len(results)
    has_viol = np.array([bool(r[0]) for r in results], dtype=bool)
    has_unk = np.array([bool(r[2]) for r in results], dtype=bool)
    sel = (has_viol | has_unk)[inv]
    ii, jj, inv = ii[sel], jj[sel], inv[sel]
    if not ii.size:
        return empty, empty
    n_ent = int(max(s_eid.max(initial=0), d_eid.max(initial=0))) + 1
    pair = s_eid[ii] * n_ent + d_eid[jj]
    # the distinct judgements of each pair, in the order its cells (row-major) meet them: the
    # first cell of each (pair, judgement), grouped by pair (no sort of every cell)
    lead = np.flatnonzero(~pd.Series(pair * n_res + inv).duplicated().to_numpy())
    lead = lead[np.argsort(pair[lead], kind="stable")]
    u_pair, u_res = pair[lead], inv[lead]
    del pair
    g_start = np.flatnonzero(np.r_[True, u_pair[1:] != u_pair[:-1]])  # one group per workload pair
    g_len = np.diff(np.r_[g_start, u_pair.size])
    combo = u_res[g_start].astype(np.int64)  # a pair meeting one judgement: its id
    sequences: dict[tuple[int, ...], int] = {}
    seq_res = u_res.tolist()
    for g in np.flatnonzero(g_len > 1).tolist():
        a = int(g_start[g])
        combo[g] = n_res + sequences.setdefault(tuple(seq_res[a:a + int(g_len[g])]), len(sequences))
    seqs = [(r,) for r in range(n_res)] + list(sequences)
    # per sequence: (violating ports, reasons, unknown ports not violating, reasons)
    agg: dict[int, tuple[PortSet, str, PortSet, str]] = {}
    for c in np.unique(combo).tolist():
        viol, unk = PortSet(), PortSet()
        v_why: dict[str, None] = {}
        u_why: dict[str, None] = {}
        for r in seqs[c]:
            v, why, u, uwhy = results[r]
            if v:
                viol = viol.union(v)
                v_why[why] = None
            if u:
                unk = unk.union(u)
                u_why[uwhy] = None
        agg[c] = (viol, "; ".join(v_why), unk.minus(viol), "; ".join(u_why))
    src = s_eid[ii[lead[g_start]]]
    dst = d_eid[jj[lead[g_start]]]
    # the witness cells of decided_by: the pair's first cell that violates (is unknown)
    v_at, u_at = (np.where(at >= 0, lead[at], -1) for at in (_first_where(has_viol[u_res], g_start),
                                                             _first_where(has_unk[u_res], g_start)))
    rank = ctx.name_rank

    def table(flow: str, pick: int, at: np.ndarray, verdicts: tuple[int, ...]) -> ViolationTable:
        templates: list[Violation] = []
        tid: dict[int, int] = {}
        for c, a in agg.items():
            ports = a[pick]
            if ports:
                tid[c] = len(templates)
                templates.append(Violation(kind="flow", src=None, dst="", ports=ports.text(ctx.universe), flow=flow,
                                           reason=a[pick + 1], port_set=ports))
        lookup = np.full(n_res + len(sequences), -1, dtype=np.int64)
        for c, t in tid.items():
            lookup[c] = t
        t_of = lookup[combo]
        keep = np.flatnonzero(t_of >= 0)
        keep = keep[np.lexsort((rank[dst[keep]], rank[src[keep]]))]
        t_of, cell = t_of[keep], at[keep]
        wi, wj = ii[cell], jj[cell]

        def explainer(n: int) -> list[str]:
            asks = [((int(wi[k]), int(wj[k])), templates[int(t_of[k])].port_set or PortSet(), verdicts)
                    for k in range(n)]
            return fm.whys(asks)

        return ViolationTable(templates=tuple(templates), template=t_of.astype(np.int32),
                              src=src[keep].astype(np.int32), dst=dst[keep].astype(np.int32), names=ctx.names,
                              zones=ctx.name_zones, explainer=explainer)

    return table("allowed", 0, v_at, (ALLOW,)), table("unknown", 2, u_at, (ALLOW, UNKNOWN))


def _pairs_checked(src: Sequence[Unit], dst: Sequence[Unit]) -> dict[str, int]:
    s = {u.entity: u for u in src}
    t = {u.entity: u for u in dst}
    pairs = len(s) * len(t)
    pairs -= sum(1 for name, u in s.items() if name in t and u.single_pod)
    pairs -= sum(1 for u in s.values() if u.kind == "external") * sum(1 for u in t.values() if u.kind == "external")
    return {"sources": len(s), "destinations": len(t), "pairs": max(pairs, 0)}


# -- the kinds -----------------------------------------------------------------------------------


def no_flow(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([a.ports]))
    src, dst = ctx.zones.units(a.src), ctx.zones.units(a.dst)
    scope = a.ports if a.ports is not None else ctx.universe
    fm = FlowMatrix(ctx, src, dst)
    why = "allowed, but the control forbids any flow from " + _zones_text(a.src) + " to " + _zones_text(a.dst)
    if a.requests:
        why += " (no request-level restriction applies at L3/L4: every HTTP request is allowed)"

    cache: dict[int, tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        hit = cache.get(row)
        if hit is None:
            allowed, unknown = fm.sets(row)
            hit = cache[row] = (allowed.intersect(scope), why, unknown.intersect(scope), FLOW_UNKNOWN)
        return hit

    out.violations, out.unknown = scan(ctx, fm, judge)
    out.checked = _pairs_checked(src, dst)
    return out


def allow_only(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([e.ports for e in a.allow]))
    if a.dst:  # traffic into the protected zones, from anywhere
        src, dst = ctx.zones.all_units(), ctx.zones.units(a.dst)
    else:  # traffic out of the protected zones, to anywhere
        src, dst = ctx.zones.units(a.src), ctx.zones.all_units()
    fm = FlowMatrix(ctx, src, dst)
    entries = []
    for e in a.allow:
        sd, sp = ctx.zones.peer_masks(e.src, src)
        dd, dp = ctx.zones.peer_masks(e.dst, dst)
        entries.append((sd, sp, dd, dp, e.ports if e.ports is not None else ctx.universe, bool(e.requests), e))
    cache: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        d_idx = tuple(k for k, en in enumerate(entries) if en[0][i] and en[2][j])
        p_idx = tuple(k for k, en in enumerate(entries) if en[1][i] and en[3][j])
        key = (row, d_idx, p_idx)
        hit = cache.get(key)
        if hit is not None:
            return hit
        allowed, unknown = fm.sets(row)

        def union(idx: tuple[int, ...], requests: bool) -> PortSet:
            s = PortSet()
            for k in idx:
                if entries[k][5] == requests:
                    s = s.union(entries[k][4])
            return s

        def_full, pos_full = union(d_idx, False), union(p_idx, False)
        pos_req = union(p_idx, True)
        viol = allowed.minus(pos_full)
        unk = allowed.intersect(pos_full).minus(def_full).union(unknown.minus(def_full))
        why = "allowed, but not in the control's allow list"
        req_part = viol.intersect(pos_req)
        if req_part:
            reqs = " | ".join(r.text() for k in p_idx if entries[k][5] for r in entries[k][6].requests)
            if ctx.l7_present:
                viol = viol.minus(req_part)
                unk = unk.union(req_part)
            else:
                why = (f"allowed for every HTTP request (no request-level policy in the input); "
                       f"the control permits only {reqs}")
        hit = cache[key] = (viol, why, unk, FLOW_UNKNOWN if not req_part or not ctx.l7_present
                            else "request-level (HTTP) policy is not modelled by this version")
        return hit

    # bit k of (source bits & destination bits) = entry k matches both ends (62 entries a column)
    columns = []
    for lo in range(0, len(entries), 62):
        bits = [np.zeros(len(src if side < 2 else dst), dtype=np.int64) for side in range(4)]
        for k, en in enumerate(entries[lo:lo + 62]):
            for side in range(4):
                bits[side] |= en[side].astype(np.int64) << k
        columns.append(bits)

    def key(ii: np.ndarray, jj: np.ndarray) -> list[np.ndarray]:
        return [b[0][ii] & b[2][jj] for b in columns] + [b[1][ii] & b[3][jj] for b in columns]

    out.violations, out.unknown = scan(ctx, fm, judge, key)
    out.checked = _pairs_checked(src, dst)
    return out


def egress_restricted(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([e.ports for e in a.allow]))
    src = ctx.zones.zone_units(a.zones)
    dst = ctx.zones.all_units(pods=False)
    fm = FlowMatrix(ctx, src, dst)
    permitted: list[PortSet] = []
    for j in range(len(dst)):
        s = PortSet()
        for e in a.allow:
            d, _ = ctx.zones.peer_masks(e.dst, [dst[j]])
            if d[0]:
                s = s.union(e.ports if e.ports is not None else ctx.universe)
        permitted.append(s)
    allowed_to = ", ".join(f.dst[0].text() + (f" on {f.ports.text()}" if f.ports is not None else "") for f in a.allow)
    why = "reaches an external network not in the allow list" + (f" ({allowed_to})" if allowed_to else " (none)")

    cache: dict[tuple[int, PortSet], tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        key = (row, permitted[j])
        hit = cache.get(key)
        if hit is None:
            allowed, unknown = fm.sets(row)
            hit = cache[key] = (allowed.minus(permitted[j]), why, unknown.minus(permitted[j]), FLOW_UNKNOWN)
        return hit

    ids: dict[PortSet, int] = {}
    perm_id = np.array([ids.setdefault(p, len(ids)) for p in permitted], dtype=np.int64)
    out.violations, out.unknown = scan(ctx, fm, judge, lambda ii, jj: [perm_id[jj]])
    out.checked = _pairs_checked(src, dst)
    return out


def must_allow(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([f.ports for f in a.flows]))
    checked = 0
    for f in a.flows:
        checked += _must_allow_flow(ctx, f, out)
    out.checked = {"flows": len(a.flows), "pairs": checked}
    return out


def _must_allow_flow(ctx: Context, f: FlowSpec, out: Outcome) -> int:
    assert f.ports is not None
    required = f.ports
    src, dst = ctx.zones.units(f.src), ctx.zones.units(f.dst)
    for side, units in (("from", src), ("to", dst)):
        if not units:
            out.violations.append(Violation(
                kind="flow", src=", ".join(p.text() for p in f.src), dst=", ".join(p.text() for p in f.dst),
                ports=required.text(ctx.universe), flow="denied", port_set=required,
                reason=f"no workload or network matches '{side}': the required flow {f.text()} cannot exist",
            ))
            return 0
    fm = FlowMatrix(ctx, src, dst)
    assert fm.pm is not None
    groups: dict[tuple[str, str], dict[int, list[tuple[int, int]]]] = {}
    for i, su in enumerate(src):
        for j, du in enumerate(dst):
            if su.entity == du.entity and su.single_pod:
                continue
            if su.kind == "external" and du.kind == "external":
                continue
            groups.setdefault((su.entity, du.entity), {}).setdefault(j, []).append((i, int(fm.pm.row[i, j])))
    mesh_caveat = ctx.mesh.present and ctx.mesh.model is None
    for (s_name, d_name), by_dst in sorted(groups.items()):
        s_ext = src[next(iter(by_dst.values()))[0][0]].kind == "external"
        d_ext = dst[next(iter(by_dst))].kind == "external"
        ok_all: PortSet | None = None
        maybe_all: PortSet | None = None
        definite = True
        witness: tuple[int, int] | None = None
        for j, cells in by_dst.items():
            ok_j: PortSet | None = None
            maybe_j: PortSet | None = None
            for i, row in cells:
                allowed, unknown = fm.sets(row)
                ok = allowed.intersect(required)
                maybe = allowed.union(unknown).intersect(required)
                definite &= src[i].definite and dst[j].definite
                if witness is None and not required.issubset(ok):
                    witness = (i, j)
                # a network reaches if some address does; a workload only if every pod does
                ok_j = ok if ok_j is None else (ok_j.union(ok) if s_ext else ok_j.intersect(ok))
                maybe_j = maybe if maybe_j is None else (maybe_j.union(maybe) if s_ext else maybe_j.intersect(maybe))
            assert ok_j is not None and maybe_j is not None
            ok_all = ok_j if ok_all is None else (ok_all.union(ok_j) if d_ext else ok_all.intersect(ok_j))
            maybe_all = maybe_j if maybe_all is None else (maybe_all.union(maybe_j) if d_ext else maybe_all.intersect(maybe_j))
        assert ok_all is not None and maybe_all is not None
        missing = required.minus(maybe_all)
        unknown_ports = required.minus(ok_all).minus(missing)
        unk_why = FLOW_UNKNOWN
        if ok_all and f.requests and ctx.l7_present:
            unknown_ports = unknown_ports.union(ok_all)
            unk_why = "allowed at L3/L4; request-level (HTTP) policy is not modelled by this version"
        if ok_all and mesh_caveat and not d_ext:
            sidecars = {ctx.mesh.sidecar(dst[j].endpoints) for j in by_dst}
            if sidecars != {False}:
                unknown_ports = unknown_ports.union(ok_all)
                unk_why = ("allowed at L3/L4; Istio PeerAuthentication/AuthorizationPolicy in the input may deny it and "
                           + NOT_MODELLED)
        sz, dz = ctx.zone_tuple(s_name), ctx.zone_tuple(d_name)
        if missing and definite:
            out.violations.append(Violation(
                kind="flow", src=s_name, dst=d_name, ports=missing.text(ctx.universe), flow="denied",
                decided_by=fm.why(witness, missing, (DENY,)) if witness else "",
                src_zones=sz, dst_zones=dz, reason=f"required flow is denied ({f.text()})", port_set=missing,
            ))
        elif missing:
            unknown_ports = unknown_ports.union(missing)
            unk_why = MEMBERSHIP_UNKNOWN
        if unknown_ports:
            out.unknown.append(Violation(
                kind="flow", src=s_name, dst=d_name, ports=unknown_ports.text(ctx.universe), flow="unknown",
                decided_by=fm.why(witness, unknown_ports, (UNKNOWN, ALLOW)) if witness else "",
                src_zones=sz, dst_zones=dz, reason=unk_why, port_set=unknown_ports,
            ))
    return len(groups)


def _explicit_rules(analysis: Analysis) -> np.ndarray:
    """Per rule id: a real Allow rule (not a default). Memoised per engine."""
    eng = analysis.engine
    hit = _EXPLICIT.get(eng)
    if hit is None or hit.size != len(eng.rules.actions):
        hit = _EXPLICIT[eng] = np.array([act == "Allow" and ref is not None
                                         for act, ref in zip(eng.rules.actions, eng.rules.refs, strict=True)], dtype=bool)
    return hit


_EXPLICIT: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def isolation(analysis: Analysis, direction: str, cls: int) -> tuple[str, str, PortSet | None]:
    """Is class ``cls`` isolated for ``direction`` (default-deny in place)?

    ``("isolated" | "open" | "unknown", why, open ports)``. Isolated means every flow is decided by
    an explicit rule or an end-of-tier deny, never by "no policy applies" (K8S-2) or the
    profile after every tier passed (CAL-22). Sufficient condition, exact for Kubernetes
    policies: a certain applicable policy in a tier whose default action is Deny, and no Pass
    rule in that tier's applicable policies (CAL-21, CAL-24). Otherwise the engine's deciding
    rules per cell decide; any uncertainty left is ``unknown``.
    """
    res = analysis.egress if direction == "egress" else analysis.ingress
    eng = analysis.engine
    s = int(res.sigma_of[cls])
    certain, uncertain = res.sigma_policies[s], res.sigma_uncertain[s]
    universe_all = universe(analysis.ports)
    if not certain and not uncertain:
        return "open", f"not isolated for {direction}: no policy selects it (K8S-2)", universe_all
    tiers = analysis.policies.tiers
    by_tier: dict[str, list[int]] = {}
    for pi in (*certain, *uncertain):
        by_tier.setdefault(eng.policies[pi].tier, []).append(pi)
    for pi in certain:
        pol = eng.policies[pi]
        tier = tiers.get(pol.tier)
        if tier is None or tier.default_action != Action.DENY:
            continue
        if not any(r.action == Action.PASS for q in by_tier[pol.tier] for r in eng.policies[q].rules(direction)):
            refs = sorted({eng.policies[q].ref for q in certain if eng.policies[q].tier == pol.tier})
            return "isolated", f"isolated for {direction} by {', '.join(refs)} (tier {pol.tier}, end-of-tier deny)", None
    if not certain:
        refs = sorted(eng.policies[q].ref for q in uncertain)
        return "unknown", f"isolation for {direction} depends on policies that may or may not select it: {', '.join(refs)}", None
    n_groups = int(res.group_of[s].max()) + 1
    start = int(res.offset[s])
    v = res.verdict[start : start + n_groups]
    r = res.rule[start : start + n_groups]
    # An allowed cell not decided by a real Allow rule fell through: "no policy" (K8S-2), the
    # profile after the tiers passed (CAL-22; the engine may name the last Pass rule), or a
    # tier whose default action is Pass.
    explicit = _explicit_rules(analysis)
    fall = (v == ALLOW) & ~explicit[r]
    unsure = bool(uncertain) or bool((v == UNKNOWN).any())
    if not fall.any():
        if unsure:
            return "unknown", f"isolation for {direction} depends on Pass rules whose match is unknown (CAL-20)", None
        return "isolated", f"isolated for {direction}: every flow is decided by an explicit rule or a tier's deny", None
    if not unsure:
        open_ports = PortSet.from_atoms(analysis.ports, fall.any(axis=0))
        via = eng.rules.text[int(r[fall][0])]
        return ("open", f"not isolated for {direction}: some traffic passes every applicable tier and the profile "
                f"allows it (CAL-22), via {via}", open_ports)
    return "unknown", f"isolation for {direction} depends on Pass rules or policies whose match is unknown", None


def isolated(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    units = [u for u in ctx.zones.zone_units(a.zones) if u.kind != "external"]
    per: dict[tuple[str, str], list[tuple[Unit, str, str, PortSet | None]]] = {}
    for u in units:
        for d in a.directions:
            status, why, ports = isolation(ctx.analysis, d, u.cls)
            per.setdefault((u.entity, d), []).append((u, status, why, ports))
    for (name, _direction), items in sorted(per.items()):
        dz = ctx.zone_tuple(name)
        opened = [(u, why, p) for u, st, why, p in items if st == "open"]
        definite_open = [(u, why, p) for u, why, p in opened if u.definite]
        rule = ctx.analysis.engine.rules.text[ctx.analysis.engine.NO_POLICY]
        if definite_open:
            ports = PortSet()
            for _, _, p in definite_open:
                ports = ports.union(p or PortSet())
            out.violations.append(Violation(
                kind="endpoint", dst=name, ports=ports.text(ctx.universe), dst_zones=dz,
                reason=definite_open[0][1], decided_by=rule if "K8S-2" in definite_open[0][1]
                else ctx.analysis.engine.rules.text[ctx.analysis.engine.PROFILE], port_set=ports,
            ))
            continue
        unsure = [(u, why) for u, st, why, _ in items if st == "unknown"] + [(u, MEMBERSHIP_UNKNOWN) for u, _, _ in opened]
        if unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, dst_zones=dz, reason=unsure[0][1]))
    out.checked = {"workloads": len({u.entity for u in units}), "directions": len(a.directions)}
    return out


def zone_coverage(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    zi = ctx.zones
    ex_d, ex_p = zi.selector_mask(a.exclude) if a.exclude is not None else (None, None)
    by_entity: dict[str, list[Unit]] = {}
    for u in zi.all_units(externals=False):
        by_entity.setdefault(u.entity, []).append(u)
    excluded = 0
    for name, units in sorted(by_entity.items()):
        zones_union: set[str] = set()
        problems: list[str] = []
        unsure: list[str] = []
        counted = False
        for u in units:
            if ex_d is not None and ex_d[u.cls]:
                continue
            if ex_p is not None and ex_p[u.cls]:
                unsure.append("whether it is excluded is unknown: " + MEMBERSHIP_UNKNOWN)
                continue
            counted = True
            d = [z for z in a.zones if zi.masks[z][0][u.cls]]
            p = [z for z in a.zones if zi.masks[z][1][u.cls]]
            if d != p:
                unsure.append(MEMBERSHIP_UNKNOWN)
                continue
            zones_union.update(d)
            if not d:
                problems.append(f"in no zone (zones: {', '.join(a.zones)})")
            elif len(d) > 1:
                problems.append(f"in {len(d)} zones: {', '.join(d)}")
        if not counted and not unsure:
            excluded += 1
            continue
        if len(zones_union) > 1 and not any(p.startswith("in ") and "zones:" in p for p in problems):
            problems.append(f"its pods are in different zones: {', '.join(sorted(zones_union))}")
        if problems:
            out.violations.append(Violation(kind="endpoint", dst=name, dst_zones=tuple(sorted(zones_union)),
                                            reason="; ".join(dict.fromkeys(problems))))
        elif unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, reason=unsure[0]))
    out.checked = {"workloads": len(by_entity) - excluded, "excluded": excluded}
    if ctx.analysis.inventory.excluded:
        out.notes.append(f"{len(ctx.analysis.inventory.excluded)} host-network or finished pods are not policy "
                         "endpoints and are not counted (K8S-13, FLOW-2)")
    return out


def mtls_required(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    units = [u for u in ctx.zones.zone_units(a.zones) if u.kind != "external"]
    by_entity: dict[str, list[Unit]] = {}
    for u in units:
        by_entity.setdefault(u.entity, []).append(u)
    for name, us in sorted(by_entity.items()):
        dz = ctx.zone_tuple(name)
        definite = all(u.definite for u in us)
        problems, unsure, ports = _mtls_problems(ctx, us)
        if problems and definite:
            out.violations.append(Violation(kind="endpoint", dst=name, dst_zones=dz, ports=ports.text(ctx.universe)
                                            if ports else "", reason="; ".join(problems), port_set=ports or None))
        elif problems or unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, dst_zones=dz,
                                         reason=unsure[0] if unsure else MEMBERSHIP_UNKNOWN))
    out.checked = {"workloads": len(by_entity)}
    return out


def _mtls_problems(ctx: Context, units: Sequence[Unit]) -> tuple[list[str], list[str], PortSet]:
    """(definite problems, reasons it is unknown, ports affected) for one workload's pods."""
    problems: dict[str, None] = {}
    unsure: dict[str, None] = {}
    ports = PortSet()
    if ctx.mesh.model is None:  # without the Istio model: only what holds whatever it would say
        sidecar = ctx.mesh.sidecar([e for u in units for e in u.endpoints])
        if sidecar is False:
            problems["no istio-proxy container in the pod spec: no sidecar, so no mTLS (IST-1, IST-2)"] = None
        elif not ctx.mesh.strict_anywhere:
            problems["no PeerAuthentication sets STRICT anywhere: the mode is PERMISSIVE and plaintext is "
                     "accepted (IST-6)"] = None
        else:
            unsure[NOT_MODELLED] = None
        return list(problems), list(unsure), ports
    for u in units:
        facts = ctx.analysis.mesh_facts(_entity(u))
        if not facts:
            problems["no Istio proxy (no mesh in the input): traffic to it is never mTLS (IST-1)"] = None
            continue
        f = facts[0]
        why = f" ({f['why']})" if f.get("why") else ""
        if f.get("proxy") == "unknown":
            unsure[f"whether it has an Istio proxy is unknown{why} (IST-2)"] = None
            continue
        if f.get("proxy") == "no proxy":
            problems[f"no Istio proxy{why}: traffic to it is never mTLS (IST-1)"] = None
            continue
        for mode, summary in sorted(dict(f.get("mtls") or {}).items()):
            if mode == "STRICT":
                continue
            if mode == "unknown":
                unsure[f"the mTLS mode of {summary} is unknown (IST-7)"] = None
            else:
                problems[f"mTLS mode {mode} on {summary}: plaintext is accepted (IST-6)"] = None
                ports = ports.union(_summary_ports(summary))
        bypass = dict(f.get("protocols") or {}).get("not intercepted")
        if bypass:
            problems[f"{bypass} not intercepted by the proxy: plaintext is accepted (IST-3)"] = None
            ports = ports.union(_summary_ports(bypass))
    return list(problems), list(unsure), ports


def _summary_ports(summary: str) -> PortSet:
    """``TCP:80,8000-8100`` / ``all`` (a PortSpace summary) → PortSet (TCP only, as mTLS is)."""
    if summary in ("all", "TCP:all"):
        return PortSet.everything(["TCP"])
    out = PortSet()
    for part in summary.split():
        proto, _, ranges = part.partition(":")
        if proto != "TCP" or not ranges:
            continue
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            if lo.isdigit():
                out = out.union(PortSet.of({"TCP": [(int(lo), int(hi or lo))]}))
    return out


def identity_required(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    dst = [u for u in ctx.zones.zone_units(a.zones) if u.kind != "external"]
    src = ctx.zones.all_units()
    fm = FlowMatrix(ctx, src, dst)
    two_factor = a.require == "network+identity"
    pm = fm.pm
    if ctx.mesh.model is not None and pm is not None and getattr(pm, "identity", None) is not None:
        # The Istio model says, per allowed atom, whether every admitting path needed a verified
        # principal (identity) and named the peer at L3/L4 (network).
        space = ctx.space
        lack_why = ("allowed without a verified mTLS identity on every admitting path"
                    + (" or without an L3/L4 rule naming the peer" if two_factor else ""))

        def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
            v = pm.verdict[row]
            lacking = (v == ALLOW) & ~pm.identity[row]
            if two_factor and getattr(pm, "network", None) is not None:
                lacking |= (v == ALLOW) & ~pm.network[row]
            return (PortSet.from_atoms(space, lacking), lack_why, PortSet.from_atoms(space, v == UNKNOWN),
                    FLOW_UNKNOWN)

        out.violations, out.unknown = scan(ctx, fm, judge)
        out.checked = _pairs_checked(src, dst)
        return out
    # Without the Istio model: only conclusions that hold whatever it would say.
    if two_factor:
        out.blocking.append(NOT_MODELLED + ": the network factor needs the Istio model")
        return out
    sidecars = [ctx.mesh.sidecar(u.endpoints) for u in dst]
    plaintext_ok = not ctx.mesh.strict_anywhere and not ctx.mesh.authorization_policies
    non_tcp = ctx.universe.minus(ctx.tcp)

    def heuristic(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        allowed, unknown = fm.sets(row)
        if sidecars[j] is False:
            return allowed, "allowed, and the destination has no Istio sidecar: no peer identity is verified (IST-1)", \
                unknown, FLOW_UNKNOWN
        if plaintext_ok:
            return allowed, ("allowed, and plaintext is admitted: no PeerAuthentication sets STRICT (IST-6) and no "
                             "AuthorizationPolicy requires a principal"), unknown, FLOW_UNKNOWN
        bypass = allowed.intersect(non_tcp)
        return (bypass, "allowed on a non-TCP protocol, which bypasses the sidecar: no identity (IST-3)",
                allowed.minus(non_tcp).union(unknown), NOT_MODELLED)

    code = np.array([{None: 0, False: 1, True: 2}[x] for x in sidecars], dtype=np.int64)
    out.violations, out.unknown = scan(ctx, fm, heuristic, lambda ii, jj: [code[jj]])
    out.checked = _pairs_checked(src, dst)
    if not out.violations and not out.unknown:
        out.blocking.append(NOT_MODELLED + ": no flow into the zone is allowed at L3/L4, but identity assurance "
                            "itself cannot be shown")
    return out


KINDS: dict[str, Callable[[Context, Control], Outcome]] = {
    "no-flow": no_flow,
    "allow-only": allow_only,
    "must-allow": must_allow,
    "isolated": isolated,
    "zone-coverage": zone_coverage,
    "mtls-required": mtls_required,
    "identity-required": identity_required,
    "egress-restricted": egress_restricted,
}


# -- one control -------------------------------------------------------------------------------


def describe(ctx: Context, a: Assertion) -> str:
    """What the assertion claims, in one line."""
    if a.kind == "no-flow":
        ports = f" on {a.ports.text(ctx.universe)}" if a.ports is not None else ""
        return f"no flow from {_zones_text(a.src)} to {_zones_text(a.dst)}{ports}"
    if a.kind == "allow-only":
        allowed = "; ".join(e.text() for e in a.allow) or "nothing"
        if a.dst:
            return f"flows into {_zones_text(a.dst)} only: {allowed}"
        return f"flows out of {_zones_text(a.src)} only: {allowed}"
    if a.kind == "must-allow":
        return "required flows allowed: " + "; ".join(f.text() for f in a.flows)
    if a.kind == "isolated":
        return f"every workload in {', '.join(a.zones)} isolated for {' and '.join(a.directions)}"
    if a.kind == "zone-coverage":
        return f"every workload in exactly one of: {', '.join(a.zones)}"
    if a.kind == "mtls-required":
        return f"every workload in {', '.join(a.zones)} has a sidecar and STRICT mTLS"
    if a.kind == "identity-required":
        return f"every allowed flow into {', '.join(a.zones)} carries a verified identity"
    allow = ", ".join(f.dst[0].text() for f in a.allow) or "none"
    return f"{', '.join(a.zones)} reaches external networks only via: {allow}"


def _zones_text(peers: Sequence) -> str:
    return ", ".join(p.text() for p in peers)


def evaluate(ctx: Context, control: Control) -> Finding:
    """Run one control (before waivers)."""
    a = control.assertion
    blocking = ctx.collection_reasons(DEPENDS_ON[a.kind]) + ctx.empty_zone_reasons(a)
    out = Outcome(blocking=blocking) if blocking else KINDS[a.kind](ctx, control)
    if out.unknown and ctx.analysis.policies.unsupported:
        out.notes.append("not modelled in this input: " + "; ".join(ctx.analysis.policies.unsupported))
    cap = ctx.max_evidence or None
    tables = []
    for items, what in ((out.violations, "violations"), (out.unknown, "unknown flows or workloads")):
        t = items if isinstance(items, ViolationTable) else ViolationTable.of(items)
        tables.append(t.explain(cap))  # decided_by of the rows listed only
        if cap is not None and len(t) > cap:
            out.notes.append(f"{cap:,} of {len(t):,} {what} shown (the first by source, destination and ports; "
                             f"counts and verdict cover all {len(t):,}); re-run with --max-evidence 0 for all")
    vt, ut = tables
    finding = Finding(
        pack=ctx.pack.id,
        control=control.id,
        title=control.title,
        severity=control.severity,
        references=control.references,
        rationale=control.rationale,
        assertion=a.kind,
        spec=a.spec,
        verdict=decide_counts(vt.open_count(), vt.waived_count(), len(ut), out.blocking),
        claim=describe(ctx, a),
        message="",
        violations=tuple(vt.rows(cap)),
        unknown_flows=tuple(ut.rows(cap)),
        blocking=tuple(dict.fromkeys(out.blocking)),
        notes=tuple(dict.fromkeys(out.notes)),
        checked=out.checked,
        violation_table=vt,
        unknown_table=ut,
    )
    return finish(finding)


def finish(f: Finding) -> Finding:
    """Recompute the verdict (again after waivers) and the one-line message."""
    f = f.with_verdict()
    counts = f.counts
    if f.verdict == "pass":
        msg = f"holds: {f.claim}"
    elif f.verdict == "waived":
        msg = f"{counts['waived']} violation(s), all waived: {f.claim}"
    elif f.verdict == "fail":
        first = f.all_violations.first_open()
        assert first is not None
        where = f"{first.src} → {first.dst}" if first.src else first.dst
        msg = f"{counts['violations']} violation(s), e.g. {where}" + (f" on {first.ports}" if first.ports else "")
    elif f.blocking:
        msg = f.blocking[0]
    else:
        msg = f"{counts['unknown']} flow(s) or workload(s) could not be decided"
    return replace(f, message=msg)
