"""The CI gate: compare an audit with a baseline and fail only on regressions (a ratchet).

**Baseline** (``auditor baseline … -o BASELINE.json``, kind ``zone-auditor/baseline``): what the
gate needs from an accepted audit, nothing that changes from run to run (no capture time, no
deciding-rule texts), one record per line so that a pull request that updates it shows each
newly accepted failure as one added line:

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

A full audit result (``auditor audit -o``) is accepted as a baseline too.

**Gate** (``GateReport``). Per control, a current open violation is *pre-existing* when the
baseline lists an open violation of the same control with the same kind, source, destination
and flow verdict (endpoint evidence: destination and reason) whose ports cover its ports
(``PortSet``); anything else is **new**. Undecided items and blocking reasons are matched the
same way. Then:

- new violations → the control **regressed** (pass/waived → fail, or more failure);
- only new undecided items / blocking reasons → the control **became unknown**;
- otherwise a failing or unknown control is **pre-existing** (listed, does not fail the gate);
  a control that failed in the baseline and passes now is **fixed**.

Flows: an allowed port into a protected zone from outside it that the baseline did not allow
for that (source, destination) is a **new flow** (a regression); a newly undecided port makes
the gate unknown.

Exit codes: ``1`` any regression (a control regressed, a new allowed flow into a protected
zone; with ``--strict`` any failing control); else ``2`` anything that could not be established
(a control became unknown, a newly undecided flow; with ``--strict`` any unknown control), or
bad input; else ``0``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from auditor.compare.drift import ALL, NONE, RESULT_KIND, parse_ports, ports_text, read_json
from auditor.controls.assertions.registry import KINDS
from auditor.errors import AuditorError
from auditor.portset import PortSet

BASELINE_KIND = "zone-auditor/baseline"
BASELINE_SCHEMA = 1
GATE_KIND = "zone-auditor/gate-result"
NEW_FLOWS_CONTROL = "gate:new-flows"
BASELINE_WAIVER = "baseline"
VIOLATION_COLUMNS = ("kind", "src", "dst", "ports", "flow", "reason")
FLOW_COLUMNS = ("src", "dst", "allowed", "unknown")

Row = tuple[str, str | None, str, str, str | None, str]


# -- protected zones -----------------------------------------------------------------------------


def protected_by_spec(kind: str, spec: Mapping[str, Any] | None) -> list[str]:
    """The zones one assertion protects against new inbound flows (its kind says which)."""
    found = KINDS.get(kind)
    return found.protects(spec or {}) if found is not None else []


def protected_zones(packs: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """Per pack (``Pack`` objects): the workload zones its controls protect."""
    out: dict[str, tuple[str, ...]] = {}
    for pack in packs:
        names: set[str] = set()
        for control in pack.controls:
            a = control.assertion
            names.update(protected_by_spec(a.kind, a.spec if isinstance(a.spec, Mapping) else {}))
        out[pack.id] = tuple(sorted(z for z in names if z in pack.zones and not pack.zones[z].external))
    return out


def protected_from_result(result: Mapping[str, Any]) -> dict[str, tuple[str, ...]]:
    """The same from a saved audit result (the assertions as written, the zones' kinds)."""
    names: dict[str, set[str]] = {str(p["id"]): set() for p in result.get("packs", [])}
    for f in result.get("findings", []):
        a = f.get("assertion") or {}
        names.setdefault(str(f["pack"]), set()).update(protected_by_spec(str(a.get("kind")), a.get("spec")))
    zones = result.get("zones") or {}
    return {p: tuple(sorted(z for z in zs if (zones.get(p, {}).get(z) or {}).get("kind", "selector") != "cidr"))
            for p, zs in sorted(names.items())}


def entered_zones(src: Mapping[str, Sequence[str]] | None, dst: Mapping[str, Sequence[str]] | None,
                  protected: Mapping[str, Sequence[str]]) -> list[str]:
    """``pack:zone`` of the protected zones ``dst`` is in and ``src`` is not."""
    if not dst:
        return []
    src = src or {}
    out = []
    for pack, zones in protected.items():
        inside = dst.get(pack, ())
        for z in zones:
            if z in inside and z not in src.get(pack, ()):
                out.append(f"{pack}:{z}")
    return out


def into_protected(src: Mapping[str, Sequence[str]] | None, dst: Mapping[str, Sequence[str]] | None,
                   protected: Mapping[str, Sequence[str]]) -> bool:
    return bool(entered_zones(src, dst, protected))


# -- the baseline -------------------------------------------------------------------------------------


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


def _row(v: Mapping[str, Any]) -> Row:
    return (str(v.get("kind") or "flow"), v.get("src"), str(v.get("dst") or ""), str(v.get("ports") or ""),
            v.get("flow"), str(v.get("reason") or ""))


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
    flows: dict[tuple[str, str], tuple[str, str]]
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
            return cls.from_result(data, where=where)
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
                    violations=[_tuple_row(r) for r in f.get("violations", [])],
                    unknown=[_tuple_row(r) for r in f.get("unknown", [])],
                    blocking=[str(x) for x in f.get("blocking", [])], waived=int(f.get("waived", 0)))
                findings[(bf.pack, bf.control)] = bf
            flows = {(str(r[0]), str(r[1])): (str(r[2]), str(r[3])) for r in data["flows"]["rows"]}
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
    def from_result(cls, result: Mapping[str, Any], *, where: str = "audit result",
                    protected: Mapping[str, Sequence[str]] | None = None,
                    findings: Iterable[Any] | None = None) -> Baseline:
        """The baseline view of an audit result (a dict; or, for speed, the result's evidence keys
        with ``findings`` given as ``Finding`` objects)."""
        try:
            prot = {str(p): tuple(z) for p, z in (protected or protected_from_result(result)).items()}
            out: dict[tuple[str, str], BaselineFinding] = {}
            for f in (findings if findings is not None else result["findings"]):
                bf = _baseline_finding(f)
                out[(bf.pack, bf.control)] = bf
            inv = result.get("inventory") or {}
            zones: dict[str, dict[str, tuple[str, ...]]] = {}
            labels: dict[str, dict[str, str]] = {}
            for w in inv.get("workloads", []):
                zones[w["name"]] = {p: tuple(z) for p, z in (w.get("zones") or {}).items()}
                labels[w["name"]] = dict(w.get("labels") or {})
            for x in inv.get("external_networks", []):
                zones[x["name"]] = {p: tuple(z) for p, z in (x.get("zones") or {}).items()}
            flows = protected_flows(result.get("flows"), zones, prot)
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
                      "rows": [[s, d, a, u] for (s, d), (a, u) in sorted(self.flows.items())]},
            "inventory": {"columns": {"workloads": ["name", "zones", "labels"], "external_networks": ["name", "zones"]},
                          "workloads": workloads, "external_networks": externals},
            "policy_rules": self.policy_rules,
            "waivers": [self.waivers[k] for k in sorted(self.waivers)],
        }

    def dumps(self) -> bytes:
        return dumps_lines(self.to_dict())


