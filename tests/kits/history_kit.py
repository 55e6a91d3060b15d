"""Helpers of the history tests: running the CLI, auditing the bank sample once per session,
and loading ``benchmarks/history_gen.py`` (benchmarks/ is not a package)."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PACK = ROOT / "controls" / "bank-zones.yaml"


def cli(*args: str, env: dict[str, str] | None = None) -> Result:
    from auditor.cli import main

    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def error_lines(result: Result) -> list[str]:
    return [ln for ln in (result.stderr or "").splitlines() if ln.strip()]


@functools.cache
def bank_result(variant: str) -> bytes:
    """``auditor audit sample_clusters/bank/VARIANT --controls controls/bank-zones.yaml -o -``,
    with a fixed capture time."""
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "r.json"
        cli("audit", BANK / variant, "--controls", PACK, "-o", out,
            env={"SOURCE_DATE_EPOCH": "1767225600"})  # captured 2026-01-01T00:00:00Z
        return out.read_bytes()


def bank_doc(variant: str) -> dict[str, Any]:
    return orjson.loads(bank_result(variant))


@functools.cache
def history_gen() -> Any:
    path = ROOT / "benchmarks" / "history_gen.py"
    spec = importlib.util.spec_from_file_location("history_gen", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["history_gen"] = module
    spec.loader.exec_module(module)
    return module
