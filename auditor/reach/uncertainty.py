"""The causes of an ``unknown`` cell, derived on demand (no per-cell state in the engine).

An unknown (source class, destination class, port atoms) cell is unknown in one or more layers
(egress, ingress, Istio). For an engine layer, the cause is a property of the σ's policies and
rules seen from that cell: a policy that may or may not apply (its selector needs labels of a
missing Namespace or ServiceAccount), a rule whose match is only possible (an unknown pod IP
against an ipBlock, an unmodelled field), equal-order ties (CAL-18), a Pass that may match.
For the Istio layer, the deciding pseudo-rule or AuthorizationPolicy rule names it. Causes are
computed once per distinct (σ, group, atoms, the ends' flags) and cached as templates: a cause
that names an endpoint names the *end* it concerns (source or destination of the row, ``_mark``),
never a class's representative, because classes and entities share the cached answer;
``resolve`` fills in each row's own pod/workload, namespace and service account.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from auditor.causes import Cause, classify_reason, unique
from auditor.policy.ir import Action, EntityMatch
from auditor.policy.selectors import Selector
from auditor.reach.classes import NO_ADDRESS
from auditor.reach.decision import Reason
from auditor.reach.engine import ALLOW, MAX_UNCERTAIN_POLICIES, UNKNOWN, DirectionResult, Engine

# ``Analysis``/``PairMatrix``/``L7Result`` are passed in (typed Any: this module sits below them).
Analysis = PairMatrix = L7Result = Any

_NAME_KEYS = frozenset({"kubernetes.io/metadata.name", "projectcalico.org/name"})
_MAX_CLASS_PAIRS = 256  # per entity pair: enough to name every distinct cause in practice

Sides = dict[str, tuple[Cause, ...]]

# A template names an end, not an object: "\x00" + end ("s" source, "d" destination) + what
# ("p" pod/workload, "n" namespace, "k" namespace/service account); ``resolve`` fills it in per row.
_MARK = "\x00"
_MARKS = re.compile("\x00([sd])([pnk])")


def _mark(end: str, what: str) -> str:
    return f"{_MARK}{end}{what}"


def marked(causes: Sequence[Cause]) -> bool:
    """Whether template causes name an end (then they need ``resolve`` per row)."""
    return any(_MARK in c.words or _MARK in c.object for c in causes)


def end_name(entity: Any) -> str | None:
    """The name a cause at this entity's end gives its pod: a pod or workload names itself; a
    namespace (None) names the class's representative, which is in it."""
    return entity.name if entity.kind in ("pod", "workload") else None


def _keys(sel: Selector | None, prefix: str = "") -> bool:
    if sel is None:
        return False
    return any(k.startswith(prefix) and k not in _NAME_KEYS and k[len(prefix):] not in _NAME_KEYS
               for k in sel.label_keys())


def _ends(d: str) -> tuple[str, str]:
    """The row's ends of a layer's (subject, peer): egress is seen from the source."""
    return ("s", "d") if d == "egress" else ("d", "s")


