"""``mtls-required``: every workload in the zones has an Istio proxy and accepts only mTLS.

The proxy (IST-2), the PeerAuthentication mode per port (IST-6..8) and interception (IST-3)
come from the engine's Istio model (``Analysis.mesh_facts``); what it calls unknown is unknown.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from auditor.controls.assertions.base import (
    MESH_KINDS,
    POD_KINDS,
    AssertionKind,
    workload_units,
    zone_names,
)
from auditor.controls.assertions.context import MEMBERSHIP_UNKNOWN, Context, Outcome, entity_of
from auditor.controls.model import Assertion, Control
from auditor.controls.result import Violation
from auditor.controls.specs import SpecReader
from auditor.controls.zones import Unit
from auditor.portset import PortSet
from auditor.yamlfile import Reader


class MtlsRequired(AssertionKind):
    """Every workload in the zones has a sidecar and STRICT mTLS on every intercepted port."""

    name = "mtls-required"
    depends_on = (*POD_KINDS, *MESH_KINDS)

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones")
        return Assertion(kind=self.name, zones=p.zone_list(r, "zones", kind="selector"))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _mtls_required(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        return f"every workload in {', '.join(a.zones)} has a sidecar and STRICT mTLS"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("zones"))


# -- evaluation ------------------------------------------------------------------------------------


def _mtls_required(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    units = workload_units(ctx.zones, a.zones)
    by_entity: dict[str, list[Unit]] = {}
    for u in units:
        by_entity.setdefault(u.entity, []).append(u)
    for name, us in sorted(by_entity.items()):
        dz = ctx.zone_tuple(name)
        definite = all(u.definite for u in us)
        problems, unsure, ports = _mtls_problems(ctx, us)
        if problems and definite:
            out.violations.append(Violation(kind="endpoint", dst=name, dst_zones=dz, ports=ports.text(ctx.universe)
                                            if ports else "", reason="; ".join(problems), port_set=ports or None))
        elif problems or unsure:
            out.unknown.append(Violation(kind="endpoint", dst=name, dst_zones=dz,
                                         reason=unsure[0] if unsure else MEMBERSHIP_UNKNOWN))
    out.checked = {"workloads": len(by_entity)}
    return out


def _mtls_problems(ctx: Context, units: Sequence[Unit]) -> tuple[list[str], list[str], PortSet]:
    """(definite problems, reasons it is unknown, ports affected) for one workload's pods."""
    problems: dict[str, None] = {}
    unsure: dict[str, None] = {}
    ports = PortSet()
    for u in units:
        facts = ctx.analysis.mesh_facts(entity_of(u))
        if not facts:
            problems["no Istio proxy (no mesh in the input): traffic to it is never mTLS (IST-1)"] = None
            continue
        f = facts[0]
        why = f" ({f['why']})" if f.get("why") else ""
        if f.get("proxy") == "unknown":
            unsure[f"whether it has an Istio proxy is unknown{why} (IST-2)"] = None
            continue
        if f.get("proxy") == "no proxy":
            problems[f"no Istio proxy{why}: traffic to it is never mTLS (IST-1)"] = None
            continue
        for mode, summary in sorted(dict(f.get("mtls") or {}).items()):
            if mode == "STRICT":
                continue
            if mode == "unknown":
                unsure[f"the mTLS mode of {summary} is unknown (IST-7)"] = None
            else:
                problems[f"mTLS mode {mode} on {summary}: plaintext is accepted (IST-6)"] = None
                ports = ports.union(_summary_ports(summary))
        bypass = dict(f.get("protocols") or {}).get("not intercepted")
        if bypass:
            problems[f"{bypass} not intercepted by the proxy: plaintext is accepted (IST-3)"] = None
            ports = ports.union(_summary_ports(bypass))
    return list(problems), list(unsure), ports


def _summary_ports(summary: str) -> PortSet:
    """``TCP:80,8000-8100`` / ``all`` (a PortSpace summary) → PortSet (TCP only, as mTLS is)."""
    if summary in ("all", "TCP:all"):
        return PortSet.everything(["TCP"])
    out = PortSet()
    for part in summary.split():
        proto, _, ranges = part.partition(":")
        if proto != "TCP" or not ranges:
            continue
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            if lo.isdigit():
                out = out.union(PortSet.of({"TCP": [(int(lo), int(hi or lo))]}))
    return out
