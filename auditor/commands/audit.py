"""``auditor audit``: control packs over the reachability result → pass/fail/waived/unknown.

Exit codes: 0 every control passes or is waived; 1 any control fails; 2 any control is
unknown (and none fails), or the input, a pack, the zones map or the waivers are invalid.
"""

from __future__ import annotations

import datetime as dt
import gc
import sys
from collections.abc import Sequence

import click
import numpy as np
import pandas as pd

from auditor.canonical import canonical_json
from auditor.cli import input_options, live_settings, load, main, parse_externals
from auditor.commands.report import check_report_options, report_options, run_reports
from auditor.commands.text import emit, to_table
from auditor.controls.result import DEFAULT_MAX_EVIDENCE, AuditResult, Finding
from auditor.errors import AuditorError
from auditor.reach.addresses import parse_network
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.reach.endpoints import ExternalNetwork

DETAIL_LINES = 10


def merge_externals(explicit: Sequence[str], zones: Sequence[ExternalNetwork]) -> tuple[ExternalNetwork, ...]:
    """``--external`` networks plus the packs' CIDR zones; the same name twice must agree."""
    nets = {n.name: n for n in parse_externals(explicit)}
    given = {v.partition("=")[0].strip() for v in explicit}
    for zone in zones:
        if zone.name in given and nets[zone.name].networks != zone.networks:
            raise AuditorError(
                f"--external {zone.name} conflicts with the control packs' zone {zone.name!r} "
                f"({', '.join(map(str, zone.networks))}); remap the zone with --zones instead"
            )
        nets[zone.name] = zone
    return tuple(nets[k] for k in sorted(nets))


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise AuditorError(f"--as-of {value!r}: expected a date YYYY-MM-DD") from None


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
    return out


def _line(v) -> str:  # type: ignore[no-untyped-def]
    subject = f"{v.src} → {v.dst}" if v.src else v.dst
    ports = f" [{v.ports}]" if v.ports else ""
    why = f" — {v.decided_by}" if v.decided_by and v.kind == "flow" else ""
    return f"{subject}{ports}: {v.reason}{why}"


@main.command()
@input_options
@click.option("--controls", "controls", multiple=True, required=True, metavar="PACK",
              help="Control pack YAML (repeatable), or a directory of packs, e.g. controls/bank-zones.yaml.")
@click.option("--zones", "zones_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Zone definitions that replace the packs' ones by name (map your own labels).")
@click.option("--waivers", "waivers_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="Accepted violations with justification, approver and expiry.")
@click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
              help="Date waiver expiry is judged at (default: today, UTC). Only waivers depend on it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write the JSON audit result here ('-' = stdout; the table then goes to stderr).")
@click.option("--report", "report_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Also write the evidence reports (PDF, CSV, JUnit, SARIF) into DIR, as `auditor report` does.")
@click.option("--max-evidence", "max_evidence", type=click.IntRange(min=0), default=DEFAULT_MAX_EVIDENCE,
              show_default=True, metavar="N",
              help="Violations and unknown flows listed per control, and flows listed, in the result and reports "
                   "(the first N by source, destination, ports); counts and verdicts always cover all. 0 = list all.")
@click.option("--record", is_flag=True,
              help="Also record the run in the history ($AUDITOR_HISTORY, default auditor-history.sqlite; "
                   "cluster name: $AUDITOR_CLUSTER). A failed write records nothing and exits 2.")
@report_options
def audit(inputs: tuple[str, ...], lenient: bool, externals: tuple[str, ...], pod_cidrs: tuple[str, ...],
          default_namespace: str, controls: tuple[str, ...], zones_file: str | None, waivers_file: str | None,
          as_of: str | None, output: str | None, report_dir: str | None, max_evidence: int, record: bool,
          formats: tuple[str, ...], templates: tuple[str, ...], paper: str | None) -> None:
    """Check control packs (PCI DSS, HIPAA, your zones) against the cluster: exit 0 pass, 1 fail, 2 unknown."""
    from auditor.controls.pack import external_networks, load_packs
    from auditor.controls.runner import run_audit
    from auditor.controls.waivers import load_waivers

    packs, zone_map = load_packs(list(controls), zones_file)
    waivers = load_waivers(waivers_file) if waivers_file else None
    day = parse_as_of(as_of)
    if report_dir:
        check_report_options(formats, templates)  # a bad template fails now, not after the analysis
    try:
        cidrs = tuple(parse_network(c) for c in pod_cidrs)
    except ValueError as exc:
        raise ValueError(f"--pod-cidr: {exc}") from None
    options = AnalysisOptions(externals=merge_externals(externals, external_networks(packs)), pod_cidrs=cidrs,
                              lenient=lenient, with_staged=bool(live_settings().get("with_staged")))
    snapshot = load(inputs, default_namespace)
    gc.collect()
    gc.freeze()  # the snapshot lives until exit: keep the cyclic collector off its objects
    analysis = analyze(snapshot, options)
    result = run_audit(analysis, packs, zone_map=zone_map, waivers=waivers, as_of=day, max_evidence=max_evidence)
    result_dict = result.to_dict() if output or report_dir or record else None
    if output:
        emit(canonical_json(result_dict) + b"\n", output)
    text = render(result)
    if output == "-":
        click.echo(text, err=True, nl=False)
    else:
        click.echo(text, nl=False)
    if report_dir and result_dict is not None:
        for path in run_reports(result_dict, report_dir, formats, templates, paper):
            click.echo(f"wrote {path}", err=True)
    if record and result_dict is not None:
        from auditor.commands.history import record_document

        record_document(result_dict)
    sys.exit(result.exit_code)
