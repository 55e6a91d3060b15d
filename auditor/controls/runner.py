"""Packs + analysis + waivers → ``AuditResult`` (what ``auditor audit`` prints and writes)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from auditor import __version__
from auditor.controls.assertions.context import Context, Outcome
from auditor.controls.assertions.registry import kind_of
from auditor.controls.evidence import build_evidence
from auditor.controls.model import Control, Pack, ZoneMap
from auditor.controls.result import AuditResult, Finding, ViolationTable, decide_counts, finish
from auditor.controls.waivers import WaiverFile, apply_waivers
from auditor.reach.analysis import IMPL_ASSUMPTIONS, Analysis
from auditor.reach.budget import release_free_memory
from auditor.reach.engine import ProgressFn


def run_audit(
    analysis: Analysis,
    packs: Sequence[Pack],
    *,
    zone_map: ZoneMap | None = None,
    waivers: WaiverFile | None = None,
    as_of: dt.date | None = None,
    max_evidence: int = 0,
    evidence_flows: bool = True,
    progress: ProgressFn | None = None,
    with_policy_rules: bool = True,
) -> AuditResult:
    """``max_evidence``: violations and unknown flows listed per control, and flows listed in
    the evidence (0: all; ``auditor audit`` lists DEFAULT_MAX_EVIDENCE). Counts, verdicts and
    waivers always cover everything; ``Finding.all_violations`` holds every violation. The
    evidence's blocks of the workload matrix are sized from ``analysis.memory_budget``.
    ``progress``: (phase, done, total) as the streamed matrices and the evidence's blocks are read.
    ``with_policy_rules=False``: no ``policy_rules`` in the evidence (``build_evidence``)."""
    findings: list[Finding] = []
    zones: dict[str, Any] = {}
    contexts: list[Context] = []
    for pack in packs:
        ctx = Context(analysis, pack, max_evidence=max_evidence, progress=progress)
        contexts.append(ctx)
        for control in pack.controls:
            ctx.phase = f"control {control.id}" if len(packs) == 1 else f"control {pack.id}/{control.id}"
            finding = evaluate(ctx, control)
            findings.append(replace(finding, mappings=control.mappings) if control.mappings else finding)
        ctx.release()
        zones[pack.id] = {}
        for name, zone in sorted(pack.zones.items()):
            definite, possible = ctx.zones.members(name)
            zones[pack.id][name] = {**zone.definition(), "members": definite, "possible_members": possible}
    as_of = as_of or dt.datetime.now(dt.UTC).date()
    findings, statuses = apply_waivers(findings, waivers, as_of)
    snap = analysis.snapshot
    release_free_memory()  # the controls' temporaries: the evidence's blocks are sized from what is left
    evidence = build_evidence(analysis, packs, [c.zones for c in contexts], findings, max_evidence=max_evidence,
                              flows=evidence_flows, progress=progress, with_policy_rules=with_policy_rules)
    exposures = [e for c in contexts for e in c.__dict__.get("_exposure", {}).values()]
    if exposures:  # a control judged exposure paths (EXP-1): they are evidence too
        from auditor.controls.assertions.exposure import exposure_evidence

        evidence["exposure"] = exposure_evidence(min(exposures, key=lambda e: (e.settings.client != "internet",
                                                                                 repr(e.settings))))
    return AuditResult(
        tool_version=__version__,
        snapshot={
            "digest": snap.digest,
            "content_digest": snap.content_digest,
            "source": snap.source,
            "captured_at": snap.captured_at,
            **({"captured_at_declared": True} if snap.captured_at_declared else {}),
            **({"cluster_name": snap.cluster_name} if snap.cluster_name else {}),
            "incomplete": {k: v for k, v in sorted(snap.collection.items()) if v not in ("ok", "not-installed")},
            # who enforces admin network policies, only when it matters (ADM-14)
            **({"dataplane": analysis.policies.dataplane} if analysis.policies.dataplane else {}),
        },
        packs=tuple(p.summary() for p in packs),
        zones_file=None if zone_map is None else {"path": zone_map.path, "digest": zone_map.digest},
        waivers_file=None if waivers is None else waivers.summary(),
        # The date matters only through waiver expiry: left out without waivers so that the
        # same inputs give the same bytes on any day.
        as_of=None if waivers is None else as_of.isoformat(),
        zones=zones,
        findings=tuple(findings),
        waivers=tuple(statuses),
        assumptions=(*IMPL_ASSUMPTIONS, *analysis.policies.assumptions),
        unsupported=tuple(analysis.policies.unsupported),
        notes=(*analysis.inventory.notes, *analysis.policies.notes, *analysis.inventory.excluded),
        evidence=evidence,
    )


def evaluate(ctx: Context, control: Control) -> Finding:
    """Run one control (before waivers)."""
    a = control.assertion
    kind = kind_of(a.kind)
    blocking = ctx.collection_reasons(kind.depends_on)
    if kind.needs_members:
        blocking += ctx.empty_zone_reasons(a)
    out = Outcome(blocking=blocking) if blocking else kind.evaluate(ctx, control)
    if out.unknown and ctx.analysis.policies.unsupported:
        out.notes.append("not modelled in this input: " + "; ".join(ctx.analysis.policies.unsupported))
    cap = ctx.max_evidence or None
    tables = []
    for items, what in ((out.violations, "violations"), (out.unknown, "unknown flows or workloads")):
        t = items if isinstance(items, ViolationTable) else ViolationTable.of(items)
        tables.append(t.explain(cap))  # decided_by of the rows listed only
        if cap is not None and len(t) > cap:
            out.notes.append(f"{cap:,} of {len(t):,} {what} shown (the first by source, destination and ports; "
                             f"counts and verdict cover all {len(t):,}); re-run with --max-evidence 0 for all")
    vt, ut = tables
    finding = Finding(
        pack=ctx.pack.id,
        control=control.id,
        title=control.title,
        severity=control.severity,
        references=control.references,
        rationale=control.rationale,
        assertion=a.kind,
        spec=a.spec,
        verdict=decide_counts(vt.open_count(), vt.waived_count(), len(ut), out.blocking),
        claim=kind.describe(ctx, a),
        message="",
        violations=tuple(vt.rows(cap)),
        unknown_flows=tuple(ut.rows(cap)),
        blocking=tuple(dict.fromkeys(out.blocking)),
        notes=tuple(dict.fromkeys(out.notes)),
        checked=out.checked,
        violation_table=vt,
        unknown_table=ut,
    )
    return finish(finding)
