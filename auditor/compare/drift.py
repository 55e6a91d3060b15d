"""Compliance drift: what changed between two audit states (``auditor diff OLD NEW``).

Each side is normalised to what an audit result holds (``Side``):

- an **audit result** (``auditor audit -o``) or a **baseline** (``auditor baseline``) is read as
  is — nothing is recomputed, the cluster and the packs are not needed;
- a **snapshot** or **manifests** are analysed on the fly; with ``--controls`` they are audited
  (so zones, findings and zone-crossing flows exist), without controls only flows and policies
  can be compared.

The report (``DriftReport``) has five sections, each a sorted tuple of frozen records:

- ``controls``: controls whose verdict changed (or that appeared / disappeared);
- ``flows``: flows newly allowed, newly denied or newly unknown, per (source workload,
  destination workload), with the ports that changed (``PortSet`` arithmetic on both sides'
  port sets) and the deciding rules on the new side (and on the old one);
- ``workloads``: workloads that entered or left a zone, lost their zone, appeared or went;
- ``policies``: policies added, removed or modified, the modifications in words
  (``auditor/policy/summary.py``);
- ``waivers``: waivers that expired in between.

Flow scope. Audit results store the flows *between zones* (and every flow a control cites), so
that is what is compared when controls are involved; a pair missing from one side's table is
denied there when its endpoints are in different zones on that side, and otherwise outside the
comparison (counted in ``notes``) unless that side was analysed here, in which case its exact
verdict is computed. Without controls every workload pair is compared. When one side is a
baseline, both sides are reduced to what a baseline keeps: flows into protected zones.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.compare.baseline import Baseline
from auditor.compare.protected import into_protected
from auditor.controls.evidence import policy_list
from auditor.documents import DRIFT_KIND, DRIFT_SCHEMA, NONE, AuditDocument, as_written, ports_text
from auditor.documents import sniff as sniff_document
from auditor.policy.summary import describe_changes, describe_policy, policy_key, policy_rules
from auditor.portset import PortSet, universe
from auditor.reach.analysis import Analysis, Entity
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.reach.flows import AllowedFlows, single_pods
from auditor.snapshot import looks_like_snapshot

UNZONED = "(unzoned)"


# -- sides -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlowState:
    """One (src, dst) pair on one side: allowed and unknown ports, and the deciding rules."""

    allowed: PortSet = NONE
    unknown: PortSet = NONE
    decided_by: str = ""
    unknown_decided_by: str = ""


EMPTY_FLOW = FlowState()


@dataclass
class Side:
    """One side of a diff, as an audit result would describe it (``None`` = not available)."""

    label: str
    kind: str  # audit-result | baseline | snapshot | manifests
    info: dict[str, Any]
    findings: dict[tuple[str, str], Mapping[str, Any]] | None = None  # verdict, title, severity, counts
    flows: dict[tuple[str, str], FlowState] | None = None
    complete: bool = False  # flows holds every allowed/unknown workload pair (no controls)
    zones: dict[str, dict[str, tuple[str, ...]]] | None = None  # entity → pack → zones
    labels: dict[str, dict[str, str]] | None = None
    possible: dict[str, dict[str, tuple[str, ...]]] | None = None
    policies: dict[tuple[str, str, str], Mapping[str, Any]] | None = None  # key → summary
    policy_origin: dict[tuple[str, str, str], Any] = field(default_factory=dict)
    waivers: dict[str, Mapping[str, Any]] | None = None
    protected: dict[str, tuple[str, ...]] | None = None  # baseline: pack → protected zones
    packs: tuple[str, ...] = ()
    exact: Callable[[Sequence[tuple[str, str]], bool], dict[tuple[str, str], FlowState]] | None = None
    flows_omitted: int = 0  # flows the result counts but does not list (``auditor audit --max-evidence``)

    def crossing(self, src: str, dst: str) -> bool | None:
        """Whether the pair is between zones on this side; None when an endpoint is unknown here."""
        if self.zones is None:
            return None
        a, b = self.zones.get(src), self.zones.get(dst)
        if a is None or b is None:
            return None
        for pack in {*a, *b}:
            za, zb = a.get(pack, ()), b.get(pack, ())
            if za != zb and (za or zb):
                return True
        return False


def sniff(path: str) -> tuple[str, Any]:
    """(kind, loaded data or None): ``audit-result``, ``baseline``, ``snapshot`` or ``manifests``."""
    kind, data = sniff_document(path)
    if kind == "json":
        return ("snapshot", data) if looks_like_snapshot(data) else ("manifests", None)
    return kind, data


def side_from_result(label: str, result: AuditDocument | Mapping[str, Any], kind: str = "audit-result") -> Side:
    """A saved (or just computed) audit result as a side."""
    doc = result if isinstance(result, AuditDocument) else AuditDocument.parse(result, where=label)
    findings = {f.key: f for f in doc.findings}
    inv = doc.inventory
    zones = inv.zones() if inv is not None else {}
    labels = {w.name: dict(w.labels or {}) for w in inv.workloads} if inv is not None else {}
    possible = {w.name: dict(w.possible_zones) for w in inv.workloads} if inv is not None else {}
    flows: dict[tuple[str, str], FlowState] | None = None
    if doc.flows is not None and inv is not None:
        flows = {}
        for row in doc.flows.rows:
            if row.verdict not in ("allowed", "unknown"):
                continue
            key = (row.src, row.dst)
            cur = flows.get(key, EMPTY_FLOW)
            if row.verdict == "allowed":
                cur = FlowState(row.ports, cur.unknown, row.decided_by, cur.unknown_decided_by)
            else:
                cur = FlowState(cur.allowed, row.ports, cur.decided_by, row.decided_by)
            flows[key] = cur
    origin = {policy_key(p): p.get("origin") for p in doc.policies}
    policies = {policy_key(p): p for p in doc.policy_rules} if doc.policy_rules is not None else None
    waivers: dict[str, Mapping[str, Any]] = {w.id: w for w in doc.waivers}
    snap = doc.snapshot
    info = {
        "label": label,
        "kind": kind,
        "digest": snap.get("digest"),
        "content_digest": snap.get("content_digest"),
        "source": snap.get("source"),
        "captured_at": snap.get("captured_at"),
        "as_of": doc.as_of,
        "packs": [{"id": p.get("id"), "digest": p.get("digest")} for p in doc.packs],
        "verdict": doc.verdict,
    }
    return Side(label=label, kind=kind, info=info, findings=findings, flows=flows,
                zones=zones if inv is not None else None, labels=labels if inv is not None else None,
                possible=possible if inv is not None else None, policies=policies, policy_origin=origin,
                waivers=waivers, packs=tuple(str(p.get("id")) for p in doc.packs),
                flows_omitted=doc.flows.omitted if doc.flows is not None else 0)


def side_from_baseline(label: str, data: Mapping[str, Any]) -> Side:
    """A baseline file as a side: findings, flows into protected zones, zones, policies."""
    base = Baseline.from_dict(data, where=label)
    findings = {k: b.as_finding() for k, b in base.findings.items()}
    flows = {k: FlowState(f.allowed, f.unknown) for k, f in base.flows.items()}
    policies = {policy_key(p): p for p in base.policy_rules} if base.policy_rules is not None else None
    info = {"label": label, "kind": "baseline", "digest": base.snapshot.get("digest"),
            "content_digest": base.snapshot.get("content_digest"), "source": base.snapshot.get("source"),
            "captured_at": None, "as_of": base.as_of, "packs": [{"id": p.get("id"), "digest": p.get("digest")}
                                                              for p in base.packs],
            "verdict": base.verdict}
    return Side(label=label, kind="baseline", info=info, findings=findings, flows=flows,
                zones=base.zones, labels=base.labels, possible=None, policies=policies,
                waivers=base.waivers, protected=base.protected, packs=tuple(str(p.get("id")) for p in base.packs))


# -- raw inputs (snapshot / manifests) -------------------------------------------------------------------


def side_from_analysis(label: str, kind: str, analysis: Analysis, result: Mapping[str, Any] | None) -> Side:
    """A snapshot or manifests analysed here: audited (``result``) or flows only."""
    if result is not None:
        side = side_from_result(label, result, kind)
    else:
        snap = analysis.snapshot
        side = Side(label=label, kind=kind, info={
            "label": label, "kind": kind, "digest": snap.digest, "content_digest": snap.content_digest,
            "source": snap.source, "captured_at": snap.captured_at, "as_of": None, "packs": [], "verdict": None})
        side.flows = all_flows(analysis)
        side.complete = True
        side.policies = {policy_key(p): p for p in policy_rules(analysis)}
        side.policy_origin = {policy_key(p): p.get("origin") for p in policy_list(analysis)}
    side.exact = functools.partial(exact_flows, analysis)
    return side


def all_flows(analysis: Analysis) -> dict[tuple[str, str], FlowState]:
    """Every workload pair with an allowed or unknown port (a pod to itself and external to
    external excluded, as in the audit's flows), with its deciding rules."""
    ents = analysis.entities("workload")
    table = AllowedFlows(analysis, analysis.pairs("workload", ents, ents), ents, ents)
    has_allow, has_unknown = table.has_allowed(), table.has_unknown()
    a, u = np.flatnonzero(has_allow), np.flatnonzero(has_unknown)
    a_iter = iter(table.decided_by(table.ii[a], table.jj[a]))
    u_iter = iter(table.decided_by(table.ii[u], table.jj[u], unknown=True))
    out: dict[tuple[str, str], FlowState] = {}
    every = table.universe
    for f, is_a, is_u in zip(table.flows(), has_allow.tolist(), has_unknown.tolist(), strict=True):
        out[(ents[f.src].name, ents[f.dst].name)] = FlowState(
            as_written(f.allowed, every), as_written(f.unknown, every), next(a_iter) if is_a else "",
            next(u_iter) if is_u else "")
    return out


def exact_flows(analysis: Analysis, pairs: Sequence[tuple[str, str]], denied_why: bool = False
                ) -> dict[tuple[str, str], FlowState]:
    """The verdicts of some pairs on an analysed side (absent entities: nothing allowed). With
    ``denied_why`` the ``decided_by`` of a pair without allowed ports names what denies it."""
    index: dict[str, Entity] = {e.name: e for e in analysis.entities("workload")}
    srcs = sorted({s for s, _ in pairs if s in index})
    dsts = sorted({d for _, d in pairs if d in index})
    out: dict[tuple[str, str], FlowState] = dict.fromkeys(pairs, EMPTY_FLOW)
    if not srcs or not dsts:
        return out
    si = {n: k for k, n in enumerate(srcs)}
    di = {n: k for k, n in enumerate(dsts)}
    pm = analysis.pairs("workload", [index[n] for n in srcs], [index[n] for n in dsts])
    single = dict(zip(srcs, single_pods(analysis, [index[n] for n in srcs]).tolist(), strict=True))
    todo = [(s, d) for s, d in pairs if s in si and d in di and not (s == d and single[s])]
    if not todo:
        return out
    ii = np.array([si[s] for s, _ in todo], dtype=np.int64)
    jj = np.array([di[d] for _, d in todo], dtype=np.int64)
    why = analysis.decided_by_many(pm, ii, jj)
    every = universe(analysis.ports)
    for k, pair in enumerate(todo):
        v = pm.verdict[pm.row[ii[k], jj[k]]]
        allowed = as_written(PortSet.from_atoms(analysis.ports, v == ALLOW), every)
        unknown = as_written(PortSet.from_atoms(analysis.ports, v == UNKNOWN), every)
        text = why[k] if (allowed or unknown or denied_why) else ""
        out[pair] = FlowState(allowed, unknown, text if allowed else "", text if unknown and not allowed else "")
        if denied_why and not allowed and not unknown:
            out[pair] = FlowState(NONE, NONE, text, "")
    return out


# -- the report ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlChange:
    pack: str
    control: str
    title: str
    severity: str
    old: str | None  # verdict; None = not in OLD
    new: str | None
    old_counts: Mapping[str, int] = field(default_factory=dict)
    new_counts: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "control": self.control, "title": self.title, "severity": self.severity,
                "old": self.old, "new": self.new, "old_counts": dict(self.old_counts),
                "new_counts": dict(self.new_counts)}


