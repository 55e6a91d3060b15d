"""What the reports need besides the findings: scope, inventory, policies, zone matrix, flows.

``auditor report`` works from the audit result JSON alone (an auditor re-reads it months later,
without the cluster or the tool), so everything a report shows is computed here, once, and
added to the result as top-level keys:

- ``scope``: collection status of every kind, resource counts, kinds not modelled, analysis options;
- ``inventory``: workloads (namespace, kind, pods, service accounts, labels, zones, manifest origin),
  namespaces and external networks;
- ``tiers`` and ``policies``: every policy with its tier, order, rule counts and manifest origin;
- ``policy_rules``: every policy's rules as a normalised summary (peers, ports, action), so that
  ``auditor diff`` can describe policy changes from two saved results;
- ``zones_matrix``: per pack, zone × zone: allowed / partial / unknown / denied, with the ports;
- ``flows``: every zone-crossing flow (allowed or unknown on some port) and every flow a control
  cites, with its ports, verdict, assurance, deciding rules and the controls it bears on.

Every list is sorted, so the same inputs give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from auditor.controls.assertions.base import Side
from auditor.controls.assertions.registry import kind_of
from auditor.controls.model import Control, Pack
from auditor.controls.result import Finding, ViolationTable
from auditor.controls.zones import ZoneIndex
from auditor.policy.summary import policy_rules
from auditor.reach.analysis import Analysis, Entity, PairMatrix
from auditor.reach.decision import detail_of
from auditor.reach.engine import ALLOW, UNKNOWN, ProgressFn
from auditor.reach.flows import AllowedFlows, single_pods

UNZONED = "(unzoned)"
# Flow assurance (Analysis.assurance): network | identity | network+identity | none | unknown.
ASSURANCE_UNKNOWN = "unknown"
ANY_REQUEST = "*"  # no request-level (L7) layer in the input: every request of an allowed flow
FLOW_COLUMNS = ("src", "dst", "src_zones", "dst_zones", "ports", "request", "verdict", "assurance", "decided_by",
                "controls", "crossing")


def build_evidence(analysis: Analysis, packs: Sequence[Pack], zone_indexes: Sequence[ZoneIndex],
                   findings: Sequence[Finding], max_evidence: int = 0, flows: bool = True, *,
                   rows: int | None = None, progress: ProgressFn | None = None,
                   with_policy_rules: bool = True) -> dict[str, Any]:
    """The extra top-level keys of the audit result (see the module docstring); ``max_evidence``
    caps the flows listed (0: all), their counts stay exact. ``flows=False`` leaves out the
    zone matrix and the flow list (the workload × workload matrix): the CI gate needs neither;
    ``with_policy_rules=False`` leaves out ``policy_rules`` (only ``auditor diff`` and saved
    results read it; the gate's reports do not: ≈ 0.5 s of a 10k-pod gate).
    The workload matrix is read in blocks of source rows sized from the analysis's memory budget
    (``--max-memory``; none: ``DEFAULT_BLOCK_BYTES`` a block), so it is never held whole when it does not fit; ``rows``
    (or ``BLOCK_ROWS``) forces the block size. The result is the same for every block size.
    ``progress``: (phase, done, total) per block."""
    ents = list(analysis.entities("workload"))
    several = len(packs) > 1
    zones_of = [[zi.zones_of(e.name) for e in ents] for zi in zone_indexes]
    evidence: dict[str, Any] = {
        "scope": _scope(analysis),
        "inventory": _inventory(analysis, ents, packs, zone_indexes, zones_of),
        "tiers": _tiers(analysis),
        "policies": policy_list(analysis),
    }
    if with_policy_rules:
        # every policy's rules, normalised (auditor/policy/summary.py): what `auditor diff` compares
        evidence["policy_rules"] = policy_rules(analysis)
    if not flows:
        return evidence
    matrices = [_ZoneMatrix(analysis, ents, pack, zones) for pack, zones in zip(packs, zones_of, strict=True)]
    stream = _FlowStream(analysis, ents, packs, zone_indexes, zones_of, findings, several, max_evidence)
    # sized after the cited cells are held (hundreds of MB at 100,000 pods): they count against the room
    step = block_rows(analysis, len(ents), analysis.memory_budget, rows if rows is not None else BLOCK_ROWS)
    whole: PairMatrix | None = None
    lo = 0
    n_blocks = -(-len(ents) // max(1, step)) if ents else 1
    phase = f"evidence: workload matrix ({n_blocks} blocks of {step:,} × {len(ents):,} pairs)"
    for done, pm in enumerate(analysis.pair_blocks("workload", ents, ents, rows=step)):
        if progress is not None:
            progress(phase, done, n_blocks)
        for m in matrices:
            m.add(pm, lo)
        stream.add(pm, lo)
        if step >= len(ents):  # one block: the kept flows' evidence is read from it directly
            whole = pm
        lo += len(pm.src)
        del pm  # the next block is computed while the loop variable still holds this one
    if progress is not None:
        progress(phase, n_blocks, n_blocks)
    return {
        **evidence,
        "zones_matrix": {pack.id: m.result() for pack, m in zip(packs, matrices, strict=True)},
        "flows": stream.result(whole, step),
    }


BLOCK_ROWS: int | None = None  # forced source rows per block of the workload matrix (tests); None: the budget's
# peak bytes per pair of a block: the matrix (``DENSE_PAIR_BYTES``), its key rows and the masks
# read off it. Measured at 100,000 pods (workloads of several classes): blocks of 5.7 M pairs
# took 1.1 GB, ≈ 190 bytes a pair (64 had the audit at 4.46 GB under a 4G budget)
EVIDENCE_PAIR_BYTES = 192
# a block has at least this many pairs (64 MB) even when the budget is spent: thousands of
# blocks of a row or two would each pay the per-block costs that walk every destination
MIN_BLOCK_PAIRS = 1 << 20


def block_rows(analysis: Analysis, n: int, budget: int | None, forced: int | None = None) -> int:
    """Source rows per block of the n × n workload matrix: half the memory left under ``budget``
    (``DEFAULT_BLOCK_BYTES`` without one) at ``EVIDENCE_PAIR_BYTES`` a pair, so a matrix that
    fits stays one block (no extra ``pairs`` calls), and at least ``MIN_BLOCK_PAIRS`` pairs; said
    on stderr when there is a budget and more than one block."""
    from auditor.reach.budget import DEFAULT_BLOCK_BYTES, plan_blocks, room_left

    if forced is None:
        left = room_left(budget) if budget is not None else None
        room = DEFAULT_BLOCK_BYTES if left is None else left // 2
        forced = max(room // max(1, n * EVIDENCE_PAIR_BYTES), MIN_BLOCK_PAIRS // max(1, n))
    plan = plan_blocks(n, n, len(analysis.ports), budget, rows=forced)
    if budget is not None and plan.blocks > 1:
        import click

        click.echo(f"evidence: workload matrix in {plan.blocks} block(s) of {plan.rows:,} × {n:,} pairs", err=True)
    return plan.rows


def control_name(f: Finding | tuple[str, str], several: bool) -> str:
    pack, control = (f.pack, f.control) if isinstance(f, Finding) else f
    return f"{pack}/{control}" if several else control


# -- scope ---------------------------------------------------------------------------------------


def _scope(analysis: Analysis) -> dict[str, Any]:
    snap = analysis.snapshot
    counts: dict[str, int] = {}
    for res in snap.resources:
        counts[res.kind_key] = counts.get(res.kind_key, 0) + 1
    eps = analysis.inventory.endpoints
    opts = analysis.options
    return {
        "collection": dict(sorted(snap.collection.items())),
        "resources": dict(sorted(counts.items())),
        "ignored": dict(sorted(snap.ignored.items())),
        "counts": {
            "pods": sum(1 for e in eps if e.kind == "pod" and not e.template),
            "templates": sum(1 for e in eps if e.kind == "pod" and e.template),
            "workloads": len({e.workload for e in eps if e.kind == "pod"}),
            "namespaces": len({e.namespace for e in eps if e.kind == "pod"}),
            "policies": len(analysis.policies.policies),
            "endpoint_classes": int(analysis.classes.n),
            "excluded_pods": len(analysis.inventory.excluded),
        },
        "options": {
            "externals": [{"name": n.name, "cidrs": [str(c) for c in n.networks]}
                          for n in sorted(opts.externals, key=lambda n: n.name)],
            "pod_cidrs": [str(c) for c in opts.pod_cidrs],
            "lenient": bool(opts.lenient),
            "with_staged": bool(getattr(opts, "with_staged", False)),
        },
    }


# -- inventory -----------------------------------------------------------------------------------


def _origin(res: Any) -> dict[str, Any] | None:
    if res is None or res.origin is None:
        return None
    return res.origin.to_dict()


def _workload_resource(analysis: Analysis, ent: Entity) -> Any:
    snap = analysis.snapshot
    parts = ent.name.split("/", 2)
    if len(parts) == 3:
        res = snap.get(parts[1], parts[0], parts[2])
        if res is not None:
            return res
    eps = analysis.inventory.endpoints
    for i in ent.endpoints:  # pods rolled up to a controller absent from the input
        ep = eps[i]
        if not ep.template:
            return snap.get("Pod", ep.namespace, ep.pod)
    return None


def _inventory(analysis: Analysis, ents: Sequence[Entity], packs: Sequence[Pack],
               zone_indexes: Sequence[ZoneIndex], zones_of: Sequence[Sequence[tuple[str, ...]]]) -> dict[str, Any]:
    eps = analysis.inventory.endpoints
    possible: list[dict[str, set[str]]] = []
    for zi in zone_indexes:
        per: dict[str, set[str]] = {}
        for zone in zi.pack.zones:
            for name in zi.members(zone)[1]:
                per.setdefault(name, set()).add(zone)
        possible.append(per)
    workloads, externals = [], []
    for k, ent in enumerate(ents):
        zones = {pack.id: list(zones_of[p][k]) for p, pack in enumerate(packs)}
        if ent.kind == "external":
            ep = eps[ent.endpoints[0]]
            externals.append({"name": ent.name, "kind": ep.kind, "cidrs": [str(c) for c in ep.networks],
                              "zones": zones})
            continue
        members = [eps[i] for i in ent.endpoints]
        parts = ent.name.split("/", 2)
        common: dict[str, str] | None = None
        for ep in members:
            labels = {k2: str(v) for k2, v in ep.labels.items() if k2 != "pod-template-hash"}
            common = labels if common is None else {k2: v for k2, v in common.items() if labels.get(k2) == v}
        workloads.append({
            "name": ent.name,
            "namespace": ent.namespace,
            "kind": parts[1] if len(parts) == 3 else "Pod",
            "pods": sum(1 for ep in members if not ep.template),
            "template": all(ep.template for ep in members),
            "service_accounts": sorted({ep.service_account or "default" for ep in members}),
            "labels": dict(sorted((common or {}).items())),
            "zones": zones,
            "possible_zones": {pack.id: sorted(possible[p].get(ent.name, ())) for p, pack in enumerate(packs)},
            "origin": _origin(_workload_resource(analysis, ent)),
        })
    inv = analysis.inventory
    namespaces = [{"name": ns, "labels": dict(sorted(labels.items())), "in_input": True}
                  for ns, labels in sorted(inv.namespace_labels.items())]
    namespaces += [{"name": ns, "labels": {}, "in_input": False} for ns in sorted(inv.missing_namespaces)]
    namespaces.sort(key=lambda n: n["name"])
    return {
        "workloads": workloads,
        "external_networks": externals,
        "namespaces": namespaces,
        "excluded": sorted(inv.excluded),
    }


# -- policies ------------------------------------------------------------------------------------


def _tiers(analysis: Analysis) -> list[dict[str, Any]]:
    per: dict[str, int] = {}
    for pol in analysis.policies.policies:
        per[pol.tier] = per.get(pol.tier, 0) + 1
    out = []
    for rank, tier in enumerate(analysis.policies.ordered_tiers()):
        out.append({"name": tier.name, "order": tier.order, "rank": rank,
                    "default_action": str(tier.default_action.value), "policies": per.get(tier.name, 0)})
    mesh = getattr(analysis, "istio", None)
    if mesh is not None and (mesh.authz or mesh.peer or mesh.request):
        out.append({"name": "istio", "order": None, "rank": len(out), "default_action": "Allow",
                    "policies": len(mesh.authz) + len(mesh.peer) + len(mesh.request)})
    return out


def policy_list(analysis: Analysis) -> list[dict[str, Any]]:
    by_ref = {res.ref: res for res in analysis.snapshot.resources}
    out = []
    for pol in analysis.policies.policies:
        res = by_ref.get(pol.ref)
        out.append({
            "ref": pol.ref,
            "kind": res.kind_key if res is not None else pol.kind,
            "namespace": pol.namespace if res is None else res.namespace,
            "name": pol.name,
            "tier": pol.tier,
            "order": pol.order,
            "types": sorted(pol.types),
            "ingress_rules": len(pol.ingress),
            "egress_rules": len(pol.egress),
            "staged": bool(pol.staged),
            "broken": pol.broken,
            "origin": _origin(res),
        })
    mesh = getattr(analysis, "istio", None)  # the Istio layer: its own "tier", evaluated after L3/L4
    if mesh is not None:
        for kind, items in (("istio/AuthorizationPolicy", mesh.authz), ("istio/PeerAuthentication", mesh.peer),
                            ("istio/RequestAuthentication", mesh.request)):
            for pol in items:
                res = analysis.snapshot.get(kind, pol.namespace, pol.name)
                rules = getattr(pol, "rules", None)
                out.append({
                    "ref": pol.ref,
                    "kind": kind,
                    "namespace": pol.namespace,
                    "name": pol.name,
                    "tier": "istio",
                    "order": None,
                    "types": ["ingress"],
                    "ingress_rules": len(rules) if rules else 0,
                    "egress_rules": 0,
                    "staged": bool(getattr(pol, "dry_run", False)),
                    "broken": getattr(pol, "broken", None),
                    "origin": _origin(res),
                })
    out.sort(key=lambda p: (p["tier"] == "istio", p["tier"], p["ref"]))
    return out


# -- zone matrix -----------------------------------------------------------------------------------


class _ZoneMatrix:
    """Zone × zone over definite members: allowed (every member pair on some port), partial,
    unknown (none certainly allowed, some may be), denied, empty (a zone without members).
    Accumulated block by block: pair counts and the port atoms of the pairs' verdict rows (row
    ids are per block, atom masks are not); the status is derived at the end."""

    def __init__(self, analysis: Analysis, ents: Sequence[Entity], pack: Pack,
                 zones_of: Sequence[tuple[str, ...]]) -> None:
        self.analysis = analysis
        self.is_ext = np.array([e.kind == "external" for e in ents], dtype=bool)
        self.single = single_pods(analysis, ents)
        names = list(pack.zones)
        self.members: dict[str, np.ndarray] = {
            z: np.array([k for k, zs in enumerate(zones_of) if z in zs], dtype=np.int64) for z in names}
        unzoned = np.array([k for k, zs in enumerate(zones_of) if not zs and not self.is_ext[k]], dtype=np.int64)
        self.order = sorted(names, key=lambda z: (pack.zones[z].external, names.index(z)))
        if unzoned.size:
            self.order.append(UNZONED)
            self.members[UNZONED] = unzoned
        self.external = {z: bool(z != UNZONED and pack.zones[z].external) for z in self.order}
        z, atoms = len(self.order), len(analysis.ports)
        self.counts = np.zeros((z, z, 3), dtype=np.int64)  # pairs, allowed pairs, unknown pairs
        self.allow = np.zeros((z, z, atoms), dtype=bool)  # atoms allowed on some member pair
        self.unknown = np.zeros((z, z, atoms), dtype=bool)  # atoms undecided on some member pair

    def add(self, pm: PairMatrix, lo: int) -> None:
        """Count the member pairs whose source is in this block (rows ``lo`` … of the matrix)."""
        hi = lo + len(pm.src)
        allow_rows = pm.verdict == ALLOW
        unknown_rows = pm.verdict == UNKNOWN
        row_allow = allow_rows.any(axis=1)
        row_unknown = unknown_rows.any(axis=1)
        for a_k, a in enumerate(self.order):
            m = self.members[a]
            si = m[np.searchsorted(m, lo):np.searchsorted(m, hi)]
            if not si.size:
                continue
            for b_k, b in enumerate(self.order):
                dj = self.members[b]
                if not dj.size:
                    continue
                rows = pm.row[np.ix_(si - lo, dj)]
                keep = ~(self.is_ext[si][:, None] & self.is_ext[dj][None, :])
                keep &= ~((si[:, None] == dj[None, :]) & self.single[si][:, None])
                live = rows[keep]
                if not live.size:
                    continue
                allowed = row_allow[live]
                self.counts[a_k, b_k] += (live.size, int(allowed.sum()), int((~allowed & row_unknown[live]).sum()))
                uniq = np.unique(live)
                self.allow[a_k, b_k] |= allow_rows[uniq].any(axis=0)
                self.unknown[a_k, b_k] |= unknown_rows[uniq].any(axis=0)

    def result(self) -> dict[str, Any]:
        summary = self.analysis.ports.summary
        cells = []
        for a_k, a in enumerate(self.order):
            for b_k, b in enumerate(self.order):
                n, n_allow, n_unknown = (int(x) for x in self.counts[a_k, b_k])
                unknown = self.unknown[a_k, b_k]
                cells.append({"src": a, "dst": b, "status": _status(n, n_allow, n_unknown), "pairs": n,
                              "allowed_pairs": n_allow, "unknown_pairs": n_unknown,
                              "ports": summary(self.allow[a_k, b_k]) if n_allow else "",
                              "unknown_ports": summary(unknown) if unknown.any() else ""})
        return {
            "zones": [{"name": z, "members": int(self.members[z].size), "external": self.external[z]}
                      for z in self.order],
            "cells": cells,
        }


def _status(n: int, n_allow: int, n_unknown: int) -> str:
    if n == 0:
        return "empty"
    if n_allow == n:
        return "allowed"
    if n_allow:
        return "partial"
    return "unknown" if n_unknown else "denied"


# -- flows -------------------------------------------------------------------------------------


def _scope_masks(zi: ZoneIndex, control: Control, index: dict[str, int], n: int,
                 is_ext: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(source mask, destination mask) pairs over entities: the flows the control judges."""

    def mask(side: Side) -> np.ndarray:
        if side == "all":
            return np.ones(n, dtype=bool)
        if side == "external":
            return is_ext.copy()
        m = np.zeros(n, dtype=bool)
        for u in side:
            k = index.get(u.entity)
            if k is not None:
                m[k] = True
        return m

    a = control.assertion
    return [(mask(s), mask(d)) for s, d in kind_of(a.kind).scope(zi, a)]


