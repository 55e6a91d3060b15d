"""``auditor baseline INPUT... --controls PACK... -o BASELINE.json``: record the accepted state.

The baseline is what ``auditor gate`` compares with (format: ``auditor/compare/gate.py``). Writing over
an existing baseline prints what changed: failures fixed since (the ratchet tightens) and
failures or flows newly accepted. ``--tighten`` refuses to accept anything new: it writes only
when the gate against the existing baseline passes (exit 1 otherwise, nothing written), so a
scheduled job can tighten the baseline without a human accepting a regression by accident.

Exit codes: 0 written; 1 ``--tighten`` and something regressed (nothing written); 2 bad input,
packs, zones or waivers.
"""

from __future__ import annotations

import os
import sys

import click

from auditor.commands.options import audit_options, input_options
from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    audit_inputs,
    current_baseline,
    listed_evidence,
    write_baseline,
)
from auditor.errors import AuditorError


@click.command()
@input_options
@audit_options(required=True)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), metavar="BASELINE.json",
              help="Baseline file to create or update (atomically); a name ending in .gz is gzip-compressed.")
@click.option("--tighten", is_flag=True,
              help="Update only if nothing regressed against the existing baseline (fixed failures are dropped, "
                   "nothing new is accepted); exit 1 and write nothing otherwise.")
def baseline(source: InputSpec, flags: AnalysisFlags, controls: tuple[str, ...], zones_file: str | None,
             waivers_file: str | None, as_of: str | None, output: str, tighten: bool) -> None:
    """Record the accepted compliance state for `auditor gate` (pre-existing failures, flows into protected zones)."""
    from auditor.compare.baseline import Baseline
    from auditor.compare.gate import run_gate

    setup = AuditSetup.load(controls, zones_file, waivers_file, as_of)
    previous = Baseline.load(output) if os.path.exists(output) else None
    if tighten and previous is None:
        raise AuditorError("--tighten needs an existing baseline to tighten", where=output)
    audited = audit_inputs(source, flags, setup, listed_evidence())
    base, _ = current_baseline(audited, setup, output)
    if previous is not None:
        report = run_gate(previous, base)
        accepted = [c for c in report.controls if c.status in ("regression", "unknown")]
        new_flows = list(report.new_flows)
        fixed = [c for c in report.controls if c.status == "fixed"]
        if tighten and (accepted or new_flows):
            from auditor.compare.render import gate_table

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
