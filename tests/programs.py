"""Running a program as a person runs it, and reading what it printed and how it exited.

``run_program("order-service", "place", ...)`` runs an installed console script, ``run_program(
"-m", "services.order.main", ...)`` a module and ``run_program("scripts/x.py", ...)`` a script,
each in a process of its own with the given environment on top of this one, from the checkout.

A new interpreter spends most of a second importing the libraries before it parses a single
argument; the quick loop runs some seventy of these. So where nothing has touched the stack
(``OUTBOXKIT_NO_STACK``, set by ``./run check``) the process is a fork of this one, with every
module already imported, that runs the same entry point the interpreter would (the console
script's function, ``runpy`` for ``-m`` and paths) with its own stdin, stdout, stderr, argv,
environment and working directory, and reports its exit as the interpreter does: ``SystemExit``'s
code, an uncaught exception's traceback and status 1, Ctrl-C's 130. With the stack, a forked
child would inherit live Kafka clients' threads (librdkafka is not fork-safe), so those runs
start a new interpreter.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import runpy
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def run_program(
    *argv: str, env: dict[str, str] | None = None, timeout_s: float = 120, fresh_interpreter: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (a program, ``-m MODULE`` or a script path, then its arguments) to its end;
    ``fresh_interpreter`` always starts a new one (what proves an installed program starts)."""
    environment = {**os.environ, **(env or {})}
    if os.environ.get("OUTBOXKIT_NO_STACK") and not fresh_interpreter:
        return _run_forked(argv, environment, timeout_s)
    interpreted = argv[0] == "-m" or argv[0].endswith(".py")
    command = [sys.executable, *argv] if interpreted else [str(BIN / argv[0]), *argv[1:]]
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, env=environment
    )


def _entry_point(argv: tuple[str, ...]) -> tuple[list[str], Callable[[], object]]:
    """The child's ``sys.argv`` and what the interpreter would run for ``argv``."""
    if argv[0] == "-m":
        module = argv[1]
        spec = importlib.util.find_spec(module)
        assert spec is not None and spec.origin is not None, f"no module {module}"
        return [spec.origin, *argv[2:]], lambda: runpy.run_module(module, run_name="__main__", alter_sys=True)
    if argv[0].endswith(".py"):
        script = str(ROOT / argv[0])
        # The interpreter puts a script's folder first on the path.
        sys.path.insert(0, str(Path(script).parent))
        return [script, *argv[1:]], lambda: runpy.run_path(script, run_name="__main__")
    (entry,) = (point for point in metadata.entry_points(group="console_scripts") if point.name == argv[0])
    return [str(BIN / argv[0]), *argv[1:]], lambda: sys.exit(entry.load()())


def _run_forked(
    argv: tuple[str, ...], environment: dict[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _become_program(argv, environment, out.fileno(), err.fileno())
        deadline = time.monotonic() + timeout_s
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                raise subprocess.TimeoutExpired([*argv], timeout_s)
            time.sleep(0.005)
        out.seek(0)
        err.seek(0)
        code = os.waitstatus_to_exitcode(status)
        return subprocess.CompletedProcess([*argv], code, out.read(), err.read())


def _become_program(argv: tuple[str, ...], environment: dict[str, str], out: int, err: int) -> None:
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the process's own streams, kept to its end
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        os.environ.clear()
        os.environ.update(environment)
        os.chdir(ROOT)
        # A fresh interpreter's logging and signals, not the test runner's.
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        root.setLevel(logging.WARNING)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        try:
            sys.argv, target = _entry_point(argv)
            target()
            code = 0
        except SystemExit as stop:
            if stop.code is None:
                code = 0
            elif isinstance(stop.code, int):
                code = stop.code
            else:
                print(stop.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = 130
        except BaseException:
            traceback.print_exc()
            code = 1
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
