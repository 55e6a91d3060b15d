"""The README's ```console examples are real (issue 13 §2.5): each ``$ auditor …`` command is
run from the repository root and its output compared with the lines shown. A block with a
``...`` line shows an excerpt: the shown lines must appear in that order; otherwise the output
must match exactly."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import main

ROOT = Path(__file__).resolve().parents[2]


def examples() -> list[tuple[str, list[str]]]:
    text = (ROOT / "README.md").read_text()
    out: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        current: tuple[str, list[str]] | None = None
        for line in block.splitlines():
            if line.startswith("$ auditor "):
                current = (line[2:], [])
                out.append(current)
            elif current is not None:
                current[1].append(line)
    return [(cmd, _trim(lines)) for cmd, lines in out]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def test_readme_has_console_examples() -> None:
    assert len(examples()) >= 5


@pytest.mark.parametrize(("command", "expected"), examples(), ids=lambda x: x if isinstance(x, str) else "")
def test_readme_console_example(command: str, expected: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    args = shlex.split(command)[1:]
    r = CliRunner().invoke(main, args, catch_exceptions=False)
    assert r.exit_code in (0, 1), r.output
    actual = _trim(r.stdout.splitlines())
    if "..." not in expected:
        assert actual == expected
        return
    shown = [x for x in expected if x != "..."]
    at = 0
    for line in shown:
        while at < len(actual) and actual[at].rstrip() != line.rstrip():
            at += 1
        assert at < len(actual), f"README line not in the output (in order): {line!r}"
        at += 1
