"""``zone-empty``: the zones have no members (e.g. a quarantine zone, or a retired tier).

Each workload definitely in a zone is a violation (endpoint evidence); one only *possibly* in it
(its namespace or service account is not in the input) is unknown. Unreadable Pods, Namespaces,
ServiceAccounts or workloads make the control unknown (``depends_on``), never pass.
"""

from __future__ import annotations

from auditor.controls.assertions.base import POD_KINDS, AssertionKind
from auditor.controls.assertions.context import MEMBERSHIP_UNKNOWN, Context, Outcome
from auditor.controls.model import Assertion, Control
from auditor.controls.result import Violation
from auditor.controls.specs import SpecReader
from auditor.yamlfile import Reader


class ZoneEmpty(AssertionKind):
    """No workload is in any of the zones."""

    name = "zone-empty"
    depends_on = POD_KINDS
    needs_members = False  # an empty zone is the claim, not a reason to give up

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones")
        return Assertion(kind=self.name, zones=p.zone_list(r, "zones", kind="selector",
                                                            why="only workload zones have members"))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        out = Outcome()
        definite: dict[str, list[str]] = {}
        possible: dict[str, list[str]] = {}
        for zone in control.assertion.zones:
            d, p = ctx.zones.members(zone)
            for name in d:
                definite.setdefault(name, []).append(zone)
            for name in p:
                possible.setdefault(name, []).append(zone)
        for name, zones in sorted(definite.items()):
            out.violations.append(Violation(
                kind="endpoint", dst=name, dst_zones=ctx.zone_tuple(name),
                reason=f"a member of {', '.join(zones)}: the zone must have no members"))
        for name, zones in sorted(possible.items()):
            if name not in definite:
                out.unknown.append(Violation(kind="endpoint", dst=name, dst_zones=ctx.zone_tuple(name),
                                             reason=f"whether it is in {', '.join(zones)} is unknown: {MEMBERSHIP_UNKNOWN}"))
        out.checked = {"workloads": sum(1 for e in ctx.zones.entities if e.kind != "external")}
        if ctx.analysis.inventory.excluded:
            out.notes.append(f"{len(ctx.analysis.inventory.excluded)} host-network or finished pods are not policy "
                             "endpoints and are not counted (K8S-13, FLOW-2)")
        return out

    def describe(self, ctx: Context, a: Assertion) -> str:
        return f"no workload in {', '.join(a.zones)}"
