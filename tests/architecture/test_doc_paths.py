"""The docs name modules that exist: a path like ``auditor/compare/gate.py`` in README.md or
docs/*.md must be a file (or, ending in ``/``, a package) of this tree, so a move that forgets
the docs fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# `auditor/…/x.py` or `auditor/…/` after a backtick, space or parenthesis (not zone-auditor/…)
PATH = re.compile(r"(?<![\w/-])(auditor/(?:[A-Za-z0-9_]+/)*(?:[A-Za-z0-9_]+\.py)?)(?![\w-])")


def named_paths(text: str) -> set[str]:
    return {m for m in PATH.findall(text) if m.endswith((".py", "/"))}


def test_path_pattern() -> None:
    text = "see `auditor/compare/gate.py`, auditor/report/pdf/ and zone-auditor/gate-result"
    assert named_paths(text) == {"auditor/compare/gate.py", "auditor/report/pdf/"}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_docs_name_existing_modules(doc: Path) -> None:
    missing = sorted(p for p in named_paths(doc.read_text(encoding="utf-8")) if not (ROOT / p).exists())
    assert missing == [], f"{doc.relative_to(ROOT)} names modules that do not exist: {missing}"
