"""``python -m auditor`` and the ``auditor`` console script.

Nothing is imported before the SIGINT and SIGTERM handling is in place, so that a Ctrl-C during
start-up ends with one line and exit 130 like one during the run, never with a traceback.
"""

from __future__ import annotations

import signal
import sys


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like SIGINT: temporary files are removed on the way out (exit 143).
    raise SystemExit(128 + signum)


def main() -> None:
    try:
        signal.signal(signal.SIGTERM, _terminate)
        from auditor.cli import main as cli
    except KeyboardInterrupt:
        sys.stderr.write("\ninterrupted\n")
        sys.exit(130)
    cli(prog_name="auditor")


if __name__ == "__main__":
    main()