@dataclass(frozen=True)
class FlowChange:
    change: str  # allowed | denied | unknown (newly …)
    src: str
    dst: str
    ports: str
    src_zones: tuple[str, ...] = ()
    dst_zones: tuple[str, ...] = ()
    decided_by: str = ""  # on the new side
    was_decided_by: str = ""  # on the old side
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "src": self.src, "dst": self.dst, "ports": self.ports,
                "src_zones": list(self.src_zones), "dst_zones": list(self.dst_zones),
                "decided_by": self.decided_by, "was_decided_by": self.was_decided_by, "note": self.note}


@dataclass(frozen=True)
class WorkloadChange:
    workload: str
    change: str  # added | removed | entered | left | moved | lost-zone
    old_zones: tuple[str, ...]
    new_zones: tuple[str, ...]
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"workload": self.workload, "change": self.change, "old_zones": list(self.old_zones),
                "new_zones": list(self.new_zones), "detail": self.detail}


@dataclass(frozen=True)
class PolicyChange:
    change: str  # added | removed | modified
    kind: str
    namespace: str
    name: str
    ref: str
    details: tuple[str, ...]
    file: str = ""
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "kind": self.kind, "namespace": self.namespace, "name": self.name,
                "ref": self.ref, "details": list(self.details), "file": self.file, "line": self.line}


