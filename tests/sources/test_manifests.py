"""Reading manifests: files, directories, stdin, YAML and JSON (auditor/sources/manifests.py)."""

from __future__ import annotations

import builtins
import io
import textwrap
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from auditor.canonical import canonical_json
from auditor.errors import AuditorError, InvalidResource
from auditor.snapshot import Origin, build_snapshot, load_snapshot
from auditor.sources import load_input, load_manifests
from auditor.sources import manifests as manifests_module

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
KUBECTL_DUMP = FIXTURES / "kubectl-get-pods-deploy-netpol.yaml"
AT = "2026-11-26T18:00:00Z"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(*paths: Path | str, **kw: Any) -> Any:
    kw.setdefault("captured_at", AT)
    return load_manifests([str(p) for p in paths], **kw)


NETPOL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {name}
  namespace: {namespace}
spec:
  podSelector: {{}}
"""


def pod_yaml(name: str, namespace: str = "shop", app: str = "web") -> str:
    return textwrap.dedent(
        f"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {name}
          namespace: {namespace}
          labels:
            app: {app}
        spec:
          containers:
          - name: main
            image: nginx
        """
    ).lstrip("\n")


# --- shapes of input -------------------------------------------------------------------------


def test_multi_document_yaml_with_origins(tmp_path: Path) -> None:
    path = write(
        tmp_path / "all.yaml",
        """
        # leading comment
        ---
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
        ---
        ---
        # only a comment in this one
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata:
          name: deny
          namespace: shop
        spec:
          podSelector: {}
        ...
        """,
    )
    snap = load(path)
    ns = snap.get("Namespace", None, "shop")
    policy = snap.get("NetworkPolicy", "shop", "deny")
    assert ns.origin == Origin(str(path), 0, 3)
    assert policy.origin == Origin(str(path), 3, 11)
    assert policy.where == f"{path}#3 NetworkPolicy shop/deny"
    assert snap.source == f"manifests: {path}"


def test_kind_list_and_typed_lists_expand(tmp_path: Path) -> None:
    path = write(
        tmp_path / "lists.yaml",
        """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: Namespace
          metadata:
            name: shop
        - apiVersion: networking.k8s.io/v1
          kind: NetworkPolicy
          metadata: {name: deny, namespace: shop}
          spec: {podSelector: {}}
        ---
        apiVersion: v1
        kind: PodList
        metadata:
          resourceVersion: "42"
        items:
        - metadata:
            name: a
            namespace: shop
          spec: {}
        - metadata:
            name: b
            namespace: shop
          spec: {}
          status:
            phase: Pending
            conditions: []
        ---
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicyList
        items: []
        """,
    )
    snap = load(path)
    assert [r.ref for r in snap.resources] == [
        "Namespace shop",
        "NetworkPolicy shop/deny",
        "Pod shop/a",
        "Pod shop/b",
    ]
    b = snap.get("Pod", "shop", "b")
    assert (b.api_version, b.kind) == ("v1", "Pod")
    assert b.body["apiVersion"] == "v1" and b.body["kind"] == "Pod"
    assert b.body["status"] == {"phase": "Pending"}
    assert b.origin == Origin(str(path), 1, 22)
    assert snap.get("Namespace", None, "shop").origin == Origin(str(path), 0, 4)
    assert snap.ignored == {}


def test_generic_list_item_without_kind_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "l.yaml", "apiVersion: v1\nkind: List\nitems:\n- metadata: {name: a}\n")
    with pytest.raises(InvalidResource, match=r"l\.yaml#0: List\.items\[0\] has no kind"):
        load(path)
    # A generic List implies no apiVersion either: a guess could hide a policy as "unknown kind".
    write(
        path, "apiVersion: v1\nkind: List\nitems:\n- kind: NetworkPolicy\n  metadata: {name: a}\n"
    )
    with pytest.raises(InvalidResource, match=r"List\.items\[0\] has no apiVersion"):
        load(path)


