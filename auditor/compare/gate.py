"""The CI gate: compare an audit with a baseline and fail only on regressions (a ratchet).

The baseline (``auditor/compare/baseline.py``) is what an accepted audit left; a full audit
result is accepted as one too.

**Gate** (``GateReport``). Per control, a current open violation is *pre-existing* when the
baseline lists an open violation of the same control with the same kind, source, destination
and flow verdict (endpoint evidence: destination and reason) whose ports cover its ports
(``PortSet``); anything else is **new**. Undecided items and blocking reasons are matched the
same way. Then:

- new violations → the control **regressed** (pass/waived → fail, or more failure);
- only new undecided items / blocking reasons → the control **became unknown**;
- otherwise a failing or unknown control is **pre-existing** (listed, does not fail the gate);
  a control that failed in the baseline and passes now is **fixed**.

Flows: an allowed port into a protected zone (``auditor/compare/protected.py``) from outside it
that the baseline did not allow for that (source, destination) is a **new flow** (a regression);
a newly undecided port makes the gate unknown.

Exit codes: ``1`` any regression (a control regressed, a new allowed flow into a protected
zone; with ``--strict`` any failing control); else ``2`` anything that could not be established
(a control became unknown, a newly undecided flow; with ``--strict`` any unknown control), or
bad input; else ``0``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.compare.baseline import Baseline, ProtectedFlow, tuple_row
from auditor.compare.flowcols import changed_pairs
from auditor.compare.protected import entered_zones
from auditor.documents import (
    ALL,
    GATE_KIND,
    GATE_SCHEMA,
    NONE,
    Row,
    ViolationRow,
    parse_ports,
    ports_text,
)
from auditor.portset import PortSet
from auditor.reach.analysis import Analysis
from auditor.reach.engine import ALLOW, UNKNOWN

NEW_FLOWS_CONTROL = "gate:new-flows"
BASELINE_WAIVER = "baseline"
VIOLATION_COLUMNS = ("kind", "src", "dst", "ports", "flow", "reason")


def explain_rows(analysis: Analysis, rows: Sequence[Row], limit: int = 1000) -> list[str]:
    """The deciding rules (``decided_by``) of flow violations, at their ports, from the analysis:
    what SARIF locates a new violation by. The first ``limit`` flow rows only (0: all)."""
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
    """Current rows that are not, as they are, in the baseline (a set difference: most rows are).
    An unchanged control lists the same rows in the same order (both sorted): one comparison of
    the lists then answers without hashing every row (150k rows: ≈ 0.12 → 0.04 s)."""
    if not baseline:
        return list(current)
    if len(current) == len(baseline) and list(current) == list(baseline):
        return []
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
    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATUS_ORDER, 0)
        for c in self.controls:
            out[c.status] += 1
        out["new_flows"] = sum(1 for f in self.new_flows if f.verdict == "allowed")
        out["new_unknown_flows"] = sum(1 for f in self.new_flows if f.verdict == "unknown")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": GATE_SCHEMA,
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


Pair = tuple[str, str]


def run_gate(base: Baseline, current: Baseline, *, strict: bool = False,
             explain: Callable[[Sequence[Pair]], Mapping[Pair, str]] | None = None,
             explain_violations: Callable[[list[Row]], list[str]] | None = None) -> GateReport:
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
    # both sides as columns (compare/flowcols.py): only the changed pairs come back (few)
    for key, before, now in changed_pairs(base.flows, current.flows):
        src, dst = key
        hit = entered_zones(current.zones.get(src), current.zones.get(dst), compared)
        if not hit:
            continue
        packs = tuple(dict.fromkeys(z.split(":", 1)[0] for z in hit))
        entered = tuple(hit) if several else tuple(z.split(":", 1)[1] for z in hit)
        before = before or ProtectedFlow()
        added = now.allowed.minus(before.allowed)
        if added:
            new_flows.append(NewFlow(src, dst, entered, ports_text(added), "allowed", "", ports_text(before.allowed),
                                     packs))
        unknown = now.unknown.minus(before.unknown).minus(before.allowed)
        if unknown:
            new_flows.append(NewFlow(src, dst, entered, ports_text(unknown), "unknown", "",
                                     ports_text(before.unknown), packs))
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


def _listed_violation(v: Mapping[str, Any], zones_of: Callable[[str | None], list[str]]) -> dict[str, Any]:
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
            listed = {_match_key(ViolationRow(v).row) for v in f.get("violations", []) if not v.get("waived_by")}
            extra = [_listed_violation(v, zones_of) for v in g.new_violations
                     if _match_key(tuple_row([v[c] for c in VIOLATION_COLUMNS])) not in listed]
            if extra:
                out["violations"] = [*extra, *f.get("violations", [])]
        if g is not None and not report.strict and g.status in ("regression", "unknown", "pre-existing"):
            new_keys = {_match_key(tuple_row([v[c] for c in VIOLATION_COLUMNS])) for v in g.new_violations}
            viols = []
            for v in out.get("violations", []):
                if not v.get("waived_by") and _match_key(ViolationRow(v).row) not in new_keys:
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
