"""Shared fixtures: the repository root and the bundled samples, so tests in every stage folder
name inputs the same way (helper modules live in ``tests/kits/``)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BANK = ROOT / "sample_clusters" / "bank"
CONTROLS = ROOT / "controls"


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def bank() -> Path:
    """``sample_clusters/bank``: variants before/, after/, calico/, istio/ and kubectl-dump.yaml."""
    return BANK


@pytest.fixture
def controls_dir() -> Path:
    return CONTROLS
