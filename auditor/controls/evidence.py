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
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.reach.flows import AllowedFlows, single_pods

UNZONED = "(unzoned)"
# Flow assurance (Analysis.assurance): network | identity | network+identity | none | unknown.
ASSURANCE_UNKNOWN = "unknown"
ANY_REQUEST = "*"  # no request-level (L7) layer in the input: every request of an allowed flow
FLOW_COLUMNS = ("src", "dst", "src_zones", "dst_zones", "ports", "request", "verdict", "assurance", "decided_by",
                "controls", "crossing")


def build_evidence(analysis: Analysis, packs: Sequence[Pack], zone_indexes: Sequence[ZoneIndex],
                   findings: Sequence[Finding], max_evidence: int = 0, flows: bool = True) -> dict[str, Any]:
    """The extra top-level keys of the audit result (see the module docstring); ``max_evidence``
    caps the flows listed (0: all), their counts stay exact. ``flows=False`` leaves out the
    zone matrix and the flow list (the workload × workload matrix): the CI gate needs neither."""
    ents = list(analysis.entities("workload"))
    several = len(packs) > 1
    zones_of = [[zi.zones_of(e.name) for e in ents] for zi in zone_indexes]
    evidence: dict[str, Any] = {
        "scope": _scope(analysis),
        "inventory": _inventory(analysis, ents, packs, zone_indexes, zones_of),
        "tiers": _tiers(analysis),
        "policies": policy_list(analysis),
        # every policy's rules, normalised (auditor/policy/summary.py): what `auditor diff` compares
        "policy_rules": policy_rules(analysis),
    }
    if not flows:
        return evidence
    pm = analysis.pairs("workload", ents, ents)
    return {
        **evidence,
        "zones_matrix": {
            pack.id: _matrix(analysis, pm, ents, pack, zi, zones)
            for pack, zi, zones in zip(packs, zone_indexes, zones_of, strict=True)
        },
        "flows": _flows(analysis, pm, ents, packs, zone_indexes, zones_of, findings, several, max_evidence),
    }


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


