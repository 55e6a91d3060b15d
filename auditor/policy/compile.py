"""Snapshot → PolicySet: runs every dialect and turns what is not modelled into ``unknown``.

Anything the snapshot holds that could change a verdict but that no dialect evaluates yet is
compiled into a policy whose rules *may or may not* match: the engine then reports the
affected flows as unknown instead of guessing (CMP-10).
"""

from __future__ import annotations

from auditor.policy.admin import add_admin
from auditor.policy.calico import add_calico
from auditor.policy.ir import Action, Direction, Policy, PolicySet, Rule, RuleRef, Tier
from auditor.policy.kubernetes import translate_network_policy
from auditor.policy.selectors import All
from auditor.snapshot import Snapshot

# Kinds whose objects decide verdicts: unreadable ones make every verdict they could touch unknown.
POLICY_KINDS = frozenset({
    "NetworkPolicy", "AdminNetworkPolicy", "BaselineAdminNetworkPolicy", "ClusterNetworkPolicy",
    "calico/NetworkPolicy", "calico/GlobalNetworkPolicy", "calico/Tier", "calico/NetworkSet",
    "calico/GlobalNetworkSet", "istio/AuthorizationPolicy", "istio/PeerAuthentication",
})

UNMODELLED_TIER = Tier(name="(unmodelled)", order=float("-inf"), default_action=Action.PASS)


def compile_policies(
    snapshot: Snapshot,
    *,
    lenient: bool = False,
    dialects: tuple[str, ...] = ("kubernetes", "calico", "istio"),
    with_staged: bool = False,
    dataplane: str | None = None,
) -> PolicySet:
    """Translate every policy in the snapshot into the IR.

    ``with_staged`` evaluates Calico staged policies as if they were enforced (CAL-43).
    ``dataplane`` says who enforces the admin policies (ADM-14, ``auditor/policy/admin.py``).
    Istio objects are not L3/L4 policy: with the ``istio`` dialect they are evaluated by the
    Istio layer (``auditor/reach/l7.py``); without it they become unknown placeholders here.
    """
    out = PolicySet()
    k8s_positions: dict[tuple[str, str], int] = {}
    for res in snapshot.of_kind("NetworkPolicy"):
        k8s_positions[(res.namespace or "default", res.name)] = len(out.policies)
        out.policies.append(translate_network_policy(res, lenient=lenient))
        if out.policies[-1].broken:
            out.unsupported.append(f"{res.where}: invalid, treated as unknown: {out.policies[-1].broken}")
    if "calico" in dialects:
        add_calico(out, snapshot, lenient=lenient, with_staged=with_staged, k8s_positions=k8s_positions)
    add_admin(out, snapshot, lenient=lenient, dataplane=dataplane)
    _add_skipped(out, snapshot, with_staged)
    if "calico" not in dialects:
        for key in ("calico/NetworkPolicy", "calico/GlobalNetworkPolicy"):
            for res in snapshot.of_kind(key):
                reason = f"Calico {res.kind} is not evaluated by this version"
                _add_unknown(out, f"{res.kind} {res.namespace + '/' if res.namespace else ''}{res.name}",
                             res.namespace if key == "calico/NetworkPolicy" else None, reason,
                             ("ingress", "egress"))
    if "istio" not in dialects:
        for res in snapshot.of_kind("istio/AuthorizationPolicy"):
            reason = "Istio AuthorizationPolicy is not evaluated by this version"
            _add_unknown(out, f"AuthorizationPolicy {res.namespace}/{res.name}", res.namespace, reason, ("ingress",),
                         deny_only=True)
    for status_kind, status in sorted(snapshot.collection.items()):
        if status in ("ok", "not-installed"):
            continue
        if status_kind.startswith("istio/") and "istio" in dialects:
            continue  # the Istio layer makes the verdicts at meshed destinations unknown (l7.py)
        if status_kind in POLICY_KINDS:
            # Policies we could not read may select any endpoint and decide anything (CMP-10).
            directions: tuple[Direction, ...] = ("ingress",) if status_kind.startswith("istio/") else (
                "ingress", "egress")
            _add_unknown(out, f"{status_kind} (not read: {status})", None,
                         f"{status_kind} could not be read (collection status {status})", directions)
        else:
            out.unsupported.append(f"{status_kind}: collection status {status}; verdicts that depend on it are unknown")
    return out