@dataclass(frozen=True)
class WaiverChange:
    id: str
    control: str
    change: str  # expired
    expires: str
    old_status: str
    new_status: str
    covers: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "control": self.control, "change": self.change, "expires": self.expires,
                "old_status": self.old_status, "new_status": self.new_status, "covers": self.covers}


FLOW_ORDER = {"allowed": 0, "unknown": 1, "denied": 2}
WORKLOAD_ORDER = {"lost-zone": 0, "entered": 1, "moved": 2, "left": 3, "added": 4, "removed": 5}
POLICY_ORDER = {"added": 0, "modified": 1, "removed": 2}


@dataclass(frozen=True)
class DriftReport:
    old: Mapping[str, Any]
    new: Mapping[str, Any]
    flow_scope: str
    controls: tuple[ControlChange, ...] = ()
    flows: tuple[FlowChange, ...] = ()
    workloads: tuple[WorkloadChange, ...] = ()
    policies: tuple[PolicyChange, ...] = ()
    waivers: tuple[WaiverChange, ...] = ()
    unavailable: tuple[str, ...] = ()  # sections that could not be compared, with why
    notes: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        return {
            "controls": len(self.controls),
            "flows_allowed": sum(1 for f in self.flows if f.change == "allowed"),
            "flows_unknown": sum(1 for f in self.flows if f.change == "unknown"),
            "flows_denied": sum(1 for f in self.flows if f.change == "denied"),
            "workloads": len(self.workloads),
            "policies_added": sum(1 for p in self.policies if p.change == "added"),
            "policies_modified": sum(1 for p in self.policies if p.change == "modified"),
            "policies_removed": sum(1 for p in self.policies if p.change == "removed"),
            "waivers_expired": len(self.waivers),
        }

    @property
    def changed(self) -> bool:
        return bool(self.controls or self.flows or self.workloads or self.policies or self.waivers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": DRIFT_SCHEMA,
            "kind": DRIFT_KIND,
            "old": dict(self.old),
            "new": dict(self.new),
            "summary": {"changed": self.changed, **self.counts},
            "controls": [c.to_dict() for c in self.controls],
            "flows": {"scope": self.flow_scope, "changes": [f.to_dict() for f in self.flows]},
            "workloads": [w.to_dict() for w in self.workloads],
            "policies": [p.to_dict() for p in self.policies],
            "waivers": [w.to_dict() for w in self.waivers],
            "unavailable": list(self.unavailable),
            "notes": list(self.notes),
        }


