"""The in-toto Statement v1 an attestation signs: its subjects (files with their SHA-256) and
its predicate (how the evidence was produced).

The statement is canonical JSON (sorted keys, no spaces), so the same inputs give the same
bytes and, ed25519 being deterministic, the same signature. It is checked against the in-toto
attestation framework's own validator (``in_toto_attestation``) when built and when read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from auditor.canonical import canonical_json, sha256_hex
from auditor.errors import AuditorError

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "urn:zone-auditor:predicate:audit-evidence:v1"
ROLES = ("snapshot", "result", "pack", "zones", "waivers", "report")
FILE_NAME = "attestation.intoto.jsonl"


@dataclass(frozen=True)
class Subject:
    """One attested file: its path as given (relative to the working directory, or absolute)."""

    name: str
    sha256: str
    role: str  # one of ROLES

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "digest": {"sha256": self.sha256}, "annotations": {"role": self.role}}


def subject_name(path: str | os.PathLike[str]) -> str:
    """The name a file is attested under: the path normalised, ``/``-separated."""
    return os.path.normpath(os.fspath(path)).replace(os.sep, "/")


def file_subject(path: str | os.PathLike[str], role: str) -> Subject:
    name = subject_name(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=name) from None
    return Subject(name=name, sha256=sha256_hex(data), role=role)


@dataclass(frozen=True)
class Predicate:
    """How the evidence was produced: enough to re-derive the result and to tell which cluster."""

    tool_version: str
    command: tuple[str, ...]
    cluster: str
    source: str  # the snapshot's source line
    scan_time: str  # the snapshot's capture time
    verdict: str
    verdicts: tuple[tuple[str, int], ...]  # controls per verdict
    max_evidence: int  # the audit's --max-evidence: the result lists that many items per control
    snapshot_digest: str
    api_server: str | None = None  # live scans, when known
    ca_fingerprint: str | None = None
    # the statement this one extends (PDFs are signed after the statement they name)
    extends: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "tool": {"name": "zone-auditor", "version": self.tool_version},
            "command": list(self.command),
            "cluster": {"name": self.cluster, "source": self.source},
            "scan_time": self.scan_time,
            "snapshot_digest": self.snapshot_digest,
            "verdict": self.verdict,
            "verdicts": dict(self.verdicts),
            "derivation": {"max_evidence": self.max_evidence},
        }
        if self.api_server:
            out["cluster"]["api_server"] = self.api_server
        if self.ca_fingerprint:
            out["cluster"]["ca_fingerprint"] = self.ca_fingerprint
        if self.extends:
            out["extends"] = {"statement_sha256": self.extends}
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Predicate:
        cluster = data["cluster"]
        return cls(
            tool_version=str(data["tool"]["version"]),
            command=tuple(str(x) for x in data["command"]),
            cluster=str(cluster["name"]),
            source=str(cluster["source"]),
            scan_time=str(data["scan_time"]),
            verdict=str(data["verdict"]),
            verdicts=tuple((str(k), int(v)) for k, v in sorted(data["verdicts"].items())),
            max_evidence=int(data["derivation"]["max_evidence"]),
            snapshot_digest=str(data["snapshot_digest"]),
            api_server=cluster.get("api_server"),
            ca_fingerprint=cluster.get("ca_fingerprint"),
            extends=(data.get("extends") or {}).get("statement_sha256"),
        )


@dataclass(frozen=True)
class Statement:
    subjects: tuple[Subject, ...]
    predicate: Predicate
    payload: bytes = field(default=b"", compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": STATEMENT_TYPE,
            "subject": [s.to_dict() for s in self.subjects],
            "predicateType": PREDICATE_TYPE,
            "predicate": self.predicate.to_dict(),
        }

    def to_json(self) -> bytes:
        return self.payload or canonical_json(self.to_dict())

    @property
    def digest(self) -> str:
        """SHA-256 of the statement's bytes (the DSSE payload): what the PDF sign-off names."""
        return sha256_hex(self.to_json())

    def of_role(self, role: str) -> list[Subject]:
        return [s for s in self.subjects if s.role == role]


def make_statement(subjects: Iterable[Subject], predicate: Predicate) -> Statement:
    """Subjects sorted by (role order, name); a name attested twice is a mistake."""
    order = {r: i for i, r in enumerate(ROLES)}
    items = tuple(sorted(subjects, key=lambda s: (order.get(s.role, len(order)), s.name)))
    names = [s.name for s in items]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise AuditorError(f"the same file is attested twice: {', '.join(dupes)}")
    statement = Statement(items, predicate)
    validate(statement.to_dict(), "statement")
    return statement


def validate(data: Any, where: str) -> None:
    """The in-toto attestation framework's checks (type, subjects with digests, predicate)."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement as IntotoStatement

    try:
        pb = json_format.ParseDict(data, statement_pb2.Statement())
        IntotoStatement.copy_from_pb(pb).validate()
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise AuditorError(f"not a valid in-toto Statement v1: {exc}", where=where) from None


def parse_statement(payload: bytes, where: str) -> Statement:
    """A statement read back from an envelope's payload (the bytes kept for its digest)."""
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise AuditorError(f"the signed payload is not JSON: {exc}", where=where) from None
    if not isinstance(data, dict):
        raise AuditorError("the signed payload is not an in-toto statement", where=where)
    validate(data, where)
    if data.get("predicateType") != PREDICATE_TYPE:
        raise AuditorError(f"not a zone-auditor attestation (predicate type {data.get('predicateType')!r})",
                           where=where)
    try:
        subjects = tuple(Subject(name=str(s["name"]), sha256=str(s["digest"]["sha256"]),
                                 role=str((s.get("annotations") or {}).get("role", "report")))
                         for s in data["subject"])
        predicate = Predicate.from_dict(data["predicate"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AuditorError(f"malformed zone-auditor predicate or subject (missing {exc})", where=where) from None
    return Statement(subjects, predicate, payload=payload)