def _matrix(analysis: Analysis, pm: PairMatrix, ents: Sequence[Entity], pack: Pack, zi: ZoneIndex,
            zones_of: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    """Zone × zone over definite members: allowed (every member pair on some port), partial,
    unknown (none certainly allowed, some may be), denied, empty (a zone without members)."""
    is_ext = np.array([e.kind == "external" for e in ents], dtype=bool)
    single = single_pods(analysis, ents)
    names = list(pack.zones)
    members: dict[str, np.ndarray] = {z: np.array([k for k, zs in enumerate(zones_of) if z in zs], dtype=np.int64)
                                      for z in names}
    unzoned = np.array([k for k, zs in enumerate(zones_of) if not zs and not is_ext[k]], dtype=np.int64)
    order = sorted(names, key=lambda z: (pack.zones[z].external, names.index(z)))
    if unzoned.size:
        order.append(UNZONED)
        members[UNZONED] = unzoned
    allow_rows = pm.verdict == ALLOW
    unknown_rows = pm.verdict == UNKNOWN
    row_allow = allow_rows.any(axis=1)
    row_unknown = unknown_rows.any(axis=1)
    cells = []
    for a in order:
        for b in order:
            si, dj = members[a], members[b]
            rows = pm.row[np.ix_(si, dj)] if si.size and dj.size else np.zeros((0, 0), np.int32)
            keep = np.ones(rows.shape, dtype=bool)
            if rows.size:
                keep &= ~(is_ext[si][:, None] & is_ext[dj][None, :])
                same = si[:, None] == dj[None, :]
                keep &= ~(same & single[si][:, None])
            live = rows[keep]
            n = int(live.size)
            n_allow = int(row_allow[live].sum()) if n else 0
            n_unknown = int((~row_allow[live] & row_unknown[live]).sum()) if n else 0
            uniq = np.unique(live) if n else np.zeros(0, np.int64)
            ports = analysis.ports.summary(allow_rows[uniq].any(axis=0)) if n_allow else ""
            unknown_ports = analysis.ports.summary(unknown_rows[uniq].any(axis=0)) if n and row_unknown[uniq].any() else ""
            if n == 0:
                status = "empty"
            elif n_allow == n:
                status = "allowed"
            elif n_allow:
                status = "partial"
            elif n_unknown:
                status = "unknown"
            else:
                status = "denied"
            cells.append({"src": a, "dst": b, "status": status, "pairs": n, "allowed_pairs": n_allow,
                          "unknown_pairs": n_unknown, "ports": ports, "unknown_ports": unknown_ports})
    return {
        "zones": [{"name": z, "members": int(members[z].size),
                   "external": bool(z != UNZONED and pack.zones[z].external)} for z in order],
        "cells": cells,
    }


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


def _ends(t: ViolationTable, index: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Entity positions of the source and destination of every row of ``t`` (-1 for both when the
    row is not a flow between two entities of ``index``)."""
    own = np.array([index.get(name, -1) for name in t.names] + [-1], dtype=np.int64)
    flow = np.array([v.kind == "flow" for v in t.templates] + [False], dtype=bool)
    t_src = np.array([index.get(v.src, -1) if v.src is not None else -1 for v in t.templates] + [-1], dtype=np.int64)
    t_dst = np.array([index.get(v.dst, -1) for v in t.templates] + [-1], dtype=np.int64)
    si = np.where(t.src >= 0, own[t.src], t_src[t.template])
    di = np.where(t.dst >= 0, own[t.dst], t_dst[t.template])
    ok = flow[t.template] & (si >= 0) & (di >= 0)
    return np.where(ok, si, -1), np.where(ok, di, -1)


def _flows(analysis: Analysis, pm: PairMatrix, ents: Sequence[Entity], packs: Sequence[Pack],
           zone_indexes: Sequence[ZoneIndex], zones_of: Sequence[Sequence[tuple[str, ...]]],
           findings: Sequence[Finding], several: bool, max_evidence: int = 0) -> dict[str, Any]:
    """Columnar: ``{"columns": FLOW_COLUMNS, "decided_by": [text...], "decided_by_detail": [[side...]...],
    "rows": [[...]...]}``; a row's ``decided_by`` is an index into the ``decided_by`` list and its
    structured form ``decided_by_detail`` (the same texts repeat across many thousands of flows).
    Rows are sorted by source, destination, verdict and ports."""
    n = len(ents)
    index = {e.name: k for k, e in enumerate(ents)}
    is_ext = np.array([e.kind == "external" for e in ents], dtype=bool)
    crossing = np.zeros((n, n), dtype=bool)
    for zones in zones_of:
        codes: dict[tuple[str, ...], int] = {}
        code = np.array([codes.setdefault(z, len(codes)) for z in zones], dtype=np.int64)
        zoned = np.array([bool(z) for z in zones], dtype=bool)
        crossing |= (code[:, None] != code[None, :]) & (zoned[:, None] | zoned[None, :])

    # pairs the findings cite (every violation and unknown flow, listed or not), per control
    cited: dict[str, list[np.ndarray]] = {}  # control → flat (src * n + dst) cell indices
    denied: dict[tuple[int, int, str], tuple[str, set[str]]] = {}
    for f in findings:
        name = control_name(f, several)
        for t in (f.all_violations, f.all_unknown):
            si, di = _ends(t, index)
            ok = si >= 0
            cited.setdefault(name, []).append(si[ok] * n + di[ok])
            is_denied = np.array([v.flow == "denied" for v in t.templates] + [False], dtype=bool)[t.template]
            for k in np.flatnonzero(is_denied & ok).tolist():  # required flows found denied: a handful
                v = t.row(k)
                denied.setdefault((int(si[k]), int(di[k]), v.ports), (v.decided_by, set()))[1].add(name)
    cited_mask = np.zeros((n, n), dtype=bool)
    for flats in cited.values():
        for flat in flats:
            cited_mask.flat[flat] = True

    table = AllowedFlows(analysis, pm, ents, ents, keep=crossing | cited_mask)
    allow_rows, unknown_rows = table.allow_rows, table.unknown_rows
    ii, jj = table.ii, table.jj

    # controls whose scope covers each pair or that cite it, as a bit pattern per flow; the names
    # are in pack order, sorted when some control cites the pair
    control_ids: list[str] = []
    scope_bits: list[np.ndarray] = []
    cell = ii * n + jj
    any_cited = cited_mask[ii, jj]
    for pack, zi in zip(packs, zone_indexes, strict=True):
        for control in pack.controls:
            masks = _scope_masks(zi, control, index, n, is_ext)
            hit = np.zeros(ii.size, dtype=bool)
            for s, d in masks:
                hit |= s[ii] & d[jj]
            name = control_name((pack.id, control.id), several)
            if name in cited:
                mine = np.zeros(n * n, dtype=bool)
                for flat in cited[name]:
                    mine[flat] = True
                hit |= mine[cell]
            control_ids.append(name)
            scope_bits.append(hit)
    patterns: list[list[str]]
    if scope_bits and ii.size:
        bits = np.stack([*scope_bits, any_cited], axis=1)
        packed = np.packbits(bits, axis=1)
        uniq, inv = np.unique(packed, axis=0, return_inverse=True)
        unpacked = np.unpackbits(uniq, axis=1)[:, : len(control_ids) + 1].astype(bool)
        patterns = []
        for u in unpacked:
            names_ = [control_ids[c] for c in np.flatnonzero(u[:-1])]
            patterns.append(sorted(names_) if u[-1] else names_)
        pattern_of = np.asarray(inv).reshape(-1)
    else:
        patterns = [[]]
        pattern_of = np.zeros(ii.size, dtype=np.int64)

    assurance_of: dict[int, str] = {}

    def assurance(i: int, j: int, r: int) -> str:
        """How the allowed flows of a pair are admitted; a function of its verdict row."""
        hit = assurance_of.get(r)
        if hit is None:
            hit = assurance_of[r] = analysis.assurance(pm, i, j, np.flatnonzero(allow_rows[r])) or ASSURANCE_UNKNOWN
        return hit

    rows = table.rows
    has_allow = table.has_allowed()
    has_unknown = table.has_unknown()

    def ports(row: int, which: int) -> str:
        return table.text(table.ports(row, which))

    names = [e.name for e in ents]
    rank = np.empty(n, dtype=np.int64)
    rank[np.argsort(np.array(names, dtype=object), kind="stable")] = np.arange(n)
    flat_zones = [sorted({z for zones in zones_of for z in zones[k]}) for k in range(n)]

    # Every record (an allowed and/or an unknown one per pair, plus the required flows found
    # denied), sorted by source, destination, verdict and ports; only the first max_evidence
    # are written out (and only theirs get deciding rules, assurance and requests).
    ka, ku = np.flatnonzero(has_allow), np.flatnonzero(has_unknown)
    d_items = list(denied.items())
    d_ports = np.array([k[2] for k, _ in d_items], dtype=object)
    d_sub = np.unique(d_ports, return_inverse=True)[1].reshape(-1) if d_items else np.zeros(0, np.int64)
    rec_k = np.concatenate([ka, ku, -1 - np.arange(len(d_items))]).astype(np.int64)  # < 0: denied item
    rec_i = np.concatenate([ii[ka], ii[ku], np.array([k[0] for k, _ in d_items], dtype=np.int64)]).astype(np.int64)
    rec_j = np.concatenate([jj[ka], jj[ku], np.array([k[1] for k, _ in d_items], dtype=np.int64)]).astype(np.int64)
    rec_v = np.concatenate([np.zeros(ka.size), np.full(ku.size, 2), np.ones(len(d_items))]).astype(np.int64)
    rec_sub = np.concatenate([np.zeros(ka.size + ku.size, np.int64), d_sub.astype(np.int64)])
    order = np.lexsort((rec_sub, rec_v, rank[rec_j], rank[rec_i]))
    total = int(order.size)
    n_crossing = int(crossing[rec_i, rec_j].sum()) if total else 0
    if max_evidence:
        order = order[:max_evidence]
    rec_k, rec_v = rec_k[order], rec_v[order]
    sel_a = rec_k[rec_v == 0]
    sel_u = rec_k[rec_v == 2]
    why: dict[tuple[int, int], str] = {}
    if sel_a.size:
        why.update(zip(((int(k), 0) for k in sel_a), analysis.decided_by_many(pm, ii[sel_a], jj[sel_a]), strict=True))
    if sel_u.size:
        texts_u = analysis.decided_by_many(pm, ii[sel_u], jj[sel_u], [np.flatnonzero(unknown_rows[r]) for r in rows[sel_u]])
        why.update(zip(((int(k), 2) for k in sel_u), texts_u, strict=True))
    # With an Istio layer: the request classes each allowed pair admits ("any request" without
    # an AuthorizationPolicy at the destination); without one, "*" (L3/L4 admits every request).
    requests: dict[int, str] = {}
    if getattr(analysis, "l7_active", False) and sel_a.size:
        from auditor.reach import rows as reach_rows

        requests = dict(zip(sel_a.tolist(), reach_rows._requests(analysis, pm, ii[sel_a], jj[sel_a]).tolist(),
                            strict=True))
    # (verdict, ports, i, j, assurance, decided_by, controls, request)
    records: list[tuple[Any, ...]] = []
    for k, v in zip(rec_k.tolist(), rec_v.tolist(), strict=True):
        if k < 0:
            (i, j, port_text_), (why_d, controls_d) = d_items[-1 - k]
            records.append(("denied", port_text_, i, j, "", why_d, sorted(controls_d), ANY_REQUEST))
            continue
        i, j, r = int(ii[k]), int(jj[k]), int(rows[k])
        controls = patterns[int(pattern_of[k])]
        if v == 0:
            records.append(("allowed", ports(r, ALLOW), i, j, assurance(i, j, r), why[(k, 0)], controls,
                            requests.get(k) or ANY_REQUEST))
        else:
            records.append(("unknown", ports(r, UNKNOWN), i, j, ASSURANCE_UNKNOWN, why[(k, 2)], controls, ANY_REQUEST))
    texts = sorted({x[5] for x in records})
    text_id = {t: k for k, t in enumerate(texts)}
    out_rows = [
        [names[i], names[j], flat_zones[i], flat_zones[j], port, request, verdict, assurance_, text_id[why_],
         controls, bool(crossing[i, j])]
        for verdict, port, i, j, assurance_, why_, controls, request in records
    ]
    # total/omitted/crossing count every flow, listed or not (``rows`` are the first ones)
    return {"columns": list(FLOW_COLUMNS), "decided_by": [str(t) for t in texts],
            "decided_by_detail": [detail_of(t) for t in texts],
            "rows": out_rows, "total": total,
            "omitted": total - len(out_rows), "crossing": n_crossing}
