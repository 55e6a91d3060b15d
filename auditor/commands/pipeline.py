"""The one pipeline every analysing command runs: read the input (manifests, standard input with
its text kept, a snapshot file, or ``--live``), turn the command line into ``AnalysisOptions``,
analyse, and audit when control packs are given.

Module level imports nothing heavy: ``auditor --help`` must not pay for numpy, pandas, YAML or
the Kubernetes client. Each stage is imported inside the function that runs it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import io
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

from auditor.commands.progress import PhaseProgress
from auditor.errors import AuditorError, UsageError

if TYPE_CHECKING:
    from auditor.controls.result import AuditResult
    from auditor.reach.analysis import Analysis, AnalysisOptions
    from auditor.reach.endpoints import ExternalNetwork
    from auditor.snapshot import Snapshot


@dataclass(frozen=True)
class LiveSpec:
    """How to read the cluster through the Kubernetes API (read-only)."""

    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False
    deadline: float = 300.0


@dataclass(frozen=True)
class InputSpec:
    """What to read: INPUT... (files, directories, '-' for stdin, a snapshot) or the live cluster."""

    inputs: tuple[str, ...] = ()
    default_namespace: str = "default"
    live: LiveSpec | None = None


@dataclass(frozen=True)
class AnalysisFlags:
    """The command line's say in the analysis, before parsing (``analysis_options`` parses)."""

    lenient: bool = False
    externals: tuple[str, ...] = ()
    pod_cidrs: tuple[str, ...] = ()
    with_staged: bool = False
    dataplane: str | None = None  # ADM-14: who enforces the admin policy kinds


@dataclass(frozen=True)
class Loaded:
    """A snapshot and the text read from standard input (kept so that evidence can point back at
    Helm templates, ``auditor/sources/rendered.py``)."""

    snapshot: Snapshot
    texts: Mapping[str, str] = field(default_factory=dict)


def read_inputs(spec: InputSpec, lenient: bool = False, cluster_name: str = "") -> Loaded:
    """The snapshot of INPUT... or of the live cluster (``lenient``: skip documents that are not
    Kubernetes objects, and take the last of an object defined twice, each with a note)."""
    if spec.live is not None:
        if spec.inputs:
            raise UsageError("give either INPUT... or --live (--kubeconfig/--in-cluster), not both")
        from auditor.sources.live import console_progress, enable_json_logs, scan_live

        progress = console_progress()
        if progress is None:
            enable_json_logs()
        live = spec.live
        return Loaded(scan_live(kubeconfig=live.kubeconfig, context=live.context, in_cluster=live.in_cluster,
                                deadline=live.deadline, progress=progress))
    if not spec.inputs:
        raise UsageError("no INPUT given: pass manifest files, directories, '-' for stdin, or a snapshot.json")
    from auditor.sources.manifests import STDIN_NAME, _decode, load_input

    texts: dict[str, str] = {}
    stdin: Any = sys.stdin
    if "-" in spec.inputs:
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        try:
            raw = stream.read()
        except OSError as exc:
            raise AuditorError(f"cannot read: {exc.strerror or exc}", where=STDIN_NAME) from exc
        texts[STDIN_NAME] = _decode(raw, STDIN_NAME)
        stdin = io.StringIO(texts[STDIN_NAME])
    with kept_until_exit():  # the snapshot lives until exit
        snapshot = load_input(list(spec.inputs), stdin=stdin, default_namespace=spec.default_namespace,
                              lenient=lenient, cluster_name=cluster_name)
    return Loaded(snapshot, texts)


def parse_externals(values: Sequence[str]) -> tuple[ExternalNetwork, ...]:
    """``--external NAME=CIDR[,CIDR]`` networks over the defaults ('internet' unless redefined)."""
    from auditor.reach.addresses import parse_network
    from auditor.reach.endpoints import DEFAULT_EXTERNALS, ExternalNetwork

    nets: dict[str, ExternalNetwork] = {n.name: n for n in DEFAULT_EXTERNALS}
    for value in values:
        name, sep, cidrs = value.partition("=")
        if not sep or not name.strip() or not cidrs.strip():
            raise UsageError(f"--external {value!r}: expected NAME=CIDR[,CIDR...]")
        try:
            parsed = tuple(parse_network(c) for c in cidrs.split(",") if c.strip())
        except ValueError as exc:
            raise UsageError(f"--external {value!r}: {exc}") from None
        nets[name.strip()] = ExternalNetwork(name.strip(), parsed)
    return tuple(nets[k] for k in sorted(nets))


