"""Reports from the audit result JSON: PDF (templated), CSV, JUnit XML, SARIF 2.1.0, OSCAL.

``write_reports(result, out_dir, formats, options)`` runs the writers registered in
``WRITERS``; each implements ``auditor.report.interface.ReportWriter`` in its own module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from auditor.errors import AuditorError
from auditor.report.interface import ReportOptions, ReportWriter

FORMATS = ("pdf", "csv", "junit", "sarif", "oscal")
# written when no --format is given (OSCAL only on request: it loads compliance-trestle)
DEFAULT_FORMATS = ("pdf", "csv", "junit", "sarif")


def writers() -> dict[str, ReportWriter]:
    from auditor.report.csvs import CsvWriter
    from auditor.report.junit import JUnitWriter
    from auditor.report.oscal import OscalWriter
    from auditor.report.pdf.document import PdfWriter
    from auditor.report.sarif import SarifWriter

    return {w.name: w for w in (PdfWriter(), CsvWriter(), JUnitWriter(), SarifWriter(), OscalWriter())}


def parse_formats(values: Iterable[str]) -> list[str]:
    """``pdf,csv`` and repeated options → known formats in canonical order; empty = the defaults."""
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            if name == "all":
                chosen.update(FORMATS)
                continue
            if name not in FORMATS:
                raise AuditorError(f"--format {name!r}: expected one or more of {', '.join(FORMATS)} (comma-separated)")
            chosen.add(name)
    return [f for f in FORMATS if f in chosen] or list(DEFAULT_FORMATS)


def write_reports(result: Mapping[str, Any], out_dir: str | Path, formats: Iterable[str],
                  options: ReportOptions | None = None) -> list[Path]:
    """Validate the result, then write every requested format into ``out_dir``."""
    from auditor.report.data import view

    view(result)  # validates: one clear error before any file is written
    options = options or ReportOptions()
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AuditorError("not a directory", where=str(out))
    table = writers()
    if "pdf" in formats:  # template errors before anything is written
        from auditor.report.pdf.template import load_template

        for t in options.templates:
            load_template(t)
    written: list[Path] = []
    for name in formats:
        written += table[name].write(result, out, options)
    return written
