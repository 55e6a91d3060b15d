"""``auditor period-report --since --until [--cluster C | --all] -o DIR``: did each control hold
over the period of review, and when it broke, for how long.

Exit codes: 0 written; 2 no run in the period (no evidence is never a pass), or the store,
the template or the options are unusable (one ``error:`` line, nothing written).
"""

from __future__ import annotations

import click

from auditor.commands.history import history_option
from auditor.errors import AuditorError


@click.command("period-report")
@click.option("--since", required=True, metavar="DATE|TIME", help="Start of the period (YYYY-MM-DD or UTC time).")
@click.option("--until", required=True, metavar="DATE|TIME",
              help="End of the period (a bare date means the end of that day).")
@click.option("--cluster", default=None, metavar="NAME", help="The cluster to report on.")
@click.option("--all", "all_clusters", is_flag=True, help="Every cluster in the history, side by side (fleet).")
@click.option("--every", default="24h", show_default=True, metavar="DURATION",
              help="Expected interval between runs (the CronJob's schedule); gaps over twice it are evidence gaps.")
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR")
@click.option("--template", default="period", show_default=True, metavar="NAME|PATH", help="Period report template.")
@click.option("--paper", type=click.Choice(["a4", "letter"], case_sensitive=False), default=None)
@click.option("--hold/--no-hold", default=True, show_default=True,
              help="Record the report as open, so history prune keeps its runs until history release ID.")
@history_option
def period_report(since: str, until: str, cluster: str | None, all_clusters: bool, every: str, out_dir: str,
                  template: str, paper: str | None, hold: bool, history: str | None) -> None:
    """Period-of-review evidence: per-control held share, failure windows, coverage gaps, scope over time."""
    from auditor import __version__
    from auditor.canonical import atomic_write
    from auditor.history.period import Period, analyse, clusters_in, parse_every, parse_time, stamp
    from auditor.history.prune import add_hold
    from auditor.history.record import load_document
    from auditor.history.report import csv_files, load_period_template, render_pdf
    from auditor.history.store import open_store

    if cluster and all_clusters:
        raise AuditorError("give --cluster NAME or --all, not both")
    period = Period(parse_time(since, "--since"), parse_time(until, "--until", end_of_day=True), parse_every(every))
    tmpl = load_period_template(template)
    store = open_store(history)
    try:
        if cluster is None and not all_clusters:
            names = clusters_in(store)
            if len(names) > 1:
                raise AuditorError(f"the history holds {len(names)} clusters ({', '.join(names[:5])}"
                                   f"{'…' if len(names) > 5 else ''}): give --cluster NAME or --all",
                                   where=store.label)
            if not names:
                raise AuditorError("the history holds no runs: there is no evidence for any period", where=store.label)
            cluster = names[0]
        result = analyse(store, period, None if all_clusters else cluster, tool_version=__version__,
                         documents=lambda run: load_document(store, run))
        files = {**csv_files(result), tmpl.file: render_pdf(result, tmpl, paper.lower() if paper else None)}
        report_id = add_hold(store, None if all_clusters else cluster, stamp(period.since), stamp(period.until),
                             f"period report into {out_dir}", hold=hold)
    finally:
        store.close()
    for name in sorted(files):
        atomic_write(f"{out_dir}/{name}", files[name])
        click.echo(f"wrote {out_dir}/{name}", err=True)
    runs = sum(len(c.runs) for c in result.clusters)
    windows = sum(len(c.windows) for c in result.clusters)
    gaps = sum(len(c.gaps) for c in result.clusters)
    click.echo(f"{result.scope}: {runs} run(s), {windows} failure window(s), {gaps} evidence gap(s); period report "
               f"#{report_id}" + (" is open (history prune keeps its runs until: auditor history release "
                                   f"{report_id})" if hold else ""), err=True)
