"""``auditor audit``: control packs over the reachability result → pass/fail/waived/unknown.

Exit codes: 0 every control passes or is waived; 1 any control fails; 2 any control is
unknown (and none fails), or the input, a pack, the zones map or the waivers are invalid.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from auditor.commands.attest import check_signing, sign_audit
from auditor.commands.options import (
    MAX_MEMORY,
    audit_options,
    input_options,
    max_evidence_option,
    report_options,
)
from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    audit_inputs,
    memory_budget,
)
from auditor.commands.report import check_report_options, run_reports
from auditor.commands.text import emit, ignored_line, out, to_table

if TYPE_CHECKING:
    from auditor.controls.result import AuditResult, Finding

DETAIL_LINES = 10


def render(result: AuditResult) -> str:
    """The summary table, then the evidence of every control that did not pass."""
    several = len(result.packs) > 1
    rows = []
    for f in result.findings:
        counts = f.counts
        rows.append({
            "control": f"{f.pack}/{f.control}" if several else f.control,
            "verdict": f.verdict,
            "violations": counts["violations"],
            "waived": counts["waived"],
            "unknown": counts["unknown"],
            "severity": f.severity,
            "title": f.title,
        })
    import pandas as pd

    lines = [to_table(pd.DataFrame(rows), max_width=70).rstrip("\n")]
    for f in result.findings:
        if f.verdict == "pass":
            continue
        lines.append("")
        lines.extend(_detail(f))
    if result.waivers:
        lines.append("")
        lines.append(f"waivers (as of {result.as_of}):")
        for w in sorted(result.waivers, key=lambda w: w.id):
            lines.append(f"  {w.id} [{w.control}]: {w.status}, covers {w.covers}, expires {w.expires}, "
                         f"approved by {w.approver}")
    if result.unsupported:
        lines.append("")
        lines.append("not modelled (verdicts depending on it are unknown):")
        lines.extend(f"  - {x}" for x in result.unsupported)
    ignored = (result.evidence.get("scope") or {}).get("ignored") or {}
    if ignored:
        lines.append("")
        lines.append(ignored_line(ignored))
    c = result.counts()
    lines.append("")
    lines.append(f"result: {result.verdict.upper()} — {c['pass']} pass, {c['fail']} fail, {c['waived']} waived, "
                 f"{c['unknown']} unknown (exit {result.exit_code})")
    return "\n".join(lines) + "\n"


def _detail(f: Finding) -> list[str]:
    refs = ", ".join(f.references)
    if f.blocking:
        out = [f"{f.pack}/{f.control} {f.verdict.upper()} ({refs}):"]
        out.extend(f"  unknown: {reason}" for reason in f.blocking)
    else:
        out = [f"{f.pack}/{f.control} {f.verdict.upper()} ({refs}): {f.message}"]
    counts = f.counts
    shown = f.open_violations[:DETAIL_LINES] if f.verdict == "fail" else []
    if f.verdict == "fail" and not shown:  # every violation listed is waived: show unlisted open ones
        import numpy as np

        table = f.all_violations
        shown = [table.row(int(k)) for k in np.flatnonzero(~table.waived_mask())[:DETAIL_LINES]]
    for v in shown:
        out.append("  " + _line(v))
    listed = "" if not f.violations_omitted else \
        f"; it lists the first {len(f.violations)} of {len(f.all_violations)}, --max-evidence 0 lists all"
    if f.verdict == "fail" and counts["violations"] > len(shown):
        out.append(f"  … {counts['violations'] - len(shown)} more (see -o result.json{listed})")
    if f.verdict == "waived":
        for v in f.violations[:DETAIL_LINES]:
            out.append(f"  waived by {', '.join(v.waived_by)}: " + _line(v))
    if counts["unknown"] and not f.blocking:
        for v in f.unknown_flows[:DETAIL_LINES]:
            out.append("  unknown: " + _line(v))
        if counts["unknown"] > DETAIL_LINES:
            listed = "" if not f.unknown_omitted else \
                f"; it lists the first {len(f.unknown_flows)}, --max-evidence 0 lists all"
            out.append(f"  … {counts['unknown'] - DETAIL_LINES} more unknown (see -o result.json{listed})")
    if f.verdict == "unknown":
        for c in f.unknown_causes():
            out.append(f"  cause: {c['code']}: {c['words']} ({c['count']})")
    return out


def _line(v: Any) -> str:
    subject = f"{v.src} → {v.dst}" if v.src else v.dst
    ports = f" [{v.ports}]" if v.ports else ""
    why = f" — {v.decided_by}" if v.decided_by and v.kind == "flow" else ""
    return f"{subject}{ports}: {v.reason}{why}"


@click.command()
@input_options
@audit_options(required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the JSON audit result here ('-' = stdout; the table then goes to stderr).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also write the evidence reports (PDF, CSV, JUnit, SARIF) into DIR, as `auditor report` does.")
@max_evidence_option
@report_options
@click.option("--record", is_flag=True,
              help="Also record the run in the history ($AUDITOR_HISTORY, default auditor-history.sqlite; "
                   "cluster name: $AUDITOR_CLUSTER). A failed write records nothing and exits 2.")
@click.option("--sign", "sign_key", type=click.Path(dir_okay=False), metavar="KEY.pem",
              help="Sign the evidence with this ed25519 key (needs -o): writes snapshot.json and "
                   "attestation.intoto.jsonl next to the reports (docs/attestation.md).")
@MAX_MEMORY
def audit(source: InputSpec, flags: AnalysisFlags, controls: tuple[str, ...], zones_file: str | None,
          waivers_file: str | None, as_of: str | None, output: str | None, report_dir: str | None, max_evidence: int,
          formats: tuple[str, ...], templates: tuple[str, ...], paper: str | None, cluster_name: str,
          record: bool, sign_key: str | None, max_memory: str | None) -> None:
    """Check control packs (PCI DSS, HIPAA, your zones) against the cluster: exit 0 pass, 1 fail, 2 unknown."""
    from auditor.canonical import canonical_json

    setup = AuditSetup.load(controls, zones_file, waivers_file, as_of)
    if report_dir:
        check_report_options(formats, templates)  # a bad template fails now, not after the analysis
    signer = check_signing(sign_key, output) if sign_key else None  # a bad key too
    audited = audit_inputs(source, flags, setup, max_evidence=max_evidence, budget=memory_budget(max_memory))
    result = audited.result
    assert result is not None  # --controls is required
    result_dict = result.to_dict() if output or report_dir or record else None
    if output:
        emit(canonical_json(result_dict) + b"\n", output)
    text = render(result)
    if output == "-":
        click.echo(text, err=True, nl=False)
    else:
        out(text)
    if signer is not None and output and result_dict is not None:
        sign_audit(signer, audited.analysis.snapshot, source.live, result_dict, output, report_dir, formats,
                   templates, paper, max_evidence, cluster_name)
    elif report_dir and result_dict is not None:
        for path in run_reports(result_dict, report_dir, formats, templates, paper, cluster_name):
            click.echo(f"wrote {path}", err=True)
    if record and result_dict is not None:
        from auditor.commands.history import record_document, run_attestation

        attestation = None
        if signer is not None and output:
            import os

            from auditor.attest.statement import FILE_NAME
            from auditor.commands.attest import evidence_dir

            attestation = run_attestation(output, os.path.join(evidence_dir(output, report_dir), FILE_NAME))
        record_document(result_dict, attestation=attestation)
    sys.exit(result.exit_code)
