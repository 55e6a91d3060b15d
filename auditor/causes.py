"""Why a verdict is ``unknown``: one ``Cause`` (a code, its words, the object that raised it).

Every ``unknown`` the engine, the Istio layer or the input loader produces names at least one
cause, so the user can see what to add to the input (a ServiceAccount, a Namespace, a pod IP) or
what the tool does not model (an L7 rule, a header condition). ``CODES`` is the registry: each
code once, with the general words; a ``Cause`` carries the words for its object.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

CODES: dict[str, str] = {
    "sa-labels-missing": "a ServiceAccount is not in the input: its labels are unknown (CAL-1, CAL-6)",
    "namespace-missing": "a Namespace is not in the input: its labels are unknown (CAL-5, K8S-7)",
    "pod-ip-unknown-vs-ipblock": "a pod's IP is unknown and a rule names CIDRs (ipBlock/nets, CAL-29)",
    "selector-uncertain": "a selector may or may not match (labels not in the input)",
    "kind-unreadable": "objects of a kind could not be read (CMP-10)",
    "invalid-skipped": "an invalid object was skipped under --lenient: it may allow or deny anything",
    "calico-http-rule": "a Calico rule with an application-layer http match (CAL-35, ALP-1)",
    "service-endpoints-unknown": "a Calico rule names a Service whose endpoints are unknown (CAL-34)",
    "unmodelled-field": "a rule field the tool does not model",
    "source-ports": "a rule matches source ports, which are not split (some connections match, some not)",
    "icmp-code": "a rule matches an ICMP code or ports of an unsplit protocol (CAL-27)",
    "too-many-uncertain-policies": "more than three policies may or may not apply: not enumerated",
    "equal-order-tie": "policies with equal order decide differently: the tie-break is version-specific (CAL-18)",
    "maybe-pass": "a Pass rule may match: the flow may skip to the next tier (CAL-20)",
    "request-header-condition": "an AuthorizationPolicy condition on request headers (IST-22): not modelled",
    "mesh-condition": "an AuthorizationPolicy condition the tool cannot evaluate (IST-22)",
    "custom-provider": "a CUSTOM AuthorizationPolicy: the external provider decides (IST-11)",
    "mtls-uncertain": "the mTLS mode or the client's TLS is uncertain (IST-7, IST-9)",
    "waypoint-l7": "ambient with a waypoint: L7 policy at the waypoint is not modelled (IST-29)",
    "mesh-membership-uncertain": "the destination may or may not have an Istio proxy (IST-1)",
    "protocol-conflict": "the port's protocol is declared differently by two Services (IST-25)",
    "mesh-source-uncertain": "an AuthorizationPolicy source may or may not match (IST-14)",
    "dataplane-unknown": "the dataplane is not known: how it orders admin tiers decides (ADM-*, --dataplane)",
    "zone-empty": "a zone of the control selects no workload in the input: its scope is unknown",
    "control-blocked": "the control could not be evaluated (its reason names what is missing)",
    # exposure paths (EXP-2): what a static scan cannot see of how traffic enters and leaves
    "cloud-firewall": "cloud firewall or security-group rules in front of node addresses are not in the input (EXP-2)",
    "lb-impl": "whether the load balancer enforces loadBalancerSourceRanges depends on the provider (EXP-4)",
    "snat-node": "the backend may see a node address instead of the client (externalTrafficPolicy Cluster, EXP-6)",
    "dns-runtime": "a domain's addresses are known only at run time (EXP-17)",
    "controller-unknown": "no pods implementing the ingress/gateway class could be identified (EXP-9, EXP-12)",
    "invalid-object": "an invalid routing object was skipped under --lenient",
    "missing-service": "a route names a Service that is not in the input",
    "missing-port": "a route names a Service port that the Service does not declare",
    "external-host": "a gateway route's destination is a host outside the input's Services (ServiceEntry or "
                     "external name): where it leads is not modelled (EXP-14, EXP-16)",
    "no-reference-grant": "a cross-namespace backend reference without a ReferenceGrant (EXP-11)",
    "backend-kind": "a route backend of a kind other than Service is not modelled",
    "mesh-routing": "mesh routing (VirtualService/DestinationRule) beyond the gateway hop is not modelled (EXP-14)",
    "no-selector": "a Service without a selector: its endpoints are not in the input",
    "not-read": "a kind the path depends on was not read",
    "unexplained": "the engine could not name the cause (a bug: please report it)",
}


@dataclass(frozen=True, order=True)
class Cause:
    """One reason an answer is ``unknown``: ``code`` (a key of ``CODES``), ``words`` for people,
    ``object`` the input object (or rule) that raised it."""

    code: str
    words: str
    object: str = ""

    def __post_init__(self) -> None:
        if self.code not in CODES:
            raise ValueError(f"unregistered cause code {self.code!r}")

    def __str__(self) -> str:
        return f"{self.code}: {self.words}" + (f" ({self.object})" if self.object else "")

    def text(self) -> str:
        """``code: words`` (the CSV/table/explain form)."""
        return f"{self.code}: {self.words}"

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "words": self.words, "object": self.object}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Cause:
        return cls(str(obj["code"]), str(obj.get("words") or ""), str(obj.get("object") or ""))


def unique(causes: Iterable[Cause]) -> tuple[Cause, ...]:
    """Causes without repeats, sorted (deterministic outputs)."""
    return tuple(sorted(set(causes)))


def causes_text(causes: Iterable[Cause]) -> str:
    """The ``why_unknown`` cell: causes joined by `` | `` (empty when known)."""
    return " | ".join(c.text() for c in unique(causes))


def _distinct(groups: Iterable[Iterable[Cause]]) -> Counter[tuple[Cause, ...]]:
    """Groups counted (a ``Counter`` of groups is taken as already counted: streamed rows)."""
    return groups if isinstance(groups, Counter) else Counter(tuple(g) for g in groups)


def counted(groups: Iterable[Iterable[Cause]]) -> list[dict[str, Any]]:
    """Deduplicated causes with how many answers (rows, cells, flows) each explains, most first."""
    n: Counter[Cause] = Counter()
    for g, k in _distinct(groups).items():  # groups repeat: count each distinct once
        for c in unique(g):
            n[c] += k
    return [{**c.to_json(), "count": k} for c, k in sorted(n.items(), key=lambda x: (-x[1], x[0]))]


def count_line(groups: Iterable[Iterable[Cause]], what: str = "unknown cells") -> str:
    """``12 unknown cells: sa-labels-missing 10, namespace-missing 2`` (empty without any)."""
    distinct = _distinct(groups)
    total = sum(k for g, k in distinct.items() if g)
    if not total:
        return ""
    codes: Counter[str] = Counter()
    for g, k in distinct.items():
        for code in {c.code for c in g}:
            codes[code] += k
    parts = ", ".join(f"{code} {k}" for code, k in sorted(codes.items(), key=lambda x: (-x[1], x[0])))
    return f"{total} {what}: {parts}"


def classify_reason(reason: str) -> str:
    """The code of an ``unmodelled`` reason a policy compiler recorded on a rule."""
    low = reason.lower()
    if low.startswith("invalid object") or "invalid" in low.split(":")[0] or "skipped under --lenient" in low:
        return "invalid-skipped"
    if "could not be read" in low or "not read" in low:
        return "kind-unreadable"
    if "l7 http" in low or "alp-1" in low:
        return "calico-http-rule"
    if "cal-34" in low:
        return "service-endpoints-unknown"
    if "dataplane" in low:
        return "dataplane-unknown"
    if "dns-runtime" in low:  # e.g. ANP domainNames peers (EXP-17)
        return "dns-runtime"
    return "unmodelled-field"


def classify_blocking(reason: str) -> str:
    """The code of a control's blocking reason (why it could not be evaluated at all)."""
    low = reason.lower()
    if "selects no workload" in low or "selects nothing" in low:
        return "zone-empty"
    if "could not be read" in low or "not read" in low or "forbidden" in low:
        return "kind-unreadable"
    if "dataplane" in low:
        return "dataplane-unknown"
    if "dns-runtime" in low:  # e.g. egress-only-to over names: DNS decides at run time (EXP-17)
        return "dns-runtime"
    return "control-blocked"
