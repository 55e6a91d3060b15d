"""The PDF evidence report (reportlab), laid out by a template (``report_templates/*.yaml``).

Every page carries the snapshot digest and "Page N of M" in its footer; sections become PDF
bookmarks; the document metadata names the title, the subject and, as creation date, the
snapshot's capture time. ``invariant=1`` and embedded TrueType fonts make the bytes depend on
the result and the template only.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import BaseDocTemplate, Frame, PageBreak, PageTemplate

from auditor.canonical import atomic_write
from auditor.report.data import ReportData, view
from auditor.report.interface import AttestationRef, ReportOptions
from auditor.report.pdf.sections import BUILDERS
from auditor.report.pdf.styles import Theme
from auditor.report.pdf.template import Template, load_template
from auditor.report.pdf.widgets import Anchor, Ctx, Heading, fill, numbered_canvas


@contextlib.contextmanager
def content_only() -> Iterator[None]:
    """Build a PDF whose bytes depend on its content only. ReportLab's invariant mode still folds
    ``$SOURCE_DATE_EPOCH`` into the timestamp it hashes into ``/ID``, so the same report would get
    another ``/ID`` in a reproducible-build environment; our dates come from the snapshot."""
    saved = os.environ.pop("SOURCE_DATE_EPOCH", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["SOURCE_DATE_EPOCH"] = saved


def _pdf_date(captured_at: str) -> str:
    """``2026-11-26T19:16:11Z`` → ``D:20261126191611+00'00'`` (PDF date syntax)."""
    digits = "".join(ch for ch in captured_at if ch.isdigit())[:14]
    if len(digits) < 14:
        digits = (digits + "00000000000000")[:14] if digits else "20000101000000"
    return f"D:{digits}+00'00'"


def _canvas_class(theme: Theme, data: ReportData, template: Template) -> type[Canvas]:
    """The evidence report's canvas: "Page N of M", the snapshot digest and the confidentiality note."""
    confidentiality = fill_plain(template.branding.confidentiality, data, template)
    return numbered_canvas(theme, _pdf_date(data.captured_at), theme.clean(f"Evidence: snapshot sha256:{data.digest}"),
                           theme.clean(confidentiality) if confidentiality else "")


def fill_plain(text: str, data: ReportData, template: Template) -> str:
    if not text:
        return ""
    b = template.branding
    return text.format_map(data.placeholders(b.organisation, b.cluster, template.evidence_rows))


