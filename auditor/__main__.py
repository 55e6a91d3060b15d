"""``python -m auditor`` and the ``auditor`` console script.

Nothing is imported before the SIGINT and SIGTERM handling is in place, so that a Ctrl-C during
start-up ends with one line and exit 130 like one during the run, never with a traceback.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like SIGINT: temporary files are removed on the way out (exit 143).
    raise SystemExit(128 + signum)


def large_blocks_from_the_heap(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """Without a memory budget (``--max-memory``, ``$AUDITOR_MAX_MEMORY``), large blocks come
    from glibc's heap for the whole run (``reach.budget.keep_large_blocks``): set before the
    inputs and the baseline are read, their buffers' pages are reused by the arrays that follow
    (a 10k-pod gate: 305k → 211k page faults, where setting it at the analysis did not). Under a
    budget the commands keep the default, so freed memory leaves the resident set at once."""
    if env.get("AUDITOR_MAX_MEMORY") or any(a.startswith("--max-memory") for a in argv):
        return False
    from auditor.reach.budget import keep_large_blocks

    return keep_large_blocks()


def main() -> None:
    try:
        signal.signal(signal.SIGTERM, _terminate)
        large_blocks_from_the_heap(sys.argv[1:], os.environ)
        from auditor.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    cli(prog_name="auditor")


if __name__ == "__main__":
    main()