def _ends(t: ViolationTable, index: dict[str, int], lo: int = 0, hi: int | None = None
          ) -> tuple[np.ndarray, np.ndarray]:
    """Entity positions of the source and destination of rows ``lo`` … ``hi`` of ``t`` (-1 for
    both when the row is not a flow between two entities of ``index``)."""
    own = np.array([index.get(name, -1) for name in t.names] + [-1], dtype=np.int64)
    flow = np.array([v.kind == "flow" for v in t.templates] + [False], dtype=bool)
    t_src = np.array([index.get(v.src, -1) if v.src is not None else -1 for v in t.templates] + [-1], dtype=np.int64)
    t_dst = np.array([index.get(v.dst, -1) for v in t.templates] + [-1], dtype=np.int64)
    template, src, dst = t.template[lo:hi], t.src[lo:hi], t.dst[lo:hi]
    si = np.where(src >= 0, own[src], t_src[template])
    di = np.where(dst >= 0, own[dst], t_dst[template])
    ok = flow[template] & (si >= 0) & (di >= 0)
    si[~ok] = -1
    di[~ok] = -1
    return si, di


def _distinct_sorted_rows(rows: np.ndarray) -> tuple[list[bytes], np.ndarray]:
    """``np.unique(rows, axis=0, return_inverse=True)`` of a uint8 matrix, with the distinct rows
    as bytes: the same ascending (bytewise) order and inverse. A row of at most 7 bytes is read
    as one big-endian integer (same order), so one flat pass, or one 1-D sort, replaces the row
    sort of a million flows' control patterns."""
    n, width = rows.shape
    if width > 7 or not n:
        uniq, inv = np.unique(rows, axis=0, return_inverse=True)
        return [r.tobytes() for r in uniq], np.asarray(inv).reshape(-1)
    code = np.zeros(n, dtype=np.int64)
    for b in range(width):
        code = (code << 8) | rows[:, b]
    if width <= 2:  # at most 65,536 codes: a table, no sort
        present = np.zeros(1 << (8 * width), dtype=bool)
        present[code] = True
        values = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        inv = rank[code]
    else:
        values, inv = np.unique(code, return_inverse=True)
    return [int(v).to_bytes(width, "big") for v in values.tolist()], np.asarray(inv).reshape(-1)


