"""``auditor explain``: the walk for one flow, in words, for both ends (K8S-5, CAL-24)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.reach.analysis import Analysis, Entity
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, DirectionResult
from auditor.reach.ports import PortQuery

WORD = {ALLOW: "ALLOW", DENY: "DENY", UNKNOWN: "UNKNOWN"}


@dataclass(frozen=True)
class SideExplanation:
    direction: str
    endpoint: str
    verdict: int
    decided_by: str
    policies: list[str]
    uncertain: list[str]
    steps: list[str]


@dataclass(frozen=True)
class Explanation:
    src: str
    dst: str
    port: str
    verdict: int
    egress: SideExplanation
    ingress: SideExplanation
    note: str


def _side(analysis: Analysis, d: str, result: DirectionResult, subject: int, peer: int, atom: int) -> SideExplanation:
    eng = analysis.engine
    g = int(result.gid(np.array(subject), np.array(peer)))
    verdict = int(result.verdict[g, atom])
    rid = int(result.rule[g, atom])
    events, certain, uncertain = eng.trace(d, subject, peer, atom)  # type: ignore[arg-type]
    rep = analysis.classes.representative[subject]
    steps: list[str] = []
    tier = None
    for ev in events:
        if not ev.tier:
            steps.append(ev.outcome)
            continue
        if ev.tier != tier:
            tier = ev.tier
            steps.append(f"tier {tier}:")
        steps.append(f"  {ev.outcome}")
    if rep.kind != "pod":
        steps = ["external network: no endpoint policy applies"]
    elif not certain and not uncertain:
        steps = [f"not isolated for {d}: no policy selects it (K8S-2)"]
    return SideExplanation(
        direction=d,
        endpoint=rep.key,
        verdict=verdict,
        decided_by=eng.rules.text[rid],
        policies=[eng.policies[i].ref for i in certain],
        uncertain=[eng.policies[i].ref for i in uncertain],
        steps=steps,
    )


def explain(analysis: Analysis, src: Entity, dst: Entity, port: PortQuery) -> Explanation:
    """Explain the most permissive class pair of the two entities at ``port`` (any-of semantics)."""
    atom = analysis.ports.index_of(port.protocol, port.port)
    if atom is None:
        raise ValueError(f"protocol {port.protocol} is not used by any policy; try TCP, UDP, SCTP or ICMP")
    if not src.classes or not dst.classes:
        raise ValueError("one of the endpoints has no address left to evaluate (shadowed by other networks)")
    sc = np.array(src.classes)[:, None]
    tc = np.array(dst.classes)[None, :]
    keys = analysis.combo_keys(sc, tc)
    v, _, _ = analysis.combo_verdicts(keys.ravel())
    best = int(np.argmax(v[:, atom]))
    s_cls = int(src.classes[best // len(dst.classes)])
    t_cls = int(dst.classes[best % len(dst.classes)])
    egress = _side(analysis, "egress", analysis.egress, s_cls, t_cls, atom)
    ingress = _side(analysis, "ingress", analysis.ingress, t_cls, s_cls, atom)
    verdict = min(egress.verdict, ingress.verdict)
    note = ""
    if len(src.classes) * len(dst.classes) > 1:
        note = (
            f"{src.name} × {dst.name} span {len(src.classes) * len(dst.classes)} endpoint-class pairs; "
            "showing the most permissive one"
        )
    return Explanation(src=src.name, dst=dst.name, port=str(port), verdict=verdict, egress=egress, ingress=ingress,
                       note=note)


def render(ex: Explanation) -> str:
    lines = [f"Flow: {ex.src} → {ex.dst} on {ex.port}"]
    if ex.note:
        lines.append(f"({ex.note})")
    for side, title in ((ex.egress, "Source egress"), (ex.ingress, "Destination ingress")):
        lines.append("")
        lines.append(f"{title} — {side.endpoint}")
        if side.policies:
            lines.append(f"  isolated for {side.direction}: yes, selected by {', '.join(side.policies)}")
        if side.uncertain:
            lines.append(f"  may also be selected by (unknown): {', '.join(side.uncertain)}")
        for step in side.steps:
            lines.append(f"  {step}")
        lines.append(f"  ⇒ {WORD[side.verdict]} — {side.decided_by}")
    lines.append("")
    lines.append(f"Verdict: {WORD[ex.verdict]} (a flow is allowed only if source egress AND destination ingress allow it, K8S-5)")
    return "\n".join(lines)
