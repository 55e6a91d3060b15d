"""What the report writers need, derived from the audit result JSON alone.

A report is made from ``auditor audit -o result.json`` (or directly by ``audit --report``) and
must be reproducible from that file months later, without the cluster, the packs or the tool's
analysis. ``ReportData`` reads the result (``auditor.documents.AuditDocument``: checked and typed
once) and offers the views every writer shares:
controls with qualified ids, verdict counts, requirements, zones per workload, the policies that
decided a flow (with their manifest origin), the command that reproduces the audit, and the
values of the template placeholders.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from auditor.documents import FLOW_COLUMNS, AuditDocument, ControlFinding
from auditor.reach.decision import RULE_REASONS, Decision, Reason, rule_text

VERDICT_ORDER = ("fail", "unknown", "waived", "pass")  # worst first


def worst(verdicts: Iterable[str]) -> str:
    seen = set(verdicts)
    for v in VERDICT_ORDER:
        if v in seen:
            return v
    return "pass"


def natural_key(text: str) -> tuple[Any, ...]:
    """``PCI DSS v4.0 1.4.10`` after ``1.4.2``: digits compare as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text))


@dataclass(frozen=True)
class Control:
    """One finding of the result, with the id reports show (``pack/control`` when several packs).

    Everything else is the typed finding's (``verdict``, ``counts``, ``open_violations``,
    ``waived_violations``, ``unknown_flows``, ``blocking``, ``violations_omitted``, …); its
    rows read like the JSON objects they came from (``v.get("src")``)."""

    key: str
    finding: ControlFinding

    def __getitem__(self, name: str) -> Any:
        return self.finding[name]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.finding, name)

    def evidence_note(self) -> str:
        """``""`` when the result lists all the control's evidence, else e.g. ``1,000 of 150,807
        violations shown; re-run with --max-evidence 0 for all``."""
        parts = []
        f = self.finding
        for listed, omitted, what in ((len(f.violations), f.violations_omitted, "violations"),
                                      (len(f.unknown_flows), f.unknown_omitted, "undecided items")):
            if omitted:
                parts.append(f"{listed:,} of {listed + omitted:,} {what}")
        return " and ".join(parts) + " shown; re-run with --max-evidence 0 for all" if parts else ""


