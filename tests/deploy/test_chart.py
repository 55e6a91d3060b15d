"""deploy/helm/zone-auditor without Helm (not installable in CI): what is checked here and what
is not is listed in docs/deploy.md, "How the chart is tested".

- values.yaml validates against values.schema.json with the ``jsonschema`` library (the draft
  the schema declares), and bad values are rejected by it;
- the templates reference only values that exist, and every value is used; every ``include``
  names a ``define``; actions are balanced;
- the templates' static skeleton (actions dropped or replaced by a placeholder) is YAML with the
  same kinds, fields and commands as the plain manifests, which test_deploy.py fully validates,
  and the chart's defaults equal the manifests' settings: the two cannot drift apart.

The templates are not rendered: no test here evaluates a Go template.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest
import yaml

from tests.kits.deploy_kit import (
    CHART,
    ROOT,
    assert_rbac_matches_live_kinds,
    granted,
    manifest_docs,
)

TEMPLATES = CHART / "templates"
ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.S)
COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.S)
ONLY_ACTIONS = re.compile(r"(\{\{.*?\}\}\s*)+")
VALUES_REF = re.compile(r"\.Values((?:\.[A-Za-z_]\w*)+)")
INCLUDE = re.compile(r"\b(?:include|template)\s+\"([^\"]+)\"")
DEFINE = re.compile(r"\bdefine\s+\"([^\"]+)\"")
PLACEHOLDER = "TPL"


def template_texts() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(TEMPLATES.iterdir()) if p.is_file()}


def values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def schema_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((CHART / "values.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema, default=None)  # an unknown draft fails
    assert cls is not None, f"unknown $schema {schema.get('$schema')!r}"
    cls.check_schema(schema)
    return cls(schema)


def schema_errors(vals: dict[str, Any]) -> list[tuple[str, str]]:
    """(dotted path, failing keyword) of each error, deepest first."""
    errors = sorted(schema_validator().iter_errors(vals), key=lambda e: -len(e.absolute_path))
    return [(".".join(str(p) for p in e.absolute_path), e.validator) for e in errors]


def with_values(**overrides: Any) -> dict[str, Any]:
    """values.yaml with dotted-path overrides (``upload__enabled=True`` → upload.enabled)."""
    out = copy.deepcopy(values())
    for dotted, value in overrides.items():
        *parents, leaf = dotted.split("__")
        node = out
        for key in parents:
            node = node[key]
        node[leaf] = value
    return out


def leaves(node: Any, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Paths of values.yaml's leaves (an empty map or any list counts as a leaf)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*prefix, key))
    else:
        yield prefix


def check_balanced(text: str, where: str) -> None:
    """if/with/range/define/block each closed by one end; else only inside if/with/range."""
    stack: list[str] = []
    for action in ACTION.findall(COMMENT.sub("", text)):
        word = (action.split() or [""])[0]
        if word in ("if", "with", "range", "define", "block"):
            stack.append(word)
        elif word == "else":
            assert stack and stack[-1] in ("if", "with", "range"), f"{where}: stray else"
        elif word == "end":
            assert stack, f"{where}: end without a block"
            stack.pop()
    assert not stack, f"{where}: unclosed {stack}"


def skeleton(text: str) -> list[dict[str, Any]]:
    """The template's static YAML: lines made only of actions (control flow, included or
    toYaml'd blocks) are dropped, other actions become a placeholder; both branches of an
    if/else stay."""
    lines = []
    for line in COMMENT.sub("", text).splitlines():
        if ONLY_ACTIONS.fullmatch(line.strip()):
            continue
        lines.append(ACTION.sub(PLACEHOLDER, line))
    return [d for d in yaml.safe_load_all("\n".join(lines)) if d]


def chart_docs() -> dict[str, dict[str, Any]]:
    """Skeleton documents keyed like manifest_docs(): by kind, the period CronJob apart."""
    out: dict[str, dict[str, Any]] = {}
    for name, text in template_texts().items():
        if not name.endswith(".yaml"):
            continue
        for doc in skeleton(text):
            key = doc["kind"]
            if key == "CronJob" and _container(doc)["name"] == "period-report":
                key = "PeriodCronJob"
            if key == "ConfigMap":  # three, for inline packs, waivers and zones
                key = f"ConfigMap:{sum(k.startswith('ConfigMap') for k in out)}"
            assert key not in out, f"{name}: a second {key}"
            out[key] = doc
    return out


def _pod(cron: dict[str, Any]) -> dict[str, Any]:
    return cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _container(cron: dict[str, Any]) -> dict[str, Any]:
    (container,) = _pod(cron)["containers"]
    return container


def field_paths(node: Any, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Every mapping key's path; containers, env, volumes and mounts by their ``name``."""
    out: set[tuple[str, ...]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            out.add((*prefix, str(key)))
            out |= field_paths(value, (*prefix, str(key)))
    elif isinstance(node, list):
        for item in node:
            named = prefix and prefix[-1] in NAMED_LISTS and isinstance(item, dict)
            out |= field_paths(item, (*prefix, f"[{item['name']}]" if named else "[]"))
    return out


# --- values.schema.json, with jsonschema ---------------------------------------------------


def test_values_yaml_validates_against_the_schema() -> None:
    assert schema_errors(values()) == []
    schema = json.loads((CHART / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"  # Helm's draft too
    assert schema_validator().__class__ is jsonschema.Draft7Validator


def test_every_value_is_described_by_the_schema() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    for path in leaves(values()):
        node = schema
        for key in path:
            props = node.get("properties", {})
            if key in props:
                node = props[key]
                continue
            extra = node.get("additionalProperties", True)
            assert extra is not False, f"{'.'.join(path)} is not in the schema"
            if extra is True:  # a free-form object (security contexts, resources)
                break
            node = extra


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"shedule": "* * * * *"}, ("", "additionalProperties")),
        ({"controls__packs": ["../etc/passwd"]}, ("controls.packs.0", "pattern")),
        ({"history__keep": "forever"}, ("history.keep", "pattern")),
        ({"upload__enabled": True}, ("upload.url", "minLength")),
        ({"upload__url": "http://evidence.example.com"}, ("upload.url", "pattern")),
        ({"extraArgs": ["it's"]}, ("extraArgs.0", "pattern")),
        ({"schedule": "daily"}, ("schedule", "pattern")),
        ({"image__pullPolicy": "Sometimes"}, ("image.pullPolicy", "enum")),
        ({"startingDeadlineSeconds": 1}, ("startingDeadlineSeconds", "minimum")),
        ({"suspend": "no"}, ("suspend", "type")),
    ],
)
def test_the_schema_rejects_bad_values(overrides: dict[str, Any], error: tuple[str, str]) -> None:
    assert schema_errors(with_values(**overrides))[:1] == [error]


