"""Policies as normalised rule summaries, and what changed between two of them, in words.

``policy_rules(analysis)`` is what the audit result stores under ``policy_rules`` (additive key,
see ``auditor/controls/evidence.py``): one summary per policy of every dialect, so that
``auditor diff`` can say what changed from two saved results without the manifests.

A summary is plain JSON: the policy's identity (kind, namespace, name, ``ref``), tier, order,
the endpoints it selects, its policy types, and its rules grouped as written — rule ``i`` of a
direction is ``spec.ingress[i]`` / ``spec.egress[i]`` (0-based, as in ``decided_by``). A rule
is its action, the **peers** it matches (sources for ingress, destinations for egress:
selectors printed with ``str(selector)``, namespaces, CIDRs), the **ports** (protocol and
destination ports) and any other condition. A Kubernetes rule with two peers and two protocols
becomes four IR rules; grouping them back by rule index gives the peer set × the port set the
author wrote.

``describe_changes(old, new)`` compares two summaries of the same policy and returns sentences
such as ``ingress rule 2 now also admits namespace `dev` `` — never a YAML diff.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from auditor.policy.admin import ADMIN_KINDS
from auditor.policy.ir import EntityMatch, Policy, PortRange, Rule
from auditor.policy.selectors import All, Selector

ANY_PEER = "anything"
ANY_PORT = "any protocol and port"
_NS_NAME = re.compile(r'^kubernetes\.io/metadata\.name == "([^"]+)"$')
_NS_NAMES = re.compile(r'^kubernetes\.io/metadata\.name in \{(.*)\}$')


# -- summaries -----------------------------------------------------------------------------------


def policy_rules(analysis: Any) -> list[dict[str, Any]]:
    """Every policy of the analysis (Kubernetes, Calico, Istio) as a summary, sorted by key."""
    by_ref = {res.ref: res for res in analysis.snapshot.resources}
    out: list[dict[str, Any]] = []
    for pol in analysis.policies.policies:
        res = by_ref.get(pol.ref)
        out.append(summarize_policy(pol, kind=res.kind_key if res is not None else pol.kind,
                                    namespace=res.namespace if res is not None else pol.namespace))
    mesh = getattr(analysis, "istio", None)
    if mesh is not None:
        for pol in mesh.authz:
            out.append(_authz_summary(pol))
        for pol in mesh.peer:
            out.append(_peer_authn_summary(pol))
        for pol in mesh.request:
            out.append({"ref": pol.ref, "kind": "istio/RequestAuthentication", "namespace": pol.namespace,
                        "name": pol.ref.rsplit("/", 1)[-1], "tier": "istio", "order": None,
                        "selects": _labels_text(pol.selector, pol.target_refs), "rules": []})
    out.sort(key=policy_key)
    return out


def policy_key(summary: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name): how policies are matched between two sides."""
    return (str(summary.get("kind") or ""), str(summary.get("namespace") or ""), str(summary.get("name") or ""))


def summarize_policy(pol: Policy, *, kind: str, namespace: str | None) -> dict[str, Any]:
    rules: list[dict[str, Any]] = []
    for direction in ("ingress", "egress"):
        groups: dict[int, list[Rule]] = {}
        for rule in pol.rules(direction):
            groups.setdefault(rule.ref.index, []).append(rule)
        for index in sorted(groups):
            rules.append(_rule_summary(direction, index, groups[index]))
    scope = namespace if pol.subject_namespace_selector is None else None
    pods = kind in ("NetworkPolicy", *ADMIN_KINDS)  # admin subjects are pods only (ADM-2)
    selects = _endpoints_text(pol.subject, pol.subject_namespace_selector, scope, pods_only=pods)
    if pol.subject_sa_selector is not None:
        selects += f" with service accounts `{pol.subject_sa_selector}`"
    return {
        "ref": pol.ref,
        "kind": kind,
        "namespace": namespace,
        "name": pol.name,
        "tier": pol.tier,
        "order": pol.order,
        "types": sorted(pol.types),
        "selects": selects,
        "staged": bool(pol.staged),
        "broken": pol.broken,
        "rules": rules,
    }


