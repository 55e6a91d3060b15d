"""Endpoint assertions about segmentation: ``isolated`` (default deny in place) and
``zone-coverage`` (every workload in exactly one zone)."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from auditor.controls.assertions.base import POD_KINDS, AssertionKind, workload_units, zone_names
from auditor.controls.assertions.context import MEMBERSHIP_UNKNOWN, Context, Outcome
from auditor.controls.model import Assertion, Control
from auditor.controls.result import Violation
from auditor.controls.specs import SpecReader, selector
from auditor.controls.zones import Unit
from auditor.policy.ir import Action
from auditor.portset import PortSet, universe
from auditor.reach.analysis import Analysis
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.yamlfile import Reader

DIRECTIONS = ("ingress", "egress")


class Isolated(AssertionKind):
    """Every workload in the zones is isolated (default deny) for each direction."""

    name = "isolated"

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "directions")
        zones = p.zone_list(r, "zones", kind="selector", why="isolation is a property of workloads")
        dirs = r.list("directions", required=False, allow_scalar=True, allow_empty=False) or list(DIRECTIONS)
        for i, d in enumerate(dirs):
            if d not in DIRECTIONS:
                path = (*r.path, "directions", i) if isinstance(r.value.get("directions"), list) else (*r.path, "directions")
                raise p.loc.error(path, f"unknown direction {d!r} (ingress, egress)")
        return Assertion(kind=self.name, zones=zones, directions=tuple(d for d in DIRECTIONS if d in dirs))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _isolated(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        return f"every workload in {', '.join(a.zones)} isolated for {' and '.join(a.directions)}"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        directions = spec.get("directions") or ["ingress", "egress"]
        return zone_names(spec.get("zones")) if "ingress" in directions else []


class ZoneCoverage(AssertionKind):
    """Every workload belongs to exactly one of the zones."""

    name = "zone-coverage"
    depends_on = POD_KINDS
    needs_members = False  # an empty zone is what it reports on, not a reason to give up

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "exclude")
        zones = p.zone_list(r, "zones", kind="selector", required=False, why="coverage counts workload zones only")
        if not zones:
            zones = tuple(z.name for z in p.zones.values() if not z.external)
        return Assertion(kind=self.name, zones=zones, exclude=selector(r, "exclude"))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _zone_coverage(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        return f"every workload in exactly one of: {', '.join(a.zones)}"


# -- evaluation ------------------------------------------------------------------------------------


def _explicit_rules(analysis: Analysis) -> np.ndarray:
    """Per rule id: a real Allow rule (not a default). Memoised per engine."""
    eng = analysis.engine
    hit = _EXPLICIT.get(eng)
    if hit is None or hit.size != len(eng.rules.actions):
        hit = _EXPLICIT[eng] = np.array([act == "Allow" and ref is not None
                                         for act, ref in zip(eng.rules.actions, eng.rules.refs, strict=True)], dtype=bool)
    return hit


_EXPLICIT: weakref.WeakKeyDictionary[Any, np.ndarray] = weakref.WeakKeyDictionary()


def isolation(analysis: Analysis, direction: str, cls: int) -> tuple[str, str, PortSet | None]:
    """Is class ``cls`` isolated for ``direction`` (default-deny in place)?

    ``("isolated" | "open" | "unknown", why, open ports)``. Isolated means every flow is decided by
    an explicit rule or an end-of-tier deny, never by "no policy applies" (K8S-2) or the
    profile after every tier passed (CAL-22). Sufficient condition, exact for Kubernetes
    policies: a certain applicable policy in a tier whose default action is Deny, and no Pass
    rule in that tier's applicable policies (CAL-21, CAL-24). Otherwise the engine's deciding
    rules per cell decide; any uncertainty left is ``unknown``.
    """
    res = analysis.egress if direction == "egress" else analysis.ingress
    eng = analysis.engine
    s = int(res.sigma_of[cls])
    certain, uncertain = res.sigma_policies[s], res.sigma_uncertain[s]
    universe_all = universe(analysis.ports)
    if not certain and not uncertain:
        return "open", f"not isolated for {direction}: no policy selects it (K8S-2)", universe_all
    tiers = analysis.policies.tiers
    by_tier: dict[str, list[int]] = {}
    for pi in (*certain, *uncertain):
        by_tier.setdefault(eng.policies[pi].tier, []).append(pi)
    for pi in certain:
        pol = eng.policies[pi]
        tier = tiers.get(pol.tier)
        if tier is None or tier.default_action != Action.DENY:
            continue
        if not any(r.action == Action.PASS for q in by_tier[pol.tier] for r in eng.policies[q].rules(direction)):
            refs = sorted({eng.policies[q].ref for q in certain if eng.policies[q].tier == pol.tier})
            return "isolated", f"isolated for {direction} by {', '.join(refs)} (tier {pol.tier}, end-of-tier deny)", None
    if not certain:
        refs = sorted(eng.policies[q].ref for q in uncertain)
        return "unknown", f"isolation for {direction} depends on policies that may or may not select it: {', '.join(refs)}", None
    n_groups = res.group_count(s)
    start = int(res.offset[s])
    v = res.verdict[start : start + n_groups]
    r = res.rule[start : start + n_groups]
    # An allowed cell not decided by a real Allow rule fell through: "no policy" (K8S-2), the
    # profile after the tiers passed (CAL-22; the engine may name the last Pass rule), or a
    # tier whose default action is Pass.
    explicit = _explicit_rules(analysis)
    fall = (v == ALLOW) & ~explicit[r]
    unsure = bool(uncertain) or bool((v == UNKNOWN).any())
    if not fall.any():
        if unsure:
            return "unknown", f"isolation for {direction} depends on Pass rules whose match is unknown (CAL-20)", None
        return "isolated", f"isolated for {direction}: every flow is decided by an explicit rule or a tier's deny", None
    if not unsure:
        open_ports = PortSet.from_atoms(analysis.ports, fall.any(axis=0))
        via = eng.rules.text[int(r[fall][0])]
        return ("open", f"not isolated for {direction}: some traffic passes every applicable tier and the profile "
                f"allows it (CAL-22), via {via}", open_ports)
    return "unknown", f"isolation for {direction} depends on Pass rules or policies whose match is unknown", None


def _isolated(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    units = workload_units(ctx.zones, a.zones)
    per: dict[tuple[str, str], list[tuple[Unit, str, str, PortSet | None]]] = {}
    for u in units:
        for d in a.directions:
            status, why, ports = isolation(ctx.analysis, d, u.cls)
            per.setdefault((u.entity, d), []).append((u, status, why, ports))
    for (name, _direction), items in sorted(per.items()):
        dz = ctx.zone_tuple(name)
        opened = [(u, why, p) for u, st, why, p in items if st == "open"]
        definite_open = [(u, why, p) for u, why, p in opened if u.definite]
        rule = ctx.analysis.engine.rules.text[ctx.analysis.engine.NO_POLICY]
        if definite_open:
            ports = PortSet()
            for _, _, p in definite_open:
                ports = ports.union(p or PortSet())
            out.violations.append(Violation(
                kind="endpoint", dst=name, ports=ports.text(ctx.universe), dst_zones=dz,
                reason=definite_open[0][1], decided_by=rule if "K8S-2" in definite_open[0][1]
                else ctx.analysis.engine.rules.text[ctx.analysis.engine.PROFILE], port_set=ports,
            ))
            continue
        unsure = [(u, why) for u, st, why, _ in items if st == "unknown"] + [(u, MEMBERSHIP_UNKNOWN) for u, _, _ in opened]
        if unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, dst_zones=dz, reason=unsure[0][1]))
    out.checked = {"workloads": len({u.entity for u in units}), "directions": len(a.directions)}
    return out


def _zone_coverage(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    zi = ctx.zones
    ex_d, ex_p = zi.selector_mask(a.exclude) if a.exclude is not None else (None, None)
    by_entity: dict[str, list[Unit]] = {}
    for u in zi.all_units(externals=False):
        by_entity.setdefault(u.entity, []).append(u)
    excluded = 0
    for name, units in sorted(by_entity.items()):
        zones_union: set[str] = set()
        problems: list[str] = []
        unsure: list[str] = []
        counted = False
        for u in units:
            if ex_d is not None and ex_d[u.cls]:
                continue
            if ex_p is not None and ex_p[u.cls]:
                unsure.append("whether it is excluded is unknown: " + MEMBERSHIP_UNKNOWN)
                continue
            counted = True
            d = [z for z in a.zones if zi.masks[z][0][u.cls]]
            p = [z for z in a.zones if zi.masks[z][1][u.cls]]
            if d != p:
                unsure.append(MEMBERSHIP_UNKNOWN)
                continue
            zones_union.update(d)
            if not d:
                problems.append(f"in no zone (zones: {', '.join(a.zones)})")
            elif len(d) > 1:
                problems.append(f"in {len(d)} zones: {', '.join(d)}")
        if not counted and not unsure:
            excluded += 1
            continue
        if len(zones_union) > 1 and not any(p.startswith("in ") and "zones:" in p for p in problems):
            problems.append(f"its pods are in different zones: {', '.join(sorted(zones_union))}")
        if problems:
            out.violations.append(Violation(kind="endpoint", dst=name, dst_zones=tuple(sorted(zones_union)),
                                            reason="; ".join(dict.fromkeys(problems))))
        elif unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, reason=unsure[0]))
    out.checked = {"workloads": len(by_entity) - excluded, "excluded": excluded}
    if ctx.analysis.inventory.excluded:
        out.notes.append(f"{len(ctx.analysis.inventory.excluded)} host-network or finished pods are not policy "
                         "endpoints and are not counted (K8S-13, FLOW-2)")
    return out
