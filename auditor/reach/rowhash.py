"""Grouping identical rows of a matrix fast: 64-bit row hashes, verified, exact fallback.

``np.unique(axis=0)`` sorts rows lexicographically through a structured view, which is the
engine's hottest spot when called once per signature; hashing each row to one uint64 and
sorting those is an order of magnitude faster. The result is checked, so a hash collision
can never merge two different rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from auditor.reach.firstseen import first_seen

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (a bijection on uint64)."""
    with np.errstate(over="ignore"):
        x = x + _GOLDEN
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


_COEFFS = np.zeros(0, dtype=np.uint64)


def _coefficients(n: int) -> np.ndarray:
    """Fixed 64-bit keys, one per word position (collisions are verified)."""
    global _COEFFS
    if _COEFFS.size < n:
        seeds = np.arange(1, max(n, 2 * _COEFFS.size) + 1, dtype=np.uint64)
        _COEFFS = mix64(seeds) | np.uint64(1)
    return _COEFFS[:n]


def _words(m: np.ndarray) -> np.ndarray:
    raw = np.ascontiguousarray(m).view(np.uint8).reshape(m.shape[0], -1)
    pad = (-raw.shape[1]) % 8
    if pad:
        raw = np.concatenate([raw, np.zeros((raw.shape[0], pad), np.uint8)], axis=1)
    return raw.view(np.uint64)


RADIX_WORDS = 8  # rows of at most this many words are first tried as mixed-radix codes


def _radix_code(words: np.ndarray) -> np.ndarray | None:
    """One int64 per row, equal for equal rows only: each word column numbered by a hash table
    (``pd.factorize``), the numbers combined in mixed radix; None when the product of the
    columns' distinct counts does not fit in 62 bits. Rows of a few words with few distinct
    values per word (the pair matrices' keys: allow/unknown/assurance bits of 64 atoms) cost a
    few cheap passes this way instead of mixing, hashing and verifying every word."""
    code: np.ndarray | None = None
    span = 1
    for c in range(words.shape[1]):
        inv, uniq = pd.factorize(words[:, c])
        k = max(1, len(uniq))
        if span * k >= 1 << 62:
            return None
        code = inv.astype(np.int64) if code is None else code * k + inv
        span *= k
    return code


def unique_rows(m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(first, inverse): ``m[first[inverse]] == m`` row for row; ``first`` indexes one
    representative row per distinct row."""
    n = m.shape[0]
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    words = _words(m.reshape(n, -1))
    if n <= 64:  # few rows (e.g. port atoms): a dict of their bytes is cheapest
        index: dict[bytes, int] = {}
        inverse = np.array([index.setdefault(words[i].tobytes(), i) for i in range(n)], dtype=np.int64)
        first, inverse = np.unique(inverse, return_inverse=True)
        return first.astype(np.int64), inverse.reshape(-1).astype(np.int64)
    if words.shape[1] <= RADIX_WORDS:
        code = _radix_code(words)
        if code is not None:  # exact: no hash, no check
            return first_seen(code)
    with np.errstate(over="ignore"):
        # each word mixed with its position before summing: a plain linear sum collides on
        # bit-packed keys (two words differing only in bit 63 cancel: 2^63 + 2^63 = 2^64),
        # which sent one signature in ten to the slow exact fallback
        coeffs = _coefficients(words.shape[1])
        h = mix64(mix64(words ^ coeffs).sum(axis=1, dtype=np.uint64))
    # a hash table (pandas' factorize) instead of sorting: ids in order of first appearance
    first, inverse = first_seen(h)
    if not np.array_equal(words[first[inverse]], words):  # a collision: be exact instead
        _, first, inverse = np.unique(words, axis=0, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
    return first.astype(np.int64), inverse.astype(np.int64)


def refine(blocks: Iterable[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """``unique_rows`` of the side-by-side concatenation of ``blocks`` (each with ``n`` rows),
    one block at a time: each step groups (group so far, block row), so the result is the same
    partition with the same ids (order of first appearance) without ever holding the whole
    key, which at 100,000 pods would be gigabytes."""
    inverse = np.zeros(n, dtype=np.int64)
    first = np.zeros(min(1, n), dtype=np.int64)
    if n == 0:
        return first, inverse
    for block in blocks:
        raw = np.ascontiguousarray(block).view(np.uint8).reshape(n, -1)
        if raw.shape[1] == 0:
            continue
        first, inverse = unique_rows(np.concatenate([inverse[:, None].view(np.uint8), raw], axis=1))
    return first, inverse


def column_blocks(m: np.ndarray, max_bytes: int = 64 << 20) -> Iterable[np.ndarray]:
    """``m`` (rows × columns) in column slices of at most ``max_bytes``."""
    step = max(1, max_bytes // max(1, m.shape[0] * m.itemsize))
    for k in range(0, m.shape[1], step):
        yield m[:, k:k + step]
