"""Our JSON documents: their kinds and schema versions, reading them, and the typed audit result.

Every document the auditor writes names itself with ``kind`` and ``schema_version``; those are
defined here once (``controls/result.py`` writes the audit result, ``compare/`` the baseline,
drift and gate documents). A saved audit result is read into ``AuditDocument`` once — frozen
records with the port sets parsed — so that the report writers, ``auditor diff`` and
``auditor gate`` share one reader instead of walking ``dict``s each in its own way.

Port texts (``TCP:80,443 UDP:53``, ``all``, ``none``) are parsed back to ``PortSet`` here and
only here: data that comes from an analysis carries ``PortSet`` from the start.
"""

from __future__ import annotations

import functools
import gzip
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson

from auditor.errors import AuditorError
from auditor.portset import ALL_PROTOCOLS, FULL, WHOLE, PortSet

RESULT_KIND = "zone-auditor/audit-result"
RESULT_SCHEMA = 1
SUPPORTED_RESULT_SCHEMAS = (RESULT_SCHEMA,)
BASELINE_KIND = "zone-auditor/baseline"
BASELINE_SCHEMA = 1
DRIFT_KIND = "zone-auditor/drift"
DRIFT_SCHEMA = 1
GATE_KIND = "zone-auditor/gate-result"
GATE_SCHEMA = 1

ALL = PortSet.everything(ALL_PROTOCOLS)  # what the text ``all`` stands for in a saved document
NONE = PortSet()
FLOW_COLUMNS = ("src", "dst", "src_zones", "dst_zones", "ports", "request", "verdict", "assurance", "decided_by",
                "controls", "crossing")
_REQUIRED_KEYS = ("schema_version", "kind", "snapshot", "packs", "summary", "findings")
_MALFORMED = (KeyError, TypeError, IndexError, AttributeError, ValueError)


# -- files -------------------------------------------------------------------------------------------


