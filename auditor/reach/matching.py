"""Rule sides → masks over endpoint classes, in three-valued logic.

Every match is a pair ``(definite, possible)`` of bool arrays: ``definite`` where the rule
certainly matches, ``possible`` where it might (an unknown pod IP against an ipBlock, an
unknown namespace against a namespaceSelector, a field the tool does not model). The engine
turns disagreement between the two into an ``unknown`` verdict, never into ``allow``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from auditor.policy.ir import PORT_PROTOCOLS, EntityMatch, IPNetwork, PortRange, Rule
from auditor.policy.labels import LabelTable
from auditor.policy.selectors import Selector, always_true
from auditor.reach.classes import NO_ADDRESS, AddressClasses, ClassTable
from auditor.reach.ports import PortSpace, canonical_protocol
from auditor.reach.rowhash import unique_rows

_NAME_KEYS = frozenset({"kubernetes.io/metadata.name", "projectcalico.org/name"})
_INHERITED_NAME_KEYS = frozenset({"pcns.kubernetes.io/metadata.name", "pcns.projectcalico.org/name",
                                  "pcsa.projectcalico.org/name"})

Mask = tuple[np.ndarray, np.ndarray]
_NARROW_FRACTION = 16  # as peer groups' narrow sides: candidates are at most classes / 16


def _at(values: np.ndarray, at: np.ndarray | None) -> np.ndarray:
    """``values`` at the classes ``at`` (all of them when None)."""
    return values if at is None else values[at]


@dataclass(frozen=True)
class NamedPortSpec:
    """Named ports of one rule side, resolved on whichever endpoint receives the connection."""

    names: tuple[str, ...]
    protocol: str | None


class Matcher:
    """Evaluates rule sides on all classes at once; results are cached per (hashable) side."""

    def __init__(self, classes: ClassTable, addresses: AddressClasses, ports: PortSpace) -> None:
        self.c = classes
        self.addr = addresses
        self.ports = ports
        self._side_cache: dict[EntityMatch, Mask] = {}
        self._sel_cache: dict[tuple[str, Selector], np.ndarray] = {}
        self._net_cache: dict[tuple[IPNetwork, ...], Mask] = {}
        self._named_cache: dict[NamedPortSpec, np.ndarray] = {}
        self._named_code_cache: dict[NamedPortSpec, np.ndarray] = {}
        self._named_flat: tuple[list[tuple[str, str, int]], np.ndarray, np.ndarray] | None = None
        # Entities selectors can match: pods (WEPs) and network sets (CAL-8, CAL-41).
        self.is_entity = classes.is_pod | classes.is_netset
        self._ones = np.ones(classes.n, dtype=bool)
        self._label_cache: dict[Selector, Mask] = {}
        self.ns_code = {ns: i for i, ns in enumerate(classes.namespaces)}
        self._ns_members: list[np.ndarray] | None = None
        self._ns_table: LabelTable | None = None  # one row per namespace
        self._ns_firsts: np.ndarray | None = None
        self._ns_sizes = np.zeros(0, dtype=np.int64)  # classes per namespace (with _ns_members)
        self._ns_sel_cache: dict[Selector, np.ndarray] = {}
        self._support_cache: dict[tuple[str, Selector], np.ndarray | None] = {}
        self._narrow = classes.n // _NARROW_FRACTION  # a side this narrow is kept as class indices

    # -- selectors -----------------------------------------------------------------------
    def _sel(self, table: str, sel: Selector) -> np.ndarray:
        key = (table, sel)
        hit = self._sel_cache.get(key)
        if hit is None:
            hit = self._sel_cache[key] = sel.mask(getattr(self.c, table))
        return hit

    def labels_selector(self, sel: Selector) -> Mask:
        """A selector over endpoint label maps (CAL-5). Labels inherited from a namespace or
        service account missing from the input (``pcns.*``/``pcsa.*``, other than the name)
        are unknown, so such classes match only possibly."""
        hit = self._label_cache.get(sel)
        if hit is not None:
            return hit
        m = self._sel("labels", sel)
        keys = sel.label_keys()
        unknown = np.zeros(self.c.n, dtype=bool)
        if any(k.startswith("pcns.") and k not in _INHERITED_NAME_KEYS for k in keys):
            unknown |= self.c.namespace_unknown
        if any(k.startswith("pcsa.") and k not in _INHERITED_NAME_KEYS for k in keys):
            unknown |= self.c.sa_unknown
        hit = self._label_cache[sel] = (m & ~unknown, m | unknown)
        return hit

    def namespace_selector(self, sel: Selector, at: np.ndarray | None = None) -> Mask:
        """Namespace labels are unknown for namespaces missing from the input, unless the
        selector only names the namespace (kubernetes.io/metadata.name is immutable).
        ``at``: the masks at these classes only (ascending indices)."""
        c = self.c
        code = _at(c.namespace_code, at)
        has_ns = code >= 0
        m = self._by_namespace(sel)[code]  # code -1 (no namespace) reads the trailing False
        if sel.label_keys() <= _NAME_KEYS:
            return m, m
        unknown = _at(c.namespace_unknown, at) & has_ns
        return m & ~unknown, m | unknown

    def _by_namespace(self, sel: Selector) -> np.ndarray:
        """(namespaces + 1,) ``sel`` on each namespace's labels, then False. A class's namespace
        labels are its namespace's, so this is the selector on every class at a 17th of the
        work and memory (thousands of distinct namespace selectors at scale)."""
        hit = self._ns_sel_cache.get(sel)
        if hit is None:
            if self._ns_table is None:
                firsts, t = self._firsts(), self.c.namespace_labels
                self._ns_table = LabelTable(n=firsts.size, columns={k: v[firsts] for k, v in t.columns.items()},
                                            vocab=t.vocab)
            hit = self._ns_sel_cache[sel] = np.append(sel.mask(self._ns_table), False)
        return hit

    # -- candidates: where a side can match at all ---------------------------------------
    def namespace_members(self, namespace: str | None) -> np.ndarray:
        """The classes of ``namespace`` (ascending); none for an unknown name."""
        k = self.ns_code.get(namespace, -1) if namespace is not None else -1
        return self._members()[k] if k >= 0 else np.zeros(0, dtype=np.int32)

    def _firsts(self) -> np.ndarray:
        """The first class of each namespace (every namespace has one)."""
        if self._ns_firsts is None:
            self._ns_firsts = np.array([m[0] for m in self._members()], dtype=np.int64)
        return self._ns_firsts

    def _members(self) -> list[np.ndarray]:
        """The classes of each namespace (ascending), by namespace code."""
        if self._ns_members is None:
            code = self.c.namespace_code
            order = np.argsort(code, kind="stable").astype(np.int32)
            bounds = np.searchsorted(code[order], np.arange(len(self.c.namespaces) + 1))
            self._ns_members = [order[bounds[i]:bounds[i + 1]] for i in range(len(self.c.namespaces))]
            self._ns_sizes = np.diff(bounds)
        return self._ns_members

    def _support(self, table: str, sel: Selector) -> np.ndarray | None:
        """The classes a pod or namespace selector possibly matches (ascending), when few."""
        key = (table, sel)
        if key not in self._support_cache:
            if table == "labels":
                idx = np.flatnonzero(self.labels_selector(sel)[1])
                self._support_cache[key] = idx.astype(np.int32) if idx.size <= self._narrow else None
            else:
                self._support_cache[key] = self._namespace_support(sel)
        return self._support_cache[key]

    def _namespace_support(self, sel: Selector) -> np.ndarray | None:
        """``flatnonzero(namespace_selector(sel)[1])`` from the namespaces (a class's namespace
        labels and whether they are unknown are its namespace's), when it is narrow."""
        members = self._members()
        chosen = self._by_namespace(sel)[:-1]
        if not sel.label_keys() <= _NAME_KEYS:
            chosen = chosen | self.c.namespace_unknown[self._firsts()]
        if int(self._ns_sizes[chosen].sum()) > self._narrow:
            return None
        picked = [members[k] for k in np.flatnonzero(chosen)]
        return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int32)

    def _candidates(self, em: EntityMatch) -> np.ndarray | None:
        """A few classes (ascending) outside which the side's entity part matches nothing, not
        even possibly; None when there is no such small set (then every class is evaluated)."""
        scope = em.scope_namespace is not None and (em.entity_scoped or em.not_selector is not None)
        if not (em.pods_only or em.entity_scoped or scope):
            return None
        found: list[np.ndarray] = []
        if em.namespace_selector is not None:
            hit = self._support("namespace_labels", em.namespace_selector)
            if hit is not None:
                found.append(hit)
        elif not em.global_only and scope:
            found.append(self.namespace_members(em.scope_namespace))
        if em.selector is not None:
            hit = self._support("labels", em.selector)
            if hit is not None:
                found.append(hit)
        found = [f for f in found if f.size <= self._narrow]
        return min(found, key=len) if found else None

    # -- addresses -------------------------------------------------------------------------
    def nets(self, nets: tuple[IPNetwork, ...]) -> Mask:
        """Classes whose address lies in any of ``nets``; unknown IPs are judged against the
        pod CIDRs: certainly inside if every candidate atom is, possibly if any is."""
        hit = self._net_cache.get(nets)
        if hit is not None:
            return hit
        atoms = self.addr.space.mask(nets)
        by_class = np.zeros(self.addr.count, dtype=bool)
        by_class[self.addr.klass[atoms]] = True
        cand = atoms[self.addr.unknown_candidates]
        unknown_def = bool(cand.size) and bool(cand.all())
        unknown_pos = bool(cand.any())
        ac = self.c.address_class
        known = ac != NO_ADDRESS
        inside = np.where(known, by_class[np.where(known, ac, 0)], False)
        definite = np.where(known, inside, unknown_def)
        possible = np.where(known, inside, unknown_pos)
        self._net_cache[nets] = (definite, possible)
        return definite, possible

    # -- a whole side (without ports) --------------------------------------------------------
    def side(self, em: EntityMatch, *, cache: bool = True) -> Mask:
        """``cache=False``: the caller keeps the result (the engine stores sides bit-packed)."""
        hit = self._side_cache.get(em)
        if hit is None:
            hit = self._side(em)
            if cache:
                self._side_cache[em] = hit
        return hit  # type: ignore[return-value]

    @staticmethod
    def mask_key(em: EntityMatch) -> EntityMatch:
        """``em`` without what ``side`` does not read: ports, and the policy's namespace where a
        namespace selector or ``global()`` overrides it. Sides that differ only there (one
        peer per port list, the same namespaceSelector in many namespaces) match alike."""
        keep_scope = em.namespace_selector is None and not em.global_only
        if not (em.pods_only or em.entity_scoped):
            keep_scope = True  # the scope alone decides whether the entity part applies
        return replace(em, ports=None, not_ports=(), scope_namespace=em.scope_namespace if keep_scope else None)

    def side_rows(self, em: EntityMatch) -> Mask:
        """``side`` as the ascending class indices matched (definite, possible) when a few
        candidate classes bound it, evaluated on those only; else as bool masks. Most sides are
        a pod selector in one namespace: evaluating them on every class was the set-up cost."""
        at = self._candidates(em)
        if at is not None:
            hit = self._side(em, at)
            if hit is not None:
                return at[hit[0]], at[hit[1]]
        return self._side(em)  # type: ignore[return-value]

    def _side(self, em: EntityMatch, at: np.ndarray | None = None) -> Mask | None:
        """CAL-25..32: selector, namespace scope and service accounts pick *entities*; a rule
        matches the IPs of those entities, so a network set also brings in every class whose
        address lies inside its CIDRs (CAL-29, CAL-41); then notSelector and nets.

        ``at``: evaluated at these classes only, which the caller knows bound the entity part;
        None when a network set is among them (its addresses may reach further)."""
        c = self.c
        n = c.n if at is None else at.size
        d = np.ones(n, dtype=bool)
        p = np.ones(n, dtype=bool)
        scope = em.scope_namespace is not None and (em.entity_scoped or em.not_selector is not None)
        if em.pods_only or em.entity_scoped or scope:
            base = _at(c.is_pod if em.pods_only else self.is_entity, at)
            ed, ep = base.copy(), base.copy()
            if em.selector is not None:
                sd, sp = self.labels_selector(em.selector)
                ed &= _at(sd, at)
                ep &= _at(sp, at)
            if em.namespace_selector is not None:
                nd, np_ = self.namespace_selector(em.namespace_selector, at)
                ed &= nd
                ep &= np_
            elif em.global_only:
                m = _at(c.namespace_code, at) < 0
                ed &= m
                ep &= m
            elif scope:
                m = _at(c.namespace_code, at) == self.ns_code.get(em.scope_namespace, -2)
                ed &= m
                ep &= m
            if em.service_account_names is not None:
                names = em.service_account_names
                accounts = c.service_account if at is None else [c.service_account[i] for i in at]
                # CAL-7: a names match tests projectcalico.org/serviceaccount, absent for names of 63+ chars.
                m = np.array([sa is not None and sa in names and len(sa) < 63 for sa in accounts],
                             dtype=bool) & _at(c.is_pod, at)
                ed &= m
                ep &= m
            if em.service_account_selector is not None and not always_true(em.service_account_selector):
                # CAL-1: a selector true on every label set holds whatever the account's labels
                is_pod, sa_unknown = _at(c.is_pod, at), _at(c.sa_unknown, at)
                m = _at(self._sel("sa_labels", em.service_account_selector), at) & is_pod
                ed &= m & ~sa_unknown
                ep &= m | (sa_unknown & is_pod)
            if not em.pods_only:
                if at is not None and (ep & _at(c.is_netset, at)).any():
                    return None
                if at is None:
                    ed, ep = self._by_address(ed, ep)
            d &= ed
            p &= ep
        if em.pods_excluded:  # ADM-7: node / domain peers are never pod-network pods
            d &= ~_at(c.is_pod, at)
            p &= ~_at(c.is_pod, at)
        if em.not_selector is not None:
            sd, sp = self.labels_selector(em.not_selector)
            nd, np_ = self._by_address(sd & self.is_entity, sp & self.is_entity)
            d &= ~_at(np_, at)
            p &= ~_at(nd, at)
        if em.nets:
            nd, np_ = self.nets(em.nets)
            d &= _at(nd, at)
            p &= _at(np_, at)
        if em.not_nets:
            nd, np_ = self.nets(em.not_nets)
            d &= ~_at(np_, at)
            p &= ~_at(nd, at)
        return d, p

    def _by_address(self, ed: np.ndarray, ep: np.ndarray) -> Mask:
        """CAL-41: the IPs of the matched network sets match too, whoever owns them (pods
        included; a pod whose IP is unknown matches possibly, see ``nets``)."""
        sets_p = ep & self.c.is_netset
        if not sets_p.any():
            return ed, ep
        sets_d = ed & self.c.is_netset
        nets_d = tuple(sorted({n for i in np.flatnonzero(sets_d) for n in self.c.networks[i]},
                              key=lambda n: (n.version, n)))
        nets_p = tuple(sorted({n for i in np.flatnonzero(sets_p) for n in self.c.networks[i]},
                              key=lambda n: (n.version, n)))
        if nets_d:
            ed = ed | self.nets(nets_d)[0]
        if nets_p:
            ep = ep | self.nets(nets_p)[1]
        return ed, ep

    # -- ports ---------------------------------------------------------------------------------
    def protocol_mask(self, rule: Rule) -> np.ndarray:
        m = self.ports.protocol_mask(_proto(rule.protocol))
        if rule.not_protocol is not None:
            m = m & ~self.ports.protocol_mask(_proto(rule.not_protocol))
        return m

    def numeric_ports(self, ports: tuple[PortRange, ...], protocol: str | None) -> np.ndarray:
        out = np.zeros(len(self.ports), dtype=bool)
        protos = [protocol] if protocol else list(PORT_PROTOCOLS)
        for pr in ports:
            if pr.name is None:
                for proto in protos:
                    out |= self.ports.range_mask(proto, pr.lo, pr.hi)
        return out

    def named_ports(self, spec: NamedPortSpec) -> np.ndarray:
        """(classes × atoms): atoms a class's own named ports resolve to (K8S-12, CAL-33)."""
        hit = self._named_cache.get(spec)
        if hit is not None:
            return hit
        out = np.zeros((self.c.n, len(self.ports)), dtype=bool)
        wanted = set(spec.names)
        triples, owner, which = self._named_entries()
        atom = np.full(len(triples) + 1, -1, dtype=np.int64)  # per distinct (name, protocol, number)
        for t, (name, proto, number) in enumerate(triples):
            if name in wanted and (spec.protocol is None or spec.protocol == proto):
                idx = self.ports.index_of(proto, number)
                if idx is not None:
                    atom[t] = idx
        hit = atom[which] >= 0
        out[owner[hit], atom[which][hit]] = True
        self._named_cache[spec] = out
        return out

    def _named_entries(self) -> tuple[list[tuple[str, str, int]], np.ndarray, np.ndarray]:
        """Every class's named ports once: the distinct (name, protocol, number) triples, and per
        entry its class and triple, so a spec costs a pass over the triples, not the classes."""
        if self._named_flat is None:
            index: dict[tuple[str, str, int], int] = {}
            owner: list[int] = []
            which: list[int] = []
            for cls, named in enumerate(self.c.named_ports):
                for triple in named:
                    owner.append(cls)
                    which.append(index.setdefault(tuple(triple), len(index)))  # type: ignore[arg-type]
            self._named_flat = (list(index), np.array(owner, dtype=np.int64), np.array(which, dtype=np.int64))
        return self._named_flat

    def named_code(self, spec: NamedPortSpec) -> np.ndarray:
        """A small int per class identifying its resolution of ``spec`` (for grouping)."""
        hit = self._named_code_cache.get(spec)
        if hit is None:
            m = self.named_ports(spec)
            _, inv = unique_rows(np.packbits(m, axis=1))
            hit = self._named_code_cache[spec] = inv.astype(np.int32)
        return hit


def _proto(value: str | int | None) -> str | None:
    return None if value is None else canonical_protocol(value)


def named_spec(ports: tuple[PortRange, ...] | None, protocol: str | int | None) -> NamedPortSpec | None:
    if not ports:
        return None
    names = tuple(sorted({p.name for p in ports if p.name is not None}))
    if not names:
        return None
    return NamedPortSpec(names=names, protocol=_proto(protocol))
