"""Controls over unit matrices read in row blocks (``FlowMatrix`` streaming): the same result.

At 100,000 pods the unit matrix of "everything → the CDE" is 2 G cells and cannot be held;
``scan`` then reads it block by block. Whatever the block size (one source row, a few, all),
the audit result must be byte-identical, evidence (deciding rules of the rows listed) included,
with unknown flows (namespaces missing) and with waivers. A generated, mostly open cluster
(benchmarks/generate.py) gives every control hundreds of violations.
"""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import auditor.controls.assertions.context as context
import auditor.reach.groupcodes as groupcodes
from auditor.canonical import canonical_json
from auditor.controls.runner import run_audit
from auditor.reach.firstseen import first_seen
from auditor.reach.streamed import StreamedPairs
from tests.controls.test_controls_scale import AS_OF, WAIVERS, Setup, _cluster


@pytest.fixture(scope="module")
def open_(tmp_path_factory: pytest.TempPathFactory) -> Setup:
    tmp = tmp_path_factory.mktemp("stream")
    (tmp / "waivers.yaml").write_text(yaml.safe_dump(WAIVERS))
    return Setup(_cluster(tmp / "open.yaml", True), tmp / "waivers.yaml")


def _audit(setup: Setup, cap: int, cells: int | None, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, int]:
    """(result bytes, blocks streamed) with ``cells`` per block (None: matrices held whole)."""
    monkeypatch.setattr(context, "forced_block_cells", cells)
    blocks = 0
    original = StreamedPairs.blocks

    def counted(self: StreamedPairs):  # type: ignore[no-untyped-def]
        nonlocal blocks
        for item in original(self):
            blocks += 1
            yield item

    monkeypatch.setattr(StreamedPairs, "blocks", counted)
    result = run_audit(setup.analysis, setup.packs, zone_map=setup.zone_map, waivers=setup.waivers,
                       as_of=AS_OF, max_evidence=cap)
    return canonical_json(result.to_dict()), blocks


@pytest.mark.parametrize("cap", [0, 7])
def test_block_size_does_not_change_the_audit(open_: Setup, cap: int, monkeypatch: pytest.MonkeyPatch) -> None:
    whole, none = _audit(open_, cap, None, monkeypatch)
    assert none == 0  # the small matrices fit: held whole
    assert b'"verdict":"fail"' in whole and b'"flow":"unknown"' in whole  # violations and unknown flows
    n_units = len(open_.analysis.entities("workload"))
    for cells in (1, 97, 50_000):
        streamed, blocks = _audit(open_, cap, cells, monkeypatch)
        assert blocks > 0
        if cells == 1:  # one source row a block
            assert blocks >= n_units
        assert streamed == whole, f"{cells} cells a block"


