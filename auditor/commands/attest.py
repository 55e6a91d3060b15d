"""``auditor attest RESULT.json --key KEY``: sign existing evidence (and ``audit --sign``'s helpers).

Writes ``attestation.intoto.jsonl``: an in-toto Statement v1 in a DSSE envelope, signed with an
ed25519 key (``docs/attestation.md``). Before signing, the result is re-derived from the
snapshot and the packs: evidence that ``auditor verify`` could not reproduce is not signed.

Exit codes: 0 signed; 2 the key, the result, the snapshot or a pack is missing or invalid, or
the result does not re-derive from them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from auditor.commands.pipeline import LiveSpec
from auditor.errors import AuditorError

SNAPSHOT_FILE = "snapshot.json"


def invocation() -> list[str]:
    """The command line as click parsed it (``auditor audit … --sign KEY``): the options given,
    in declaration order; run under a test runner it is the same as from a shell."""
    ctx = click.get_current_context()
    args = ctx.command_path.split()
    args[0] = "auditor"
    tail: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        value = ctx.params.get(name)
        if value is None or value is False or value == () or (value == param.default and not param.required):
            continue
        if isinstance(param, click.Argument):
            tail += [str(v) for v in (value if isinstance(value, tuple | list) else (value,))]
            continue
        flag = param.opts[-1] if param.opts[-1].startswith("--") else param.opts[0]
        if getattr(param, "is_flag", False):
            args.append(flag)
        elif isinstance(value, tuple | list):
            for v in value:
                args += [flag, str(v)]
        else:
            args += [flag, str(value)]
    return args + tail


def live_endpoint(live: LiveSpec | None) -> tuple[str | None, str | None]:
    """For a live scan: the API server's URL and the SHA-256 fingerprint of the CA certificate
    that authenticates it (``sha256:<hex>`` of the DER, as ``openssl x509 -fingerprint -sha256``
    without colons), from the kubeconfig / in-cluster settings the scan used. (None, None) for
    other inputs; the fingerprint is None when the connection names no CA."""
    if live is None:
        return None, None
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        if live.in_cluster:
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=live.kubeconfig, context=live.context,
                                    client_configuration=configuration, persist_config=False)
    except (ConfigException, OSError, ValueError, TypeError, KeyError):
        return None, None  # the scan itself succeeded: only the provenance detail is missing
    host = str(configuration.host or "") or None
    return host, _ca_fingerprint(configuration.ssl_ca_cert)


def _ca_fingerprint(path: str | None) -> str | None:
    if not path:
        return None
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    try:
        with open(path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
    except (OSError, ValueError):
        return None
    return "sha256:" + cert.fingerprint(hashes.SHA256()).hex()


def check_signing(key: str, output: str | None) -> Any:
    """``audit --sign``: the key loads and the result goes to a file (checked before the analysis)."""
    from auditor.attest.sign import load_signer

    if not output or output == "-":
        raise AuditorError("--sign needs -o RESULT.json (a file: the attestation names it)")
    return load_signer(key)


def evidence_dir(output: str, report_dir: str | None) -> str:
    """Where ``audit --sign`` writes the snapshot and the attestation: the reports directory,
    else the result's directory."""
    return report_dir or os.path.dirname(output) or "."


