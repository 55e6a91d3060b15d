"""Live scan against a Kubernetes-API-compatible HTTP server on loopback (issue 7).

No mocks: the real ``kubernetes`` client loads a generated kubeconfig and talks HTTP to
``tests/kits/fake_apiserver.py``, which serves manifest objects the way an API server does.
"""

from __future__ import annotations

import io
import json
import logging
import math
import socket
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.canonical import canonical_json
from auditor.errors import AuditorError
from auditor.kinds import KNOWN_KINDS, NEVER_STORED
from auditor.snapshot import load_snapshot
from auditor.sources.live import (
    LIVE_KINDS,
    collect_live,
    enable_json_logs,
    live_kind_keys,
    scan_live,
)
from auditor.sources.manifests import load_manifests
from tests.kits.fake_apiserver import TOKEN, FakeApiServer, Fault

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "live" / "cluster.yaml"
BANK = ROOT / "sample_clusters" / "bank" / "after"
FAST = {"backoff": 0.01, "request_timeout": 2.0, "deadline": 20.0}


def read_objects(paths: list[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        with path.open() as handle:
            out.extend(doc for doc in yaml.safe_load_all(handle) if isinstance(doc, dict))
    return out


def fixture_objects() -> list[dict[str, Any]]:
    return read_objects([FIXTURE])


def canonical_resources(snapshot: Any) -> bytes:
    return canonical_json([res.content() for res in snapshot.resources])


def assert_no_secret_reads(api: FakeApiServer) -> None:
    bad = [p for p in api.paths if p.rstrip("/").split("/")[-1] in ("secrets", "configmaps")]
    assert bad == []
    assert all("/secrets" not in p and "/configmaps" not in p for p in api.paths)


@pytest.fixture
def served(tmp_path: Path):
    """Start a fake API server for given objects and return (server, kubeconfig path)."""
    servers: list[FakeApiServer] = []

    def start(objects: list[dict[str, Any]] | None = None, **kw: Any) -> tuple[FakeApiServer, str]:
        api = FakeApiServer(fixture_objects() if objects is None else objects, **kw)
        api.start()
        servers.append(api)
        kubeconfig = api.write_kubeconfig(tmp_path / f"kubeconfig-{len(servers)}")
        return api, str(kubeconfig)

    yield start
    for api in servers:
        api.stop()
        assert_no_secret_reads(api)


# --- the live snapshot equals the manifest snapshot ------------------------------------------


@pytest.mark.parametrize("page_size", [2, 500])
def test_live_snapshot_equals_manifest_snapshot_fixture(served, page_size: int) -> None:
    _api, kubeconfig = served()
    lines: list[str] = []
    live = scan_live(kubeconfig=kubeconfig, page_size=page_size, progress=lines.append, **FAST)
    manifests = load_manifests([str(FIXTURE)])

    assert canonical_resources(live) == canonical_resources(manifests)
    assert live.content_digest == manifests.content_digest
    assert len(live.resources) == len(manifests.resources) == 29
    # Secrets and ConfigMaps: ignored by the manifest reader, never even requested live.
    assert manifests.ignored == {"v1/ConfigMap": 1, "v1/Secret": 1}
    assert live.ignored == {}
    assert set(live.collection) == set(KNOWN_KINDS.values())
    assert live.collection["Pod"] == "ok"
    assert live.collection["calico/GlobalNetworkPolicy"] == "ok"
    assert live.collection["istio/AuthorizationPolicy"] == "ok"
    assert live.collection["ClusterNetworkPolicy"] == "not-installed"
    assert {s for s in live.collection.values()} == {"ok", "not-installed"}
    assert live.source == (
        "live: cluster kube-system-uid=7d3c6a2e-5b1f-4c8e-9a0d-3f2b1e4c5d6a "
        "server=v1.31.0 context=kind-bank"
    )
    # one progress line per kind key, plus the cluster identity line
    assert len(lines) == 1 + len(live_kind_keys())
    assert "Pod: 7 listed (v1, " in "\n".join(lines)


@pytest.mark.skipif(not BANK.is_dir(), reason="sample_clusters/bank/after not present")
def test_live_snapshot_equals_manifest_snapshot_bank(served, tmp_path: Path) -> None:
    files = sorted(BANK.glob("*.yaml"))
    _api, kubeconfig = served(read_objects(files))
    live = scan_live(kubeconfig=kubeconfig, page_size=3, **FAST)
    manifests = load_manifests([str(BANK)])
    assert len(live.resources) == len(manifests.resources) > 0
    assert canonical_resources(live) == canonical_resources(manifests)
    assert live.content_digest == manifests.content_digest
    # save → load keeps the collection status and the digest
    live.save(tmp_path / "snapshot.json")
    again = load_snapshot(tmp_path / "snapshot.json")
    assert again.digest == live.digest and again.collection == live.collection


def test_objects_are_kept_exactly_as_served(served) -> None:
    """Raw JSON, not typed models: fields the client's models would rename or drop survive."""
    objects = fixture_objects()
    gnp = next(o for o in objects if o["kind"] == "GlobalNetworkPolicy")
    gnp["spec"]["x-future-field"] = {"keep": ["me", 1, True, None]}
    _api, kubeconfig = served(objects)
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    live_gnp = next(o for o in collected.objects if o["kind"] == "GlobalNetworkPolicy")
    assert live_gnp == gnp
    pod = next(o for o in collected.objects if o["kind"] == "Pod")
    assert pod["apiVersion"] == "v1"  # filled in from the list: items lack apiVersion/kind


# --- discovery: which groups and versions exist ------------------------------------------------


def test_groups_not_installed_are_not_listed(served) -> None:
    installed = {"v1", "apps/v1", "batch/v1", "networking.k8s.io/v1", "discovery.k8s.io/v1"}
    objects = [
        o
        for o in fixture_objects()
        if "calico" not in o["apiVersion"] and "istio" not in o["apiVersion"]
    ]
    api, kubeconfig = served(objects, installed=installed)
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    statuses = collected.collection
    for key in statuses:
        if (
            key.startswith(("calico/", "istio/", "gateway/", "openshift/"))
            or "AdminNetworkPolicy" in key
            or key == "ClusterNetworkPolicy"
        ):
            assert statuses[key] == "not-installed", key
        else:
            assert statuses[key] == "ok", key
    assert collected.complete
    assert not any(
        "projectcalico" in p or "istio" in p or "policy.networking" in p for p in api.paths
    )
    reason = next(k.reason for k in collected.kinds if k.key == "calico/Tier")
    assert reason is not None and "projectcalico.org not served" in reason


def test_calico_crds_used_when_the_calico_api_server_is_absent(served) -> None:
    crd_gnp = {
        "apiVersion": "crd.projectcalico.org/v1",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "default.deny-cde-egress", "uid": "u-1", "generation": 2},
        "spec": {"tier": "default", "order": 100, "selector": "pci == 'cde'", "types": ["Egress"]},
    }
    installed = {"v1", "apps/v1", "batch/v1", "crd.projectcalico.org/v1"}
    api, kubeconfig = served([crd_gnp], installed=installed)
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    kinds = {k.key: k for k in collected.kinds}
    assert kinds["calico/GlobalNetworkPolicy"].status == "ok"
    assert kinds["calico/GlobalNetworkPolicy"].api_version == "crd.projectcalico.org/v1"
    assert [
        o["metadata"]["name"] for o in collected.objects if o["kind"] == "GlobalNetworkPolicy"
    ] == ["default.deny-cde-egress"]
    assert "/apis/projectcalico.org/v3/globalnetworkpolicies" not in api.paths


def test_projectcalico_v3_preferred_over_crds(served) -> None:
    api, kubeconfig = served()
    collect_live(kubeconfig=kubeconfig, **FAST)
    assert "/apis/projectcalico.org/v3/globalnetworkpolicies" in api.paths
    assert not any(p.startswith("/apis/crd.projectcalico.org") for p in api.paths)


def test_istio_v1beta1_when_v1_is_not_served(served) -> None:
    objects = [o for o in fixture_objects() if o["apiVersion"].startswith("security.istio.io")]
    for o in objects:
        o["apiVersion"] = "security.istio.io/v1beta1"
    _api, kubeconfig = served(objects, installed={"v1", "security.istio.io/v1beta1"})
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    kinds = {k.key: k for k in collected.kinds}
    assert kinds["istio/AuthorizationPolicy"].api_version == "security.istio.io/v1beta1"
    assert kinds["istio/AuthorizationPolicy"].count == 1
    assert kinds["istio/PeerAuthentication"].count == 1


def test_forbidden_discovery_does_not_fall_back(served) -> None:
    """403 on the Calico API server's discovery: forbidden, not a silent switch to the CRDs."""
    api, kubeconfig = served(faults={"/apis/projectcalico.org/v3": Fault(status=403, times=None)})
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    calico = [k for k in collected.kinds if k.key.startswith("calico/")]
    assert calico and all(k.status == "forbidden" for k in calico)
    assert not any(p.startswith("/apis/crd.projectcalico.org") for p in api.paths)
    assert not collected.complete


# --- faults ---------------------------------------------------------------------------------


def test_forbidden_kind(served) -> None:
    api, kubeconfig = served(faults={"/apis/batch/v1/cronjobs": Fault(status=403, times=None)})
    snapshot = scan_live(kubeconfig=kubeconfig, **FAST)
    assert snapshot.collection["CronJob"] == "forbidden"
    assert snapshot.of_kind("CronJob") == []
    assert snapshot.collection["Job"] == "ok"  # the same group is otherwise readable
    assert not snapshot.is_complete()
    # a 403 is not retried
    assert api.paths.count("/apis/batch/v1/cronjobs") == 1


def test_forbidden_reason_is_recorded(served) -> None:
    _api, kubeconfig = served(faults={"/apis/batch/v1/cronjobs": Fault(status=403, times=None)})
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    cron = next(k for k in collected.kinds if k.key == "CronJob")
    assert cron.status == "forbidden"
    assert cron.reason is not None and "HTTP 403" in cron.reason and "cannot list" in cron.reason


def test_credentials_rejected_mid_scan_is_an_error(served) -> None:
    _api, kubeconfig = served(faults={"/apis/apps/v1/replicasets": Fault(status=401, times=None)})
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    replicasets = next(k for k in collected.kinds if k.key == "ReplicaSet")
    assert replicasets.status == "error" and "HTTP 401" in (replicasets.reason or "")


def test_garbage_answers_are_errors_not_crashes(served) -> None:
    html = b"<html><body>502 Bad Gateway (proxy)</body></html>"
    _api, kubeconfig = served(
        faults={
            "/apis/apps/v1/deployments": Fault(status=200, body=html, times=None),
            "/apis/security.istio.io/v1": Fault(status=200, body=b"[1, 2]", times=None),
        }
    )
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    kinds = {k.key: k for k in collected.kinds}
    assert kinds["Deployment"].status == "error"
    assert "not a list object" in (kinds["Deployment"].reason or "")
    assert kinds["istio/AuthorizationPolicy"].status == "error"
    assert "not an APIResourceList" in (kinds["istio/AuthorizationPolicy"].reason or "")
    assert kinds["StatefulSet"].status == "ok"


def test_list_404_of_a_served_kind_is_an_error(served) -> None:
    """Issue #12 §4: discovery serves daemonsets, the list answers 404 → ``error``, never
    ``not-installed`` (which would let a must-allow pack pass)."""
    _api, kubeconfig = served(faults={"/apis/apps/v1/daemonsets": Fault(status=404, times=None)})
    collected = collect_live(kubeconfig=kubeconfig, **FAST)
    kinds = {k.key: k for k in collected.kinds}
    assert kinds["DaemonSet"].status == "error"
    assert "404" in (kinds["DaemonSet"].reason or "") and "served" in (kinds["DaemonSet"].reason or "")
    assert not collected.complete


def test_500_once_then_success_is_retried(served) -> None:
    api, kubeconfig = served(faults={"/api/v1/pods": Fault(status=500, times=1)})
    live = scan_live(kubeconfig=kubeconfig, retries=2, **FAST)
    assert live.collection["Pod"] == "ok"
    assert len(live.of_kind("Pod")) == 7
    assert api.paths.count("/api/v1/pods") == 2


def test_429_with_retry_after_is_retried(served) -> None:
    api, kubeconfig = served(
        faults={"/api/v1/services": Fault(status=429, times=2, retry_after="0")}
    )
    collected = collect_live(kubeconfig=kubeconfig, retries=2, **FAST)
    assert collected.collection["Service"] == "ok"
    assert api.paths.count("/api/v1/services") == 3


def test_persistent_500_is_error_after_retries(served) -> None:
    api, kubeconfig = served(faults={"/apis/apps/v1/deployments": Fault(status=500, times=None)})
    collected = collect_live(kubeconfig=kubeconfig, retries=2, **FAST)
    deployment = next(k for k in collected.kinds if k.key == "Deployment")
    assert deployment.status == "error"
    assert (
        deployment.reason is not None
        and "HTTP 500" in deployment.reason
        and "3 attempts" in deployment.reason
    )
    assert api.paths.count("/apis/apps/v1/deployments") == 3
    assert collected.collection["StatefulSet"] == "ok"  # one kind's failure stops nothing else


def test_slow_response_times_out_and_is_retried(served) -> None:
    api, kubeconfig = served(faults={"/api/v1/pods": Fault(delay=1.5, times=1)})
    started = time.monotonic()
    collected = collect_live(kubeconfig=kubeconfig, request_timeout=0.3, backoff=0.01, deadline=20)
    assert time.monotonic() - started < 1.4  # did not wait for the slow answer
    assert collected.collection["Pod"] == "ok"
    assert api.paths.count("/api/v1/pods") == 2


def test_total_deadline_marks_the_remaining_kinds_error(served) -> None:
    _api, kubeconfig = served(faults={"/apis/apps/v1/deployments": Fault(delay=5, times=None)})
    started = time.monotonic()
    collected = collect_live(
        kubeconfig=kubeconfig, request_timeout=0.25, backoff=0.05, deadline=1.5
    )
    assert time.monotonic() - started < 2.5
    keys = live_kind_keys()
    at = keys.index("Deployment")
    statuses = collected.collection
    assert all(statuses[k] in ("ok", "not-installed") for k in keys[:at])
    assert all(statuses[k] == "error" for k in keys[at:])
    reasons = {k.key: k.reason or "" for k in collected.kinds}
    assert "deadline exceeded" in reasons["Deployment"]
    assert "deadline exceeded" in reasons["istio/RequestAuthentication"]


def test_expired_continue_token_restarts_the_list_once(served) -> None:
    api, kubeconfig = served(faults={"/api/v1/pods": Fault(status=410, on_continue=True, times=1)})
    collected = collect_live(kubeconfig=kubeconfig, page_size=3, **FAST)
    pods = next(k for k in collected.kinds if k.key == "Pod")
    assert pods.status == "ok" and pods.count == 7 and pods.pages == 3
    names = [o["metadata"]["name"] for o in collected.objects if o["kind"] == "Pod"]
    assert len(names) == len(set(names)) == 7
    pod_requests = [r for r in api.requests if r.startswith("/api/v1/pods?")]
    assert len(pod_requests) == 2 + 3  # page 1, expired page 2, then 3 pages again
    assert "continue" not in pod_requests[2]


def test_continue_token_expiring_twice_is_an_error(served) -> None:
    _api, kubeconfig = served(
        faults={"/api/v1/pods": Fault(status=410, on_continue=True, times=None)}
    )
    collected = collect_live(kubeconfig=kubeconfig, page_size=3, **FAST)
    pods = next(k for k in collected.kinds if k.key == "Pod")
    assert pods.status == "error" and "HTTP 410" in (pods.reason or "")


def test_pagination_uses_limit_and_continue(served) -> None:
    api, kubeconfig = served()
    collected = collect_live(kubeconfig=kubeconfig, page_size=2, **FAST)
    pod_requests = [r for r in api.requests if r.startswith("/api/v1/pods?")]
    assert len(pod_requests) == math.ceil(7 / 2)
    assert all("limit=2" in r for r in pod_requests)
    assert all("continue=" in r for r in pod_requests[1:])
    pods = next(k for k in collected.kinds if k.key == "Pod")
    assert pods.resource_version == "48213" and pods.pages == 4


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(count=st.integers(0, 9), page_size=st.integers(1, 4))
def test_pagination_returns_every_object_once(tmp_path: Path, count: int, page_size: int) -> None:
    objects = [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": f"np-{i}", "namespace": f"ns-{i % 3}"},
            "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
        }
        for i in range(count)
    ]
    with FakeApiServer(objects, installed={"v1", "networking.k8s.io/v1"}) as api:
        kubeconfig = api.write_kubeconfig(tmp_path / f"kc-{count}-{page_size}")
        collected = collect_live(kubeconfig=str(kubeconfig), page_size=page_size, **FAST)
    names = sorted(o["metadata"]["name"] for o in collected.objects if o["kind"] == "NetworkPolicy")
    assert names == sorted(o["metadata"]["name"] for o in objects)
    nps = next(k for k in collected.kinds if k.key == "NetworkPolicy")
    assert nps.pages == max(1, math.ceil(count / page_size))


