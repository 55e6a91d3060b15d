"""What an audit produces: findings per control, their evidence, and the whole result.

Frozen dataclasses with ``to_dict()``; every list is sorted so that the same inputs give the
same bytes (``canonical_json`` sorts keys). ``SCHEMA_VERSION`` changes whenever a reader of
the JSON would need to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from auditor.controls.portset import PortSet

SCHEMA_VERSION = 1
RESULT_KIND = "zone-auditor/audit-result"
VERDICTS = ("pass", "fail", "waived", "unknown")
EXIT_CODES = {"pass": 0, "waived": 0, "fail": 1, "unknown": 2}


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
    decided_by: str = ""
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
            "decided_by": self.decided_by,
            "src_zones": list(self.src_zones),
            "dst_zones": list(self.dst_zones),
            "reason": self.reason,
            "waived_by": list(self.waived_by),
        }


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
    verdict: str
    claim: str
    message: str
    violations: tuple[Violation, ...] = ()
    unknown_flows: tuple[Violation, ...] = ()
    blocking: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    checked: dict[str, int] = field(default_factory=dict, compare=False)

    @property
    def open_violations(self) -> list[Violation]:
        return [v for v in self.violations if not v.waived_by]

    def with_verdict(self) -> Finding:
        return replace(self, verdict=decide(self.violations, self.unknown_flows, self.blocking))

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "control": self.control,
            "title": self.title,
            "severity": self.severity,
            "references": list(self.references),
            "rationale": self.rationale,
            "assertion": {"kind": self.assertion, "spec": self.spec},
            "verdict": self.verdict,
            "claim": self.claim,
            "message": self.message,
            "counts": {
                "violations": len(self.open_violations),
                "waived": len(self.violations) - len(self.open_violations),
                "unknown": len(self.unknown_flows),
            },
            "violations": [v.to_dict() for v in sorted(self.violations, key=Violation.sort_key)],
            "unknown": {
                "reasons": list(self.blocking),
                "flows": [v.to_dict() for v in sorted(self.unknown_flows, key=Violation.sort_key)],
            },
            "notes": list(self.notes),
            "checked": dict(sorted(self.checked.items())),
        }


def decide(violations: Sequence[Violation], unknown_flows: Sequence[Violation], blocking: Sequence[str]) -> str:
    """blocking → unknown; open violation → fail; unknown evidence → unknown; waived; pass."""
    if blocking:
        return "unknown"
    if any(not v.waived_by for v in violations):
        return "fail"
    if unknown_flows:
        return "unknown"
    if violations:
        return "waived"
    return "pass"


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
    def verdict(self) -> str:
        """The overall answer: fail if any control fails (a definite violation is an established
        answer), else unknown if any is unknown, else pass (waived counts as pass)."""
        c = self.counts()
        if c["fail"]:
            return "fail"
        if c["unknown"]:
            return "unknown"
        return "pass"

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "kind": RESULT_KIND,
            "tool": "zone-auditor",
            "tool_version": self.tool_version,
            "snapshot": self.snapshot,
            "packs": list(self.packs),
            "zones_file": self.zones_file,
            "waivers_file": self.waivers_file,
            "as_of": self.as_of,
            "summary": {"verdict": self.verdict, "exit_code": self.exit_code, "controls": self.counts()},
            "zones": self.zones,
            "findings": [f.to_dict() for f in self.findings],
            "waivers": [w.to_dict() for w in sorted(self.waivers, key=lambda w: w.id)],
            "assumptions": list(self.assumptions),
            "unsupported": list(self.unsupported),
            "notes": list(self.notes),
            **self.evidence,
        }
