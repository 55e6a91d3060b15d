"""``auditor explain``: the walk for one flow, in words, for both ends (K8S-5, CAL-24)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from auditor.causes import Cause, unique
from auditor.policy.admin import ADMIN_KINDS
from auditor.reach.analysis import Analysis, Entity
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, DirectionResult
from auditor.reach.l7.compile import Request
from auditor.reach.l7.mtls import (
    ABSENT,
    BYPASS,
    ID_UNKNOWN,
    K_NONE,
    KIND_WORDS,
    MODE_WORDS,
    P_HTTP,
    P_TCP,
    PRESENT,
    PROTOCOL_WORDS,
    REFUSED,
)
from auditor.reach.ports import ICMP_PROTOCOLS, PortQuery
from auditor.reach.uncertainty import end_name

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
    admin: list[str] = field(default_factory=list)  # admin network policies selecting it (ADM-2)


@dataclass(frozen=True)
class MeshExplanation:
    """The Istio stage at the destination (CMP-5, CMP-6)."""

    endpoint: str
    verdict: int
    decided_by: str
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
    mesh: MeshExplanation | None = None
    request: str = ""
    causes: tuple[Cause, ...] = ()  # why the verdict is unknown (empty when it is not)


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
        policies=[eng.policies[i].ref for i in certain if eng.policies[i].kind not in ADMIN_KINDS],
        uncertain=[eng.policies[i].ref for i in uncertain],
        steps=steps,
        admin=[eng.policies[i].ref for i in certain if eng.policies[i].kind in ADMIN_KINDS],
    )


_STATE = {PRESENT: "presents a verified mTLS identity", ABSENT: "plaintext: no peer identity (IST-26)",
          REFUSED: "plaintext, refused by STRICT mTLS (IST-9)",
          ID_UNKNOWN: "may or may not present an identity (mTLS mode or client TLS uncertain, IST-9)"}
_MATCH = {(True, True): "match", (False, True): "may match (unknown)", (False, False): "no match"}
_MAX_REQUESTS = 8


def _mesh(analysis: Analysis, dst: int, src: int, atom: int, request: Request | None) -> MeshExplanation | None:
    """The Istio layer for one class pair at one port atom, step by step."""
    l7 = analysis.l7
    if l7 is None or not analysis.l7_active:
        return None
    s = int(l7.result.sigma_of[dst])
    info = l7.infos[s]
    d = l7.detail(s)
    g = int(d.groups[src])
    rep = analysis.classes.representative[dst]
    src_rep = analysis.classes.representative[src]
    steps = [f"proxy: {'unknown (' + rep.mesh.why + ')' if rep.mesh.uncertain else KIND_WORDS[info.kind]}"
             + (f" — {rep.mesh.why}" if rep.mesh.why and not rep.mesh.uncertain else "")]
    cols = [0] if d.space is None else list(range(d.verdict.shape[2]))
    if request is not None and d.space is not None:
        cols = [1 + r for r in d.space.atoms_of(request)]
    v = d.verdict[g, atom, cols]
    k = int(np.argmax(v * 2 + (np.array(cols) > 0)))
    verdict = int(v[k])
    rid = int(d.rule[g, atom, cols[k]])
    if info.kind == K_NONE:
        steps.append("no Istio enforcement for this destination (IST-1)")
        return MeshExplanation(rep.key, verdict, l7.rules.text[rid], steps)
    proto = int(info.protocol[atom])
    steps.append(f"port protocol: {PROTOCOL_WORDS[proto]}" + (" (Service port name / appProtocol, IST-4)"
                                                              if proto not in (BYPASS,) else " (IST-3)"))
    if proto == BYPASS:
        return MeshExplanation(rep.key, verdict, l7.rules.text[rid], steps)
    mode = MODE_WORDS[int(info.mode[atom])]
    steps.append(f"mTLS mode: {mode}" + (f" ({'; '.join(info.mode_source)})" if info.mode_source else
                                         " (no PeerAuthentication: PERMISSIVE, IST-6)"))
    principal = src_rep.principal if src_rep.kind == "pod" else None
    who = f"{src_rep.key}" + (f" ({principal})" if principal else "")
    steps.append(f"client {who}: {_STATE[int(d.state[g, atom])]}")
    if int(d.state[g, atom]) == REFUSED:  # refused before any AuthorizationPolicy runs (CMP-5)
        return MeshExplanation(rep.key, verdict, l7.rules.text[rid], steps)
    pols = [analysis.istio.authz[i] for i in info.policies] if analysis.istio else []
    if pols:
        steps.append("AuthorizationPolicies applying to the destination (IST-10):")
        for pol in pols:
            steps.append(f"  {pol.ref} ({pol.action}{', invalid: ' + pol.broken if pol.broken else ''})")
    else:
        steps.append("no AuthorizationPolicy applies to the destination: allow by default (IST-11)")
    if d.space is not None and pols:
        crs = [cr for pi in info.policies for cr in l7._compiled[pi] if cr.rule is not None]
        matches = {cr.rid: l7._rule_match(cr, info, d.reps, d.state, d.space) for cr in crs}
        shown = cols if len(cols) <= _MAX_REQUESTS or request is not None else _pick_columns(d, g, atom, cols)
        label = "request" if request is not None else "request classes (CMP-6)"
        steps.append(f"{label}:")
        for col in shown:
            name = str(request) if request is not None else d.request_label(col)
            if (proto == P_TCP and col > 0) or (proto == P_HTTP and col == 0):
                continue
            steps.append(f"  {name}: {WORD[int(d.verdict[g, atom, col])]} — "
                         f"{l7.rules.text[int(d.rule[g, atom, col])]}")
            for cr in crs:
                md, mp = matches[cr.rid]
                hit = _MATCH[(bool(md[g, atom, col]), bool(mp[g, atom, col]))]
                if hit != "no match" or len(crs) <= 4:
                    why = ""
                    if hit == "no match" and cr.rule is not None:
                        rep_req = None
                        if col > 0 and d.space is not None:
                            rep_req = d.space.representative(col - 1)
                            if request is not None:
                                rep_req = (request.method, request.path, request.host or rep_req[2])
                        why = _mismatch(cr.rule, principal if int(d.state[g, atom]) == PRESENT else None,
                                        analysis.ports.atoms[atom].lo, rep_req)
                    steps.append(f"    {l7.rules.text[cr.rid]}: {hit}{' — ' + why if why else ''}")
        if len(shown) < len(cols) and request is None:
            steps.append(f"  … {len(cols) - len(shown)} more request classes (use --http to pick one)")
    return MeshExplanation(rep.key, verdict, l7.rules.text[rid], steps)


def _mismatch(rule: object, principal: str | None, port: int,
              req: tuple[str, str, str] | None) -> str:
    """Why a rule does not match, field by field (IST-14..21), for the common fields."""
    from auditor.policy.istio import AuthzRule, any_match

    assert isinstance(rule, AuthzRule)
    reasons: list[str] = []
    if rule.sources is not None:
        ns = principal.split("/ns/", 1)[1].split("/", 1)[0] if principal else None
        for src in rule.sources:
            if src.principals is not None and not any_match(src.principals, principal):
                shown = principal or "none (no mTLS identity)"
                reasons.append(f"principal {shown} not in [{', '.join(p.text for p in src.principals)}]")
            elif src.namespaces is not None and not any_match(src.namespaces, ns):
                reasons.append(f"source namespace {ns or 'none (no mTLS identity)'} not in "
                               f"[{', '.join(p.text for p in src.namespaces)}]")
    if rule.operations is not None and req is not None:
        method, path, _host = req
        for op in rule.operations:
            if op.ports is not None and port not in op.ports:
                reasons.append(f"port {port} not in {list(op.ports)}")
            if op.methods is not None and not any_match(op.methods, method):
                reasons.append(f"method {method} not in [{', '.join(p.text for p in op.methods)}]")
            if op.paths is not None and not op.path_templates and not any_match(op.paths, path):
                reasons.append(f"path {path} not in [{', '.join(p.text for p in op.paths)}]")
    return "; ".join(dict.fromkeys(reasons))


def _pick_columns(d: object, g: int, atom: int, cols: list[int]) -> list[int]:
    """Allowed request classes first, then the others, at most ``_MAX_REQUESTS``."""
    v = d.verdict[g, atom]  # type: ignore[attr-defined]
    order = sorted(cols, key=lambda c: (-int(v[c]), c))
    return sorted(order[:_MAX_REQUESTS])


def default_query(analysis: Analysis, src: Entity, dst: Entity, allowed: np.ndarray) -> PortQuery:
    """``explain`` without ``--port``: the first allowed port; else the first port the L3/L4
    layers allow (so an Istio denial is shown); else 80/TCP."""
    atoms = np.flatnonzero(allowed)
    if not atoms.size and src.classes and dst.classes:
        sc, tc = np.meshgrid(np.array(src.classes), np.array(dst.classes), indexing="ij")
        v, _, _ = analysis.class_verdicts(sc.ravel(), tc.ravel())
        atoms = np.flatnonzero((v == ALLOW).any(axis=0))
    if atoms.size:
        first = analysis.ports.atoms[int(atoms[0])]
        with_number = first.has_ports or first.protocol in ICMP_PROTOCOLS
        return PortQuery(first.protocol, first.lo if with_number else None)
    return PortQuery("TCP", 80)


def declared_ports(analysis: Analysis, dst: Entity) -> list[PortQuery]:
    """``explain`` without ``--port`` (issue 13 §2.2): every port the destination declares, its
    containers' ``containerPort``s and the target ports of the Services selecting it (named
    target ports resolved on the pod, K8S-12), that the port space models."""
    from auditor.reach.endpoints import _pod_template

    snap = analysis.snapshot
    found: set[tuple[str, int]] = set()
    services = snap.of_kind("Service")
    for idx in dst.endpoints:
        ep = analysis.inventory.endpoints[idx]
        if ep.kind != "pod":
            continue
        spec: Any = None
        if ep.template:
            ns, kind, name = ep.workload.split("/", 2)
            res = snap.get(kind, ns, name)
            template = _pod_template(res) if res is not None else None
            spec = (template or {}).get("spec")
        else:
            res = snap.get("Pod", ep.namespace, ep.pod)
            spec = res.body.get("spec") if res is not None else None
        for group in ("containers", "initContainers"):
            for container in (spec or {}).get(group) or []:
                for p in (container or {}).get("ports") or []:
                    if isinstance(p.get("containerPort"), int):
                        found.add((str(p.get("protocol") or "TCP").upper(), p["containerPort"]))
        named = {(n, proto): num for n, proto, num in ep.named_ports}
        for svc in services:
            if svc.namespace != ep.namespace:
                continue
            sel = (svc.body.get("spec") or {}).get("selector") or {}
            if not sel or any(ep.labels.get(k) != v for k, v in sel.items()):
                continue
            for p in (svc.body.get("spec") or {}).get("ports") or []:
                proto = str(p.get("protocol") or "TCP").upper()
                target = p.get("targetPort", p.get("port"))
                if isinstance(target, str) and not target.isdigit():
                    target = named.get((target, proto))
                if target is not None and str(target).isdigit():
                    found.add((proto, int(target)))
    out = [PortQuery(proto, num) for proto, num in sorted(found, key=lambda x: (x[0] != "TCP", x[0], x[1]))]
    return [q for q in out if analysis.ports.index_of(q.protocol, q.port) is not None]


def explain(analysis: Analysis, src: Entity, dst: Entity, port: PortQuery, request: Request | None = None) -> Explanation:
    """Explain the most permissive class pair of the two entities at ``port`` (any-of semantics)."""
    atom = analysis.ports.index_of(port.protocol, port.port)
    if atom is None:
        raise ValueError(f"protocol {port.protocol} is not used by any policy; try TCP, UDP, SCTP or ICMP")
    if not src.classes or not dst.classes:
        raise ValueError("one of the endpoints has no address left to evaluate (shadowed by other networks)")
    sc = np.array(src.classes)[:, None]
    tc = np.array(dst.classes)[None, :]
    keys = analysis.combo_keys(sc, tc)
    v, _, _ = analysis.class_verdicts(np.broadcast_to(sc, keys.shape).ravel(), np.broadcast_to(tc, keys.shape).ravel())
    l7 = analysis.l7_result(request)
    if l7 is not None:
        v = np.minimum(v, l7.verdict[l7.gid(np.broadcast_to(tc, keys.shape).ravel(),
                                           np.broadcast_to(sc, keys.shape).ravel())])
    best = int(np.argmax(v[:, atom]))
    s_cls = int(src.classes[best // len(dst.classes)])
    t_cls = int(dst.classes[best % len(dst.classes)])
    l4_atom = atom
    note = ""
    hb = analysis._hbone_atom()
    if (hb is not None and analysis.classes.ambient[s_cls] and analysis.classes.ambient[t_cls]
            and analysis.ports.atoms[atom].protocol == "TCP"):
        l4_atom = hb  # IST-28, CMP-8: ambient↔ambient traffic is tunnelled on 15008
        note = "both ends are ambient: L3/L4 policy sees the HBONE tunnel on 15008/TCP (IST-28, CMP-8)"
    egress = _side(analysis, "egress", analysis.egress, s_cls, t_cls, l4_atom)
    ingress = _side(analysis, "ingress", analysis.ingress, t_cls, s_cls, l4_atom)
    mesh = _mesh(analysis, t_cls, s_cls, atom, request)
    verdict = min(egress.verdict, ingress.verdict, mesh.verdict if mesh else ALLOW)
    causes: list[Cause] = []
    if verdict == UNKNOWN:
        finder = analysis.cause_finder()
        at4, at = np.array([l4_atom]), np.array([atom])
        names = end_name(src), end_name(dst)  # each end named as in the CSV row of this pair
        if egress.verdict == UNKNOWN:
            causes += finder.engine_causes("egress", analysis.egress, s_cls, t_cls, at4, names)
        if ingress.verdict == UNKNOWN:
            causes += finder.engine_causes("ingress", analysis.ingress, t_cls, s_cls, at4, names)
        if mesh is not None and mesh.verdict == UNKNOWN and l7 is not None:
            causes += finder.l7_causes(l7, t_cls, s_cls, at, names)
    if len(src.classes) * len(dst.classes) > 1:
        note = (note + "; " if note else "") + (
            f"{src.name} × {dst.name} span {len(src.classes) * len(dst.classes)} endpoint-class pairs; "
            "showing the most permissive one"
        )
    return Explanation(src=src.name, dst=dst.name, port=str(port), verdict=verdict, egress=egress, ingress=ingress,
                       note=note, mesh=mesh, request=str(request) if request else "", causes=unique(causes))


def render(ex: Explanation) -> str:
    lines = [f"Flow: {ex.src} → {ex.dst} on {ex.port}" + (f", request {ex.request}" if ex.request else "")]
    if ex.note:
        lines.append(f"({ex.note})")
    for side, title in ((ex.egress, "Source egress"), (ex.ingress, "Destination ingress")):
        lines.append("")
        lines.append(f"{title} — {side.endpoint}")
        if side.policies:
            lines.append(f"  isolated for {side.direction}: yes, selected by {', '.join(side.policies)}")
        if side.admin:
            lines.append(f"  admin policies selecting it (they decide only the flows their rules match, ADM-2): "
                         f"{', '.join(side.admin)}")
        if side.uncertain:
            lines.append(f"  may also be selected by (unknown): {', '.join(side.uncertain)}")
        for step in side.steps:
            lines.append(f"  {step}")
        lines.append(f"  ⇒ {WORD[side.verdict]} — {side.decided_by}")
    if ex.mesh is not None:
        lines.append("")
        lines.append(f"Destination proxy (Istio mTLS + AuthorizationPolicy) — {ex.mesh.endpoint}")
        for step in ex.mesh.steps:
            lines.append(f"  {step}")
        lines.append(f"  ⇒ {WORD[ex.mesh.verdict]} — {ex.mesh.decided_by}")
    lines.append("")
    if ex.mesh is not None:
        lines.append(f"Verdict: {WORD[ex.verdict]} (allowed only if source egress AND destination ingress AND the "
                     "destination's Istio proxy allow it, CMP-1)")
    else:
        lines.append(f"Verdict: {WORD[ex.verdict]} (a flow is allowed only if source egress AND destination ingress "
                     "allow it, K8S-5)")
    if ex.causes:
        lines.append("unknown because " + "; ".join(c.text() for c in ex.causes))
    return "\n".join(lines)
