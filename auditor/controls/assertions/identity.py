"""``identity-required``: every allowed flow into the zones carries identity assurance.

The engine's Istio model says, per allowed port atom, whether every admitting path passed an
Istio rule needing an mTLS-verified principal (``PairMatrix.identity``) and, for the two-factor
``network+identity``, an L3/L4 rule naming the peer (``PairMatrix.network``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from auditor.controls.assertions.base import (
    MESH_KINDS,
    NETWORK_KINDS,
    AssertionKind,
    Side,
    workload_units,
    zone_names,
)
from auditor.controls.assertions.context import FLOW_UNKNOWN, Context, FlowMatrix, Outcome
from auditor.controls.assertions.scan import pairs_checked, scan
from auditor.controls.model import Assertion, Control
from auditor.controls.specs import SpecReader
from auditor.controls.zones import ZoneIndex
from auditor.portset import PortSet
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.yamlfile import Reader

IDENTITY_FACTORS = ("identity", "network+identity")


class IdentityRequired(AssertionKind):
    """Every allowed flow into the zones needs a verified identity (and, two-factor, a named peer)."""

    name = "identity-required"
    depends_on = (*NETWORK_KINDS, *MESH_KINDS)

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "require")
        require = r.str("require", required=False, default="identity")
        if require not in IDENTITY_FACTORS:
            raise r.fail("require", f"unknown factor {require!r} ({', '.join(IDENTITY_FACTORS)})")
        return Assertion(kind=self.name, zones=p.zone_list(r, "zones", kind="selector"), require=require or "identity")

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _identity_required(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        return f"every allowed flow into {', '.join(a.zones)} carries a verified identity"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("zones"))

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return [("all", workload_units(zi, a.zones))]


def _identity_required(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome()
    dst = workload_units(ctx.zones, a.zones)
    src = ctx.zones.all_units()
    fm = FlowMatrix(ctx, src, dst)
    two_factor = a.require == "network+identity"
    space = ctx.space
    lack_why = ("allowed without a verified mTLS identity on every admitting path"
                + (" or without an L3/L4 rule naming the peer" if two_factor else ""))

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        identity, network = fm.identity, fm.network
        assert identity is not None and network is not None
        v = fm.verdict[row]
        lacking = (v == ALLOW) & ~identity[row]
        if two_factor:
            lacking |= (v == ALLOW) & ~network[row]
        return (PortSet.from_atoms(space, lacking), lack_why, PortSet.from_atoms(space, v == UNKNOWN),
                FLOW_UNKNOWN)

    out.violations, out.unknown = scan(ctx, fm, judge)
    out.checked = pairs_checked(src, dst)
    return out
