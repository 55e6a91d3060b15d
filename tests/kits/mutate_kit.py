"""Copies of a bundled sample with one file's objects changed, for validation tests.

``mutated(tmp_path, "after", "50-netpol-default-deny.yaml", fn)`` copies
``sample_clusters/bank/after`` into ``tmp_path`` and rewrites that file with ``fn`` applied
to its list of objects; it returns (directory, rewritten file).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PACK = str(ROOT / "controls" / "bank-zones.yaml")


def copy_variant(tmp_path: Path, variant: str) -> Path:
    target = tmp_path / variant
    shutil.copytree(BANK / variant, target)
    return target


def read_docs(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def write_docs(path: Path, docs: list[Any]) -> None:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def mutated(tmp_path: Path, variant: str, name: str,
            change: Callable[[list[Any]], None]) -> tuple[Path, Path]:
    target = copy_variant(tmp_path, variant)
    path = target / name
    docs = read_docs(path)
    change(docs)
    write_docs(path, docs)
    return target, path


def find(docs: list[Any], kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
    for doc in docs:
        meta = doc.get("metadata") or {}
        if doc.get("kind") == kind and meta.get("name") == name and (
                namespace is None or meta.get("namespace") == namespace):
            return doc
    raise LookupError(f"{kind} {namespace}/{name} not in the file")
