"""``auditor audit --sign``, ``auditor attest`` and ``auditor verify`` on the calico sample:
verified evidence exits 0; one changed byte in the snapshot, the result, a PDF or a CSV exits 1
naming the file; a wrong, missing or malformed key, a truncated envelope or an attestation of
other files exits 2 with one line."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.attest.evidence import attest_files, input_subjects, predicate_for, report_files
from auditor.attest.sign import load_signer
from tests.kits.attest_kit import AUDIT, run, signed_copy, workspace, write_keys
from tests.kits.report_kit import flat, pdf_text

VERIFY = ["verify", "out", "--key", "keys/signing.pub"]


@pytest.fixture
def ws(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return signed_copy(tmp_path, tmp_path_factory.getbasetemp() / "attest-kit")


def envelopes(ws: Path) -> list[dict]:
    return [orjson.loads(line) for line in (ws / "out" / "attestation.intoto.jsonl").read_bytes().splitlines()]


def statement(envelope: dict) -> dict:
    return orjson.loads(base64.b64decode(envelope["payload"]))


def flip(path: Path, offset: int | None = None) -> None:
    """Change one byte (in the middle unless told)."""
    data = bytearray(path.read_bytes())
    i = len(data) // 2 if offset is None else offset
    data[i] = ord("0") if data[i] != ord("0") else ord("1")
    path.write_bytes(bytes(data))


def test_signed_audit_verifies(ws: Path) -> None:
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 0, outcome.output
    assert "verified out/attestation.intoto.jsonl" in outcome.output
    assert "re-derived byte-identically" in outcome.output


def test_statement_names_every_file_and_the_predicate(ws: Path) -> None:
    first, pdfs = envelopes(ws)
    s = statement(first)
    assert s["_type"] == "https://in-toto.io/Statement/v1" and first["payloadType"] == "application/vnd.in-toto+json"
    roles = {x["name"]: x["annotations"]["role"] for x in s["subject"]}
    assert roles["out/snapshot.json"] == "snapshot" and roles["out/result.json"] == "result"
    assert roles["controls/bank-zones.yaml"] == "pack"
    for name in ("controls.csv", "violations.csv", "flows.csv", "junit.xml", "results.sarif",
                 "assessment-results.json"):
        assert roles[f"out/{name}"] == "report"
    for x in s["subject"]:
        assert x["digest"]["sha256"] == hashlib.sha256((ws / x["name"]).read_bytes()).hexdigest()
    p = s["predicate"]
    result = orjson.loads((ws / "out" / "result.json").read_bytes())
    assert p["tool"] == {"name": "zone-auditor", "version": result["tool_version"]}
    assert p["command"][:2] == ["auditor", "audit"] and "--sign" in p["command"]
    assert p["cluster"] == {"name": "cluster", "source": "manifests: cluster"}  # manifests: no API server
    assert p["scan_time"] == result["snapshot"]["captured_at"]
    assert p["snapshot_digest"] == result["snapshot"]["digest"]
    assert p["verdict"] == "fail" and p["verdicts"] == result["summary"]["controls"]
    # the PDFs are signed after the statement they name, by a second one extending it
    second = statement(pdfs)
    assert {x["name"] for x in second["subject"]} == {"out/evidence-report.pdf", "out/executive-summary.pdf"}
    digest = hashlib.sha256(base64.b64decode(first["payload"])).hexdigest()
    assert second["predicate"]["extends"] == {"statement_sha256": digest}


def test_pdf_signoff_names_key_algorithm_and_statement(ws: Path) -> None:
    (first, _) = envelopes(ws)
    digest = hashlib.sha256(base64.b64decode(first["payload"])).hexdigest()
    keyid = first["signatures"][0]["keyid"]
    text = "".join(flat(t) for t in pdf_text((ws / "out" / "evidence-report.pdf").read_bytes()))
    squeezed = "".join(text.split())
    assert f"Attestation:signed(ed25519),keyid{keyid},statementsha256:{digest}" in squeezed
    assert "unsigned" not in text


@pytest.mark.parametrize("name", ["snapshot.json", "result.json", "evidence-report.pdf", "violations.csv"])
def test_one_changed_byte_is_caught_and_named(ws: Path, name: str) -> None:
    flip(ws / "out" / name)
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1, outcome.output
    assert f"tampered: out/{name}: digest mismatch" in outcome.output
    assert outcome.output.count("tampered:") == 1


def test_missing_subject_is_tampering(ws: Path) -> None:
    (ws / "out" / "flows.csv").unlink()
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1
    assert "tampered: out/flows.csv: missing subject" in outcome.output


def test_unattested_files_in_the_directory_are_named(ws: Path) -> None:
    """Dropping the PDFs' statement leaves them unattested; so is a report slipped in."""
    path = ws / "out" / "attestation.intoto.jsonl"
    path.write_bytes(path.read_bytes().splitlines(keepends=True)[0])
    (ws / "out" / "extra.csv").write_text("a\n")
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1
    named = sorted(line.split(":")[1].strip() for line in outcome.output.splitlines() if line.startswith("tampered:"))
    assert named == ["out/evidence-report.pdf", "out/executive-summary.pdf", "out/extra.csv"]
    assert "not attested" in outcome.output