def _sorted_cells(parts: list[np.ndarray]) -> np.ndarray:
    """Flat cell indices (``src * n + dst``) as one sorted, distinct int64 array. ``parts`` is
    emptied as it is copied into one array, which is sorted in place: a control may cite 13 M
    cells at 100k pods, and ``np.unique`` of their concatenation held four copies of them."""
    out = np.empty(sum(int(f.size) for f in parts), dtype=np.int64)
    at = 0
    parts.reverse()
    while parts:
        f = parts.pop()
        out[at:at + f.size] = f
        at += f.size
        del f
    out.sort()
    if out.size > 1:
        keep = np.empty(out.size, dtype=bool)
        keep[0] = True
        np.not_equal(out[1:], out[:-1], out=keep[1:])
        if not keep.all():
            return out[keep]
    return out


def _member(sorted_cells: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """``np.isin(cells, sorted_cells)`` by binary search (``sorted_cells`` sorted, distinct)."""
    if not sorted_cells.size:
        return np.zeros(cells.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_cells, cells), sorted_cells.size - 1)
    return sorted_cells[pos] == cells


@dataclass
class _Records:
    """Flow records in columns: source, destination, verdict code (0 allowed, 1 denied, 2
    unknown), sub-order (denied items' ports), controls pattern id, denied item (-1: none)."""

    i: np.ndarray
    j: np.ndarray
    v: np.ndarray
    sub: np.ndarray
    pattern: np.ndarray
    item: np.ndarray

    @classmethod
    def empty(cls) -> _Records:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, z, z)

    def take(self, order: np.ndarray) -> _Records:
        return _Records(*(getattr(self, f.name)[order] for f in fields(self)))

    @staticmethod
    def join(parts: Sequence[_Records]) -> _Records:
        return _Records(*(np.concatenate([getattr(p, f.name) for p in parts]).astype(np.int64)
                          for f in fields(_Records)))


