"""Waivers: a valid waiver hides exactly what it covers; an expired one never does."""

from __future__ import annotations

import datetime as dt
import fnmatch
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.controls.result import Violation
from auditor.controls.waivers import FlowPattern, covers, load_waivers, match_name
from auditor.errors import AuditorError
from auditor.portset import PortSet
from tests.kits.controls_kit import audit, control, finding, pack, two_zones, write_yaml

FRONT = "web/Deployment/front"
DB = "data/Deployment/db"
NO_FLOW = pack([control("C", {"kind": "no-flow", "from": "web", "to": "data"}),
                control("D", {"kind": "isolated", "zones": ["data"]})])


def waiver(wid: str = "W-1", *, control: str = "C", flows: list[dict[str, Any]] | None = None,
           expires: str = "2026-12-31") -> dict[str, Any]:
    return {"id": wid, "control": control, "flows": flows or [{"from": FRONT, "to": DB}],
            "justification": "migration window", "approver": "ciso@example.com", "expires": expires}


def run(tmp_path: Path, waivers: list[dict[str, Any]], as_of: dt.date = dt.date(2026, 6, 1)):  # type: ignore[no-untyped-def]
    return audit(tmp_path, two_zones(segmented=False), NO_FLOW, waivers={"waivers": waivers}, as_of=as_of)


def status(result, wid: str) -> str:  # type: ignore[no-untyped-def]
    return next(w.status for w in result.waivers if w.id == wid)


def test_a_valid_waiver_hides_the_violation(tmp_path: Path) -> None:
    r = run(tmp_path, [waiver()])
    f = finding(r, "C")
    assert f.verdict == "waived" and f.violations[0].waived_by == ("W-1",)
    assert status(r, "W-1") == "active"
    assert r.as_of == "2026-06-01"
    assert r.verdict == "fail"  # control D still fails


def test_an_expired_waiver_hides_nothing_and_is_reported(tmp_path: Path) -> None:
    r = run(tmp_path, [waiver(expires="2026-05-31")])
    f = finding(r, "C")
    assert f.verdict == "fail" and f.violations[0].waived_by == ()
    w = next(w for w in r.waivers if w.id == "W-1")
    assert (w.status, w.covers) == ("expired", 1)


def test_expiry_day_is_still_valid(tmp_path: Path) -> None:
    assert finding(run(tmp_path, [waiver(expires="2026-06-01")]), "C").verdict == "waived"


def test_unused_and_unknown_control_waivers(tmp_path: Path) -> None:
    r = run(tmp_path, [waiver(), waiver("W-2", flows=[{"from": "nothing/*"}]), waiver("W-3", control="NOPE")])
    assert status(r, "W-2") == "unused"
    assert status(r, "W-3") == "unknown-control"


def test_ports_must_cover_the_whole_violation(tmp_path: Path) -> None:
    partial = waiver(flows=[{"from": FRONT, "to": DB, "ports": ["5432/TCP"]}])
    r = run(tmp_path, [partial])
    assert finding(r, "C").verdict == "fail" and status(r, "W-1") == "unused"
    two = [waiver(flows=[{"from": "zone:web", "to": "zone:data", "ports": ["TCP", "UDP", "SCTP"]}]),
           waiver("W-2", flows=[{"to": DB, "ports": ["ICMP"]}])]
    r = run(tmp_path, two)
    f = finding(r, "C")
    assert f.verdict == "waived" and f.violations[0].waived_by == ("W-1", "W-2")


def test_endpoint_evidence_is_waived_with_workload(tmp_path: Path) -> None:
    r = run(tmp_path, [waiver(control="test/D", flows=[{"workload": "data/*"}])])
    f = finding(r, "D")
    assert f.verdict == "waived" and all(v.waived_by == ("W-1",) for v in f.violations)
    # `workload` never matches flow evidence
    r = run(tmp_path, [waiver(flows=[{"workload": DB}])])
    assert finding(r, "C").verdict == "fail"


def test_a_waiver_does_not_turn_unknown_into_waived(tmp_path: Path) -> None:
    zones = {"web": {"namespaceSelector": "zone == 'web'"}, "data": {"namespaceSelector": "zone == 'data'"}}
    objs = [o for o in two_zones(segmented=False) if not (o["kind"] == "Namespace" and o["metadata"]["name"] == "data")]
    r = audit(tmp_path, objs, pack([control("C", {"kind": "no-flow", "from": "web", "to": "data"})], zones=zones),
              waivers={"waivers": [waiver()]})
    assert finding(r, "C").verdict == "unknown"


def test_ambiguous_control_needs_the_pack(tmp_path: Path) -> None:
    packs = [pack([control("C", {"kind": "isolated", "zones": ["data"]})], pack_id="a"),
             pack([control("C", {"kind": "isolated", "zones": ["data"]})], pack_id="b")]
    with pytest.raises(AuditorError, match=r"waivers\[0\].control: control 'C' exists in packs a, b: write PACK/C"):
        audit(tmp_path, two_zones(segmented=False), packs, waivers={"waivers": [waiver(flows=[{"workload": "*"}])]})
    r = audit(tmp_path, two_zones(segmented=False), packs, waivers={"waivers": [waiver(control="b/C", flows=[{"workload": "*"}])]})
    assert [f.verdict for f in r.findings] == ["fail", "waived"]


