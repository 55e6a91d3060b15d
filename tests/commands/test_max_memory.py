"""``--max-memory`` / ``$AUDITOR_MAX_MEMORY`` (issue 18): the budget sizes the blocks the pair
matrix is computed and written in, says what it chose on stderr, and never changes a byte of
the reach CSV/JSON or the audit result JSON. Progress bars appear only on a terminal, only for
phases over 2 s."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import platform
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from auditor.cli import main
from auditor.commands.progress import PhaseProgress
from auditor.reach.budget import BlockPlan, class_cells, parse_size, plan_blocks

ROOT = Path(__file__).resolve().parents[2]
BANK = ROOT / "sample_clusters" / "bank"
PCI = str(ROOT / "controls" / "pci-dss-v4.yaml")
ZONES = str(ROOT / "controls" / "bank-zones.yaml")


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1790000000")
    monkeypatch.delenv("AUDITOR_MAX_MEMORY", raising=False)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated cluster whose workloads and namespaces span several endpoint classes (ipBlocks
    that cut the pod range), so the class-pair chunks and row blocks really split the work."""
    spec = importlib.util.spec_from_file_location("bench_generate", ROOT / "benchmarks" / "generate.py")
    assert spec and spec.loader
    gen: Any = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    path = tmp_path_factory.mktemp("gen") / "cluster.yaml"
    with open(path, "w") as fh:
        gen.dump(gen.generate(300, 12, 60, calico_policies=30, seed=5), fh)
    return path


def invoke(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.mark.parametrize("sample", ["after", "calico", "istio"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_reach_bytes_do_not_depend_on_the_budget(sample: str, fmt: str) -> None:
    base = ["reach", str(BANK / sample), "--by", "pod", "--format", fmt]
    plain = invoke(*base)
    assert plain.exit_code == 0 and plain.stderr == ""
    for budget in ("1K", "64G"):
        r = invoke(*base, "--max-memory", budget)
        assert r.exit_code == 0, r.output
        assert r.stdout == plain.stdout, budget
        assert "pair matrix in" in r.stderr and "class pairs in chunks of" in r.stderr
    tiny = invoke(*base, "--max-memory", "1K").stderr
    assert "already over the budget" in tiny and "block(s) of 1 ×" in tiny
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(plain.stdout)))) > 20
    else:
        assert len(json.loads(plain.stdout)["rows"]) > 20


def test_reach_to_a_file_with_the_environment_variable(tmp_path: Path) -> None:
    out_small, out_big = tmp_path / "small.csv", tmp_path / "big.csv"
    r1 = invoke("reach", str(BANK / "calico"), "--by", "namespace", "--format", "csv", "-o", str(out_small),
                env={"AUDITOR_MAX_MEMORY": "1K"})
    r2 = invoke("reach", str(BANK / "calico"), "--by", "namespace", "--format", "csv", "-o", str(out_big))
    assert r1.exit_code == 0 and r2.exit_code == 0
    assert "memory: --max-memory 1.0 KB" in r1.stderr
    assert out_small.read_bytes() == out_big.read_bytes()
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("sample", ["before", "calico"])
def test_audit_result_json_does_not_depend_on_the_budget(sample: str, tmp_path: Path) -> None:
    outs = []
    for budget in (None, "1K", "64G"):
        out = tmp_path / f"r-{budget}.json"
        env = {"AUDITOR_MAX_MEMORY": budget} if budget else None
        r = invoke("audit", str(BANK / sample), "--controls", PCI, "--controls", ZONES, "-o", str(out), env=env)
        assert r.exit_code in (0, 1, 2), r.output
        if budget:
            assert "class pairs in chunks of" in r.stderr
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] == outs[2]
    assert json.loads(outs[0])["findings"]


def test_generated_cluster_reach_and_audit_under_a_tiny_budget(generated: Path, tmp_path: Path) -> None:
    from auditor.reach.analysis import analyze
    from auditor.sources.manifests import load_manifests

    a = analyze(load_manifests([str(generated)]))
    ents = a.entities("namespace")
    assert max(len(e.classes) for e in ents) > 4  # chunks of 16 class pairs split every namespace row
    base = ["reach", str(generated), "--by", "namespace", "--format", "csv"]
    plain = invoke(*base)
    tiny = invoke(*base, "--max-memory", "1K")
    assert plain.exit_code == tiny.exit_code == 0
    assert "class pairs in chunks of 16" in tiny.stderr
    assert tiny.stdout == plain.stdout
    assert len(list(csv.DictReader(io.StringIO(plain.stdout)))) > len(ents)
    outs = []
    for budget in (None, "1K"):
        out = tmp_path / f"audit-{budget}.json"
        r = invoke("audit", str(generated), "--controls", PCI, "-o", str(out),
                   env={"AUDITOR_MAX_MEMORY": budget} if budget else None)
        assert r.exit_code in (0, 1, 2), r.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["findings"]


def test_a_malformed_budget_is_a_usage_error() -> None:
    r = invoke("reach", str(BANK / "after"), "--max-memory", "lots")
    assert r.exit_code == 2
    assert "error: --max-memory 'lots': expected a size" in r.stderr


