"""Exact sets of (protocol, port) for controls, and the port specs packs and waivers use.

The engine cuts ports into *atoms* only where some rule draws a line, so an atom may be wider
than a port a control names (control "22/TCP", atom "TCP 1-79"). Every port inside one atom
has the same verdict, so intersecting atom ranges with the control's ranges gives the exact
answer; ``PortSet`` does that interval arithmetic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

# -- the protocol vocabulary (shared by policies, the engine, packs and saved documents) ---------

PROTOCOL_NUMBERS = {"ICMP": 1, "TCP": 6, "UDP": 17, "ICMPv6": 58, "SCTP": 132, "UDPLite": 136}
PORT_PROTOCOLS = ("TCP", "UDP", "SCTP")
ICMP_PROTOCOLS = ("ICMP", "ICMPv6")  # their "ports" are ICMP type ranges (CAL-27)
ALL_PROTOCOLS = ("TCP", "UDP", "SCTP", "ICMP")  # what the text ``all`` spans unless rules name others
MAX_PORT = 65535
MAX_ICMP_TYPE = 255
WHOLE = (0, 0)  # the single "range" of a protocol without ports or types (numbered protocols)
FULL = {**{p: (1, MAX_PORT) for p in PORT_PROTOCOLS}, **{p: (0, MAX_ICMP_TYPE) for p in ICMP_PROTOCOLS}}
_CANON = {p.upper(): p for p in PROTOCOL_NUMBERS}
_NUMBER_TO_NAME = {v: k for k, v in PROTOCOL_NUMBERS.items()}


def canonical_protocol(value: str | int) -> str:
    """``tcp``/``6`` → ``TCP``; an unnamed protocol number stays a number string."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        number = int(value)
        if not 0 <= number <= 255:
            raise ValueError(f"protocol number {number} is out of range 0-255")
        return _NUMBER_TO_NAME.get(number, str(number))
    name = _CANON.get(str(value).upper())
    if name is None:
        raise ValueError(f"unknown protocol {value!r} (TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or 0-255)")
    return name


class Atom(Protocol):
    """What ``PortSet`` reads of an engine port atom (``auditor.reach.ports.PortAtom``)."""

    protocol: str
    lo: int
    hi: int


class AtomSpace(Protocol):
    """What ``PortSet`` reads of the engine's atoms (``auditor.reach.ports.AtomSpace``)."""

    atoms: list[Any]

    def __len__(self) -> int: ...


_SPEC = re.compile(r"^\s*(?:(\d+)\s*(?:-\s*(\d+))?\s*(?:/\s*([A-Za-z0-9]+))?|([A-Za-z][A-Za-z0-9]*))\s*$")


def _order(proto: str) -> tuple[int, str]:
    return (PORT_PROTOCOLS.index(proto), "") if proto in PORT_PROTOCOLS else (len(PORT_PROTOCOLS), proto)


