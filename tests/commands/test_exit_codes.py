"""The error → exit-code rule (issue 11 item 8): only the auditor's own errors exit 2 with one
``error:`` line; anything else is a bug and exits 3 with the traceback, never 1 or 2."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import auditor.reach.analysis
from auditor.cli import main
from auditor.errors import AuditorError
from tests.commands.cli_kit import BANK, CONTROLS, ROOT, env, run_auditor


def invoke(*args: str) -> tuple[int, str, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.stdout, r.stderr


@pytest.mark.parametrize("exc", [ValueError("bad value"), LookupError("no such key"), KeyError("k"),
                                 TypeError("int is not iterable"), OSError(5, "Input/output error")])
def test_an_unexpected_exception_is_an_internal_error_exit_3(monkeypatch, exc):
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr(auditor.reach.analysis, "analyze", broken)
    code, _, err = invoke("reach", str(BANK / "after"))
    assert code == 3
    assert "Traceback (most recent call last)" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"internal error: {type(exc).__name__}: ")
    assert last.endswith("this is a bug in auditor, please report it")
    assert "error: " not in err.replace("internal error: ", "")


def test_the_auditors_own_error_is_one_line_exit_2(monkeypatch):
    def refuses(*args: object, **kwargs: object) -> None:
        raise AuditorError("cannot be established", where="somewhere.yaml")

    monkeypatch.setattr(auditor.reach.analysis, "analyze", refuses)
    code, _, err = invoke("reach", str(BANK / "after"))
    assert (code, err) == (2, "error: somewhere.yaml: cannot be established\n")


@pytest.mark.parametrize("args, words", [
    (["reach", "{after}", "--port", "80/FOO"], "unknown protocol 'FOO'"),
    (["reach", "{after}", "--port", "70000/TCP"], "out of range"),
    (["reach", "{after}", "--http", "GET"], "expected 'METHOD /path'"),
    (["reach", "{after}", "--from", "nobody/here"], "no pod, workload, namespace or external network"),
    (["reach", "{after}", "--external", "corp"], "expected NAME=CIDR"),
    (["reach", "{after}", "--pod-cidr", "10.0.0.0/33"], "--pod-cidr"),
    (["explain", "{after}", "--from", "restricted/attacker", "--to", "nobody"], "named 'nobody'"),
    (["audit", "{after}", "--controls", "{pack}", "--as-of", "someday"], "--as-of 'someday'"),
    (["reach", "{missing}"], "no such file or directory"),
])
def test_bad_command_line_values_exit_2_with_one_line(tmp_path: Path, args, words):
    paths = {"after": str(BANK / "after"), "pack": str(CONTROLS / "bank-zones.yaml"),
             "missing": str(tmp_path / "absent.yaml")}
    code, _, err = invoke(*[a.format(**paths) for a in args])
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1 and words in err, err


def test_an_unreadable_input_names_its_path(tmp_path: Path):
    looped = tmp_path / "loop.yaml"
    looped.symlink_to(looped)
    code, _, err = invoke("reach", str(looped))
    assert code == 2 and err.startswith("error: ") and str(looped) in err


def test_output_under_a_regular_file_names_the_file(tmp_path: Path):
    (tmp_path / "plain").write_text("x")
    code, _, err = invoke("reach", str(BANK / "after"), "--format", "csv", "-o", str(tmp_path / "plain" / "r.csv"))
    assert code == 2
    assert err == f"error: {tmp_path / 'plain' / 'r.csv'}: cannot write: {tmp_path / 'plain'} is not a directory\n"


def test_report_under_a_regular_file_names_the_file(tmp_path: Path):
    result = tmp_path / "result.json"
    assert invoke("audit", str(BANK / "after"), "--controls", str(CONTROLS / "bank-zones.yaml"),
                  "-o", str(result))[0] == 0
    (tmp_path / "plain").write_text("x")
    code, _, err = invoke("report", str(result), "--format", "csv", "-o", str(tmp_path / "plain" / "out"))
    assert code == 2 and err.endswith(f"cannot write: {tmp_path / 'plain'} is not a directory\n"), err


def test_a_real_process_exits_3_on_an_internal_error(tmp_path: Path):
    """The console entry itself (not only CliRunner) maps a bug to 3: here a ``sitecustomize``
    that breaks the engine stands for any bug."""
    (tmp_path / "sitecustomize.py").write_text(
        "import auditor.reach.analysis as a\n"
        "def analyze(*args, **kwargs):\n    raise RuntimeError('boom')\n"
        "a.analyze = analyze\n")
    done = run_auditor("reach", str(BANK / "after"),
                       env={**env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"})
    err = done.stderr.decode()
    assert done.returncode == 3, err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("internal error: RuntimeError: boom")
