"""Units are made once per (unit, membership) and shared by the controls: a unit only possibly
in a zone must stay possible there, and definite when every unit is asked for."""

from __future__ import annotations

from pathlib import Path

from auditor.controls.model import Peer
from auditor.controls.pack import load_packs
from auditor.controls.zones import ZoneIndex
from auditor.reach.analysis import analyze
from auditor.sources.manifests import load_manifests
from tests.kits.controls_kit import control, deployment, ns, pack, write_cluster, write_yaml

ZONES = {"web": {"namespaceSelector": "zone == 'web'"}, "meta": {"selector": "pcns.team == 'x'"}}


def test_units_keep_their_membership_whatever_was_asked_before(tmp_path: Path) -> None:
    # ghost's namespace is not in the input: its pods are only possibly in "meta"
    objs = [ns("web", zone="web"), deployment("web", "front"), deployment("ghost", "x"),
            ns("data", team="x"), deployment("data", "db")]
    packs, _ = load_packs([str(write_yaml(tmp_path / "p.yaml",
                                          pack([control("C", {"kind": "zone-empty", "zones": "meta"})], zones=ZONES)))],
                          None)
    analysis = analyze(load_manifests([str(write_cluster(tmp_path, objs))], captured_at="2026-01-01T00:00:00Z"))
    zi = ZoneIndex(analysis, packs[0])
    everything = {u.entity: u.definite for u in zi.all_units()}
    meta = {u.entity: u.definite for u in zi.units([Peer(zone="meta")])}
    assert meta == {"ghost/Deployment/x": False, "data/Deployment/db": True}
    assert everything["ghost/Deployment/x"] is True  # every unit: definitely among all
    assert {u.entity: u.definite for u in zi.all_units()} == everything
    assert {u.entity: u.definite for u in zi.units([Peer(zone="meta")])} == meta
    assert zi.all_units()[0] is zi.all_units()[0]  # shared, not rebuilt
