"""Rule sides → masks over endpoint classes, in three-valued logic.

Every match is a pair ``(definite, possible)`` of bool arrays: ``definite`` where the rule
certainly matches, ``possible`` where it might (an unknown pod IP against an ipBlock, an
unknown namespace against a namespaceSelector, a field the tool does not model). The engine
turns disagreement between the two into an ``unknown`` verdict, never into ``allow``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from auditor.policy.ir import PORT_PROTOCOLS, EntityMatch, IPNetwork, PortRange, Rule
from auditor.policy.selectors import Selector
from auditor.reach.classes import NO_ADDRESS, AddressClasses, ClassTable
from auditor.reach.ports import PortSpace, canonical_protocol

_NAME_KEYS = frozenset({"kubernetes.io/metadata.name", "projectcalico.org/name"})

Mask = tuple[np.ndarray, np.ndarray]


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
        self.is_entity = classes.is_pod.copy()  # network sets join here (CAL-41)
        self._ones = np.ones(classes.n, dtype=bool)

    # -- selectors -----------------------------------------------------------------------
    def _sel(self, table: str, sel: Selector) -> np.ndarray:
        key = (table, sel)
        hit = self._sel_cache.get(key)
        if hit is None:
            hit = self._sel_cache[key] = sel.mask(getattr(self.c, table))
        return hit

    def namespace_selector(self, sel: Selector) -> Mask:
        """Namespace labels are unknown for namespaces missing from the input, unless the
        selector only names the namespace (kubernetes.io/metadata.name is immutable)."""
        has_ns = self.c.namespace_code >= 0
        m = self._sel("namespace_labels", sel) & has_ns
        if sel.label_keys() <= _NAME_KEYS:
            return m, m
        unknown = self.c.namespace_unknown & has_ns
        return m & ~unknown, m | unknown

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
    def side(self, em: EntityMatch) -> Mask:
        hit = self._side_cache.get(em)
        if hit is None:
            hit = self._side_cache[em] = self._side(em)
        return hit

    def _side(self, em: EntityMatch) -> Mask:
        d = self._ones.copy()
        p = self._ones.copy()
        c = self.c
        if em.pods_only:
            d &= c.is_pod
            p &= c.is_pod
        if em.selector is not None:
            m = self._sel("labels", em.selector) & self.is_entity
            d &= m
            p &= m
        if em.namespace_selector is not None:
            nd, np_ = self.namespace_selector(em.namespace_selector)
            d &= nd & self.is_entity
            p &= np_ & self.is_entity
        elif em.global_only:
            m = (c.namespace_code < 0) & self.is_entity
            d &= m
            p &= m
        elif em.scope_namespace is not None and (em.entity_scoped or em.not_selector is not None):
            code = c.namespaces.index(em.scope_namespace) if em.scope_namespace in c.namespaces else -2
            m = c.namespace_code == code
            d &= m
            p &= m
        if em.not_selector is not None:
            m = self._sel("labels", em.not_selector) & self.is_entity
            d &= ~m
            p &= ~m
        if em.service_account_names is not None:
            names = em.service_account_names
            m = np.array([sa in names for sa in c.service_account], dtype=bool) & c.is_pod
            d &= m
            p &= m
        if em.service_account_selector is not None:
            m = self._sel("sa_labels", em.service_account_selector) & c.is_pod
            d &= m & ~c.sa_unknown
            p &= m | (c.sa_unknown & c.is_pod)
        if em.nets:
            nd, np_ = self.nets(em.nets)
            d &= nd
            p &= np_
        if em.not_nets:
            nd, np_ = self.nets(em.not_nets)
            d &= ~np_
            p &= ~nd
        return d, p

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
        for cls, named in enumerate(self.c.named_ports):
            for name, proto, number in named:
                if name in wanted and (spec.protocol is None or spec.protocol == proto):
                    idx = self.ports.index_of(proto, number)
                    if idx is not None:
                        out[cls, idx] = True
        self._named_cache[spec] = out
        return out

    def named_code(self, spec: NamedPortSpec) -> np.ndarray:
        """A small int per class identifying its resolution of ``spec`` (for grouping)."""
        hit = self._named_code_cache.get(spec)
        if hit is None:
            m = self.named_ports(spec)
            _, inv = np.unique(np.packbits(m, axis=1), axis=0, return_inverse=True)
            hit = self._named_code_cache[spec] = inv.reshape(-1).astype(np.int32)
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
