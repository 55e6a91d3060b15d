"""OSCAL assessment results (JSON) from the audit result, for GRC tools that import OSCAL.

Built and validated with compliance-trestle's OSCAL models (``trestle.oscal``), never as
hand-written dicts: a document that does not validate is not written. The mapping:

- each control → a finding whose ``target.status`` is ``satisfied`` only for ``pass``;
  ``fail``, ``unknown`` and ``waived`` are ``not-satisfied`` (``unknown`` is never satisfied,
  with an observation saying why; ``waived`` carries its deviation-approved risks);
- each listed violation (and unknown flow) → an observation with evidence links to its row of
  ``violations.csv`` (``#row=N``, RFC 7111: the header is row 1) and the snapshot digest;
- each waiver of a control in the result → a risk: ``deviation-approved`` with its expiry as
  the deadline while valid, ``open`` once expired (an expired waiver approves nothing);
- the packs' ``mappings`` (NIST SP 800-53 rev5, PCI DSS) → the reviewed controls and finding props.

Identifiers are uuid5 of the content (same result → same bytes) and every timestamp is the
snapshot's capture time: nothing depends on when the report was written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from auditor.canonical import atomic_write, canonical_json, sha256_hex
from auditor.report.data import Control, ReportData, view
from auditor.report.interface import ReportOptions

FILE = "assessment-results.json"
NS = "urn:zone-auditor:oscal"  # namespace of the props this tool defines
NIST = "nist-sp-800-53-rev5"
CATALOG_TITLES = {NIST: "NIST SP 800-53 Rev. 5", "pci-dss-v4": "PCI DSS v4.0"}
VIOLATIONS_CSV = "violations.csv"
STATE = {"pass": "satisfied", "fail": "not-satisfied", "waived": "not-satisfied", "unknown": "not-satisfied"}
REASON = {"pass": "pass", "fail": "fail", "waived": "other", "unknown": "other"}


def _token(text: str) -> str:
    """An OSCAL token (a letter or '_' first, then letters, digits, '.', '_', '-'): pack control
    ids may use ':' or start with a digit, which OSCAL ids and prop names may not."""
    out = re.sub(r"[^A-Za-z0-9._-]", "_", text)
    return out if re.match(r"[A-Za-z_]", out) else "_" + out


def _when(stamp: str) -> dt.datetime:
    """``2026-12-07T09:10:16Z`` → an aware datetime (OSCAL wants time zones)."""
    return dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) if stamp else dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def csv_rows(data: ReportData) -> dict[tuple[str, str, str, int], int]:
    """(pack, control, status, index in the result's list) → row of violations.csv (header = row 1)."""
    import pandas as pd

    from auditor.report.csvs import VIOLATIONS_COLUMNS, VIOLATIONS_SORT, violations_rows

    rows = violations_rows(data)
    keys: list[tuple[str, str, str, int]] = []
    for c in data.controls:
        f = c.finding
        listed = f.get("violations", [])
        keys += [(f["pack"], f["control"], "listed", i) for i in range(len(listed))]
        keys += [(f["pack"], f["control"], "unknown", i) for i in range(len(c.unknown_flows))]
    if not rows:
        return {}
    df = pd.DataFrame(rows, columns=list(VIOLATIONS_COLUMNS))
    order = df.sort_values(list(VIOLATIONS_SORT), kind="stable", na_position="first").index.tolist()
    return {keys[original]: position + 2 for position, original in enumerate(order)}


class _Ids:
    """uuid5 under a namespace made from the result's own bytes."""

    def __init__(self, result: Mapping[str, Any]) -> None:
        self.root = uuid.uuid5(uuid.NAMESPACE_URL, "zone-auditor:oscal:" + sha256_hex(canonical_json(result)))

    def __call__(self, *parts: str) -> str:
        return str(uuid.uuid5(self.root, "\x1f".join(parts)))


def build(result: Mapping[str, Any]) -> Any:
    """The ``AssessmentResults`` model of an audit result (validated by trestle as it is built)."""
    from trestle.oscal import OSCAL_VERSION
    from trestle.oscal import assessment_results as ar
    from trestle.oscal import common as oc

    data = view(result)
    ids = _Ids(result)
    when = _when(data.captured_at)
    digest = data.digest
    rows = csv_rows(data)

    def prop(name: str, value: Any, cls: str | None = None) -> Any:
        return oc.Property(name=name, ns=NS, value=str(value), class_=cls)

    snapshot_evidence = oc.RelevantEvidence(
        description=f"Cluster snapshot sha256:{digest} ({data.snapshot.get('source', '')}), captured {data.captured_at}",
        props=[prop("snapshot-digest", digest)])

    observations: list[Any] = []
    risks: list[Any] = []
    findings: list[Any] = []
    waivers = _waivers_by_control(data)
    for c in data.controls:
        f = c.finding
        key = (f["pack"], f["control"])
        related: list[str] = []
        for i, v in enumerate(f.get("violations", [])):
            uid = ids("observation", *key, "violation", str(i))
            related.append(uid)
            observations.append(_violation(oc, uid, c, v, rows.get((*key, "listed", i)), when, prop,
                                           snapshot_evidence))
        for i, v in enumerate(c.unknown_flows):
            uid = ids("observation", *key, "unknown", str(i))
            related.append(uid)
            observations.append(_violation(oc, uid, c, v, rows.get((*key, "unknown", i)), when, prop,
                                           snapshot_evidence, unknown=True))
        if c.verdict == "unknown":
            uid = ids("observation", *key, "why-unknown")
            related.append(uid)
            observations.append(_why_unknown(oc, uid, c, when, prop, snapshot_evidence))
        omitted = c.evidence_note()
        if omitted:
            uid = ids("observation", *key, "omitted")
            related.append(uid)
            observations.append(oc.Observation(
                uuid=uid, title=f"{c.key}: evidence not listed", description=omitted, methods=["TEST"],
                types=["finding"], collected=when, relevant_evidence=[snapshot_evidence],
                props=[prop("control", c.key)]))
        risk_ids = []
        for w in waivers.get(key, []):
            rid = ids("risk", w["id"])
            risk_ids.append(rid)
            waived_obs = [ids("observation", *key, "violation", str(i))
                          for i, v in enumerate(f.get("violations", [])) if w["id"] in (v.get("waived_by") or [])]
            risks.append(_risk(oc, rid, c, w, waived_obs, data.get("as_of"), prop))
        findings.append(_finding(oc, ids("finding", *key), c, related, risk_ids, prop))

    plan_uuid = ids("resource", "assessment-plan")
    snapshot_uuid = ids("resource", "snapshot")
    result_model = ar.Result(
        uuid=ids("result"),
        title=f"Network segmentation assessment of {data.cluster_name()}",
        description=(f"Automated assessment by zone-auditor {data.tool_version} of snapshot sha256:{digest}: "
                     f"{data.verdict.upper()} ({_counts_text(data)})."),
        start=when,
        end=when,
        props=[prop("snapshot-digest", digest), prop("verdict", data.verdict),
               *(prop("pack-digest", p.get("digest", ""), cls=str(p.get("id"))) for p in data.packs)],
        reviewed_controls=oc.ReviewedControls(control_selections=_selections(oc, data, prop)),
        observations=observations or None,
        risks=risks or None,
        findings=findings or None,
    )
    doc = ar.AssessmentResults(
        uuid=ids("assessment-results"),
        metadata=oc.Metadata(
            title=f"Zone-compliance assessment results: {data.cluster_name()}",
            last_modified=when,
            version=f"snapshot-{digest[:12]}",
            oscal_version=OSCAL_VERSION,
            props=[prop("snapshot-digest", digest), prop("tool-version", data.tool_version)],
        ),
        import_ap=ar.ImportAp(href=f"#{plan_uuid}",
                              remarks="The assessment plan is the control packs, named in back matter with "
                                      "their digests."),
        results=[result_model],
        back_matter=oc.BackMatter(resources=[
            oc.Resource(
                uuid=plan_uuid, title="Assessment plan: zone-auditor control packs",
                description="; ".join(f"{p.get('title', p['id'])} ({p['id']} version {p.get('version') or '-'})"
                                      for p in data.packs),
                rlinks=[oc.Rlink(href=str(p["path"]), media_type="application/yaml",
                                 hashes=[oc.Hash(algorithm="SHA-256", value=str(p["digest"]))])
                        for p in data.packs if p.get("path") and p.get("digest")] or None),
            oc.Resource(uuid=snapshot_uuid, title="Cluster snapshot (the evidence)",
                        description=f"{data.snapshot.get('source', '')}, captured {data.captured_at}",
                        props=[prop("snapshot-digest", digest)]),
        ]),
    )
    return doc


def _counts_text(data: ReportData) -> str:
    c = data.counts
    return ", ".join(f"{c[v]} {v}" for v in ("pass", "fail", "waived", "unknown"))


def _mappings(c: Control) -> list[tuple[str, list[str]]]:
    return sorted((str(k), [str(x) for x in v]) for k, v in (c.finding.get("mappings") or {}).items())


def _selections(oc: Any, data: ReportData, prop: Any) -> list[Any]:
    """One selection per catalog the packs map onto, then the packs' own control ids."""
    catalogs: dict[str, dict[str, None]] = {}
    for c in data.controls:
        for catalog, cids in _mappings(c):
            catalogs.setdefault(catalog, {}).update(dict.fromkeys(cids))
    out = [oc.ControlSelections(description=CATALOG_TITLES.get(catalog, catalog), props=[prop("catalog", catalog)],
                                include_controls=[oc.SelectControlById(control_id=x) for x in sorted(cids)])
           for catalog, cids in sorted(catalogs.items())]
    for p in data.packs:
        own = [c["control"] for c in data.controls if c["pack"] == p["id"]]
        if own:
            out.append(oc.ControlSelections(
                description=f"zone-auditor control pack {p['id']} ({p.get('title', '')})",
                props=[prop("catalog", f"zone-auditor:{p['id']}")],
                include_controls=[oc.SelectControlById(control_id=_token(x)) for x in own]))
    return out


def _finding(oc: Any, uid: str, c: Control, related: Sequence[str], risk_ids: Sequence[str], prop: Any) -> Any:
    f = c.finding
    maps = _mappings(c)
    nist = next((cids for catalog, cids in maps if catalog == NIST), [])
    # the control's first NIST id (the pack author's primary one) names the target statement
    target_id, target_type = (f"{nist[0]}_smt", "statement-id") if nist else (_token(str(f["control"])), "objective-id")
    counts = c.counts
    remarks = {
        "pass": "Every check of this control passed.",
        "fail": f"{counts.get('violations', 0)} open violation(s).",
        "waived": (f"{counts.get('waived', 0)} violation(s), every one covered by a valid waiver: not satisfied, "
                   "with the deviation approved (see the related risks)."),
        "unknown": "The answer could not be established: not satisfied until it can (see the related observations).",
    }[c.verdict]
    return oc.Finding(
        uuid=uid,
        title=f"{c.key}: {f.get('title', '')}",
        description=" ".join(x for x in (f.get("claim", ""), f.get("message", "")) if x) or c.key,
        props=[prop("control", c.key), prop("pack", f["pack"]), prop("verdict", c.verdict),
               prop("severity", f.get("severity", "")),
               *(prop("reference", r) for r in f.get("references", [])),
               *(prop(_token(catalog), cid) for catalog, cids in maps for cid in cids)],
        target=oc.FindingTarget(
            type=target_type, target_id=target_id, title=str(f.get("title", "")),
            props=[prop("control", c.key)],
            status=oc.ObjectiveStatus(state=STATE[c.verdict], reason=REASON[c.verdict], remarks=remarks)),
        related_observations=[oc.RelatedObservation(observation_uuid=x) for x in related] or None,
        related_risks=[oc.AssociatedRisk(risk_uuid=x) for x in risk_ids] or None,
    )


def _violation(oc: Any, uid: str, c: Control, v: Mapping[str, Any], row: int | None, when: dt.datetime,
               prop: Any, snapshot_evidence: Any, unknown: bool = False) -> Any:
    subject = f"{v['src']} → {v['dst']}" if v.get("src") else str(v.get("dst", ""))
    ports = f" on {v['ports']}" if v.get("ports") else ""
    status = "unknown" if unknown else ("waived" if v.get("waived_by") else "open")
    evidence = []
    if row is not None:
        evidence.append(oc.RelevantEvidence(href=f"{VIOLATIONS_CSV}#row={row}",
                                            description=f"{VIOLATIONS_CSV} row {row} (RFC 7111; the header is row 1)"))
    evidence.append(snapshot_evidence)
    why = f" Decided by: {v['decided_by']}." if v.get("decided_by") else ""
    return oc.Observation(
        uuid=uid,
        title=f"{c.key}: {'undecided' if unknown else 'violation'} {subject}{ports}",
        description=f"{v.get('reason', '')}.{why}".strip(),
        methods=["TEST"],
        types=["finding"],
        collected=when,
        props=[prop("control", c.key), prop("status", status), prop("kind", v.get("kind", "")),
               *(prop("waived-by", w) for w in v.get("waived_by") or [])],
        relevant_evidence=evidence,
    )


def _why_unknown(oc: Any, uid: str, c: Control, when: dt.datetime, prop: Any, snapshot_evidence: Any) -> Any:
    reasons = list(c.blocking)
    n = int(c.counts.get("unknown", 0))
    if n:
        reasons.append(f"{n} flow(s) or endpoint(s) with an undecided verdict")
    return oc.Observation(
        uuid=uid,
        title=f"{c.key}: why the verdict is unknown",
        description="Not satisfied because the answer could not be established: " + "; ".join(reasons or ["unknown"]),
        methods=["TEST"],
        types=["control-objective"],
        collected=when,
        props=[prop("control", c.key), prop("verdict", "unknown")],
        relevant_evidence=[snapshot_evidence],
    )


def _waivers_by_control(data: ReportData) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """Waivers of controls in the result (``CONTROL`` or ``pack/CONTROL``), by (pack, control)."""
    out: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for w in sorted(data.get("waivers", []) or [], key=lambda w: str(w.get("id"))):
        for c in data.controls:
            f = c.finding
            if w.get("control") in (f["control"], f"{f['pack']}/{f['control']}"):
                out.setdefault((f["pack"], f["control"]), []).append(w)
    return out


def _risk(oc: Any, uid: str, c: Control, w: Mapping[str, Any], observations: Iterable[str], as_of: Any,
          prop: Any) -> Any:
    expired = w.get("status") == "expired"
    expires = str(w.get("expires", ""))
    deadline = None
    with contextlib.suppress(ValueError):
        deadline = dt.datetime.combine(dt.date.fromisoformat(expires), dt.time(23, 59, 59), tzinfo=dt.UTC)
    statement = (f"Violations of {c.key} accepted by waiver {w['id']}, approved by {w.get('approver', '')}, "
                 f"valid through {expires}.")
    if expired:
        statement += (f" The waiver expired (as of {as_of}): it approves nothing, and the violations it would "
                      "cover are open.")
    return oc.Risk(
        uuid=uid,
        title=f"Waiver {w['id']} of {c.key}" + (" (expired)" if expired else ""),
        description=str(w.get("justification", "")) or f"Waiver {w['id']}",
        statement=statement,
        props=[prop("waiver", w["id"]), prop("waiver-status", w.get("status", "")), prop("expires", expires),
               prop("approver", w.get("approver", "")), prop("covers", w.get("covers", 0))],
        status=oc.RiskStatus("open" if expired else "deviation-approved"),
        deadline=deadline,
        related_observations=[oc.RelatedObservation(observation_uuid=x) for x in observations] or None,
    )


def render(result: Mapping[str, Any]) -> bytes:
    """The document as JSON (trestle's serialisation, indented), newline-terminated."""
    return build(result).oscal_serialize_json_bytes(pretty=True) + b"\n"


class OscalWriter:
    name = "oscal"

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]:
        path = out_dir / FILE
        atomic_write(path, render(result))
        return [path]
