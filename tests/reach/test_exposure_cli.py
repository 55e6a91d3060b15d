"""``auditor exposure`` on the bank front-door variants: CSV and JSON parsed back, filters, bad input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from click.testing import CliRunner

from auditor.cli import main
from tests.conftest import BANK, CONTROLS


def run(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, ["exposure", *args])
    return r.exit_code, r.stdout, r.stderr


def rows(*args: str) -> list[dict[str, str]]:
    code, out, err = run(*args, "--format", "csv")
    assert code == 0, err
    return list(csv.DictReader(io.StringIO(out)))


def test_ingress_variant_paths_checked_by_hand() -> None:
    got = [(r["via"], r["entry"], r["backend"], r["port"], r["verdict"]) for r in rows(str(BANK / "ingress"))
           if r["verdict"] != "deny"]
    assert got == [
        ("lb ingress-nginx/ingress-nginx-controller", "203.0.113.10:443",
         "ingress-nginx/Deployment/ingress-nginx-controller", "443/TCP", "allow"),
        ("ingress dmz/customer", "203.0.113.10:443 → customer.bank.example:443", "dmz/Deployment/customer",
         "80/TCP", "allow"),
        ("direct", "pod IP", "ingress-nginx/Deployment/ingress-nginx-controller", "TCP:443", "allow"),
        ("direct", "pod IP", "kube-system/Deployment/kube-dns", "all", "allow"),
    ]


def test_sources_point_at_the_object_line() -> None:
    [r] = [r for r in rows(str(BANK / "ingress")) if r["via"] == "ingress dmz/customer"]
    assert r["source"] == f"Ingress dmz/customer {BANK / 'ingress' / '27-ingress-customer.yaml'}:3"
    assert r["hops"] == "entry:allow → to-proxy:allow → to-backend:allow"


def test_to_and_zone_filters() -> None:
    got = rows(str(BANK / "gateway"), "--to", "dmz/Deployment/customer")
    assert [r["via"] for r in got] == ["gateway dmz/customer-gateway"]  # the direct flow is closed
    assert all(r["backend"] == "dmz/Deployment/customer" for r in got)
    zoned = rows(str(BANK / "after"), "--controls", str(CONTROLS / "bank-zones.yaml"), "--zone", "dmz")
    assert zoned and all(r["zones"] == "dmz" for r in zoned)
    assert {r["via"] for r in zoned} == {"lb dmz/customer", "nodeport dmz/customer", "direct"}


def test_json_carries_hops_and_assumptions() -> None:
    code, out, _ = run(str(BANK / "after"), "--format", "json", "--firewall", "closed")
    assert code == 0
    data = json.loads(out)
    assert any("firewall pinned closed" in n for n in data["exposure_assumptions"])
    [npt] = [p for p in data["paths"] if p["via"] == "nodeport dmz/customer"]
    assert npt["verdict"] == "deny" and npt["hops"][0]["rule"].startswith("node address × nodePort: firewall pinned closed")


def test_output_is_deterministic(monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")  # the snapshot's capture time is in the digest
    a = run(str(BANK / "gateway"), "--format", "json")[1]
    b = run(str(BANK / "gateway"), "--format", "json")[1]
    assert a == b and a


def test_invalid_service_exits_2_with_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "svc.yaml"
    f.write_text("apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\n"
                 "spec:\n  type: Balancer\n  ports: [{port: 80}]\n")
    code, _, err = run(str(f))
    assert code == 2
    assert f"error: {f}:1 Service shop/web: spec.type must be one of" in err
    code, out, err = run(str(f), "--lenient")
    assert code == 0 and "invalid-object: skipped" in out


def test_unknown_client_and_zone_without_controls_are_usage_errors() -> None:
    code, _, err = run(str(BANK / "after"), "--client", "dmz/Deployment/customer")
    assert code == 2 and "--client" in err
    code, _, err = run(str(BANK / "after"), "--zone", "dmz")
    assert code == 2 and "--zone needs --controls" in err


def test_reach_from_internet_has_one_row_per_path_with_via() -> None:
    r = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--from", "internet", "--to", "dmz/Deployment/customer",
                                  "--format", "csv"])
    assert r.exit_code == 0, r.output
    got = [(x["via"], x["allowed"]) for x in csv.DictReader(io.StringIO(r.stdout))]
    assert got == [("direct", "true"), ("lb dmz/customer", "true"), ("nodeport dmz/customer", "unknown")]
    r = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--from", "internet", "--pod-ips-unroutable",
                                  "--format", "csv"])
    assert r.exit_code == 0
    assert {x["via"] for x in csv.DictReader(io.StringIO(r.stdout))} == {"lb dmz/customer", "nodeport dmz/customer"}
    r = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--from", "internet", "--pod-ips-unroutable"])
    assert "pod IPs are not routable from internet" in r.stdout
    r = CliRunner().invoke(main, ["reach", str(BANK / "after"), "--pod-ips-unroutable"])
    assert r.exit_code == 2


def test_explain_from_internet_walks_each_path() -> None:
    r = CliRunner().invoke(main, ["explain", str(BANK / "gateway"), "--from", "internet", "--to",
                                  "dmz/Deployment/customer"])
    assert r.exit_code == 0, r.output
    text = r.stdout
    assert "exposure paths from internet to dmz/Deployment/customer: 1" in text
    assert "via gateway dmz/customer-gateway at 203.0.113.20:443" in text
    assert "3. to-backend: proxy dmz/gateway.networking.k8s.io/gateway-name=customer-gateway" in text


def test_egress_listing_per_zone() -> None:
    got = rows(str(BANK / "before"), "--egress", "--zone", "restricted", "--controls", str(CONTROLS / "bank-zones.yaml"))
    assert [(r["source"], r["via"], r["destination"], r["verdict"]) for r in got] == [
        ("restricted/StatefulSet/database", "direct", "internet", "allow"),
        ("restricted/attacker", "direct", "internet", "allow")]
    got = rows(str(BANK / "after"), "--egress", "--to", "restricted")
    assert {r["verdict"] for r in got} == {"deny"}  # BANK-8: the data tier starts nothing external
