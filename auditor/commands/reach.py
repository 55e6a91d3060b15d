"""``auditor reach INPUT...``: who can reach whom, on which ports, and which rule decided.

Exit codes: 0 the matrix was computed (whatever it allows); 2 bad input or option.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from auditor import __version__
from auditor.commands.options import MAX_MEMORY, input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, memory_budget, run_analysis
from auditor.commands.progress import PhaseProgress
from auditor.commands.text import (
    FORMATS,
    csv_chunks,
    emit,
    emit_chunks,
    ignored_line,
    json_chunks,
    to_table,
)
from auditor.errors import UsageError

if TYPE_CHECKING:
    from auditor.reach.analysis import Analysis

LEVELS = ("pod", "workload", "namespace")  # checked against reach.analysis.LEVELS in tests/commands


@click.command()
@input_options
@click.option("--port", "ports", multiple=True, metavar="PORT/PROTO",
              help="Report these destination (pod) ports, e.g. 80/TCP, 53/UDP, 8/ICMP. Repeatable.")
@click.option("--http", "http", multiple=True, metavar="'METHOD /path'",
              help="Evaluate the Istio layer for this HTTP request, e.g. 'GET /accounts' (repeatable); adds "
                   "method,path columns. Without it a flow is allowed when some request is.")
@click.option("--by", type=click.Choice(LEVELS), default="workload", show_default=True,
              help="Granularity of src/dst.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--only", type=click.Choice(["allowed", "denied", "unknown"]), help="Keep only these rows.")
@click.option("--from", "src", metavar="NAME", help="Only flows from this pod/workload/namespace/network.")
@click.option("--to", "dst", metavar="NAME", help="Only flows to this pod/workload/namespace/network.")
@click.option("--pod-ips-unroutable", is_flag=True,
              help="With --from an external network: pod IPs are not routable from it, so only entry points "
                   "(LoadBalancer, NodePort, Ingress, Gateway…) lead in; printed as an assumption (EXP-1).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file (atomically).")
@MAX_MEMORY
def reach(source: InputSpec, flags: AnalysisFlags, ports: tuple[str, ...], http: tuple[str, ...], by: str,
          fmt: str, only: str | None, src: str | None, dst: str | None, pod_ips_unroutable: bool,
          output: str | None, max_memory: str | None) -> None:
    """Who can reach whom, on which ports, and which rule decided (both ends)."""
    queries = [parse_port(p) for p in ports]
    requests = [parse_request(h) for h in http]
    budget = memory_budget(max_memory)
    progress = PhaseProgress()
    analysis = run_analysis(source, flags, progress, budget)
    for q in queries:
        if analysis.ports.index_of(q.protocol, q.port) is None:
            raise UsageError(f"--port {q}: protocol {q.protocol} is not modelled")
    src_ents = [_resolve(analysis, src, by, "--from")] if src else None
    dst_ents = [_resolve(analysis, dst, by, "--to")] if dst else None
    frames = reach_frames(analysis, by, src_ents, dst_ents, queries, requests, budget, progress,
                          detail=fmt == "json")
    assumptions: list[str] = []
    if src_ents and src_ents[0].kind == "external" and not requests and not queries and by == "workload":
        import pandas as pd

        whole = pd.concat(list(frames), ignore_index=True)  # one source: one small block
        df, assumptions = with_exposure(analysis, whole, src_ents[0].name, dst_ents, pod_ips_unroutable,
                                        flags.lenient)
        frames = iter([df])
    elif pod_ips_unroutable:
        raise UsageError("--pod-ips-unroutable needs --from an external network (and --by workload, no --port/--http)")
    from auditor.reach.rows import CauseTally

    tally = CauseTally()
    if only:
        word = {"allowed": "true", "denied": "false", "unknown": "unknown"}[only]
        frames = (df[df["allowed"] == word].reset_index(drop=True) for df in frames)
    frames = _tallied(frames, tally)
    if fmt == "csv":
        from auditor.reach.rows import for_people

        # a file is written as UTF-8 whatever the terminal's encoding: bytes straight away
        emit_chunks(csv_chunks((for_people(df) for df in frames), utf8=bool(output and output != "-")), output)
    elif fmt == "json":
        emit_chunks(json_chunks(meta(analysis, by=by, ports=[str(q) for q in queries], http=[str(r) for r in requests],
                                     **({"exposure_assumptions": assumptions} if assumptions else {})), frames,
                                late=lambda: {"why_unknown": tally.counted()}),
                    output)
    else:
        import pandas as pd

        from auditor.reach.rows import for_people

        df = pd.concat(list(frames), ignore_index=True)
        extra = ("exposure assumptions:\n" + "".join(f"  - {a}\n" for a in assumptions)) if assumptions else ""
        emit(to_table(for_people(df)) + notes_text(analysis) + extra, output)
    line = tally.line("unknown rows by cause")
    if line:
        click.echo(line, err=True)  # exit stays 0: unknown is an answer
    if analysis.snapshot.ignored and fmt == "csv":  # table and JSON carry it in their notes/meta
        click.echo(ignored_line(analysis.snapshot.ignored), err=True)
    progress.close()


def _tallied(frames: Iterator[Any], tally: Any) -> Iterator[Any]:
    """The frames unchanged, counted into ``tally`` (the unknown-verdict note) on the way."""
    for df in frames:
        tally.add(df)
        yield df


def reach_frames(analysis: Analysis, by: str, src: Any, dst: Any, queries: Any, requests: Any,
                 budget: int | None, progress: PhaseProgress, rows: int | None = None, *,
                 detail: bool = True) -> Iterator[Any]:
    """The rows of ``reach`` block by block: the block size comes from the memory budget (and is
    said on stderr when there is one); every block advances the progress bar. ``detail``: with
    ``decided_by_detail`` (JSON writes it; CSV and tables never show it)."""
    from auditor.reach.budget import plan_blocks
    from auditor.reach.rows import row_blocks

    n_src = len(src) if src is not None else len(analysis.entities(by))
    n_dst = len(dst) if dst is not None else len(analysis.entities(by))
    plan = plan_blocks(n_src, n_dst, len(analysis.ports), budget, rows=rows,
                       rows_per_pair=max(1, len(queries)) * max(1, len(requests)))
    if budget is not None:
        click.echo(plan.describe(), err=True)
    progress("pair matrix (blocks of source rows)", 0, plan.blocks)
    for done, df in enumerate(row_blocks(analysis, by, src, dst, queries, requests, rows=plan.rows, detail=detail),
                              start=1):
        progress("pair matrix (blocks of source rows)", done, plan.blocks)
        yield df


def with_exposure(analysis: Analysis, df: Any, client: str, dst_ents: list[Any] | None, unroutable: bool,
                  lenient: bool) -> tuple[Any, list[str]]:
    """``reach --from <external>``: the policy-only rows become ``via direct`` (dropped when pod
    IPs are declared unroutable) and every exposure path adds a row (EXP-1)."""
    import pandas as pd

    from auditor.reach.exposure.paths import ExposureSettings, build_exposure

    ex = build_exposure(analysis, ExposureSettings(client=client, pod_ips_unroutable=unroutable), lenient=lenient,
                        direct=False)
    df = df.assign(via="direct")
    if unroutable:
        df = df.iloc[0:0]
    wanted = {e.name for e in dst_ents} if dst_ents else None
    words = {"allow": "true", "deny": "false", "unknown": "unknown"}
    rows = []
    for p in ex.paths:
        for w in p.backend or ("",):
            if wanted is not None and w not in wanted and p.namespace not in wanted:
                continue
            rows.append({"src": client, "dst": w or p.service, "allowed": words[p.verdict],
                         "ports": p.port if p.verdict == "allow" else "none",
                         "unknown_ports": p.port if p.verdict == "unknown" else "",
                         "decided_by": p.rules + ("; causes: " + "; ".join(str(c) for c in p.causes) if p.causes else ""),
                         "assurance": "", "via": p.via,
                         "why_unknown": [c.to_json() for c in p.causes] if p.verdict == "unknown" else []})
    if rows:
        extra = pd.DataFrame(rows, columns=list(df.columns))
        df = pd.concat([df, extra], ignore_index=True) if len(df) else extra
    df = df.sort_values(["src", "dst", "via"], kind="stable").reset_index(drop=True)
    return df, [*ex.settings.assumptions(), *(str(c) for c in ex.skipped)]


def parse_port(text: str) -> Any:
    """``--port`` as a PortQuery; a malformed value is the user's (exit 2)."""
    from auditor.reach.ports import PortQuery

    try:
        return PortQuery.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def parse_request(text: str) -> Any:
    """``--http 'METHOD /path'`` as a Request."""
    from auditor.reach.l7 import Request

    try:
        return Request.parse(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def find(analysis: Analysis, name: str, option: str) -> Any:
    """The entity ``--from``/``--to`` names; an unknown or ambiguous name is the user's (exit 2)."""
    try:
        ent, _ = analysis.find(name)
    except LookupError as exc:
        raise UsageError(str(exc.args[0]) if exc.args else f"{option} {name!r}: not found") from None
    return ent


def _resolve(analysis: Analysis, name: str, by: str, option: str) -> Any:
    ent = find(analysis, name, option)
    if ent.kind in ("external",):
        return ent
    # Re-express at the requested level so src/dst names match the other column.
    level_names = {e.name: e for e in analysis.entities(by)}
    if ent.name in level_names:
        return level_names[ent.name]
    return ent


def meta(analysis: Analysis, **extra: Any) -> dict[str, Any]:
    """What every machine-readable output carries so that an auditor can reproduce it."""
    from auditor.reach.analysis import IMPL_ASSUMPTIONS

    snap = analysis.snapshot
    return {
        "tool": "zone-auditor",
        "tool_version": __version__,
        "snapshot_digest": snap.digest,
        "content_digest": snap.content_digest,
        "source": snap.source,
        "assumptions": [*IMPL_ASSUMPTIONS, *analysis.policies.assumptions],
        "unsupported": list(analysis.policies.unsupported),
        "excluded": list(analysis.inventory.excluded),
        "notes": list(analysis.inventory.notes) + list(analysis.policies.notes),
        "ignored_kinds": dict(sorted(snap.ignored.items())),
        **extra,
    }


def notes_text(analysis: Analysis) -> str:
    lines = []
    for title, items in (
        ("assumed", analysis.policies.assumptions),
        ("not modelled (verdicts depending on it are unknown)", analysis.policies.unsupported),
        ("not policy endpoints", analysis.inventory.excluded),
        ("notes", [*analysis.inventory.notes, *analysis.policies.notes]),
        ("ignored kinds (present in the input, not analysed)",
         [f"{k}: {v}" for k, v in sorted(analysis.snapshot.ignored.items())]),
    ):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  - {x}" for x in items)
    return ("\n" + "\n".join(lines) + "\n") if lines else ""
