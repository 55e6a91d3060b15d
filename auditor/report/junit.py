"""JUnit XML: one test suite per control pack, one test case per control.

``fail`` → ``<failure>`` carrying the open violations; ``unknown`` → ``<error>`` (the answer
could not be established) with the reasons; ``waived`` and ``pass`` pass, waived violations
listed in ``<system-out>``. No timestamps or durations: the same result gives the same bytes.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from auditor.canonical import atomic_write
from auditor.report.data import Control, ReportData, view
from auditor.report.interface import ReportOptions

FILE = "junit.xml"
MAX_LINES = 1000  # violations listed per test case; the rest are in violations.csv


def _line(v: Mapping[str, Any]) -> str:
    subject = f"{v.get('src')} -> {v.get('dst')}" if v.get("src") else str(v.get("dst"))
    ports = f" [{v['ports']}]" if v.get("ports") else ""
    why = f" | decided by: {v['decided_by']}" if v.get("decided_by") and v.get("kind") == "flow" else ""
    return f"{subject}{ports}: {v.get('reason', '')}{why}"


def _lines(items: list[Mapping[str, Any]], what: str, total: int | None = None) -> list[str]:
    """``total``: how many there are (the result may list only the first ones: --max-evidence)."""
    out = [_line(v) for v in items[:MAX_LINES]]
    if len(items) > MAX_LINES:
        out.append(f"... {len(items) - MAX_LINES} more {what}: see violations.csv")
    if total is not None and total > len(items):
        out.append(f"... {len(items)} of {total} {what} shown; re-run with --max-evidence 0 for all")
    return out


def _case(suite: ET.Element, data: ReportData, c: Control) -> None:
    f = c.finding
    case = ET.SubElement(suite, "testcase", {
        "classname": f"{f['pack']}",
        "name": f"{f['control']}: {f.get('title', '')}",
        "time": "0",
    })
    props = ET.SubElement(case, "properties")
    for name, value in (("verdict", c.verdict), ("severity", f.get("severity", "")),
                        ("references", "; ".join(f.get("references", []))),
                        ("assertion", (f.get("assertion") or {}).get("kind", ""))):
        ET.SubElement(props, "property", {"name": name, "value": str(value)})
    if c.verdict == "fail":
        open_ = c.open_violations
        failure = ET.SubElement(case, "failure", {"type": "violation", "message": str(f.get("message", ""))})
        n_open = int(c.counts.get("violations", len(open_)))
        failure.text = "\n".join([f"{n_open} violation(s) of: {f.get('claim', '')}",
                                  *_lines(open_, "violations", n_open)])
    elif c.verdict == "unknown":
        error = ET.SubElement(case, "error", {"type": "unknown", "message": str(f.get("message", ""))})
        lines = [f"could not be established: {f.get('claim', '')}", *(f"reason: {r}" for r in c.blocking)]
        lines += _lines(c.unknown_flows, "undecided flows", int(c.counts.get("unknown", len(c.unknown_flows))))
        error.text = "\n".join(lines)
    waived = c.waived_violations
    if waived:
        out = ET.SubElement(case, "system-out")
        out.text = "\n".join(f"waived by {', '.join(v.get('waived_by', []))}: {_line(v)}" for v in waived[:MAX_LINES])


def render(data: ReportData) -> bytes:
    by_pack: dict[str, list[Control]] = {}
    for c in data.controls:
        by_pack.setdefault(str(c.finding["pack"]), []).append(c)
    counts = data.counts
    root = ET.Element("testsuites", {
        "name": "zone-auditor",
        "tests": str(len(data.controls)),
        "failures": str(counts["fail"]),
        "errors": str(counts["unknown"]),
        "skipped": "0",
        "time": "0",
    })
    packs = {str(p["id"]): p for p in data.packs}
    for pack_id, controls in by_pack.items():
        pack = packs.get(pack_id, {})
        suite = ET.SubElement(root, "testsuite", {
            "name": pack_id,
            "tests": str(len(controls)),
            "failures": str(sum(1 for c in controls if c.verdict == "fail")),
            "errors": str(sum(1 for c in controls if c.verdict == "unknown")),
            "skipped": "0",
            "time": "0",
        })
        props = ET.SubElement(suite, "properties")
        for name, value in (("framework", pack.get("framework", "")), ("pack_version", pack.get("version") or ""),
                            ("pack_digest", pack.get("digest", "")), ("snapshot_digest", data.digest),
                            ("snapshot_captured_at", data.captured_at), ("tool_version", data.tool_version),
                            ("result", data.verdict)):
            ET.SubElement(props, "property", {"name": name, "value": str(value)})
        for c in controls:
            _case(suite, data, c)
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n"


class JUnitWriter:
    name = "junit"

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]:
        path = out_dir / FILE
        atomic_write(path, render(view(result)))
        return [path]
