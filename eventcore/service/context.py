"""A service's context: its adapters wired from settings in one place, so every service starts
the same way (database engine, registry, schema catalog, outbox writer, its unit of work)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine, MetaData

from eventcore.base.settings import SCHEMAS_DIR, Settings
from eventcore.publishing.outbox import OutboxWriter
from eventcore.serialization.avro import AvroEventSerializer, SchemaCatalog
from eventcore.serialization.schema_registry import SchemaRegistryClient
from eventcore.storage.db import SqlUnitOfWork, create_tables, make_engine
from eventcore.storage.messaging_tables import MessagingTables


@dataclass
class ServiceContext:
    """Everything a service's handlers need, built once per process."""

    name: str
    settings: Settings
    engine: Engine
    metadata: MetaData
    messaging: MessagingTables
    registry: SchemaRegistryClient
    catalog: SchemaCatalog
    outbox: OutboxWriter
    emits: tuple[str, ...] = ()  # aggregate types it writes to its outbox (default: its own)
    # How it opens a transaction: its own unit of work, with its repositories on it (None: a
    # plain SqlUnitOfWork). Set from ServiceDefinition.unit_of_work.
    make_unit_of_work: Callable[[], SqlUnitOfWork] | None = None

    def unit_of_work(self) -> SqlUnitOfWork:
        if self.make_unit_of_work is not None:
            return self.make_unit_of_work()
        return SqlUnitOfWork(self.engine, self.outbox)

    @property
    def uow_factory(self) -> Callable[[], SqlUnitOfWork]:
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
    settings: Settings | None = None,
    catalog: SchemaCatalog | None = None,
    emits: tuple[str, ...] = (),
    database: str | None = None,
) -> ServiceContext:
    """Connect a service to its own database (``<database or name>_db``) and the registry; does
    not touch Kafka."""
    settings = settings or Settings.load()
    registry = SchemaRegistryClient(settings.schema_registry_url)
    catalog = catalog or SchemaCatalog.load(SCHEMAS_DIR)
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
        emits=emits,
    )
