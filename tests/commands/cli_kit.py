"""Running ``python -m auditor`` as a real process (signals, pipes, file-size limits need one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
CONTROLS = ROOT / "controls"


def env() -> dict[str, str]:
    """This checkout's ``auditor`` first on the path, whatever is installed."""
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "SOURCE_DATE_EPOCH": "1780000000"}


def run_auditor(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """``python -m auditor ARGS`` (the console script's entry) as a child process."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    kwargs.setdefault("env", env())
    return subprocess.run([sys.executable, "-m", "auditor", *args], cwd=ROOT, timeout=300, check=False, **kwargs)


def default_sigint() -> None:
    """``preexec_fn`` of children that must see a real SIGINT: a test run started in the
    background of a non-interactive shell (``nohup … &``) ignores SIGINT, its children inherit
    that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def script(code: str, **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
    """Run ``code`` in a fresh interpreter with this checkout importable (SIGINT at its default)."""
    return subprocess.run([sys.executable, "-c", code], env=env(), cwd=ROOT, timeout=300, check=False,
                          capture_output=True, preexec_fn=default_sigint, **kwargs)


def dead_pid() -> int:
    """The pid of a process that has exited (a run killed with SIGKILL looks like this)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def leftovers(directory: Path) -> list[str]:
    """Temporary files, directories and locks the auditor would leave behind."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".tmp", ".lock")))
