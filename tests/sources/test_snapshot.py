"""Snapshot building, normalization, hashing, saving and loading (auditor/snapshot.py)."""

from __future__ import annotations

import copy
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest

from auditor import canonical, snapshot
from auditor.canonical import atomic_write, canonical_json, sha256_hex
from auditor.errors import AuditorError, InvalidResource
from auditor.kinds import KNOWN_KINDS
from auditor.snapshot import (
    SCHEMA_VERSION,
    Origin,
    Resource,
    Snapshot,
    build_snapshot,
    load_snapshot,
)

AT = "2026-11-26T18:00:00Z"


def pod(name: str, namespace: str | None = "shop", **extra: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": {"app": name}}
    if namespace is not None:
        metadata["namespace"] = namespace
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata}
    obj.update(extra)
    return obj


def netpol(name: str, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }


def build(objs: list[dict[str, Any]], **kw: Any) -> Snapshot:
    kw.setdefault("source", "test")
    kw.setdefault("captured_at", AT)
    return build_snapshot([(o, None) for o in objs], **kw)


# --- building and look-ups -------------------------------------------------------------------


def test_resources_sorted_and_looked_up() -> None:
    snap = build(
        [
            netpol("b"),
            pod("z", "alpha"),
            pod("a", "beta"),
            netpol("a"),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
        ]
    )
    assert [r.sort_key() for r in snap.resources] == [
        ("Namespace", "", "shop"),
        ("NetworkPolicy", "shop", "a"),
        ("NetworkPolicy", "shop", "b"),
        ("Pod", "alpha", "z"),
        ("Pod", "beta", "a"),
    ]
    assert [r.name for r in snap.of_kind("Pod")] == ["z", "a"]
    assert snap.of_kind("calico/NetworkPolicy") == []
    snap.of_kind("Pod").clear()  # callers get their own list
    assert len(snap.of_kind("Pod")) == 2
    assert snap.get("Pod", "beta", "a") is snap.of_kind("Pod")[1]
    assert snap.get("Namespace", None, "shop") is not None
    assert snap.get("Pod", "beta", "missing") is None
    assert snap.schema_version == SCHEMA_VERSION and snap.captured_at == AT


def test_ref_and_where() -> None:
    res = build([netpol("db-ingress", "restricted")]).resources[0]
    assert res.ref == "NetworkPolicy restricted/db-ingress"
    assert res.where == "NetworkPolicy restricted/db-ingress"
    origin = Origin("bank/after/policies.yaml", 3, 40)
    placed = build_snapshot(
        [(netpol("db-ingress", "restricted"), origin)], source="t", captured_at=AT
    ).resources[0]
    assert placed.where == "bank/after/policies.yaml#3 NetworkPolicy restricted/db-ingress"
    gnp = {
        "apiVersion": "projectcalico.org/v3",
        "kind": "GlobalNetworkPolicy",
        "metadata": {"name": "deny-all"},
        "spec": {},
    }
    assert build([gnp]).resources[0].ref == "calico/GlobalNetworkPolicy deny-all"
    hash(placed)  # usable in sets despite the dict body


def test_collection_default_and_completeness() -> None:
    snap = build([pod("a")])
    assert set(snap.collection) == set(KNOWN_KINDS.values())
    assert snap.is_complete()
    partial = build([pod("a")], collection={"Pod": "ok", "calico/NetworkPolicy": "forbidden"})
    assert not partial.is_complete()
    assert partial.collection == {"Pod": "ok", "calico/NetworkPolicy": "forbidden"}
    with pytest.raises(AuditorError, match="collection status for Pod"):
        build([pod("a")], collection={"Pod": "maybe"})


def test_captured_at_from_source_date_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    snap = build_snapshot([(pod("a"), None)], source="t")
    assert snap.captured_at == "2027-01-15T08:00:00Z"
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(AuditorError, match="SOURCE_DATE_EPOCH"):
        build_snapshot([(pod("a"), None)], source="t")
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert build_snapshot([(pod("a"), None)], source="t").captured_at.endswith("Z")
    with pytest.raises(AuditorError, match="captured_at"):
        build([pod("a")], captured_at="2026-11-26 18:00:00")


# --- normalization ---------------------------------------------------------------------------


