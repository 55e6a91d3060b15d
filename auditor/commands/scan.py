"""``auditor scan INPUT... -o SNAPSHOT.json``: capture the hashed evidence (manifests or --live).

Exit codes: 0 written; 2 the input could not be read or holds invalid policies.
"""

from __future__ import annotations

import click

from auditor.commands.options import input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, read_inputs


@click.command()
@input_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Snapshot file to write.")
def scan(source: InputSpec, flags: AnalysisFlags, output: str) -> None:
    """Capture a snapshot (the hashed evidence) from manifests or, with --live, the cluster."""
    snapshot = read_inputs(source).snapshot
    if not flags.lenient:
        from auditor.policy.compile import compile_policies

        compile_policies(snapshot)  # validate now: a snapshot of invalid policies is no evidence
    snapshot.save(output)
    counts: dict[str, int] = {}
    for res in snapshot.resources:
        counts[res.kind_key] = counts.get(res.kind_key, 0) + 1
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    click.echo(f"wrote {output}: {len(snapshot.resources)} resources ({summary}); digest {snapshot.digest}", err=True)
    if snapshot.ignored:
        click.echo("ignored (not modelled): " + ", ".join(f"{k}={v}" for k, v in sorted(snapshot.ignored.items())),
                   err=True)
