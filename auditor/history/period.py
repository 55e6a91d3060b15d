"""Period-of-review analysis: per-control statistics, failure windows, coverage gaps, scope over
time and the trend per framework, from the runs of a history store.

Definitions (docs/history.md repeats them for auditors):

- A run's evidence **covers** the time from its capture until the next run, at most twice the
  expected interval (``--every``), and never past ``--until``; the last run before ``--since``
  covers the start of the period the same way. Time no run covers is an **evidence gap**: it
  is listed, and never counted as held.
- **held_share**: the share of the period covered by runs in which the control passed or was
  waived. Unknown and fail never hold.
- A **failure window** opens at the first failing run and closes at the first run after it in
  which the control passes (or is waived); unknown runs in between keep it open (the failure
  was not shown to end). A window still open at ``--until`` has no close; its duration runs to
  ``--until``. Windows are computed over the cluster's whole history up to ``--until``, so a
  window opened before ``--since`` shows its true opening.
- **Scope**: zone member counts per run; workloads (and namespaces) that entered a protected
  zone, compared with the previous run of the same cluster.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import zlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from sqlalchemy import select

from auditor.errors import AuditorError
from auditor.history.store import ControlResult, Run, RunPack, Store, ZoneCount

HELD = ("pass", "waived")
_STAMP = "%Y-%m-%dT%H:%M:%SZ"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DRIFT_LINES = 8  # policy/workload changes quoted per window edge
VIOLATION_LINES = 5


# -- parsing the period ------------------------------------------------------------------------


def parse_time(value: str, option: str, end_of_day: bool = False) -> dt.datetime:
    """``2026-01-31`` or ``2026-01-31T02:00:00Z`` (UTC); a bare date given to ``--until`` means
    the end of that day."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            t = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
            return t + dt.timedelta(days=1, seconds=-1) if end_of_day else t
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise AuditorError(f"{option} {value!r}: expected a date YYYY-MM-DD or a UTC time "
                           "YYYY-MM-DDTHH:MM:SSZ") from None
    if t.tzinfo is None:
        raise AuditorError(f"{option} {value!r}: give the time in UTC with a trailing Z")
    return t.astimezone(dt.UTC)


def parse_every(value: str) -> dt.timedelta:
    """``24h``, ``1d``, ``90m``, ``1w``: the expected interval between runs."""
    m = _DURATION.match(value or "")
    if not m or float(m.group(1)) <= 0:
        raise AuditorError(f"--every {value!r}: expected a duration such as 24h, 1d, 12h or 30m")
    return dt.timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime(_STAMP)


def when(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, _STAMP).replace(tzinfo=dt.UTC)


def hours(delta: dt.timedelta) -> float:
    return round(delta.total_seconds() / 3600, 2)


@dataclass(frozen=True)
class Period:
    since: dt.datetime
    until: dt.datetime
    every: dt.timedelta

    def __post_init__(self) -> None:
        if self.until <= self.since:
            raise AuditorError(f"--until {stamp(self.until)} is not after --since {stamp(self.since)}")

    @property
    def length(self) -> dt.timedelta:
        return self.until - self.since


# -- what is read from the store ---------------------------------------------------------------------


@dataclass(frozen=True)
class RunInfo:
    id: int
    cluster: str
    captured_at: str
    declared: bool
    verdict: str
    tool_version: str
    snapshot_digest: str
    signed: bool = False  # an attestation is recorded for the run (revision 0003)

    @property
    def time(self) -> dt.datetime:
        return when(self.captured_at)


@dataclass(frozen=True)
class ControlKey:
    pack: str
    control: str

    @property
    def label(self) -> str:
        return f"{self.pack}/{self.control}"


@dataclass(frozen=True)
class ControlInfo:
    title: str
    severity: str
    references: tuple[str, ...]
    framework: str


# -- what the analysis finds ------------------------------------------------------------------------


@dataclass(frozen=True)
class ControlStats:
    cluster: str
    key: ControlKey
    info: ControlInfo
    scans: int
    passed: int
    failed: int
    unknown: int
    waived: int
    held_share: float
    windows: int
    signed: int = 0  # scans whose run has an attestation recorded