class EvidenceDoc(BaseDocTemplate):
    def __init__(self, buf: io.BytesIO, theme: Theme, data: ReportData, template: Template, title: str,
                 subject: str) -> None:
        super().__init__(
            buf,
            pagesize=theme.pagesize,
            leftMargin=theme.margin_x,
            rightMargin=theme.margin_x,
            topMargin=theme.margin_top,
            bottomMargin=theme.margin_bottom,
            title=title,
            subject=subject,
            author=template.branding.organisation or "zone-auditor",
            creator=f"zone-auditor {data.tool_version}",
            producer=f"zone-auditor {data.tool_version} (ReportLab)",
            keywords=[f"snapshot sha256:{data.digest}", f"result {data.verdict}", *data.frameworks],
            invariant=1,
            initialFontName=theme.fonts.regular,
            lang="en",
        )
        self.theme, self.data, self.template = theme, data, template
        h = theme.pagesize[1]
        body = Frame(theme.margin_x, theme.margin_bottom, theme.width, h - theme.margin_top - theme.margin_bottom,
                     id="body", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        cover = Frame(theme.margin_x, theme.margin_bottom, theme.width, h - 30 * mm - theme.margin_bottom,
                      id="cover", leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0)
        pages = [PageTemplate(id="cover", frames=[cover], onPage=self._cover_page),
                 PageTemplate(id="body", frames=[body], onPage=self._body_page)]
        if not template.sections or template.sections[0].kind != "cover":
            pages.reverse()
        self.addPageTemplates(pages)
        self.header_left = theme.clean(" · ".join(x for x in (template.branding.organisation, title) if x))
        name = data.cluster_name(template.branding.cluster)
        if len(name) > 60:  # keep the distinctive end of a long input path, say it was shortened
            name = "…" + name[-59:]
        self.header_right = theme.clean(f"{name} · {data.date}")

    def _cover_page(self, canv: Canvas, doc: Any) -> None:
        th = self.theme
        w, h = th.pagesize
        canv.saveState()
        canv.setFillColor(th.c["primary"])
        canv.rect(0, h - 12 * mm, w, 12 * mm, stroke=0, fill=1)
        canv.setFillColor(th.c["accent"])
        canv.rect(0, h - 13.6 * mm, w, 1.6 * mm, stroke=0, fill=1)
        canv.restoreState()

    def _body_page(self, canv: Canvas, doc: Any) -> None:
        th = self.theme
        w, h = th.pagesize
        y = h - th.margin_top + 7 * mm
        canv.saveState()
        canv.setFillColor(th.c["muted"])
        canv.setFont(th.fonts.regular, 7)
        canv.drawString(th.margin_x, y, self.header_left[:110])
        canv.drawRightString(w - th.margin_x, y, self.header_right)
        canv.setStrokeColor(th.c["primary"])
        canv.setLineWidth(0.8)
        canv.line(th.margin_x, y - 3, w - th.margin_x, y - 3)
        canv.restoreState()

    def afterFlowable(self, flowable: Any) -> None:
        if isinstance(flowable, Heading | Anchor):
            key = flowable.outline_key
            text = self.theme.clean(flowable.outline_text)
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(text, key, level=flowable.outline_level, closed=flowable.outline_level > 0)
            if flowable.in_contents:
                self.notify("TOCEntry", (flowable.outline_level, self.theme.esc(flowable.outline_text), self.page, key))


def render_pdf(data: ReportData, template: Template, paper: str | None = None,
               attestation: AttestationRef | None = None) -> bytes:
    theme = Theme(template, paper)
    b = template.branding
    values = data.placeholders(b.organisation, b.cluster, template.evidence_rows)
    ctx = Ctx(theme=theme, data=data, template=template, values=values, attestation=attestation)
    story: list[Any] = []
    started = False
    for section in template.sections:
        if section.kind in ("cover", "contents", "page-break"):
            started = started and section.kind == "page-break"
        else:
            if started and template.new_page_per_section:
                story.append(PageBreak())
            started = True
        story += BUILDERS[section.kind](ctx, section)
    title = fill(ctx, template.title)
    subject = fill(ctx, template.subject) or (f"Network segmentation evidence: {', '.join(data.frameworks)}; "
                                               f"snapshot sha256:{data.digest}")
    buf = io.BytesIO()
    with content_only():
        doc = EvidenceDoc(buf, theme, data, template, title=title, subject=subject)
        canvasmaker = _canvas_class(theme, data, template)
        if any(s.kind == "contents" for s in template.sections):
            doc.multiBuild(story, canvasmaker=canvasmaker, maxPasses=4)
        else:
            doc.build(story, canvasmaker=canvasmaker)
    return buf.getvalue()


class PdfWriter:
    name = "pdf"

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]:
        data = view(result)
        templates = [load_template(t) for t in options.templates]
        names = [t.file for t in templates]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            from auditor.errors import AuditorError

            raise AuditorError(f"two templates write the same file {', '.join(sorted(dupes))}: give each its own 'file'")
        out = []
        for t in templates:
            if options.cluster_name:  # --cluster-name wins over the template's branding and the paths
                t = replace(t, branding=replace(t.branding, cluster=options.cluster_name))
            path = out_dir / t.file
            atomic_write(path, render_pdf(data, t, options.paper, options.attestation))
            out.append(path)
        return out