def test_normalization_drops_server_bookkeeping() -> None:
    obj = netpol("p")
    obj["metadata"].update(
        managedFields=[{"manager": "kubectl"}],
        resourceVersion="123",
        generation=4,
        selfLink="/apis/x",
        uid="u-1",
        annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}", "team": "a"},
    )
    obj["status"] = {"whatever": 1}
    before = copy.deepcopy(obj)
    body = build([obj]).resources[0].body
    assert obj == before, "input objects must not be modified"
    assert body["metadata"] == {
        "name": "p",
        "namespace": "shop",
        "uid": "u-1",
        "annotations": {"team": "a"},
    }
    assert "status" not in body


def test_empty_annotations_and_labels_disappear() -> None:
    obj = netpol("p")
    obj["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": "{}"}
    obj["metadata"]["labels"] = {}
    meta = build([obj]).resources[0].body["metadata"]
    assert "annotations" not in meta and "labels" not in meta
    obj["metadata"]["labels"] = None
    assert "labels" not in build([obj]).resources[0].body["metadata"]


def test_pod_status_trimmed_to_addresses() -> None:
    obj = pod(
        "a",
        status={
            "phase": "Running",
            "podIP": "10.0.0.1",
            "podIPs": [{"ip": "10.0.0.1"}],
            "hostIP": "172.18.0.2",
            "conditions": [{"type": "Ready"}],
            "containerStatuses": [],
        },
    )
    assert build([obj]).resources[0].body["status"] == {
        "phase": "Running",
        "podIP": "10.0.0.1",
        "podIPs": [{"ip": "10.0.0.1"}],
        "hostIP": "172.18.0.2",
    }
    assert "status" not in build([pod("b", status={"qosClass": "x"})]).resources[0].body


def test_namespaces_defaulted_or_cleared() -> None:
    snap = build(
        [
            pod("a", namespace=None),
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "namespace": "y"}},
        ],
        default_namespace="team",
    )
    res = snap.get("Pod", "team", "a")
    assert res is not None and res.body["metadata"]["namespace"] == "team"
    ns = snap.get("Namespace", None, "x")
    assert ns is not None and ns.namespace is None and "namespace" not in ns.body["metadata"]


def test_secrets_configmaps_and_unknown_kinds_counted_not_kept() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "shop"},
        "data": {"password": "aHVudGVyMg=="},
    }
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    cert = {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {}}
    snap = build([secret, dict(secret), configmap, cert, pod("a")])
    assert [r.kind for r in snap.resources] == ["Pod"]
    assert snap.ignored == {
        "cert-manager.io/v1/Certificate": 1,
        "v1/ConfigMap": 1,
        "v1/Secret": 2,
    }
    assert b"aHVudGVyMg" not in canonical_json(snap.to_dict())


def test_lists_are_expanded_for_live_callers() -> None:
    pod_list = {
        "apiVersion": "v1",
        "kind": "PodList",
        "metadata": {"resourceVersion": "9"},
        "items": [{"metadata": {"name": "a", "namespace": "shop"}, "spec": {}}],
    }
    snap = build([pod_list])
    assert snap.resources[0].kind == "Pod" and snap.resources[0].api_version == "v1"


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ({"kind": "Pod", "metadata": {"name": "a"}}, "apiVersion is missing"),
        (
            {"apiVersion": 1, "kind": "Pod", "metadata": {"name": "a"}},
            "apiVersion is an integer, not a string",
        ),
        ({"apiVersion": "v1", "kind": ["Pod"], "metadata": {"name": "a"}}, "kind is a list"),
        ({"apiVersion": "v1", "kind": "Pod"}, "metadata is missing"),
        ({"apiVersion": "v1", "kind": "Pod", "metadata": "a"}, "metadata is a string"),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"labels": {}}},
            "metadata.name is missing",
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": 7}},
            "metadata.name is an integer",
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": {"v": 1}}},
            "metadata.labels must map strings to strings, but 'v' maps to an integer (1)",
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "labels": ["x"]}},
            "metadata.labels is a list",
        ),
        (
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "a", "annotations": {"a": True}},
            },
            "metadata.annotations must map strings to strings",
        ),
        (
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a", "namespace": 3}},
            "metadata.namespace is an integer",
        ),
    ],
)
def test_structural_validation(obj: dict[str, Any], problem: str) -> None:
    with pytest.raises(InvalidResource) as info:
        build_snapshot([(obj, Origin("bank.yaml", 3, 10))], source="t", captured_at=AT)
    assert problem in str(info.value)
    assert str(info.value).startswith("bank.yaml#3")


