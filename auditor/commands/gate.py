"""``auditor gate INPUT... --controls PACK... --baseline BASELINE.json``: the CI gate (ratchet).

Exit codes: 0 nothing regressed against the baseline; 1 a control regressed (a new violation,
e.g. pass/waived → fail) or a new flow into a protected zone is allowed (``--strict``: any
failing control); 2 nothing regressed but something could not be established (a control
became unknown, a newly undecided flow into a protected zone; ``--strict``: any unknown
control), or the input, a pack, the zones map, the waivers or the baseline is invalid. The
rules are in ``auditor/compare/gate.py``; ``docs/ci.md`` has the workflows.
"""

from __future__ import annotations

import functools
import sys
import time
from typing import Any

import click

from auditor.canonical import atomic_write
from auditor.commands.options import audit_options, input_options
from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    audit_inputs,
    current_baseline,
    kept_until_exit,
    listed_evidence,
)
from auditor.commands.text import emit


@click.command()
@input_options
@audit_options(required=True)
@click.option("--baseline", "baseline_file", required=True, type=click.Path(dir_okay=False), metavar="BASELINE.json",
              help="The accepted state (auditor baseline), or an audit result (auditor audit -o).")
@click.option("--strict", is_flag=True, help="Fail on any failing control, pre-existing or not (no ratchet).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]), default="table", show_default=True,
              help="Summary format (markdown: for a pull-request comment).")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the summary to a file (atomically) instead of standard output.")
@click.option("--junit", "junit_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write JUnit XML: a test case per control, failing only on regressions.")
@click.option("--sarif", "sarif_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write SARIF 2.1.0: results at the manifest file and line of the policy that decided each "
                   "new violation or flow; pre-existing ones suppressed.")
@click.option("--source-prefix", default="", metavar="DIR/",
              help="Prefix for the `# Source:` paths of rendered Helm output, so annotations land on the chart's "
                   "templates (e.g. deploy/charts/).")
def gate(source: InputSpec, flags: AnalysisFlags, controls: tuple[str, ...], zones_file: str | None,
         waivers_file: str | None, as_of: str | None, baseline_file: str, strict: bool, fmt: str, output: str | None, junit_file: str | None,
         sarif_file: str | None, source_prefix: str) -> None:
    """Fail the build only on regressions against a baseline: exit 0 pass, 1 regression, 2 unknown."""
    from auditor.compare.baseline import Baseline
    from auditor.compare.gate import explain_rows, report_result, run_gate
    from auditor.compare.render import render_gate

    start = time.perf_counter()
    setup = AuditSetup.load(controls, zones_file, waivers_file, as_of)
    with kept_until_exit():  # a bad baseline fails before the analysis
        base = Baseline.load(baseline_file)
    # the gate compares controls and flows from the analysis: no zone matrix or flow list needed,
    # and neither its comparison nor its reports read the policies' rule summaries (auditor diff does)
    audited = audit_inputs(source, flags, setup, listed_evidence(), evidence_flows=False, with_policy_rules=False)
    # what follows builds acyclic tables and documents that are dropped at exit: no collection
    # (each full one would walk them all again, and so would the first one after the pause)
    with kept_until_exit():
        current, explain = current_baseline(audited, setup)
        report = run_gate(base, current, strict=strict, explain=explain,
                          explain_violations=functools.partial(explain_rows, audited.analysis))
        if junit_file or sarif_file:
            from auditor.report.data import view
            from auditor.report.junit import render as junit_render
            from auditor.report.sarif import document as sarif_document
            from auditor.sources.rendered import remap_origins

            assert audited.result is not None  # --controls is required
            result = audited.result.to_dict()
            remap_origins(result, dict(audited.texts), source_prefix)
            data = view(report_result(report, result))
            if junit_file:
                atomic_write(junit_file, junit_render(data))
                click.echo(f"wrote {junit_file}", err=True)
            if sarif_file:
                atomic_write(sarif_file, gate_sarif(sarif_document(data)))
                click.echo(f"wrote {sarif_file}", err=True)
    emit(render_gate(report, fmt), output)
    if output and output != "-":
        click.echo(f"wrote {output}", err=True)
    click.echo(f"gate: {report.verdict} in {time.perf_counter() - start:.1f} s (exit {report.exit_code})", err=True)
    sys.exit(report.exit_code)


def gate_sarif(doc: dict[str, Any]) -> bytes:
    """The report writer's SARIF document under its own code-scanning category
    (``zone-auditor-gate/…``), so that the gate's alerts and those of a scheduled ``auditor
    report`` do not replace each other; serialised once (not written, parsed and written again)."""
    from auditor.canonical import canonical_json

    for run in doc.get("runs", []):
        details = run.setdefault("automationDetails", {})
        details["id"] = "zone-auditor-gate/" + str(details.get("id", "")).removeprefix("zone-auditor/")
    return canonical_json(doc) + b"\n"
