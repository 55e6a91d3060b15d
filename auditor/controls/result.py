"""What an audit produces: findings per control, their evidence, and the whole result.

Frozen dataclasses with ``to_dict()``; every list is sorted so that the same inputs give the
same bytes (``canonical_json`` sorts keys). ``auditor.documents.RESULT_SCHEMA`` changes whenever a
reader of the JSON would need to change (``auditor.documents`` reads it back, typed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np

from auditor.causes import Cause, classify_blocking, counted
from auditor.documents import RESULT_KIND, RESULT_SCHEMA
from auditor.portset import PortSet
from auditor.reach.decision import causes_of, detail_of


class Verdict(StrEnum):
    """A control's (and the audit's) answer; equal to its text, which is what is written out."""

    PASS = "pass"
    FAIL = "fail"
    WAIVED = "waived"
    UNKNOWN = "unknown"


VERDICTS = tuple(v.value for v in Verdict)
EXIT_CODES = {Verdict.PASS: 0, Verdict.WAIVED: 0, Verdict.FAIL: 1, Verdict.UNKNOWN: 2}
# Violations (and unknown flows) listed per control, and flows listed, in the result by default
# (``auditor audit --max-evidence``); counts and verdicts always cover everything. 0 = no cap.
DEFAULT_MAX_EVIDENCE = 1000


@dataclass(frozen=True)
class Violation:
    """One piece of evidence: a flow (src → dst on ports) or an endpoint (dst) that breaks a control.

    ``flow`` is the verdict of the flow on those ports: ``allowed`` (a flow that must not be),
    ``denied`` (a flow that must be allowed), ``unknown``; ``None`` for endpoint evidence.
    """

    kind: str  # flow | endpoint
    dst: str
    reason: str
    src: str | None = None
    ports: str = ""
    flow: str | None = None
    decided_by: str = ""  # a DecidedBy (text + structure) for flows; words for endpoint evidence
    src_zones: tuple[str, ...] = ()
    dst_zones: tuple[str, ...] = ()
    waived_by: tuple[str, ...] = ()
    port_set: PortSet | None = field(default=None, compare=False, repr=False)

    def sort_key(self) -> tuple[str, str, str, str, str]:
        return (self.src or "", self.dst, self.ports, self.reason, self.flow or "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "src": self.src,
            "dst": self.dst,
            "ports": self.ports,
            "flow": self.flow,
            "decided_by": str(self.decided_by),
            "decided_by_detail": detail_of(self.decided_by),
            "src_zones": list(self.src_zones),
            "dst_zones": list(self.dst_zones),
            "reason": self.reason,
            "waived_by": list(self.waived_by),
        }


def _rows(n: int) -> np.ndarray:
    return np.full(n, -1, dtype=np.int32)


@dataclass(frozen=True, eq=False)
class ViolationTable:
    """Every violation (or unknown flow) of one control, in ``Violation.sort_key`` order, columnar.

    A control over a mostly open cluster has hundreds of thousands of violations: they are
    counted, waived and sorted here as rows of small integers, and become ``Violation`` objects
    only for the evidence written out (``Finding.violations`` holds the first rows). Row ``k``
    is ``templates[template[k]]`` with, where ``src[k]``/``dst[k]`` ≥ 0, the workload
    ``names[...]`` (with its ``zones``) as source/destination, ``waived_sets[waived[k]]`` as
    ``waived_by`` (``waived`` None: none waived) and ``explained[k]`` as ``decided_by`` (the
    first rows only; ``explain`` computes them with ``explainer`` and then drops it).
    """

    templates: tuple[Violation, ...] = ()
    template: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    src: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    dst: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    names: tuple[str, ...] = ()
    zones: tuple[tuple[str, ...], ...] = ()
    waived: np.ndarray | None = None
    waived_sets: tuple[tuple[str, ...], ...] = ((),)
    explained: tuple[str, ...] = ()
    explainer: Callable[[int], list[str]] | None = field(default=None, repr=False)

    @classmethod
    def of(cls, violations: Iterable[Violation]) -> ViolationTable:
        """A table of Violation objects (each its own template), sorted."""
        items = tuple(sorted(violations, key=Violation.sort_key))
        sets: dict[tuple[str, ...], int] = {(): 0}
        waived = np.array([sets.setdefault(tuple(v.waived_by), len(sets)) for v in items], dtype=np.int32)
        return cls(templates=items, template=np.arange(len(items), dtype=np.int32), src=_rows(len(items)),
                   dst=_rows(len(items)), waived=waived if len(sets) > 1 else None, waived_sets=tuple(sets))

    def __len__(self) -> int:
        return int(self.template.size)

    def waived_mask(self) -> np.ndarray:
        if self.waived is None:
            return np.zeros(len(self), dtype=bool)
        return self.waived != 0

    def waived_count(self) -> int:
        return int(self.waived_mask().sum())

    def open_count(self) -> int:
        return len(self) - self.waived_count()

    def row(self, k: int) -> Violation:
        t = self.templates[int(self.template[k])]
        changes: dict[str, Any] = {}
        s, d = int(self.src[k]), int(self.dst[k])
        if s >= 0:
            changes["src"], changes["src_zones"] = self.names[s], self.zones[s]
        if d >= 0:
            changes["dst"], changes["dst_zones"] = self.names[d], self.zones[d]
        w = self.waived_sets[int(self.waived[k])] if self.waived is not None else ()
        if w != t.waived_by:
            changes["waived_by"] = w
        if k < len(self.explained) and self.explained[k]:
            changes["decided_by"] = self.explained[k]
        return replace(t, **changes) if changes else t

    def rows(self, stop: int | None = None) -> list[Violation]:
        """The first ``stop`` rows (all: None) as Violation objects."""
        n = len(self) if stop is None else min(stop, len(self))
        return [self.row(k) for k in range(n)]

    def __iter__(self) -> Iterator[Violation]:
        for k in range(len(self)):
            yield self.row(k)

    def first_open(self) -> Violation | None:
        idx = np.flatnonzero(~self.waived_mask())
        return self.row(int(idx[0])) if idx.size else None

    def explain(self, stop: int | None) -> ViolationTable:
        """The table with ``decided_by`` of its first ``stop`` rows (all: None) computed, without
        the explainer (which holds the flow matrix)."""
        if self.explainer is None:
            return self
        n = len(self) if stop is None else min(stop, len(self))
        return replace(self, explained=tuple(self.explainer(n)) if n else (), explainer=None)

    def keys(self, open_only: bool = False) -> list[tuple[str, str | None, str, str, str | None, str]]:
        """(kind, src, dst, ports, flow, reason) of every row (or every open row), without
        building Violation objects: what a comparison of two audits matches rows on."""
        names = self.names
        parts = [(v.kind, v.src, v.dst, v.ports, v.flow, v.reason) for v in self.templates]  # per template, once
        idx = np.flatnonzero(~self.waived_mask()) if open_only else np.arange(len(self))
        return [(p[0], names[s] if s >= 0 else p[1], names[d] if d >= 0 else p[2], p[3], p[4], p[5])
                for p, s, d in zip(map(parts.__getitem__, self.template[idx].tolist()), self.src[idx].tolist(),
                                   self.dst[idx].tolist(), strict=True)]


@dataclass(frozen=True)
class Finding:
    """The verdict of one control, with the evidence it rests on.

    ``blocking`` reasons make the control ``unknown`` whatever else was found (the answer
    depends on something not read or not modelled: an incomplete collection, an empty protected
    zone, a layer this version does not evaluate). ``unknown_flows`` are individual flows or
    endpoints whose verdict is unknown: the control is ``unknown`` unless a definite,
    unwaived violation already makes it ``fail``.
    """

    pack: str
    control: str
    title: str
    severity: str
    references: tuple[str, ...]
    rationale: str
    assertion: str
    spec: Any
    verdict: Verdict
    claim: str
    message: str
    violations: tuple[Violation, ...] = ()
    unknown_flows: tuple[Violation, ...] = ()
    blocking: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    checked: dict[str, int] = field(default_factory=dict, compare=False)
    # the pack's ``mappings`` of the control: catalog → control ids (written only when there are some)
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Every violation / unknown flow (``violations`` and ``unknown_flows`` hold the first rows of
    # these, those written out); None: the tuples are complete.
    violation_table: ViolationTable | None = field(default=None, compare=False, repr=False)
    unknown_table: ViolationTable | None = field(default=None, compare=False, repr=False)

    @property
    def all_violations(self) -> ViolationTable:
        """Every violation, open and waived (counts, waivers and comparisons use this)."""
        if self.violation_table is not None:
            return self.violation_table
        return ViolationTable.of(self.violations)

    @property
    def all_unknown(self) -> ViolationTable:
        if self.unknown_table is not None:
            return self.unknown_table
        return ViolationTable.of(self.unknown_flows)

    @property
    def open_violations(self) -> list[Violation]:
        """The open violations among those listed (``counts`` has the exact numbers)."""
        return [v for v in self.violations if not v.waived_by]

    @property
    def counts(self) -> dict[str, int]:
        """Open violations, waived violations and unknown items: all of them, listed or not."""
        t = self.all_violations
        n_open = t.open_count()
        return {"violations": n_open, "waived": len(t) - n_open, "unknown": len(self.all_unknown)}

    @property
    def violations_omitted(self) -> int:
        return len(self.all_violations) - len(self.violations)

    @property
    def unknown_omitted(self) -> int:
        return len(self.all_unknown) - len(self.unknown_flows)

    def unknown_causes(self) -> list[dict[str, Any]]:
        """Why the control is unknown: the causes of its listed unknown flows and of its blocking
        reasons, deduplicated, with how many flows (or reasons) each explains."""
        groups: list[tuple[Cause, ...]] = [causes_of(v.decided_by) for v in self.unknown_flows]
        groups += [(Cause(classify_blocking(r), r, ""),) for r in self.blocking]
        return counted(groups)

    def with_verdict(self) -> Finding:
        c = self.counts
        return replace(self, verdict=decide_counts(c["violations"], c["waived"], c["unknown"], self.blocking))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "control": self.control,
            "title": self.title,
            "severity": self.severity,
            "references": list(self.references),
            "rationale": self.rationale,
            "assertion": {"kind": self.assertion, "spec": self.spec},
            "verdict": str(self.verdict),
            "claim": self.claim,
            "message": self.message,
            "counts": self.counts,
            "violations": [v.to_dict() for v in sorted(self.violations, key=Violation.sort_key)],
            # listed above: the first len(violations) in this order; the counts cover every one
            "violations_omitted": self.violations_omitted,
            "unknown": {
                "reasons": list(self.blocking),
                "flows": [v.to_dict() for v in sorted(self.unknown_flows, key=Violation.sort_key)],
                "flows_omitted": self.unknown_omitted,
                "causes": self.unknown_causes(),
            },
            "notes": list(self.notes),
            "checked": dict(sorted(self.checked.items())),
            **({"mappings": {k: list(v) for k, v in self.mappings}} if self.mappings else {}),
        }


def decide_counts(n_open: int, n_waived: int, n_unknown: int, blocking: Sequence[str]) -> Verdict:
    """blocking → unknown; open violation → fail; unknown evidence → unknown; waived; pass."""
    if blocking:
        return Verdict.UNKNOWN
    if n_open:
        return Verdict.FAIL
    if n_unknown:
        return Verdict.UNKNOWN
    if n_waived:
        return Verdict.WAIVED
    return Verdict.PASS


def finish(f: Finding) -> Finding:
    """Recompute the verdict (again after waivers) and the one-line message."""
    f = f.with_verdict()
    counts = f.counts
    if f.verdict == Verdict.PASS:
        msg = f"holds: {f.claim}"
    elif f.verdict == Verdict.WAIVED:
        msg = f"{counts['waived']} violation(s), all waived: {f.claim}"
    elif f.verdict == Verdict.FAIL:
        first = f.all_violations.first_open()
        assert first is not None
        where = f"{first.src} → {first.dst}" if first.src else first.dst
        msg = f"{counts['violations']} violation(s), e.g. {where}" + (f" on {first.ports}" if first.ports else "")
    elif f.blocking:
        msg = f.blocking[0]
    else:
        msg = f"{counts['unknown']} flow(s) or workload(s) could not be decided"
    return replace(f, message=msg)


@dataclass(frozen=True)
class WaiverStatus:
    id: str
    control: str
    status: str  # active | expired | unused | unknown-control
    covers: int  # violations it covers (or would cover, when expired)
    justification: str
    approver: str
    expires: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "control": self.control,
            "status": self.status,
            "covers": self.covers,
            "justification": self.justification,
            "approver": self.approver,
            "expires": self.expires,
        }


@dataclass(frozen=True)
class AuditResult:
    tool_version: str
    snapshot: dict[str, Any]
    packs: tuple[dict[str, Any], ...]
    zones_file: dict[str, Any] | None
    waivers_file: dict[str, Any] | None
    as_of: str | None
    zones: dict[str, Any]
    findings: tuple[Finding, ...]
    waivers: tuple[WaiverStatus, ...]
    assumptions: tuple[str, ...]
    unsupported: tuple[str, ...]
    notes: tuple[str, ...]
    # What reports need besides the findings (auditor/controls/evidence.py): top-level keys
    # scope, inventory, tiers, policies, zones_matrix, flows.
    evidence: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for f in self.findings:
            out[f.verdict] += 1
        return out

    @property
    def verdict(self) -> Verdict:
        """The overall answer: fail if any control fails (a definite violation is an established
        answer), else unknown if any is unknown, else pass (waived counts as pass)."""
        c = self.counts()
        if c[Verdict.FAIL]:
            return Verdict.FAIL
        if c[Verdict.UNKNOWN]:
            return Verdict.UNKNOWN
        return Verdict.PASS

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": RESULT_SCHEMA,
            "kind": RESULT_KIND,
            "tool": "zone-auditor",
            "tool_version": self.tool_version,
            "snapshot": self.snapshot,
            "packs": list(self.packs),
            "zones_file": self.zones_file,
            "waivers_file": self.waivers_file,
            "as_of": self.as_of,
            "summary": {"verdict": str(self.verdict), "exit_code": self.exit_code, "controls": self.counts()},
            "zones": self.zones,
            "findings": [f.to_dict() for f in self.findings],
            "waivers": [w.to_dict() for w in sorted(self.waivers, key=lambda w: w.id)],
            "assumptions": list(self.assumptions),
            "unsupported": list(self.unsupported),
            "notes": list(self.notes),
            **self.evidence,
        }
