"""CSV evidence the auditor samples from: controls, flows, violations, inventory, policies.

UTF-8, ``\\n`` line ends, a fixed column order per file and rows sorted on stable keys, so the
same result gives the same bytes. Columns are documented in ``docs/reports.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from auditor.canonical import atomic_write
from auditor.csvtext import frame_csv
from auditor.report.data import ReportData, view
from auditor.report.interface import ReportOptions

CONTROLS_COLUMNS = ("pack", "control", "title", "severity", "references", "verdict", "violations", "waived",
                    "unknown", "assertion", "claim", "message", "unknown_reasons", "rationale", "evidence_note")
FLOWS_COLUMNS = ("src", "dst", "src_zones", "dst_zones", "ports", "request", "verdict", "assurance", "decided_by",
                 "deciding_policies", "controls", "zone_crossing")
VIOLATIONS_COLUMNS = ("pack", "control", "status", "kind", "src", "dst", "src_zones", "dst_zones", "ports",
                      "flow", "reason", "decided_by", "deciding_policies", "waived_by")
INVENTORY_COLUMNS = ("workload", "namespace", "kind", "pods", "template", "zones", "possible_zones",
                     "service_accounts", "labels", "origin_file", "origin_line")
POLICIES_COLUMNS = ("policy", "kind", "namespace", "name", "tier", "tier_rank", "order", "types", "ingress_rules",
                    "egress_rules", "staged", "broken", "origin_file", "origin_document", "origin_line")
EXPOSURE_COLUMNS = ("client", "via", "entry", "host", "route", "service", "backend", "namespace", "port", "verdict",
                    "hops", "causes", "source_ref", "source_file", "source_line")
# violations.csv row order (the OSCAL report's evidence links name rows of it)
VIOLATIONS_SORT = ("pack", "control", "status", "src", "dst", "ports", "reason")
FILES = ("controls.csv", "flows.csv", "violations.csv", "inventory.csv", "policies.csv", "exposure.csv")


def _csv(rows: Sequence[Mapping[str, Any]] | pd.DataFrame, columns: Sequence[str], sort: Sequence[str]) -> str:
    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows), columns=list(columns))
    if len(df) and sort:
        df = df.sort_values(list(sort), kind="stable", na_position="first").reset_index(drop=True)
    return frame_csv(df)


def _join(values: Any, sep: str = "; ") -> str:
    return sep.join(str(v) for v in (values or []))


def _policies_text(data: ReportData, detail: Any) -> str:
    return _join(ref for _, ref in data.deciding_policies(detail or ()))


def controls_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for c in data.controls:
        f = c.finding
        rows.append({
            "pack": f["pack"], "control": f["control"], "title": f.get("title", ""),
            "severity": f.get("severity", ""), "references": _join(f.get("references")),
            "verdict": c.verdict, "violations": int(c.counts.get("violations", 0)),
            "waived": int(c.counts.get("waived", 0)), "unknown": int(c.counts.get("unknown", 0)),
            "assertion": (f.get("assertion") or {}).get("kind", ""), "claim": f.get("claim", ""),
            "message": f.get("message", ""), "unknown_reasons": _join(c.blocking),
            "rationale": " ".join(str(f.get("rationale", "")).split()),
            # e.g. "1,000 of 150,807 violations shown; re-run with --max-evidence 0 for all" (violations.csv
            # has the rows the result lists); empty when every one is listed
            "evidence_note": c.evidence_note(),
        })
    return rows


def flows_frame(data: ReportData) -> pd.DataFrame:
    """Built column-wise: a 10,000-pod cluster has hundreds of thousands of flows."""
    cols, texts, rows = data.flows_table()
    if not rows:
        return pd.DataFrame(columns=list(FLOWS_COLUMNS))
    raw = pd.DataFrame(rows, columns=cols)
    text_arr = np.array(texts, dtype=object)
    policies = np.array([_policies_text(data, d) for d in data.flow_details()], dtype=object)
    idx = raw["decided_by"].to_numpy(dtype=np.int64)

    def joined(col: str) -> list[str]:
        return ["; ".join(v) for v in raw[col].tolist()]

    return pd.DataFrame({
        "src": raw["src"], "dst": raw["dst"], "src_zones": joined("src_zones"), "dst_zones": joined("dst_zones"),
        "ports": raw["ports"], "request": raw["request"], "verdict": raw["verdict"], "assurance": raw["assurance"],
        "decided_by": text_arr[idx], "deciding_policies": policies[idx], "controls": joined("controls"),
        "zone_crossing": np.where(raw["crossing"].to_numpy(dtype=bool), "true", "false"),
    }, columns=list(FLOWS_COLUMNS))


def violations_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for c in data.controls:
        f = c.finding
        items = [("waived" if v.get("waived_by") else "open", v) for v in f.get("violations", [])]
        items += [("unknown", v) for v in c.unknown_flows]
        for status, v in items:
            why = v.get("decided_by") or ""
            pol = _policies_text(data, v.get("decided_by_detail"))
            rows.append({
                "pack": f["pack"], "control": f["control"], "status": status, "kind": v.get("kind", ""),
                "src": v.get("src") or "", "dst": v.get("dst") or "", "src_zones": _join(v.get("src_zones")),
                "dst_zones": _join(v.get("dst_zones")), "ports": v.get("ports", ""), "flow": v.get("flow") or "",
                "reason": v.get("reason", ""), "decided_by": why, "deciding_policies": pol,
                "waived_by": _join(v.get("waived_by")),
            })
    return rows


def inventory_rows(data: ReportData) -> list[dict[str, Any]]:
    rows = []
    for w in data.workloads.values():
        origin = w.get("origin") or {}
        rows.append({
            "workload": w["name"], "namespace": w.get("namespace") or "", "kind": w.get("kind", ""),
            "pods": int(w.get("pods", 0)), "template": "true" if w.get("template") else "false",
            "zones": data.zones_text(w.get("zones") or {}),
            "possible_zones": data.zones_text(w.get("possible_zones") or {}),
            "service_accounts": _join(w.get("service_accounts")),
            "labels": _join(f"{k}={v}" for k, v in sorted((w.get("labels") or {}).items())),
            "origin_file": origin.get("file") or "", "origin_line": "" if origin.get("line") is None else origin["line"],
        })
    return rows


def policies_rows(data: ReportData) -> list[dict[str, Any]]:
    rank = {t["name"]: t.get("rank", 0) for t in data.get("tiers", [])}
    rows = []
    for p in data.policies.values():
        origin = p.get("origin") or {}
        order = p.get("order")
        rows.append({
            "policy": p["ref"], "kind": p.get("kind", ""), "namespace": p.get("namespace") or "",
            "name": p.get("name", ""), "tier": p.get("tier", ""), "tier_rank": rank.get(p.get("tier"), len(rank)),
            "order": "" if order is None else (int(order) if float(order).is_integer() else order),
            "types": _join(p.get("types"), ","), "ingress_rules": p.get("ingress_rules", 0),
            "egress_rules": p.get("egress_rules", 0), "staged": "true" if p.get("staged") else "false",
            "broken": p.get("broken") or "", "origin_file": origin.get("file") or "",
            "origin_document": "" if origin.get("document") is None else origin["document"],
            "origin_line": "" if origin.get("line") is None else origin["line"],
        })
    return rows


def exposure_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per exposure path (EXP-1) the audit judged; empty when no control asked."""
    rows = []
    for p in (result.get("exposure") or {}).get("paths", []):
        src = p.get("source") or {}
        rows.append({
            "client": p["client"], "via": p["via"], "entry": p["entry"], "host": p.get("host", ""),
            "route": p.get("route", ""), "service": p.get("service", ""), "backend": " ".join(p.get("backend", [])),
            "namespace": p.get("namespace", ""), "port": p.get("port", ""), "verdict": p["verdict"],
            "hops": " → ".join(f"{h['step']}:{h['verdict']} ({h['rule']})" for h in p.get("hops", [])),
            "causes": _join(f"{c['code']}: {c['words']}" for c in p.get("causes", [])),
            "source_ref": src.get("ref", ""), "source_file": src.get("file") or "",
            "source_line": "" if src.get("line") is None else src["line"],
        })
    return rows


class CsvWriter:
    name = "csv"

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]:
        data = view(result)
        files = {
            "controls.csv": _csv(controls_rows(data), CONTROLS_COLUMNS, ("pack", "control")),
            "flows.csv": _csv(flows_frame(data), FLOWS_COLUMNS, ("src", "dst", "verdict", "ports")),
            "violations.csv": _csv(violations_rows(data), VIOLATIONS_COLUMNS, VIOLATIONS_SORT),
            "inventory.csv": _csv(inventory_rows(data), INVENTORY_COLUMNS, ("workload",)),
            "policies.csv": _csv(policies_rows(data), POLICIES_COLUMNS, ("tier_rank", "policy")),
            "exposure.csv": _csv(exposure_rows(result), EXPOSURE_COLUMNS, ()),
        }
        out = []
        for name, text in files.items():
            path = out_dir / name
            atomic_write(path, text.encode("utf-8"))
            out.append(path)
        return out
