"""``auditor explain INPUT... --from A --to B``: why one flow is allowed or denied.

Exit codes: 0 explained; 2 bad input, an unknown name or a port no policy models.
"""

from __future__ import annotations

import click

from auditor.commands.options import input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, run_analysis
from auditor.commands.reach import find, parse_port, parse_request
from auditor.commands.text import ignored_line, out
from auditor.errors import UsageError


@click.command()
@input_options
@click.option("--from", "src", required=True, metavar="NAME", help="Source pod, workload, namespace or network.")
@click.option("--to", "dst", required=True, metavar="NAME", help="Destination pod, workload, namespace or network.")
@click.option("--port", "port", default=None, metavar="PORT/PROTO",
              help="Destination (pod) port, e.g. 5432/TCP. Default: the first allowed port, else the first "
                   "port L3/L4 allows, else 80/TCP.")
@click.option("--http", "http", default=None, metavar="'METHOD /path'",
              help="Show the Istio stage for this HTTP request, e.g. 'GET /accounts'.")
def explain(source: InputSpec, flags: AnalysisFlags, src: str, dst: str, port: str | None,
            http: str | None) -> None:
    """Why a flow is allowed or denied: the tier-by-tier walk at both ends, then the destination's
    Istio proxy (mTLS mode, AuthorizationPolicies, the rule that matched the request)."""
    from auditor.reach.explain import declared_ports, default_query, render
    from auditor.reach.explain import explain as build

    request = parse_request(http) if http else None
    given = parse_port(port) if port is not None else None
    analysis = run_analysis(source, flags)
    s = find(analysis, src, "--from")
    t = find(analysis, dst, "--to")
    pm = analysis.pairs("pod" if s.kind == "pod" and t.kind == "pod" else "workload", [s], [t], request=request)
    v = pm.verdict[pm.row[0, 0]]
    if given is None:
        out(f"allowed ports: {analysis.ports.summary(v == 2)}\n")
        queries = declared_ports(analysis, t)
        if queries:
            out(f"ports {t.name} declares (containers, Services): {', '.join(map(str, queries))}\n")
        else:
            queries = [default_query(analysis, s, t, v == 2)]
            out(f"{t.name} declares no port: assumed {queries[0]} (give --port to choose)\n")
    else:
        queries = [given]
    for k, query in enumerate(queries):
        # What ``reach.explain.explain`` cannot walk is a question the user asked, not a bug.
        if analysis.ports.index_of(query.protocol, query.port) is None:
            raise UsageError(f"protocol {query.protocol} is not used by any policy; try TCP, UDP, SCTP or ICMP")
        if not s.classes or not t.classes:
            raise UsageError("one of the endpoints has no address left to evaluate (shadowed by other networks)")
        out(("\n" if k else "") + render(build(analysis, s, t, query, request)) + "\n")
    if analysis.snapshot.ignored:
        out(ignored_line(analysis.snapshot.ignored) + "\n")
    if s.kind == "external" and t.kind != "external":
        out(exposure_walk(analysis, s.name, t, flags.lenient))


def exposure_walk(analysis: object, client: str, target: object, lenient: bool) -> str:
    """``--from <external>``: the walk above is the direct pod-IP flow (EXP-1); every exposure
    path that reaches the target is walked hop by hop after it."""
    from auditor.reach.exposure.paths import ExposureSettings, build_exposure

    ex = build_exposure(analysis, ExposureSettings(client=client), lenient=lenient, direct=False)
    names = {target.name}  # type: ignore[attr-defined]
    eps = analysis.inventory.endpoints  # type: ignore[attr-defined]
    names |= {eps[i].workload for i in target.endpoints}  # type: ignore[attr-defined]
    paths = [p for p in ex.paths if names & set(p.backend) or p.namespace == target.name]  # type: ignore[attr-defined]
    lines = [f"\nexposure paths from {client} to {target.name}: {len(paths) or 'none'}"]  # type: ignore[attr-defined]
    for p in paths:
        where = f" ({p.source.file}:{p.source.line})" if p.source.file and p.source.line else ""
        lines.append(f"- via {p.via} at {p.entry} → {p.service} → {p.port}: {p.verdict.upper()}{where}")
        for k, h in enumerate(p.hops, 1):
            lines.append(f"    {k}. {h.step}: {h.src} → {h.dst} [{h.port}] {h.verdict.upper()}")
            lines.append(f"       {h.rule}")
            if h.cause is not None:
                lines.append(f"       unknown because {h.cause.code}: {h.cause.words}")
    lines.append("exposure assumptions: " + "; ".join(ex.settings.assumptions()))
    return "\n".join(lines) + "\n"
