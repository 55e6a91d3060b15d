"""Recording one audit run: atomically (one transaction, all rows or none) and idempotently
(the same snapshot audited with the same packs is one run, however often it is recorded).

A run may carry its attestation (``RunAttestation``, revision 0003): recording a run again with
an attestation adds it to a run stored unsigned; a different one replaces it only when asked."""

from __future__ import annotations

import datetime as dt
import os
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from auditor.canonical import canonical_json, sha256_hex
from auditor.errors import AuditorError
from auditor.history.adapter import ResultFacts, result_facts
from auditor.history.store import (
    ControlResult,
    Document,
    EntryPoint,
    Run,
    RunPack,
    Store,
    ZoneCount,
)

CLUSTER_ENV = "AUDITOR_CLUSTER"
CODEC = "zlib"
LEVEL = 6


@dataclass(frozen=True)
class RunAttestation:
    """The signed in-toto statement that names a run's result: its SHA-256 (the digest the PDF
    sign-off and ``auditor verify`` name), the key id and the signature algorithm."""

    digest: str
    key_id: str
    algorithm: str


@dataclass(frozen=True)
class Recorded:
    run_id: int
    created: bool  # False: this snapshot with these packs was already recorded
    cluster: str
    captured_at: str
    attestation: RunAttestation | None = None  # the run's attestation after recording
    attestation_change: str = ""  # "added" / "replaced" on an existing run, else ""


def packs_digest(facts: ResultFacts) -> str:
    """One digest over the packs (id and content digest) the run was audited with."""
    return sha256_hex(canonical_json(sorted([p.id, p.digest] for p in facts.packs)))


def cluster_name(explicit: str | None, facts: ResultFacts) -> str:
    """``--cluster``, else ``$AUDITOR_CLUSTER``, else the snapshot source."""
    name = (explicit or os.environ.get(CLUSTER_ENV) or facts.source or "cluster").strip()
    if len(name) > 253:
        raise AuditorError(f"cluster name longer than 253 characters: {name[:40]}…")
    return name


def encode(doc: Mapping[str, Any]) -> tuple[bytes, bytes]:
    """The document's canonical bytes and their compressed form."""
    raw = canonical_json(doc)
    return raw, zlib.compress(raw, LEVEL)


def decode(codec: str, data: bytes, where: str) -> bytes:
    if codec != CODEC:
        raise AuditorError(f"stored document uses codec {codec!r}, which this auditor does not read", where=where)
    try:
        return zlib.decompress(data)
    except zlib.error as exc:
        raise AuditorError(f"stored document is damaged: {exc}", where=where) from None


def _pack_members(names: tuple[str, ...]) -> tuple[str, bytes]:
    raw = orjson.dumps(list(names))
    return sha256_hex(raw), zlib.compress(raw, 1)


def _stored_attestation(row: Any) -> RunAttestation | None:
    if row.attestation_digest is None:
        return None
    return RunAttestation(row.attestation_digest, row.attestation_key_id or "", row.attestation_algorithm or "")


