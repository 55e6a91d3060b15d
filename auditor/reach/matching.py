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
from auditor.policy.selectors import Selector, always_true
from auditor.reach.classes import NO_ADDRESS, AddressClasses, ClassTable
from auditor.reach.ports import PortSpace, canonical_protocol
from auditor.reach.rowhash import unique_rows

_NAME_KEYS = frozenset({"kubernetes.io/metadata.name", "projectcalico.org/name"})
_INHERITED_NAME_KEYS = frozenset({"pcns.kubernetes.io/metadata.name", "pcns.projectcalico.org/name",
                                  "pcsa.projectcalico.org/name"})

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
        # Entities selectors can match: pods (WEPs) and network sets (CAL-8, CAL-41).
        self.is_entity = classes.is_pod | classes.is_netset
        self._ones = np.ones(classes.n, dtype=bool)
        self._label_cache: dict[Selector, Mask] = {}

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
    def side(self, em: EntityMatch, *, cache: bool = True) -> Mask:
        """``cache=False``: the caller keeps the result (the engine stores sides bit-packed)."""
        hit = self._side_cache.get(em)
        if hit is None:
            hit = self._side(em)
            if cache:
                self._side_cache[em] = hit
        return hit

    def _side(self, em: EntityMatch) -> Mask:
        """CAL-25..32: selector, namespace scope and service accounts pick *entities*; a rule
        matches the IPs of those entities, so a network set also brings in every class whose
        address lies inside its CIDRs (CAL-29, CAL-41); then notSelector and nets."""
        d = self._ones.copy()
        p = self._ones.copy()
        c = self.c
        scope = em.scope_namespace is not None and (em.entity_scoped or em.not_selector is not None)
        if em.pods_only or em.entity_scoped or scope:
            base = c.is_pod if em.pods_only else self.is_entity
            ed, ep = base.copy(), base.copy()
            if em.selector is not None:
                sd, sp = self.labels_selector(em.selector)
                ed &= sd
                ep &= sp
            if em.namespace_selector is not None:
                nd, np_ = self.namespace_selector(em.namespace_selector)
                ed &= nd
                ep &= np_
            elif em.global_only:
                m = c.namespace_code < 0
                ed &= m
                ep &= m
            elif scope:
                code = c.namespaces.index(em.scope_namespace) if em.scope_namespace in c.namespaces else -2
                m = c.namespace_code == code
                ed &= m
                ep &= m
            if em.service_account_names is not None:
                names = em.service_account_names
                # CAL-7: a names match tests projectcalico.org/serviceaccount, absent for names of 63+ chars.
                m = np.array([sa is not None and sa in names and len(sa) < 63 for sa in c.service_account],
                             dtype=bool) & c.is_pod
                ed &= m
                ep &= m
            if em.service_account_selector is not None and not always_true(em.service_account_selector):
                # CAL-1: a selector true on every label set holds whatever the account's labels
                m = self._sel("sa_labels", em.service_account_selector) & c.is_pod
                ed &= m & ~c.sa_unknown
                ep &= m | (c.sa_unknown & c.is_pod)
            if not em.pods_only:
                ed, ep = self._by_address(ed, ep)
            d &= ed
            p &= ep
        if em.pods_excluded:  # ADM-7: node / domain peers are never pod-network pods
            d &= ~c.is_pod
            p &= ~c.is_pod
        if em.not_selector is not None:
            sd, sp = self.labels_selector(em.not_selector)
            nd, np_ = self._by_address(sd & self.is_entity, sp & self.is_entity)
            d &= ~np_
            p &= ~nd
        if em.nets:
            nd, np_ = self.nets(em.nets)
            d &= nd
            p &= np_
        if em.not_nets:
            nd, np_ = self.nets(em.not_nets)
            d &= ~np_
            p &= ~nd
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
