"""One call from a snapshot to the full reachability result, and pair-level views of it.

``analyze`` runs the stages (policy IR, endpoints, classes, engine). ``Analysis.pairs``
aggregates class-level verdicts into the rows people read: pods, workloads or namespaces.
An entity spanning several classes (a namespace, an external network cut by ipBlocks) can
reach another if *any* of its classes can: the conservative reading for segmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from auditor.policy.compile import compile_policies
from auditor.policy.ir import PORT_PROTOCOLS, IPNetwork, PolicySet
from auditor.reach.classes import AddressClasses, ClassTable, build_classes
from auditor.reach.endpoints import DEFAULT_EXTERNALS, ExternalNetwork, Inventory, build_inventory
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, DirectionResult, Engine
from auditor.reach.matching import Matcher, _proto
from auditor.reach.ports import ICMP_PROTOCOLS, PortSpace
from auditor.reach.rowhash import unique_rows
from auditor.snapshot import Snapshot

LEVELS = ("pod", "workload", "namespace")
_CHUNK_CELLS = 4_000_000


def _flatten(entities: Sequence[Entity], behaviour: np.ndarray, rep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(entity index, representative class) for every distinct behaviour class of every entity."""
    ent: list[int] = []
    cls: list[int] = []
    for i, e in enumerate(entities):
        for b in sorted({int(behaviour[c]) for c in e.classes}):
            ent.append(i)
            cls.append(int(rep[b]))
    return np.array(ent, dtype=np.int64), np.array(cls, dtype=np.int64)


