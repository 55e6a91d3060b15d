"""The reachability engine: Calico's tier walk (CAL-24) on equivalence classes, with numpy.

For one direction, subjects (the endpoints whose policy is evaluated: sources for egress,
destinations for ingress) that have the same applicable policies and the same view of every
rule's subject side form a *signature* σ; the walk is done once per σ. Inside σ, peers that
every rule sees alike form *groups*; the walk runs on a (groups × port atoms) grid and keeps
the id of the deciding rule per cell, so "why" costs nothing extra.
"""

from __future__ import annotations

import itertools
import multiprocessing as mp
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from auditor.policy.ir import Action, Direction, EntityMatch, Policy, PolicySet, Rule, RuleRef, Tier
from auditor.policy.selectors import always_true
from auditor.reach.bitmatrix import BitColumns
from auditor.reach.blockparts import BlockedParts
from auditor.reach.classes import ClassTable
from auditor.reach.decision import Decision, Reason, rule_text
from auditor.reach.matching import Matcher, NamedPortSpec, _at, _proto, named_spec
from auditor.reach.peergroups import PeerPartitions
from auditor.reach.rowhash import column_blocks, refine, unique_rows

DENY, UNKNOWN, ALLOW = 0, 1, 2  # verdict codes in the numpy grids: min composes layers, max is "any of"
UNDECIDED = -1


class FlowVerdict(StrEnum):
    """A flow's verdict in words: ``allowed``, ``denied``, or ``unknown`` (it depends on something
    not modelled or not read). Serialised as its value."""

    ALLOWED = "allowed"
    DENIED = "denied"
    UNKNOWN = "unknown"

    @classmethod
    def of(cls, code: int) -> FlowVerdict:
        """The verdict of a code (``DENY``, ``UNKNOWN``, ``ALLOW``)."""
        return _FLOW_VERDICTS[code]

    @property
    def reach_word(self) -> str:
        """``auditor reach``'s ``allowed`` column: ``true``, ``false``, ``unknown``."""
        return {"allowed": "true", "denied": "false", "unknown": "unknown"}[self.value]


_FLOW_VERDICTS = {DENY: FlowVerdict.DENIED, UNKNOWN: FlowVerdict.UNKNOWN, ALLOW: FlowVerdict.ALLOWED}
VERDICT_WORDS = {code: v.reach_word for code, v in _FLOW_VERDICTS.items()}  # reach's ``allowed`` column
MAX_UNCERTAIN_POLICIES = 3


@dataclass
class RuleTable:
    """Deciding-rule ids → what they are (``Decision``). Pseudo-rules stand for defaults (no
    policy, end of tier). ``text``, ``refs`` and ``actions`` are per-id views of the decisions."""

    decisions: list[Decision] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    refs: list[RuleRef | None] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)

    def add(self, decision: Decision, ref: RuleRef | None = None) -> int:
        self.decisions.append(decision)
        self.text.append(rule_text(decision))
        self.refs.append(ref)
        self.actions.append(decision.action)
        return len(self.text) - 1


@dataclass
class DirectionResult:
    """Verdicts of one direction for every (subject class, peer class, port atom).

    σ's peer groups are a *partition* of the classes; σs whose rules name the same peer
    sides share one (``parts.row(part_of[σ])``), stored in the smallest unsigned dtype that
    holds the group ids, as distinct blocks of classes (``BlockedParts``): a dense (σ ×
    classes) int32 map was ≈ 4 GB at 100,000 pods, a dense partition matrix 750 MiB."""

    direction: Direction
    sigma_of: np.ndarray  # (C,) subject class → σ
    part_of: np.ndarray  # (nσ,) σ → row of ``parts``
    parts: BlockedParts  # (partitions, C) peer class → group inside σ (uint8/uint16/int32)
    offset: np.ndarray  # (nσ,) first global group id of σ
    verdict: np.ndarray  # (groups, A) int8: DENY / UNKNOWN / ALLOW
    rule: np.ndarray  # (groups, A) int32 deciding rule id
    sigma_policies: list[list[int]]  # applicable policies per σ (certain ones)
    sigma_uncertain: list[list[int]]  # policies that may or may not apply
    sigma_rep: list[int]

    def gid(self, subject: np.ndarray, peer: np.ndarray) -> np.ndarray:
        """Global group ids for broadcastable arrays of subject and peer classes."""
        sig = self.sigma_of[subject]
        return self.offset[sig] + self.parts.at(self.part_of[sig], peer)

    def groups(self, s: int) -> np.ndarray:
        """(C,) peer class → group inside σ ``s``."""
        return self.parts.row(int(self.part_of[s]))

    def group_count(self, s: int) -> int:
        end = int(self.offset[s + 1]) if s + 1 < self.offset.size else int(self.verdict.shape[0])
        return end - int(self.offset[s])


@dataclass
class _CompiledRule:
    rule: Rule
    rid: int
    policy: int
    subject: EntityMatch
    peer: EntityMatch
    ports_numeric: np.ndarray  # (A,) protocol ∧ numeric ports (or protocol alone when no ports)
    has_ports: bool
    named: NamedPortSpec | None
    not_numeric: np.ndarray | None
    not_named: NamedPortSpec | None
    certain: bool  # False when some field cannot be evaluated: matches only "possibly"
    ports_uncertain: np.ndarray | None = None  # (A,) atoms the rule only possibly matches (ICMP code, UDPLite)
    subject_id: int = -1  # interned sides: hashing EntityMatch per σ was the engine's hot spot
    peer_id: int = -1


# (numeric, not_numeric, uncertain, ICMP fields make the rule unsure, named, not_named)
_PortPart = tuple[np.ndarray, np.ndarray | None, np.ndarray | None, bool, NamedPortSpec | None, NamedPortSpec | None]


