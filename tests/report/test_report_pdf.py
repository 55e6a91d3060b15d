"""The PDF evidence report, read back the way an auditor's tools would: text extracted with
pypdf, metadata, fonts, bookmarks, a page rendered to pixels, byte-for-byte determinism."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from auditor.report.data import ReportData
from auditor.report.pdf.document import render_pdf
from auditor.report.pdf.template import load_template
from tests.kits.report_kit import CAPTURED, contains, copy_result, flat, pdf_text, result

SECTIONS = {
    "auditor": ["Contents", "Executive summary", "Scope and method", "Zone-to-zone reachability",
                "Control evidence", "Appendix: inventory", "Sign-off"],
    "executive": ["Executive summary", "Controls", "Zone-to-zone reachability", "Acknowledgement"],
}


def render(name: str, template: str = "auditor", paper: str | None = None, data: dict[str, Any] | None = None) -> bytes:
    return render_pdf(ReportData(data if data is not None else result(name)), load_template(template), paper)


@pytest.fixture(scope="module")
def pdfs() -> dict[tuple[str, str], bytes]:
    return {(r, t): render(r, t) for r in ("before", "after", "waived") for t in ("auditor", "executive")}


@pytest.mark.parametrize("sample", ["before", "after"])
@pytest.mark.parametrize("template", ["auditor", "executive"])
def test_sections_verdicts_and_controls_are_in_the_text(pdfs: dict[tuple[str, str], bytes], sample: str,
                                                         template: str) -> None:
    data = result(sample)
    text = flat(" ".join(pdf_text(pdfs[(sample, template)])))
    for title in SECTIONS[template]:
        assert title in text, title
    for f in data["findings"]:
        assert contains(text, f["control"])
    expected = "FAIL" if sample == "before" else "PASS"
    assert expected in text
    if template == "auditor":
        for f in data["findings"]:
            assert contains(text, f["title"])  # one section per control
        assert contains(text, data["packs"][0]["digest"])  # scope: pack digest
        assert contains(text, f"auditor audit sample_clusters/bank/{sample} --controls")  # to reproduce


def test_executive_summary_is_two_pages(pdfs: dict[tuple[str, str], bytes]) -> None:
    for sample in ("before", "after", "waived"):
        assert len(PdfReader(io.BytesIO(pdfs[(sample, "executive")])).pages) <= 2


@pytest.mark.parametrize("template", ["auditor", "executive"])
def test_every_footer_has_the_snapshot_digest_and_page_n_of_m(pdfs: dict[tuple[str, str], bytes], template: str) -> None:
    digest = result("before")["snapshot"]["digest"]
    pages = pdf_text(pdfs[("before", template)])
    assert len(pages) >= (8 if template == "auditor" else 1)
    for n, page in enumerate(pages, start=1):
        text = flat(page)
        assert f"sha256:{digest}" in text, f"page {n}"
        assert f"Page {n} of {len(pages)}" in text, f"page {n}"


def test_evidence_tables_name_the_violating_flows_and_deciding_rules(pdfs: dict[tuple[str, str], bytes]) -> None:
    text = flat(" ".join(pdf_text(pdfs[("before", "auditor")])))
    assert "Evidence: 13 violation(s)" in text  # BANK-1
    assert contains(text, "restricted/attacker")
    assert "no policy applies: not isolated" in text
    assert "not isolated for ingress: no policy selects it" in text  # BANK-6 endpoint evidence
    after = flat(" ".join(pdf_text(pdfs[("after", "auditor")])))
    # the zone-crossing flows of the segmented cluster, with the policies that allow them
    assert "Zone-crossing flows: 11" in after
    assert contains(after, "NetworkPolicy restricted/database-allow-ingress-from-summary")


def test_waivers_are_shown_with_the_control(pdfs: dict[tuple[str, str], bytes]) -> None:
    text = flat(" ".join(pdf_text(pdfs[("waived", "auditor")])))
    assert "WAIVED" in text
    assert "Waivers applied" in text
    assert "W-7" in text and "CISO office" in text and "2027-12-31" in text


def test_unknown_verdicts_show_their_reasons() -> None:
    data = copy_result(result("after"))
    f = data["findings"][0]
    f["verdict"] = "unknown"
    f["unknown"]["reasons"] = ["NetworkPolicy could not be read (collection status forbidden): the answer depends on it"]
    f["message"] = f["unknown"]["reasons"][0]
    data["summary"]["controls"] = {"pass": 7, "fail": 0, "waived": 0, "unknown": 1}
    data["summary"]["verdict"] = "unknown"
    data["scope"]["collection"]["NetworkPolicy"] = "forbidden"
    text = flat(" ".join(pdf_text(render("after", data=data))))
    assert "UNKNOWN" in text
    assert "Why the verdict is unknown" in text
    assert "collection status forbidden" in text
    assert "forbidden" in text


def test_metadata_names_title_subject_and_the_snapshot_capture_date(pdfs: dict[tuple[str, str], bytes]) -> None:
    data = result("before")
    reader = PdfReader(io.BytesIO(pdfs[("before", "auditor")]))
    meta = reader.metadata
    assert meta is not None
    assert meta.title == "Network segmentation evidence report"
    assert data["snapshot"]["digest"] in (meta.subject or "")
    assert "Bank zone architecture" in (meta.subject or "")
    stamp = re.sub(r"\D", "", CAPTURED)
    assert meta["/CreationDate"].startswith(f"D:{stamp}")
    assert meta["/ModDate"].startswith(f"D:{stamp}")
    assert meta.creator.startswith("zone-auditor")


def _fonts(reader: PdfReader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for page in reader.pages:
        resources = page["/Resources"]
        fonts = resources.get("/Font", {})
        for _, ref in fonts.items():
            font = ref.get_object()
            out[str(font["/BaseFont"])] = font
    return out


def test_every_font_is_embedded(pdfs: dict[tuple[str, str], bytes]) -> None:
    for key, data in pdfs.items():
        fonts = _fonts(PdfReader(io.BytesIO(data)))
        assert fonts, key
        for name, font in fonts.items():
            if "/DescendantFonts" in font:
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font["/FontDescriptor"].get_object()
            assert any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3")), (key, name)
            assert "Helvetica" not in name and "Times" not in name and "Courier" not in name


def test_bookmarks_list_the_sections_and_every_control(pdfs: dict[tuple[str, str], bytes]) -> None:
    reader = PdfReader(io.BytesIO(pdfs[("before", "auditor")]))

    def titles(items: list[Any]) -> list[str]:
        out: list[str] = []
        for item in items:
            if isinstance(item, list):
                out += titles(item)
            else:
                out.append(item.title)
        return out

    marks = titles(reader.outline)
    for title in ("Executive summary", "Scope and method", "Control evidence", "Sign-off"):
        assert title in marks
    for f in result("before")["findings"]:
        assert any(m.startswith(f["control"] + " ") for m in marks), f["control"]


@pytest.mark.parametrize(("paper", "size"), [("a4", (595, 842)), ("letter", (612, 792))])
def test_paper_sizes(paper: str, size: tuple[int, int]) -> None:
    reader = PdfReader(io.BytesIO(render("before", "auditor", paper)))
    for page in reader.pages:
        assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == size


def test_same_result_gives_identical_pdf_bytes(pdfs: dict[tuple[str, str], bytes]) -> None:
    assert render("before", "auditor") == pdfs[("before", "auditor")]
    assert render("after", "executive") == pdfs[("after", "executive")]
    assert pdfs[("before", "auditor")] != pdfs[("after", "auditor")]


def _content(page: Any) -> bytes:
    data = page.get_contents().get_data()
    return data if isinstance(data, bytes) else zlib.decompress(data)


def test_a_rendered_page_is_not_blank(tmp_path: Path, pdfs: dict[tuple[str, str], bytes]) -> None:
    """The zone-matrix page paints text and coloured cells: always checked in its content
    stream, and, where poppler is installed, in the pixels of the page rendered to PNG."""
    data = pdfs[("before", "auditor")]
    reader = PdfReader(io.BytesIO(data))
    page_no = next(i for i, p in enumerate(reader.pages, start=1) if "Zone-to-zone reachability" in p.extract_text()
                   and "from \\ to" in p.extract_text())
    ops = _content(reader.pages[page_no - 1])
    assert ops.count(b" Tj") + ops.count(b" TJ") > 50  # text
    assert ops.count(b" re") > 20 and ops.count(b" rg") > 10  # filled, coloured rectangles (the grid)
    if shutil.which("pdftoppm"):
        import numpy as np
        from PIL import Image

        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(data)
        subprocess.run(["pdftoppm", "-r", "40", "-f", str(page_no), "-l", str(page_no), "-png", str(pdf),
                        str(tmp_path / "p")], check=True)
        png = next(tmp_path.glob("p*.png"))
        px = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
        assert (px != 255).any(axis=1).mean() > 0.05  # not blank
        assert len(np.unique(px, axis=0)) > 50  # text, header band, coloured cells
        red = (px[:, 0] > 200) & (px[:, 1] < 120) & (px[:, 2] < 90)
        assert red.sum() > 100  # the "allowed" cells of the unsegmented cluster


def test_a_large_result_is_summarised_and_capped() -> None:
    """5,000 violations on one control: summarised by workload, capped, pointing at the CSV."""
    data = copy_result(result("before"))
    f = next(x for x in data["findings"] if x["control"] == "BANK-1")
    template = f["violations"][0]
    many = []
    for i in range(5000):
        v = dict(template)
        v["src"] = f"ns-{i % 400:03d}/Deployment/app-{i % 25}"
        v["dst"] = f"restricted/StatefulSet/db-{i % 7}"
        many.append(v)
    f["violations"] = many
    f["counts"]["violations"] = len(many)
    start = time.perf_counter()
    pdf = render("before", data=data)
    elapsed = time.perf_counter() - start
    text = flat(" ".join(pdf_text(pdf)))
    assert "Evidence: 5,000 violation(s)" in text
    assert "summarised by destination workload" in text
    assert "Every flow is in violations.csv" in text
    assert contains(text, "restricted/StatefulSet/db-0")
    assert elapsed < 30
    assert len(PdfReader(io.BytesIO(pdf)).pages) < 40


def test_a_logo_and_organisation_brand_the_report(tmp_path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (240, 80), (200, 30, 30)).save(tmp_path / "logo.png")
    src = load_template("auditor").path
    text = Path(src).read_text()
    text = text.replace('organisation: ""', 'organisation: "Example Bank plc"').replace("# logo: logo.png", "logo: logo.png")
    (tmp_path / "brand.yaml").write_text(text)
    pdf = render_pdf(ReportData(result("after")), load_template(str(tmp_path / "brand.yaml")))
    pages = pdf_text(pdf)
    assert "Example Bank plc" in pages[0]
    assert all("Example Bank plc" in p for p in pages[1:])  # header
    assert b"/Subtype /Image" in pdf


def test_deciding_rules_are_drawn_from_the_structure_not_the_text() -> None:
    """With every ``decided_by`` text of the result replaced, the PDF still shows each side's
    deciding rules: the cells are built from ``decided_by_detail``."""
    data = copy_result(result("after"))
    flows = data["flows"]
    flows["decided_by"] = ["(text withheld)"] * len(flows["decided_by"])
    text = flat(" ".join(pdf_text(render("after", data=data))))
    assert "(text withheld)" not in text
    assert "Zone-crossing flows: 11" in text
    assert contains(text, "ingress: NetworkPolicy restricted/database-allow-ingress-from-summary ingress rule 0 (Allow)")
    assert contains(text, "ingress: no policy applies: not isolated")  # the report's short form (no rule ids)


def test_pdf_bytes_do_not_depend_on_source_date_epoch(monkeypatch) -> None:
    """#12: ReportLab folds $SOURCE_DATE_EPOCH into /ID even in invariant mode; ours must not."""
    data = ReportData(result("after"))
    template = load_template("executive")
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    plain = render_pdf(data, template)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert render_pdf(data, template) == plain
    assert os.environ["SOURCE_DATE_EPOCH"] == "1700000000"  # restored after rendering
