"""The one allowed-flows table (``auditor/reach/flows.py``) on the bank sample: which pairs are
live, their port sets, and the text the audit's flow table writes for them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from auditor.portset import PortSet
from auditor.reach.analysis import AnalysisOptions, analyze
from auditor.reach.engine import ALLOW, UNKNOWN
from auditor.reach.flows import AllowedFlows, single_pods
from auditor.sources.manifests import load_manifests


def test_live_pairs_and_their_ports_on_the_bank_sample(bank: Path) -> None:
    analysis = analyze(load_manifests([str(bank / "before")]), AnalysisOptions())
    ents = analysis.entities("workload")
    pm = analysis.pairs("workload", ents, ents)
    table = AllowedFlows(analysis, pm, ents, ents)
    flows = table.flows()
    assert len(flows) == len(table) > 0
    single = single_pods(analysis, ents)
    listed = {(f.src, f.dst) for f in flows}
    for i in range(len(ents)):
        for j in range(len(ents)):
            v = pm.verdict[pm.row[i, j]]
            some = bool((v == ALLOW).any() or (v == UNKNOWN).any())
            both_external = ents[i].kind == "external" and ents[j].kind == "external"
            # live = some port allowed or undecided, except external→external and a pod to itself (K8S-15)
            assert ((i, j) in listed) == (some and not both_external and not (i == j and single[i]))
    for f in flows:
        v = pm.verdict[f.row]
        assert f.allowed == PortSet.from_atoms(analysis.ports, v == ALLOW)
        assert f.unknown == PortSet.from_atoms(analysis.ports, v == UNKNOWN)
        assert f.allowed or f.unknown
        # the text the result's flow table writes is the engine's own summary of those atoms
        if f.allowed:
            assert table.text(f.allowed) == analysis.ports.summary(v == ALLOW)
    # ``keep`` narrows the table without changing a pair's ports
    keep = np.zeros(table.live.shape, dtype=bool)
    keep[flows[0].src, flows[0].dst] = True
    narrowed = AllowedFlows(analysis, pm, ents, ents, keep=keep).flows()
    assert narrowed == [flows[0]]
