"""The command lines people type: thin entry points over the library.

Every one of them answers a mistake with one line that names the problem and a non-zero exit
(2 for what was typed, 1 for a part of the stack that is down), never a traceback, and ends
quietly on Ctrl-C (130). What ``__all__`` lists is public: the same conventions for a team's own
programs (:func:`run_cli` around its work, :class:`ArgumentParser` for its arguments),; the
``outboxkit`` program itself is :mod:`outboxkit.cli.main`.
"""

from __future__ import annotations

import argparse
import functools
import logging
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from typing import Any, NoReturn

from outboxkit.base.errors import UsageError
from outboxkit.base.failures import FailureKind, classify
from outboxkit.base.logs import configure_logging
from outboxkit.base.settings import SettingsError

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_UNAVAILABLE",
    "EXIT_USAGE",
    "ArgumentParser",
    "confirm",
    "installed_version",
    "number_argument",
    "require_free_port",
    "run_cli",
]

EXIT_OK = 0
EXIT_UNAVAILABLE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def installed_version(distribution: str = "outboxkit") -> str:
    """The installed version of ``distribution`` ("unknown" when it is not installed, as when
    running from a checkout no one installed)."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "unknown"


class ArgumentParser(argparse.ArgumentParser):
    """argparse, answering a mistake with one line (not the whole usage) and exit 2, with a
    ``--version`` that names outboxkit's version (and ``version``, the program's own, if given)."""

    def __init__(
        self, *args: Any, version: str | None = None, with_version: bool = True, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if with_version:
            own = f"{version}, " if version else ""
            # `outboxkit replay --version` says "outboxkit replay 0.1.0", not outboxkit twice.
            library = "" if str(self.prog).startswith("outboxkit ") else "outboxkit "
            self.add_argument(
                "--version",
                action="version",
                version=f"%(prog)s {own}{library}{installed_version()}",
                help="print the version and exit",
            )

    def add_subparsers(self, **kwargs: Any) -> Any:
        # A command's own parser answers mistakes the same way; --version is the program's.
        kwargs.setdefault("parser_class", functools.partial(ArgumentParser, with_version=False))
        return super().add_subparsers(**kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def number_argument(
    kind: type = float,
    *,
    above: float | None = None,
    at_least: float | None = None,
    at_most: float | None = None,
    noun: str = "a number",
    subject: str = "",
    unit: str = "",
) -> Callable[[str], float]:
    """An argparse ``type`` for a number with a lower bound, refused in one line that names it:
    ``'x' is not <noun>``, ``<subject>must be more than <above><unit>, not <text>``."""

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"{subject}must be more than {above:g}{unit}, not {text}")
        if at_least is not None and not value >= at_least:
            raise argparse.ArgumentTypeError(f"{subject}must be at least {at_least:g}{unit}, not {text}")
        if at_most is not None and not value <= at_most:
            raise argparse.ArgumentTypeError(f"{subject}must be at most {at_most:g}{unit}, not {text}")
        return value  # type: ignore[no-any-return]

    return parse


def utc_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-11-30T10:00``, ``...Z``, ``...+01:00``; naive means UTC) as naive UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (ISO 8601, e.g. 2026-11-30T10:00:00Z)"
        ) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def fail(prog: str, message: str, code: int = EXIT_USAGE) -> int:
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    return code


def confirm(question: str, assume_yes: bool) -> bool:
    """Ask before something that cannot be undone; ``--yes`` answers for a script."""
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise UsageError(f"{question.rstrip('?')}: refusing without --yes (standard input is not a terminal)")
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


def require_free_port(host: str, port: int, who: str) -> None:
    """Refuse before anything starts when ``host:port`` is taken (one line naming it)."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise UsageError(
                f"{host}:{port} is not free ({exc.strerror}; another {who}?): stop it, or pass --port"
            ) from None


# The settings that say where each dependency is, for the error when it does not answer.
DEPENDENCY_SETTINGS = {
    "database": "DB_HOST and DB_PORT",
    "broker": "KAFKA_BOOTSTRAP_SERVERS",
    "schema registry": "SCHEMA_REGISTRY_URL",
    "Kafka Connect": "CONNECT_URL",
    "Kafka Connect's metrics": "CONNECT_METRICS_URLS",
}


def where_it_is(dependency: str | None) -> str:
    """The hint after "X unavailable": is it running where its settings say?"""
    setting = DEPENDENCY_SETTINGS.get(dependency or "")
    if setting is None:
        return "is it running, and do the settings point at it?"
    return f"is it running where {setting} {'say' if ' and ' in setting else 'says'}?"


def run_cli(
    prog: str,
    body: Callable[[], int],
    person_errors: tuple[type[BaseException], ...] = (),
    log_level: str = "WARNING",
) -> int:
    """Run ``body`` with logging set up (LOG_LEVEL, default ``log_level``; LOG_FORMAT) and turn
    what goes wrong into one line and an exit code."""
    try:
        configure_logging(prog, default_level=log_level)
        return body()
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except Exception as exc:
        failure = classify(exc)
        if failure.kind is FailureKind.OUTAGE:
            logging.getLogger(prog).debug("unavailable", exc_info=True)
            return fail(
                prog,
                f"{failure.dependency} unavailable ({failure.summary}); {where_it_is(failure.dependency)}",
                EXIT_UNAVAILABLE,
            )
        if isinstance(exc, (UsageError, SettingsError, *person_errors)):
            return fail(prog, str(exc))
        raise