def _tuple_row(r: Sequence[Any]) -> Row:
    kind, src, dst, ports, flow, reason = r
    return (str(kind), None if src is None else str(src), str(dst), str(ports), None if flow is None else str(flow),
            str(reason))


def _baseline_finding(f: Any) -> BaselineFinding:
    if isinstance(f, Mapping):
        viols = [_row(v) for v in f.get("violations", []) if not v.get("waived_by")]
        waived = sum(1 for v in f.get("violations", []) if v.get("waived_by"))
        unknown = f.get("unknown") or {}
        complete = not f.get("violations_omitted") and not unknown.get("flows_omitted")
        return BaselineFinding(pack=str(f["pack"]), control=str(f["control"]), title=str(f.get("title", "")),
                               severity=str(f.get("severity", "")), verdict=str(f["verdict"]), violations=viols,
                               unknown=[_row(v) for v in unknown.get("flows", [])],
                               blocking=[str(x) for x in unknown.get("reasons", [])], waived=waived,
                               complete=complete)
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


def explain_rows(analysis: Any, rows: Sequence[Row], limit: int = 1000) -> list[str]:
    """The deciding rules (``decided_by``) of flow violations, at their ports, from the analysis:
    what SARIF locates a new violation by. The first ``limit`` flow rows only (0: all)."""
    import numpy as np

    from auditor.reach.engine import ALLOW, UNKNOWN

    out = [""] * len(rows)
    index = {e.name: e for e in analysis.entities("workload")}
    todo = [k for k, r in enumerate(rows) if r[0] == "flow" and r[1] in index and r[2] in index]
    if limit:
        todo = todo[:limit]
    if not todo:
        return out
    srcs = sorted({str(rows[k][1]) for k in todo})
    dsts = sorted({str(rows[k][2]) for k in todo})
    si = {n: i for i, n in enumerate(srcs)}
    di = {n: j for j, n in enumerate(dsts)}
    pm = analysis.pairs("workload", [index[n] for n in srcs], [index[n] for n in dsts])
    ii = np.array([si[str(rows[k][1])] for k in todo], dtype=np.int64)
    jj = np.array([di[str(rows[k][2])] for k in todo], dtype=np.int64)
    atoms = []
    for k, i, j in zip(todo, ii.tolist(), jj.tolist(), strict=True):
        r = rows[k]
        mask = parse_ports(r[3]).atom_mask(analysis.ports) if r[3] else np.ones(len(analysis.ports), dtype=bool)
        v = pm.verdict[pm.row[i, j]]
        want = {"allowed": ALLOW, "unknown": UNKNOWN}.get(str(r[4]))
        sel = mask & (v == want) if want is not None else mask
        atoms.append(np.flatnonzero(sel if sel.any() else mask))
    for k, text in zip(todo, analysis.decided_by_many(pm, ii, jj, atoms), strict=True):
        out[k] = text
    return out


