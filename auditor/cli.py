"""The ``auditor`` command line: thin click wrappers over the stages; no logic of its own.

Exit codes are an interface: 0 answer established, 1 violations/regression (audit, gate),
2 the run could not establish the answer (bad input, unreadable cluster).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from auditor import __version__
from auditor.commands.text import FORMATS, emit, to_csv, to_json, to_table
from auditor.errors import AuditorError
from auditor.reach.addresses import parse_network
from auditor.reach.analysis import IMPL_ASSUMPTIONS, LEVELS, Analysis, AnalysisOptions, analyze
from auditor.reach.endpoints import DEFAULT_EXTERNALS, ExternalNetwork
from auditor.reach.ports import PortQuery
from auditor.snapshot import Snapshot


class AuditorGroup(click.Group):
    """Turns every known failure into one ``error:`` line and exit code 2 (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AuditorError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except (LookupError, ValueError) as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)
        except OSError as exc:
            click.echo(f"error: {exc.filename or ''}: {exc.strerror or exc}", err=True)
            sys.exit(2)


@click.group(cls=AuditorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="auditor")
def main() -> None:
    """Kubernetes zone-compliance auditor: who can reach what, which policy rule decided, and
    whether that satisfies your PCI DSS / HIPAA segmentation controls."""


# -- shared options --------------------------------------------------------------------------


def input_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """INPUT... plus the options every analysing command takes."""
    decorators = [
        click.argument("inputs", nargs=-1, metavar="INPUT..."),
        click.option("--lenient", is_flag=True,
                     help="Invalid policies make the affected verdicts unknown instead of failing (exit 2)."),
        click.option("--external", "externals", multiple=True, metavar="NAME=CIDR[,CIDR]",
                     help="Name an external network (repeatable). 'internet=0.0.0.0/0' is always present "
                          "unless you redefine it."),
        click.option("--pod-cidr", "pod_cidrs", multiple=True, metavar="CIDR",
                     help="Addresses pods may have (repeatable). Lets ipBlocks outside it be known not to "
                          "match pods whose IP is unknown; excluded from external networks."),
        click.option("--default-namespace", default="default", show_default=True,
                     help="Namespace for manifests that do not set one."),
        click.option("--with-staged", is_flag=True, expose_value=False, callback=_remember,
                     help="Evaluate Calico staged policies as if they were enforced (what would change)."),
        click.option("--live", is_flag=True, expose_value=False, callback=_remember,
                     help="Read the cluster through the Kubernetes API instead of INPUT (read-only)."),
        click.option("--kubeconfig", type=click.Path(dir_okay=False), expose_value=False, callback=_remember,
                     help="Kubeconfig for --live (default: $KUBECONFIG or ~/.kube/config)."),
        click.option("--context", expose_value=False, callback=_remember, help="Kubeconfig context for --live."),
        click.option("--in-cluster", is_flag=True, expose_value=False, callback=_remember,
                     help="Use the pod's service account (CronJob); implies --live."),
        click.option("--scan-deadline", type=float, default=300.0, expose_value=False, callback=_remember,
                     help="Seconds the whole live scan may take; kinds not read by then are 'error'."),
    ]
    for deco in reversed(decorators):
        func = deco(func)
    return func


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Live-scan options travel in the context, so every command takes them unchanged."""
    ctx.meta.setdefault("auditor.live", {})[param.name] = value
    return value


def live_settings() -> dict[str, Any]:
    ctx = click.get_current_context(silent=True)
    return dict(ctx.meta.get("auditor.live", {})) if ctx else {}


def parse_externals(values: Sequence[str]) -> tuple[ExternalNetwork, ...]:
    nets: dict[str, ExternalNetwork] = {n.name: n for n in DEFAULT_EXTERNALS}
    for value in values:
        name, sep, cidrs = value.partition("=")
        if not sep or not name.strip() or not cidrs.strip():
            raise ValueError(f"--external {value!r}: expected NAME=CIDR[,CIDR...]")
        try:
            parsed = tuple(parse_network(c) for c in cidrs.split(",") if c.strip())
        except ValueError as exc:
            raise ValueError(f"--external {value!r}: {exc}") from None
        nets[name.strip()] = ExternalNetwork(name.strip(), parsed)
    return tuple(nets[k] for k in sorted(nets))


def load(inputs: Sequence[str], default_namespace: str = "default") -> Snapshot:
    """INPUT... (manifests, '-', a snapshot file) or, with --live/--kubeconfig/--in-cluster,
    a read-only scan of the cluster."""
    from auditor.sources.manifests import load_input

    live = live_settings()
    if live.get("live") or live.get("kubeconfig") or live.get("in_cluster"):
        if inputs:
            raise AuditorError("give either INPUT... or --live (--kubeconfig/--in-cluster), not both")
        from auditor.sources.live import console_progress, enable_json_logs, scan_live

        progress = console_progress()
        if progress is None:
            enable_json_logs()
        return scan_live(kubeconfig=live.get("kubeconfig"), context=live.get("context"),
                         in_cluster=bool(live.get("in_cluster")), deadline=float(live.get("scan_deadline") or 300.0),
                         progress=progress)
    if not inputs:
        raise AuditorError("no INPUT given: pass manifest files, directories, '-' for stdin, or a snapshot.json")
    return load_input(list(inputs), stdin=sys.stdin, default_namespace=default_namespace)


def run_analysis(inputs: Sequence[str], lenient: bool, externals: Sequence[str], pod_cidrs: Sequence[str],
                 default_namespace: str) -> Analysis:
    try:
        cidrs = tuple(parse_network(c) for c in pod_cidrs)
    except ValueError as exc:
        raise ValueError(f"--pod-cidr: {exc}") from None
    options = AnalysisOptions(externals=parse_externals(externals), pod_cidrs=cidrs, lenient=lenient,
                              with_staged=bool(live_settings().get("with_staged")))
    progress = Progress()
    snapshot = load(inputs, default_namespace)
    progress.say(f"read {len(snapshot.resources)} resources")
    gc.collect()
    gc.freeze()  # the snapshot lives until exit: keep the cyclic collector off its objects
    analysis = analyze(snapshot, options)
    progress.say(f"evaluated {analysis.classes.n} endpoint classes, {len(analysis.policies.policies)} policies, "
                 f"{len(analysis.ports)} port atoms")
    return analysis


class Progress:
    """Stage lines with elapsed time on an interactive terminal; silent when piped or in CI."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self._start = self._clock()
        self.enabled = sys.stderr.isatty()

    def say(self, message: str) -> None:
        if self.enabled:
            click.echo(f"[{self._clock() - self._start:6.1f}s] {message}", err=True)