@dataclass(frozen=True)
class Window:
    cluster: str
    key: ControlKey
    opened: str
    closed: str | None
    duration_hours: float
    opening_run: int
    closing_run: int | None
    violations_at_open: int
    opened_by: tuple[str, ...] = ()  # the violations that opened it, in words
    drift_opened: tuple[str, ...] = ()  # policy / zone changes just before it opened
    drift_closed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gap:
    cluster: str
    start: str
    end: str
    hours: float
    after_run: int | None  # None: from --since
    before_run: int | None  # None: to --until


@dataclass(frozen=True)
class ZonePoint:
    run: int
    captured_at: str
    members: int
    possible: int


@dataclass(frozen=True)
class ZoneSeries:
    cluster: str
    pack: str
    zone: str
    protected: bool
    points: tuple[ZonePoint, ...]


@dataclass(frozen=True)
class Entry:
    cluster: str
    captured_at: str
    run: int
    pack: str
    zone: str
    workload: str
    new_namespace: bool


@dataclass(frozen=True)
class TrendPoint:
    run: int
    captured_at: str
    held: int
    total: int


@dataclass(frozen=True)
class ClusterPeriod:
    cluster: str
    runs: tuple[RunInfo, ...]  # in the period
    declared_runs: int
    stats: tuple[ControlStats, ...]
    windows: tuple[Window, ...]
    gaps: tuple[Gap, ...]
    coverage_share: float
    zones: tuple[ZoneSeries, ...]
    entries: tuple[Entry, ...]
    trends: Mapping[str, tuple[TrendPoint, ...]] = field(default_factory=dict)  # framework → points

    @property
    def signed_runs(self) -> int:
        """Runs in the period with an attestation recorded (signed evidence)."""
        return sum(1 for r in self.runs if r.signed)

    @property
    def held_share(self) -> float:
        """Share of the period in which every control held (the weakest control's share)."""
        return min((s.held_share for s in self.stats), default=0.0)


@dataclass(frozen=True)
class PeriodResult:
    period: Period
    scope: str  # a cluster name, or "all clusters"
    clusters: tuple[ClusterPeriod, ...]
    tool_version: str
    store: str


# -- the analysis ------------------------------------------------------------------------------------


def clusters_in(store: Store) -> list[str]:
    with store.session("cannot read the history") as s:
        return sorted(r for (r,) in s.execute(select(Run.cluster).distinct()))


def analyse(store: Store, period: Period, cluster: str | None, *, tool_version: str,
            documents: Callable[[int], bytes] | None = None) -> PeriodResult:
    """The period result for one cluster (``cluster``) or every cluster (None). No run in the
    period is an error: a period without evidence is never reported as held."""
    names = [cluster] if cluster is not None else clusters_in(store)
    until = stamp(period.until)
    out = []
    for name in names:
        with store.session("cannot read the history") as s:
            runs = [RunInfo(r.id, r.cluster, r.captured_at, bool(r.captured_at_declared), r.verdict, r.tool_version,
                            r.snapshot_digest, r.attestation_digest is not None)
                    for r in s.execute(select(Run).where(Run.cluster == name, Run.captured_at <= until)
                                       .order_by(Run.captured_at, Run.id)).scalars()]
            if not any(r.time >= period.since for r in runs):
                continue
            frameworks = {(p.run_id, p.pack): p.framework for p in s.execute(
                select(RunPack.run_id, RunPack.pack, RunPack.framework).join(Run, Run.id == RunPack.run_id)
                .where(Run.cluster == name, Run.captured_at <= until))}
            controls = list(s.execute(
                select(ControlResult.run_id, ControlResult.pack, ControlResult.control, ControlResult.verdict,
                       ControlResult.violations, ControlResult.waived, ControlResult.unknown, ControlResult.title,
                       ControlResult.severity, ControlResult.refs)
                .join(Run, Run.id == ControlResult.run_id).where(Run.cluster == name, Run.captured_at <= until)
                .order_by(Run.captured_at, Run.id, ControlResult.pack, ControlResult.control)))  # latest title last
            first = next(i for i, r in enumerate(runs) if r.time >= period.since)
            zone_ids = {r.id for r in runs[max(first - 1, 0):]}
            zones = [z for z in s.execute(
                select(ZoneCount.run_id, ZoneCount.pack, ZoneCount.zone, ZoneCount.protected, ZoneCount.members,
                       ZoneCount.possible, ZoneCount.members_digest, ZoneCount.member_list)
                .join(Run, Run.id == ZoneCount.run_id)
                .where(Run.cluster == name, Run.captured_at <= until,
                       Run.captured_at >= runs[max(first - 1, 0)].captured_at))
                if z.run_id in zone_ids]
        out.append(_cluster_period(name, runs, first, controls, frameworks, zones, period, documents))
    if not out:
        who = f"cluster {cluster!r}" if cluster is not None else "any cluster"
        raise AuditorError(f"no runs of {who} between {stamp(period.since)} and {until} in the history: "
                           "there is no evidence for this period", where=store.label)
    return PeriodResult(period=period, scope=cluster if cluster is not None else "all clusters",
                        clusters=tuple(out), tool_version=tool_version, store=store.label)


