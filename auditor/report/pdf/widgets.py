"""The PDF's building blocks: the build context, headings and bookmarks, paragraphs, badges,
tables that repeat their header and wrap identifiers, and cells laid out once their width is
known (deciding rules, names with their zones)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    LongTable,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from auditor.report.data import ReportData
from auditor.report.interface import AttestationRef
from auditor.report.pdf.styles import Theme
from auditor.report.pdf.template import Section, Template

SOFT_STYLES = ("cell_id", "cell_mono", "cell_bold")  # identifiers: broken at separators, never mid-word
VERDICT_WORDS = {"pass": "PASS", "fail": "FAIL", "waived": "WAIVED", "unknown": "UNKNOWN"}


@dataclass
class Ctx:
    theme: Theme
    data: ReportData
    template: Template
    values: Mapping[str, str]
    attestation: AttestationRef | None = None  # None: unsigned evidence

    @property
    def s(self) -> Mapping[str, Any]:
        return self.theme.styles


class Heading(Paragraph):
    """A section heading that becomes a PDF bookmark and a contents entry."""

    def __init__(self, text: str, style: Any, level: int, key: str, plain: str) -> None:
        super().__init__(text, style)
        self.outline_level = level
        self.outline_key = key
        self.outline_text = plain
        self.in_contents = True


class Anchor(Flowable):
    """An invisible bookmark (for headings drawn inside tables, which the page loop never sees)."""

    def __init__(self, level: int, key: str, plain: str) -> None:
        super().__init__()
        self.outline_level = level
        self.outline_key = key
        self.outline_text = plain
        self.in_contents = True

    def wrap(self, aw: float, ah: float) -> tuple[float, float]:
        return 0, 0

    def draw(self) -> None:
        pass




def table_style(ctx: Ctx, cmds: Sequence[tuple[Any, ...]]) -> TableStyle:
    """Table style with the embedded font for plain cells (reportlab's default is Helvetica)."""
    return TableStyle([("FONTNAME", (0, 0), (-1, -1), ctx.theme.fonts.regular), *cmds])


def para(ctx: Ctx, text: object, style: str = "body") -> Paragraph:
    return Paragraph(ctx.theme.esc(text), ctx.s[style])


def heading(ctx: Ctx, text: str, level: int = 0, key: str = "") -> Heading:
    style = "h1" if level == 0 else "h2"
    key = key or "h-" + hashlib.sha256(text.encode()).hexdigest()[:12]  # stable across runs (no hash())
    return Heading(ctx.theme.esc(text), ctx.s[style], level, key, text)


def fill(ctx: Ctx, text: str) -> str:
    return text.format_map(dict(ctx.values)) if text else ""


def narrative(ctx: Ctx, text: str) -> list[Flowable]:
    """Paragraphs separated by blank lines; lines starting with ``- `` are bullets."""
    out: list[Flowable] = []
    if not text:
        return out
    for block in fill(ctx, text).split("\n\n"):
        lines = [ln.rstrip() for ln in block.strip().splitlines() if ln.strip()]
        if not lines:
            continue
        if all(ln.lstrip().startswith("- ") for ln in lines):
            for ln in lines:
                out.append(Paragraph(ctx.theme.esc(ln.lstrip()[2:]), ctx.s["body"], bulletText="•"))
        else:
            out.append(para(ctx, " ".join(ln.strip() for ln in lines)))
    return out


def badge(ctx: Ctx, verdict: str, big: bool = False, width: float | None = None) -> Table:
    word = VERDICT_WORDS.get(verdict, verdict.upper())
    t = Table([[Paragraph(word, ctx.s["big_badge" if big else "badge"])]],
              colWidths=[width or (45 * mm if big else 19 * mm)])
    t.setStyle(table_style(ctx, [
        ("BACKGROUND", (0, 0), (-1, -1), ctx.theme.verdict_colour(verdict)),
        ("TOPPADDING", (0, 0), (-1, -1), 6 if big else 2.2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 7 if big else 2.8),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
    ]))
    return t


def grid(ctx: Ctx, header: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float],
         styles: Sequence[str] | None = None, extra: Sequence[tuple[Any, ...]] = (), zebra: bool = True) -> Table:
    """A table with a coloured header row repeated on every page, zebra rows and thin rules.

    Cells that are strings become wrapped paragraphs (style per column); flowables pass through.
    """
    th = ctx.theme
    total = sum(widths)
    col_w = [th.width * w / total for w in widths]
    styles = list(styles or ["cell"] * len(header))
    if header and header[0] == "#" and rows:  # row numbers never wrap ("10/0"): widen the column
        st = ctx.s[styles[0]]
        need = stringWidth(str(len(rows)), st.fontName, st.fontSize) + 7.2 + 1.5
        if col_w[0] < need:
            widest = max(range(1, len(col_w)), key=lambda k: col_w[k])
            col_w[widest] -= need - col_w[0]
            col_w[0] = need
    body: list[list[Any]] = [[Paragraph(th.esc(h), ctx.s["cell_head"]) for h in header]]
    soft = [st in SOFT_STYLES for st in styles]
    inner = [w - 7.2 for w in col_w]  # minus the cell padding
    for r in rows:
        body.append([c if isinstance(c, Flowable) else c.render(ctx, inner[k]) if isinstance(c, LazyCell) else
                     Paragraph(th.soft(c, inner[k], ctx.s[styles[k]]) if soft[k] else th.esc(c), ctx.s[styles[k]])
                     for k, c in enumerate(r)])
    cls = LongTable if len(body) > 60 else Table
    t = cls(body, colWidths=col_w, repeatRows=1)
    cmds: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), th.c["primary"]),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.35, th.c["rule"]),
        ("TOPPADDING", (0, 0), (-1, -1), 2.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.8),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3.5),
    ]
    if zebra and len(body) > 2:
        cmds.append(("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, th.c["zebra"]]))
    cmds.extend(extra)
    t.setStyle(table_style(ctx, cmds))
    return t


def kv(ctx: Ctx, pairs: Sequence[tuple[str, Any]], key_width: float = 0.26) -> Table:
    th = ctx.theme
    rows = []
    for k, v in pairs:
        value = v if isinstance(v, Flowable) else Paragraph(th.esc(v), ctx.s["cell"])
        rows.append([Paragraph(th.esc(k), ctx.s["cell_bold"]), value])
    t = Table(rows, colWidths=[th.width * key_width, th.width * (1 - key_width)])
    t.setStyle(table_style(ctx, [
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.35, th.c["rule"]),
        ("LINEABOVE", (0, 0), (-1, 0), 0.9, th.c["primary"]),
        ("TOPPADDING", (0, 0), (-1, -1), 2.6),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.8),
        ("LEFTPADDING", (0, 0), (-1, -1), 3.5),
        ("BACKGROUND", (0, 0), (0, -1), th.c["zebra"]),
    ]))
    return t