class CauseFinder:
    """Names the causes of unknown cells of one analysis."""

    def __init__(self, analysis: Analysis) -> None:
        self.a = analysis
        self.e: Engine = analysis.engine
        self.c = analysis.classes
        self._cache: dict[tuple, Sides] = {}
        self._ports: dict[tuple[str, int, int], np.ndarray] = {}  # σ's port stack per subject (peer-free)
        self._l7_rules: dict[int, object] | None = None
        self._batch_rules: dict[tuple[str, int, int], Any] = {}  # σ's rules as arrays (``causebatch``)
        self._own: tuple[object, np.ndarray, np.ndarray] | None = None  # ``own_blocks`` of the last blocks
        c = self.c  # the per-class flags that choose a cause's code: part of every cache and dedupe
        # key (classes sharing σ and peer group may differ in them)
        self.flags: np.ndarray = (np.asarray(c.namespace_unknown, dtype=np.int64)
                                  | (np.asarray(c.sa_unknown, dtype=np.int64) << 1)
                                  | (np.asarray(c.is_pod, dtype=np.int64) << 2)
                                  | ((np.asarray(c.address_class) == NO_ADDRESS).astype(np.int64) << 3))

    # -- objects --------------------------------------------------------------------------------

    def own_blocks(self, pm: PairMatrix) -> tuple[np.ndarray, np.ndarray]:
        """``pm.blocks``' source and destination classes as each entity's *own* class: a block
        holds a behaviour class's representative (``Analysis.behaviour_classes``), which may be
        another entity's class (another namespace, service account, flags). Verdicts do not tell
        them apart; causes do: they are asked of the entity's first class of that behaviour."""
        hit = self._own
        if hit is None or hit[0] is not pm.blocks:  # the blocks only are kept, not the matrix
            b = pm.blocks
            behaviour = self.a.behaviour_classes()[0]
            sides = []
            for ents, cls, cnt in ((pm.src, b.s_cls, b.s_cnt), (pm.dst, b.t_cls, b.t_cnt)):
                own = np.asarray(cls, dtype=np.int64).copy()
                pos = 0
                for e, n in zip(ents, np.asarray(cnt).tolist(), strict=True):
                    cs = e.classes
                    if len(cs) == 1:
                        own[pos] = cs[0]
                    else:
                        first: dict[int, int] = {}
                        for c_ in cs:
                            first.setdefault(int(behaviour[c_]), int(c_))
                        for k in range(pos, pos + n):
                            own[k] = first.get(int(behaviour[own[k]]), own[k])
                    pos += n
                sides.append(own)
            hit = self._own = (b, sides[0], sides[1])
        return hit[1], hit[2]

    def resolve(self, causes: tuple[Cause, ...], s_cls: int, t_cls: int, s_name: str | None = None,
                t_name: str | None = None) -> tuple[Cause, ...]:
        """Template causes with each end named for one row: its pod/workload (``s_name``/
        ``t_name``; None: the class's representative), the namespace and service account of its
        class at that end (``s_cls``/``t_cls``)."""
        if not marked(causes):
            return causes
        ends = {"s": (s_cls, s_name), "d": (t_cls, t_name)}

        def fill(m: re.Match[str]) -> str:
            k, name = ends[m.group(1)]
            if m.group(2) == "p":
                return name or self.c.representative[k].workload
            ns = self.c.namespace[k] or ""
            return ns if m.group(2) == "n" else f"{ns}/{self.c.service_account[k] or 'default'}"

        return unique(Cause(c.code, _MARKS.sub(fill, c.words), _MARKS.sub(fill, c.object)) for c in causes)

    @staticmethod
    def _ns(end: str, why: str) -> Cause:
        ns = _mark(end, "n")
        return Cause("namespace-missing", f"Namespace {ns} not in input{why}", f"Namespace {ns}")

    @staticmethod
    def _sa(end: str, why: str) -> Cause:
        sa = _mark(end, "k")
        return Cause("sa-labels-missing", f"ServiceAccount {sa} not in input{why}", f"ServiceAccount {sa}")

    @staticmethod
    def _ip(end: str, why: str) -> Cause:
        name = _mark(end, "p")
        return Cause("pod-ip-unknown-vs-ipblock", f"IP of {name} unknown{why}", f"Pod {name}")

    def side_causes(self, em: EntityMatch, k: int, end: str, why: str) -> list[Cause]:
        """Why the side ``em`` only possibly matches class ``k`` at the row's ``end`` (templates)."""
        c = self.c
        out: list[Cause] = []
        ns_refs = _keys(em.namespace_selector) or _keys(em.selector, "pcns.") or _keys(em.not_selector, "pcns.")
        sa_refs = em.service_account_selector is not None or _keys(em.selector, "pcsa.") or _keys(
            em.not_selector, "pcsa.")
        if c.namespace_unknown[k] and ns_refs:
            out.append(self._ns(end, why))
        if c.is_pod[k] and c.sa_unknown[k] and sa_refs:
            out.append(self._sa(end, why))
        nets = bool(em.nets or em.not_nets) or (not em.pods_only and bool(c.is_netset.any()))
        if c.address_class[k] == NO_ADDRESS and c.is_pod[k] and nets:
            out.append(self._ip(end, why))
        if not out:
            if c.namespace_unknown[k]:
                out.append(self._ns(end, why))
            elif c.is_pod[k] and c.sa_unknown[k]:
                out.append(self._sa(end, why))
            elif c.address_class[k] == NO_ADDRESS and c.is_pod[k]:
                out.append(self._ip(end, why))
            else:
                out.append(Cause("selector-uncertain", f"{why.strip(': ')} may or may not match", why.strip(": ")))
        return out

    def applicability_causes(self, pi: int, k: int, end: str) -> list[Cause]:
        """Why policy ``pi`` may or may not apply to class ``k`` at the row's ``end`` (CAL-13/14,
        CAL-17; templates)."""
        pol = self.e.policies[pi]
        why = f": {pol.ref} may or may not apply"
        c = self.c
        out: list[Cause] = []
        if pol.subject_sa_selector is not None and c.sa_unknown[k]:
            out.append(self._sa(end, why))
        if c.namespace_unknown[k] and (_keys(pol.subject_namespace_selector) or _keys(pol.subject, "pcns.")):
            out.append(self._ns(end, why))
        if c.sa_unknown[k] and _keys(pol.subject, "pcsa.") and not out:
            out.append(self._sa(end, why))
        return out or [Cause("selector-uncertain", f"{pol.ref} may or may not apply", pol.ref)]

    def rule_causes(self, d: str, cr: object, subject: int, peer: int, atoms: np.ndarray) -> list[Cause]:
        """Why the compiled rule ``cr`` only possibly matches the cell (templates)."""
        rule = cr.rule  # type: ignore[attr-defined]
        where = f"{rule.ref.policy} {d} rule {rule.ref.index}"
        out = [Cause(classify_reason(r), f"{where}: {r}", where) for r in rule.unmodelled]
        if rule.source.ports is not None or rule.source.not_ports:
            out.append(Cause("source-ports", f"{where} matches source ports", where))
        unc = cr.ports_uncertain  # type: ignore[attr-defined]
        if unc is not None and unc[atoms].any():
            out.append(Cause("icmp-code", f"{where}: ICMP code or ports of an unsplit protocol", where))
        sides_def, sides_pos = self.e._sides_def, self.e._sides_pos
        sid, pid = cr.subject_id, cr.peer_id  # type: ignore[attr-defined]
        s_end, p_end = _ends(d)
        if sides_pos.bit(sid, subject) and not sides_def.bit(sid, subject):
            out.extend(self.side_causes(cr.subject, subject, s_end, f": {where}"))  # type: ignore[attr-defined]
        if sides_pos.bit(pid, peer) and not sides_def.bit(pid, peer):
            out.extend(self.side_causes(cr.peer, peer, p_end, f": {where}"))  # type: ignore[attr-defined]
        if rule.action == Action.PASS:
            out.append(Cause("maybe-pass", f"{where} (Pass) may match: the next tier may decide", where))
        return out

    # -- one engine layer ---------------------------------------------------------------------------
    def engine_causes(self, d: str, res: DirectionResult, subject: int, peer: int, atoms: np.ndarray,
                      names: tuple[str | None, str | None] = (None, None)) -> tuple[Cause, ...]:
        """The causes of layer ``d`` at the cell, naming the row's ends (``names``: source and
        destination pod/workload; None: the class's representative)."""
        s_cls, t_cls = (subject, peer) if d == "egress" else (peer, subject)
        return self.resolve(self.engine_templates(d, res, subject, peer, atoms), s_cls, t_cls, *names)

    def engine_key(self, d: str, res: DirectionResult, subject: int, peer: int, atoms: np.ndarray) -> tuple:
        """The cache key of a cell's engine causes: what the templates depend on."""
        sig = int(res.sigma_of[subject])
        return (d, sig, int(res.groups(sig)[peer]), atoms.tobytes(), int(self.flags[subject]), int(self.flags[peer]))

    def engine_templates(self, d: str, res: DirectionResult, subject: int, peer: int,
                         atoms: np.ndarray) -> tuple[Cause, ...]:
        """``engine_causes`` as templates (cached per ``engine_key``)."""
        key = self.engine_key(d, res, subject, peer, atoms)
        hit = self._cache.get(key)
        if hit is not None:
            return hit[d]
        sig = key[1]
        certain, uncertain = res.sigma_policies[sig], res.sigma_uncertain[sig]
        out: list[Cause] = []
        for pi in uncertain:
            out.extend(self.applicability_causes(pi, subject, _ends(d)[0]))
        if len(uncertain) > MAX_UNCERTAIN_POLICIES:
            out.append(Cause("too-many-uncertain-policies",
                             f"{len(uncertain)} policies may or may not apply (more than {MAX_UNCERTAIN_POLICIES})",
                             ", ".join(self.e.policies[pi].ref for pi in uncertain[:3])))
        peers = np.array([peer], dtype=np.int64)
        possible: dict[int, set[str]] = {}
        crs = [cr for pi in (*certain, *uncertain) for cr in self.e._compiled[d][pi]]  # type: ignore[index]
        if crs:  # every rule of σ at once: one gather of the side bits, not one per rule
            port = self._ports.get((d, sig, subject))
            if port is None:  # peer-free unless egress rules name ports: then per peer, not kept
                port = self.e._port_stack(d, subject, crs, peers)  # type: ignore[arg-type]
                if not self.e._ports_per_peer(d, crs):  # type: ignore[arg-type]
                    self._ports[(d, sig, subject)] = port
            mdef, mpos = self.e._stack_matches(d, subject, crs, peers, port=port)  # type: ignore[arg-type]
            hit = mpos[:, 0][:, atoms].any(axis=1)
            maybe = (mpos[:, 0][:, atoms] & ~mdef[:, 0][:, atoms]).any(axis=1)
            for k, cr in enumerate(crs):
                if hit[k]:
                    possible.setdefault(cr.policy, set()).add(cr.rule.action.value)
                if maybe[k]:
                    out.extend(self.rule_causes(d, cr, subject, peer, atoms))
        out.extend(self._ties(list(possible), possible))
        if not out:
            out.append(Cause("unexplained", f"{d}: unknown for a reason the engine did not record", d))
        found = unique(out)
        self._cache[key] = {d: found}
        return found

    def _ties(self, pids: Sequence[int], possible: dict[int, set[str]]) -> list[Cause]:
        """CAL-18: policies of one tier with equal order that may decide the cell differently.
        Policies without an order tie too (they run last, in a version-specific order), as the
        engine's walk groups them."""
        by: dict[tuple[str, float], list[int]] = {}
        for pi in pids:
            pol = self.e.policies[pi]
            by.setdefault((pol.tier, math.inf if pol.order is None else pol.order), []).append(pi)
        out = []
        for (_, order), group in sorted(by.items(), key=lambda x: (x[0][0], x[0][1])):
            actions = set().union(*(possible[pi] - {"Log"} for pi in group))
            if len(group) > 1 and len(actions) > 1:
                refs = ", ".join(self.e.policies[pi].ref for pi in group)
                have = "have no order" if order == math.inf else f"have order {order:g}"
                out.append(Cause("equal-order-tie", f"{refs} {have} and decide differently", refs))
        return out

    # -- the Istio layer ----------------------------------------------------------------------------
    def l7_causes(self, res: L7Result, dst: int, src: int, atoms: np.ndarray,
                  names: tuple[str | None, str | None] = (None, None)) -> tuple[Cause, ...]:
        """The causes of the Istio layer at the cell, naming the row's ends (as ``engine_causes``)."""
        return self.resolve(self.l7_templates(res, dst, src, atoms), src, dst, *names)

    def l7_templates(self, res: L7Result, dst: int, src: int, atoms: np.ndarray) -> tuple[Cause, ...]:
        """``l7_causes`` as templates (the destination is named per row), cached per (result, group, atoms)."""
        l7 = self.a.l7
        assert l7 is not None
        gid = int(res.gid(np.array([dst]), np.array([src]))[0])
        key = ("istio", id(res), gid, atoms.tobytes())
        hit = self._cache.get(key)
        if hit is not None:
            return hit["istio"]
        if self._l7_rules is None:
            self._l7_rules = {cr.rid: cr for crs in l7._compiled for cr in crs}
        out: list[Cause] = []
        sig = int(res.sigma_of[dst])
        info = l7.infos[sig] if sig < len(l7.infos) else None
        dname = _mark("d", "p")
        if info is not None and info.uncertain:
            out.append(Cause("mesh-membership-uncertain", f"{dname} may or may not have an Istio proxy", f"Pod {dname}"))
        for rid in sorted({int(x) for x in res.rule[gid, atoms]}):
            dec = l7.rules.decisions[rid]
            if dec.reason == Reason.WAYPOINT:
                out.append(Cause("waypoint-l7", f"{dname}: L7 policy at the waypoint is not modelled", f"Pod {dname}"))
            elif dec.reason == Reason.MTLS_UNKNOWN:
                out.append(Cause("mtls-uncertain", f"{dname}: mTLS mode or client TLS uncertain", f"Pod {dname}"))
            elif dec.reason == Reason.UNREADABLE:
                out.append(Cause("kind-unreadable", "istio/AuthorizationPolicy could not be read",
                                 "istio/AuthorizationPolicy"))
            elif dec.reason == Reason.INVALID_POLICY:
                out.append(Cause("invalid-skipped", f"{dec.policy}: invalid ({dec.detail})", str(dec.policy)))
            elif dec.reason == Reason.MESH_RULE:
                out.extend(self._mesh_rule(rid, dec))
        if info is not None and (np.asarray(info.protocol)[atoms] == 4).any():  # P_CONFLICT
            out.append(Cause("protocol-conflict", f"{dname}: port protocol declared differently", f"Pod {dname}"))
        if not out:
            out.append(Cause("unexplained", f"istio: unknown at {dname} for a reason not recorded", f"Pod {dname}"))
        found = unique(out)
        self._cache[key] = {"istio": found}
        return found

    def _mesh_rule(self, rid: int, dec: object) -> list[Cause]:
        where = f"{dec.policy} rule {dec.rule_index}"  # type: ignore[attr-defined]
        if dec.policy_action == "CUSTOM":  # type: ignore[attr-defined]
            return [Cause("custom-provider", f"{where}: CUSTOM action, the external provider decides", where)]
        cr = (self._l7_rules or {}).get(rid)
        rule = getattr(cr, "rule", None)
        out = []
        for cond in getattr(rule, "when", ()) or ():
            if cond.kind in ("http", "opaque"):
                code = "request-header-condition" if cond.key.startswith("request.headers") else "mesh-condition"
                out.append(Cause(code, f"{where}: when {cond.key}", where))
        if not out:
            out.append(Cause("mesh-source-uncertain", f"{where} may or may not match", where))
        return out

    # -- many pairs of one class each -----------------------------------------------------------------
    def single_class_causes(self, pm: PairMatrix, sc: np.ndarray, tc: np.ndarray, unk: np.ndarray,
                            ii: np.ndarray, jj: np.ndarray) -> list[Sides]:
        """``pair_causes`` of entity pairs ``(ii, jj)`` of one class each (source classes ``sc``,
        destination classes ``tc``; ``unk``: pairs × atoms, the unknown atoms asked about), worked
        out once per distinct (groups, the classes' flags, atoms) in order of first appearance,
        then named per pair where they name an end (``resolve``)."""
        from auditor.csvtext import dense_codes, first_positions
        from auditor.reach.rowhash import unique_rows

        eg, ig, l7 = self.a.egress, self.a.ingress, pm.l7
        ge, gi = eg.gid(sc, tc).astype(np.int64), ig.gid(tc, sc).astype(np.int64)
        ve, vi = eg.verdict[ge], ig.verdict[gi]
        comp = np.minimum(ve, vi)
        gl = np.zeros_like(ge)
        if l7 is not None:
            gl = l7.gid(tc, sc).astype(np.int64)
            comp = np.minimum(comp, l7.verdict[gl])
        at = unk & (comp == UNKNOWN)
        flags = (self.flags[sc] << 4) | self.flags[tc]  # both ends' flags (4 bits each): one column
        ids = np.stack([ge, gi, gl, (unk.any(axis=1).astype(np.int64) << 8) | flags], axis=1)
        key = np.concatenate([ids.view(np.uint8), np.packbits(at, axis=1)], axis=1)
        codes = dense_codes(unique_rows(np.ascontiguousarray(key))[1])
        found: list[Sides] = []
        for f in first_positions(codes).tolist():
            if not unk[f].any():
                found.append({})
                continue
            s_, t_ = int(sc[f]), int(tc[f])
            out: dict[str, list[Cause]] = {}
            for side, layer in (("egress", ve[f]), ("ingress", vi[f]),
                                ("istio", l7.verdict[gl[f]] if l7 is not None else None)):
                la = np.flatnonzero(at[f] & (layer == UNKNOWN)) if layer is not None else np.zeros(0, np.int64)
                if not la.size:
                    continue
                if side == "egress":
                    found_side = self.engine_templates("egress", eg, s_, t_, la)
                elif side == "ingress":
                    found_side = self.engine_templates("ingress", ig, t_, s_, la)
                else:
                    assert l7 is not None
                    found_side = self.l7_templates(l7, t_, s_, la)
                out.setdefault(side, []).extend(found_side)
            if not out:  # composed unknown but no single layer is (ambient HBONE rule): name the pair
                out["ingress"] = [Cause("unexplained", "unknown by the composition of layers", "")]
            found.append({k: unique(v_) for k, v_ in out.items()})
        out_ = [found[c] for c in codes.tolist()]
        ends = np.array([any(marked(v) for v in f.values()) for f in found], dtype=bool)
        for n in np.flatnonzero(ends[codes]).tolist():  # only answers that name an end: per pair
            out_[n] = self.name_sides(pm, out_[n], int(sc[n]), int(tc[n]), int(ii[n]), int(jj[n]))
        return out_

    def name_sides(self, pm: PairMatrix, sides: Sides, s_cls: int, t_cls: int, i: int, j: int) -> Sides:
        """Template sides named for entity pair (i, j) at classes (s_cls, t_cls)."""
        names = end_name(pm.src[i]), end_name(pm.dst[j])
        return {k: self.resolve(v, s_cls, t_cls, *names) for k, v in sides.items()}

    # -- an entity pair -------------------------------------------------------------------------------
    def pair_causes(self, pm: PairMatrix, i: int, j: int, atoms: np.ndarray | None) -> Sides:
        """Causes per side for the atoms (given, else all) where entity pair (i, j) is unknown."""
        v = pm.verdict[pm.row[i, j]]
        unk = v == UNKNOWN
        if atoms is not None:
            m = np.zeros_like(unk)
            m[np.asarray(atoms, dtype=np.int64)] = True
            unk &= m
        if not unk.any() or pm.blocks is None:
            return {}
        b = pm.blocks
        own_s, own_t = self.own_blocks(pm)
        sc_all = own_s[b.s_start[i]: b.s_start[i] + b.s_cnt[i]]
        tc_all = own_t[b.t_start[j]: b.t_start[j] + b.t_cnt[j]]
        out: dict[str, list[Cause]] = {}
        seen: set[tuple[int, ...]] = set()
        eg, ig = self.a.egress, self.a.ingress
        names = end_name(pm.src[i]), end_name(pm.dst[j])
        flags = self.flags
        for sc in sc_all.tolist():
            for tc in tc_all.tolist():
                se, si = int(eg.sigma_of[sc]), int(ig.sigma_of[tc])  # gid() on scalars, without arrays
                ge = int(eg.offset[se]) + int(eg.parts.at(eg.part_of[se], tc))
                gi = int(ig.offset[si]) + int(ig.parts.at(ig.part_of[si], sc))
                gl = -1 if pm.l7 is None else int(pm.l7.gid(np.array([tc]), np.array([sc]))[0])
                if (ge, gi, gl, flags[sc], flags[tc]) in seen:
                    continue
                seen.add((ge, gi, gl, flags[sc], flags[tc]))
                if len(seen) > _MAX_CLASS_PAIRS:
                    break
                ve = self.a.egress.verdict[ge]
                vi = self.a.ingress.verdict[gi]
                vl = pm.l7.verdict[gl] if pm.l7 is not None else np.full_like(ve, ALLOW)
                comp = np.minimum(np.minimum(ve, vi), vl)
                at = np.flatnonzero(unk & (comp == UNKNOWN))
                if not at.size:
                    continue
                for side, layer, fn in (
                    ("egress", ve, lambda a, s=sc, t=tc: self.engine_causes("egress", self.a.egress, s, t, a, names)),
                    ("ingress", vi, lambda a, s=sc, t=tc: self.engine_causes("ingress", self.a.ingress, t, s, a,
                                                                             names)),
                    ("istio", vl, lambda a, s=sc, t=tc: self.l7_causes(pm.l7, t, s, a, names)),  # type: ignore[arg-type]
                ):
                    la = at[layer[at] == UNKNOWN]
                    if la.size:
                        out.setdefault(side, []).extend(fn(la))
        if not out:  # composed unknown but no single layer is (ambient HBONE rule): name the pair
            out["ingress"] = [Cause("unexplained", "unknown by the composition of layers", "")]
        return {k: unique(v_) for k, v_ in out.items()}
