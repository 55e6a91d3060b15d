"""Progress on an interactive terminal: a bar with an ETA for every phase that runs over 2 s.

The engine reports ``(phase, done, total)`` as its loops advance; nothing is shown for phases
that finish quickly, nor when stderr is not a terminal (CI, pipes, CronJobs), so outputs and
logs stay the same. Rendering is ``rich``'s progress bar; stage lines (``say``) carry the
elapsed time as the hand-written reporter did.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

DELAY = 2.0  # seconds a phase runs before its bar appears


class PhaseProgress:
    """Callable as the engine's ``progress`` hook; ``say`` prints a stage line."""

    def __init__(self, stream: TextIO | None = None, *, enabled: bool | None = None, delay: float = DELAY,
                 clock: Any = time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = bool(self.stream.isatty()) if enabled is None else enabled
        self.delay = delay
        self._clock = clock
        self._start = clock()
        self._phase: str | None = None
        self._phase_start = 0.0
        self._bar: Any = None
        self._task: Any = None
        self.shown: list[str] = []  # phases that got a bar (for tests)

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if phase != self._phase:
            self._end_task()
            self._phase, self._phase_start = phase, now
        if self._task is None:
            if done >= total or now - self._phase_start < self.delay:
                return
            bar = self._progress()
            self._task = bar.add_task(phase, total=total, completed=done)
            self.shown.append(phase)
        self._bar.update(self._task, completed=done, total=total)
        if done >= total:
            self._end_task()

    def say(self, message: str) -> None:
        if self.enabled:
            self._end_task()
            self.stream.write(f"[{self._clock() - self._start:6.1f}s] {message}\n")
            self.stream.flush()

    def close(self) -> None:
        self._end_task()
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _progress(self) -> Any:
        if self._bar is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            console = Console(file=self.stream, force_terminal=self.enabled)
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, transient=False)
            self._bar.start()
        return self._bar

    def _end_task(self) -> None:
        if self._task is not None and self._bar is not None:
            self._bar.stop_task(self._task)
            self._bar.stop()
            self._bar = None
        self._task = None
