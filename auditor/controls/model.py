"""What a control pack says, parsed: zones, peers, flows, assertions, controls, packs.

Typed frozen dataclasses shared by the pack loader (``pack.py``), the spec reader
(``specs.py``), zone membership (``zones.py``) and the assertion kinds (``assertions/``):
this module imports nothing else of ``controls/`` so every one of them can build on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.policy.ir import IPNetwork
from auditor.policy.selectors import Selector
from auditor.portset import PortSet
from auditor.yamlfile import Locator

ANY_EXTERNAL = ""  # Peer zone meaning "any external network or network set" (narrowed by name)


# -- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    """A named set of endpoints: pods by selectors, or external addresses by CIDRs."""

    name: str
    kind: str  # "selector" | "cidr"
    selector: Selector | None = None
    namespace_selector: Selector | None = None
    cidrs: tuple[IPNetwork, ...] = ()
    description: str = ""
    defined_in: str = ""  # file the definition came from (a pack or the --zones file)
    optional: bool = False  # may select nothing; otherwise an empty zone makes its controls unknown
    synthetic: bool = False  # a CIDR written directly in an egress-restricted allow list

    @property
    def external(self) -> bool:
        return self.kind == "cidr"

    def definition(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "defined_in": self.defined_in, "optional": self.optional}
        if self.kind == "cidr":
            out["cidrs"] = [str(n) for n in self.cidrs]
        else:
            out["selector"] = None if self.selector is None else str(self.selector)
            out["namespace_selector"] = None if self.namespace_selector is None else str(self.namespace_selector)
        return out


@dataclass(frozen=True)
class Peer:
    """One side of a flow in an assertion: a zone, optionally narrowed to some workloads."""

    zone: str
    selector: Selector | None = None  # same label map as zone selectors
    workload: str | None = None  # glob on the workload name, e.g. "trusted/Deployment/summary"

    def text(self) -> str:
        out = self.zone or "network set"
        if self.selector is not None:
            out += f" [{self.selector}]"
        if self.workload is not None:
            out += f" [{self.workload}]"
        return out


@dataclass(frozen=True)
class Request:
    """HTTP requests an allowance is limited to (methods ∧ paths ∧ hosts; empty = any)."""

    methods: tuple[str, ...] = ()
    paths: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()

    def text(self) -> str:
        parts = [",".join(self.methods) or "any method", ",".join(self.paths) or "any path"]
        if self.hosts:
            parts.append("host " + ",".join(self.hosts))
        return " ".join(parts)


@dataclass(frozen=True)
class FlowSpec:
    """``from`` → ``to`` on ``ports`` (None = every port and protocol), optionally HTTP requests."""

    src: tuple[Peer, ...] = ()
    dst: tuple[Peer, ...] = ()
    ports: PortSet | None = None
    requests: tuple[Request, ...] = ()

    def text(self) -> str:
        out = f"{_peers_text(self.src) or 'the zone'} → {_peers_text(self.dst) or 'the zone'}"
        out += f" on {self.ports.text() if self.ports is not None else 'any port'}"
        if self.requests:
            out += " for " + " | ".join(r.text() for r in self.requests)
        return out


@dataclass(frozen=True)
class Assertion:
    """One parsed ``assert:`` block. ``kind`` names its kind in the registry
    (``controls/assertions/registry.py``); each kind fills the fields it uses."""

    kind: str
    src: tuple[Peer, ...] = ()  # flows out of these peers
    dst: tuple[Peer, ...] = ()  # flows into these peers
    zones: tuple[str, ...] = ()  # zones whose workloads the assertion is about
    ports: PortSet | None = None  # None: every port and protocol
    requests: tuple[Request, ...] = ()
    allow: tuple[FlowSpec, ...] = ()  # allowances
    flows: tuple[FlowSpec, ...] = ()  # required flows
    directions: tuple[str, ...] = ()
    exclude: Selector | None = None
    require: str = "identity"  # identity factors: identity | network+identity (two-factor)
    spec: Any = field(default=None, compare=False)  # the mapping as written, for the result

    def referenced_zones(self) -> list[str]:
        names = [p.zone for p in (*self.src, *self.dst)]
        names.extend(self.zones)
        for f in (*self.allow, *self.flows):
            names.extend(p.zone for p in (*f.src, *f.dst))
        return [n for n in dict.fromkeys(names) if n != ANY_EXTERNAL]


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    references: tuple[str, ...]
    rationale: str
    severity: str
    assertion: Assertion
    index: int  # position in the pack
    # catalog → control ids in it (e.g. nist-sp-800-53-rev5: [sc-7, ac-4]); the OSCAL report's mapping
    mappings: tuple[tuple[str, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class Pack:
    id: str
    title: str
    framework: str
    version: str | None
    description: str
    path: str
    digest: str
    zones: dict[str, Zone] = field(hash=False)
    controls: tuple[Control, ...] = ()

    def selector_zones(self) -> list[str]:
        return [z.name for z in self.zones.values() if not z.external]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "framework": self.framework,
            "version": self.version,
            "path": self.path,
            "digest": self.digest,
            "controls": len(self.controls),
        }


@dataclass(frozen=True)
class ZoneMap:
    """A ``--zones`` file: zone definitions that replace the packs' ones by name."""

    path: str
    digest: str
    zones: dict[str, Zone] = field(hash=False)
    locator: Locator | None = field(default=None, compare=False, hash=False)


def _peers_text(peers: Sequence[Peer]) -> str:
    return ", ".join(p.text() for p in peers)