# -- comparing -------------------------------------------------------------------------------------------


def _zone_names(z: Mapping[str, Sequence[str]] | None, several: bool) -> tuple[str, ...]:
    if not z:
        return ()
    if several:
        return tuple(sorted(f"{p}:{x}" for p, zs in z.items() for x in zs))
    return tuple(sorted({x for zs in z.values() for x in zs}))


def compare_controls(old: Side, new: Side) -> list[ControlChange]:
    assert old.findings is not None and new.findings is not None
    out = []
    for key in sorted({*old.findings, *new.findings}):
        o, n = old.findings.get(key), new.findings.get(key)
        ov = None if o is None else str(o.get("verdict"))
        nv = None if n is None else str(n.get("verdict"))
        if ov == nv:
            continue
        ref = n or o or {}
        out.append(ControlChange(pack=key[0], control=key[1], title=str(ref.get("title", "")),
                                 severity=str(ref.get("severity", "")), old=ov, new=nv,
                                 old_counts=dict((o or {}).get("counts") or {}),
                                 new_counts=dict((n or {}).get("counts") or {})))
    return out


def _restrict_to_protected(side: Side, protected: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], FlowState]:
    """A side's flows reduced to those a baseline keeps: into a protected zone from outside it."""
    assert side.flows is not None
    if side.kind == "baseline":
        return dict(side.flows)
    zones = side.zones or {}
    return {k: v for k, v in side.flows.items() if into_protected(zones.get(k[0]), zones.get(k[1]), protected)}


