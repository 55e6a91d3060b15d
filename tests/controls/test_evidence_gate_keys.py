"""The gate's audit leaves ``policy_rules`` out of the evidence (neither its comparison nor its
reports read them); every other key is the full audit's, unchanged."""

from __future__ import annotations

import pytest

from auditor.commands.pipeline import AnalysisFlags, AuditSetup, InputSpec, audit_inputs
from tests.conftest import BANK, CONTROLS

PCI_ZONES = str(CONTROLS / "examples" / "bank-pci-zones.yaml")


@pytest.mark.parametrize("sample", ["after", "calico", "istio"])
def test_gate_evidence_is_the_audit_evidence_without_policy_rules(sample: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # one capture time (and digest) for both audits
    setup = AuditSetup.load([str(CONTROLS / "pci-dss-v4.yaml")], PCI_ZONES, None, "2026-12-01")
    spec = InputSpec(inputs=(str(BANK / sample),))
    full = audit_inputs(spec, AnalysisFlags(), setup, evidence_flows=False)
    gate = audit_inputs(spec, AnalysisFlags(), setup, evidence_flows=False, with_policy_rules=False)
    assert full.result is not None and gate.result is not None
    assert full.result.evidence["policy_rules"]  # the bank's policies have rules
    assert "policy_rules" not in gate.result.evidence
    want = full.result.to_dict()
    del want["policy_rules"]
    assert gate.result.to_dict() == want
