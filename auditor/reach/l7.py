"""The Istio layer: mTLS admission and AuthorizationPolicy at the destination's proxy (CMP-5,
CMP-6), a third evaluation next to the two directions of ``Engine.run``.

Subjects are *destination* classes. Those without a proxy get no Istio enforcement (IST-1):
they share one signature whose verdict is ALLOW everywhere. The others are grouped into
signatures σ (attached policies, protocol and mTLS state of every port atom); inside σ the
source classes that every rule sees alike form peer groups, and the CUSTOM → DENY → ALLOW
walk (IST-11) runs once per σ on a (peer groups × port atoms × request atoms) grid, in
three-valued logic, keeping the deciding rule and whether the admitting rules required a
verified mTLS identity.

Request atoms are *local to σ*: the methods, paths and hosts the policies attached to σ
mention cut each attribute into classes no rule tells apart (``Dimension``); a request atom is
one class per attribute, plus atom 0, "a non-HTTP connection" evaluated with TCP semantics
(IST-25). Which atoms count on a port depends on its protocol (IST-4): TCP-declared ports see
every connection as TCP; HTTP-declared ports only see HTTP requests; undeclared ports are
auto-detected, so the client chooses and both kinds of flow exist.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.policy.istio import (
    HBONE_PORT,
    AuthzPolicy,
    AuthzRule,
    Condition,
    MeshPolicies,
    Operation,
    Pattern,
    PeerAuthn,
    Source,
    normalize_path,
    pattern,
    port_protocol,
)
from auditor.reach.classes import ClassTable
from auditor.reach.decision import Decision, Reason
from auditor.reach.endpoints import Endpoint, Inventory
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, RuleTable
from auditor.reach.matching import Matcher
from auditor.reach.ports import PortSpace
from auditor.reach.rowhash import unique_rows
from auditor.snapshot import Snapshot

# Protocol of a destination port atom at the proxy (IST-3, IST-4).
BYPASS, P_TCP, P_HTTP, P_AUTO, P_CONFLICT = range(5)
PROTOCOL_WORDS = {BYPASS: "not intercepted", P_TCP: "TCP", P_HTTP: "HTTP", P_AUTO: "auto-detected",
                  P_CONFLICT: "conflicting declarations"}
# Whether the peer presents a verified identity at a (destination, port) (IST-9, IST-26).
ABSENT, PRESENT, ID_UNKNOWN, REFUSED = range(4)
# Effective PeerAuthentication mode (IST-6).
M_STRICT, M_PERMISSIVE, M_DISABLE, M_UNKNOWN = range(4)
MODE_WORDS = {M_STRICT: "STRICT", M_PERMISSIVE: "PERMISSIVE", M_DISABLE: "DISABLE", M_UNKNOWN: "unknown"}
_MODE_CODE = {"STRICT": M_STRICT, "PERMISSIVE": M_PERMISSIVE, "DISABLE": M_DISABLE}
# Kind of destination.
K_NONE, K_SIDECAR, K_AMBIENT = range(3)
KIND_WORDS = {K_NONE: "no proxy", K_SIDECAR: "sidecar", K_AMBIENT: "ambient (ztunnel)"}

_SEPARATORS = "~!$'()|^`@;=,"
_STANDARD = {
    "method": ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
    "path": ("/",),
    "host": ("example.com",),
}
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DETAIL_CACHE = 64
AUTHZ_KIND = "AuthorizationPolicy"  # the kind key of an AuthzPolicy (its ref's first word)


# --------------------------------------------------------------------------------------------
# Requests and request atoms


@dataclass(frozen=True)
class Request:
    """One HTTP request of a ``--http`` query; ``host`` None = any host."""

    method: str
    path: str
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> Request:
        """``GET /accounts``, ``POST http://api.example.com/v1/x?y=1`` (query dropped, path
        normalized as the mesh does, IST-21)."""
        parts = text.split()
        if len(parts) != 2 or not _METHOD.fullmatch(parts[0]):
            raise ValueError(f"--http {text!r}: expected 'METHOD /path', e.g. 'GET /accounts'")
        method, target = parts
        host = None
        m = re.fullmatch(r"(?i)https?://([^/?#]+)(.*)", target)
        if m:
            host, target = m.group(1).lower(), m.group(2) or "/"
        if not target.startswith("/"):
            raise ValueError(f"--http {text!r}: the path must start with '/'")
        return cls(method, normalize_path(target), host)

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" (host {self.host})" if self.host else "")


class Dimension:
    """The atoms of one request attribute (method, path or host) for a set of IST-16 patterns.

    An atom is a set of values every pattern treats alike (same membership vector). The
    candidates cover every realizable vector: a value equal to an exact pattern has that
    pattern's vector; any other value ``w`` is characterised by its longest matching prefix
    ``p`` and suffix ``s`` (the matching prefixes of ``w`` are the prefixes of ``p``; same for
    suffixes), and ``p + sep + s`` with a separator no pattern contains has exactly that vector.
    """

    def __init__(self, kind: str, patterns: Sequence[Pattern]) -> None:
        self.kind = kind
        self.patterns = sorted(set(patterns), key=lambda p: (p.kind, p.value, p.text))
        self._column = {p: k for k, p in enumerate(self.patterns)}
        reps: list[str] = []
        vectors: list[np.ndarray] = []
        self._index: dict[bytes, int] = {}
        for cand in self._candidates():
            v = self.vector(cand)
            key = v.tobytes()
            if key not in self._index:
                self._index[key] = len(reps)
                reps.append(cand)
                vectors.append(v)
        self.reps = reps
        self.vectors = np.array(vectors, dtype=bool).reshape(len(reps), len(self.patterns))
        self.labels = [self._label(k) for k in range(len(reps))]

    def __len__(self) -> int:
        return len(self.reps)

    def _candidates(self) -> list[str]:
        values = "".join(p.value for p in self.patterns)
        sep = next((c for c in _SEPARATORS if c not in values), "\x7f")
        exact = [p.value for p in self.patterns if p.kind == "exact"]
        prefixes = sorted({p.value for p in self.patterns if p.kind == "prefix"} | {""})
        suffixes = sorted({p.value for p in self.patterns if p.kind == "suffix"} | {""})
        out = [*_STANDARD[self.kind], *exact]
        for p in prefixes:
            for s in suffixes:
                out.append(((p or "/") if self.kind == "path" else p) + sep + s)
        if self.kind == "path":  # realizable paths start with '/' and are normalized (IST-21)
            out = [c for c in out if c.startswith("/") and normalize_path(c) == c]
        return list(dict.fromkeys(c for c in out if c))

    def vector(self, value: str) -> np.ndarray:
        return np.array([p.matches(value) for p in self.patterns], dtype=bool)

    def atom_of(self, value: str) -> int:
        if self.kind == "host":
            value = value.lower()
        if self.kind == "path":
            value = normalize_path(value)
        k = self._index.get(self.vector(value).tobytes())
        if k is None:  # not reachable for realizable values (see the class docstring)
            raise LookupError(f"no request atom for {self.kind} {value!r}")
        return k

    def mask(self, patterns: Sequence[Pattern] | None) -> np.ndarray:
        """Atoms whose values match any of ``patterns`` (exact: atoms are uniform)."""
        if patterns is None:
            return np.ones(len(self), dtype=bool)
        cols = [self._column[p] for p in patterns]
        if not cols:
            return np.zeros(len(self), dtype=bool)
        return self.vectors[:, cols].any(axis=1)

    def _label(self, k: int) -> str:
        if not self.patterns:
            return "*"
        matched = [p for p, hit in zip(self.patterns, self.vectors[k], strict=True) if hit and p.kind != "presence"]
        if any(p.kind == "exact" for p in matched):
            return self.reps[k]
        if not matched:
            return f"(other {self.kind})"
        return " & ".join(dict.fromkeys(p.text for p in matched))


class RequestSpace:
    """Request atoms of one σ: methods × paths × hosts (flattened, host fastest)."""

    def __init__(self, rules: Sequence[AuthzRule]) -> None:
        found: dict[str, list[Pattern]] = {"method": [], "path": [], "host": []}
        for rule in rules:
            for op in rule.operations or ():
                for kind, values in (("method", op.methods), ("method", op.not_methods), ("path", op.paths),
                                     ("path", op.not_paths), ("host", op.hosts), ("host", op.not_hosts)):
                    found[kind].extend(values or ())
        self.methods = Dimension("method", found["method"])
        self.paths = Dimension("path", found["path"])
        self.hosts = Dimension("host", found["host"])
        self.size = len(self.methods) * len(self.paths) * len(self.hosts)

    def _outer(self, m: np.ndarray, p: np.ndarray, h: np.ndarray) -> np.ndarray:
        return (m[:, None, None] & p[None, :, None] & h[None, None, :]).reshape(-1)

    def op_mask(self, op: Operation) -> tuple[np.ndarray, np.ndarray]:
        """(certain, possible) match of the HTTP fields of one operation over the request atoms."""
        m = self.methods.mask(op.methods)
        if op.not_methods is not None:
            m = m & ~self.methods.mask(op.not_methods)
        h = self.hosts.mask(op.hosts)
        if op.not_hosts is not None:
            h = h & ~self.hosts.mask(op.not_hosts)
        p_def = self.paths.mask(op.paths) if op.paths is not None or op.path_templates else self.paths.mask(None)
        if op.paths is None and op.path_templates:
            p_def = np.zeros(len(self.paths), dtype=bool)
        p_pos = p_def | bool(op.path_templates)  # templates ({*}, {**}) are not split into atoms
        if op.not_paths is not None or op.not_path_templates:
            excluded = self.paths.mask(op.not_paths or ())
            p_pos = p_pos & ~excluded
            p_def = p_def & ~excluded & (not op.not_path_templates)
        return self._outer(m, p_def, h), self._outer(m, p_pos, h)

    def atoms_of(self, req: Request) -> list[int]:
        m = self.methods.atom_of(req.method)
        p = self.paths.atom_of(req.path)
        n_h = len(self.hosts)
        hosts = [self.hosts.atom_of(req.host)] if req.host is not None else list(range(n_h))
        return [(m * len(self.paths) + p) * n_h + h for h in hosts]

    def representative(self, r: int) -> tuple[str, str, str]:
        """(method, path, host) of a request of atom ``r``."""
        n_h, n_p = len(self.hosts), len(self.paths)
        m, rest = divmod(r, n_p * n_h)
        p, h = divmod(rest, n_h)
        return self.methods.reps[m], self.paths.reps[p], self.hosts.reps[h]

    def label(self, r: int) -> str:
        n_h, n_p = len(self.hosts), len(self.paths)
        m, rest = divmod(r, n_p * n_h)
        p, h = divmod(rest, n_h)
        text = f"{self.methods.labels[m]} {self.paths.labels[p]}"
        if self.hosts.patterns:
            text += f" host {self.hosts.labels[h]}"
        return text


# --------------------------------------------------------------------------------------------
# Results


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


class _StringIndex:
    """IST-16 patterns against many strings at once: exact by dict, prefix by bisection of the
    sorted strings, suffix by bisection of the sorted reversed strings."""

    def __init__(self, values: Sequence[str | None]) -> None:
        self.n = len(values)
        self.present = np.array([v is not None and v != "" for v in values], dtype=bool)
        self.exact = {v: i for i, v in enumerate(values) if v is not None}
        self.fwd = sorted((v, i) for i, v in enumerate(values) if v is not None)
        self.rev = sorted((v[::-1], i) for i, v in enumerate(values) if v is not None)
        self._cache: dict[Pattern, np.ndarray] = {}

    def __len__(self) -> int:
        return self.n

    def matches(self, p: Pattern) -> np.ndarray:
        import bisect

        hit = self._cache.get(p)
        if hit is not None:
            return hit
        out = np.zeros(self.n, dtype=bool)
        if p.kind == "presence":
            out = self.present.copy()
        elif p.kind == "exact":
            i = self.exact.get(p.value)
            if i is not None:
                out[i] = True
        else:
            table, key = (self.fwd, p.value) if p.kind == "prefix" else (self.rev, p.value[::-1])
            lo = bisect.bisect_left(table, (key,))
            hi = lo
            while hi < len(table) and table[hi][0].startswith(key):
                hi += 1
            out[[i for _, i in table[lo:hi]]] = True
        self._cache[p] = out
        return out


@dataclass
class _SourceMask:
    idp: np.ndarray  # (C,) identity fields, evaluated with the class's principal
    ida: bool  # identity fields with no principal (IST-26)
    ip_def: np.ndarray
    ip_pos: np.ndarray
    rp: tuple[bool, bool] | None = None  # requestPrincipals: filled per σ


@dataclass
class _Compiled:
    policy: int
    action: str
    rule: AuthzRule | None  # None: a pseudo-rule that may match anything (invalid/unreadable)
    rid: int
    needs_identity: bool


# --------------------------------------------------------------------------------------------
# The layer


class MeshLayer:
    """Evaluates the Istio layer for all (destination class, source class) pairs."""

    def __init__(
        self,
        mesh: MeshPolicies,
        snapshot: Snapshot,
        inventory: Inventory,
        classes: ClassTable,
        matcher: Matcher,
        ports: PortSpace,
    ) -> None:
        self.mesh = mesh
        self.snapshot = snapshot
        self.inv = inventory
        self.c = classes
        self.m = matcher
        self.ports = ports
        self.A = len(ports)
        self.tcp = ports.protocol_mask("TCP")
        self.rules = RuleTable()
        r = self.rules
        self.NO_PROXY = r.add(Decision(Reason.NO_PROXY, "Allow", rule_ids=("IST-1",)))
        self.NOT_INTERCEPTED = r.add(Decision(Reason.NOT_INTERCEPTED, "Allow", rule_ids=("IST-3",)))
        self.NO_ALLOW = r.add(Decision(Reason.NO_ALLOW_POLICY, "Allow", rule_ids=("IST-11",)))
        self.NONE_MATCHED = r.add(Decision(Reason.NONE_MATCHED, "Deny", rule_ids=("IST-11", "IST-12")))
        self.NOT_HTTP = r.add(Decision(Reason.NOT_HTTP, "Deny", rule_ids=("IST-4",)))
        self.AMBIENT_L7 = r.add(Decision(Reason.AMBIENT_L7, "Deny", rule_ids=("IST-29",)))
        self.WAYPOINT = r.add(Decision(Reason.WAYPOINT, rule_ids=("IST-29",)))
        self.MTLS_UNKNOWN = r.add(Decision(Reason.MTLS_UNKNOWN, rule_ids=("IST-7", "IST-9")))
        self.UNREADABLE = r.add(Decision(Reason.UNREADABLE, rule_ids=("CMP-10",)))
        self._refused: dict[str, int] = {}
        self._compiled = [self._compile(i, pol) for i, pol in enumerate(mesh.authz)]
        self._source_cache: dict[Source, _SourceMask] = {}
        self._cond_cache: dict[Condition, tuple[np.ndarray, np.ndarray]] = {}
        self._details: OrderedDict[int, SigmaDetail] = OrderedDict()
        self._class_basics()
        self.infos: list[SigmaInfo] = []
        self.result = self._run()

    # -- compile -------------------------------------------------------------------------------
    def _compile(self, pi: int, pol: AuthzPolicy) -> list[_Compiled]:
        if pol.broken:
            rid = self.rules.add(Decision(Reason.INVALID_POLICY, policy=pol.ref, policy_kind=AUTHZ_KIND,
                                          policy_namespace=pol.namespace, policy_name=pol.name,
                                          policy_action=pol.action, detail=pol.broken))
            return [_Compiled(pi, "CUSTOM", None, rid, False)]
        out = []
        word = {"ALLOW": "Allow", "DENY": "Deny"}.get(pol.action, "")
        for rule in pol.rules or ():
            rid = self.rules.add(Decision(Reason.MESH_RULE, word, policy=pol.ref, policy_kind=AUTHZ_KIND,
                                          policy_namespace=pol.namespace, policy_name=pol.name,
                                          rule_index=rule.index, policy_action=pol.action, rule_ids=("IST-11",)))
            out.append(_Compiled(pi, pol.action, rule, rid, rule.needs_identity))
        return out

    def _refused_rule(self, sources: tuple[str, ...]) -> int:
        key = ", ".join(sources) or "mesh default"
        if key not in self._refused:
            self._refused[key] = self.rules.add(Decision(Reason.MTLS_REFUSED, "Deny", detail=key,
                                                         rule_ids=("IST-9", "CMP-5")))
        return self._refused[key]

    # -- per-class facts --------------------------------------------------------------------------
    def _class_basics(self) -> None:
        c = self.c
        td = self.mesh.trust_domain
        self.mesh_code = np.where(c.mesh_uncertain, 2, np.where(c.sidecar | c.ambient, 1, 0)).astype(np.int8)
        self.mesh_code[~c.is_pod] = 0
        self.principal: list[str | None] = []
        self.sa_key: list[str | None] = []
        for k in range(c.n):
            rep = c.representative[k]
            if rep.kind == "pod":
                ns, sa = rep.namespace or "default", rep.service_account or "default"
                self.principal.append(f"{td}/ns/{ns}/sa/{sa}")
                self.sa_key.append(f"{ns}/{sa}")
            else:
                self.principal.append(None)
                self.sa_key.append(None)
        self._strings: dict[str, tuple[np.ndarray, list[str | None], _StringIndex]] = {}

    def _attr(self, name: str) -> tuple[np.ndarray, list[str | None], _StringIndex]:
        """(inverse, unique values, index) of a per-class string attribute."""
        hit = self._strings.get(name)
        if hit is None:
            values = {"principal": self.principal, "namespace": self.c.namespace, "sa": self.sa_key,
                      "trust": [self.mesh.trust_domain if p else None for p in self.principal]}[name]
            uniq = list(dict.fromkeys(values))
            index = {v: i for i, v in enumerate(uniq)}
            hit = self._strings[name] = (np.array([index[v] for v in values], dtype=np.int64), uniq,
                                         _StringIndex(uniq))
        return hit

    def _match_attr(self, name: str, patterns: Sequence[Pattern]) -> np.ndarray:
        inv, _, index = self._attr(name)
        hits = np.zeros(len(index), dtype=bool)
        for p in patterns:
            hits |= index.matches(p)
        return hits[inv]

    def _nets_mask(self, texts: Sequence[str] | tuple) -> tuple[np.ndarray, np.ndarray]:
        import ipaddress

        nets = tuple(sorted({n if not isinstance(n, str) else ipaddress.ip_network(n.strip(), strict=False)
                             for n in texts}, key=lambda n: (n.version, n)))
        return self.m.nets(nets)

    def _source_mask(self, src: Source) -> _SourceMask:
        hit = self._source_cache.get(src)
        if hit is not None:
            return hit
        n = self.c.n
        idp = np.ones(n, dtype=bool)
        ida = True
        for name, pos, neg in (("principal", src.principals, src.not_principals),
                               ("namespace", src.namespaces, src.not_namespaces)):
            if pos is not None:
                idp &= self._match_attr(name, pos)
                ida = False
            if neg is not None:
                idp &= ~self._match_attr(name, neg)
        if src.service_accounts is not None:
            idp &= self._match_attr("sa", [pattern(v) for v in src.service_accounts])
            ida = False
        if src.not_service_accounts is not None:
            idp &= ~self._match_attr("sa", [pattern(v) for v in src.not_service_accounts])
        ip_d = np.ones(n, dtype=bool)
        ip_p = np.ones(n, dtype=bool)
        # IST-19: remoteIpBlocks = the source IP for pod-to-sidecar traffic (no trusted proxies).
        for pos, neg in ((src.ip_blocks, src.not_ip_blocks), (src.remote_ip_blocks, src.not_remote_ip_blocks)):
            if pos is not None:
                d, p = self._nets_mask(pos)
                ip_d &= d
                ip_p &= p
            if neg is not None:
                d, p = self._nets_mask(neg)
                ip_d &= ~p
                ip_p &= ~d
        hit = self._source_cache[src] = _SourceMask(idp, ida, ip_d, ip_p)
        return hit

    def _condition_mask(self, cond: Condition) -> tuple[np.ndarray, np.ndarray]:
        """(C,) certain/possible match of an ``ip`` condition, or the principal-present match of
        an ``identity`` condition (def == pos)."""
        hit = self._cond_cache.get(cond)
        if hit is not None:
            return hit
        n = self.c.n
        if cond.kind == "ip":
            d = np.ones(n, dtype=bool)
            p = np.ones(n, dtype=bool)
            if cond.values is not None:
                d, p = self._nets_mask(cond.values)
            if cond.not_values is not None:
                nd, np_ = self._nets_mask(cond.not_values)
                d, p = d & ~np_, p & ~nd
            hit = (d, p)
        else:
            name = {"source.principal": "principal", "source.namespace": "namespace",
                    "source.serviceAccount": "sa", "source.trustDomain": "trust"}[cond.key]
            m = np.ones(n, dtype=bool)
            if cond.values is not None:
                m &= self._match_attr(name, [pattern(v) for v in cond.values])
            if cond.not_values is not None:
                m &= ~self._match_attr(name, [pattern(v) for v in cond.not_values])
            hit = (m, m)
        self._cond_cache[cond] = hit
        return hit

    # -- destination facts ----------------------------------------------------------------------
    def _attaches(self, pol: AuthzPolicy, rep: Endpoint) -> bool:
        """IST-10: same namespace (or the root namespace), selector ⊆ labels; targetRefs are for
        gateways and waypoints."""
        if pol.target_refs:
            return False
        if pol.namespace != self.mesh.root_namespace and pol.namespace != rep.namespace:
            return False
        return pol.selector is None or all(rep.labels.get(k) == v for k, v in pol.selector.items())

    def _services(self) -> dict[str, list[tuple[Mapping[str, str], list[Mapping]]]]:
        out: dict[str, list[tuple[Mapping[str, str], list[Mapping]]]] = {}
        for res in self.snapshot.of_kind("Service"):
            spec = res.body.get("spec") or {}
            sel = spec.get("selector") or {}
            if sel:
                out.setdefault(res.namespace or "default", []).append((sel, list(spec.get("ports") or [])))
        return out

    def _protocols(self, rep: Endpoint, services: dict) -> np.ndarray:
        """(A,) protocol per port atom (IST-3, IST-4)."""
        proto = np.where(self.tcp, P_AUTO, BYPASS).astype(np.int8)
        declared: dict[int, set[str | None]] = {}
        for sel, ports in services.get(rep.namespace or "default", []):
            if not all(rep.labels.get(k) == v for k, v in sel.items()):
                continue
            for port in ports:
                if str(port.get("protocol") or "TCP").upper() != "TCP":
                    continue
                target = port.get("targetPort", port.get("port"))
                number = None
                if isinstance(target, int):
                    number = target
                elif isinstance(target, str) and target.isdigit():
                    number = int(target)
                elif isinstance(target, str):
                    number = next((num for name, p, num in rep.named_ports if name == target and p == "TCP"), None)
                if number is not None:
                    declared.setdefault(number, set()).add(port_protocol(port))
        for number, kinds in declared.items():
            atom = self.ports.index_of("TCP", number)
            if atom is None:
                continue
            if len(kinds) > 1:
                proto[atom] = P_CONFLICT
            else:
                kind = next(iter(kinds))
                proto[atom] = P_HTTP if kind == "http" else P_TCP if kind == "tcp" else P_AUTO
        if rep.mesh.sidecar:
            for number in rep.mesh.excluded_inbound:
                atom = self.ports.index_of("TCP", number)
                if atom is not None:
                    proto[atom] = BYPASS
            if rep.mesh.included_inbound is not None:
                keep = np.zeros(self.A, dtype=bool)
                for number in rep.mesh.included_inbound:
                    atom = self.ports.index_of("TCP", number)
                    if atom is not None:
                        keep[atom] = True
                proto[self.tcp & ~keep] = BYPASS
        return proto

    def _pick(self, candidates: list[PeerAuthn]) -> tuple[PeerAuthn | None, bool]:
        """IST-7: the oldest policy of a level wins; (policy, certain)."""
        if not candidates:
            return None, True
        if any(p.broken for p in candidates):
            return None, False
        ordered = sorted(candidates, key=lambda p: (p.created or "~", p.name))
        first = ordered[0]
        rivals = [p for p in ordered[1:] if p.created == first.created or first.created is None or p.created is None]
        certain = all((p.mode, dict(p.port_modes)) == (first.mode, dict(first.port_modes)) for p in rivals)
        return first, certain

    def _modes(self, rep: Endpoint, kind: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
        """(A,) effective mode, identity state of a meshed client, of a plaintext client (IST-7..9)."""
        A = self.A
        root = self.mesh.root_namespace
        ns = rep.namespace or "default"
        unreadable = "istio/PeerAuthentication" in self.mesh.unreadable
        mesh_pa, mesh_ok = self._pick([p for p in self.mesh.peer if p.namespace == root and p.selector is None])
        ns_pa, ns_ok = self._pick([p for p in self.mesh.peer if p.namespace == ns and p.selector is None and ns != root])
        wl_pa, wl_ok = self._pick([p for p in self.mesh.peer if p.namespace == ns and p.selector is not None
                                   and all(rep.labels.get(k) == v for k, v in p.selector.items())])
        broken_here = any(p.broken and p.namespace in (ns, root) for p in self.mesh.peer)
        sources: list[str] = []
        inferred = M_PERMISSIVE
        inferred_known = mesh_ok and ns_ok and not unreadable and not broken_here
        for pa in (mesh_pa, ns_pa):
            if pa is not None and pa.mode != "UNSET":
                inferred = _MODE_CODE[pa.mode]
                sources = [pa.ref]
        mode = np.full(A, inferred, dtype=np.int8)
        wl_defined = np.zeros(A, dtype=bool)
        if wl_pa is not None:
            if wl_pa.mode != "UNSET":
                mode[:] = _MODE_CODE[wl_pa.mode]
                wl_defined[:] = True
                sources.append(wl_pa.ref)
            for number, m in wl_pa.port_modes.items():  # IST-8: workload (target) ports
                if m == "UNSET":
                    continue
                atom = self.ports.index_of("TCP", number)
                if atom is not None:
                    mode[atom] = _MODE_CODE[m]
                    wl_defined[atom] = True
                    sources.append(f"{wl_pa.ref} port {number}")
        if not (inferred_known and wl_ok):
            mode[:] = M_UNKNOWN
        # client side (IST-9): auto-mTLS infers the namespace/mesh mode only
        if kind == K_AMBIENT:  # ambient ignores DISABLE; HBONE is always mTLS
            mesh_state = np.where(mode == M_UNKNOWN, ID_UNKNOWN, PRESENT)
        else:
            tls_client = np.full(A, inferred != M_DISABLE)
            client_known = np.full(A, inferred_known) & ~(wl_defined & (inferred == M_DISABLE))
            mesh_state = np.where(tls_client, np.where(mode == M_DISABLE, ID_UNKNOWN, PRESENT),
                                  np.where(mode == M_STRICT, REFUSED, ABSENT))
            mesh_state = np.where(client_known & (mode != M_UNKNOWN), mesh_state, ID_UNKNOWN)
        plain_state = np.where(mode == M_STRICT, REFUSED, np.where(mode == M_UNKNOWN, ID_UNKNOWN, ABSENT))
        return mode, mesh_state.astype(np.int8), plain_state.astype(np.int8), tuple(dict.fromkeys(sources))

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
    def _peer_groups(self, crs: list[_Compiled]) -> tuple[np.ndarray, np.ndarray]:
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
            crs.append(_Compiled(-1, "CUSTOM", None, self.UNREADABLE, False))
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
        self, cr: _Compiled, info: SigmaInfo, reps: np.ndarray, state: np.ndarray, space: RequestSpace
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

    def _port_mask(self, op: Operation) -> np.ndarray:
        m = self.tcp.copy()
        if op.ports is not None:
            m &= self._ports_of(op.ports)
        if op.not_ports is not None:
            m &= ~self._ports_of(op.not_ports)
        return m

    def _ports_of(self, numbers: Sequence[int]) -> np.ndarray:
        out = np.zeros(self.A, bool)
        for n in numbers:
            if n == 0:
                continue
            atom = self.ports.index_of("TCP", n)
            if atom is not None:
                out[atom] = True
        return out

    def _port_values(self, cond: Condition) -> np.ndarray:
        m = self.tcp.copy()
        if cond.values is not None:
            m &= self._ports_of([int(v) for v in cond.values])
        if cond.not_values is not None:
            m &= ~self._ports_of([int(v) for v in cond.not_values])
        return m

    def _nets_dst(self, cond: Condition, dst: int) -> tuple[bool, bool]:
        d, p = np.ones(self.c.n, bool), np.ones(self.c.n, bool)
        if cond.values is not None:
            d, p = self._nets_mask(cond.values)
        if cond.not_values is not None:
            nd, np_ = self._nets_mask(cond.not_values)
            d, p = d & ~np_, p & ~nd
        return bool(d[dst]), bool(p[dst])

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

    # -- facts for controls ------------------------------------------------------------------------------
    def facts(self, cls: int) -> dict[str, object]:
        """Mesh facts of one destination class: proxy, identity, mTLS mode and protocol per port."""
        c = self.c
        rep = c.representative[cls]
        s = int(self.result.sigma_of[cls])
        info = self.infos[s]
        kind = K_AMBIENT if rep.mesh.ambient else K_SIDECAR if rep.mesh.sidecar else K_NONE
        out: dict[str, object] = {
            "proxy": "unknown" if rep.mesh.uncertain else KIND_WORDS[kind],
            "principal": rep.principal if kind != K_NONE else None,
            "why": rep.mesh.why,
        }
        if info.kind != K_NONE:
            modes: dict[str, np.ndarray] = {}
            for code, word in MODE_WORDS.items():
                m = (info.mode == code) & self.tcp & (info.protocol != BYPASS)
                if m.any():
                    modes[word] = m
            out["mtls"] = {w: self.ports.summary(m) for w, m in modes.items()}
            out["mtls_from"] = list(info.mode_source)
            out["policies"] = [self.mesh.authz[i].ref for i in info.policies]
            protos: dict[str, str] = {}
            for code, word in PROTOCOL_WORDS.items():
                m = (info.protocol == code) & self.tcp
                if m.any():
                    protos[word] = self.ports.summary(m)
            out["protocols"] = protos
        return out


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


def mesh_cuts(mesh: MeshPolicies, inventory: Inventory, snapshot: Snapshot) -> list[int]:
    """TCP port numbers the Istio layer distinguishes: operation ports, portLevelMtls ports,
    destination.port conditions, Service target ports of meshed pods, capture exclusions,
    and the HBONE port when ambient pods exist (IST-8, IST-21, IST-4, IST-3, IST-28)."""
    out: set[int] = set()
    for pol in mesh.authz:
        for rule in pol.rules or ():
            for op in rule.operations or ():
                out.update(op.ports or ())
                out.update(op.not_ports or ())
            for cond in rule.when:
                if cond.kind == "dst-port":
                    out.update(int(v) for v in (*(cond.values or ()), *(cond.not_values or ())))
    for pa in mesh.peer:
        out.update(pa.port_modes)
    meshed = [e for e in inventory.endpoints if e.kind == "pod" and (e.mesh.sidecar or e.mesh.ambient
                                                                    or e.mesh.uncertain)]
    if meshed:
        namespaces = {e.namespace for e in meshed}
        for res in snapshot.of_kind("Service"):
            if res.namespace not in namespaces:
                continue
            for port in (res.body.get("spec") or {}).get("ports") or []:
                target = port.get("targetPort", port.get("port"))
                if isinstance(target, int):
                    out.add(target)
                elif isinstance(target, str) and target.isdigit():
                    out.add(int(target))
        for e in meshed:
            out.update(e.mesh.excluded_inbound)
            out.update(e.mesh.included_inbound or ())
        if any(e.mesh.ambient for e in meshed):
            out.add(HBONE_PORT)
    return sorted(p for p in out if 1 <= p <= 65535)


def mesh_networks(mesh: MeshPolicies) -> list:
    """CIDRs Istio rules mention (ipBlocks, remoteIpBlocks, source/remote/destination.ip)."""
    import ipaddress

    out = set()
    for pol in mesh.authz:
        for rule in pol.rules or ():
            for src in rule.sources or ():
                for nets in (src.ip_blocks, src.not_ip_blocks, src.remote_ip_blocks, src.not_remote_ip_blocks):
                    out.update(nets or ())
            for cond in rule.when:
                if cond.kind in ("ip", "dst-ip"):
                    for v in (*(cond.values or ()), *(cond.not_values or ())):
                        out.add(ipaddress.ip_network(v.strip(), strict=False))
    return sorted(out, key=lambda n: (n.version, n))