def test_invalid_resource_names_the_resource() -> None:
    obj = pod("db", "restricted")
    obj["metadata"]["labels"] = {"version": 2}
    with pytest.raises(InvalidResource) as info:
        build_snapshot([(obj, Origin("bank.yaml", 3, 1))], source="t", captured_at=AT)
    assert info.value.where == "bank.yaml#3 Pod restricted/db"


def test_duplicates_name_both_places() -> None:
    with pytest.raises(InvalidResource) as info:
        build_snapshot(
            [(netpol("p"), Origin("a.yaml", 0, 1)), (netpol("p"), Origin("b.yaml", 2, 30))],
            source="t",
            captured_at=AT,
        )
    message = str(info.value)
    assert message.startswith("b.yaml#2 NetworkPolicy shop/p: defined twice")
    assert "a.yaml#0 (line 1)" in message
    # The same name in another kind or namespace is not a duplicate; a defaulted namespace is.
    build([netpol("p"), netpol("p", "other"), pod("p")])
    with pytest.raises(InvalidResource, match="defined twice"):
        build([pod("p", namespace=None), pod("p", namespace="default")])


def test_value_without_json_form_is_named() -> None:
    obj = pod("a", spec={"blob": b"\x00\x01"})
    with pytest.raises(InvalidResource, match="Pod shop/a: contains a value that has no JSON"):
        build([obj])


# --- digests ---------------------------------------------------------------------------------


def test_digest_independent_of_input_order_and_dict_order() -> None:
    objs = [pod("a"), pod("b"), netpol("x")]
    shuffled = [objs[2], objs[0], {k: objs[1][k] for k in reversed(list(objs[1]))}]
    one, two = build(objs), build(shuffled)
    assert one.digest == two.digest
    assert one.content_digest == two.content_digest
    assert one.resources == two.resources


def test_content_digest_ignores_provenance_digest_does_not() -> None:
    objs = [pod("a"), netpol("x")]
    one = build_snapshot(
        [(o, Origin("one.yaml", i, 1)) for i, o in enumerate(objs)], source="one", captured_at=AT
    )
    two = build_snapshot(
        [(o, None) for o in objs], source="live", captured_at="2026-11-27T00:00:00Z"
    )
    assert one.resources == two.resources  # origin is not part of equality
    assert one.content_digest == two.content_digest
    assert one.digest != two.digest
    changed = build([pod("a"), netpol("x"), pod("c")])
    assert changed.content_digest != one.content_digest


def test_digest_covers_every_field() -> None:
    snap = build([pod("a")])
    payload = snap.to_dict()
    digest = payload.pop("digest")
    assert digest == snap.digest == sha256_hex(canonical_json(payload))
    assert build([pod("a")], source="other").digest != snap.digest


# --- save / load -----------------------------------------------------------------------------


def saved(tmp_path: Path) -> tuple[Snapshot, Path]:
    snap = build_snapshot(
        [
            (pod("a", status={"phase": "Running", "podIP": "10.0.0.9"}), Origin("p.yaml", 0, 2)),
            (netpol("x"), Origin("n.yaml", 1, None)),
        ],
        source="manifests: p.yaml",
        captured_at=AT,
        collection={"Pod": "ok", "NetworkPolicy": "ok", "calico/NetworkPolicy": "not-installed"},
    )
    path = tmp_path / "snap" / "snapshot.json"
    snap.save(path)
    return snap, path


def test_round_trip_equal_and_byte_identical(tmp_path: Path) -> None:
    snap, path = saved(tmp_path)
    loaded = load_snapshot(path)
    assert loaded == snap
    assert loaded.digest == snap.digest and loaded.content_digest == snap.content_digest
    assert [r.origin for r in loaded.resources] == [r.origin for r in snap.resources]
    again = tmp_path / "again.json"
    loaded.save(again)
    assert again.read_bytes() == path.read_bytes()
    assert path.read_bytes().endswith(b"}\n")
    assert orjson.loads(path.read_bytes())["digest"] == snap.digest


