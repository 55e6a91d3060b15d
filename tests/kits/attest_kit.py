"""Signed evidence for the attestation tests: a workspace (the calico sample, the bank pack, an
ed25519 key pair) audited once with ``auditor audit --sign``, copied per test so each can
tamper with its own copy. Subject names are relative, so a copy verifies from its own root."""

from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]
EPOCH = "1780000000"  # SOURCE_DATE_EPOCH: the manifests' capture time, so runs repeat byte for byte
AUDIT = ["audit", "cluster", "--controls", "controls/bank-zones.yaml", "-o", "out/result.json",
         "--report", "out", "--format", "all", "--sign", "keys/signing.pem"]


def write_keys(directory: Path, name: str = "signing") -> tuple[Path, Path]:
    """An ed25519 key pair as PEM files, as `openssl genpkey -algorithm ed25519` and
    `openssl pkey -pubout` write them (PKCS#8 / SubjectPublicKeyInfo)."""
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private = directory / f"{name}.pem"
    public = directory / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def workspace(directory: Path) -> Path:
    """The inputs of a signed audit, laid out as a user would have them."""
    shutil.copytree(ROOT / "sample_clusters" / "bank" / "calico", directory / "cluster")
    (directory / "controls").mkdir(parents=True)
    shutil.copy(ROOT / "controls" / "bank-zones.yaml", directory / "controls" / "bank-zones.yaml")
    write_keys(directory / "keys")
    return directory


def run(directory: Path, args: list[str], env: dict[str, str] | None = None) -> Result:
    """``auditor ARGS`` with ``directory`` as the working directory (and a fixed capture time)."""
    old = os.getcwd()
    os.chdir(directory)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": EPOCH, **(env or {})})
    finally:
        os.chdir(old)


@functools.cache
def _signed(base: str) -> Path:
    ws = workspace(Path(base) / "signed")
    outcome = run(ws, AUDIT)
    assert outcome.exit_code == 1, outcome.output  # the calico sample fails BANK-1 and BANK-6
    return ws


def signed_copy(tmp: Path, cache_base: Path) -> Path:
    """A fresh copy of the signed workspace under ``tmp``."""
    target = tmp / "ws"
    shutil.copytree(_signed(str(cache_base)), target)
    return target
