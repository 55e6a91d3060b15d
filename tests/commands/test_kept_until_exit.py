"""``kept_until_exit`` freezes what its block built before the collector runs again."""

from __future__ import annotations

import gc
from typing import Any

from auditor.commands.pipeline import kept_until_exit


def test_block_survivors_are_frozen_without_a_collection_walking_them() -> None:
    started: list[dict[str, Any]] = []

    def watch(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started.append(info)

    was_enabled = gc.isenabled()
    gc.enable()
    frozen = gc.get_freeze_count()
    gc.callbacks.append(watch)
    try:
        with kept_until_exit():
            kept = [[i] for i in range(50_000)]  # far over the youngest generation's threshold
            assert not gc.isenabled()
            started.clear()  # any collection before the pause is not the block's
        collections = len(started)  # before anything else allocates
        assert collections == 0  # re-enabled with `kept` frozen: no young generation left to walk
        assert gc.isenabled()
        assert gc.get_count()[0] < gc.get_threshold()[0]
        assert gc.get_freeze_count() >= frozen + len(kept)
    finally:
        gc.callbacks.remove(watch)
        gc.unfreeze()
        if not was_enabled:
            gc.disable()


def test_nested_blocks_leave_the_collector_paused_until_the_outer_one_ends() -> None:
    was_enabled = gc.isenabled()
    gc.enable()
    try:
        with kept_until_exit():
            with kept_until_exit():
                pass
            assert not gc.isenabled()
        assert gc.isenabled()
    finally:
        gc.unfreeze()
        if not was_enabled:
            gc.disable()