def read_json(path: str) -> Any:
    """A JSON file (``.gz`` compressed or not) as Python objects; errors name the file."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise AuditorError(f"not a gzip file: {exc}", where=path) from None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AuditorError(f"not JSON: {exc}", where=path) from None


def sniff(path: str) -> tuple[str, Any]:
    """(kind, loaded data or None) of an input path: ``audit-result`` or ``baseline`` (ours),
    ``json`` (another JSON object: maybe a snapshot, which ``auditor.snapshot`` recognises) or
    ``manifests`` (anything else: YAML, a directory, standard input)."""
    if path == "-" or not os.path.isfile(path):
        return "manifests", None
    low = path.lower()
    if not (low.endswith(".json") or low.endswith(".json.gz")):
        return "manifests", None
    if low.endswith(".json"):
        with open(path, "rb") as fh:
            head = fh.read(1 << 16)
        if b'"kind"' not in head and b'"schema_version"' not in head:
            return "manifests", None
    data = read_json(path)
    if isinstance(data, dict):
        kind = data.get("kind")
        if kind == RESULT_KIND:
            return "audit-result", data
        if kind == BASELINE_KIND:
            return "baseline", data
        return "json", data
    return "manifests", None


# -- port texts ----------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=65536)
def parse_ports(text: str) -> PortSet:
    """A port text of a saved document (``all``, ``none``, ``TCP:80,443 UDP:53 ICMP``, ``TCP:all``,
    ``ICMP:8``) as the ``PortSet`` it was written from (``PortSet.text`` is the inverse)."""
    text = (text or "").strip()
    if not text or text == "none":
        return NONE
    if text == "all":
        return ALL
    ranges: dict[str, list[tuple[int, int]]] = {}
    for part in text.split():
        proto, _, spec = part.partition(":")
        if proto not in FULL:
            ranges.setdefault(proto, []).append(WHOLE)
            continue
        if not spec or spec == "all":
            ranges.setdefault(proto, []).append(FULL[proto])
            continue
        for item in spec.split(","):
            lo, _, hi = item.partition("-")
            try:
                a = int(lo)
                b = int(hi) if hi else a
            except ValueError:
                raise AuditorError(f"bad port list {text!r}") from None
            ranges.setdefault(proto, []).append((a, b))
    return PortSet.of(ranges)


def as_written(ports: PortSet, universe: PortSet) -> PortSet:
    """The port set a saved document holds for ``ports`` of an analysis whose ports are
    ``universe``: every port of the analysis is written ``all`` and reads back as ``ALL``. A side
    computed here and a side read from a file then compare alike (an analysis that also knows,
    say, ICMPv6 does not make an open pair look newly opened)."""
    return ALL if ports and universe.issubset(ports) else ports


def ports_text(ports: PortSet) -> str:
    """The one text form of a port set in our documents (``all`` for every port of ``ALL``)."""
    return ports.text(ALL)


# -- the typed audit result -------------------------------------------------------------------------------

Row = tuple[str, str | None, str, str, str | None, str]  # kind, src, dst, ports, flow, reason


class _Raw(Mapping[str, Any]):
    """Read access to the JSON object a record was parsed from, for writers that print its
    fields as they are (``v["src"]``, ``v.get("decided_by")``)."""

    __slots__ = ()
    raw: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.raw[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.raw)

    def __len__(self) -> int:
        return len(self.raw)


@dataclass(frozen=True, eq=False, slots=True)
class ViolationRow(_Raw):
    """One piece of evidence of a control (``controls.result.Violation`` as written): typed
    accessors over the JSON object, which is kept as read (a result may list a hundred thousand
    of them; a view costs one reference each)."""

    raw: Mapping[str, Any] = field(repr=False)

    @property
    def kind(self) -> str:  # flow | endpoint
        return str(self.raw.get("kind") or "flow")

    @property
    def src(self) -> str | None:
        return self.raw.get("src")

    @property
    def dst(self) -> str:
        return str(self.raw.get("dst") or "")

    @property
    def ports(self) -> str:
        return str(self.raw.get("ports") or "")

    @property
    def flow(self) -> str | None:
        return self.raw.get("flow")

    @property
    def reason(self) -> str:
        return str(self.raw.get("reason") or "")

    @property
    def decided_by(self) -> str:
        return str(self.raw.get("decided_by") or "")

    @property
    def src_zones(self) -> tuple[str, ...]:
        return tuple(self.raw.get("src_zones") or ())

    @property
    def dst_zones(self) -> tuple[str, ...]:
        return tuple(self.raw.get("dst_zones") or ())

    @property
    def waived_by(self) -> tuple[str, ...]:
        return tuple(self.raw.get("waived_by") or ())

    @property
    def row(self) -> Row:
        """What a comparison of two audits matches rows on."""
        return (self.kind, self.src, self.dst, self.ports, self.flow, self.reason)

    @property
    def port_set(self) -> PortSet:
        """The ports as a set; endpoint evidence (no ports) stands for every port."""
        return parse_ports(self.ports) if self.ports else ALL


@dataclass(frozen=True, eq=False)
class ControlFinding(_Raw):
    """The verdict of one control with its listed evidence (``controls.result.Finding`` as written)."""

    pack: str
    control: str
    title: str
    severity: str
    verdict: str
    assertion_kind: str
    assertion_spec: Any
    counts: Mapping[str, int]
    violations: tuple[ViolationRow, ...]
    violations_omitted: int
    unknown_flows: tuple[ViolationRow, ...]
    unknown_omitted: int
    blocking: tuple[str, ...]
    raw: Mapping[str, Any] = field(repr=False)
    # why the control is unknown: ({code, words, object, count}, ...) (older results: none)
    unknown_causes: tuple[Mapping[str, Any], ...] = ()

    @staticmethod
    def _rows(items: Any) -> tuple[ViolationRow, ...]:
        if not isinstance(items, list) or not all(isinstance(v, dict) for v in items):
            raise TypeError(f"evidence must be a list of objects, got {type(items).__name__}")
        return tuple(map(ViolationRow, items))

    @classmethod
    def parse(cls, f: Mapping[str, Any]) -> ControlFinding:
        a = f.get("assertion") or {}
        unknown = f.get("unknown") or {}
        return cls(pack=str(f["pack"]), control=str(f["control"]), title=str(f.get("title", "")),
                   severity=str(f.get("severity", "")), verdict=str(f["verdict"]),
                   assertion_kind=str(a.get("kind")), assertion_spec=a.get("spec"),
                   counts=dict(f.get("counts") or {}),
                   violations=cls._rows(f.get("violations", [])),
                   violations_omitted=int(f.get("violations_omitted") or 0),
                   unknown_flows=cls._rows(unknown.get("flows", [])),
                   unknown_omitted=int(unknown.get("flows_omitted") or 0),
                   blocking=tuple(str(x) for x in unknown.get("reasons", [])), raw=f,
                   unknown_causes=tuple(dict(x) for x in unknown.get("causes") or ()))

    @property
    def key(self) -> tuple[str, str]:
        return (self.pack, self.control)

    @property
    def open_violations(self) -> list[ViolationRow]:
        """The open violations among those listed (``counts`` has the exact numbers)."""
        return [v for v in self.violations if not v.waived_by]

    @property
    def waived_violations(self) -> list[ViolationRow]:
        return [v for v in self.violations if v.waived_by]

    @property
    def complete(self) -> bool:
        """Whether every violation and undecided item is listed (not cut by ``--max-evidence``)."""
        return not self.violations_omitted and not self.unknown_omitted


@dataclass(frozen=True, slots=True)
class FlowRow:
    """One row of the result's ``flows`` table: an allowed, unknown or (required and) denied flow."""

    src: str
    dst: str
    src_zones: tuple[str, ...]
    dst_zones: tuple[str, ...]
    ports: PortSet
    verdict: str  # allowed | unknown | denied
    decided_by: str
    request: str = ""
    assurance: str = ""
    controls: tuple[str, ...] = ()
    crossing: bool = False


