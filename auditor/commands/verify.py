"""``auditor verify DIR|FILES --key PUB``: check signed evidence (``docs/attestation.md``).

Exit codes: 0 verified (signature, every subject's digest, the result re-derived byte for
byte); 1 something was tampered with (each file named, with how); 2 verification could not run
(missing or malformed key, truncated envelope, a key that did not sign it, an attestation of
other files), one ``error:`` line.
"""

from __future__ import annotations

import os
import sys

import click

from auditor.errors import AuditorError


@click.command()
@click.argument("paths", nargs=-1, required=True, metavar="DIR|FILES...")
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False), metavar="PUB.pem",
              help="The signer's ed25519 public key (PEM): openssl pkey -in KEY.pem -pubout -out PUB.pem")
def verify(paths: tuple[str, ...], key: str) -> None:
    """Verify an attestation: signature, every file's SHA-256, and the result re-derived from the snapshot."""
    from auditor.attest.statement import FILE_NAME
    from auditor.attest.verify import verify as run

    directory = None
    for p in paths:
        if not os.path.exists(p):
            raise AuditorError("no such file or directory", where=p)
    if len(paths) == 1 and os.path.isdir(paths[0]):
        directory = paths[0]
        attestation, named = os.path.join(directory, FILE_NAME), []
        if not os.path.isfile(attestation):
            raise AuditorError(f"no {FILE_NAME} in this directory: nothing to verify", where=directory)
    else:
        found = [p for p in paths if p.endswith(".intoto.jsonl")]
        if len(found) != 1:
            raise AuditorError(f"give a directory, or files with exactly one attestation (*.intoto.jsonl); "
                               f"found {len(found)}")
        attestation, named = found[0], [p for p in paths if p != found[0]]
    outcome = run(attestation, key, directory=directory, named=named)
    if outcome.problems:
        for problem in outcome.problems:
            click.echo(f"tampered: {problem}", err=True)
        click.echo(f"NOT VERIFIED: {len(outcome.problems)} problem(s) in {attestation}", err=True)
        sys.exit(1)
    first = outcome.statements[0].statement
    click.echo(f"verified {attestation}: {outcome.checked} file(s) match, key id {outcome.key_id} (ed25519), "
               f"statement sha256:{first.digest}; result re-derived byte-identically from the snapshot and packs")
