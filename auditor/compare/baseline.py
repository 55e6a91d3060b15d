"""The baseline: what ``auditor gate`` compares an audit with (``auditor baseline … -o BASELINE.json``).

Kind ``zone-auditor/baseline``: what the gate needs from an accepted audit, nothing that changes
from run to run (no capture time, no deciding-rule texts), one record per line
(``auditor.canonical.dumps_lines``) so that a pull request that updates it shows each newly
accepted failure as one added line:

- ``packs`` (id, path, SHA-256), ``zones_file`` / ``waivers_file`` digests, ``as_of``;
- ``snapshot``: ``content_digest`` and ``source`` of the audited input;
- ``protected_zones``: per pack, the workload zones its controls protect (targets of
  ``no-flow`` and ``allow-only`` ``to``, ``isolated`` zones with ingress, ``mtls-required``
  and ``identity-required`` zones);
- ``findings``: per control its verdict, the *open* violations and the undecided items as rows
  ``[kind, src, dst, ports, flow, reason]``, and the blocking reasons;
- ``flows``: every allowed or undecided flow into a protected zone from outside that zone,
  ``[src, dst, allowed ports, unknown ports]``;
- ``inventory`` (workload → zones per pack, labels), ``policy_rules`` (for ``auditor diff``),
  ``waivers`` (status and expiry).

A full audit result (``auditor audit -o``) is accepted as a baseline too (``Baseline.from_document``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.canonical import dumps_lines
from auditor.compare.flowcols import FlowColumns, ProtectedFlow
from auditor.compare.protected import into_protected, protected_from_document
from auditor.documents import (
    BASELINE_KIND,
    BASELINE_SCHEMA,
    RESULT_KIND,
    AuditDocument,
    ControlFinding,
    FlowTable,
    Inventory,
    Row,
    as_written,
    ports_text,
    read_json,
)
from auditor.errors import AuditorError
from auditor.portset import PortSet
from auditor.reach.analysis import Analysis
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.reach.flows import AllowedFlows

FLOW_COLUMNS = ("src", "dst", "allowed", "unknown")


@dataclass
class BaselineFinding:
    pack: str
    control: str
    title: str
    severity: str
    verdict: str
    violations: list[Row] = field(default_factory=list)  # open (not waived)
    unknown: list[Row] = field(default_factory=list)
    blocking: list[str] = field(default_factory=list)
    waived: int = 0
    complete: bool = True  # False: read from an audit result that lists only some violations

    def as_finding(self) -> dict[str, Any]:
        """The keys ``auditor diff`` reads from a finding."""
        return {"pack": self.pack, "control": self.control, "title": self.title, "severity": self.severity,
                "verdict": self.verdict, "counts": {"violations": len(self.violations), "waived": self.waived,
                                                    "unknown": len(self.unknown)}}

    def to_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "control": self.control, "title": self.title, "severity": self.severity,
                "verdict": self.verdict, "blocking": sorted(self.blocking), "waived": self.waived,
                "violations": [list(r) for r in sorted(self.violations, key=_row_key)],
                "unknown": [list(r) for r in sorted(self.unknown, key=_row_key)]}


def _row_key(r: Row) -> tuple[str, ...]:
    return tuple("" if x is None else str(x) for x in r)


@dataclass
class Baseline:
    """A baseline file in memory (or the baseline view of an audit result)."""

    tool_version: str
    snapshot: dict[str, Any]
    packs: list[dict[str, Any]]
    zones_file: dict[str, Any] | None
    waivers_file: dict[str, Any] | None
    as_of: str | None
    verdict: str
    protected: dict[str, tuple[str, ...]]
    findings: dict[tuple[str, str], BaselineFinding]
    flows: Mapping[tuple[str, str], ProtectedFlow]  # FlowColumns when read from a file or an analysis
    zones: dict[str, dict[str, tuple[str, ...]]]
    labels: dict[str, dict[str, str]]
    policy_rules: list[dict[str, Any]] | None
    waivers: dict[str, dict[str, Any]]
    path: str = ""

    # -- reading --------------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str) -> Baseline:
        if not os.path.isfile(path):
            raise AuditorError("no such baseline file (create it with: auditor baseline INPUT... --controls PACK "
                               "-o BASELINE.json)", where=path)
        base = cls.from_dict(read_json(path), where=path)
        base.path = path
        return base

    @classmethod
    def from_dict(cls, data: Any, *, where: str) -> Baseline:
        if not isinstance(data, Mapping):
            raise AuditorError("not a baseline (expected a JSON object)", where=where)
        kind = data.get("kind")
        if kind == RESULT_KIND:
            return cls.from_document(AuditDocument.parse(data, where=where), where=where)
        if kind != BASELINE_KIND:
            raise AuditorError(f"not a baseline (kind {kind!r}); create one with: auditor baseline INPUT... "
                               "--controls PACK -o BASELINE.json (an `auditor audit -o` result works too)", where=where)
        if data.get("schema_version") != BASELINE_SCHEMA:
            raise AuditorError(f"baseline schema_version {data.get('schema_version')!r} is not supported "
                               f"(supported: {BASELINE_SCHEMA}); re-create it with this version", where=where)
        try:
            findings = {}
            for f in data["findings"]:
                bf = BaselineFinding(
                    pack=str(f["pack"]), control=str(f["control"]), title=str(f.get("title", "")),
                    severity=str(f.get("severity", "")), verdict=str(f["verdict"]),
                    violations=tuple_rows(f.get("violations", [])), unknown=tuple_rows(f.get("unknown", [])),
                    blocking=[str(x) for x in f.get("blocking", [])], waived=int(f.get("waived", 0)))
                findings[(bf.pack, bf.control)] = bf
            flows = FlowColumns.from_rows(data["flows"]["rows"])
            inv = data.get("inventory") or {}
            zones = {str(w[0]): {p: tuple(z) for p, z in w[1].items()} for w in inv.get("workloads", [])}
            labels = {str(w[0]): dict(w[2]) for w in inv.get("workloads", [])}
            zones.update({str(x[0]): {p: tuple(z) for p, z in x[1].items()} for x in inv.get("external_networks", [])})
            return cls(
                tool_version=str(data.get("tool_version", "")), snapshot=dict(data.get("snapshot") or {}),
                packs=list(data.get("packs") or []), zones_file=data.get("zones_file"),
                waivers_file=data.get("waivers_file"), as_of=data.get("as_of"),
                verdict=str((data.get("summary") or {}).get("verdict", "")),
                protected={str(p): tuple(z) for p, z in (data.get("protected_zones") or {}).items()},
                findings=findings, flows=flows, zones=zones, labels=labels,
                policy_rules=data.get("policy_rules"),
                waivers={str(w["id"]): dict(w) for w in data.get("waivers") or []})
        except (KeyError, TypeError, IndexError, AttributeError, ValueError) as exc:
            raise AuditorError(f"malformed baseline ({type(exc).__name__}: {exc})", where=where) from None

    @classmethod
    def from_document(cls, doc: AuditDocument, *, where: str = "audit result",
                      protected: Mapping[str, Sequence[str]] | None = None) -> Baseline:
        """The baseline view of a saved (or just written) audit result."""
        prot = {str(p): tuple(z) for p, z in (protected or protected_from_document(doc)).items()}
        findings = {f.key: _baseline_finding(f) for f in doc.findings}
        zones, labels = _inventory(doc.inventory)
        flows = protected_flows(doc.flows, zones, prot)
        waivers = {w.id: {k: w.get(k) for k in ("id", "control", "status", "covers", "expires")} for w in doc.waivers}
        return cls(
            tool_version=doc.tool_version,
            snapshot={k: doc.snapshot.get(k) for k in ("content_digest", "source", "digest")},
            packs=[{k: p.get(k) for k in ("id", "title", "version", "path", "digest")} for p in doc.packs],
            zones_file=doc.zones_file,
            waivers_file=({k: v for k, v in doc.waivers_file.items() if k in ("path", "digest")}
                          if doc.waivers_file else None),
            as_of=doc.as_of, verdict=doc.verdict, protected=prot, findings=findings, flows=flows, zones=zones,
            labels=labels, policy_rules=list(doc.policy_rules) if doc.policy_rules is not None else None,
            waivers=waivers, path=where)

    @classmethod
    def from_result(cls, result: Mapping[str, Any], *, where: str = "audit result",
                    protected: Mapping[str, Sequence[str]] | None = None,
                    findings: Iterable[Any] | None = None) -> Baseline:
        """The baseline view of an audit result: a result dict (read as an ``AuditDocument``) or,
        for speed, the result's evidence keys with ``findings`` given as ``Finding`` objects."""
        if findings is None:
            return cls.from_document(AuditDocument.parse(result, where=where), where=where, protected=protected)
        try:
            prot = {str(p): tuple(z) for p, z in (protected or {}).items()}
            out = {}
            for f in findings:
                bf = _baseline_finding(f)
                out[(bf.pack, bf.control)] = bf
            inv = result.get("inventory")
            zones, labels = _inventory(Inventory.parse(inv) if inv is not None else None)
            fl = result.get("flows")
            flows = protected_flows(FlowTable.parse(fl) if fl else None, zones, prot)
            snap = result.get("snapshot") or {}
            waivers = {str(w["id"]): {k: w.get(k) for k in ("id", "control", "status", "covers", "expires")}
                       for w in result.get("waivers") or []}
            summary = result.get("summary") or {}
            return cls(
                tool_version=str(result.get("tool_version", "")),
                snapshot={"content_digest": snap.get("content_digest"), "source": snap.get("source"),
                          "digest": snap.get("digest")},
                packs=[{k: p.get(k) for k in ("id", "title", "version", "path", "digest")} for p in result["packs"]],
                zones_file=result.get("zones_file"),
                waivers_file=({k: v for k, v in result["waivers_file"].items() if k in ("path", "digest")}
                              if result.get("waivers_file") else None),
                as_of=result.get("as_of"), verdict=str(summary.get("verdict", "")), protected=prot,
                findings=out, flows=flows, zones=zones, labels=labels, policy_rules=result.get("policy_rules"),
                waivers=waivers, path=where)
        except (KeyError, TypeError, AttributeError) as exc:
            raise AuditorError(f"malformed audit result ({type(exc).__name__}: {exc})", where=where) from None

    # -- writing ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        counts: dict[str, int] = {"pass": 0, "fail": 0, "waived": 0, "unknown": 0}
        for f in self.findings.values():
            counts[f.verdict] = counts.get(f.verdict, 0) + 1
        workloads = [[n, {p: list(z) for p, z in sorted(self.zones[n].items())}, dict(sorted(self.labels[n].items()))]
                     for n in sorted(self.labels)]
        externals = [[n, {p: list(z) for p, z in sorted(self.zones[n].items())}]
                     for n in sorted(set(self.zones) - set(self.labels))]
        return {
            "schema_version": BASELINE_SCHEMA,
            "kind": BASELINE_KIND,
            "tool": "zone-auditor",
            "tool_version": self.tool_version,
            "snapshot": {"content_digest": self.snapshot.get("content_digest"), "source": self.snapshot.get("source")},
            "packs": self.packs,
            "zones_file": self.zones_file,
            "waivers_file": self.waivers_file,
            "as_of": self.as_of,
            "summary": {"verdict": self.verdict, "controls": counts,
                        "violations": sum(len(f.violations) for f in self.findings.values()),
                        "unknown": sum(len(f.unknown) for f in self.findings.values()),
                        "protected_flows": len(self.flows)},
            "protected_zones": {p: list(z) for p, z in sorted(self.protected.items())},
            "findings": [f.to_dict() for f in self.findings.values()],
            "flows": {"columns": list(FLOW_COLUMNS),
                      "rows": [[s, d, ports_text(f.allowed), ports_text(f.unknown)]
                               for (s, d), f in sorted(self.flows.items())]},
            "inventory": {"columns": {"workloads": ["name", "zones", "labels"], "external_networks": ["name", "zones"]},
                          "workloads": workloads, "external_networks": externals},
            "policy_rules": self.policy_rules,
            "waivers": [self.waivers[k] for k in sorted(self.waivers)],
        }

    def dumps(self) -> bytes:
        return dumps_lines(self.to_dict())


