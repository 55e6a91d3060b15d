"""The click option stacks the commands share. Each stack hands the command one typed value
(``source: InputSpec``, ``flags: AnalysisFlags``) instead of a dozen loose arguments."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import click

from auditor.commands.pipeline import AnalysisFlags, InputSpec, LiveSpec
from auditor.kinds import DATAPLANES

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _stack(func: Callable[..., Any], decorators: list[Decorator]) -> Callable[..., Any]:
    """Apply ``decorators`` so that they appear in ``--help`` in the order listed."""
    for deco in reversed(decorators):
        func = deco(func)
    return func


def _bundle(func: Callable[..., Any], make: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., Any]:
    """Wrap a command so that ``make`` turns some of click's keyword arguments into typed values."""

    @functools.wraps(func)
    def wrapper(**kwargs: Any) -> Any:
        return func(**make(kwargs))

    return wrapper


def _flags(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs["flags"] = AnalysisFlags(lenient=kwargs.pop("lenient"), externals=tuple(kwargs.pop("externals")),
                                    pod_cidrs=tuple(kwargs.pop("pod_cidrs")), with_staged=kwargs.pop("with_staged"),
                                    dataplane=kwargs.pop("dataplane"))
    return kwargs


def _source(kwargs: dict[str, Any]) -> dict[str, Any]:
    live, kubeconfig, in_cluster = kwargs.pop("live"), kwargs.pop("kubeconfig"), kwargs.pop("in_cluster")
    context, deadline = kwargs.pop("context"), kwargs.pop("scan_deadline")
    spec = LiveSpec(kubeconfig=kubeconfig, context=context, in_cluster=in_cluster, deadline=float(deadline)) \
        if live or kubeconfig or in_cluster else None
    kwargs["source"] = InputSpec(inputs=tuple(kwargs.pop("inputs")),
                                 default_namespace=kwargs.pop("default_namespace"), live=spec)
    return kwargs


LENIENT = click.option("--lenient", is_flag=True,
                       help="Invalid policies make the affected verdicts unknown instead of failing (exit 2).")
EXTERNAL = click.option("--external", "externals", multiple=True, metavar="NAME=CIDR[,CIDR]",
                        help="Name an external network (repeatable). 'internet=0.0.0.0/0' is always present "
                             "unless you redefine it.")
POD_CIDR = click.option("--pod-cidr", "pod_cidrs", multiple=True, metavar="CIDR",
                        help="Addresses pods may have (repeatable). Lets ipBlocks outside it be known not to "
                             "match pods whose IP is unknown; excluded from external networks.")
DEFAULT_NAMESPACE = click.option("--default-namespace", default="default", show_default=True,
                                 help="Namespace for manifests that do not set one.")
WITH_STAGED = click.option("--with-staged", is_flag=True,
                           help="Evaluate Calico staged policies as if they were enforced (what would change).")
DATAPLANE = click.option("--dataplane", type=click.Choice(DATAPLANES),
                         help="Who enforces AdminNetworkPolicy/BaselineAdminNetworkPolicy/ClusterNetworkPolicy "
                              "(ADM-14). Default: Calico's ClusterInformation version from the input; else the "
                              "flows they could change are unknown.")


MAX_MEMORY = click.option(
    "--max-memory", "max_memory", metavar="SIZE", envvar="AUDITOR_MAX_MEMORY",
    help="Memory budget, e.g. 4G or 512M (or $AUDITOR_MAX_MEMORY): the pair matrix is computed and written "
         "in blocks of source rows sized to stay under it; the chosen size is printed on stderr. "
         "Never changes a result.")


def live_options() -> list[Decorator]:
    """--live/--kubeconfig/--context/--in-cluster/--scan-deadline: read the cluster instead of files."""
    return [
        click.option("--live", is_flag=True,
                     help="Read the cluster through the Kubernetes API instead of INPUT (read-only)."),
        click.option("--kubeconfig", type=click.Path(dir_okay=False),
                     help="Kubeconfig for --live (default: $KUBECONFIG or ~/.kube/config)."),
        click.option("--context", help="Kubeconfig context for --live."),
        click.option("--in-cluster", is_flag=True, help="Use the pod's service account (CronJob); implies --live."),
        click.option("--scan-deadline", type=float, default=300.0,
                     help="Seconds the whole live scan may take; kinds not read by then are 'error'."),
    ]


def input_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """INPUT..., the analysis flags and the live options → ``source: InputSpec``, ``flags: AnalysisFlags``."""
    wrapped = _bundle(func, lambda kw: _source(_flags(kw)))
    return _stack(wrapped, [click.argument("inputs", nargs=-1, metavar="INPUT..."), LENIENT, EXTERNAL, POD_CIDR,
                            DEFAULT_NAMESPACE, WITH_STAGED, DATAPLANE, *live_options()])


def analysis_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The analysis flags alone (for commands whose inputs are not INPUT...) → ``flags: AnalysisFlags``."""
    return _stack(_bundle(func, _flags), [LENIENT, EXTERNAL, POD_CIDR, WITH_STAGED, DATAPLANE])


def audit_options(required: bool) -> Decorator:
    """--controls/--zones/--waivers/--as-of (loaded with ``pipeline.AuditSetup.load``)."""

    def deco(func: Callable[..., Any]) -> Callable[..., Any]:
        return _stack(func, [
            click.option("--controls", "controls", multiple=True, required=required, metavar="PACK",
                         help="Control pack YAML (repeatable), or a directory of packs, e.g. controls/bank-zones.yaml."
                              + ("" if required else " Needed to audit snapshots or manifests on the fly.")),
            click.option("--zones", "zones_file", type=click.Path(dir_okay=False), metavar="FILE",
                         help="Zone definitions that replace the packs' ones by name (map your own labels)."),
            click.option("--waivers", "waivers_file", type=click.Path(dir_okay=False), metavar="FILE",
                         help="Accepted violations with justification, approver and expiry."),
            click.option("--as-of", "as_of", metavar="YYYY-MM-DD",
                         help="Date waiver expiry is judged at (default: today, UTC). Only waivers depend on it."),
        ])

    return deco


FORMAT_HELP = ("Comma-separated and/or repeated: pdf, csv, junit, sarif, oscal, all "
               "(default: pdf, csv, junit, sarif).")
TEMPLATE_HELP = ("PDF template: a name in report_templates/ (auditor, executive) or a path to a template YAML. "
                 "Repeatable; default: both auditor and executive.")


def report_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--format/--template/--paper, shared by ``report`` and ``audit --report``."""
    return _stack(func, [
        click.option("--format", "formats", multiple=True, metavar="FORMATS", help=FORMAT_HELP),
        click.option("--template", "templates", multiple=True, metavar="NAME|PATH", help=TEMPLATE_HELP),
        click.option("--paper", type=click.Choice(["a4", "letter"], case_sensitive=False), default=None,
                     help="Paper size of the PDF (default: the template's, A4)."),
        click.option("--cluster-name", default="", metavar="NAME",
                     help="The cluster's name on the PDF cover and page header, instead of the input paths."),
    ])


class ImportedDefault(click.Option):
    """An option whose default is a constant of a heavy module, imported only when needed
    (``module:NAME``), so that declaring the option costs nothing at start-up."""

    def __init__(self, *args: Any, default_from: str, **kwargs: Any) -> None:
        self.default_from = default_from
        super().__init__(*args, **kwargs)

    def get_default(self, ctx: click.Context, call: bool = True) -> Any:
        module, _, name = self.default_from.partition(":")
        return getattr(importlib.import_module(module), name)


def max_evidence_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--max-evidence", "max_evidence", cls=ImportedDefault, default_from="auditor.controls.result:DEFAULT_MAX_EVIDENCE",
        type=click.IntRange(min=0), show_default=True, metavar="N",
        help="Violations and unknown flows listed per control, and flows listed, in the result and reports "
             "(the first N by source, destination, ports); counts and verdicts always cover all. 0 = list all.",
    )(func)
