"""The attestation of a run in the history (issue #17 §4, revision 0003), on SQLite and on a real
PostgreSQL: ``audit --record --sign`` and ``history record --attestation`` record the digest of
the signed statement naming the result (the digest the PDF sign-off names), its key id and
algorithm; ``history list`` / ``show`` and the period report say which runs are signed."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

from auditor.history.adapter import result_facts
from auditor.history.record import RunAttestation, packs_digest, record_result
from auditor.history.store import Run, current_revision, locate, migrate, open_store
from tests.kits.attest_kit import AUDIT, run, signed_copy, workspace, write_keys
from tests.kits.history_kit import bank_doc, bank_result, cli, error_lines
from tests.kits.report_kit import flat, pdf_text

ATTESTATION = "out/attestation.intoto.jsonl"


def _statements(path: Path) -> list[tuple[str, str]]:
    """(statement sha256, key id) of every envelope of an attestation file."""
    out = []
    for line in path.read_bytes().splitlines():
        env = orjson.loads(line)
        out.append((hashlib.sha256(base64.b64decode(env["payload"])).hexdigest(), env["signatures"][0]["keyid"]))
    return out


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _stored(url: str) -> list[tuple[int, str | None, str | None, str | None]]:
    store = open_store(url)
    try:
        with store.session("read") as s:
            return [(r.id, r.attestation_digest, r.attestation_key_id, r.attestation_algorithm)
                    for r in s.execute(sa.select(Run).order_by(Run.id)).scalars()]
    finally:
        store.close()


def test_audit_record_sign_records_the_statement_the_pdf_names(store_url: str, tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    env = {"AUDITOR_HISTORY": store_url, "AUDITOR_CLUSTER": "bank"}
    r = run(ws, [*AUDIT, "--record"], env=env)
    assert r.exit_code == 1, r.output  # the audit's own verdict (fail)
    digest, key = _statements(ws / ATTESTATION)[0]
    assert "recorded: run 1 of bank captured" in r.stderr
    assert f"; signed: statement sha256:{digest}, key id {key} (ed25519)" in r.stderr
    assert _stored(store_url) == [(1, digest, key, "ed25519")]
    # the digest recorded is the one the PDF's sign-off page names
    assert digest in flat(" ".join(pdf_text((ws / "out" / "evidence-report.pdf").read_bytes())))
    shown = cli("history", "show", "1", "--history", store_url)
    assert f"  attestation   statement sha256:{digest}\n  key id        {key} (ed25519)\n" in shown.stdout
    listed = _rows(cli("history", "list", "--format", "csv", "--history", store_url).stdout)
    assert [(x["run"], x["signed"]) for x in listed] == [("1", "yes")]
    # the same audit again: the same statement (deterministic), still one run, nothing added
    again = run(ws, [*AUDIT, "--record"], env=env)
    assert again.exit_code == 1 and "already recorded (same snapshot and packs): run 1" in again.stderr
    assert "attestation" not in again.stderr.split("already recorded")[1].splitlines()[0]
    assert _stored(store_url) == [(1, digest, key, "ed25519")]
    assert run(ws, ["verify", "out", "--key", "keys/signing.pub"]).exit_code == 0


def test_history_record_attestation_after_the_fact_adds_and_replaces_only_when_asked(
        store_url: str, tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    h = ["--history", store_url, "--cluster", "bank"]
    assert run(ws, ["scan", "cluster", "-o", "out/snapshot.json"]).exit_code == 0
    audited = run(ws, ["audit", "out/snapshot.json", "--controls", "controls/bank-zones.yaml", "-o",
                       "out/result.json", "--report", "out", "--format", "csv"])
    assert audited.exit_code == 1, audited.output
    unsigned = run(ws, ["history", "record", "out/result.json", *h])
    assert unsigned.exit_code == 0 and "signed" not in unsigned.stderr
    assert _stored(store_url) == [(1, None, None, None)]
    shown = cli("history", "show", "1", "--history", store_url).stdout
    assert "  attestation   none (unsigned)\n" in shown and "key id" not in shown
    assert [x["signed"] for x in _rows(cli("history", "list", "--format", "csv", "--history", store_url).stdout)] \
        == ["no"]
    # signed after the fact: recording again adds the attestation to the stored run, once
    assert run(ws, ["attest", "out/result.json", "--key", "keys/signing.pem"]).exit_code == 0
    first, key = _statements(ws / ATTESTATION)[0]
    added = run(ws, ["history", "record", "out/result.json", "--attestation", ATTESTATION, *h])
    assert added.exit_code == 0, added.output
    assert ("already recorded (same snapshot and packs): run 1 of bank captured 2026-05-28T20:26:40Z in "
            f"{locate(store_url).label}; added its attestation: statement sha256:{first}, key id {key} (ed25519)"
            ) in added.stderr
    same = run(ws, ["history", "record", "out/result.json", "--attestation", ATTESTATION, *h])
    assert same.exit_code == 0 and "added" not in same.stderr and "already recorded" in same.stderr
    assert _stored(store_url) == [(1, first, key, "ed25519")]
    # a different attestation (another key) for the signed run: refused, unless --replace-attestation
    write_keys(ws / "keys", "other")
    assert run(ws, ["attest", "out/result.json", "--key", "keys/other.pem", "-o", "other/att.intoto.jsonl"]
               ).exit_code == 0
    second, other_key = _statements(ws / "other" / "att.intoto.jsonl")[0]
    assert second != first and other_key != key
    refused = run(ws, ["history", "record", "out/result.json", "--attestation", "other/att.intoto.jsonl", *h])
    assert refused.exit_code == 2
    assert error_lines(refused) == [
        f"error: {locate(store_url).label}: run 1 is already recorded with attestation statement sha256:{first} "
        f"(key id {key}), not sha256:{second} (key id {other_key}): nothing changed; give auditor history record "
        "RESULT.json --attestation FILE --replace-attestation to replace it"]
    assert _stored(store_url) == [(1, first, key, "ed25519")]
    replaced = run(ws, ["history", "record", "out/result.json", "--attestation", "other/att.intoto.jsonl",
                        "--replace-attestation", *h])
    assert replaced.exit_code == 0, replaced.output
    assert f"; replaced its attestation: statement sha256:{second}, key id {other_key}" in replaced.stderr
    assert _stored(store_url) == [(1, second, other_key, "ed25519")]


def test_an_attestation_of_other_files_or_a_truncated_one_records_nothing(
        store_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    ws = signed_copy(tmp_path, tmp_path_factory.getbasetemp() / "attest-kit")
    other = ws / "other.json"
    other.write_bytes(bank_result("before"))  # an audit of another snapshot: not a subject
    digest = hashlib.sha256(other.read_bytes()).hexdigest()
    r = run(ws, ["history", "record", "other.json", "--attestation", ATTESTATION, "--history", store_url])
    assert r.exit_code == 2
    assert error_lines(r) == [f"error: {ATTESTATION}: the attestation is for other files: none of its subjects is "
                              f"other.json (sha256:{digest})"]
    truncated = ws / "truncated.intoto.jsonl"
    truncated.write_bytes((ws / ATTESTATION).read_bytes()[:100])
    t = run(ws, ["history", "record", "out/result.json", "--attestation", "truncated.intoto.jsonl",
                 "--history", store_url])
    assert t.exit_code == 2
    assert error_lines(t) == ["error: truncated.intoto.jsonl:1: truncated or malformed DSSE envelope (not JSON)"]
    lone = run(ws, ["history", "record", "out/result.json", "--replace-attestation", "--history", store_url])
    assert lone.exit_code == 2 and error_lines(lone) == ["error: --replace-attestation needs --attestation FILE"]
    assert not Path(store_url).exists() if "://" not in store_url else _stored(store_url) == []


def test_migration_0002_to_0003_keeps_recorded_runs_unsigned_until_attested(
        store_url: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A store written by the previous version (revision 0002) with a run in it: upgrading adds
    the (empty) attestation columns, the run reads as unsigned, and recording its result with
    the attestation adds it."""
    ws = signed_copy(tmp_path, tmp_path_factory.getbasetemp() / "attest-kit")
    doc = orjson.loads((ws / "out" / "result.json").read_bytes())
    facts = result_facts(doc)
    engine = sa.create_engine(locate(store_url).url)
    try:
        migrate(engine, store_url, target="0002")
        assert current_revision(engine) == "0002"
        runs = sa.Table("runs", sa.MetaData(), autoload_with=engine)
        controls = sa.Table("control_results", sa.MetaData(), autoload_with=engine)
        assert "attestation_digest" not in runs.c and "captured_at_declared" in runs.c
        with engine.begin() as conn:
            conn.execute(runs.insert().values(
                id=1, cluster="bank", captured_at=facts.captured_at, captured_at_declared=False,
                snapshot_digest=facts.snapshot_digest, packs_digest=packs_digest(facts),
                tool_version=facts.tool_version, verdict=facts.verdict, source=facts.source,
                recorded_at="2026-05-28T20:30:00Z"))
            conn.execute(controls.insert(), [
                {"run_id": 1, "pack": c.pack, "control": c.control, "verdict": c.verdict, "violations": c.violations,
                 "waived": c.waived, "unknown": c.unknown, "severity": c.severity, "title": c.title, "refs": ""}
                for c in facts.controls])
    finally:
        engine.dispose()
    listed = cli("history", "list", "--format", "csv", "--history", store_url)  # opening upgrades
    assert listed.exit_code == 0, listed.stderr
    assert [(x["run"], x["verdict"], x["fail"], x["signed"]) for x in _rows(listed.stdout)] == [
        ("1", "fail", "2", "no")]
    store = open_store(store_url)
    try:
        assert current_revision(store.engine) == "0003"
    finally:
        store.close()
    cols = {c["name"]: c for c in sa.inspect(sa.create_engine(locate(store_url).url)).get_columns("runs")}
    assert all(cols[n]["nullable"] for n in ("attestation_digest", "attestation_key_id", "attestation_algorithm"))
    assert _stored(store_url) == [(1, None, None, None)]
    digest, key = _statements(ws / ATTESTATION)[0]
    r = run(ws, ["history", "record", "out/result.json", "--attestation", ATTESTATION, "--history", store_url])
    assert r.exit_code == 0, r.output
    assert "run 1 of bank" in r.stderr and f"added its attestation: statement sha256:{digest}" in r.stderr
    assert _stored(store_url) == [(1, digest, key, "ed25519")]


