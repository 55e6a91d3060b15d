"""``auditor report RESULT.json -o DIR``: evidence reports from an audit result.

Exit codes: 0 reports written; 2 the result or a template is invalid, or a file cannot be
written (one ``error:`` line). The audit's own verdict does not change the exit code here:
``auditor audit`` reports it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import orjson

from auditor.cli import main
from auditor.errors import AuditorError

FORMAT_HELP = "Comma-separated and/or repeated: pdf, csv, junit, sarif (default: all)."
TEMPLATE_HELP = ("PDF template: a name in report_templates/ (auditor, executive) or a path to a template YAML. "
                 "Repeatable; default: both auditor and executive.")


def report_options(func: Any) -> Any:
    """--format/--template/--paper, shared by ``report`` and ``audit --report``."""
    decorators = [
        click.option("--format", "formats", multiple=True, metavar="FORMATS", help=FORMAT_HELP),
        click.option("--template", "templates", multiple=True, metavar="NAME|PATH", help=TEMPLATE_HELP),
        click.option("--paper", type=click.Choice(["a4", "letter"], case_sensitive=False), default=None,
                     help="Paper size of the PDF (default: the template's, A4)."),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return func


def run_reports(result: dict[str, Any], out_dir: str, formats: Sequence[str], templates: Sequence[str],
                paper: str | None) -> list[Path]:
    from auditor.report import parse_formats, write_reports
    from auditor.report.interface import ReportOptions

    chosen = parse_formats(formats)
    options = ReportOptions(templates=tuple(templates) or ("auditor", "executive"),
                            paper=paper.lower() if paper else None)
    return write_reports(result, out_dir, chosen, options)


def check_report_options(formats: Sequence[str], templates: Sequence[str]) -> None:
    """Validate --format and the templates before any work is done."""
    from auditor.report import parse_formats
    from auditor.report.pdf.template import load_template

    if "pdf" in parse_formats(formats):
        for t in templates or ("auditor", "executive"):
            load_template(t)


def load_result(path: str) -> dict[str, Any]:
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


@main.command()
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False))
@click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False), metavar="DIR",
              help="Directory to write the reports into (created if missing).")
@report_options
def report(result_file: str, out_dir: str, formats: tuple[str, ...], templates: tuple[str, ...],
           paper: str | None) -> None:
    """Evidence reports from an audit result: PDF (templated), CSV, JUnit XML, SARIF 2.1.0."""
    start = time.perf_counter()
    result = load_result(result_file)
    written = run_reports(result, out_dir, formats, templates, paper)
    for p in written:
        click.echo(f"wrote {p}", err=True)
    click.echo(f"{len(written)} file(s) in {time.perf_counter() - start:.1f} s", err=True)
