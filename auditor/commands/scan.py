"""``auditor scan INPUT... -o SNAPSHOT.json``: capture the hashed evidence (manifests or --live).

Exit codes: 0 written; 2 the input could not be read, holds invalid objects, or is incomplete
(a kind forbidden or in error) without --allow-incomplete.
"""

from __future__ import annotations

import click

from auditor.commands.options import input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, read_inputs
from auditor.errors import AuditorError


@click.command()
@input_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Snapshot file to write.")
@click.option("--captured-at", "captured_at", default=None, metavar="YYYY-MM-DDTHH:MM:SSZ",
              help="Declare when INPUT was captured (backfilling archived kubectl dumps); recorded as declared by "
                   "the user, and reports say so.")
@click.option("--allow-incomplete", is_flag=True,
              help="Write the snapshot even when a kind could not be read (forbidden, error); it is recorded "
                   "as incomplete. Without it such a scan writes nothing and exits 2.")
@click.option("--cluster-name", default="", metavar="NAME",
              help="Record the cluster's name in the snapshot; reports show it instead of the input paths.")
def scan(source: InputSpec, flags: AnalysisFlags, output: str, captured_at: str | None,
         allow_incomplete: bool, cluster_name: str) -> None:
    """Capture a snapshot (the hashed evidence) from manifests or, with --live, the cluster."""
    snapshot = read_inputs(source, flags.lenient, cluster_name).snapshot
    if captured_at is not None:
        from auditor.snapshot import declare_captured_at

        snapshot = declare_captured_at(snapshot, captured_at)
    from auditor.sources.validate import check_snapshot

    checked = check_snapshot(snapshot, lenient=flags.lenient)  # a snapshot of invalid objects is no evidence
    if not flags.lenient:
        from auditor.policy.compile import compile_policies

        compile_policies(checked)
    incomplete = {k: v for k, v in sorted(checked.collection.items()) if v not in ("ok", "not-installed")}
    if incomplete and not allow_incomplete:
        raise AuditorError("incomplete snapshot, not written: " + ", ".join(f"{k} {v}" for k, v in incomplete.items())
                           + "; re-run with --allow-incomplete to record it as incomplete")
    snapshot.save(output)
    counts: dict[str, int] = {}
    for res in snapshot.resources:
        counts[res.kind_key] = counts.get(res.kind_key, 0) + 1
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    click.echo(f"wrote {output}: {len(snapshot.resources)} resources ({summary}); digest {snapshot.digest}", err=True)
    if snapshot.ignored:
        click.echo("ignored (not modelled): " + ", ".join(f"{k}={v}" for k, v in sorted(snapshot.ignored.items())),
                   err=True)
    if incomplete:
        click.echo("incomplete (verdicts depending on these kinds are unknown): "
                   + ", ".join(f"{k} {v}" for k, v in incomplete.items()), err=True)
    for item in checked.skipped:
        click.echo(f"invalid, kept as read (every analysis skips it under --lenient): {item.where}: {item.reason}",
                   err=True)
