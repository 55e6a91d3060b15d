"""Text, Markdown, CSV and JSON renderings of a ``DriftReport`` and a ``GateReport``.

Markdown is written for a pull-request comment: a one-line verdict, then one table per section,
long sections folded in ``<details>``. Every rendering is deterministic (the reports' lists are
already sorted); nothing depends on the clock.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from auditor.canonical import canonical_json
from auditor.compare.gate import GateReport

if TYPE_CHECKING:  # annotations only: the gate renders without importing auditor diff's module
    from auditor.compare.drift import DriftReport

TABLE_LIMIT = 50  # lines per section in table and Markdown output (JSON and CSV have everything)
CSV_COLUMNS = ("section", "change", "subject", "src", "dst", "ports", "old", "new", "detail", "decided_by",
               "was_decided_by", "file", "line")
FLOW_TITLES = {"allowed": "newly allowed", "unknown": "newly unknown (may be allowed)", "denied": "newly denied"}


def _short(text: str, limit: int = 160) -> str:
    text = text.replace(" (K8S-2, CAL-22)", "").replace(" (CAL-21, K8S-4)", "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _md(text: Any) -> str:
    """A Markdown table cell: pipes escaped, newlines flattened."""
    return str(text if text is not None else "").replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return f"`{text}`" if text else ""


def _where(file: str, line: int | None) -> str:
    if not file:
        return ""
    return f"{file}:{line}" if line else file


# -- drift ---------------------------------------------------------------------------------------------


def drift_json(report: DriftReport) -> bytes:
    return canonical_json(report.to_dict()) + b"\n"


def drift_csv(report: DriftReport) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for c in report.controls:
        w.writerow(["controls", "verdict", f"{c.pack}/{c.control}", "", "", "", c.old or "", c.new or "", c.title,
                    "", "", "", ""])
    for f in report.flows:
        w.writerow(["flows", f.change, f"{f.src} -> {f.dst}", f.src, f.dst, f.ports, "; ".join(f.src_zones),
                    "; ".join(f.dst_zones), f.note, f.decided_by, f.was_decided_by, "", ""])
    for wl in report.workloads:
        w.writerow(["workloads", wl.change, wl.workload, "", "", "", "; ".join(wl.old_zones), "; ".join(wl.new_zones),
                    wl.detail, "", "", "", ""])
    for p in report.policies:
        w.writerow(["policies", p.change, p.ref, "", "", "", "", "", " | ".join(p.details), "", "", p.file,
                    p.line if p.line is not None else ""])
    for wv in report.waivers:
        w.writerow(["waivers", wv.change, wv.id, "", "", "", wv.old_status, wv.new_status,
                    f"{wv.control}; expired {wv.expires}; would cover {wv.covers}", "", "", "", ""])
    return buf.getvalue()


def _side(info: Any) -> str:
    digest = str(info.get("content_digest") or info.get("digest") or "")[:12]
    return f"{info.get('label')} ({info.get('kind')}{', ' + digest if digest else ''})"


def _several(report: DriftReport) -> bool:
    packs = {p.get("id") for side in (report.old, report.new) for p in side.get("packs") or []}
    return len(packs) > 1 or len({c.pack for c in report.controls}) > 1


def _control_key(c: Any, several: bool) -> str:
    return f"{c.pack}/{c.control}" if several else str(c.control)


def _control_line(c: Any, several: bool) -> str:
    old = c.old or "absent"
    new = c.new or "absent"
    counts = c.new_counts or {}
    extra = f", {counts.get('violations', 0)} violation(s)" if c.new == "fail" else ""
    return f"{_control_key(c, several)} {old} → {new}{extra}: {c.title}"


def drift_table(report: DriftReport) -> str:
    lines = [f"drift: {_side(report.old)} → {_side(report.new)}"]

    def section(title: str, items: Sequence[str]) -> None:
        lines.append("")
        lines.append(f"{title} ({len(items)}):")
        if not items:
            lines.append("  (none)")
        for text in items[:TABLE_LIMIT]:
            lines.append("  " + text)
        if len(items) > TABLE_LIMIT:
            lines.append(f"  … {len(items) - TABLE_LIMIT} more (--format json or csv lists everything)")

    several = _several(report)
    section("controls whose verdict changed", [_control_line(c, several) for c in report.controls])
    for change in ("allowed", "unknown", "denied"):
        items = []
        for f in report.flows:
            if f.change != change:
                continue
            zones = f" ({', '.join(f.src_zones) or '-'} → {', '.join(f.dst_zones) or '-'})" if f.src_zones or \
                f.dst_zones else ""
            why = f.decided_by or (f"was: {f.was_decided_by}" if f.was_decided_by else "")
            note = f" [{f.note}]" if f.note else ""
            items.append(f"{f.src} → {f.dst} [{f.ports}]{zones}{note}" + (f" — {_short(why)}" if why else ""))
        section(f"flows {FLOW_TITLES[change]}" + (f" ({report.flow_scope})" if report.flow_scope else ""), items)
    section("workloads added, removed or moved between zones",
            [f"{w.workload} {w.change}: {w.detail}" for w in report.workloads])
    pol = []
    for p in report.policies:
        where = _where(p.file, p.line)
        head = f"{p.change} {p.ref}" + (f" ({where})" if where else "")
        pol.append(head + (": " + "; ".join(p.details) if p.details else ""))
    section("policies", pol)
    section("waivers expired in between", [f"{w.id} [{w.control}] expired {w.expires} (was {w.old_status}; would "
                                           f"cover {w.covers})" for w in report.waivers])
    if report.unavailable or report.notes:
        lines.append("")
        lines.append("notes:")
        lines.extend(f"  - {x}" for x in (*report.unavailable, *report.notes))
    c = report.counts
    lines.append("")
    lines.append(f"summary: {c['controls']} control(s) changed verdict, {c['flows_allowed']} flow(s) newly allowed, "
                 f"{c['flows_unknown']} newly unknown, {c['flows_denied']} newly denied, {c['workloads']} workload(s) "
                 f"changed zone, {c['policies_added']} policy(ies) added, {c['policies_modified']} modified, "
                 f"{c['policies_removed']} removed, {c['waivers_expired']} waiver(s) expired")
    return "\n".join(lines) + "\n"


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]], limit: int = TABLE_LIMIT) -> list[str]:
    rows = list(rows)
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_md(x) for x in r) + " |" for r in rows[:limit]]
    if len(rows) > limit:
        out.append("")
        out.append(f"… {len(rows) - limit} more: run `auditor diff … --format csv` for every row.")
    return out


def _fold(title: str, body: list[str], open_: bool) -> list[str]:
    return [f"<details{' open' if open_ else ''}><summary>{title}</summary>", "", *body, "", "</details>", ""]


def drift_markdown(report: DriftReport) -> str:
    c = report.counts
    lines = [f"### Compliance drift: `{report.old.get('label')}` → `{report.new.get('label')}`", ""]
    lines.append(f"**{c['controls']}** control verdict(s) changed · **{c['flows_allowed']}** flow(s) newly allowed · "
                 f"**{c['flows_denied']}** newly denied · **{c['flows_unknown']}** newly unknown · "
                 f"**{c['workloads']}** workload zone change(s) · **{c['policies_added'] + c['policies_modified'] + c['policies_removed']}**"
                 f" policy change(s) · **{c['waivers_expired']}** waiver(s) expired")
    lines.append("")
    if not report.changed:
        lines.append("No compliance-relevant change.")
        lines.append("")
    if report.controls:
        lines.append("#### Controls")
        lines.append("")
        several = _several(report)
        lines += _md_table(["control", "was", "now", "severity", "title"],
                           [[f"`{_control_key(x, several)}`", x.old or "absent", f"**{x.new or 'absent'}**",
                             x.severity, x.title] for x in report.controls])
        lines.append("")
    for change in ("allowed", "unknown", "denied"):
        rows = [[_code(f.src), _code(f.dst), _code(f.ports), ", ".join(f.src_zones), ", ".join(f.dst_zones),
                 _short(f.decided_by or (f"was: {f.was_decided_by}" if f.was_decided_by else "")),
                 f.note] for f in report.flows if f.change == change]
        if not rows:
            continue
        title = f"Flows {FLOW_TITLES[change]} ({len(rows)})"
        body = _md_table(["from", "to", "ports", "from zones", "to zones",
                          "decided by (new side)" if change != "denied" else "decided by", "note"], rows)
        lines += _fold(title, body, open_=change == "allowed")
    if report.workloads:
        lines += _fold(f"Workloads added, removed or moved between zones ({len(report.workloads)})",
                       _md_table(["workload", "change", "was", "now", "detail"],
                                 [[_code(w.workload), w.change, ", ".join(w.old_zones) or "-",
                                   ", ".join(w.new_zones) or "-", w.detail] for w in report.workloads]), open_=True)
    if report.policies:
        lines += _fold(f"Policies ({len(report.policies)})",
                       _md_table(["policy", "change", "where", "what"],
                                 [[_code(p.ref), p.change, _code(_where(p.file, p.line)),
                                   "<br>".join(_md(d) for d in p.details)] for p in report.policies]),
                       open_=True)
    if report.waivers:
        lines.append("#### Waivers expired in between")
        lines.append("")
        lines += _md_table(["waiver", "control", "expired", "was", "would cover"],
                           [[_code(w.id), w.control, w.expires, w.old_status, w.covers] for w in report.waivers])
        lines.append("")
    if report.unavailable or report.notes:
        lines.append("<sub>" + " · ".join(_md(x) for x in (*report.unavailable, *report.notes)) + "</sub>")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_drift(report: DriftReport, fmt: str) -> bytes:
    if fmt == "json":
        return drift_json(report)
    if fmt == "csv":
        return drift_csv(report).encode()
    if fmt == "markdown":
        return drift_markdown(report).encode()
    return drift_table(report).encode()


# -- gate ----------------------------------------------------------------------------------------------


def _key(c: Any, several: bool) -> str:
    return f"{c.pack}/{c.control}" if several else c.control


def _violation_text(v: dict[str, Any]) -> str:
    subject = f"{v['src']} → {v['dst']}" if v.get("src") else str(v.get("dst"))
    ports = v.get("new_ports") or v.get("ports")
    return f"{subject}" + (f" [{ports}]" if ports else "") + f": {v.get('reason', '')}"


def _gate_summary(report: GateReport) -> str:
    c = report.counts
    return (f"{c['regression']} control(s) regressed, {c['new_flows']} new flow(s) into protected zones, "
            f"{c['unknown']} became unknown, {c['new_unknown_flows']} newly undecided flow(s), "
            f"{c['pre-existing']} pre-existing, {c['fixed']} fixed")


def gate_table(report: GateReport) -> str:
    several = len({c.pack for c in report.controls}) > 1
    lines = [f"gate {report.verdict.upper()} against baseline {report.baseline.get('path') or '?'}"
             + (" (--strict)" if report.strict else "")]

    def block(title: str, body: list[str]) -> None:
        if body:
            lines.append("")
            lines.append(title)
            lines.extend(body)

    reg = []
    for c in report.controls:
        if c.status != "regression":
            continue
        reg.append(f"  {_key(c, several)} ({c.severity}) {c.baseline or 'new control'} → {c.verdict}: {c.title}")
        for v in c.new_violations[:10]:
            reg.append(f"    new: {_violation_text(v)}")
        if len(c.new_violations) > 10:
            reg.append(f"    … {len(c.new_violations) - 10} more new violation(s) (--format json)")
    block("regressions (fail the gate):", reg)
    flows = [f"  {f.src} → {f.dst} [{f.ports}] into {', '.join(f.zones)}"
             + (f" — {_short(f.decided_by)}" if f.decided_by else "") for f in report.new_flows if f.verdict == "allowed"]
    block("new allowed flows into protected zones (fail the gate):", flows[:TABLE_LIMIT]
          + ([f"  … {len(flows) - TABLE_LIMIT} more"] if len(flows) > TABLE_LIMIT else []))
    unk = []
    for c in report.controls:
        if c.status != "unknown":
            continue
        unk.append(f"  {_key(c, several)} {c.baseline or 'new control'} → {c.verdict}: {c.title}")
        unk.extend(f"    reason: {r}" for r in c.new_reasons)
        unk.extend(f"    undecided: {_violation_text(v)}" for v in c.new_unknown[:10])
    undecided = [f"    {f.src} → {f.dst} [{f.ports}] into {', '.join(f.zones)}"
                 for f in report.new_flows if f.verdict == "unknown"]
    if undecided:
        unk.append("  newly undecided flows into protected zones:")
        unk += undecided[:TABLE_LIMIT]
        if len(undecided) > TABLE_LIMIT:
            unk.append(f"    … {len(undecided) - TABLE_LIMIT} more (--format json)")
    block("could not be established (exit 2 unless something regressed):", unk)
    pre = [f"  {_key(c, several)} {c.verdict}: {c.open_violations} violation(s)"
           + (f", {c.unknown_items} undecided" if c.unknown_items else "") + f" — {c.title}"
           for c in report.controls if c.status == "pre-existing"]
    block("pre-existing in the baseline (" + ("fail the gate: --strict" if report.strict else "listed, not failing")
          + "):", pre)
    fixed = [f"  {_key(c, several)} {c.baseline} → {c.verdict}: {c.title}" for c in report.controls
             if c.status == "fixed"]
    block("fixed since the baseline (tighten it: auditor baseline … -o BASELINE):", fixed)
    block("notes:", [f"  - {n}" for n in report.notes])
    lines.append("")
    lines.append(f"result: {report.verdict.upper()} — {_gate_summary(report)} (exit {report.exit_code})")
    return "\n".join(lines) + "\n"


def gate_markdown(report: GateReport) -> str:
    several = len({c.pack for c in report.controls}) > 1
    icon = {"pass": "✅", "fail": "❌", "unknown": "⚠️"}[report.verdict]
    lines = [f"### {icon} Zone compliance gate: **{report.verdict.upper()}**" + (" (strict)" if report.strict else ""),
             "", _gate_summary(report) + f" — baseline `{report.baseline.get('path') or '?'}`.", ""]
    reg_rows = []
    for c in report.controls:
        if c.status == "regression":
            for v in c.new_violations:
                reg_rows.append([f"`{_key(c, several)}`", c.severity, f"{c.baseline or 'new'} → **{c.verdict}**",
                                 _violation_text(v)])
    if reg_rows:
        lines.append("#### Regressions")
        lines.append("")
        lines += _md_table(["control", "severity", "verdict", "new violation"], reg_rows)
        lines.append("")
    flows = [[_code(f.src), _code(f.dst), _code(f.ports), ", ".join(f.zones), _short(f.decided_by)]
             for f in report.new_flows if f.verdict == "allowed"]
    if flows:
        lines.append("#### New flows into protected zones")
        lines.append("")
        lines += _md_table(["from", "to", "ports", "into", "decided by"], flows)
        lines.append("")
    unk = [[f"`{_key(c, several)}`", f"{c.baseline or 'new'} → {c.verdict}",
            "; ".join([*c.new_reasons, *(_violation_text(v) for v in c.new_unknown[:3])])]
           for c in report.controls if c.status == "unknown"]
    unk += [[f"{_code(f.src)} → {_code(f.dst)}", "newly undecided", f"{f.ports} into {', '.join(f.zones)}"]
            for f in report.new_flows if f.verdict == "unknown"]
    if unk:
        lines.append("#### Could not be established")
        lines.append("")
        lines += _md_table(["control / flow", "change", "why"], unk)
        lines.append("")
    pre = [[f"`{_key(c, several)}`", c.verdict, c.open_violations, c.unknown_items, c.title]
           for c in report.controls if c.status == "pre-existing"]
    if pre:
        lines += _fold(f"Pre-existing in the baseline ({len(pre)})" + (" — failing: --strict" if report.strict else ""),
                       _md_table(["control", "verdict", "violations", "undecided", "title"], pre), open_=report.strict)
    fixed = [[f"`{_key(c, several)}`", f"{c.baseline} → {c.verdict}", c.title] for c in report.controls
             if c.status == "fixed"]
    if fixed:
        lines += _fold(f"Fixed since the baseline ({len(fixed)}) — tighten it with `auditor baseline`",
                       _md_table(["control", "verdict", "title"], fixed), open_=False)
    if report.notes:
        lines.append("<sub>" + " · ".join(_md(n) for n in report.notes) + "</sub>")
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_gate(report: GateReport, fmt: str) -> bytes:
    if fmt == "json":
        return canonical_json(report.to_dict()) + b"\n"
    if fmt == "markdown":
        return gate_markdown(report).encode()
    return gate_table(report).encode()