def test_tampering_detected(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    raw = path.read_bytes()
    assert raw.count(b"10.0.0.9") == 1
    path.write_bytes(raw.replace(b"10.0.0.9", b"10.0.0.8"))  # one byte
    with pytest.raises(AuditorError) as info:
        load_snapshot(path)
    assert str(info.value) == f"snapshot digest mismatch: {path} was modified after capture"


def test_recomputed_digest_does_not_hide_unnormalized_content(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    data = orjson.loads(path.read_bytes())
    data["resources"][0]["body"]["metadata"]["resourceVersion"] = "7"
    del data["digest"]
    data["digest"] = sha256_hex(canonical_json(data))
    path.write_bytes(canonical_json(data))
    with pytest.raises(AuditorError, match=r"resources\[0\] .* is not in normalized form"):
        load_snapshot(path)


def test_schema_version_refused(tmp_path: Path) -> None:
    _, path = saved(tmp_path)
    data = orjson.loads(path.read_bytes())
    data["schema_version"] = 7
    path.write_bytes(canonical_json(data))
    with pytest.raises(AuditorError) as info:
        load_snapshot(path)
    assert (
        str(info.value) == f"{path}: unsupported snapshot schema version 7 (this auditor reads 1)"
    )


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "no such snapshot file"),
        (b"{not json", "not a snapshot: invalid JSON at line 1 column 2"),
        (b"[]", "not an auditor snapshot"),
        (b'{"schema_version": 1, "digest": "x"}', "not an auditor snapshot (missing tool_version"),
    ],
)
def test_load_errors_are_one_clear_line(
    tmp_path: Path, content: bytes | None, problem: str
) -> None:
    path = tmp_path / "s.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AuditorError) as info:
        load_snapshot(path)
    assert str(info.value).startswith(f"{path}: ")
    assert problem in str(info.value)
    assert "\n" not in str(info.value)


# --- canonical JSON and atomic writes --------------------------------------------------------


def test_canonical_json_is_deterministic() -> None:
    assert canonical_json({"b": 1, "a": [2, {"d": None, "c": "é"}]}) == canonical_json(
        {"a": [2, {"c": "é", "d": None}], "b": 1}
    )
    assert canonical_json({"b": 1, "a": 2}) == b'{"a":2,"b":1}'
    assert canonical_json({"n": np.int64(3), "m": np.array([1, 2])}) == b'{"m":[1,2],"n":3}'
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_atomic_write_creates_dirs_and_respects_umask(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "out.txt"
    old = os.umask(0o022)
    try:
        atomic_write(target, "héllo")
    finally:
        os.umask(old)
    assert target.read_bytes() == "héllo".encode()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    atomic_write(str(target), b"second")
    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_atomic_write_failure_keeps_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")

    def boom(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(canonical.os, failing, boom)
    with pytest.raises(AuditorError, match=r"out\.json: cannot write: No space left on device"):
        atomic_write(target, b"new content")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_save_failing_serialization_keeps_old_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snap, path = saved(tmp_path)
    before = path.read_bytes()

    def boom(obj: Any) -> bytes:
        raise TypeError("cannot serialize")

    other = build([pod("other")])
    monkeypatch.setattr(snapshot, "canonical_json", boom)
    with pytest.raises(TypeError):
        other.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["snapshot.json"]
    assert load_snapshot(path) == snap


def test_atomic_write_interrupted_midway_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "out.json"
    target.write_bytes(b"old")
    real_fdopen = os.fdopen

    class Interrupted(BaseException):
        pass

    class Half:
        def __init__(self, fd: int, mode: str) -> None:
            self.handle = real_fdopen(fd, mode)

        def __enter__(self) -> Half:
            return self

        def __exit__(self, *exc: object) -> None:
            self.handle.close()

        def write(self, data: bytes) -> None:
            self.handle.write(data[:3])
            raise Interrupted  # e.g. KeyboardInterrupt in the middle of the write

    monkeypatch.setattr(canonical.os, "fdopen", Half)
    with pytest.raises(Interrupted):
        atomic_write(target, b"new content")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_resource_dataclasses_are_frozen() -> None:
    res = build([pod("a")]).resources[0]
    assert isinstance(res, Resource)
    with pytest.raises(AttributeError):
        res.name = "b"  # type: ignore[misc]
