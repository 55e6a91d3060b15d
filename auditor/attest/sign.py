"""Ed25519 keys (PEM files) and DSSE envelopes, through securesystemslib.

``Envelope.sign`` with a ``CryptoSigner`` computes the DSSE pre-authentication encoding and the
signature; ``Envelope.verify`` with an ``SSlibKey`` checks it. The key id is securesystemslib's
default (SHA-256 of the canonical public key), the same for the private and the public file.
An attestation file holds one envelope per line (``.intoto.jsonl``).
"""

from __future__ import annotations

import binascii
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from auditor.attest.statement import Statement, parse_statement
from auditor.canonical import atomic_write, canonical_json
from auditor.errors import AuditorError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
ALGORITHM = "ed25519"


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise AuditorError(f"no such {what} file", where=path) from None
    except OSError as exc:
        raise AuditorError(f"cannot read {what}: {exc.strerror or exc}", where=path) from None


def load_signer(path: str) -> Any:
    """A ``CryptoSigner`` for an unencrypted ed25519 private key in PEM (``openssl genpkey -algorithm ed25519``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    from securesystemslib.signer import CryptoSigner

    data = _read(path, "signing key")
    try:
        key = load_pem_private_key(data, password=None)
    except TypeError:
        raise AuditorError("the signing key is encrypted; give an unencrypted PEM key (keep it in a "
                           "Secret instead)", where=path) from None
    except (ValueError, binascii.Error):
        hint = " (that is a public key: signing needs the private one)" if b"PUBLIC KEY" in data else ""
        raise AuditorError(f"not a PEM private key{hint}", where=path) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditorError(f"not an ed25519 key ({type(key).__name__}); generate one with "
                           "`openssl genpkey -algorithm ed25519`", where=path)
    return CryptoSigner(key)


def load_public_key(path: str) -> Any:
    """An ``SSlibKey`` for an ed25519 public key in PEM (``openssl pkey -in key.pem -pubout``)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.signer import SSlibKey

    data = _read(path, "public key")
    if b"PRIVATE KEY" in data:
        raise AuditorError("is a private key: verify with the public key "
                           "(openssl pkey -in KEY.pem -pubout -out KEY.pub)", where=path)
    try:
        key = load_pem_public_key(data)
    except (ValueError, binascii.Error):
        raise AuditorError("not a PEM public key", where=path) from None
    if not isinstance(key, Ed25519PublicKey):
        raise AuditorError(f"not an ed25519 public key ({type(key).__name__})", where=path)
    return SSlibKey.from_crypto(key)


@dataclass(frozen=True)
class Signed:
    """A statement with its DSSE envelope (one line of the attestation file)."""

    statement: Statement
    envelope: Any  # securesystemslib.dsse.Envelope
    key_id: str

    def line(self) -> bytes:
        return canonical_json(self.envelope.to_dict()) + b"\n"


def sign(statement: Statement, signer: Any) -> Signed:
    from securesystemslib.dsse import Envelope

    envelope = Envelope(payload=statement.to_json(), payload_type=PAYLOAD_TYPE, signatures={})
    signature = envelope.sign(signer)
    return Signed(statement=statement, envelope=envelope, key_id=signature.keyid)


def key_id(signer: Any) -> str:
    return str(signer.public_key.keyid)


def write_attestation(path: str | os.PathLike[str], signed: Sequence[Signed]) -> None:
    atomic_write(path, b"".join(s.line() for s in signed))


def read_attestation(path: str) -> list[Signed]:
    """Every envelope of an attestation file, each parsed into its statement (not yet verified).

    A truncated or malformed line is an error naming the line: the file cannot be verified."""
    from securesystemslib.dsse import Envelope
    from securesystemslib.exceptions import FormatError

    data = _read(path, "attestation")
    lines = [ln for ln in data.split(b"\n") if ln.strip()]
    if not lines:
        raise AuditorError("empty attestation: no DSSE envelope", where=path)
    out = []
    for n, raw in enumerate(lines, 1):
        where = f"{path}:{n}"
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise AuditorError("truncated or malformed DSSE envelope (not JSON)", where=where) from None
        if not isinstance(doc, dict):
            raise AuditorError("not a DSSE envelope (expected a JSON object)", where=where)
        try:
            envelope = Envelope.from_dict(doc)
        except (KeyError, TypeError, ValueError, AttributeError, binascii.Error, FormatError) as exc:
            raise AuditorError(f"malformed DSSE envelope ({type(exc).__name__}: {exc})", where=where) from None
        if envelope.payload_type != PAYLOAD_TYPE:
            raise AuditorError(f"payload type {envelope.payload_type!r} is not an in-toto statement", where=where)
        if not envelope.signatures:
            raise AuditorError("the envelope carries no signature", where=where)
        statement = parse_statement(envelope.payload, where)
        out.append(Signed(statement=statement, envelope=envelope, key_id=next(iter(envelope.signatures))))
    return out


def check_signature(signed: Signed, key: Any) -> bool:
    """True when the envelope carries a valid signature by ``key``."""
    from securesystemslib.exceptions import VerificationError

    try:
        signed.envelope.verify([key], 1)
    except VerificationError:
        return False
    return True