def sign_audit(signer: Any, snapshot: Any, live: LiveSpec | None, result: Mapping[str, Any], output: str,
               report_dir: str | None, formats: Sequence[str], templates: Sequence[str], paper: str | None,
               max_evidence: int, cluster_name: str = "") -> list[Path]:
    """``audit --sign``: save the snapshot next to the evidence, write the reports, sign."""
    from auditor.attest.evidence import describe, input_subjects, predicate_for, signed_reports
    from auditor.attest.sign import write_attestation
    from auditor.attest.statement import FILE_NAME, make_statement
    from auditor.report import parse_formats
    from auditor.report.interface import ReportOptions

    out_dir = evidence_dir(output, report_dir)
    snapshot_path = os.path.join(out_dir, SNAPSHOT_FILE)
    snapshot.save(snapshot_path)
    api_server, ca_fingerprint = live_endpoint(live)
    predicate = predicate_for(result, invocation(), max_evidence, api_server=api_server, ca_fingerprint=ca_fingerprint)
    subjects = input_subjects(result, output, snapshot_path)
    if report_dir:
        options = ReportOptions(templates=tuple(templates) or ("auditor", "executive"),
                                paper=paper.lower() if paper else None, cluster_name=cluster_name)
        written, signed = signed_reports(signer, predicate, subjects, result, report_dir, parse_formats(formats),
                                         options)
    else:
        from auditor.attest.sign import sign

        written, signed = [], [sign(make_statement(subjects, predicate), signer)]
        write_attestation(os.path.join(out_dir, FILE_NAME), signed)
    for path in written:
        click.echo(f"wrote {path}", err=True)
    click.echo(f"wrote {os.path.join(out_dir, SNAPSHOT_FILE)}", err=True)
    click.echo(f"wrote {os.path.join(out_dir, FILE_NAME)}: {describe(signed)}", err=True)
    return written


@click.command()
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False))
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), metavar="KEY.pem",
              help="ed25519 private key (PEM, unencrypted): openssl genpkey -algorithm ed25519 -out KEY.pem")
@click.option("--snapshot", "snapshot_file", type=click.Path(dir_okay=False), metavar="SNAPSHOT.json",
              help=f"The snapshot the result was computed from (default: {SNAPSHOT_FILE} next to RESULT.json; "
                   "`auditor scan` writes one).")
@click.option("--reports", "reports_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Directory of the reports to attest: every file in it (default: the directory of RESULT.json).")
@click.option("--max-evidence", "max_evidence", type=click.IntRange(min=0), default=None, metavar="N",
              help="The --max-evidence the audit ran with (default: the audit's default).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), metavar="FILE",
              help="Attestation to write (default: attestation.intoto.jsonl in the reports directory).")
def attest(result_file: str, key: str, snapshot_file: str | None, reports_dir: str | None,
           max_evidence: int | None, output: str | None) -> None:
    """Sign an audit's evidence: in-toto statement over snapshot, result, packs and reports (DSSE, ed25519)."""
    from auditor.attest.evidence import (
        attest_files,
        describe,
        input_subjects,
        predicate_for,
        report_files,
    )
    from auditor.attest.rederive import rederive
    from auditor.attest.sign import load_signer
    from auditor.attest.statement import FILE_NAME
    from auditor.commands.report import load_result
    from auditor.controls.result import DEFAULT_MAX_EVIDENCE
    from auditor.snapshot import load_snapshot

    signer = load_signer(key)
    result = load_result(result_file)
    base = os.path.dirname(result_file) or "."
    snapshot_path = snapshot_file or os.path.join(base, SNAPSHOT_FILE)
    snapshot = load_snapshot(snapshot_path)
    if snapshot.digest != result["snapshot"].get("digest"):
        raise AuditorError(f"not the snapshot {result_file} was computed from (sha256 {snapshot.digest}, the "
                           f"result names {result['snapshot'].get('digest')})", where=snapshot_path)
    evidence = max_evidence if max_evidence is not None else DEFAULT_MAX_EVIDENCE
    with open(result_file, "rb") as handle:
        result_bytes = handle.read()
    with open(snapshot_path, "rb") as handle:
        snapshot_bytes = handle.read()
    if rederive(result_bytes, snapshot_bytes, evidence, where=result_file) != result_bytes:
        raise AuditorError(f"does not re-derive byte for byte from {snapshot_path} and its packs with "
                           f"--max-evidence {evidence} (edited, or another --max-evidence?): not signed",
                           where=result_file)
    directory = reports_dir or base
    target = output or os.path.join(directory, FILE_NAME)
    reports = report_files(directory, exclude=(result_file, snapshot_path, target))
    predicate = predicate_for(result, invocation(), evidence)
    signed = attest_files(signer, predicate, input_subjects(result, result_file, snapshot_path), reports, target)
    click.echo(f"wrote {target}: {describe(signed)}", err=True)
