"""The command line every service shares, turned from a :class:`ServiceDefinition`.

``migrate`` and ``run``, the operator commands every service has (``dlq``, ``prune-outbox``,
``rewind``),
and the service's own commands; each service's ``main.py`` only describes itself.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import MetaData

from eventcore.base.errors import InvalidValueError, NotFoundError
from eventcore.base.settings import Settings
from eventcore.base.topics import topic_for
from eventcore.bootstrap import ServiceContext, build_context, configure_logging
from eventcore.cdc.connect_client import ConnectError
from eventcore.cdc.progress import CdcProgressUnknown
from eventcore.cli import (
    EXIT_OK,
    ArgumentParser,
    dead_letters as dlq_cli,
    outbox as outbox_cli,
    rewind as rewind_cli,
    run_cli,
)
from eventcore.consuming.dispatch import EventRoutes, TypedHandler
from eventcore.consuming.runner import PeriodicJob, ServiceProcess
from eventcore.dead_letters.tools import DeadLetterSelectionError
from eventcore.domain.events import Event
from eventcore.domain.state_machine import TransitionRefused
from eventcore.kafka.clients import password_key, use_identity
from eventcore.kafka.lag import Hop
from eventcore.serialization.avro import SchemaCatalog
from eventcore.serialization.schema_registry import SchemaRegistryError
from eventcore.storage.db import SqlUnitOfWork

# Mistakes a person can make at a service's command line, answered with one line (exit 2);
# any other error is a bug and keeps its traceback.
PERSON_ERRORS: tuple[type[BaseException], ...] = (
    InvalidValueError,
    NotFoundError,
    TransitionRefused,
    SchemaRegistryError,
    ConnectError,
    CdcProgressUnknown,
    DeadLetterSelectionError,
)


@dataclass(frozen=True)
class Command:
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    execute: Callable[[ServiceContext, argparse.Namespace], int]


@dataclass(frozen=True)
class ServiceDefinition:
    """Everything the project knows of one service; the roster (:mod:`eventcore.roster`) lists
    these, and every list of services is derived from them."""

    name: str  # the aggregate type of the events it emits; its database (<name>_db) unless `database`
    module: str  # the module whose main() runs it: ``python -m <module> run``
    metadata: MetaData
    consumes: Sequence[str]  # aggregate types whose topics it subscribes to
    # Event class -> handler(uow, event): plain functions over its unit of work.
    handlers: Mapping[type[Event], TypedHandler]
    # How it opens a transaction, given its context: a factory of its unit of work, the one
    # its repositories live on (``SqlUnitOfWork.factory`` of its subclass). None: a plain one.
    unit_of_work: Callable[[ServiceContext], Callable[[], SqlUnitOfWork]] | None = None
    commands: dict[str, Command] = field(default_factory=dict)
    emits: tuple[str, ...] = ()  # aggregate types it writes to its outbox (default: its own)
    periodic: Callable[[ServiceContext], list[PeriodicJob]] | None = None
    database: str | None = None  # whose database it uses, when not <name>_db
    program: str | None = None  # its command and consumer group, when not <name>-service
    health_port: int = 0  # where /health listens unless HEALTH_PORT says (0: any free port)
    publishes: bool = True  # a connector publishes its outbox (False: a read model, say)
    watches: Sequence[Hop] = ()  # other groups' hops whose lag it reads (Kafka ACLs follow)
    # Its Avro schemas, <folder>/<aggregate type>/<EventType>.avsc: what it writes and reads
    # (None: schemas/avro in the checkout eventcore runs from).
    schemas: Path | None = None
    # Sample data a person trying it out needs (`serve` runs it): writes what is missing, leaves
    # what is there; returns what it did, one line each.
    starter: Callable[[ServiceContext], list[str]] | None = None

    @property
    def group_id(self) -> str:
        return self.program or f"{self.name}-service"

    @property
    def database_name(self) -> str:
        return f"{self.database or self.name}_db"

    @property
    def emitted(self) -> tuple[str, ...]:
        """The aggregate types whose topics its outbox feeds."""
        return self.emits or (self.name,)

    @property
    def connector_name(self) -> str:
        return f"{self.name}-outbox"

    def context(
        self, settings: Settings | None = None, migrate: bool = False, catalog: SchemaCatalog | None = None
    ) -> ServiceContext:
        """Its database and registry connections (``migrate``: its tables created and schemas
        registered first; ``catalog``: other schemas than its own, for tests of evolution)."""
        if catalog is None and self.schemas:
            catalog = SchemaCatalog.load(self.schemas)
        context = build_context(
            self.name, self.metadata, settings, catalog, emits=self.emits, database=self.database
        )
        if self.unit_of_work is not None:
            context.make_unit_of_work = self.unit_of_work(context)
        if migrate:
            context.migrate()
        return context

    @property
    def topics(self) -> list[str]:
        return [topic_for(t) for t in self.consumes]

    def process(self, context: ServiceContext, until_caught_up: bool = False) -> ServiceProcess:
        """The service's consumer process, wired and with every setting read; ``until_caught_up``:
        it stops once it has read every topic to its end (no periodic jobs then)."""
        jobs = self.periodic(context) if self.periodic and not until_caught_up else []
        routes = EventRoutes(self.handlers, self.name)
        process = ServiceProcess(
            context,
            self.group_id,
            self.topics,
            routes.record_handlers(),
            periodic=jobs,
            until_caught_up=until_caught_up,
            health_port=self.health_port,
        )
        counters = process.runtime.counters
        routes.on_refused = lambda: setattr(counters, "refused", counters.refused + 1)
        return process


def _parser(definition: ServiceDefinition) -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=definition.group_id)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("migrate", help="create the service's tables and register its schemas")
    sub.add_parser(
        "run", help=f"consume {', '.join(definition.topics)} until SIGTERM/SIGINT (settings: see README)"
    )
    for name, command in definition.commands.items():
        command.configure(sub.add_parser(name, help=command.help))
    dlq_cli.configure(sub.add_parser("dlq", help=f"the dead letters of {definition.group_id}"))
    outbox_cli.configure(
        sub.add_parser("prune-outbox", help="delete published outbox rows older than --days")
    )
    rewind_cli.configure(
        sub.add_parser(
            "rewind",
            help=f"read {', '.join(definition.topics)} again from their start or a time (the group stopped)",
        )
    )
    return parser


def service_main(definition: ServiceDefinition, argv: list[str] | None = None) -> int:
    prog = definition.group_id
    args = _parser(definition).parse_args(argv)
    configure_logging()
    return run_cli(prog, lambda: _execute(definition, args), PERSON_ERRORS)


def _execute(definition: ServiceDefinition, args: argparse.Namespace) -> int:
    context = definition.context()
    # On a locked-down cluster a service logs in as its own principal (its group), which may
    # read its inputs and write only its own dead-letter and retry topics.
    own = context.settings.values.get(password_key(definition.group_id))
    if own:
        use_identity(definition.group_id, own)
    if args.command == "migrate":
        context.migrate()
        return EXIT_OK
    if args.command == "run":
        definition.process(context).run()
        return EXIT_OK
    if args.command == "dlq":
        return dlq_cli.execute(context, definition.group_id, args)
    if args.command == "prune-outbox":
        return outbox_cli.execute(context, args)
    if args.command == "rewind":
        return rewind_cli.execute(context, definition.group_id, definition.topics, args)
    logging.getLogger(definition.name).debug("running %s", args.command)
    return definition.commands[args.command].execute(context, args)
