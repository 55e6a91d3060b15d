"""Rendered manifests: point evidence back at the templates they came from.

``helm template`` writes ``# Source: <chart>/templates/<file>.yaml`` above every document. When
the gate reads rendered output (a file, or ``-`` on standard input), an origin ``(<stdin>, line
N)`` is of no use to a pull-request annotation; ``remap_origins`` rewrites the ``origin`` of the
result's policies and workloads to the template file (``--source-prefix`` is prepended, e.g.
``deploy/charts/``), at the line of the object's ``kind:`` in that template when the file is
there to read (else line 1), and keeps where it was in the rendered stream under ``rendered``.
Output without such comments (kustomize) keeps its origins.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, MutableMapping
from typing import Any

_SOURCE = re.compile(r"^#\s*Source:\s*(\S.*?)\s*$")


def source_of(lines: list[str], line: int) -> str | None:
    """The ``# Source:`` path above the document whose first content line is ``line`` (1-based)."""
    k = line - 2
    while k >= 0:
        text = lines[k].strip()
        m = _SOURCE.match(text)
        if m:
            return m.group(1)
        if text.startswith("---") or (text and not text.startswith("#")):
            return None
        k -= 1
    return None


def _template_line(path: str, kind: str, name: str, cache: dict[str, list[str] | None]) -> int:
    if path not in cache:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                cache[path] = fh.read().splitlines()
        except OSError:
            cache[path] = None
    lines = cache[path]
    if not lines:
        return 1
    kind_lines = [i + 1 for i, t in enumerate(lines) if re.match(rf"^\s*kind:\s*['\"]?{re.escape(kind)}['\"]?\s*$", t)]
    if not kind_lines:
        return 1
    named = [i + 1 for i, t in enumerate(lines) if re.match(rf"^\s*name:\s*['\"]?{re.escape(name)}['\"]?\s*$", t)]
    if named:
        before = [k for k in kind_lines if k <= named[0]]
        if before:
            return before[-1]
    return kind_lines[0]


def remap_origins(result: MutableMapping[str, Any], texts: Mapping[str, str], prefix: str = "") -> int:
    """Rewrite policy and workload origins that sit under a ``# Source:`` comment; returns how
    many were rewritten. ``texts`` maps an origin file name (``<stdin>`` included) to its text;
    files not in it are read from disk."""
    split: dict[str, list[str] | None] = {}
    templates: dict[str, list[str] | None] = {}

    def lines_of(file: str) -> list[str] | None:
        if file not in split:
            if file in texts:
                split[file] = texts[file].splitlines()
            elif file and not file.startswith("<") and os.path.isfile(file):
                try:
                    with open(file, encoding="utf-8", errors="replace") as fh:
                        split[file] = fh.read().splitlines()
                except OSError:
                    split[file] = None
            else:
                split[file] = None
        return split[file]

    changed = 0

    def fix(item: MutableMapping[str, Any], kind: str, name: str) -> None:
        nonlocal changed
        origin = item.get("origin")
        if not isinstance(origin, Mapping) or not isinstance(origin.get("line"), int):
            return
        lines = lines_of(str(origin.get("file") or ""))
        if not lines:
            return
        src = source_of(lines, int(origin["line"]))
        if src is None:
            return
        path = prefix + src if prefix else src
        item["origin"] = {"file": path, "document": origin.get("document"),
                          "line": _template_line(path, kind, name, templates),
                          "rendered": {"file": origin.get("file"), "line": origin.get("line")}}
        changed += 1

    for pol in result.get("policies") or []:
        kind = str(pol.get("kind") or "").split("/")[-1]
        fix(pol, kind, str(pol.get("name") or ""))
    for w in (result.get("inventory") or {}).get("workloads") or []:
        fix(w, str(w.get("kind") or ""), str(w.get("name") or "").rsplit("/", 1)[-1])
    return changed