def tuple_rows(rows: Iterable[Sequence[Any]]) -> list[Row]:
    """``tuple_row`` of many rows, inlined (a baseline holds hundreds of thousands)."""
    return [(str(kind), None if src is None else str(src), str(dst), str(ports), None if flow is None else str(flow),
             str(reason)) for kind, src, dst, ports, flow, reason in rows]


def tuple_row(r: Sequence[Any]) -> Row:
    kind, src, dst, ports, flow, reason = r
    return (str(kind), None if src is None else str(src), str(dst), str(ports), None if flow is None else str(flow),
            str(reason))


def _baseline_finding(f: Any) -> BaselineFinding:
    """A finding of a saved result (``ControlFinding``) or of a fresh audit (``Finding``)."""
    if isinstance(f, ControlFinding):
        return BaselineFinding(pack=f.pack, control=f.control, title=f.title, severity=f.severity, verdict=f.verdict,
                               violations=[v.row for v in f.open_violations], unknown=[v.row for v in f.unknown_flows],
                               blocking=list(f.blocking), waived=len(f.waived_violations), complete=f.complete)
    table = getattr(f, "all_violations", None)  # every violation, also those not listed in the result
    if table is not None and hasattr(table, "keys"):
        viols = list(table.keys(open_only=True))
        waived = len(table) - len(viols)
        unknown = list(f.all_unknown.keys())
    else:
        viols = [(v.kind, v.src, v.dst, v.ports, v.flow, v.reason) for v in f.violations if not v.waived_by]
        waived = len(f.violations) - len(viols)
        unknown = [(v.kind, v.src, v.dst, v.ports, v.flow, v.reason) for v in f.unknown_flows]
    return BaselineFinding(pack=f.pack, control=f.control, title=f.title, severity=f.severity, verdict=f.verdict,
                           violations=viols, unknown=unknown, blocking=list(f.blocking), waived=waived)


