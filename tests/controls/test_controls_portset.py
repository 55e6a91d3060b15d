"""PortSet interval arithmetic against a brute-force model, and port-spec parsing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.portset import PortSet, parse_port_spec, universe
from auditor.reach.ports import PortSpace

MAXP = 40  # a small universe keeps the brute-force model cheap


def model(s: PortSet) -> set[tuple[str, int]]:
    out = set()
    for proto, ranges in s.items:
        for lo, hi in ranges:
            out.update((proto, p) for p in range(lo, hi + 1))
    return out


ranges = st.tuples(st.integers(1, MAXP), st.integers(0, 8)).map(lambda t: (t[0], t[0] + t[1]))
sets = st.dictionaries(st.sampled_from(["TCP", "UDP", "SCTP"]), st.lists(ranges, max_size=4), max_size=3).map(PortSet.of)


@settings(max_examples=300, deadline=None)
@given(a=sets, b=sets)
def test_set_algebra_matches_the_model(a: PortSet, b: PortSet) -> None:
    assert model(a.union(b)) == model(a) | model(b)
    assert model(a.intersect(b)) == model(a) & model(b)
    assert model(a.minus(b)) == model(a) - model(b)
    assert a.issubset(b) == (model(a) <= model(b))
    assert bool(a) == bool(model(a))
    # canonical: equal sets are equal values (so they hash and compare as evidence)
    assert a.union(b) == b.union(a)


@settings(max_examples=200, deadline=None)
@given(a=sets, cuts=st.lists(ranges, max_size=5), mask_bits=st.lists(st.booleans(), min_size=1, max_size=64))
def test_atoms_round_trip(a: PortSet, cuts: list[tuple[int, int]], mask_bits: list[bool]) -> None:
    space = PortSpace({"TCP": cuts, "UDP": cuts, "SCTP": []})
    mask = np.zeros(len(space), dtype=bool)
    mask[: len(mask_bits)] = mask_bits[: len(space)]
    s = PortSet.from_atoms(space, mask)
    assert np.array_equal(s.atom_mask(space), mask)  # atoms are disjoint and cover their ranges
    overlap = a.atom_mask(space)
    for i, atom in enumerate(space.atoms):
        if atom.protocol in ("TCP", "UDP", "SCTP"):
            inside = any((atom.protocol, p) in model(a) for p in range(atom.lo, min(atom.hi, MAXP + 8) + 1))
            assert overlap[i] == inside


def test_text_forms() -> None:
    space = PortSpace({"TCP": [(80, 80)]})
    everything = universe(space)
    assert everything.text(everything) == "all"
    assert PortSet().text() == "none"
    assert parse_port_spec("TCP").text(everything) == "TCP:all"
    assert everything.minus(parse_port_spec(80)).text(everything) == "TCP:1-79,81-65535 UDP:all SCTP:all ICMP"
    assert parse_port_spec("8/ICMP").text() == "ICMP:8"
    assert parse_port_spec("ICMP").text() == "ICMP"


@pytest.mark.parametrize(("spec", "text"), [
    (80, "TCP:80"), ("80", "TCP:80"), ("80/tcp", "TCP:80"), (" 53 / UDP ", "UDP:53"),
    ("8000-8100/TCP", "TCP:8000-8100"), ("sctp", "SCTP:all"), ("17", "TCP:17"), ("icmpv6", "ICMPv6"),
])
def test_parse_port_spec(spec: object, text: str) -> None:
    assert parse_port_spec(spec).text() == text


@pytest.mark.parametrize("spec", ["", "80/", "/TCP", "80-/TCP", "-1", "65536", "0/TCP", "1-70000/UDP", "80/FOO",
                                  "80:90", True, None, 1.5, "53/GRE"])
def test_parse_port_spec_rejects(spec: object) -> None:
    with pytest.raises(ValueError):
        parse_port_spec(spec)


def test_icmp_type_zero_atom_is_type_zero_not_every_type() -> None:
    """CAL-27: ICMP atoms are type ranges; a rule naming type 0 (echo reply) cuts an atom 0-0, which
    is type 0 only (it was once read as "every ICMP type")."""
    space = PortSpace({"ICMP": [(0, 0)]})
    mask = np.array([a.protocol == "ICMP" and (a.lo, a.hi) == (0, 0) for a in space.atoms])
    assert mask.sum() == 1
    only_zero = PortSet.from_atoms(space, mask)
    assert only_zero == PortSet.of({"ICMP": [(0, 0)]}) and only_zero.text() == "ICMP:0"
    assert PortSet.of({"ICMP": [(8, 8)]}).atom_mask(space).tolist() == [
        a.protocol == "ICMP" and a.lo <= 8 <= a.hi for a in space.atoms]
    assert not PortSet.of({"ICMP": [(8, 8)]}).atom_mask(space)[mask].any()


def _reference_summary(space: PortSpace, allowed: np.ndarray) -> str:
    """The text a reader expects, atom by atom: ``all``/``none``; per protocol (TCP, UDP, SCTP,
    then the others by name) ``P:all``, a protocol without ports by name, or ``P:`` and the runs
    of consecutive allowed atoms."""
    if allowed.all():
        return "all"
    if not allowed.any():
        return "none"
    protos = list(dict.fromkeys(a.protocol for a in space.atoms))
    order = [p for p in ("TCP", "UDP", "SCTP") if p in protos] + sorted(p for p in protos
                                                                       if p not in ("TCP", "UDP", "SCTP"))
    parts = []
    for proto in order:
        idx = [i for i, a in enumerate(space.atoms) if a.protocol == proto]
        sel = allowed[idx]
        if not sel.any():
            continue
        if sel.all():
            parts.append(f"{proto}:all" if proto in ("TCP", "UDP", "SCTP") else proto)
            continue
        runs: list[list[int]] = []
        for i, ok in zip(idx, sel, strict=True):
            a = space.atoms[i]
            if ok:
                if runs and runs[-1][1] + 1 == a.lo and runs[-1][2] == i - 1:
                    runs[-1][1], runs[-1][2] = a.hi, i
                else:
                    runs.append([a.lo, a.hi, i])
        parts.append(f"{proto}:" + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi, _ in runs))
    return " ".join(parts)


cuts = st.lists(st.tuples(st.integers(0, 300), st.integers(0, 40)).map(lambda t: (t[0], t[0] + t[1])), max_size=5)


@settings(max_examples=300, deadline=None)
@given(tcp=cuts, udp=cuts, icmp=cuts, icmp6=cuts, extra=st.lists(st.sampled_from(["ICMPv6", "UDPLite", "47"]),
                                                                   unique=True), data=st.data())
def test_space_summary_is_the_portset_text_of_its_atoms(tcp, udp, icmp, icmp6, extra, data) -> None:  # type: ignore[no-untyped-def]
    """``PortSpace.summary`` (what ``reach`` and the result's tables print) is ``PortSet.text`` of the
    atoms: one text form, equal to the atom-by-atom reading (ICMP type ranges included, CAL-27)."""
    space = PortSpace({"TCP": [(max(1, a), max(1, b)) for a, b in tcp], "UDP": [(max(1, a), max(1, b)) for a, b in udp],
                       "ICMP": [(min(a, 255), min(b, 255)) for a, b in icmp],
                       "ICMPv6": [(min(a, 255), min(b, 255)) for a, b in icmp6]}, extra_protocols=extra)
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(space), max_size=len(space))), dtype=bool)
    assert space.summary(mask) == _reference_summary(space, mask)
