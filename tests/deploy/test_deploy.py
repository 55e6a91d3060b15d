"""deploy/: every manifest parses and validates against the kubernetes client's models, the
ClusterRole grants only get/list on what the live scan reads (LIVE_KINDS), the CronJob is
locked down, its shell command runs, and the Helm chart renders (with a small Go-template
renderer below: Helm is not available in CI).
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import shlex
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import kubernetes.client.models as k8s_models
import pytest
import yaml

from auditor.sources.live import LIVE_KINDS, RBAC_VERBS, rbac_resources

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
MANIFESTS = DEPLOY / "kubernetes"
CHART = DEPLOY / "helm" / "zone-auditor"

MODELS = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "PersistentVolumeClaim"): "V1PersistentVolumeClaim",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("networking.k8s.io/v1", "NetworkPolicy"): "V1NetworkPolicy",
    ("batch/v1", "CronJob"): "V1CronJob",
    ("v1", "Pod"): "V1Pod",
}


# --- validation with the kubernetes client's models ------------------------------------------


def check_model(data: Any, type_name: str, path: str) -> None:
    """Walk ``data`` against a client model type: no unknown fields, right JSON types."""
    if type_name.startswith("List["):
        assert isinstance(data, list), f"{path}: expected a list"
        for index, item in enumerate(data):
            check_model(item, type_name[5:-1], f"{path}[{index}]")
        return
    if type_name.startswith("Dict["):
        assert isinstance(data, dict), f"{path}: expected a mapping"
        value_type = type_name[5:-1].split(",", 1)[1].strip()
        for key, value in data.items():
            assert isinstance(key, str), f"{path}: non-string key {key!r}"
            check_model(value, value_type, f"{path}.{key}")
        return
    primitive = {"str": str, "bool": bool, "datetime": str, "bytes": str}
    if type_name in primitive:
        assert isinstance(data, primitive[type_name]), f"{path}: expected {type_name}, got {data!r}"
        return
    if type_name == "int":
        assert isinstance(data, int) and not isinstance(data, bool), f"{path}: expected int"
        return
    if type_name == "float":
        assert isinstance(data, int | float) and not isinstance(data, bool), f"{path}: number"
        return
    if type_name == "object":  # IntOrString and free-form fields
        return
    cls = getattr(k8s_models, type_name)
    assert isinstance(data, dict), f"{path}: expected a {type_name} mapping"
    wire_to_attr = {wire: attr for attr, wire in cls.attribute_map.items()}
    unknown = sorted(set(data) - set(wire_to_attr))
    assert not unknown, f"{path}: unknown field(s) {unknown} for {type_name}"
    for wire, value in data.items():
        if value is not None:
            check_model(value, cls.openapi_types[wire_to_attr[wire]], f"{path}.{wire}")


def validate(doc: dict[str, Any], where: str) -> Any:
    """Strict structural check, then build the client model (required fields, value types)."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    assert key in MODELS, f"{where}: unexpected kind {key}"
    name = MODELS[key]
    check_model(doc, name, f"{where} {doc['kind']}")
    cls = getattr(k8s_models, name)
    model = cls.from_dict(copy.deepcopy(doc)) if hasattr(cls, "from_dict") else None
    assert doc["metadata"]["name"]
    return model


