"""``auditor history record|list|show|export|prune|holds|release``: the store of audit runs.

The store is ``--history PATH|URL`` or ``$AUDITOR_HISTORY`` (default: ``auditor-history.sqlite``
in the working directory); see ``auditor/history/store.py`` and docs/history.md. Exit codes:
0 done; 2 the store or the input could not be used (one ``error:`` line, nothing recorded).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from auditor.commands.options import report_options
from auditor.errors import AuditorError

if TYPE_CHECKING:
    from auditor.history.record import RunAttestation

HISTORY_HELP = ("History store: a SQLite file or postgresql+psycopg://USER@HOST/DB (default: $AUDITOR_HISTORY, "
                "else auditor-history.sqlite here).")


def history_option(func: Any) -> Any:
    return click.option("--history", "history", metavar="PATH|URL", default=None, help=HISTORY_HELP)(func)


def read_result_file(path: str) -> dict[str, Any]:
    """An audit result JSON file (``.gz`` too), parsed; errors name the file."""
    import gzip

    import orjson

    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=path) from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except OSError as exc:
            raise AuditorError(f"not a gzip file: {exc}", where=path) from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise AuditorError(f"not JSON: {exc}", where=path) from None
    if not isinstance(data, dict):
        raise AuditorError("not an audit result (expected a JSON object)", where=path)
    return data


def run_attestation(result_file: str, attestation_file: str) -> RunAttestation:
    """The attestation of the result in ``result_file``: the statement of ``attestation_file``
    whose subjects include the result's SHA-256 (its digest, key id and algorithm). An
    attestation of other files is an error (exit 2). The signature is not checked here (no
    public key is given): ``auditor verify`` does that."""
    from auditor.attest.sign import ALGORITHM, read_attestation
    from auditor.canonical import sha256_hex
    from auditor.history.record import RunAttestation

    try:
        with open(result_file, "rb") as handle:
            digest = sha256_hex(handle.read())
    except OSError as exc:
        raise AuditorError(f"cannot read: {exc.strerror or exc}", where=result_file) from None
    bundle = read_attestation(attestation_file)
    named = [b for b in bundle if any(s.sha256 == digest for s in b.statement.subjects)]
    if not named:
        raise AuditorError(f"the attestation is for other files: none of its subjects is {result_file} "
                           f"(sha256:{digest})", where=attestation_file)
    first = named[0]
    return RunAttestation(first.statement.digest, first.key_id, ALGORITHM)


def attestation_words(att: RunAttestation) -> str:
    return f"statement sha256:{att.digest}, key id {att.key_id} ({att.algorithm})"


def record_document(doc: dict[str, Any], history: str | None = None, cluster: str | None = None,
                    where: str = "audit result", attestation: RunAttestation | None = None,
                    replace_attestation: bool = False) -> None:
    """Record one audit result document and say so on stderr (``auditor audit --record``)."""
    from auditor.history.record import record_result
    from auditor.history.store import open_store

    store = open_store(history, create=True)
    try:
        rec = record_result(store, doc, cluster=cluster, where=where, attestation=attestation,
                            replace_attestation=replace_attestation)
    finally:
        store.close()
    state = "recorded" if rec.created else "already recorded (same snapshot and packs)"
    line = f"{state}: run {rec.run_id} of {rec.cluster} captured {rec.captured_at} in {store.label}"
    if rec.created and rec.attestation is not None:
        line += f"; signed: {attestation_words(rec.attestation)}"
    elif rec.attestation_change and rec.attestation is not None:
        line += f"; {rec.attestation_change} its attestation: {attestation_words(rec.attestation)}"
    click.echo(line, err=True)


@click.group()
def history() -> None:
    """The history of audit runs: record, list, show, export, prune (continuous compliance)."""


@history.command("record")
@click.argument("result_file", metavar="RESULT.json", type=click.Path(dir_okay=False))
@history_option
@click.option("--cluster", default=None, metavar="NAME",
              help="Cluster name the run belongs to (default: $AUDITOR_CLUSTER, else the snapshot source).")
@click.option("--attestation", "attestation_file", type=click.Path(dir_okay=False), metavar="FILE",
              help="The run's attestation (attestation.intoto.jsonl from auditor attest or audit --sign): "
                   "its statement naming RESULT.json is recorded with the run.")
@click.option("--replace-attestation", is_flag=True,
              help="Replace the attestation of a run recorded with a different one.")
def record_cmd(result_file: str, history: str | None, cluster: str | None, attestation_file: str | None,
               replace_attestation: bool) -> None:
    """Record an audit result (auditor audit -o RESULT.json) as one run; recording it again is a no-op
    (except that it adds an --attestation the stored run lacks)."""
    if replace_attestation and not attestation_file:
        raise AuditorError("--replace-attestation needs --attestation FILE")
    doc = read_result_file(result_file)
    attestation = run_attestation(result_file, attestation_file) if attestation_file else None
    record_document(doc, history, cluster, where=result_file, attestation=attestation,
                    replace_attestation=replace_attestation)


@history.command("list")
@history_option
@click.option("--cluster", default=None, metavar="NAME", help="Only this cluster's runs.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def list_cmd(history: str | None, cluster: str | None, fmt: str) -> None:
    """Every recorded run: id, cluster, capture time, verdict, counts, and whether it is signed."""
    import pandas as pd
    from sqlalchemy import case, func, select

    from auditor.commands.text import emit, to_csv, to_json, to_table
    from auditor.history.store import ControlResult, Run, open_store

    store = open_store(history)
    try:
        with store.session("cannot read the history") as s:
            fails = func.sum(case((ControlResult.verdict == "fail", 1), else_=0))
            unknown = func.sum(case((ControlResult.verdict == "unknown", 1), else_=0))
            q = (select(Run.id, Run.cluster, Run.captured_at, Run.captured_at_declared, Run.verdict,
                        func.count(ControlResult.control), fails, unknown, Run.snapshot_digest, Run.tool_version,
                        Run.attestation_digest)
                 .join(ControlResult, ControlResult.run_id == Run.id, isouter=True)
                 .group_by(Run.id).order_by(Run.cluster, Run.captured_at, Run.id))
            if cluster is not None:
                q = q.where(Run.cluster == cluster)
            rows = [{"run": r[0], "cluster": r[1], "captured_at": r[2] + (" (declared)" if r[3] else ""),
                     "verdict": r[4], "controls": int(r[5] or 0), "fail": int(r[6] or 0), "unknown": int(r[7] or 0),
                     "snapshot": r[8][:12], "tool_version": r[9], "signed": "no" if r[10] is None else "yes"}
                    for r in s.execute(q)]
    finally:
        store.close()
    df = pd.DataFrame(rows, columns=["run", "cluster", "captured_at", "verdict", "controls", "fail", "unknown",
                                     "snapshot", "tool_version", "signed"])
    if fmt == "csv":
        emit(to_csv(df), None)
    elif fmt == "json":
        emit(to_json({"history": store.label}, df), None)
    else:
        emit(to_table(df) + f"{len(df)} run(s) in {store.label}\n", None)


@history.command("show")
@click.argument("run", type=int)
@history_option
@click.option("--report", "report_dir", type=click.Path(file_okay=False), metavar="DIR",
              help="Re-render the run's evidence reports into DIR (byte-identical to the day it was recorded).")
@report_options
def show_cmd(run: int, history: str | None, report_dir: str | None, formats: tuple[str, ...],
             templates: tuple[str, ...], paper: str | None, cluster_name: str) -> None:
    """One run: its facts and control verdicts; --report DIR re-renders its reports."""
    import orjson
    from sqlalchemy import select

    from auditor.history.record import load_document
    from auditor.history.store import ControlResult, Run, RunPack, open_store

    store = open_store(history)
    try:
        with store.session("cannot read the history") as s:
            r = s.get(Run, run)
            if r is None:
                raise AuditorError(f"run {run} is not in the history", where=store.label)
            packs = list(s.execute(select(RunPack).where(RunPack.run_id == run).order_by(RunPack.pack)).scalars())
            controls = list(s.execute(select(ControlResult).where(ControlResult.run_id == run)
                                      .order_by(ControlResult.pack, ControlResult.control)).scalars())
            lines = [f"run {r.id}: {r.cluster}",
                     f"  captured at   {r.captured_at}" + ("  (declared by the user: auditor scan --captured-at)"
                                                          if r.captured_at_declared else ""),
                     f"  snapshot      sha256:{r.snapshot_digest}",
                     f"  source        {r.source}",
                     f"  verdict       {r.verdict}",
                     f"  tool version  {r.tool_version}",
                     "  attestation   " + ("none (unsigned)" if r.attestation_digest is None else
                                           f"statement sha256:{r.attestation_digest}"),
                     *([] if r.attestation_digest is None else
                       [f"  key id        {r.attestation_key_id} ({r.attestation_algorithm})"]),
                     *[f"  pack          {p.pack} {p.version} sha256:{p.digest}" for p in packs],
                     *[f"  {c.pack}/{c.control}: {c.verdict} ({c.violations} open, {c.waived} waived, "
                       f"{c.unknown} unknown)" for c in controls]]
        doc = orjson.loads(load_document(store, run)) if report_dir else None
    finally:
        store.close()
    click.echo("\n".join(lines))
    if report_dir and doc is not None:
        from auditor.commands.report import run_reports

        for path in run_reports(doc, report_dir, formats, templates, paper, cluster_name):
            click.echo(f"wrote {path}", err=True)


@history.command("export")
@click.argument("run", type=int)
@history_option
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help="Write the run's audit result JSON here ('-' = stdout), byte for byte as auditor audit -o wrote it.")
def export_cmd(run: int, history: str | None, output: str) -> None:
    """A run's full audit result document (for auditor report, diff, gate)."""
    from auditor.commands.text import emit
    from auditor.history.record import load_document
    from auditor.history.store import open_store

    store = open_store(history)
    try:
        raw = load_document(store, run)
    finally:
        store.close()
    emit(raw + b"\n", output)


