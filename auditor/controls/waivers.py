"""Waivers: accepted violations with a justification, an approver and an expiry date.

A waiver names one control and the flows it covers (workload-name globs or ``zone:NAME`` for
``from``/``to``/``workload``, and optionally ports). A violation is waived when valid waivers
of its control cover it completely (all its ports). A waiver is valid through its ``expires``
date (UTC) as of ``--as-of`` (default: today); an expired waiver never hides a violation and is
reported as ``expired``, a valid one that covers nothing as ``unused``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from auditor.controls.result import Finding, Violation, ViolationTable, WaiverStatus, finish
from auditor.errors import AuditorError
from auditor.portset import PortSet, parse_port_spec
from auditor.yamlfile import Reader, load_yaml

WAIVERS_SCHEMA = "zone-auditor/waivers/v1"


@dataclass(frozen=True)
class FlowPattern:
    src: str | None = None  # glob on the source name, or zone:NAME
    dst: str | None = None  # glob on the destination (or the workload of endpoint evidence)
    ports: PortSet | None = None  # None = any ports
    endpoint_only: bool = False  # written as `workload:`: matches endpoint evidence only

    def matches(self, v: Violation) -> bool:
        if self.endpoint_only and v.kind != "endpoint":
            return False
        if self.src is not None and (v.src is None or not match_name(self.src, v.src, v.src_zones)):
            return False
        return self.dst is None or match_name(self.dst, v.dst, v.dst_zones)


def match_name(pattern: str, name: str, zones: Sequence[str]) -> bool:
    """``zone:NAME`` matches anything in that zone; anything else is a case-sensitive glob."""
    if pattern.startswith("zone:"):
        return pattern[5:] in zones
    return fnmatch.fnmatchcase(name, pattern)


@dataclass(frozen=True)
class Waiver:
    id: str
    control: str  # "CONTROL" or "pack/CONTROL"
    flows: tuple[FlowPattern, ...]
    justification: str
    approver: str
    expires: dt.date
    where: str

    def valid(self, as_of: dt.date) -> bool:
        return as_of <= self.expires

    def applies_to(self, f: Finding) -> bool:
        return self.control in (f.control, f"{f.pack}/{f.control}")


@dataclass(frozen=True)
class WaiverFile:
    path: str
    digest: str
    waivers: tuple[Waiver, ...]

    def summary(self) -> dict[str, Any]:
        return {"path": self.path, "digest": self.digest, "waivers": len(self.waivers)}


def _date(r: Reader, key: str) -> dt.date:
    if not r.has(key):
        raise r.fail(None, f"missing required field {key!r} (a waiver must expire)")
    value = r.value[key]
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        raise r.fail(key, f"{value!r} is not a date (expected YYYY-MM-DD)") from None


def _pattern(r: Reader, key: str) -> str | None:
    text = r.str(key, required=False)
    if text is not None and text.startswith("zone:") and not text[5:]:
        raise r.fail(key, "zone: needs a zone name, e.g. zone:restricted")
    return text


def load_waivers(path: str) -> WaiverFile:
    f = load_yaml(path)
    loc = f.locator
    r = Reader(loc, (), f.data, "a mapping with 'waivers'")
    r.only("schema", "waivers")
    if r.has("schema") and r.str("schema") != WAIVERS_SCHEMA:
        raise r.fail("schema", f"unsupported schema {r.value['schema']!r} (expected {WAIVERS_SCHEMA!r})")
    waivers: list[Waiver] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(r.list("waivers")):
        w = Reader(loc, ("waivers", i), item, "a mapping")
        w.only("id", "control", "flows", "justification", "approver", "expires")
        wid = w.str("id") or ""
        if wid in seen:
            raise w.fail("id", f"duplicate waiver id {wid!r} (also waivers[{seen[wid]}])")
        seen[wid] = i
        patterns = []
        for j, p in enumerate(w.list("flows", allow_empty=False)):
            pr = Reader(loc, ("waivers", i, "flows", j), p, "a mapping {from, to, workload, ports}")
            pr.only("from", "to", "workload", "ports")
            if pr.has("workload") and (pr.has("to") or pr.has("from")):
                raise pr.fail("workload", "'workload' names the subject of endpoint evidence; do not combine it with from/to")
            ports = None
            if pr.has("ports"):
                ports = PortSet()
                raw = pr.list("ports", allow_scalar=True, allow_empty=False)
                for k, spec in enumerate(raw):
                    path = ("waivers", i, "flows", j, "ports", k) if isinstance(pr.value["ports"], list) else \
                        ("waivers", i, "flows", j, "ports")
                    try:
                        ports = ports.union(parse_port_spec(spec))
                    except ValueError as exc:
                        raise loc.error(path, f"bad port: {exc}") from None
            pattern = FlowPattern(src=_pattern(pr, "from"), dst=_pattern(pr, "to") or _pattern(pr, "workload"),
                                  ports=ports, endpoint_only=pr.has("workload"))
            if pattern.src is None and pattern.dst is None:
                raise pr.fail(None, "a waived flow needs 'from', 'to' or 'workload' (blanket waivers are not accepted)")
            patterns.append(pattern)
        waivers.append(Waiver(
            id=wid,
            control=w.str("control") or "",
            flows=tuple(patterns),
            justification=w.str("justification") or "",
            approver=w.str("approver") or "",
            expires=_date(w, "expires"),
            where=loc.where(("waivers", i)),
        ))
    return WaiverFile(path=f.path, digest=f.digest, waivers=tuple(waivers))


def covers(waivers: Sequence[Waiver], v: Violation) -> list[str]:
    """Ids of the waivers that together cover ``v`` completely (empty if they do not)."""
    used: list[str] = []
    covered = PortSet()
    whole = False
    for w in waivers:
        for p in w.flows:
            if not p.matches(v):
                continue
            if w.id not in used:
                used.append(w.id)
            if p.ports is None:
                whole = True
            else:
                covered = covered.union(p.ports)
    if not used:
        return []
    if whole or (v.port_set is not None and v.port_set.issubset(covered)):
        return used
    return []


def _name_matches(pattern: str, table: ViolationTable, side: str) -> np.ndarray:
    """Per row: does ``pattern`` match the row's ``side`` (src/dst) name? One test per distinct
    name (a table's rows share a few thousand names)."""
    own = getattr(table, side)
    per_name = np.array([match_name(pattern, n, z) for n, z in zip(table.names, table.zones, strict=True)] + [False],
                        dtype=bool)  # the pad answers the rows whose name is the template's (-1)
    per_template = np.array([getattr(t, side) is not None and match_name(pattern, getattr(t, side), getattr(t, f"{side}_zones"))
                             for t in table.templates] + [False], dtype=bool)
    return np.where(own >= 0, per_name[own], per_template[table.template])


def _pattern_rows(p: FlowPattern, table: ViolationTable) -> np.ndarray:
    """``p.matches`` for every row of ``table``."""
    m = np.ones(len(table), dtype=bool)
    if p.endpoint_only:
        m &= np.array([t.kind == "endpoint" for t in table.templates] + [False], dtype=bool)[table.template]
    if p.src is not None:
        m &= _name_matches(p.src, table, "src")
    if p.dst is not None:
        m &= _name_matches(p.dst, table, "dst")
    return m


def waive_table(table: ViolationTable, valid: Sequence[Waiver], expired: Sequence[Waiver],
                counts: dict[str, int]) -> ViolationTable:
    """``covers`` for every row at once: mark the rows valid waivers cover, count per waiver the
    rows it covers (or would, when expired). Rows matching the same patterns with the same
    template (hence the same ports) get the same answer, so ``covers`` runs once per such group."""
    pats = [(w, p) for w in (*valid, *expired) for p in w.flows]
    if not len(table) or not pats:
        return replace(table, waived=None, waived_sets=((),))
    hits = np.stack([_pattern_rows(p, table) for _, p in pats], axis=1)
    any_hit = hits.any(axis=1)
    sets: dict[tuple[str, ...], int] = {(): 0}
    waived = np.zeros(len(table), dtype=np.int32)
    rows = np.flatnonzero(any_hit)
    if rows.size:
        key = np.concatenate([np.packbits(hits[rows], axis=1),
                              table.template[rows].astype(">u4").view(np.uint8).reshape(-1, 4)], axis=1)
        _, first, inv = np.unique(key, axis=0, return_index=True, return_inverse=True)
        inv = inv.reshape(-1)
        n_per = np.bincount(inv, minlength=first.size)
        answer = np.zeros(first.size, dtype=np.int32)
        for g, k in enumerate(first.tolist()):
            v = table.row(int(rows[k]))
            ids = covers(valid, v)
            for wid in ids:
                counts[wid] += int(n_per[g])
            for wid in covers(expired, v):
                counts[wid] += int(n_per[g])
            answer[g] = sets.setdefault(tuple(sorted(ids)), len(sets))
        waived[rows] = answer[inv]
    return replace(table, waived=waived if len(sets) > 1 else None, waived_sets=tuple(sets))


def apply_waivers(findings: Sequence[Finding], waivers: WaiverFile | None,
                  as_of: dt.date) -> tuple[list[Finding], list[WaiverStatus]]:
    """Mark covered violations ``waived_by``; report every waiver's status."""
    if waivers is None:
        return list(findings), []
    _check_controls(findings, waivers)
    counts: dict[str, int] = {w.id: 0 for w in waivers.waivers}
    out: list[Finding] = []
    for f in findings:
        mine = [w for w in waivers.waivers if w.applies_to(f)]
        valid = [w for w in mine if w.valid(as_of)]
        expired = [w for w in mine if not w.valid(as_of)]
        table = waive_table(f.all_violations, valid, expired, counts)
        # the rows listed stay those listed (the first ones), now with their waivers
        out.append(finish(replace(f, violations=tuple(table.rows(len(f.violations))), violation_table=table)))
    known = {(f.pack, f.control) for f in findings}
    statuses = []
    for w in waivers.waivers:
        if not any(w.control in (c, f"{p}/{c}") for p, c in known):
            status = "unknown-control"
        elif not w.valid(as_of):
            status = "expired"
        elif counts[w.id]:
            status = "active"
        else:
            status = "unused"
        statuses.append(WaiverStatus(id=w.id, control=w.control, status=status, covers=counts[w.id],
                                     justification=w.justification, approver=w.approver,
                                     expires=w.expires.isoformat()))
    return out, statuses


def _check_controls(findings: Sequence[Finding], waivers: WaiverFile) -> None:
    packs_of: dict[str, set[str]] = {}
    for f in findings:
        packs_of.setdefault(f.control, set()).add(f.pack)
    for w in waivers.waivers:
        if "/" not in w.control and len(packs_of.get(w.control, ())) > 1:
            raise AuditorError(
                f"control {w.control!r} exists in packs {', '.join(sorted(packs_of[w.control]))}: "
                f"write PACK/{w.control}",
                where=f"{w.where}.control",
            )
