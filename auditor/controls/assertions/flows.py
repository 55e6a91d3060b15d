"""Flow assertions: ``no-flow``, ``allow-only``, ``must-allow``, ``egress-restricted``.

Each judges the engine's verdicts between units (``scan``): an allowed port the control forbids
is a violation, an unknown verdict (or a unit only possibly in its zone) an unknown flow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from auditor.controls.assertions.base import (
    MESH_KINDS,
    NETWORK_KINDS,
    AssertionKind,
    Side,
    peers_text,
    zone_names,
)
from auditor.controls.assertions.context import (
    FLOW_UNKNOWN,
    MEMBERSHIP_UNKNOWN,
    Context,
    FlowMatrix,
    Outcome,
)
from auditor.controls.assertions.scan import pairs_checked, scan
from auditor.controls.model import ANY_EXTERNAL, Assertion, Control, FlowSpec, Peer, Zone
from auditor.controls.result import Violation
from auditor.controls.specs import SpecReader, cidr
from auditor.controls.zones import ZoneIndex
from auditor.portset import PortSet
from auditor.reach.engine import ALLOW, DENY, UNKNOWN
from auditor.yamlfile import Path, Reader

MAX_ALLOWANCES = 60
_NETWORK_SET = re.compile(r"^(GlobalNetworkSet/[^/]+|[^/]+/NetworkSet/[^/]+)$")


class NoFlow(AssertionKind):
    """No flow from ``from`` to ``to`` (on ``ports``)."""

    name = "no-flow"

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "from", "to", "ports", "requests")
        return Assertion(kind=self.name, src=p.peers(r, "from"), dst=p.peers(r, "to"), ports=p.ports(r),
                         requests=p.requests(r))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _no_flow(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        ports = f" on {a.ports.text(ctx.universe)}" if a.ports is not None else ""
        return f"no flow from {peers_text(a.src)} to {peers_text(a.dst)}{ports}"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("to"))

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return [(zi.units(a.src), zi.units(a.dst))]


class AllowOnly(AssertionKind):
    """Every flow into (``to``) or out of (``from``) the zones is covered by an allowance."""

    name = "allow-only"

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "to", "from", "allow")
        if r.has("to") == r.has("from"):
            raise r.fail(None, "give exactly one of 'to' (traffic into these zones) or 'from' (traffic out of them)")
        inbound = r.has("to")
        protected = p.peers(r, "to" if inbound else "from")
        allow = []
        for i, item in enumerate(r.list("allow", required=True)):
            ar = Reader(p.loc, (*r.path, "allow", i), item, "a mapping {from, to, ports, requests}")
            ar.only("from", "to", "ports", "requests")
            allow.append(FlowSpec(src=p.peers(ar, "from", required=inbound),
                                  dst=p.peers(ar, "to", required=not inbound),
                                  ports=p.ports(ar), requests=p.requests(ar)))
        if len(allow) > MAX_ALLOWANCES:
            raise r.fail("allow", f"at most {MAX_ALLOWANCES} allowances per control (got {len(allow)}): split it")
        if inbound:
            return Assertion(kind=self.name, dst=protected, allow=tuple(allow))
        return Assertion(kind=self.name, src=protected, allow=tuple(allow))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _allow_only(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        allowed = "; ".join(e.text() for e in a.allow) or "nothing"
        if a.dst:
            return f"flows into {peers_text(a.dst)} only: {allowed}"
        return f"flows out of {peers_text(a.src)} only: {allowed}"

    def protects(self, spec: Mapping[str, Any]) -> list[str]:
        return zone_names(spec.get("to"))

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        if a.dst:
            return [("all", zi.units(a.dst))]
        return [(zi.units(a.src), "all")]


class MustAllow(AssertionKind):
    """The listed flows are allowed on every required port."""

    name = "must-allow"
    depends_on = (*NETWORK_KINDS, *MESH_KINDS)

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "flows")
        flows = []
        for i, item in enumerate(r.list("flows", allow_empty=False)):
            fr = Reader(p.loc, (*r.path, "flows", i), item, "a mapping {from, to, ports, requests}")
            fr.only("from", "to", "ports", "requests")
            flows.append(FlowSpec(src=p.peers(fr, "from"), dst=p.peers(fr, "to"),
                                  ports=p.ports(fr, required=True), requests=p.requests(fr)))
        return Assertion(kind=self.name, flows=tuple(flows))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _must_allow(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        return "required flows allowed: " + "; ".join(f.text() for f in a.flows)

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return [(zi.units(f.src), zi.units(f.dst)) for f in a.flows]


class EgressRestricted(AssertionKind):
    """The zones reach external networks only through the listed ones."""

    name = "egress-restricted"

    def parse(self, p: SpecReader, r: Reader) -> Assertion:
        r.only("kind", "zones", "allow")
        zones = p.zone_list(r, "zones", kind="selector", why="egress is restricted for workloads")
        allow = []
        for i, item in enumerate(r.list("allow", required=True)):
            path = (*r.path, "allow", i)
            if isinstance(item, str):
                allow.append(FlowSpec(dst=(_external(p, path, item),)))
                continue
            ar = Reader(p.loc, path, item, "a zone name, a CIDR, or a mapping {to, ports}")
            ar.only("to", "ports")
            target = ar.value.get("to")
            if target is None:
                raise ar.fail(None, "missing required field 'to'")
            allow.append(FlowSpec(dst=(_external(p, (*path, "to"), target),), ports=p.ports(ar)))
        return Assertion(kind=self.name, zones=zones, allow=tuple(allow))

    def evaluate(self, ctx: Context, control: Control) -> Outcome:
        return _egress_restricted(ctx, control)

    def describe(self, ctx: Context, a: Assertion) -> str:
        allow = ", ".join(f.dst[0].text() for f in a.allow) or "none"
        return f"{', '.join(a.zones)} reaches external networks only via: {allow}"

    def scope(self, zi: ZoneIndex, a: Assertion) -> list[tuple[Side, Side]]:
        return [(zi.zone_units(a.zones), "external")]


def _external(p: SpecReader, path: Path, value: Any) -> Peer:
    """A CIDR zone name, a CIDR (which becomes an external network of its own), or a Calico
    network set by name (``GlobalNetworkSet/NAME``, ``NAMESPACE/NetworkSet/NAME``, globs allowed)."""
    if isinstance(value, str) and _NETWORK_SET.match(value.strip()):
        return Peer(zone=ANY_EXTERNAL, workload=value.strip())
    if isinstance(value, str) and "/" in value and value.strip() not in p.zones:
        net = cidr(p.loc, path, value)
        name = str(net)
        p.zones.setdefault(name, Zone(name=name, kind="cidr", cidrs=(net,),
                                      description="CIDR named in an egress-restricted allow list",
                                      defined_in=p.loc.file, optional=True, synthetic=True))
        return Peer(zone=name)
    return Peer(zone=p.zone(path, value, kind="cidr",
                            why="egress-restricted allows external (cidrs) zones, CIDRs or network sets"))


# -- evaluation ------------------------------------------------------------------------------------


def _no_flow(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([a.ports]))
    src, dst = ctx.zones.units(a.src), ctx.zones.units(a.dst)
    scope = a.ports if a.ports is not None else ctx.universe
    fm = FlowMatrix(ctx, src, dst)
    why = "allowed, but the control forbids any flow from " + peers_text(a.src) + " to " + peers_text(a.dst)
    if a.requests:
        why += " (no request-level restriction applies at L3/L4: every HTTP request is allowed)"

    cache: dict[int, tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        hit = cache.get(row)
        if hit is None:
            allowed, unknown = fm.sets(row)
            hit = cache[row] = (allowed.intersect(scope), why, unknown.intersect(scope), FLOW_UNKNOWN)
        return hit

    out.violations, out.unknown = scan(ctx, fm, judge)
    out.checked = pairs_checked(src, dst)
    return out


def _allow_only(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([e.ports for e in a.allow]))
    if a.dst:  # traffic into the protected zones, from anywhere
        src, dst = ctx.zones.all_units(), ctx.zones.units(a.dst)
    else:  # traffic out of the protected zones, to anywhere
        src, dst = ctx.zones.units(a.src), ctx.zones.all_units()
    fm = FlowMatrix(ctx, src, dst)
    entries = []
    for e in a.allow:
        sd, sp = ctx.zones.peer_masks(e.src, src)
        dd, dp = ctx.zones.peer_masks(e.dst, dst)
        entries.append((sd, sp, dd, dp, e.ports if e.ports is not None else ctx.universe, bool(e.requests), e))
    cache: dict[tuple[int, tuple[int, ...], tuple[int, ...]], tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        d_idx = tuple(k for k, en in enumerate(entries) if en[0][i] and en[2][j])
        p_idx = tuple(k for k, en in enumerate(entries) if en[1][i] and en[3][j])
        key = (row, d_idx, p_idx)
        hit = cache.get(key)
        if hit is not None:
            return hit
        allowed, unknown = fm.sets(row)

        def union(idx: tuple[int, ...], requests: bool) -> PortSet:
            s = PortSet()
            for k in idx:
                if entries[k][5] == requests:
                    s = s.union(entries[k][4])
            return s

        def_full, pos_full = union(d_idx, False), union(p_idx, False)
        pos_req = union(p_idx, True)
        viol = allowed.minus(pos_full)
        unk = allowed.intersect(pos_full).minus(def_full).union(unknown.minus(def_full))
        why = "allowed, but not in the control's allow list"
        req_part = viol.intersect(pos_req)
        if req_part:
            reqs = " | ".join(r.text() for k in p_idx if entries[k][5] for r in entries[k][6].requests)
            if ctx.l7_present:
                viol = viol.minus(req_part)
                unk = unk.union(req_part)
            else:
                why = (f"allowed for every HTTP request (no request-level policy in the input); "
                       f"the control permits only {reqs}")
        hit = cache[key] = (viol, why, unk, FLOW_UNKNOWN if not req_part or not ctx.l7_present
                            else "request-level (HTTP) policy is not modelled by this version")
        return hit

    # bit k of (source bits & destination bits) = entry k matches both ends (62 entries a column)
    columns = []
    for lo in range(0, len(entries), 62):
        bits = [np.zeros(len(src if side < 2 else dst), dtype=np.int64) for side in range(4)]
        for k, en in enumerate(entries[lo:lo + 62]):
            for side in range(4):
                bits[side] |= en[side].astype(np.int64) << k
        columns.append(bits)

    def key(ii: np.ndarray, jj: np.ndarray) -> list[np.ndarray]:
        return [b[0][ii] & b[2][jj] for b in columns] + [b[1][ii] & b[3][jj] for b in columns]

    out.violations, out.unknown = scan(ctx, fm, judge, key)
    out.checked = pairs_checked(src, dst)
    return out


def _egress_restricted(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([e.ports for e in a.allow]))
    src = ctx.zones.zone_units(a.zones)
    dst = ctx.zones.all_units(pods=False)
    fm = FlowMatrix(ctx, src, dst)
    permitted: list[PortSet] = []
    for j in range(len(dst)):
        s = PortSet()
        for e in a.allow:
            d, _ = ctx.zones.peer_masks(e.dst, [dst[j]])
            if d[0]:
                s = s.union(e.ports if e.ports is not None else ctx.universe)
        permitted.append(s)
    allowed_to = ", ".join(f.dst[0].text() + (f" on {f.ports.text()}" if f.ports is not None else "") for f in a.allow)
    why = "reaches an external network not in the allow list" + (f" ({allowed_to})" if allowed_to else " (none)")

    cache: dict[tuple[int, PortSet], tuple[PortSet, str, PortSet, str]] = {}

    def judge(row: int, i: int, j: int) -> tuple[PortSet, str, PortSet, str]:
        key = (row, permitted[j])
        hit = cache.get(key)
        if hit is None:
            allowed, unknown = fm.sets(row)
            hit = cache[key] = (allowed.minus(permitted[j]), why, unknown.minus(permitted[j]), FLOW_UNKNOWN)
        return hit

    ids: dict[PortSet, int] = {}
    perm_id = np.array([ids.setdefault(p, len(ids)) for p in permitted], dtype=np.int64)
    out.violations, out.unknown = scan(ctx, fm, judge, lambda ii, jj: [perm_id[jj]])
    out.checked = pairs_checked(src, dst)
    return out


def _must_allow(ctx: Context, c: Control) -> Outcome:
    a = c.assertion
    out = Outcome(blocking=ctx.protocol_reasons([f.ports for f in a.flows]))
    checked = 0
    for f in a.flows:
        checked += _must_allow_flow(ctx, f, out)
    out.checked = {"flows": len(a.flows), "pairs": checked}
    return out


def _must_allow_flow(ctx: Context, f: FlowSpec, out: Outcome) -> int:
    assert f.ports is not None
    required = f.ports
    src, dst = ctx.zones.units(f.src), ctx.zones.units(f.dst)
    for side, units in (("from", src), ("to", dst)):
        if not units:
            out.violations.append(Violation(
                kind="flow", src=", ".join(p.text() for p in f.src), dst=", ".join(p.text() for p in f.dst),
                ports=required.text(ctx.universe), flow="denied", port_set=required,
                reason=f"no workload or network matches '{side}': the required flow {f.text()} cannot exist",
            ))
            return 0
    fm = FlowMatrix(ctx, src, dst, whole=True)  # a required flow's zones: read cell by cell
    assert fm.pm is not None
    groups: dict[tuple[str, str], dict[int, list[tuple[int, int]]]] = {}
    for i, su in enumerate(src):
        for j, du in enumerate(dst):
            if su.entity == du.entity and su.single_pod:
                continue
            if su.kind == "external" and du.kind == "external":
                continue
            groups.setdefault((su.entity, du.entity), {}).setdefault(j, []).append((i, int(fm.pm.row[i, j])))
    for (s_name, d_name), by_dst in sorted(groups.items()):
        s_ext = src[next(iter(by_dst.values()))[0][0]].kind == "external"
        d_ext = dst[next(iter(by_dst))].kind == "external"
        ok_all: PortSet | None = None
        maybe_all: PortSet | None = None
        definite = True
        witness: tuple[int, int] | None = None
        for j, cells in by_dst.items():
            ok_j: PortSet | None = None
            maybe_j: PortSet | None = None
            for i, row in cells:
                allowed, unknown = fm.sets(row)
                ok = allowed.intersect(required)
                maybe = allowed.union(unknown).intersect(required)
                definite &= src[i].definite and dst[j].definite
                if witness is None and not required.issubset(ok):
                    witness = (i, j)
                # a network reaches if some address does; a workload only if every pod does
                ok_j = ok if ok_j is None else (ok_j.union(ok) if s_ext else ok_j.intersect(ok))
                maybe_j = maybe if maybe_j is None else (maybe_j.union(maybe) if s_ext else maybe_j.intersect(maybe))
            assert ok_j is not None and maybe_j is not None
            ok_all = ok_j if ok_all is None else (ok_all.union(ok_j) if d_ext else ok_all.intersect(ok_j))
            maybe_all = maybe_j if maybe_all is None else (maybe_all.union(maybe_j) if d_ext else maybe_all.intersect(maybe_j))
        assert ok_all is not None and maybe_all is not None
        missing = required.minus(maybe_all)
        unknown_ports = required.minus(ok_all).minus(missing)
        unk_why = FLOW_UNKNOWN
        if ok_all and f.requests and ctx.l7_present:
            unknown_ports = unknown_ports.union(ok_all)
            unk_why = "allowed at L3/L4; request-level (HTTP) policy is not modelled by this version"
        sz, dz = ctx.zone_tuple(s_name), ctx.zone_tuple(d_name)
        if missing and definite:
            out.violations.append(Violation(
                kind="flow", src=s_name, dst=d_name, ports=missing.text(ctx.universe), flow="denied",
                decided_by=fm.why(witness, missing, (DENY,)) if witness else "",
                src_zones=sz, dst_zones=dz, reason=f"required flow is denied ({f.text()})", port_set=missing,
            ))
        elif missing:
            unknown_ports = unknown_ports.union(missing)
            unk_why = MEMBERSHIP_UNKNOWN
        if unknown_ports:
            out.unknown.append(Violation(
                kind="flow", src=s_name, dst=d_name, ports=unknown_ports.text(ctx.universe), flow="unknown",
                decided_by=fm.why(witness, unknown_ports, (UNKNOWN, ALLOW)) if witness else "",
                src_zones=sz, dst_zones=dz, reason=unk_why, port_set=unknown_ports,
            ))
    return len(groups)
