"""``auditor baseline INPUT... --controls PACK... -o BASELINE.json``: record the accepted state.

The baseline is what ``auditor gate`` compares with (format: ``auditor/gate.py``). Writing over
an existing baseline prints what changed: failures fixed since (the ratchet tightens) and
failures or flows newly accepted. ``--tighten`` refuses to accept anything new: it writes only
when the gate against the existing baseline passes (exit 1 otherwise, nothing written), so a
scheduled job can tighten the baseline without a human accepting a regression by accident.

Exit codes: 0 written; 1 ``--tighten`` and something regressed (nothing written); 2 bad input,
packs, zones or waivers.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import click

from auditor.canonical import atomic_write
from auditor.cli import input_options, live_settings, load, main
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
    from auditor.commands.audit import merge_externals
    from auditor.controls.pack import external_networks
    from auditor.reach.addresses import parse_network
    from auditor.reach.analysis import AnalysisOptions

    try:
        cidrs = tuple(parse_network(c) for c in pod_cidrs)
    except ValueError as exc:
        raise ValueError(f"--pod-cidr: {exc}") from None
    return AnalysisOptions(externals=merge_externals(externals, external_networks(setup.packs)), pod_cidrs=cidrs,
                           lenient=lenient, with_staged=bool(live_settings().get("with_staged")))


def listed_evidence() -> int:
    """Violations listed per control in a result the gate writes reports from (the audit's
    default): the baseline and the comparison use every violation regardless."""
    from auditor.controls import result

    return int(getattr(result, "DEFAULT_MAX_EVIDENCE", 0))


def audit_snapshot(snapshot: Any, setup: AuditSetup, options: Any, texts: dict[str, str] | None = None,
                   max_evidence: int = 0) -> Audited:
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
                           **extra)
    return Audited(analysis=analysis, result=result, texts=texts or {})


def audit_inputs(inputs: Sequence[str], setup: AuditSetup, lenient: bool, externals: Sequence[str],
                 pod_cidrs: Sequence[str], default_namespace: str, max_evidence: int = 0) -> Audited:
    options = analysis_options(setup, lenient, externals, pod_cidrs)
    snapshot, texts = read_inputs(inputs, default_namespace)
    return audit_snapshot(snapshot, setup, options, texts, max_evidence)


def current_baseline(audited: Audited, setup: AuditSetup, path: str = "") -> tuple[Any, Any]:
    """The baseline view of a fresh audit (without serialising the whole result), and a function
    giving the deciding rules of flows into protected zones. Flows come from the analysis, not
    from the result's flow list (which may be capped)."""
    from auditor.gate import Baseline, analysis_flows, protected_zones

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


@main.command()
@input_options
@audit_options(required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="BASELINE.json",
              help="Baseline file to create or update (atomically); a name ending in .gz is gzip-compressed.")
@click.option("--tighten", is_flag=True,
              help="Update only if nothing regressed against the existing baseline (fixed failures are dropped, "
                   "nothing new is accepted); exit 1 and write nothing otherwise.")
def baseline(inputs: tuple[str, ...], lenient: bool, externals: tuple[str, ...], pod_cidrs: tuple[str, ...],
             default_namespace: str, controls: tuple[str, ...], zones_file: str | None, waivers_file: str | None,
             as_of: str | None, output: str, tighten: bool) -> None:
    """Record the accepted compliance state for `auditor gate` (pre-existing failures, flows into protected zones)."""
    from auditor.gate import Baseline, run_gate

    setup = AuditSetup.load(controls, zones_file, waivers_file, as_of)
    previous = Baseline.load(output) if os.path.exists(output) else None
    if tighten and previous is None:
        raise AuditorError("--tighten needs an existing baseline to tighten", where=output)
    audited = audit_inputs(inputs, setup, lenient, externals, pod_cidrs, default_namespace, listed_evidence())
    base, _ = current_baseline(audited, setup, output)
    if previous is not None:
        report = run_gate(previous, base)
        accepted = [c for c in report.controls if c.status in ("regression", "unknown")]
        new_flows = list(report.new_flows)
        fixed = [c for c in report.controls if c.status == "fixed"]
        if tighten and (accepted or new_flows):
            from auditor.drift_render import gate_table

            click.echo(gate_table(report), nl=False, err=True)
            click.echo(f"not written: --tighten and {len(accepted)} control(s) / {len(new_flows)} flow(s) would be "
                       "newly accepted", err=True)
            sys.exit(1)
        for c in fixed:
            click.echo(f"fixed since the previous baseline: {c.pack}/{c.control} ({c.baseline} → {c.verdict})",
                       err=True)
        for c in accepted:
            click.echo(f"newly accepted: {c.pack}/{c.control} ({c.baseline or 'new'} → {c.verdict}, "
                       f"{len(c.new_violations)} new violation(s), {len(c.new_unknown) + len(c.new_reasons)} "
                       "undecided)", err=True)
        for f in new_flows:
            click.echo(f"newly accepted flow: {f.src} → {f.dst} [{f.ports}] into {', '.join(f.zones)}", err=True)
    write_baseline(base, output)
    counts: dict[str, int] = {}
    for f in base.findings.values():
        counts[f.verdict] = counts.get(f.verdict, 0) + 1
    summary = ", ".join(f"{counts.get(v, 0)} {v}" for v in ("pass", "fail", "waived", "unknown"))
    click.echo(f"wrote {output}: {len(base.findings)} controls ({summary}), "
               f"{sum(len(f.violations) for f in base.findings.values())} open violation(s) accepted, "
               f"{len(base.flows)} flow(s) into protected zones", err=True)
