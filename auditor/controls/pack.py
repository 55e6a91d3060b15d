"""Control packs: YAML → validated ``Pack`` objects, zone overrides, digests.

A pack declares a framework, zones and controls (see ``docs/controls.md``). Everything is
checked before any analysis runs, and every mistake is one line naming the file, the line,
the path inside the file and what is wrong::

    controls/pci.yaml:42: controls[3].assert.from: unknown zone 'cdee' (did you mean 'cde'? ...)

Zones are selected by a Calico selector over the endpoint's label map (pod labels, the
``projectcalico.org/*`` labels, namespace labels as ``pcns.<key>`` and service-account labels
as ``pcsa.<key>``, as Calico's profiles expose them) and/or a selector over namespace labels,
or — for external zones — by CIDRs. ``--zones FILE`` replaces zone definitions by name so a
user maps their own labels without editing a pack.
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from auditor.errors import AuditorError
from auditor.policy.ir import IPNetwork
from auditor.policy.selectors import Selector, parse_selector
from auditor.portset import PortSet, parse_port_spec
from auditor.reach.endpoints import ExternalNetwork
from auditor.yamlfile import Locator, Path, Reader, YamlFile, load_yaml

PACK_SCHEMA = "zone-auditor/controls/v1"
ZONES_SCHEMA = "zone-auditor/zones/v1"
SEVERITIES = ("critical", "high", "medium", "low", "info")
DIRECTIONS = ("ingress", "egress")
ASSERTION_KINDS = (
    "no-flow",
    "allow-only",
    "must-allow",
    "isolated",
    "zone-coverage",
    "mtls-required",
    "identity-required",
    "egress-restricted",
)
MAX_ALLOWANCES = 60
IDENTITY_FACTORS = ("identity", "network+identity")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
_CATALOG_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")  # an OSCAL token: control ids in catalogs
_CONTROL_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$")
_NETWORK_SET = re.compile(r"^(GlobalNetworkSet/[^/]+|[^/]+/NetworkSet/[^/]+)$")
ANY_EXTERNAL = ""  # Peer zone meaning "any external network or network set" (narrowed by name)
_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "*")


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
    kind: str
    src: tuple[Peer, ...] = ()  # no-flow; allow-only out of these zones
    dst: tuple[Peer, ...] = ()  # no-flow; allow-only into these zones
    zones: tuple[str, ...] = ()  # isolated, zone-coverage, mtls, identity, egress-restricted
    ports: PortSet | None = None  # no-flow
    requests: tuple[Request, ...] = ()  # no-flow
    allow: tuple[FlowSpec, ...] = ()  # allow-only, egress-restricted
    flows: tuple[FlowSpec, ...] = ()  # must-allow
    directions: tuple[str, ...] = ()  # isolated
    exclude: Selector | None = None  # zone-coverage
    require: str = "identity"  # identity-required: identity | network+identity (two-factor)
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


# -- loading ----------------------------------------------------------------------------------


def _peers_text(peers: Sequence[Peer]) -> str:
    return ", ".join(p.text() for p in peers)


def _suggest(name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}defined: {', '.join(known) or 'none'}"


def _selector(r: Reader, key: str) -> Selector | None:
    text = r.str(key, required=False)
    if text is None:
        return None
    try:
        return parse_selector(text)
    except AuditorError as exc:
        raise r.fail(key, exc.message) from None


def _cidr(loc: Locator, path: Path, value: Any) -> IPNetwork:
    if not isinstance(value, str) or "/" not in value:
        raise loc.error(path, f"{value!r} is not a CIDR (expected e.g. 10.0.0.0/8 or ::/0)")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise loc.error(path, f"{value!r} is not a valid CIDR ({exc})") from None


def parse_zone(loc: Locator, path: Path, name: Any, value: Any) -> Zone:
    if not isinstance(name, str) or not _NAME.match(name):
        raise loc.error(path, f"zone name {name!r} must be lower-case letters, digits, '-', '.' or '_'")
    r = Reader(loc, path, value, "a mapping with selector, namespaceSelector or cidrs")
    r.only("description", "selector", "namespaceSelector", "cidrs", "optional")
    description = r.str("description", required=False, default="") or ""
    optional = r.value.get("optional", False)
    if not isinstance(optional, bool):
        raise r.fail("optional", f"must be true or false, got {optional!r}")
    has_sel = r.has("selector") or r.has("namespaceSelector")
    if "cidrs" in r.value:
        if has_sel:
            raise r.fail("cidrs", "a zone is selected either by selectors (workloads) or by cidrs (external), not both")
        cidrs = tuple(_cidr(loc, (*path, "cidrs", i), v) for i, v in enumerate(r.list("cidrs", allow_scalar=False)))
        return Zone(name=name, kind="cidr", cidrs=tuple(sorted(set(cidrs), key=lambda n: (n.version, n))),
                    description=description, defined_in=loc.file, optional=optional)
    if not has_sel:
        raise r.fail(None, "a zone needs 'selector' and/or 'namespaceSelector' (workloads) or 'cidrs' (external)")
    sel = _selector(r, "selector")
    ns_sel = _selector(r, "namespaceSelector")
    return Zone(name=name, kind="selector", selector=sel, namespace_selector=ns_sel, description=description,
                defined_in=loc.file, optional=optional)


def _zones_block(loc: Locator, path: Path, value: Any) -> dict[str, Zone]:
    r = Reader(loc, path, value, "a mapping of zone name → definition")
    if not r.value:
        raise r.fail(None, "must define at least one zone")
    return {str(k): parse_zone(loc, (*path, str(k)), k, v) for k, v in r.value.items()}


class _ControlParser:
    """Validates one pack's controls against its (possibly overridden) zones."""

    def __init__(self, loc: Locator, zones: dict[str, Zone]) -> None:
        self.loc = loc
        self.zones = zones

    # -- pieces ---------------------------------------------------------------------------------
    def zone(self, path: Path, value: Any, *, kind: str | None = None, why: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.loc.error(path, f"must be a zone name, got {value!r}")
        name = value.strip()
        if name not in self.zones:
            raise self.loc.error(path, f"unknown zone {name!r} ({_suggest(name, self.zones)})")
        zone = self.zones[name]
        if kind == "selector" and zone.external:
            raise self.loc.error(path, f"zone {name!r} is an external (cidrs) zone; {why or 'a workload zone is needed here'}")
        if kind == "cidr" and not zone.external:
            raise self.loc.error(path, f"zone {name!r} selects workloads; {why or 'an external (cidrs) zone is needed here'}")
        return name

    def zone_list(self, r: Reader, key: str, *, kind: str | None = None, why: str = "",
                  required: bool = True) -> tuple[str, ...]:
        items = r.list(key, required=required, allow_scalar=True, allow_empty=not required)
        out = [self.zone((*r.path, key, i) if isinstance(r.value[key], list) else (*r.path, key), v, kind=kind, why=why)
               for i, v in enumerate(items)]
        return tuple(dict.fromkeys(out))

    def peer(self, path: Path, value: Any) -> Peer:
        if isinstance(value, str):
            return Peer(zone=self.zone(path, value))
        r = Reader(self.loc, path, value, "a zone name or a mapping {zone, selector, workload}")
        r.only("zone", "selector", "workload")
        zone = self.zone((*path, "zone"), r.value.get("zone")) if r.has("zone") else None
        if zone is None:
            raise r.fail(None, "missing required field 'zone'")
        sel = _selector(r, "selector")
        workload = r.str("workload", required=False)
        if (sel is not None or workload is not None) and self.zones[zone].external:
            raise r.fail("selector" if sel is not None else "workload",
                         f"zone {zone!r} is external (cidrs): it has no workloads to narrow to")
        return Peer(zone=zone, selector=sel, workload=workload)

    def peers(self, r: Reader, key: str, *, required: bool = True) -> tuple[Peer, ...]:
        if not r.has(key):
            if required:
                raise r.fail(None, f"missing required field {key!r}")
            return ()
        raw = r.value[key]
        if isinstance(raw, list):
            if not raw:
                raise r.fail(key, "must name at least one zone")
            return tuple(self.peer((*r.path, key, i), v) for i, v in enumerate(raw))
        return (self.peer((*r.path, key), raw),)

    def ports(self, r: Reader, key: str = "ports", *, required: bool = False) -> PortSet | None:
        if not r.has(key):
            if required:
                raise r.fail(None, f"missing required field {key!r}")
            return None
        items = r.list(key, allow_scalar=True, allow_empty=False)
        out = PortSet()
        for i, v in enumerate(items):
            path = (*r.path, key, i) if isinstance(r.value[key], list) else (*r.path, key)
            try:
                out = out.union(parse_port_spec(v))
            except ValueError as exc:
                raise self.loc.error(path, f"bad port: {exc}") from None
        return out

    def requests(self, r: Reader, key: str = "requests") -> tuple[Request, ...]:
        out = []
        for i, item in enumerate(r.list(key, required=False, allow_empty=False)):
            rr = Reader(self.loc, (*r.path, key, i), item, "a mapping {methods, paths, hosts}")
            rr.only("methods", "paths", "hosts")
            methods = []
            for j, m in enumerate(rr.list("methods", required=False, allow_scalar=True)):
                if not isinstance(m, str) or m.upper() not in _HTTP_METHODS:
                    raise self.loc.error((*rr.path, "methods", j), f"unknown HTTP method {m!r} ({', '.join(_HTTP_METHODS)})")
                methods.append(m.upper())
            paths = []
            for j, p in enumerate(rr.list("paths", required=False, allow_scalar=True)):
                if not isinstance(p, str) or not p.startswith("/"):
                    raise self.loc.error((*rr.path, "paths", j), f"an HTTP path must start with '/', got {p!r}")
                paths.append(p)
            hosts = [str(h) for h in rr.list("hosts", required=False, allow_scalar=True)]
            out.append(Request(tuple(methods), tuple(paths), tuple(hosts)))
        return tuple(out)

    # -- assertions -----------------------------------------------------------------------------
    def assertion(self, path: Path, value: Any) -> Assertion:
        r = Reader(self.loc, path, value, "a mapping with 'kind'")
        kind = r.str("kind")
        if kind not in ASSERTION_KINDS:
            close = difflib.get_close_matches(str(kind), ASSERTION_KINDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise r.fail("kind", f"unknown assertion kind {kind!r} ({hint}kinds: {', '.join(ASSERTION_KINDS)})")
        method = getattr(self, "_" + kind.replace("-", "_"))
        out: Assertion = method(r)
        return Assertion(**{**out.__dict__, "spec": value})

    def _no_flow(self, r: Reader) -> Assertion:
        r.only("kind", "from", "to", "ports", "requests")
        return Assertion(kind="no-flow", src=self.peers(r, "from"), dst=self.peers(r, "to"), ports=self.ports(r),
                         requests=self.requests(r))

    def _allow_only(self, r: Reader) -> Assertion:
        r.only("kind", "to", "from", "allow")
        if r.has("to") == r.has("from"):
            raise r.fail(None, "give exactly one of 'to' (traffic into these zones) or 'from' (traffic out of them)")
        inbound = r.has("to")
        protected = self.peers(r, "to" if inbound else "from")
        allow = []
        for i, item in enumerate(r.list("allow", required=True)):
            ar = Reader(self.loc, (*r.path, "allow", i), item, "a mapping {from, to, ports, requests}")
            ar.only("from", "to", "ports", "requests")
            allow.append(FlowSpec(src=self.peers(ar, "from", required=inbound),
                                  dst=self.peers(ar, "to", required=not inbound),
                                  ports=self.ports(ar), requests=self.requests(ar)))
        if len(allow) > MAX_ALLOWANCES:
            raise r.fail("allow", f"at most {MAX_ALLOWANCES} allowances per control (got {len(allow)}): split it")
        if inbound:
            return Assertion(kind="allow-only", dst=protected, allow=tuple(allow))
        return Assertion(kind="allow-only", src=protected, allow=tuple(allow))

    def _must_allow(self, r: Reader) -> Assertion:
        r.only("kind", "flows")
        flows = []
        for i, item in enumerate(r.list("flows", allow_empty=False)):
            fr = Reader(self.loc, (*r.path, "flows", i), item, "a mapping {from, to, ports, requests}")
            fr.only("from", "to", "ports", "requests")
            flows.append(FlowSpec(src=self.peers(fr, "from"), dst=self.peers(fr, "to"),
                                  ports=self.ports(fr, required=True), requests=self.requests(fr)))
        return Assertion(kind="must-allow", flows=tuple(flows))

    def _isolated(self, r: Reader) -> Assertion:
        r.only("kind", "zones", "directions")
        zones = self.zone_list(r, "zones", kind="selector", why="isolation is a property of workloads")
        dirs = r.list("directions", required=False, allow_scalar=True, allow_empty=False) or list(DIRECTIONS)
        for i, d in enumerate(dirs):
            if d not in DIRECTIONS:
                path = (*r.path, "directions", i) if isinstance(r.value.get("directions"), list) else (*r.path, "directions")
                raise self.loc.error(path, f"unknown direction {d!r} (ingress, egress)")
        return Assertion(kind="isolated", zones=zones, directions=tuple(d for d in DIRECTIONS if d in dirs))

    def _zone_coverage(self, r: Reader) -> Assertion:
        r.only("kind", "zones", "exclude")
        zones = self.zone_list(r, "zones", kind="selector", required=False,
                               why="coverage counts workload zones only")
        if not zones:
            zones = tuple(z.name for z in self.zones.values() if not z.external)
        return Assertion(kind="zone-coverage", zones=zones, exclude=_selector(r, "exclude"))

    def _mtls_required(self, r: Reader) -> Assertion:
        r.only("kind", "zones")
        return Assertion(kind="mtls-required", zones=self.zone_list(r, "zones", kind="selector"))

    def _identity_required(self, r: Reader) -> Assertion:
        r.only("kind", "zones", "require")
        require = r.str("require", required=False, default="identity")
        if require not in IDENTITY_FACTORS:
            raise r.fail("require", f"unknown factor {require!r} ({', '.join(IDENTITY_FACTORS)})")
        return Assertion(kind="identity-required", zones=self.zone_list(r, "zones", kind="selector"),
                         require=require or "identity")

    def _egress_restricted(self, r: Reader) -> Assertion:
        r.only("kind", "zones", "allow")
        zones = self.zone_list(r, "zones", kind="selector", why="egress is restricted for workloads")
        allow = []
        for i, item in enumerate(r.list("allow", required=True)):
            path = (*r.path, "allow", i)
            if isinstance(item, str):
                allow.append(FlowSpec(dst=(self._external(path, item),)))
                continue
            ar = Reader(self.loc, path, item, "a zone name, a CIDR, or a mapping {to, ports}")
            ar.only("to", "ports")
            target = ar.value.get("to")
            if target is None:
                raise ar.fail(None, "missing required field 'to'")
            allow.append(FlowSpec(dst=(self._external((*path, "to"), target),), ports=self.ports(ar)))
        return Assertion(kind="egress-restricted", zones=zones, allow=tuple(allow))

    def _external(self, path: Path, value: Any) -> Peer:
        """A CIDR zone name, a CIDR (which becomes an external network of its own), or a Calico
        network set by name (``GlobalNetworkSet/NAME``, ``NAMESPACE/NetworkSet/NAME``, globs allowed)."""
        if isinstance(value, str) and _NETWORK_SET.match(value.strip()):
            return Peer(zone=ANY_EXTERNAL, workload=value.strip())
        if isinstance(value, str) and "/" in value and value.strip() not in self.zones:
            net = _cidr(self.loc, path, value)
            name = str(net)
            self.zones.setdefault(name, Zone(name=name, kind="cidr", cidrs=(net,),
                                             description="CIDR named in an egress-restricted allow list",
                                             defined_in=self.loc.file, optional=True, synthetic=True))
            return Peer(zone=name)
        return Peer(zone=self.zone(path, value, kind="cidr",
                                   why="egress-restricted allows external (cidrs) zones, CIDRs or network sets"))

    # -- a control ------------------------------------------------------------------------------
    def control(self, path: Path, value: Any, index: int) -> Control:
        r = Reader(self.loc, path, value, "a mapping")
        r.only("id", "title", "references", "rationale", "severity", "assert", "mappings")
        cid = r.str("id")
        if not _CONTROL_ID.match(cid or ""):
            raise r.fail("id", f"control id {cid!r} may use letters, digits, '.', '_', ':' and '-'")
        refs = r.list("references", allow_scalar=True, allow_empty=False)
        for i, ref in enumerate(refs):
            if not isinstance(ref, str) or not ref.strip():
                raise self.loc.error((*path, "references", i), "a reference must be text such as 'PCI DSS v4.0 1.3.1'")
        severity = r.str("severity")
        if severity not in SEVERITIES:
            raise r.fail("severity", f"unknown severity {severity!r} ({', '.join(SEVERITIES)})")
        if not r.has("assert"):
            raise r.fail(None, "missing required field 'assert' (exactly one assertion per control)")
        if isinstance(r.value["assert"], list):
            raise r.fail("assert", "exactly one assertion per control: split it into several controls")
        return Control(
            id=cid or "",
            title=r.str("title") or "",
            references=tuple(str(x).strip() for x in refs),
            rationale=r.str("rationale") or "",
            severity=severity or "",
            assertion=self.assertion((*path, "assert"), r.value["assert"]),
            index=index,
            mappings=_mappings(r),
        )


def _mappings(r: Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``mappings: {CATALOG: [ID, ...]}``: the control ids this control evidences in other catalogs."""
    if not r.has("mappings"):
        return ()
    m = r.sub("mappings")
    out = []
    for catalog in sorted(m.value, key=str):
        if not isinstance(catalog, str) or not _NAME.match(catalog):
            raise m.fail(str(catalog), f"catalog name {catalog!r} must be lower-case letters, digits, '-', '.' or '_'")
        ids = m.list(catalog, allow_scalar=True, allow_empty=False)
        for i, cid in enumerate(ids):
            if not isinstance(cid, str) or not _CATALOG_ID.match(cid):
                raise r.loc.error((*m.path, catalog, i), f"catalog control id {cid!r} must be an OSCAL token "
                                  "(a letter first, then letters, digits, '.', '_' or '-'), e.g. sc-7.5 or req-1.3.1")
        out.append((catalog, tuple(dict.fromkeys(ids))))
    return tuple(out)


def load_zone_map(path: str) -> ZoneMap:
    f = load_yaml(path)
    r = Reader(f.locator, (), f.data, "a mapping with 'zones'")
    r.only("schema", "zones")
    if r.has("schema") and r.str("schema") != ZONES_SCHEMA:
        raise r.fail("schema", f"unsupported schema {r.value['schema']!r} (expected {ZONES_SCHEMA!r})")
    if not r.has("zones"):
        raise r.fail(None, "missing required field 'zones'")
    return ZoneMap(path=f.path, digest=f.digest, zones=_zones_block(f.locator, ("zones",), r.value["zones"]),
                   locator=f.locator)


def parse_pack(f: YamlFile, overrides: ZoneMap | None = None) -> Pack:
    r = Reader(f.locator, (), f.data, "a control pack mapping")
    r.only("schema", "id", "title", "framework", "version", "description", "zones", "controls")
    schema = r.str("schema")
    if schema != PACK_SCHEMA:
        raise r.fail("schema", f"unsupported schema {schema!r} (expected {PACK_SCHEMA!r})")
    pack_id = r.str("id") or ""
    if not _NAME.match(pack_id):
        raise r.fail("id", f"pack id {pack_id!r} must be lower-case letters, digits, '-', '.' or '_'")
    if not r.has("zones"):
        raise r.fail(None, "missing required field 'zones'")
    zones = _zones_block(f.locator, ("zones",), r.value["zones"])
    if overrides is not None:
        for name, zone in overrides.zones.items():
            if name in zones:
                zones[name] = zone
    parser = _ControlParser(f.locator, zones)
    controls: list[Control] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(r.list("controls", allow_empty=False)):
        control = parser.control(("controls", i), item, i)
        if control.id in seen:
            raise f.locator.error(("controls", i, "id"), f"duplicate control id {control.id!r} (also controls[{seen[control.id]}])")
        seen[control.id] = i
        controls.append(control)
    return Pack(
        id=pack_id,
        title=r.str("title") or "",
        framework=r.str("framework") or "",
        version=r.str("version", required=False),
        description=r.str("description", required=False, default="") or "",
        path=f.path,
        digest=f.digest,
        zones=zones,
        controls=tuple(controls),
    )


def pack_files(paths: Sequence[str]) -> list[str]:
    """``--controls`` values: files, or directories (their ``*.yaml``/``*.yml``, sorted)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            found = sorted(os.path.join(p, n) for n in os.listdir(p) if n.endswith((".yaml", ".yml")))
            if not found:
                raise AuditorError("directory holds no control packs (*.yaml)", where=p)
            out.extend(found)
        else:
            out.append(p)
    return out


def load_packs(paths: Sequence[str], zones_path: str | None = None) -> tuple[list[Pack], ZoneMap | None]:
    """Load and validate every pack; apply the ``--zones`` map; check the packs agree."""
    if not paths:
        raise AuditorError("no control pack given (--controls PACK.yaml)")
    overrides = load_zone_map(zones_path) if zones_path else None
    packs = [parse_pack(load_yaml(p), overrides) for p in pack_files(paths)]
    ids: dict[str, str] = {}
    for pack in packs:
        if pack.id in ids:
            raise AuditorError(f"pack id {pack.id!r} is also used by {ids[pack.id]}", where=f"{pack.path}: id")
        ids[pack.id] = pack.path
    if overrides is not None:
        used = {name for p in packs for name in p.zones}
        for name in overrides.zones:
            if name not in used:
                known = sorted({n for p in packs for n, z in p.zones.items() if not z.synthetic})
                message = f"zone {name!r} is not defined by any pack ({_suggest(name, known)})"
                if overrides.locator is not None:
                    raise overrides.locator.error(("zones", name), message)
                raise AuditorError(message, where=overrides.path)
    external_networks(packs)  # conflicting CIDR zones are an input error, found now
    return packs, overrides


def external_networks(packs: Sequence[Pack]) -> tuple[ExternalNetwork, ...]:
    """Every CIDR zone of every pack as a named external network (the engine splits on them)."""
    nets: dict[str, tuple[IPNetwork, ...]] = {}
    where: dict[str, str] = {}
    for pack in packs:
        for zone in pack.zones.values():
            if not zone.external or not zone.cidrs:
                continue
            if zone.name in nets and nets[zone.name] != zone.cidrs:
                raise AuditorError(
                    f"CIDR zone {zone.name!r} is defined differently in {where[zone.name]} "
                    f"({', '.join(map(str, nets[zone.name]))}) and here ({', '.join(map(str, zone.cidrs))}); "
                    "external zones are global: give them one definition (e.g. with --zones)",
                    where=f"{zone.defined_in}: zones.{zone.name}",
                )
            nets[zone.name] = zone.cidrs
            where.setdefault(zone.name, zone.defined_in)
    return tuple(ExternalNetwork(name, cidrs) for name, cidrs in sorted(nets.items()))