# --- credentials, contexts, reachability ------------------------------------------------------


def test_wrong_token_is_one_clear_error(served, tmp_path: Path) -> None:
    api, _ = served()
    kubeconfig = api.write_kubeconfig(tmp_path / "bad", token="not-the-token")
    with pytest.raises(AuditorError, match="rejected the credentials"):
        collect_live(kubeconfig=str(kubeconfig), **FAST)
    assert api.paths == ["/version"]


def test_unreachable_api_server(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "gone", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "gone",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(config))
    with pytest.raises(AuditorError, match="cannot reach the API server"):
        collect_live(kubeconfig=str(path), retries=1, backoff=0.01, request_timeout=1)


def test_context_is_selected_and_named(served, tmp_path: Path) -> None:
    api, _ = served()
    config = json.loads(api.write_kubeconfig(tmp_path / "one").read_text())
    config["clusters"].append({"name": "elsewhere", "cluster": {"server": "http://127.0.0.1:9"}})
    config["contexts"].append(
        {"name": "prod-eu", "context": {"cluster": "fake", "user": "auditor"}}
    )
    config["contexts"].append(
        {"name": "broken", "context": {"cluster": "elsewhere", "user": "auditor"}}
    )
    config["current-context"] = "broken"
    path = tmp_path / "multi"
    path.write_text(json.dumps(config))
    collected = collect_live(kubeconfig=str(path), context="prod-eu", **FAST)
    assert collected.source.endswith("context=prod-eu")
    with pytest.raises(AuditorError, match="context 'nope' not found"):
        collect_live(kubeconfig=str(path), context="nope", **FAST)


