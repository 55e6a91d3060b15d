"""Retention: ``history prune`` and the holds of open period reports.

An **open period report** is a row of ``period_reports`` with ``hold`` true: written by
``auditor period-report`` (unless ``--no-hold``) and open until ``history release ID`` (after
sign-off). Prune never deletes a run of that report's cluster (any cluster, for a ``--all``
report) captured inside its [since, until] range, unless ``--force``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from auditor.errors import AuditorError
from auditor.history.store import RUN_TABLES, PeriodReport, Run, Store


@dataclass(frozen=True)
class Hold:
    id: int
    cluster: str | None
    since: str
    until: str
    written_at: str

    def covers(self, cluster: str, captured_at: str) -> bool:
        return (self.cluster is None or self.cluster == cluster) and self.since <= captured_at <= self.until


@dataclass(frozen=True)
class Pruned:
    deleted: tuple[int, ...]
    held: tuple[int, ...]  # old runs kept because an open period report covers them
    holds: tuple[Hold, ...]  # the reports that kept them


def open_holds(store: Store) -> list[Hold]:
    with store.session("cannot read the history") as s:
        return [Hold(p.id, p.cluster, p.since, p.until, p.written_at) for p in s.execute(
            select(PeriodReport).where(PeriodReport.hold.is_(True)).order_by(PeriodReport.id)).scalars()]


def add_hold(store: Store, cluster: str | None, since: str, until: str, note: str, hold: bool = True) -> int:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with store.session("cannot record the period report") as s:
        row = PeriodReport(cluster=cluster, since=since, until=until, written_at=now, hold=hold, note=note)
        s.add(row)
        s.flush()
        return row.id


def release(store: Store, report_id: int) -> None:
    with store.session("cannot release the period report") as s:
        done = s.execute(update(PeriodReport).where(PeriodReport.id == report_id, PeriodReport.hold.is_(True))
                         .values(hold=False))
        if not done.rowcount:
            raise AuditorError(f"no open period report #{report_id} (see auditor history holds)", where=store.label)


def prune(store: Store, cutoff: str, *, force: bool = False, dry_run: bool = False) -> Pruned:
    """Delete runs captured before ``cutoff``, in one transaction (all or none)."""
    holds = [] if force else open_holds(store)
    with store.session("cannot prune the history (nothing was deleted)") as s:
        old = list(s.execute(select(Run.id, Run.cluster, Run.captured_at).where(Run.captured_at < cutoff)
                             .order_by(Run.id)))
        held = [r.id for r in old if any(h.covers(r.cluster, r.captured_at) for h in holds)]
        keep = set(held)
        doomed = [r.id for r in old if r.id not in keep]
        if doomed and not dry_run:
            for start in range(0, len(doomed), 500):
                chunk = doomed[start:start + 500]
                for table in RUN_TABLES:
                    s.execute(delete(table).where(table.run_id.in_(chunk)))
                s.execute(delete(Run).where(Run.id.in_(chunk)))
    used = tuple(h for h in holds if any(h.covers(r.cluster, r.captured_at) for r in old if r.id in keep))
    return Pruned(tuple(doomed), tuple(held), used)