def _cluster_period(name: str, runs: list[RunInfo], first: int, controls: Sequence[Any],
                    frameworks: Mapping[tuple[int, str], str], zones: Sequence[Any], period: Period,
                    documents: Callable[[int], bytes] | None) -> ClusterPeriod:
    index = {r.id: i for i, r in enumerate(runs)}
    inside = runs[first:]
    prev = runs[first - 1] if first > 0 else None
    cover = _coverage(runs, first, period)  # run id → covered time inside the period
    gaps = _gaps(name, inside, prev, period)
    covered = sum(cover.values(), dt.timedelta())
    by_control: dict[ControlKey, list[tuple[int, Any]]] = defaultdict(list)
    infos: dict[ControlKey, ControlInfo] = {}
    for c in controls:
        key = ControlKey(c.pack, c.control)
        by_control[key].append((index[c.run_id], c))
        infos[key] = ControlInfo(c.title, c.severity, tuple(x for x in c.refs.split("\n") if x),
                                 frameworks.get((c.run_id, c.pack), "") or c.pack)
    cache: dict[int, Any] = {}

    def doc(run_id: int) -> Any:
        """A stored result as a drift side (flows left out: only policies, zones and findings
        are compared), built once per run."""
        if documents is None:
            return None
        if run_id not in cache:
            cache[run_id] = _side(run_id, orjson.loads(documents(run_id)))
        return cache[run_id]

    signed = {r.id: r.signed for r in runs}
    stats, windows = [], []
    for key in sorted(by_control, key=lambda k: (k.pack, k.control)):
        rows = sorted(by_control[key], key=lambda x: x[0])
        found = _windows(name, key, rows, runs, period)
        in_rows = [c for i, c in rows if i >= first]
        if not in_rows:
            continue
        counts = {v: sum(1 for c in in_rows if c.verdict == v) for v in ("pass", "fail", "unknown", "waived")}
        held = sum((cover.get(c.run_id, dt.timedelta()) for c in in_rows if c.verdict in HELD), dt.timedelta())
        if prev is not None:
            before = [c for i, c in rows if runs[i].id == prev.id]
            if before and before[0].verdict in HELD:
                held += cover.get(prev.id, dt.timedelta())
        stats.append(ControlStats(name, key, infos[key], scans=len(in_rows), passed=counts["pass"],
                                  failed=counts["fail"], unknown=counts["unknown"], waived=counts["waived"],
                                  held_share=round(held / period.length, 4), windows=len(found),
                                  signed=sum(1 for c in in_rows if signed[c.run_id])))
        windows += [_explain(w, runs, index, doc) for w in found]
    series, entries = _scope(name, runs, first, zones)
    trends = _trends(inside, controls, frameworks)
    return ClusterPeriod(cluster=name, runs=tuple(inside), declared_runs=sum(1 for r in inside if r.declared),
                         stats=tuple(stats), windows=tuple(windows), gaps=tuple(gaps),
                         coverage_share=round(covered / period.length, 4), zones=series, entries=entries,
                         trends=trends)