@dataclass
class TraceEvent:
    """One step of the walk for ``explain``."""

    tier: str
    policy: str
    rule: RuleRef | None
    outcome: str


class Engine:
    """Evaluates both directions for all classes."""

    def __init__(self, policies: PolicySet, classes: ClassTable, matcher: Matcher, workers: int | None = None,
                 progress: ProgressFn | None = None) -> None:
        self.workers = default_workers() if workers is None else max(1, workers)
        self.progress = progress
        self.ps = policies
        self.c = classes
        self.m = matcher
        self.n_atoms = len(matcher.ports)
        self.policies: list[Policy] = [p for p in policies.policies if not p.staged]
        self.rules = RuleTable()
        self.NO_POLICY = self.rules.add(Decision(Reason.NO_POLICY, "Allow", rule_ids=("K8S-2", "CAL-22")))
        self.EXTERNAL = self.rules.add(Decision(Reason.EXTERNAL, "Allow"))
        self.PROFILE = self.rules.add(Decision(Reason.PROFILE, "Allow", rule_ids=("CAL-22",)))
        self.end_of_tier: dict[str, int] = {}
        for tier in policies.ordered_tiers():
            self.end_of_tier[tier.name] = self.rules.add(Decision(
                Reason.END_OF_TIER, tier.default_action.value, tier=tier.name, rule_ids=("CAL-21", "K8S-4")))
        self._side_index: dict[EntityMatch, int] = {}
        self._side_masks: dict[EntityMatch, int] = {}  # Matcher.mask_key → first side with it
        self._port_parts: dict[tuple, _PortPart] = {}
        # interned rule sides → which classes they match, definitely / possibly (bit-packed)
        self._sides_def = BitColumns(classes.n)
        self._sides_pos = BitColumns(classes.n)
        self._side_trivial: list[bool] = []  # matches every class certainly
        self._compiled: dict[Direction, list[list[_CompiledRule]]] = {
            d: [[self._compile(pi, r, d) for r in pol.rules(d)] for pi, pol in enumerate(self.policies)]
            for d in ("ingress", "egress")
        }
        self._sides_def.freeze()
        self._sides_pos.freeze()
        self._side_masks.clear()
        # peer groups by the peer sides (and named-port specs) of σ's rules: σs that differ
        # only in their subject side share them (CAL-24 sees peers through these sides only)
        self._group_cache: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
        self._fragments: dict[tuple[Direction, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._partitions = PeerPartitions(self._sides_def, self._sides_pos, self.m.named_code)
        self._tier_of = {t.name: t for t in policies.ordered_tiers()}
        self._tier_rank = {t.name: i for i, t in enumerate(policies.ordered_tiers())}

    # -- compilation -------------------------------------------------------------------------
    def _compile(self, pi: int, rule: Rule, d: Direction) -> _CompiledRule:
        pol = self.policies[pi]
        rid = self.rules.add(Decision(
            # the kind key (``calico/NetworkPolicy``) is the first word of the policy's ref (Resource.ref)
            Reason.RULE, rule.action.value, tier=rule.ref.tier, policy=rule.ref.policy,
            policy_kind=pol.ref.split(" ", 1)[0],
            policy_namespace=pol.namespace, policy_name=pol.name, direction=rule.ref.direction,
            rule_index=rule.ref.index, rule_ids=("K8S-6",) if pol.ref.startswith("NetworkPolicy ") else ("CAL-24",)),
            rule.ref)
        dst, src = rule.destination, rule.source
        numeric, not_numeric, uncertain, icmp_unsure, named, not_named = self._port_part(rule)
        # source ports are not split into atoms: some connections match, some not
        certain = not rule.unmodelled and src.ports is None and not src.not_ports and not icmp_unsure
        subject = rule.destination if d == "ingress" else rule.source
        peer = rule.source if d == "ingress" else rule.destination
        return _CompiledRule(
            rule=rule,
            rid=rid,
            policy=pi,
            subject=subject,
            peer=peer,
            subject_id=self._intern(subject),
            peer_id=self._intern(peer),
            ports_numeric=numeric,
            has_ports=dst.ports is not None,
            named=named,
            not_numeric=not_numeric,
            not_named=not_named,
            certain=certain,
            ports_uncertain=uncertain,
        )

    def _port_part(self, rule: Rule) -> _PortPart:
        """What a rule's protocol, destination ports and ICMP fields admit, per atom: shared by
        the rules that spell them alike (tens of thousands of rules, a few hundred spellings).
        The arrays are read-only, as they are shared."""
        dst = rule.destination
        key = (rule.protocol, rule.not_protocol, dst.ports, dst.not_ports, rule.icmp, rule.not_icmp)
        hit = self._port_parts.get(key)
        if hit is not None:
            return hit
        proto = self.m.protocol_mask(rule)
        has_ports = dst.ports is not None
        numeric = proto & self.m.numeric_ports(dst.ports, _p(rule)) if has_ports else proto
        not_numeric = self.m.numeric_ports(dst.not_ports, _p(rule)) if dst.not_ports else None
        unsure = False  # ICMP fields on a rule of another protocol: it matches only possibly
        uncertain = np.zeros(self.n_atoms, dtype=bool)
        p = _p(rule)
        if p in ("ICMP", "ICMPv6"):  # CAL-27: ICMP types are atoms, codes are not
            if rule.icmp is not None:
                tm = self.m.ports.type_mask(p, rule.icmp[0])
                numeric = numeric & tm
                if rule.icmp[1] is not None:
                    uncertain |= tm  # only some codes of that type match
            if rule.not_icmp is not None:
                tm = self.m.ports.type_mask(p, rule.not_icmp[0])
                if rule.not_icmp[1] is None:
                    numeric = numeric & ~tm
                else:
                    uncertain |= numeric & tm
        elif rule.icmp is not None or rule.not_icmp is not None:
            unsure = True
        if p is not None and p not in ("TCP", "UDP", "SCTP") and (has_ports or dst.not_ports):
            # ports of a protocol the atoms do not split (UDPLite): possibly
            numeric = proto
            not_numeric = None
            uncertain |= proto
        unc = uncertain if uncertain.any() else None
        for arr in (numeric, not_numeric, unc):
            if arr is not None:
                arr.flags.writeable = False
        part = (numeric, not_numeric, unc, unsure, named_spec(dst.ports, rule.protocol),
                named_spec(dst.not_ports, rule.protocol))
        self._port_parts[key] = part
        return part

    def _intern(self, side: EntityMatch) -> int:
        idx = self._side_index.get(side)
        if idx is None:
            key = self.m.mask_key(side)
            same = self._side_masks.get(key)
            if same is None:
                d, p = self.m.side_rows(side)  # kept here, packed (narrow ones as class lists too)
                trivial = _full(d, self.c.n) and _full(p, self.c.n)
            else:  # a side matching alike: its rows again, not computed again
                d, p, trivial = self._sides_def.row(same), self._sides_pos.row(same), self._side_trivial[same]
            idx = self._side_index[side] = self._sides_def.add(d)
            self._side_masks.setdefault(key, idx)
            self._sides_pos.add(p)
            self._side_trivial.append(trivial)
        return idx

    def _applicability(self, d: Direction) -> tuple[BitColumns, BitColumns, np.ndarray]:
        """(classes × policies) certain / possible applicability (CAL-17, K8S-1, CAL-13/14),
        bit-packed, and whether each policy possibly applies to any class."""
        c = self.c
        app_def, app_pos = BitColumns(c.n), BitColumns(c.n)
        any_pos = np.zeros(len(self.policies), dtype=bool)
        for i, pol in enumerate(self.policies):
            dm, pm = self._applies(pol, d)
            app_def.add(dm)
            app_pos.add(pm)
            any_pos[i] = not _empty(pm)
        # lazy: σ's policies come from the class lists; the bits only if a policy is dense
        return app_def.freeze(lazy=True), app_pos.freeze(lazy=True), any_pos

    def _applies(self, pol: Policy, d: Direction) -> tuple[np.ndarray, np.ndarray]:
        """A namespaced policy's classes as ascending indices, evaluated on its namespace's
        classes only (a few of ~10^5); a global policy's as bool masks over every class."""
        c = self.c
        none = np.zeros(0, dtype=np.int32)
        if d not in pol.types:
            return none, none
        at = self.m.namespace_members(pol.namespace) if pol.namespace is not None else None
        m = _at(c.is_pod, at).copy()
        if not m.any():
            return none, none
        sd, sp = self.m.labels_selector(pol.subject)
        dm, pm = m & _at(sd, at), m & _at(sp, at)
        if pol.subject_namespace_selector is not None:
            nd, np_ = self.m.namespace_selector(pol.subject_namespace_selector, at)
            dm &= nd
            pm &= np_
        if pol.subject_sa_selector is not None and not always_true(pol.subject_sa_selector):
            # CAL-1: a selector true on every label set holds whatever the account's labels
            sm, sa_unknown = _at(self.m._sel("sa_labels", pol.subject_sa_selector), at), _at(c.sa_unknown, at)
            dm &= sm & ~sa_unknown
            pm &= sm | sa_unknown
        return (dm, pm) if at is None else (at[dm], at[pm])

    # -- signatures ----------------------------------------------------------------------------
    def _signatures(self, d: Direction, app_def: BitColumns, app_pos: BitColumns, any_pos: np.ndarray) -> np.ndarray:
        """σ per class: the same (certain, possible) applicable policies, the same view of their
        rules' subject sides and (ingress) the same named-port resolutions. Numbered in order
        of first appearance, so any exact encoding of this key gives the same σs."""
        c = self.c
        codes: list[np.ndarray] = []
        seen_sides: set[int] = set()
        seen_named: set[NamedPortSpec] = set()
        for pi, compiled in enumerate(self._compiled[d]):
            if not any_pos[pi]:
                continue
            for cr in compiled:
                if cr.subject_id not in seen_sides:
                    seen_sides.add(cr.subject_id)
                if d == "ingress":
                    for spec in (cr.named, cr.not_named):
                        if spec is not None and spec not in seen_named:
                            seen_named.add(spec)
                            codes.append(self.m.named_code(spec))
        sides = np.array(sorted(s for s in seen_sides if not self._side_trivial[s]), dtype=np.int64)

        all_policies = np.arange(app_def.n_items, dtype=np.int64)
        fields = [(app_def, all_policies), (app_pos, all_policies), (self._sides_def, sides), (self._sides_pos, sides)]

        def blocks() -> Iterator[np.ndarray]:  # the key, a bounded slice at a time
            # the sparse rows' cells as one exact id per class, then the dense rows' bits
            yield _set_ids([bc.sparse_cells(items) for bc, items in fields], c.n)[:, None]
            for bc, items in fields:
                dense = bc.dense_items(items)
                if dense.size:
                    yield from column_blocks(bc.keys(dense))
            for code in codes:
                yield code.astype(np.int32)[:, None]
            yield (~c.is_pod).astype(np.uint8)[:, None]

        _, sigma = refine(blocks(), c.n)
        return sigma.astype(np.int32)

    # -- the walk --------------------------------------------------------------------------------
    def run(self, d: Direction) -> DirectionResult:
        c = self.c
        app_def, app_pos, any_pos = self._applicability(d)
        sigma_of = self._signatures(d, app_def, app_pos, any_pos)
        n_sigma = int(sigma_of.max()) + 1 if c.n else 0
        offsets = np.zeros(n_sigma, dtype=np.int64)
        verdicts: list[np.ndarray] = []
        rules: list[np.ndarray] = []
        sig_pols: list[list[int]] = []
        sig_unc: list[list[int]] = []
        reps: list[int] = []
        first = np.full(n_sigma, -1, dtype=np.int64)
        order = np.argsort(sigma_of, kind="stable")
        sorted_sig = sigma_of[order]
        starts = np.searchsorted(sorted_sig, np.arange(n_sigma))
        first[:] = order[starts]
        total = 0
        for s in range(n_sigma):
            rep = int(first[s])
            reps.append(rep)
            certain = app_def.row_items(rep)
            sig_pols.append([int(i) for i in certain])
            sig_unc.append([int(i) for i in np.setdiff1d(app_pos.row_items(rep), certain)])
        del app_def, app_pos
        tasks = [(d, reps[s], sig_pols[s], sig_unc[s]) for s in range(n_sigma)]
        results = self._evaluate_all(tasks, f"{d} signatures")
        # a partition arrives once per worker process (None after that): collect, then number
        # the partitions in σ order
        sent = {key: groups for key, groups, _, _ in results if groups is not None}
        part_index: dict[tuple, int] = {}
        part_rows: list[np.ndarray] = []
        part_of = np.zeros(n_sigma, dtype=np.int32)
        for s, (key, _, v, r) in enumerate(results):
            k = part_index.get(key)
            if k is None:
                k = part_index[key] = len(part_rows)
                part_rows.append(sent.pop(key))
            part_of[s] = k
            offsets[s] = total
            total += v.shape[0]
            verdicts.append(v)
            rules.append(r)
        del results, sent
        parts = BlockedParts.from_rows(part_rows, c.n)
        del part_rows
        self._partitions.release()  # its broad-side partitions would keep second copies alive
        return DirectionResult(
            direction=d,
            sigma_of=sigma_of,
            part_of=part_of,
            parts=parts,
            offset=offsets,
            verdict=np.concatenate(verdicts) if verdicts else np.zeros((0, self.n_atoms), np.int8),
            rule=np.concatenate(rules) if rules else np.zeros((0, self.n_atoms), np.int32),
            sigma_policies=sig_pols,
            sigma_uncertain=sig_unc,
            sigma_rep=reps,
        )

    def release_partitions(self) -> None:
        """Both directions are evaluated: forget the peer partitions kept for σs still to walk
        (each direction's result holds its own, as distinct blocks; the rows kept here were
        the 750 MiB of dense partitions at 100,000 pods)."""
        self._group_cache.clear()
        self._partitions.release()

    def _evaluate_all(
        self, tasks: list[tuple[Direction, int, list[int], list[int]]], phase: str = "signatures"
    ) -> list[tuple[tuple, np.ndarray | None, np.ndarray, np.ndarray]]:
        """Every σ, independent of the others: on ``workers`` forked processes when there are
        enough of them to pay for the fork (results are identical either way)."""
        workers = min(self.workers, len(tasks) // _MIN_SIGMAS_PER_WORKER)
        report = self.progress or _no_progress
        if workers <= 1 or "fork" not in mp.get_all_start_methods():
            sent: set[tuple] = set()
            results = []
            for k, t in enumerate(tasks):
                if k % 64 == 0:
                    report(phase, k, len(tasks))
                results.append(_once(self._evaluate_sigma(*t), sent))
            report(phase, len(tasks), len(tasks))
            return results
        global _FORKED
        _FORKED = (self, tasks)
        try:
            n_chunks = min(len(tasks), max(workers * 4, 64))
            chunks = [list(range(k, len(tasks), n_chunks)) for k in range(n_chunks)]
            parts = []
            report(phase, 0, len(tasks))
            with mp.get_context("fork").Pool(workers) as pool:
                for part in pool.imap(_evaluate_chunk, chunks):
                    parts.append(part)
                    report(phase, sum(len(p) for p in parts), len(tasks))
        finally:
            _FORKED = None
        out: list[tuple[tuple, np.ndarray | None, np.ndarray, np.ndarray] | None] = [None] * len(tasks)
        for chunk, results in zip(chunks, parts, strict=True):
            for k, res in zip(chunk, results, strict=True):
                out[k] = res
        return out  # type: ignore[return-value]

    def _ordered(self, policy_ids: list[int]) -> list[tuple[Tier, list[int]]]:
        """Applicable policies grouped by tier, tiers and policies in evaluation order."""
        by_tier: dict[str, list[int]] = {}
        for pi in policy_ids:
            by_tier.setdefault(self.policies[pi].tier, []).append(pi)
        out = []
        for name in sorted(by_tier, key=lambda n: self._tier_rank.get(n, 1 << 30)):
            tier = self._tier_of.get(name) or Tier(name=name, order=None)
            out.append((tier, sorted(by_tier[name], key=lambda i: self.policies[i].sort_key)))
        return out

    def _peer_groups(self, d: Direction, rep: int, crs: list[_CompiledRule]) -> tuple[tuple, np.ndarray, np.ndarray]:
        """Group peers that every rule of σ sees alike; returns (partition key, group per peer,
        representative per group). Cached by the key: σs with the same peer sides share it."""
        c = self.c
        ids = tuple(sorted({cr.peer_id for cr in crs if not self._side_trivial[cr.peer_id]}))
        specs: tuple[NamedPortSpec, ...] = ()
        if d == "egress":
            specs = tuple(sorted({spec for cr in crs for spec in (cr.named, cr.not_named) if spec is not None},
                                 key=repr))
        key = (ids, specs)
        hit = self._group_cache.get(key)
        if hit is not None:
            return key, hit[0], hit[1]
        if not ids and not specs:
            groups, first = np.zeros(c.n, dtype=np.uint8), np.zeros(1, dtype=np.int64)
        else:
            groups, first = self._partitions.partition(ids, specs)
        self._group_cache[key] = (groups, first)
        return key, groups, first

    def _port_stack(self, d: Direction, rep: int, crs: list[_CompiledRule], peers: np.ndarray) -> np.ndarray:
        """(rules × peers-or-1 × atoms): which atoms each rule's port/protocol part admits."""
        port, row = self._port_rows(d, rep, crs, peers)
        return port if row is None else port[:, row]

    @staticmethod
    def _ports_per_peer(d: Direction, crs: list[_CompiledRule]) -> bool:
        """Whether σ's port stack depends on the peer: egress rules that name ports (a port
        name is resolved on the destination, EDGE-6), so no stack may be kept per subject."""
        return d == "egress" and any(cr.named is not None or cr.not_named is not None for cr in crs)

    def _port_rows(self, d: Direction, rep: int, crs: list[_CompiledRule],
                   peers: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``_port_stack`` with one column per distinct named-port resolution among the peers
        (which peer uses which: the second value, None when the stack has a single column).
        Peers that resolve σ's port names alike get the same admitted atoms, and there are a
        handful of resolutions against hundreds of peer groups."""
        n_r, n_a = len(crs), self.n_atoms
        row: np.ndarray | None = None
        if self._ports_per_peer(d, crs):
            specs = sorted({sp for cr in crs for sp in (cr.named, cr.not_named) if sp is not None}, key=repr)
            codes = np.stack([self.m.named_code(sp)[peers] for sp in specs], axis=1)
            first, row = unique_rows(np.ascontiguousarray(codes))
            dst = peers[first]
        else:
            dst = np.full(1, rep, dtype=np.int64)
        port = np.empty((n_r, dst.shape[0], n_a), dtype=bool)
        if n_r:
            port[:] = np.stack([cr.ports_numeric for cr in crs])[:, None, :]
        for k, cr in enumerate(crs):
            if cr.named is not None:
                port[k] |= self.m.named_ports(cr.named)[dst] & self.m.protocol_mask(cr.rule)
            if cr.not_numeric is not None:
                port[k] &= ~cr.not_numeric
            if cr.not_named is not None:
                port[k] &= ~self.m.named_ports(cr.not_named)[dst]
        return port, row

    def _stack_matches(
        self, d: Direction, rep: int, crs: list[_CompiledRule], peers: np.ndarray,
        atoms: np.ndarray | None = None, port: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(rules × peers × atoms) certain/possible matches of σ's rules for subject class ``rep``
        (only the given representative ``atoms`` when set)."""
        s_def = np.array([self._sides_def.bit(cr.subject_id, rep) and cr.certain for cr in crs], dtype=bool)
        s_pos = np.array([self._sides_pos.bit(cr.subject_id, rep) for cr in crs], dtype=bool)
        ids = np.array([cr.peer_id for cr in crs], dtype=np.int64)
        p_def = self._sides_def.take(ids, peers)
        p_pos = self._sides_pos.take(ids, peers)
        if port is None:
            port = self._port_stack(d, rep, crs, peers)
        if atoms is not None:
            port = port[:, :, atoms]
        m_pos = (p_pos & s_pos[:, None])[:, :, None] & port
        m_def = (p_def & s_def[:, None])[:, :, None] & port
        for k, cr in enumerate(crs):
            if cr.ports_uncertain is not None:
                unc = cr.ports_uncertain if atoms is None else cr.ports_uncertain[atoms]
                m_def[k] &= ~unc
        return m_def, m_pos

    def _atom_classes(self, crs: list[_CompiledRule], port: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Atoms that no rule of σ tells apart (same port/protocol admission everywhere)."""
        cols = [port.reshape(-1, port.shape[2])]
        unc = [cr.ports_uncertain for cr in crs if cr.ports_uncertain is not None]
        if unc:
            cols.append(np.stack(unc))
        first, inv = unique_rows(np.packbits(np.concatenate(cols, axis=0), axis=0).T)
        return first, inv

    def _cell_matches(
        self, d: Direction, rep: int, cr: _CompiledRule, peers: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(peers × atoms) certain/possible match of one rule for subject class ``rep``."""
        m_def, m_pos = self._stack_matches(d, rep, [cr], peers)
        return m_def[0], m_pos[0]

    def _evaluate_sigma(
        self, d: Direction, rep: int, certain: list[int], uncertain: list[int]
    ) -> tuple[tuple, np.ndarray, np.ndarray, np.ndarray]:
        """(partition key, group per peer class, verdict and deciding rule per (group, atom))."""
        c = self.c
        A = self.n_atoms
        if not c.is_pod[rep]:
            return ((), ()), self._one_group(), np.full((1, A), ALLOW, np.int8), np.full((1, A), self.EXTERNAL, np.int32)
        if not certain and not uncertain:
            return ((), ()), self._one_group(), np.full((1, A), ALLOW, np.int8), np.full((1, A), self.NO_POLICY, np.int32)
        # σ's rules in evaluation order: a walk plan of all of them then reads the stacks as
        # they are (rows 0, 1, 2…), with no copy of the rows in plan order (``_decide``)
        policies = [pi for _, pids in self._ordered([*certain, *uncertain]) for pi in pids]
        crs = [cr for pi in policies for cr in self._compiled[d][pi]]
        key, groups, reps = self._peer_groups(d, rep, crs)
        if len(uncertain) > MAX_UNCERTAIN_POLICIES:
            g = reps.shape[0]
            return key, groups, np.full((g, A), UNKNOWN, np.int8), np.full((g, A), self.NO_POLICY, np.int32)
        # the match stacks hold the rules that can decide: Log never does (CAL-42), so its rows
        # would only be copied and stepped over (the peer groups still see every rule's peer)
        live = [cr for cr in crs if cr.rule.action != Action.LOG]
        port, peer_row = self._port_rows(d, rep, live, reps)
        atoms, atom_of = self._atom_classes(live, port) if live else (np.arange(A), np.arange(A))
        if peer_row is not None:
            port = port[:, peer_row]
        m_def, m_pos = self._stack_matches(d, rep, live, reps, atoms=atoms, port=port)
        start: dict[int, int] = {}  # first row of each policy's rules in σ's stacks
        at = 0
        for pi in policies:
            start[pi] = at
            at += self._fragment(d, pi)[0].size
        outcomes = []
        for k in range(len(uncertain) + 1):
            for subset in itertools.combinations(uncertain, k):
                outcomes.append(self._decide(d, [*certain, *subset], m_def, m_pos, start, reps.shape[0],
                                             atoms.size))
        v, r = outcomes[0]
        for v2, _ in outcomes[1:]:
            v = np.where(v == v2, v, UNKNOWN).astype(np.int8)
        return key, groups, v[:, atom_of], r[:, atom_of]

    def _fragment(self, d: Direction, pi: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Policy ``pi``'s part of a walk plan: its rules' rows among its rows of σ's stacks,
        action codes and rule ids, Log rules dropped (CAL-42: Log never decides; the stacks
        have no rows for them, ``_evaluate_sigma``)."""
        key = (d, pi)
        hit = self._fragments.get(key)
        if hit is None:
            keep = [k for k, cr in enumerate(self._compiled[d][pi]) if cr.rule.action != Action.LOG]
            crs = self._compiled[d][pi]
            hit = self._fragments[key] = (
                np.arange(len(keep), dtype=np.int64),
                np.array([_CODE[crs[k].rule.action] for k in keep], dtype=np.int8),
                np.array([crs[k].rid for k in keep], dtype=np.int32),
            )
        return hit

    def _one_group(self) -> np.ndarray:
        """Every peer in group 0: the partition of σs without rules (the same as no peer sides)."""
        hit = self._group_cache.get(((), ()))
        if hit is None:
            hit = self._group_cache[((), ())] = (np.zeros(self.c.n, dtype=np.uint8), np.zeros(1, dtype=np.int64))
        return hit[0]

    def _decide(
        self,
        d: Direction,
        policy_ids: list[int],
        m_def: np.ndarray,
        m_pos: np.ndarray,
        start: dict[int, int],
        g: int,
        n_atoms: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """CAL-24 in three-valued logic: a pessimistic and an optimistic walk; disagreement → unknown."""
        if not policy_ids:
            return np.full((g, n_atoms), ALLOW, np.int8), np.full((g, n_atoms), self.NO_POLICY, np.int32)
        plan = _Plan.build(self, d, self._ordered(policy_ids), start)
        rows = plan.rows
        if rows.size == m_def.shape[0] and np.array_equal(rows, np.arange(rows.size)):
            mdef, mpos = m_def, m_pos  # every row, in order (no Log rule): read, never written
        else:
            mdef, mpos = m_def[rows], m_pos[rows]
        uncertain = not np.array_equal(mdef, mpos)
        if not uncertain:
            vp, rp, tp = walk(plan, mdef, mpos, g, n_atoms, self, optimistic=False, certain=True)
            if tp.any():  # CAL-18: equal-order policies that decide differently
                vp = np.where(tp, UNKNOWN, vp).astype(np.int8)
            return vp, rp
        vp, rp, tp = walk(plan, mdef, mpos, g, n_atoms, self, optimistic=False)
        vo, ro, to = walk(plan, mdef, mpos, g, n_atoms, self, optimistic=True)
        v = np.where(vp == vo, vp, UNKNOWN).astype(np.int8)
        v[tp | to] = UNKNOWN
        r = np.where((v == UNKNOWN) & (vo == ALLOW), ro, rp).astype(np.int32)
        return v, r

    # -- explain ------------------------------------------------------------------------------------
    def trace(self, d: Direction, subject: int, peer: int, atom: int) -> tuple[list[TraceEvent], list[int], list[int]]:
        """The walk for one (subject, peer, atom) cell, step by step."""
        app_def, app_pos, _ = self._applicability(d)
        certain_items = app_def.row_items(subject)
        certain = [int(i) for i in certain_items]
        uncertain = [int(i) for i in np.setdiff1d(app_pos.row_items(subject), certain_items)]
        if not self.c.is_pod[subject]:
            return [TraceEvent("", "", None, "external endpoint: no endpoint policy, allow")], [], []
        events: list[TraceEvent] = []
        peers = np.array([peer], dtype=np.int64)
        ordered = self._ordered([*certain, *uncertain])
        for t_index, (tier, pids) in enumerate(ordered):
            outcome_tier = None
            for pi in pids:
                pol = self.policies[pi]
                order = "no order" if pol.order is None else f"{pol.order_word} {pol.order:g}"
                maybe = " (may not apply: unknown)" if pi in uncertain else ""
                compiled = self._compiled[d][pi]
                if not compiled:
                    events.append(TraceEvent(tier.name, pol.ref, None, f"{pol.ref} ({order}){maybe}: no {d} rules"))
                    continue
                seen: dict[tuple[int, str], str] = {}
                for cr in compiled:
                    mdef, mpos = self._cell_matches(d, subject, cr, peers)
                    hit_def, hit_pos = bool(mdef[0, atom]), bool(mpos[0, atom])
                    outcome = "match" if hit_def else ("may match (unknown)" if hit_pos else "no match")
                    key = (cr.rule.ref.index, cr.rule.action.value)
                    if seen.get(key) in ("match", "may match (unknown)"):
                        continue
                    seen[key] = outcome
                for (index, action), outcome in seen.items():
                    events.append(TraceEvent(tier.name, pol.ref, None,
                                             f"{pol.ref} ({order}){maybe} {d} rule {index}: {action} → {outcome}"))
                    if outcome == "match" and action != Action.LOG.value:
                        outcome_tier = action
                        break
                if outcome_tier:
                    for other in pids:
                        other_action = self._first_action(d, subject, peers, atom, other)
                        if (other != pi and self.policies[other].order == pol.order
                                and other_action not in (None, outcome_tier)):
                            events.append(TraceEvent(
                                tier.name, pol.ref, None,
                                f"{self.policies[other].ref} has the same {order} and would {other_action}: "
                                "which runs first depends on the Calico version's tie-break (CAL-18) → unknown"))
                    break
            if outcome_tier in (Action.ALLOW.value, Action.DENY.value):
                later = [t.name for t, _ in ordered[t_index + 1:]]
                if later:
                    events.append(TraceEvent(tier.name, "", None, f"{outcome_tier} decides: later tiers not reached "
                                             f"({', '.join(later)}) (CAL-20)"))
                break
            if outcome_tier == Action.PASS.value:
                events.append(TraceEvent(tier.name, "", None, "Pass → next tier (CAL-20)"))
            elif tier.default_action == Action.DENY:
                events.append(TraceEvent(tier.name, "", None, "no rule matched → end-of-tier Deny (CAL-21)"))
                break
            else:
                events.append(TraceEvent(tier.name, "", None, "no rule matched → tier default Pass (CAL-21)"))
        return events, certain, uncertain


    def _first_action(self, d: Direction, subject: int, peers: np.ndarray, atom: int, pi: int) -> str | None:
        """The action of the first rule of policy ``pi`` that certainly matches the cell."""
        for cr in self._compiled[d][pi]:
            if cr.rule.action == Action.LOG:
                continue
            mdef, _ = self._cell_matches(d, subject, cr, peers)
            if bool(mdef[0, atom]):
                return cr.rule.action.value
        return None


_MIN_SIGMAS_PER_WORKER = 200
ProgressFn = Callable[[str, int, int], None]  # (phase, done, total): reported as work advances


def _no_progress(phase: str, done: int, total: int) -> None:
    return None
_FORKED: tuple[Engine, list[tuple[Direction, int, list[int], list[int]]]] | None = None


_SENT: set[tuple] = set()


def _evaluate_chunk(indices: list[int]) -> list[tuple[tuple, np.ndarray | None, np.ndarray, np.ndarray]]:
    """Worker side of ``Engine._evaluate_all``: the engine arrives by fork, not by pickling.
    Each partition is sent back once per worker process (then None: the parent has it)."""
    assert _FORKED is not None
    engine, tasks = _FORKED
    return [_once(engine._evaluate_sigma(*tasks[k]), _SENT) for k in indices]


def _once(res: tuple[tuple, np.ndarray, np.ndarray, np.ndarray],
          sent: set[tuple]) -> tuple[tuple, np.ndarray | None, np.ndarray, np.ndarray]:
    key, groups, v, r = res
    if key in sent:
        return key, None, v, r
    sent.add(key)
    return key, groups, v, r


def default_workers() -> int:
    """Processes for the σ loop: the CPUs this process may use (AUDITOR_WORKERS overrides)."""
    env = os.environ.get("AUDITOR_WORKERS")
    if env and env.isdigit():
        return max(1, int(env))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _set_ids(fields: list[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """(n,) int64, equal for two classes exactly when they have the same items in every field
    (each field a list of (item, class) cells), numbered by first appearance. Grouping the
    classes by these few cells replaces hashing ~10^3 bytes of mostly zero bits per class."""
    tokens: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    base = 0
    for items, classes in fields:
        tokens.append(items.astype(np.int64) + base)
        owners.append(classes.astype(np.int64))
        base += int(items.max()) + 1 if items.size else 0
    tok, cls = np.concatenate(tokens), np.concatenate(owners)
    order = np.lexsort((tok, cls))
    raw = tok[order].tobytes()
    bounds = (np.searchsorted(cls[order], np.arange(n + 1)) * 8).tolist()
    index: dict[bytes, int] = {}
    return np.fromiter((index.setdefault(raw[bounds[i]:bounds[i + 1]], len(index)) for i in range(n)),
                       dtype=np.int64, count=n)


def _full(row: np.ndarray, n: int) -> bool:
    """Whether a bool mask or an ascending class list covers all ``n`` classes."""
    return bool(row.all()) if row.dtype == bool else row.size == n


def _empty(row: np.ndarray) -> bool:
    """Whether a bool mask or a class list selects no class."""
    return not row.any() if row.dtype == bool else row.size == 0


def _p(rule: Rule) -> str | None:
    return _proto(rule.protocol)


_CODE = {Action.LOG: 0, Action.ALLOW: 1, Action.DENY: 2, Action.PASS: 4}


@dataclass
class _Plan:
    """The rule rows of one walk laid out tier by tier, in evaluation order (Log rules dropped)."""

    rows: np.ndarray  # indices into σ's match stacks
    codes: np.ndarray  # action code per row (_CODE)
    rids: np.ndarray  # deciding-rule id per row
    tiers: list[tuple[Tier, int, int, list[list[tuple[int, int]]]]]  # tier, row range, tie groups

    @classmethod
    def build(cls, engine: Engine, d: Direction, ordered: list[tuple[Tier, list[int]]], start: dict[int, int]) -> _Plan:
        rows: list[np.ndarray] = []
        codes: list[np.ndarray] = []
        rids: list[np.ndarray] = []
        tiers = []
        n = 0
        for tier, pids in ordered:
            tier_start = n
            spans: list[tuple[float | None, int, int]] = []
            for pi in pids:
                local, code, rid = engine._fragment(d, pi)
                rows.append(local + start[pi])
                codes.append(code)
                rids.append(rid)
                spans.append((engine.policies[pi].order, n, n + local.size))
                n += local.size
            ties = []
            for _, grouped in itertools.groupby(spans, key=lambda t: t[0]):
                group = [(a, b) for _, a, b in grouped]
                if len(group) > 1:
                    ties.append(group)
            tiers.append((tier, tier_start, n, ties))
        if not rows:
            return cls(np.zeros(0, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int32), tiers)
        return cls(np.concatenate(rows), np.concatenate(codes), np.concatenate(rids), tiers)


Walk = tuple[np.ndarray, np.ndarray, np.ndarray]  # verdict, deciding rule, taint per (group, atom)


def walk(
    plan: _Plan,
    mdef: np.ndarray,
    mpos: np.ndarray,
    g: int,
    n_atoms: int,
    engine: Engine,
    *,
    optimistic: bool,
    certain: bool = False,
) -> Walk:
    """One pass of CAL-24 over a (groups × atoms) grid, one tier at a time: the first matching
    rule of the tier (argmax over the tier's rule stack) decides Allow/Deny/Pass; no match → the
    tier's default action.

    Pessimistic: uncertain Allow rules do not match, uncertain Deny rules do; optimistic: the
    reverse. An uncertain Pass taints the cell (it may skip to another tier): unknown. So do
    equal-order policies that would decide a cell differently (CAL-18, EDGE-33). ``certain``:
    the caller knows ``mdef == mpos`` (then both walks are the same and nothing is uncertain).
    """
    if certain:
        return _walk_grid(plan, mdef, None, g, n_atoms, engine)
    # the rows that read the possible matches: Deny when pessimistic, Allow when optimistic
    swap = plan.codes == _CODE[Action.ALLOW if optimistic else Action.DENY]
    m_all = mdef.copy()
    m_all[swap] = mpos[swap]
    return _walk_grid(plan, m_all, _unsure_passes(plan, mdef, mpos), g, n_atoms, engine)


def _unsure_passes(plan: _Plan, mdef: np.ndarray, mpos: np.ndarray) -> np.ndarray:
    """(Pass rows × groups × atoms): where each Pass rule of the plan possibly but not certainly
    matches. Only these rows of the possible matches are read by the walk, so only they are
    copied (the whole stacks twice over were the largest part of a walk's cost)."""
    rows = np.flatnonzero(plan.codes == _CODE[Action.PASS])
    return mpos[rows] & ~mdef[rows]


def _walk_grid(plan: _Plan, m_all: np.ndarray, unsure: np.ndarray | None, g: int, n_atoms: int,
               engine: Engine) -> Walk:
    """``walk`` on the rule stack ``m_all`` whose rows already read the certain or the possible
    matches as the walk wants them; ``unsure``: ``_unsure_passes`` (None: the matches are
    certain)."""
    verdict = np.full((g, n_atoms), UNDECIDED, np.int8)
    rule = np.full((g, n_atoms), -1, np.int32)
    taint = np.zeros((g, n_atoms), dtype=bool)
    pass_rows = np.flatnonzero(plan.codes == _CODE[Action.PASS])
    for tier, lo, hi, ties in plan.tiers:
        open_ = verdict == UNDECIDED
        if hi > lo:
            m = m_all[lo:hi]
            any_ = m.any(axis=0)
            first = _first_true(m)
            code = plan.codes[lo:hi][first]
            rid = plan.rids[lo:hi][first]
            hit = open_ & any_
            verdict[hit & (code == _CODE[Action.ALLOW])] = ALLOW
            verdict[hit & (code == _CODE[Action.DENY])] = DENY
            rule[hit] = rid[hit]
            # the tier's Pass rows are a slice of the plan's (tiers are consecutive row ranges)
            p_lo, p_hi = np.searchsorted(pass_rows, (lo, hi)).tolist() if unsure is not None else (0, 0)
            if p_hi > p_lo:
                assert unsure is not None
                passes = pass_rows[p_lo:p_hi] - lo
                maybe_pass = unsure[p_lo:p_hi]
                t_any = maybe_pass.any(axis=0)
                if t_any.any():
                    t_first = passes[_first_true(maybe_pass)]
                    taint |= open_ & t_any & (~any_ | (t_first < first))
            for group in ties:
                seen = np.zeros((g, n_atoms), dtype=np.int8)
                g_start = group[0][0] - lo
                for a, b in group:
                    sub = m[a - lo : b - lo]
                    if sub.shape[0] == 0:
                        continue
                    has = sub.any(axis=0)
                    f = _first_true(sub)
                    seen |= np.where(has, plan.codes[a:b][f], 0).astype(np.int8)
                reached = open_ & (~any_ | (first >= g_start))
                taint |= reached & ((seen & (seen - 1)) != 0)
            open_ &= ~any_
        if tier.default_action == Action.DENY:
            verdict[open_] = DENY
            rule[open_] = engine.end_of_tier.get(tier.name, engine.NO_POLICY)
    rest = verdict == UNDECIDED
    verdict[rest] = ALLOW
    rule[rest] = engine.PROFILE
    return verdict, rule, taint


def _first_true(m: np.ndarray) -> np.ndarray:
    """``m.argmax(axis=0)`` of a bool stack (0 where no row is true). numpy's argmax over the
    first axis copies the stack transposed and scans it; on wide grids a max of weighted rows
    (weights falling with the row) is a plain reduction and about three times faster."""
    r = m.shape[0]
    if r < 2 or m[0].size < 1000:
        return m.argmax(axis=0)
    dt = np.uint8 if r < 255 else np.uint16 if r < 65535 else np.int64
    weights = np.arange(r, 0, -1, dtype=dt).reshape((r,) + (1,) * (m.ndim - 1))
    top = (m * weights).max(axis=0).astype(np.intp)
    return (r - top) % r
