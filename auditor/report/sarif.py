"""SARIF 2.1.0 for code scanning: a rule per control, a result per violation.

Each result points at the manifest of the policy that decided the flow (file and line; ingress
side first), or, when no policy applies to a side, at the manifest of that side's workload, so
a CI system annotates the pull request where the fix goes. Waived violations carry an accepted
``suppression`` naming the waiver; an ``unknown`` control gets one warning result (it could not
be established). No timestamps: the same result gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from auditor.canonical import atomic_write, canonical_json, sha256_hex
from auditor.reach.decision import Reason
from auditor.report.data import Control, ReportData, view
from auditor.report.interface import ReportOptions

FILE = "results.sarif"
SCHEMA_URI = "https://json.schemastore.org/sarif-2.1.0.json"
LEVELS = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "note"}
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0", "info": "1.0"}
# Code-scanning services cap a run (GitHub: 25,000 results); past these caps the remaining
# violations are counted in a notification and listed in violations.csv.
MAX_RESULTS_PER_RULE = 2_000
MAX_RESULTS = 25_000


def _artifact(file: str) -> dict[str, Any] | None:
    if not file or file.startswith("<"):
        return None
    p = Path(file)
    if p.is_absolute():
        return {"uri": p.as_uri()}
    return {"uri": PurePosixPath(*p.parts).as_posix(), "uriBaseId": "%SRCROOT%"}


def _physical(origin: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not origin:
        return None
    art = _artifact(str(origin.get("file") or ""))
    if art is None:
        return None
    loc: dict[str, Any] = {"artifactLocation": art}
    line = origin.get("line")
    if isinstance(line, int) and line >= 1:
        loc["region"] = {"startLine": line}
    return loc


EXPOSURE_KINDS = ("no-exposure", "exposure-only-via")


def _entry_sources(data: ReportData) -> dict[str, list[Mapping[str, Any]]]:
    """Backend workload → the objects (Ingress, Gateway, Route, Service) whose entry points lead
    to it, from the result's exposure paths: where an exposure finding is fixed."""
    out: dict[str, list[Mapping[str, Any]]] = {}
    for p in (data.get("exposure") or {}).get("paths", []):
        if p.get("verdict") == "deny" or p.get("via") == "direct":
            continue
        for w in p.get("backend", []):
            out.setdefault(str(w), []).append(p.get("source") or {})
    return out