def analysis_flows(analysis: Any, zones: Mapping[str, Mapping[str, Sequence[str]]],
                   protected: Mapping[str, Sequence[str]]
                   ) -> tuple[dict[tuple[str, str], tuple[str, str]], Any]:
    """(src, dst) → (allowed ports, unknown ports) of every flow into a protected zone from outside
    it, computed from the analysis (only destinations in protected zones: cheaper than the whole
    matrix); and a function giving the deciding rules of some of those pairs."""
    import numpy as np

    from auditor.reach.engine import ALLOW, UNKNOWN

    ents = analysis.entities("workload")
    out: dict[tuple[str, str], tuple[str, str]] = {}
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
    pm = analysis.pairs("workload", ents, dsts)
    allow_rows = pm.verdict == ALLOW
    unknown_rows = pm.verdict == UNKNOWN
    live = (allow_rows.any(axis=1) | unknown_rows.any(axis=1))[pm.row]
    into = np.zeros(live.shape, dtype=bool)
    for m in inside:
        into |= ~m[:, None] & m[d_idx][None, :]
    live &= into
    eps = analysis.inventory.endpoints
    for j, d in enumerate(dsts):  # a pod to itself never leaves the pod (K8S-15)
        if len(d.endpoints) == 1 and not eps[d.endpoints[0]].template:
            live[d_idx[j], j] = False
    ii, jj = np.nonzero(live)
    rows = pm.row[ii, jj]
    uniq, inv = np.unique(rows, return_inverse=True)
    texts = [(analysis.ports.summary(allow_rows[r]) if allow_rows[r].any() else "none",
              analysis.ports.summary(unknown_rows[r]) if unknown_rows[r].any() else "none") for r in uniq.tolist()]
    names = [e.name for e in ents]
    dnames = [e.name for e in dsts]
    for i, j, t in zip(ii.tolist(), jj.tolist(), np.asarray(inv).reshape(-1).tolist(), strict=True):
        out[(names[i], dnames[j])] = texts[t]
    s_pos = {n: k for k, n in enumerate(names)}
    d_pos = {n: k for k, n in enumerate(dnames)}

    def explain(pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str]:
        pairs = [p for p in pairs if p in out]
        if not pairs:
            return {}
        a = np.array([s_pos[p[0]] for p in pairs], dtype=np.int64)
        b = np.array([d_pos[p[1]] for p in pairs], dtype=np.int64)
        return dict(zip(pairs, analysis.decided_by_many(pm, a, b), strict=True))

    return out, explain


