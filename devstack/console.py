"""Progress lines for people: every step says what it does, prefixed with ``[stack]``."""

from __future__ import annotations

import sys
from pathlib import Path


def say(message: str) -> None:
    # stdout, flushed at once: `stack up` can run for minutes and a person (or CI log)
    # should see each step when it happens, not when the buffer fills.
    print(f"[stack] {message}", file=sys.stdout, flush=True)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a text file ('' if it does not exist)."""
    if not path.is_file():
        return ""
    with path.open("rb") as handle:
        # Read only the end: logs of a long-running JVM grow large.
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - 256 * 1024))
        data = handle.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


def relative(path: Path) -> str:
    """A path shown relative to the working directory when that is shorter."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
