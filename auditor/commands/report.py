"""``auditor report RESULT.json -o DIR``: evidence reports from an audit result.

The whole set is written into a temporary directory beside DIR and swapped in at the end
(``canonical.atomic_directory``): a killed run leaves the previous set, a concurrent one is
refused with the name of the run holding DIR.

Exit codes: 0 reports written; 2 the result or a template is invalid, or a file cannot be
written (one ``error:`` line). The audit's own verdict does not change the exit code here:
``auditor audit`` reports it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from auditor.commands.options import report_options
from auditor.errors import AuditorError


def run_reports(result: dict[str, Any], out_dir: str, formats: Sequence[str], templates: Sequence[str],
                paper: str | None, cluster_name: str = "") -> list[Path]:
    """Write the chosen formats into ``out_dir`` as one set; returns the final paths."""
    from auditor.canonical import atomic_directory
    from auditor.report import parse_formats, write_reports
    from auditor.report.interface import ReportOptions

    chosen = parse_formats(formats)
    options = ReportOptions(templates=tuple(templates) or ("auditor", "executive"),
                            paper=paper.lower() if paper else None, cluster_name=cluster_name)
    with atomic_directory(out_dir) as tmp:
        written = write_reports(result, tmp, chosen, options)
    return [Path(out_dir) / os.path.relpath(p, tmp) for p in written]


def check_report_options(formats: Sequence[str], templates: Sequence[str]) -> None:
    """Validate --format and the templates before any work is done."""
    from auditor.report import parse_formats
    from auditor.report.pdf.template import load_template

    if "pdf" in parse_formats(formats):
        for t in templates or ("auditor", "executive"):
            load_template(t)


def load_result(path: str) -> dict[str, Any]:
    import orjson

    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=path) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AuditorError(f"not JSON: {exc}", where=path) from None
    from auditor.controls.consistency import check_result
    from auditor.report.data import ReportData, view
    from auditor.snapshot import refuse_repeated_keys

    refuse_repeated_keys(raw, data, path)
    ReportData(data, where=path)  # validate with the file name in the message
    check_result(data, where=path)  # verdicts, counts, evidence and summary must agree (#12 §4)
    view(data)
    return data


@click.command()
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Directory to write the reports into (created if missing; replaced as one set).")
@report_options
def report(result_file: str, out_dir: str, formats: tuple[str, ...], templates: tuple[str, ...],
           paper: str | None, cluster_name: str) -> None:
    """Evidence reports from an audit result: PDF (templated), CSV, JUnit XML, SARIF 2.1.0."""
    start = time.perf_counter()
    result = load_result(result_file)
    written = run_reports(result, out_dir, formats, templates, paper, cluster_name)
    for p in written:
        click.echo(f"wrote {p}", err=True)
    click.echo(f"{len(written)} file(s) in {time.perf_counter() - start:.1f} s", err=True)
