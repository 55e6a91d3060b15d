"""Outputs and runs under faults (issue 12 §2 and §5), in real processes: SIGINT during start-up
and during a run, standard output cut off by a file-size limit or a full disk, a reader that
closes the pipe early, report directories replaced as one set, a lock naming its holder, and
leftovers of runs killed with SIGKILL removed by the next run."""

from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from auditor.canonical import atomic_directory
from tests.commands.cli_kit import (
    BANK,
    CONTROLS,
    ROOT,
    dead_pid,
    default_sigint,
    env,
    leftovers,
    run_auditor,
    script,
)

LINUX = sys.platform.startswith("linux")
AFTER = str(BANK / "after")


def _csv_ports() -> list[str]:
    """Enough --port columns that the CSV outgrows a pipe buffer (64 KiB) and a 4 KiB limit."""
    return [a for p in range(1000, 1040) for a in ("--port", f"{p}/TCP")]


# -- SIGINT ---------------------------------------------------------------------------------------


def test_sigint_during_start_up_imports_exits_130_without_traceback():
    """The signal arrives while ``auditor.cli`` imports click: a real SIGINT, at a known point."""
    code = ("import builtins, os, signal, sys\n"
            "real = builtins.__import__\n"
            "def hook(name, *args, **kwargs):\n"
            "    if name == 'click' and not getattr(hook, 'sent', False):\n"
            "        hook.sent = True\n"
            "        os.kill(os.getpid(), signal.SIGINT)\n"
            "    return real(name, *args, **kwargs)\n"
            "builtins.__import__ = hook\n"
            "sys.argv = ['auditor', '--help']\n"
            "from auditor.__main__ import main\n"
            "main()\n")
    done = script(code)
    err = done.stderr.decode()
    assert done.returncode == 130, err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.strip()] == ["interrupted"]
    assert b"Usage" not in done.stdout


READ_SYSCALL = {"x86_64": "0", "aarch64": "63"}.get(os.uname().machine) if hasattr(os, "uname") else None


def _wait_blocked_on_stdin(proc: subprocess.Popen[bytes]) -> None:
    """Until the run is past start-up and blocked in read(0, ...) (Linux /proc/PID/syscall)."""
    syscall = Path(f"/proc/{proc.pid}/syscall")
    for _ in range(12000):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else b""
        fields = syscall.read_text().split()
        if fields[:2] == [READ_SYSCALL, "0x0"]:
            return
        time.sleep(0.01)
    raise AssertionError("the run never blocked on standard input")


@pytest.mark.skipif(not LINUX or READ_SYSCALL is None,
                    reason="needs /proc/PID/syscall (Linux, x86_64 or aarch64) to see that the run reads stdin")
def test_sigint_during_a_run_exits_130_with_one_line(tmp_path: Path):
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "reach", "-", "-o", str(tmp_path / "r.csv"),
                             "--format", "csv"], env=env(), cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=default_sigint)
    try:
        _wait_blocked_on_stdin(proc)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert [line for line in err.decode().splitlines() if line.strip()] == ["interrupted"]
    assert list(tmp_path.iterdir()) == []


def _report_once_then(tmp_path: Path, action: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``auditor report`` in a child whose report writer does ``action`` to its own process
    once the new files are written (before the set is swapped in)."""
    code = ("import os, signal, sys\n"
            "import auditor.report as r\n"
            "real = r.write_reports\n"
            "def write(*args, **kwargs):\n"
            "    done = real(*args, **kwargs)\n"
            f"    {action}\n"
            "    return done\n"
            "r.write_reports = write\n"
            f"sys.argv = ['auditor', 'report', {str(tmp_path / 'result.json')!r}, '--format', 'csv,junit',\n"
            f"            '-o', {str(tmp_path / 'out')!r}]\n"
            "from auditor.__main__ import main\n"
            "main()\n")
    return script(code)


@pytest.fixture
def old_report(tmp_path: Path) -> dict[str, bytes]:
    """A result.json and an existing report directory holding a previous set (and a user's file)."""
    done = run_auditor("audit", str(BANK / "before"), "--controls", str(CONTROLS / "bank-zones.yaml"),
                       "--as-of", "2026-12-01", "-o", str(tmp_path / "before.json"), "--report", str(tmp_path / "out"),
                       "--format", "csv,junit")
    assert done.returncode == 1, done.stderr.decode()
    done = run_auditor("audit", AFTER, "--controls", str(CONTROLS / "bank-zones.yaml"),
                       "--as-of", "2026-12-01", "-o", str(tmp_path / "result.json"))
    assert done.returncode == 0, done.stderr.decode()
    (tmp_path / "out" / "NOTES.txt").write_text("kept by the user")
    return {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}


def test_sigint_while_writing_a_report_keeps_the_old_set_and_no_temp_files(tmp_path: Path, old_report):
    done = _report_once_then(tmp_path, "os.kill(os.getpid(), signal.SIGINT)")
    err = done.stderr.decode()
    assert done.returncode == 130, err
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == old_report
    assert leftovers(tmp_path) == []


def test_sigkill_while_writing_a_report_keeps_the_old_set_and_the_next_run_cleans_up(tmp_path: Path, old_report):
    killed = _report_once_then(tmp_path, "os.kill(os.getpid(), signal.SIGKILL)")
    assert killed.returncode == -signal.SIGKILL
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == old_report  # never a mix
    assert any(n.endswith(".tmp") for n in leftovers(tmp_path)) and ".out.lock" in leftovers(tmp_path)
    again = run_auditor("report", str(tmp_path / "result.json"), "--format", "csv,junit", "-o", str(tmp_path / "out"))
    assert again.returncode == 0, again.stderr.decode()
    assert leftovers(tmp_path) == []
    now = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert now["NOTES.txt"] == b"kept by the user"
    assert set(now) == set(old_report) and now["controls.csv"] != old_report["controls.csv"]
    assert b"fail" not in now["controls.csv"].split(b"\n", 1)[1]  # the after/ verdicts: all pass


def test_a_stale_temp_file_of_a_killed_single_file_write_is_removed(tmp_path: Path):
    code = ("import os, signal\n"
            "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL)\n"
            "from auditor.canonical import atomic_write\n"
            f"atomic_write({str(tmp_path / 'r.csv')!r}, b'partial')\n")
    assert script(code).returncode == -signal.SIGKILL
    assert [n for n in leftovers(tmp_path) if n.startswith(".r.csv.")]
    done = run_auditor("reach", AFTER, "--format", "csv", "-o", str(tmp_path / "r.csv"))
    assert done.returncode == 0, done.stderr.decode()
    assert leftovers(tmp_path) == [] and (tmp_path / "r.csv").read_bytes().startswith(b"src,dst,")


# -- the lock -------------------------------------------------------------------------------------


def test_a_second_run_is_refused_while_the_lock_names_a_live_holder(tmp_path: Path, old_report):
    lock = tmp_path / ".out.lock"
    lock.write_bytes(orjson.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                   "started": "2026-12-07T09:00:00Z"}))
    done = run_auditor("report", str(tmp_path / "result.json"), "--format", "csv", "-o", str(tmp_path / "out"))
    err = done.stderr.decode()
    assert done.returncode == 2
    assert err.startswith(f"error: {tmp_path / 'out'}: being written by another auditor run (pid {os.getpid()} on "
                          f"{socket.gethostname()} since 2026-12-07T09:00:00Z)") and str(lock) in err
    assert err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == old_report
    assert lock.exists()  # not ours to remove


