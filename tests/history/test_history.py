"""The history store and the period report (issue #16), on SQLite and on a real PostgreSQL.

Every test taking ``store_url`` runs once per backend (``tests/history/conftest.py``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import sqlite3
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from auditor.errors import AuditorError
from auditor.history.period import Period, analyse, parse_every, parse_time
from auditor.history.record import load_document, record_result
from auditor.history.store import Run, current_revision, known_revisions, migrate, open_store
from tests.kits.history_kit import BANK, PACK, bank_doc, bank_result, cli, error_lines, history_gen
from tests.kits.postgres import HAVE_PG, PG_HINT, create_database


def _pdf_text(path: Path) -> str:
    return "\n".join(p.extract_text() for p in PdfReader(str(path)).pages)


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _runs(url: str) -> int:
    store = open_store(url)
    try:
        with store.session("count") as s:
            return int(s.execute(sa.select(sa.func.count()).select_from(Run)).scalar_one())
    finally:
        store.close()


# -- recording ---------------------------------------------------------------------------------------


def test_record_is_idempotent_and_a_past_run_rerenders_byte_identically(store_url: str, tmp_path: Path) -> None:
    result = tmp_path / "result.json"
    result.write_bytes(bank_result("before"))
    assert cli("report", result, "-o", tmp_path / "then", "--format", "pdf,csv").exit_code == 0
    first = cli("history", "record", result, "--history", store_url, "--cluster", "bank")
    again = cli("history", "record", result, "--history", store_url, "--cluster", "bank")
    assert first.exit_code == 0 and again.exit_code == 0
    assert "recorded: run 1 of bank" in first.stderr
    assert "already recorded" in again.stderr
    assert _runs(store_url) == 1
    shown = cli("history", "show", "1", "--history", store_url, "--report", tmp_path / "now", "--format", "pdf,csv")
    assert shown.exit_code == 0, shown.stderr
    assert "bank-zones/BANK-1: fail (13 open, 0 waived, 0 unknown)" in shown.stdout
    for name in ("evidence-report.pdf", "executive-summary.pdf", "violations.csv", "flows.csv"):
        assert (tmp_path / "now" / name).read_bytes() == (tmp_path / "then" / name).read_bytes(), name
    assert cli("history", "export", "1", "--history", store_url, "-o", tmp_path / "e.json").exit_code == 0
    assert (tmp_path / "e.json").read_bytes() == result.read_bytes()


def test_audit_record_option_records_the_run_and_keeps_the_audit_exit_code(store_url: str) -> None:
    env = {"AUDITOR_HISTORY": store_url, "AUDITOR_CLUSTER": "prod-eu-1"}
    r = cli("audit", BANK / "before", "--controls", PACK, "--record", env=env)
    assert r.exit_code == 1  # the audit's own verdict (fail)
    assert "recorded: run 1 of prod-eu-1" in r.stderr
    listed = cli("history", "list", "--format", "csv", env=env)
    rows = list(csv.DictReader(io.StringIO(listed.stdout)))
    assert [(x["run"], x["cluster"], x["verdict"], x["fail"]) for x in rows] == [("1", "prod-eu-1", "fail", "7")]


def test_a_failed_write_records_nothing(store_url: str) -> None:
    doc = bank_doc("before")
    doc["findings"] = [*doc["findings"], doc["findings"][0]]  # the same control twice: the insert fails midway
    store = open_store(store_url, create=True)
    try:
        with pytest.raises(AuditorError, match="cannot record the run \\(nothing was recorded\\)"):
            record_result(store, doc, cluster="bank")
    finally:
        store.close()
    assert _runs(store_url) == 0


def test_failed_record_from_the_cli_is_one_line_and_exit_2(store_url: str, tmp_path: Path) -> None:
    doc = bank_doc("before")
    doc["findings"] = [*doc["findings"], doc["findings"][0]]
    bad = tmp_path / "dup.json"
    bad.write_bytes(orjson.dumps(doc))
    r = cli("history", "record", bad, "--history", store_url)
    assert r.exit_code == 2
    assert len(error_lines(r)) == 1 and error_lines(r)[0].startswith("error: ")
    assert _runs(store_url) == 0


# -- migrations ---------------------------------------------------------------------------------------


def test_migrations_from_empty_and_from_the_previous_version(store_url: str) -> None:
    assert known_revisions() == ("0001", "0002", "0003")
    fresh = open_store(store_url, create=True)
    try:
        assert current_revision(fresh.engine) == "0003"
        assert "entry_points" in sa.inspect(fresh.engine).get_table_names()
        # back to the previous schema, with a run recorded by the previous version
        from alembic import command

        from auditor.history.store import alembic_config

        with fresh.engine.begin() as conn:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0001")
        assert current_revision(fresh.engine) == "0001"
        assert "entry_points" not in sa.inspect(fresh.engine).get_table_names()
        runs = sa.Table("runs", sa.MetaData(), autoload_with=fresh.engine)
        assert "captured_at_declared" not in runs.c
        with fresh.engine.begin() as conn:
            conn.execute(runs.insert().values(cluster="old", captured_at="2025-12-31T02:00:00Z", snapshot_digest="a" * 64,
                                              packs_digest="b" * 64, tool_version="0.0.9", verdict="pass", source="s",
                                              recorded_at="2025-12-31T02:00:01Z"))
    finally:
        fresh.close()
    upgraded = open_store(store_url)
    try:
        assert current_revision(upgraded.engine) == "0003"
        with upgraded.session("read") as s:
            run = s.execute(sa.select(Run)).scalar_one()
            assert (run.cluster, run.captured_at_declared, run.attestation_digest) == ("old", False, None)
        assert record_result(upgraded, bank_doc("after"), cluster="old").run_id == 2
    finally:
        upgraded.close()


def test_migrate_to_the_previous_revision_from_empty(store_url: str) -> None:
    from auditor.history.store import locate

    engine = sa.create_engine(locate(store_url).url)
    try:
        migrate(engine, store_url, target="0002")
        assert current_revision(engine) == "0002"
        migrate(engine, store_url)
        assert current_revision(engine) == "0003"
    finally:
        engine.dispose()


def test_a_schema_newer_than_the_tool_is_refused(store_url: str, tmp_path: Path) -> None:
    open_store(store_url, create=True).close()
    from auditor.history.store import locate

    engine = sa.create_engine(locate(store_url).url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    r = cli("history", "list", "--history", store_url)
    assert r.exit_code == 2
    assert error_lines(r) == [error_lines(r)[0]]
    assert "history schema revision '0099' is newer than this auditor" in r.stderr


# -- the period report ---------------------------------------------------------------------------------


def _year(store_url: str, days: int, seed: int = 3) -> tuple[object, dict]:
    gen = history_gen()
    base = bank_doc("after")
    plan = gen.make_plan(days, [(f["pack"], f["control"]) for f in base["findings"]], ("bank-zones", "restricted"),
                         seed=seed)
    store = open_store(store_url, create=True)
    try:
        for _, doc in gen.documents(base, plan):
            assert record_result(store, doc, cluster="bank").created
    finally:
        store.close()
    return plan, base


def test_synthetic_year_finds_exactly_the_injected_windows_gaps_and_entries(store_url: str, tmp_path: Path) -> None:
    gen = history_gen()
    days = 90
    plan, _ = _year(store_url, days)
    start = dt.date(2026, 1, 1)
    out = tmp_path / "period"
    r = cli("period-report", "--since", "2026-01-01", "--until", (start + dt.timedelta(days=days - 1)).isoformat(),
            "--cluster", "bank", "--every", "24h", "-o", out, "--history", store_url)
    assert r.exit_code == 0, r.stderr
    found = {(w["pack"], w["control"], w["opened"], w["closed"]) for w in _csv(out / "failure-windows.csv")}
    injected = {(w.pack, w.control, gen.stamp(start, w.open_day),
                 "" if w.close_day is None else gen.stamp(start, w.close_day)) for w in plan.windows}
    assert found == injected
    assert any(w.close_day is None for w in plan.windows)  # one window is still open at --until
    gaps = {(g["start"], g["end"]) for g in _csv(out / "coverage-gaps.csv")}
    assert gaps == {(gen.stamp(start, a), gen.stamp(start, b)) for a, b in plan.gaps}
    assert all(b - a > 2 for a, b in plan.gaps) and len(plan.missing) > sum(b - a - 1 for a, b in plan.gaps)
    entries = {(e["zone"], e["workload"], e["captured_at"]) for e in _csv(out / "scope-entries.csv")}
    assert entries == {(z, w, gen.stamp(start, d)) for d, _, z, w in plan.entries}
    controls = {c["control"]: c for c in _csv(out / "period-controls.csv")}
    runs = days - len(plan.missing)
    assert all(int(c["scans"]) == runs for c in controls.values())
    for key in {(w.pack, w.control) for w in plan.windows}:
        row = controls[key[1]]
        assert int(row["fail"]) == sum((w.close_day or days) - w.open_day - len(plan.missing & set(
            range(w.open_day, w.close_day or days))) for w in plan.windows if (w.pack, w.control) == key) - sum(
            1 for p, c, d in plan.unknown_days if (p, c) == key and any(
                w.open_day <= d < (w.close_day or days) for w in plan.windows if (w.pack, w.control) == key))
        assert float(row["held_share"]) < 1.0
    # drift in words: the policy that opened each window, and its removal closing it
    w0 = next(w for w in _csv(out / "failure-windows.csv") if w["closed"])
    assert f"added NetworkPolicy hist/hist-window-{w0['control'].lower()}" in w0["drift_opened"]
    assert f"removed NetworkPolicy hist/hist-window-{w0['control'].lower()}" in w0["drift_closed"]
    text = _pdf_text(out / "period-report.pdf")
    for words in ("Failure windows", "Coverage of the period", "Scope over time", "Trend per framework",
                  "Sign-off", "hist-new/Deployment/joined"):
        assert words in text, words


def test_unknown_runs_hold_a_window_open_and_open_none(store_url: str) -> None:
    plan, _ = _year(store_url, 90)
    store = open_store(store_url)
    try:
        result = analyse(store, Period(parse_time("2026-01-01", "--since"), parse_time("2026-03-31", "--until", True),
                                       parse_every("24h")), "bank", tool_version="t")
    finally:
        store.close()
    windows = result.clusters[0].windows
    assert len(windows) == len(plan.windows)
    inside = [(p, c, d) for p, c, d in plan.unknown_days
              if any(w.control == c and w.open_day < d < (w.close_day or 999) for w in plan.windows)]
    assert inside, "the plan puts an unknown run inside the first window"
    stats = {s.key.control: s for s in result.clusters[0].stats}
    assert all(stats[c].unknown >= 1 for _, c, _ in plan.unknown_days)


def test_the_same_history_gives_the_same_period_report_bytes(store_url: str, tmp_path: Path) -> None:
    _year(store_url, 30)
    outs = []
    for name in ("a", "b"):
        r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-30", "-o", tmp_path / name,
                "--history", store_url)
        assert r.exit_code == 0, r.stderr
        outs.append({p.name: p.read_bytes() for p in (tmp_path / name).iterdir()})
    assert outs[0] == outs[1]
    assert set(outs[0]) == {"period-report.pdf", "period-controls.csv", "failure-windows.csv", "coverage-gaps.csv",
                            "scope-entries.csv"}
    header = outs[0]["period-controls.csv"].decode().splitlines()[0].split(",")
    assert header[:6] == ["control", "scans", "pass", "fail", "unknown", "held_share"]
    header = outs[0]["failure-windows.csv"].decode().splitlines()[0].split(",")
    assert header[:6] == ["control", "opened", "closed", "duration_hours", "opening_run", "closing_run"]


def test_a_period_without_runs_is_exit_2_never_a_pass(store_url: str, tmp_path: Path) -> None:
    _year(store_url, 10)
    r = cli("period-report", "--since", "2025-01-01", "--until", "2025-06-30", "--cluster", "bank", "-o",
            tmp_path / "out", "--history", store_url)
    assert r.exit_code == 2
    assert len(error_lines(r)) == 1
    assert "no runs of cluster 'bank' between 2025-01-01T00:00:00Z and 2025-06-30T23:59:59Z" in r.stderr
    assert not (tmp_path / "out").exists()


def test_fleet_report_shows_every_cluster(store_url: str, tmp_path: Path) -> None:
    store = open_store(store_url, create=True)
    try:
        for cluster, variant in (("eu", "before"), ("us", "after")):
            record_result(store, bank_doc(variant), cluster=cluster)
    finally:
        store.close()
    ambiguous = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-01", "-o", tmp_path / "x",
                    "--history", store_url)
    assert ambiguous.exit_code == 2 and "give --cluster NAME or --all" in ambiguous.stderr
    r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-01", "--all", "-o", tmp_path / "fleet",
            "--history", store_url)
    assert r.exit_code == 0, r.stderr
    rows = _csv(tmp_path / "fleet" / "period-controls.csv")
    assert {x["cluster"] for x in rows} == {"eu", "us"}
    held = {(x["cluster"], x["control"]): x["fail"] for x in rows}
    assert held[("eu", "BANK-1")] == "1" and held[("us", "BANK-1")] == "0"
    windows = _csv(tmp_path / "fleet" / "failure-windows.csv")
    assert {w["cluster"] for w in windows} == {"eu"} and all(w["closed"] == "" for w in windows)
    text = _pdf_text(tmp_path / "fleet" / "period-report.pdf")
    assert "Fleet" in text and "eu" in text and "us" in text


# -- retention -------------------------------------------------------------------------------------------


def test_prune_keeps_runs_inside_an_open_period_report_unless_forced(store_url: str, tmp_path: Path) -> None:
    _year(store_url, 20)
    r = cli("period-report", "--since", "2026-01-05", "--until", "2026-01-08", "-o", tmp_path / "p",
            "--history", store_url)
    assert r.exit_code == 0 and "period report #1 is open" in r.stderr
    holds = cli("history", "holds", "--history", store_url)
    assert "#1  bank  2026-01-05T00:00:00Z .. 2026-01-08T23:59:59Z" in holds.stdout
    total = _runs(store_url)
    before = sum(1 for d in range(10) if d not in history_gen().make_plan(
        20, [(f["pack"], f["control"]) for f in bank_doc("after")["findings"]], ("bank-zones", "restricted"),
        seed=3).missing)
    held = sum(1 for d in range(4, 8) if d not in history_gen().make_plan(
        20, [(f["pack"], f["control"]) for f in bank_doc("after")["findings"]], ("bank-zones", "restricted"),
        seed=3).missing)
    # keep 10 days at 2026-01-21T00:00:00Z: runs of 2026-01-01..10 are old; 01-05..08 are held
    pruned = cli("history", "prune", "--keep", "10d", "--as-of", "2026-01-21T00:00:00Z", "--history", store_url)
    assert pruned.exit_code == 0, pruned.stderr
    assert f"deleted {before - held} run(s)" in pruned.stderr and f"kept {held} older run(s)" in pruned.stderr
    assert _runs(store_url) == total - (before - held)
    assert cli("history", "release", "1", "--history", store_url).exit_code == 0
    again = cli("history", "prune", "--keep", "10d", "--as-of", "2026-01-21T00:00:00Z", "--history", store_url)
    assert f"deleted {held} run(s)" in again.stderr
    assert _runs(store_url) == total - before
    store = open_store(store_url)
    try:
        with store.session("read") as s:
            assert s.execute(sa.text("SELECT count(*) FROM documents")).scalar_one() == total - before
    finally:
        store.close()


def test_prune_force_ignores_holds(store_url: str, tmp_path: Path) -> None:
    _year(store_url, 12)
    assert cli("period-report", "--since", "2026-01-01", "--until", "2026-01-12", "-o", tmp_path / "p",
               "--history", store_url).exit_code == 0
    r = cli("history", "prune", "--keep", "1d", "--as-of", "2026-03-01T00:00:00Z", "--force", "--history", store_url)
    assert r.exit_code == 0
    assert _runs(store_url) == 0


# -- declared capture times --------------------------------------------------------------------------------


def test_scan_captured_at_is_recorded_as_declared_and_reports_say_so(store_url: str, tmp_path: Path) -> None:
    from auditor.snapshot import load_snapshot

    snap = tmp_path / "s.json"
    r = cli("scan", BANK / "before", "-o", snap, "--captured-at", "2026-01-31T02:00:00Z")
    assert r.exit_code == 0, r.stderr
    raw = orjson.loads(snap.read_bytes())
    assert raw["captured_at"] == "2026-01-31T02:00:00Z" and raw["captured_at_declared"] is True
    loaded = load_snapshot(snap)  # the digest covers the declaration
    assert loaded.captured_at_declared
    raw["captured_at_declared"] = False
    (tmp_path / "forged.json").write_bytes(orjson.dumps(raw))
    with pytest.raises(AuditorError):
        load_snapshot(tmp_path / "forged.json")
    res = tmp_path / "r.json"
    cli("audit", snap, "--controls", PACK, "-o", res, "--report", tmp_path / "rep", "--format", "pdf",
        "--record", env={"AUDITOR_HISTORY": store_url, "AUDITOR_CLUSTER": "bank"})
    assert orjson.loads(res.read_bytes())["snapshot"]["captured_at_declared"] is True
    assert "time declared by the user" in _pdf_text(tmp_path / "rep" / "evidence-report.pdf")
    listed = cli("history", "list", "--history", store_url)
    assert "2026-01-31T02:00:00Z (declared)" in listed.stdout
    p = cli("period-report", "--since", "2026-01-31", "--until", "2026-01-31", "-o", tmp_path / "p",
            "--history", store_url)
    assert p.exit_code == 0, p.stderr
    assert "capture time declared by the user" in " ".join(_pdf_text(tmp_path / "p" / "period-report.pdf").split())


def test_scan_rejects_a_malformed_captured_at(tmp_path: Path) -> None:
    r = cli("scan", BANK / "before", "-o", tmp_path / "s.json", "--captured-at", "31/01/2026")
    assert r.exit_code == 2 and "--captured-at must look like 2026-01-31T02:00:00Z" in r.stderr
    assert not (tmp_path / "s.json").exists()


# -- bad stores ------------------------------------------------------------------------------------------


def test_a_corrupt_sqlite_file_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "h.sqlite"
    bad.write_bytes(b"this is not a database at all" * 100)
    r = cli("history", "list", "--history", bad)
    assert r.exit_code == 2
    assert error_lines(r) == [f"error: {bad}: cannot open the history: not a usable SQLite history "
                              "(file is not a database)"]


def test_a_locked_sqlite_file_records_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    open_store(str(path), create=True).close()
    result = tmp_path / "r.json"
    result.write_bytes(bank_result("before"))
    lock = sqlite3.connect(path)
    lock.execute("BEGIN EXCLUSIVE")
    try:
        r = cli("history", "record", result, "--history", path, env={"AUDITOR_HISTORY_LOCK_TIMEOUT": "0.2"})
    finally:
        lock.rollback()
        lock.close()
    assert r.exit_code == 2
    assert len(error_lines(r)) == 1 and "locked by another process" in r.stderr
    assert _runs(str(path)) == 0


@pytest.mark.parametrize(("url", "words"), [
    ("mysql://u:secret@db/x", "unsupported database 'mysql'"),
    ("postgresql+psycopg://u@127.0.0.1:1/x", "cannot connect to the database server"),
    ("postgresql+psycopg://u:secret@", "the URL names no database"),
])
def test_wrong_or_unreachable_urls_are_one_line_exit_2(url: str, words: str, tmp_path: Path) -> None:
    result = tmp_path / "r.json"
    result.write_bytes(bank_result("before"))
    r = cli("history", "record", result, "--history", url)
    assert r.exit_code == 2
    assert len(error_lines(r)) == 1 and words in r.stderr
    assert "secret" not in r.stderr


def test_reading_a_history_that_does_not_exist_creates_nothing(tmp_path: Path) -> None:
    r = cli("history", "list", "--history", tmp_path / "none.sqlite")
    assert r.exit_code == 2 and "no history here yet" in r.stderr
    assert not (tmp_path / "none.sqlite").exists()


def test_a_damaged_stored_document_is_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "h.sqlite")
    store = open_store(path, create=True)
    try:
        record_result(store, bank_doc("before"), cluster="bank")
        with store.session("damage") as s:
            s.execute(sa.text("UPDATE documents SET data = :d"), {"d": b"\x00\x01"})
        with pytest.raises(AuditorError, match="stored document is damaged"):
            load_document(store, 1)
    finally:
        store.close()


@pytest.mark.skipif(not HAVE_PG, reason=PG_HINT)
def test_postgresql_lost_mid_run_records_nothing(pg_server: str) -> None:
    """The server ends the connection between the run's rows and its document: exit-2 error,
    and the transaction leaves no run behind."""
    import psycopg

    url = create_database(pg_server, "midrun")
    store = open_store(url, create=True)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")

    def kill(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("INSERT INTO DOCUMENTS"):
            pid = conn.connection.dbapi_connection.info.backend_pid
            with psycopg.connect(dsn, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

    sa.event.listen(store.engine, "before_cursor_execute", kill)
    try:
        with pytest.raises(AuditorError, match="cannot record the run \\(nothing was recorded\\)"):
            record_result(store, bank_doc("before"), cluster="bank")
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", kill)
        store.close()
    assert _runs(url) == 0
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT count(*) FROM control_results").fetchone() == (0,)


def test_an_empty_history_has_no_period(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    open_store(str(path), create=True).close()
    r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-31", "-o", tmp_path / "o", "--history", path)
    assert r.exit_code == 2 and "the history holds no runs" in r.stderr


def test_a_bad_period_template_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    store = open_store(str(path), create=True)
    try:
        record_result(store, bank_doc("after"), cluster="bank")
    finally:
        store.close()
    bad = tmp_path / "bad.yaml"
    bad.write_text("schema: zone-auditor/period-template/v1\nname: bad\ntitle: T\nsections:\n  - section: charts\n")
    r = cli("period-report", "--since", "2026-01-01", "--until", "2026-01-01", "-o", tmp_path / "o", "--template", bad,
            "--history", path)
    assert r.exit_code == 2
    assert error_lines(r) == [f"error: {bad}:5: sections[0].section: unknown section 'charts' (known: cover, summary, "
                              "fleet, trend, controls, windows, coverage, scope, signoff, text, page-break)"]
    assert not (tmp_path / "o").exists()


def test_entry_points_are_recorded_once_results_carry_exposure(store_url: str) -> None:
    doc = bank_doc("after")
    doc["exposure"] = {"entry_points": [
        {"name": "dmz/Service/customer:80", "kind": "LoadBalancer", "detail": "TCP 80 from internet"},
        {"name": "trusted/Ingress/summary", "kind": "Ingress", "detail": "host summary.example.com"}]}
    store = open_store(store_url, create=True)
    try:
        rid = record_result(store, doc, cluster="bank").run_id
        with store.session("read") as s:
            rows = s.execute(sa.text("SELECT name, kind FROM entry_points WHERE run_id = :r ORDER BY name"),
                             {"r": rid}).all()
    finally:
        store.close()
    assert [tuple(r) for r in rows] == [("dmz/Service/customer:80", "LoadBalancer"),
                                        ("trusted/Ingress/summary", "Ingress")]