def _merge(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    out: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return tuple((a, b) for a, b in out)


def _subtract(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    for lo, hi in a:
        cur = lo
        for blo, bhi in b:
            if bhi < cur or blo > hi:
                continue
            if blo > cur:
                out.append((cur, blo - 1))
            cur = max(cur, bhi + 1)
            if cur > hi:
                break
        if cur <= hi:
            out.append((cur, hi))
    return tuple(out)


def _intersect(a: tuple[tuple[int, int], ...], b: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
    out: list[tuple[int, int]] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo = max(a[i][0], b[j][0])
        hi = min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return tuple(out)


@dataclass(frozen=True)
class PortSet:
    """Protocol → merged inclusive port ranges; protocols without ports hold ``((0, 0),)``."""

    items: tuple[tuple[str, tuple[tuple[int, int], ...]], ...] = ()

    @classmethod
    def of(cls, mapping: Mapping[str, Iterable[tuple[int, int]]]) -> PortSet:
        items = []
        for proto in sorted(mapping, key=_order):
            given = list(mapping[proto])
            ranges = _merge(given) if proto in FULL else ((WHOLE,) if given else ())
            if ranges:
                items.append((proto, ranges))
        return cls(tuple(items))

    @classmethod
    def everything(cls, protocols: Iterable[str]) -> PortSet:
        return cls.of({p: [FULL.get(p, WHOLE)] for p in protocols})

    def as_dict(self) -> dict[str, tuple[tuple[int, int], ...]]:
        return dict(self.items)

    def __bool__(self) -> bool:
        return bool(self.items)

    def union(self, other: PortSet) -> PortSet:
        if not other.items or self is other:
            return self
        if not self.items:
            return other
        a, b = self.as_dict(), other.as_dict()
        return PortSet.of({p: [*a.get(p, ()), *b.get(p, ())] for p in {*a, *b}})

    def intersect(self, other: PortSet) -> PortSet:
        if not self.items or not other.items:
            return _EMPTY
        if self is other:
            return self
        a, b = self.as_dict(), other.as_dict()
        return PortSet.of({p: _intersect(a[p], b[p]) for p in a.keys() & b.keys()})

    def minus(self, other: PortSet) -> PortSet:
        if not self.items or not other.items:
            return self
        if self is other:
            return _EMPTY
        a, b = self.as_dict(), other.as_dict()
        return PortSet.of({p: (_subtract(r, b[p]) if p in b else r) for p, r in a.items()})

    def issubset(self, other: PortSet) -> bool:
        return not self.minus(other)

    def protocols(self) -> list[str]:
        return [p for p, _ in self.items]

    def text(self, universe: PortSet | None = None) -> str:
        """``all``, ``none`` or e.g. ``TCP:80,443,8000-8100 UDP:53 ICMP`` (like ``auditor reach``)."""
        if not self.items:
            return "none"
        if universe is not None and universe.issubset(self):
            return "all"
        parts = []
        for proto, ranges in self.items:
            if proto not in FULL:
                parts.append(proto)
            elif ranges == (FULL[proto],):
                parts.append(f"{proto}:all" if proto in PORT_PROTOCOLS else proto)
            else:
                parts.append(f"{proto}:" + ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ranges))
        return " ".join(parts)

    def __str__(self) -> str:
        return self.text()

    # -- atoms ---------------------------------------------------------------------------------
    @classmethod
    def from_atoms(cls, space: AtomSpace, mask: np.ndarray) -> PortSet:
        ranges: dict[str, list[tuple[int, int]]] = {}
        for i in np.flatnonzero(mask):
            atom = space.atoms[int(i)]
            if atom.protocol in FULL:
                ranges.setdefault(atom.protocol, []).append(_atom_range(atom))
            else:
                ranges.setdefault(atom.protocol, []).append(WHOLE)
        return cls.of(ranges)

    def atom_mask(self, space: AtomSpace) -> np.ndarray:
        """Atoms that overlap this set (their verdict is the verdict of these ports)."""
        proto, lo, hi = _atom_bounds(space)
        out = np.zeros(len(space), dtype=bool)
        for p, ranges in self.items:
            sel = proto == p
            if not sel.any():
                continue
            for a, b in ranges:
                out |= sel & (lo <= b) & (hi >= a)
        return out


_EMPTY = PortSet()
_BOUNDS: dict[int, tuple[AtomSpace, tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}


def _atom_bounds(space: AtomSpace) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(protocol, lo, hi) arrays of the atoms; whole-protocol atoms span their full range."""
    hit = _BOUNDS.get(id(space))
    if hit is not None and hit[0] is space:
        return hit[1]
    proto = np.array([a.protocol for a in space.atoms], dtype=object)
    lo = np.empty(len(space), dtype=np.int64)
    hi = np.empty(len(space), dtype=np.int64)
    for i, atom in enumerate(space.atoms):
        lo[i], hi[i] = _atom_range(atom) if atom.protocol in FULL else WHOLE
    _BOUNDS.clear()  # one space at a time is all an audit needs
    _BOUNDS[id(space)] = (space, (proto, lo, hi))
    return proto, lo, hi


def _atom_range(atom: Atom) -> tuple[int, int]:
    """The ports (or ICMP types) of an atom of a protocol in ``FULL``; an atom without a range
    (lo = hi = 0 of a port protocol) spans the protocol. ICMP atoms are always type ranges, so
    (0, 0) there is type 0 (echo reply), not every type."""
    if (atom.lo, atom.hi) == WHOLE and atom.protocol in PORT_PROTOCOLS:
        return FULL[atom.protocol]
    return (atom.lo, atom.hi)


def universe(space: AtomSpace) -> PortSet:
    """Every protocol the analysis distinguishes, every port."""
    return PortSet.everything(dict.fromkeys(a.protocol for a in space.atoms))


def parse_port_spec(value: object) -> PortSet:
    """``80``, ``"80"``, ``"80/TCP"``, ``"8000-8100/tcp"``, ``"53/UDP"``, ``"TCP"`` (every TCP
    port), ``"ICMP"`` (every type), ``"8/ICMP"`` (ICMP type 8). A bare number means TCP.
    Raises ``ValueError`` saying what is wrong."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"a port must be a number or text like 443/TCP, got {value!r}")
    text = str(value)
    m = _SPEC.match(text)
    if not m:
        raise ValueError(f"{text!r} is not a port: expected PORT[-PORT][/PROTOCOL] (e.g. 443/TCP, 53/UDP) or a protocol")
    lo_s, hi_s, proto_s, bare = m.groups()
    if bare is not None:
        try:
            proto = canonical_protocol(bare)
        except ValueError as exc:
            raise ValueError(f"{text!r}: {exc}") from None
        return PortSet.everything([proto])
    try:
        proto = canonical_protocol(proto_s) if proto_s else "TCP"
    except ValueError as exc:
        raise ValueError(f"{text!r}: {exc}") from None
    lo = int(lo_s)
    hi = int(hi_s) if hi_s is not None else lo
    if proto not in FULL:
        raise ValueError(f"{text!r}: {proto} has no ports; write just {proto!r}")
    first, last = FULL[proto]
    what = "port" if proto in PORT_PROTOCOLS else f"{proto} type"
    for number in (lo, hi):
        if not first <= number <= last:
            raise ValueError(f"{text!r}: {what} {number} is out of range {first}-{last}")
    if lo > hi:
        raise ValueError(f"{text!r}: range start {lo} is above its end {hi}")
    return PortSet.of({proto: [(lo, hi)]})