Denied = tuple[tuple[int, int, str], tuple[str, set[str]]]  # (src, dst, ports), (decided_by, controls)


CITED_ROWS = 1 << 22  # violation rows turned into cells at a time (a control may have 13 M at 100k pods)


def _citations(findings: Sequence[Finding], index: dict[str, int], n: int, several: bool
               ) -> tuple[dict[str, np.ndarray], list[Denied]]:
    """The pairs the findings cite (every violation and unknown flow, listed or not) per control,
    as sorted flat cells (never an n × n mask), and the required flows found denied. Tables are
    read ``CITED_ROWS`` rows at a time, so the temporaries stay small beside the cells kept."""
    flats: dict[str, list[np.ndarray]] = {}
    cited: dict[str, np.ndarray] = {}
    denied: dict[tuple[int, int, str], tuple[str, set[str]]] = {}
    for f in findings:
        name = control_name(f, several)
        for t in (f.all_violations, f.all_unknown):
            is_denied = np.array([v.flow == "denied" for v in t.templates] + [False], dtype=bool)
            for lo in range(0, max(len(t), 1), CITED_ROWS):
                si, di = _ends(t, index, lo, lo + CITED_ROWS)
                ok = si >= 0
                flats.setdefault(name, []).append(si[ok] * n + di[ok])
                for k in np.flatnonzero(is_denied[t.template[lo:lo + CITED_ROWS]] & ok).tolist():  # a handful
                    v = t.row(lo + k)
                    denied.setdefault((int(si[k]), int(di[k]), v.ports), (v.decided_by, set()))[1].add(name)
                del si, di, ok
        # sorted before the next control's temporaries (a name met twice: merged)
        cited[name] = _sorted_cells([*([cited[name]] if name in cited else []), *flats.pop(name)])
    return cited, list(denied.items())


