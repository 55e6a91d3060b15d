"""``--max-memory``: how many source rows of the pair matrix are computed and written at once.

The pair matrix of a large cluster (20,000 workloads → 400 M pairs) does not fit in memory
and need not: every consumer reads it row block by row block. The block size is the only
knob, and it never changes a result (rows are produced in the same order either way); it
comes from the memory left under the budget after the analysis, at an estimated cost per
pair (bitsets, deciding rules per port atom, the formatted row).
"""

from __future__ import annotations

import functools
import os
import re
import resource
from dataclasses import dataclass
from typing import Any

DEFAULT_BLOCK_BYTES = 1 << 30  # working set of one block without a budget
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``4G``, ``4GB``, ``4GiB``, ``512M``, ``1.5G`` or plain bytes (binary units) → bytes."""
    m = _SIZE.match(text)
    if not m:
        raise ValueError(f"--max-memory {text!r}: expected a size such as 4G, 512M or 1.5GiB")
    value = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise ValueError(f"--max-memory {text!r}: must be more than 0")
    return value


def rss_bytes() -> int:
    """Resident memory of this process now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def available_bytes() -> int | None:
    """Memory this process may still take: the container's limit less its usage (cgroup v2,
    then v1), else the kernel's MemAvailable; None when neither can be read."""
    for limit_file, usage_file in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                                   ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                                    "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            with open(limit_file) as fh:
                limit = fh.read().strip()
            with open(usage_file) as fh:
                usage = int(fh.read().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 1 << 60:  # "max" or a huge v1 number: no limit
            return max(0, int(limit) - usage)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):  # pragma: no cover - not Linux
        pass
    return None


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (``malloc_trim``, ``mallopt``), else None."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.malloc_trim  # noqa: B018 - glibc only: raises AttributeError elsewhere
        libc.mallopt  # noqa: B018
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        return None
    return libc


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the kernel (glibc ``malloc_trim``): the analysis
    frees ≈ 0.6 GB of temporaries at 100,000 pods that would otherwise stay resident and count
    against a container's limit. A no-op where glibc is not the C library."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


LARGE_BLOCK_BYTES = 1 << 30  # blocks up to this size come from the C heap (M_MMAP_THRESHOLD)


def keep_large_blocks() -> bool:
    """Have glibc serve blocks up to ``LARGE_BLOCK_BYTES`` from its heap (``mallopt``
    M_MMAP_THRESHOLD) instead of mapping each one fresh. The pair matrices and the controls'
    scans allocate and free arrays of tens of MB (millions of cells) over and over; mapped, each
    is zeroed page by page by the kernel on first touch and unmapped when freed (a 10k-pod gate:
    ≈ 100,000 fewer page faults, ≈ 0.8 s of system time and more of user time). Freed blocks are
    reused; ``release_free_memory`` still hands free pages back. Only without a memory budget
    (commands/pipeline.py): under one, freed memory must leave the resident set at once. Returns
    whether the setting took (False where glibc is not the C library)."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, LARGE_BLOCK_BYTES))


M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def room_left(budget: int | None, in_use: int | None = None) -> int | None:
    """Memory this process may still take: what is left under ``budget`` (bytes), capped by what
    the container or the kernel has (``available_bytes``); without a budget, the latter alone;
    None when neither is known. Every block size of the pair matrices is cut from this."""
    room = available_bytes()
    if budget is not None:
        left = max(0, budget - (rss_bytes() if in_use is None else in_use))
        room = left if room is None else min(room, left)
    return room


DENSE_PAIR_BYTES = 40  # peak bytes per cell of a pair matrix computed whole (int64 keys, temporaries, ids)


def pair_cost(n_atoms: int) -> int:
    """Estimated peak bytes per (src, dst) pair of a block: four bitsets per 64 atoms and
    their distinct-row key (pairs), two deciding-rule ids per atom (evidence), the row's cells
    and its CSV/JSON text."""
    words = max(1, (n_atoms + 63) // 64)
    return 64 * words + 24 + 10 * n_atoms + 700


def format_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


@dataclass(frozen=True)
class BlockPlan:
    """``rows`` source entities per block out of ``total``, against ``cols`` destinations."""

    rows: int
    total: int
    cols: int
    budget: int | None
    in_use: int
    per_pair: int

    @property
    def blocks(self) -> int:
        return max(1, -(-self.total // self.rows))

    def describe(self) -> str:
        head = (f"memory: --max-memory {format_size(self.budget)}, {format_size(self.in_use)} in use"
                if self.budget is not None else f"memory: no --max-memory, {format_size(self.in_use)} in use")
        if self.budget is not None and self.in_use >= self.budget:
            head += " (already over the budget: smallest blocks)"
        return (f"{head}; pair matrix in {self.blocks} block(s) of {self.rows:,} × {self.cols:,} pairs "
                f"(≈ {format_size(self.rows * self.cols * self.per_pair)} each)")


def plan_blocks(total: int, cols: int, n_atoms: int, budget: int | None, in_use: int | None = None,
                rows: int | None = None, rows_per_pair: int = 1) -> BlockPlan:
    """Source rows per block: a third of what is left under ``budget`` (a quarter goes to the
    class-pair chunks, the rest is headroom for the allocator and the consumers: with half,
    ``reach`` at 100,000 pods peaked at 4.13 GB under 4G), or ``DEFAULT_BLOCK_BYTES`` without
    a budget; at least one row. ``rows_per_pair``: output rows per pair (ports × HTTP requests asked for);
    ``rows`` forces the size (tests)."""
    in_use = rss_bytes() if in_use is None else in_use
    per_pair = pair_cost(n_atoms) * max(1, rows_per_pair)
    if rows is None:
        room = DEFAULT_BLOCK_BYTES if budget is None else (room_left(budget, in_use) or 0) // 3
        rows = room // max(1, cols * per_pair)
    rows = max(1, min(int(rows), max(1, total)))
    return BlockPlan(rows=rows, total=total, cols=cols, budget=budget, in_use=in_use, per_pair=per_pair)


CLASS_PAIR_COST = 160  # bytes per class pair of a ``pairs`` chunk (group ids, four bitsets, reductions)
MIN_CELLS, MAX_CELLS = 16, 16_000_000


def class_cells(budget: int, in_use: int | None = None) -> int:
    """Class pairs per chunk inside ``Analysis.pairs``: a quarter of the room left under the
    budget (the row block and its rows take the rest), within [MIN_CELLS, MAX_CELLS]."""
    room = (room_left(budget, in_use) or 0) // 4
    return int(min(MAX_CELLS, max(MIN_CELLS, room // CLASS_PAIR_COST)))