def record_result(store: Store, doc: Mapping[str, Any], *, cluster: str | None = None,
                  where: str = "audit result", attestation: RunAttestation | None = None,
                  replace_attestation: bool = False) -> Recorded:
    """Record ``doc`` (an audit result document) as one run of ``cluster``, with its
    ``attestation`` when signed. A run recorded before keeps its rows; it gains the
    attestation when it had none, and a different one is refused unless ``replace_attestation``."""
    facts = result_facts(doc, where)
    name = cluster_name(cluster, facts)
    pdigest = packs_digest(facts)
    with store.session("cannot read the history") as s:
        found = s.execute(select(Run.id, Run.cluster, Run.captured_at, Run.attestation_digest,
                                 Run.attestation_key_id, Run.attestation_algorithm).where(
            Run.snapshot_digest == facts.snapshot_digest, Run.packs_digest == pdigest)).first()
    if found is not None:
        return _attest_existing(store, Recorded(found.id, False, found.cluster, found.captured_at,
                                                _stored_attestation(found)), attestation, replace_attestation)
    raw, packed = encode(doc)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        with store.session("cannot record the run (nothing was recorded)") as s:
            run = Run(cluster=name, captured_at=facts.captured_at, captured_at_declared=facts.captured_at_declared,
                      snapshot_digest=facts.snapshot_digest, packs_digest=pdigest, tool_version=facts.tool_version,
                      verdict=facts.verdict, source=facts.source, recorded_at=now,
                      attestation_digest=attestation.digest if attestation else None,
                      attestation_key_id=attestation.key_id if attestation else None,
                      attestation_algorithm=attestation.algorithm if attestation else None)
            s.add(run)
            s.flush()
            rid = run.id
            s.execute(insert(RunPack), [
                {"run_id": rid, "pack": p.id, "digest": p.digest, "framework": p.framework, "title": p.title,
                 "version": p.version} for p in facts.packs])
            if facts.controls:
                s.execute(insert(ControlResult), [
                    {"run_id": rid, "pack": c.pack, "control": c.control, "verdict": c.verdict,
                     "violations": c.violations, "waived": c.waived, "unknown": c.unknown, "severity": c.severity,
                     "title": c.title, "refs": "\n".join(c.references)} for c in facts.controls])
            zones = []
            for z in facts.zones:
                mdigest, mlist = _pack_members(z.members)
                zones.append({"run_id": rid, "pack": z.pack, "zone": z.zone, "kind": z.kind,
                              "protected": z.protected, "members": len(z.members), "possible": len(z.possible),
                              "members_digest": mdigest, "member_list": mlist})
            if zones:
                s.execute(insert(ZoneCount), zones)
            if facts.entry_points:
                s.execute(insert(EntryPoint), [{"run_id": rid, "name": e.name, "kind": e.kind, "detail": e.detail}
                                               for e in facts.entry_points])
            s.add(Document(run_id=rid, codec=CODEC, size=len(raw), digest=sha256_hex(raw), data=packed))
    except AuditorError as exc:
        if isinstance(exc.__context__, IntegrityError) or _raced(store, facts.snapshot_digest, pdigest):
            again = _existing(store, facts.snapshot_digest, pdigest)
            if again is not None:  # recorded concurrently by another process: same run
                return _attest_existing(store, again, attestation, replace_attestation)
        raise
    return Recorded(rid, True, name, facts.captured_at, attestation)


def _attest_existing(store: Store, rec: Recorded, attestation: RunAttestation | None,
                     replace_attestation: bool) -> Recorded:
    """A run recorded before: add ``attestation`` when it has none, keep the same one, refuse
    (or, asked to, replace) a different one."""
    if attestation is None or (rec.attestation is not None and rec.attestation.digest == attestation.digest):
        return rec
    change = "added"
    if rec.attestation is not None:
        if not replace_attestation:
            raise AuditorError(
                f"run {rec.run_id} is already recorded with attestation statement sha256:{rec.attestation.digest} "
                f"(key id {rec.attestation.key_id}), not sha256:{attestation.digest} (key id {attestation.key_id}): "
                "nothing changed; give auditor history record RESULT.json --attestation FILE "
                "--replace-attestation to replace it", where=store.label)
        change = "replaced"
    with store.session("cannot record the attestation (nothing was changed)") as s:
        s.execute(update(Run).where(Run.id == rec.run_id).values(
            attestation_digest=attestation.digest, attestation_key_id=attestation.key_id,
            attestation_algorithm=attestation.algorithm))
    return replace(rec, attestation=attestation, attestation_change=change)


def _existing(store: Store, snapshot_digest: str, pdigest: str) -> Recorded | None:
    with store.session("cannot read the history") as s:
        found = s.execute(select(Run.id, Run.cluster, Run.captured_at, Run.attestation_digest,
                                 Run.attestation_key_id, Run.attestation_algorithm).where(
            Run.snapshot_digest == snapshot_digest, Run.packs_digest == pdigest)).first()
    return None if found is None else Recorded(found.id, False, found.cluster, found.captured_at,
                                               _stored_attestation(found))


def _raced(store: Store, snapshot_digest: str, pdigest: str) -> bool:
    try:
        return _existing(store, snapshot_digest, pdigest) is not None
    except AuditorError:
        return False


def load_document(store: Store, run_id: int) -> bytes:
    """The canonical JSON bytes of a run's result document (as ``auditor audit -o`` wrote them,
    without the final newline)."""
    with store.session("cannot read the history") as s:
        row = s.execute(select(Document.codec, Document.data, Document.digest).where(
            Document.run_id == run_id)).first()
    if row is None:
        raise AuditorError(f"run {run_id} is not in the history", where=store.label)
    raw = decode(row.codec, row.data, f"{store.label} run {run_id}")
    if sha256_hex(raw) != row.digest:
        raise AuditorError(f"run {run_id}: stored document does not match its digest (damaged store)",
                           where=store.label)
    return raw
