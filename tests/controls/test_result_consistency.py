"""Issue #12 §4: ``auditor report`` refuses a result whose verdicts, counts, evidence and
summary do not add up (exit 2, naming what does not), and accepts every honest result."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.controls.consistency import result_problems
from tests.kits.mutate_kit import BANK, PACK, ROOT

WAIVERS = str(ROOT / "controls" / "examples" / "bank-waivers.yaml")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


def audited(tmp_path: Path, variant: str, *extra: str) -> dict[str, Any]:
    out = tmp_path / f"{variant}.json"
    r = CliRunner().invoke(main, ["audit", str(BANK / variant), "--controls", PACK, "-o", str(out), *extra])
    assert r.exit_code in (0, 1, 2), r.output
    return json.loads(out.read_text())


def report(tmp_path: Path, result: dict[str, Any]) -> Any:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    return CliRunner().invoke(main, ["report", str(path), "-o", str(tmp_path / "out"), "--format", "junit"])


@pytest.mark.parametrize(("variant", "extra"), [
    ("after", ()), ("before", ()), ("before", ("--max-evidence", "1")),
    ("before", ("--waivers", WAIVERS, "--as-of", "2026-12-01")),
])
def test_honest_results_add_up(tmp_path: Path, variant: str, extra: tuple[str, ...]) -> None:
    result = audited(tmp_path, variant, *extra)
    assert result_problems(result) == []
    assert report(tmp_path, result).exit_code == 0


def test_forged_pass_with_listed_violations_is_refused(tmp_path: Path) -> None:
    """The issue's repro: every verdict set to pass while the violations are still listed."""
    result = audited(tmp_path, "before")
    failing = [f["control"] for f in result["findings"] if f["verdict"] == "fail"]
    assert failing
    for f in result["findings"]:
        f["verdict"] = "pass"
    result["summary"] = {"verdict": "pass", "exit_code": 0,
                         "controls": {"pass": len(result["findings"]), "fail": 0, "waived": 0, "unknown": 0}}
    r = report(tmp_path, result)
    assert r.exit_code == 2
    assert r.stderr.startswith("error: ") and "inconsistent audit result" in r.stderr
    assert f"{failing[0]}: verdict 'pass', but its counts" in r.stderr and "make it 'fail'" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_counts_zeroed_but_violations_listed_is_refused(tmp_path: Path) -> None:
    result = audited(tmp_path, "before")
    f = next(f for f in result["findings"] if f["verdict"] == "fail")
    f["verdict"] = "pass"
    f["counts"] = {"violations": 0, "waived": 0, "unknown": 0}
    problems = result_problems(result)
    assert any(f"{f['control']}: " in p and "listed" in p for p in problems)
    assert report(tmp_path, result).exit_code == 2


def test_summary_disagreeing_with_findings_is_refused(tmp_path: Path) -> None:
    result = audited(tmp_path, "before")
    result["summary"]["verdict"] = "pass"
    result["summary"]["exit_code"] = 0
    r = report(tmp_path, result)
    assert r.exit_code == 2 and "summary.verdict is 'pass', but the findings make it 'fail'" in r.stderr


def test_waived_by_an_unknown_waiver_is_refused(tmp_path: Path) -> None:
    result = audited(tmp_path, "before", "--waivers", WAIVERS, "--as-of", "2026-12-01")
    for w in result["waivers"]:
        w["status"] = "expired"
    assert any("not an active waiver" in p for p in result_problems(result))


def test_malformed_digest_is_refused(tmp_path: Path) -> None:
    result = audited(tmp_path, "after")
    result["snapshot"]["digest"] = "0" * 63
    assert any("snapshot.digest" in p for p in result_problems(result))
    assert report(tmp_path, result).exit_code == 2