def merge_externals(explicit: Sequence[str], zones: Sequence[ExternalNetwork]) -> tuple[ExternalNetwork, ...]:
    """``--external`` networks plus the packs' CIDR zones; the same name twice must agree."""
    nets = {n.name: n for n in parse_externals(explicit)}
    given = {v.partition("=")[0].strip() for v in explicit}
    for zone in zones:
        if zone.name in given and nets[zone.name].networks != zone.networks:
            raise UsageError(
                f"--external {zone.name} conflicts with the control packs' zone {zone.name!r} "
                f"({', '.join(map(str, zone.networks))}); remap the zone with --zones instead"
            )
        nets[zone.name] = zone
    return tuple(nets[k] for k in sorted(nets))


def analysis_options(flags: AnalysisFlags, zones: Sequence[ExternalNetwork] = ()) -> AnalysisOptions:
    """``AnalysisOptions`` from the command line (``zones``: the control packs' CIDR zones)."""
    from auditor.reach.addresses import parse_network
    from auditor.reach.analysis import AnalysisOptions

    try:
        cidrs = tuple(parse_network(c) for c in flags.pod_cidrs)
    except ValueError as exc:
        raise UsageError(f"--pod-cidr: {exc}") from None
    return AnalysisOptions(externals=merge_externals(flags.externals, zones), pod_cidrs=cidrs,
                           lenient=flags.lenient, with_staged=flags.with_staged, dataplane=flags.dataplane)


def analyse(snapshot: Snapshot, options: AnalysisOptions, progress: PhaseProgress | None = None,
            budget: int | None = None) -> Analysis:
    """Compile and evaluate; the snapshot lives until exit, so the cyclic collector is kept off it.
    ``budget``: the memory budget in bytes (default ``$AUDITOR_MAX_MEMORY``, else none), from
    which the class-pair chunks of every pair matrix are sized."""
    from auditor.reach.analysis import analyze
    from auditor.reach.budget import keep_large_blocks, release_free_memory

    budget = budget if budget is not None else memory_budget(os.environ.get(MEMORY_ENV))
    if budget is None:
        keep_large_blocks()  # large arrays reused from the heap, not mapped afresh each time
    gc.freeze()  # the snapshot: later collections skip it (no collection first: see kept_until_exit)
    progress = progress if progress is not None else PhaseProgress()
    with kept_until_exit():  # the analysis lives until exit too
        analysis = analyze(snapshot, options, progress=progress)
    release_free_memory()  # the analysis's temporaries: out of the resident set the budget counts
    if budget is not None:
        from auditor.reach.budget import class_cells, format_size, rss_bytes

        in_use = rss_bytes()
        analysis.block_cells = class_cells(budget, in_use)
        analysis.memory_budget = budget
        click.echo(f"memory: budget {format_size(budget)}, {format_size(in_use)} in use after the analysis; "
                   f"class pairs in chunks of {analysis.block_cells:,}", err=True)
    if progress is not None:
        progress.say(f"evaluated {analysis.classes.n} endpoint classes, {len(analysis.policies.policies)} "
                     f"policies, {len(analysis.ports)} port atoms")
    return analysis


@contextlib.contextmanager
def kept_until_exit() -> Iterator[None]:
    """Build what lives until the command exits (analysis, audit result, baseline): the collector
    is paused meanwhile (automatic full collections walked the whole growing heap again and
    again: ≈ 1–2 s of CPU of a 10k-pod gate), then the survivors are frozen, so that later
    collections skip them. No collection first: what these blocks build is acyclic, and one
    would walk every object they made only to find nothing to free (a 10k-pod gate: 9 cyclic
    objects in four collections costing ≈ 0.6 s of CPU); those few stay until exit.

    The freeze comes before the collector is re-enabled: every object allocated while it was
    paused is still in the youngest generation, so the first allocation after re-enabling would
    otherwise start a collection that walks them all (a 10k-pod gate: ≈ 1.5 s over its blocks)."""
    from auditor.snapshot import gc_paused

    with gc_paused():
        yield
        gc.freeze()


MEMORY_ENV = "AUDITOR_MAX_MEMORY"  # the budget of commands without --max-memory (audit, gate, ...)


def memory_budget(text: str | None) -> int | None:
    """``--max-memory`` / ``$AUDITOR_MAX_MEMORY`` in bytes (None: no budget); malformed → exit 2."""
    if not text:
        return None
    from auditor.reach.budget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_analysis(spec: InputSpec, flags: AnalysisFlags, progress: PhaseProgress | None = None,
                 budget: int | None = None) -> Analysis:
    """INPUT... → Analysis, for the commands without control packs (reach, explain)."""
    options = analysis_options(flags)
    progress = progress if progress is not None else PhaseProgress()
    loaded = read_inputs(spec, flags.lenient)
    progress.say(f"read {len(loaded.snapshot.resources)} resources")
    return analyse(loaded.snapshot, options, progress, budget)


# -- auditing ----------------------------------------------------------------------------------


def parse_as_of(value: str | None) -> dt.date:
    if value is None:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"--as-of {value!r}: expected a date YYYY-MM-DD") from None


