"""Fonts, colours and paragraph styles of the PDF, from a template's branding.

Fonts are TrueType and embedded (subset) in the PDF. The default family is Bitstream Vera,
shipped inside reportlab, so the same result gives the same PDF bytes on any machine; a
template may name other TTF files (``branding.fonts``). Characters the regular font lacks are
transliterated (``→`` becomes ``->``) rather than drawn as empty boxes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import reportlab
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_LEFT, TA_RIGHT
from reportlab.lib.pagesizes import A4, LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfbase.ttfonts import TTFont

from auditor.errors import AuditorError
from auditor.report.pdf.template import Template

_RL_FONTS = Path(reportlab.__file__).parent / "fonts"
DEFAULT_FONTS = {
    "regular": _RL_FONTS / "Vera.ttf",
    "bold": _RL_FONTS / "VeraBd.ttf",
    "italic": _RL_FONTS / "VeraIt.ttf",
    "bold_italic": _RL_FONTS / "VeraBI.ttf",
}
PAPER = {"a4": A4, "letter": LETTER}
_CUTS = (re.compile(r"[^/]*/+|[^/]+$"), re.compile(r"[^,:=-]*[,:=-]+|[^,:=-]+$"))
TRANSLITERATE = {
    "→": "->", "←": "<-", "⇒": "=>", "↔": "<->", "✓": "yes", "✔": "yes", "✗": "no", "✘": "no",
    "≠": "!=", "⟶": "->", "∧": "and", "∨": "or", "¬": "not ", "∅": "none", "⚠": "!",
}


def _register(path: Path) -> str:
    """Register a TTF once; the name is derived from the file's bytes (stable across runs)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AuditorError(f"cannot read font: {exc.strerror or exc}", where=str(path)) from None
    name = "ZA" + hashlib.sha256(raw).hexdigest()[:10]
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            pdfmetrics.registerFont(TTFont(name, str(path)))
        except Exception as exc:  # reportlab raises TTFError and plain exceptions for bad files
            raise AuditorError(f"not a usable TrueType font: {exc}", where=str(path)) from None
    return name


@dataclass
class Fonts:
    regular: str
    bold: str
    italic: str
    bold_italic: str
    mono: str