def test_missing_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(AuditorError, match="cannot load kubeconfig"):
        collect_live(kubeconfig=str(tmp_path / "absent"), **FAST)


def test_in_cluster_outside_a_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_PORT", raising=False)
    with pytest.raises(AuditorError, match="not running in a cluster"):
        collect_live(in_cluster=True)


# --- output ---------------------------------------------------------------------------------


def test_structured_log_lines(served) -> None:
    _api, kubeconfig = served(
        faults={
            "/apis/batch/v1/jobs": Fault(status=403, times=None),
            "/api/v1/services": Fault(status=503, times=1),
        }
    )
    stream = io.StringIO()
    handler = enable_json_logs(stream)
    try:
        collect_live(kubeconfig=kubeconfig, **FAST)
    finally:
        logging.getLogger("auditor").removeHandler(handler)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    kinds = {r["kind"]: r for r in records if r.get("event") == "live.kind"}
    assert set(kinds) == set(live_kind_keys())
    assert kinds["Pod"]["status"] == "ok" and kinds["Pod"]["count"] == 7
    assert kinds["Job"]["status"] == "forbidden" and kinds["Job"]["level"] == "warning"
    (retry,) = [r for r in records if r.get("event") == "live.retry"]
    assert retry["path"] == "/api/v1/services" and "HTTP 503" in retry["reason"]