def parse_keep(value: str) -> dt.timedelta:
    from auditor.history.period import parse_every

    try:
        return parse_every(value)
    except AuditorError:
        raise AuditorError(f"--keep {value!r}: expected a duration such as 400d, 52w or 9000h") from None


@history.command("prune")
@history_option
@click.option("--keep", required=True, metavar="DURATION", help="Keep runs captured within this long, e.g. 400d.")
@click.option("--force", is_flag=True, help="Also delete runs inside an open period report's range.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted, delete nothing.")
@click.option("--as-of", "as_of", default=None, metavar="TIME", help="Judge age at this UTC time (default: now).")
def prune_cmd(history: str | None, keep: str, force: bool, dry_run: bool, as_of: str | None) -> None:
    """Retention: delete runs older than --keep, except those an open period report holds."""
    from auditor.history.period import parse_time, stamp
    from auditor.history.prune import prune
    from auditor.history.store import open_store

    now = parse_time(as_of, "--as-of") if as_of else dt.datetime.now(dt.UTC).replace(microsecond=0)
    cutoff = stamp(now - parse_keep(keep))
    store = open_store(history)
    try:
        outcome = prune(store, cutoff, force=force, dry_run=dry_run)
    finally:
        store.close()
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {len(outcome.deleted)} run(s) captured before {cutoff}", err=True)
    if outcome.held:
        reports = ", ".join(f"#{h.id} ({h.cluster or 'all clusters'} {h.since}..{h.until})" for h in outcome.holds)
        click.echo(f"kept {len(outcome.held)} older run(s) inside open period report(s) {reports}: release them with "
                   "auditor history release ID, or prune --force", err=True)


@history.command("holds")
@history_option
def holds_cmd(history: str | None) -> None:
    """Open period reports: their ranges are kept by prune until released."""
    from auditor.history.prune import open_holds
    from auditor.history.store import open_store

    store = open_store(history)
    try:
        holds = open_holds(store)
    finally:
        store.close()
    for h in holds:
        click.echo(f"#{h.id}  {h.cluster or '(all clusters)'}  {h.since} .. {h.until}  written {h.written_at}")
    click.echo(f"{len(holds)} open period report(s)", err=True)


@history.command("release")
@click.argument("report_id", metavar="ID", type=int)
@history_option
def release_cmd(report_id: int, history: str | None) -> None:
    """Close a period report (after sign-off): prune may then delete the runs of its range."""
    from auditor.history.prune import release
    from auditor.history.store import open_store

    store = open_store(history)
    try:
        release(store, report_id)
    finally:
        store.close()
    click.echo(f"released period report #{report_id}", err=True)