def _pack(mask: np.ndarray) -> np.ndarray:
    """(n, atoms) bool → (n, words) uint64 bitsets, atom k at bit k % 64 of word k // 64."""
    n, a = mask.shape
    words = max(1, (a + 63) // 64)
    padded = np.zeros((n, words * 64), dtype=bool)
    padded[:, :a] = mask
    return np.packbits(padded.reshape(n, words, 64), axis=2, bitorder="little").view(np.uint64).reshape(n, words)


def _unpack(key: np.ndarray, n_words: int, n_atoms: int) -> np.ndarray:
    """(rows, 2·words) allow|unknown bitsets → (rows, atoms) int8 verdicts."""
    def bits(words: np.ndarray) -> np.ndarray:
        raw = np.ascontiguousarray(words).view(np.uint8).reshape(words.shape[0], -1)
        return np.unpackbits(raw, axis=1, bitorder="little")[:, :n_atoms].astype(bool)

    allow = bits(key[:, :n_words])
    unknown = bits(key[:, n_words:])
    return np.where(allow, ALLOW, np.where(unknown, UNKNOWN, DENY)).astype(np.int8)


def _distinct_rows(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row id of every key row and the first occurrence of each id (exact)."""
    first, inverse = unique_rows(key)
    return inverse, first


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64, so sums of mixed keys identify key sets."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))

IMPL_ASSUMPTIONS = (
    "Calico is the CNI: ipBlock matches pod and node IPs too (K8S-10, CAL-39)",
    "host-network pods are node traffic and are not policy endpoints (K8S-13)",
    "ingress from a pod's own node is always allowed and not shown (K8S-14)",
    "rules without ports match every protocol, ICMP included (K8S-17)",
    "ports are pod (target) ports after Service DNAT (K8S-16, CAL-47)",
    "a pod without an IP may have any address in the pod CIDRs (--pod-cidr; default all IPv4)",
)


@dataclass(frozen=True)
class AnalysisOptions:
    externals: tuple[ExternalNetwork, ...] = DEFAULT_EXTERNALS
    pod_cidrs: tuple[IPNetwork, ...] = ()
    lenient: bool = False
    with_staged: bool = False  # evaluate Calico staged policies as if enforced (CAL-43)


@dataclass(frozen=True)
class Entity:
    """A row/column of the output: a pod, a workload, a namespace or an external network."""

    name: str
    kind: str  # pod | workload | namespace | external
    namespace: str | None
    classes: tuple[int, ...]
    endpoints: tuple[int, ...]


@dataclass(frozen=True)
class _Blocks:
    """Entities flattened to (entity, class) runs: entity ``e``'s classes are
    ``cls[start[e] : start[e] + cnt[e]]``."""

    s_cls: np.ndarray
    s_start: np.ndarray
    s_cnt: np.ndarray
    t_cls: np.ndarray
    t_start: np.ndarray
    t_cnt: np.ndarray
    s_has: np.ndarray
    t_has: np.ndarray

    def __init__(self, s: tuple[np.ndarray, np.ndarray], n_s: int, t: tuple[np.ndarray, np.ndarray], n_t: int):
        for side, (ent, cls), n in (("s", s, n_s), ("t", t, n_t)):
            cnt = np.bincount(ent, minlength=n).astype(np.int64)
            object.__setattr__(self, f"{side}_cls", cls)
            object.__setattr__(self, f"{side}_cnt", cnt)
            object.__setattr__(self, f"{side}_start", np.r_[0, np.cumsum(cnt)[:-1]].astype(np.int64))
            object.__setattr__(self, f"{side}_has", np.flatnonzero(cnt > 0))


@dataclass
class PairMatrix:
    """Verdicts for every (src entity, dst entity): ``verdict[row[i, j]]`` over port atoms
    (0 deny, 1 unknown, 2 allow). Rows are distinct verdict vectors; the deciding rules of a
    pair come from ``Analysis.decided_by(pm, i, j)``."""

    src: list[Entity]
    dst: list[Entity]
    row: np.ndarray  # (len(src), len(dst)) int32
    verdict: np.ndarray  # (rows, atoms) int8
    excluded_self: bool = True
    blocks: _Blocks | None = None

    def include(self, i: int, j: int) -> bool:
        return not (self.excluded_self and self.src[i].name == self.dst[j].name and self.src[i].kind == "pod")


@dataclass
class Analysis:
    snapshot: Snapshot
    policies: PolicySet
    inventory: Inventory
    classes: ClassTable
    addresses: AddressClasses
    ports: PortSpace
    engine: Engine
    egress: DirectionResult
    ingress: DirectionResult
    options: AnalysisOptions
    _entities: dict[str, list[Entity]] = field(default_factory=dict)
    _behaviour: tuple[np.ndarray, np.ndarray] | None = None
    _bits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    # -- entities ------------------------------------------------------------------------------
    def entities(self, by: str) -> list[Entity]:
        if by not in LEVELS:
            raise ValueError(f"--by must be one of {', '.join(LEVELS)}")
        if by in self._entities:
            return self._entities[by]
        groups: dict[tuple[str, str], list[int]] = {}
        meta: dict[tuple[str, str], tuple[str, str | None]] = {}
        for i, ep in enumerate(self.inventory.endpoints):
            if ep.kind != "pod":  # external networks and Calico network sets
                key = ("external", ep.key)
                meta[key] = ("external", None)
            elif by == "pod":
                key = ("pod", ep.key)
                meta[key] = ("pod" if not ep.template else "workload", ep.namespace)
            elif by == "workload":
                key = ("workload", ep.workload)
                meta[key] = ("workload", ep.namespace)
            else:
                key = ("namespace", ep.namespace or "")
                meta[key] = ("namespace", ep.namespace)
            groups.setdefault(key, []).append(i)
        out = []
        for key in sorted(groups, key=lambda k: (k[0] == "external", k[1])):
            eps = groups[key]
            classes = sorted({c for i in eps for c in self.classes.endpoint_classes[i]})
            kind, ns = meta[key]
            out.append(Entity(name=key[1], kind=kind, namespace=ns, classes=tuple(classes), endpoints=tuple(eps)))
        self._entities[by] = out
        return out

    def find(self, name: str, by: str | None = None) -> tuple[Entity, str]:
        """Resolve ``--from/--to``: a pod ``ns/pod``, a workload ``ns/Kind/name`` or ``ns/name``,
        a namespace, or an external network."""
        levels = [by] if by else ["pod", "workload", "namespace"]
        for level in levels:
            for ent in self.entities(level):
                if ent.name == name:
                    return ent, level
        parts = name.split("/")
        if len(parts) == 2:
            hits = [e for e in self.entities("workload") if e.name.split("/")[0] == parts[0]
                    and e.name.split("/")[-1] == parts[1]]
            if len(hits) == 1:
                return hits[0], "workload"
            if len(hits) > 1:
                raise LookupError(f"{name!r} is ambiguous: {', '.join(e.name for e in hits)}")
        known = [e.name for e in self.entities("workload")][:8]
        raise LookupError(f"no pod, workload, namespace or external network named {name!r} (e.g. {', '.join(known)})")

    # -- class-level composition ------------------------------------------------------------
    def behaviour_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """Classes no verdict can tell apart: same σ and same peer group in every σ, both
        directions. Pair aggregation runs on these (e.g. pods split only by an ipBlock that
        no policy applies to them collapse again)."""
        if self._behaviour is None:
            parts = [
                self.egress.sigma_of[:, None],
                self.ingress.sigma_of[:, None],
                self.egress.group_of.T,
                self.ingress.group_of.T,
            ]
            sig = np.ascontiguousarray(np.concatenate(parts, axis=1).astype(np.int32))
            first, inv = unique_rows(sig)
            self._behaviour = (inv, first)
        return self._behaviour

    def combo_keys(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Key of (egress group, ingress group) for broadcastable class arrays (CMP-1)."""
        ge = self.egress.gid(src, dst).astype(np.int64)
        gi = self.ingress.gid(dst, src).astype(np.int64)
        return ge * self.ingress.verdict.shape[0] + gi

    def combo_verdicts(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        n_i = self.ingress.verdict.shape[0]
        ge, gi = np.divmod(keys, n_i)
        v = np.minimum(self.egress.verdict[ge], self.ingress.verdict[gi])  # DENY<UNKNOWN<ALLOW
        return v, self.egress.rule[ge], self.ingress.rule[gi]

    # -- entity pairs ---------------------------------------------------------------------------
    def group_bits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per group and 64-atom word: allow and deny bitsets of egress and ingress groups."""
        if self._bits is None:
            self._bits = (
                _pack(self.egress.verdict == ALLOW),
                _pack(self.egress.verdict == DENY),
                _pack(self.ingress.verdict == ALLOW),
                _pack(self.ingress.verdict == DENY),
            )
        return self._bits

    def pairs(self, by: str, src: Sequence[Entity] | None = None, dst: Sequence[Entity] | None = None) -> PairMatrix:
        """Every (src entity, dst entity) verdict over all port atoms, fully vectorised.

        A class pair's verdict is (egress group allow ∧ ingress group allow) as 64-atom bitsets;
        an entity pair ORs the bitsets of its class pairs (any-of) with ``bitwise_or.reduceat``
        over entity blocks. Identical verdict rows are stored once; the deciding rules are
        recovered on demand (``decided_by``), exactly, from the entity pair's class pairs.
        """
        ents = self.entities(by)
        src = list(src if src is not None else ents)
        dst = list(dst if dst is not None else ents)
        behaviour, rep = self.behaviour_classes()
        blocks = _Blocks(_flatten(src, behaviour, rep), len(src), _flatten(dst, behaviour, rep), len(dst))
        ae, de, ai, di = self.group_bits()
        n_words = ae.shape[1]
        n_s, n_t = len(src), len(dst)
        allow = np.zeros((n_s, n_t, n_words), dtype=np.uint64)
        unknown = np.zeros((n_s, n_t, n_words), dtype=np.uint64)
        valid_words = _pack(np.ones((1, len(self.ports)), dtype=bool))[0]
        t_has, s_has = blocks.t_has, blocks.s_has
        if s_has.size and t_has.size:
            per_row = max(1, _CHUNK_CELLS // max(1, blocks.t_cls.size))
            k = 0
            while k < s_has.size:
                # whole source entities per chunk, so the reduction over rows stays inside it
                rows = np.cumsum(blocks.s_cnt[s_has[k:]])
                stop = k + max(1, int(np.searchsorted(rows, per_row, side="right")))
                chunk = s_has[k:stop]
                lo = blocks.s_start[chunk[0]]
                hi = blocks.s_start[chunk[-1]] + blocks.s_cnt[chunk[-1]]
                sc = blocks.s_cls[lo:hi, None]
                tc = blocks.t_cls[None, :]
                ge = self.egress.gid(sc, tc)
                gi = self.ingress.gid(tc, sc)
                for w in range(n_words):
                    a = ae[ge, w] & ai[gi, w]
                    u = ~(a | de[ge, w] | di[gi, w]) & valid_words[w]
                    a = np.bitwise_or.reduceat(a, blocks.t_start[t_has], axis=1)
                    a = np.bitwise_or.reduceat(a, blocks.s_start[chunk] - lo, axis=0)
                    u = np.bitwise_or.reduceat(u, blocks.t_start[t_has], axis=1)
                    u = np.bitwise_or.reduceat(u, blocks.s_start[chunk] - lo, axis=0)
                    allow[np.ix_(chunk, t_has, [w])] = a[:, :, None]
                    unknown[np.ix_(chunk, t_has, [w])] = (u & ~a)[:, :, None]
                k = stop
        key = np.concatenate([allow, unknown], axis=2).reshape(n_s * n_t, 2 * n_words)
        valid = np.zeros((n_s, n_t), dtype=bool)
        valid[np.ix_(s_has, t_has)] = True
        row, first = _distinct_rows(key)
        verdict = _unpack(key[first], n_words, len(self.ports))
        row = row.reshape(n_s, n_t)
        if not valid.all():  # an entity with no address class left (fully shadowed network)
            verdict = np.concatenate([verdict, np.full((1, len(self.ports)), DENY, np.int8)])
            row[~valid] = verdict.shape[0] - 1
        return PairMatrix(src=src, dst=dst, row=row.astype(np.int32), verdict=verdict,
                          excluded_self=(by == "pod"), blocks=blocks)

    def witness_rules(self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Deciding egress and ingress rule per atom for entity pairs (ii, jj): those of the most
        permissive class pair at each atom (exact, computed in bounded chunks)."""
        b = pm.blocks
        ii = np.asarray(ii, dtype=np.int64)
        jj = np.asarray(jj, dtype=np.int64)
        n_atoms = len(self.ports)
        out_e = np.full((ii.size, n_atoms), self.engine.EXTERNAL, np.int32)
        out_i = np.full((ii.size, n_atoms), self.engine.EXTERNAL, np.int32)
        sizes = b.s_cnt[ii] * b.t_cnt[jj]
        budget = max(1, _CHUNK_CELLS // max(1, n_atoms))
        cols = np.arange(n_atoms)[None, :]
        k = 0
        while k < ii.size:
            csum = np.cumsum(sizes[k:])
            stop = k + max(1, int(np.searchsorted(csum, budget, side="right")))
            si, sj, sz = ii[k:stop], jj[k:stop], sizes[k:stop]
            seg = np.flatnonzero(sz > 0)
            if seg.size:
                total = int(sz.sum())
                owner = np.repeat(np.arange(sz.size), sz)
                off = np.arange(total) - np.repeat(np.cumsum(sz) - sz, sz)
                width = b.t_cnt[sj][owner]
                s_idx = b.s_start[si][owner] + off // width
                t_idx = b.t_start[sj][owner] + off % width
                v, re_, ri = self.combo_verdicts(self.combo_keys(b.s_cls[s_idx], b.t_cls[t_idx]))
                enc = v.astype(np.int64) * (1 << 40) + np.arange(total, dtype=np.int64)[:, None]
                best = np.maximum.reduceat(enc, (np.cumsum(sz) - sz)[seg], axis=0)
                witness = best & ((1 << 40) - 1)
                out_e[k + seg] = re_[witness, cols]
                out_i[k + seg] = ri[witness, cols]
            k = stop
        return out_e, out_i

    # -- words -------------------------------------------------------------------------------------
    def decided_by(self, pm: PairMatrix, i: int, j: int, atoms: np.ndarray | None = None) -> str:
        """Deciding rules of both sides of one entity pair (allowed atoms, else all)."""
        return self.decided_by_many(pm, np.array([i]), np.array([j]), None if atoms is None else [atoms])[0]

    def decided_by_many(
        self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, atoms: Sequence[np.ndarray] | None = None
    ) -> list[str]:
        """``decided_by`` for many pairs; identical evidence is formatted once."""
        re_, ri = self.witness_rules(pm, ii, jj)
        v = pm.verdict[pm.row[ii, jj]]
        cache: dict[bytes, str] = {}
        out: list[str] = []
        for k in range(len(ii)):
            at = atoms[k] if atoms is not None else None
            key = v[k].tobytes() + re_[k].tobytes() + ri[k].tobytes() + (b"" if at is None else np.asarray(at).tobytes())
            text = cache.get(key)
            if text is None:
                text = cache[key] = self._why(v[k], re_[k], ri[k], at)
            out.append(text)
        return out

    def _why(self, v: np.ndarray, re_: np.ndarray, ri: np.ndarray, atoms: np.ndarray | None) -> str:
        if atoms is None:
            if (v == ALLOW).any():
                atoms = np.flatnonzero(v == ALLOW)
            elif (v == UNKNOWN).any():
                atoms = np.flatnonzero(v == UNKNOWN)
            else:
                atoms = np.arange(v.shape[0])
        parts = []
        for side, table in (("egress", re_), ("ingress", ri)):
            ids = sorted({int(x) for x in table[atoms]})
            if not (v[atoms] == ALLOW).any():
                denying = [x for x in ids if self.engine.rules.actions[x] == "Deny"]
                ids = denying or ids  # a denied flow: name the side(s) that denied it
            texts = list(dict.fromkeys(self.engine.rules.text[x] for x in ids))
            if len(texts) > 3:
                texts = [*texts[:3], f"+{len(texts) - 3} more"]
            parts.append(f"{side}: " + " | ".join(texts))
        return "; ".join(parts)


def port_space(policies: PolicySet, inventory: Inventory) -> PortSpace:
    """Atoms cut at every numeric range rules mention and every named port's number."""
    cuts: dict[str, list[tuple[int, int]]] = {p: [] for p in PORT_PROTOCOLS}
    extra: set[str] = set()
    for pol in policies.policies:
        for rule in (*pol.ingress, *pol.egress):
            proto = _proto(rule.protocol)
            for value in (rule.protocol, rule.not_protocol):
                p = _proto(value)
                if p and p not in PORT_PROTOCOLS:
                    extra.add(p)
            for side in (rule.source, rule.destination):
                for pr in (*(side.ports or ()), *side.not_ports):
                    if pr.name is None:
                        for p in [proto] if proto in PORT_PROTOCOLS else list(PORT_PROTOCOLS):
                            cuts[p].append((pr.lo, pr.hi))
            for icmp in (rule.icmp, rule.not_icmp):  # CAL-27: ICMP types are atoms too
                if icmp is not None and proto in ICMP_PROTOCOLS:
                    cuts.setdefault(proto, []).append((icmp[0], icmp[0]))
    for ep in inventory.endpoints:
        for _, proto, number in ep.named_ports:
            if proto in cuts and 1 <= number <= 65535:
                cuts[proto].append((number, number))
    return PortSpace(cuts, extra)


def analyze(snapshot: Snapshot, options: AnalysisOptions | None = None) -> Analysis:
    """Snapshot → policies, endpoints, classes, and both directions evaluated."""
    options = options or AnalysisOptions()
    policies = compile_policies(snapshot, lenient=options.lenient, with_staged=options.with_staged)
    inventory = build_inventory(snapshot, options.externals)
    classes, addresses = build_classes(inventory, policies, pod_cidrs=options.pod_cidrs)
    ports = port_space(policies, inventory)
    matcher = Matcher(classes, addresses, ports)
    engine = Engine(policies, classes, matcher)
    egress = engine.run("egress")
    ingress = engine.run("ingress")
    return Analysis(
        snapshot=snapshot,
        policies=policies,
        inventory=inventory,
        classes=classes,
        addresses=addresses,
        ports=ports,
        engine=engine,
        egress=egress,
        ingress=ingress,
        options=options,
    )