def test_kubectl_dump_fixture_is_normalized() -> None:
    snap = load(KUBECTL_DUMP)
    assert [r.ref for r in snap.resources] == [
        "Deployment shop/web",
        "NetworkPolicy restricted/db-ingress",
        "NetworkPolicy restricted/default-deny",
        "Pod restricted/db-0",
        "Pod shop/web-7d9f8b6c5-x2x9q",
    ]
    raw = canonical_json(snap.to_dict())
    for gone in (b"managedFields", b"last-applied-configuration", b"resourceVersion"):
        assert gone not in raw
    web = snap.get("Pod", "shop", "web-7d9f8b6c5-x2x9q")
    assert web.body["status"] == {
        "hostIP": "172.18.0.3",
        "phase": "Running",
        "podIP": "10.244.1.17",
        "podIPs": [{"ip": "10.244.1.17"}],
    }
    assert web.body["metadata"]["creationTimestamp"] == "2026-11-20T08:12:33Z"  # a string
    assert web.origin.line == 7
    deploy = snap.get("Deployment", "shop", "web")
    assert "status" not in deploy.body and "generation" not in deploy.body["metadata"]
    assert deploy.body["metadata"]["annotations"] == {"deployment.kubernetes.io/revision": "3"}
    assert deploy.body["spec"]["template"]["metadata"]["creationTimestamp"] is None
    policy = snap.get("NetworkPolicy", "restricted", "db-ingress")
    assert "annotations" not in policy.body["metadata"]
    assert policy.body["spec"]["ingress"][0]["ports"] == [{"port": 5432, "protocol": "TCP"}]


def test_fast_and_pyyaml_construction_agree_on_the_fixture() -> None:
    """The node-walking builder gives what PyYAML's constructor gives, after normalization."""
    text = KUBECTL_DUMP.read_text()
    plain = yaml.load(text, Loader=yaml.SafeLoader)
    reference = build_snapshot(
        [(item, None) for item in plain["items"]], source="x", captured_at=AT
    )
    assert load(KUBECTL_DUMP).resources == reference.resources


def test_directory_recursion_order_and_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    write(root / "b.yaml", pod_yaml("b"))
    write(root / "a" / "z.yml", pod_yaml("z"))
    write(root / "a" / "deeper" / "x.json", orjson.dumps(yaml.safe_load(pod_yaml("x"))).decode())
    write(root / ".git" / "hidden.yaml", "this: [is not read")
    write(root / "a" / ".hidden.yaml", "neither: [is this")
    write(root / "README.md", "# not a manifest")
    write(root / "values.txt", "x: 1")
    seen: list[str] = []
    real = manifests_module._parse

    def spy(raw: Any, file: str, **kw: Any) -> Any:
        seen.append(file)
        return real(raw, file, **kw)

    monkeypatch.setattr(manifests_module, "_parse", spy)
    snap = load(root)
    assert seen == [
        str(root / "a" / "deeper" / "x.json"),
        str(root / "a" / "z.yml"),
        str(root / "b.yaml"),
    ]
    assert [r.name for r in snap.resources] == ["b", "x", "z"]
    x = snap.get("Pod", "shop", "x")
    assert x.origin == Origin(str(root / "a" / "deeper" / "x.json"), 0, 1)


def test_same_objects_any_layout_same_content(tmp_path: Path) -> None:
    """Different files, order and formatting: same resources, same content digest."""
    one = write(
        tmp_path / "one.yaml",
        pod_yaml("a")
        + "---\n"
        + pod_yaml("b")
        + "---\n"
        + NETPOL.format(name="p", namespace="shop"),
    )
    split = tmp_path / "split"
    write(split / "3.yaml", pod_yaml("a"))
    write(split / "1.yaml", NETPOL.format(name="p", namespace="shop"))
    write(
        split / "2.json",
        orjson.dumps(
            {"apiVersion": "v1", "kind": "List", "items": [yaml.safe_load(pod_yaml("b"))]}
        ).decode(),
    )
    first, second = load(one), load(split)
    assert first.resources == second.resources
    assert first.content_digest == second.content_digest
    assert first.digest != second.digest  # the provenance differs
    assert load(one).digest == first.digest  # but the same input is stable


