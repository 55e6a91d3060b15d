"""The CSV evidence, parsed back with pandas: fixed columns, sorted rows, counts that match the
audit result JSON, UTF-8, identical bytes for the same result."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from auditor.report.csvs import (
    CONTROLS_COLUMNS,
    EXPOSURE_COLUMNS,
    FILES,
    FLOWS_COLUMNS,
    INVENTORY_COLUMNS,
    POLICIES_COLUMNS,
    VIOLATIONS_COLUMNS,
    CsvWriter,
)
from auditor.report.interface import ReportOptions
from tests.kits.report_kit import result

COLUMNS = {
    "controls.csv": CONTROLS_COLUMNS,
    "flows.csv": FLOWS_COLUMNS,
    "violations.csv": VIOLATIONS_COLUMNS,
    "inventory.csv": INVENTORY_COLUMNS,
    "policies.csv": POLICIES_COLUMNS,
    "exposure.csv": EXPOSURE_COLUMNS,
}
SORT = {
    "controls.csv": ["pack", "control"],
    "flows.csv": ["src", "dst", "verdict", "ports"],
    "violations.csv": ["pack", "control", "status", "src", "dst", "ports", "reason"],
    "inventory.csv": ["workload"],
    "policies.csv": ["tier_rank", "policy"],
    "exposure.csv": [],
}


def write(name: str, out: Path) -> dict[str, pd.DataFrame]:
    paths = CsvWriter().write(result(name), out, ReportOptions())
    assert sorted(p.name for p in paths) == sorted(FILES)
    return {p.name: pd.read_csv(p, dtype=str, keep_default_na=False, encoding="utf-8") for p in paths}


@pytest.mark.parametrize("sample", ["before", "after", "waived", "open"])
def test_columns_sorting_and_counts_match_the_result(tmp_path: Path, sample: str) -> None:
    data: dict[str, Any] = result(sample)
    frames = write(sample, tmp_path)
    for name, df in frames.items():
        assert tuple(df.columns) == COLUMNS[name], name
        if not SORT[name]:  # exposure.csv keeps the model's path order
            continue
        keys = df[SORT[name]].copy()
        if "tier_rank" in keys:
            keys["tier_rank"] = keys["tier_rank"].astype(int)
        assert keys.equals(keys.sort_values(SORT[name], kind="stable").reset_index(drop=True)), name
    assert len(frames["controls.csv"]) == len(data["findings"])
    assert len(frames["flows.csv"]) == len(data["flows"]["rows"])
    n_viol = sum(len(f["violations"]) + len(f["unknown"]["flows"]) for f in data["findings"])
    assert len(frames["violations.csv"]) == n_viol
    assert len(frames["inventory.csv"]) == len(data["inventory"]["workloads"])
    assert len(frames["policies.csv"]) == len(data["policies"])
    per_control = frames["violations.csv"].groupby("control").size().to_dict()
    for f in data["findings"]:
        row = frames["controls.csv"].set_index("control").loc[f["control"]]
        assert row["verdict"] == f["verdict"]
        assert int(row["violations"]) == f["counts"]["violations"]
        assert per_control.get(f["control"], 0) == len(f["violations"]) + len(f["unknown"]["flows"])


def test_flows_carry_zones_ports_verdict_rules_and_controls(tmp_path: Path) -> None:
    flows = write("after", tmp_path)["flows.csv"]
    row = flows[(flows.src == "trusted/Deployment/summary") & (flows.dst == "restricted/StatefulSet/database")]
    assert len(row) == 1
    r = row.iloc[0]
    assert (r.src_zones, r.dst_zones, r.ports, r.verdict, r.request, r.zone_crossing) == (
        "trusted", "restricted", "TCP:2379", "allowed", "*", "true")
    assert r.assurance == "network"  # both ends name their peer
    assert "NetworkPolicy restricted/database-allow-ingress-from-summary ingress rule 0" in r.decided_by
    assert r.deciding_policies == ("NetworkPolicy restricted/database-allow-ingress-from-summary; "
                                   "NetworkPolicy trusted/summary-allow-egress-to-database")
    assert r.controls == "BANK-1; BANK-5"
    # every zone-crossing flow, and nothing denied without a control citing it
    assert set(flows.verdict) == {"allowed"}
    assert (flows.zone_crossing == "true").all()


def test_before_segmentation_every_crossing_and_cited_flow_is_listed(tmp_path: Path) -> None:
    frames = write("before", tmp_path)
    flows = frames["flows.csv"]
    attacker = flows[(flows.src == "restricted/attacker") & (flows.dst == "restricted/StatefulSet/database")]
    assert len(attacker) == 1  # same zone, but cited by BANK-1
    assert attacker.iloc[0].zone_crossing == "false"
    assert "BANK-1" in attacker.iloc[0].controls.split("; ")
    viol = frames["violations.csv"]
    assert set(viol.status) == {"open"}
    assert set(viol[viol.control == "BANK-6"].kind) == {"endpoint"}


def test_waived_violations_are_marked(tmp_path: Path) -> None:
    viol = write("waived", tmp_path)["violations.csv"]
    waived = viol[viol.status == "waived"]
    assert len(waived) == 2
    assert set(waived.waived_by) == {"W-7"}
    assert set(waived.control) == {"BANK-2"}


def test_inventory_and_policies_point_at_the_manifests(tmp_path: Path) -> None:
    frames = write("after", tmp_path)
    inv = frames["inventory.csv"].set_index("workload")
    db = inv.loc["restricted/StatefulSet/database"]
    assert (db.namespace, db.kind, db.zones, db.service_accounts) == ("restricted", "StatefulSet", "restricted",
                                                                      "database")
    assert "app=database" in db.labels.split("; ")
    assert db.origin_file.endswith("23-restricted-database.yaml")
    pol = frames["policies.csv"].set_index("policy")
    p = pol.loc["NetworkPolicy restricted/database-allow-ingress-from-summary"]
    assert (p.tier, p.types) == ("default", "ingress")
    lines = Path(p.origin_file).read_text().splitlines()
    assert "database-allow-ingress-from-summary" in "\n".join(lines[int(p.origin_line) - 1:int(p.origin_line) + 4])


def test_same_result_same_bytes(tmp_path: Path) -> None:
    write("before", tmp_path / "a")
    write("before", tmp_path / "b")
    for name in FILES:
        a = (tmp_path / "a" / name).read_bytes()
        assert a == (tmp_path / "b" / name).read_bytes()
        a.decode("utf-8")
        assert b"\r\n" not in a


def test_istio_requests_assurance_and_mesh_policies(tmp_path: Path) -> None:
    frames = write("istio", tmp_path)
    flows = frames["flows.csv"].set_index(["src", "dst"])
    db = flows.loc[("trusted/Deployment/summary", "restricted/StatefulSet/database")]
    assert db.request == "GET /accounts | GET /balances/*"
    assert db.assurance == "network+identity"
    assert "AuthorizationPolicy restricted/database-allow-summary" in db.deciding_policies.split("; ")
    assert flows.loc[("internet", "dmz/Deployment/customer")].assurance == "none"  # any address may connect
    pol = frames["policies.csv"].set_index("policy").loc["AuthorizationPolicy restricted/database-allow-summary"]
    assert (pol.kind, pol.tier) == ("istio/AuthorizationPolicy", "istio")
    assert pol.origin_file.endswith("71-istio-authz-database.yaml")


def _texts_replaced(name: str, out: Path) -> dict[str, pd.DataFrame]:
    data = result(name)
    flows = data["flows"]
    assert len(flows["decided_by_detail"]) == len(flows["decided_by"])
    flows["decided_by"] = [f"text {k}" for k in range(len(flows["decided_by"]))]
    for f in data["findings"]:
        for v in f["violations"]:
            if v["decided_by_detail"]:
                v["decided_by"] = "words only"
    paths = CsvWriter().write(data, out, ReportOptions())
    return {p.name: pd.read_csv(p, dtype=str, keep_default_na=False) for p in paths}


def test_deciding_policies_come_from_the_structured_detail_not_the_text(tmp_path: Path) -> None:
    """The text of ``decided_by`` is for people: with every text replaced, the CSV still names
    the deciding policies (read from ``decided_by_detail``, the structure the engine recorded)."""
    flows = _texts_replaced("after", tmp_path / "a")["flows.csv"]
    row = flows[(flows.src == "trusted/Deployment/summary") & (flows.dst == "restricted/StatefulSet/database")].iloc[0]
    assert row.decided_by.startswith("text ")
    assert row.deciding_policies == ("NetworkPolicy restricted/database-allow-ingress-from-summary; "
                                     "NetworkPolicy trusted/summary-allow-egress-to-database")
    viol = _texts_replaced("open", tmp_path / "o")["violations.csv"]
    named = viol[viol.decided_by == "words only"]
    assert "NetworkPolicy restricted/database-allow-all" in set("; ".join(named.deciding_policies).split("; "))