def _coverage(runs: Sequence[RunInfo], first: int, period: Period) -> dict[int, dt.timedelta]:
    """Time of the period each run's evidence covers (see the module docstring)."""
    out: dict[int, dt.timedelta] = {}
    cap = 2 * period.every
    for i in range(max(first - 1, 0), len(runs)):
        t = runs[i].time
        nxt = runs[i + 1].time if i + 1 < len(runs) else period.until
        start, end = max(t, period.since), min(nxt, t + cap, period.until)
        if end > start:
            out[runs[i].id] = end - start
    return out


def _gaps(name: str, inside: Sequence[RunInfo], prev: RunInfo | None, period: Period) -> list[Gap]:
    """Stretches longer than twice the interval without a run (from ``--since``, or the last run
    before it, to the first run; between runs; from the last run to ``--until``)."""
    cap = 2 * period.every
    points: list[tuple[dt.datetime, int | None]] = []
    if prev is not None and period.since - prev.time < cap:
        points.append((prev.time, prev.id))
    else:
        points.append((period.since, None))
    points += [(r.time, r.id) for r in inside]
    points.append((period.until, None))
    out = []
    for (a, ra), (b, rb) in itertools.pairwise(points):
        if b - a > cap:
            out.append(Gap(name, stamp(max(a, period.since)), stamp(b), hours(b - max(a, period.since)), ra, rb))
    return out


def _windows(name: str, key: ControlKey, rows: Sequence[tuple[int, Any]], runs: Sequence[RunInfo],
             period: Period) -> list[Window]:
    out = []
    start: tuple[int, Any] | None = None
    for i, c in rows:
        if start is None and c.verdict == "fail":
            start = (i, c)
        elif start is not None and c.verdict in HELD:
            opened, closed = runs[start[0]], runs[i]
            if closed.time >= period.since:
                out.append(Window(name, key, opened.captured_at, closed.captured_at,
                                  hours(closed.time - opened.time), opened.id, closed.id, start[1].violations))
            start = None
    if start is not None:
        opened = runs[start[0]]
        out.append(Window(name, key, opened.captured_at, None, hours(period.until - opened.time), opened.id, None,
                          start[1].violations))
    return out


def _explain(w: Window, runs: Sequence[RunInfo], index: Mapping[int, int], doc: Callable[[int], Any]) -> Window:
    """The violations that opened the window and the drift (in words) at both of its edges."""
    opening = doc(w.opening_run)
    if opening is None:
        return w
    opened_by = _violations(opening, w.key)
    i = index[w.opening_run]
    drift_open = _drift(doc(runs[i - 1].id), opening) if i > 0 else ("no earlier run to compare with",)
    drift_close: tuple[str, ...] = ()
    if w.closing_run is not None:
        j = index[w.closing_run]
        drift_close = _drift(doc(runs[j - 1].id), doc(w.closing_run))
    return replace(w, opened_by=opened_by, drift_opened=drift_open, drift_closed=drift_close)


def _side(run_id: int, doc: Mapping[str, Any]) -> Any:
    from auditor.compare.drift import side_from_result

    return side_from_result(f"run {run_id}", {k: v for k, v in doc.items() if k != "flows"})


def _violations(side: Any, key: ControlKey) -> tuple[str, ...]:
    """The first open violations of the control in a stored result, in words."""
    f = (side.findings or {}).get((key.pack, key.control))
    if f is None:
        return ()
    lines = []
    for v in f.get("violations", []):
        if v.get("waived_by"):
            continue
        subject = f"{v['src']} → {v['dst']}" if v.get("src") else str(v.get("dst"))
        ports = f" [{v['ports']}]" if v.get("ports") else ""
        lines.append(f"{subject}{ports}: {v.get('reason', '')}")
        if len(lines) == VIOLATION_LINES:
            break
    more = int((f.get("counts") or {}).get("violations") or 0) - len(lines)
    if more > 0:
        lines.append(f"… and {more} more")
    return tuple(lines)


