"""Port/protocol atoms: maximal port ranges that no rule distinguishes, per protocol.

``TCP 1-65535`` cut at every range boundary and every named port's number; protocols
without ports (ICMP, numbered protocols) are one atom each.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

# the protocol vocabulary lives with PortSet (re-exported for the engine's modules)
from auditor.portset import ICMP_PROTOCOLS as ICMP_PROTOCOLS
from auditor.portset import MAX_PORT as MAX_PORT
from auditor.portset import PORT_PROTOCOLS, PortSet, universe
from auditor.portset import canonical_protocol as canonical_protocol

DEFAULT_ICMP_TYPE = {"ICMP": 8, "ICMPv6": 128}  # echo request ("ping") when no type is given


@dataclass(frozen=True)
class PortAtom:
    protocol: str
    lo: int = 0
    hi: int = 0

    @property
    def has_ports(self) -> bool:
        return self.protocol in PORT_PROTOCOLS

    def __str__(self) -> str:
        if self.protocol in ICMP_PROTOCOLS and (self.lo, self.hi) != (0, 255):
            return f"{self.protocol} type {self.lo}" if self.lo == self.hi else \
                f"{self.protocol} types {self.lo}-{self.hi}"
        if not self.has_ports:
            return self.protocol
        rng = str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"
        return f"{rng}/{self.protocol}"


@dataclass(frozen=True)
class PortQuery:
    """A ``--port`` argument: ``80/TCP``, ``53/udp``, ``8/ICMP`` (ICMP type 8, any code),
    ``ICMP`` (= type 8, echo request; ICMPv6: 128)."""

    protocol: str
    port: int | None

    @classmethod
    def parse(cls, text: str) -> PortQuery:
        m = re.fullmatch(r"\s*(?:(\d+)\s*/\s*)?([A-Za-z0-9]+)\s*", text)
        if m and m.group(1) is None and m.group(2).isdigit():
            port, proto = int(m.group(2)), "TCP"
        elif m:
            port = int(m.group(1)) if m.group(1) else None
            proto = m.group(2)
        else:
            raise ValueError(f"--port {text!r}: expected PORT/PROTOCOL, e.g. 80/TCP or 53/UDP")
        protocol = canonical_protocol(proto)
        if protocol in PORT_PROTOCOLS:
            if port is None:
                raise ValueError(f"--port {text!r}: {protocol} needs a port number")
            if not 1 <= port <= MAX_PORT:
                raise ValueError(f"--port {text!r}: port {port} is out of range 1-65535")
        elif protocol in ICMP_PROTOCOLS:
            if port is not None and not 0 <= port <= 255:
                raise ValueError(f"--port {text!r}: ICMP type {port} is out of range 0-255")
        else:
            port = None  # a protocol without ports: one atom
        return cls(protocol, port)

    def __str__(self) -> str:
        return f"{self.port}/{self.protocol}" if self.port is not None else self.protocol


class PortSpace:
    """The atoms; ``index_of`` maps a (protocol, port) to its atom."""

    def __init__(
        self,
        cuts: dict[str, Iterable[tuple[int, int]]],
        extra_protocols: Iterable[str] = (),
    ) -> None:
        self.atoms: list[PortAtom] = []
        self._starts: dict[str, list[int]] = {}
        self._offset: dict[str, int] = {}
        for proto in PORT_PROTOCOLS:
            bounds = {1, MAX_PORT + 1}
            for lo, hi in cuts.get(proto, ()):
                bounds.add(lo)
                bounds.add(hi + 1)
            ordered = sorted(b for b in bounds if 1 <= b <= MAX_PORT + 1)
            self._offset[proto] = len(self.atoms)
            self._starts[proto] = ordered[:-1]
            for lo, nxt in itertools.pairwise(ordered):
                self.atoms.append(PortAtom(proto, lo, nxt - 1))
        for proto in sorted({"ICMP", *extra_protocols} - set(PORT_PROTOCOLS)):
            self._offset[proto] = len(self.atoms)
            if proto in ICMP_PROTOCOLS:  # atoms are ICMP type ranges, cut at every type a rule names
                bounds = {0, 256}
                for lo, hi in cuts.get(proto, ()):
                    bounds.add(lo)
                    bounds.add(hi + 1)
                ordered = sorted(b for b in bounds if 0 <= b <= 256)
                self._starts[proto] = ordered[:-1]
                for lo, nxt in itertools.pairwise(ordered):
                    self.atoms.append(PortAtom(proto, lo, nxt - 1))
            else:
                self.atoms.append(PortAtom(proto))
        self.protocol_of = np.array([a.protocol for a in self.atoms], dtype=object)
        self._everything: PortSet | None = None
        self._summaries: dict[bytes, str] = {}  # ``summary`` per distinct atom mask: rows repeat across blocks

    def __len__(self) -> int:
        return len(self.atoms)

    def index_of(self, protocol: str, port: int | None) -> int | None:
        if protocol not in self._offset:
            return None
        if protocol in ICMP_PROTOCOLS:
            typ = DEFAULT_ICMP_TYPE[protocol] if port is None else int(port)
            return self._offset[protocol] + bisect.bisect_right(self._starts[protocol], typ) - 1
        if protocol not in PORT_PROTOCOLS:
            return self._offset[protocol]

        starts = self._starts[protocol]
        return self._offset[protocol] + bisect.bisect_right(starts, int(port or 1)) - 1

    def protocol_mask(self, protocol: str | None) -> np.ndarray:
        if protocol is None:
            return np.ones(len(self.atoms), dtype=bool)
        return self.protocol_of == protocol

    def range_mask(self, protocol: str, lo: int, hi: int) -> np.ndarray:
        """Atoms of ``protocol`` inside [lo, hi] (exact, because lo/hi are cut points)."""
        out = np.zeros(len(self.atoms), dtype=bool)
        if protocol not in PORT_PROTOCOLS:
            return out
        a = self.index_of(protocol, lo)
        b = self.index_of(protocol, hi)
        if a is not None and b is not None:
            out[a : b + 1] = True
        return out

    def type_mask(self, protocol: str, icmp_type: int) -> np.ndarray:
        """The atom of ``protocol`` (ICMP or ICMPv6) holding ``icmp_type`` (exact: types are cuts)."""
        out = np.zeros(len(self.atoms), dtype=bool)
        if protocol in ICMP_PROTOCOLS and protocol in self._offset:
            idx = self.index_of(protocol, icmp_type)
            if idx is not None:
                out[idx] = True
        return out

    def summary(self, allowed: np.ndarray) -> str:
        """``all``, ``none`` or e.g. ``TCP:80,443,8000-8100 UDP:53``: ``PortSet``'s one text form of
        the atoms in ``allowed`` (``all`` = every port this space distinguishes)."""
        if self._everything is None:
            self._everything = universe(self)
        key = np.packbits(np.asarray(allowed, dtype=bool)).tobytes() + len(allowed).to_bytes(4, "little")
        hit = self._summaries.get(key)
        if hit is None:
            hit = self._summaries[key] = PortSet.from_atoms(self, allowed).text(self._everything)
        return hit