@dataclass(frozen=True)
class FlowTable:
    rows: tuple[FlowRow, ...]
    omitted: int = 0  # counted but not listed (``auditor audit --max-evidence``)
    crossing: int | None = None  # zone-crossing flows, listed or not (None: an older result)

    @classmethod
    def parse(cls, fl: Mapping[str, Any]) -> FlowTable:
        """The columnar ``flows`` of a result (``controls/evidence.py``): a row's ``decided_by`` is an
        index into the table's ``decided_by`` texts (older results: the text itself)."""
        cols = list(fl["columns"])
        texts = list(fl.get("decided_by", []))
        at = {c: cols.index(c) for c in FLOW_COLUMNS if c in cols}

        def cell(row: Sequence[Any], name: str, default: Any) -> Any:
            k = at.get(name)
            return row[k] if k is not None else default

        rows = []
        for row in fl["rows"]:
            why = row[at["decided_by"]]
            rows.append(FlowRow(
                src=row[at["src"]], dst=row[at["dst"]], src_zones=tuple(cell(row, "src_zones", ())),
                dst_zones=tuple(cell(row, "dst_zones", ())), ports=parse_ports(row[at["ports"]]),
                verdict=row[at["verdict"]],
                decided_by=texts[why] if isinstance(why, int) and why < len(texts) else str(why),
                request=str(cell(row, "request", "")), assurance=str(cell(row, "assurance", "")),
                controls=tuple(cell(row, "controls", ())), crossing=bool(cell(row, "crossing", False))))
        crossing = fl.get("crossing")
        return cls(rows=tuple(rows), omitted=int(fl.get("omitted") or 0),
                   crossing=int(crossing) if crossing is not None else None)


@dataclass(frozen=True)
class InventoryEntry:
    """A workload (or an external network: no labels) and the zones it is in, per pack."""

    name: str
    zones: Mapping[str, tuple[str, ...]]
    labels: Mapping[str, str] | None = None  # None: an external network
    possible_zones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def external(self) -> bool:
        return self.labels is None


@dataclass(frozen=True)
class Inventory:
    workloads: tuple[InventoryEntry, ...]
    external_networks: tuple[InventoryEntry, ...]

    @classmethod
    def parse(cls, inv: Mapping[str, Any]) -> Inventory:
        def zones(z: Any) -> dict[str, tuple[str, ...]]:
            return {str(p): tuple(zs) for p, zs in (z or {}).items()}

        return cls(
            workloads=tuple(InventoryEntry(str(w["name"]), zones(w.get("zones")), dict(w.get("labels") or {}),
                                           zones(w.get("possible_zones"))) for w in inv.get("workloads", [])),
            external_networks=tuple(InventoryEntry(str(x["name"]), zones(x.get("zones")))
                                    for x in inv.get("external_networks", [])))

    def entries(self) -> tuple[InventoryEntry, ...]:
        return (*self.workloads, *self.external_networks)

    def zones(self) -> dict[str, dict[str, tuple[str, ...]]]:
        """Entity → pack → zones (workloads and external networks)."""
        return {e.name: dict(e.zones) for e in self.entries()}


