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
import os
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from auditor.controls.assertions.registry import KINDS
from auditor.controls.model import Assertion, Control, Pack, Zone, ZoneMap
from auditor.controls.specs import SpecReader, cidr, selector, suggest
from auditor.errors import AuditorError
from auditor.policy.ir import IPNetwork
from auditor.reach.endpoints import ExternalNetwork
from auditor.yamlfile import Locator, Path, Reader, YamlFile, load_yaml

PACK_SCHEMA = "zone-auditor/controls/v1"
ZONES_SCHEMA = "zone-auditor/zones/v1"
SEVERITIES = ("critical", "high", "medium", "low", "info")
_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
_CATALOG_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9._-]*$")  # an OSCAL token: control ids in catalogs
_CONTROL_ID = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._:-]*[A-Za-z0-9])?$")


# -- loading ----------------------------------------------------------------------------------


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
        cidrs = tuple(cidr(loc, (*path, "cidrs", i), v) for i, v in enumerate(r.list("cidrs", allow_scalar=False)))
        return Zone(name=name, kind="cidr", cidrs=tuple(sorted(set(cidrs), key=lambda n: (n.version, n))),
                    description=description, defined_in=loc.file, optional=optional)
    if not has_sel:
        raise r.fail(None, "a zone needs 'selector' and/or 'namespaceSelector' (workloads) or 'cidrs' (external)")
    sel = selector(r, "selector")
    ns_sel = selector(r, "namespaceSelector")
    return Zone(name=name, kind="selector", selector=sel, namespace_selector=ns_sel, description=description,
                defined_in=loc.file, optional=optional)


def _zones_block(loc: Locator, path: Path, value: Any) -> dict[str, Zone]:
    r = Reader(loc, path, value, "a mapping of zone name → definition")
    if not r.value:
        raise r.fail(None, "must define at least one zone")
    return {str(k): parse_zone(loc, (*path, str(k)), k, v) for k, v in r.value.items()}


class _ControlParser:
    """Validates one pack's controls; each assertion by its kind (``assertions/registry.py``)."""

    def __init__(self, loc: Locator, zones: dict[str, Zone]) -> None:
        self.loc = loc
        self.specs = SpecReader(loc, zones)

    def assertion(self, path: Path, value: Any) -> Assertion:
        r = Reader(self.loc, path, value, "a mapping with 'kind'")
        kind = r.str("kind")
        if kind not in KINDS:
            names = tuple(KINDS)
            close = difflib.get_close_matches(str(kind), names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise r.fail("kind", f"unknown assertion kind {kind!r} ({hint}kinds: {', '.join(names)})")
        out = KINDS[kind].parse(self.specs, r)
        return replace(out, spec=value)

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
                message = f"zone {name!r} is not defined by any pack ({suggest(name, known)})"
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