def test_altered_statement_fails_the_signature(ws: Path) -> None:
    """The payload edited (the verdict turned to pass) under the original signature."""
    lines = envelopes(ws)
    s = statement(lines[0])
    s["predicate"]["verdict"] = "pass"
    lines[0]["payload"] = base64.b64encode(orjson.dumps(s)).decode()
    (ws / "out" / "attestation.intoto.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1
    assert "out/attestation.intoto.jsonl:1: the signature does not verify" in outcome.output


def test_signed_result_that_does_not_rederive_is_caught(ws: Path) -> None:
    """A key holder who signs an edited result: the digests match, the re-derivation does not."""
    path = ws / "out" / "result.json"
    result = orjson.loads(path.read_bytes())
    result["findings"][0]["message"] = "nothing to see"
    path.write_bytes(orjson.dumps(result, option=orjson.OPT_SORT_KEYS) + b"\n")
    import os

    old = os.getcwd()
    os.chdir(ws)
    try:
        subjects = input_subjects(result, "out/result.json", "out/snapshot.json")
        attest_files(load_signer("keys/signing.pem"), predicate_for(result, ["test"], 1000), subjects,
                     report_files("out", ["out/result.json", "out/snapshot.json"]), "out/attestation.intoto.jsonl")
    finally:
        os.chdir(old)
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1, outcome.output
    assert "tampered: out/result.json: no longer re-derivable byte-identically" in outcome.output


def test_wrong_key_is_refused(ws: Path) -> None:
    _, other = write_keys(ws / "other", "other")
    outcome = run(ws, ["verify", "out", "--key", str(other)])
    assert outcome.exit_code == 2
    assert outcome.output.count("\n") == 1 and "wrong --key?" in outcome.output


@pytest.mark.parametrize("cut", [0.5, 0.99])
def test_truncated_envelope_cannot_be_verified(ws: Path, cut: float) -> None:
    path = ws / "out" / "attestation.intoto.jsonl"
    first = path.read_bytes().splitlines()[0]
    path.write_bytes(first[: int(len(first) * cut)])
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 2
    assert outcome.output.startswith("error: out/attestation.intoto.jsonl:1: truncated or malformed DSSE envelope")


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such public key file"),
    (b"not a key\n", "not a PEM public key"),
    ("private", "is a private key"),
])
def test_missing_or_malformed_key(ws: Path, content: bytes | str | None, message: str) -> None:
    key = ws / "keys" / "given.pub"
    if content == "private":
        shutil.copy(ws / "keys" / "signing.pem", key)
    elif content is not None:
        key.write_bytes(content)
    outcome = run(ws, ["verify", "out", "--key", "keys/given.pub"])
    assert outcome.exit_code == 2
    assert outcome.output.count("\n") == 1 and message in outcome.output


def test_attestation_of_other_files(ws: Path) -> None:
    other = ws / "elsewhere"
    other.mkdir()
    shutil.copy(ws / "out" / "attestation.intoto.jsonl", other / "attestation.intoto.jsonl")
    outcome = run(ws, ["verify", "elsewhere", "--key", "keys/signing.pub"])
    assert outcome.exit_code == 2
    assert "the attestation is for other files" in outcome.output
    (ws / "notes.csv").write_text("a,b\n")
    outcome = run(ws, ["verify", "out/attestation.intoto.jsonl", "notes.csv", "--key", "keys/signing.pub"])
    assert outcome.exit_code == 2
    assert "notes.csv is not one of its subjects" in outcome.output