def test_upload_with_a_url_is_accepted() -> None:
    vals = with_values(upload__enabled=True, upload__url="https://evidence.example.com/bank")
    assert schema_errors(vals) == []


# --- the templates, statically -------------------------------------------------------------


def test_template_actions_are_balanced() -> None:
    for name, text in template_texts().items():
        check_balanced(text, name)


def test_balance_check_fails_on_broken_templates() -> None:
    for broken in ("{{ if .Values.a }}x", "{{ end }}", "{{ else }}", "{{ define \"x\" }}{{ if 1 }}{{ end }}"):
        with pytest.raises(AssertionError):
            check_balanced(broken, "broken")


def test_every_include_names_a_define_and_every_define_is_used() -> None:
    texts = template_texts()
    defined = DEFINE.findall(texts["_helpers.tpl"])
    assert len(defined) == len(set(defined))
    assert all(not DEFINE.search(t) for n, t in texts.items() if n != "_helpers.tpl")
    included = {name for text in texts.values() for name in INCLUDE.findall(text)}
    assert included == set(defined)


def test_templates_use_only_existing_values_and_every_value() -> None:
    vals = values()
    refs = {
        tuple(m.group(1)[1:].split("."))
        for text in template_texts().values()
        for m in VALUES_REF.finditer(text)
    }
    for ref in refs:  # no typo'd or removed value
        node: Any = vals
        for key in ref:
            assert isinstance(node, dict) and key in node, f".Values.{'.'.join(ref)} is not in values.yaml"
            node = node[key]
    dead = [p for p in leaves(vals) if not any(p[: len(r)] == r for r in refs)]
    assert dead == [], f"values.yaml keys no template reads: {dead}"


