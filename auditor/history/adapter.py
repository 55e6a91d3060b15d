"""What a run records, read from the audit result document (``AuditResult.to_dict``).

The one place that knows the result's JSON layout for the history: ``result_facts`` turns the
document into frozen records. When ``auditor/documents.py`` gains a typed reader of the audit
result, only this module changes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from auditor.compare.protected import protected_from_document
from auditor.documents import AuditDocument
from auditor.errors import AuditorError


@dataclass(frozen=True)
class PackFacts:
    id: str
    digest: str
    framework: str
    title: str
    version: str


@dataclass(frozen=True)
class ControlFacts:
    pack: str
    control: str
    verdict: str
    violations: int
    waived: int
    unknown: int
    severity: str
    title: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class ZoneFacts:
    pack: str
    zone: str
    kind: str
    protected: bool
    members: tuple[str, ...]
    possible: tuple[str, ...]


@dataclass(frozen=True)
class EntryFacts:
    name: str
    kind: str
    detail: str


@dataclass(frozen=True)
class ResultFacts:
    snapshot_digest: str
    captured_at: str
    captured_at_declared: bool
    source: str
    tool_version: str
    verdict: str
    packs: tuple[PackFacts, ...]
    controls: tuple[ControlFacts, ...]
    zones: tuple[ZoneFacts, ...]
    entry_points: tuple[EntryFacts, ...]


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any, where: str, what: str) -> int:
    if type(value) is not int or value < 0:
        raise AuditorError(f"malformed audit result: {what} is not a count", where=where)
    return value


def result_facts(doc: Any, where: str = "audit result") -> ResultFacts:
    """The facts a history run keeps, checked; anything malformed is one ``AuditorError``."""
    # The one typed reader checks kind, schema and required keys; the facts below are read off it.
    parsed = AuditDocument.parse(doc, where=where)
    try:
        snap = doc["snapshot"]
        digest, captured = snap["digest"], snap["captured_at"]
        if not isinstance(digest, str) or len(digest) != 64 or not isinstance(captured, str):
            raise TypeError
        packs = tuple(PackFacts(_str(p["id"]), _str(p.get("digest")), _str(p.get("framework")),
                                _str(p.get("title")), _str(p.get("version")))
                      for p in doc["packs"])
        controls = tuple(
            ControlFacts(pack=_str(f["pack"]), control=_str(f["control"]), verdict=_str(f["verdict"]),
                         violations=_int(f["counts"]["violations"], where, f"{f['control']} counts"),
                         waived=_int(f["counts"]["waived"], where, f"{f['control']} counts"),
                         unknown=_int(f["counts"]["unknown"], where, f"{f['control']} counts"),
                         severity=_str(f.get("severity")), title=_str(f.get("title")),
                         references=tuple(_str(r) for r in f.get("references") or ()))
            for f in doc["findings"])
        verdict = _str(doc["summary"]["verdict"])
    except (KeyError, TypeError, IndexError):
        raise AuditorError("malformed audit result: snapshot, packs, findings or summary lack a field",
                           where=where) from None
    protected = protected_from_document(parsed)
    zones: list[ZoneFacts] = []
    for pack, defs in sorted((doc.get("zones") or {}).items()):
        for zone, d in sorted((defs or {}).items()):
            zones.append(ZoneFacts(pack=str(pack), zone=str(zone), kind=_str(d.get("kind") or "selector"),
                                   protected=zone in protected.get(str(pack), ()),
                                   members=tuple(sorted(map(str, d.get("members") or ()))),
                                   possible=tuple(sorted(map(str, d.get("possible_members") or ())))))
    return ResultFacts(
        snapshot_digest=digest,
        captured_at=captured,
        captured_at_declared=bool(snap.get("captured_at_declared")),
        source=_str(snap.get("source")),
        tool_version=_str(doc.get("tool_version")),
        verdict=verdict,
        packs=packs,
        controls=controls,
        zones=tuple(zones),
        entry_points=_entry_points(doc.get("exposure")),
    )


def _entry_points(exposure: Any) -> tuple[EntryFacts, ...]:
    """Entry points of the exposure section, once audit results carry one (none do yet)."""
    if not isinstance(exposure, Mapping):
        return ()
    items: Sequence[Any] = exposure.get("entry_points") or ()
    out = {}
    for e in items:
        if isinstance(e, Mapping) and e.get("name"):
            out[str(e["name"])] = EntryFacts(str(e["name"]), _str(e.get("kind")), _str(e.get("detail")))
    return tuple(out[k] for k in sorted(out))


def policy_side(label: str, doc: Mapping[str, Any]) -> Any:
    """The drift view of a stored result (``auditor.compare.drift.Side``)."""
    from auditor.compare.drift import side_from_result

    return side_from_result(label, doc)
