"""The period report: ``period-controls.csv``, ``failure-windows.csv``, ``coverage-gaps.csv``,
``scope-entries.csv`` and a PDF laid out by ``report_templates/period.yaml``.

The template has its own schema (``zone-auditor/period-template/v1``) and section kinds; the
look (branding, fonts, colours, tables) is the evidence report's (``auditor.report.pdf``). The
same history and options give the same bytes: rows are sorted, the PDF is ``invariant`` and
its date is ``--until``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auditor.canonical import atomic_write
from auditor.errors import AuditorError
from auditor.history.period import PeriodResult, stamp
from auditor.report.pdf.template import Section, text_field

SCHEMA = "zone-auditor/period-template/v1"
DEFAULT_TEMPLATE = "period"
CONTROLS_COLUMNS = ("control", "scans", "pass", "fail", "unknown", "held_share", "waived", "pack", "cluster",
                    "title", "references", "failure_windows", "signed_runs")
WINDOWS_COLUMNS = ("control", "opened", "closed", "duration_hours", "opening_run", "closing_run", "pack", "cluster",
                   "violations_at_open", "opened_by", "drift_opened", "drift_closed")
GAPS_COLUMNS = ("cluster", "start", "end", "hours", "after_run", "before_run")
ENTRIES_COLUMNS = ("cluster", "captured_at", "run", "pack", "zone", "workload", "new_namespace")
FILES = ("period-controls.csv", "failure-windows.csv", "coverage-gaps.csv", "scope-entries.csv")
SECTION_KINDS = ("cover", "summary", "fleet", "trend", "controls", "windows", "coverage", "scope", "signoff", "text",
                 "page-break")
PLACEHOLDERS = ("organisation", "scope", "since", "until", "every", "runs", "clusters", "controls", "windows",
                "open_windows", "gaps", "coverage", "store", "tool_version", "declared_runs",
                "signed_runs")


# -- CSV ----------------------------------------------------------------------------------------------


def _csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def csv_files(result: PeriodResult) -> dict[str, bytes]:
    controls, windows, gaps, entries = [], [], [], []
    for c in result.clusters:
        for s in c.stats:
            controls.append((s.key.control, s.scans, s.passed, s.failed, s.unknown, f"{s.held_share:.4f}", s.waived,
                             s.key.pack, c.cluster, s.info.title, "; ".join(s.info.references), s.windows,
                             s.signed))
        for w in c.windows:
            windows.append((w.key.control, w.opened, w.closed or "", f"{w.duration_hours:.2f}", w.opening_run,
                            "" if w.closing_run is None else w.closing_run, w.key.pack, c.cluster,
                            w.violations_at_open, " | ".join(w.opened_by), " | ".join(w.drift_opened),
                            " | ".join(w.drift_closed)))
        for g in c.gaps:
            gaps.append((c.cluster, g.start, g.end, f"{g.hours:.2f}", "" if g.after_run is None else g.after_run,
                         "" if g.before_run is None else g.before_run))
        for e in c.entries:
            entries.append((c.cluster, e.captured_at, e.run, e.pack, e.zone, e.workload,
                            "true" if e.new_namespace else "false"))
    controls.sort(key=lambda r: (r[8], r[7], r[0]))
    windows.sort(key=lambda r: (r[7], r[6], r[0], r[1]))
    gaps.sort()
    entries.sort(key=lambda r: (r[0], r[1], r[3], r[4], r[5]))
    return {
        "period-controls.csv": _csv(CONTROLS_COLUMNS, controls),
        "failure-windows.csv": _csv(WINDOWS_COLUMNS, windows),
        "coverage-gaps.csv": _csv(GAPS_COLUMNS, gaps),
        "scope-entries.csv": _csv(ENTRIES_COLUMNS, entries),
    }


# -- the template ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodTemplate:
    base: Any  # auditor.report.pdf.template.Template: branding and paper for the shared Theme
    sections: tuple[Section, ...]
    title: str
    file: str


def _check_text(r: Any, key: str, required: bool = False) -> str:
    """A text field of the period template: the evidence template's rules, the period's placeholders."""
    return text_field(r, key, required=required, placeholders=PLACEHOLDERS)


def load_period_template(name_or_path: str = DEFAULT_TEMPLATE) -> PeriodTemplate:
    """``report_templates/period.yaml`` (found like the evidence templates), or a path."""
    from auditor.report.pdf.template import Branding, Template, read_branding, resolve
    from auditor.yamlfile import Reader, load_yaml

    path = resolve(name_or_path)
    f = load_yaml(str(path))
    r = Reader(f.locator, (), f.data, "a mapping (a period report template)")
    r.only("schema", "name", "title", "file", "paper", "branding", "sections")
    if r.str("schema") != SCHEMA:
        raise r.fail("schema", f"must be {SCHEMA!r}")
    file = str(r.str("file", required=False, default="period-report.pdf"))
    if "/" in file or not file.endswith(".pdf"):
        raise r.fail("file", "must be a file name ending in .pdf, without directories")
    paper = str(r.str("paper", required=False, default="a4")).lower()
    if paper not in ("a4", "letter"):
        raise r.fail("paper", "must be a4 or letter")
    branding = read_branding(r.sub("branding"), path.parent) if r.has("branding") else Branding()
    sections = []
    for i, raw in enumerate(r.list("sections", allow_empty=False)):
        sr = Reader(f.locator, ("sections", i), raw)
        kind = sr.str("section")
        if kind not in SECTION_KINDS:
            raise sr.fail("section", f"unknown section {kind!r} (known: {', '.join(SECTION_KINDS)})")
        sr.only("section", "title", "text", "roles", "statement")
        opts: dict[str, Any] = {}
        if sr.has("roles"):
            opts["roles"] = tuple(str(x) for x in sr.list("roles", allow_empty=False))
        opts["statement"] = _check_text(sr, "statement")
        sections.append(Section(str(kind), _check_text(sr, "title", kind not in ("cover", "page-break")),
                                      _check_text(sr, "text"), opts))
    title = _check_text(r, "title", True)
    base = Template(name=str(r.str("name")), path=str(path), digest=f.digest, title=title, subject="", file=file,
                    paper=paper, branding=branding, sections=())
    return PeriodTemplate(base=base, sections=tuple(sections), title=title, file=file)


# -- the PDF --------------------------------------------------------------------------------------------


def values(result: PeriodResult, organisation: str) -> dict[str, str]:
    cs = result.clusters
    return {
        "organisation": organisation,
        "scope": result.scope,
        "since": stamp(result.period.since),
        "until": stamp(result.period.until),
        "every": _every(result),
        "runs": str(sum(len(c.runs) for c in cs)),
        "clusters": str(len(cs)),
        "controls": str(len({(s.key.pack, s.key.control) for c in cs for s in c.stats})),
        "windows": str(sum(len(c.windows) for c in cs)),
        "open_windows": str(sum(1 for c in cs for w in c.windows if w.closed is None)),
        "gaps": str(sum(len(c.gaps) for c in cs)),
        "coverage": f"{100 * min(c.coverage_share for c in cs):.1f} %",
        "store": result.store,
        "tool_version": result.tool_version,
        "declared_runs": str(sum(c.declared_runs for c in cs)),
        "signed_runs": str(sum(c.signed_runs for c in cs)),
    }


def _every(result: PeriodResult) -> str:
    secs = int(result.period.every.total_seconds())
    return f"{secs // 3600} h" if secs % 3600 == 0 else f"{secs // 60} min"


def render_pdf(result: PeriodResult, template: PeriodTemplate, paper: str | None = None) -> bytes:
    from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate

    from auditor.report.pdf.document import content_only
    from auditor.report.pdf.styles import Theme
    from auditor.report.pdf.widgets import Ctx, numbered_canvas

    theme = Theme(template.base, paper)
    vals = values(result, template.base.branding.organisation)
    ctx = Ctx(theme=theme, data=None, template=template.base, values=vals)  # type: ignore[arg-type]
    story: list[Any] = []
    started = False
    for section in template.sections:
        if section.kind in ("cover", "page-break"):
            started = started and section.kind == "page-break"
        else:
            if started:
                story.append(PageBreak())
            started = True
        story += BUILDERS[section.kind](ctx, section, result)
    date = "D:" + "".join(ch for ch in vals["until"] if ch.isdigit())[:14] + "+00'00'"
    footer = theme.clean(f"Evidence: history {result.store} — {vals['runs']} runs, {vals['since']} to {vals['until']}")
    confidentiality = theme.clean(template.base.branding.confidentiality)

    numbered = numbered_canvas(theme, date, footer[:150], confidentiality, rule=False)

    buf = io.BytesIO()
    title = theme.clean(_fill(template.title, vals))
    doc = BaseDocTemplate(buf, pagesize=theme.pagesize, leftMargin=theme.margin_x, rightMargin=theme.margin_x,
                          topMargin=theme.margin_top, bottomMargin=theme.margin_bottom, title=title,
                          subject=f"Period of review {vals['since']} to {vals['until']}, {result.scope}",
                          author=template.base.branding.organisation or "zone-auditor",
                          creator=f"zone-auditor {result.tool_version}",
                          producer=f"zone-auditor {result.tool_version} (ReportLab)", invariant=1,
                          initialFontName=theme.fonts.regular, lang="en")
    h = theme.pagesize[1]
    frame = Frame(theme.margin_x, theme.margin_bottom, theme.width, h - theme.margin_top - theme.margin_bottom,
                  id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
    doc.addPageTemplates([PageTemplate(id="body", frames=[frame])])
    with content_only():
        doc.build(story, canvasmaker=numbered)
    return buf.getvalue()


def _fill(text: str, vals: Mapping[str, str]) -> str:
    return text.format_map(dict(vals)) if text else ""


def _narrative(ctx: Any, text: str) -> list[Any]:
    from auditor.report.pdf.widgets import narrative

    return narrative(ctx, text)


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


def _cover(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import PageBreak, Spacer

    from auditor.report.pdf.widgets import kv, para

    v = ctx.values
    out: list[Any] = []
    if v["organisation"]:
        out.append(para(ctx, v["organisation"], "cover_org"))
    out += [Spacer(1, 20 * mm), para(ctx, _fill(ctx.template.title, v), "cover_title"),
            para(ctx, f"{r.scope} — {v['since']} to {v['until']}", "cover_sub")]
    pairs = [("Scope", r.scope), ("Period", f"{v['since']} to {v['until']}"), ("Expected interval", v["every"]),
             ("Runs in the period", v["runs"]), ("Weakest coverage", v["coverage"]),
             ("Failure windows", f"{v['windows']} ({v['open_windows']} still open at the end)"),
             ("Evidence gaps", v["gaps"]), ("History", r.store), ("Prepared with", f"zone-auditor {r.tool_version}")]
    if v["declared_runs"] != "0":
        pairs.append(("User-declared times", f"{v['declared_runs']} run(s) carry a capture time declared by the "
                                             "user (auditor scan --captured-at), not read from a clock"))
    if v["signed_runs"] != "0":
        pairs.append(("Signed runs", f"{v['signed_runs']} of {v['runs']} run(s) have an attestation recorded "
                                     "(the coverage section names them per cluster)"))
    out.append(kv(ctx, pairs))
    out += [Spacer(1, 6 * mm), *_narrative(ctx, s.text), PageBreak()]
    return out


def _summary(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import grid, heading, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    for c in r.clusters:
        if len(r.clusters) > 1:
            out.append(para(ctx, f"Cluster {c.cluster}", "h2"))
        rows = [(f"{x.key.pack}/{x.key.control}", x.info.title, x.scans, x.passed, x.waived, x.failed, x.unknown,
                 _pct(x.held_share), x.windows) for x in c.stats]
        out.append(grid(ctx, ("Control", "Title", "Scans", "Pass", "Waived", "Fail", "Unknown", "Held", "Windows"),
                        rows, (1.8, 2.4, 0.55, 0.55, 0.68, 0.5, 0.78, 0.72, 0.78)))
    return out


def _fleet(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import grid, heading, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    if len(r.clusters) == 1 and r.scope != "all clusters":
        return [*out, para(ctx, "One cluster in this report (use --all for the fleet).", "note")]
    rows = [(c.cluster, len(c.runs), _pct(c.coverage_share), len(c.stats), _pct(c.held_share), len(c.windows),
             sum(1 for w in c.windows if w.closed is None), len(c.gaps)) for c in r.clusters]
    out.append(grid(ctx, ("Cluster", "Runs", "Coverage", "Controls", "Weakest held", "Windows", "Open", "Gaps"),
                    rows, (2.6, 0.6, 0.9, 0.8, 1.0, 0.8, 0.6, 0.6)))
    return out


def _trend(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from reportlab.graphics.charts.lineplots import LinePlot
    from reportlab.graphics.shapes import Drawing, String
    from reportlab.lib.units import mm

    from auditor.history.period import when
    from auditor.report.pdf.widgets import heading, para

    th = ctx.theme
    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    start = r.period.since
    span = max((r.period.until - start).total_seconds() / 86400, 1e-9)
    palette = [th.c["primary"], th.c["fail"], th.c["accent"], th.c["unknown"], th.c["pass"], th.c["waived"]]
    frameworks = sorted({fw for c in r.clusters for fw in c.trends})
    for fw in frameworks:
        out.append(para(ctx, f"{fw}: share of controls holding in each run", "h3"))
        d = Drawing(th.width, 58 * mm)
        lp = LinePlot()
        lp.x, lp.y, lp.width, lp.height = 12 * mm, 8 * mm, th.width - 16 * mm, 44 * mm
        lines, names = [], []
        for c in r.clusters:
            pts = c.trends.get(fw)
            if pts:
                lines.append([((when(p.captured_at) - start).total_seconds() / 86400, 100.0 * p.held / p.total)
                              for p in pts])
                names.append(c.cluster)
        lp.data = lines
        lp.xValueAxis.valueMin, lp.xValueAxis.valueMax = 0, span
        lp.yValueAxis.valueMin, lp.yValueAxis.valueMax, lp.yValueAxis.valueStep = 0, 100, 25
        for axis in (lp.xValueAxis, lp.yValueAxis):
            axis.labels.fontName = th.fonts.regular
            axis.labels.fontSize = 6.5
        for i in range(len(lines)):
            lp.lines[i].strokeColor = palette[i % len(palette)]
            lp.lines[i].strokeWidth = 1.1
        d.add(lp)
        d.add(String(0, 2, "days since " + stamp(start)[:10] + "; % of the framework's controls that pass or are "
                     "waived", fontName=th.fonts.italic, fontSize=6.5, fillColor=th.c["muted"]))
        out.append(d)
        if len(names) > 1:
            out.append(para(ctx, "Lines: " + ", ".join(names), "note"))
    return out


def _controls(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import heading, kv, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    for c in r.clusters:
        for x in c.stats:
            out.append(para(ctx, f"{x.key.pack}/{x.key.control} — {x.info.title}"
                                 + (f" ({c.cluster})" if len(r.clusters) > 1 else ""), "h3"))
            out.append(kv(ctx, [("References", ", ".join(x.info.references) or "-"),
                                ("Scans", f"{x.scans}: {x.passed} pass, {x.waived} waived, {x.failed} fail, "
                                          f"{x.unknown} unknown"),
                                ("Held", f"{_pct(x.held_share)} of the period (evidence gaps never count as held)"),
                                ("Failure windows", str(x.windows))]))
    return out


def _windows(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import grid, heading, kv, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    ws = [w for c in r.clusters for w in c.windows]
    if not ws:
        return [*out, para(ctx, "No control failed during the period.", "body")]
    rows = [(f"{w.key.pack}/{w.key.control}", w.cluster, w.opened, w.closed or "open at --until",
             f"{w.duration_hours:.2f}", w.opening_run, "" if w.closing_run is None else w.closing_run) for w in ws]
    out.append(grid(ctx, ("Control", "Cluster", "Opened", "Closed", "Hours", "Opened by run", "Closed by run"), rows,
                    (1.45, 1.1, 1.55, 1.55, 0.65, 0.75, 0.75)))
    for w in ws:
        out.append(para(ctx, f"{w.key.pack}/{w.key.control}: {w.opened} → {w.closed or 'still open'}", "h3"))
        out.append(kv(ctx, [("Opened by", "; ".join(w.opened_by) or f"{w.violations_at_open} violation(s)"),
                            ("Changes before it opened", "; ".join(w.drift_opened) or "-"),
                            ("Changes that closed it", "; ".join(w.drift_closed) or
                             ("-" if w.closed else "not closed in the period"))]))
    return out


def _coverage(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import grid, heading, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    for c in r.clusters:
        out.append(para(ctx, f"{c.cluster}: {len(c.runs)} runs, {_pct(c.coverage_share)} of the period covered", "h3"))
        if c.gaps:
            out.append(grid(ctx, ("From", "To", "Hours", "After run", "Before run"),
                            [(g.start, g.end, f"{g.hours:.2f}", "" if g.after_run is None else g.after_run,
                              "" if g.before_run is None else g.before_run) for g in c.gaps], (1.5, 1.5, 0.8, 0.8, 0.8)))
        else:
            out.append(para(ctx, "No gap longer than twice the expected interval.", "body"))
        out.append(para(ctx, f"Signed evidence: {c.signed_runs} of {len(c.runs)} runs in the period have an "
                             "attestation recorded (auditor audit --sign, or history record --attestation); "
                             "auditor verify checks their signatures.", "body"))
        declared = [x for x in c.runs if x.declared]
        if declared:
            out.append(para(ctx, f"{len(declared)} run(s) have a capture time declared by the user "
                                 "(auditor scan --captured-at, for backfilled dumps): "
                            + ", ".join(f"run {x.id} at {x.captured_at}" for x in declared[:30])
                            + (" …" if len(declared) > 30 else ""), "note"))
    return out


def _scope(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import grid, heading, para

    out: list[Any] = [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]
    for c in r.clusters:
        if len(r.clusters) > 1:
            out.append(para(ctx, f"Cluster {c.cluster}", "h2"))
        rows = []
        for z in c.zones:
            counts = [p.members for p in z.points]
            if counts:
                rows.append((f"{z.pack}/{z.zone}", "yes" if z.protected else "", counts[0], counts[-1], min(counts),
                             max(counts)))
        out.append(grid(ctx, ("Zone", "Protected", "First", "Last", "Min", "Max"), rows, (2.4, 0.8, 0.6, 0.6, 0.6, 0.6)))
        if c.entries:
            out.append(para(ctx, "Workloads entering a protected zone", "h3"))
            out.append(grid(ctx, ("When", "Run", "Zone", "Workload", "New namespace"),
                            [(e.captured_at, e.run, f"{e.pack}/{e.zone}", e.workload,
                              "yes" if e.new_namespace else "") for e in c.entries[:200]], (1.3, 0.5, 1.4, 2.4, 0.8)))
            if len(c.entries) > 200:
                out.append(para(ctx, f"200 of {len(c.entries)} shown; every row is in scope-entries.csv.", "note"))
        else:
            out.append(para(ctx, "No workload entered a protected zone during the period.", "body"))
    return out


def _signoff(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import CondPageBreak, Paragraph, Spacer, Table

    from auditor.report.pdf.widgets import heading, para, table_style

    th = ctx.theme
    roles = tuple(s.options.get("roles") or ("Prepared by", "Reviewed by", "Approved by"))
    out: list[Any] = [CondPageBreak((45 + 15 * len(roles)) * mm), heading(ctx, _fill(s.title, ctx.values), 0),
                      *_narrative(ctx, s.text)]
    out += _narrative(ctx, str(s.options.get("statement") or ""))
    body = [[Paragraph(th.esc(h), ctx.s["cell_head"]) for h in ("Role", "Name and title", "Signature", "Date")],
            *[[Paragraph(th.esc(x), ctx.s["cell_bold"]), "", "", ""] for x in roles]]
    t = Table(body, colWidths=[th.width * x for x in (0.2, 0.33, 0.3, 0.17)], rowHeights=[None] + [15 * mm] * len(roles))
    t.setStyle(table_style(ctx, [("BACKGROUND", (0, 0), (-1, 0), th.c["primary"]), ("GRID", (0, 0), (-1, -1), 0.5, th.c["rule"]),
                         ("VALIGN", (0, 1), (-1, -1), "TOP"), ("TOPPADDING", (0, 0), (-1, -1), 4)]))
    out += [Spacer(1, 3 * mm), t, Spacer(1, 3 * mm)]
    out.append(para(ctx, f"Evidence reference: history {r.store}, {ctx.values['runs']} runs from "
                         f"{ctx.values['since']} to {ctx.values['until']} — zone-auditor {r.tool_version}", "note"))
    return out


def _text(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from auditor.report.pdf.widgets import heading

    return [heading(ctx, _fill(s.title, ctx.values), 0), *_narrative(ctx, s.text)]


def _page_break(ctx: Any, s: Section, r: PeriodResult) -> list[Any]:
    from reportlab.platypus import PageBreak

    return [PageBreak()]


BUILDERS: dict[str, Callable[[Any, Section, PeriodResult], list[Any]]] = {
    "cover": _cover, "summary": _summary, "fleet": _fleet, "trend": _trend, "controls": _controls,
    "windows": _windows, "coverage": _coverage, "scope": _scope, "signoff": _signoff, "text": _text,
    "page-break": _page_break,
}


def write_period_report(result: PeriodResult, out_dir: str | Path, template: str = DEFAULT_TEMPLATE,
                        paper: str | None = None) -> list[Path]:
    """Every CSV and the PDF into ``out_dir`` (each file atomically); the template is checked
    and the PDF built before anything is written."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise AuditorError("not a directory", where=str(out))
    tmpl = load_period_template(template)
    pdf = render_pdf(result, tmpl, paper)
    files = {**csv_files(result), tmpl.file: pdf}
    written = []
    for name in sorted(files):
        atomic_write(out / name, files[name])
        written.append(out / name)
    return written

