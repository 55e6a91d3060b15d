"""What the API server checks in Go code and no published schema says (K8S-19, CAL-10).

Name and label syntax (DNS-1123 label/subdomain, DNS-1035 label, qualified names), port
numbers and IANA_SVC_NAME port names, CIDRs, and the NetworkPolicy peer/port rules. Each
check yields ``(path, message)``; the schema has already made sure of the types, so values
are only looked at where their type is right.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterator, Mapping
from typing import Any

Path = tuple[str | int, ...]
Found = Iterator[tuple[Path, str]]

_DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_IANA_SVC_NAME = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?\Z")

# Names are DNS-1123 subdomains unless the kind says otherwise (the API server's NameFn).
_NAME_RULES = {"Namespace": "label", "Service": "dns1035"}
_POD_TEMPLATE_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job",
                       "ReplicationController")  # a pod template at spec.template


def dns1123_label(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _DNS1123_LABEL.match(value):
        return ("must be a DNS-1123 label: lower case letters, digits and '-', starting and "
                "ending with a letter or digit")
    return None


def dns1123_subdomain(value: str) -> str | None:
    if len(value) > 253:
        return "must be no more than 253 characters"
    if not _DNS1123_SUBDOMAIN.match(value):
        return ("must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', starting "
                "and ending with a letter or digit")
    return None


def dns1035_label(value: str) -> str | None:
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _DNS1035_LABEL.match(value):
        return ("must be a DNS-1035 label: lower case letters, digits and '-', starting with a "
                "letter and ending with a letter or digit")
    return None


@functools.lru_cache(maxsize=1 << 16)
def qualified_name(value: str) -> str | None:
    """A label or annotation key: ``[prefix/]name`` (prefix a DNS subdomain, name ≤ 63).
    Cached: a few keys repeat over every pod (≈ 0.2 s of 1.8 s of validation at 10k pods)."""
    prefix, slash, name = value.rpartition("/")
    if slash:
        if not prefix:
            return "prefix part must not be empty"
        problem = dns1123_subdomain(prefix)
        if problem:
            return f"prefix part {problem}"
    if not name:
        return "name part must not be empty"
    if len(name) > 63:
        return "name part must be no more than 63 characters"
    if not _QUALIFIED_NAME.match(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', starting and "
                "ending with an alphanumeric character")
    return None


@functools.lru_cache(maxsize=1 << 16)
def label_value(value: str) -> str | None:
    """A label value (cached like ``qualified_name``: values repeat over a workload's pods)."""
    if len(value) > 63:
        return "must be no more than 63 characters"
    if not _LABEL_VALUE.match(value):
        return ("must be empty or consist of alphanumeric characters, '-', '_' or '.', starting "
                "and ending with an alphanumeric character")
    return None


def port_name(value: str) -> str | None:
    """IANA_SVC_NAME: ≤ 15 characters, lower case letters, digits and '-', at least one letter."""
    if len(value) > 15:
        return "must be no more than 15 characters (IANA_SVC_NAME)"
    if not _IANA_SVC_NAME.match(value):
        return ("must be an IANA_SVC_NAME: lower case letters, digits and '-', starting and ending "
                "with a letter or digit")
    if "--" in value:
        return "must not contain consecutive hyphens (IANA_SVC_NAME)"
    if not re.search("[a-z]", value):
        return "must contain at least one letter (IANA_SVC_NAME); a number must not be quoted"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _port_number(value: Any, path: Path, *, zero_ok: bool = False) -> Found:
    if _is_int(value) and not (1 <= value <= 65535 or (zero_ok and value == 0)):
        yield path, f"{value} is out of range 1-65535 (not a valid port number)"


def _int_or_name(value: Any, path: Path) -> Found:
    if _is_int(value):
        yield from _port_number(value, path)
    elif isinstance(value, str):
        problem = port_name(value)
        if problem:
            yield path, f"{value!r} {problem}"


def cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as the API server parses it (host bits allowed), or None."""
    if not isinstance(value, str) or "/" not in value:
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


# -- pieces ---------------------------------------------------------------------------------


def _get(mapping: Any, key: str) -> Any:
    return mapping.get(key) if isinstance(mapping, Mapping) else None


def _items(value: Any) -> list[tuple[int, Any]]:
    return list(enumerate(value)) if isinstance(value, list) else []


def labels(value: Any, path: Path, *, values: bool = True) -> Found:
    """A labels map (or a selector's matchLabels); ``values=False`` for annotations."""
    if not isinstance(value, Mapping):
        return
    for key in sorted(k for k in value if isinstance(k, str)):
        problem = qualified_name(key)
        if problem:
            yield (*path, key), f"key {key!r}: {problem}"
        elif values and isinstance(value[key], str):
            problem = label_value(value[key])
            if problem:
                yield (*path, key), f"value {value[key]!r}: {problem}"


def metadata(kind: str, meta: Any) -> Found:
    name = _get(meta, "name")
    if isinstance(name, str):
        rule = _NAME_RULES.get(kind, "subdomain")
        check = {"label": dns1123_label, "dns1035": dns1035_label}.get(rule, dns1123_subdomain)
        problem = check(name)
        if problem:
            yield ("metadata", "name"), f"{name!r} {problem}"
    namespace = _get(meta, "namespace")
    if isinstance(namespace, str) and namespace:
        problem = dns1123_label(namespace)
        if problem:
            yield ("metadata", "namespace"), f"{namespace!r} {problem}"
    yield from labels(_get(meta, "labels"), ("metadata", "labels"))
    yield from labels(_get(meta, "annotations"), ("metadata", "annotations"), values=False)


def label_selector(value: Any, path: Path) -> Found:
    if not isinstance(value, Mapping):
        return
    yield from labels(value.get("matchLabels"), (*path, "matchLabels"))
    for i, req in _items(value.get("matchExpressions")):
        at = (*path, "matchExpressions", i)
        if not isinstance(req, Mapping):
            continue
        key = req.get("key")
        if isinstance(key, str):
            problem = qualified_name(key)
            if problem:
                yield (*at, "key"), f"{key!r}: {problem}"
        operator = req.get("operator")
        values = req.get("values") if isinstance(req.get("values"), list) else []
        if operator in ("In", "NotIn") and not values:
            yield (*at, "values"), f"must be non-empty when operator is {operator}"
        elif operator in ("Exists", "DoesNotExist") and values:
            yield (*at, "values"), f"must be empty when operator is {operator}"
        for j, item in enumerate(values):
            if isinstance(item, str):
                problem = label_value(item)
                if problem:
                    yield (*at, "values", j), f"{item!r}: {problem}"


def pod_spec(spec: Any, path: Path) -> Found:
    if not isinstance(spec, Mapping):
        return
    names: dict[str, Path] = {}
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for i, container in _items(spec.get(field)):
            for j, port in _items(_get(container, "ports")):
                at = (*path, field, i, "ports", j)
                if not isinstance(port, Mapping):
                    continue
                yield from _port_number(port.get("containerPort"), (*at, "containerPort"))
                yield from _port_number(port.get("hostPort"), (*at, "hostPort"), zero_ok=True)
                name = port.get("name")
                if isinstance(name, str) and name:
                    problem = port_name(name)
                    if problem:
                        yield (*at, "name"), f"{name!r} {problem}"
                    elif name in names:
                        yield (*at, "name"), f"duplicate port name {name!r} in the pod"
                    names[name] = at
    for field in ("serviceAccountName", "serviceAccount"):
        value = spec.get(field)
        if isinstance(value, str) and value:
            problem = dns1123_subdomain(value)
            if problem:
                yield (*path, field), f"{value!r} {problem}"
    yield from labels(spec.get("nodeSelector"), (*path, "nodeSelector"))


def pod_template(template: Any, path: Path) -> Found:
    if not isinstance(template, Mapping):
        return
    meta = template.get("metadata")
    yield from labels(_get(meta, "labels"), (*path, "metadata", "labels"))
    yield from labels(_get(meta, "annotations"), (*path, "metadata", "annotations"), values=False)
    yield from pod_spec(template.get("spec"), (*path, "spec"))


def service(spec: Any) -> Found:
    if not isinstance(spec, Mapping):
        return
    ports = _items(spec.get("ports"))
    seen: set[str] = set()
    for i, port in ports:
        at = ("spec", "ports", i)
        if not isinstance(port, Mapping):
            continue
        yield from _port_number(port.get("port"), (*at, "port"))
        yield from _port_number(port.get("nodePort"), (*at, "nodePort"), zero_ok=True)
        target = port.get("targetPort")
        if not (_is_int(target) and target == 0):
            yield from _int_or_name(target, (*at, "targetPort"))
        name = port.get("name")
        if isinstance(name, str) and name:
            problem = dns1123_label(name)
            if problem:
                yield (*at, "name"), f"{name!r} {problem}"
            elif name in seen:
                yield (*at, "name"), f"duplicate port name {name!r}"
            seen.add(name)
        elif len(ports) > 1:
            yield (*at, "name"), "required when a Service has more than one port"
    yield from labels(spec.get("selector"), ("spec", "selector"))


def _np_port(port: Mapping[str, Any], at: Path) -> Found:
    number = port.get("port")
    end = port.get("endPort")
    yield from _int_or_name(number, (*at, "port"))
    if end is not None and _is_int(end):
        if number is None:
            yield (*at, "endPort"), "endPort requires a numeric port"
        elif not _is_int(number):
            yield (*at, "endPort"), f"endPort cannot be used with the named port {number!r}"
        elif not 1 <= end <= 65535:
            yield (*at, "endPort"), f"{end} is out of range 1-65535"
        elif end < number:
            yield (*at, "endPort"), f"{end} is lower than port {number}"


def _np_peer(peer: Any, at: Path) -> Found:
    if not isinstance(peer, Mapping):
        return
    set_fields = [f for f in ("podSelector", "namespaceSelector", "ipBlock") if peer.get(f) is not None]
    if not set_fields:
        yield at, "a peer must set podSelector, namespaceSelector or ipBlock"
        return
    if "ipBlock" in set_fields and len(set_fields) > 1:
        yield at, "ipBlock cannot be combined with podSelector or namespaceSelector"
    for field in ("podSelector", "namespaceSelector"):
        yield from label_selector(peer.get(field), (*at, field))
    block = peer.get("ipBlock")
    if isinstance(block, Mapping) and isinstance(block.get("cidr"), str):
        net = cidr(block["cidr"])
        if net is None:
            yield (*at, "ipBlock", "cidr"), f"{block['cidr']!r} is not a valid CIDR (e.g. 10.0.0.0/8)"
            return
        for j, item in _items(block.get("except")):
            if not isinstance(item, str):
                continue
            ex = cidr(item)
            if ex is None:
                yield (*at, "ipBlock", "except", j), f"{item!r} is not a valid CIDR"
            elif ex.version != net.version or not ex.subnet_of(net) or ex == net:  # type: ignore[arg-type]
                yield (*at, "ipBlock", "except", j), f"{item} is not strictly inside {block['cidr']}"


def network_policy(spec: Any) -> Found:
    if not isinstance(spec, Mapping):
        return
    yield from label_selector(spec.get("podSelector"), ("spec", "podSelector"))
    types = spec.get("policyTypes")
    if isinstance(types, list) and (len(types) > 2 or len(set(types)) != len(types)):
        yield ("spec", "policyTypes"), "must list Ingress and/or Egress, each at most once"
    for field, peers in (("ingress", "from"), ("egress", "to")):
        for i, rule in _items(spec.get(field)):
            at = ("spec", field, i)
            if not isinstance(rule, Mapping):
                continue
            for j, port in _items(rule.get("ports")):
                if isinstance(port, Mapping):
                    yield from _np_port(port, (*at, "ports", j))
            for j, peer in _items(rule.get(peers)):
                yield from _np_peer(peer, (*at, peers, j))


def by_kind(kind_key: str, body: Mapping[str, Any]) -> Found:
    """Every hand-written check for one object of ``kind_key`` (``Pod``, ``calico/Tier``…)."""
    kind = kind_key.rsplit("/", 1)[-1]
    yield from metadata(kind if "/" not in kind_key else "", body.get("metadata"))
    spec = body.get("spec")
    if kind_key == "Pod":
        yield from pod_spec(spec, ("spec",))
    elif kind_key in _POD_TEMPLATE_KINDS:
        if kind_key == "ReplicationController":  # a plain map, not a LabelSelector
            yield from labels(_get(spec, "selector"), ("spec", "selector"))
        else:
            yield from label_selector(_get(spec, "selector"), ("spec", "selector"))
        yield from pod_template(_get(spec, "template"), ("spec", "template"))
    elif kind_key == "CronJob":
        job = _get(_get(spec, "jobTemplate"), "spec")
        yield from pod_template(_get(job, "template"), ("spec", "jobTemplate", "spec", "template"))
    elif kind_key == "Service":
        yield from service(spec)
    elif kind_key == "NetworkPolicy":
        yield from network_policy(spec)
