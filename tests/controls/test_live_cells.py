"""The live cells of a whole unit matrix are listed once for every control that judges it
(``Context.live_cells``), equal to a fresh listing, read-only, with each caller's own
``definite`` column."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import yaml

import auditor.controls.assertions.context as context
from auditor.controls.assertions.scan import _Cells
from tests.controls.test_controls_scale import WAIVERS, Setup, _cluster


@pytest.fixture(scope="module")
def open_(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "waivers.yaml").write_text(yaml.safe_dump(WAIVERS))
    return Setup(_cluster(tmp / "open.yaml", True), tmp / "waivers.yaml")


def test_whole_matrix_cells_are_listed_once_per_matrix(open_: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "forced_block_cells", None)
    listed = 0
    original = _Cells._listed

    def counted(self: _Cells, lo: int, rows: np.ndarray):  # type: ignore[no-untyped-def]
        nonlocal listed
        listed += 1
        return original(self, lo, rows)

    monkeypatch.setattr(_Cells, "_listed", counted)
    ctx = context.Context(open_.analysis, open_.packs[0])
    units = ctx.zones.all_units()
    src, dst = units, units[: len(units) // 2]
    first = context.FlowMatrix(ctx, src, dst)
    assert first.pm is not None
    a = _Cells(first, *first.entity_ids()).live(0, first.pm.row)
    assert a is not None and a[0].size  # an open cluster: live cells
    # the same units, another membership: the same matrix object, the cells shared
    flipped = [replace(u, definite=not u.definite) for u in src]
    second = context.FlowMatrix(ctx, flipped, dst)
    assert second.pm is first.pm
    b = _Cells(second, *second.entity_ids()).live(0, second.pm.row)
    assert listed == 1
    assert b is not None
    fresh = original(_Cells(first, *first.entity_ids()), 0, first.pm.row)
    assert fresh is not None
    for got_a, got_b, want in zip(a[:3], b[:3], fresh, strict=True):
        assert np.array_equal(got_a, want) and np.array_equal(got_b, want)
        assert not got_a.flags.writeable
    s_def = np.array([u.definite for u in src], dtype=bool)
    d_def = np.array([u.definite for u in dst], dtype=bool)
    ii, jj = fresh[0], fresh[1]
    assert np.array_equal(a[3], s_def[ii] & d_def[jj])
    assert np.array_equal(b[3], ~s_def[ii] & d_def[jj])
    ctx.release()
    assert not ctx.live_cells
