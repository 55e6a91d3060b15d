"""The project's own error types: each ends a run with exit code 2 and one clear ``error:`` line.

Anything else that escapes a command is a bug in auditor (exit 3, with the traceback); see
``auditor/cli.py`` for the whole exit-code rule.
"""

from __future__ import annotations


class AuditorError(Exception):
    """Any problem with the input or environment that prevents establishing an answer (exit 2)."""

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.message = message
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class InvalidResource(AuditorError):
    """A known resource kind with content the API server would reject (K8S-19, CAL-10)."""


class UsageError(AuditorError):
    """A command-line value that cannot be used (``--port``, ``--from``, ``--pod-cidr`` ...)."""


class OutputError(AuditorError):
    """An output could not be written (a full disk, a file-size limit, a busy report directory)."""


class OutputClosed(Exception):
    """Standard output's reader went away (``auditor reach ... | head -1``): stop quietly."""
