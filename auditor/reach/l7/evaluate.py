"""The CUSTOM → DENY → ALLOW walk (IST-11) per destination signature σ, in three-valued logic,
on a (peer groups × port atoms × request atoms) grid, and its views: verdicts collapsed over
requests (CMP-6), one ``--http`` request, the request classes a flow admits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.policy.istio import Condition, Source
from auditor.reach.engine import ALLOW, DENY, UNKNOWN
from auditor.reach.l7.compile import CompiledRule, Request, RequestSpace
from auditor.reach.l7.mtls import (
    BYPASS,
    ID_UNKNOWN,
    K_AMBIENT,
    K_NONE,
    K_SIDECAR,
    M_PERMISSIVE,
    P_CONFLICT,
    P_HTTP,
    P_TCP,
    PRESENT,
    REFUSED,
)
from auditor.reach.rowhash import unique_rows

_DETAIL_CACHE = 64


@dataclass
class SigmaInfo:
    """What a destination signature is made of."""

    kind: int
    policies: tuple[int, ...]  # attached AuthorizationPolicies (indices into MeshPolicies.authz)
    protocol: np.ndarray  # (A,) BYPASS / P_TCP / P_HTTP / P_AUTO / P_CONFLICT
    mode: np.ndarray  # (A,) effective mTLS mode
    mesh_state: np.ndarray  # (A,) identity state of a meshed client
    plain_state: np.ndarray  # (A,) identity state of a plaintext client
    request_authn: bool
    uncertain: bool
    waypoint: bool
    dst_class: int
    mode_source: tuple[str, ...] = ()


@dataclass
class SigmaDetail:
    """The full grid of one σ."""

    groups: np.ndarray  # (C,) peer group of every source class
    reps: np.ndarray  # (G,) representative source class per group
    space: RequestSpace | None
    verdict: np.ndarray  # (G, A, R) int8; R index 0 = a non-HTTP connection
    rule: np.ndarray  # (G, A, R) int32
    identity: np.ndarray  # (G, A, R) bool: admitted only by rules that need a verified identity
    state: np.ndarray  # (G, A) identity state

    def request_label(self, r: int) -> str:
        if r == 0:
            return "non-HTTP connection"
        return self.space.label(r - 1) if self.space is not None else "any request"


@dataclass
class L7Result:
    """Verdicts of the Istio layer collapsed over requests: a flow is allowed when at least one
    request atom is. ``gid(dst, src)`` indexes ``verdict``/``rule``/``identity``."""

    sigma_of: np.ndarray  # (C,) destination class → σ
    group_of: np.ndarray  # (nσ, C) source class → group inside σ
    offset: np.ndarray  # (nσ,)
    verdict: np.ndarray  # (groups, A) int8
    rule: np.ndarray  # (groups, A) int32
    identity: np.ndarray  # (groups, A) bool

    def gid(self, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
        sig = self.sigma_of[dst]
        return self.offset[sig] + self.group_of[sig, src]


def collapse(d: SigmaDetail) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(G, A) verdict, deciding rule, identity: allowed if some request atom is (CMP-6); identity
    only if every request atom that is (or may be) admitted needed a verified identity."""
    v = d.verdict
    # among equal verdicts prefer a request atom (column ≥ 1) to the non-HTTP connection, so a
    # denied HTTP port names the policy rather than IST-4
    score = v.astype(np.int16) * 2 + (np.arange(v.shape[2]) > 0)[None, None, :]
    best = np.argmax(score, axis=2)
    g, a = np.indices(best.shape)
    verdict = v.max(axis=2)
    rule = d.rule[g, a, best]
    identity = (verdict == ALLOW) & ((v == DENY) | ((v == ALLOW) & d.identity)).all(axis=2)
    return verdict.astype(np.int8), rule.astype(np.int32), identity