def _rule_summary(direction: str, index: int, rules: Sequence[Rule]) -> dict[str, Any]:
    actions = sorted({str(r.action.value) for r in rules})
    peers: set[str] = set()
    ports: set[str] = set()
    extra: set[str] = set()
    for r in rules:
        peer, local = (r.source, r.destination) if direction == "ingress" else (r.destination, r.source)
        peers.add(describe_side(peer))
        ports.update(_port_items(r))
        local_text = describe_side(local)
        if local_text != ANY_PEER:
            extra.add(("to " if direction == "ingress" else "from ") + local_text)
        if r.source.ports is not None or r.source.not_ports:
            extra.add("source ports " + _port_list(r.source.ports, r.source.not_ports))
        if r.not_protocol is not None:
            extra.add(f"protocol not {r.not_protocol}")
        if r.not_icmp is not None:
            extra.add("not " + _icmp_text(r.not_icmp))
        for why in r.unmodelled:
            extra.add(f"not modelled: {why}")
    return {
        "direction": direction,
        "index": index,
        "action": "/".join(actions),
        "peers": sorted(peers),
        "ports": sorted(ports),
        "extra": sorted(extra),
    }


def _ns_text(sel: Selector) -> str:
    if isinstance(sel, All):
        return "all namespaces"
    text = str(sel)
    m = _NS_NAME.match(text)
    if m:
        return f"namespace `{m.group(1)}`"
    m = _NS_NAMES.match(text)
    if m:
        names = [x.strip().strip('"') for x in m.group(1).split(",") if x.strip()]
        return "namespaces " + ", ".join(f"`{n}`" for n in names)
    return f"namespaces `{text}`"


def _endpoints_text(selector: Selector | None, ns_selector: Selector | None, scope: str | None, *,
                    pods_only: bool) -> str:
    what = "pods" if pods_only else "endpoints"
    where = _ns_text(ns_selector) if ns_selector is not None else (f"namespace `{scope}`" if scope else "")
    if selector is None or isinstance(selector, All):
        head = f"all {what}"
    else:
        head = f"{what} `{selector}`"
    return f"{head} in {where}" if where else head


def describe_side(m: EntityMatch) -> str:
    """One rule side without its ports, in words (``anything`` when it sets nothing)."""
    parts: list[str] = []
    if m.global_only:
        parts.append("non-namespaced endpoints (global())")
    if m.selector is not None or m.namespace_selector is not None:
        scope = m.scope_namespace if m.namespace_selector is None else None
        parts.append(_endpoints_text(m.selector, m.namespace_selector, scope, pods_only=m.pods_only))
    if m.not_selector is not None:
        parts.append(f"not `{m.not_selector}`")
    if m.service_account_names is not None:
        names = ", ".join(f"`{n}`" for n in sorted(m.service_account_names))
        parts.append(f"service accounts {names}")
    if m.service_account_selector is not None:
        parts.append(f"service accounts `{m.service_account_selector}`")
    if m.pods_excluded:
        parts.append("nodes" if m.nets else "non-pod addresses (nodes or domain names)")
    if m.nets is not None:
        text = ", ".join(f"`{n}`" for n in m.nets)
        if m.not_nets:
            text += " except " + ", ".join(f"`{n}`" for n in m.not_nets)
        parts.append(text)
    elif m.not_nets:
        parts.append("addresses not in " + ", ".join(f"`{n}`" for n in m.not_nets))
    return " and ".join(parts) if parts else ANY_PEER


def _port_list(ports: tuple[PortRange, ...] | None, not_ports: tuple[PortRange, ...]) -> str:
    text = "any port" if ports is None else ",".join(str(p).replace(":", "-") for p in ports)
    if not_ports:
        text += " except " + ",".join(str(p).replace(":", "-") for p in not_ports)
    return text


def _icmp_text(icmp: tuple[int, int | None]) -> str:
    kind, code = icmp
    return f"type {kind}" + (f" code {code}" if code is not None else "")


def _port_items(r: Rule) -> list[str]:
    """The rule's destination ports, one item per port or range (so that a diff can say which
    port was added), or one item for "any port" / a port list with exceptions."""
    d = r.destination
    proto = "any protocol," if r.protocol is None else str(r.protocol)
    if r.protocol is None and d.ports is None and not d.not_ports:
        return [ANY_PORT]
    if r.icmp is not None:
        return [f"{proto} {_icmp_text(r.icmp)}"]
    if d.ports is None and not d.not_ports:
        return [f"{proto} (any port)" if proto in ("TCP", "UDP", "SCTP", "UDPLite") else proto]
    if d.not_ports or d.ports is None:
        return [f"{proto} {_port_list(d.ports, d.not_ports)}"]
    return [f"{proto} {_port_list((p,), ())}" for p in d.ports]