def protected_flows(flows: Mapping[str, Any] | None, zones: Mapping[str, Mapping[str, Sequence[str]]],
                    protected: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(src, dst) → (allowed ports, unknown ports) of the audit's flows into protected zones."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    if not flows:
        return out
    cols = list(flows["columns"])
    c_src, c_dst, c_ports, c_verdict = cols.index("src"), cols.index("dst"), cols.index("ports"), cols.index("verdict")
    verdict_cache: dict[tuple[str, str], bool] = {}
    for row in flows["rows"]:
        verdict = row[c_verdict]
        if verdict not in ("allowed", "unknown"):
            continue
        key = (row[c_src], row[c_dst])
        hit = verdict_cache.get(key)
        if hit is None:
            hit = verdict_cache[key] = into_protected(zones.get(key[0]), zones.get(key[1]), protected)
        if not hit:
            continue
        a, u = out.get(key, ("none", "none"))
        out[key] = (row[c_ports], u) if verdict == "allowed" else (a, row[c_ports])
    return out


# -- line-oriented canonical JSON --------------------------------------------------------------------------

_COMPACT = 120


def _compact(obj: Any) -> str:
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY).decode()


def _fmt(obj: Any, depth: int) -> str:
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        text = _compact(obj)
        if len(text) <= _COMPACT:
            return text
        items = [f"{inner}{_compact(str(k))}: {_fmt(obj[k], depth + 1)}" for k in sorted(obj)]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, (list, tuple)):
        if not obj:
            return "[]"
        if all(isinstance(x, (list, tuple)) for x in obj):  # rows: one per line
            return "[\n" + ",\n".join(inner + _compact(list(x)) for x in obj) + "\n" + pad + "]"
        text = _compact(list(obj))
        if len(text) <= _COMPACT:
            return text
        return "[\n" + ",\n".join(inner + _fmt(x, depth + 1) for x in obj) + "\n" + pad + "]"
    return _compact(obj)


def dumps_lines(obj: Any) -> bytes:
    """Canonical JSON (sorted keys, no insignificant differences) laid out one record per line,
    so that ``git diff`` of two baselines shows what was accepted or fixed."""
    return (_fmt(obj, 0) + "\n").encode()


# -- the gate ---------------------------------------------------------------------------------------------------


def _index(rows: Iterable[Row]) -> dict[tuple[Any, ...], list[str]]:
    """Match key → the port texts the baseline lists for it (usually one)."""
    out: dict[tuple[Any, ...], list[str]] = {}
    for r in rows:
        key = ("flow", r[1], r[2], r[4]) if r[0] == "flow" else (r[0], r[1], r[2], r[5])  # _match_key, inlined
        hit = out.get(key)
        if hit is None:
            out[key] = [r[3]]
        else:
            hit.append(r[3])
    return out


def _match_key(r: Row) -> tuple[Any, ...]:
    kind, src, dst, _, flow, reason = r
    if kind == "flow":
        return ("flow", src, dst, flow)
    return (kind, src, dst, reason)


def _ports_of(text: str) -> PortSet:
    return parse_ports(text) if text else ALL


def _not_in(current: Sequence[Row], baseline: Sequence[Row]) -> list[Row]:
    """Current rows that are not, as they are, in the baseline (a set difference: most rows are)."""
    if not baseline:
        return list(current)
    have = set(baseline)
    return [r for r in current if r not in have]


def _new_rows(current: Iterable[Row], baseline: Mapping[tuple[Any, ...], list[str]]) -> list[tuple[Row, str]]:
    """Current rows not covered by the baseline, each with the ports that are new (text).
    The same port text as the baseline's is covered without interval arithmetic (most rows)."""
    out = []
    for r in current:
        have = baseline.get(("flow", r[1], r[2], r[4]) if r[0] == "flow" else (r[0], r[1], r[2], r[5]))
        if have is None:
            out.append((r, r[3]))
            continue
        if r[3] in have:
            continue
        covered = NONE
        for text in have:
            covered = covered.union(_ports_of(text))
        extra = _ports_of(r[3]).minus(covered)
        if extra:
            out.append((r, ports_text(extra)))
    return out