def _drift(a: Any, b: Any) -> tuple[str, ...]:
    """Policy changes (``auditor.policy.summary`` words, via ``auditor.compare.drift``) and zone
    membership changes between two stored results (drift sides)."""
    from auditor.compare.drift import compare_policies, compare_workloads

    lines: list[str] = []
    if a.policies is not None and b.policies is not None:
        # only the policies whose summaries differ are put into words (equal dicts compare in C)
        changed = {k for k in a.policies.keys() | b.policies.keys() if a.policies.get(k) != b.policies.get(k)}
        a = replace(a, policies={k: v for k, v in a.policies.items() if k in changed})
        b = replace(b, policies={k: v for k, v in b.policies.items() if k in changed})
        for p in compare_policies(a, b):
            lines.append(f"{p.change} {p.ref}" + (f": {'; '.join(p.details)}" if p.details else ""))
    if a.zones is not None and b.zones is not None and a.findings is not None and b.findings is not None:
        for w in compare_workloads(a, b):
            if w.change in ("entered", "left", "moved", "lost-zone"):
                lines.append(f"workload {w.workload} {w.change}" + (f" ({w.detail})" if w.detail else ""))
    if not lines:
        return ("no policy or zone change (the change came from elsewhere: pods, labels, packs or waivers)",)
    if len(lines) > DRIFT_LINES:
        lines = [*lines[:DRIFT_LINES], f"… and {len(lines) - DRIFT_LINES} more changes"]
    return tuple(lines)


def _scope(name: str, runs: Sequence[RunInfo], first: int, zones: Sequence[Any]
           ) -> tuple[tuple[ZoneSeries, ...], tuple[Entry, ...]]:
    by_zone: dict[tuple[str, str], list[Any]] = defaultdict(list)
    index = {r.id: i for i, r in enumerate(runs)}
    for z in zones:
        by_zone[(z.pack, z.zone)].append(z)
    series, entries = [], []
    for (pack, zone), rows in sorted(by_zone.items()):
        rows.sort(key=lambda z: index[z.run_id])
        points = tuple(ZonePoint(z.run_id, runs[index[z.run_id]].captured_at, z.members, z.possible)
                       for z in rows if index[z.run_id] >= first)
        protected = any(z.protected for z in rows)
        series.append(ZoneSeries(name, pack, zone, protected, points))
        if not protected:
            continue
        before: set[str] | None = None
        digest = None
        for z in rows:
            if z.members_digest != digest:
                members = set(orjson.loads(zlib.decompress(z.member_list)))
                if before is not None and index[z.run_id] >= first:
                    spaces = {m.split("/", 1)[0] for m in before}
                    for m in sorted(members - before):
                        entries.append(Entry(name, runs[index[z.run_id]].captured_at, z.run_id, pack, zone, m,
                                             m.split("/", 1)[0] not in spaces))
                before, digest = members, z.members_digest
    entries.sort(key=lambda e: (e.captured_at, e.pack, e.zone, e.workload))
    return tuple(series), tuple(entries)


def _trends(inside: Sequence[RunInfo], controls: Sequence[Any], frameworks: Mapping[tuple[int, str], str]
            ) -> dict[str, tuple[TrendPoint, ...]]:
    ids = {r.id: r for r in inside}
    tally: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for c in controls:
        if c.run_id in ids:
            cell = tally[frameworks.get((c.run_id, c.pack), "") or c.pack][c.run_id]
            cell[0] += c.verdict in HELD
            cell[1] += 1
    return {fw: tuple(TrendPoint(rid, ids[rid].captured_at, h, t)
                      for rid, (h, t) in sorted(by_run.items(), key=lambda x: (ids[x[0]].captured_at, x[0])))
            for fw, by_run in sorted(tally.items())}