class Theme:
    """Everything visual: page size, margins, colours, fonts and styles."""

    def __init__(self, template: Template, paper: str | None = None) -> None:
        self.template = template
        self.paper = (paper or template.paper).lower()
        if self.paper not in PAPER:
            raise AuditorError(f"--paper {paper!r}: expected one of {', '.join(PAPER)}")
        self.pagesize = PAPER[self.paper]
        self.margin_x = 18 * mm
        self.margin_top = 20 * mm
        self.margin_bottom = 18 * mm
        self.width = self.pagesize[0] - 2 * self.margin_x
        self.c = {k: colors.HexColor(v) for k, v in template.branding.colours.items()}
        self.hex = dict(template.branding.colours)
        chosen = dict(DEFAULT_FONTS)
        custom = dict(template.branding.fonts)
        if custom:
            chosen = {role: custom.get(role, custom["regular"]) for role in DEFAULT_FONTS}
        names = {role: _register(p) for role, p in chosen.items()}
        mono = _register(custom["mono"]) if "mono" in custom else names["regular"]
        self.fonts = Fonts(names["regular"], names["bold"], names["italic"], names["bold_italic"], mono)
        pdfmetrics.registerFontFamily(self.fonts.regular, normal=self.fonts.regular, bold=self.fonts.bold,
                                      italic=self.fonts.italic, boldItalic=self.fonts.bold_italic)
        self._glyphs = pdfmetrics.getFont(self.fonts.regular).face.charToGlyph
        self._clean_cache: dict[str, str] = {}
        self.styles = self._styles()

    # -- text ----------------------------------------------------------------------------------------
    def clean(self, text: object) -> str:
        """Transliterate characters the font lacks (plain text, no markup)."""
        s = str(text)
        hit = self._clean_cache.get(s)
        if hit is not None:
            return hit
        out = []
        for ch in s:
            if ch in "\n\t" or ord(ch) < 128 or ord(ch) in self._glyphs:
                out.append(ch)
            else:
                out.append(TRANSLITERATE.get(ch, "?"))
        hit = "".join(out)
        if len(self._clean_cache) < 50_000:
            self._clean_cache[s] = hit
        return hit

    def esc(self, text: object) -> str:
        """Clean and escape for Paragraph markup."""
        return escape(self.clean(text))

    def soft(self, text: object, width: float, style: ParagraphStyle) -> str:
        """Escaped markup of an identifier (workload, path, port list) broken at ``/ , - :`` and
        spaces so that it fits ``width`` points, instead of being cut mid-word."""
        s = self.clean(text)
        font, size = style.fontName, style.fontSize
        if not s or stringWidth(s, font, size) <= width:
            return escape(s)
        def fits(t: str) -> bool:
            return stringWidth(t, font, size) <= width

        def cut(word: str, level: int) -> list[str]:
            """A word too wide: cut after "/" first, then after other separators."""
            if fits(word) or level >= len(_CUTS):
                return [word]
            toks = _CUTS[level].findall(word) or [word]
            out: list[str] = []
            for t in toks:
                out.extend(cut(t, level + 1))
            return out

        pieces: list[str] = []  # words, or the parts of a word too wide for the cell
        for word in s.split(" "):
            parts = cut(word, 0)
            pieces.extend(parts[:-1])
            pieces.append(parts[-1] + " ")
        lines: list[str] = []
        cur = ""
        for tok in pieces:
            if cur and not fits(cur + tok.rstrip()):
                lines.append(cur.rstrip())
                cur = tok
            else:
                cur += tok
        lines.append(cur.rstrip())
        # a word with no separator wider than the cell is shrunk, never cut mid-word
        return "<br/>".join(escape(x) if fits(x) else
                            f'<font size="{max(4.0, size * width / stringWidth(x, font, size) * 0.98):.1f}">'
                            f"{escape(x)}</font>" for x in lines if x)

    # -- styles ----------------------------------------------------------------------------------------
    def _styles(self) -> dict[str, ParagraphStyle]:
        f = self.fonts
        c = self.c
        base = ParagraphStyle("body", fontName=f.regular, fontSize=9.5, leading=13.2, textColor=c["text"],
                              spaceAfter=5, bulletFontName=f.regular)
        s = {
            "body": base,
            "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10.5, spaceAfter=3),
            "note": ParagraphStyle("note", parent=base, fontName=f.italic, fontSize=8, leading=10.5,
                                   textColor=c["muted"], spaceAfter=4),
            "cell": ParagraphStyle("cell", parent=base, fontSize=7.6, leading=9.4, spaceAfter=0),
            "cell_bold": ParagraphStyle("cell_bold", parent=base, fontName=f.bold, fontSize=7.6, leading=9.4,
                                        spaceAfter=0),
            "cell_head": ParagraphStyle("cell_head", parent=base, fontName=f.bold, fontSize=7.6, leading=9.4,
                                        spaceAfter=0, textColor=c["header_text"]),
            "cell_id": ParagraphStyle("cell_id", parent=base, fontSize=7.6, leading=9.4, spaceAfter=0),
            "cell_mono": ParagraphStyle("cell_mono", parent=base, fontName=f.mono, fontSize=7.2, leading=9,
                                        spaceAfter=0),
            "cell_center": ParagraphStyle("cell_center", parent=base, fontSize=7.2, leading=8.8, spaceAfter=0,
                                          alignment=TA_CENTER),
            "h1": ParagraphStyle("h1", parent=base, fontName=f.bold, fontSize=16, leading=20, textColor=c["primary"],
                                 spaceBefore=0, spaceAfter=8),
            "h2": ParagraphStyle("h2", parent=base, fontName=f.bold, fontSize=11.5, leading=14.5,
                                 textColor=c["primary"], spaceBefore=10, spaceAfter=5),
            "h3": ParagraphStyle("h3", parent=base, fontName=f.bold, fontSize=9.5, leading=12.5,
                                 textColor=c["primary"], spaceBefore=7, spaceAfter=3),
            "cover_org": ParagraphStyle("cover_org", parent=base, fontName=f.bold, fontSize=13, leading=16,
                                        textColor=c["muted"], spaceAfter=10),
            "cover_title": ParagraphStyle("cover_title", parent=base, fontName=f.bold, fontSize=25, leading=30,
                                          textColor=c["primary"], spaceAfter=8),
            "cover_sub": ParagraphStyle("cover_sub", parent=base, fontSize=13, leading=17, textColor=c["muted"],
                                        spaceAfter=18),
            "badge": ParagraphStyle("badge", parent=base, fontName=f.bold, fontSize=9, leading=11,
                                    textColor=colors.white, alignment=TA_CENTER, spaceAfter=0),
            "big_badge": ParagraphStyle("big_badge", parent=base, fontName=f.bold, fontSize=20, leading=24,
                                        textColor=colors.white, alignment=TA_CENTER, spaceAfter=0),
            "kpi_num": ParagraphStyle("kpi_num", parent=base, fontName=f.bold, fontSize=18, leading=21,
                                      alignment=TA_CENTER, spaceAfter=0),
            "kpi_label": ParagraphStyle("kpi_label", parent=base, fontSize=7.5, leading=9, alignment=TA_CENTER,
                                        textColor=c["muted"], spaceAfter=0),
            "mono": ParagraphStyle("mono", parent=base, fontName=f.mono, fontSize=7.8, leading=10.5, spaceAfter=0),
            "right": ParagraphStyle("right", parent=base, alignment=TA_RIGHT),
            "left": ParagraphStyle("left", parent=base, alignment=TA_LEFT),
            "toc1": ParagraphStyle("toc1", parent=base, fontName=f.bold, fontSize=9.5, leading=14, leftIndent=0),
            "toc2": ParagraphStyle("toc2", parent=base, fontSize=8.5, leading=11.5, leftIndent=12),
        }
        return s

    def verdict_colour(self, verdict: str) -> colors.Color:
        return self.c.get(verdict, self.c["muted"])
