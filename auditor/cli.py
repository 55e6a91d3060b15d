"""The ``auditor`` command line: the click group, the error → exit-code rule, and the commands.

Exit codes are an interface: 0 answer established, 1 violations/regression (audit, gate),
2 the run could not establish the answer (bad input, unreadable cluster, unknown verdicts,
an output that cannot be written), 3 internal error (a bug: traceback printed, please report),
130 interrupted (SIGINT). A reader that closes the pipe early (``| head``) ends the run
quietly with 141, as a killed-by-SIGPIPE program would.

Only the project's own error types (``auditor.errors.AuditorError``) map to 2. Start-up imports
nothing heavy: each command loads pandas, reportlab or the Kubernetes client when it runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence
from typing import Any

import click

from auditor import __version__
from auditor.commands.attest import attest
from auditor.commands.audit import audit
from auditor.commands.baseline import baseline
from auditor.commands.diff import diff
from auditor.commands.explain import explain
from auditor.commands.exposure import exposure
from auditor.commands.gate import gate
from auditor.commands.history import history
from auditor.commands.period_report import period_report
from auditor.commands.reach import reach
from auditor.commands.report import report
from auditor.commands.scan import scan
from auditor.commands.text import finish_stdout, silence_stdout
from auditor.commands.verify import verify
from auditor.errors import AuditorError, OutputClosed

EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_PIPE_CLOSED = 141


class AuditorGroup(click.Group):
    """Runs a command and turns how it ended into the exit code (the rule in the module docstring)."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        code = run(lambda: super(AuditorGroup, self).main(args, prog_name, complete_var, standalone_mode=False,
                                                          **extra))
        if not standalone_mode:
            return code
        sys.exit(code)


def run(call: Any) -> int:
    """``call()`` (click's main, non-standalone) → exit code, with one line per known ending."""
    try:
        try:
            rv = call()
            code = rv if isinstance(rv, int) else 0
        except SystemExit as exc:  # commands exit with their verdict's code
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if exc.code is not None and not isinstance(exc.code, int):
                click.echo(str(exc.code), err=True)
        finish_stdout()
        return code
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt) or isinstance(exc.__cause__, KeyboardInterrupt):
            return interrupted()
        click.echo("Aborted!", err=True)
        return 1
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except KeyboardInterrupt:
        return interrupted()
    except OutputClosed:
        silence_stdout()
        return EXIT_PIPE_CLOSED
    except BrokenPipeError:  # a write to stdout that did not go through ``commands.text``
        silence_stdout()
        return EXIT_PIPE_CLOSED
    except AuditorError as exc:
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except Exception as exc:
        import traceback

        traceback.print_exc(file=sys.stderr)
        click.echo(f"internal error: {type(exc).__name__}: {exc} — this is a bug in auditor, please report it",
                   err=True)
        return EXIT_INTERNAL


def interrupted() -> int:
    """SIGINT (Ctrl-C, a cancelled CI job): one line, no traceback; temporary files are already
    gone (``canonical.atomic_write`` and ``atomic_directory`` clean up on the way out)."""
    with contextlib.suppress(OSError, ValueError):
        click.echo("interrupted", err=True)
    return EXIT_INTERRUPTED


EPILOG = """Exit codes: 0 answer established (compliant, no regression); 1 violations (audit) or a
regression (gate); 2 the answer could not be established (bad input or option, unreadable cluster,
unknown verdicts, an output that cannot be written); 3 internal error (a bug in auditor: the
traceback is printed, please report it); 130 interrupted."""


@click.group(cls=AuditorGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, prog_name="auditor")
def main() -> None:
    """Kubernetes zone-compliance auditor: who can reach what, which policy rule decided, and
    whether that satisfies your PCI DSS / HIPAA segmentation controls."""


main.add_command(scan)
main.add_command(reach)
main.add_command(explain)
main.add_command(exposure)
main.add_command(audit)
main.add_command(report)
main.add_command(baseline)
main.add_command(gate)
main.add_command(diff)
main.add_command(attest)
main.add_command(verify)
main.add_command(history)
main.add_command(period_report)
