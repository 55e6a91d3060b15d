"""Report templates are data: the bundled ones validate, copies can reorder and rebrand, and
every mistake names the file, the line and the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from auditor.errors import AuditorError
from auditor.report.data import ReportData
from auditor.report.pdf.document import render_pdf
from auditor.report.pdf.template import (
    DEFAULT_TEMPLATES,
    PLACEHOLDERS,
    load_template,
    resolve,
    template_dirs,
)
from tests.kits.report_kit import flat, pdf_text, result

GOOD = """\
schema: zone-auditor/report-template/v1
name: mine
file: mine.pdf
title: "Evidence for {organisation}"
branding:
  organisation: Example Bank
  colours:
    primary: "#003366"
sections:
  - section: signoff
    title: Signatures first
  - section: text
    title: Why we segment
    text: |
      Cluster {cluster} holds card data.

      - first point
      - second point
  - section: summary
    title: Summary
"""


@pytest.mark.parametrize("name", DEFAULT_TEMPLATES)
def test_bundled_templates_validate(name: str) -> None:
    t = load_template(name)
    assert t.name == name
    assert t.file.endswith(".pdf")
    assert t.sections


def test_every_placeholder_has_a_value() -> None:
    values = ReportData(result("before")).placeholders("Org", "", 200)
    assert set(values) == set(PLACEHOLDERS)
    assert values["result_upper"] == "FAIL"
    assert values["snapshot_digest"] == result("before")["snapshot"]["digest"]


def test_a_copied_template_reorders_sections_and_renders_its_text(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(GOOD)
    t = load_template(str(path))
    assert [s.kind for s in t.sections] == ["signoff", "text", "summary"]
    text = flat(" ".join(pdf_text(render_pdf(ReportData(result("after")), t))))
    first, second, third = (text.index(x) for x in ("Signatures first", "Why we segment", "Summary"))
    assert first < second < third
    assert "Cluster sample_clusters/bank/after holds card data." in text
    assert "first point" in text


def test_templates_are_found_in_the_share_directory_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    share = tmp_path / "share"
    (share / "report_templates").mkdir(parents=True)
    (share / "report_templates" / "auditor.yaml").write_text(GOOD.replace("name: mine", "name: shared"))
    monkeypatch.setenv("ZONE_AUDITOR_SHARE", str(share))
    assert template_dirs()[0] == share / "report_templates"
    assert resolve("auditor") == share / "report_templates" / "auditor.yaml"
    assert load_template("auditor").name == "shared"
    assert load_template("executive").name == "executive"  # falls back to the checkout's


def test_unknown_template_name_lists_where_it_looked() -> None:
    with pytest.raises(AuditorError, match=r"template 'nope' not found \(looked in .*report_templates"):
        load_template("nope")


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(AuditorError) as exc:
        load_template(str(path))
    return str(exc.value).replace(str(tmp_path) + "/", "")


@pytest.mark.parametrize(("change", "message"), [
    (("  - section: summary\n", "  - section: summry\n"),
     "bad.yaml:19: sections[2].section: unknown section 'summry' (known: cover, contents, facts"),
    (("Cluster {cluster} holds", "Cluster {clustr} holds"),
     "bad.yaml:14: sections[1].text: unknown placeholder {clustr} (known: {organisation}"),
    (('primary: "#003366"', 'primary: "blue"'),
     "bad.yaml:8: branding.colours.primary: must be a colour written #RRGGBB, got 'blue'"),
    (("    title: Summary\n", ""), "bad.yaml:19: sections[2]: missing required field 'title'"),
    (("file: mine.pdf", "file: ../x.pdf"), "bad.yaml:3: file: must be a file name ending in .pdf"),
    (("schema: zone-auditor/report-template/v1", "schema: v2"), "bad.yaml:1: schema: must be"),
    (("branding:\n", "branding:\n  logo: missing.png\n"), "bad.yaml:6: branding.logo: logo file 'missing.png' not found"),
    (("  organisation: Example Bank\n", "  organisation: Example Bank\n  font: x\n"),
     "bad.yaml:7: branding.font: unknown field 'font'"),
    (("  - section: summary\n    title: Summary\n", "  - section: signoff\n    title: Again\n"),
     "bad.yaml:19: sections[2].section: section 'signoff' may appear only once"),
    (("title: \"Evidence for {organisation}\"", "title: \"Evidence for {organisation\""),
     "bad.yaml:4: title: invalid placeholder syntax"),
])
def test_template_errors_name_file_line_and_field(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    old, new = change
    assert old in GOOD
    assert message in _error(tmp_path, GOOD.replace(old, new, 1))


def test_controls_section_verdict_filter_is_validated(tmp_path: Path) -> None:
    text = GOOD + "  - section: controls\n    title: Failing\n    verdicts: [fail, broken]\n"
    assert "bad.yaml:23: sections[3].verdicts[1]: unknown verdict 'broken'" in _error(tmp_path, text)