def _labels_text(selector: Mapping[str, str] | None, target_refs: Iterable[str] = ()) -> str:
    refs = list(target_refs)
    if refs:
        return "targets " + ", ".join(f"`{r}`" for r in refs)
    if not selector:
        return "all workloads of the namespace"
    return "workloads `" + ", ".join(f"{k}={v}" for k, v in sorted(selector.items())) + "`"


def _authz_summary(pol: Any) -> dict[str, Any]:
    rules = None if pol.rules is None else [{"direction": "ingress", "index": r.index, "action": pol.action,
                                             "peers": [], "ports": [], "extra": [r.text or "{}"]}
                                            for r in pol.rules]
    return {
        "ref": pol.ref,
        "kind": "istio/AuthorizationPolicy",
        "namespace": pol.namespace,
        "name": pol.name,
        "tier": "istio",
        "order": None,
        "types": ["ingress"],
        "action": pol.action,
        "selects": _labels_text(pol.selector, pol.target_refs),
        "staged": bool(pol.dry_run),
        "broken": pol.broken,
        "rules": rules if rules is not None else [],
        "no_rules": rules is None,
    }


def _peer_authn_summary(pol: Any) -> dict[str, Any]:
    return {
        "ref": pol.ref,
        "kind": "istio/PeerAuthentication",
        "namespace": pol.namespace,
        "name": pol.name,
        "tier": "istio",
        "order": None,
        "selects": _labels_text(pol.selector),
        "mode": pol.mode,
        "port_modes": {str(k): v for k, v in sorted(pol.port_modes.items())},
        "broken": pol.broken,
        "rules": [],
    }


# -- changes in words --------------------------------------------------------------------------------

_VERBS = {
    ("ingress", "Allow"): "admits", ("egress", "Allow"): "allows traffic to",
    ("ingress", "Deny"): "denies traffic from", ("egress", "Deny"): "denies traffic to",
    ("ingress", "Pass"): "passes traffic from", ("egress", "Pass"): "passes traffic to",
    ("ingress", "Log"): "logs traffic from", ("egress", "Log"): "logs traffic to",
}


def _verb(direction: str, action: str) -> str:
    return _VERBS.get((direction, action), f"{action.lower()}s traffic " + ("from" if direction == "ingress" else "to"))


def _rule_content(rule: Mapping[str, Any]) -> tuple[Any, ...]:
    return (rule.get("action"), tuple(rule.get("peers", ())), tuple(rule.get("ports", ())),
            tuple(rule.get("extra", ())))


def _rule_words(rule: Mapping[str, Any]) -> str:
    peers = ", ".join(rule.get("peers", ())) or ANY_PEER
    ports = ", ".join(rule.get("ports", ())) or ANY_PORT
    extra = rule.get("extra") or []
    if rule.get("peers") == [] and rule.get("ports") == [] and extra:  # Istio: the rule as written
        return "; ".join(extra)
    out = f"{_verb(rule['direction'], str(rule.get('action')))} {peers} on {ports}"
    if extra:
        out += " (" + "; ".join(extra) + ")"
    return out


def _set_change(name: str, old: Sequence[str], new: Sequence[str], universal: str, verb: str) -> list[str]:
    """Sentences for a changed set of peers or ports of one rule."""
    added = [x for x in new if x not in old]
    removed = [x for x in old if x not in new]
    if not added and not removed:
        return []
    if universal in old or universal in new:
        return [f"{name} now {verb} {', '.join(new) or universal} (was {', '.join(old) or universal})"]
    out = []
    if added:
        out.append(f"{name} now also {verb} {', '.join(added)}")
    if removed:
        out.append(f"{name} no longer {verb} {', '.join(removed)}")
    return out


def _rule_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    direction = str(new["direction"])
    name = f"{direction} rule {new['index']}"
    out: list[str] = []
    if old.get("action") != new.get("action"):
        out.append(f"{name} action {old.get('action')} → {new.get('action')}")
    verb = _verb(direction, str(new.get("action")))
    out += _set_change(name, old.get("peers", []), new.get("peers", []), ANY_PEER, verb)
    port_verb = "allows" if new.get("action") == "Allow" else "matches"
    out += _set_change(name, old.get("ports", []), new.get("ports", []), ANY_PORT, f"{port_verb} ports")
    for x in new.get("extra", []):
        if x not in old.get("extra", []):
            out.append(f"{name} now also requires: {x}")
    for x in old.get("extra", []):
        if x not in new.get("extra", []):
            out.append(f"{name} no longer requires: {x}")
    return out


