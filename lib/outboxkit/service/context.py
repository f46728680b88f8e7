"""A service's context: its adapters wired from settings in one place, so every service starts
the same way (database engine, registry, schema catalog, outbox writer, its unit of work)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import Engine, MetaData

from outboxkit.base.settings import Settings
from outboxkit.domain.unit_of_work import UnitOfWork
from outboxkit.publishing.outbox import OutboxWriter
from outboxkit.serialization.avro import AvroEventSerializer, SchemaCatalog
from outboxkit.serialization.schema_registry import SchemaRegistryClient
from outboxkit.storage.db import create_tables, make_engine
from outboxkit.storage.messaging_tables import MessagingTables

U = TypeVar("U", bound=UnitOfWork)
# How a service opens its transactions, given its context: a factory of its unit of work (the one
# its repositories live on), e.g. ``SqlUnitOfWork.factory`` of its own subclass.
UnitOfWorkFactory = Callable[["ServiceContext[Any]"], Callable[[], U]]


@dataclass
class ServiceContext(Generic[U]):
    """Everything a service's handlers need, built once per process; ``U`` is its unit of work."""

    name: str
    settings: Settings
    engine: Engine
    metadata: MetaData
    messaging: MessagingTables
    registry: SchemaRegistryClient
    catalog: SchemaCatalog
    outbox: OutboxWriter
    opens: UnitOfWorkFactory[U]  # ServiceDefinition.unit_of_work
    emits: tuple[str, ...] = ()  # aggregate types it writes to its outbox (default: its own)
    _open: Callable[[], U] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._open = self.opens(self)

    def unit_of_work(self) -> U:
        """A new transaction: ``with context.unit_of_work() as uow: ...``."""
        return self._open()

    @property
    def uow_factory(self) -> Callable[[], U]:
        return self.unit_of_work

    def create_tables(self) -> None:
        create_tables(self.engine, self.metadata)

    def migrate(self) -> None:
        """Create the service's tables and register the schemas of the events it emits."""
        self.create_tables()
        registered = [
            event_type
            for aggregate_type in (self.emits or (self.name,))
            for event_type in self.outbox.register_schemas(aggregate_type)
        ]
        logging.getLogger(self.name).info(
            "tables ready; schemas registered: %s", ", ".join(registered) or "none (it emits no events)"
        )


def build_context(
    name: str,
    metadata: MetaData,
    opens: UnitOfWorkFactory[U],
    catalog: SchemaCatalog,
    settings: Settings | None = None,
    emits: tuple[str, ...] = (),
    database: str | None = None,
) -> ServiceContext[U]:
    """Connect a service to its own database (``<database or name>_db``) and the registry; does
    not touch Kafka."""
    settings = settings or Settings.load()
    registry = SchemaRegistryClient(settings.schema_registry_url)
    messaging = MessagingTables.of(metadata)
    return ServiceContext(
        name=name,
        settings=settings,
        engine=make_engine(
            settings.db_url(database or name), lock_wait_timeout_s=settings.db_lock_wait_timeout_s
        ),
        metadata=metadata,
        messaging=messaging,
        registry=registry,
        catalog=catalog,
        outbox=OutboxWriter(messaging.outbox, catalog, AvroEventSerializer(registry)),
        opens=opens,
        emits=emits,
    )