def compare_flows(old: Side, new: Side, notes: list[str]) -> tuple[list[FlowChange], str]:
    assert old.flows is not None and new.flows is not None
    several = len({*old.packs, *new.packs}) > 1
    if old.kind == "baseline" or new.kind == "baseline":
        protected: dict[str, set[str]] = {}
        for s in (old, new):
            for p, zs in (s.protected or {}).items():
                protected.setdefault(p, set()).update(zs)
        prot = {p: tuple(sorted(z)) for p, z in protected.items()}
        old_flows, new_flows = _restrict_to_protected(old, prot), _restrict_to_protected(new, prot)
        scope = "flows into protected zones (" + ", ".join(
            f"{p}:{z}" if several else z for p, zs in sorted(prot.items()) for z in zs) + ")"
        complete = False
    else:
        old_flows, new_flows = old.flows, new.flows
        complete = old.complete and new.complete
        scope = "every workload pair" if complete else "flows between zones (and flows a control cites)"
    keys = sorted({*old_flows, *new_flows})
    missing: dict[str, list[tuple[str, str]]] = {"old": [], "new": []}
    resolved: dict[str, dict[tuple[str, str], FlowState | None]] = {"old": {}, "new": {}}
    for which, side, flows in (("old", old, old_flows), ("new", new, new_flows)):
        for k in keys:
            if k in flows:
                continue
            if side.exact is not None and not side.complete:
                missing[which].append(k)
            elif side.flows_omitted:
                resolved[which][k] = None  # not listed: maybe one of the flows the result left out
            elif side.complete or side.kind == "baseline" or old.kind == "baseline" or new.kind == "baseline":
                resolved[which][k] = EMPTY_FLOW
            else:
                crossing = side.crossing(*k)
                zones = side.zones or {}
                if k[0] not in zones or k[1] not in zones or crossing:
                    resolved[which][k] = EMPTY_FLOW  # absent workload, or between zones and not listed: denied
                else:
                    resolved[which][k] = None  # inside one zone there: not in the table, not comparable
    for which, side in (("old", old), ("new", new)):
        if missing[which] and side.exact is not None:
            resolved[which].update(side.exact(missing[which], which == "new"))
    out: list[FlowChange] = []
    skipped = 0
    ref_zones = new.zones or old.zones or {}
    for k in keys:
        o = old_flows.get(k, resolved["old"].get(k))
        n = new_flows.get(k, resolved["new"].get(k))
        if o is None or n is None:
            skipped += 1
            continue
        sz = _zone_names((new.zones or {}).get(k[0]) or (old.zones or {}).get(k[0]) or ref_zones.get(k[0]), several)
        dz = _zone_names((new.zones or {}).get(k[1]) or (old.zones or {}).get(k[1]) or ref_zones.get(k[1]), several)
        note = ""
        if old.zones is not None and (k[0] not in old.zones or k[1] not in old.zones):
            note = "new workload"
        elif new.zones is not None and (k[0] not in new.zones or k[1] not in new.zones):
            note = "workload removed"
        added = n.allowed.minus(o.allowed)
        if added:
            out.append(FlowChange("allowed", k[0], k[1], ports_text(added), sz, dz, n.decided_by,
                                  o.decided_by or o.unknown_decided_by, note))
        unknown = n.unknown.minus(o.unknown)
        if unknown:
            out.append(FlowChange("unknown", k[0], k[1], ports_text(unknown), sz, dz, n.unknown_decided_by,
                                  o.decided_by or o.unknown_decided_by, note))
        gone = o.allowed.minus(n.allowed).minus(n.unknown)
        if gone:
            out.append(FlowChange("denied", k[0], k[1], ports_text(gone), sz, dz,
                                  n.decided_by if not n.allowed else "", o.decided_by, note))
    for which, side in (("OLD", old), ("NEW", new)):
        if side.flows_omitted:
            notes.append(f"{which} lists only some of its flows ({side.flows_omitted} left out: an audit result "
                         "written with --max-evidence); a pair it does not list is not compared — write the results "
                         "with --max-evidence 0, or diff the snapshots or manifests")
    if skipped:
        notes.append(f"{skipped} pair(s) are listed on one side only and lie inside one zone on the other: a saved "
                     "result does not list flows inside a zone, so they are not compared (audit the manifests or "
                     "snapshot on the fly for an exact answer)")
    out.sort(key=lambda f: (FLOW_ORDER[f.change], f.src, f.dst, f.ports))
    return out, scope


