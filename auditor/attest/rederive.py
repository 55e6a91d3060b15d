"""Recompute an audit result from its snapshot and packs: the bytes must come out identical.

Everything the computation depends on is recorded: the packs, zones map and waivers file by
path and digest, the waiver date and the analysis options in the result itself, and
``--max-evidence`` in the attestation's predicate. A result that does not re-derive byte for
byte was edited after the audit (or by another tool version).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from auditor.canonical import canonical_json
from auditor.errors import AuditorError


def _options(result: Mapping[str, Any]) -> Any:
    from auditor.reach.addresses import parse_network
    from auditor.reach.analysis import AnalysisOptions
    from auditor.reach.endpoints import ExternalNetwork

    opts = (result.get("scope") or {}).get("options")
    if not isinstance(opts, Mapping):
        raise AuditorError("the result records no analysis options (scope.options): cannot re-derive it")
    externals = tuple(ExternalNetwork(str(e["name"]), tuple(parse_network(c) for c in e["cidrs"]))
                      for e in opts.get("externals", []))
    return AnalysisOptions(externals=externals, pod_cidrs=tuple(parse_network(c) for c in opts.get("pod_cidrs", [])),
                           lenient=bool(opts.get("lenient")), with_staged=bool(opts.get("with_staged")))


def _check_digest(kind: str, recorded: Mapping[str, Any], loaded_digest: str) -> None:
    if recorded.get("digest") != loaded_digest:
        raise AuditorError(f"{kind} {recorded.get('path')} has changed since the audit (sha256 {loaded_digest}, "
                           f"the result names {recorded.get('digest')})")


def rederive(result_bytes: bytes, snapshot_bytes: bytes, max_evidence: int, *, where: str = "result") -> bytes:
    """The result JSON recomputed from the snapshot and the packs, zones and waivers it names."""
    from auditor.controls.pack import load_packs
    from auditor.controls.runner import run_audit
    from auditor.controls.waivers import load_waivers
    from auditor.reach.analysis import analyze
    from auditor.snapshot import snapshot_from_dict

    try:
        result = orjson.loads(result_bytes)
        snap_data = orjson.loads(snapshot_bytes)
    except orjson.JSONDecodeError as exc:
        raise AuditorError(f"not JSON: {exc}", where=where) from None
    if not isinstance(result, dict) or not isinstance(result.get("packs"), list):
        raise AuditorError("not an audit result", where=where)
    snapshot = snapshot_from_dict(snap_data, where="snapshot")
    zones = result.get("zones_file") or None
    packs, zone_map = load_packs([str(p["path"]) for p in result["packs"]], str(zones["path"]) if zones else None)
    for recorded, pack in zip(result["packs"], packs, strict=True):
        _check_digest("control pack", recorded, pack.digest)
    if zones and zone_map is not None:
        _check_digest("zones map", zones, zone_map.digest)
    waivers_file = result.get("waivers_file") or None
    waivers = load_waivers(str(waivers_file["path"])) if waivers_file else None
    if waivers_file and waivers is not None:
        _check_digest("waivers file", waivers_file, waivers.digest)
    as_of = dt.date.fromisoformat(result["as_of"]) if result.get("as_of") else None
    analysis = analyze(snapshot, _options(result))
    audited = run_audit(analysis, packs, zone_map=zone_map, waivers=waivers, as_of=as_of, max_evidence=max_evidence)
    return canonical_json(audited.to_dict()) + b"\n"


def first_difference(a: bytes, b: bytes) -> int:
    """Offset of the first byte where ``a`` and ``b`` differ."""
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n
