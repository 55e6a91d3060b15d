"""The one interface every report format implements (like pip-audit's ``format/``).

Adding a format is one new module in this package with a class satisfying ``ReportWriter``,
registered in ``auditor/report/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class AttestationRef:
    """The signed statement a report is issued under (``auditor audit --sign``): the PDF's
    sign-off names it so that a reader can match the paper to ``auditor verify``'s output."""

    key_id: str
    algorithm: str  # the signature scheme, e.g. ed25519
    statement_digest: str  # sha256 of the in-toto statement (the DSSE payload), hex


@dataclass(frozen=True)
class ReportOptions:
    """What the user chose: templates (names or paths) and paper for the PDF."""

    templates: Sequence[str] = ("auditor", "executive")
    paper: str | None = None  # a4 | letter; None = the template's own
    extra: Mapping[str, Any] = field(default_factory=dict)
    attestation: AttestationRef | None = None  # None: the reports are unsigned
    cluster_name: str = ""  # --cluster-name: shown instead of the input paths (cover, page header)


@runtime_checkable
class ReportWriter(Protocol):
    """Writes one format from the audit result JSON (as a dict) into ``out_dir``.

    ``write`` returns the files it wrote (atomically, via ``auditor.canonical.atomic_write``).
    Everything but the PDF is byte-deterministic; the PDF too, given the same fonts.
    """

    name: str

    def write(self, result: Mapping[str, Any], out_dir: Path, options: ReportOptions) -> list[Path]: ...
