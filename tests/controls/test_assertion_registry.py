"""The assertion kind registry: every kind class is registered under its name, documented, and
its spec mistakes are reported as ``file:line: path: problem`` like the rest of a pack."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import auditor.controls.assertions as assertions_pkg
from auditor.compare.protected import protected_by_spec, protected_zones
from auditor.controls.assertions.base import AssertionKind
from auditor.controls.assertions.registry import KINDS
from auditor.controls.pack import load_packs
from auditor.errors import AuditorError
from tests.controls.test_controls_pack import error, load_text, with_assert

ROOT = Path(__file__).resolve().parents[2]


def _kind_classes() -> dict[str, type[AssertionKind]]:
    """Every concrete AssertionKind defined in a module of the assertions package."""
    out: dict[str, type[AssertionKind]] = {}
    for info in pkgutil.iter_modules(assertions_pkg.__path__):
        module = importlib.import_module(f"{assertions_pkg.__name__}.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, AssertionKind) and cls is not AssertionKind and cls.__module__ == module.__name__:
                out[cls.__name__] = cls
    return out


def test_every_kind_class_is_registered_under_its_own_name() -> None:
    classes = _kind_classes()
    assert classes, "no kind classes found"
    assert {type(k).__name__ for k in KINDS.values()} == set(classes)
    for name, kind in KINDS.items():
        assert kind.name == name and re.fullmatch(r"[a-z]+(-[a-z]+)*", name)
        for method in ("parse", "evaluate", "describe"):  # the base class only raises
            assert getattr(type(kind), method) is not getattr(AssertionKind, method), (name, method)


def test_every_kind_is_documented() -> None:
    doc = (ROOT / "docs" / "controls.md").read_text()
    headings = set(re.findall(r"^### `([a-z-]+)`$", doc, flags=re.M))
    assert set(KINDS) <= headings
    listed = re.search(r"kinds: ([a-z, -]+)\)", doc)
    assert listed is not None and listed.group(1).split(", ") == list(KINDS)  # the error line shown


def test_the_shipped_packs_use_registered_kinds_only() -> None:
    packs, _ = load_packs([str(ROOT / "controls")])
    assert {c.assertion.kind for p in packs for c in p.controls} <= set(KINDS)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kinds_spec_errors_carry_file_and_line(tmp_path: Path, kind: str) -> None:
    # line 19 is `kind:`, 20 the stray field, 21 a second one (HEAD is 17 lines + `assert:`)
    msg = error(tmp_path, with_assert(f"kind: {kind}\nbogus: 1\nzones: [web]"))
    assert re.match(r"pack\.yaml:20: controls\[0\]\.assert\.bogus: unknown field 'bogus' \(allowed here: kind, ", msg), msg


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kinds_missing_fields_carry_file_and_line(tmp_path: Path, kind: str) -> None:
    # a bare ``kind:``: valid for a kind that needs nothing else, else one error naming the
    # ``assert`` mapping and its line (18)
    try:
        load_text(tmp_path, with_assert(f"kind: {kind}"))
    except AuditorError as exc:
        msg = str(exc).replace(str(tmp_path) + "/", "")
        assert re.match(r"pack\.yaml:18: controls\[0\]\.assert: (missing required field|give exactly one)", msg), msg
    else:
        assert kind == "zone-coverage"  # default: every workload zone of the pack


def test_unknown_kind_lists_the_registry_in_order(tmp_path: Path) -> None:
    msg = error(tmp_path, with_assert("kind: no-flows\nfrom: internet\nto: web"))
    assert msg == ("pack.yaml:19: controls[0].assert.kind: unknown assertion kind 'no-flows' "
                   f"(did you mean 'no-flow'? kinds: {', '.join(KINDS)})")


def test_gate_protection_comes_from_the_kinds() -> None:
    assert protected_by_spec("no-flow", {"from": "dmz", "to": ["trusted", {"zone": "restricted"}]}) == [
        "trusted", "restricted"]
    assert protected_by_spec("isolated", {"zones": ["cde"], "directions": ["egress"]}) == []
    assert protected_by_spec("not-a-kind", {"zones": ["cde"]}) == []
    assert protected_by_spec("mtls-required", None) == []
    packs, _ = load_packs([str(ROOT / "controls" / "bank-zones.yaml")])
    assert protected_zones(packs) == {"bank-zones": ("dmz", "restricted", "trusted")}
