"""Property: whatever field of whatever object is changed, in whatever way, the CLI ends with
0, 1 or 2 and one error line, never a traceback; and no PASS rests on an object the validator
rejects (issue #12 §1, §2: a hypothesis mutation campaign over the bundled samples).

Each example copies a sample (bank ``after``, ``calico`` or ``istio``), changes one value deep
inside one object (or deletes it, or gives it another type) and runs ``audit`` strict and
``--lenient``:

- strict: if the validator rejects any object, the run must exit 2;
- lenient: exit 0 (PASS) is only allowed when every skipped object is of a kind no control
  depends on.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import main
from auditor.controls.assertions.registry import KINDS
from auditor.errors import AuditorError
from auditor.sources.manifests import load_input
from auditor.sources.validate import check_snapshot
from auditor.sources.validate.check import SCOPED_KINDS
from tests.kits.mutate_kit import BANK, PACK, read_docs, write_docs

VARIANTS = ("after", "calico", "istio")
FILES = {v: sorted(p.name for p in (BANK / v).glob("*.yaml")) for v in VARIANTS}
DEPENDED_ON = {k for kind in KINDS.values() for k in kind.depends_on}
REPLACEMENTS = st.sampled_from([
    {}, [], "", 0, -1, 70000, True, False, None, "x", "2379", "STRICT", "strict", "Allow", ["x"], [{}],
    {"a": 1}, "StatefulSet/database", 1.5, "10.0.0.0/33", "http-port-name-too-long", {"matchLabels": []},
    [None], "*", "TCP", "",
])


def _mutate(data: st.DataObject, doc: Any) -> None:
    """Walk down ``doc`` along random keys, then replace, delete or retype the value reached."""
    node, key = doc, None
    parent = None
    for _ in range(data.draw(st.integers(1, 8), label="depth")):
        if isinstance(node, dict) and node:
            k = data.draw(st.sampled_from(sorted(node, key=str)), label="key")
        elif isinstance(node, list) and node:
            k = data.draw(st.integers(0, len(node) - 1), label="index")
        else:
            break
        parent, key, node = node, k, node[k]
    if parent is None:
        return
    action = data.draw(st.sampled_from(["replace", "replace", "replace", "delete", "wrap"]), label="action")
    if action == "delete":
        if isinstance(parent, dict):
            del parent[key]
        else:
            parent.pop(key)
    elif action == "wrap":
        parent[key] = [node] if not isinstance(node, list) else {"items": node}
    else:
        parent[key] = data.draw(REPLACEMENTS, label="value")


def _rejected(target: Path) -> list[str] | None:
    """Kinds the validator rejects in ``target`` (None when the input cannot even be read)."""
    try:
        snap = load_input([str(target)])
    except AuditorError:
        return None
    skipped = check_snapshot(snap, lenient=True).skipped
    return [s.kind_key for s in skipped]


@settings(max_examples=24, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data(), variant=st.sampled_from(VARIANTS))
def test_mutated_samples_never_crash_and_never_pass_on_rejected_objects(data: st.DataObject, variant: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / variant
        target.mkdir()
        name = data.draw(st.sampled_from(FILES[variant]), label="file")
        for f in FILES[variant]:
            (target / f).write_bytes((BANK / variant / f).read_bytes())
        docs = read_docs(target / name)
        _mutate(data, docs[data.draw(st.integers(0, len(docs) - 1), label="document")])
        try:
            write_docs(target / name, docs)
        except yaml.YAMLError:
            return
        runner = CliRunner()
        strict = runner.invoke(main, ["audit", str(target), "--controls", PACK])
        lenient = runner.invoke(main, ["audit", str(target), "--controls", PACK, "--lenient"])
        rejected = _rejected(target)
    for run in (strict, lenient):
        assert run.exit_code in (0, 1, 2), run.output
        assert run.exception is None or isinstance(run.exception, SystemExit), repr(run.exception)
        assert "Traceback" not in run.output
        if run.exit_code == 2 and run.stderr.startswith("error: "):
            assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    if rejected:
        assert strict.exit_code == 2, f"{name}: rejected {rejected} but strict exit {strict.exit_code}"
        if lenient.exit_code == 0:
            # A PASS may stand only when no control depends on the kinds skipped, or when each
            # skipped policy became an unknown placeholder over everything it could select (so
            # the controls that pass did not depend on it) and is named in the output.
            unscoped = [k for k in rejected if k not in SCOPED_KINDS]
            assert not DEPENDED_ON.intersection(unscoped), f"PASS resting on rejected {rejected}"
            assert lenient.stdout.count("skipped under --lenient") >= len(rejected), lenient.stdout
