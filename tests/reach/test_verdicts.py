"""Flow verdicts as a StrEnum: the words every output prints, unchanged when serialised."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from click.testing import CliRunner

from auditor.canonical import canonical_json
from auditor.cli import main
from auditor.reach.engine import ALLOW, DENY, UNKNOWN, VERDICT_WORDS, FlowVerdict

BANK = Path(__file__).resolve().parents[2] / "sample_clusters" / "bank"


def test_codes_words_and_serialisation() -> None:
    assert [FlowVerdict.of(c) for c in (ALLOW, DENY, UNKNOWN)] == ["allowed", "denied", "unknown"]
    assert canonical_json({"flow": FlowVerdict.DENIED, "words": list(FlowVerdict)}) == (
        b'{"flow":"denied","words":["allowed","denied","unknown"]}')
    assert f"{FlowVerdict.UNKNOWN}" == "unknown"
    assert VERDICT_WORDS == {DENY: "false", UNKNOWN: "unknown", ALLOW: "true"}


def test_reach_allowed_column_keeps_its_words() -> None:
    r = CliRunner().invoke(main, ["reach", str(BANK / "calico"), "--format", "csv"], catch_exceptions=False)
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert {row["allowed"] for row in rows} == {"true", "false"}
    only = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--format", "csv", "--only", "denied"])
    assert {row["allowed"] for row in csv.DictReader(io.StringIO(only.stdout))} == {"false"}