# Skipped objects of these kinds can only select pods of their own namespace.
_NAMESPACE_SCOPED = frozenset({"NetworkPolicy", "calico/NetworkPolicy", "calico/StagedNetworkPolicy",
                               "calico/StagedKubernetesNetworkPolicy"})
_STAGED = frozenset({"calico/StagedNetworkPolicy", "calico/StagedGlobalNetworkPolicy",
                     "calico/StagedKubernetesNetworkPolicy"})


def _add_skipped(out: PolicySet, snapshot: Snapshot, with_staged: bool) -> None:
    """Invalid objects skipped under --lenient (issue #12 §1): a skipped policy may allow or deny
    anything it could select; any other skipped object already marks its kind ``invalid``."""
    for item in snapshot.skipped:
        if not item.scoped or (item.kind_key in _STAGED and not with_staged):
            out.unsupported.append(item.text)
            continue
        namespace = item.namespace if item.kind_key in _NAMESPACE_SCOPED else None
        ref = f"{item.kind_key} {item.namespace + '/' if item.namespace else ''}{item.name} (invalid)"
        read = (snapshot.base or snapshot).get(item.kind_key, item.namespace, item.name)
        directions = _skipped_directions(item.kind_key, read.body if read is not None else None)
        _add_unknown(out, ref, namespace, item.text, directions)


def _skipped_directions(kind_key: str, body: object) -> tuple[Direction, ...]:
    """The directions an invalid NetworkPolicy could isolate: those its ``policyTypes`` name or,
    without them, ingress and (with an ``egress`` key) egress (K8S-3, issue #13 §2.3). Anything
    less readable, and every other kind, may touch both."""
    both: tuple[Direction, ...] = ("ingress", "egress")
    spec = body.get("spec") if isinstance(body, dict) else None
    if kind_key != "NetworkPolicy" or not isinstance(spec, dict):
        return both
    types = spec.get("policyTypes")
    if types is None:
        return ("ingress", "egress") if "egress" in spec else ("ingress",)
    if isinstance(types, list) and types and all(t in ("Ingress", "Egress") for t in types):
        return tuple(d for d in both if d.capitalize() in types)
    return both


def _add_unknown(
    out: PolicySet,
    ref: str,
    namespace: str | None,
    reason: str,
    directions: tuple[Direction, ...],
    *,
    deny_only: bool = False,
) -> None:
    """A policy that may allow or deny anything for the endpoints it could select."""
    out.tiers.setdefault(UNMODELLED_TIER.name, UNMODELLED_TIER)
    rules: dict[str, tuple[Rule, ...]] = {}
    for d in directions:
        rref = RuleRef(policy=ref, tier=UNMODELLED_TIER.name, direction=d, index=0, text=reason)
        maybe_deny = Rule(action=Action.DENY, ref=rref, unmodelled=(reason,))
        maybe_allow = Rule(action=Action.ALLOW, ref=rref, unmodelled=(reason,))
        rules[d] = (maybe_deny,) if deny_only else (maybe_allow, maybe_deny)
    out.policies.append(
        Policy(
            ref=ref,
            kind="unmodelled",
            name=ref,
            namespace=namespace,
            tier=UNMODELLED_TIER.name,
            order=None,
            subject=All(),
            types=frozenset(directions),
            ingress=rules.get("ingress", ()),
            egress=rules.get("egress", ()),
        )
    )
    out.unsupported.append(f"{ref}: {reason}; affected verdicts are unknown")