def rule(ctx: Ctx) -> HRFlowable:
    return HRFlowable(width="100%", thickness=0.6, color=ctx.theme.c["rule"], spaceBefore=4, spaceAfter=6)


def more_note(ctx: Ctx, shown: int, total: int, what: str, csv: str) -> list[Flowable]:
    if total <= shown:
        return []
    return [Spacer(1, 2), para(ctx, f"{shown} of {total} {what} shown; every row is in {csv}.", "note")]


class LazyCell:
    """A table cell laid out once its column width is known."""

    def render(self, ctx: Ctx, width: float) -> Flowable:
        raise NotImplementedError


@dataclass(frozen=True)
class RuleCell(LazyCell):
    """One line per ``(side, rules)``: ``egress``, ``ingress``, ``istio`` with a muted label, a
    line without a side (a waiver, a finding's words) as is; identifiers wrapped at ``/ -``."""

    lines: tuple[tuple[str, str], ...]
    limit: int = 260

    def render(self, ctx: Ctx, width: float) -> Flowable:
        th = ctx.theme
        style = ctx.s["cell"]
        out = []
        for side, rest in self.lines:
            if side:
                half = self.limit // 2
                rest = rest if len(rest) <= half else rest[: half - 1] + "…"
                label = f"<font color='{th.hex['muted']}'>{side}:</font> "
                body = th.soft(f"{side}: {rest}", width, style)
                out.append(label + body[len(side) + 2:])
            else:
                out.append(th.soft(rest, width, style))
        return Paragraph("<br/>".join(out) or "—", style)


@dataclass(frozen=True)
class NameCell(LazyCell):
    """A workload name with a muted second line (its zones)."""

    name: str
    sub: str = ""

    def render(self, ctx: Ctx, width: float) -> Flowable:
        th = ctx.theme
        style = ctx.s["cell"]
        text = th.soft(self.name, width, style)
        if self.sub:
            text += f"<br/><font color='{th.hex['muted']}'>{th.soft(self.sub, width, style)}</font>"
        return Paragraph(text, style)


def rule_markup(ctx: Ctx, detail: Sequence[Mapping[str, Any]] | None, words: str = "", limit: int = 260,
                prefix: str = "") -> RuleCell:
    """The deciding rules of a flow from its ``decided_by_detail``; without one (endpoint
    evidence, a flow nothing decided, an older result) the ``words`` as they are, one line per
    ``; ``-separated part. ``prefix``: a first line (the waiver)."""
    lines = [("", prefix)] if prefix else []
    if detail:
        lines += ctx.data.rule_lines(detail)
    else:
        lines += [("", p) for p in ctx.data.short_rule(words, 10_000).split("; ") if p]
    return RuleCell(tuple(lines), limit)


def fmt_origin(origin: Mapping[str, Any] | None) -> str:
    if not origin or not origin.get("file"):
        return ""
    line = origin.get("line")
    return f"{origin['file']}:{line}" if line else str(origin["file"])


def section_title(ctx: Ctx, section: Section, default: str) -> str:
    return fill(ctx, section.title) or default


def numbered_canvas(theme: Theme, date: str, evidence: str, confidentiality: str,
                    rule: bool = True) -> type[Canvas]:
    """A canvas that keeps its pages until the end, to write "Page N of M" on each, with the
    evidence line (what the document is computed from) and the confidentiality note in the footer.
    ``date`` (PDF date syntax) replaces the clock: the bytes depend on the content only."""

    class NumberedCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.setDateFormatter(lambda *_: date)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._footer(total)
                super().showPage()
            super().save()

        def _footer(self, total: int) -> None:
            w, _ = theme.pagesize
            y = theme.margin_bottom - 9 * mm
            self.saveState()
            if rule:
                self.setStrokeColor(theme.c["rule"])
                self.setLineWidth(0.5)
                self.line(theme.margin_x, y + 9, w - theme.margin_x, y + 9)
            self.setFillColor(theme.c["muted"])
            self.setFont(theme.fonts.regular, 6.6)
            self.drawString(theme.margin_x, y, evidence)
            self.setFont(theme.fonts.bold, 7.5)
            self.drawRightString(w - theme.margin_x, y, f"Page {self._pageNumber} of {total}")
            if confidentiality:
                self.setFont(theme.fonts.italic, 6.4)
                self.drawCentredString(w / 2, y - 9, confidentiality)
            self.restoreState()

    return NumberedCanvas
