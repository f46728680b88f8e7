"""``outboxkit COMMAND ...``: the library's tools as one command.

Each command keeps its own ``--help``, ``--version``, ``--json`` (where it prints figures) and
exit codes: ``outboxkit cdc status``, ``outboxkit replay <aggregate>.events``, ``outboxkit topics
skew <aggregate>.events``. A service's own commands (``<service> run``, ``<service> dlq``) are its
program's, not this one's.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from outboxkit.cli import EXIT_OK, EXIT_USAGE, installed_version

__all__ = ["COMMANDS", "main", "run_command"]

PROG = "outboxkit"

# name: (module whose main(argv) runs it, what it is for)
COMMANDS: dict[str, tuple[str, str]] = {
    "cdc": ("outboxkit.cli.cdc", "the connectors: status, pause, resume, restart, offsets, recover, verify"),
    "replay": ("outboxkit.cli.replay", "print a topic's events, decoded"),
    "topics": ("outboxkit.cli.topics", "the topics: partitions, skew, resize"),
    "register-connectors": ("outboxkit.cli.connectors", "register the roster's Debezium connectors"),
    "provision-databases": ("outboxkit.cli.provision", "create the roster's databases, users and tables"),
    "cdc-supervisor": ("outboxkit.cli.supervisor", "restart failed connector tasks until stopped"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [ARGS...] (outboxkit {installed_version()})", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", f"`{PROG} COMMAND --help` for a command's arguments."]
    return "\n".join(lines)


def command(name: str) -> Callable[[list[str] | None], int]:
    module = importlib.import_module(COMMANDS[name][0])
    entry: Callable[[list[str] | None], int] = module.main
    return entry


def main(argv: list[str] | None = None) -> int:
    """The ``outboxkit`` program: ``argv`` (default: this process's arguments) is ``COMMAND
    ARGS...``; returns the command's exit code (2 for no or an unknown command)."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(usage(), file=sys.stderr)
        print(f"{PROG}: error: a command is needed", file=sys.stderr)
        return EXIT_USAGE
    first, rest = args[0], args[1:]
    if first in ("-h", "--help"):
        print(usage())
        return EXIT_OK
    if first == "--version":
        print(f"{PROG} {installed_version()}")
        return EXIT_OK
    if first not in COMMANDS:
        print(
            f"{PROG}: error: no command {first!r} (one of: {', '.join(COMMANDS)}; see {PROG} --help)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return command(first)(rest)


def run_command(name: str, argv: list[str] | None = None) -> int:
    """Run ``outboxkit NAME ARGV...`` (``register-connectors``, ``cdc``, ...) in this process and
    return its exit code; ``argv`` defaults to this process's arguments."""
    if name not in COMMANDS:
        raise ValueError(f"outboxkit has no command {name!r} (one of: {', '.join(COMMANDS)})")
    return command(name)(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    raise SystemExit(main())