@pytest.mark.parametrize(("item", "expected"), [
    ({"id": "W", "control": "C", "flows": [{"from": "a"}], "justification": "j", "approver": "a"},
     "waivers.yaml:2: waivers[0]: missing required field 'expires' (a waiver must expire)"),
    ({"id": "W", "control": "C", "flows": [{"from": "a"}], "justification": "j", "approver": "a",
      "expires": "next year"},
     "waivers.yaml:8: waivers[0].expires: 'next year' is not a date (expected YYYY-MM-DD)"),
    ({"id": "W", "control": "C", "flows": [{}], "justification": "j", "approver": "a", "expires": "2027-01-01"},
     "waivers.yaml:5: waivers[0].flows[0]: a waived flow needs 'from', 'to' or 'workload' (blanket waivers are not accepted)"),
    ({"id": "W", "control": "C", "flows": [{"from": "a", "ports": ["99999"]}], "justification": "j",
      "approver": "a", "expires": "2027-01-01"},
     "waivers.yaml:7: waivers[0].flows[0].ports[0]: bad port: '99999': port 99999 is out of range 1-65535"),
    ({"id": "W", "control": "C", "flows": [{"from": "a"}], "justification": "j", "expires": "2027-01-01"},
     "waivers.yaml:2: waivers[0]: missing required field 'approver'"),
    ({"id": "W", "control": "C", "flows": [{"from": "a"}], "why": "j", "approver": "a", "expires": "2027-01-01"},
     "waivers.yaml:6: waivers[0].why: unknown field 'why'"),
])
def test_waiver_file_mistakes(tmp_path: Path, item: dict[str, Any], expected: str) -> None:
    path = write_yaml(tmp_path / "waivers.yaml", {"waivers": [item]})
    with pytest.raises(AuditorError) as info:
        load_waivers(str(path))
    assert str(info.value).replace(str(tmp_path) + "/", "").startswith(expected)


def test_waiver_yaml_date_and_duplicate_ids(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text("waivers:\n  - {id: W, control: C, flows: [{from: a}], justification: j, approver: a, expires: 2027-01-31}\n")
    (w,) = load_waivers(str(path)).waivers
    assert w.expires == dt.date(2027, 1, 31)
    path.write_text(path.read_text() + path.read_text().split("\n", 1)[1])
    with pytest.raises(AuditorError, match=r"waivers\[1\].id: duplicate waiver id 'W' \(also waivers\[0\]\)"):
        load_waivers(str(path))


# -- pattern matching (property-based) -----------------------------------------------------------

names = st.from_regex(r"[a-z]{1,4}(/[A-Z][a-z]{0,5})?/[a-z]{1,5}", fullmatch=True)
zones = st.lists(st.sampled_from(["web", "data", "cde", "internet"]), max_size=3, unique=True)


@settings(max_examples=200, deadline=None)
@given(name=names, zone_list=zones, pattern=st.one_of(names, st.from_regex(r"[a-z*]{1,4}/\*", fullmatch=True),
                                                     st.sampled_from(["*", "zone:web", "zone:cde", "zone:"])))
def test_match_name_is_glob_or_zone(name: str, zone_list: list[str], pattern: str) -> None:
    expected = (pattern[5:] in zone_list) if pattern.startswith("zone:") else fnmatch.fnmatchcase(name, pattern)
    assert match_name(pattern, name, zone_list) == expected


port_sets = st.lists(st.tuples(st.sampled_from(["TCP", "UDP"]), st.integers(1, 30), st.integers(0, 5)),
                     max_size=4).map(lambda xs: PortSet.of({p: [(lo, lo + w) for q, lo, w in xs if q == p]
                                                            for p in {x[0] for x in xs}}))


@settings(max_examples=200, deadline=None)
@given(violation=port_sets, waived=st.lists(st.one_of(st.none(), port_sets), min_size=1, max_size=3))
def test_covers_iff_the_union_of_waived_ports_contains_the_violation(violation: PortSet,
                                                                     waived: list[PortSet | None]) -> None:
    v = Violation(kind="flow", src="a/x", dst="b/y", reason="r", port_set=violation)
    ws = [_w(f"W{i}", p) for i, p in enumerate(waived)]
    union = PortSet()
    for p in waived:
        union = union.union(p if p is not None else PortSet.everything(["TCP", "UDP"]))
    assert bool(covers(ws, v)) == violation.issubset(union)


def _w(wid: str, ports: PortSet | None):  # type: ignore[no-untyped-def]
    from auditor.controls.waivers import Waiver

    return Waiver(id=wid, control="C", flows=(FlowPattern(src="a/*", ports=ports),), justification="j",
                  approver="a", expires=dt.date(2030, 1, 1), where="w")