@dataclass(frozen=True)
class AuditSetup:
    """Packs, zone map, waivers and the waiver date, loaded and validated before any analysis."""

    packs: tuple[Any, ...] = ()
    zone_map: Any = None
    waivers: Any = None
    day: dt.date | None = None

    @classmethod
    def load(cls, controls: Sequence[str], zones_file: str | None, waivers_file: str | None,
             as_of: str | None) -> AuditSetup:
        if not controls:
            if zones_file or waivers_file:
                raise UsageError("--zones and --waivers need --controls")
            return cls(day=parse_as_of(as_of))
        from auditor.controls.pack import load_packs
        from auditor.controls.waivers import load_waivers

        packs, zone_map = load_packs(list(controls), zones_file)
        waivers = load_waivers(waivers_file) if waivers_file else None
        return cls(packs=tuple(packs), zone_map=zone_map, waivers=waivers, day=parse_as_of(as_of))

    def zones(self) -> tuple[ExternalNetwork, ...]:
        """The packs' CIDR zones, which become external networks of the analysis."""
        if not self.packs:
            return ()
        from auditor.controls.pack import external_networks

        return tuple(external_networks(list(self.packs)))


@dataclass(frozen=True)
class Audited:
    """An input analysed, audited when there are packs, with the texts read from stdin."""

    analysis: Analysis
    result: AuditResult | None
    texts: Mapping[str, str]


def audit_loaded(loaded: Loaded, setup: AuditSetup, options: AnalysisOptions, max_evidence: int = 0,
                 evidence_flows: bool = True, budget: int | None = None, with_policy_rules: bool = True) -> Audited:
    """Analyse, and audit when there are packs (``max_evidence``: violations and flows listed in
    the result, 0 = all; counts, verdicts and ``Finding.all_violations`` always cover all;
    ``evidence_flows``, ``with_policy_rules``: see ``build_evidence``)."""
    progress = PhaseProgress()
    analysis = analyse(loaded.snapshot, options, progress, budget=budget)  # sets analysis.memory_budget
    result = None
    if setup.packs:
        from auditor.controls.runner import run_audit

        with kept_until_exit():
            result = run_audit(analysis, list(setup.packs), zone_map=setup.zone_map, waivers=setup.waivers,
                               as_of=setup.day, max_evidence=max_evidence, evidence_flows=evidence_flows,
                               progress=progress, with_policy_rules=with_policy_rules)
        progress.say(f"judged {sum(len(p.controls) for p in setup.packs)} controls")
    progress.close()
    return Audited(analysis=analysis, result=result, texts=loaded.texts)


def audit_inputs(spec: InputSpec, flags: AnalysisFlags, setup: AuditSetup, max_evidence: int = 0,
                 evidence_flows: bool = True, budget: int | None = None, with_policy_rules: bool = True) -> Audited:
    """INPUT... → Analysis → AuditResult: options are checked before the (slow) read."""
    options = analysis_options(flags, setup.zones())
    return audit_loaded(read_inputs(spec, flags.lenient), setup, options, max_evidence, evidence_flows, budget,
                        with_policy_rules)


# -- the baseline view (gate, baseline) ----------------------------------------------------------

GZIP_SUFFIX = ".gz"


def current_baseline(audited: Audited, setup: AuditSetup, path: str = "") -> tuple[Any, Any]:
    """The baseline view of a fresh audit (without serialising the whole result), and a function
    giving the deciding rules of flows into protected zones. Flows come from the analysis, not
    from the result's flow list (which may be capped)."""
    from auditor.compare.baseline import Baseline, analysis_flows
    from auditor.compare.protected import protected_zones

    result = audited.result
    if result is None:
        raise UsageError("a baseline needs --controls")
    protected = protected_zones(list(setup.packs))
    light = {
        "tool_version": result.tool_version,
        "snapshot": result.snapshot,
        "packs": list(result.packs),
        "zones_file": result.zones_file,
        "waivers_file": result.waivers_file,
        "as_of": result.as_of,
        "summary": {"verdict": result.verdict},
        "waivers": [w.to_dict() for w in result.waivers],
        **{k: v for k, v in result.evidence.items() if k != "flows"},
    }
    base = Baseline.from_result(light, where=path, protected=protected, findings=result.findings)
    base.flows, explain = analysis_flows(audited.analysis, base.zones, protected)
    return base, explain


def write_baseline(base: Any, path: str) -> None:
    from auditor.canonical import atomic_write

    data = base.dumps()
    if path.endswith(GZIP_SUFFIX):
        import gzip

        data = gzip.compress(data, mtime=0)
    atomic_write(path, data)


def listed_evidence() -> int:
    """Violations listed per control in a result the gate writes reports from (the audit's
    default): the baseline and the comparison use every violation regardless."""
    from auditor.controls.result import DEFAULT_MAX_EVIDENCE

    return DEFAULT_MAX_EVIDENCE
