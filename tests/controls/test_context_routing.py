"""The pack's routing objects are parsed once for the controls that read them (egress-only-to,
the exposure controls); a lenient load is reused for a strict request only if it skipped nothing."""

from __future__ import annotations

import pytest

import auditor.policy.routes as routes
from auditor.causes import Cause
from auditor.commands.pipeline import (
    AnalysisFlags,
    AuditSetup,
    InputSpec,
    analyse,
    analysis_options,
    read_inputs,
)
from auditor.controls.assertions.context import Context
from tests.conftest import BANK, CONTROLS


@pytest.fixture()
def ctx() -> Context:
    setup = AuditSetup.load([str(CONTROLS / "pci-dss-v4.yaml")], None, None, None)
    loaded = read_inputs(InputSpec(inputs=(str(BANK / "ingress"),)))
    return Context(analyse(loaded.snapshot, analysis_options(AnalysisFlags(), setup.zones())), setup.packs[0])


def test_routing_is_loaded_once_and_shared(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[bool] = []
    real = routes.load_routing
    monkeypatch.setattr(routes, "load_routing", lambda snap, *, lenient=False: loads.append(lenient) or real(snap, lenient=lenient))
    lenient = ctx.routing(lenient=True)
    assert ctx.routing(lenient=False) is lenient and ctx.routing(lenient=True) is lenient
    assert loads == [True]
    assert lenient.services == real(ctx.analysis.snapshot, lenient=False).services


def test_a_lenient_load_that_skipped_something_is_not_the_strict_one(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[bool] = []
    real = routes.load_routing
    monkeypatch.setattr(routes, "load_routing", lambda snap, *, lenient=False: loads.append(lenient) or real(snap, lenient=lenient))
    ctx.routing(lenient=True).skipped.append(Cause("invalid-object", "skipped, test", "Service x/y"))
    assert ctx.routing(lenient=False) is not ctx.routing(lenient=True)
    assert loads == [True, False]
