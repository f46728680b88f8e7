"""Start, recognise and stop the stack's background processes.

Each process is recorded in a pid file. A pid alone is not proof: after a reboot or a crash
the number may belong to an unrelated program, so a recorded pid counts as ours only while
its command line still contains a marker unique to this state directory (a config path).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

STOP_TIMEOUT_SECONDS = 20.0


def read_cmdline(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return [part.decode("utf-8", errors="replace") for part in raw.split(b"\0") if part]


def is_running(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie (a zombie has exited; it just wasn't reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name, which may contain spaces.
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


PR_SET_TIMERSLACK = 29


def set_timer_slack(nanoseconds: int) -> None:
    """This process's timer slack (prctl PR_SET_TIMERSLACK): its timed waits may end up to this
    much late, so the kernel can group wake-ups. Inherited by the threads and the program it
    executes next; a kernel without it leaves the default (nothing fails)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_TIMERSLACK, ctypes.c_ulong(nanoseconds), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _reap(pid: int) -> None:
    # If this Python process started the child (the pytest fixture does), it must collect
    # the exit status, or the pid lingers as a zombie and still "exists".
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


class ManagedProcess:
    """One background process of the stack: its pid file, log file and identity marker."""

    def __init__(self, name: str, pid_file: Path, log_file: Path, marker: str) -> None:
        self.name = name
        self.pid_file = pid_file
        self.log_file = log_file
        self.marker = marker

    def recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def is_ours(self, pid: int) -> bool:
        cmdline = read_cmdline(pid)
        return bool(cmdline) and is_running(pid) and self.marker in " ".join(cmdline or [])

    def running_pid(self) -> int | None:
        """The recorded pid if that process is alive and still ours, else None."""
        pid = self.recorded_pid()
        return pid if pid is not None and self.is_ours(pid) else None

    def start(
        self,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timer_slack_ns: int | None = None,
    ) -> int:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n===== devstack: starting {self.name}: {' '.join(argv)}\n".encode())
            log.flush()
            # start_new_session: the process gets its own session and process group, so it
            # outlives the caller (a shell, pytest) and a Ctrl-C there does not reach it.
            # stdin from /dev/null and output to the log: it holds no pipe of the caller open.
            child = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
                preexec_fn=(lambda: set_timer_slack(timer_slack_ns)) if timer_slack_ns else None,
            )
        self.pid_file.write_text(f"{child.pid}\n")
        return child.pid

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> str:
        """Stop the recorded process if it is still ours; returns what happened, for the log."""
        pid = self.recorded_pid()
        if pid is None:
            return "not running"
        if not self.is_ours(pid):
            # Never signal a pid that now belongs to something else.
            self.pid_file.unlink(missing_ok=True)
            _reap(pid)
            return f"not running (stale pid file for {pid} removed)"
        outcome = self._terminate(pid, timeout)
        self.pid_file.unlink(missing_ok=True)
        return outcome

    def _terminate(self, pid: int, timeout: float) -> str:
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        while time.monotonic() - started < timeout:
            _reap(pid)
            if not is_running(pid):
                return f"stopped pid {pid} after {time.monotonic() - started:.1f}s"
            time.sleep(0.2)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        for _ in range(50):
            _reap(pid)
            if not is_running(pid):
                break
            time.sleep(0.1)
        return f"killed pid {pid}: it ignored SIGTERM for {timeout:.0f}s"
