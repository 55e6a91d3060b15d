"""IST-7..27 validation: invalid Istio objects are one clear error (exit 2), or unknown with --lenient."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.errors import InvalidResource
from tests.kits.istio_helpers import analysed, ap, flow, mpod, ns, pa, write

BASE = [ns("a", **{"istio-injection": "enabled"}), mpod("a", "web", {"app": "web"}, ip="10.0.0.2"),
        ns("b", **{"istio-injection": "enabled"}), mpod("b", "client", {"app": "c"}, sa="client", ip="10.0.1.1")]


@pytest.mark.parametrize(("spec", "message"), [
    ({"action": "DENY"}, "needs rules"),
    ({"action": "CUSTOM", "rules": [{}]}, "provider: required"),
    ({"action": "REJECT", "rules": [{}]}, "is not one of"),
    ({"rules": [{"from": []}]}, "present but empty"),
    ({"rules": [{"to": [{"operation": {}}]}]}, "empty operation"),
    ({"rules": [{"from": [{"source": {}}]}]}, "empty source"),
    ({"rules": [{"from": [{"source": {"serviceAccounts": ["x"], "principals": ["y"]}}]}]}, "cannot be combined"),
    ({"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.300"]}}]}]}, "not an IP address or CIDR"),
    ({"rules": [{"to": [{"operation": {"ports": ["http"]}}]}]}, "not a port number"),
    ({"rules": [{"when": [{"key": "destination.namespace", "values": ["a"]}]}]}, "not supported by Istio"),
    ({"rules": [{"when": [{"key": "source.bogus", "values": ["a"]}]}]}, "unknown attribute"),
    ({"rules": [{"when": [{"key": "source.ip"}]}]}, "values or notValues is required"),
    ({"selector": {"matchLabels": {"app": "web"}}, "targetRefs": [{"kind": "Service", "name": "web"}]},
     "mutually exclusive"),
    ({"rules": [{"to": [{"operation": {"paths": ["/a/{**}/b"]}}]}]}, "must be the last segment"),
])
def test_invalid_authorization_policy(tmp_path: Path, spec: dict, message: str) -> None:
    objs = [*BASE, ap("a", "bad", spec)]
    with pytest.raises(InvalidResource) as err:
        analysed(tmp_path, objs)
    assert message in str(err.value) and "AuthorizationPolicy a/bad" in str(err.value)
    lenient = analysed(tmp_path, objs, lenient=True)
    assert flow(lenient, "b/client", "a/web", "8080/TCP") == "unknown"
    assert any("invalid, treated as unknown" in x for x in lenient.policies.unsupported)


@pytest.mark.parametrize(("spec", "message"), [
    ({"mtls": {"mode": "STRICTER"}}, "is not one of"),
    ({"portLevelMtls": {"8080": {"mode": "STRICT"}}}, "only allowed with a selector"),
    ({"selector": {"matchLabels": {"app": "web"}}, "portLevelMtls": {"http": {"mode": "STRICT"}}}, "not a port"),
])
def test_invalid_peer_authentication(tmp_path: Path, spec: dict, message: str) -> None:
    with pytest.raises(InvalidResource) as err:
        analysed(tmp_path, [*BASE, pa("a", "bad", spec)])
    assert message in str(err.value)
    lenient = analysed(tmp_path, [*BASE, pa("a", "bad", spec)], lenient=True)
    assert flow(lenient, "b/client", "a/web", "8080/TCP") == "unknown"


def test_invalid_istio_object_on_the_cli_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, [*BASE, ap("a", "bad", {"action": "DENY"})])
    result = CliRunner().invoke(main, ["reach", str(path)])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: ") and "AuthorizationPolicy a/bad" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_v1beta1_is_read_like_v1(tmp_path: Path) -> None:
    a = analysed(tmp_path, [*BASE, ap("a", "deny-all", {}, version="v1beta1")])
    assert flow(a, "b/client", "a/web", "8080/TCP") == "deny"
