"""One call from a snapshot to the full reachability result, and pair-level views of it.

``analyze`` runs the stages (policy IR, endpoints, classes, engine). ``Analysis.pairs``
aggregates class-level verdicts into the rows people read: pods, workloads or namespaces.
An entity spanning several classes (a namespace, an external network cut by ipBlocks) can
reach another if *any* of its classes can: the conservative reading for segmentation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from auditor.csvtext import dense_codes, first_positions
from auditor.errors import AuditorError
from auditor.policy.compile import compile_policies
from auditor.policy.ir import PORT_PROTOCOLS, EntityMatch, IPNetwork, PolicySet
from auditor.policy.istio import HBONE_PORT, ROOT_NAMESPACE, TRUST_DOMAIN, MeshPolicies, load_mesh
from auditor.reach.causebatch import pair_causes_many
from auditor.reach.classes import AddressClasses, ClassTable, build_classes
from auditor.reach.decision import CauseAttacher, DecidedBy, Decision, SideDecision, side_text
from auditor.reach.endpoints import DEFAULT_EXTERNALS, ExternalNetwork, Inventory, build_inventory
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, DirectionResult, Engine, ProgressFn
from auditor.reach.groupcodes import GroupCodes
from auditor.reach.l7.compile import Request, mesh_cuts, mesh_networks
from auditor.reach.l7.evaluate import L7Result
from auditor.reach.l7.layer import MeshLayer
from auditor.reach.matching import Matcher, _proto
from auditor.reach.paths import PathComposer, Paths, _spans
from auditor.reach.ports import ICMP_PROTOCOLS, PortSpace
from auditor.reach.rowhash import refine, unique_rows
from auditor.reach.uncertainty import CauseFinder
from auditor.reach.witness import Kinds, group_kinds, sequence_ids
from auditor.snapshot import Snapshot
from auditor.sources.validate import check_snapshot

LEVELS = ("pod", "workload", "namespace")
_CHUNK_CELLS = 4_000_000
_BEHAVIOUR_BYTES = 64 << 20  # partition columns refined per step in ``behaviour_classes``


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
        raw = np.ascontiguousarray(words).view(np.uint8).reshape(words.shape[0], words.shape[1] * 8)
        return np.unpackbits(raw, axis=1, bitorder="little")[:, :n_atoms].astype(bool)

    allow = bits(key[:, :n_words])
    unknown = bits(key[:, n_words:])
    return np.where(allow, ALLOW, np.where(unknown, UNKNOWN, DENY)).astype(np.int8)


IMPL_ASSUMPTIONS = (
    "Calico is the CNI: ipBlock matches pod and node IPs too (K8S-10, CAL-39)",
    "host-network pods are node traffic and are not policy endpoints (K8S-13)",
    "ingress from a pod's own node is always allowed and not shown (K8S-14)",
    "rules without ports match every protocol, ICMP included (K8S-17)",
    "ports are pod (target) ports after Service DNAT (K8S-16, CAL-47)",
    "a pod without an IP may have any address in the pod CIDRs (--pod-cidr; default all IPv4)",
)
MESH_ASSUMPTIONS = (
    "Istio: sidecar clients use auto-mTLS; DestinationRules are not read (IST-9)",
    "Istio: injection of pods not in the input is predicted with the injector's defaults (IST-2)",
    "Istio: request paths are normalized as with the default BASE normalization (IST-21)",
    "Istio: remoteIpBlocks/remote.ip equal the source IP (no trusted proxies, IST-19)",
    "Istio: Sidecar/outbound traffic policy is not a security control and is ignored (IST-5)",
)
ASSURANCES = ("none", "network", "identity", "network+identity", "unknown")


@dataclass(frozen=True)
class AnalysisOptions:
    externals: tuple[ExternalNetwork, ...] = DEFAULT_EXTERNALS
    pod_cidrs: tuple[IPNetwork, ...] = ()
    lenient: bool = False
    with_staged: bool = False  # evaluate Calico staged policies as if enforced (CAL-43)
    mesh_root_namespace: str = ROOT_NAMESPACE  # Istio meshConfig.rootNamespace (IST-7, IST-10)
    trust_domain: str = TRUST_DOMAIN
    dataplane: str | None = None  # who enforces admin network policies (ADM-14); None: detect


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
    pair come from ``Analysis.decided_by(pm, i, j)``.

    ``network[row]`` / ``identity[row]``: per atom, every path (class pair, request) that
    admits or may admit the flow was admitted by an L3/L4 rule that names its peer (labels,
    namespaces, service accounts, CIDRs) / by an Istio rule that needs a verified mTLS identity.
    ``request``: the ``--http`` request the Istio layer was evaluated for (None: any request)."""

    src: list[Entity]
    dst: list[Entity]
    row: np.ndarray  # (len(src), len(dst)) int32
    verdict: np.ndarray  # (rows, atoms) int8
    excluded_self: bool = True
    blocks: _Blocks | None = None
    network: np.ndarray | None = None  # (rows, atoms) bool
    identity: np.ndarray | None = None  # (rows, atoms) bool
    request: Request | None = None
    l7: L7Result | None = None  # the Istio verdicts the matrix used (None: no Istio layer)
    paths: PathComposer | None = None  # the entity pairs' paths (``reach/paths.py``)



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
    istio: MeshPolicies | None = None
    l7: MeshLayer | None = None  # None: no Istio object and no meshed pod
    block_cells: int = _CHUNK_CELLS  # class pairs per chunk of ``pairs``/``witness_rules`` (``--max-memory``)
    memory_budget: int | None = None  # ``--max-memory`` in bytes: the controls' unit matrices stream under it
    _entities: dict[str, list[Entity]] = field(default_factory=dict)
    _behaviour: tuple[np.ndarray, np.ndarray] | None = None
    _bits: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    _net_bits: tuple[np.ndarray, np.ndarray] | None = None
    _hbone: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
    _allow_rule: np.ndarray | None = None
    _causes: CauseFinder | None = None
    _side_memo: dict[tuple[Any, ...], tuple[SideDecision, str] | None] = field(default_factory=dict)
    _group_kinds: dict[tuple[str, int], tuple[Any, Kinds]] = field(default_factory=dict)
    _l7_bits: dict[Request | None, tuple[L7Result, np.ndarray, np.ndarray, np.ndarray]] = field(
        default_factory=dict)

    @property
    def l7_active(self) -> bool:
        """The Istio layer can change a verdict: some Istio security object is in the input (or
        could not be read). Meshed pods alone allow everything (PERMISSIVE, no policy)."""
        return self.l7 is not None and self.istio is not None and self.istio.present

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
        for item in self.inventory.excluded:  # K8S-13 / FLOW-2: present, but not a policy endpoint
            who, _, why = item.partition(": ")
            w = who.split("/")
            if who == name or (len(parts) == 2 and len(w) == 3 and w[0] == parts[0] and w[2] == parts[1]):
                raise LookupError(f"{who} is in the input but outside the pod model: {why}; its traffic is the "
                                  "node's, which NetworkPolicies do not select (host endpoints are not modelled)")
        known = [e.name for e in self.entities("workload")][:8]
        raise LookupError(f"no pod, workload, namespace or external network named {name!r} (e.g. {', '.join(known)})")

    # -- class-level composition ------------------------------------------------------------
    def behaviour_classes(self) -> tuple[np.ndarray, np.ndarray]:
        """Classes no verdict can tell apart: same σ and same peer group in every σ, both
        directions. Pair aggregation runs on these (e.g. pods split only by an ipBlock that
        no policy applies to them collapse again)."""
        if self._behaviour is None:
            # refined block by block (the partitions of many σs at once would be gigabytes at
            # 100,000 pods); ids in order of first appearance, so the result is that of one pass
            blocks: list[np.ndarray] = [self.egress.sigma_of[:, None], self.ingress.sigma_of[:, None]]
            for res in (self.egress, self.ingress):
                blocks += list(res.parts.class_major(_BEHAVIOUR_BYTES))
            if self.l7_active:
                assert self.l7 is not None
                blocks += [self.l7.result.sigma_of[:, None], self.l7.result.group_of.T]
            if self._hbone_atom() is not None:  # ambient pairs meet L3/L4 policy on 15008 (IST-28)
                blocks.append(self.classes.ambient[:, None])
            first, inv = refine(blocks, self.classes.n)
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

    def class_verdicts(self, s_cls: np.ndarray, t_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``combo_verdicts`` for class pairs (1-D arrays), with the ambient HBONE rule: between
        two ambient pods the L3/L4 layers see every TCP connection on port 15008 (IST-28, CMP-8)."""
        return self.group_verdicts(self.egress.gid(s_cls, t_cls), self.ingress.gid(t_cls, s_cls),
                                   self.classes.ambient[s_cls] & self.classes.ambient[t_cls])

    def group_verdicts(self, ge: np.ndarray, gi: np.ndarray, amb: np.ndarray | None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Verdict and deciding rules per atom of (egress group, ingress group) paths; ``amb``:
        both ends ambient, so every TCP atom takes port 15008's verdict (IST-28)."""
        v, re_, ri = self.combo_verdicts(ge.astype(np.int64) * self.ingress.verdict.shape[0] + gi)
        hb = self._hbone_atom()
        if hb is not None and amb is not None and amb.any():
            tcp = self.ports.protocol_mask("TCP")
            rows = np.flatnonzero(amb)
            for arr in (v, re_, ri):
                sub = arr[rows]
                sub[:, tcp] = sub[:, [hb]]
                arr[rows] = sub
        return v, re_, ri

    def _hbone_atom(self) -> int | None:
        if not self.classes.ambient.any():
            return None
        return self.ports.index_of("TCP", HBONE_PORT)

    def hbone_bits(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
        """``group_bits`` with every TCP atom taking the verdict of port 15008 (ambient↔ambient)."""
        hb = self._hbone_atom()
        if hb is None:
            return None
        if self._hbone is None:
            tcp = self.ports.protocol_mask("TCP")

            def sub(v: np.ndarray) -> np.ndarray:
                out = v.copy()
                out[:, tcp] = v[:, [hb]]
                return out

            e, i = sub(self.egress.verdict), sub(self.ingress.verdict)
            self._hbone = (_pack(e == ALLOW), _pack(e == DENY), _pack(i == ALLOW), _pack(i == DENY))
        return self._hbone

    def l7_result(self, request: Request | None = None) -> L7Result | None:
        """The Istio layer for any request (None) or one ``--http`` request; None when inactive."""
        if not self.l7_active:
            return None
        assert self.l7 is not None
        return self.l7.result if request is None else self.l7.view(request)

    def l7_bits(self, request: Request | None = None) -> tuple[L7Result, np.ndarray, np.ndarray, np.ndarray] | None:
        """Istio allow, deny and identity-required bitsets per L7 group."""
        res = self.l7_result(request)
        if res is None:
            return None
        hit = self._l7_bits.get(request)
        if hit is None:
            hit = self._l7_bits[request] = (res, _pack(res.verdict == ALLOW), _pack(res.verdict == DENY),
                                            _pack(res.identity))
        return hit

    def network_bits(self) -> tuple[np.ndarray, np.ndarray]:
        """Per egress/ingress group: atoms allowed by a rule that names its peer (the network factor)."""
        if self._net_bits is None:
            out = []
            for d, res in (("egress", self.egress), ("ingress", self.ingress)):
                names = np.zeros(len(self.engine.rules.text), dtype=bool)
                for compiled in self.engine._compiled[d]:
                    for cr in compiled:
                        names[cr.rid] = _names_peer(cr.peer)
                out.append(_pack((res.verdict == ALLOW) & names[res.rule]))
            self._net_bits = (out[0], out[1])
        return self._net_bits

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

    def pairs(self, by: str, src: Sequence[Entity] | None = None, dst: Sequence[Entity] | None = None,
              request: Request | None = None) -> PairMatrix:
        """Every (src entity, dst entity) verdict over all port atoms, fully vectorised.

        A class pair's verdict is (egress group allow ∧ ingress group allow ∧ Istio allow) as
        64-atom bitsets (CMP-1); an entity pair ORs the bitsets of its class pairs (any-of) with
        ``bitwise_or.reduceat`` over entity blocks. The assurance bits OR the class pairs that
        admit (or may admit) a flow *without* the factor, so a factor holds for the entity pair
        only if it holds on every admitting path. Identical rows are stored once; the deciding
        rules are recovered on demand (``decided_by``), exactly, from the entity pair's class pairs.
        ``request``: evaluate the Istio layer for one HTTP request instead of "any request".
        """
        ents = self.entities(by)
        src = list(src if src is not None else ents)
        dst = list(dst if dst is not None else ents)
        behaviour, rep = self.behaviour_classes()
        blocks = _Blocks(_flatten(src, behaviour, rep), len(src), _flatten(dst, behaviour, rep), len(dst))
        l7 = self.l7_bits(request)
        hbone = self.hbone_bits()
        n_words = self.group_bits()[0].shape[1]
        n_s, n_t = len(src), len(dst)
        _check_room(n_s, n_t)
        valid_words = _pack(np.ones((1, len(self.ports)), dtype=bool))[0]
        t_has, s_has = blocks.t_has, blocks.s_has
        fast = None
        if n_s and n_t and bool((blocks.s_cnt == 1).all()) and bool((blocks.t_cnt == 1).all()):
            fast = self._single_class_rows(blocks.s_cls, blocks.t_cls, l7, hbone, valid_words)
        # allow, unknown, admitted-without-network-factor, admitted-without-identity, per word
        out = np.zeros((4, n_s, n_t, n_words) if fast is None else (4, 0, 0, n_words), dtype=np.uint64)
        composer = None  # built only where entities span several classes (witness_rules builds it on demand)
        if fast is None and s_has.size and t_has.size:
            composer = self._composer(blocks, l7[0] if l7 is not None else None, hbone is not None)
            for chunk in composer.chunks(s_has, self.block_cells):
                side = composer.source_side(chunk)
                for lo, hi in composer.row_spans(side, chunk, t_has, self.block_cells):
                    rows_ = chunk[lo:hi]
                    paths = composer.paths(side, np.repeat(rows_, t_has.size), np.tile(t_has, rows_.size))
                    for w in range(n_words):
                        parts = self._word_bits(w, paths.ge, paths.gi, paths.gl, paths.amb, l7, hbone, valid_words)
                        for n, bits in enumerate(parts):  # any-of over an entity pair's paths
                            bits = np.bitwise_or.reduceat(bits, paths.start).reshape(rows_.size, t_has.size)
                            if n == 1:
                                bits &= ~out[0][np.ix_(rows_, t_has, [w])][:, :, 0]
                            out[n][np.ix_(rows_, t_has, [w])] = bits[:, :, None]
        valid = None  # cells of entities with an address class (all of them, but for a fully shadowed network)
        if s_has.size != n_s or t_has.size != n_t:
            valid = np.zeros((n_s, n_t), dtype=bool)
            valid[np.ix_(s_has, t_has)] = True
        if fast is None:
            key = np.concatenate(list(out), axis=2).reshape(n_s * n_t, 4 * n_words)
            first, row = unique_rows(key)
            distinct = key[first]
        else:
            row, distinct = fast
        n_atoms = len(self.ports)
        verdict = _unpack(distinct[:, : 2 * n_words], n_words, n_atoms)
        allowed = verdict == ALLOW
        network = allowed & ~_bits(distinct[:, 2 * n_words : 3 * n_words], n_atoms)
        identity = allowed & ~_bits(distinct[:, 3 * n_words :], n_atoms)
        row = row.reshape(n_s, n_t)
        if valid is not None and not valid.all():  # an entity with no address class left (fully shadowed network)
            verdict = np.concatenate([verdict, np.full((1, n_atoms), DENY, np.int8)])
            network = np.concatenate([network, np.zeros((1, n_atoms), bool)])
            identity = np.concatenate([identity, np.zeros((1, n_atoms), bool)])
            row[~valid] = verdict.shape[0] - 1
        return PairMatrix(src=src, dst=dst, row=row.astype(np.int32, copy=False), verdict=verdict,
                          excluded_self=(by == "pod"), blocks=blocks, network=network, identity=identity,
                          request=request, l7=l7[0] if l7 is not None else None, paths=composer)

    def pair_blocks(self, by: str, src: Sequence[Entity] | None = None, dst: Sequence[Entity] | None = None,
                    request: Request | None = None, *, rows: int | None = None) -> Iterator[PairMatrix]:
        """``pairs`` in row blocks: ``rows`` consecutive source entities at a time against every
        destination (all at once when None), so no consumer needs the whole matrix. Each block
        is the ``pairs`` of its sources: the same verdicts, evidence and assurance per pair."""
        src = list(src if src is not None else self.entities(by))
        dst = list(dst if dst is not None else self.entities(by))
        step = max(1, rows or len(src) or 1)
        if not src:
            yield self.pairs(by, src, dst, request)
            return
        for k in range(0, len(src), step):
            yield self.pairs(by, src[k:k + step], dst, request)

    def single_class_codes_fit(self, l7: Any, hbone: Any) -> bool:
        """Whether ``combo_codes`` can code a cell's (egress, ingress, Istio, ambient) groups in
        62 bits (``l7``/``hbone``: as ``pairs`` passes them)."""
        n_ge, n_gi = self.egress.verdict.shape[0], self.ingress.verdict.shape[0]
        n_gl = l7[0].verdict.shape[0] if l7 is not None else 1
        n_amb = 2 if hbone is not None else 1
        return n_ge * n_gi * n_gl * n_amb < 1 << 62

    def _single_class_rows(self, s_cls: np.ndarray, t_cls: np.ndarray,
                           l7: tuple[L7Result, np.ndarray, np.ndarray, np.ndarray] | None,
                           hbone: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None,
                           valid_words: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """``pairs`` when every entity has one behaviour class (e.g. the controls' units): a cell's
        key is a function of its (egress group, ingress group, Istio group, ambient) combination,
        so it is computed once per distinct combination instead of once per cell, and no
        reduction over class blocks is needed. Returns (row id per cell, distinct key rows),
        numbered as the general path numbers them (first appearance in row-major cell order);
        None when the combination codes would not fit in 62 bits."""
        if not self.single_class_codes_fit(l7, hbone):
            return None
        if l7 is None and hbone is None:  # the common case, gathered cache-friendly (int32 when it fits)
            code = GroupCodes(self.egress, self.ingress, t_cls).of(s_cls)
        else:
            code = self.combo_codes(s_cls[:, None], t_cls[None, :], l7, hbone)
        inv, combos = pd.factorize(code.reshape(-1))  # combos in order of first appearance
        del code
        key = self.combo_key_rows(np.asarray(combos, dtype=np.int64), l7, hbone, valid_words)
        first, inv_k = unique_rows(key)
        return inv_k.astype(np.int32)[inv], key[first]

    def combo_codes(self, sc: np.ndarray, tc: np.ndarray, l7: Any, hbone: Any) -> np.ndarray:
        """One int64 code per cell of broadcastable source/destination class arrays: its
        (egress group, ingress group, Istio group, ambient) combination."""
        n_gi = self.ingress.verdict.shape[0]
        code = self.egress.gid(sc, tc).astype(np.int64) * n_gi + self.ingress.gid(tc, sc)
        if l7 is not None:
            code = code * l7[0].verdict.shape[0] + l7[0].gid(tc, sc)
        if hbone is not None:
            code = code * 2 + (self.classes.ambient[sc] & self.classes.ambient[tc])
        return code

    def combo_key_rows(self, combos: np.ndarray, l7: Any, hbone: Any, valid_words: np.ndarray) -> np.ndarray:
        """The key row (allow, unknown, admitted without the network / identity factor, per
        64-atom word) of each combination code of ``combo_codes``."""
        n_gi = self.ingress.verdict.shape[0]
        amb = None
        if hbone is not None:
            combos, amb_i = np.divmod(combos, 2)
            amb = amb_i.astype(bool)
        gl = None
        if l7 is not None:
            combos, gl = np.divmod(combos, l7[0].verdict.shape[0])
        ge, gi = np.divmod(combos, n_gi)
        n_words = self.group_bits()[0].shape[1]
        key = np.zeros((combos.size, 4 * n_words), dtype=np.uint64)
        for w in range(n_words):
            a, u, without_network, without_identity = self._word_bits(w, ge, gi, gl, amb, l7, hbone, valid_words)
            key[:, w] = a
            key[:, n_words + w] = u & ~a
            key[:, 2 * n_words + w] = without_network
            key[:, 3 * n_words + w] = without_identity
        return key

    def _word_bits(self, w: int, ge: np.ndarray, gi: np.ndarray, gl: np.ndarray | None, amb: np.ndarray | None,
                   l7: Any, hbone: Any, valid_words: np.ndarray) -> list[np.ndarray]:
        """One 64-atom word of a class pair's composed verdict (CMP-1): allow bits, unknown bits,
        and the bits admitted without the network factor / without the identity factor."""
        ae, de, ai, di = self.group_bits()
        ne, ni = self.network_bits()

        def at(table: np.ndarray, idx: np.ndarray) -> np.ndarray:
            # one contiguous column, then a flat take: ~30 % faster than table[idx, w]
            return np.take(np.ascontiguousarray(table[:, w]), idx)

        a = at(ae, ge) & at(ai, gi)
        denied = at(de, ge) | at(di, gi)
        if amb is not None and hbone is not None:  # IST-28: HBONE on 15008
            a = np.where(amb, at(hbone[0], ge) & at(hbone[2], gi), a)
            denied = np.where(amb, at(hbone[1], ge) | at(hbone[3], gi), denied)
        if l7 is not None:
            a &= at(l7[1], gl)
            denied |= at(l7[2], gl)
        u = ~(a | denied) & valid_words[w]
        admits = a | u
        return [a, u, admits & ~(at(ne, ge) | at(ni, gi)), admits & ~at(l7[3], gl) if l7 is not None else admits]

    def assurance(self, pm: PairMatrix, i: int, j: int, atoms: np.ndarray | None = None) -> str:
        """How an entity pair's allowed flows are admitted (at ``atoms``, default all):
        ``network`` (every admitting path passes an L3/L4 rule naming its peer by labels,
        namespace, service account or CIDR), ``identity`` (every admitting path passes an Istio
        rule that needs an mTLS-verified principal), ``network+identity`` (both: the two-factor
        property), ``none``; ``unknown`` when nothing is certainly allowed but something may be;
        ``""`` when denied."""
        r = int(pm.row[i, j])
        v = pm.verdict[r] if atoms is None else pm.verdict[r][np.asarray(atoms, dtype=np.int64)]
        ok = v == ALLOW
        if not ok.any():
            return "unknown" if (v == UNKNOWN).any() else ""
        assert pm.network is not None and pm.identity is not None
        net = pm.network[r] if atoms is None else pm.network[r][np.asarray(atoms, dtype=np.int64)]
        ide = pm.identity[r] if atoms is None else pm.identity[r][np.asarray(atoms, dtype=np.int64)]
        n, d = bool(net[ok].all()), bool(ide[ok].all())
        return "network+identity" if n and d else "network" if n else "identity" if d else "none"

    def mesh_facts(self, entity: Entity) -> list[dict[str, object]]:
        """Istio facts of an entity's classes (sidecar, principal, mTLS mode and protocol per
        port, attached AuthorizationPolicies); ``[]`` without an Istio layer or for externals."""
        if self.l7 is None or entity.kind == "external":
            return []
        return [self.l7.facts(c) for c in entity.classes]

    def _composer(self, b: _Blocks, l7: L7Result | None, hbone: bool) -> PathComposer:
        return PathComposer(self.egress, self.ingress, l7, self.classes.ambient if hbone else None,
                            (b.s_cls, b.s_start, b.s_cnt), (b.t_cls, b.t_start, b.t_cnt))

    def witness_rules(
        self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Deciding egress, ingress and Istio rule per atom for entity pairs (ii, jj): those of
        the last most permissive class pair at each atom (exact: read off the pair's paths,
        ``reach/paths.py``, in bounded chunks). The Istio array is None without an Istio layer."""
        wid, out_e, out_i, out_l = self.witness_ids(pm, ii, jj)
        return out_e[wid], out_i[wid], None if out_l is None else out_l[wid]

    def _kinds(self, side: str, res: Any) -> Kinds:
        """``group_kinds`` of one layer's groups, once per layer (the Istio layer per request view)."""
        key = (side, id(res))
        hit = self._group_kinds.get(key)
        if hit is None or hit[0] is not res:
            hit = self._group_kinds[key] = (res, group_kinds(res.verdict, res.rule))
        return hit[1]

    def witness_ids(
        self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """``witness_rules`` once per distinct sequence of path kinds (``reach/witness.py``):
        (witness id per pair, then the egress, ingress and Istio rules per atom of each id).
        Id 0 is the pairs with no class on a side (every rule EXTERNAL)."""
        b = pm.blocks
        assert b is not None
        ii = np.asarray(ii, dtype=np.int64)
        jj = np.asarray(jj, dtype=np.int64)
        l7 = pm.l7
        composer = pm.paths or self._composer(b, l7, self.hbone_bits() is not None)
        live = np.flatnonzero((b.s_cnt[ii] > 0) & (b.t_cnt[jj] > 0))
        live = live[np.argsort(ii[live], kind="stable")]
        budget = max(1, self.block_cells // max(1, len(self.ports)))
        hb = self._hbone_atom()
        kinds = [self._kinds("egress", self.egress), self._kinds("ingress", self.ingress)]
        if l7 is not None:
            kinds.append(self._kinds("istio", l7))
        ats: list[np.ndarray] = []
        counts: list[np.ndarray] = []
        rows: list[np.ndarray] = []
        by_i = ii[live]
        for chunk in composer.chunks(np.unique(by_i), self.block_cells):
            side = composer.source_side(chunk)
            mine = live[np.searchsorted(by_i, chunk[0]): np.searchsorted(by_i, chunk[-1], side="right")]
            for lo, hi in composer.pair_spans(side, ii[mine], jj[mine], budget):
                at = mine[lo:hi]
                paths = composer.paths(side, ii[at], jj[at])
                groups = [paths.ge, paths.gi] + ([paths.gl] if l7 is not None else [])
                cols = [k.kind[g].astype(np.int32) for k, g in zip(kinds, groups, strict=True)]
                if hb is not None:
                    cols.append(np.zeros(paths.ge.size, np.int32) if paths.amb is None else paths.amb.astype(np.int32))
                ats.append(at)
                counts.append(paths.count)
                rows.append(np.stack(cols, axis=1))
        at = np.concatenate(ats) if ats else np.zeros(0, np.int64)
        count = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        row = np.concatenate(rows) if rows else np.zeros((0, len(kinds) + (hb is not None)), np.int32)
        seq, first = sequence_ids(count, row)
        wid = np.zeros(ii.size, dtype=np.int64)
        wid[at] = seq + 1
        return (wid, *self._witness_of(kinds, count[first], (np.cumsum(count) - count)[first], row, l7, hb, budget))

    def _witness_of(self, kinds: list[Kinds], cnt: np.ndarray, start: np.ndarray, row: np.ndarray,
                    l7: L7Result | None, hb: int | None, budget: int
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The witness rules of each distinct kind sequence (``row[start[k] : start[k] + cnt[k]]``),
        read off paths through one group of each kind; row 0 is the no-class witness."""
        n_atoms = len(self.ports)
        n_u = cnt.size + 1
        out_e = np.full((n_u, n_atoms), self.engine.EXTERNAL, np.int32)
        out_i = np.full((n_u, n_atoms), self.engine.EXTERNAL, np.int32)
        out_l = np.zeros((n_u, n_atoms), np.int32) if l7 is not None else None
        cols = np.arange(n_atoms)
        hb_cols = cols.copy()  # IST-28: between ambient pods every TCP atom reads port 15008
        if hb is not None:
            hb_cols[self.ports.protocol_mask("TCP")] = hb
        for lo, hi in _spans(cnt, budget):
            c = cnt[lo:hi]
            local = np.cumsum(c) - c
            idx = np.repeat(start[lo:hi] - local, c) + np.arange(int(c.sum()))
            r = row[idx]
            paths = Paths(start=local, count=c, ge=kinds[0].rep[r[:, 0]], gi=kinds[1].rep[r[:, 1]],
                          gl=kinds[2].rep[r[:, 2]] if l7 is not None else None,
                          amb=r[:, -1].astype(bool) if hb is not None else None)
            self._witness_paths(paths, np.arange(lo + 1, hi + 1), cols, hb_cols if hb is not None else None, l7,
                                (out_e, out_i, out_l))
        return out_e, out_i, out_l

    def _witness_paths(self, paths: Paths, at: np.ndarray, cols: np.ndarray, hb_cols: np.ndarray | None,
                       l7: L7Result | None, out: tuple[np.ndarray, np.ndarray, np.ndarray | None]) -> None:
        """Write the rules of the last path with the best verdict, per atom, of the pairs ``at``.
        A pair of one path (most pairs of single-class entities) takes that path's rule rows."""
        out_e, out_i, out_l = out
        amb = paths.amb if hb_cols is not None and paths.amb is not None and paths.amb.any() else None
        one = paths.count == 1
        if one.any():
            k = paths.start[one]
            ge, gi = paths.ge[k], paths.gi[k]
            re_, ri = np.take(self.egress.rule, ge, axis=0), np.take(self.ingress.rule, gi, axis=0)
            if amb is not None and hb_cols is not None and amb[k].any():
                a = np.flatnonzero(amb[k])
                re_[a] = self.egress.rule[ge[a]][:, hb_cols]
                ri[a] = self.ingress.rule[gi[a]][:, hb_cols]
            out_e[at[one]], out_i[at[one]] = re_, ri
            if l7 is not None and out_l is not None and paths.gl is not None:
                out_l[at[one]] = np.take(l7.rule, paths.gl[k], axis=0)
        many = np.flatnonzero(~one)
        if not many.size:
            return
        cnt = paths.count[many]
        idx = np.repeat(paths.start[many] - (np.cumsum(cnt) - cnt), cnt) + np.arange(int(cnt.sum()))
        start = np.cumsum(cnt) - cnt
        ge, gi = paths.ge[idx], paths.gi[idx]
        p_amb = amb[idx] if amb is not None else None
        view = cols[None, :] if p_amb is None or hb_cols is None else \
            np.where(p_amb[:, None], hb_cols[None, :], cols[None, :])
        # verdicts only (int8) per path; the rules are read for the witnesses alone
        v = np.minimum(self.egress.verdict[ge[:, None], view], self.ingress.verdict[gi[:, None], view])
        gl = paths.gl[idx] if l7 is not None and paths.gl is not None else None
        if l7 is not None and gl is not None:
            v = np.minimum(v, np.take(l7.verdict, gl, axis=0))
        # the last path (in class-pair order) with the pair's best verdict at each atom
        best = np.maximum.reduceat(v, start, axis=0)
        owner = np.repeat(np.arange(many.size), cnt)
        index = np.where(v == best[owner], np.arange(v.shape[0], dtype=np.int32)[:, None], np.int32(-1))
        witness = np.maximum.reduceat(index, start, axis=0)
        w_view = cols[None, :] if p_amb is None or hb_cols is None else \
            np.where(p_amb[witness], hb_cols[None, :], cols[None, :])
        rows = at[many]
        out_e[rows] = self.egress.rule[ge[witness], w_view]
        out_i[rows] = self.ingress.rule[gi[witness], w_view]
        if l7 is not None and out_l is not None and gl is not None:
            out_l[rows] = l7.rule[gl[witness], cols[None, :]]

    # -- deciding rules ------------------------------------------------------------------------------
    def decided_by(self, pm: PairMatrix, i: int, j: int, atoms: np.ndarray | None = None) -> DecidedBy:
        """Deciding rules of both sides of one entity pair (allowed atoms, else all)."""
        return self.decided_by_many(pm, np.array([i]), np.array([j]), None if atoms is None else [atoms])[0]

    def decided_by_many(
        self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, atoms: Sequence[np.ndarray] | None = None
    ) -> list[DecidedBy]:
        """``decided_by`` for many pairs; identical evidence is worked out once."""
        return self._with_causes(pm, ii, jj, atoms, self._decided_by_many(pm, ii, jj, atoms))

    def cause_finder(self) -> CauseFinder:
        """Names the causes of unknown cells (one per analysis: it caches per distinct cell)."""
        if self._causes is None:
            self._causes = CauseFinder(self)
        return self._causes

    def _with_causes(self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, atoms: Sequence[np.ndarray] | None,
                     whys: list[DecidedBy]) -> list[DecidedBy]:
        """Attach the causes of every unknown pair (derived on demand, ``reach/uncertainty.py``)."""
        # per distinct verdict row, then per pair (not a pairs × atoms gather)
        unknown = (pm.verdict == UNKNOWN).any(axis=1)[pm.row[np.asarray(ii), np.asarray(jj)]] if len(ii) \
            else np.zeros(0, bool)
        if not unknown.any():
            return whys
        out = list(whys)
        ks = np.flatnonzero(unknown)
        b = pm.blocks
        if b is None:
            return whys
        i_k, j_k = np.asarray(ii)[ks], np.asarray(jj)[ks]
        unk = pm.verdict[pm.row[i_k, j_k]] == UNKNOWN
        if atoms is not None:
            mask = np.zeros_like(unk)
            if all(atoms[k] is atoms[ks[0]] for k in ks.tolist()):  # one atom list for all (port rows)
                mask[:, np.asarray(atoms[ks[0]], dtype=np.int64)] = True
            else:
                for n, k in enumerate(ks.tolist()):
                    mask[n, np.asarray(atoms[k], dtype=np.int64)] = True
            unk &= mask
        if bool(((b.s_cnt[i_k] == 1) & (b.t_cnt[j_k] == 1)).all()):  # one class each: one numpy pass
            own_s, own_t = self.cause_finder().own_blocks(pm)  # the entities' own classes, not their behaviour's
            found = self.cause_finder().single_class_causes(pm, own_s[b.s_start[i_k]], own_t[b.t_start[j_k]], unk,
                                                             i_k, j_k)
        else:  # entities of several classes: their class pairs enumerated with numpy (``causebatch``)
            found = pair_causes_many(self.cause_finder(), pm, i_k, j_k, unk)
        return _attach_causes(whys, ks, found, out)

    def _decided_by_many(
        self, pm: PairMatrix, ii: np.ndarray, jj: np.ndarray, atoms: Sequence[np.ndarray] | None = None
    ) -> list[DecidedBy]:
        """The evidence of each distinct (witness id, verdict row), put in words once."""
        ii = np.asarray(ii, dtype=np.int64)
        jj = np.asarray(jj, dtype=np.int64)
        wid, out_e, out_i, out_l = self.witness_ids(pm, ii, jj)
        row = pm.row[ii, jj].astype(np.int64)
        d = dense_codes(wid * pm.verdict.shape[0] + row)
        first = first_positions(d)
        v, w = pm.verdict[row[first]], wid[first]
        re_, ri, rl = out_e[w], out_i[w], None if out_l is None else out_l[w]
        shared = atoms is None or (len(atoms) > 0 and all(a is atoms[0] for a in atoms))
        if shared:
            at = None if atoms is None else atoms[0]
            if first.size > 64:
                # each side's words are worked out once per distinct (allowed, rules met at the
                # atoms read), and an entry's evidence joins its sides' words
                made = self._why_by_sides(v, re_, ri, at, rl)
            else:
                made = [self._why(v[k], re_[k], ri[k], at, None if rl is None else rl[k]) for k in range(first.size)]
            return list(map(made.__getitem__, d.tolist()))
        assert atoms is not None
        cache: dict[tuple[int, bytes], DecidedBy] = {}
        out: list[DecidedBy] = []
        for k, c in enumerate(d.tolist()):
            at_k = atoms[k]
            key = (c, np.asarray(at_k).tobytes())
            hit = cache.get(key)
            if hit is None:
                hit = cache[key] = self._why(v[c], re_[c], ri[c], at_k, None if rl is None else rl[c])
            out.append(hit)
        return out

    def _why_atoms(self, v: np.ndarray, re_: np.ndarray, ri: np.ndarray, atoms: np.ndarray | None,
                   rl: np.ndarray | None) -> np.ndarray:
        """(pairs × atoms) the atoms ``_why`` reads for each pair, for many pairs at once."""
        if atoms is not None:
            sel = np.zeros(v.shape, dtype=bool)
            sel[:, np.asarray(atoms, dtype=np.int64)] = True
            return sel
        allow, unknown = v == ALLOW, v == UNKNOWN
        rest = np.ones(v.shape, dtype=bool)
        if rl is not None:  # admitted at L3/L4 on some atoms: Istio is what denies there
            if self._allow_rule is None:
                self._allow_rule = np.array([x == "Allow" for x in self.engine.rules.actions], dtype=bool)
            l4 = self._allow_rule[re_] & self._allow_rule[ri]
            rest = np.where(l4.any(axis=1, keepdims=True), l4, True)
        return np.where(allow.any(axis=1, keepdims=True), allow,
                        np.where(unknown.any(axis=1, keepdims=True), unknown, rest))

    def _why_by_sides(self, v: np.ndarray, re_: np.ndarray, ri: np.ndarray, atoms: np.ndarray | None,
                      rl: np.ndarray | None) -> list[DecidedBy]:
        """``[_why(...) for each pair]`` without a Python step per pair: the rows of each side
        (its rule ids at the atoms read, and whether the pair is allowed there) are grouped with
        numpy, each distinct side is put in words once (``_side_decision``), and the pairs'
        distinct side combinations are joined."""
        sel = self._why_atoms(v, re_, ri, atoms, rl)
        allowed = ((v == ALLOW) & sel).any(axis=1)
        tables = [("egress", re_, self.engine.rules), ("ingress", ri, self.engine.rules)]
        if rl is not None and self.l7 is not None:
            tables.append(("istio", rl, self.l7.rules))
        codes: list[np.ndarray] = []
        words: list[list[tuple[SideDecision, str] | None]] = []
        for side, table, rules in tables:
            first, inv = unique_rows(_side_key(allowed, sel, table))
            codes.append(inv)
            words.append([self._side_decision(side, rules, bool(allowed[f]), table[f][sel[f]])
                          for f in first.tolist()])
        combo = codes[0]
        for inv, w in zip(codes[1:], words[1:], strict=True):
            combo = dense_codes(combo * len(w) + inv)
        first = first_positions(combo)
        # per distinct combination: the sides named (a side of None is left out) and the text,
        # joined with numpy over object arrays rather than one Python step per combination
        text: np.ndarray | None = None
        named: list[list[SideDecision | None]] = []
        for c, w in zip(codes, words, strict=True):
            at = c[first]
            piece = np.array(["" if x is None else x[1] for x in w], dtype=object)[at]
            sides = np.empty(len(w), dtype=object)  # filled item by item: numpy must not unpack them
            sides[:] = [None if x is None else x[0] for x in w]
            named.append(sides[at].tolist())
            if text is None:
                text = piece
            else:
                present = np.array([x is not None for x in w], dtype=bool)[at]
                text = text + np.where(present, "; ", "").astype(object) + piece
        assert text is not None
        texts = text.tolist()
        if any(x is None for w in words for x in w):  # a side left out somewhere (few distinct sides)
            made = [DecidedBy.of_sides([s for s in group if s is not None], t)
                    for t, *group in zip(texts, *named, strict=True)]
        else:  # every side named (no Istio side left out): zip's tuples are the sides as they are
            made = list(map(DecidedBy.of_sides, zip(*named, strict=True), texts))
        return list(map(made.__getitem__, combo.tolist()))

    def _side_decision(self, side: str, rules: Any, allowed: bool, met: np.ndarray) -> tuple[SideDecision, str] | None:
        """One side of ``_why`` and its words, memoised by (side, allowed, rule ids met)."""
        ids = sorted({int(x) for x in met})
        key = (side, allowed, tuple(ids))
        if key in self._side_memo:
            return self._side_memo[key]
        found: tuple[SideDecision, str] | None
        if side == "istio" and not allowed and all(rules.actions[x] == "Allow" for x in ids):
            found = None  # the Istio layer did not take part in the denial
        else:
            if not allowed:
                denying = [x for x in ids if rules.actions[x] == "Deny"]
                ids = denying or ids  # a denied flow: name the side(s) that denied it
            # one entry per distinct text, in rule-id order; at most three named
            firsts: dict[str, Decision] = {}
            for x in ids:
                firsts.setdefault(rules.text[x], rules.decisions[x])
            decisions = list(firsts.values())
            more = len(decisions) - 3 if len(decisions) > 3 else 0
            sd = SideDecision(side, tuple(decisions[:3]), more)
            found = (sd, side_text(sd))
        self._side_memo[key] = found
        return found

    def _why(self, v: np.ndarray, re_: np.ndarray, ri: np.ndarray, atoms: np.ndarray | None,
             rl: np.ndarray | None = None) -> DecidedBy:
        if atoms is None:
            if (v == ALLOW).any():
                atoms = np.flatnonzero(v == ALLOW)
            elif (v == UNKNOWN).any():
                atoms = np.flatnonzero(v == UNKNOWN)
            else:
                atoms = np.arange(v.shape[0])
                if rl is not None:  # admitted at L3/L4 on some atoms: Istio is what denies there
                    if self._allow_rule is None:
                        self._allow_rule = np.array([x == "Allow" for x in self.engine.rules.actions], dtype=bool)
                    l4 = self._allow_rule[re_] & self._allow_rule[ri]
                    if l4.any():
                        atoms = np.flatnonzero(l4)
        allowed = bool((v[atoms] == ALLOW).any())
        sides = [("egress", re_, self.engine.rules), ("ingress", ri, self.engine.rules)]
        if rl is not None and self.l7 is not None:
            sides.append(("istio", rl, self.l7.rules))
        found = [self._side_decision(side, rules, allowed, table[atoms]) for side, table, rules in sides]
        kept = [f for f in found if f is not None]
        return DecidedBy.of_sides([f[0] for f in kept], "; ".join(f[1] for f in kept))


def _attach_causes(whys: list[DecidedBy], ks: np.ndarray, found: Sequence[Any], out: list[DecidedBy]
                   ) -> list[DecidedBy]:
    """``out[k]`` = ``whys[k]`` with the causes ``found`` for it, one object per (decision,
    causes) pair: the rows share them downstream."""
    made: dict[tuple[int, int], DecidedBy] = {}
    attach = CauseAttacher()  # ``with_causes``, each side's words made once
    for k, f in zip(ks.tolist(), found, strict=True):
        mk = (id(whys[k]), id(f))
        hit = made.get(mk)
        if hit is None:
            hit = made[mk] = attach(whys[k], f)
        out[k] = hit
    return out


def _side_key(allowed: np.ndarray, sel: np.ndarray, table: np.ndarray) -> np.ndarray:
    """(allowed, rule ids at the atoms read, -1 elsewhere) per pair, the grouping key of one side
    in ``_why_by_sides``: int16 when every id fits (half the bytes to hash and compare: the key
    is pairs × atoms), padded to whole 8-byte words so ``unique_rows`` needs no second copy."""
    small = table.size == 0 or (int(table.min()) >= -1 and int(table.max()) < np.iinfo(np.int16).max)
    dt = np.dtype(np.int16) if small else np.dtype(np.int32)
    cols = 1 + table.shape[1]
    width = -(-cols * dt.itemsize // 8) * 8 // dt.itemsize
    key = np.zeros((table.shape[0], width), dtype=dt)
    key[:, 0] = allowed
    key[:, 1:cols] = np.where(sel, table, -1)
    return key


def _names_peer(em: EntityMatch) -> bool:
    """A rule side that picks its peer by labels, namespace, service account or a CIDR narrower
    than everything: the network factor of ``assurance``."""
    if em.entity_scoped or em.not_selector is not None or em.not_nets:
        return True
    if em.scope_namespace is not None and em.pods_only:
        return True
    return em.nets is not None and not any(n.prefixlen == 0 for n in em.nets)


def _bits(words: np.ndarray, n_atoms: int) -> np.ndarray:
    raw = np.ascontiguousarray(words).view(np.uint8).reshape(words.shape[0], words.shape[1] * 8)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :n_atoms].astype(bool)


def port_space(policies: PolicySet, inventory: Inventory, tcp_ports: Sequence[int] = ()) -> PortSpace:
    """Atoms cut at every numeric range rules mention, every named port's number and the TCP
    ports the Istio layer distinguishes (``tcp_ports``)."""
    cuts: dict[str, list[tuple[int, int]]] = {p: [] for p in PORT_PROTOCOLS}
    cuts["TCP"].extend((p, p) for p in tcp_ports)
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


def analyze(snapshot: Snapshot, options: AnalysisOptions | None = None,
            progress: ProgressFn | None = None) -> Analysis:
    """Snapshot → policies, endpoints, classes, and both directions evaluated. ``progress``
    hears (phase, done, total) from the long loops (the signature walks)."""
    options = options or AnalysisOptions()
    # Issue #12 §1: nothing the API server would reject reaches the dialects (K8S-19).
    snapshot = check_snapshot(snapshot, lenient=options.lenient)
    istio = load_mesh(snapshot, lenient=options.lenient, root_namespace=options.mesh_root_namespace,
                      trust_domain=options.trust_domain)
    policies = compile_policies(snapshot, lenient=options.lenient, with_staged=options.with_staged,
                                dataplane=options.dataplane)
    policies.unsupported.extend(istio.unsupported)
    policies.notes.extend(istio.notes)
    # ADM-7: nodes that an admin policy's `nodes` peer selects are external-like endpoints.
    known = {n.name for n in options.externals}
    nodes = tuple(ExternalNetwork(f"Node/{name}", nets) for name, nets in sorted(policies.node_networks.items())
                  if f"Node/{name}" not in known)
    inventory = build_inventory(snapshot, (*options.externals, *nodes))
    inventory.notes.extend(snapshot.notes)  # lenient loading: skipped documents, duplicates
    classes, addresses = build_classes(inventory, policies, pod_cidrs=options.pod_cidrs,
                                       mesh_networks=mesh_networks(istio))
    ports = port_space(policies, inventory, mesh_cuts(istio, inventory, snapshot))
    matcher = Matcher(classes, addresses, ports)
    engine = Engine(policies, classes, matcher, progress=progress)
    egress = engine.run("egress")
    ingress = engine.run("ingress")
    engine.release_partitions()
    meshed = bool((classes.sidecar | classes.ambient | classes.mesh_uncertain).any())
    l7 = MeshLayer(istio, snapshot, inventory, classes, matcher, ports) if (istio.present or meshed) else None
    if istio.present:
        inventory.notes.extend(MESH_ASSUMPTIONS)
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
        istio=istio,
        l7=l7,
    )



def _check_room(n_s: int, n_t: int) -> None:
    """Refuse, with one clear message (exit 2), a pair matrix that cannot fit in the memory left:
    without this the kernel's out-of-memory killer ends the run with no word. ``reach`` asks for
    blocks sized by the budget, so only a matrix wanted whole (the controls' unit matrices of
    ``audit``/``gate``) can be refused."""
    from auditor.reach.budget import DENSE_PAIR_BYTES, available_bytes, format_size

    need = n_s * n_t * DENSE_PAIR_BYTES
    if need < 1 << 30:
        return
    room = available_bytes()
    if room is not None and need > room:
        raise AuditorError(
            f"a pair matrix of {n_s:,} × {n_t:,} entities needs about {format_size(need)} at once and "
            f"{format_size(room)} is available: the controls of audit/gate hold their unit matrices whole "
            "(they do not stream yet). Run on a machine with more memory, or audit fewer workloads at a time")