@dataclass(frozen=True)
class ControlGate:
    pack: str
    control: str
    title: str
    severity: str
    verdict: str  # now
    baseline: str | None  # verdict in the baseline; None = not in the baseline
    status: str  # ok | fixed | pre-existing | regression | unknown
    new_violations: tuple[dict[str, Any], ...] = ()
    new_unknown: tuple[dict[str, Any], ...] = ()
    new_reasons: tuple[str, ...] = ()
    pre_existing: int = 0  # open violations also in the baseline
    open_violations: int = 0
    unknown_items: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"pack": self.pack, "control": self.control, "title": self.title, "severity": self.severity,
                "verdict": self.verdict, "baseline": self.baseline, "status": self.status,
                "new_violations": list(self.new_violations), "new_unknown": list(self.new_unknown),
                "new_reasons": list(self.new_reasons), "pre_existing": self.pre_existing,
                "open_violations": self.open_violations, "unknown_items": self.unknown_items}


@dataclass(frozen=True)
class NewFlow:
    src: str
    dst: str
    zones: tuple[str, ...]  # protected zones entered (``pack:zone`` when several packs)
    ports: str  # the new ports
    verdict: str  # allowed | unknown
    decided_by: str = ""
    baseline_ports: str = ""
    packs: tuple[str, ...] = ()  # the packs protecting those zones

    def to_dict(self) -> dict[str, Any]:
        return {"src": self.src, "dst": self.dst, "zones": list(self.zones), "ports": self.ports,
                "verdict": self.verdict, "decided_by": self.decided_by, "baseline_ports": self.baseline_ports,
                "packs": list(self.packs)}


STATUS_ORDER = {"regression": 0, "unknown": 1, "pre-existing": 2, "fixed": 3, "ok": 4}


@dataclass(frozen=True)
class GateReport:
    verdict: str  # pass | fail | unknown
    exit_code: int
    strict: bool
    baseline: Mapping[str, Any]
    current: Mapping[str, Any]
    controls: tuple[ControlGate, ...]
    new_flows: tuple[NewFlow, ...]
    protected: Mapping[str, tuple[str, ...]]
    notes: tuple[str, ...] = ()

    @property
    def regressions(self) -> list[ControlGate]:
        return [c for c in self.controls if c.status == "regression"]

    @property
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUS_ORDER, 0)
        for c in self.controls:
            out[c.status] += 1
        out["new_flows"] = sum(1 for f in self.new_flows if f.verdict == "allowed")
        out["new_unknown_flows"] = sum(1 for f in self.new_flows if f.verdict == "unknown")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": 1,
            "kind": GATE_KIND,
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "strict": self.strict,
            "baseline": dict(self.baseline),
            "current": dict(self.current),
            "summary": self.counts,
            "protected_zones": {p: list(z) for p, z in sorted(self.protected.items())},
            "controls": [c.to_dict() for c in self.controls],
            "new_flows": [f.to_dict() for f in self.new_flows],
            "notes": list(self.notes),
        }


def _violation_dict(r: Row, new_ports: str, decided_by: str = "") -> dict[str, Any]:
    out = dict(zip(VIOLATION_COLUMNS, r, strict=True))
    out["new_ports"] = new_ports
    out["decided_by"] = decided_by
    return out


