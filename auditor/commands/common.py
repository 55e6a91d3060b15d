"""What ``auditor gate``, ``auditor baseline`` and ``auditor diff`` share: the audit options,
loading packs, reading the input (keeping what came on standard input), auditing, and the
baseline view of a fresh audit.

No import of ``auditor.cli`` at module level: this module is imported by the command modules
while ``auditor.cli`` registers them.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from auditor.canonical import atomic_write
from auditor.errors import AuditorError

GZIP_SUFFIX = ".gz"


def audit_options(required: bool) -> Callable[[Any], Any]:
    """--controls/--zones/--waivers/--as-of, as ``auditor audit`` has them."""

    def deco(func: Any) -> Any:
        decorators = [
            click.option("--controls", "controls", multiple=True, required=required, metavar="PACK",
                         help="Control pack YAML (repeatable), or a directory of packs."
                              + ("" if required else " Needed to audit snapshots or manifests on the fly.")),
            click.option("--zones", "zones_file", type=click.Path(dir_okay=False), metavar="FILE",
                         help="Zone definitions that replace the packs' ones by name."),
            click.option("--waivers", "waivers_file", type=click.Path(dir_okay=False), metavar="FILE",
                         help="Accepted violations with justification, approver and expiry."),
            click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                         help="Date waiver expiry is judged at (default: today, UTC)."),
        ]
        for d in reversed(decorators):
            func = d(func)
        return func

    return deco


@dataclass
class AuditSetup:
    """Packs, zone map, waivers and the waiver date, loaded and validated before any analysis."""

    packs: list[Any] = field(default_factory=list)
    zone_map: Any = None
    waivers: Any = None
    day: dt.date | None = None

    @classmethod
    def load(cls, controls: Sequence[str], zones_file: str | None, waivers_file: str | None,
             as_of: str | None) -> AuditSetup:
        from auditor.commands.audit import parse_as_of
        from auditor.controls.pack import load_packs
        from auditor.controls.waivers import load_waivers

        if not controls:
            if zones_file or waivers_file:
                raise AuditorError("--zones and --waivers need --controls")
            return cls(day=parse_as_of(as_of))
        packs, zone_map = load_packs(list(controls), zones_file)
        waivers = load_waivers(waivers_file) if waivers_file else None
        return cls(packs=packs, zone_map=zone_map, waivers=waivers, day=parse_as_of(as_of))


@dataclass
class Audited:
    """An input analysed (and audited when there are packs), with the texts read from stdin."""

    analysis: Any
    result: Any  # AuditResult | None
    texts: dict[str, str]


def read_inputs(inputs: Sequence[str], default_namespace: str) -> tuple[Any, dict[str, str]]:
    """The snapshot of INPUT... (or --live), and the text read from standard input (kept so that
    evidence can point back at Helm templates, ``auditor/sources/rendered.py``)."""
    from auditor.cli import live_settings, load
    from auditor.sources.manifests import STDIN_NAME, _decode, load_input

    live = live_settings()
    if live.get("live") or live.get("kubeconfig") or live.get("in_cluster") or "-" not in inputs:
        return load(inputs, default_namespace), {}
    stream = getattr(sys.stdin, "buffer", sys.stdin)
    raw = stream.read()
    text = _decode(raw, STDIN_NAME)
    snapshot = load_input(list(inputs), stdin=io.StringIO(text), default_namespace=default_namespace)
    return snapshot, {STDIN_NAME: text}


def analysis_options(setup: AuditSetup, lenient: bool, externals: Sequence[str], pod_cidrs: Sequence[str]) -> Any:
    from auditor.cli import live_settings
    from auditor.commands.audit import merge_externals
    from auditor.controls.pack import external_networks
    from auditor.reach.addresses import parse_network
    from auditor.reach.analysis import AnalysisOptions

    try:
        cidrs = tuple(parse_network(c) for c in pod_cidrs)
    except ValueError as exc:
        raise ValueError(f"--pod-cidr: {exc}") from None
    return AnalysisOptions(externals=merge_externals(externals, external_networks(setup.packs)), pod_cidrs=cidrs,
                           lenient=lenient, with_staged=bool(live_settings().get("with_staged")),
                           dataplane=live_settings().get("dataplane"))


def listed_evidence() -> int:
    """Violations listed per control in a result the gate writes reports from (the audit's
    default): the baseline and the comparison use every violation regardless."""
    from auditor.controls import result

    return int(getattr(result, "DEFAULT_MAX_EVIDENCE", 0))


def audit_snapshot(snapshot: Any, setup: AuditSetup, options: Any, texts: dict[str, str] | None = None,
                   max_evidence: int = 0, evidence_flows: bool = True) -> Audited:
    """Analyse, and audit when there are packs (``max_evidence``: violations and flows listed in
    the result, 0 = all; counts, verdicts and ``Finding.all_violations`` always cover all)."""
    import inspect

    from auditor.controls.runner import run_audit
    from auditor.reach.analysis import analyze

    gc.collect()
    gc.freeze()  # the snapshot lives until exit: keep the cyclic collector off its objects
    analysis = analyze(snapshot, options)
    result = None
    if setup.packs:
        extra = {"max_evidence": max_evidence} if "max_evidence" in inspect.signature(run_audit).parameters else {}
        result = run_audit(analysis, setup.packs, zone_map=setup.zone_map, waivers=setup.waivers, as_of=setup.day,
                           evidence_flows=evidence_flows, **extra)
    return Audited(analysis=analysis, result=result, texts=texts or {})


def audit_inputs(inputs: Sequence[str], setup: AuditSetup, lenient: bool, externals: Sequence[str],
                 pod_cidrs: Sequence[str], default_namespace: str, max_evidence: int = 0,
                 evidence_flows: bool = True) -> Audited:
    options = analysis_options(setup, lenient, externals, pod_cidrs)
    snapshot, texts = read_inputs(inputs, default_namespace)
    return audit_snapshot(snapshot, setup, options, texts, max_evidence, evidence_flows)


def current_baseline(audited: Audited, setup: AuditSetup, path: str = "") -> tuple[Any, Any]:
    """The baseline view of a fresh audit (without serialising the whole result), and a function
    giving the deciding rules of flows into protected zones. Flows come from the analysis, not
    from the result's flow list (which may be capped)."""
    from auditor.compare.gate import Baseline, analysis_flows, protected_zones

    result = audited.result
    protected = protected_zones(setup.packs)
    light = {
        "tool_version": result.tool_version,
        "snapshot": result.snapshot,
        "packs": list(result.packs),
        "zones_file": result.zones_file,
        "waivers_file": result.waivers_file,
        "as_of": result.as_of,
        "summary": {"verdict": result.verdict},
        "waivers": [w.to_dict() for w in result.waivers],
        **{k: v for k, v in result.evidence.items() if k != "flows"},
    }
    base = Baseline.from_result(light, where=path, protected=protected, findings=result.findings)
    base.flows, explain = analysis_flows(audited.analysis, base.zones, protected)
    return base, explain


def write_baseline(base: Any, path: str) -> None:
    data = base.dumps()
    if path.endswith(GZIP_SUFFIX):
        import gzip

        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)
