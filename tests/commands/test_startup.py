"""``auditor --help`` stays fast because the CLI start imports no heavy library (issue 11), and
``python -m auditor`` works. Behaviour, not timing: which modules a bare import loads."""

from __future__ import annotations

import json

from click.testing import CliRunner

from auditor.cli import main
from auditor.commands import reach
from tests.commands.cli_kit import run_auditor, script

HEAVY = ("pandas", "numpy", "reportlab", "kubernetes", "yaml")


def test_importing_the_cli_loads_no_heavy_library():
    done = script("import json, sys\nimport auditor.cli\nprint(json.dumps(sorted(sys.modules)))")
    assert done.returncode == 0, done.stderr.decode()
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_help_of_every_command_loads_no_heavy_library():
    names = sorted(main.commands)
    code = ("import json, sys\nfrom click.testing import CliRunner\nfrom auditor.cli import main\n"
            f"for name in {names!r}:\n"
            "    r = CliRunner().invoke(main, [name, '--help'])\n"
            "    assert r.exit_code == 0, (name, r.output)\n"
            "print(json.dumps(sorted(sys.modules)))")
    done = script(code)
    assert done.returncode == 0, done.stderr.decode()
    loaded = {m.split(".")[0] for m in json.loads(done.stdout)}
    # numpy comes with nothing but the audit's --max-evidence default (controls.result)
    assert not loaded & {"pandas", "reportlab", "kubernetes"}, sorted(loaded)


def test_python_dash_m_auditor_runs_the_cli():
    done = run_auditor("--version")
    assert done.returncode == 0 and b"auditor" in done.stdout and b"0.1.0" in done.stdout


def test_help_documents_every_exit_code():
    r = CliRunner().invoke(main, ["--help"])
    assert r.exit_code == 0
    text = " ".join(r.output.split())
    for words in ("0 answer established", "1 violations", "2 the answer could not be established",
                  "3 internal error", "130 interrupted"):
        assert words in text, words


def test_every_command_is_added_to_the_group():
    """Every click command defined in ``auditor/commands/`` is on the group (none forgotten)."""
    import importlib
    import pkgutil

    import click

    import auditor.commands as package

    defined, nested = set(), set()
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"auditor.commands.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, click.Command) and getattr(obj.callback, "__module__", "") == module.__name__:
                defined.add(obj.name)
                if isinstance(obj, click.Group):
                    nested |= set(obj.commands)
    assert defined - nested == set(main.commands)
    assert {"scan", "reach", "explain", "audit", "report", "baseline", "gate", "diff", "attest", "verify",
            "history", "period-report", "exposure"} <= set(main.commands)


def test_reach_levels_match_the_engine():
    from auditor.reach.analysis import LEVELS

    assert reach.LEVELS == LEVELS


def test_max_evidence_default_is_the_results_constant():
    from auditor.controls.result import DEFAULT_MAX_EVIDENCE

    r = CliRunner().invoke(main, ["audit", "--help"])
    assert f"[default: {DEFAULT_MAX_EVIDENCE}" in " ".join(r.output.split())
