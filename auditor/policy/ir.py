"""The normalized policy IR: tiers → ordered policies → ordered rules, in Calico's model.

Kubernetes NetworkPolicies are expressed here exactly as Calico expresses them (CAL-36..39):
a policy in tier ``default`` at order 1000 with Allow rules and an end-of-tier deny. Calico
policies map onto the same structures, so one evaluator serves both dialects.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from auditor.policy.selectors import Selector

# the protocol vocabulary lives with PortSet (re-exported for the policy parsers and the engine)
from auditor.portset import PORT_PROTOCOLS as PORT_PROTOCOLS
from auditor.portset import PROTOCOL_NUMBERS as PROTOCOL_NUMBERS

Direction = Literal["ingress", "egress"]
DIRECTIONS: tuple[Direction, Direction] = ("ingress", "egress")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Action(StrEnum):
    """Rule actions (CAL-20). Kubernetes rules are all ``ALLOW``."""

    ALLOW = "Allow"
    DENY = "Deny"
    PASS = "Pass"
    LOG = "Log"


@dataclass(frozen=True)
class PortRange:
    """A numeric port range (inclusive) or a named port resolved on the endpoint that owns it."""

    lo: int = 0
    hi: int = 0
    name: str | None = None

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        return str(self.lo) if self.lo == self.hi else f"{self.lo}:{self.hi}"


@dataclass(frozen=True)
class EntityMatch:
    """One side (source or destination) of a rule (CAL-25..34).

    ``None`` means "field not set". ``scope_namespace`` is the implicit namespace limit of a
    namespaced policy (CAL-30); ``namespace_selector`` replaces it when set.
    """

    selector: Selector | None = None
    not_selector: Selector | None = None
    namespace_selector: Selector | None = None
    global_only: bool = False  # namespaceSelector: global() (CAL-9)
    scope_namespace: str | None = None
    nets: tuple[IPNetwork, ...] | None = None
    not_nets: tuple[IPNetwork, ...] = ()
    ports: tuple[PortRange, ...] | None = None
    not_ports: tuple[PortRange, ...] = ()
    service_account_names: frozenset[str] | None = None
    service_account_selector: Selector | None = None
    pods_only: bool = False  # Kubernetes peer selectors never match network sets (CAL-38)
    pods_excluded: bool = False  # node and domain peers never match pod-network pods (ADM-7, ADM-18)

    @property
    def entity_scoped(self) -> bool:
        """True when the side only matches known entities (pods, network sets), CAL-29."""
        return (
            self.selector is not None
            or self.namespace_selector is not None
            or self.service_account_names is not None
            or self.service_account_selector is not None
            or self.global_only
        )


ANY = EntityMatch()


@dataclass(frozen=True)
class RuleRef:
    """Where a rule came from, for ``decided_by`` and ``explain``."""

    policy: str  # e.g. "NetworkPolicy restricted/database-ingress"
    tier: str
    direction: Direction
    index: int  # index of the rule in the source object
    text: str = ""  # short human-readable rendering of the rule

    def __str__(self) -> str:
        return f"{self.policy} {self.direction} rule {self.index}"


@dataclass(frozen=True)
class Rule:
    """One ordered rule; matches iff every field it sets matches (CAL-25)."""

    action: Action
    ref: RuleRef
    protocol: str | int | None = None
    not_protocol: str | int | None = None
    source: EntityMatch = ANY
    destination: EntityMatch = ANY
    icmp: tuple[int, int | None] | None = None
    not_icmp: tuple[int, int | None] | None = None
    unmodelled: tuple[str, ...] = ()  # fields the tool cannot evaluate: the rule may or may not match


@dataclass(frozen=True)
class Policy:
    """A policy after dialect translation. ``subject`` selects endpoints by their label map."""

    ref: str
    kind: str
    name: str
    namespace: str | None
    tier: str
    order: float | None
    subject: Selector
    types: frozenset[Direction]
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()
    subject_namespace_selector: Selector | None = None
    subject_sa_selector: Selector | None = None
    staged: bool = False
    broken: str | None = None  # lenient mode: why the object is invalid (verdicts become unknown)
    origin: str | None = None
    order_word: str = "order"  # "priority" for admin network policies (ADM-3), in explain

    def rules(self, direction: Direction) -> tuple[Rule, ...]:
        return self.ingress if direction == "ingress" else self.egress

    @property
    def sort_key(self) -> tuple[float, str]:
        """CAL-18: ascending order, missing order last; ties by name/namespace/kind."""
        order = self.order if self.order is not None else float("inf")
        return (order, f"{self.name}/{self.namespace or ''}/{self.kind}")


@dataclass(frozen=True)
class Tier:
    """CAL-16: tiers run in ascending order; missing order last; ties by name."""

    name: str
    order: float | None
    default_action: Action = Action.DENY

    @property
    def sort_key(self) -> tuple[float, str]:
        return (self.order if self.order is not None else float("inf"), self.name)


DEFAULT_TIER = Tier(name="default", order=1_000_000, default_action=Action.DENY)


@dataclass
class PolicySet:
    """Everything the engine evaluates, plus what the dialects could not model."""

    tiers: dict[str, Tier] = field(default_factory=lambda: {"default": DEFAULT_TIER})
    policies: list[Policy] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # named in every report
    notes: list[str] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)  # e.g. the admin-policy dataplane (ADM-14)
    dataplane: str | None = None  # who enforces admin policies, in words; None when irrelevant (ADM-14)
    # Nodes a `nodes` peer selects, with their addresses: external-like endpoints "Node/<name>" (ADM-7)
    node_networks: dict[str, tuple[IPNetwork, ...]] = field(default_factory=dict)

    def ordered_tiers(self) -> list[Tier]:
        return sorted(self.tiers.values(), key=lambda t: t.sort_key)
