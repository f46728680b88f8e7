"""The roster: every service an installation runs, described once.

A roster is a module (the one ``OUTBOXKIT_ROSTER`` names) with a ``roster()`` function
that returns its :class:`~outboxkit.service.definition.ServiceDefinition` objects. Everything that
lists services derives from it: the outbox connectors, the databases and users the bootstrap
creates, the credentials, the health ports, the processes ``serve`` starts, the fault suite's
parts and the Kafka ACLs. Adding a service is adding it to the roster.
"""

from __future__ import annotations

import importlib
import os
import re
import zlib
from functools import cache
from typing import Any

from outboxkit.base.errors import NotFoundError
from outboxkit.base.settings import Settings, SettingsError
from outboxkit.base.topics import topic_for
from outboxkit.cdc.connectors import ConnectorDefinition, outbox_connector
from outboxkit.serialization.avro import SchemaCatalog
from outboxkit.service.definition import ServiceDefinition

ROSTER_ENV = "OUTBOXKIT_ROSTER"
LAYOUT_ENV = "CDC_CONNECTORS"
PER_SERVER, PER_SERVICE = "per-server", "per-service"
LAYOUTS = (PER_SERVER, PER_SERVICE)
# The per-server connector's name (and its topic prefix: its heartbeat topic, schema history and
# metrics are named by it); CDC_CONNECTOR_NAME gives another, for a second roster on one Connect.
SERVER_CONNECTOR = "outbox"
SERVER_CONNECTOR_ENV = "CDC_CONNECTOR_NAME"
_CONNECTOR_NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}")
# Debezium reads the binlog as a replica, and every replica of a server needs an id of its own:
# derived from the database's name, so connectors of other rosters on the same server (another
# team's services) get other ids, and reordering a roster changes none.
SERVER_ID_BASE = 100_000
SERVER_ID_SPAN = 4_000_000_000


def server_id_for(database: str) -> int:
    return SERVER_ID_BASE + zlib.crc32(database.encode()) % SERVER_ID_SPAN


class RosterError(SettingsError):
    """The roster cannot be loaded or describes something impossible: a setting's mistake
    (OUTBOXKIT_ROSTER, or the module it names), answered in one line like any other."""


@cache
def service_definitions(module_name: str | None = None) -> tuple[ServiceDefinition[Any], ...]:
    """The roster's services, in its order (checked: names, groups, ports and databases unique)."""

    name = module_name or os.environ.get(ROSTER_ENV, "").strip()
    if not name:
        raise RosterError(f"no roster: set {ROSTER_ENV} to the module whose roster() lists the services")
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        raise RosterError(
            f"the roster module {name!r} cannot be imported ({exc}); "
            f"set {ROSTER_ENV} to the module whose roster() lists the services"
        ) from exc
    roster = getattr(module, "roster", None)
    if not callable(roster):
        raise RosterError(f"the roster module {name!r} has no roster() function")
    definitions = tuple(roster())
    for definition in definitions:
        if not isinstance(definition, ServiceDefinition):
            raise RosterError(f"{name}.roster() returned {definition!r}, not a ServiceDefinition")
    _refuse_duplicates(definitions)
    return definitions


def _refuse_duplicates(definitions: tuple[ServiceDefinition[Any], ...]) -> None:
    for what, values in (
        ("name", [d.name for d in definitions]),
        ("consumer group", [d.group_id for d in definitions]),
        ("health port", [d.health_port for d in definitions if d.health_port]),
        ("outbox database", [d.database_name for d in definitions if d.publishes]),
    ):
        seen = [v for i, v in enumerate(values) if v in values[:i]]
        if seen:
            raise RosterError(f"two services of the roster share the {what} {seen[0]!r}")


def service(name: str) -> ServiceDefinition[Any]:
    """One service of the roster by its name (``read-model``, or ``read_model`` as its package is
    spelled) or its consumer group (``<name>-service`` unless its ``program`` says)."""
    for definition in service_definitions():
        if name.replace("_", "-") in (definition.name, definition.group_id):
            return definition
    known = ", ".join(d.name for d in service_definitions())
    raise NotFoundError(f"no service {name!r} in the roster (it has {known})")


def publishing_services() -> tuple[ServiceDefinition[Any], ...]:
    """The services whose outbox a connector publishes: the flow's participants."""
    return tuple(d for d in service_definitions() if d.publishes)


def connector_layout(settings: Settings | None = None) -> str:
    """``CDC_CONNECTORS``: ``per-server`` (the default: one connector reads the server's binlog
    once for every outbox on it) or ``per-service`` (one connector per service, for services
    whose databases live on servers of their own)."""
    value = (settings or Settings.load()).get(LAYOUT_ENV, PER_SERVER).strip().lower()
    if value not in LAYOUTS:
        raise RosterError(f"{LAYOUT_ENV}={value!r} is not one of {', '.join(LAYOUTS)}")
    return value


def server_connector_name(settings: Settings | None = None) -> str:
    name = (settings or Settings.load()).get(SERVER_CONNECTOR_ENV, SERVER_CONNECTOR).strip()
    if not _CONNECTOR_NAME.fullmatch(name):
        raise RosterError(
            f"{SERVER_CONNECTOR_ENV}={name!r} is not a connector name (lower-case letters, digits, "
            "'-' or '_', starting with a letter)"
        )
    return name


def outbox_connectors(
    settings: Settings | None = None, layout: str | None = None
) -> list[ConnectorDefinition]:
    """The Debezium outbox connectors, from the shared template: one for the database server
    (``per-server``), or one per publishing service (``per-service``)."""
    services = publishing_services()
    if not services:
        raise RosterError("no service of the roster publishes an outbox: there is no connector")
    layout = layout or connector_layout(settings)
    if layout == PER_SERVER:
        name = server_connector_name(settings)
        databases = [d.database_name for d in services]
        connectors = [
            outbox_connector(name, databases, server_id_for(",".join(databases)), topic_prefix=name)
        ]
    else:
        connectors = [
            outbox_connector(f"{d.name}-outbox", [d.database_name], server_id_for(d.database_name))
            for d in services
        ]
    ids = [c.config["database.server.id"] for c in connectors]
    clashing = [c.name for c in connectors if ids.count(c.config["database.server.id"]) > 1]
    if clashing:
        raise RosterError(
            f"the outbox connectors {', '.join(clashing)} would read the binlog with one replica id"
        )
    return connectors


def connector_for(definition: ServiceDefinition[Any], settings: Settings | None = None) -> str | None:
    """The name of the connector that publishes ``definition``'s outbox (None: nothing does)."""
    if not definition.publishes:
        return None
    return next((c.name for c in outbox_connectors(settings) if c.publishes(definition.database_name)), None)


def schema_catalog() -> SchemaCatalog:
    """Every schema the roster's services write and read (each service's ``schemas`` folder)."""
    return SchemaCatalog.load(*(d.schemas for d in service_definitions()))


def flow_topics() -> tuple[str, ...]:
    """Every topic a publishing service's outbox feeds, in roster order."""

    return tuple(dict.fromkeys(topic_for(emitted) for d in publishing_services() for emitted in d.emitted))