def test_chart_metadata_and_chart_fields_used_by_templates() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "zone-auditor"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject
    used = {m for t in template_texts().values() for m in re.findall(r"\.Chart\.(\w+)", t)}
    assert used and all(f[0].lower() + f[1:] in chart for f in used), used


def test_the_pack_guard_and_the_upload_requirement_are_in_the_templates() -> None:
    """Two checks only Helm can run (not rendered here): a pack missing from controls.inline
    fails the install; upload.url is required (the schema enforces that one too)."""
    helpers = template_texts()["_helpers.tpl"]
    assert re.search(r"fail \(printf \"controls\.packs names %s but controls\.inline has no", helpers)
    assert 'required "upload.url is required' in template_texts()["cronjob.yaml"]


# --- the skeleton against the validated manifests ------------------------------------------


def test_chart_has_the_manifests_kinds() -> None:
    chart = {k.split(":")[0] for k in chart_docs()}
    # Helm installs into the release's namespace; the ConfigMaps hold inline packs/waivers/zones.
    assert chart == (set(manifest_docs()) - {"Namespace"}) | {"ConfigMap"}
    assert len([k for k in chart_docs() if k.startswith("ConfigMap")]) == 3


POD = ("spec", "jobTemplate", "spec", "template", "spec")
# Fields only the chart has: optional features switched on by values, and Helm metadata.
CHART_ONLY = {
    ("metadata", "annotations"),  # ServiceAccount annotations; the PVC's helm.sh/resource-policy
    ("spec", "storageClassName"),
    ("spec", "timeZone"),
    ("spec", "suspend"),
    # the manifests own their namespace and select every pod in it; the chart shares the
    # release's namespace and selects its own pods
    ("spec", "podSelector", "matchLabels"),
    (*POD, "affinity"),
    (*POD, "imagePullSecrets"),
    (*POD, "nodeSelector"),
    (*POD, "tolerations"),
    ("data",),  # ConfigMaps exist only in the chart
}
# Inside these the chart inserts values (toYaml / include) or the name is a template: the
# defaults test compares their content instead.
FROM_VALUES = {"labels", "annotations", "securityContext", "resources", "env", "accessModes"}
# Optional list items of the chart (controls/waivers/zones ConfigMaps, signing, upload).
OPTIONAL_ITEMS = {"[controls]", "[waivers]", "[zones]", "[signing-key]", "[UPLOAD_URL]",
                  "[UPLOAD_AUTHORIZATION]"}
NAMED_LISTS = {"containers", "env", "volumes", "volumeMounts"}


def _relevant(paths: set[tuple[str, ...]], other: set[tuple[str, ...]]) -> set[tuple[str, ...]]:
    """Paths in ``paths`` but not in ``other`` that no rule above explains."""
    out = set()
    for path in paths - other:
        if any(path[: len(c)] == c for c in CHART_ONLY):
            continue
        if FROM_VALUES & set(path[:-1]) or OPTIONAL_ITEMS & set(path):
            continue
        if "[reports]" in path and path[-1] in {"emptyDir", "persistentVolumeClaim", "claimName"}:
            continue  # the chart has both branches (reports.persistence.enabled)
        out.add(path)
    return out


@pytest.mark.parametrize(
    "kind",
    ["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "PersistentVolumeClaim",
     "NetworkPolicy", "CronJob", "PeriodCronJob"],
)
def test_chart_and_manifest_have_the_same_fields(kind: str) -> None:
    chart, manifest = field_paths(chart_docs()[kind]), field_paths(manifest_docs()[kind])
    missing = _relevant(manifest, chart)
    extra = _relevant(chart, manifest)
    assert (sorted(missing), sorted(extra)) == ([], []), kind


