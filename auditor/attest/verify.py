"""``auditor verify``: is this evidence what the key holder signed, and does it still add up?

Three checks, in order: every envelope's signature (securesystemslib), every subject's SHA-256,
and the result re-derived from the attested snapshot and packs, byte for byte. Anything that
prevents checking (a missing or malformed key, a truncated envelope, a key that did not sign
it, an attestation of other files, another tool version) raises ``AuditorError`` (exit 2);
what the checks find wrong is returned as ``Problem``\\ s naming the file (exit 1).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from auditor import __version__
from auditor.attest.rederive import first_difference, rederive
from auditor.attest.sign import Signed, check_signature, load_public_key, read_attestation
from auditor.attest.statement import Subject, subject_name
from auditor.canonical import sha256_hex
from auditor.errors import AuditorError


@dataclass(frozen=True)
class Problem:
    file: str
    what: str

    def __str__(self) -> str:
        return f"{self.file}: {self.what}"


@dataclass(frozen=True)
class Verification:
    attestation: str
    key_id: str
    statements: tuple[Signed, ...]
    problems: tuple[Problem, ...]
    checked: int  # subjects whose digest was checked
    rederived: bool

    @property
    def ok(self) -> bool:
        return not self.problems


def _inside(name: str, directory: str) -> bool:
    path = os.path.realpath(name)
    root = os.path.realpath(directory)
    return os.path.commonpath([path, root]) == root


def _check_subject(s: Subject) -> Problem | None:
    try:
        with open(s.name, "rb") as handle:
            found = sha256_hex(handle.read())
    except FileNotFoundError:
        return Problem(s.name, f"missing subject (the attested {s.role} is not there)")
    except OSError as exc:
        return Problem(s.name, f"cannot read the attested {s.role}: {exc.strerror or exc}")
    if found != s.sha256:
        return Problem(s.name, f"digest mismatch: the {s.role} was changed after signing "
                               f"(attested sha256:{s.sha256}, found sha256:{found})")
    return None


def _unattested(directory: str, attestation: str, subjects: Sequence[Subject]) -> list[Problem]:
    """Files in the evidence directory that no statement names (a PDF whose statement was
    dropped, a report slipped in): evidence a reader would take as attested, and is not."""
    attested = {os.path.realpath(s.name) for s in subjects} | {os.path.realpath(attestation)}
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if not name.startswith(".") and os.path.isfile(path) and os.path.realpath(path) not in attested:
            out.append(Problem(subject_name(path), "not attested: no statement of the attestation names this file"))
    return out


def verify(attestation: str, key_path: str, *, directory: str | None = None,
           named: Sequence[str] = ()) -> Verification:
    """Verify ``attestation`` with the public key at ``key_path``.

    ``directory`` (``verify DIR``): the attestation must name files in it, and every file in it
    must be attested. ``named`` (``verify
    FILES``): each must be one of its subjects. Subject names are paths relative to the
    working directory of the signing run, so verify from that directory."""
    key = load_public_key(key_path)
    bundle = read_attestation(attestation)
    problems: list[Problem] = []
    for n, signed in enumerate(bundle, 1):
        if key.keyid not in signed.envelope.signatures:
            ids = ", ".join(sorted(signed.envelope.signatures))
            raise AuditorError(f"signed by key {ids}, not by the key given ({key.keyid}): wrong --key?",
                               where=f"{attestation}:{n}")
        if not check_signature(signed, key):
            problems.append(Problem(f"{attestation}:{n}", "the signature does not verify: the statement was "
                                                          "altered after signing"))
    digests = {s.statement.digest for s in bundle}
    for n, signed in enumerate(bundle, 1):
        extends = signed.statement.predicate.extends
        if extends and extends not in digests:
            problems.append(Problem(f"{attestation}:{n}", f"extends statement sha256:{extends}, which this "
                                                          "attestation does not hold"))
    subjects = [s for signed in bundle for s in signed.statement.subjects]
    names = {s.name for s in subjects}
    if directory is not None and not any(_inside(s.name, directory) for s in subjects):
        raise AuditorError(f"the attestation is for other files: none of its {len(subjects)} subjects is in "
                           f"{directory} (e.g. {subjects[0].name})", where=attestation)
    for path in named:
        if subject_name(path) not in names and not any(os.path.realpath(path) == os.path.realpath(s.name)
                                                       for s in subjects):
            raise AuditorError(f"the attestation is for other files: {path} is not one of its subjects",
                               where=attestation)
    for s in subjects:
        problem = _check_subject(s)
        if problem is not None:
            problems.append(problem)
    if directory is not None:
        problems += _unattested(directory, attestation, subjects)
    rederived = False
    evidence = [b for b in bundle if b.statement.of_role("result")]
    if len(evidence) != 1 or len(evidence[0].statement.of_role("result")) != 1 \
            or len(evidence[0].statement.of_role("snapshot")) != 1:
        raise AuditorError("the attestation must hold exactly one statement naming one result and one snapshot",
                           where=attestation)
    if not problems:
        rederived = _rederive(evidence[0], problems)
    return Verification(attestation=attestation, key_id=str(key.keyid), statements=tuple(bundle),
                        problems=tuple(problems), checked=len(subjects), rederived=rederived)


def _rederive(signed: Signed, problems: list[Problem]) -> bool:
    statement = signed.statement
    predicate = statement.predicate
    if predicate.tool_version != __version__:
        raise AuditorError(f"the result was made by zone-auditor {predicate.tool_version}; re-deriving it "
                           f"byte for byte needs that version (this is {__version__})")
    result = statement.of_role("result")[0]
    snapshot = statement.of_role("snapshot")[0]
    with open(result.name, "rb") as handle:
        result_bytes = handle.read()
    with open(snapshot.name, "rb") as handle:
        snapshot_bytes = handle.read()
    again = rederive(result_bytes, snapshot_bytes, predicate.max_evidence, where=result.name)
    if again != result_bytes:
        at = first_difference(again, result_bytes)
        problems.append(Problem(result.name, "no longer re-derivable byte-identically from the snapshot and the "
                                             f"packs (first difference at byte {at})"))
        return False
    return True
