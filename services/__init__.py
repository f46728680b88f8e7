"""The services of the order flow. Each owns one database and emits one aggregate's events.

``ROSTER`` is the one list of them: a service is its folder here (a ``main.py`` whose ``SERVICE``
describes it) and its line below. Everything else that needs the services (the stack's databases
and users, the connectors, ``serve``, the fault suite, the ops page, the Kafka ACLs) reads
:func:`roster` through :mod:`outboxkit.service.roster`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from outboxkit import ServiceContext, ServiceDefinition, Settings

# The checkout the flow runs from, and the Avro schemas of the flow, shared by its services:
# <aggregate type>/<EventType>.avsc.
ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "schemas" / "avro"

ROSTER = (
    "order",
    "inventory",
    "payment",
    "points",
    "order_view",
)


def roster() -> list[ServiceDefinition[Any]]:
    return [importlib.import_module(f"services.{package}.main").SERVICE for package in ROSTER]


def flow_services() -> tuple[str, ...]:
    """The names of the services whose events make up the flow (every one with an outbox)."""
    from outboxkit.ops import publishing_services

    return tuple(d.name for d in publishing_services())


def build_all(settings: Settings, migrate: bool = True) -> dict[str, ServiceContext[Any]]:
    """Every flow service's context, tables created and schemas registered (for demos and tests)."""
    from outboxkit.ops import publishing_services

    return {d.name: d.context(settings, migrate=migrate) for d in publishing_services()}
