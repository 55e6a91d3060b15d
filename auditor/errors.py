"""Errors that end a run with exit code 2 and one clear line (the input could not be read or is invalid)."""

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
