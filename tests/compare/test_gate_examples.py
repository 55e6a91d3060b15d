"""The CI examples in examples/ci/ run as written, on the bank sample.

The workflow files are parsed and their shell steps executed in a scratch repository laid out as
the examples expect (a Helm chart / a kustomize overlay made of the bank manifests, the pack, the
baseline path). ``helm`` and ``kustomize`` are stand-ins on PATH that render the way the real
tools do (``# Source:`` comments for helm; plain concatenation for kustomize); ``auditor`` is the
entry point of this checkout. Steps that install tools or call other actions are skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.kits.gate_kit import AFTER, DMZ_CACHE, OPEN_DB_FILE, OPEN_DB_TO_DMZ, ROOT

EXAMPLES = ROOT / "examples" / "ci"
INSTALLS = ("pip install", "apt-get", "curl ")

HELM = '''\
import os, sys
# helm template RELEASE CHART: every document of every template, under "# Source: <chart>/templates/<file>"
chart = sys.argv[3]
name = os.path.basename(os.path.normpath(chart))
for f in sorted(os.listdir(os.path.join(chart, "templates"))):
    text = open(os.path.join(chart, "templates", f)).read()
    for doc in text.split("\\n---\\n"):
        if doc.strip():
            sys.stdout.write(f"---\\n# Source: {name}/templates/{f}\\n{doc.strip()}\\n")
'''
KUSTOMIZE = '''\
import os, sys
# kustomize build DIR: the resources, one stream, no source comments
d = sys.argv[2]
for f in sorted(os.listdir(d)):
    if f.endswith(".yaml") and f != "kustomization.yaml":
        sys.stdout.write("---\\n" + open(os.path.join(d, f)).read().strip() + "\\n")
'''


def tools(tmp: Path) -> dict[str, str]:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for name, code in (("helm", HELM), ("kustomize", KUSTOMIZE)):
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{code}")
        path.chmod(0o755)
    auditor = bin_dir / "auditor"
    auditor.write_text(f"#!{sys.executable}\nimport sys\nfrom auditor.cli import main\nsys.exit(main())\n")
    auditor.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT),
            "SOURCE_DATE_EPOCH": "1790000000", "HOME": str(tmp)}


def run(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


# -- GitHub Actions ----------------------------------------------------------------------------------------


def github_job(workflow: dict[str, Any], job: str, repo: Path, env: dict[str, str]) -> dict[str, int]:
    """Run a job's shell steps as the runner would (bash -eo pipefail; after a failure only steps
    with `!cancelled()`/`always()` run). Returns exit codes by step name."""
    env = {**env, **{k: str(v) for k, v in (workflow.get("env") or {}).items()},
           "GITHUB_STEP_SUMMARY": str(repo / "step-summary.md")}
    codes: dict[str, int] = {}
    failed = False
    for step in workflow["jobs"][job]["steps"]:
        script = step.get("run")
        if script is None or any(x in script for x in INSTALLS):
            continue
        cond = str(step.get("if", ""))
        if failed and "cancelled()" not in cond and "always()" not in cond:
            continue
        proc = run(script, repo, {**env, **{k: str(v) for k, v in (step.get("env") or {}).items()}})
        codes[step["name"]] = proc.returncode
        failed = failed or proc.returncode != 0
        if proc.returncode not in (0, 1):
            print(proc.stdout, proc.stderr)
    return codes


def helm_repo(tmp: Path) -> Path:
    repo = tmp / "repo"
    templates = repo / "deploy" / "charts" / "bank" / "templates"
    templates.mkdir(parents=True)
    (templates.parent / "Chart.yaml").write_text("apiVersion: v2\nname: bank\nversion: 1.0.0\n")
    for f in AFTER.glob("*.yaml"):
        shutil.copy(f, templates / f.name)
    (repo / "controls").mkdir()
    shutil.copy(ROOT / "controls" / "bank-zones.yaml", repo / "controls")
    return repo


def test_github_actions_example(tmp_path: Path) -> None:
    workflow = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    repo = helm_repo(tmp_path)
    env = tools(tmp_path)
    # the manual job writes the baseline the pull requests are gated against
    codes = github_job(workflow, "zone-baseline", repo, env)
    assert codes == {"Re-create the baseline": 0}
    baseline = repo / workflow["env"]["BASELINE"]
    assert json.loads(baseline.read_text())["kind"] == "zone-auditor/baseline"

    # a pull request that opens the database to the dmz fails, annotated at the template
    templates = repo / "deploy" / "charts" / "bank" / "templates"
    (templates / OPEN_DB_FILE).write_text(OPEN_DB_TO_DMZ)
    codes = github_job(workflow, "zone-gate", repo, env)
    assert codes == {"Render and gate": 1, "Publish the summary": 0}
    sarif = json.loads((repo / "build" / "zone-gate.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert {r["ruleId"] for r in results} == {"BANK-1", "BANK-2", "gate:new-flows"}
    loc = results[0]["locations"][0]
    assert loc["logicalLocations"][0]["name"] == "NetworkPolicy restricted/database-allow-dmz"
    assert loc["physicalLocation"]["artifactLocation"]["uri"] == f"deploy/charts/bank/templates/{OPEN_DB_FILE}"
    line = loc["physicalLocation"]["region"]["startLine"]
    template = (templates / OPEN_DB_FILE).read_text().splitlines()
    assert template[line - 1] == "kind: NetworkPolicy" and "name: database-allow-dmz" in template[line + 1]
    summary = (repo / "step-summary.md").read_text()
    assert summary.startswith("### ❌ Zone compliance gate: **FAIL**")
    assert "dmz/Deployment/customer" in summary
    junit = ET.parse(repo / "build" / "zone-gate.xml").getroot()
    assert junit.get("failures") == "3"

    # a harmless change passes
    (templates / OPEN_DB_FILE).unlink()
    (templates / "70-dmz-cache.yaml").write_text(DMZ_CACHE)
    shutil.rmtree(repo / "build")
    codes = github_job(workflow, "zone-gate", repo, env)
    assert codes == {"Render and gate": 0, "Publish the summary": 0}
    assert json.loads((repo / "build" / "zone-gate.sarif").read_text())["runs"][0]["results"] == []


# -- GitLab CI -----------------------------------------------------------------------------------------------


def gitlab_job(pipeline: dict[str, Any], job: str, repo: Path, env: dict[str, str]) -> int:
    """``script`` as the runner runs it (bash, stop at the first failing line), then
    ``after_script``; ``before_script`` only installs tools and is skipped."""
    spec = pipeline[job]
    env = {**env, **{k: str(v) for k, v in (pipeline.get("variables") or {}).items()},
           **{k: str(v) for k, v in (spec.get("variables") or {}).items()}}
    lines = [x for x in spec["script"] if not any(i in x for i in INSTALLS)]
    proc = run("\n".join(lines), repo, env)
    if proc.returncode not in (0, 1):
        print(proc.stdout, proc.stderr)
    if spec.get("after_script"):
        run("\n".join(spec["after_script"]), repo, env)
    return proc.returncode


def test_gitlab_ci_example(tmp_path: Path) -> None:
    pipeline = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    assert pipeline["zone-gate"]["extends"] == ".zone-auditor"
    repo = tmp_path / "repo"
    overlay = repo / pipeline["variables"]["OVERLAY"]
    overlay.mkdir(parents=True)
    for f in AFTER.glob("*.yaml"):
        shutil.copy(f, overlay / f.name)
    (overlay / "kustomization.yaml").write_text(textwrap.dedent("""\
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources: []
    """))
    (repo / "controls").mkdir()
    shutil.copy(ROOT / "controls" / "bank-zones.yaml", repo / "controls")
    env = tools(tmp_path)

    assert gitlab_job(pipeline, "zone-baseline", repo, env) == 0
    assert (repo / pipeline["variables"]["BASELINE"]).is_file()

    (overlay / OPEN_DB_FILE).write_text(OPEN_DB_TO_DMZ)
    assert gitlab_job(pipeline, "zone-gate", repo, env) == 1
    for artifact in pipeline["zone-gate"]["artifacts"]["paths"]:
        assert (repo / artifact).is_file(), artifact
    junit = ET.parse(repo / pipeline["zone-gate"]["artifacts"]["reports"]["junit"]).getroot()
    failed = sorted(c.get("name", "").split(":")[0] for c in junit.iter("testcase") if c.find("failure") is not None)
    assert failed == ["BANK-1", "BANK-2", "gate"]
    results = json.loads((repo / "build" / "zone-gate.sarif").read_text())["runs"][0]["results"]
    phys = results[0]["locations"][0]["physicalLocation"]
    assert phys["artifactLocation"]["uri"] == "build/rendered.yaml"
    rendered = (repo / "build" / "rendered.yaml").read_text().splitlines()
    doc = rendered[phys["region"]["startLine"] - 1: phys["region"]["startLine"] + 4]
    assert doc[0] == "apiVersion: networking.k8s.io/v1" and "  name: database-allow-dmz" in doc

    (overlay / OPEN_DB_FILE).unlink()
    (overlay / "70-dmz-cache.yaml").write_text(DMZ_CACHE)
    assert gitlab_job(pipeline, "zone-gate", repo, env) == 0


@pytest.mark.parametrize("name", ["github-actions.yml", "gitlab-ci.yml"])
def test_examples_are_valid_yaml_and_documented(name: str) -> None:
    yaml.safe_load((EXAMPLES / name).read_text())
    assert f"examples/ci/{name}" in (ROOT / "docs" / "ci.md").read_text()
