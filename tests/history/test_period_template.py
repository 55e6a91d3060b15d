"""The period report's template checks its text fields with the evidence template's rules
(``report.pdf.template.text_field``) against the period's own placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.history.report import load_period_template

PERIOD = Path(__file__).resolve().parents[2] / "report_templates" / "period.yaml"


def _with_title(tmp_path: Path, title: str) -> str:
    text = PERIOD.read_text(encoding="utf-8")
    old = "title: Network segmentation over the period of review\n"
    assert old in text
    path = tmp_path / "p.yaml"
    path.write_text(text.replace(old, f"title: {title!r}\n"), encoding="utf-8")
    return str(path)


def test_period_placeholders_are_accepted(tmp_path: Path) -> None:
    tpl = load_period_template(_with_title(tmp_path, "Segmentation {since} to {until}, {runs} runs"))
    assert tpl.title == "Segmentation {since} to {until}, {runs} runs"


@pytest.mark.parametrize(("title", "words"), [
    ("From {since} in {clustr}", "unknown placeholder {clustr} (known: {organisation}"),
    ("{cluster}", "unknown placeholder {cluster}"),  # an evidence-report placeholder, not a period one
    ("{runs:>5}", "placeholder {runs} takes no format spec or conversion"),
    ("{since", "invalid placeholder syntax"),
])
def test_bad_placeholders_name_file_line_and_field(tmp_path: Path, title: str, words: str) -> None:
    with pytest.raises(AuditorError) as err:
        load_period_template(_with_title(tmp_path, title))
    message = str(err.value)
    assert "p.yaml:" in message and "title" in message and words in message, message
