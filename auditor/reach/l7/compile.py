"""AuthorizationPolicy → what the walk evaluates: requests and request atoms (methods, paths and
hosts cut into classes no rule tells apart, IST-16, IST-21), and each rule's sources, conditions
and ports as masks over classes and port atoms (IST-13..IST-20)."""

from __future__ import annotations

import re
from collections.abc import Sequence
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
    Source,
    normalize_path,
    pattern,
)
from auditor.reach.decision import Decision, Reason
from auditor.reach.endpoints import Endpoint, Inventory
from auditor.snapshot import Snapshot

_SEPARATORS = "~!$'()|^`@;=,"
_STANDARD = {
    "method": ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"),
    "path": ("/",),
    "host": ("example.com",),
}
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
AUTHZ_KIND = "AuthorizationPolicy"  # the kind key of an AuthzPolicy (its ref's first word)


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


class StringIndex:
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
class SourceMask:
    idp: np.ndarray  # (C,) identity fields, evaluated with the class's principal
    ida: bool  # identity fields with no principal (IST-26)
    ip_def: np.ndarray
    ip_pos: np.ndarray
    rp: tuple[bool, bool] | None = None  # requestPrincipals: filled per σ


@dataclass
class CompiledRule:
    policy: int
    action: str
    rule: AuthzRule | None  # None: a pseudo-rule that may match anything (invalid/unreadable)
    rid: int
    needs_identity: bool


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


class PolicyCompiler:
    """AuthorizationPolicies as rule-table entries and class/port masks (part of ``MeshLayer``)."""

    # -- compile -------------------------------------------------------------------------------
    def _compile(self, pi: int, pol: AuthzPolicy) -> list[CompiledRule]:
        if pol.broken:
            rid = self.rules.add(Decision(Reason.INVALID_POLICY, policy=pol.ref, policy_kind=AUTHZ_KIND,
                                          policy_namespace=pol.namespace, policy_name=pol.name,
                                          policy_action=pol.action, detail=pol.broken))
            return [CompiledRule(pi, "CUSTOM", None, rid, False)]
        out = []
        word = {"ALLOW": "Allow", "DENY": "Deny"}.get(pol.action, "")
        for rule in pol.rules or ():
            rid = self.rules.add(Decision(Reason.MESH_RULE, word, policy=pol.ref, policy_kind=AUTHZ_KIND,
                                          policy_namespace=pol.namespace, policy_name=pol.name,
                                          rule_index=rule.index, policy_action=pol.action, rule_ids=("IST-11",)))
            out.append(CompiledRule(pi, pol.action, rule, rid, rule.needs_identity))
        return out

    def _refused_rule(self, sources: tuple[str, ...]) -> int:
        key = ", ".join(sources) or "mesh default"
        if key not in self._refused:
            self._refused[key] = self.rules.add(Decision(Reason.MTLS_REFUSED, "Deny", detail=key,
                                                         rule_ids=("IST-9", "CMP-5")))
        return self._refused[key]

    def _attr(self, name: str) -> tuple[np.ndarray, list[str | None], StringIndex]:
        """(inverse, unique values, index) of a per-class string attribute."""
        hit = self._strings.get(name)
        if hit is None:
            values = {"principal": self.principal, "namespace": self.c.namespace, "sa": self.sa_key,
                      "trust": [self.mesh.trust_domain if p else None for p in self.principal]}[name]
            uniq = list(dict.fromkeys(values))
            index = {v: i for i, v in enumerate(uniq)}
            hit = self._strings[name] = (np.array([index[v] for v in values], dtype=np.int64), uniq,
                                         StringIndex(uniq))
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

    def _source_mask(self, src: Source) -> SourceMask:
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
        hit = self._source_cache[src] = SourceMask(idp, ida, ip_d, ip_p)
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