def run_gate(base: Baseline, current: Baseline, *, strict: bool = False,
             explain: Any = None, explain_violations: Any = None) -> GateReport:
    """Compare the current audit (as a baseline view) with the baseline. ``explain`` gives the
    deciding rules of new flows ((src, dst) pairs → text), ``explain_violations`` those of new
    violations (rows → texts); both are optional."""
    notes: list[str] = []
    controls: list[ControlGate] = []
    for key, cur in current.findings.items():
        old = base.findings.get(key)
        rest_v = _not_in(cur.violations, old.violations if old else ())
        rest_u = _not_in(cur.unknown, old.unknown if old else ())
        new_v = _new_rows(rest_v, _index(old.violations) if old and rest_v else {})
        new_u = _new_rows(rest_u, _index(old.unknown) if old and rest_u else {})
        new_r = [r for r in cur.blocking if old is None or r not in old.blocking]
        if old is not None and not old.complete and new_v:
            # the baseline (an audit result written with --max-evidence) does not list every violation:
            # an unlisted one may be old or new
            new_r.append(f"the baseline lists only some violations of this control, and {len(new_v)} current "
                         "one(s) are not among them: make the baseline with `auditor baseline` (it keeps all)")
            new_u, new_v = [*new_u, *new_v], []
        if new_v:
            status = "regression"
        elif new_u or new_r:
            status = "unknown"
        elif cur.verdict in ("fail", "unknown"):
            status = "pre-existing"
        elif old is not None and old.verdict in ("fail", "unknown"):
            status = "fixed"
        else:
            status = "ok"
        whys = explain_violations([r for r, _ in new_v]) if explain_violations is not None and new_v else \
            [""] * len(new_v)
        controls.append(ControlGate(
            pack=cur.pack, control=cur.control, title=cur.title, severity=cur.severity, verdict=cur.verdict,
            baseline=None if old is None else old.verdict, status=status,
            new_violations=tuple(_violation_dict(r, p, w) for (r, p), w in zip(new_v, whys, strict=True)),
            new_unknown=tuple(_violation_dict(r, p) for r, p in new_u), new_reasons=tuple(new_r),
            pre_existing=len(cur.violations) - len(new_v), open_violations=len(cur.violations),
            unknown_items=len(cur.unknown) + len(cur.blocking)))
    for key in sorted(set(base.findings) - set(current.findings)):
        notes.append(f"control {key[0]}/{key[1]} is in the baseline but not in the packs given now")
    # packs and protected zones
    base_packs = {str(p.get("id")): p.get("digest") for p in base.packs}
    for p in current.packs:
        pid = str(p.get("id"))
        if pid not in base_packs:
            notes.append(f"pack {pid} is not in the baseline: every failure of its controls counts as new")
        elif base_packs[pid] != p.get("digest"):
            notes.append(f"pack {pid} changed since the baseline (digest {str(base_packs[pid])[:12]} → "
                         f"{str(p.get('digest'))[:12]}); update the baseline once the new pack is accepted")
    compared: dict[str, tuple[str, ...]] = {}
    for pack, zones in current.protected.items():
        known = set(base.protected.get(pack, ())) if pack in base.protected else set()
        keep = tuple(z for z in zones if z in known)
        skipped = [z for z in zones if z not in known]
        if skipped:
            notes.append(f"zone(s) {', '.join(skipped)} of pack {pack} were not protected when the baseline was made: "
                         "their inbound flows are not compared (the controls still are); update the baseline")
        if keep:
            compared[pack] = keep
    new_flows: list[NewFlow] = []
    several = len(current.packs) > 1
    base_flows = base.flows
    for key, texts in current.flows.items():
        old_texts = base_flows.get(key)
        if old_texts == texts:
            continue  # unchanged (most pairs)
        src, dst = key
        a_text, u_text = texts
        hit = entered_zones(current.zones.get(src), current.zones.get(dst), compared)
        if not hit:
            continue
        packs = tuple(dict.fromkeys(z.split(":", 1)[0] for z in hit))
        entered = tuple(hit) if several else tuple(z.split(":", 1)[1] for z in hit)
        b_allowed, b_unknown = old_texts or ("none", "none")
        had_allowed, had_unknown = parse_ports(b_allowed), parse_ports(b_unknown)
        added = parse_ports(a_text).minus(had_allowed)
        if added:
            new_flows.append(NewFlow(src, dst, entered, ports_text(added), "allowed", "", b_allowed, packs))
        unknown = parse_ports(u_text).minus(had_unknown).minus(had_allowed)
        if unknown:
            new_flows.append(NewFlow(src, dst, entered, ports_text(unknown), "unknown", "", b_unknown, packs))
    if explain is not None and new_flows:  # the deciding rules, only for the flows reported
        why = explain([(f.src, f.dst) for f in new_flows])
        new_flows = [replace(f, decided_by=why.get((f.src, f.dst), "")) for f in new_flows]
    new_flows.sort(key=lambda f: (f.verdict != "allowed", f.src, f.dst))
    controls.sort(key=lambda c: (STATUS_ORDER[c.status], c.pack, c.control))
    fail = any(c.status == "regression" for c in controls) or any(f.verdict == "allowed" for f in new_flows)
    unknown = any(c.status == "unknown" for c in controls) or any(f.verdict == "unknown" for f in new_flows)
    if strict:
        fail = fail or any(c.verdict == "fail" for c in controls)
        unknown = unknown or any(c.verdict == "unknown" for c in controls)
    verdict, code = ("fail", 1) if fail else ("unknown", 2) if unknown else ("pass", 0)
    return GateReport(verdict=verdict, exit_code=code, strict=strict, baseline=_info(base), current=_info(current),
                      controls=tuple(controls), new_flows=tuple(new_flows), protected=dict(current.protected),
                      notes=tuple(notes))