def test_sizes_and_plans() -> None:
    assert parse_size("4G") == parse_size("4GiB") == parse_size("4gb") == 4 << 30
    assert parse_size("512M") == 512 << 20 and parse_size("1.5G") == 3 << 29 and parse_size("1000") == 1000
    for bad in ("", "0", "-1G", "4X", "G"):
        with pytest.raises(ValueError):
            parse_size(bad)
    plan = plan_blocks(total=20_000, cols=20_000, n_atoms=34, budget=4 << 30, in_use=1 << 30)
    assert isinstance(plan, BlockPlan) and 1 <= plan.rows < 20_000
    assert plan.rows * plan.cols * plan.per_pair <= (3 << 30) // 3  # a third of what is left
    assert plan.blocks == -(-20_000 // plan.rows)
    assert plan_blocks(10, 10, 34, budget=1 << 40, in_use=0).rows == 10  # never more than there are
    assert plan_blocks(10, 10, 34, budget=1, in_use=5).rows == 1  # over the budget: one row at a time
    assert class_cells(1, in_use=5) == 16 and class_cells(1 << 50, in_use=0) == 16_000_000


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_phases_over_two_seconds() -> None:
    clock = FakeClock()
    stream = FakeTTY()
    p = PhaseProgress(stream, clock=clock)
    assert p.enabled
    for k in range(5):  # a fast phase: done within 2 s
        clock.now += 0.3
        p("egress signatures", k, 4)
    for k in range(10):  # a slow one
        clock.now += 1.0
        p("ingress signatures", k, 10)
    p("ingress signatures", 10, 10)
    p.say("done")
    p.close()
    assert p.shown == ["ingress signatures"]
    text = stream.getvalue()
    assert "ingress signatures" in text and "egress signatures" not in text and "done" in text


def test_progress_is_silent_off_a_terminal() -> None:
    stream = io.StringIO()
    p = PhaseProgress(stream, clock=FakeClock())
    p("pair matrix", 0, 3)
    p.say("read 3 resources")
    p.close()
    assert not p.enabled and stream.getvalue() == "" and p.shown == []


def test_a_matrix_that_cannot_fit_is_refused_with_one_message(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    """The controls hold their unit matrices whole; one that needs more than the memory left
    (at 100k pods: 88,616 × 22,572 units, ≈ 15 GB for one temporary) must end the run with exit
    2 and a message naming the size, not with the kernel's out-of-memory killer. Here the
    bank sample's matrices are made to look huge and the machine small."""
    import auditor.reach.budget as budget

    assert budget.available_bytes() is None or budget.available_bytes() > 0  # readable on Linux
    monkeypatch.setattr(budget, "DENSE_PAIR_BYTES", 1 << 40)
    monkeypatch.setattr(budget, "available_bytes", lambda: 2 << 30)
    out = tmp_path / "r.json"
    r = CliRunner().invoke(main, ["audit", str(BANK / "after"), "--controls", PCI, "--controls", ZONES,
                                  "-o", str(out)])
    assert r.exit_code == 2, r.output
    assert "error:" in r.stderr and "entities needs about" in r.stderr and "2.0 GB is available" in r.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.skipif(sys.platform != "linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc_trim")
def test_free_heap_pages_go_back_to_the_kernel() -> None:
    """What the analysis frees is returned before the budget is measured (``release_free_memory``):
    200 MB of small arrays, freed, stay resident until the heap is trimmed."""
    from auditor.reach.budget import release_free_memory, rss_bytes

    arrays = [np.ones(1000) for _ in range(25_000)]
    held = rss_bytes()
    del arrays
    release_free_memory()
    assert held - rss_bytes() > 100 << 20


@pytest.mark.parametrize("budget", [None, 1 << 30])
def test_large_blocks_stay_in_the_heap_only_without_a_budget(budget: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a budget the analysis has glibc keep large blocks in its heap (fewer page faults);
    under one it must not, so that freed memory leaves the resident set the budget counts."""
    import auditor.reach.budget as budget_mod
    from auditor.commands.pipeline import (
        AnalysisFlags,
        InputSpec,
        analyse,
        analysis_options,
        read_inputs,
    )

    calls: list[bool] = []
    monkeypatch.setattr(budget_mod, "keep_large_blocks", lambda: calls.append(True) or True)
    loaded = read_inputs(InputSpec(inputs=(str(BANK / "after"),)))
    analyse(loaded.snapshot, analysis_options(AnalysisFlags()), budget=budget)
    assert calls == ([True] if budget is None else [])


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_keep_large_blocks_takes_on_glibc() -> None:
    from auditor.reach.budget import keep_large_blocks

    assert keep_large_blocks()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_the_console_keeps_large_blocks_in_the_heap_only_without_a_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """``python -m auditor``/``auditor`` sets it at start-up, before any input is read, unless a
    budget is given on the command line or in the environment."""
    from auditor.__main__ import large_blocks_from_the_heap

    assert large_blocks_from_the_heap(["gate", "in.json"], {})
    assert not large_blocks_from_the_heap(["audit", "in.json", "--max-memory", "4G"], {})
    assert not large_blocks_from_the_heap(["audit", "in.json", "--max-memory=4G"], {})
    assert not large_blocks_from_the_heap(["audit", "in.json"], {"AUDITOR_MAX_MEMORY": "4G"})
