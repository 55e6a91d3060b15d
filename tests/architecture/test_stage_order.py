"""The import graph of ``auditor/`` follows the stage order of ARCHITECTURE.md: a module imports
only from its own stage or stages above it, and there are no import cycles (function-level
imports count: they are still a dependency, only a hidden one)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "auditor"

# Earlier stages first. A module's stage is the longest prefix listed here.
STAGES: tuple[tuple[str, ...], ...] = (
    ("auditor", "auditor.errors", "auditor.kinds", "auditor.canonical", "auditor.portset",
     "auditor.yamlfile", "auditor.documents", "auditor.schemas", "auditor.causes"),
    ("auditor.snapshot",),
    ("auditor.sources",),
    ("auditor.policy",),
    ("auditor.reach",),
    ("auditor.controls",),
    ("auditor.report",),
    ("auditor.compare",),
    ("auditor.history", "auditor.attest"),
    ("auditor.commands",),
    ("auditor.cli", "auditor.__main__"),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports, resolved to the longest known module name."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def stage_of(name: str) -> int:
    best, rank = -1, -1
    for i, prefixes in enumerate(STAGES):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > best:
                best, rank = len(prefix), i
    if rank < 0:
        raise AssertionError(f"{name}: not in any stage of STAGES; add it where it belongs")
    return rank


def graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    return {n: {t for t in imports_of(n, p, known) if not n.startswith(t + ".")} for n, p in mods.items()}


def test_every_module_has_a_stage() -> None:
    for name in modules():
        stage_of(name)


def test_no_module_imports_a_later_stage() -> None:
    upward = sorted(
        f"{src} (stage {stage_of(src)}) imports {dst} (stage {stage_of(dst)})"
        for src, targets in graph().items() for dst in targets
        if dst != "auditor" and stage_of(dst) > stage_of(src)
    )
    assert not upward, "imports against the stage order:\n" + "\n".join(upward)


def strongly_connected(g: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles() -> None:
    cycles = strongly_connected(graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


@pytest.mark.parametrize("cycle", [{"a": {"b"}, "b": {"c"}, "c": {"a"}}, {"x": {"y"}, "y": {"x"}}])
def test_the_cycle_finder_finds_cycles(cycle: dict[str, set[str]]) -> None:
    assert strongly_connected(cycle) == [sorted(cycle)]


def test_the_stage_check_sees_an_upward_import() -> None:
    assert stage_of("auditor.reach.engine") < stage_of("auditor.controls.result")
    assert stage_of("auditor.portset") < stage_of("auditor.reach.ports")
