"""What an attestation covers, and the order things are signed in.

The evidence statement names the snapshot, the result, the control packs (with the zones map
and waivers file when used) and the reports. PDFs name the statement they are issued under on
their sign-off page, so they cannot be inside it: they are rendered after it is signed and
covered by a second statement that ``extends`` the first. Both go, one envelope per line, into
``attestation.intoto.jsonl``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from auditor.attest.sign import ALGORITHM, Signed, key_id, sign, write_attestation
from auditor.attest.statement import (
    FILE_NAME,
    Predicate,
    Subject,
    file_subject,
    make_statement,
)
from auditor.report.interface import AttestationRef, ReportOptions


def predicate_for(result: Mapping[str, Any], command: Sequence[str], max_evidence: int, *,
                  api_server: str | None = None, ca_fingerprint: str | None = None) -> Predicate:
    from auditor.report.data import view

    data = view(result)
    return Predicate(
        tool_version=data.tool_version,
        command=tuple(command),
        cluster=data.cluster_name(),
        source=str(data.snapshot.get("source", "")),
        scan_time=data.captured_at,
        verdict=data.verdict,
        verdicts=tuple(sorted(data.counts.items())),
        max_evidence=max_evidence,
        snapshot_digest=data.digest,
        api_server=api_server,
        ca_fingerprint=ca_fingerprint,
    )


def input_subjects(result: Mapping[str, Any], result_path: str, snapshot_path: str) -> list[Subject]:
    """The snapshot, the result, and the packs / zones map / waivers file the result names."""
    out = [file_subject(snapshot_path, "snapshot"), file_subject(result_path, "result")]
    out += [file_subject(str(p["path"]), "pack") for p in result.get("packs", [])]
    if result.get("zones_file"):
        out.append(file_subject(str(result["zones_file"]["path"]), "zones"))
    if result.get("waivers_file"):
        out.append(file_subject(str(result["waivers_file"]["path"]), "waivers"))
    return out


def report_files(directory: str, exclude: Iterable[str]) -> list[str]:
    """Every report in ``directory``: its regular, non-hidden files, except ``exclude``."""
    skip = {os.path.realpath(p) for p in exclude}
    out = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        if name.startswith(".") or name == FILE_NAME or not os.path.isfile(path) or os.path.realpath(path) in skip:
            continue
        out.append(path)
    return out


def attest_files(signer: Any, predicate: Predicate, subjects: Sequence[Subject], reports: Sequence[str],
                 output: str) -> list[Signed]:
    """One statement over inputs and reports (``auditor attest``, after the fact)."""
    statement = make_statement([*subjects, *(file_subject(p, "report") for p in reports)], predicate)
    signed = [sign(statement, signer)]
    write_attestation(output, signed)
    return signed


def signed_reports(signer: Any, predicate: Predicate, subjects: Sequence[Subject], result: Mapping[str, Any],
                   out_dir: str, formats: Sequence[str], options: ReportOptions) -> tuple[list[Path], list[Signed]]:
    """Write the reports and sign them (``auditor audit --sign --report DIR``): the evidence
    statement first (inputs and every report but the PDFs), then the PDFs naming it, then a
    statement over the PDFs that extends it."""
    from auditor.report import write_reports

    first = [f for f in formats if f != "pdf"]
    written = write_reports(result, out_dir, first, options) if first else []
    statement = make_statement([*subjects, *(file_subject(p, "report") for p in written)], predicate)
    signed = [sign(statement, signer)]
    if "pdf" in formats:
        ref = AttestationRef(key_id=key_id(signer), algorithm=ALGORITHM, statement_digest=statement.digest)
        pdfs = write_reports(result, out_dir, ["pdf"], replace(options, attestation=ref))
        written = pdfs + written
        pdf_statement = make_statement([file_subject(p, "report") for p in pdfs],
                                       replace(predicate, extends=statement.digest))
        signed.append(sign(pdf_statement, signer))
    write_attestation(os.path.join(out_dir, FILE_NAME), signed)
    return written, signed


def describe(signed: Sequence[Signed]) -> str:
    """``attested N files, key id K (ed25519), statement sha256:D``."""
    n = sum(len(s.statement.subjects) for s in signed)
    return (f"attested {n} file(s), key id {signed[0].key_id} ({ALGORITHM}), "
            f"statement sha256:{signed[0].statement.digest}")

