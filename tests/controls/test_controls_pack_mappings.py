"""Control packs map each control onto catalog control ids (NIST SP 800-53 rev5, PCI DSS), as
data: ``mappings: {CATALOG: [ID, ...]}``, validated as OSCAL tokens and carried into the result."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from auditor.controls.pack import load_packs
from auditor.errors import AuditorError

PACK = """\
schema: zone-auditor/controls/v1
id: tiny
title: Tiny
framework: Test
zones:
  a: {selector: "app == 'a'"}
controls:
  - id: T-1
    title: isolated
    references: [Test 1]
    mappings: MAPPINGS
    rationale: r
    severity: high
    assert: {kind: isolated, zones: [a]}
"""


def write(tmp_path: Path, mappings: object) -> str:
    path = tmp_path / "pack.yaml"
    path.write_text(PACK.replace("MAPPINGS", yaml.safe_dump(mappings, default_flow_style=True).strip()))
    return str(path)


def test_shipped_packs_map_every_control_onto_nist(controls_dir: Path) -> None:
    packs, _ = load_packs([str(controls_dir)])
    for pack in packs:
        for control in pack.controls:
            maps = dict(control.mappings)
            assert maps.get("nist-sp-800-53-rev5"), f"{pack.id}/{control.id}"
            if pack.id == "pci-dss-v4":
                refs = {r.removeprefix("PCI DSS v4.0 ") for r in control.references}
                assert {x.removeprefix("req-") for x in maps["pci-dss-v4"]} == refs


def test_mappings_are_read_sorted_and_deduplicated(tmp_path: Path) -> None:
    (pack,), _ = load_packs([write(tmp_path, {"pci-dss-v4": ["req-1.3.1"], "nist-sp-800-53-rev5": ["sc-7", "sc-7"]})])
    assert pack.controls[0].mappings == (("nist-sp-800-53-rev5", ("sc-7",)), ("pci-dss-v4", ("req-1.3.1",)))


@pytest.mark.parametrize(("mappings", "message"), [
    ({"nist-sp-800-53-rev5": ["1.3.1"]}, "controls[0].mappings.nist-sp-800-53-rev5[0]: catalog control id '1.3.1'"),
    ({"NIST": ["sc-7"]}, "catalog name 'NIST'"),
    ({"nist-sp-800-53-rev5": []}, "must not be empty"),
    (["sc-7"], "must be a mapping"),
])
def test_bad_mappings_name_file_line_and_path(tmp_path: Path, mappings: object, message: str) -> None:
    with pytest.raises(AuditorError) as err:
        load_packs([write(tmp_path, mappings)])
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / "pack.yaml") + ":")
