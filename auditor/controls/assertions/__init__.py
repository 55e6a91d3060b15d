"""Assertion kinds: one class per kind (``base.AssertionKind``), grouped by family, found by
name in ``registry.py``."""