def _info(b: Baseline) -> dict[str, Any]:
    return {"path": b.path, "content_digest": b.snapshot.get("content_digest"), "source": b.snapshot.get("source"),
            "verdict": b.verdict, "packs": [{"id": p.get("id"), "digest": p.get("digest")} for p in b.packs],
            "as_of": b.as_of}


# -- reports through the existing writers ------------------------------------------------------------------


def _flow_violation(f: NewFlow) -> dict[str, Any]:
    zones = list(f.zones)
    return {"kind": "flow", "src": f.src, "dst": f.dst, "ports": f.ports, "flow": f.verdict,
            "decided_by": f.decided_by, "src_zones": [], "dst_zones": zones,
            "reason": f"newly {'allowed' if f.verdict == 'allowed' else 'possibly allowed'} into protected zone "
                      f"{', '.join(zones)} (not in the baseline" + (f", which allowed {f.baseline_ports}"
                                                                     if f.baseline_ports not in ("", "none") else "")
                      + ")",
            "waived_by": []}


def _listed_violation(v: Mapping[str, Any], zones_of: Any) -> dict[str, Any]:
    return {"kind": v["kind"], "src": v["src"], "dst": v["dst"], "ports": v["ports"], "flow": v["flow"],
            "decided_by": v.get("decided_by", ""), "src_zones": zones_of(v["src"]), "dst_zones": zones_of(v["dst"]),
            "reason": v["reason"], "waived_by": []}