def load_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def manifest_docs() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(MANIFESTS.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in load_docs(path.read_text()):
            out[doc["kind"]] = doc
    return out


# --- RBAC and pod security checks (shared by the manifests and the chart) -------------------


def granted(cluster_role: dict[str, Any]) -> dict[str, set[str]]:
    """API group → resources, asserting every rule is get/list only and unrestricted by name."""
    out: dict[str, set[str]] = {}
    for rule in cluster_role["rules"]:
        assert sorted(rule["verbs"]) == sorted(RBAC_VERBS), rule
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule, rule
        for group in rule["apiGroups"]:
            assert group != "*"
            for resource in rule["resources"]:
                assert "*" not in resource and "/" not in resource, resource
                out.setdefault(group, set()).add(resource)
    return out


def assert_rbac_matches_live_kinds(cluster_role: dict[str, Any]) -> None:
    assert granted(cluster_role) == rbac_resources()
    everything = {r for resources in granted(cluster_role).values() for r in resources}
    assert not everything & {"secrets", "configmaps"}


def assert_locked_down(cronjob: dict[str, Any]) -> dict[str, Any]:
    """The CronJob's pod is restricted; returns the auditor container."""
    spec = cronjob["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert 0 < spec["successfulJobsHistoryLimit"] <= 10
    assert 0 < spec["failedJobsHistoryLimit"] <= 10
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] > 0 and job["backoffLimit"] <= 3
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork") and not pod.get("hostPID") and not pod.get("hostIPC")
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}
    resources = container["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert {"cpu", "memory"} <= set(resources["limits"])
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and "/reports" in mounts  # writable places on a read-only root
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert not any("hostPath" in v for v in volumes.values())
    for rule in job["podFailurePolicy"]["rules"]:
        assert rule["onExitCodes"]["containerName"] == container["name"]
    return container


def kube_expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of command/args ($$ escapes, unknown refs unchanged)."""
    out, i = [], 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env.get(name, f"$({name})"))
                    i = end + 1
                    continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(text[i])
        i += 1
    return "".join(out)


def run_container_script(
    container: dict[str, Any], tmp_path: Path, audit_exit: int, upload_exit: int = 0
) -> tuple[int, list[list[str]], Path]:
    """Run the container's /bin/sh script with fake `auditor`/`zone-auditor-upload` on PATH.

    /reports is redirected into tmp_path; returns (exit code, recorded calls, reports dir).
    """
    assert container["command"] == ["/bin/sh", "-c"]
    script = kube_expand(
        container["args"][0], {e["name"]: e.get("value", "") for e in container.get("env", [])}
    )
    reports = tmp_path / "reports"
    reports.mkdir(parents=True)
    old = reports / "2020-01-01T000000Z"
    old.mkdir()
    os.utime(old, (0, 0))
    recent = reports / "recent-run"
    recent.mkdir()
    script = script.replace("/reports", str(reports))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    for name, code in (("auditor", audit_exit), ("zone-auditor-upload", upload_exit)):
        tool = bin_dir / name
        tool.write_text(
            f"#!{sys.executable}\nimport json, sys\n"
            f"open({str(calls)!r}, 'a').write(json.dumps([{name!r}, *sys.argv[1:]]) + '\\n')\n"
            f"sys.exit({code})\n"
        )
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    result = subprocess.run(
        ["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30
    )
    assert "not found" not in result.stderr, result.stderr
    recorded = (
        [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    )
    assert not old.exists(), "retention did not delete the old run"
    assert recent.exists()
    return result.returncode, recorded, reports


# --- plain manifests -------------------------------------------------------------------------


def test_every_manifest_validates() -> None:
    files = sorted(p for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")
    kinds = []
    for path in files:
        for index, doc in enumerate(load_docs(path.read_text())):
            validate(doc, f"{path.name}#{index}")
            kinds.append(doc["kind"])
    assert sorted(kinds) == sorted(
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "PersistentVolumeClaim",
            "NetworkPolicy",
            "CronJob",
        ]
    )


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    files = {p.name for p in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files


def test_cluster_role_grants_only_get_list_on_the_live_kinds() -> None:
    assert_rbac_matches_live_kinds(manifest_docs()["ClusterRole"])


def test_cluster_role_drift_is_detected() -> None:
    """The check itself fails when a kind is added on one side only, or a verb widened."""
    role = manifest_docs()["ClusterRole"]
    extra = copy.deepcopy(role)
    extra["rules"][0]["resources"].append("secrets")
    with pytest.raises(AssertionError):
        assert_rbac_matches_live_kinds(extra)
    missing = copy.deepcopy(role)
    missing["rules"] = [r for r in missing["rules"] if "security.istio.io" not in r["apiGroups"]]
    with pytest.raises(AssertionError):
        assert_rbac_matches_live_kinds(missing)
    watch = copy.deepcopy(role)
    watch["rules"][0]["verbs"].append("watch")
    with pytest.raises(AssertionError):
        assert_rbac_matches_live_kinds(watch)
    # every LIVE_KINDS (group, plural) is needed
    needed = rbac_resources()
    assert all(k.plural in needed[k.group] for k in LIVE_KINDS)


def test_binding_and_service_account_line_up() -> None:
    docs = manifest_docs()
    binding, account, role = docs["ClusterRoleBinding"], docs["ServiceAccount"], docs["ClusterRole"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    pod = docs["CronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    namespace = docs["Namespace"]["metadata"]["name"]
    for kind in ("ServiceAccount", "PersistentVolumeClaim", "CronJob", "NetworkPolicy"):
        assert docs[kind]["metadata"]["namespace"] == namespace
    assert (
        docs["Namespace"]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        == "restricted"
    )
    claim = next(v for v in pod["volumes"] if v["name"] == "reports")["persistentVolumeClaim"]
    assert claim["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]


def test_cronjob_is_locked_down_and_runs_the_audit(tmp_path: Path) -> None:
    container = assert_locked_down(manifest_docs()["CronJob"])
    code, calls, reports = run_container_script(container, tmp_path, audit_exit=1)
    assert code == 1  # the audit's exit code is the Job's
    ((tool, *argv),) = calls
    assert tool == "auditor"
    assert argv[:3] == ["audit", "--live", "--in-cluster"]
    assert argv[argv.index("--controls") + 1] == "/controls/pci-dss-v4.yaml"
    report = Path(argv[argv.index("--report") + 1])
    assert report.parent == reports
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}Z", report.name)


def _kustomize_build() -> str:
    """``kubectl kustomize`` when kubectl is installed; otherwise the same build for what this
    kustomization uses (plain resources and an image tag), so the test asserts either way."""
    kubectl = shutil_which("kubectl")
    if kubectl is not None:
        out = subprocess.run([kubectl, "kustomize", str(MANIFESTS)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return out.stdout
    kust = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    assert set(kust) <= {"apiVersion", "kind", "resources", "images"}, "the fallback builder must know every field"
    tags = {i["name"]: i["newTag"] for i in kust.get("images", [])}
    docs = []
    for name in kust["resources"]:
        for doc in load_docs((MANIFESTS / name).read_text()):
            for pod in _pod_specs(doc):
                for c in pod.get("containers", []):
                    image = c["image"].split(":")[0]
                    if image in tags:
                        c["image"] = f"{image}:{tags[image]}"
            docs.append(doc)
    return yaml.safe_dump_all(docs)


def _pod_specs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec") or {}
    if doc.get("kind") == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if "template" in spec:
        return [spec["template"]["spec"]]
    return []


def test_kustomization_builds() -> None:
    docs = load_docs(_kustomize_build())
    assert len(docs) == 7
    cron = next(d for d in docs if d["kind"] == "CronJob")
    image = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "zone-auditor:0.1.0"


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name)


def test_docs_have_the_section_and_valid_yaml() -> None:
    text = (ROOT / "docs" / "deploy.md").read_text()
    assert "\n## Run it in your cluster\n" in text
    for needed in (
        "kubectl apply -k",
        "helm install",
        "What RBAC is granted",
        "Where reports land",
    ):
        assert needed in text
    heredocs = re.findall(r"<<'EOF'\n(.*?)\nEOF\n", text, re.S)
    assert heredocs
    for index, block in enumerate(heredocs):
        for doc in load_docs(block):
            validate(doc, f"docs/deploy.md heredoc {index}")


# --- Dockerfile ------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile() -> None:
    steps = dockerfile_instructions()
    froms = [rest for word, rest in steps if word == "FROM"]
    args = dict(rest.split("=", 1) for word, rest in steps if word == "ARG" and "=" in rest)
    assert len(froms) == 2
    for base in froms:
        image = base.split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", image), image
    final_stage = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [rest for word, rest in final_stage if word == "USER"]
    assert users and re.fullmatch(
        r"[1-9]\d{3,}:[1-9]\d{3,}", users[-1]
    )  # numeric: runAsNonRoot can check it
    uid = int(users[-1].split(":")[0])
    cron = manifest_docs()["CronJob"]
    assert (
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        == uid
    )
    assert ("ENTRYPOINT", '["auditor"]') in final_stage
    assert not any(word == "ADD" for word, _ in steps)
    runs = " ".join(rest for word, rest in steps if word == "RUN")
    assert "pip install ." in runs  # the package, installed from the repository
    envs = " ".join(rest for word, rest in final_stage if word == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in envs and "HOME=/tmp" in envs
    # the build context keeps what `pip install .` and the image need
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for needed in ("!pyproject.toml", "!auditor/", "!controls/", "!deploy/upload_reports.py"):
        assert needed in ignore
    assert (ROOT / "pyproject.toml").is_file() and (ROOT / "auditor").is_dir()


# --- the upload helper -----------------------------------------------------------------------


class _PutHandler(http.server.BaseHTTPRequestHandler):
    received: ClassVar[dict[str, tuple[bytes, str | None]]] = {}
    fail_first: ClassVar[set[str]] = set()

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path in self.fail_first:
            self.fail_first.discard(self.path)
            self.send_response(503)
        else:
            self.received[self.path] = (body, self.headers.get("Authorization"))
            self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_upload_reports_puts_every_file(tmp_path: Path) -> None:
    run = tmp_path / "2026-11-26T031700Z"
    (run / "csv").mkdir(parents=True)
    (run / "report.json").write_bytes(b'{"ok": true}')
    (run / "csv" / "flows.csv").write_bytes(b"src,dst\n")

    class Handler(_PutHandler):
        received: ClassVar[dict[str, tuple[bytes, str | None]]] = {}
        fail_first: ClassVar[set[str]] = {"/evidence/2026-11-26T031700Z/report.json"}

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        env = {
            **os.environ,
            "UPLOAD_URL": f"http://127.0.0.1:{server.server_address[1]}/evidence/",
            "UPLOAD_AUTHORIZATION": "Bearer s3cr3t",
        }
        result = subprocess.run(
            [sys.executable, str(DEPLOY / "upload_reports.py"), str(run)],
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.returncode == 0, result.stderr
    assert Handler.received == {
        "/evidence/2026-11-26T031700Z/report.json": (b'{"ok": true}', "Bearer s3cr3t"),
        "/evidence/2026-11-26T031700Z/csv/flows.csv": (b"src,dst\n", "Bearer s3cr3t"),
    }
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[-1]["msg"] == "done" and lines[-1]["failed"] == 0


def test_upload_refuses_plain_http_to_remote_hosts(tmp_path: Path) -> None:
    env = {**os.environ, "UPLOAD_URL": "http://evidence.example.com/x"}
    result = subprocess.run(
        [sys.executable, str(DEPLOY / "upload_reports.py"), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2 and "https://" in result.stderr


# --- a small Go-template renderer (the subset of Helm templates the chart uses) -------------


class TemplateError(Exception):
    pass


_ACTION = re.compile(r"\{\{(-\s)?(.*?)(\s-)?\}\}", re.S)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<num>-?\d+(?:\.\d+)?)
      | (?P<assign>:=|=)
      | (?P<punct>[()|,])
      | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
      | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
      | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.X,
)


def _lex(source: str) -> list[tuple[str, str]]:
    """Text and action tokens, with Go's {{- and -}} whitespace trimming applied."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    trim_next = False
    for match in _ACTION.finditer(source):
        text = source[pos : match.start()]
        if trim_next:
            text = text.lstrip()
        if match.group(1):
            text = text.rstrip()
        tokens.append(("text", text))
        body = match.group(2).strip()
        if not (body.startswith("/*") and body.endswith("*/")):
            tokens.append(("action", body))
        trim_next = bool(match.group(3))
        pos = match.end()
    tail = source[pos:]
    tokens.append(("text", tail.lstrip() if trim_next else tail))
    return tokens


def _split_words(action: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(action):
        if action[pos:].strip() == "":
            break
        match = _TOKEN.match(action, pos)
        if not match or match.end() == pos:
            raise TemplateError(f"cannot lex {action!r} at {pos}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Scope:
    def __init__(self, parent: _Scope | None = None) -> None:
        self.vars: dict[str, Any] = {}
        self.parent = parent

    def get(self, name: str) -> Any:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope.vars[name]
            scope = scope.parent
        raise TemplateError(f"undefined variable {name}")

    def set(self, name: str, value: Any) -> None:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                scope.vars[name] = value
                return
            scope = scope.parent
        raise TemplateError(f"assignment to undeclared variable {name}")


def _truthy(value: Any) -> bool:
    return not (value is None or value is False or value == 0 or value in ("", [], {}))


def _printable(value: Any) -> str:
    if value is None:
        return ""  # Helm drops "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and abs(value) >= 1_000_000:
        raise TemplateError(f"{value}: Helm renders numbers from values.yaml >= 1e6 as 1e+06")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise TemplateError(f"printing a {type(value).__name__} directly (use toYaml)")
    return str(value)


def _json_numbers(value: Any) -> Any:
    """float64 values marshal as JSON integers when integral (sigs.k8s.io/yaml, as in Helm)."""
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_numbers(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _to_yaml(value: Any) -> str:
    if value in ({}, []):
        return "{}" if value == {} else "[]"
    dumped = yaml.safe_dump(_json_numbers(value), sort_keys=True, default_flow_style=False)
    return dumped.rstrip("\n")


class GoTemplates:
    """Parses Helm template files and renders them (if/else if/else, range, with, define,
    include, variables, pipelines and the Sprig functions the chart uses)."""

    def __init__(self) -> None:
        self.defines: dict[str, list[Any]] = {}
        self.functions: dict[str, Callable[..., Any]] = {
            "include": lambda name, data: self.execute(self.defines[name], data),
            "quote": lambda *v: " ".join(json.dumps(_printable(x)) for x in v if x is not None),
            "squote": lambda *v: " ".join(f"'{_printable(x)}'" for x in v if x is not None),
            "default": lambda d, v=None: v if _truthy(v) else d,
            "toYaml": _to_yaml,
            "nindent": lambda n, s: "\n" + self.functions["indent"](n, s),
            "indent": lambda n, s: " " * n + s.replace("\n", "\n" + " " * n),
            "trunc": lambda n, s: s[:n] if n >= 0 else s[n:],
            "trimSuffix": lambda suffix, s: (
                s[: -len(suffix)] if suffix and s.endswith(suffix) else s
            ),
            "printf": lambda fmt, *a: re.sub(r"%[sdv]", "{}", fmt).format(
                *(_printable(x) for x in a)
            ),
            "contains": lambda sub, s: sub in s,
            "join": lambda sep, items: sep.join(_printable(x) for x in items or []),
            "not": lambda v: not _truthy(v),
            "and": self._and,
            "or": self._or,
            "eq": lambda a, *b: any(a == x for x in b),
            "empty": lambda v: not _truthy(v),
            "required": self._required,
            "hasKey": lambda mapping, key: isinstance(mapping, dict) and key in mapping,
            "fail": self._fail,
        }

    @staticmethod
    def _and(*values: Any) -> Any:
        for v in values:
            if not _truthy(v):
                return v
        return values[-1]

    @staticmethod
    def _or(*values: Any) -> Any:
        for v in values:
            if _truthy(v):
                return v
        return values[-1]

    @staticmethod
    def _fail(message: str) -> Any:
        raise TemplateError(f"fail: {message}")

    @staticmethod
    def _required(message: str, value: Any = None) -> Any:
        if not _truthy(value):
            raise TemplateError(f"required: {message}")
        return value

    # parsing -----------------------------------------------------------------------------

    def parse(self, source: str) -> list[Any]:
        tokens = _lex(source)
        nodes, end = self._parse_block(tokens, 0, ())
        if end != len(tokens):
            raise TemplateError(f"unexpected {tokens[end][1]!r}")
        return nodes

    def _parse_block(
        self, tokens: list[tuple[str, str]], i: int, stops: tuple[str, ...]
    ) -> tuple[list[Any], int]:
        nodes: list[Any] = []
        while i < len(tokens):
            kind, value = tokens[i]
            if kind == "text":
                if value:
                    nodes.append(("text", value))
                i += 1
                continue
            word = value.split(None, 1)[0] if value else ""
            if word in stops or (value.startswith("else") and "else" in stops):
                return nodes, i
            if word == "if":
                node, i = self._parse_if(tokens, i, value[2:].strip())
                nodes.append(node)
            elif word in ("range", "with"):
                header = value[len(word) :].strip()
                body, i = self._parse_block(tokens, i + 1, ("end", "else"))
                other: list[Any] = []
                if tokens[i][1] == "else":
                    other, i = self._parse_block(tokens, i + 1, ("end",))
                nodes.append((word, header, body, other))
                i += 1
            elif word == "define":
                name = json.loads(value[len("define") :].strip())
                body, i = self._parse_block(tokens, i + 1, ("end",))
                self.defines[name] = body
                i += 1
            elif word in ("end", "else"):
                raise TemplateError(f"unexpected {value!r}")
            else:
                nodes.append(("action", value))
                i += 1
        if stops:
            raise TemplateError(f"missing {{{{ end }}}} (wanted {stops})")
        return nodes, i

    def _parse_if(self, tokens: list[tuple[str, str]], i: int, condition: str) -> tuple[Any, int]:
        branches = []
        other: list[Any] = []
        while True:
            body, i = self._parse_block(tokens, i + 1, ("end", "else"))
            branches.append((condition, body))
            closing = tokens[i][1]
            if closing == "end":
                break
            if closing.startswith("else if "):
                condition = closing[len("else if ") :].strip()
                continue
            if closing == "else":
                other, i = self._parse_block(tokens, i + 1, ("end",))
                break
            raise TemplateError(f"unexpected {closing!r}")
        return ("if", branches, other), i + 1

    # evaluation --------------------------------------------------------------------------

    def render(self, source: str, root: dict[str, Any]) -> str:
        return self.execute(self.parse(source), root)

    def execute(self, nodes: list[Any], dot: Any, scope: _Scope | None = None) -> str:
        if scope is None:
            scope = _Scope()
            scope.vars["$"] = dot
        out: list[str] = []
        for node in nodes:
            tag = node[0]
            if tag == "text":
                out.append(node[1])
            elif tag == "action":
                value = self._action(node[1], dot, scope)
                if value is not None:
                    out.append(_printable(value))
            elif tag == "if":
                for condition, body in node[1]:
                    if _truthy(self._pipeline(_split_words(condition), dot, scope)):
                        out.append(self.execute(body, dot, _Scope(scope)))
                        break
                else:
                    out.append(self.execute(node[2], dot, _Scope(scope)))
            elif tag == "with":
                value = self._pipeline(_split_words(node[1]), dot, scope)
                if _truthy(value):
                    out.append(self.execute(node[2], value, _Scope(scope)))
                else:
                    out.append(self.execute(node[3], dot, _Scope(scope)))
            elif tag == "range":
                out.append(self._range(node, dot, scope))
        return "".join(out)

    def _range(self, node: Any, dot: Any, scope: _Scope) -> str:
        words = _split_words(node[1])
        names: list[str] = []
        if any(kind == "assign" for kind, _ in words):
            at = next(i for i, (kind, _) in enumerate(words) if kind == "assign")
            names = [v for kind, v in words[:at] if kind == "var"]
            words = words[at + 1 :]
        collection = self._pipeline(words, dot, scope)
        if isinstance(collection, dict):
            pairs = sorted(collection.items())
        else:
            pairs = list(enumerate(collection or []))
        if not pairs:
            return self.execute(node[3], dot, _Scope(scope))
        out = []
        for key, value in pairs:
            inner = _Scope(scope)
            if len(names) == 1:
                inner.vars[names[0]] = value
            elif len(names) == 2:
                inner.vars[names[0]], inner.vars[names[1]] = key, value
            out.append(self.execute(node[2], value, inner))
        return "".join(out)

    def _action(self, action: str, dot: Any, scope: _Scope) -> Any:
        words = _split_words(action)
        if len(words) >= 2 and words[0][0] == "var" and words[1][0] == "assign":
            value = self._pipeline(words[2:], dot, scope)
            if words[1][1] == ":=":
                scope.vars[words[0][1]] = value
            else:
                scope.set(words[0][1], value)
            return None
        return self._pipeline(words, dot, scope)

    def _pipeline(self, words: list[tuple[str, str]], dot: Any, scope: _Scope) -> Any:
        commands: list[list[tuple[str, str]]] = [[]]
        depth = 0
        for word in words:
            if word == ("punct", "|") and depth == 0:
                commands.append([])
                continue
            if word == ("punct", "("):
                depth += 1
            elif word == ("punct", ")"):
                depth -= 1
            commands[-1].append(word)
        value: Any = _NOTHING
        for command in commands:
            value = self._command(command, dot, scope, value)
        return value

    def _command(self, words: list[tuple[str, str]], dot: Any, scope: _Scope, piped: Any) -> Any:
        operands = list(self._operands(words, dot, scope))
        head_kind, head = words[0]
        if head_kind == "ident" and head not in ("true", "false", "nil"):
            if head not in self.functions:
                raise TemplateError(f"function {head!r} not supported")
            args = operands[1:] + ([] if piped is _NOTHING else [piped])
            return self.functions[head](*args)
        if piped is not _NOTHING or len(operands) != 1:
            raise TemplateError(f"cannot evaluate {words}")
        return operands[0]

    def _operands(self, words: list[tuple[str, str]], dot: Any, scope: _Scope) -> Iterator[Any]:
        i = 0
        while i < len(words):
            kind, value = words[i]
            if kind == "punct" and value == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += {"(": 1, ")": -1}.get(words[j][1], 0) if words[j][0] == "punct" else 0
                    j += 1
                yield self._pipeline(words[i + 1 : j - 1], dot, scope)
                i = j
                continue
            if kind == "str":
                yield json.loads(value) if value.startswith('"') else value[1:-1]
            elif kind == "num":
                yield float(value) if "." in value else int(value)
            elif kind == "field":
                yield self._field(dot, value)
            elif kind == "var":
                name, _, path = value.partition(".")
                yield self._field(scope.get(name), "." + path if path else ".")
            elif kind == "ident":
                yield {"true": True, "false": False, "nil": None}.get(value, value)
            else:
                raise TemplateError(f"unexpected {value!r}")
            i += 1

    @staticmethod
    def _field(value: Any, path: str) -> Any:
        for part in [p for p in path.split(".") if p]:
            if value is None:
                return None
            if not isinstance(value, dict):
                raise TemplateError(f"cannot take .{part} of {type(value).__name__}")
            value = value.get(part)
        return value


_NOTHING = object()


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _helm_numbers(value: Any) -> Any:
    """Helm reads values.yaml through JSON: every number becomes a float64."""
    if isinstance(value, dict):
        return {k: _helm_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_helm_numbers(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def render_chart(
    overrides: dict[str, Any] | None = None,
    *,
    release: str = "audit",
    namespace: str = "zone-auditor",
) -> tuple[dict[str, str], dict[str, Any]]:
    """Render every template of the chart: ({file name: text}, merged values)."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    values = _merge(yaml.safe_load((CHART / "values.yaml").read_text()), overrides or {})
    validate_values(values)
    root = {
        "Values": _helm_numbers(values),
        "Release": {"Name": release, "Namespace": namespace, "Service": "Helm", "IsInstall": True},
        "Chart": {
            "Name": chart["name"],
            "Version": chart["version"],
            "AppVersion": chart["appVersion"],
        },
    }
    engine = GoTemplates()
    templates = sorted((CHART / "templates").iterdir())
    for path in templates:
        if path.name.startswith("_"):
            engine.parse(path.read_text())
    out = {}
    for path in templates:
        if not path.name.startswith("_"):
            out[path.name] = engine.render(path.read_text(), root)
    return out, values


def render_docs(overrides: dict[str, Any] | None = None, **kw: Any) -> list[dict[str, Any]]:
    rendered, _ = render_chart(overrides, **kw)
    docs = []
    for name, text in rendered.items():
        if name.endswith(".yaml"):
            for index, doc in enumerate(load_docs(text)):
                validate(doc, f"{name}#{index}")
                docs.append(doc)
    return docs


# --- values.schema.json (the subset of JSON Schema it uses) --------------------------------


def check_schema(value: Any, schema: dict[str, Any], path: str = "values") -> None:
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        python = {
            "object": dict,
            "array": list,
            "string": str,
            "boolean": bool,
            "null": type(None),
            "integer": int,
            "number": int | float,
        }
        ok = any(
            isinstance(value, python[n])
            and not (n in ("integer", "number") and isinstance(value, bool))
            for n in names
        )
        assert ok, f"{path}: {value!r} is not {names}"
    if "enum" in schema:
        assert value in schema["enum"], f"{path}: {value!r} not in {schema['enum']}"
    if "pattern" in schema and isinstance(value, str):
        assert re.search(schema["pattern"], value), f"{path}: {value!r} !~ {schema['pattern']}"
    if "minimum" in schema and isinstance(value, int | float):
        assert value >= schema["minimum"], f"{path}: {value} < {schema['minimum']}"
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            assert key in value, f"{path}: missing {key}"
        for key, item in value.items():
            if key in props:
                check_schema(item, props[key], f"{path}.{key}")
            else:
                extra = schema.get("additionalProperties", True)
                assert extra is not False, f"{path}: unknown key {key!r}"
                if isinstance(extra, dict):
                    check_schema(item, extra, f"{path}.{key}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check_schema(item, schema["items"], f"{path}[{index}]")


def validate_values(values: dict[str, Any]) -> None:
    check_schema(values, json.loads((CHART / "values.schema.json").read_text()))


# --- the chart -------------------------------------------------------------------------------


def by_kind(docs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        out.setdefault(doc["kind"], []).append(doc)
    return out


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "zone-auditor"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject


def test_chart_renders_with_defaults(tmp_path: Path) -> None:
    kinds = by_kind(render_docs())
    assert sorted(kinds) == [
        "ClusterRole",
        "ClusterRoleBinding",
        "CronJob",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "ServiceAccount",
    ]
    (role,) = kinds["ClusterRole"]
    assert_rbac_matches_live_kinds(role)
    assert role["rules"] == manifest_docs()["ClusterRole"]["rules"] or granted(role) == granted(
        manifest_docs()["ClusterRole"]
    )
    (cron,) = kinds["CronJob"]
    assert cron["metadata"]["name"] == "audit-zone-auditor"
    assert cron["spec"]["schedule"] == "17 3 * * *"
    assert cron["spec"]["suspend"] is False
    assert cron["spec"]["jobTemplate"]["spec"]["ttlSecondsAfterFinished"] == 604800
    container = assert_locked_down(cron)
    assert container["image"] == "zone-auditor:0.1.0"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    (binding,) = kinds["ClusterRoleBinding"]
    (account,) = kinds["ServiceAccount"]
    assert (
        binding["subjects"][0]["name"]
        == account["metadata"]["name"]
        == pod["spec"]["serviceAccountName"]
    )
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    (claim,) = kinds["PersistentVolumeClaim"]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"

    code, calls, _ = run_container_script(container, tmp_path, audit_exit=0)
    assert code == 0
    ((tool, *argv),) = calls
    assert tool == "auditor"
    assert argv[:3] == ["audit", "--live", "--in-cluster"]
    assert argv[3:5] == ["--controls", "/controls/pci-dss-v4.yaml"]
    assert "--waivers" not in argv and "--zones" not in argv


def test_chart_with_custom_controls_waivers_zones_upload(tmp_path: Path) -> None:
    overrides = {
        "schedule": "0 */6 * * *",
        "timeZone": "Europe/Berlin",
        "controls": {
            "packs": ["pci-dss-v4", "hipaa"],
            "inline": {"pci-dss-v4.yaml": "controls: []\n", "hipaa.yaml": "controls: []\n"},
        },
        "waivers": {"inline": "waivers:\n  - id: W-1\n"},
        "zones": {"existingConfigMap": "bank-zones"},
        "extraArgs": ["--format", "pdf,json"],
        "reports": {"retentionDays": 30, "persistence": {"existingClaim": "evidence"}},
        "upload": {
            "enabled": True,
            "url": "https://evidence.example.com/bank",
            "existingSecret": "evidence-token",
        },
        "image": {"repository": "registry.example.com/zone-auditor", "tag": "0.1.1"},
        "nodeSelector": {"kubernetes.io/os": "linux"},
    }
    kinds = by_kind(render_docs(overrides, release="zone-auditor"))
    assert "PersistentVolumeClaim" not in kinds  # existing claim used
    config_maps = {c["metadata"]["name"]: c for c in kinds["ConfigMap"]}
    assert set(config_maps) == {"zone-auditor-controls", "zone-auditor-waivers"}
    assert config_maps["zone-auditor-controls"]["data"] == overrides["controls"]["inline"]
    assert config_maps["zone-auditor-waivers"]["data"] == {
        "waivers.yaml": "waivers:\n  - id: W-1\n"
    }
    (cron,) = kinds["CronJob"]
    assert cron["metadata"]["name"] == "zone-auditor"
    assert cron["spec"]["timeZone"] == "Europe/Berlin"
    container = assert_locked_down(cron)
    assert container["image"] == "registry.example.com/zone-auditor:0.1.1"
    env = {e["name"]: e for e in container["env"]}
    assert env["UPLOAD_URL"]["value"] == "https://evidence.example.com/bank"
    assert env["UPLOAD_AUTHORIZATION"]["valueFrom"]["secretKeyRef"] == {
        "name": "evidence-token",
        "key": "authorization",
    }
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["controls"]["configMap"]["name"] == "zone-auditor-controls"
    assert volumes["zones"]["configMap"]["name"] == "bank-zones"
    assert volumes["reports"]["persistentVolumeClaim"]["claimName"] == "evidence"
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}

    # violations found (1) is kept; a failed upload turns success into 2
    code, calls, _ = run_container_script(container, tmp_path / "a", audit_exit=1)
    assert code == 1
    (audit, upload) = calls
    argv = audit[1:]
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--controls"] == [
        "/etc/zone-auditor/controls/pci-dss-v4.yaml",
        "/etc/zone-auditor/controls/hipaa.yaml",
    ]
    assert argv[argv.index("--waivers") + 1] == "/etc/zone-auditor/waivers/waivers.yaml"
    assert argv[argv.index("--zones") + 1] == "/etc/zone-auditor/zones/zones.yaml"
    assert "--format" in argv and "pdf,json" in argv
    assert upload[0] == "zone-auditor-upload" and upload[1] == argv[argv.index("--report") + 1]
    code, _, _ = run_container_script(container, tmp_path / "b", audit_exit=0, upload_exit=2)
    assert code == 2


def test_chart_without_rbac_persistence_or_network_policy() -> None:
    overrides = {
        "rbac": {"create": False},
        "serviceAccount": {"create": False, "name": "audit-reader"},
        "networkPolicy": {"enabled": False},
        "reports": {"persistence": {"enabled": False}, "retentionDays": 0},
    }
    kinds = by_kind(render_docs(overrides))
    assert sorted(kinds) == ["CronJob"]
    (cron,) = kinds["CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "audit-reader"
    assert next(v for v in pod["volumes"] if v["name"] == "reports") == {
        "name": "reports",
        "emptyDir": {},
    }
    script = pod["containers"][0]["args"][0]
    assert "find /reports" not in script


def test_chart_rejects_bad_values() -> None:
    with pytest.raises(TemplateError, match=r"upload\.url is required"):
        render_chart({"upload": {"enabled": True}})
    with pytest.raises(TemplateError, match=r"controls\.inline has no hipaa\.yaml"):
        render_chart({"controls": {"packs": ["hipaa"], "inline": {"pci-dss-v4.yaml": "x: 1"}}})
    with pytest.raises(AssertionError, match="unknown key"):
        render_chart({"shedule": "* * * * *"})
    with pytest.raises(AssertionError, match="!~"):
        render_chart({"controls": {"packs": ["../etc/passwd"]}})


def test_chart_notes_render() -> None:
    rendered, _ = render_chart()
    notes = rendered["NOTES.txt"]
    assert "create job --from=cronjob/audit-zone-auditor" in notes
    assert "pci-dss-v4" in notes and "audit-zone-auditor-reports" in notes


def test_renderer_basics() -> None:
    """The renderer follows Go template semantics on the constructs the chart uses."""
    engine = GoTemplates()
    root = {"Values": {"a": {"b": "x"}, "n": [1, 2], "m": {"k2": "v2", "k1": "v1"}, "t": True}}
    assert engine.render("a {{- .Values.a.b -}} b", root) == "axb"
    assert (
        engine.render("{{ if .Values.missing }}1{{ else if .Values.t }}2{{ else }}3{{ end }}", root)
        == "2"
    )
    assert engine.render("{{ range .Values.n }}[{{ . }}]{{ end }}", root) == "[1][2]"
    assert (
        engine.render("{{ range $k, $v := .Values.m }}{{ $k }}={{ $v }};{{ end }}", root)
        == "k1=v1;k2=v2;"
    )
    assert engine.render('{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ end }}{{ $x }}', root) == "b"
    assert engine.render('{{ .Values.missing | default "d" | quote }}', root) == '"d"'
    assert engine.render("x:{{- toYaml .Values.m | nindent 2 }}", root) == "x:\n  k1: v1\n  k2: v2"
    assert engine.render('{{ printf "%s-%s" "a" .Values.a.b | trunc 3 }}', root) == "a-x"
    assert engine.render("{{ with .Values.a }}{{ .b }}{{ $.Values.t }}{{ end }}", root) == "xtrue"
    assert shlex.split(engine.render('--x {{ "a b" | squote }}', root)) == ["--x", "a b"]
    with pytest.raises(TemplateError):
        engine.render("{{ if .Values.t }}unterminated", root)


# --- signing (docs/attestation.md) -----------------------------------------------------------


def _with_key_at(container: dict[str, Any], key: Path) -> dict[str, Any]:
    """The container with its script reading the signing key from ``key`` instead of the Secret's mount."""
    out = json.loads(json.dumps(container))
    out["args"][0] = out["args"][0].replace("/etc/zone-auditor/signing/signing.pem", str(key))
    return out


def test_cronjob_signs_when_the_optional_key_secret_exists(tmp_path: Path) -> None:
    cron = manifest_docs()["CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "signing-key")
    assert volume["secret"]["secretName"] == "zone-auditor-signing-key"
    assert volume["secret"]["optional"] is True and volume["secret"]["defaultMode"] == 0o440
    (container,) = pod["containers"]
    mount = next(m for m in container["volumeMounts"] if m["name"] == "signing-key")
    assert mount == {"name": "signing-key", "mountPath": "/etc/zone-auditor/signing", "readOnly": True}
    key = tmp_path / "signing.pem"
    _, calls, _ = run_container_script(_with_key_at(container, key), tmp_path / "unsigned", audit_exit=0)
    ((_, *argv),) = calls
    assert "--sign" not in argv  # no Secret, no key file: unsigned evidence
    key.write_text("-----BEGIN PRIVATE KEY-----\n")
    code, calls, reports = run_container_script(_with_key_at(container, key), tmp_path / "signed", audit_exit=1)
    assert code == 1
    ((_, *argv),) = calls
    assert argv[argv.index("--sign") + 1] == str(key)
    run = Path(argv[argv.index("--report") + 1])
    assert run.parent == reports and argv[argv.index("-o") + 1] == str(run / "result.json")


def test_chart_signs_with_an_existing_secret(tmp_path: Path) -> None:
    (cron,) = by_kind(render_docs())["CronJob"]
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "signing-key" not in {v["name"] for v in pod["volumes"]}
    assert "--sign" not in pod["containers"][0]["args"][0]
    (cron,) = by_kind(render_docs({"signing": {"existingSecret": "audit-key", "secretKey": "ed25519.pem"}}))["CronJob"]
    container = assert_locked_down(cron)
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    volume = next(v for v in pod["volumes"] if v["name"] == "signing-key")
    assert volume["secret"] == {"secretName": "audit-key", "defaultMode": 0o440,
                                "items": [{"key": "ed25519.pem", "path": "signing.pem"}]}
    mount = next(m for m in container["volumeMounts"] if m["name"] == "signing-key")
    assert mount["mountPath"] == "/etc/zone-auditor/signing" and mount["readOnly"] is True
    code, calls, reports = run_container_script(container, tmp_path, audit_exit=0)
    assert code == 0
    ((_, *argv),) = calls
    assert argv[argv.index("--sign") + 1] == "/etc/zone-auditor/signing/signing.pem"
    run = Path(argv[argv.index("--report") + 1])
    assert run.parent == reports and argv[argv.index("-o") + 1] == str(run / "result.json")
