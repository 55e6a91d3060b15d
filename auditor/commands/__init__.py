"""Sub-commands that live in their own modules register themselves on ``auditor.cli.main``.

Each module here imports ``main`` from ``auditor.cli`` and decorates its command with
``@main.command()``; ``load_all`` imports every module of this package once.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        importlib.import_module(f"{__name__}.{info.name}")