def test_stdin_text_and_binary(tmp_path: Path) -> None:
    extra = write(tmp_path / "p.yaml", NETPOL.format(name="p", namespace="shop"))
    from_text = load("-", extra, stdin=io.StringIO(pod_yaml("a")))
    from_bytes = load("-", stdin=io.BytesIO(pod_yaml("a").encode()))
    assert [r.ref for r in from_text.resources] == ["NetworkPolicy shop/p", "Pod shop/a"]
    assert from_text.get("Pod", "shop", "a").origin == Origin("<stdin>", 0, 1)
    assert from_text.source == f"manifests: -, {extra}"
    assert list(from_bytes.resources) == from_text.of_kind("Pod")
    json_stdin = orjson.dumps(yaml.safe_load(pod_yaml("a")))
    assert load("-", stdin=io.BytesIO(json_stdin)).resources == from_bytes.resources
    with pytest.raises(AuditorError, match="more than once"):
        load("-", "-", stdin=io.StringIO(""))


def test_json_input_kubectl_style(tmp_path: Path) -> None:
    dump = {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": [
            yaml.safe_load(pod_yaml("a")),
            yaml.safe_load(NETPOL.format(name="p", namespace="shop")),
        ],
    }
    path = tmp_path / "dump.json"
    path.write_bytes(orjson.dumps(dump, option=orjson.OPT_INDENT_2))
    snap = load(path)
    assert [r.ref for r in snap.resources] == ["NetworkPolicy shop/p", "Pod shop/a"]
    assert snap.resources[0].origin == Origin(str(path), 0, None)
    # YAML-flavoured ".json" (kubectl accepts it too)
    relaxed = write(
        tmp_path / "relaxed.json", "{apiVersion: v1, kind: Namespace, metadata: {name: x}}"
    )
    assert load(relaxed).resources[0].ref == "Namespace x"


def test_utf16_and_bom_files(tmp_path: Path) -> None:
    text = pod_yaml("a")
    utf16 = tmp_path / "ps.yaml"
    utf16.write_bytes(text.encode("utf-16"))  # PowerShell's `>` writes this
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + text.encode())
    assert load(utf16).resources == load(bom).resources
    assert len(load(bom).resources) == 1


def test_yaml_1_1_scalars_like_kubectl(tmp_path: Path) -> None:
    path = write(
        tmp_path / "s.yaml",
        """
        apiVersion: v1
        kind: Service
        metadata:
          name: s
          annotations:
            when: "2026-01-01"
        spec:
          ports:
          - port: 0x50
            targetPort: 8080
          sessionAffinity: None
          publishNotReadyAddresses: yes
          created: 2026-01-01T00:00:00Z
          ratio: 1.5
          nothing: ~
        """,
    )
    spec = load(path).resources[0].body["spec"]
    assert spec["ports"] == [{"port": 80, "targetPort": 8080}]
    assert spec["publishNotReadyAddresses"] is True
    assert spec["created"] == "2026-01-01T00:00:00Z"  # not a datetime
    assert spec["ratio"] == 1.5 and spec["nothing"] is None and spec["sessionAffinity"] == "None"


