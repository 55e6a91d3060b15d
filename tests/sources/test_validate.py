"""Issue #12 §1: objects the API server would reject are errors (exit 2, file:line and field
path) or, under --lenient, skipped with every verdict they could touch unknown (K8S-19).

Every case mutates the bundled bank sample (``sample_clusters/bank/after``, ``istio``) and runs
the real CLI. Without validation each of these audited as PASS or crashed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from auditor.cli import main
from tests.kits.mutate_kit import PACK, find, mutated


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")


def audit(*args: str) -> Any:
    return CliRunner().invoke(main, ["audit", *args, "--controls", PACK])


def restricted_deny(docs: list[Any]) -> dict[str, Any]:
    return find(docs, "NetworkPolicy", "default-deny", "restricted")


def db_ingress(docs: list[Any]) -> dict[str, Any]:
    return find(docs, "NetworkPolicy", "database-allow-ingress-from-summary", "restricted")


def database(docs: list[Any]) -> dict[str, Any]:
    return find(docs, "StatefulSet", "database", "restricted")


def _set(getter: Any, *path: Any, value: Any) -> Any:
    def change(docs: list[Any]) -> None:
        node = getter(docs)
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value
    return change


# (variant, file, mutation, field path in the message, words in the message)
CASES = [
    pytest.param("after", "50-netpol-default-deny.yaml", _set(restricted_deny, "spec", "ingress", value={}),
                 "spec.ingress", "must be a list, not a mapping ({})", id="ingress-mapping"),
    pytest.param("after", "50-netpol-default-deny.yaml", _set(restricted_deny, "spec", "egress", value=False),
                 "spec.egress", "must be a list, not the boolean false", id="egress-false"),
    pytest.param("after", "50-netpol-default-deny.yaml", _set(restricted_deny, "spec", "ingress", value=""),
                 "spec.ingress", "must be a list, not the string ''", id="ingress-empty-string"),
    pytest.param("after", "50-netpol-default-deny.yaml", _set(restricted_deny, "spec", "egress", value=0),
                 "spec.egress", "must be a list, not the number 0", id="egress-zero"),
    pytest.param("after", "62-netpol-restricted.yaml", _set(db_ingress, "spec", "ingress", 0, "from", value={}),
                 "spec.ingress[0].from", "must be a list, not a mapping ({})", id="from-mapping"),
    pytest.param("after", "62-netpol-restricted.yaml", _set(db_ingress, "spec", "ingress", 0, "from", value=""),
                 "spec.ingress[0].from", "must be a list", id="from-string"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "from",
                      value=[{"ipBlock": {"cidr": "10.0.0.0/8", "except": {}}}]),
                 "spec.ingress[0].from[0].ipBlock.except", "must be a list", id="except-mapping"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "from", value=[{}]),
                 "spec.ingress[0].from[0]", "a peer must set podSelector, namespaceSelector or ipBlock",
                 id="empty-peer"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "from", value=["trusted"]),
                 "spec.ingress[0].from[0]", "must be a mapping", id="peer-string"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "ports", 0, "port", value="2379"),
                 "spec.ingress[0].ports[0].port", "must contain at least one letter", id="quoted-port"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "ports", 0, "protocol", value=""),
                 "spec.ingress[0].ports[0].protocol", "'' is not one of 'SCTP', 'TCP', 'UDP'",
                 id="empty-protocol"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "from", 0, "podSelector", "matchLabels", "app",
                      value="summary/x"),
                 "spec.ingress[0].from[0].podSelector.matchLabels.app", "value 'summary/x'", id="label-value"),
    pytest.param("after", "62-netpol-restricted.yaml",
                 _set(db_ingress, "spec", "ingress", 0, "from",
                      value=[{"ipBlock": {"cidr": "10.0.0.0/33"}}]),
                 "spec.ingress[0].from[0].ipBlock.cidr", "is not a valid CIDR", id="bad-cidr"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "spec", "containers", 0, "ports", value=8080),
                 "spec.template.spec.containers[0].ports", "must be a list, not the number 8080",
                 id="container-ports-number"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "spec", "containers", 0, "ports", 0, "name",
                      value="2379"),
                 "spec.template.spec.containers[0].ports[0].name", "must contain at least one letter",
                 id="port-name-digits"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "spec", "containers", 0, "ports", 0, "name",
                      value="database-client-port"),
                 "spec.template.spec.containers[0].ports[0].name", "no more than 15 characters",
                 id="port-name-long"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "spec", "containers", 0, "ports", 0, "containerPort",
                      value=70000),
                 "spec.template.spec.containers[0].ports[0].containerPort", "out of range 1-65535",
                 id="port-number-range"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "spec", "hostNetwork", value="false"),
                 "spec.template.spec.hostNetwork", "must be a boolean (true or false), not the string 'false'",
                 id="hostnetwork-string"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "spec", "template", "metadata", "labels", "version", value=2),
                 "spec.template.metadata.labels.version", "must be a string, not the number 2",
                 id="template-label-number"),
    pytest.param("after", "23-restricted-database.yaml",
                 _set(database, "metadata", "name", value="StatefulSet/database"),
                 "metadata.name", "DNS-1123 subdomain", id="name-with-slash"),
    pytest.param("istio", "70-istio-peerauthentication.yaml",
                 lambda docs: docs[0]["spec"].__setitem__("mtls", {"mode": "strict"}),
                 "spec.mtls.mode", "'strict' is not one of 'UNSET', 'DISABLE', 'PERMISSIVE', 'STRICT'",
                 id="peerauthentication-mode-case"),
]


def _line_of(path: Path, field: str) -> list[int]:
    """Lines where the last key of a field path occurs in the rewritten file (and, for a list
    item, the lines just below it)."""
    key = re.sub(r"\[\d+\]", "", field).rsplit(".", 1)[-1]
    below = 3 if field.endswith("]") else 0
    return [i + k for i, text in enumerate(path.read_text().splitlines(), 1)
            if re.match(rf"\s*(- )?{re.escape(key)}:", text) for k in range(below + 1)]


@pytest.mark.parametrize(("variant", "name", "change", "field", "words"), CASES)
def test_invalid_object_exits_2_with_file_line_and_field(tmp_path: Path, variant: str, name: str,
                                                         change: Any, field: str, words: str) -> None:
    target, path = mutated(tmp_path, variant, name, change)
    r = audit(str(target))
    assert r.exit_code == 2, r.output
    assert r.stderr.startswith("error: ") and len(r.stderr.strip().splitlines()) == 1
    assert f"{field}: " in r.stderr and words in r.stderr
    line = int(re.search(rf"{re.escape(str(path))}:(\d+) ", r.stderr).group(1))
    assert line in _line_of(path, field)
    assert "Traceback" not in r.output


@pytest.mark.parametrize(("variant", "name", "change", "field", "words"), CASES)
def test_lenient_skips_the_object_and_never_passes(tmp_path: Path, variant: str, name: str,
                                                   change: Any, field: str, words: str) -> None:
    target, _ = mutated(tmp_path, variant, name, change)
    out = tmp_path / "result.json"
    r = audit(str(target), "--lenient", "-o", str(out))
    assert r.exit_code == 2, r.output  # unknown verdicts: the answer is not established
    result = json.loads(out.read_text())
    verdicts = {f["control"]: f["verdict"] for f in result["findings"]}
    assert "unknown" in verdicts.values()
    assert result["summary"]["verdict"] != "pass"
    reasons = json.dumps(result)
    assert "skipped under --lenient" in reasons and field in reasons


def test_restricted_ingress_mapping_no_longer_passes_bank_1_3_6(tmp_path: Path) -> None:
    """The issue's repro: without that policy the cluster fails BANK-1, BANK-3 and BANK-6; read
    as ``ingress: {}`` it passed. Under --lenient those controls are unknown, never pass."""
    target, _ = mutated(tmp_path, "after", "50-netpol-default-deny.yaml",
                        _set(restricted_deny, "spec", "ingress", value={}))
    out = tmp_path / "result.json"
    audit(str(target), "--lenient", "-o", str(out))
    verdicts = {f["control"]: f["verdict"] for f in json.loads(out.read_text())["findings"]}
    assert {verdicts[c] for c in ("BANK-1", "BANK-3", "BANK-6")} <= {"unknown", "fail"}


def test_a_pod_named_like_a_workload_cannot_replace_it(tmp_path: Path) -> None:
    """A Pod named ``StatefulSet/database`` is rejected by name syntax (it used to replace the
    real StatefulSet in the model)."""
    def add_pod(docs: list[Any]) -> None:
        docs.append({"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"name": "StatefulSet/database", "namespace": "restricted",
                                  "labels": {"app": "attacker"}},
                     "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    target, _ = mutated(tmp_path, "after", "24-restricted-attacker.yaml", add_pod)
    r = audit(str(target))
    assert r.exit_code == 2
    assert "Pod restricted/StatefulSet/database" in r.stderr and "metadata.name" in r.stderr
    out = tmp_path / "r.json"
    r = audit(str(target), "--lenient", "-o", str(out))
    result = json.loads(out.read_text())
    assert result["snapshot"]["incomplete"] == {"Pod": "invalid"}
    assert all(f["verdict"] != "pass" for f in result["findings"] if f["control"] != "BANK-7") or \
        result["summary"]["verdict"] == "unknown"


def test_a_snapshot_file_is_validated_too(tmp_path: Path) -> None:
    """A saved snapshot of an invalid object (scan --lenient keeps what was read) is checked
    again when audited: exit 2 strict, unknown lenient."""
    target, _ = mutated(tmp_path, "after", "50-netpol-default-deny.yaml",
                        _set(restricted_deny, "spec", "ingress", value={}))
    snap = tmp_path / "snap.json"
    r = CliRunner().invoke(main, ["scan", str(target), "--lenient", "-o", str(snap)])
    assert r.exit_code == 0, r.output
    r = audit(str(snap))
    assert r.exit_code == 2 and "spec.ingress: must be a list" in r.stderr


@pytest.mark.parametrize(("name", "kind", "obj_name", "namespace"), [
    ("00-namespaces.yaml", "Namespace", "restricted", None),
    ("10-serviceaccounts.yaml", "ServiceAccount", "database", "restricted"),
])
def test_a_skipped_namespace_or_service_account_makes_its_kind_unknown(
        tmp_path: Path, name: str, kind: str, obj_name: str, namespace: str | None) -> None:
    """Never silently dropped: the kind counts as not read, so every control depending on it is
    unknown (a skipped Namespace would otherwise move its pods out of their zone)."""
    def change(docs: list[Any]) -> None:
        find(docs, kind, obj_name, namespace)["metadata"].setdefault("labels", {})["firewall-zone"] = "zone/restricted"
    target, _ = mutated(tmp_path, "after", name, change)
    assert audit(str(target)).exit_code == 2
    out = tmp_path / "r.json"
    assert audit(str(target), "--lenient", "-o", str(out)).exit_code == 2
    result = json.loads(out.read_text())
    assert result["snapshot"]["incomplete"] == {kind: "invalid"}
    assert {f["verdict"] for f in result["findings"] if f["control"] != "BANK-7"} == {"unknown"}
