"""History benchmark: recording a 10k-pod run, and a period report over a year of nightly runs,
on SQLite and on PostgreSQL.

    python benchmarks/history.py --pods 10000 --days 365

1. Generates the cluster (``generate.py``, cached in ``benchmarks/.cache/``), audits it once with
   ``controls/pci-dss-v4.yaml`` with ``--zones controls/examples/bank-pci-zones.yaml`` (cached too) and
   times what ``auditor audit --record`` adds to the audit: serialising the result (shared with
   ``-o``) and recording it, into a fresh SQLite file and a fresh PostgreSQL database.
2. Derives ``--days`` nightly results from it (``history_gen.py``: policies mutated day by day,
   injected failure windows and gaps), records them all, and reports rows and bytes per run.
3. Times ``period-report`` (analysis, CSVs and PDF) over the whole year on both backends.

PostgreSQL is started from the installed binaries (``tests/kits/postgres.py``) unless
``--postgres URL`` names a server (a database ``auditor_bench`` is created there).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))


def base_result(pods: int, namespaces: int, policies: int) -> tuple[dict[str, Any], float, float]:
    """The audit result of the generated cluster (cached), the audit time and the time
    ``to_dict`` + canonical JSON take (what ``--record`` and ``-o`` add)."""
    import orjson

    cache = HERE / ".cache"
    cache.mkdir(exist_ok=True)
    path = cache / f"history-base-p{pods}-n{namespaces}-k{policies}.json"
    if path.exists():
        meta = json.loads(path.with_suffix(".meta").read_text())
        return orjson.loads(path.read_bytes()), meta["audit"], meta["serialise"]
    import generate

    from auditor.canonical import canonical_json
    from auditor.controls.pack import external_networks, load_packs
    from auditor.controls.result import DEFAULT_MAX_EVIDENCE
    from auditor.controls.runner import run_audit
    from auditor.reach.analysis import AnalysisOptions, analyze
    from auditor.sources.manifests import load_manifests

    cluster = cache / f"p{pods}-n{namespaces}-k{policies}-c0-t3-a0-s1.json"
    if not cluster.exists():
        items = generate.generate(pods, namespaces, policies, seed=1)
        cluster.write_bytes(orjson.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
    packs, zone_map = load_packs([str(ROOT / "controls" / "pci-dss-v4.yaml")],
                                 str(ROOT / "controls" / "examples" / "bank-pci-zones.yaml"))
    t = time.perf_counter()
    snap = load_manifests([str(cluster)])
    gc.collect()
    gc.freeze()
    analysis = analyze(snap, AnalysisOptions(externals=tuple(external_networks(packs))))
    result = run_audit(analysis, packs, zone_map=zone_map, max_evidence=DEFAULT_MAX_EVIDENCE)  # as `audit` does
    audit = time.perf_counter() - t
    t = time.perf_counter()
    doc = result.to_dict()
    raw = canonical_json(doc)
    serialise = time.perf_counter() - t
    path.write_bytes(raw)
    path.with_suffix(".meta").write_text(json.dumps({"audit": audit, "serialise": serialise}))
    return orjson.loads(raw), audit, serialise


def measure(url: str, base: dict[str, Any], days: int, label: str) -> dict[str, Any]:
    import history_gen
    import sqlalchemy as sa

    from auditor.history.adapter import result_facts
    from auditor.history.period import Period, analyse, parse_every, parse_time
    from auditor.history.record import load_document, record_result
    from auditor.history.report import csv_files, load_period_template, render_pdf
    from auditor.history.store import RUN_TABLES, Run, open_store

    out: dict[str, Any] = {"backend": label}
    store = open_store(url, create=True)

    def size() -> int:
        with store.session("size") as s:
            if store.backend == "postgresql":
                return int(s.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
        return os.path.getsize(store.location.path or "")

    empty = size()
    try:
        t = time.perf_counter()
        first = record_result(store, base, cluster="bench-single")
        out["record_10k_run_s"] = round(time.perf_counter() - t, 3)
        t = time.perf_counter()
        record_result(store, base, cluster="bench-single")
        out["record_again_s"] = round(time.perf_counter() - t, 3)
        with store.session("clean") as s:  # keep the year alone in the store
            for table in RUN_TABLES:
                s.execute(sa.delete(table).where(table.run_id == first.run_id))
            s.execute(sa.delete(Run).where(Run.id == first.run_id))
        facts = result_facts(base)
        zone = next((z.pack, z.zone) for z in facts.zones if z.protected)
        plan = history_gen.make_plan(days, [(c.pack, c.control) for c in facts.controls], zone, seed=1)
        times = []
        for _, doc in history_gen.documents(base, plan):
            t = time.perf_counter()
            record_result(store, doc, cluster="bench")
            times.append(time.perf_counter() - t)
        out["runs"] = len(times)
        out["record_year_s"] = round(sum(times), 1)
        out["record_per_run_median_s"] = round(sorted(times)[len(times) // 2], 3)
        with store.session("count") as s:
            rows = {t.__tablename__: int(s.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                    for t in (Run, *RUN_TABLES)}
            doc_bytes = int(s.execute(sa.text("SELECT sum(length(data)) FROM documents")).scalar_one())
        out["rows_per_run"] = round(sum(rows.values()) / len(times), 1)
        out["rows"] = rows
        out["bytes_per_run"] = int((size() - empty) / len(times))
        out["document_bytes_per_run"] = int(doc_bytes / len(times))
        out["runs_per_day_single_writer"] = int(86400 / max(out["record_per_run_median_s"], 1e-6))
        since = parse_time("2026-01-01", "--since")
        period = Period(since, since + dt.timedelta(days=days, seconds=-1), parse_every("24h"))
        t = time.perf_counter()
        result = analyse(store, period, "bench", tool_version="bench", documents=lambda r: load_document(store, r))
        t_analyse = time.perf_counter() - t
        files = csv_files(result)
        files["period-report.pdf"] = render_pdf(result, load_period_template("period"))
        out["period_report_s"] = round(time.perf_counter() - t, 2)
        out["period_analysis_s"] = round(t_analyse, 2)
        out["windows_found"] = sum(len(c.windows) for c in result.clusters)
        out["windows_injected"] = len(plan.windows)
        out["pdf_bytes"] = len(files["period-report.pdf"])
    finally:
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pods", type=int, default=10000)
    ap.add_argument("--namespaces", type=int, default=500)
    ap.add_argument("--policies", type=int, default=2000)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--postgres", metavar="URL", help="postgresql+psycopg://USER@HOST:PORT (default: start one)")
    ap.add_argument("--skip-postgres", action="store_true")
    args = ap.parse_args(argv)

    base, audit_s, serialise_s = base_result(args.pods, args.namespaces, args.policies)
    report: dict[str, Any] = {"pods": args.pods, "audit_s": round(audit_s, 2), "serialise_s": round(serialise_s, 3),
                              "result_bytes": len(json.dumps(base, separators=(",", ":")))}
    with tempfile.TemporaryDirectory() as d:
        report["sqlite"] = measure(str(Path(d) / "history.sqlite"), base, args.days, "sqlite")
    print(json.dumps(report, indent=1), flush=True)
    if not args.skip_postgres:
        from tests.kits.postgres import create_database, postgres_server

        if args.postgres:
            report["postgresql"] = measure(create_database(args.postgres, "auditor_bench"), base, args.days,
                                           "postgresql")
        else:
            with postgres_server() as server:
                report["postgresql"] = measure(create_database(server, "auditor_bench"), base, args.days,
                                               "postgresql")
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