def _label_changes(old: Mapping[str, str], new: Mapping[str, str]) -> str:
    parts = []
    for k in sorted({*old, *new}):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        if a is None:
            parts.append(f"{k}={b} added")
        elif b is None:
            parts.append(f"{k}={a} removed")
        else:
            parts.append(f"{k}: {a} → {b}")
    return "labels: " + ", ".join(parts) if parts else ""


def compare_workloads(old: Side, new: Side) -> list[WorkloadChange]:
    assert old.zones is not None and new.zones is not None
    several = len({*old.packs, *new.packs}) > 1
    externals_old = {n for n in old.zones if n not in (old.labels or {})}
    externals_new = {n for n in new.zones if n not in (new.labels or {})}
    out: list[WorkloadChange] = []
    for name in sorted({*old.zones, *new.zones} - externals_old - externals_new):
        oz = _zone_names(old.zones.get(name), several) if name in old.zones else None
        nz = _zone_names(new.zones.get(name), several) if name in new.zones else None
        labels = _label_changes((old.labels or {}).get(name, {}), (new.labels or {}).get(name, {})) \
            if oz is not None and nz is not None else ""
        if oz is None:
            assert nz is not None
            out.append(WorkloadChange(name, "added", (), nz, "in " + (", ".join(nz) or UNZONED)))
            continue
        if nz is None:
            out.append(WorkloadChange(name, "removed", oz, (), "was in " + (", ".join(oz) or UNZONED)))
            continue
        if oz == nz:
            continue
        entered = [z for z in nz if z not in oz]
        left = [z for z in oz if z not in nz]
        if not nz:
            change = "lost-zone"
        elif entered and left:
            change = "moved"
        elif entered:
            change = "entered"
        else:
            change = "left"
        words = []
        if entered:
            words.append("entered " + ", ".join(entered))
        if left:
            words.append("left " + ", ".join(left))
        if not nz:
            words.append("now in no zone")
        if labels:
            words.append(labels)
        out.append(WorkloadChange(name, change, oz, nz, "; ".join(words)))
    out.sort(key=lambda w: (WORKLOAD_ORDER[w.change], w.workload))
    return out


def _origin(o: Any) -> tuple[str, int | None]:
    if isinstance(o, Mapping):
        line = o.get("line")
        return str(o.get("file") or ""), int(line) if isinstance(line, int) else None
    return "", None


def compare_policies(old: Side, new: Side) -> list[PolicyChange]:
    assert old.policies is not None and new.policies is not None
    out: list[PolicyChange] = []
    for key in sorted({*old.policies, *new.policies}):
        o, n = old.policies.get(key), new.policies.get(key)
        if o is not None and n is not None:
            details = describe_changes(o, n)
            if not details:
                continue
            change, ref, origin = "modified", str(n.get("ref")), new.policy_origin.get(key)
        elif n is not None:
            change, ref, origin, details = "added", str(n.get("ref")), new.policy_origin.get(key), [describe_policy(n)]
        else:
            assert o is not None
            change, ref, origin, details = "removed", str(o.get("ref")), old.policy_origin.get(key), \
                [describe_policy(o)]
        file, line = _origin(origin)
        out.append(PolicyChange(change, key[0], key[1], key[2], ref, tuple(details), file, line))
    out.sort(key=lambda p: (POLICY_ORDER[p.change], p.kind, p.namespace, p.name))
    return out