class Evaluation:
    """Signatures, the walk and its views (part of ``MeshLayer``)."""

    # -- signatures ------------------------------------------------------------------------------
    def _run(self) -> L7Result:
        c = self.c
        A = self.A
        services = self._services()
        need_dst_ip = any(cond.kind == "dst-ip" for pol in self.mesh.authz for rule in pol.rules or ()
                          for cond in rule.when)
        request_authn = "istio/RequestAuthentication" in self.mesh.unreadable
        keys: dict[tuple, int] = {}
        sigma_of = np.zeros(c.n, dtype=np.int32)
        by_ns: dict[str, list[int]] = {}
        for i, pol in enumerate(self.mesh.authz):
            by_ns.setdefault(pol.namespace, []).append(i)
        root_pols = by_ns.get(self.mesh.root_namespace, [])
        none_info = SigmaInfo(K_NONE, (), np.full(A, BYPASS, np.int8), np.full(A, M_PERMISSIVE, np.int8),
                              np.zeros(A, np.int8), np.zeros(A, np.int8), False, False, False, -1)
        keys[("none",)] = 0
        self.infos = [none_info]
        for k in range(c.n):
            rep = c.representative[k]
            if rep.kind != "pod" or not (rep.mesh.sidecar or rep.mesh.ambient or rep.mesh.uncertain):
                continue
            kind = K_AMBIENT if rep.mesh.ambient else K_SIDECAR
            near = sorted({*root_pols, *by_ns.get(rep.namespace or "default", [])})
            pols = tuple(i for i in near if self._attaches(self.mesh.authz[i], rep))
            proto = self._protocols(rep, services) if kind == K_SIDECAR else np.where(self.tcp, P_TCP, BYPASS).astype(
                np.int8)
            mode, ms, ps, mode_src = self._modes(rep, kind)
            ra = request_authn or any(
                not ra_.target_refs and (ra_.namespace in (rep.namespace, self.mesh.root_namespace))
                and (ra_.selector is None or all(rep.labels.get(a) == b for a, b in ra_.selector.items()))
                for ra_ in self.mesh.request)
            key = (kind, pols, proto.tobytes(), mode.tobytes(), ms.tobytes(), ps.tobytes(), ra, rep.mesh.uncertain,
                   rep.mesh.waypoint, mode_src, int(c.address_class[k]) if need_dst_ip else 0)
            s = keys.get(key)
            if s is None:
                s = keys[key] = len(self.infos)
                self.infos.append(SigmaInfo(kind, pols, proto, mode, ms, ps, ra, rep.mesh.uncertain,
                                            rep.mesh.waypoint, k, mode_src))
            sigma_of[k] = s
        n_sigma = len(self.infos)
        group_of = np.zeros((n_sigma, c.n), dtype=np.int32)
        offsets = np.zeros(n_sigma, dtype=np.int64)
        verdicts, rules, idents = [], [], []
        total = 0
        for s in range(n_sigma):
            d = self._evaluate(s)
            if len(self._details) < _DETAIL_CACHE:
                self._details[s] = d
            v, r, i = collapse(d)
            group_of[s] = d.groups
            offsets[s] = total
            total += v.shape[0]
            verdicts.append(v)
            rules.append(r)
            idents.append(i)
        return L7Result(sigma_of=sigma_of, group_of=group_of, offset=offsets, verdict=np.concatenate(verdicts),
                        rule=np.concatenate(rules), identity=np.concatenate(idents))

    def detail(self, s: int) -> SigmaDetail:
        """The full (groups × atoms × requests) grid of σ (recomputed on demand, cached)."""
        hit = self._details.get(s)
        if hit is None:
            hit = self._evaluate(s)
            self._details[s] = hit
            while len(self._details) > _DETAIL_CACHE:
                self._details.popitem(last=False)
        return hit

    # -- the walk ------------------------------------------------------------------------------------
    def _peer_groups(self, crs: list[CompiledRule]) -> tuple[np.ndarray, np.ndarray]:
        rows: list[np.ndarray] = [self.mesh_code[:, None].astype(np.uint8)]
        bits: list[np.ndarray] = []
        seen_s: set[Source] = set()
        seen_c: set[Condition] = set()
        for cr in crs:
            if cr.rule is None:
                continue
            for src in cr.rule.sources or ():
                if src in seen_s:
                    continue
                seen_s.add(src)
                sm = self._source_mask(src)
                bits.extend(x for x in (sm.idp, sm.ip_def, sm.ip_pos) if not x.all())
            for cond in cr.rule.when:
                if cond.kind in ("ip", "identity") and cond not in seen_c:
                    seen_c.add(cond)
                    d, p = self._condition_mask(cond)
                    bits.extend(x for x in (d, p) if not x.all())
        if bits:
            rows.append(np.packbits(np.stack(bits, axis=1), axis=1))
        key = np.ascontiguousarray(np.concatenate(rows, axis=1))
        first, inv = unique_rows(key)
        return inv.astype(np.int32), first.astype(np.int64)

    def _evaluate(self, s: int) -> SigmaDetail:
        info = self.infos[s]
        c = self.c
        A = self.A
        if info.kind == K_NONE:
            one = np.ones((1, A, 1), dtype=bool)
            return SigmaDetail(np.zeros(c.n, np.int32), np.zeros(1, np.int64), None,
                               np.full((1, A, 1), ALLOW, np.int8), np.full((1, A, 1), self.NO_PROXY, np.int32),
                               ~one, np.zeros((1, A), np.int8))
        crs = [cr for pi in info.policies for cr in self._compiled[pi]]
        if "istio/AuthorizationPolicy" in self.mesh.unreadable:
            crs.append(CompiledRule(-1, "CUSTOM", None, self.UNREADABLE, False))
        groups, reps = self._peer_groups(crs)
        G = reps.shape[0]
        code = self.mesh_code[reps]
        ms, ps = info.mesh_state[None, :], info.plain_state[None, :]
        state = np.where(code[:, None] == 1, ms, np.where(code[:, None] == 0, ps, np.where(ms == ps, ms, ID_UNKNOWN)))
        state = np.broadcast_to(state, (G, A)).astype(np.int8)
        rules = [cr.rule for cr in crs if cr.rule is not None]
        space = RequestSpace(rules)
        R = 1 + space.size
        has_allow = any(self.mesh.authz[pi].action == "ALLOW" and not self.mesh.authz[pi].broken
                        for pi in info.policies)
        shape = (G, A, R)
        deny_d = np.zeros(shape, bool)
        deny_p = np.zeros(shape, bool)
        allow_d = np.zeros(shape, bool)
        allow_p = np.zeros(shape, bool)
        custom_p = np.zeros(shape, bool)
        nonid_p = np.zeros(shape, bool)
        deny_rule = np.full(shape, -1, np.int32)
        allow_rule = np.full(shape, -1, np.int32)
        custom_rule = np.full(shape, -1, np.int32)
        l7_rules = False
        for cr in crs:
            if cr.action == "AUDIT":
                continue  # IST-11: never changes the decision
            if cr.rule is None:
                d = np.zeros(shape, bool)
                p = np.ones(shape, bool)
            else:
                d, p = self._rule_match(cr, info, reps, state, space)
                l7_rules |= cr.rule.http_only
            if cr.action == "DENY":
                deny_rule[(deny_rule < 0) & p] = cr.rid
                deny_d |= d
                deny_p |= p
            elif cr.action == "ALLOW":
                allow_rule[(allow_rule < 0) & p] = cr.rid
                allow_d |= d
                allow_p |= p
                if not cr.needs_identity:
                    nonid_p |= p
            else:  # CUSTOM: the provider is opaque (IST-11)
                custom_rule[(custom_rule < 0) & p] = cr.rid
                custom_p |= p
        v_p = np.where(deny_p, DENY, np.where(allow_d | (not has_allow), ALLOW, DENY))
        v_o = np.where(deny_d, DENY, np.where(allow_p | (not has_allow), ALLOW, DENY))
        v = np.where(v_p == v_o, v_p, UNKNOWN).astype(np.int8)
        rule = np.where(deny_p, deny_rule, np.where(allow_p, allow_rule,
                                                    self.NO_ALLOW if not has_allow else self.NONE_MATCHED))
        rule = np.where((v == DENY) & ~deny_d & deny_p & ~allow_p & has_allow, self.NONE_MATCHED, rule)
        cust = (v != DENY) & custom_p
        v[cust] = UNKNOWN
        rule = np.where(cust, custom_rule, rule).astype(np.int32)
        ident = (v == ALLOW) & has_allow & ~nonid_p
        # protocol of each port atom (IST-3, IST-4, IST-25)
        proto = info.protocol
        tcp_cols = proto == P_TCP
        v[:, tcp_cols, 1:] = v[:, tcp_cols, :1]
        rule[:, tcp_cols, 1:] = rule[:, tcp_cols, :1]
        ident[:, tcp_cols, 1:] = ident[:, tcp_cols, :1]
        http_cols = proto == P_HTTP
        v[:, http_cols, 0] = DENY
        rule[:, http_cols, 0] = self.NOT_HTTP
        ident[:, http_cols, 0] = False
        conflict = proto == P_CONFLICT
        if conflict.any():
            tcp_v = np.broadcast_to(v[:, conflict, :1], v[:, conflict, 1:].shape)
            v[:, conflict, 1:] = np.where(v[:, conflict, 1:] == tcp_v, tcp_v, UNKNOWN)
            v[:, conflict, 0] = np.where(v[:, conflict, 0] == DENY, DENY, UNKNOWN)
            ident[:, conflict, :] = False
        if info.kind == K_AMBIENT and (l7_rules or info.waypoint):
            live = proto != BYPASS
            if info.waypoint:
                v[:, live, :] = np.where(v[:, live, :] == DENY, DENY, UNKNOWN)
                rule[:, live, :] = np.where(v[:, live, :] == DENY, rule[:, live, :], self.WAYPOINT)
            else:
                v[:, live, :] = DENY
                rule[:, live, :] = self.AMBIENT_L7
            ident[:, live, :] = False
        # mTLS admission (CMP-5) before authorization
        refused = (state == REFUSED)[:, :, None] & (proto != BYPASS)[None, :, None]
        if refused.any():
            v = np.where(refused, DENY, v).astype(np.int8)
            rule = np.where(refused, self._refused_rule(info.mode_source), rule)
            ident &= ~refused
        unsure = (state == ID_UNKNOWN)[:, :, None] & (proto != BYPASS)[None, :, None] & (v != DENY)
        if unsure.any():
            v[unsure] = UNKNOWN
            rule = np.where(unsure, self.MTLS_UNKNOWN, rule)
            ident &= ~unsure
        bypass = proto == BYPASS
        v[:, bypass, :] = ALLOW
        rule[:, bypass, :] = self.NOT_INTERCEPTED
        ident[:, bypass, :] = False
        if info.uncertain:  # the destination may have no proxy at all (IST-1)
            v = np.where(v == ALLOW, ALLOW, UNKNOWN).astype(np.int8)
            ident[:] = False
        return SigmaDetail(groups, reps, space, v, rule.astype(np.int32), ident, state)

    def _rule_match(
        self, cr: CompiledRule, info: SigmaInfo, reps: np.ndarray, state: np.ndarray, space: RequestSpace
    ) -> tuple[np.ndarray, np.ndarray]:
        """(G, A, R) certain/possible match of one rule; column 0 with TCP semantics (IST-25)."""
        rule = cr.rule
        assert rule is not None
        G, A = state.shape
        R = 1 + space.size
        present = state == PRESENT
        unk = state == ID_UNKNOWN

        def ident(idp: np.ndarray, ida: bool) -> tuple[np.ndarray, np.ndarray]:
            col = idp[reps][:, None]
            d = np.where(present, col, ida)
            p = d.copy()
            d = np.where(unk, col & ida, d)
            p = np.where(unk, col | ida, p)
            return d, p

        ones = np.ones((G, A), bool)
        # from: OR over sources (IST-14/15)
        if rule.sources is None:
            ft_d = ft_p = fh_d = fh_p = ones
        else:
            ft_d = np.zeros((G, A), bool)
            ft_p = np.zeros((G, A), bool)
            fh_d = np.zeros((G, A), bool)
            fh_p = np.zeros((G, A), bool)
            for src in rule.sources:
                sm = self._source_mask(src)
                i_d, i_p = ident(sm.idp, sm.ida)
                b_d = i_d & sm.ip_def[reps][:, None]
                b_p = i_p & sm.ip_pos[reps][:, None]
                ft_d |= b_d
                ft_p |= b_p
                rp_d, rp_p = True, True  # IST-20: a JWT principal exists only with RequestAuthentication
                if src.request_principals is not None:
                    rp_d, rp_p = False, info.request_authn
                if src.not_request_principals is not None:
                    rp_d, rp_p = rp_d and not info.request_authn, rp_p
                fh_d |= b_d & rp_d
                fh_p |= b_p & rp_p
        # to: OR over operations
        if rule.operations is None:
            ot_d = ot_p = np.ones(A, bool)
            oh_d = oh_p = np.ones((A, space.size), bool)
        else:
            ot_d = np.zeros(A, bool)
            oh_d = np.zeros((A, space.size), bool)
            oh_p = np.zeros((A, space.size), bool)
            for op in rule.operations:
                pm = self._port_mask(op)
                ot_d |= pm
                r_d, r_p = space.op_mask(op)
                oh_d |= pm[:, None] & r_d[None, :]
                oh_p |= pm[:, None] & r_p[None, :]
            ot_p = ot_d
        # when: AND over conditions (IST-22)
        wt_d, wt_p = ones.copy(), ones.copy()
        wh_d, wh_p = ones.copy(), ones.copy()
        for cond in rule.when:
            if cond.kind == "ip":
                d, p = self._condition_mask(cond)
                cd, cp = d[reps][:, None], p[reps][:, None]
            elif cond.kind == "identity":
                m, _ = self._condition_mask(cond)
                absent = cond.values is None  # no identity: values fail, notValues hold (IST-26)
                cd, cp = ident(m, absent)
            elif cond.kind == "dst-port":
                pm = self._port_values(cond)
                cd = cp = np.broadcast_to(pm[None, :], (G, A))
            elif cond.kind == "dst-ip":
                d, p = self._nets_dst(cond, info.dst_class)
                cd, cp = np.full((G, A), d), np.full((G, A), p)
            elif cond.kind == "http":  # request.headers / request.auth.*: not modelled → possibly
                wh_d = np.zeros((G, A), bool)
                continue  # TCP: removed for DENY/AUDIT/CUSTOM; ALLOW is dropped whole below
            else:  # connection.sni, experimental.*: opaque → possibly
                cd, cp = np.zeros((G, A), bool), ones
            wt_d = wt_d & cd
            wt_p = wt_p & cp
            wh_d = wh_d & cd
            wh_p = wh_p & cp
        d = np.empty((G, A, R), bool)
        p = np.empty((G, A, R), bool)
        d[:, :, 0] = ft_d & ot_d[None, :] & wt_d
        p[:, :, 0] = ft_p & ot_p[None, :] & wt_p
        if cr.action == "ALLOW" and rule.http_only:  # IST-25: dropped whole on TCP
            d[:, :, 0] = False
            p[:, :, 0] = False
        if cr.action == "CUSTOM":  # the provider may be HTTP-only and skipped on TCP
            d[:, :, 0] = False
        d[:, :, 1:] = (fh_d & wh_d)[:, :, None] & oh_d[None, :, :]
        p[:, :, 1:] = (fh_p & wh_p)[:, :, None] & oh_p[None, :, :]
        return d, p

    # -- views -----------------------------------------------------------------------------------------
    def view(self, req: Request) -> L7Result:
        """The layer's verdicts for one HTTP request (``--http``): per σ the request's atom."""
        res = self.result
        verdicts, rules, idents = [], [], []
        for s in range(len(self.infos)):
            d = self.detail(s)
            cols = [0] if d.space is None else [1 + r for r in d.space.atoms_of(req)]
            v = d.verdict[:, :, cols]
            best = np.argmax(v, axis=2)
            g, a = np.indices(best.shape)
            verdicts.append(v.max(axis=2))
            rules.append(d.rule[:, :, cols][g, a, best])
            idents.append((d.identity[:, :, cols] | (v != ALLOW)).all(axis=2) & (v == ALLOW).any(axis=2))
        return L7Result(sigma_of=res.sigma_of, group_of=res.group_of, offset=res.offset,
                        verdict=np.concatenate(verdicts), rule=np.concatenate(rules),
                        identity=np.concatenate(idents))

    def allowed_requests(self, dst: int, src: int, atoms: np.ndarray, limit: int = 6) -> list[str]:
        """Labels of the request classes allowed from class ``src`` to class ``dst`` at ``atoms``."""
        atoms = np.asarray(atoms, dtype=np.int64)
        s = int(self.result.sigma_of[dst])
        d = self.detail(s)
        ok = (d.verdict[int(d.groups[src])][atoms] == ALLOW).any(axis=0)  # (R,)
        if not ok.any():
            return []
        if d.space is None or ok.all():
            return ["any request"]
        if np.isin(self.infos[s].protocol[atoms], (P_TCP, BYPASS)).all():
            return ["any connection (TCP port)"] if ok[0] else []
        labels = [d.request_label(int(r)) for r in np.flatnonzero(ok)]
        if len(labels) > limit:
            labels = [*labels[:limit], f"+{len(labels) - limit} more"]
        return labels