@dataclass(frozen=True, eq=False)
class WaiverRow(_Raw):
    """A waiver's status in the result (``controls.result.WaiverStatus`` as written)."""

    id: str
    control: str
    status: str
    covers: int
    expires: str
    raw: Mapping[str, Any] = field(repr=False)

    @classmethod
    def parse(cls, w: Mapping[str, Any]) -> WaiverRow:
        return cls(id=str(w["id"]), control=str(w.get("control", "")), status=str(w.get("status", "")),
                   covers=int(w.get("covers") or 0), expires=str(w.get("expires") or ""), raw=w)


@dataclass(frozen=True, eq=False)
class AuditDocument:
    """A saved audit result (``auditor audit -o``), checked and typed. ``raw`` keeps the JSON for
    the parts no comparison reads (scope, tiers, zone matrix)."""

    schema_version: int
    tool_version: str
    snapshot: Mapping[str, Any]
    packs: tuple[Mapping[str, Any], ...]
    zones_file: Mapping[str, Any] | None
    waivers_file: Mapping[str, Any] | None
    as_of: str | None
    verdict: str
    zones: Mapping[str, Mapping[str, Any]]
    findings: tuple[ControlFinding, ...]
    waivers: tuple[WaiverRow, ...]
    policies: tuple[Mapping[str, Any], ...]
    policy_rules: tuple[Mapping[str, Any], ...] | None
    raw: Mapping[str, Any] = field(repr=False)
    where: str = "audit result"

    @classmethod
    def read(cls, path: str) -> AuditDocument:
        return cls.parse(read_json(path), where=path)

    @classmethod
    def parse(cls, data: Any, *, where: str = "audit result") -> AuditDocument:
        """Check kind, schema version and required keys, then type the whole document; anything
        malformed is one ``AuditorError`` naming ``where``."""
        check_result(data, where=where)
        try:
            rules = data.get("policy_rules")
            return cls(
                schema_version=int(data["schema_version"]), tool_version=str(data.get("tool_version", "")),
                snapshot=dict(data["snapshot"] or {}), packs=tuple(data["packs"]),
                zones_file=data.get("zones_file"), waivers_file=data.get("waivers_file"), as_of=data.get("as_of"),
                verdict=str(data["summary"]["verdict"]), zones=dict(data.get("zones") or {}),
                findings=tuple(ControlFinding.parse(f) for f in data["findings"]),
                waivers=tuple(WaiverRow.parse(w) for w in data.get("waivers") or []),
                policies=tuple(data.get("policies") or ()), policy_rules=tuple(rules) if rules is not None else None,
                raw=data, where=where)
        except _MALFORMED as exc:
            raise AuditorError(f"malformed audit result ({type(exc).__name__}: {exc})", where=where) from None

    @property
    def several_packs(self) -> bool:
        return len(self.packs) > 1

    @cached_property
    def inventory(self) -> Inventory | None:
        """Workloads and external networks with their zones (None: written before reports existed)."""
        inv = self.raw.get("inventory")
        return None if inv is None else self._typed(Inventory.parse, inv)

    @cached_property
    def flows(self) -> FlowTable | None:
        """The flows table (read on first use: it can hold a hundred thousand rows)."""
        fl = self.raw.get("flows")
        return self._typed(FlowTable.parse, fl) if fl else None

    def _typed(self, parse: Callable[[Any], Any], value: Any) -> Any:
        try:
            return parse(value)
        except _MALFORMED as exc:
            raise AuditorError(f"malformed audit result ({type(exc).__name__}: {exc})", where=self.where) from None


def check_result(data: Any, *, where: str) -> None:
    """Raise a clear ``AuditorError`` unless ``data`` is an audit result this version reads."""
    if not isinstance(data, Mapping):
        raise AuditorError("not an audit result (expected a JSON object)", where=where)
    if data.get("kind") != RESULT_KIND:
        raise AuditorError(f"not an audit result (kind {data.get('kind')!r}, expected {RESULT_KIND!r}); "
                           "write one with: auditor audit INPUT... --controls PACK -o result.json", where=where)
    missing = [k for k in _REQUIRED_KEYS if k not in data]
    if missing:
        raise AuditorError(f"incomplete audit result: missing {', '.join(missing)}", where=where)
    if data["schema_version"] not in SUPPORTED_RESULT_SCHEMAS:
        raise AuditorError(f"audit result schema_version {data['schema_version']!r} is not supported by this "
                           f"version (supported: {', '.join(map(str, SUPPORTED_RESULT_SCHEMAS))})", where=where)
