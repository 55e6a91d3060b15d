"""The PDF's sections: one builder per template section kind, each returning flowables.

Builders read only ``ReportData`` (the audit result) and the template; long tables repeat their
header row on every page, and evidence tables are capped (summarised by workload past the cap,
with a pointer to the CSV holding every row).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reportlab.lib import colors
from reportlab.lib.units import mm
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    Image,
    KeepTogether,
    NextPageTemplate,
    PageBreak,
    Paragraph,
    Spacer,
    Table,
)
from reportlab.platypus.flowables import HRFlowable
from reportlab.platypus.tableofcontents import TableOfContents

from auditor.report.data import Control, ReportData
from auditor.report.pdf.exposure import build_exposure
from auditor.report.pdf.template import Section
from auditor.report.pdf.widgets import (
    VERDICT_WORDS,
    Anchor,
    Ctx,
    Heading,
    NameCell,
    badge,
    fill,
    fmt_origin,
    grid,
    heading,
    kv,
    more_note,
    narrative,
    para,
    rule,
    rule_markup,
    section_title,
    table_style,
)

MATRIX_WORDS = {"allowed": "allowed", "partial": "partial", "denied": "denied", "unknown": "unknown", "empty": "n/a"}
MATRIX_COLOUR_KEYS = {"allowed": "allowed", "partial": "partial", "denied": "denied", "unknown": "unknown_flow",
                      "empty": "empty"}


# -- cover -----------------------------------------------------------------------------------------


def build_cover(ctx: Ctx, section: Section) -> list[Flowable]:
    th, d, b = ctx.theme, ctx.data, ctx.template.branding
    out: list[Flowable] = []
    if b.logo is not None:
        img = Image(str(b.logo))
        ratio = img.imageHeight / float(img.imageWidth or 1)
        w = min(50 * mm, th.width)
        h = w * ratio
        if h > 25 * mm:
            h = 25 * mm
            w = h / ratio
        img.drawWidth, img.drawHeight = w, h
        img.hAlign = "LEFT"
        out += [img, Spacer(1, 10 * mm)]
    else:
        out.append(Spacer(1, 18 * mm))
    if b.organisation:
        out.append(para(ctx, b.organisation, "cover_org"))
    cover_title = Heading(th.esc(fill(ctx, section.title) or fill(ctx, ctx.template.title)), ctx.s["cover_title"], 0,
                          "cover", fill(ctx, section.title) or fill(ctx, ctx.template.title))
    cover_title.in_contents = False
    out.append(cover_title)
    subtitle = fill(ctx, str(section.options.get("subtitle") or "")) or ", ".join(d.frameworks)
    out.append(para(ctx, subtitle, "cover_sub"))
    out.append(HRFlowable(width="100%", thickness=2, color=th.c["primary"], spaceBefore=0, spaceAfter=14))
    c = d.counts
    result_row = Table([[badge(ctx, d.verdict, big=True),
                         Paragraph(th.esc(f"{c['pass']} pass · {c['fail']} fail · {c['waived']} waived · "
                                          f"{c['unknown']} unknown — {len(d.controls)} controls"), ctx.s["body"])]],
                       colWidths=[50 * mm, th.width - 50 * mm])
    result_row.setStyle(table_style(ctx, [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 0)]))
    out += [result_row, Spacer(1, 10 * mm), facts_table(ctx), Spacer(1, 8 * mm)]
    out += narrative(ctx, section.text)
    if b.confidentiality:
        out += [Spacer(1, 6 * mm), para(ctx, fill(ctx, b.confidentiality), "note")]
    out += [NextPageTemplate("body"), PageBreak()]
    return out


def facts_table(ctx: Ctx) -> Table:
    th, d, b = ctx.theme, ctx.data, ctx.template.branding
    c = d.counts
    packs = "; ".join(f"{p.get('title', p['id'])} (version {p.get('version') or '-'})" for p in d.packs)
    rows: list[tuple[str, Any]] = []
    if b.organisation:
        rows.append(("Organisation", b.organisation))
    rows += [
        ("Cluster", d.cluster_name(b.cluster)),
        ("Framework", ", ".join(d.frameworks)),
        ("Control packs", packs),
        ("Evidence date", f"{d.date} (snapshot captured {d.captured_at}{_declared(d)})"),
        ("Result", f"{d.verdict.upper()}: {c['fail']} of {len(d.controls)} controls fail, {c['unknown']} unknown"),
        ("Snapshot digest", Paragraph(th.esc(f"sha256:{d.digest}"), ctx.s["cell_mono"])),
        ("Prepared with", f"zone-auditor {d.tool_version}"),
        ("Attestation", Paragraph(th.esc(attestation_text(ctx)), ctx.s["cell_mono"])),
    ]
    return kv(ctx, rows, key_width=0.24)


def attestation_text(ctx: Ctx) -> str:
    """The cover's and sign-off's attestation line: the signed statement the report was issued
    under (``auditor verify`` prints the same digest), or "unsigned"."""
    a = ctx.attestation
    if a is None:
        return "unsigned"
    return f"signed ({a.algorithm}), key id {a.key_id}, statement sha256:{a.statement_digest}"


def _declared(d: ReportData) -> str:
    """``auditor scan --captured-at``: the time was declared by the user, not read from a clock."""
    return "; time declared by the user" if d.snapshot.get("captured_at_declared") else ""


def build_facts(ctx: Ctx, section: Section) -> list[Flowable]:
    out: list[Flowable] = []
    if section.title:
        out.append(heading(ctx, fill(ctx, section.title), 0))
    out.append(facts_table(ctx))
    out.append(Spacer(1, 4 * mm))
    return out + narrative(ctx, section.text)


def build_contents(ctx: Ctx, section: Section) -> list[Flowable]:
    toc = TableOfContents(tableStyle=table_style(ctx, [("VALIGN", (0, 0), (-1, -1), "TOP"),
                                              ("LEFTPADDING", (0, 0), (-1, -1), 0),
                                              ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                                              ("TOPPADDING", (0, 0), (-1, -1), 0),
                                              ("BOTTOMPADDING", (0, 0), (-1, -1), 0)]))
    toc.levelStyles = [ctx.s["toc1"], ctx.s["toc2"]]
    toc.dotsMinLevel = 0
    out: list[Flowable] = [para(ctx, section_title(ctx, section, "Contents"), "h1"), toc]
    out += narrative(ctx, section.text)
    out.append(PageBreak())
    return out


# -- scope and method ----------------------------------------------------------------------------------


def build_scope(ctx: Ctx, section: Section) -> list[Flowable]:
    th, d = ctx.theme, ctx.data
    r = d.result
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Scope and method"), 0, "scope")]
    out += narrative(ctx, section.text)
    out.append(para(ctx, "Evidence basis", "h3"))
    pairs: list[tuple[str, Any]] = [
        ("Snapshot source", d.snapshot.get("source", "")),
        ("Captured at", d.captured_at + _declared(d)),
        ("Snapshot digest", Paragraph(th.esc(f"sha256:{d.digest}"), ctx.s["cell_mono"])),
        ("Content digest", Paragraph(th.esc(f"sha256:{d.snapshot.get('content_digest', '')}"), ctx.s["cell_mono"])),
    ]
    if d.snapshot.get("dataplane"):  # admin network policies present: who enforces them (ADM-14)
        pairs.append(("Admin policy dataplane", str(d.snapshot["dataplane"])))
    for p in d.packs:
        pairs.append((f"Control pack {p['id']}",
                      Paragraph(th.esc(f"{p.get('title', '')} v{p.get('version') or '-'} — {p.get('path', '')} — "
                                       f"sha256:{p.get('digest', '')}"), ctx.s["cell_mono"])))
    if r.get("zones_file"):
        pairs.append(("Zone map", Paragraph(th.esc(f"{r['zones_file'].get('path')} — sha256:"
                                                   f"{r['zones_file'].get('digest')}"), ctx.s["cell_mono"])))
    if r.get("waivers_file"):
        wf = r["waivers_file"]
        pairs.append(("Waivers", Paragraph(th.esc(f"{wf.get('path')} — sha256:{wf.get('digest')} "
                                                  f"(judged as of {r.get('as_of')})"), ctx.s["cell_mono"])))
    pairs.append(("Tool version", f"zone-auditor {d.tool_version}"))
    out.append(kv(ctx, pairs, key_width=0.22))
    out.append(para(ctx, "Command to reproduce", "h3"))
    out.append(para(ctx, "Run against the same input with the same control packs; the snapshot digest above must "
                         "match, and the audit result is then byte-identical.", "small"))
    box = Table([[Paragraph(th.esc(d.reproduce_command()), ctx.s["mono"])]], colWidths=[th.width])
    box.setStyle(table_style(ctx, [("BACKGROUND", (0, 0), (-1, -1), th.c["zebra"]),
                             ("BOX", (0, 0), (-1, -1), 0.5, th.c["rule"]),
                             ("LEFTPADDING", (0, 0), (-1, -1), 6), ("TOPPADDING", (0, 0), (-1, -1), 5),
                             ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
    out.append(box)
    out.append(para(ctx, "then: auditor report result.json -o report/", "note"))

    scope = r.get("scope") or {}
    counts = scope.get("counts") or {}
    if counts:
        out.append(para(ctx, "What was analysed", "h3"))
        out.append(para(ctx, (
            f"{counts.get('pods', 0)} running pod(s) and {counts.get('templates', 0)} workload template(s) (workloads "
            f"without running pods, analysed from their pod template) in {counts.get('workloads', 0)} workloads and "
            f"{counts.get('namespaces', 0)} namespaces; {counts.get('policies', 0)} network policies; "
            f"{counts.get('endpoint_classes', 0)} endpoint classes (pods no policy can tell apart). "
            f"{counts.get('excluded_pods', 0)} pods are not policy endpoints (host-network or finished).")))
    collection = scope.get("collection") or {}
    resources = scope.get("resources") or {}
    if collection or resources:
        out.append(para(ctx, "Collection status of every resource kind", "h3"))
        kinds = sorted(set(collection) | set(resources), key=lambda k: (k.count("/"), k))
        half = (len(kinds) + 1) // 2
        rows, extra = [], []
        for i in range(half):
            row: list[str] = []
            for col, k in enumerate((kinds[i], kinds[i + half] if i + half < len(kinds) else None)):
                if k is None:
                    row += ["", "", ""]
                    continue
                status = collection.get(k, "not requested")
                row += [k, status, str(resources.get(k, 0))]
                if status not in ("ok", "not-installed"):
                    extra.append(("TEXTCOLOR", (3 * col + 1, i + 1), (3 * col + 1, i + 1), th.c["fail"]))
                    extra.append(("FONTNAME", (3 * col + 1, i + 1), (3 * col + 1, i + 1), th.fonts.bold))
            rows.append(row)
        extra.append(("LINEAFTER", (2, 0), (2, -1), 0.8, th.c["rule"]))
        out.append(grid(ctx, ["Resource kind", "Status", "Objects"] * 2, rows, [2.6, 1.1, 0.8] * 2,
                        styles=["cell", "cell", "cell"] * 2, extra=extra))
        out.append(para(ctx, "ok: read completely · not-installed: the API is not served by the cluster (nothing "
                             "to read) · forbidden / error: not read — every verdict depending on it is unknown."
                        + (" invalid: objects the API server would reject were skipped (--lenient) · not-read: the "
                           "snapshot does not record the kind; both make the verdicts depending on it unknown."
                           if {"invalid", "not-read"} & set(collection.values()) else ""),
                        "note"))
    out.append(para(ctx, "What is not modelled", "h3"))
    unsupported = list(r.get("unsupported") or [])
    ignored = scope.get("ignored") or {}
    items = [f"{x}" for x in unsupported]
    items += [f"{k}: {v} object(s) of a kind this version does not model (ignored)" for k, v in sorted(ignored.items())]
    items += [f"{x['code']}: {x['words']} — {x['count']:,} unknown flow(s) or reason(s)" for x in d.unknown_causes]
    n_unknown = d.counts.get("unknown", 0)
    if n_unknown and not d.unknown_causes:
        items.append(f"{n_unknown} control(s) are unknown; their causes are listed with each control")
    if items:
        for x in items[:40]:
            out.append(Paragraph(th.esc(x), ctx.s["small"], bulletText="•"))
        out += more_note(ctx, min(40, len(items)), len(items), "items", "the audit result JSON")
    else:
        out.append(para(ctx, "Nothing in the input fell outside the model: no unsupported policy kind or field.",
                        "small"))
    out.append(para(ctx, "Assumptions of the model", "h3"))
    for x in r.get("assumptions") or []:
        out.append(Paragraph(th.esc(x), ctx.s["small"], bulletText="•"))
    notes = list(r.get("notes") or [])
    if notes:
        out.append(para(ctx, "Notes from the analysis", "h3"))
        for x in notes[:25]:
            out.append(Paragraph(th.esc(x), ctx.s["small"], bulletText="•"))
        out += more_note(ctx, min(25, len(notes)), len(notes), "notes", "the audit result JSON")
    return out


# -- executive summary ------------------------------------------------------------------------------------


def _kpis(ctx: Ctx) -> Table:
    th, c = ctx.theme, ctx.data.counts
    cells, labels = [], []
    for v in ("pass", "fail", "waived", "unknown"):
        style = ctx.s["kpi_num"].clone(f"kpi_{v}", textColor=th.verdict_colour(v))
        cells.append(Paragraph(str(c[v]), style))
        labels.append(Paragraph(VERDICT_WORDS[v].lower() if v != "waived" else "waived", ctx.s["kpi_label"]))
    t = Table([cells, labels], colWidths=[th.width / 4] * 4)
    cmds: list[tuple[Any, ...]] = [("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                                   ("TOPPADDING", (0, 0), (-1, 0), 7), ("BOTTOMPADDING", (0, 1), (-1, 1), 7)]
    for k, v in enumerate(("pass", "fail", "waived", "unknown")):
        cmds.append(("LINEABOVE", (k, 0), (k, 0), 3, th.verdict_colour(v)))
        cmds.append(("BACKGROUND", (k, 0), (k, -1), th.c["zebra"]))
    cmds.append(("LINEAFTER", (0, 0), (-2, -1), 4, colors.white))
    t.setStyle(table_style(ctx, cmds))
    return t


def control_table(ctx: Ctx, controls: Sequence[Control], with_message: bool = True) -> Table:
    th = ctx.theme
    header = ["Control", "Title and finding" if with_message else "Title", "Severity", "Verdict", "Open",
              "Waived", "Unknown"]
    widths = [1.25, 4.1, 0.95, 1.1, 0.85, 0.95, 1.1]
    rows, extra = [], []
    for i, c in enumerate(controls, start=1):
        f = c.finding
        title = th.esc(f.get("title", ""))
        if with_message and c.verdict != "pass":
            message = str(f.get("message", ""))
            message = message if len(message) <= 110 else message[:109] + "…"
            title += f'<br/><font size="6.8" color="{th.hex["muted"]}">{th.esc(message)}</font>'
        rows.append([c.key, Paragraph(title, ctx.s["cell"]), str(f.get("severity", "")),
                     Paragraph(VERDICT_WORDS.get(c.verdict, c.verdict), ctx.s["badge"]),
                     f"{c.counts.get('violations', 0):,}", f"{c.counts.get('waived', 0):,}",
                     f"{c.counts.get('unknown', 0):,}"])
        extra.append(("BACKGROUND", (3, i), (3, i), th.verdict_colour(c.verdict)))
    extra.append(("VALIGN", (3, 1), (3, -1), "MIDDLE"))
    return grid(ctx, header, rows, widths, styles=["cell_bold", "cell", "cell", "cell", "cell", "cell", "cell"],
                extra=extra)


def _filtered(ctx: Ctx, section: Section) -> list[Control]:
    wanted = section.options.get("verdicts")
    out = [c for c in ctx.data.controls if not wanted or c.verdict in wanted]
    return out


def build_summary(ctx: Ctx, section: Section) -> list[Flowable]:
    th, d = ctx.theme, ctx.data
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Executive summary"), 0, "summary")]
    out += [_kpis(ctx), Spacer(1, 5 * mm)]
    out += narrative(ctx, section.text)
    if section.options.get("controls", True):
        out.append(para(ctx, "Controls", "h3"))
        out.append(control_table(ctx, d.controls, with_message=True))
    if section.options.get("requirements", True) and d.requirements:
        block: list[Flowable] = [para(ctx, "By framework requirement", "h3"), para(ctx, (
            "A requirement takes the worst verdict of its controls (fail, then unknown, waived, pass). The controls "
            "evidence the network part of each requirement only."), "small")]
        rows, extra = [], []
        for i, (ref, cs, verdict) in enumerate(d.requirements, start=1):
            per = ", ".join(f"{c.key} ({c.verdict})" for c in cs)
            rows.append([ref, per, Paragraph(VERDICT_WORDS.get(verdict, verdict), ctx.s["badge"])])
            extra.append(("BACKGROUND", (2, i), (2, i), th.verdict_colour(verdict)))
        extra.append(("VALIGN", (2, 1), (2, -1), "MIDDLE"))
        block.append(grid(ctx, ["Requirement", "Controls evidencing it (verdict)", "Overall"], rows, [2.2, 5.2, 1.1],
                          styles=["cell_bold", "cell", "cell"], extra=extra))
        out.append(KeepTogether(block) if len(rows) <= 40 else block[0])
        if len(rows) > 40:
            out += block[1:]
    return out


def build_control_table(ctx: Ctx, section: Section) -> list[Flowable]:
    controls = _filtered(ctx, section)
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Findings"), 0, "control-table")]
    out += narrative(ctx, section.text)
    if not controls:
        out.append(para(ctx, "No control has one of these verdicts.", "small"))
        return out
    out.append(control_table(ctx, controls, with_message=True))
    return out


# -- zone matrix ----------------------------------------------------------------------------------------------


def build_matrix(ctx: Ctx, section: Section) -> list[Flowable]:
    d = ctx.data
    head: list[Flowable] = [heading(ctx, section_title(ctx, section, "Zone-to-zone reachability"), 0, "matrix")]
    head += narrative(ctx, section.text)
    out: list[Flowable] = []
    matrices = d.get("zones_matrix") or {}
    if not matrices:
        return [*head, para(ctx, "This audit result does not record the zone matrix (it was written by an older "
                                 "version); re-run the audit to include it.", "note")]
    for n, pack in enumerate(d.packs):
        m = matrices.get(pack["id"])
        if not m:
            continue
        block: list[Flowable] = head if n == 0 else []
        if len(d.packs) > 1:
            block.append(para(ctx, f"{pack.get('title', pack['id'])}", "h3"))
        block += [_matrix_table(ctx, m), Spacer(1, 3 * mm)]
        if len(m["zones"]) <= 14:
            out.append(KeepTogether(block))  # a grid is read whole
        else:
            out += block
    if not out:
        out = head
    legend = KeepTogether([_legend(ctx), para(ctx, (
        "Rows are sources, columns destinations. A cell aggregates every pair of member workloads (and external "
        "networks): allowed = every pair can connect on some port; partial = some pairs can; denied = none can; "
        "unknown = none certainly can but some may (the verdict depends on something not modelled or not read). "
        "Ports listed are those allowed for at least one pair; a pod's traffic to itself is not counted."), "note")])
    out.append(legend)
    if section.options.get("flows", False):
        out += _crossing_flows(ctx, int(section.options.get("evidence_rows", ctx.template.evidence_rows)))
    return out


def _crossing_flows(ctx: Ctx, cap: int) -> list[Flowable]:
    """The flows behind the matrix: listed when few, else summarised by zone pair."""
    d = ctx.data
    cols, texts, rows = d.flows_table()
    details = d.flow_details()
    at = {c: k for k, c in enumerate(cols)}
    live = [r for r in rows if r[at["crossing"]] and r[at["verdict"]] in ("allowed", "unknown")]
    out: list[Flowable] = [para(ctx, f"Zone-crossing flows: {len(live):,}" + (" listed" if d.flows_omitted else ""),
                                "h2")]
    if d.flows_omitted:
        out.append(para(ctx, f"{d.flows_note()}: {d.crossing_flows:,} flows cross a zone boundary in all; those "
                             "below are among the first flows listed (by source and destination).", "note"))
    if not live:
        out.append(para(ctx, "No flow crosses a zone boundary: every zone is closed to every other.", "small"))
        return out

    def zones(z: list[str]) -> str:
        return ", ".join(z) or "(unzoned)"

    if len(live) <= cap:
        out.append(para(ctx, "Every flow between workloads (or external networks) of different zones that the "
                             "policies allow or may allow, with the rule that decided each end and the controls "
                             "that judge it. Assurance: network = every admitting rule names its peer (labels, "
                             "namespace, service account or CIDR); identity = an mTLS-verified principal is "
                             "required; none = admitted without naming the peer.", "small"))
        body = []
        for k, r in enumerate(live, start=1):
            src = NameCell(r[at["src"]], zones(r[at["src_zones"]]))
            dst = NameCell(r[at["dst"]], zones(r[at["dst_zones"]]))
            ports = r[at["ports"]] + (" (unknown)" if r[at["verdict"]] == "unknown" else "")
            request = r[at["request"]] if "request" in at else "*"
            sub = [] if request in ("*", "any request", "") else [request]
            if r[at["assurance"]] if "assurance" in at else "":
                sub.append(f"assurance: {r[at['assurance']]}")
            body.append([str(k), src, dst, NameCell(ports, "; ".join(sub)),
                         rule_markup(ctx, details[r[at["decided_by"]]], texts[r[at["decided_by"]]]),
                         ", ".join(r[at["controls"]]) or "—"])
        out.append(grid(ctx, ["#", "Source (zone)", "Destination (zone)", "Ports (requests, assurance)",
                              "Deciding rule at each end", "Controls"], body, [0.35, 2.0, 2.0, 1.5, 3.3, 0.95],
                        styles=["cell", "cell", "cell", "cell_id", "cell", "cell_id"]))
        return out
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for r in live:
        key = (zones(r[at["src_zones"]]), zones(r[at["dst_zones"]]))
        g = groups.setdefault(key, {"allowed": 0, "unknown": 0, "src": set(), "dst": set(), "example": r})
        g[r[at["verdict"]]] += 1
        g["src"].add(r[at["src"]])
        g["dst"].add(r[at["dst"]])
    ordered = sorted(groups.items(), key=lambda kv: (-(kv[1]["allowed"] + kv[1]["unknown"]), kv[0]))
    listed = " listed" if d.flows_omitted else ""
    out.append(para(ctx, f"{len(live):,}{listed} zone-crossing flows are allowed or undecided; they are summarised "
                         f"here by zone pair, and every{listed} flow is in flows.csv with its ports, deciding rules "
                         "and controls.", "small"))
    body = []
    for (a, b), g in ordered[:cap]:
        ex = g["example"]
        body.append([a, b, f"{g['allowed']:,}", f"{g['unknown']:,}", f"{len(g['src']):,}", f"{len(g['dst']):,}",
                     f"{ex[at['src']]} → {ex[at['dst']]} ({ex[at['ports']]})"])
    out.append(grid(ctx, ["From zone", "To zone", "Allowed", "Unknown", "Sources", "Targets", "Example flow"],
                    body, [1.25, 1.25, 0.95, 1.0, 0.95, 0.95, 3.7],
                    styles=["cell_bold", "cell_bold", "cell", "cell", "cell", "cell", "cell_id"]))
    out += more_note(ctx, min(cap, len(ordered)), len(ordered), "zone pairs", "flows.csv")
    return out


def _matrix_table(ctx: Ctx, m: Mapping[str, Any]) -> Table:
    th = ctx.theme
    zones = [z["name"] for z in m["zones"]]
    sizes = {z["name"]: z["members"] for z in m["zones"]}
    cells = {(c["src"], c["dst"]): c for c in m["cells"]}
    n = len(zones)
    head_w = 30 * mm
    col_w = (th.width - head_w) / max(n, 1)
    fs = 7.2 if n <= 6 else (6.4 if n <= 9 else 5.6)
    cstyle = ctx.s["cell_center"].clone("mcell", fontSize=fs, leading=fs * 1.22)
    hstyle = ctx.s["cell_head"].clone("mhead", fontSize=fs + 0.4, leading=(fs + 0.4) * 1.2, alignment=1)
    rstyle = ctx.s["cell_bold"].clone("mrow", fontSize=fs + 0.4, leading=(fs + 0.4) * 1.2)
    header = [Paragraph("from \\ to", hstyle)]
    header += [Paragraph(f"{th.esc(z)}<br/><font size='{fs - 0.8}'>{sizes[z]} member(s)</font>", hstyle) for z in zones]
    rows: list[list[Any]] = [header]
    cmds: list[tuple[Any, ...]] = [
        ("BACKGROUND", (0, 0), (-1, 0), th.c["primary"]),
        ("BACKGROUND", (0, 1), (0, -1), th.c["zebra"]),
        ("GRID", (0, 0), (-1, -1), 0.8, colors.white),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
        ("LEFTPADDING", (0, 0), (-1, -1), 2.5),
        ("RIGHTPADDING", (0, 0), (-1, -1), 2.5),
    ]
    for i, a in enumerate(zones, start=1):
        row: list[Any] = [Paragraph(f"{th.esc(a)}<br/><font size='{fs - 0.8}' color='{th.hex['muted']}'>"
                                    f"{sizes[a]} member(s)</font>", rstyle)]
        for j, b in enumerate(zones, start=1):
            c = cells.get((a, b), {"status": "empty", "pairs": 0})
            status = c["status"]
            text = f"<b>{MATRIX_WORDS.get(status, status)}</b>"
            if status in ("allowed", "partial"):
                ports = c.get("ports") or ""
                if len(ports) > 40:
                    ports = ports[:38] + "…"
                text += f"<br/>{th.esc(ports)}"
                if status == "partial":
                    text += f"<br/><font size='{fs - 1}'>{c['allowed_pairs']:,}/{c['pairs']:,} pairs</font>"
            if status == "unknown" or (c.get("unknown_pairs") and status != "empty"):
                text += f"<br/><font size='{fs - 1}'>{c.get('unknown_pairs', 0)} pair(s) unknown</font>"
            if status == "denied":
                text += f"<br/><font size='{fs - 1}'>{c['pairs']:,} pair(s)</font>"
            row.append(Paragraph(text, cstyle))
            colour = th.c[MATRIX_COLOUR_KEYS.get(status, "empty")]
            cmds.append(("BACKGROUND", (j, i), (j, i), colour))
            if status == "empty":
                cmds.append(("TEXTCOLOR", (j, i), (j, i), th.c["muted"]))
        rows.append(row)
    t = Table(rows, colWidths=[head_w] + [col_w] * n, repeatRows=1)
    t.setStyle(table_style(ctx, cmds))
    return t


def _legend(ctx: Ctx) -> Table:
    th = ctx.theme
    items = [("allowed", "every pair can connect"), ("partial", "some pairs can connect"),
             ("denied", "no pair can connect"), ("unknown", "undecided: not modelled or not read"),
             ("empty", "no member on one side")]
    cells, cmds = [], [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (-1, -1), 2),
                       ("RIGHTPADDING", (0, 0), (-1, -1), 2)]
    for k, (status, label) in enumerate(items):
        cells += ["", Paragraph(f"<b>{MATRIX_WORDS[status]}</b> {th.esc(label)}", ctx.s["cell"])]
        cmds.append(("BACKGROUND", (2 * k, 0), (2 * k, 0), th.c[MATRIX_COLOUR_KEYS[status]]))
        cmds.append(("BOX", (2 * k, 0), (2 * k, 0), 0.4, th.c["rule"]))
    sw = 4 * mm
    rest = (th.width - 5 * sw) / 5
    t = Table([cells], colWidths=[sw, rest] * 5, rowHeights=[9 * mm])
    t.setStyle(table_style(ctx, cmds))
    return t


# -- one section per control ------------------------------------------------------------------------------


def build_controls(ctx: Ctx, section: Section) -> list[Flowable]:
    controls = _filtered(ctx, section)
    cap = int(section.options.get("evidence_rows", ctx.template.evidence_rows))
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Controls"), 0, "controls")]
    out += narrative(ctx, section.text)
    for n, c in enumerate(controls):
        if n:
            out.append(CondPageBreak(95 * mm))
            out.append(rule(ctx))
        out += _control(ctx, c, cap)
    if not controls:
        out.append(para(ctx, "No control has one of the verdicts this section lists.", "small"))
    return out


def _control(ctx: Ctx, c: Control, cap: int) -> list[Flowable]:
    th, d = ctx.theme, ctx.data
    f = c.finding
    title = Paragraph(f"{th.esc(c.key)} — {th.esc(f.get('title', ''))}", ctx.s["h2"])
    anchor = Anchor(1, "control-" + hashlib.sha256(c.key.encode()).hexdigest()[:12], f"{c.key} {f.get('title', '')}")
    head = Table([[title, badge(ctx, c.verdict, width=24 * mm)]], colWidths=[th.width - 26 * mm, 26 * mm])
    head.setStyle(table_style(ctx, [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("LEFTPADDING", (0, 0), (0, 0), 0),
                              ("RIGHTPADDING", (-1, 0), (-1, 0), 0), ("ALIGN", (-1, 0), (-1, 0), "RIGHT")]))
    checked = f.get("checked") or {}
    checked_text = ", ".join(f"{v} {k}" for k, v in checked.items()) or "—"
    pack = next((p for p in d.packs if p["id"] == f["pack"]), {})
    facts = kv(ctx, [
        ("Requirements", ", ".join(f.get("references", [])) or "—"),
        ("Control pack", f"{pack.get('title', f['pack'])} (v{pack.get('version') or '-'})"),
        ("Severity", f.get("severity", "")),
        ("Assertion", f"{(f.get('assertion') or {}).get('kind', '')}: {f.get('claim', '')}"),
        ("Scope checked", checked_text),
        ("Result", f.get("message", "")),
    ], key_width=0.2)
    out: list[Flowable] = [KeepTogether([anchor, head, Spacer(1, 2), facts])]
    out.append(Spacer(1, 3))
    out.append(Paragraph(f"<b>Rationale.</b> {th.esc(' '.join(str(f.get('rationale', '')).split()))}",
                         ctx.s["body"]))
    if c.blocking:
        out.append(para(ctx, "Why the verdict is unknown", "h3"))
        for reason in c.blocking:
            out.append(Paragraph(th.esc(reason), ctx.s["small"], bulletText="•"))
    if c.verdict == "unknown":
        out.append(para(ctx, "Causes of the unknown verdict", "h3"))
        for x in c.unknown_causes:
            out.append(Paragraph(th.esc(f"{x['code']}: {x['words']} — {int(x.get('count') or 1):,}"),
                                 ctx.s["small"], bulletText="•"))
        if not c.unknown_causes:
            out.append(Paragraph(th.esc("no cause recorded in this result (written by an older version)"),
                                 ctx.s["small"], bulletText="•"))
    for note in f.get("notes", []) or []:
        out.append(para(ctx, f"Note: {note}", "note"))
    open_ = c.open_violations
    counts = c.counts
    partial = bool(c.violations_omitted or c.unknown_omitted)  # the result lists the first items only
    if open_ or counts.get("violations", 0):
        out.append(para(ctx, f"Evidence: {int(counts.get('violations', len(open_))):,} violation(s)", "h3"))
        out += _evidence(ctx, open_, cap, "violations", listed_only=partial)
    elif c.verdict == "pass":
        out.append(para(ctx, "Evidence: no violation. Every flow or workload in the control's scope satisfies the "
                             "assertion; the flows it bears on are listed in flows.csv.", "small"))
    waived = c.waived_violations
    if waived or counts.get("waived", 0):
        out.append(para(ctx, f"Waived: {int(counts.get('waived', len(waived))):,} violation(s) accepted by waiver",
                        "h3"))
        out += _evidence(ctx, waived, cap, "waived violations", waived=True, listed_only=partial)
    statuses = [w for w in d.get("waivers", []) if w.get("control") in (f["control"], c.key)]
    if statuses:
        out.append(para(ctx, "Waivers applied", "h3"))
        rows = [[w["id"], w.get("status", ""), str(w.get("covers", 0)), w.get("approver", ""), w.get("expires", ""),
                 w.get("justification", "")] for w in statuses]
        out.append(grid(ctx, ["Waiver", "Status", "Covers", "Approver", "Expires", "Justification"], rows,
                        [1.1, 0.9, 0.7, 1.4, 1.0, 4.0]))
    unknown = c.unknown_flows
    if unknown or counts.get("unknown", 0):
        out.append(para(ctx, f"Undecided: {int(counts.get('unknown', len(unknown))):,} flow(s) or workload(s) with "
                             "an unknown verdict", "h3"))
        out += _evidence(ctx, unknown, cap, "undecided items", listed_only=partial)
    if partial and not any("--max-evidence" in str(n) for n in f.get("notes", []) or []):
        out.append(para(ctx, c.evidence_note(), "note"))
    return out


def _evidence(ctx: Ctx, items: list[Mapping[str, Any]], cap: int, what: str, waived: bool = False,
              listed_only: bool = False) -> list[Flowable]:
    """``listed_only``: the result lists only the first items of the control (--max-evidence)."""
    d = ctx.data
    flows = [v for v in items if v.get("kind") == "flow" and v.get("src")]
    endpoints = [v for v in items if not (v.get("kind") == "flow" and v.get("src"))]
    out: list[Flowable] = []
    if flows:
        if len(flows) <= cap:
            header = ["#", "Source", "Destination", "Ports", "Deciding rule at each end"]
            widths = [0.35, 2.35, 2.35, 1.25, 3.9]
            rows = []
            for k, v in enumerate(flows, start=1):
                why = str(v.get("decided_by") or v.get("reason", ""))
                waiver = f"waived by {', '.join(v.get('waived_by', []))}" if waived else ""
                rows.append([str(k), v.get("src", ""), v.get("dst", ""), v.get("ports", ""),
                             rule_markup(ctx, v.get("decided_by_detail") if v.get("decided_by") else None, why,
                                         prefix=waiver)])
            out.append(grid(ctx, header, rows, widths, styles=["cell", "cell_id", "cell_id", "cell_id", "cell"]))
            reasons = list(dict.fromkeys(str(v.get("reason", "")) for v in flows))
            if len(reasons) <= 3:
                out.append(para(ctx, "Finding: " + "; ".join(reasons), "note"))
        else:
            side, summary = d.summarise_by_workload(flows)
            shown = summary[: ctx.template.summary_rows]
            label = "destination" if side == "dst" else "source"
            peer = "sources" if side == "dst" else "destinations"
            listed = "listed " if listed_only else ""
            out.append(para(ctx, f"{len(flows):,} {listed}{what} between workloads: more than the {cap:,} rows listed "
                                 f"in full, so they are summarised by {label} workload ({len(summary):,} workloads, "
                                 f"most flows first). Every {listed}flow is in violations.csv.", "small"))
            rows = [[r["workload"], f"{r['flows']:,}", f"{r['peers']:,}", r["example"], r["ports"],
                     rule_markup(ctx, r["decided_by_detail"], r["decided_by"], 200)] for r in shown]
            out.append(grid(ctx, [f"{label.capitalize()} workload", "Flows", peer.capitalize(), "Example peer",
                                  "Ports", "Most common deciding rule"], rows, [2.3, 0.75, 1.05, 2.0, 0.9, 3.3],
                            styles=["cell_id", "cell", "cell", "cell_id", "cell_id", "cell"]))
            out += more_note(ctx, len(shown), len(summary), f"{label} workloads", "violations.csv")
    if endpoints:
        shown = endpoints[:cap]
        rows = [[str(k), v.get("dst", ""), ", ".join(v.get("dst_zones", [])), v.get("ports", ""),
                 (f"waived by {', '.join(v.get('waived_by', []))} — " if waived else "") + str(v.get("reason", ""))]
                for k, v in enumerate(shown, start=1)]
        out.append(grid(ctx, ["#", "Workload", "Zone", "Ports", "Finding"], rows, [0.35, 3.0, 1.0, 1.0, 4.6],
                        styles=["cell", "cell_id", "cell", "cell_id", "cell"]))
        out += more_note(ctx, len(shown), len(endpoints), what, "violations.csv")
    return out


# -- inventory appendix ---------------------------------------------------------------------------------


def build_inventory(ctx: Ctx, section: Section) -> list[Flowable]:
    th, d = ctx.theme, ctx.data
    cap = int(section.options.get("rows", ctx.template.inventory_rows))
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, "Inventory"), 0, "inventory")]
    out += narrative(ctx, section.text)
    inv = d.get("inventory")
    if not inv:
        out.append(para(ctx, "This audit result does not record the inventory (written by an older version).", "note"))
        return out
    workloads = list(d.workloads.values())
    for pack in d.packs:
        pid = str(pack["id"])
        zones = (d.get("zones") or {}).get(pid, {})
        out.append(para(ctx, f"Workloads per zone — {pack.get('title', pid)}", "h3"))
        rows = []
        for name, z in zones.items():
            members = [w for w in workloads if name in (w.get("zones") or {}).get(pid, [])]
            pods = sum(int(w.get("pods", 0)) for w in members)
            if z.get("kind") == "cidr":
                definition = "networks " + ", ".join(z.get("cidrs", [])) if z.get("cidrs") else "no network (empty)"
                count = str(len(z.get("members", [])))
            else:
                parts = [p for p in (z.get("selector"), z.get("namespace_selector") and
                                     f"namespaces: {z.get('namespace_selector')}") if p]
                definition = "; ".join(parts) or "all workloads"
                count = str(len(members))
            possible = len(z.get("possible_members", []))
            rows.append([name, definition, count, str(pods) if z.get("kind") != "cidr" else "—",
                         str(possible) if possible else "—"])
        unzoned = [w for w in workloads if not (w.get("zones") or {}).get(pid)]
        rows.append([("(unzoned)"), "in none of the pack's zones", str(len(unzoned)),
                     str(sum(int(w.get("pods", 0)) for w in unzoned)), "—"])
        out.append(grid(ctx, ["Zone", "Definition", "Workloads", "Pods", "Possibly"], rows, [1.3, 4.6, 0.9, 0.7, 0.8],
                        styles=["cell_bold", "cell_mono", "cell", "cell", "cell"]))
        out.append(para(ctx, "Possibly: workloads whose membership depends on labels not in the input (e.g. a "
                             "namespace that was not captured); their flows are judged unknown, never compliant.",
                        "note"))
        for name, z in zones.items():
            if z.get("kind") == "cidr":
                continue
            members = [w for w in workloads if name in (w.get("zones") or {}).get(pid, [])]
            if not members:
                continue
            out.append(para(ctx, f"Zone {name}: {len(members)} workload(s)", "h3"))
            out += _workload_table(ctx, members, cap)
        out.append(para(ctx, f"Unzoned workloads: {len(unzoned)}", "h3"))
        if unzoned:
            out.append(para(ctx, "These workloads are in no zone of the pack: controls on zones do not protect them, "
                                 "and flows from them into a protected zone are judged like any outside flow.",
                            "small"))
            out += _workload_table(ctx, unzoned, cap)
        else:
            out.append(para(ctx, "Every workload is in at least one zone.", "small"))
    tiers = d.get("tiers") or []
    policies = list(d.policies.values())
    out.append(para(ctx, "Policies per tier", "h3"))
    if tiers:
        rows = [[t["name"], _num(t.get("order")), t.get("default_action", ""),
                 str(t.get("policies", 0))] for t in tiers]
        out.append(grid(ctx, ["Tier (evaluation order)", "Order", "End-of-tier action", "Policies"], rows,
                        [3, 1, 1.6, 1]))
    if policies:
        shown = policies[:cap]
        rows = [[p["ref"], p.get("tier", ""), ",".join(p.get("types", [])),
                 f"{p.get('ingress_rules', 0)} / {p.get('egress_rules', 0)}",
                 fmt_origin(p.get("origin")) or "live cluster"] for p in shown]
        out.append(Spacer(1, 3))
        out.append(grid(ctx, ["Policy", "Tier", "Applies to", "Rules in / out", "Manifest"], rows,
                        [3.6, 1.1, 1.3, 0.9, 3.2], styles=["cell_id", "cell", "cell", "cell", "cell_mono"]))
        out += more_note(ctx, len(shown), len(policies), "policies", "policies.csv")
    else:
        out.append(para(ctx, "No network policy in the input: every workload is open in both directions (K8S-2).",
                        "small"))
    del th
    return out


def _num(value: Any) -> str:
    if value is None:
        return "—"
    f = float(value)
    return str(int(f)) if f.is_integer() else f"{f:g}"


def _workload_table(ctx: Ctx, members: list[Mapping[str, Any]], cap: int) -> list[Flowable]:
    shown = members[:cap]
    rows = [[w["name"], w.get("kind", ""), "template" if w.get("template") else str(w.get("pods", 0)),
             ", ".join(w.get("service_accounts", [])), fmt_origin(w.get("origin")) or "live cluster"] for w in shown]
    out: list[Flowable] = [grid(ctx, ["Workload", "Kind", "Pods", "Service account", "Manifest"], rows,
                                [3.4, 1.1, 0.95, 1.4, 3.3], styles=["cell_id", "cell", "cell", "cell_id", "cell_mono"])]
    out += more_note(ctx, len(shown), len(members), "workloads", "inventory.csv")
    return out


# -- sign-off, free text ---------------------------------------------------------------------------------


def build_signoff(ctx: Ctx, section: Section) -> list[Flowable]:
    th = ctx.theme
    roles = section.options.get("roles") or ("Prepared by", "Reviewed by", "Approved by")
    out: list[Flowable] = [CondPageBreak((45 + 15 * len(roles)) * mm),  # the block stays on one page
                           heading(ctx, section_title(ctx, section, "Sign-off"), 0, "signoff")]
    out += narrative(ctx, section.text)
    statement = str(section.options.get("statement") or "")
    if statement:
        out += narrative(ctx, statement)
    rows = [[Paragraph(th.esc(r), ctx.s["cell_bold"]), "", "", ""] for r in roles]
    body = [[Paragraph(th.esc(h), ctx.s["cell_head"]) for h in ("Role", "Name and title", "Signature", "Date")],
            *rows]
    t = Table(body, colWidths=[th.width * x for x in (0.2, 0.33, 0.3, 0.17)],
              rowHeights=[None] + [15 * mm] * len(roles))
    t.setStyle(table_style(ctx, [
        ("BACKGROUND", (0, 0), (-1, 0), th.c["primary"]),
        ("GRID", (0, 0), (-1, -1), 0.5, th.c["rule"]),
        ("VALIGN", (0, 1), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 4),
    ]))
    out += [Spacer(1, 3 * mm), t, Spacer(1, 3 * mm)]
    out.append(para(ctx, f"Evidence reference: snapshot sha256:{ctx.data.digest} — result "
                         f"{ctx.data.verdict.upper()} — zone-auditor {ctx.data.tool_version}", "note"))
    out.append(para(ctx, f"Attestation: {attestation_text(ctx)}", "note"))
    return out


def build_text(ctx: Ctx, section: Section) -> list[Flowable]:
    out: list[Flowable] = [heading(ctx, section_title(ctx, section, ""), 0)]
    return out + narrative(ctx, section.text)


def build_page_break(ctx: Ctx, section: Section) -> list[Flowable]:
    return [PageBreak()]


BUILDERS: dict[str, Callable[[Ctx, Section], list[Flowable]]] = {
    "cover": build_cover,
    "contents": build_contents,
    "facts": build_facts,
    "scope": build_scope,
    "summary": build_summary,
    "control-table": build_control_table,
    "matrix": build_matrix,
    "exposure": build_exposure,
    "controls": build_controls,
    "inventory": build_inventory,
    "signoff": build_signoff,
    "text": build_text,
    "page-break": build_page_break,
}
