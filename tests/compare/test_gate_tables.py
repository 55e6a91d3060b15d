"""The gate's tables built per distinct value (protected flows, baseline rows, violation keys)
hold exactly what the pair-by-pair and row-by-row forms held, on the bank samples."""

from __future__ import annotations

import numpy as np
import pytest

from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    audit_inputs,
    current_baseline,
)
from auditor.compare.baseline import Baseline, ProtectedFlow, analysis_flows, tuple_row, tuple_rows
from auditor.compare.gate import run_gate
from auditor.documents import as_written, parse_ports
from auditor.reach.flows import AllowedFlows
from tests.conftest import BANK, CONTROLS

SAMPLES = ("before", "after", "calico", "istio")
PACKS = ("bank-zones.yaml", "pci-dss-v4.yaml")  # PCI with the bank's labels mapped onto its zones
PCI_ZONES = CONTROLS / "examples" / "bank-pci-zones.yaml"


def _audited(sample: str, pack: str):  # type: ignore[no-untyped-def]
    zones = str(PCI_ZONES) if pack == "pci-dss-v4.yaml" else None
    setup = AuditSetup.load([str(CONTROLS / pack)], zones, None, "2026-12-01")
    return setup, audit_inputs(InputSpec(inputs=(str(BANK / sample),)), AnalysisFlags(), setup)


def _flows_pair_by_pair(analysis, zones, protected):  # type: ignore[no-untyped-def]
    """The protected-flow table as it was built before: one ProtectedFlow per pair."""
    ents = analysis.entities("workload")
    inside = [np.array([z in (zones.get(e.name) or {}).get(p, ()) for e in ents], dtype=bool)
              for p, zs in protected.items() for z in zs]
    is_dst = np.zeros(len(ents), dtype=bool)
    for m in inside:
        is_dst |= m & np.array([e.kind != "external" for e in ents], dtype=bool)
    d_idx = np.flatnonzero(is_dst)
    if not d_idx.size:
        return {}
    dsts = [ents[k] for k in d_idx.tolist()]
    into = np.zeros((len(ents), len(dsts)), dtype=bool)
    for m in inside:
        into |= ~m[:, None] & m[d_idx][None, :]
    table = AllowedFlows(analysis, analysis.pairs("workload", ents, dsts), ents, dsts, keep=into)
    return {(ents[f.src].name, dsts[f.dst].name): ProtectedFlow(as_written(f.allowed, table.universe),
                                                                as_written(f.unknown, table.universe))
            for f in table.flows()}


@pytest.mark.parametrize("pack", PACKS)
@pytest.mark.parametrize("sample", SAMPLES)
def test_protected_flows_per_verdict_row_equal_pair_by_pair(sample: str, pack: str) -> None:
    setup, audited = _audited(sample, pack)
    current, _ = current_baseline(audited, setup)
    want = _flows_pair_by_pair(audited.analysis, current.zones, current.protected)
    got, _ = analysis_flows(audited.analysis, current.zones, current.protected)
    assert list(got.items()) == list(want.items())  # same pairs, same order, same port sets
    assert got  # the samples do have flows into protected zones: the comparison is not vacuous


@pytest.mark.parametrize("sample", SAMPLES)
def test_baseline_file_reads_back_row_by_row(sample: str) -> None:
    setup, audited = _audited(sample, "pci-dss-v4.yaml")
    current, _ = current_baseline(audited, setup)
    data = current.to_dict()
    back = Baseline.from_dict(data, where="test")
    assert back.to_dict() == data
    rows = data["flows"]["rows"]
    assert rows
    assert back.flows == {(r[0], r[1]): ProtectedFlow(parse_ports(r[2]), parse_ports(r[3])) for r in rows}
    for f in data["findings"]:
        assert tuple_rows(f["violations"]) == [tuple_row(r) for r in f["violations"]]
    # the violation keys of a fresh audit: one per row, as the rows themselves spell them
    assert audited.result is not None
    for finding in audited.result.findings:
        t = finding.all_violations
        keys = [(v.kind, v.src, v.dst, v.ports, v.flow, v.reason) for v in t]
        assert t.keys() == keys
        assert t.keys(open_only=True) == [k for k, v in zip(keys, t, strict=True) if not v.waived_by]


def test_gate_compares_shared_flow_objects_by_value() -> None:
    """Flows that share one ProtectedFlow per value on each side: a changed pair among many
    unchanged ones sharing the same objects is still found, an unchanged one never is."""
    same = ProtectedFlow(parse_ports("TCP:80"), parse_ports("none"))
    wider = ProtectedFlow(parse_ports("TCP:80,443"), parse_ports("none"))
    zones = {"a": {"p": ("out",)}, "b": {"p": ("cde",)}, "c": {"p": ("cde",)}}

    def side(flows: dict[tuple[str, str], ProtectedFlow]) -> Baseline:
        return Baseline(tool_version="t", snapshot={}, packs=[{"id": "p", "digest": "d"}], zones_file=None,
                        waivers_file=None, as_of=None, verdict="", protected={"p": ("cde",)}, findings={},
                        flows=flows, zones=zones, labels={n: {} for n in zones}, policy_rules=None, waivers={})

    old = side({("a", "b"): same, ("a", "c"): same})
    now = side({("a", "b"): ProtectedFlow(parse_ports("TCP:80"), parse_ports("none")), ("a", "c"): wider})
    report = run_gate(old, now)
    assert [(f.src, f.dst, f.ports, f.verdict) for f in report.new_flows] == [("a", "c", "TCP:443", "allowed")]
    assert run_gate(old, side({("a", "b"): wider, ("a", "c"): same})).new_flows[0].dst == "b"
