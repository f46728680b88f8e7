"""What a team writes to describe a service: a :class:`ServiceDefinition` (its tables, the
topics it consumes, its handlers, its unit of work, its commands, its schemas), listed in a
roster (:mod:`outboxkit.service.roster`). Its command line (:func:`outboxkit.cli.service.service_main`)
and its consumer process (:class:`outboxkit.service.process.ServiceProcess`) are made from it.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from sqlalchemy import MetaData

from outboxkit.base.settings import Settings
from outboxkit.base.topics import topic_for
from outboxkit.consuming.dispatch import EventRoutes, TypedHandler
from outboxkit.domain.events import Event
from outboxkit.domain.unit_of_work import UnitOfWork
from outboxkit.kafka.lag import Hop
from outboxkit.serialization.avro import SchemaCatalog
from outboxkit.service.context import ServiceContext, UnitOfWorkFactory, build_context
from outboxkit.service.process import PeriodicJob, ServiceProcess

U = TypeVar("U", bound=UnitOfWork)


@dataclass(frozen=True)
class Command(Generic[U]):
    """One of a service's own commands: ``<program> NAME ...``."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    execute: Callable[[ServiceContext[U], argparse.Namespace], int]


@dataclass(frozen=True)
class ServiceDefinition(Generic[U]):
    """Everything the project knows of one service; the roster (:mod:`outboxkit.service.roster`)
    lists these, and every list of services is derived from them. ``U`` is its unit of work: what
    its handlers, commands and jobs are given."""

    name: str  # the aggregate type of the events it emits; its database (<name>_db) unless `database`
    module: str  # the module whose main() runs it: ``python -m <module> run``
    metadata: MetaData
    consumes: Sequence[str]  # aggregate types whose topics it subscribes to
    # Event class -> handler(uow, event): plain functions over its unit of work.
    handlers: Mapping[type[Event], TypedHandler[U]]
    # How it opens a transaction, given its context: a factory of its unit of work, the one its
    # repositories live on (``SqlUnitOfWork.factory`` of its own subclass, or SqlUnitOfWork's).
    unit_of_work: UnitOfWorkFactory[U]
    # Its Avro schemas, <folder>/<aggregate type>/<EventType>.avsc: what it writes and reads.
    schemas: Path
    commands: Mapping[str, Command[U]] = field(default_factory=dict)
    emits: tuple[str, ...] = ()  # aggregate types it writes to its outbox (default: its own)
    periodic: Callable[[ServiceContext[U]], list[PeriodicJob]] | None = None
    database: str | None = None  # whose database it uses, when not <name>_db
    program: str | None = None  # its command and consumer group, when not <name>-service
    health_port: int = 0  # where /health listens unless HEALTH_PORT says (0: any free port)
    publishes: bool = True  # a connector publishes its outbox (False: a read model, say)
    watches: Sequence[Hop] = ()  # other groups' hops whose lag it reads (Kafka ACLs follow)
    # Sample data a person trying it out needs (`serve` runs it): writes what is missing, leaves
    # what is there; returns what it did, one line each.
    starter: Callable[[ServiceContext[U]], list[str]] | None = None

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

    def context(
        self, settings: Settings | None = None, migrate: bool = False, catalog: SchemaCatalog | None = None
    ) -> ServiceContext[U]:
        """Its database and registry connections (``migrate``: its tables created and schemas
        registered first; ``catalog``: other schemas than its own, for tests of evolution)."""
        context = build_context(
            self.name,
            self.metadata,
            self.unit_of_work,
            catalog or SchemaCatalog.load(self.schemas),
            settings,
            emits=self.emits,
            database=self.database,
        )
        if migrate:
            context.migrate()
        return context

    @property
    def topics(self) -> list[str]:
        return [topic_for(t) for t in self.consumes]

    def process(
        self, context: ServiceContext[U], until_caught_up: bool = False, outbox_connector: str | None = None
    ) -> ServiceProcess:
        """The service's consumer process, wired and with every setting read; ``until_caught_up``:
        it stops once it has read every topic to its end (no periodic jobs then);
        ``outbox_connector``: the connector that publishes its outbox (its pruning goes by what
        that one confirmed; the roster's :func:`~outboxkit.service.roster.connector_for`)."""
        jobs = self.periodic(context) if self.periodic and not until_caught_up else []
        routes = EventRoutes(self.handlers, self.name)
        process = ServiceProcess(
            context,
            self.group_id,
            self.topics,
            routes,
            periodic=jobs,
            until_caught_up=until_caught_up,
            health_port=self.health_port,
            outbox_connector=outbox_connector if self.publishes else None,
        )
        counters = process.runtime.counters
        routes.on_refused = lambda: setattr(counters, "refused", counters.refused + 1)
        return process
