"""Protected zones: the zones whose new inbound flows ``auditor gate`` fails on, and which flows enter them.

A pack protects the workload zones its controls guard against inbound flows; each assertion
kind declares which (``AssertionKind.protects`` in ``controls/assertions/``). A flow *enters* a protected zone when its destination is in it and
its source is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.controls.assertions.registry import KINDS
from auditor.documents import AuditDocument


def protected_by_spec(kind: str, spec: Mapping[str, Any] | None) -> list[str]:
    """The zones one assertion protects against new inbound flows: its kind says which."""
    found = KINDS.get(kind)
    return found.protects(spec or {}) if found is not None else []


def protected_zones(packs: Sequence[Any]) -> dict[str, tuple[str, ...]]:
    """Per pack (``Pack`` objects): the workload zones its controls protect."""
    out: dict[str, tuple[str, ...]] = {}
    for pack in packs:
        names: set[str] = set()
        for control in pack.controls:
            a = control.assertion
            names.update(protected_by_spec(a.kind, a.spec if isinstance(a.spec, Mapping) else {}))
        out[pack.id] = tuple(sorted(z for z in names if z in pack.zones and not pack.zones[z].external))
    return out


def protected_from_document(doc: AuditDocument) -> dict[str, tuple[str, ...]]:
    """The same from a saved audit result (the assertions as written, the zones' kinds)."""
    names: dict[str, set[str]] = {str(p["id"]): set() for p in doc.packs}
    for f in doc.findings:
        names.setdefault(f.pack, set()).update(protected_by_spec(f.assertion_kind, f.assertion_spec))
    zones = doc.zones
    return {p: tuple(sorted(z for z in zs if (zones.get(p, {}).get(z) or {}).get("kind", "selector") != "cidr"))
            for p, zs in sorted(names.items())}


def entered_zones(src: Mapping[str, Sequence[str]] | None, dst: Mapping[str, Sequence[str]] | None,
                  protected: Mapping[str, Sequence[str]]) -> list[str]:
    """``pack:zone`` of the protected zones ``dst`` is in and ``src`` is not."""
    if not dst:
        return []
    src = src or {}
    out = []
    for pack, zones in protected.items():
        inside = dst.get(pack, ())
        for z in zones:
            if z in inside and z not in src.get(pack, ()):
                out.append(f"{pack}:{z}")
    return out


def into_protected(src: Mapping[str, Sequence[str]] | None, dst: Mapping[str, Sequence[str]] | None,
                   protected: Mapping[str, Sequence[str]]) -> bool:
    return bool(entered_zones(src, dst, protected))