def test_period_report_counts_signed_runs(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, create=True)
    signed = RunAttestation("d" * 64, "k" * 64, "ed25519")
    try:
        assert record_result(store, bank_doc("before"), cluster="bank", attestation=signed).attestation == signed
        assert record_result(store, bank_doc("after"), cluster="bank").attestation is None
        doc = bank_doc("after")
        doc["packs"] = [{**p, "digest": "e" * 64} for p in doc["packs"]]  # another run: other packs
        record_result(store, doc, cluster="unsigned")
    finally:
        store.close()
    plain = tmp_path / "plain"
    r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-01", "--cluster", "unsigned", "-o", plain,
            "--history", store_url)
    assert r.exit_code == 0, r.stderr
    text = flat(" ".join(pdf_text((plain / "period-report.pdf").read_bytes())))
    assert "Signed evidence: 0 of 1 runs" in text and "Signed runs" not in text
    assert {x["signed_runs"] for x in _rows((plain / "period-controls.csv").read_text(encoding="utf-8"))} == {"0"}
    out = tmp_path / "p"
    r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-01", "--cluster", "bank", "-o", out,
            "--history", store_url)
    assert r.exit_code == 0, r.stderr
    rows = _rows((out / "period-controls.csv").read_text(encoding="utf-8"))
    assert rows and all((x["scans"], x["signed_runs"]) == ("2", "1") for x in rows)
    text = flat(" ".join(pdf_text((out / "period-report.pdf").read_bytes())))
    assert "Signed evidence: 1 of 2 runs in the period have an attestation recorded" in text
    assert "Signed runs 1 of 2 run(s) have an attestation recorded" in text  # the cover