def test_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: a
          namespace: shop
          labels: &labels
            app: web
        spec:
          defaults: &defaults {image: nginx, name: main}
          containers:
          - <<: *defaults
            name: override
          nodeSelector: *labels
        """,
    )
    body = load(path).resources[0].body
    assert body["spec"]["containers"] == [{"image": "nginx", "name": "override"}]
    assert body["spec"]["nodeSelector"] == {"app": "web"}


# --- normalization through the reader --------------------------------------------------------


def test_defaults_secrets_and_unknown_kinds(tmp_path: Path) -> None:
    path = write(
        tmp_path / "mixed.yaml",
        """
        apiVersion: v1
        kind: Pod
        metadata:
          name: nameless-ns
        ---
        apiVersion: v1
        kind: Secret
        metadata: {name: db-password, namespace: shop}
        stringData: {password: hunter2}
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: settings}
        data: {key: value}
        ---
        apiVersion: v1
        kind: SecretList
        items:
        - metadata: {name: s2}
          data: {token: c2VjcmV0}
        ---
        apiVersion: cert-manager.io/v1
        kind: Certificate
        metadata: {name: tls}
        ---
        apiVersion: v1
        kind: Namespace
        metadata: {name: shop, namespace: ignored-here}
        """,
    )
    snap = load(path, default_namespace="team-a")
    assert [r.ref for r in snap.resources] == ["Namespace shop", "Pod team-a/nameless-ns"]
    assert snap.get("Pod", "team-a", "nameless-ns").body["metadata"]["namespace"] == "team-a"
    assert snap.ignored == {
        "cert-manager.io/v1/Certificate": 1,
        "v1/ConfigMap": 1,
        "v1/Secret": 2,
    }
    saved = tmp_path / "snap.json"
    snap.save(saved)
    for secret in (b"hunter2", b"c2VjcmV0", b"db-password", b"value"):
        assert secret not in saved.read_bytes()


def test_duplicates_across_files_name_both(tmp_path: Path) -> None:
    first = write(tmp_path / "a.yaml", NETPOL.format(name="p", namespace="shop"))
    second = write(tmp_path / "b.yaml", "---\n" + NETPOL.format(name="p", namespace="shop"))
    with pytest.raises(InvalidResource) as info:
        load(first, second)
    assert str(info.value) == (
        f"{second}#0 NetworkPolicy shop/p: defined twice (also at {first}#0 (line 1))"
    )


# --- errors: one line, file and problem ------------------------------------------------------


def error_of(*paths: Path | str, **kw: Any) -> str:
    with pytest.raises(AuditorError) as info:
        load(*paths, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_broken_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "bad.yaml",
        pod_yaml("a") + "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n   labels: x\n",
    )
    message = error_of(path)
    assert message.startswith(f"{path}: invalid YAML at line 17, column 10")
    assert "mapping values are not allowed" in message


def test_unclosed_flow_and_tabs(tmp_path: Path) -> None:
    path = write(tmp_path / "flow.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a\n")
    assert error_of(path).startswith(f"{path}: invalid YAML at line 4")
    tabs = write(tmp_path / "tabs.yaml", "apiVersion: v1\nmetadata:\n\tname: a\n")
    assert "invalid YAML at line 3, column 1" in error_of(tabs)


def test_duplicate_keys_rejected(tmp_path: Path) -> None:
    path = write(
        tmp_path / "dup.yaml",
        """
        apiVersion: networking.k8s.io/v1
        kind: NetworkPolicy
        metadata: {name: p, namespace: shop}
        spec:
          podSelector: {}
          ingress: []
          ingress:
          - {}
        """,
    )
    message = error_of(path)
    assert message.startswith(f"{path}: invalid YAML at line 7, column 3: found duplicate key")
    assert "'ingress'" in message
    merged = write(
        tmp_path / "merged.yaml",
        "base: &b {x: 1}\nthing:\n  <<: *b\n  y: 2\n  y: 3\n",
    )
    assert "found duplicate key 'y'" in error_of(merged)


def test_custom_tags_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "tag.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: !Ref x\n")
    message = error_of(path)
    assert "line 4" in message and "!Ref" in message


def test_broken_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "apiVersion": "v1",\n  "kind": "Pod"\n  "metadata": {}\n}\n')
    message = error_of(path)
    assert message.startswith(f"{path}: invalid JSON at line 4, column 3")


def test_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path / "list.yaml", pod_yaml("a") + "---\n- just\n- a list\n")
    assert error_of(path) == (
        f"{path}#1: document starting at line 13 is a list, not a Kubernetes object"
    )
    scalar = write(tmp_path / "scalar.yaml", "hello\n")
    assert "is a string, not a Kubernetes object" in error_of(scalar)


def test_missing_path_empty_dir_no_input(tmp_path: Path) -> None:
    assert (
        error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file or directory"
    )
    empty = tmp_path / "empty"
    (empty / ".git").mkdir(parents=True)
    write(empty / ".git" / "x.yaml", pod_yaml("a"))
    write(empty / "notes.txt", "x")
    assert error_of(empty) == (
        f"{empty}: directory holds no manifests (no .yaml, .yml or .json files)"
    )
    with pytest.raises(AuditorError, match="no input"):
        load_manifests([])


def test_unreadable_and_undecodable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = write(tmp_path / "locked.yaml", pod_yaml("a"))
    real_open = builtins.open

    def guarded(file: Any, *args: Any, **kw: Any) -> Any:
        if str(file) == str(locked):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kw)

    monkeypatch.setattr(builtins, "open", guarded)
    assert error_of(locked) == f"{locked}: cannot read: Permission denied"
    monkeypatch.undo()
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes("metadata:\n  name: caf\xe9\n".encode("latin-1"))
    assert error_of(latin) == f"{latin}: not UTF-8 text (invalid byte at offset 21)"


def test_snapshot_mixed_with_manifests_is_explained(tmp_path: Path) -> None:
    snap = load(write(tmp_path / "p.yaml", pod_yaml("a")))
    snap.save(tmp_path / "snap.json")
    message = error_of(tmp_path / "snap.json", tmp_path / "p.yaml")
    assert "saved auditor snapshot" in message and "only input" in message


# --- load_input ------------------------------------------------------------------------------


def test_load_input_picks_snapshot_or_manifests(tmp_path: Path) -> None:
    manifest = write(tmp_path / "p.yaml", pod_yaml("a"))
    snap = load(manifest)
    saved = tmp_path / "snap.json"
    snap.save(saved)
    assert load_input([str(saved)]) == load_snapshot(saved) == snap
    manifest_json = tmp_path / "pod.json"
    manifest_json.write_bytes(orjson.dumps(yaml.safe_load(pod_yaml("a"))))
    from_json = load_input([str(manifest_json)], captured_at=AT)
    assert from_json.resources == snap.resources and from_json.source.startswith("manifests: ")
    assert load_input([str(manifest)], captured_at=AT).digest == snap.digest
    assert load_input(manifest, captured_at=AT).digest == snap.digest  # a Path is fine too
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(saved.read_bytes().replace(b'"image":"nginx"', b'"image":"nginy"'))
    with pytest.raises(AuditorError, match="digest mismatch"):
        load_input([str(tampered)])


# --- the fast builder is PyYAML ------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    spec=st.dictionaries(st.text(max_size=8), json_values, max_size=5),
    status=st.dictionaries(st.sampled_from(["phase", "podIP", "qosClass", "hostIP"]), json_values),
    style=st.sampled_from([False, True, None]),
)
def test_yaml_round_trip_matches_pyyaml(
    tmp_path_factory: pytest.TempPathFactory,
    spec: dict[str, Any],
    status: dict[str, Any],
    style: bool | None,
) -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "a", "namespace": "shop"},
        "spec": spec,
        "status": status,
    }
    text = yaml.safe_dump(
        {"apiVersion": "v1", "kind": "List", "items": [obj]}, default_flow_style=style
    )
    path = tmp_path_factory.mktemp("rt") / "doc.yaml"
    path.write_text(text)
    expected = build_snapshot([(obj, None)], source="x", captured_at=AT)
    assert load(path).resources == expected.resources
    # Outside Kubernetes objects nothing is pruned: exactly PyYAML's result.
    plain = yaml.safe_dump({"spec": spec, "status": status}, default_flow_style=style)
    documents = list(manifests_module._yaml_documents(plain, "x"))
    assert documents[0][2] == yaml.safe_load(plain)


def test_fast_builder_used_and_pyyaml_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain documents never reach PyYAML's (slow) constructor; merge keys still work."""
    calls: list[int] = []
    real = yaml.constructor.BaseConstructor.construct_document

    def counting(self: Any, node: Any) -> Any:
        calls.append(1)
        return real(self, node)

    monkeypatch.setattr(yaml.constructor.BaseConstructor, "construct_document", counting)
    load(KUBECTL_DUMP)
    assert calls == []
    merged = write(
        tmp_path / "m.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nx: &x {a: 1}\nspec: {<<: *x}\n",
    )
    assert load(merged).resources[0].body["spec"] == {"a": 1}
    assert calls == [1]