def _policy_names(side: Side) -> set[tuple[str, str, str]]:
    return set(side.policy_origin)


def compare_waivers(old: Side, new: Side) -> list[WaiverChange]:
    assert old.waivers is not None and new.waivers is not None
    out = []
    for wid in sorted(new.waivers):
        n = new.waivers[wid]
        o = old.waivers.get(wid)
        if n.get("status") != "expired":
            continue
        if o is not None and o.get("status") == "expired":
            continue
        out.append(WaiverChange(id=wid, control=str(n.get("control", "")), change="expired",
                                expires=str(n.get("expires", "")), old_status=str((o or {}).get("status", "absent")),
                                new_status="expired", covers=int(n.get("covers") or 0)))
    return out


def diff(old: Side, new: Side) -> DriftReport:
    """Compare two sides; a section neither side can support is listed in ``unavailable``."""
    unavailable: list[str] = []
    notes: list[str] = []
    controls: list[ControlChange] = []
    if old.findings is not None and new.findings is not None:
        controls = compare_controls(old, new)
    else:
        unavailable.append("controls: needs audit results on both sides (give --controls to audit "
                           "snapshots or manifests on the fly)")
    flows: list[FlowChange] = []
    scope = ""
    if old.flows is not None and new.flows is not None:
        if (old.complete != new.complete) and not (old.kind == "baseline" or new.kind == "baseline"):
            unavailable.append("flows: one side has zones and the other not (give --controls to both)")
        else:
            flows, scope = compare_flows(old, new, notes)
    else:
        unavailable.append("flows: a side has no flows (an audit result written before reports existed)")
    workloads: list[WorkloadChange] = []
    if old.zones is not None and new.zones is not None and old.findings is not None and new.findings is not None:
        workloads = compare_workloads(old, new)
    else:
        unavailable.append("workloads: zones need control packs (give --controls)")
    policies: list[PolicyChange] = []
    if old.policies is not None and new.policies is not None:
        policies = compare_policies(old, new)
    else:
        names_old, names_new = _policy_names(old), _policy_names(new)
        if names_old and names_new:  # older results: no rules, but added / removed still tell
            for key in sorted(names_new - names_old):
                f, ln = _origin(new.policy_origin.get(key))
                policies.append(PolicyChange("added", *key, ref=f"{key[0]} {key[1]}/{key[2]}", details=(), file=f,
                                             line=ln))
            for key in sorted(names_old - names_new):
                f, ln = _origin(old.policy_origin.get(key))
                policies.append(PolicyChange("removed", *key, ref=f"{key[0]} {key[1]}/{key[2]}", details=(), file=f,
                                             line=ln))
            unavailable.append("policies: modifications need `policy_rules` on both sides (results written by an "
                               "older version have only the policy list)")
        else:
            unavailable.append("policies: not in a side (a baseline written without policy rules)")
    waivers: list[WaiverChange] = []
    if old.waivers is not None and new.waivers is not None:
        waivers = compare_waivers(old, new)
    old_packs = {p["id"]: p.get("digest") for p in old.info.get("packs", [])}
    new_packs = {p["id"]: p.get("digest") for p in new.info.get("packs", [])}
    for pid in sorted(old_packs.keys() & new_packs.keys()):
        if old_packs[pid] != new_packs[pid]:
            notes.append(f"pack {pid} differs between the sides (digest {str(old_packs[pid])[:12]} → "
                         f"{str(new_packs[pid])[:12]}): verdict changes may come from the pack, not the cluster")
    for pid in sorted(old_packs.keys() ^ new_packs.keys()):
        notes.append(f"pack {pid} is on one side only")
    return DriftReport(old=old.info, new=new.info, flow_scope=scope, controls=tuple(controls), flows=tuple(flows),
                       workloads=tuple(workloads), policies=tuple(policies), waivers=tuple(waivers),
                       unavailable=tuple(unavailable), notes=tuple(notes))