class ReportData:
    """A validated audit result and the views derived from it."""

    def __init__(self, result: Mapping[str, Any], *, where: str = "audit result") -> None:
        self.document = AuditDocument.parse(result, where=where)  # checks kind, schema, required keys
        self.result = result
        self.where = where

    # -- basics ------------------------------------------------------------------------------------
    @property
    def snapshot(self) -> Mapping[str, Any]:
        return self.result["snapshot"]

    @property
    def digest(self) -> str:
        return str(self.snapshot.get("digest", ""))

    @property
    def captured_at(self) -> str:
        return str(self.snapshot.get("captured_at") or "")

    @property
    def date(self) -> str:
        return self.captured_at[:10]

    @property
    def verdict(self) -> str:
        return str(self.result["summary"]["verdict"])

    @property
    def tool_version(self) -> str:
        return str(self.result.get("tool_version", ""))

    @property
    def packs(self) -> list[Mapping[str, Any]]:
        return list(self.result["packs"])

    @property
    def several_packs(self) -> bool:
        return len(self.packs) > 1

    def get(self, key: str, default: Any = None) -> Any:
        return self.result.get(key, default)

    @cached_property
    def controls(self) -> list[Control]:
        several = self.several_packs
        return [Control(key=f"{f.pack}/{f.control}" if several else f.control, finding=f)
                for f in self.document.findings]

    @cached_property
    def unknown_causes(self) -> list[dict[str, Any]]:
        """Causes of every unknown control, merged: ``{code, words, object, count}``, most first."""
        total: dict[tuple[str, str, str], int] = {}
        for c in self.controls:
            if c.verdict != "unknown":
                continue
            for x in c.unknown_causes:
                key = (str(x.get("code")), str(x.get("words")), str(x.get("object") or ""))
                total[key] = total.get(key, 0) + int(x.get("count") or 1)
        return [{"code": k[0], "words": k[1], "object": k[2], "count": n}
                for k, n in sorted(total.items(), key=lambda kv: (-kv[1], kv[0]))]

    @cached_property
    def counts(self) -> dict[str, int]:
        out = {"pass": 0, "fail": 0, "waived": 0, "unknown": 0}
        for c in self.controls:
            out[c.verdict] = out.get(c.verdict, 0) + 1
        return out

    @cached_property
    def violation_totals(self) -> dict[str, int]:
        out = {"violations": 0, "waived": 0, "unknown": 0}
        for c in self.controls:
            for k in out:
                out[k] += int(c.counts.get(k, 0))
        return out

    @cached_property
    def frameworks(self) -> list[str]:
        return list(dict.fromkeys(str(p.get("framework") or p.get("title") or p.get("id")) for p in self.packs))

    @cached_property
    def requirements(self) -> list[tuple[str, list[Control], str]]:
        """(reference, controls citing it, worst verdict), in natural order of the reference."""
        per: dict[str, list[Control]] = {}
        for c in self.controls:
            for ref in c.finding.get("references", []):
                per.setdefault(str(ref), []).append(c)
        return [(ref, cs, worst(c.verdict for c in cs)) for ref, cs in sorted(per.items(), key=lambda x: natural_key(x[0]))]

    # -- zones, workloads, policies --------------------------------------------------------------------
    @cached_property
    def workloads(self) -> dict[str, Mapping[str, Any]]:
        return {w["name"]: w for w in (self.result.get("inventory") or {}).get("workloads", [])}

    @cached_property
    def externals(self) -> dict[str, Mapping[str, Any]]:
        return {w["name"]: w for w in (self.result.get("inventory") or {}).get("external_networks", [])}

    def flows_table(self) -> tuple[list[str], list[str], list[list[Any]]]:
        """(columns, decided_by texts, rows) of the result's ``flows``; the ``decided_by`` cell of
        a row is an index into the texts (see auditor/controls/evidence.py)."""
        fl = self.result.get("flows")
        if not fl:
            return list(FLOW_COLUMNS), [], []
        return list(fl["columns"]), list(fl.get("decided_by", [])), list(fl["rows"])

    def flow_details(self) -> list[list[Mapping[str, Any]]]:
        """``decided_by_detail`` of each ``decided_by`` text of ``flows_table`` (``[]`` each in a
        result written before it was recorded)."""
        fl = self.result.get("flows") or {}
        texts = fl.get("decided_by", [])
        return list(fl.get("decided_by_detail") or [[] for _ in texts])

    @property
    def flows_omitted(self) -> int:
        """Flows counted but not listed in the result (``auditor audit --max-evidence``)."""
        return int((self.result.get("flows") or {}).get("omitted") or 0)

    def flows_note(self) -> str:
        """``""`` when every flow is listed, else ``N of M flows shown; re-run …``."""
        omitted = self.flows_omitted
        if not omitted:
            return ""
        listed = len((self.result.get("flows") or {}).get("rows", []))
        return f"{listed:,} of {listed + omitted:,} flows shown; re-run with --max-evidence 0 for all"

    def zone_names(self, pack: str) -> list[str]:
        return list((self.result.get("zones") or {}).get(pack, {}))

    def zones_text(self, zones: Mapping[str, Iterable[str]]) -> str:
        """``cde`` (one pack) or ``pci-dss-v4:cde; hipaa:ephi`` (several)."""
        if not self.several_packs:
            return ", ".join(z for zs in zones.values() for z in zs)
        return "; ".join(f"{p}:{z}" for p, zs in sorted(zones.items()) for z in zs)

    @cached_property
    def policies(self) -> dict[str, Mapping[str, Any]]:
        return {p["ref"]: p for p in self.result.get("policies", [])}

    def deciding_policies(self, detail: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
        """(side, policy ref) of the policy rules in a ``decided_by_detail`` that the result lists
        among its ``policies``: ingress side, Istio, egress side, each once."""
        out: list[tuple[str, str]] = []
        by_side = {s["side"]: s for s in detail}
        for side in ("ingress", "istio", "egress"):
            for r in by_side.get(side, {}).get("rules", ()):
                ref = (r.get("policy") or {}).get("ref")
                if Reason(r["reason"]) in RULE_REASONS and ref in self.policies and (side, ref) not in out:
                    out.append((side, ref))
        return out

    @staticmethod
    def rule_lines(detail: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
        """(side, its deciding rules in short words) per side of a ``decided_by_detail``."""
        out = []
        for s in detail:
            texts = [rule_text(Decision.from_json(r), short=True) for r in s.get("rules", ())]
            if s.get("more"):
                texts.append(f"+{s['more']} more")
            out.append((str(s["side"]), " | ".join(texts)))
        return out

    @staticmethod
    def short_rule(decided_by: str, limit: int = 160) -> str:
        text = decided_by.replace(" (K8S-2, CAL-22)", "").replace(" (CAL-21, K8S-4)", "")
        return text if len(text) <= limit else text[: limit - 1] + "…"

    # -- reproduce -----------------------------------------------------------------------------------------
    def reproduce_command(self) -> str:
        source = str(self.snapshot.get("source") or "")
        args = ["auditor", "audit"]
        if source.startswith("manifests: "):
            args += [p.strip() for p in source[len("manifests: "):].split(", ") if p.strip()]
        elif source.startswith("live:"):
            m = re.search(r"context=(\S+)", source)
            args += ["--live"] + (["--context", m.group(1)] if m and m.group(1) not in ("None", "unknown") else [])
        else:
            args.append("SNAPSHOT.json")
        for p in self.packs:
            args += ["--controls", str(p.get("path") or p.get("id"))]
        if self.result.get("zones_file"):
            args += ["--zones", str(self.result["zones_file"].get("path"))]
        if self.result.get("waivers_file"):
            args += ["--waivers", str(self.result["waivers_file"].get("path"))]
        if self.result.get("as_of"):
            args += ["--as-of", str(self.result["as_of"])]
        options = (self.result.get("scope") or {}).get("options") or {}
        pack_cidr_zones = {name for zones in (self.result.get("zones") or {}).values()
                           for name, z in zones.items() if z.get("kind") == "cidr"}
        for ext in options.get("externals", []):
            if ext["name"] in pack_cidr_zones or (ext["name"] == "internet" and ext["cidrs"] == ["0.0.0.0/0"]):
                continue
            args += ["--external", f"{ext['name']}={','.join(ext['cidrs'])}"]
        for cidr in options.get("pod_cidrs", []):
            args += ["--pod-cidr", cidr]
        if options.get("lenient"):
            args.append("--lenient")
        if options.get("with_staged"):
            args.append("--with-staged")
        args += ["-o", "result.json"]
        return " ".join(shlex.quote(a) for a in args)

    # -- placeholders ----------------------------------------------------------------------------------------
    def cluster_name(self, override: str = "") -> str:
        if override:
            return override
        if self.snapshot.get("cluster_name"):  # ``scan --cluster-name``
            return str(self.snapshot["cluster_name"])
        source = str(self.snapshot.get("source") or "")
        if source.startswith("manifests: "):
            return source[len("manifests: "):]
        if source.startswith("live:"):
            m = re.search(r"context=(\S+)", source)
            return f"{m.group(1)} (live)" if m else source
        return source or "unnamed cluster"

    def placeholders(self, organisation: str = "", cluster: str = "", evidence_rows: int = 200) -> dict[str, str]:
        scope = self.result.get("scope") or {}
        counts = scope.get("counts") or {}
        zones = []
        for pack in self.packs:
            zones.extend(self.zone_names(str(pack["id"])))
        c = self.counts
        return {
            "organisation": organisation or "the organisation",
            "cluster": self.cluster_name(cluster),
            "source": str(self.snapshot.get("source") or ""),
            "framework": ", ".join(self.frameworks),
            "packs": ", ".join(f"{p.get('title', p['id'])} (v{p.get('version') or '-'})" for p in self.packs),
            "date": self.date,
            "captured_at": self.captured_at,
            "result": self.verdict,
            "result_upper": self.verdict.upper(),
            "controls_total": str(len(self.controls)),
            "controls_pass": str(c["pass"]),
            "controls_fail": str(c["fail"]),
            "controls_waived": str(c["waived"]),
            "controls_unknown": str(c["unknown"]),
            "violations": str(self.violation_totals["violations"]),
            "waived_violations": str(self.violation_totals["waived"]),
            "snapshot_digest": self.digest,
            "snapshot_digest_short": self.digest[:12],
            "tool_version": self.tool_version,
            "workloads": str(counts.get("workloads", len(self.workloads))),
            "pods": str(counts.get("pods", "n/a")),
            "namespaces": str(counts.get("namespaces", "n/a")),
            "policies": str(counts.get("policies", len(self.policies))),
            "zones": ", ".join(dict.fromkeys(zones)),
            "flows": str(self.crossing_flows),
            "evidence_rows": str(evidence_rows),
        }

    @cached_property
    def crossing_flows(self) -> int:
        fl = self.result.get("flows") or {}
        if "crossing" in fl:  # every zone-crossing flow, listed or not
            return int(fl["crossing"])
        cols, _, rows = self.flows_table()
        k = cols.index("crossing")
        return sum(1 for r in rows if r[k])

    # -- evidence summaries ------------------------------------------------------------------------------------
    @staticmethod
    def summarise_by_workload(violations: list[Mapping[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
        """Group flow evidence by the side with fewer distinct workloads.

        Returns ``(side, rows)``: side is ``dst`` or ``src``; each row has the workload, the number
        of flows, distinct peers, an example peer, the union of ports (as listed) and the most
        common deciding rule.
        """
        srcs = {v.get("src") for v in violations}
        dsts = {v.get("dst") for v in violations}
        side = "src" if len(srcs) < len(dsts) and None not in srcs else "dst"
        other = "dst" if side == "src" else "src"
        groups: dict[str, list[Mapping[str, Any]]] = {}
        for v in violations:
            groups.setdefault(str(v.get(side) or ""), []).append(v)
        rows = []
        for name, items in groups.items():
            peers = sorted({str(v.get(other) or "") for v in items if v.get(other)})
            ports = list(dict.fromkeys(str(v.get("ports") or "") for v in items))
            rules = Counter(str(v.get("decided_by") or v.get("reason") or "") for v in items)
            top = rules.most_common(1)[0][0] if rules else ""
            detail = next((v.get("decided_by_detail") or [] for v in items if v.get("decided_by") == top), [])
            rows.append({
                "workload": name,
                "flows": len(items),
                "peers": len(peers),
                "example": peers[0] if peers else "",
                "ports": "all" if "all" in ports else " ".join(ports[:4]) + (" …" if len(ports) > 4 else ""),
                "decided_by": top,
                "decided_by_detail": detail,
            })
        rows.sort(key=lambda r: (-r["flows"], r["workload"]))
        return side, rows


_CACHE: list[tuple[Mapping[str, Any], ReportData]] = []


def view(result: Mapping[str, Any]) -> ReportData:
    """The ``ReportData`` of a result dict, built once per dict (the writers share it)."""
    for obj, data in _CACHE:
        if obj is result:
            return data
    data = ReportData(result)
    _CACHE[:] = [(result, data)]
    return data
