"""Property tests for the atoms the engine computes on: port ranges and CIDRs (K8S-10, K8S-11)."""

from __future__ import annotations

import ipaddress
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.reach.addresses import AddressSpace
from auditor.reach.ports import MAX_PORT, PortQuery, PortSpace

port = st.integers(min_value=1, max_value=MAX_PORT)
port_range = st.tuples(port, port).map(lambda t: (min(t), max(t)))
proto = st.sampled_from(["TCP", "UDP", "SCTP"])


@settings(max_examples=200, deadline=None)
@given(ranges=st.lists(st.tuples(proto, port_range), max_size=12), probes=st.lists(st.tuples(proto, port), max_size=30))
def test_k8s11_port_atoms_decide_range_membership_exactly(ranges, probes):
    cuts: dict[str, list[tuple[int, int]]] = {}
    for p, r in ranges:
        cuts.setdefault(p, []).append(r)
    space = PortSpace(cuts)
    for p, r in ranges:
        mask = space.range_mask(p, *r)
        for q, n in probes:
            idx = space.index_of(q, n)
            assert mask[idx] == (q == p and r[0] <= n <= r[1])
    # atoms partition each protocol's 1..65535 without gaps or overlaps
    for p in ("TCP", "UDP", "SCTP"):
        atoms = [a for a in space.atoms if a.protocol == p]
        assert atoms[0].lo == 1 and atoms[-1].hi == MAX_PORT
        assert all(x.hi + 1 == y.lo for x, y in itertools.pairwise(atoms))


@settings(max_examples=100, deadline=None)
@given(ranges=st.lists(port_range, min_size=1, max_size=6))
def test_port_summary_lists_exactly_the_allowed_ports(ranges):
    space = PortSpace({"TCP": ranges})
    allowed = np.zeros(len(space), dtype=bool)
    for r in ranges:
        allowed |= space.range_mask("TCP", *r)
    text = space.summary(allowed)
    covered: set[int] = set()
    body = text.split(":", 1)[1] if text.startswith("TCP:") else ""
    if body == "all":
        covered = set(range(1, MAX_PORT + 1))
    elif body:
        for part in body.split(","):
            lo, _, hi = part.partition("-")
            covered |= set(range(int(lo), int(hi or lo) + 1))
    expected = {n for r in ranges for n in range(r[0], r[1] + 1)}
    assert covered == expected


def nets(version: int):
    bits = 32 if version == 4 else 128
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return st.tuples(st.integers(0, (1 << bits) - 1), st.integers(0, bits)).map(
        lambda t: cls((t[0] >> (bits - t[1]) << (bits - t[1]), t[1]))
    )


@settings(max_examples=200, deadline=None)
@given(
    cidrs=st.lists(st.one_of(nets(4), nets(6)), min_size=1, max_size=8),
    probes=st.lists(st.one_of(st.integers(0, (1 << 32) - 1).map(ipaddress.IPv4Address),
                              st.integers(0, (1 << 128) - 1).map(ipaddress.IPv6Address)), max_size=20),
)
def test_k8s10_cidr_atoms_decide_membership_exactly(cidrs, probes):
    space = AddressSpace(cidrs)
    for i, net in enumerate(cidrs):
        mask = space.mask([net])
        for ip in [*probes, net.network_address, net.broadcast_address]:
            assert mask[space.atom_of(ip)] == (ip.version == net.version and ip in net), (i, net, ip)


@pytest.mark.parametrize(
    ("text", "proto", "port"),
    [("80/TCP", "TCP", 80), ("53/udp", "UDP", 53), ("443", "TCP", 443), ("8/ICMP", "ICMP", 8),
     ("ICMP", "ICMP", None), ("132/sctp", "SCTP", 132)],
)
def test_port_query_parsing(text, proto, port):
    q = PortQuery.parse(text)
    assert (q.protocol, q.port) == (proto, port)


@pytest.mark.parametrize("text", ["80/XYZ", "0/TCP", "65536/TCP", "TCP", "/TCP", "eighty"])
def test_port_query_rejects(text):
    with pytest.raises(ValueError):
        PortQuery.parse(text)
