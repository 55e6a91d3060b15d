"""What an assertion kind is: one class that parses its spec, evaluates it and says what it protects.

A kind declares

- ``name``: the ``kind:`` written in a pack;
- ``parse``: the ``assert:`` mapping → ``Assertion``, validated against the pack's zones, every
  mistake one ``file:line: path: problem`` error (``SpecReader``);
- ``evaluate``: (``Context``, control) → ``Outcome`` (violations, unknown items, blocking
  reasons); ``describe``: the claim in words;
- ``depends_on``: resource kinds whose collection failure makes it unknown (blocking);
  ``needs_members``: whether a non-optional zone it names that selects nothing makes it unknown;
- ``protects``: the zones the CI gate guards against new inbound flows (from the spec as written,
  so that a saved result answers too);
- ``scope``: the flows it judges, for the evidence flow table.

``registry.py`` maps names to kinds; nothing else holds per-kind code.

Soundness rules (a control is ``pass`` only if everything it depends on is modelled and known):

- a flow verdict ``unknown`` in a relevant cell, or a unit whose zone membership is only
  possible, gives an *unknown flow*: the control is ``unknown`` unless a definite violation
  makes it ``fail``;
- a kind the control depends on that was not collected (``forbidden``/``error``), a protected
  zone that selects nothing (``needs_members``), or a layer this version does not model makes
  it ``unknown`` whatever else was found (*blocking* reasons).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from auditor.controls.assertions.context import Context, Outcome
from auditor.controls.model import Assertion, Control, Peer
from auditor.controls.specs import SpecReader
from auditor.controls.zones import Unit, ZoneIndex
from auditor.kinds import WORKLOAD_KINDS
from auditor.yamlfile import Reader

POD_KINDS = ("Namespace", "Pod", "ServiceAccount", *WORKLOAD_KINDS)
NETWORK_KINDS = (
    *POD_KINDS,
    "NetworkPolicy",
    "AdminNetworkPolicy",
    "BaselineAdminNetworkPolicy",
    "ClusterNetworkPolicy",
    "calico/NetworkPolicy",
    "calico/GlobalNetworkPolicy",
    "calico/Tier",
    "calico/NetworkSet",
    "calico/GlobalNetworkSet",
    "calico/HostEndpoint",
)
MESH_KINDS = ("istio/PeerAuthentication", "istio/AuthorizationPolicy")

# One end of the flows a control judges: these units, every entity, or every external network.
Side = Sequence[Unit] | Literal["all", "external"]


class AssertionKind:
    """Base of every assertion kind (see the module docstring)."""

    name: ClassVar[str] = ""
    depends_on: ClassVar[tuple[str, ...]] = NETWORK_KINDS
    needs_members: ClassVar[bool] = True

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        raise NotImplementedError

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        raise NotImplementedError

    def describe(self, ctx: Context, a: Assertion) -> str:
        raise NotImplementedError

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return []

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return []


def zone_names(value: Any) -> list[str]:
    """Zone names of an assertion peer as written: ``zone``, ``[zones]``, ``{zone: …}``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        z = value.get("zone")
        return [str(z)] if z else []
    if isinstance(value, list):
        return [n for v in value for n in zone_names(v)]
    return []


def peers_text(peers: Sequence[Peer]) -> str:
    return ", ".join(p.text() for p in peers)


def workload_units(zi: ZoneIndex, zones: Sequence[str]) -> list[Unit]:
    """The units of the zones' workloads (no external networks)."""
    return [u for u in zi.zone_units(zones) if u.kind != "external"]
