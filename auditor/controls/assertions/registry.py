"""Assertion kind name → kind. Adding a kind: one module and one line here.

The order is the order error messages list the kinds in.
"""

from __future__ import annotations

from auditor.controls.assertions.base import AssertionKind
from auditor.controls.assertions.exposure import EgressOnlyTo, ExposureOnlyVia, NoExposure
from auditor.controls.assertions.flows import AllowOnly, EgressRestricted, MustAllow, NoFlow
from auditor.controls.assertions.identity import IdentityRequired
from auditor.controls.assertions.isolation import Isolated, ZoneCoverage
from auditor.controls.assertions.mesh import MtlsRequired
from auditor.controls.assertions.zone_empty import ZoneEmpty

KINDS: dict[str, AssertionKind] = {k.name: k for k in (
    NoFlow(),
    AllowOnly(),
    MustAllow(),
    Isolated(),
    ZoneCoverage(),
    MtlsRequired(),
    IdentityRequired(),
    EgressRestricted(),
    ZoneEmpty(),
    NoExposure(),
    ExposureOnlyVia(),
    EgressOnlyTo(),
)}


def kind_of(name: str) -> AssertionKind:
    """The kind of a parsed assertion (``KeyError`` for a name no pack could have given)."""
    return KINDS[name]