def report_result(report: GateReport, result: Mapping[str, Any]) -> dict[str, Any]:
    """The current audit result rewritten for the JUnit and SARIF writers: a control that did
    not regress shows its pre-existing violations as waived by the baseline (SARIF: suppressed,
    JUnit: passing with the list in system-out), a regressed control fails with only its new
    violations open, and each pack gets a ``gate:new-flows`` check for new flows into its
    protected zones."""
    by_key = {(c.pack, c.control): c for c in report.controls}
    inv = result.get("inventory") or {}
    flat = {w["name"]: sorted({z for zs in (w.get("zones") or {}).values() for z in zs})
            for w in [*inv.get("workloads", []), *inv.get("external_networks", [])]}

    def zones_of(name: str | None) -> list[str]:
        return flat.get(name or "", [])

    findings: list[dict[str, Any]] = []
    covered = 0
    for f in result["findings"]:
        g = by_key.get((str(f["pack"]), str(f["control"])))
        out = dict(f)
        if g is not None and g.new_violations:
            # new violations the result does not list (it lists the first --max-evidence ones)
            listed = {_match_key(_row(v)) for v in f.get("violations", []) if not v.get("waived_by")}
            extra = [_listed_violation(v, zones_of) for v in g.new_violations
                     if _match_key(_tuple_row([v[c] for c in VIOLATION_COLUMNS])) not in listed]
            if extra:
                out["violations"] = [*extra, *f.get("violations", [])]
        if g is not None and not report.strict and g.status in ("regression", "unknown", "pre-existing"):
            new_keys = {_match_key(_tuple_row([v[c] for c in VIOLATION_COLUMNS])) for v in g.new_violations}
            viols = []
            for v in out.get("violations", []):
                if not v.get("waived_by") and _match_key(_row(v)) not in new_keys:
                    v = {**v, "waived_by": [BASELINE_WAIVER]}
                    covered += 1
                viols.append(v)
            out["violations"] = viols
            if g.status == "pre-existing":
                out["verdict"] = "waived"
                out["message"] = (f"pre-existing in the baseline (ratchet): {g.pre_existing} violation(s)"
                                  + (f", {g.unknown_items} undecided item(s)" if g.unknown_items else "")
                                  + f"; {f.get('message', '')}")
                out["unknown"] = {"reasons": [], "flows": []} if f.get("verdict") == "unknown" else f.get("unknown")
            elif g.status == "regression":
                out["verdict"] = "fail"
                out["message"] = (f"{len(g.new_violations)} new violation(s) since the baseline "
                                  f"({g.pre_existing} pre-existing)")
            else:
                out["verdict"] = "unknown"
                out["message"] = ("became unknown since the baseline: "
                                  + "; ".join([*g.new_reasons, *(f"{v['src'] or ''} → {v['dst']} [{v['new_ports']}]"
                                                                  for v in g.new_unknown[:3])]))
            n_open = sum(1 for v in viols if not v.get("waived_by"))
            out["counts"] = {"violations": n_open, "waived": len(viols) - n_open,
                             "unknown": len((out.get("unknown") or {}).get("flows", []))}
        findings.append(out)
    for pack in result.get("packs", []):
        pid = str(pack["id"])
        zones = report.protected.get(pid, ())
        if not zones:
            continue
        mine = [f for f in report.new_flows if pid in f.packs]
        allowed = [_flow_violation(f) for f in mine if f.verdict == "allowed"]
        unknown = [_flow_violation(f) for f in mine if f.verdict == "unknown"]
        verdict = "fail" if allowed else "unknown" if unknown else "pass"
        findings.append({
            "pack": pid, "control": NEW_FLOWS_CONTROL,
            "title": f"No new allowed flow into the protected zones ({', '.join(zones)})",
            "severity": "high", "references": ["zone-auditor gate (ratchet)"],
            "rationale": "A change that lets something new reach a protected zone must be reviewed; accept it by "
                         "updating the baseline (auditor baseline).",
            "assertion": {"kind": "gate-new-flows", "spec": {"zones": list(zones)}},
            "verdict": verdict,
            "claim": f"no flow into {', '.join(zones)} beyond those in the baseline",
            "message": (f"{len(allowed)} new allowed flow(s) into protected zones" if allowed else
                        f"{len(unknown)} newly undecided flow(s) into protected zones" if unknown else
                        "no new flow into protected zones"),
            "counts": {"violations": len(allowed), "waived": 0, "unknown": len(unknown)},
            "violations": allowed, "unknown": {"reasons": [], "flows": unknown}, "notes": [], "checked": {}})
    derived = dict(result)
    derived["findings"] = findings
    waivers = list(result.get("waivers") or [])
    if covered:
        waivers.append({"id": BASELINE_WAIVER, "control": "*", "status": "active", "covers": covered,
                        "justification": f"pre-existing in the baseline {report.baseline.get('path') or ''} "
                                         "(ratchet): not introduced by this change",
                        "approver": "the baseline", "expires": ""})
    derived["waivers"] = waivers
    counts = {"pass": 0, "fail": 0, "waived": 0, "unknown": 0}
    for f in findings:
        counts[str(f["verdict"])] = counts.get(str(f["verdict"]), 0) + 1
    derived["summary"] = {"verdict": report.verdict, "exit_code": report.exit_code, "controls": counts}
    return derived
