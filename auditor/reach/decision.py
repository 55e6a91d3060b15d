"""What decided a flow, as data: the deciding rule (or default) of each side, and its one text form.

The engine and the Istio layer record a ``Decision`` per rule-table entry when they compile
(a policy rule, or a default such as "no policy applies", CAL-22/K8S-2, or "end of tier",
CAL-21/K8S-4). A flow's ``decided_by`` is a ``DecidedBy``: the deciding decisions of its
egress, ingress and Istio sides. Its text ("egress: …; ingress: …") is derived here, by
``decided_by_text`` and ``rule_text``, and nowhere else; readers use the fields, never the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from auditor.causes import Cause, unique


class Reason(StrEnum):
    """Why a decision was made: a policy rule matched, or which default applied."""

    RULE = "rule"  # a Kubernetes/Calico rule matched (CAL-24)
    MESH_RULE = "mesh-rule"  # an Istio AuthorizationPolicy rule matched (IST-11)
    NO_POLICY = "no-policy"  # not isolated (K8S-2, CAL-22)
    EXTERNAL = "external"  # the peer is outside the cluster: no endpoint policy
    PROFILE = "profile"  # every applicable tier passed (CAL-22)
    END_OF_TIER = "end-of-tier"  # no rule of the tier matched (CAL-21, K8S-4)
    INVALID_POLICY = "invalid-policy"  # lenient: an invalid AuthorizationPolicy may decide anything
    MTLS_REFUSED = "mtls-refused"  # STRICT mTLS refuses plaintext (IST-9, CMP-5)
    NO_PROXY = "no-proxy"  # IST-1
    NOT_INTERCEPTED = "not-intercepted"  # IST-3
    NO_ALLOW_POLICY = "no-allow-policy"  # IST-11
    NONE_MATCHED = "none-matched"  # IST-11, IST-12
    NOT_HTTP = "not-http"  # IST-4
    AMBIENT_L7 = "ambient-l7"  # IST-29
    WAYPOINT = "waypoint"  # IST-29: not modelled
    MTLS_UNKNOWN = "mtls-unknown"  # IST-7, IST-9
    UNREADABLE = "unreadable"  # CMP-10


RULE_REASONS = (Reason.RULE, Reason.MESH_RULE)  # a policy's rule decided (not a default, not a whole policy)

# The words of each reason; ``{ids}`` is the comma-separated rule ids of the decision.
_WORDS: dict[Reason, str] = {
    Reason.NO_POLICY: "no policy applies: not isolated ({ids})",
    Reason.EXTERNAL: "external peer: no endpoint policy",
    Reason.PROFILE: "every applicable tier passed: namespace profile allows ({ids})",
    Reason.END_OF_TIER: "tier {tier}: no rule matched, end-of-tier {action} ({ids})",
    Reason.INVALID_POLICY: "{policy}: invalid ({detail}): may allow or deny anything (unknown)",
    Reason.MTLS_REFUSED: "mTLS STRICT ({detail}): plaintext refused ({ids})",
    Reason.NO_PROXY: "no Istio proxy at the destination: no mTLS or authorization enforcement ({ids})",
    Reason.NOT_INTERCEPTED: "not intercepted by the sidecar (non-TCP or excluded inbound port, {ids})",
    Reason.NO_ALLOW_POLICY: "no ALLOW AuthorizationPolicy applies: allowed by default ({ids})",
    Reason.NONE_MATCHED: "ALLOW AuthorizationPolicies apply and none matched: denied ({ids})",
    Reason.NOT_HTTP: "HTTP port: a non-HTTP connection is not forwarded ({ids})",
    Reason.AMBIENT_L7: "ambient without waypoint: a policy needs L7 attributes, ztunnel drops all traffic ({ids})",
    Reason.WAYPOINT: "ambient with a waypoint: L7 policy at the waypoint is not modelled ({ids}): unknown",
    Reason.MTLS_UNKNOWN: "mTLS mode or client TLS is uncertain ({ids}): unknown",
    Reason.UNREADABLE: "AuthorizationPolicies could not be read: unknown ({ids})",
}


@dataclass(frozen=True)
class Decision:
    """One entry of a rule table: a policy rule, or the default that decides when no rule does.

    ``action`` is the effect (``Allow``, ``Deny``, ``Pass``; ``""`` when it may be either).
    ``policy`` is the policy's ref as in the result's ``policies`` list (``NetworkPolicy ns/x``);
    ``direction`` and ``rule_index`` locate the rule in the source object (Istio rules have no
    direction). ``policy_action`` is an AuthorizationPolicy's action (``ALLOW``, ``DENY``,
    ``CUSTOM``, ``AUDIT``). ``detail``: the words a default needs (why a policy is invalid, the
    PeerAuthentications of an mTLS refusal).
    """

    reason: Reason
    action: str = ""
    tier: str | None = None
    policy: str | None = None
    policy_kind: str | None = None
    policy_namespace: str | None = None
    policy_name: str | None = None
    direction: str | None = None
    rule_index: int | None = None
    policy_action: str | None = None
    rule_ids: tuple[str, ...] = ()
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "reason": self.reason.value,
            "action": self.action,
            "tier": self.tier,
            "policy": None if self.policy is None else {
                "ref": self.policy, "kind": self.policy_kind, "namespace": self.policy_namespace,
                "name": self.policy_name, "action": self.policy_action},
            "direction": self.direction,
            "rule_index": self.rule_index,
            "rule_ids": list(self.rule_ids),
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Decision:
        """The decision ``to_json`` wrote (the audit result's ``decided_by_detail``)."""
        pol = obj.get("policy") or {}
        return cls(Reason(obj["reason"]), str(obj.get("action") or ""), tier=obj.get("tier"), policy=pol.get("ref"),
                   policy_kind=pol.get("kind"), policy_namespace=pol.get("namespace"), policy_name=pol.get("name"),
                   direction=obj.get("direction"), rule_index=obj.get("rule_index"), policy_action=pol.get("action"),
                   rule_ids=tuple(obj.get("rule_ids") or ()), detail=str(obj.get("detail") or ""))


_SHORT = (Reason.NO_POLICY, Reason.END_OF_TIER)  # reports leave out their rule ids (K8S-2, CAL-21, ...)


def rule_text(d: Decision, *, short: bool = False) -> str:
    """The one text form of a decision (the engine's and ``explain``'s words for it); ``short``:
    as reports show it, without the rule ids of the two everyday defaults."""
    if short and d.reason in _SHORT:
        return _WORDS[d.reason].replace(" ({ids})", "").format(tier=d.tier, action=d.action)
    if d.reason == Reason.RULE:
        where = f"{d.policy} {d.direction} rule {d.rule_index} ({d.action})"
        return where if d.tier in (None, "", "default") else f"tier {d.tier}: {where}"
    if d.reason == Reason.MESH_RULE:
        return f"{d.policy} rule {d.rule_index} ({d.policy_action})"
    return _WORDS[d.reason].format(ids=", ".join(d.rule_ids), tier=d.tier, action=d.action, policy=d.policy,
                                   detail=d.detail)


@dataclass(frozen=True)
class SideDecision:
    """The deciding rules of one side of a flow: ``egress`` (source's policies), ``ingress``
    (destination's policies) or ``istio`` (the mesh layer at the destination). At most three
    rules are named; ``more`` counts the others."""

    side: str
    rules: tuple[Decision, ...]
    more: int = 0
    causes: tuple[Cause, ...] = ()  # why this side is unknown (empty when it is not)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"side": self.side, "rules": [r.to_json() for r in self.rules], "more": self.more}
        if self.causes:
            out["why_unknown"] = [c.to_json() for c in self.causes]
        return out


def side_text(s: SideDecision) -> str:
    texts = [rule_text(r) for r in s.rules] + ([f"+{s.more} more"] if s.more else [])
    if not texts:
        texts = ["unknown"]
    return f"{s.side}: " + " | ".join(texts)


def decided_by_text(sides: Sequence[SideDecision]) -> str:
    """``egress: …; ingress: …[; istio: …]``: the ``decided_by`` column of every output."""
    return "; ".join(side_text(s) for s in sides)


class DecidedBy(str):
    """A flow's ``decided_by``: its text (derived from ``sides`` by ``decided_by_text``) that
    also carries the structure, so every writer that shows text keeps working and every writer
    that needs the policy reads ``sides`` (``decided_by_detail`` in JSON)."""

    sides: tuple[SideDecision, ...]

    def __new__(cls, sides: Sequence[SideDecision]) -> DecidedBy:
        self = super().__new__(cls, decided_by_text(sides))
        self.sides = tuple(sides)
        return self

    @classmethod
    def of_sides(cls, sides: Sequence[SideDecision], text: str) -> DecidedBy:
        """``DecidedBy(sides)`` when its text (``decided_by_text(sides)``) is known already."""
        self = str.__new__(cls, text)
        self.sides = tuple(sides)
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (DecidedBy, (self.sides,))

    # Two flows with the same rules but different causes are different evidence.
    def __eq__(self, other: object) -> bool:
        if isinstance(other, DecidedBy):
            return str.__eq__(self, other) and self.causes == other.causes
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __hash__(self) -> int:
        return str.__hash__(self)  # as its text: lookups by the plain text keep working

    @property
    def causes(self) -> tuple[Cause, ...]:
        """Why the flow is unknown, over all sides (empty when it is not)."""
        return unique(c for s in self.sides for c in s.causes)

    def with_causes(self, by_side: Mapping[str, Sequence[Cause]]) -> DecidedBy:
        """This decision with the causes of each side attached (a side not named yet is added)."""
        if not any(by_side.values()):
            return self
        sides = [SideDecision(s.side, s.rules, s.more, unique((*s.causes, *by_side.get(s.side, ()))))
                 for s in self.sides]
        have = {s.side for s in sides}
        sides += [SideDecision(side, (), 0, unique(cs)) for side, cs in by_side.items() if cs and side not in have]
        return DecidedBy(sides)

    def detail(self) -> list[dict[str, Any]]:
        return [s.to_json() for s in self.sides]


class CauseAttacher:
    """``DecidedBy.with_causes`` for many decisions that share their sides and causes (the rows
    of ``reach``): each side's words are made once (they do not depend on the causes) and each
    (side, causes) once, so a decision costs a join of its sides' words. Keys are object ids;
    the objects are kept in the memo, so an id is never reused while it is a key."""

    def __init__(self) -> None:
        self._words: dict[int, tuple[SideDecision, str]] = {}
        self._sides: dict[tuple[int, int], tuple[SideDecision, Sequence[Cause], SideDecision]] = {}

    def _text(self, s: SideDecision) -> str:
        hit = self._words.get(id(s))
        if hit is None:
            hit = self._words[id(s)] = (s, side_text(s))
        return hit[1]

    def __call__(self, d: DecidedBy, by_side: Mapping[str, Sequence[Cause]]) -> DecidedBy:
        if not any(by_side.values()):
            return d
        sides, texts = [], []
        for s in d.sides:
            add = by_side.get(s.side, ())
            hit = self._sides.get((id(s), id(add)))
            if hit is None:
                new = SideDecision(s.side, s.rules, s.more, unique((*s.causes, *add)))
                hit = self._sides[(id(s), id(add))] = (s, add, new)
            sides.append(hit[2])
            texts.append(self._text(s))  # a side's words do not depend on its causes
        have = {s.side for s in d.sides}
        for side, cs in by_side.items():
            if cs and side not in have:
                new = SideDecision(side, (), 0, unique(cs))
                sides.append(new)
                texts.append(side_text(new))
        return DecidedBy.of_sides(sides, "; ".join(texts))


def causes_of(decided_by: str) -> tuple[Cause, ...]:
    """The causes of a ``decided_by`` value (``()`` for words or a known verdict)."""
    return decided_by.causes if isinstance(decided_by, DecidedBy) else ()


def causes_of_detail(detail: Sequence[Mapping[str, Any]] | None) -> tuple[Cause, ...]:
    """The causes recorded in a ``decided_by_detail`` (a result read back)."""
    return unique(Cause.from_json(c) for s in detail or () for c in s.get("why_unknown") or ())


def detail_of(decided_by: str) -> list[dict[str, Any]]:
    """``decided_by_detail`` of a ``decided_by`` value: the sides of a ``DecidedBy``, else ``[]``
    (evidence whose deciding rule is a default named by words, e.g. an endpoint's isolation)."""
    return decided_by.detail() if isinstance(decided_by, DecidedBy) else []