def _locations(data: ReportData, v: Mapping[str, Any],
               entries: Mapping[str, list[Mapping[str, Any]]] | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(origin: Mapping[str, Any] | None, name: str, kind: str) -> None:
        phys = _physical(origin)
        key = canonical_json(phys).decode() if phys else name
        if key in seen:
            return
        seen.add(key)
        loc: dict[str, Any] = {"logicalLocations": [{"name": name, "kind": kind}]}
        if phys:
            loc["physicalLocation"] = phys
        found.append(loc)

    for src in (entries or {}).get(str(v.get("dst")), []):  # exposure: the entry object's line first
        add({"file": src.get("file"), "line": src.get("line")}, str(src.get("ref") or ""), "resource")
    detail = v.get("decided_by_detail") or ()
    for _, ref in data.deciding_policies(detail):
        pol = data.policies.get(ref, {})
        add(pol.get("origin"), ref, "policy")
    # a side that no policy isolates: the workload's own manifest is where a fix goes
    open_sides = {s["side"] for s in detail if any(r["reason"] == Reason.NO_POLICY for r in s.get("rules", ()))}
    wanted = []
    if v.get("kind") != "flow":
        wanted.append(v.get("dst"))
    else:
        if "ingress" in open_sides or not found:
            wanted.append(v.get("dst"))
        if "egress" in open_sides or not found:
            wanted.append(v.get("src"))
    for name in wanted:
        w = data.workloads.get(str(name)) if name else None
        if w is not None:
            add(w.get("origin"), str(name), "resource")
    with_file = [x for x in found if "physicalLocation" in x]
    return with_file + [x for x in found if "physicalLocation" not in x]


def _message(v: Mapping[str, Any], c: Control) -> str:
    subject = f"{v.get('src')} → {v.get('dst')}" if v.get("src") else str(v.get("dst"))
    ports = f" on {v['ports']}" if v.get("ports") else ""
    why = f" Decided by: {v['decided_by']}." if v.get("decided_by") and v.get("kind") == "flow" else ""
    return f"{c.key}: {subject}{ports}: {v.get('reason', '')}.{why}"


def render(data: ReportData) -> bytes:
    return canonical_json(document(data)) + b"\n"


def document(data: ReportData) -> dict[str, Any]:
    """The SARIF document before serialising (``auditor gate`` sets its category on it)."""
    rules = []
    index: dict[str, int] = {}
    for c in data.controls:
        f = c.finding
        sev = str(f.get("severity") or "high")
        refs = [str(r) for r in f.get("references", [])]
        index[c.key] = len(rules)
        rules.append({
            "id": c.key,
            "name": str(f["control"]),
            "shortDescription": {"text": str(f.get("title", ""))},
            "fullDescription": {"text": " ".join(str(f.get("rationale", "")).split()) or str(f.get("title", ""))},
            "help": {"text": f"Claim: {f.get('claim', '')}. Requirements: {', '.join(refs) or 'none'}."},
            "defaultConfiguration": {"level": LEVELS.get(sev, "warning")},
            "properties": {
                "tags": ["security", "network-segmentation", *refs],
                "precision": "very-high",
                "security-severity": SECURITY_SEVERITY.get(sev, "5.5"),
                "severity": sev,
                "pack": str(f["pack"]),
                "verdict": c.verdict,
            },
        })
    waivers = {w["id"]: w for w in data.get("waivers", [])}
    results: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    truncated: dict[str, int] = {}
    loc_cache: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    entries = _entry_sources(data)
    for c in data.controls:
        f = c.finding
        exposure = (f.get("assertion") or {}).get("kind") in EXPOSURE_KINDS
        level = LEVELS.get(str(f.get("severity") or "high"), "warning")
        violations = sorted(f.get("violations", []), key=lambda v: bool(v.get("waived_by")))  # open first
        room = max(0, min(MAX_RESULTS_PER_RULE, MAX_RESULTS - len(results) - len(data.controls)))
        total = len(violations) + c.violations_omitted  # the result may list the first ones only
        if len(violations) > room or c.violations_omitted:
            truncated[c.key] = total
            shown = min(room, len(violations))
            where = ("every violation is in violations.csv" if not c.violations_omitted else
                     f"the audit result lists {len(violations)}; re-run with --max-evidence 0 for all")
            notes.append({"level": "warning", "descriptor": {"id": c.key}, "message": {"text": (
                f"{c.key}: {shown} of {total} violations are reported as results; {where}")}})
            violations = violations[:room]
        for v in violations:
            key = (v.get("decided_by"), v.get("kind"), v.get("src"), v.get("dst"), exposure)
            locations = loc_cache.get(key)
            if locations is None:
                locations = loc_cache[key] = _locations(data, v, entries if exposure else None)
            fp = sha256_hex("|".join(str(x) for x in (c.key, v.get("kind"), v.get("src"), v.get("dst"),
                                                      v.get("ports"), v.get("reason"))).encode())
            res: dict[str, Any] = {
                "ruleId": c.key,
                "ruleIndex": index[c.key],
                "level": level,
                "message": {"text": _message(v, c)},
                "locations": locations,
                "partialFingerprints": {"zoneAuditorViolation/v1": fp[:32]},
                "properties": {k: v.get(k) for k in ("kind", "src", "dst", "ports", "flow", "decided_by",
                                                     "src_zones", "dst_zones")},
            }
            if v.get("waived_by"):
                res["suppressions"] = [{
                    "kind": "external",
                    "status": "accepted",
                    "justification": "; ".join(
                        f"waiver {w}: {waivers.get(w, {}).get('justification', '')} (approved by "
                        f"{waivers.get(w, {}).get('approver', '?')}, expires {waivers.get(w, {}).get('expires', '?')})"
                        for w in v["waived_by"]),
                }]
            results.append(res)
        if c.verdict == "unknown":
            pack = next((p for p in data.packs if p["id"] == f["pack"]), {})
            art = _artifact(str(pack.get("path") or ""))
            res = {
                "ruleId": c.key,
                "ruleIndex": index[c.key],
                "level": "warning",
                "message": {"text": f"{c.key} could not be established: " + ("; ".join(c.blocking) or str(f.get("message", "")))},
                "locations": [{"physicalLocation": {"artifactLocation": art, "region": {"startLine": 1}}}] if art else [],
                "partialFingerprints": {"zoneAuditorUnknown/v1": sha256_hex(c.key.encode())[:32]},
                "properties": {"verdict": "unknown",
                               "unknown_flows": int(c.counts.get("unknown", len(c.unknown_flows)))},
            }
            results.append(res)
    doc = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "zone-auditor",
                "version": data.tool_version,
                "semanticVersion": data.tool_version,
                "rules": rules,
            }},
            "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notes}],
            "automationDetails": {"id": "zone-auditor/" + "+".join(str(p["id"]) for p in data.packs) + "/"},
            "results": results,
            "properties": {
                "snapshot_digest": data.digest,
                "snapshot_captured_at": data.captured_at,
                "snapshot_source": str(data.snapshot.get("source") or ""),
                "result": data.verdict,
                "truncated": truncated,
                "packs": [{"id": p["id"], "version": p.get("version"), "digest": p.get("digest")} for p in data.packs],
            },
        }],
    }
    return doc


class SarifWriter:
    name = "sarif"

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]:
        path = out_dir / FILE
        atomic_write(path, render(view(result)))
        return [path]
