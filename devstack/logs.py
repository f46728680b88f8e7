"""``stack logs``: the tail of one or all component logs, optionally followed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from devstack.console import tail


def show(files: dict[str, Path], lines: int) -> None:
    for name, path in files.items():
        if len(files) > 1:
            print(f"==> {name} ({path}) <==")
        text = tail(path, lines)
        print(text if text else "(no log yet)")
        if len(files) > 1:
            print()
    sys.stdout.flush()


def follow(files: dict[str, Path], poll: float = 0.5) -> None:
    """Print lines appended to ``files`` until interrupted (Ctrl-C)."""
    prefix = len(files) > 1
    offsets = {name: (path.stat().st_size if path.exists() else 0) for name, path in files.items()}
    partial = dict.fromkeys(files, "")
    try:
        while True:
            for name, path in files.items():
                if not path.exists():
                    continue
                size = path.stat().st_size
                if size < offsets[name]:  # truncated or replaced: start from its beginning
                    offsets[name] = 0
                if size == offsets[name]:
                    continue
                with path.open("rb") as handle:
                    handle.seek(offsets[name])
                    chunk = handle.read().decode("utf-8", errors="replace")
                    offsets[name] = handle.tell()
                *complete, partial[name] = (partial[name] + chunk).split("\n")
                for line in complete:
                    print(f"{name} | {line}" if prefix else line)
            sys.stdout.flush()
            time.sleep(poll)
    except KeyboardInterrupt:
        return
