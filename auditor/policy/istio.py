"""Istio security dialect: AuthorizationPolicy, PeerAuthentication, RequestAuthentication and
sidecar injection (semantics.md part C, IST-1..29).

This module only *reads*: it validates the objects the way Istio's validation webhook would
(IST-7..27; invalid → ``InvalidResource`` naming ``resource.where``, or a ``broken`` policy
under ``--lenient`` whose verdicts become unknown) and turns them into frozen dataclasses.
The evaluation (mTLS admission, the CUSTOM → DENY → ALLOW walk over peers × ports ×
requests) lives in ``auditor/reach/l7.py``.

String values follow IST-16: ``v`` exact, ``v*`` prefix, ``*v`` suffix, ``*`` = present and
non-empty; nothing else is a wildcard. ``hosts`` are case-insensitive, everything else is not.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import InvalidResource
from auditor.policy.ir import IPNetwork
from auditor.snapshot import Resource, Snapshot

ROOT_NAMESPACE = "istio-system"  # meshConfig.rootNamespace (IST-7, IST-10)
TRUST_DOMAIN = "cluster.local"
ACTIONS = ("ALLOW", "DENY", "AUDIT", "CUSTOM")
MTLS_MODES = ("UNSET", "DISABLE", "PERMISSIVE", "STRICT")
PROXY_CONTAINER = "istio-proxy"
IGNORED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease", "local-path-storage"})
HBONE_PORT = 15008  # ambient pod↔pod tunnel port (IST-28)

# IST-22: condition keys. Values: how the key is evaluated.
_WHEN_KEYS = {
    "source.ip": "ip",
    "remote.ip": "ip",
    "source.namespace": "identity",
    "source.principal": "identity",
    "source.serviceAccount": "identity",
    "source.trustDomain": "identity",
    "destination.ip": "dst-ip",
    "destination.port": "dst-port",
    "connection.sni": "opaque",
    "request.auth.principal": "http",
    "request.auth.audiences": "http",
    "request.auth.presenter": "http",
}
_WHEN_PREFIXES = {
    "request.auth.claims[": "http",
    "request.headers[": "http",
    "experimental.envoy.filters.": "opaque",
}
_REJECTED_WHEN = ("destination.namespace", "destination.labels", "destination.name", "destination.user")

_SOURCE_FIELDS = {
    "principals", "notPrincipals", "namespaces", "notNamespaces", "serviceAccounts", "notServiceAccounts",
    "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals",
}
_OPERATION_FIELDS = {"hosts", "notHosts", "ports", "notPorts", "methods", "notMethods", "paths", "notPaths"}
_SA_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_TEMPLATE = re.compile(r"\{\*\*?\}")
_APP_PROTOCOLS = {
    "http": "http", "http2": "http", "grpc": "http", "grpc-web": "http", "h2c": "http",
    "kubernetes.io/h2c": "http", "kubernetes.io/ws": "http", "kubernetes.io/wss": "tcp",
    "https": "tcp", "tls": "tcp", "tcp": "tcp", "mongo": "tcp", "mysql": "tcp", "redis": "tcp",
}


# --------------------------------------------------------------------------------------------
# IST-16 string patterns


@dataclass(frozen=True)
class Pattern:
    """One IST-16 value: ``kind`` is exact | prefix | suffix | presence (``*``)."""

    text: str
    kind: str
    value: str

    def matches(self, s: str | None) -> bool:
        if s is None:
            return False
        if self.kind == "presence":
            return s != ""
        if self.kind == "prefix":
            return s.startswith(self.value)
        if self.kind == "suffix":
            return s.endswith(self.value)
        return s == self.value


def pattern(text: str, *, fold: bool = False) -> Pattern:
    """``*`` → presence; ``v*`` → prefix; ``*v`` → suffix; else exact (``fold``: lower-case)."""
    t = text.lower() if fold else text
    if t == "*":
        return Pattern(text, "presence", "")
    if t.endswith("*"):
        return Pattern(text, "prefix", t[:-1])
    if t.startswith("*"):
        return Pattern(text, "suffix", t[1:])
    return Pattern(text, "exact", t)


def any_match(patterns: Sequence[Pattern], s: str | None) -> bool:
    return any(p.matches(s) for p in patterns)


def principal_of(namespace: str, service_account: str, trust_domain: str = TRUST_DOMAIN) -> str:
    """IST-17: ``<trust-domain>/ns/<namespace>/sa/<service-account>`` (no ``spiffe://``)."""
    return f"{trust_domain}/ns/{namespace}/sa/{service_account}"


# --------------------------------------------------------------------------------------------
# Parsed objects


@dataclass(frozen=True)
class Source:
    """IST-15/17/18/19/20: fields ANDed, values ORed; ``None`` = field not set."""

    principals: tuple[Pattern, ...] | None = None
    not_principals: tuple[Pattern, ...] | None = None
    namespaces: tuple[Pattern, ...] | None = None
    not_namespaces: tuple[Pattern, ...] | None = None
    service_accounts: tuple[str, ...] | None = None  # "ns/sa", exact (IST-18)
    not_service_accounts: tuple[str, ...] | None = None
    ip_blocks: tuple[IPNetwork, ...] | None = None
    not_ip_blocks: tuple[IPNetwork, ...] | None = None
    remote_ip_blocks: tuple[IPNetwork, ...] | None = None
    not_remote_ip_blocks: tuple[IPNetwork, ...] | None = None
    request_principals: tuple[Pattern, ...] | None = None
    not_request_principals: tuple[Pattern, ...] | None = None

    @property
    def needs_identity(self) -> bool:
        """A positive identity field: only a peer with a verified mTLS identity can match (IST-26)."""
        return any(x is not None for x in (self.principals, self.namespaces, self.service_accounts))

    @property
    def http_only(self) -> bool:
        return self.request_principals is not None or self.not_request_principals is not None


@dataclass(frozen=True)
class Operation:
    """IST-21: ``ports`` are workload (target) ports."""

    hosts: tuple[Pattern, ...] | None = None
    not_hosts: tuple[Pattern, ...] | None = None
    ports: tuple[int, ...] | None = None
    not_ports: tuple[int, ...] | None = None
    methods: tuple[Pattern, ...] | None = None
    not_methods: tuple[Pattern, ...] | None = None
    paths: tuple[Pattern, ...] | None = None
    not_paths: tuple[Pattern, ...] | None = None
    path_templates: tuple[str, ...] = ()  # {*} / {**} templates in paths: matched only "possibly"
    not_path_templates: tuple[str, ...] = ()

    @property
    def http_only(self) -> bool:
        """IST-23: uses an attribute TCP connections do not have."""
        return any(x is not None for x in (self.hosts, self.not_hosts, self.methods, self.not_methods,
                                           self.paths, self.not_paths))


@dataclass(frozen=True)
class Condition:
    """IST-22: attribute in ``values`` (if given) and not in ``not_values`` (if given)."""

    key: str
    kind: str  # ip | identity | dst-ip | dst-port | http | opaque
    values: tuple[str, ...] | None = None
    not_values: tuple[str, ...] | None = None

    @property
    def http_only(self) -> bool:
        return self.kind == "http"


@dataclass(frozen=True)
class AuthzRule:
    """IST-14: (``from`` absent or any source) ∧ (``to`` absent or any operation) ∧ all ``when``."""

    index: int
    sources: tuple[Source, ...] | None
    operations: tuple[Operation, ...] | None
    when: tuple[Condition, ...] = ()
    text: str = ""

    @property
    def http_only(self) -> bool:
        return (any(s.http_only for s in self.sources or ()) or any(o.http_only for o in self.operations or ())
                or any(c.http_only for c in self.when))

    @property
    def needs_identity(self) -> bool:
        """Every way to match the rule needs a verified peer identity (the ``identity`` assurance)."""
        if any(c.kind == "identity" and c.values is not None for c in self.when):
            return True
        return self.sources is not None and all(s.needs_identity for s in self.sources)


@dataclass(frozen=True)
class AuthzPolicy:
    ref: str  # "AuthorizationPolicy ns/name"
    namespace: str
    name: str
    action: str
    selector: Mapping[str, str] | None  # matchLabels; None = every workload of the namespace
    target_refs: tuple[str, ...] = ()
    rules: tuple[AuthzRule, ...] | None = None  # None: no rules (ALLOW → allow nothing, IST-13)
    provider: str | None = None
    dry_run: bool = False
    broken: str | None = None  # lenient: invalid, may decide anything for its scope
    where: str = ""


@dataclass(frozen=True)
class PeerAuthn:
    ref: str
    namespace: str
    name: str
    selector: Mapping[str, str] | None
    mode: str  # UNSET | DISABLE | PERMISSIVE | STRICT
    port_modes: Mapping[int, str] = field(default_factory=dict)
    created: str | None = None
    broken: str | None = None


@dataclass(frozen=True)
class RequestAuthn:
    ref: str
    namespace: str
    selector: Mapping[str, str] | None
    target_refs: tuple[str, ...] = ()


@dataclass
class MeshPolicies:
    """Every Istio security object of the snapshot, parsed."""

    authz: list[AuthzPolicy] = field(default_factory=list)
    peer: list[PeerAuthn] = field(default_factory=list)
    request: list[RequestAuthn] = field(default_factory=list)
    root_namespace: str = ROOT_NAMESPACE
    trust_domain: str = TRUST_DOMAIN
    unreadable: dict[str, str] = field(default_factory=dict)  # kind key → collection status
    unsupported: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def present(self) -> bool:
        return bool(self.authz or self.peer or self.request or self.unreadable)


# --------------------------------------------------------------------------------------------
# Validation helpers


def _list(value: Any, at: str) -> list[Any] | None:
    """A repeated field: ``None`` when absent or empty (proto3: an empty list is unset)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise ValueError(f"{at}: expected a list, got {type(value).__name__}")
    return value or None


def _strings(value: Any, at: str) -> tuple[str, ...] | None:
    items = _list(value, at)
    if items is None:
        return None
    out = []
    for i, v in enumerate(items):
        if not isinstance(v, str) or v == "":
            raise ValueError(f"{at}[{i}]: expected a non-empty string")
        out.append(v)
    return tuple(out)


def _patterns(value: Any, at: str, *, fold: bool = False) -> tuple[Pattern, ...] | None:
    items = _strings(value, at)
    return None if items is None else tuple(pattern(v, fold=fold) for v in items)


def _cidrs(value: Any, at: str) -> tuple[IPNetwork, ...] | None:
    items = _strings(value, at)
    if items is None:
        return None
    out = []
    for i, v in enumerate(items):
        try:
            out.append(ipaddress.ip_network(v.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{at}[{i}]: {v!r} is not an IP address or CIDR (IST-19)") from None
    return tuple(out)


def _ports(value: Any, at: str) -> tuple[int, ...] | None:
    items = _list(value, at)
    if items is None:
        return None
    out = []
    for i, v in enumerate(items):
        text = str(v).strip() if isinstance(v, (str, int)) and not isinstance(v, bool) else ""
        if not text.isdigit() or not 0 <= int(text) <= 65535:
            raise ValueError(f"{at}[{i}]: {v!r} is not a port number (IST-21)")
        out.append(int(text))
    return tuple(out)


def _service_accounts(value: Any, at: str, namespace: str) -> tuple[str, ...] | None:
    items = _strings(value, at)
    if items is None:
        return None
    out = []
    for i, v in enumerate(items):
        ns, _, sa = v.rpartition("/")
        ns = ns or namespace
        if "*" in v or not _SA_NAME.match(sa) or (ns and not _SA_NAME.match(ns)) or v.count("/") > 1:
            raise ValueError(f"{at}[{i}]: {v!r} is not 'sa' or 'namespace/sa' (no wildcards, IST-18)")
        out.append(f"{ns}/{sa}")
    return tuple(out)


def _mapping(value: Any, at: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{at}: expected a mapping, got {type(value).__name__}")
    return value


def _match_labels(spec: Mapping[str, Any], at: str) -> Mapping[str, str] | None:
    if spec.get("selector") is None:
        return None
    sel = _mapping(spec["selector"], f"{at}.selector")
    extra = set(sel) - {"matchLabels"}
    if extra:
        raise ValueError(f"{at}.selector: only matchLabels is supported by Istio, not {sorted(extra)}")
    labels = _mapping(sel.get("matchLabels"), f"{at}.selector.matchLabels")
    for k, v in labels.items():
        if not isinstance(k, str) or not isinstance(v, str) or "*" in k or "*" in v:
            raise ValueError(f"{at}.selector.matchLabels: {k!r}: {v!r} is not a label (no wildcards)")
    return dict(labels)


def _target_refs(spec: Mapping[str, Any], at: str) -> tuple[str, ...]:
    refs = []
    if spec.get("targetRef") is not None:
        refs.append(spec["targetRef"])
    refs.extend(_list(spec.get("targetRefs"), f"{at}.targetRefs") or [])
    out = []
    for i, r in enumerate(refs):
        r = _mapping(r, f"{at}.targetRefs[{i}]")
        if not r.get("kind") or not r.get("name"):
            raise ValueError(f"{at}.targetRefs[{i}]: kind and name are required")
        out.append(f"{r.get('kind')}/{r.get('name')}")
    return tuple(out)


# --------------------------------------------------------------------------------------------
# AuthorizationPolicy


def _source(raw: Any, at: str, namespace: str) -> Source:
    raw = _mapping(raw, at)
    unknown = set(raw) - _SOURCE_FIELDS
    if unknown:
        raise ValueError(f"{at}: unknown field(s) {sorted(unknown)}")
    src = Source(
        principals=_patterns(raw.get("principals"), f"{at}.principals"),
        not_principals=_patterns(raw.get("notPrincipals"), f"{at}.notPrincipals"),
        namespaces=_patterns(raw.get("namespaces"), f"{at}.namespaces"),
        not_namespaces=_patterns(raw.get("notNamespaces"), f"{at}.notNamespaces"),
        service_accounts=_service_accounts(raw.get("serviceAccounts"), f"{at}.serviceAccounts", namespace),
        not_service_accounts=_service_accounts(raw.get("notServiceAccounts"), f"{at}.notServiceAccounts", namespace),
        ip_blocks=_cidrs(raw.get("ipBlocks"), f"{at}.ipBlocks"),
        not_ip_blocks=_cidrs(raw.get("notIpBlocks"), f"{at}.notIpBlocks"),
        remote_ip_blocks=_cidrs(raw.get("remoteIpBlocks"), f"{at}.remoteIpBlocks"),
        not_remote_ip_blocks=_cidrs(raw.get("notRemoteIpBlocks"), f"{at}.notRemoteIpBlocks"),
        request_principals=_patterns(raw.get("requestPrincipals"), f"{at}.requestPrincipals"),
        not_request_principals=_patterns(raw.get("notRequestPrincipals"), f"{at}.notRequestPrincipals"),
    )
    if src == Source():
        raise ValueError(f"{at}: an empty source matches nothing useful and is rejected (IST-14)")
    sa = src.service_accounts is not None or src.not_service_accounts is not None
    if sa and any(x is not None for x in (src.principals, src.not_principals, src.namespaces, src.not_namespaces)):
        raise ValueError(f"{at}: serviceAccounts cannot be combined with principals or namespaces (IST-18)")
    return src


def _operation(raw: Any, at: str) -> Operation:
    raw = _mapping(raw, at)
    unknown = set(raw) - _OPERATION_FIELDS
    if unknown:
        raise ValueError(f"{at}: unknown field(s) {sorted(unknown)}")
    paths = _strings(raw.get("paths"), f"{at}.paths")
    not_paths = _strings(raw.get("notPaths"), f"{at}.notPaths")
    templates: dict[str, list[str]] = {"paths": [], "notPaths": []}
    for name, values in (("paths", paths), ("notPaths", not_paths)):
        for i, v in enumerate(values or ()):
            if "{" in v or "}" in v:
                _check_template(v, f"{at}.{name}[{i}]")
                templates[name].append(v)
    op = Operation(
        hosts=_patterns(raw.get("hosts"), f"{at}.hosts", fold=True),
        not_hosts=_patterns(raw.get("notHosts"), f"{at}.notHosts", fold=True),
        ports=_ports(raw.get("ports"), f"{at}.ports"),
        not_ports=_ports(raw.get("notPorts"), f"{at}.notPorts"),
        methods=_patterns(raw.get("methods"), f"{at}.methods"),
        not_methods=_patterns(raw.get("notMethods"), f"{at}.notMethods"),
        paths=None if paths is None else tuple(pattern(v) for v in paths if v not in templates["paths"]),
        not_paths=None if not_paths is None else tuple(
            pattern(v) for v in not_paths if v not in templates["notPaths"]),
        path_templates=tuple(templates["paths"]),
        not_path_templates=tuple(templates["notPaths"]),
    )
    if op == Operation():
        raise ValueError(f"{at}: an empty operation is rejected (IST-14)")
    return op


def _check_template(value: str, at: str) -> None:
    """IST-21: ``{*}`` one segment, ``{**}`` the rest (last only); no other braces."""
    if not value.startswith("/"):
        raise ValueError(f"{at}: a path template must start with '/'")
    segments = value.split("/")[1:]
    for k, seg in enumerate(segments):
        if "{" in seg or "}" in seg:
            if seg not in ("{*}", "{**}"):
                raise ValueError(f"{at}: {seg!r} is not a path template segment ({{*}} or {{**}})")
            if seg == "{**}" and k != len(segments) - 1:
                raise ValueError(f"{at}: {{**}} must be the last segment")


def _condition(raw: Any, at: str) -> Condition:
    raw = _mapping(raw, at)
    key = raw.get("key")
    if not isinstance(key, str) or not key:
        raise ValueError(f"{at}.key: required")
    if key.startswith(_REJECTED_WHEN):
        raise ValueError(f"{at}.key: {key!r} is not supported by Istio (IST-22)")
    kind = _WHEN_KEYS.get(key)
    if kind is None:
        kind = next((v for p, v in _WHEN_PREFIXES.items() if key.startswith(p)), None)
    if kind is None:
        raise ValueError(f"{at}.key: unknown attribute {key!r} (IST-22)")
    values = _strings(raw.get("values"), f"{at}.values")
    not_values = _strings(raw.get("notValues"), f"{at}.notValues")
    if values is None and not_values is None:
        raise ValueError(f"{at}: values or notValues is required")
    for vals, name in ((values, "values"), (not_values, "notValues")):
        for i, v in enumerate(vals or ()):
            if kind == "ip" or (kind == "dst-ip"):
                try:
                    ipaddress.ip_network(v.strip(), strict=False)
                except ValueError:
                    raise ValueError(f"{at}.{name}[{i}]: {v!r} is not an IP or CIDR") from None
            if kind == "dst-port" and (not v.isdigit() or not 0 <= int(v) <= 65535):
                raise ValueError(f"{at}.{name}[{i}]: {v!r} is not a port number")
    return Condition(key=key, kind=kind, values=values, not_values=not_values)


def _rule(raw: Any, at: str, namespace: str, index: int) -> AuthzRule:
    import json

    raw = _mapping(raw, at)
    unknown = set(raw) - {"from", "to", "when"}
    if unknown:
        raise ValueError(f"{at}: unknown field(s) {sorted(unknown)}")
    sources = None
    if "from" in raw:
        items = raw["from"]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{at}.from: present but empty is rejected (IST-14)")
        sources = []
        for i, item in enumerate(items):
            item = _mapping(item, f"{at}.from[{i}]")
            if item.get("source") is None:
                raise ValueError(f"{at}.from[{i}].source: required (IST-14)")
            sources.append(_source(item["source"], f"{at}.from[{i}].source", namespace))
    operations = None
    if "to" in raw:
        items = raw["to"]
        if not isinstance(items, list) or not items:
            raise ValueError(f"{at}.to: present but empty is rejected (IST-14)")
        operations = []
        for i, item in enumerate(items):
            item = _mapping(item, f"{at}.to[{i}]")
            if item.get("operation") is None:
                raise ValueError(f"{at}.to[{i}].operation: required (IST-14)")
            operations.append(_operation(item["operation"], f"{at}.to[{i}].operation"))
    when = tuple(_condition(c, f"{at}.when[{i}]") for i, c in enumerate(_list(raw.get("when"), f"{at}.when") or []))
    text = json.dumps(dict(raw), sort_keys=True, separators=(",", ":"), default=str)
    return AuthzRule(index=index, sources=None if sources is None else tuple(sources),
                     operations=None if operations is None else tuple(operations), when=when, text=text)


def parse_authorization_policy(res: Resource, *, lenient: bool = False) -> AuthzPolicy:
    """IST-10..27 validation; invalid → ``InvalidResource`` (or a broken policy when lenient)."""
    ns = res.namespace or "default"
    ref = f"AuthorizationPolicy {ns}/{res.name}"
    spec = res.body.get("spec") or {}
    annotations = (res.body.get("metadata") or {}).get("annotations") or {}
    dry_run = str(annotations.get("istio.io/dry-run", "")).lower() == "true"
    try:
        spec = _mapping(spec, "spec")
        unknown = set(spec) - {"selector", "targetRef", "targetRefs", "action", "provider", "rules"}
        if unknown:
            raise ValueError(f"spec: unknown field(s) {sorted(unknown)}")
        action = str(spec.get("action") or "ALLOW")
        if action not in ACTIONS:
            raise ValueError(f"spec.action: {action!r} is not one of {', '.join(ACTIONS)}")
        selector = _match_labels(spec, "spec")
        targets = _target_refs(spec, "spec")
        if selector is not None and targets:
            raise ValueError("spec: selector and targetRef(s) are mutually exclusive (IST-10)")
        provider = None
        if spec.get("provider") is not None:
            provider = str(_mapping(spec["provider"], "spec.provider").get("name") or "")
            if action != "CUSTOM" or not provider:
                raise ValueError("spec.provider: only with action CUSTOM, and it needs a name")
        elif action == "CUSTOM":
            raise ValueError("spec.provider: required with action CUSTOM")
        raw_rules = _list(spec.get("rules"), "spec.rules")
        if raw_rules is None and action in ("DENY", "CUSTOM"):
            raise ValueError(f"spec.rules: a {action} policy needs rules (IST-13)")
        rules = None if raw_rules is None else tuple(
            _rule(r, f"spec.rules[{i}]", ns, i) for i, r in enumerate(raw_rules))
    except ValueError as exc:
        if not lenient:
            raise InvalidResource(str(exc), where=res.where) from None
        return AuthzPolicy(ref=ref, namespace=ns, name=res.name, action="ALLOW", selector=None,
                           broken=str(exc), where=res.where, dry_run=dry_run)
    return AuthzPolicy(ref=ref, namespace=ns, name=res.name, action=action, selector=selector, target_refs=targets,
                       rules=rules, provider=provider, dry_run=dry_run, where=res.where)


# --------------------------------------------------------------------------------------------
# PeerAuthentication / RequestAuthentication


def _mode(raw: Any, at: str) -> str:
    mode = str((_mapping(raw, at).get("mode")) or "UNSET").upper()
    if mode not in MTLS_MODES:
        raise ValueError(f"{at}.mode: {mode!r} is not one of {', '.join(MTLS_MODES)}")
    return mode


def parse_peer_authentication(res: Resource, *, lenient: bool = False) -> PeerAuthn:
    """IST-6..8 validation."""
    ns = res.namespace or "default"
    ref = f"PeerAuthentication {ns}/{res.name}"
    created = (res.body.get("metadata") or {}).get("creationTimestamp")
    try:
        spec = _mapping(res.body.get("spec"), "spec")
        unknown = set(spec) - {"selector", "mtls", "portLevelMtls"}
        if unknown:
            raise ValueError(f"spec: unknown field(s) {sorted(unknown)}")
        selector = _match_labels(spec, "spec")
        mode = _mode(spec.get("mtls"), "spec.mtls")
        ports: dict[int, str] = {}
        raw_ports = _mapping(spec.get("portLevelMtls"), "spec.portLevelMtls")
        if raw_ports and selector is None:
            raise ValueError("spec.portLevelMtls: only allowed with a selector (IST-8)")
        for key, value in raw_ports.items():
            text = str(key)
            if not text.isdigit() or not 1 <= int(text) <= 65535:
                raise ValueError(f"spec.portLevelMtls: {key!r} is not a port number (IST-8)")
            ports[int(text)] = _mode(value, f"spec.portLevelMtls[{text}]")
    except ValueError as exc:
        if not lenient:
            raise InvalidResource(str(exc), where=res.where) from None
        return PeerAuthn(ref=ref, namespace=ns, name=res.name, selector=None, mode="UNSET", broken=str(exc))
    return PeerAuthn(ref=ref, namespace=ns, name=res.name, selector=selector, mode=mode, port_modes=ports,
                     created=str(created) if created else None)


def parse_request_authentication(res: Resource) -> RequestAuthn:
    ns = res.namespace or "default"
    spec = res.body.get("spec") or {}
    try:
        selector = _match_labels(spec, "spec") if isinstance(spec, Mapping) else None
        targets = _target_refs(spec, "spec") if isinstance(spec, Mapping) else ()
    except ValueError:
        selector, targets = None, ()
    return RequestAuthn(ref=f"RequestAuthentication {ns}/{res.name}", namespace=ns, selector=selector,
                        target_refs=targets)


def load_mesh(
    snapshot: Snapshot,
    *,
    lenient: bool = False,
    root_namespace: str = ROOT_NAMESPACE,
    trust_domain: str = TRUST_DOMAIN,
) -> MeshPolicies:
    """Parse every Istio security object of the snapshot."""
    out = MeshPolicies(root_namespace=root_namespace, trust_domain=trust_domain)
    for res in snapshot.of_kind("istio/AuthorizationPolicy"):
        pol = parse_authorization_policy(res, lenient=lenient)
        if pol.broken:
            out.unsupported.append(f"{res.where}: invalid, treated as unknown: {pol.broken}")
        elif pol.dry_run:
            out.notes.append(f"{pol.ref}: istio.io/dry-run is set, not enforced (IST-10)")
            continue
        elif pol.target_refs:
            out.notes.append(f"{pol.ref}: targetRefs ({', '.join(pol.target_refs)}) attach to gateways/waypoints, "
                             "which sidecars ignore (IST-10); flows through a waypoint are unknown")
        elif pol.action == "AUDIT":
            out.notes.append(f"{pol.ref}: AUDIT never changes a decision (IST-11)")
        out.authz.append(pol)
    for res in snapshot.of_kind("istio/PeerAuthentication"):
        pa = parse_peer_authentication(res, lenient=lenient)
        if pa.broken:
            out.unsupported.append(f"{res.where}: invalid, treated as unknown: {pa.broken}")
        elif pa.namespace == root_namespace and pa.selector is not None:
            out.notes.append(f"{pa.ref}: a root-namespace PeerAuthentication with a selector is ignored (IST-7)")
            continue
        out.peer.append(pa)
    for res in snapshot.of_kind("istio/RequestAuthentication"):
        out.request.append(parse_request_authentication(res))
    for kind in ("istio/AuthorizationPolicy", "istio/PeerAuthentication", "istio/RequestAuthentication"):
        status = snapshot.collection.get(kind)
        if status not in (None, "ok", "not-installed"):
            out.unreadable[kind] = status
            out.unsupported.append(f"{kind} could not be read (collection status {status}): Istio verdicts at "
                                   "destinations with a sidecar are unknown")
    return out


# --------------------------------------------------------------------------------------------
# Sidecar injection and ambient enrolment (IST-2, IST-28)


@dataclass(frozen=True)
class MeshMembership:
    sidecar: bool = False
    ambient: bool = False
    waypoint: bool = False
    excluded_inbound: tuple[int, ...] = ()  # traffic.sidecar.istio.io/excludeInboundPorts (IST-3)
    included_inbound: tuple[int, ...] | None = None  # includeInboundPorts; None = "*" (all)
    uncertain: bool = False  # predicted without knowing the namespace's labels: may or may not be meshed
    why: str = field(default="", compare=False)


def _containers(spec: Mapping[str, Any]) -> tuple[list[str], list[Mapping[str, Any]]]:
    names = [str((c or {}).get("name") or "") for c in spec.get("containers") or []]
    return names, [c or {} for c in spec.get("initContainers") or []]


def _port_list(text: Any) -> tuple[int, ...]:
    out = []
    for part in str(text or "").split(","):
        part = part.strip()
        if part.isdigit() and 1 <= int(part) <= 65535:
            out.append(int(part))
    return tuple(sorted(set(out)))


def mesh_membership(
    namespace: str,
    meta: Mapping[str, Any],
    spec: Mapping[str, Any],
    namespace_labels: Mapping[str, str],
    *,
    observed: bool,
    namespace_known: bool = True,
) -> MeshMembership:
    """IST-2: the pod spec is the ground truth (an ``istio-proxy`` container, or a native-sidecar
    init container); a template (no pod observed) is predicted from labels/annotations with the
    injector's defaults (``enableNamespacesByDefault: false``, no never/alwaysInjectSelector)."""
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    excluded = _port_list(annotations.get("traffic.sidecar.istio.io/excludeInboundPorts"))
    include_text = annotations.get("traffic.sidecar.istio.io/includeInboundPorts")
    included = None if include_text is None or str(include_text).strip() == "*" else _port_list(include_text)
    waypoint = bool(labels.get("istio.io/use-waypoint") or namespace_labels.get("istio.io/use-waypoint"))
    if spec.get("hostNetwork"):
        return MeshMembership(why="host network: never injected (IST-2)")
    names, inits = _containers(spec)
    sidecar: bool | None = None
    why = ""
    if PROXY_CONTAINER in names:
        sidecar, why = True, "istio-proxy container in the pod spec"
    elif any(str(c.get("name")) == PROXY_CONTAINER and c.get("restartPolicy") == "Always" for c in inits):
        sidecar, why = True, "istio-proxy native sidecar (init container, restartPolicy Always)"
    elif observed:
        sidecar, why = False, "no istio-proxy container in the pod spec"
    uncertain = False
    if sidecar is None:
        sidecar, why = _predict(namespace, labels, annotations, namespace_labels)
        pod_says = labels.get("sidecar.istio.io/inject", annotations.get("sidecar.istio.io/inject"))
        if not namespace_known and namespace not in IGNORED_NAMESPACES and str(pod_says).lower() != "false":
            uncertain, why = True, f"namespace {namespace} is not in the input: injection cannot be predicted (IST-2)"
    if sidecar:
        return MeshMembership(sidecar=True, excluded_inbound=excluded, included_inbound=included,
                              uncertain=uncertain, why=why)
    pod_mode = labels.get("istio.io/dataplane-mode")
    ambient = pod_mode == "ambient" or (pod_mode != "none" and namespace_labels.get("istio.io/dataplane-mode") == "ambient")
    if ambient and namespace not in IGNORED_NAMESPACES:
        return MeshMembership(ambient=True, waypoint=waypoint, why="ambient (istio.io/dataplane-mode, IST-28)")
    return MeshMembership(uncertain=uncertain, why=why)


def _predict(namespace: str, labels: Mapping[str, str], annotations: Mapping[str, str],
             namespace_labels: Mapping[str, str]) -> tuple[bool, str]:
    if namespace in IGNORED_NAMESPACES:
        return False, f"namespace {namespace} is never injected (IST-2)"
    pod_value = labels.get("sidecar.istio.io/inject")
    if pod_value is None:
        pod_value = annotations.get("sidecar.istio.io/inject")
    signals: list[tuple[bool, str]] = []
    if pod_value is not None:
        signals.append((str(pod_value).lower() == "true", f"sidecar.istio.io/inject={pod_value}"))
    ns_injection = namespace_labels.get("istio-injection")
    if ns_injection is not None:
        signals.append((ns_injection == "enabled", f"namespace label istio-injection={ns_injection}"))
    elif namespace_labels.get("istio.io/rev"):
        signals.append((True, f"namespace label istio.io/rev={namespace_labels['istio.io/rev']}"))
    if labels.get("istio.io/rev"):
        signals.append((True, f"pod label istio.io/rev={labels['istio.io/rev']}"))
    for enabled, why in signals:
        if not enabled:
            return False, f"{why}: not injected (IST-2)"
    if signals:
        return True, f"{signals[0][1]}: injected at pod creation (IST-2)"
    return False, "no injection label: not injected (IST-2, enableNamespacesByDefault false)"


# --------------------------------------------------------------------------------------------
# Service port protocols (IST-4)


def port_protocol(port: Mapping[str, Any]) -> str | None:
    """``http`` | ``tcp`` | ``None`` (undeclared: auto-detected) for one Service port."""
    if str(port.get("protocol") or "TCP").upper() != "TCP":
        return None
    app = port.get("appProtocol")
    if app:
        return _APP_PROTOCOLS.get(str(app).lower())
    name = str(port.get("name") or "").lower()
    prefix = name.split("-", 1)[0]
    if name.startswith("grpc-web"):
        return "http"
    return _APP_PROTOCOLS.get(prefix)


def normalize_path(path: str) -> str:
    """The request path Istio matches (IST-21, BASE normalization): query and fragment dropped,
    RFC 3986 dot segments removed."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        return path
    out: list[str] = []
    segments = path.split("/")[1:]
    for k, seg in enumerate(segments):
        last = k == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
            continue
        if seg == "..":
            if out:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(seg)
    return "/" + "/".join(out)

