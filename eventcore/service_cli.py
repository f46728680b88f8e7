"""The command line every service shares: ``migrate``, ``run``, plus the service's own commands.

A service describes itself with a :class:`ServiceDefinition`; this module turns it into a
thin entry point, so each service's ``main.py`` reads like its business and nothing else.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaException
from sqlalchemy import MetaData
from sqlalchemy.exc import OperationalError

from eventcore.bootstrap import ServiceContext, build_context, configure_logging
from eventcore.consumer import Handler
from eventcore.runner import run_service
from eventcore.schema_registry import SchemaRegistryError
from eventcore.settings import SettingsError
from eventcore.topics import topic_for

PeriodicJobs = Callable[[ServiceContext, argparse.Namespace], list[tuple[float, Callable[[], object]]]]


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    execute: Callable[[ServiceContext, argparse.Namespace], int]


@dataclass(frozen=True)
class ServiceDefinition:
    name: str  # also its database (<name>_db) and the aggregate type of the events it emits
    metadata: MetaData
    consumes: Sequence[str]  # aggregate types whose topics it subscribes to
    handlers: dict[str, Handler]
    commands: dict[str, Command] = field(default_factory=dict)
    configure_run: Callable[[argparse.ArgumentParser], None] | None = None
    periodic: PeriodicJobs | None = None

    @property
    def group_id(self) -> str:
        return f"{self.name}-service"


def service_main(definition: ServiceDefinition, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"{definition.name}-service")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="create the service's tables and register its schemas")
    run = sub.add_parser("run", help=f"consume {', '.join(map(topic_for, definition.consumes))} "
                                     "until SIGTERM/SIGINT")
    if definition.configure_run:
        definition.configure_run(run)
    for name, command in definition.commands.items():
        command.configure(sub.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    configure_logging()
    try:
        return _execute(definition, parser, args)
    except UNAVAILABLE as exc:
        # A missing setting or a part of the stack that is down: one clear line, no traceback.
        logging.getLogger(definition.name).error("%s-service cannot start: %s", definition.name,
                                                 _first_line(exc))
        return 1


UNAVAILABLE = (SettingsError, SchemaRegistryError, OperationalError, KafkaException)


def _first_line(exc: BaseException) -> str:
    text = str(exc.orig if isinstance(exc, OperationalError) and exc.orig else exc)
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _execute(definition: ServiceDefinition, parser: argparse.ArgumentParser,
             args: argparse.Namespace) -> int:
    context = build_context(definition.name, definition.metadata)
    if args.command == "migrate":
        context.migrate()
        return 0
    if args.command == "run":
        context.migrate()  # idempotent: a fresh database works without a separate step
        jobs = definition.periodic(context, args) if definition.periodic else []
        run_service(context, definition.group_id, [topic_for(t) for t in definition.consumes],
                    definition.handlers, periodic=jobs)
        return 0
    try:
        return definition.commands[args.command].execute(context, args)
    except (ValueError, LookupError) as exc:
        logging.getLogger(definition.name).debug("command failed", exc_info=True)
        parser.exit(2, f"{definition.name}-service: error: {exc}\n")