class _FlowStream:
    """``flows`` of the result, block by block of source rows: every zone-crossing flow (allowed
    or unknown on some port) and every flow a control cites. Counts cover every block; the
    records kept are the first ``max_evidence`` by (source, destination, verdict, ports) of a
    bounded candidate set merged after each block; their deciding rules, assurance and requests
    are computed at the end (they depend only on the pair's classes, not on the block)."""

    def __init__(self, analysis: Analysis, ents: Sequence[Entity], packs: Sequence[Pack],
                 zone_indexes: Sequence[ZoneIndex], zones_of: Sequence[Sequence[tuple[str, ...]]],
                 findings: Sequence[Finding], several: bool, max_evidence: int) -> None:
        self.analysis, self.ents, self.max_evidence = analysis, ents, max_evidence
        self.zones_of = zones_of
        n = self.n = len(ents)
        index = {e.name: k for k, e in enumerate(ents)}
        is_ext = np.array([e.kind == "external" for e in ents], dtype=bool)
        self.codes: list[tuple[np.ndarray, np.ndarray]] = []  # per pack: zone-set code, zoned
        for zones in zones_of:
            codes: dict[tuple[str, ...], int] = {}
            self.codes.append((np.array([codes.setdefault(z, len(codes)) for z in zones], dtype=np.int64),
                               np.array([bool(z) for z in zones], dtype=bool)))
        self.cited, self.denied = _citations(findings, index, n, several)  # per control: no union held
        # controls whose scope covers a pair: (name, [(source mask, destination mask)...]) in pack order
        self.scopes = [(control_name((pack.id, c.id), several), _scope_masks(zi, c, index, n, is_ext))
                       for pack, zi in zip(packs, zone_indexes, strict=True) for c in pack.controls]
        self.patterns: list[list[str]] = []
        self.pattern_id: dict[bytes, int] = {}
        names = [e.name for e in ents]
        self.rank = np.empty(n, dtype=np.int64)
        self.rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(n)
        d_ports = np.array([k[2] for k, _ in self.denied], dtype=object)
        d_sub = np.unique(d_ports, return_inverse=True)[1].reshape(-1) if self.denied else np.zeros(0, np.int64)
        d_i = np.array([k[0] for k, _ in self.denied], dtype=np.int64)
        d_j = np.array([k[1] for k, _ in self.denied], dtype=np.int64)
        m = len(self.denied)
        self.kept = self._cut(_Records(d_i, d_j, np.ones(m, np.int64), d_sub.astype(np.int64),
                                       np.full(m, -1, np.int64), np.arange(m, dtype=np.int64)))
        self.total = m
        self.crossing = int(self._crossing(d_i, d_j).sum()) if m else 0

    def _crossing(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Per pair (broadcastable positions): its ends are in different zones of some pack."""
        out = np.zeros(np.broadcast_shapes(i.shape, j.shape), dtype=bool)
        for code, zoned in self.codes:
            out |= (code[i] != code[j]) & (zoned[i] | zoned[j])
        return out

    def _cut(self, rec: _Records) -> _Records:
        """The records in flow order, the first ``max_evidence`` only (0: all)."""
        order = np.lexsort((rec.sub, rec.v, self.rank[rec.j], self.rank[rec.i]))
        if self.max_evidence:
            order = order[: self.max_evidence]
        return rec.take(order)

    def add(self, pm: PairMatrix, lo: int) -> None:
        """Count and keep the flows of one block (sources ``lo`` … ``lo + len(pm.src)``)."""
        n, hi = self.n, lo + len(pm.src)
        cited_mask = np.zeros((hi - lo, n), dtype=bool)
        for cells in self.cited.values():
            cited = cells[np.searchsorted(cells, lo * n):np.searchsorted(cells, hi * n)]
            cited_mask.flat[cited - lo * n] = True
        keep = self._crossing(np.arange(lo, hi)[:, None], np.arange(n)[None, :])
        table = AllowedFlows(self.analysis, pm, pm.src, self.ents, keep=keep | cited_mask)
        ii, jj = table.ii.astype(np.int64) + lo, table.jj.astype(np.int64)
        pattern = self._patterns(ii, jj, cited_mask[table.ii, table.jj])
        ka, ku = np.flatnonzero(table.has_allowed()), np.flatnonzero(table.has_unknown())
        both = np.concatenate([ka, ku])
        self.total += int(both.size)
        self.crossing += int(keep[table.ii[both], table.jj[both]].sum())
        new = _Records(ii[both], jj[both], np.r_[np.zeros(ka.size, np.int64), np.full(ku.size, 2, np.int64)],
                       np.zeros(both.size, np.int64), pattern[both], np.full(both.size, -1, np.int64))
        self.kept = self._cut(_Records.join([self.kept, new]))

    def _patterns(self, ii: np.ndarray, jj: np.ndarray, any_cited: np.ndarray) -> np.ndarray:
        """Per flow, the id of its controls: those whose scope covers the pair or that cite it,
        in pack order, sorted when some control cites the pair."""
        if not ii.size:
            return np.zeros(0, np.int64)
        cell = ii * self.n + jj
        bits = np.zeros((ii.size, len(self.scopes) + 1), dtype=bool)
        for c, (name, masks) in enumerate(self.scopes):
            hit = bits[:, c]
            for s, d in masks:
                hit |= s[ii] & d[jj]
            if name in self.cited:
                hit |= _member(self.cited[name], cell)
        bits[:, -1] = any_cited
        uniq, inv = _distinct_sorted_rows(np.packbits(bits, axis=1))
        ids = np.empty(len(uniq), dtype=np.int64)
        for u, key in enumerate(uniq):
            row = np.frombuffer(key, dtype=np.uint8)
            got = self.pattern_id.get(key)
            if got is None:
                on = np.unpackbits(row)[: len(self.scopes) + 1].astype(bool)
                names_ = [self.scopes[c][0] for c in np.flatnonzero(on[:-1])]
                got = self.pattern_id[key] = len(self.patterns)
                self.patterns.append(sorted(names_) if on[-1] else names_)
            ids[u] = got
        return ids[np.asarray(inv).reshape(-1)]

    def result(self, whole: PairMatrix | None, rows: int) -> dict[str, Any]:
        """Columnar: ``{"columns": FLOW_COLUMNS, "decided_by": [text...], "decided_by_detail":
        [[side...]...], "rows": [[...]...]}``; a row's ``decided_by`` is an index into the
        ``decided_by`` list and its structured form ``decided_by_detail`` (the same texts repeat
        across many thousands of flows). Rows are sorted by source, destination, verdict and ports;
        total/omitted/crossing count every flow, listed or not."""
        rec = self.kept
        facts = self._facts(rec, whole, rows)
        records: list[tuple[Any, ...]] = []  # (verdict, ports, i, j, assurance, decided_by, controls, request)
        for k, (i, j, v, d, p) in enumerate(zip(rec.i.tolist(), rec.j.tolist(), rec.v.tolist(), rec.item.tolist(),
                                                rec.pattern.tolist(), strict=True)):
            if d >= 0:
                (_, _, port_text), (why_d, controls_d) = self.denied[d]
                records.append(("denied", port_text, i, j, "", why_d, sorted(controls_d), ANY_REQUEST))
            else:
                port_text, assurance, why, request = facts[k]
                records.append(("allowed" if v == 0 else "unknown", port_text, i, j, assurance, why,
                                self.patterns[p], request))
        texts = sorted({x[5] for x in records})
        text_id = {t: k for k, t in enumerate(texts)}
        names = [e.name for e in self.ents]
        flat_zones: dict[int, list[str]] = {}

        def zones(k: int) -> list[str]:
            hit = flat_zones.get(k)
            if hit is None:
                hit = flat_zones[k] = sorted({z for code in self.zones_of for z in code[k]})
            return hit

        crossing = self._crossing(rec.i, rec.j).tolist()
        out_rows = [
            [names[i], names[j], zones(i), zones(j), port, request, verdict, assurance_, text_id[why_],
             controls, bool(crossing[n])]
            for n, (verdict, port, i, j, assurance_, why_, controls, request) in enumerate(records)
        ]
        return {"columns": list(FLOW_COLUMNS), "decided_by": [str(t) for t in texts],
                "decided_by_detail": [detail_of(t) for t in texts],
                "rows": out_rows, "total": self.total,
                "omitted": self.total - len(out_rows), "crossing": self.crossing}

    def _facts(self, rec: _Records, whole: PairMatrix | None, rows: int) -> dict[int, tuple[str, str, Any, str]]:
        """Per kept allowed/unknown record (its position): ports text, assurance, deciding rules
        and request, from ``whole`` (the one block) or from small matrices over just the kept
        records' distinct sources × destinations, ``rows`` sources at a time."""
        live = np.flatnonzero(rec.item < 0)
        out: dict[int, tuple[str, str, Any, str]] = {}
        if not live.size:
            return out
        if whole is not None:
            _pair_facts(self.analysis, whole, rec.i[live], rec.j[live], rec.v[live], live, out)
            return out
        sources = np.unique(rec.i[live])
        step = max(1, rows)  # sized for all n destinations: at most n here
        for c in range(0, sources.size, step):
            chunk = sources[c:c + step]
            mine = live[np.isin(rec.i[live], chunk)]
            dst = np.unique(rec.j[mine])
            pm = self.analysis.pairs("workload", [self.ents[s] for s in chunk.tolist()],
                                     [self.ents[d] for d in dst.tolist()])
            _pair_facts(self.analysis, pm, np.searchsorted(chunk, rec.i[mine]), np.searchsorted(dst, rec.j[mine]),
                        rec.v[mine], mine, out)
            del pm
        return out


def _pair_facts(analysis: Analysis, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, vv: np.ndarray,
                at: np.ndarray, out: dict[int, tuple[str, str, Any, str]]) -> None:
    """``out[at[k]]`` = (ports, assurance, decided_by, request) of pair (ii[k], jj[k]) of ``pm``,
    allowed (vv 0) or unknown (vv 2) record; deciding rules in one batch per verdict, in order."""
    allow_rows = pm.verdict == ALLOW
    unknown_rows = pm.verdict == UNKNOWN
    rows = pm.row[ii, jj]
    summary = analysis.ports.summary
    a, u = np.flatnonzero(vv == 0), np.flatnonzero(vv == 2)
    assurance_of: dict[int, str] = {}

    def assurance(i: int, j: int, r: int) -> str:
        """How the allowed flows of a pair are admitted; a function of its verdict row."""
        hit = assurance_of.get(r)
        if hit is None:
            hit = assurance_of[r] = analysis.assurance(pm, i, j, np.flatnonzero(allow_rows[r])) or ASSURANCE_UNKNOWN
        return hit

    if a.size:
        whys = analysis.decided_by_many(pm, ii[a], jj[a])
        # With an Istio layer: the request classes each allowed pair admits ("any request" without
        # an AuthorizationPolicy at the destination); without one, "*" (L3/L4 admits every request).
        requests = [""] * a.size
        if getattr(analysis, "l7_active", False):
            from auditor.reach import rows as reach_rows

            requests = reach_rows._requests(analysis, pm, ii[a], jj[a]).tolist()
        for k, why, request in zip(a.tolist(), whys, requests, strict=True):
            i, j, r = int(ii[k]), int(jj[k]), int(rows[k])
            out[int(at[k])] = (summary(allow_rows[r]), assurance(i, j, r), why, request or ANY_REQUEST)
    if u.size:
        whys = analysis.decided_by_many(pm, ii[u], jj[u], [np.flatnonzero(unknown_rows[r]) for r in rows[u]])
        for k, why in zip(u.tolist(), whys, strict=True):
            out[int(at[k])] = (summary(unknown_rows[int(rows[k])]), ASSURANCE_UNKNOWN, why, ANY_REQUEST)
