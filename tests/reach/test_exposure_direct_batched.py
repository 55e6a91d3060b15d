"""EXP-1's direct paths take their deciding rules from one ``decided_by_many`` call: each hop's
evidence is what ``decided_by`` of its pair alone gives (the bank samples, allowed and unknown
flows, several classes per workload in calico/istio)."""

from __future__ import annotations

import pytest

from auditor.commands.pipeline import (
    AnalysisFlags,
    InputSpec,
    analyse,
    analysis_options,
    read_inputs,
)
from auditor.reach.decision import detail_of
from auditor.reach.engine import DENY
from auditor.reach.exposure.paths import build_exposure
from tests.conftest import BANK


@pytest.mark.parametrize("sample", ["before", "after", "calico", "istio", "ingress", "gateway"])
def test_direct_hops_equal_pair_by_pair_decided_by(sample: str) -> None:
    analysis = analyse(read_inputs(InputSpec(inputs=(str(BANK / sample),))).snapshot,
                       analysis_options(AnalysisFlags()))
    ex = build_exposure(analysis)
    client, _ = analysis.find(ex.settings.client)
    dsts = [e for e in analysis.entities("workload") if e.kind != "external"]
    pm = analysis.pairs("workload", [client], dsts)
    want = []
    for j, d in enumerate(dsts):
        if int(pm.verdict[pm.row[0, j]].max()) != DENY:
            why = analysis.decided_by(pm, 0, j)
            want.append((d.name, str(why), detail_of(why), why.causes))
    got = [(h.dst, str(h.rule), detail_of(h.rule), h.rule.causes) for h in (p.hops[0] for p in ex.paths if p.via == "direct")]
    assert got == want
    assert got  # the internet reaches some workload directly in every sample
