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
from auditor.reach.ports import PortSpace
from auditor.snapshot import Snapshot

LEVELS = ("pod", "workload", "namespace")
_CHUNK_CELLS = 4_000_000


def _flatten(entities: Sequence[Entity]) -> tuple[np.ndarray, np.ndarray]:
    """(entity index, class) for every class of every entity."""
    ent = [i for i, e in enumerate(entities) for _ in e.classes]
    cls = [c for e in entities for c in e.classes]
    return np.array(ent, dtype=np.int64), np.array(cls, dtype=np.int64)


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


@dataclass(frozen=True)
class Entity:
    """A row/column of the output: a pod, a workload, a namespace or an external network."""

    name: str
    kind: str  # pod | workload | namespace | external
    namespace: str | None
    classes: tuple[int, ...]
    endpoints: tuple[int, ...]


@dataclass
class PairMatrix:
    """Verdicts for every (src entity, dst entity): ``row[i, j]`` indexes ``verdict``."""

    src: list[Entity]
    dst: list[Entity]
    row: np.ndarray  # (len(src), len(dst)) int32
    verdict: np.ndarray  # (rows, atoms) int8
    egress_rule: np.ndarray  # (rows, atoms) deciding egress rule (witness)
    ingress_rule: np.ndarray  # (rows, atoms)
    excluded_self: bool = True

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

    # -- entities ------------------------------------------------------------------------------
    def entities(self, by: str) -> list[Entity]:
        if by not in LEVELS:
            raise ValueError(f"--by must be one of {', '.join(LEVELS)}")
        if by in self._entities:
            return self._entities[by]
        groups: dict[tuple[str, str], list[int]] = {}
        meta: dict[tuple[str, str], tuple[str, str | None]] = {}
        for i, ep in enumerate(self.inventory.endpoints):
            if ep.kind == "external":
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
    def pairs(self, by: str, src: Sequence[Entity] | None = None, dst: Sequence[Entity] | None = None) -> PairMatrix:
        """Every (src entity, dst entity) verdict over all port atoms, fully vectorised.

        Class pairs are mapped to (egress group, ingress group) *combos*; an entity pair is
        the set of combos of its class pairs, identified by an order-free 64-bit hash, so
        identical pairs share one row and only distinct rows are aggregated (max = any-of).
        """
        ents = self.entities(by)
        src = list(src if src is not None else ents)
        dst = list(dst if dst is not None else ents)
        n_s, n_t = len(src), len(dst)
        s_ent, s_cls = _flatten(src)
        t_ent, t_cls = _flatten(dst)
        row = np.full((n_s, n_t), -1, dtype=np.int64)
        sig_index: dict[int, int] = {}
        rep_keys: list[np.ndarray] = []
        step = max(1, _CHUNK_CELLS // max(1, t_cls.size))
        for lo in range(0, s_cls.size, step):
            keys = self.combo_keys(s_cls[lo : lo + step, None], t_cls[None, :])
            pair = s_ent[lo : lo + step, None] * n_t + t_ent[None, :]
            pair, keys = pair.ravel(), keys.ravel()
            order = np.lexsort((keys, pair))
            pair, keys = pair[order], keys[order]
            keep = np.ones(pair.size, dtype=bool)
            keep[1:] = (pair[1:] != pair[:-1]) | (keys[1:] != keys[:-1])
            pair, keys = pair[keep], keys[keep]
            starts = np.flatnonzero(np.r_[True, pair[1:] != pair[:-1]])
            hashes = np.add.reduceat(_mix(keys.astype(np.uint64)), starts)
            lengths = np.diff(np.r_[starts, pair.size])
            with np.errstate(over="ignore"):
                sigs = _mix(hashes ^ _mix(lengths.astype(np.uint64)))
            seg_pair = pair[starts]
            uniq, first, inv = np.unique(sigs, return_index=True, return_inverse=True)
            uid = np.empty(uniq.size, dtype=np.int64)
            for k, (sig, at) in enumerate(zip(uniq.tolist(), first.tolist(), strict=True)):
                r = sig_index.get(sig)
                if r is None:
                    r = sig_index[sig] = len(rep_keys)
                    rep_keys.append(keys[starts[at] : starts[at] + lengths[at]])
                uid[k] = r
            ids = uid[inv.reshape(-1)]
            # Segments of a chunk may continue in the next chunk only when one src entity spans
            # chunks; merge by keeping every segment and resolving duplicates below.
            prev = row.ravel()[seg_pair]
            clash = prev >= 0
            if clash.any():
                for k in np.flatnonzero(clash):
                    merged = np.unique(np.concatenate([rep_keys[int(prev[k])], rep_keys[int(ids[k])]]))
                    with np.errstate(over="ignore"):
                        h = np.add.reduce(_mix(merged.astype(np.uint64)))
                        sig = int(_mix(np.array([h ^ _mix(np.array([merged.size], np.uint64))[0]]))[0])
                    r = sig_index.get(sig)
                    if r is None:
                        r = sig_index[sig] = len(rep_keys)
                        rep_keys.append(merged)
                    ids[k] = r
            row.ravel()[seg_pair] = ids
        v, re_, ri = self._rows(rep_keys)
        if (row < 0).any():  # an entity with no address class left (fully shadowed network)
            v = np.concatenate([v, np.full((1, len(self.ports)), DENY, np.int8)])
            re_ = np.concatenate([re_, np.full((1, len(self.ports)), self.engine.EXTERNAL, np.int32)])
            ri = np.concatenate([ri, np.full((1, len(self.ports)), self.engine.EXTERNAL, np.int32)])
            row[row < 0] = v.shape[0] - 1
        return PairMatrix(src=src, dst=dst, row=row.astype(np.int32), verdict=v, egress_rule=re_, ingress_rule=ri,
                          excluded_self=(by == "pod"))

    def _rows(self, rep_keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Verdict and witness rules of each distinct combo set: the most permissive combo per atom."""
        n_atoms = len(self.ports)
        if not rep_keys:
            z = np.zeros((0, n_atoms))
            return z.astype(np.int8), z.astype(np.int32), z.astype(np.int32)
        lengths = np.array([k.size for k in rep_keys])
        flat = np.concatenate(rep_keys)
        v, re_, ri = self.combo_verdicts(flat)
        if (lengths == 1).all():
            return v.astype(np.int8), re_, ri
        starts = np.r_[0, np.cumsum(lengths)[:-1]]
        enc = v.astype(np.int64) * (1 << 40) + np.arange(flat.size, dtype=np.int64)[:, None]
        best = np.maximum.reduceat(enc, starts, axis=0)
        witness = best & ((1 << 40) - 1)
        cols = np.arange(n_atoms)[None, :]
        return (best >> 40).astype(np.int8), re_[witness, cols], ri[witness, cols]

    # -- words -------------------------------------------------------------------------------------
    def decided_by(self, pm: PairMatrix, r: int, atoms: np.ndarray | None = None) -> str:
        """Deciding rules of both sides over the relevant atoms (allowed ones, else all)."""
        v = pm.verdict[r]
        if atoms is None:
            if (v == ALLOW).any():
                atoms = np.flatnonzero(v == ALLOW)
            elif (v == UNKNOWN).any():
                atoms = np.flatnonzero(v == UNKNOWN)
            else:
                atoms = np.arange(v.shape[0])
        parts = []
        for side, table in (("egress", pm.egress_rule), ("ingress", pm.ingress_rule)):
            ids = sorted({int(x) for x in table[r, atoms]})
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
    for ep in inventory.endpoints:
        for _, proto, number in ep.named_ports:
            if proto in cuts and 1 <= number <= 65535:
                cuts[proto].append((number, number))
    return PortSpace(cuts, extra)


def analyze(snapshot: Snapshot, options: AnalysisOptions | None = None) -> Analysis:
    """Snapshot → policies, endpoints, classes, and both directions evaluated."""
    options = options or AnalysisOptions()
    policies = compile_policies(snapshot, lenient=options.lenient)
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
