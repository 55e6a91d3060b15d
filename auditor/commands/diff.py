"""``auditor diff OLD NEW``: what changed between two audit states.

OLD and NEW are each an audit result (``auditor audit -o``), a baseline (``auditor baseline``), a
snapshot (``auditor scan``) or manifests (a file, a directory, or ``-`` for one of them on
standard input). Snapshots and manifests are analysed on the fly and, with ``--controls``,
audited. Sections and scope: ``auditor/compare/drift.py``.

Exit codes: 0 the comparison was made (whatever it found); with ``--exit-code``, 1 when something
changed (as ``git diff --exit-code``); 2 an input, pack, zones map or waivers file is invalid.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from auditor.commands.options import DEFAULT_NAMESPACE, analysis_options, audit_options
from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    Loaded,
    audit_loaded,
    read_inputs,
)
from auditor.commands.pipeline import analysis_options as options_of
from auditor.commands.text import emit
from auditor.errors import UsageError

FORMATS = ("table", "json", "markdown", "csv")


def load_side(path: str, setup: AuditSetup, options: Any, default_namespace: str, which: str) -> Any:
    from auditor.compare import drift

    kind, data = drift.sniff(path)
    if kind == "audit-result":
        from auditor.report.data import ReportData

        ReportData(data, where=path)  # validates kind and schema version
        return drift.side_from_result(path, data)
    if kind == "baseline":
        return drift.side_from_baseline(path, data)
    from auditor.snapshot import snapshot_from_dict

    if kind == "snapshot":
        loaded = Loaded(snapshot_from_dict(data, where=path))
    else:
        loaded = read_inputs(InputSpec(inputs=(path,), default_namespace=default_namespace))
    audited = audit_loaded(loaded, setup, options)
    result = audited.result.to_dict() if audited.result is not None else None
    return drift.side_from_analysis(path, kind, audited.analysis, result)


@click.command()
@click.argument("old", metavar="OLD")
@click.argument("new", metavar="NEW")
@audit_options(required=False)
@analysis_options
@DEFAULT_NAMESPACE
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True,
              help="table (terminal), json (canonical), markdown (pull-request comment), csv (one row per change).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file (atomically).")
@click.option("--exit-code", "exit_code", is_flag=True, help="Exit 1 when something changed (0 when nothing did).")
def diff(old: str, new: str, controls: tuple[str, ...], zones_file: str | None, waivers_file: str | None,
         as_of: str | None, flags: AnalysisFlags, default_namespace: str, fmt: str, output: str | None,
         exit_code: bool) -> None:
    """Compliance drift between two scans: control verdicts, flows between zones, zone membership,
    policies (in words) and waivers that expired."""
    from auditor.compare import drift
    from auditor.compare.render import render_drift

    if old == "-" and new == "-":
        raise UsageError("'-' (standard input) can be OLD or NEW, not both")
    setup = AuditSetup.load(controls, zones_file, waivers_file, as_of)
    options = options_of(flags, setup.zones())
    old_side = load_side(old, setup, options, default_namespace, "OLD")
    new_side = load_side(new, setup, options, default_namespace, "NEW")
    report = drift.diff(old_side, new_side)
    emit(render_drift(report, fmt), output)
    if output and output != "-":
        click.echo(f"wrote {output}", err=True)
    sys.exit(1 if exit_code and report.changed else 0)
