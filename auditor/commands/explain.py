"""``auditor explain INPUT... --from A --to B``: why one flow is allowed or denied.

Exit codes: 0 explained; 2 bad input, an unknown name or a port no policy models.
"""

from __future__ import annotations

import click

from auditor.commands.options import input_options
from auditor.commands.pipeline import AnalysisFlags, InputSpec, run_analysis
from auditor.commands.reach import find, parse_port, parse_request
from auditor.commands.text import out
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
    from auditor.reach.explain import default_query, render
    from auditor.reach.explain import explain as build

    request = parse_request(http) if http else None
    given = parse_port(port) if port is not None else None
    analysis = run_analysis(source, flags)
    s = find(analysis, src, "--from")
    t = find(analysis, dst, "--to")
    pm = analysis.pairs("pod" if s.kind == "pod" and t.kind == "pod" else "workload", [s], [t], request=request)
    v = pm.verdict[pm.row[0, 0]]
    if given is None:
        query = default_query(analysis, s, t, v == 2)
        out(f"allowed ports: {analysis.ports.summary(v == 2)}\n")
    else:
        query = given
    # What ``reach.explain.explain`` cannot walk is a question the user asked, not a bug.
    if analysis.ports.index_of(query.protocol, query.port) is None:
        raise UsageError(f"protocol {query.protocol} is not used by any policy; try TCP, UDP, SCTP or ICMP")
    if not s.classes or not t.classes:
        raise UsageError("one of the endpoints has no address left to evaluate (shadowed by other networks)")
    out(render(build(analysis, s, t, query, request)) + "\n")
