"""IP address atoms: the address space cut at every CIDR boundary that policies or zones mention.

Inside one atom no rule can tell two addresses apart, so each pod IP reduces to an atom index
and each CIDR to a contiguous range of atom indices (`CIDRs are aligned intervals`).
"""

from __future__ import annotations

import bisect
import ipaddress
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from auditor.policy.ir import IPNetwork

_BITS = {4: 32, 6: 128}


@dataclass(frozen=True)
class Atom:
    version: int
    lo: int  # first address (int)
    hi: int  # last address (int, inclusive)

    def __str__(self) -> str:
        cls = ipaddress.IPv4Address if self.version == 4 else ipaddress.IPv6Address
        nets = list(ipaddress.summarize_address_range(cls(self.lo), cls(self.hi)))
        text = ",".join(str(n) for n in nets[:3])
        return text + (f",+{len(nets) - 3}" if len(nets) > 3 else "")


class AddressSpace:
    """Atoms for IPv4 then IPv6; atom ``i`` covers ``[lo_i, hi_i]``."""

    def __init__(self, networks: Iterable[IPNetwork]) -> None:
        cuts: dict[int, set[int]] = {4: {0, 1 << 32}, 6: {0, 1 << 128}}
        for net in networks:
            cuts[net.version].add(int(net.network_address))
            cuts[net.version].add(int(net.broadcast_address) + 1)
        self.atoms: list[Atom] = []
        self._starts: dict[int, list[int]] = {}
        self._offset: dict[int, int] = {}
        for version in (4, 6):
            bounds = sorted(cuts[version])
            self._offset[version] = len(self.atoms)
            self._starts[version] = bounds[:-1]
            for lo, nxt in itertools.pairwise(bounds):
                self.atoms.append(Atom(version, lo, nxt - 1))

    def __len__(self) -> int:
        return len(self.atoms)

    def atom_of(self, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> int:
        starts = self._starts[address.version]
        return self._offset[address.version] + bisect.bisect_right(starts, int(address)) - 1

    def index_range(self, net: IPNetwork) -> tuple[int, int]:
        """Atom indices ``[first, last)`` that make up ``net`` exactly."""
        starts = self._starts[net.version]
        off = self._offset[net.version]
        first = bisect.bisect_left(starts, int(net.network_address))
        last = bisect.bisect_left(starts, int(net.broadcast_address) + 1)
        return off + first, off + last

    def mask(self, nets: Sequence[IPNetwork]) -> np.ndarray:
        """Atoms inside any of ``nets``."""
        out = np.zeros(len(self.atoms), dtype=bool)
        for net in nets:
            a, b = self.index_range(net)
            out[a:b] = True
        return out

    def version_mask(self, version: int) -> np.ndarray:
        out = np.zeros(len(self.atoms), dtype=bool)
        lo = self._offset[version]
        hi = self._offset[6] if version == 4 else len(self.atoms)
        out[lo:hi] = True
        return out


def parse_network(text: str) -> IPNetwork:
    """A CIDR from the command line or a control pack; a bare address is a /32 or /128."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{text!r} is not a CIDR (expected e.g. 10.0.0.0/8)") from None