def meta(analysis: Analysis, **extra: Any) -> dict[str, Any]:
    """What every machine-readable output carries so that an auditor can reproduce it."""
    snap = analysis.snapshot
    return {
        "tool": "zone-auditor",
        "tool_version": __version__,
        "snapshot_digest": snap.digest,
        "content_digest": snap.content_digest,
        "source": snap.source,
        "assumptions": list(IMPL_ASSUMPTIONS),
        "unsupported": list(analysis.policies.unsupported),
        "excluded": list(analysis.inventory.excluded),
        "notes": list(analysis.inventory.notes) + list(analysis.policies.notes),
        **extra,
    }


def notes_text(analysis: Analysis) -> str:
    lines = []
    for title, items in (
        ("not modelled (verdicts depending on it are unknown)", analysis.policies.unsupported),
        ("not policy endpoints", analysis.inventory.excluded),
        ("notes", [*analysis.inventory.notes, *analysis.policies.notes]),
    ):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  - {x}" for x in items)
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


# -- commands ----------------------------------------------------------------------------------


@main.command()
@input_options
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Snapshot file to write.")
@click.option("--allow-incomplete", is_flag=True,
              help="Write the snapshot even when a kind could not be read (forbidden, error); it is recorded "
                   "as incomplete. Without it such a scan writes nothing and exits 2.")
def scan(inputs: tuple[str, ...], lenient: bool, externals: tuple[str, ...], pod_cidrs: tuple[str, ...],
         default_namespace: str, output: str, allow_incomplete: bool) -> None:
    """Capture a snapshot (the hashed evidence) from manifests or, with --live, the cluster."""
    from auditor.sources.validate import check_snapshot

    snapshot = load(inputs, default_namespace)
    checked = check_snapshot(snapshot, lenient=lenient)  # a snapshot of invalid objects is no evidence
    if not lenient:
        from auditor.policy.compile import compile_policies

        compile_policies(checked)
    incomplete = {k: v for k, v in sorted(checked.collection.items()) if v not in ("ok", "not-installed")}
    if incomplete and not allow_incomplete:
        raise AuditorError("incomplete snapshot, not written: " + ", ".join(f"{k} {v}" for k, v in incomplete.items())
                           + "; re-run with --allow-incomplete to record it as incomplete")
    snapshot.save(output)
    counts: dict[str, int] = {}
    for res in snapshot.resources:
        counts[res.kind_key] = counts.get(res.kind_key, 0) + 1
    summary = ", ".join(f"{k}={v}" for k, v in sorted(counts.items()))
    click.echo(f"wrote {output}: {len(snapshot.resources)} resources ({summary}); digest {snapshot.digest}", err=True)
    if snapshot.ignored:
        click.echo("ignored (not modelled): " + ", ".join(f"{k}={v}" for k, v in sorted(snapshot.ignored.items())),
                   err=True)
    if incomplete:
        click.echo("incomplete (verdicts depending on these kinds are unknown): "
                   + ", ".join(f"{k} {v}" for k, v in incomplete.items()), err=True)
    for item in checked.skipped:
        click.echo(f"invalid, kept as read (every analysis skips it under --lenient): {item.where}: {item.reason}",
                   err=True)


