"""Reading the pieces of an ``assert:`` block: zone names, peers, ports, HTTP requests.

Every assertion kind parses its spec with a ``SpecReader`` over the pack's zones, so a mistake
is one line naming the file, the line, the path inside the file and what is wrong::

    controls/pci.yaml:42: controls[3].assert.from: unknown zone 'cdee' (did you mean 'cde'? ...)
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterable
from typing import Any

from auditor.controls.model import Peer, Request, Zone
from auditor.errors import AuditorError
from auditor.policy.ir import IPNetwork
from auditor.policy.selectors import Selector, parse_selector
from auditor.portset import PortSet, parse_port_spec
from auditor.yamlfile import Locator, Path, Reader

_HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE", "*")


def suggest(name: str, known: Iterable[str]) -> str:
    """``did you mean 'x'? defined: a, b`` for an unknown name."""
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"{hint}defined: {', '.join(known) or 'none'}"


def selector(r: Reader, key: str) -> Selector | None:
    """The Calico selector at ``key`` (None when absent)."""
    text = r.str(key, required=False)
    if text is None:
        return None
    try:
        return parse_selector(text)
    except AuditorError as exc:
        raise r.fail(key, exc.message) from None


def cidr(loc: Locator, path: Path, value: Any) -> IPNetwork:
    if not isinstance(value, str) or "/" not in value:
        raise loc.error(path, f"{value!r} is not a CIDR (expected e.g. 10.0.0.0/8 or ::/0)")
    try:
        return ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise loc.error(path, f"{value!r} is not a valid CIDR ({exc})") from None


class SpecReader:
    """Validates the pieces of one pack's assertions against its (possibly overridden) zones."""

    def __init__(self, loc: Locator, zones: dict[str, Zone]) -> None:
        self.loc = loc
        self.zones = zones

    def zone(self, path: Path, value: Any, *, kind: str | None = None, why: str = "") -> str:
        if not isinstance(value, str) or not value.strip():
            raise self.loc.error(path, f"must be a zone name, got {value!r}")
        name = value.strip()
        if name not in self.zones:
            raise self.loc.error(path, f"unknown zone {name!r} ({suggest(name, self.zones)})")
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
        sel = selector(r, "selector")
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