def test_a_lock_whose_holder_is_gone_is_taken_over(tmp_path: Path, old_report):
    (tmp_path / ".out.lock").write_bytes(orjson.dumps({"pid": dead_pid(), "host": socket.gethostname(),
                                                        "started": "2026-12-07T09:00:00Z"}))
    done = run_auditor("report", str(tmp_path / "result.json"), "--format", "csv", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr.decode()
    assert leftovers(tmp_path) == []


def test_atomic_directory_replaces_the_set_in_one_step(tmp_path: Path):
    target = tmp_path / "set"
    with atomic_directory(target) as tmp:
        Path(tmp, "a").write_text("1")
    with atomic_directory(target) as tmp:
        Path(tmp, "b").write_text("2")
        assert sorted(p.name for p in target.iterdir()) == ["a"]  # nothing new visible before the end
    assert sorted(p.name for p in target.iterdir()) == ["a", "b"]  # a: carried over (not rewritten)
    with pytest.raises(RuntimeError), atomic_directory(target) as tmp:
        Path(tmp, "a").write_text("changed")
        raise RuntimeError("writer failed")
    assert (target / "a").read_text() == "1" and leftovers(tmp_path) == []


# -- standard output ----------------------------------------------------------------------------


def _limit_file_size() -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


def test_stdout_cut_by_a_file_size_limit_exits_2(tmp_path: Path):
    """``(ulimit -f 4; auditor reach ... --format csv > f)``"""
    with open(tmp_path / "f.csv", "wb") as sink:
        done = run_auditor("reach", AFTER, "--format", "csv", *_csv_ports(), stdout=sink,
                           preexec_fn=_limit_file_size)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err.startswith("error: cannot write to standard output: File too large") and err.count("\n") == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to simulate a full disk")
def test_stdout_on_a_full_disk_exits_2():
    with open("/dev/full", "wb") as full:
        done = run_auditor("reach", AFTER, "--format", "csv", stdout=full)
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert err == "error: cannot write to standard output: No space left on device\n"


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux) to simulate a full disk")
def test_audit_table_on_a_full_disk_exits_2_not_the_verdict():
    with open("/dev/full", "wb") as full:
        done = run_auditor("audit", AFTER, "--controls", str(CONTROLS / "bank-zones.yaml"), stdout=full)
    assert done.returncode == 2 and b"No space left on device" in done.stderr


def test_a_reader_that_closes_the_pipe_early_ends_the_run_quietly():
    """``auditor reach ... | head -1``"""
    proc = subprocess.Popen([sys.executable, "-m", "auditor", "reach", AFTER, "--format", "csv", *_csv_ports()],
                            env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=120)
    assert first.startswith(b"src,dst,port,protocol")
    assert proc.returncode == 141
    assert err == b""


def test_a_symlinked_report_directory_stays_a_symlink(tmp_path: Path):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "old.csv").write_text("old")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with atomic_directory(tmp_path / "link") as tmp:
        Path(tmp, "new.csv").write_text("new")
    assert (tmp_path / "link").is_symlink()
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["new.csv", "old.csv"]
    assert leftovers(tmp_path) == []


# -- outputs that are not regular files ----------------------------------------------------------


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_output_to_a_named_pipe_or_a_symlink_to_it_is_written_in_place(tmp_path: Path):
    """``-o /dev/null``, ``-o /dev/stdout`` or a pipe: renaming a temporary file over the target
    would replace the device, pipe or symlink with a plain file (it once replaced /dev/null)."""
    import stat
    import threading

    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "out.csv"
    link.symlink_to(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    done = run_auditor("reach", AFTER, "--format", "csv", "-o", str(link))
    reader.join(timeout=60)
    assert done.returncode == 0, done.stderr.decode()
    assert got and got[0].startswith(b"src,dst,")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv", "pipe"]
