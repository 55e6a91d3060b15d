"""deploy/: every plain manifest parses and validates against the kubernetes client's models
(their openapi_types, generated from the Kubernetes OpenAPI spec), the ClusterRole grants only
get/list on what the live scan reads (LIVE_KINDS), the CronJobs are locked down and their shell
scripts run, the Dockerfile and the upload helper do what docs/deploy.md says. The Helm chart
is checked in test_chart.py.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import re
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, ClassVar

import kubernetes.client.models as k8s_models
import pytest
import yaml

from auditor.sources.live import LIVE_KINDS, rbac_resources
from tests.kits.deploy_kit import (
    DEPLOY,
    MANIFESTS,
    ROOT,
    assert_rbac_matches_live_kinds,
    load_docs,
    manifest_docs,
)

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


# --- RBAC and pod security checks (shared by the manifests and the chart) -------------------


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
    assert len(docs) == 8
    crons = [d for d in docs if d["kind"] == "CronJob"]
    assert len(crons) == 2
    for cron in crons:
        image = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"]
        assert image == "zone-auditor:0.1.0"


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def assert_period_job(cron: dict[str, Any]) -> dict[str, Any]:
    """The monthly period-report CronJob: locked down like the audit's, reads no cluster API."""
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["schedule"].split()[2:] == ["1", "*", "*"]  # monthly, on the 1st
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert "/tmp" in mounts and "/reports" in mounts
    return container


def run_period_script(container: dict[str, Any], tmp_path: Path, report_exit: int = 0,
                      prune_exit: int = 0) -> tuple[int, list[list[str]]]:
    """Run the period job's script with a fake ``auditor`` (exit code per sub-command)."""
    script = kube_expand(container["args"][0], {"AUDITOR_CLUSTER": "prod-eu-1"})
    reports = tmp_path / "reports"
    reports.mkdir(parents=True)
    script = script.replace("/reports", str(reports))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    tool = bin_dir / "auditor"
    tool.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"sys.exit({report_exit} if sys.argv[1] == 'period-report' else {prune_exit})\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AUDITOR_CLUSTER": "prod-eu-1"}
    result = subprocess.run(["/bin/sh", "-c", script], env=env, capture_output=True, text=True, timeout=30)
    assert "not found" not in result.stderr, result.stderr
    return result.returncode, [json.loads(x) for x in calls.read_text().splitlines()]


def _last_month(argv: list[str]) -> None:
    import datetime as dt

    first = dt.datetime.now(dt.UTC).date().replace(day=1)  # the script's `date -u`
    since = (first - dt.timedelta(days=1)).replace(day=1)
    assert argv[argv.index("--since") + 1] == since.isoformat()
    assert argv[argv.index("--until") + 1] == (first - dt.timedelta(days=1)).isoformat()


def test_kustomize_records_into_sqlite_and_writes_the_monthly_period_report(tmp_path: Path) -> None:
    docs = manifest_docs()
    audit = assert_locked_down(docs["CronJob"])
    assert _env(audit)["AUDITOR_HISTORY"] == "/reports/history.sqlite"
    code, calls, _ = run_container_script(audit, tmp_path / "audit", audit_exit=0)
    assert code == 0 and calls[0][-1] == "--record"
    period = assert_period_job(docs["PeriodCronJob"])
    assert _env(period)["AUDITOR_HISTORY"] == "/reports/history.sqlite"
    claim = docs["PeriodCronJob"]["spec"]["jobTemplate"]["spec"]["template"]["spec"]["volumes"][0]
    assert claim["persistentVolumeClaim"]["claimName"] == docs["PersistentVolumeClaim"]["metadata"]["name"]
    code, (report, prune) = run_period_script(period, tmp_path / "p")
    assert code == 0
    assert report[0] == "period-report" and report[report.index("--cluster") + 1] == "prod-eu-1"
    _last_month(report)
    assert prune == ["history", "prune", "--keep", "400d"]
    code, _ = run_period_script(period, tmp_path / "q", report_exit=2)
    assert code == 2  # no runs in the month: the Job fails, never an empty pass
    text = (MANIFESTS / "cronjob.yaml").read_text()
    assert "secretKeyRef: {name: zone-auditor-history, key: url}" in text  # PostgreSQL documented


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
        "How the chart is tested",
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