def test_chart_cluster_role_grants_only_get_list_on_the_live_kinds() -> None:
    role = chart_docs()["ClusterRole"]
    assert_rbac_matches_live_kinds(role)
    assert granted(role) == granted(manifest_docs()["ClusterRole"])


def test_chart_binding_lines_up() -> None:
    docs = chart_docs()
    assert docs["ClusterRoleBinding"]["roleRef"]["kind"] == "ClusterRole"
    assert docs["ClusterRoleBinding"]["subjects"][0]["kind"] == "ServiceAccount"
    text = template_texts()
    assert 'name: {{ include "zone-auditor.fullname" . }}-reader' in text["clusterrole.yaml"]
    assert 'name: {{ include "zone-auditor.fullname" . }}-reader' in text["clusterrolebinding.yaml"]
    for name in ("cronjob.yaml", "cronjob-period-report.yaml"):
        assert 'serviceAccountName: {{ include "zone-auditor.serviceAccountName" . }}' in text[name]


def test_chart_defaults_are_the_manifests_settings() -> None:
    """values.yaml's defaults produce what deploy/kubernetes/ says, field by field."""
    v, docs = values(), manifest_docs()
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    cron, period = docs["CronJob"], docs["PeriodCronJob"]
    for c in (cron, period):
        pod, container = _pod(c), _container(c)
        assert pod["securityContext"] == v["podSecurityContext"]
        assert container["securityContext"] == v["securityContext"]
        assert container["resources"] == v["resources"]
        assert container["image"] == f"{v['image']['repository']}:{chart['appVersion']}"
        assert container["imagePullPolicy"] == v["image"]["pullPolicy"]
        assert c["spec"]["startingDeadlineSeconds"] == v["startingDeadlineSeconds"]
        assert c["spec"]["successfulJobsHistoryLimit"] == v["history"]["successful"]
        assert c["spec"]["failedJobsHistoryLimit"] == v["history"]["failed"]
        job = c["spec"]["jobTemplate"]["spec"]
        assert job["backoffLimit"] == v["job"]["backoffLimit"]
        assert job["activeDeadlineSeconds"] == v["job"]["activeDeadlineSeconds"]
        assert job["ttlSecondsAfterFinished"] == v["job"]["ttlSecondsAfterFinished"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["AUDITOR_HISTORY"] == v["history"]["path"]
    assert cron["spec"]["schedule"] == v["schedule"]
    assert period["spec"]["schedule"] == v["periodReport"]["schedule"]
    annotations = cron["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    assert annotations == v["podAnnotations"]
    script = _container(cron)["args"][0]
    assert f"-mtime +{v['reports']['retentionDays']} " in script
    assert all(f"--controls /controls/{p}.yaml" in script for p in v["controls"]["packs"])
    period_script = _container(period)["args"][0]
    assert f"--every {v['periodReport']['every']} " in period_script
    assert f"prune --keep {v['history']['keep']} " in period_script
    claim = docs["PersistentVolumeClaim"]["spec"]
    assert claim["resources"]["requests"]["storage"] == v["reports"]["persistence"]["size"]
    assert claim["accessModes"] == v["reports"]["persistence"]["accessModes"]


def test_chart_pods_fill_the_locked_down_fields_from_values() -> None:
    """The security context, resources and history env come from values (compared above)."""
    for name in ("cronjob.yaml", "cronjob-period-report.yaml"):
        text = template_texts()[name]
        assert re.search(r"securityContext:\n\s+\{\{- toYaml \.Values\.podSecurityContext \| nindent 12", text)
        assert re.search(r"securityContext:\n\s+\{\{- toYaml \.Values\.securityContext \| nindent 16", text)
        assert re.search(r"resources:\n\s+\{\{- toYaml \.Values\.resources \| nindent 16", text)
        assert 'include "zone-auditor.historyEnv"' in text
    helpers = template_texts()["_helpers.tpl"]
    env_block = helpers[helpers.index('define "zone-auditor.historyEnv"') :]
    env_names = set(re.findall(r"- name: (\w+)", env_block))
    assert env_names == {e["name"] for e in _container(manifest_docs()["CronJob"])["env"]}


def _invocations(script: str) -> dict[str, set[str]]:
    """`auditor <command>` → the options it is given (static words only)."""
    out: dict[str, set[str]] = {}
    for line in script.splitlines():
        words = line.replace(PLACEHOLDER, " ").split()
        if "auditor" in words:
            at = words.index("auditor")
            command = " ".join(w for w in words[at + 1 : at + 3] if not w.startswith("-"))
            out.setdefault(command, set()).update(w for w in words if w.startswith("-"))
    return out


@pytest.mark.parametrize("kind", ["CronJob", "PeriodCronJob"])
def test_chart_scripts_run_the_manifests_commands(kind: str) -> None:
    chart, manifest = _container(chart_docs()[kind]), _container(manifest_docs()[kind])
    assert chart["command"] == manifest["command"] == ["/bin/sh", "-c"]
    assert chart["name"] == manifest["name"]
    mine, theirs = _invocations(chart["args"][0]), _invocations(manifest["args"][0])
    assert set(mine) == set(theirs)
    template = template_texts()["cronjob.yaml" if kind == "CronJob" else "cronjob-period-report.yaml"]
    text = template + template_texts()["_helpers.tpl"]
    for command, options in theirs.items():
        assert mine[command] <= options | {"--all"}, command  # --all: periodReport.allClusters
        for option in options - mine[command]:  # given by an action: must be in the template
            assert f" {option} " in text or f" {option}{{" in text, (command, option)
    for line in ('run="$$(date -u +%Y-%m-%dT%H%M%SZ)"', "! -name 'history.sqlite*' ! -name period",
                 "first=\"$$(date -u +%Y-%m-01)\""):
        assert (line in manifest["args"][0]) == (line in chart["args"][0])


@pytest.mark.parametrize("kind", ["CronJob", "PeriodCronJob"])
def test_chart_cronjobs_keep_the_static_lockdown(kind: str) -> None:
    chart, manifest = chart_docs()[kind], manifest_docs()[kind]
    assert chart["spec"]["concurrencyPolicy"] == manifest["spec"]["concurrencyPolicy"] == "Forbid"
    for field in ("restartPolicy", "automountServiceAccountToken", "enableServiceLinks"):
        assert _pod(chart)[field] == _pod(manifest)[field], field
    assert (chart["spec"]["jobTemplate"]["spec"].get("podFailurePolicy")
            == manifest["spec"]["jobTemplate"]["spec"].get("podFailurePolicy"))
    tmp = {v["name"]: v for v in _pod(chart)["volumes"]}["tmp"]
    assert tmp == {v["name"]: v for v in _pod(manifest)["volumes"]}["tmp"]
    assert not any("hostPath" in v for v in _pod(chart)["volumes"])
    mounts = {m["mountPath"]: m["name"] for m in _container(chart)["volumeMounts"]}
    assert mounts["/tmp"] == "tmp" and mounts["/reports"] == "reports"


def test_chart_signs_from_an_existing_secret() -> None:
    """The signing volume's static fields (the Secret's name and key come from values)."""
    pod = _pod(chart_docs()["CronJob"])
    volume = {v["name"]: v for v in pod["volumes"]}["signing-key"]
    assert volume["secret"]["defaultMode"] == 0o440
    assert volume["secret"]["items"][0]["path"] == "signing.pem"
    mount = {m["name"]: m for m in _container(chart_docs()["CronJob"])["volumeMounts"]}["signing-key"]
    assert mount == {"name": "signing-key", "mountPath": "/etc/zone-auditor/signing", "readOnly": True}
    script = template_texts()["cronjob.yaml"]
    assert ("{{ if .Values.signing.existingSecret }} -o \"/reports/$run/result.json\" "
            "--sign /etc/zone-auditor/signing/signing.pem{{ end }}") in script


def test_notes_name_the_cronjob_and_the_reports_claim() -> None:
    notes = template_texts()["NOTES.txt"]
    assert '--from=cronjob/{{ include "zone-auditor.fullname" . }}' in notes
    assert 'include "zone-auditor.reportsClaim"' in notes
    assert 'join ", " .Values.controls.packs' in notes
