"""The PDF's "Internet exposure" section: every entry point with its hop verdicts, and a
diagram internet → entry → zone drawn with reportlab graphics (semantics.md section G)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reportlab.graphics.shapes import Drawing, Line, Polygon, Rect, String
from reportlab.lib.units import mm
from reportlab.platypus import Flowable, Spacer

from auditor.report.pdf.template import Section
from auditor.report.pdf.widgets import Ctx, grid, heading, narrative, para, section_title

VERDICT_WORDS = {"allow": "allowed", "deny": "denied", "unknown": "unknown"}
MAX_DIAGRAM_ROWS = 12


def _zones(ctx: Ctx, p: Mapping[str, Any]) -> str:
    out: list[str] = []
    for w in p.get("backend", []):
        entry = ctx.data.workloads.get(str(w))
        text = ctx.data.zones_text(entry.get("zones") or {}) if entry else ""
        out.extend(z for z in text.split(", ") if z)
    return ", ".join(dict.fromkeys(out)) or "(no zone)"


def _diagram(ctx: Ctx, paths: Sequence[Mapping[str, Any]]) -> Drawing:
    """Three columns: the client network, the entry points, the zones they lead into; a line per
    (entry, zone) coloured by the path verdict."""
    th = ctx.theme
    entries = list(dict.fromkeys(str(p["via"]) for p in paths))[:MAX_DIAGRAM_ROWS]
    zones = list(dict.fromkeys(_zones(ctx, p) for p in paths if str(p["via"]) in entries))
    rows = max(len(entries), len(zones), 1)
    row_h = 9 * mm
    width, height = th.width, rows * row_h + 6 * mm
    font = th.fonts.regular
    d = Drawing(width, height, initialFontName=font, initialFontSize=7)  # the embedded font, never Helvetica
    box_w = width * 0.27

    def box(x: float, y: float, text: str, colour: Any) -> None:
        d.add(Rect(x, y, box_w, row_h * 0.7, fillColor=colour, strokeColor=th.c["rule"], strokeWidth=0.5))
        label = text if len(text) <= 42 else text[:41] + "…"
        d.add(String(x + 2 * mm, y + row_h * 0.25, label, fontName=font, fontSize=7))

    def y_of(i: int, n: int) -> float:
        return height - 3 * mm - (i + 0.5) * (height - 6 * mm) / n - row_h * 0.35

    client = str(paths[0].get("client", "internet")) if paths else "internet"
    cx, ex, zx = 0, (width - box_w) / 2, width - box_w
    cy = y_of(0, 1)
    box(cx, cy, client, th.c.get("zebra"))
    for i, e in enumerate(entries):
        box(ex, y_of(i, len(entries)), e, th.c.get("zebra"))
        d.add(Line(cx + box_w, cy + row_h * 0.35, ex, y_of(i, len(entries)) + row_h * 0.35,
                   strokeColor=th.c["rule"], strokeWidth=0.6))
    for j, z in enumerate(zones):
        box(zx, y_of(j, len(zones)), z, th.c.get("zebra"))
    drawn = set()
    for p in paths:
        e, z = str(p["via"]), _zones(ctx, p)
        if e not in entries or (e, z) in drawn:
            continue
        drawn.add((e, z))
        i, j = entries.index(e), zones.index(z)
        colour = th.verdict_colour(VERDICT_WORDS.get(str(p["verdict"]), "unknown"))
        y1, y2 = y_of(i, len(entries)) + row_h * 0.35, y_of(j, len(zones)) + row_h * 0.35
        d.add(Line(ex + box_w, y1, zx - 1.5 * mm, y2, strokeColor=colour, strokeWidth=1.2))
        d.add(Polygon([zx - 1.5 * mm, y2 + 1.2, zx, y2, zx - 1.5 * mm, y2 - 1.2], fillColor=colour,
                      strokeColor=colour))
    return d


def build_exposure(ctx: Ctx, section: Section) -> list[Flowable]:
    """The exposure paths the audit judged (``exposure`` in the result), entry points first."""
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Internet exposure"), 0, "exposure")]
    out += narrative(ctx, section.text)
    ex = ctx.data.get("exposure") or {}
    paths = [p for p in ex.get("paths", []) if p.get("verdict") != "deny"]
    if not ex:
        return [*out, para(ctx, "No control of this audit judged exposure paths (no-exposure, exposure-only-via); "
                                "run `auditor exposure` for the entry points.", "note")]
    entries = [p for p in paths if p.get("via") != "direct"]
    direct = [p for p in paths if p.get("via") == "direct"]
    out.append(para(ctx, f"{len(entries)} entry-point paths and {len(direct)} direct pod-IP flows from "
                         f"{ex.get('client', 'internet')} are allowed or unknown; denied paths are in exposure.csv. "
                         "Assumptions: " + "; ".join(ex.get("assumptions", [])) + ".", "note"))
    if paths:
        out += [_diagram(ctx, paths), Spacer(1, 3 * mm)]
    rows = []
    cap = int(section.options.get("evidence_rows", ctx.template.evidence_rows))
    for p in paths[:cap]:
        hops = " → ".join(f"{h['step']}: {h['verdict']}" for h in p.get("hops", []))
        causes = "; ".join(c["code"] for c in p.get("causes", []))
        src = p.get("source") or {}
        where = f"{src.get('file')}:{src.get('line')}" if src.get("file") and src.get("line") else ""
        rows.append([str(p["via"]), str(p["entry"]), " ".join(p.get("backend", [])), _zones(ctx, p),
                     str(p.get("port", "")), f"{hops}" + (f" ({causes})" if causes else ""), str(p["verdict"]),
                     where])
    if rows:
        out.append(grid(ctx, ["via", "entry", "backend", "zones", "port", "hops", "verdict", "source"], rows,
                        [1.3, 1.5, 1.6, 0.8, 0.6, 1.8, 0.6, 1.3]))
    if len(paths) > cap:
        out.append(para(ctx, f"{cap} of {len(paths)} paths shown; every path is in exposure.csv.", "note"))
    return out