@main.command()
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
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file (atomically).")
def reach(inputs: tuple[str, ...], lenient: bool, externals: tuple[str, ...], pod_cidrs: tuple[str, ...],
          default_namespace: str, ports: tuple[str, ...], http: tuple[str, ...], by: str, fmt: str,
          only: str | None, src: str | None, dst: str | None, output: str | None) -> None:
    """Who can reach whom, on which ports, and which rule decided (both ends)."""
    from auditor.reach.l7 import Request
    from auditor.reach.rows import http_rows, port_rows, summary_rows, unknown_note

    queries = [PortQuery.parse(p) for p in ports]
    requests = [Request.parse(h) for h in http]
    analysis = run_analysis(inputs, lenient, externals, pod_cidrs, default_namespace)
    src_ents = [_resolve(analysis, src, by)] if src else None
    dst_ents = [_resolve(analysis, dst, by)] if dst else None
    if requests:
        df = http_rows(analysis, [analysis.pairs(by, src_ents, dst_ents, request=r) for r in requests], queries)
    else:
        pm = analysis.pairs(by, src_ents, dst_ents)
        df = port_rows(analysis, pm, queries) if queries else summary_rows(analysis, pm)
    note = unknown_note(df)
    if note:
        click.echo(note, err=True)  # exit 0 all the same: reach reports, it does not judge
    if only:
        word = {"allowed": "true", "denied": "false", "unknown": "unknown"}[only]
        df = df[df["allowed"] == word].reset_index(drop=True)
    if fmt == "csv":
        emit(to_csv(df), output)
    elif fmt == "json":
        emit(to_json(meta(analysis, by=by, ports=[str(q) for q in queries], http=[str(r) for r in requests]), df),
             output)
    else:
        emit(to_table(df) + notes_text(analysis), output)


def _resolve(analysis: Analysis, name: str, by: str) -> Any:
    ent, _ = analysis.find(name)
    if ent.kind in ("external",):
        return ent
    # Re-express at the requested level so src/dst names match the other column.
    level_names = {e.name: e for e in analysis.entities(by)}
    if ent.name in level_names:
        return level_names[ent.name]
    return ent


@main.command()
@input_options
@click.option("--from", "src", required=True, metavar="NAME", help="Source pod, workload, namespace or network.")
@click.option("--to", "dst", required=True, metavar="NAME", help="Destination pod, workload, namespace or network.")
@click.option("--port", "port", default=None, metavar="PORT/PROTO",
              help="Destination (pod) port, e.g. 5432/TCP. Default: the first allowed port, else the first "
                   "port L3/L4 allows, else 80/TCP.")
@click.option("--http", "http", default=None, metavar="'METHOD /path'",
              help="Show the Istio stage for this HTTP request, e.g. 'GET /accounts'.")
def explain(inputs: tuple[str, ...], lenient: bool, externals: tuple[str, ...], pod_cidrs: tuple[str, ...],
            default_namespace: str, src: str, dst: str, port: str | None, http: str | None) -> None:
    """Why a flow is allowed or denied: the tier-by-tier walk at both ends, then the destination's
    Istio proxy (mTLS mode, AuthorizationPolicies, the rule that matched the request)."""
    from auditor.reach.explain import default_query, render
    from auditor.reach.explain import explain as build
    from auditor.reach.l7 import Request

    request = Request.parse(http) if http else None
    analysis = run_analysis(inputs, lenient, externals, pod_cidrs, default_namespace)
    s, _ = analysis.find(src)
    t, _ = analysis.find(dst)
    pm = analysis.pairs("pod" if s.kind == "pod" and t.kind == "pod" else "workload", [s], [t], request=request)
    v = pm.verdict[pm.row[0, 0]]
    if port is None:
        query = default_query(analysis, s, t, v == 2)
        click.echo(f"allowed ports: {analysis.ports.summary(v == 2)}")
    else:
        query = PortQuery.parse(port)
    click.echo(render(build(analysis, s, t, query, request)))


def _load_commands() -> None:
    from auditor.commands import load_all

    load_all()


_load_commands()
