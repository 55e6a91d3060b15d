"""Verdicts are a ``StrEnum`` inside, plain text in everything written out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from auditor.canonical import canonical_json
from auditor.controls.result import EXIT_CODES, VERDICTS, Verdict, decide_counts
from tests.kits.controls_kit import audit, control, pack, two_zones


def _plain(obj: Any) -> bool:
    """No enum member anywhere (``type(x) is str`` for every text)."""
    if isinstance(obj, dict):
        return all(type(k) is str and _plain(v) for k, v in obj.items())
    if isinstance(obj, list | tuple):
        return all(_plain(v) for v in obj)
    return not isinstance(obj, str) or type(obj) is str


def test_decide_counts_order_and_text() -> None:
    assert decide_counts(1, 1, 1, ["blocked"]) is Verdict.UNKNOWN
    assert decide_counts(1, 1, 1, []) is Verdict.FAIL
    assert decide_counts(0, 1, 1, []) is Verdict.UNKNOWN
    assert decide_counts(0, 1, 0, []) is Verdict.WAIVED
    assert decide_counts(0, 0, 0, []) == "pass"  # a StrEnum is its text
    assert VERDICTS == ("pass", "fail", "waived", "unknown") and set(EXIT_CODES) == set(Verdict)


def test_the_result_dict_holds_plain_text(tmp_path: Path) -> None:
    controls = [control("OPEN", {"kind": "no-flow", "from": "web", "to": "data"}),
                control("SHUT", {"kind": "no-flow", "from": "data", "to": "web"})]
    result = audit(tmp_path, two_zones(segmented=True), pack(controls))
    assert {f.control: f.verdict for f in result.findings} == {"OPEN": Verdict.FAIL, "SHUT": Verdict.PASS}
    assert result.verdict is Verdict.FAIL and result.exit_code == 1
    data = result.to_dict()
    assert _plain(data)
    assert data["summary"]["controls"] == {"pass": 1, "fail": 1, "waived": 0, "unknown": 0}
    assert b'"verdict":"fail"' in canonical_json(data["summary"])
    assert yaml.safe_load(yaml.safe_dump(data["findings"]))[0]["verdict"] == "fail"  # safe_dump refuses enums