def test_files_mode(ws: Path) -> None:
    outcome = run(ws, ["verify", "out/attestation.intoto.jsonl", "out/result.json", "out/violations.csv",
                       "--key", "keys/signing.pub"])
    assert outcome.exit_code == 0, outcome.output


def test_sign_needs_a_usable_key_before_the_analysis(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    args = [a if a != "keys/signing.pem" else "keys/missing.pem" for a in AUDIT]
    outcome = run(ws, args)
    assert outcome.exit_code == 2 and "no such signing key file" in outcome.output
    assert not (ws / "out").exists()  # nothing analysed, nothing written
    outcome = run(ws, [a if a != "keys/signing.pem" else "keys/signing.pub" for a in AUDIT])
    assert outcome.exit_code == 2 and "that is a public key" in outcome.output
    outcome = run(ws, ["audit", "cluster", "--controls", "controls/bank-zones.yaml", "--sign", "keys/signing.pem"])
    assert outcome.exit_code == 2 and "--sign needs -o" in outcome.output


def test_same_inputs_and_key_give_identical_bytes(ws: Path) -> None:
    """Ed25519 is deterministic and every timestamp comes from the snapshot: re-running the
    signed audit rewrites the statement, envelopes and reports byte for byte."""
    before = {p.name: p.read_bytes() for p in (ws / "out").iterdir()}
    outcome = run(ws, AUDIT)
    assert outcome.exit_code == 1
    after = {p.name: p.read_bytes() for p in (ws / "out").iterdir()}
    assert after == before


def test_attest_after_the_fact(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    assert run(ws, ["scan", "cluster", "-o", "out/snapshot.json"]).exit_code == 0
    outcome = run(ws, ["audit", "out/snapshot.json", "--controls", "controls/bank-zones.yaml", "-o",
                       "out/result.json", "--report", "out", "--format", "csv,pdf"])
    assert outcome.exit_code == 1, outcome.output
    cover = "".join(flat(t) for t in pdf_text((ws / "out" / "evidence-report.pdf").read_bytes())[:1])
    assert "Attestation unsigned" in cover
    outcome = run(ws, ["attest", "out/result.json", "--key", "keys/signing.pem"])
    assert outcome.exit_code == 0, outcome.output
    (line,) = envelopes(ws)
    names = {x["name"] for x in statement(line)["subject"]}
    assert {"out/evidence-report.pdf", "out/violations.csv", "out/result.json", "out/snapshot.json"} <= names
    assert run(ws, VERIFY).exit_code == 0
    flip(ws / "out" / "controls.csv")
    outcome = run(ws, VERIFY)
    assert outcome.exit_code == 1 and "tampered: out/controls.csv: digest mismatch" in outcome.output


def test_attest_refuses_a_result_that_does_not_rederive(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    run(ws, ["scan", "cluster", "-o", "out/snapshot.json"])
    run(ws, ["audit", "out/snapshot.json", "--controls", "controls/bank-zones.yaml", "-o", "out/result.json"])
    result = orjson.loads((ws / "out" / "result.json").read_bytes())
    result["findings"][0]["title"] = "edited after the audit"  # consistent, but not what the audit wrote
    (ws / "out" / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_SORT_KEYS) + b"\n")
    outcome = run(ws, ["attest", "out/result.json", "--key", "keys/signing.pem"])
    assert outcome.exit_code == 2 and "does not re-derive byte for byte" in outcome.output
    result["findings"][0]["title"] = orjson.loads((ws / "out" / "result.json").read_bytes())["findings"][0]["title"]
    result["summary"]["verdict"] = "pass"  # a forged verdict is refused before re-derivation: inconsistent
    (ws / "out" / "result.json").write_bytes(orjson.dumps(result, option=orjson.OPT_SORT_KEYS) + b"\n")
    outcome = run(ws, ["attest", "out/result.json", "--key", "keys/signing.pem"])
    assert outcome.exit_code == 2 and "inconsistent audit result" in outcome.output
    assert not (ws / "out" / "attestation.intoto.jsonl").exists()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line (apt-get install openssl)")
def test_openssl_generated_keys_as_documented(ws: Path) -> None:
    """docs/attestation.md: `openssl genpkey -algorithm ed25519`, then `openssl pkey -pubout`."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", str(ws / "keys" / "ossl.pem")], check=True)
    subprocess.run(["openssl", "pkey", "-in", str(ws / "keys" / "ossl.pem"), "-pubout", "-out",
                    str(ws / "keys" / "ossl.pub")], check=True)
    outcome = run(ws, ["attest", "out/result.json", "--key", "keys/ossl.pem"])
    assert outcome.exit_code == 0, outcome.output
    assert run(ws, ["verify", "out", "--key", "keys/ossl.pub"]).exit_code == 0
    assert run(ws, VERIFY).exit_code == 2  # now signed by the openssl key, not the first one


def _tls(directory: Path) -> tuple[object, bytes, str]:
    """A CA, and a server certificate for 127.0.0.1 it signed: (server SSLContext, CA PEM, CA fingerprint)."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def cert(subject: str, key: object, issuer: str, signer: object, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
             .public_key(key.public_key()).serial_number(x509.random_serial_number())  # type: ignore[attr-defined]
             .not_valid_before(start).not_valid_after(start + dt.timedelta(days=3650))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            b = b.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        return b.sign(signer, hashes.SHA256())  # type: ignore[arg-type]

    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = cert("kubernetes-ca", ca_key, "kubernetes-ca", ca_key, True)
    server = cert("kube-apiserver", server_key, "kubernetes-ca", ca_key, False)
    (directory / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "server.pem", directory / "server.key")
    return context, ca.public_bytes(serialization.Encoding.PEM), "sha256:" + ca.fingerprint(hashes.SHA256()).hex()


def test_live_scan_names_the_api_server_and_its_ca(tmp_path: Path) -> None:
    """A signed live audit over HTTPS: the predicate names the API server URL and the fingerprint
    of the CA the kubeconfig trusts; verification re-derives the result from the saved snapshot."""
    import yaml

    from tests.kits.fake_apiserver import FakeApiServer

    ws = workspace(tmp_path / "ws")
    objects = [d for p in sorted((ws / "cluster").glob("*.yaml")) for d in yaml.safe_load_all(p.read_text())
               if isinstance(d, dict)]
    context, ca_pem, fingerprint = _tls(tmp_path)
    with FakeApiServer(objects, tls=context) as api:
        kubeconfig = api.write_kubeconfig(ws / "kubeconfig")
        config = yaml.safe_load(kubeconfig.read_text())
        config["clusters"][0]["cluster"]["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
        kubeconfig.write_text(yaml.safe_dump(config))
        outcome = run(ws, ["audit", "--kubeconfig", "kubeconfig", "--controls", "controls/bank-zones.yaml",
                           "-o", "out/result.json", "--sign", "keys/signing.pem"])
        url = api.url
    assert outcome.exit_code == 1, outcome.output
    assert url.startswith("https://127.0.0.1:")
    (line,) = envelopes(ws)
    cluster = statement(line)["predicate"]["cluster"]
    assert cluster == {"name": "kind-bank (live)", "source": cluster["source"], "api_server": url,
                       "ca_fingerprint": fingerprint}
    assert run(ws, VERIFY).exit_code == 0


def test_manifest_input_names_no_api_server(ws: Path) -> None:
    (first, _) = envelopes(ws)
    assert set(statement(first)["predicate"]["cluster"]) == {"name", "source"}


def _subject_files(ws: Path) -> list[str]:
    return sorted(x["name"] for line in envelopes(ws) for x in statement(line)["subject"])


@pytest.fixture
def attested(ws: Path) -> tuple[Path, list[str]]:
    return ws, _subject_files(ws)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_changed_byte_of_any_subject_is_caught(attested: tuple[Path, list[str]], data: st.DataObject) -> None:
    """Property: whichever attested file, offset and new byte value, verify exits 1 and names
    exactly that file."""
    ws, names = attested
    name = data.draw(st.sampled_from(names), label="file")
    path = ws / name
    original = path.read_bytes()
    offset = data.draw(st.integers(0, len(original) - 1), label="offset")
    value = data.draw(st.integers(0, 255).filter(lambda b: b != original[offset]), label="byte")
    path.write_bytes(original[:offset] + bytes([value]) + original[offset + 1:])
    try:
        outcome = run(ws, VERIFY)
    finally:
        path.write_bytes(original)
    assert outcome.exit_code == 1, outcome.output
    tampered = [line for line in outcome.output.splitlines() if line.startswith("tampered:")]
    assert tampered == [f"tampered: {name}: digest mismatch" + tampered[0].split("digest mismatch", 1)[1]]