def test_streamed_matrix_numbers_rows_as_the_whole_one(open_: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """The row ids of the blocks, put together, are the whole matrix's row ids, and the verdict
    table is the same once every block has been read."""
    import numpy as np

    ctx = context.Context(open_.analysis, open_.packs[0])
    units = ctx.zones.all_units()
    src, dst = units, units[: len(units) // 2]
    monkeypatch.setattr(context, "forced_block_cells", None)
    whole = context.FlowMatrix(ctx, src, dst)
    assert whole.pm is not None
    monkeypatch.setattr(context, "forced_block_cells", 3 * len(dst))
    streamed = context.FlowMatrix(ctx, src, dst)
    assert streamed.pm is None and streamed.stream is not None
    parts = [rows for _, rows in streamed.row_blocks()]
    assert len(parts) == -(-len(src) // 3)
    assert np.array_equal(np.concatenate(parts), whole.pm.row)
    assert np.array_equal(streamed.verdict, whole.pm.verdict)
    assert np.array_equal(streamed.network, whole.pm.network)
    assert np.array_equal(streamed.identity, whole.pm.identity)
    cells = [((i, j), ctx.universe, (2,)) for i, j in ((0, 1), (len(src) - 1, 0), (5, 5))]
    assert streamed.whys(cells) == whole.whys(cells)


def test_streaming_is_chosen_when_the_matrix_does_not_fit(open_: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a forced size the choice comes from the memory left: a tiny budget streams."""
    monkeypatch.setattr(context, "forced_block_cells", None)
    ctx = context.Context(open_.analysis, open_.packs[0])
    assert ctx.stream_rows(100, 100) is None  # 400 KB: whole
    monkeypatch.setattr(open_.analysis, "memory_budget", 1)  # nothing left under the budget
    assert ctx.stream_rows(100, 100) == 1
    monkeypatch.setattr(open_.analysis, "memory_budget", None)
    monkeypatch.setattr("auditor.reach.budget.available_bytes", lambda: 1 << 30)
    rows = ctx.stream_rows(200_000, 20_000)  # 160 GB whole
    assert rows is not None and rows * 20_000 * context.STREAM_CELL_BYTES <= 1 << 29


def test_a_matrix_of_several_class_entities_is_not_streamed(open_: Setup) -> None:
    """Only one-class entities stream (their cells' rows are functions of a class pair)."""
    a = open_.analysis
    several = [e for e in a.entities("workload") if len({int(a.behaviour_classes()[0][c]) for c in e.classes}) > 1]
    one = [e for e in a.entities("workload") if len(e.classes) == 1][:3]
    assert one
    assert StreamedPairs.of(a, "workload", one, one, 1) is not None
    if several:
        assert StreamedPairs.of(a, "workload", several[:1], one, 1) is None



@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_gathered_group_codes_equal_the_engine_s(open_: Setup, data: st.DataObject,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache-friendly gathers code every cell as ``Analysis.combo_codes`` does, with the
    egress partitions held at the destinations or read per block."""
    import numpy as np

    a = open_.analysis
    n = a.classes.n
    s = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=30)), dtype=np.int64)
    t = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=30)), dtype=np.int64)
    want = a.combo_codes(s[:, None], t[None, :], None, None)
    monkeypatch.setattr(groupcodes, "GATHERED_BYTES", data.draw(st.sampled_from([0, 1 << 30])))
    codes = groupcodes.GroupCodes(a.egress, a.ingress, t)
    assert np.array_equal(codes.of(s), want)  # int32 or int64
    # the block's distinct combinations by local numbers: as hashing every cell numbers them
    first, inv, combos = codes.distinct(s)
    h_first, h_inv = first_seen(want.reshape(-1))
    assert np.array_equal(first, h_first) and np.array_equal(inv, h_inv)
    assert np.array_equal(combos, want.reshape(-1)[h_first])


def test_streamed_controls_and_evidence_blocks_report_progress(open_: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """At 100k pods a control reads its matrix for minutes: each streamed matrix reports every
    block (phase named after the control) up to done == total, as do the evidence's blocks; a
    matrix held whole reports nothing, and the result is the same with or without the hook."""
    from auditor.controls import evidence

    seen: list[tuple[str, int, int]] = []
    monkeypatch.setattr(context, "forced_block_cells", 97)
    monkeypatch.setattr(evidence, "BLOCK_ROWS", 40)
    plain = run_audit(open_.analysis, open_.packs, zone_map=open_.zone_map, waivers=open_.waivers, as_of=AS_OF,
                      max_evidence=7)
    reported = run_audit(open_.analysis, open_.packs, zone_map=open_.zone_map, waivers=open_.waivers, as_of=AS_OF,
                         max_evidence=7, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert canonical_json(reported.to_dict()) == canonical_json(plain.to_dict())
    phases = list(dict.fromkeys(p for p, _, _ in seen))
    controls = [p for p in phases if p.startswith("control ")]
    assert controls and all(": flow matrix (" in p for p in controls)
    assert {p.split(":")[0].removeprefix("control ") for p in controls} <= {c.id for pk in open_.packs
                                                                         for c in pk.controls}
    ev = [p for p in phases if p.startswith("evidence: workload matrix")]
    assert len(ev) == 1
    for phase in phases:
        steps = [(d, t) for p, d, t in seen if p == phase]
        total = steps[0][1]
        assert total > 1 and all(t == total for _, t in steps)
        done = [d for d, _ in steps]
        assert done == sorted(done) and done[-1] == total, phase
    monkeypatch.setattr(context, "forced_block_cells", None)
    monkeypatch.setattr(evidence, "BLOCK_ROWS", None)
    seen.clear()
    run_audit(open_.analysis, open_.packs, zone_map=open_.zone_map, waivers=open_.waivers, as_of=AS_OF,
              max_evidence=7, progress=lambda phase, done, total: seen.append((phase, done, total)))
    assert not [p for p, _, _ in seen if p.startswith("control ")]  # whole matrices: nothing to report
