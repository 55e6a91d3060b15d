"""Sources stage: turn manifests (or a live cluster) into a :class:`~auditor.snapshot.Snapshot`."""

from __future__ import annotations

from auditor.sources.manifests import load_input, load_manifests

__all__ = ["load_input", "load_manifests"]