def _match_rules(old: Sequence[Mapping[str, Any]], new: Sequence[Mapping[str, Any]], ordered: bool) -> list[str]:
    """Rules of one direction: same index and content → unchanged; same content elsewhere →
    renumbered (said only where order matters); same index, other content → modified; else
    added / removed."""
    out: list[str] = []
    old_left = {int(r["index"]): r for r in old}
    new_left = {int(r["index"]): r for r in new}
    for i in sorted(set(old_left) & set(new_left)):
        if _rule_content(old_left[i]) == _rule_content(new_left[i]):
            del old_left[i], new_left[i]
    moves = []
    for j in sorted(new_left):
        content = _rule_content(new_left[j])
        hit = next((i for i in sorted(old_left) if _rule_content(old_left[i]) == content), None)
        if hit is not None:
            moves.append((hit, j))
            del old_left[hit], new_left[j]
    direction = str((new or old)[0]["direction"]) if (new or old) else "ingress"
    if moves and ordered:
        out.append(f"{direction} rules renumbered: " + ", ".join(f"{i} → {j}" for i, j in sorted(moves)))
    for i in sorted(set(old_left) & set(new_left)):
        out += _rule_changes(old_left.pop(i), new_left.pop(i))
    for j in sorted(new_left):
        out.append(f"{direction} rule {j} added: {_rule_words(new_left[j])}")
    for i in sorted(old_left):
        out.append(f"{direction} rule {i} removed (it {_rule_words(old_left[i])})")
    return out


def describe_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """What changed in one policy between two summaries, in words; [] when nothing did."""
    out: list[str] = []
    if old.get("selects") != new.get("selects"):
        out.append(f"now selects {new.get('selects')} (was {old.get('selects')})")
    old_types, new_types = set(old.get("types") or ()), set(new.get("types") or ())
    admin = new.get("kind") in ADMIN_KINDS
    for t in sorted(new_types - old_types):
        out.append(f"now has {t} rules" if admin else f"now also applies to {t} (its {t} is isolated: only its {t} rules allow)")
    for t in sorted(old_types - new_types):
        out.append(f"no longer applies to {t}")
    order_label = "priority" if admin and new.get("kind") != "BaselineAdminNetworkPolicy" else "order"
    for key, label in (("tier", "tier"), ("order", order_label), ("action", "action"), ("mode", "mTLS mode")):
        if old.get(key) != new.get(key):
            out.append(f"{label} {old.get(key)} → {new.get(key)}")
    if old.get("port_modes") != new.get("port_modes"):
        out.append(f"port-level mTLS {old.get('port_modes') or {}} → {new.get('port_modes') or {}}")
    if bool(old.get("staged")) != bool(new.get("staged")):
        out.append("now staged (not enforced)" if new.get("staged") else "no longer staged: now enforced")
    if old.get("broken") != new.get("broken"):
        out.append(f"now invalid: {new.get('broken')}" if new.get("broken") else "no longer invalid")
    if bool(old.get("no_rules")) != bool(new.get("no_rules")):
        out.append("now has no rules" if new.get("no_rules") else "now has rules")
    ordered = any(r.get("action") not in ("Allow", None) for r in (*old.get("rules", []), *new.get("rules", [])))
    for direction in ("ingress", "egress"):
        o = [r for r in old.get("rules", []) if r.get("direction") == direction]
        n = [r for r in new.get("rules", []) if r.get("direction") == direction]
        out += _match_rules(o, n, ordered)
    return out


def describe_policy(summary: Mapping[str, Any]) -> str:
    """One line for an added or removed policy: what it selects and its rules."""
    parts = [f"selects {summary.get('selects')}"]
    if summary.get("mode"):
        parts.append(f"mTLS {summary['mode']}")
    rules = summary.get("rules") or []
    types = summary.get("types") or []
    for direction in ("ingress", "egress"):
        rs = [r for r in rules if r.get("direction") == direction]
        if rs:
            parts.append(f"{direction}: " + "; ".join(f"rule {r['index']} {_rule_words(r)}" for r in rs))
        elif direction in types and summary.get("tier") != "istio":
            parts.append(f"{direction}: no rules (denies all {direction})")
    return " — ".join(parts)