def _inventory(inv: Inventory | None) -> tuple[dict[str, dict[str, tuple[str, ...]]], dict[str, dict[str, str]]]:
    """Entity → pack → zones, and workload → labels."""
    if inv is None:
        return {}, {}
    return inv.zones(), {w.name: dict(w.labels or {}) for w in inv.workloads}


def protected_flows(flows: FlowTable | None, zones: Mapping[str, Mapping[str, Sequence[str]]],
                    protected: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], ProtectedFlow]:
    """(src, dst) → allowed and unknown ports of the audit's flows into protected zones."""
    out: dict[tuple[str, str], ProtectedFlow] = {}
    if flows is None:
        return out
    hit_of: dict[tuple[str, str], bool] = {}
    for row in flows.rows:
        if row.verdict not in ("allowed", "unknown"):
            continue
        key = (row.src, row.dst)
        hit = hit_of.get(key)
        if hit is None:
            hit = hit_of[key] = into_protected(zones.get(key[0]), zones.get(key[1]), protected)
        if not hit:
            continue
        cur = out.get(key, ProtectedFlow())
        out[key] = ProtectedFlow(row.ports, cur.unknown) if row.verdict == "allowed" else \
            ProtectedFlow(cur.allowed, row.ports)
    return out


def analysis_flows(analysis: Analysis, zones: Mapping[str, Mapping[str, Sequence[str]]],
                   protected: Mapping[str, Sequence[str]]) -> tuple[FlowColumns, Any]:
    """(src, dst) → allowed and unknown ports of every flow into a protected zone from outside
    it, computed from the analysis (only destinations in protected zones: cheaper than the whole
    matrix), as columns over the workload names (distinct, as entity names are); and a function
    giving the deciding rules of some of those pairs."""
    ents = analysis.entities("workload")
    names = [e.name for e in ents]
    out = FlowColumns.of({})
    # per protected zone: who is in it (definite members); a pair counts when its destination is
    # in a protected zone its source is not in
    inside: list[np.ndarray] = []
    for pack, zs in protected.items():
        for z in zs:
            inside.append(np.array([z in (zones.get(e.name) or {}).get(pack, ()) for e in ents], dtype=bool))
    is_dst = np.zeros(len(ents), dtype=bool)
    for m in inside:
        is_dst |= m & np.array([e.kind != "external" for e in ents], dtype=bool)
    d_idx = np.flatnonzero(is_dst)
    if not d_idx.size:
        return out, lambda pairs: {}
    dsts = [ents[k] for k in d_idx.tolist()]
    into = np.zeros((len(ents), len(dsts)), dtype=bool)
    for m in inside:
        into |= ~m[:, None] & m[d_idx][None, :]
    table = AllowedFlows(analysis, analysis.pairs("workload", ents, dsts), ents, dsts, keep=into)
    dnames = [e.name for e in dsts]
    every = table.universe
    written: dict[PortSet, PortSet] = {}  # flows repeat a few port sets: compare each with the universe once

    def write(ports: PortSet) -> PortSet:
        hit = written.get(ports)
        if hit is None:
            hit = written[ports] = as_written(ports, every)
        return hit

    # one ProtectedFlow per distinct verdict row (frozen, shared by its pairs), not per pair
    rows, inv = np.unique(table.rows, return_inverse=True)
    per_row = [ProtectedFlow(write(table.ports(r, ALLOW)), write(table.ports(r, UNKNOWN))) for r in rows.tolist()]
    out = FlowColumns(names, table.ii, d_idx[table.jj], inv.reshape(-1), per_row)
    s_pos = {n: k for k, n in enumerate(names)}
    d_pos = {n: k for k, n in enumerate(dnames)}

    def explain(pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        # the pairs among the flows: live cells of the table
        pairs = [p for p in pairs if p[0] in s_pos and p[1] in d_pos and table.live[s_pos[p[0]], d_pos[p[1]]]]
        if not pairs:
            return {}
        a = np.array([s_pos[p[0]] for p in pairs], dtype=np.int64)
        b = np.array([d_pos[p[1]] for p in pairs], dtype=np.int64)
        return dict(zip(pairs, table.decided_by(a, b), strict=True))

    return out, explain
