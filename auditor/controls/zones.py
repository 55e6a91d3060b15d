"""Zone membership of the analysis' endpoint classes and workloads, in three-valued logic.

Zone selectors see the label map Calico matches a workload endpoint with: the pod's labels,
``projectcalico.org/namespace``/``orchestrator``/``serviceaccount`` (CAL-5), the namespace's
labels as ``pcns.<key>`` and the service account's labels as ``pcsa.<key>`` (Calico profile
labels). Every input of that map is part of the engine's class key (namespace, labels, service
account), so membership is a property of a *class*; a workload belongs to a zone through the
classes of its pods. External zones are the external networks of the same name.

Membership is *definite* or only *possible*: a namespace missing from the input has unknown
labels, so a selector on ``pcns.*`` keys (or a ``namespaceSelector`` on anything but the
namespace name) can only possibly match its pods. Controls treat possible members as unknown,
never as members or non-members.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from auditor.controls.model import ANY_EXTERNAL, Pack, Peer, Zone
from auditor.errors import AuditorError
from auditor.policy.labels import LabelTable
from auditor.policy.selectors import Selector
from auditor.reach.analysis import Analysis, Entity
from auditor.reach.classes import calico_labels, external_atoms

_NS_NAME_KEYS = frozenset({"kubernetes.io/metadata.name", "projectcalico.org/name"})
_PCNS_NAME_KEYS = frozenset({"pcns." + k for k in _NS_NAME_KEYS})
_PCSA_NAME_KEYS = frozenset({"pcsa.projectcalico.org/name"})

Mask = tuple[np.ndarray, np.ndarray]  # (definite, possible) over classes


@dataclass(frozen=True)
class Unit:
    """One class of one workload (or external network): the grain flows are evaluated at."""

    entity: str
    kind: str  # workload | pod | external
    namespace: str | None
    cls: int
    definite: bool  # membership of the zone/peer this unit was selected for
    single_pod: bool  # the entity is exactly one real pod: its flow to itself is not a flow (K8S-15)
    endpoints: tuple[int, ...]  # endpoints of the entity inside this class


def zone_label_map(analysis: Analysis, cls: int) -> dict[str, str]:
    """The label map zone selectors are evaluated on (see module docstring)."""
    rep = analysis.classes.representative[cls]
    if rep.kind != "pod":
        return {}
    out = calico_labels(rep)
    ns = rep.namespace or ""
    ns_labels = dict(analysis.inventory.namespace_labels.get(ns, {}))
    ns_labels.setdefault("projectcalico.org/name", ns)
    for k, v in ns_labels.items():
        out.setdefault(f"pcns.{k}", v)
    sa = rep.service_account or "default"
    sa_labels = dict(analysis.inventory.service_account_labels.get((ns, sa)) or {})
    sa_labels.setdefault("projectcalico.org/name", sa)
    for k, v in sa_labels.items():
        out.setdefault(f"pcsa.{k}", v)
    return out


class ZoneIndex:
    """Which classes and workloads are in which zone of one pack."""

    def __init__(self, analysis: Analysis, pack: Pack) -> None:
        self.analysis = analysis
        self.pack = pack
        c = analysis.classes
        self.n = c.n
        self.is_pod = c.is_pod
        self.table = LabelTable.from_maps([zone_label_map(analysis, i) for i in range(c.n)])
        self.entities: list[Entity] = list(analysis.entities("workload"))
        self.by_name = {e.name: e for e in self.entities}
        self.entity_id = {e.name: k for k, e in enumerate(self.entities)}
        self._sel_cache: dict[tuple[Selector | None, Selector | None], Mask] = {}
        self._ext_atoms: dict[int, np.ndarray] | None = None
        self._zones_of: dict[str, tuple[str, ...]] = {}
        self.masks: dict[str, Mask] = {ANY_EXTERNAL: (~c.is_pod, ~c.is_pod)}
        for zone in pack.zones.values():
            self.masks[zone.name] = self._zone_mask(zone)
        # Each (entity, class) once, in entity order: the universe units are drawn from.
        self._all: list[tuple[Entity, int, tuple[int, ...]]] = []
        members = [set(m) for m in c.members]
        eps = analysis.inventory.endpoints
        self._single: dict[str, bool] = {}
        for ent in self.entities:
            self._single[ent.name] = (
                ent.kind != "external" and len(ent.endpoints) == 1 and not eps[ent.endpoints[0]].template
            )
            for cls in ent.classes:
                inside = tuple(i for i in ent.endpoints if i in members[cls])
                self._all.append((ent, cls, inside))
        self._index = {(ent.name, cls): k for k, (ent, cls, _) in enumerate(self._all)}
        self._units: dict[tuple[int, bool], Unit] = {}

    # -- masks -------------------------------------------------------------------------------------
    def selector_mask(self, selector: Selector | None, namespace_selector: Selector | None = None) -> Mask:
        key = (selector, namespace_selector)
        hit = self._sel_cache.get(key)
        if hit is not None:
            return hit
        c = self.analysis.classes
        m = self.is_pod.copy()
        uncertain = np.zeros(self.n, dtype=bool)
        if selector is not None:
            m &= selector.mask(self.table)
            keys = selector.label_keys()
            if any(k.startswith("pcns.") and k not in _PCNS_NAME_KEYS for k in keys):
                uncertain |= c.namespace_unknown
            if any(k.startswith("pcsa.") and k not in _PCSA_NAME_KEYS for k in keys):
                uncertain |= c.sa_unknown
        if namespace_selector is not None:
            m &= namespace_selector.mask(c.namespace_labels)
            if not namespace_selector.label_keys() <= _NS_NAME_KEYS:
                uncertain |= c.namespace_unknown
        uncertain &= self.is_pod
        hit = (m & ~uncertain, m | uncertain)
        self._sel_cache[key] = hit
        return hit

    def _zone_mask(self, zone: Zone) -> Mask:
        if not zone.external:
            return self.selector_mask(zone.selector, zone.namespace_selector)
        # An external class (a named network or a Calico network set, cut by address class) is
        # in the zone when the addresses it owns lie inside the zone's CIDRs; partly inside is
        # only "possible" (its flows become unknown, never wrongly permitted or ignored).
        d = np.zeros(self.n, dtype=bool)
        p = np.zeros(self.n, dtype=bool)
        if not zone.cidrs:
            return d, p
        space = self.analysis.addresses.space
        for net in zone.cidrs:
            a, b = space.index_range(net)
            if a >= b or space.atoms[a].lo != int(net.network_address) or space.atoms[b - 1].hi != int(net.broadcast_address):
                raise AuditorError(
                    f"zone {zone.name!r}: {net} is not an external network of this analysis "
                    "(build AnalysisOptions.externals from the packs' CIDR zones)"
                )
        inside = space.mask(zone.cidrs)
        for cls, atoms in self._external_atoms().items():
            hit = inside[atoms]
            d[cls] = bool(hit.size) and bool(hit.all())
            p[cls] = bool(hit.any())
        return d, p

    def _external_atoms(self) -> dict[int, np.ndarray]:
        """Address atoms owned by each external class."""
        if self._ext_atoms is None:
            a = self.analysis
            owned = external_atoms(a.inventory, a.addresses.space, a.options.pod_cidrs)
            out: dict[int, np.ndarray] = {}
            for ent in self.entities:
                if ent.kind != "external":
                    continue
                key = a.inventory.endpoints[ent.endpoints[0]].key
                atoms = owned.get(key, np.zeros(0, dtype=np.int64))
                klass = a.addresses.klass[atoms]
                for cls in ent.classes:
                    out[cls] = atoms[klass == a.classes.address_class[cls]]
            self._ext_atoms = out
        return self._ext_atoms

    # -- units --------------------------------------------------------------------------------------
    def units(self, peers: Sequence[Peer]) -> list[Unit]:
        """Every (workload, class) that is — definitely or possibly — in any of ``peers``."""
        d, p = self.peer_masks_all(peers)
        return [self._unit(k, definite) for k, definite in zip(np.flatnonzero(p).tolist(),
                                                                d[p].tolist(), strict=True)]

    def all_units(self, *, pods: bool = True, externals: bool = True) -> list[Unit]:
        out = []
        for k, (ent, _, _) in enumerate(self._all):
            ext = ent.kind == "external"
            if (ext and externals) or (not ext and pods):
                out.append(self._unit(k, True))
        return out

    def zone_units(self, zones: Sequence[str]) -> list[Unit]:
        return self.units([Peer(zone=z) for z in zones])

    def _unit(self, k: int, definite: bool) -> Unit:
        """The unit ``self._all[k]``, made once per membership (frozen: every control that
        selects it shares it; a 10k-pod pack asks for its 6,597 units a dozen times)."""
        key = (k, definite)
        hit = self._units.get(key)
        if hit is None:
            ent, cls, inside = self._all[k]
            hit = self._units[key] = Unit(entity=ent.name, kind=ent.kind, namespace=ent.namespace, cls=cls,
                                          definite=definite, single_pod=self._single[ent.name], endpoints=inside)
        return hit

    def peer_masks_all(self, peers: Sequence[Peer]) -> tuple[np.ndarray, np.ndarray]:
        """(definite, possible) over ``self._all`` for the union of ``peers``."""
        n = len(self._all)
        d = np.zeros(n, dtype=bool)
        p = np.zeros(n, dtype=bool)
        cls_idx = np.array([cls for _, cls, _ in self._all], dtype=np.int64)
        names = [ent.name for ent, _, _ in self._all]
        for peer in peers:
            zd, zp = self.masks[peer.zone]
            pd, pp = zd[cls_idx] if n else zd[:0], zp[cls_idx] if n else zp[:0]
            if peer.selector is not None:
                sd, sp = self.selector_mask(peer.selector)
                pd = pd & sd[cls_idx]
                pp = pp & sp[cls_idx]
            if peer.workload is not None:
                w = np.array([fnmatch.fnmatchcase(name, peer.workload) for name in names], dtype=bool)
                pd = pd & w
                pp = pp & w
            d |= pd
            p |= pp
        return d, p

    def peer_masks(self, peers: Sequence[Peer], units: Sequence[Unit]) -> tuple[np.ndarray, np.ndarray]:
        """(definite, possible) membership of ``units`` in the union of ``peers``."""
        if not peers:
            ones = np.ones(len(units), dtype=bool)
            return ones, ones.copy()
        if not len(units):
            return np.zeros(0, bool), np.zeros(0, bool)
        d_all, p_all = self.peer_masks_all(peers)
        pos = np.array([self._index[(u.entity, u.cls)] for u in units], dtype=np.int64)
        return d_all[pos], p_all[pos]

    # -- per workload ------------------------------------------------------------------------------
    def zones_of(self, entity: str) -> tuple[str, ...]:
        """Zones the workload (or external network) is definitely in, sorted."""
        hit = self._zones_of.get(entity)
        if hit is not None:
            return hit
        ent = self.by_name.get(entity)
        out = []
        if ent is not None:
            for name, (d, _) in self.masks.items():
                if name != ANY_EXTERNAL and any(d[c] for c in ent.classes):
                    out.append(name)
        hit = self._zones_of[entity] = tuple(sorted(out))
        return hit

    def members(self, zone: str) -> tuple[list[str], list[str]]:
        """(definite, possible-only) member workloads of a zone."""
        d, p = self.masks[zone]
        definite, possible = [], []
        for ent in self.entities:
            if any(d[c] for c in ent.classes):
                definite.append(ent.name)
            elif any(p[c] for c in ent.classes):
                possible.append(ent.name)
        return definite, possible