def test_live_kinds_cover_the_modelled_kinds_and_never_secrets() -> None:
    assert {(k.group, k.kind) for k in LIVE_KINDS} == set(KNOWN_KINDS)
    assert not any((k.group, k.kind) in NEVER_STORED for k in LIVE_KINDS)
    assert not any(k.plural in ("secrets", "configmaps") for k in LIVE_KINDS)
    assert len(live_kind_keys()) == len(set(KNOWN_KINDS.values()))


def test_adm_14_live_scan_records_calico_version_and_node_addresses(served) -> None:
    """ClusterInformation is listed (get/list RBAC in deploy/), kept in the snapshot, and
    decides which admin network policies Calico enforces; Node addresses are kept for
    ``nodes`` peers (ADM-7)."""
    from auditor.policy.admin import detect_dataplane, node_addresses

    objects = fixture_objects()
    objects.append({"apiVersion": "projectcalico.org/v3", "kind": "ClusterInformation",
                    "metadata": {"name": "default"}, "spec": {"calicoVersion": "v3.30.2", "datastoreReady": True}})
    _api, kubeconfig = served(objects)
    live = scan_live(kubeconfig=kubeconfig, **FAST)
    assert live.collection["calico/ClusterInformation"] == "ok"
    [info] = live.of_kind("calico/ClusterInformation")
    assert info.body["spec"]["calicoVersion"] == "v3.30.2"
    plane = detect_dataplane(live, None)
    assert (plane.name, plane.source) == ("calico-3.30", "ClusterInformation default calicoVersion v3.30.2")
    nodes = node_addresses(live)
    assert nodes.complete and any(addrs for _, _, addrs in nodes.nodes)
